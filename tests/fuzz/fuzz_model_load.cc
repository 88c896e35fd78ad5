// libFuzzer target: arbitrary bytes as a GGUF model file. The file either
// loads, and then a forward pass over two tokens and a round trip through the
// tokenizer run on it, or it is refused with a tessera::Error. Anything else —
// a crash, a sanitizer report, another exception type, a hang, a huge
// allocation — is a bug (docs/testing.md, "Fuzzing").
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/model.h"

namespace {

// The model is read through a file mapping, so the input goes to a file
// (tmpfs: no disk I/O per run).
const std::string& input_path() {
  static const std::string path =
      "/dev/shm/tessera_fuzz_model_" + std::to_string(getpid()) + ".gguf";
  return path;
}

void write_input(const uint8_t* data, size_t size) {
  FILE* f = std::fopen(input_path().c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera;
  write_input(data, size);
  try {
    const std::unique_ptr<Model> model = Model::load(input_path());
    const int64_t n_vocab = model->hparams().n_vocab;
    std::unique_ptr<KvCache> kv = model->make_kv_cache(8);
    if (!kv->reserve(0, 2)) return 0;
    Batch batch;
    batch.add(0, 0, 0, false);
    batch.add(static_cast<TokenId>(n_vocab - 1), 1, 0, true);
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    ThreadPool pool(1);
    model->forward(batch, *kv, logits.data(), pool);
    const std::vector<TokenId> ids =
        model->tokenizer().encode("Hello, world! <s> 12345 \xc3\xa9", true, true);
    (void)model->tokenizer().decode(ids, true);
  } catch (const Error&) {
    // A clear refusal: what malformed input must get.
  }
  return 0;
}
