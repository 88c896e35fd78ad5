// tessera info: what a GGUF file holds — architecture, hyper-parameters,
// tokenizer, tensor types — read from the GGUF layer alone (no weights loaded).
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "gguf/gguf_file.h"
#include "quant/model_quantizer.h"

namespace tessera::cli {

namespace {

struct InfoOptions {
  std::string model;
  bool metadata = false;
  bool tensors = false;
  bool json = false;
};

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? " x " : "") + std::to_string(shape[i]);
  return s;
}

void run_info(const InfoOptions& o) {
  GgufFile f(o.model);
  const std::string arch = f.get_string_opt("general.architecture").value_or("(none)");
  const char* hparam_keys[] = {"context_length", "embedding_length", "block_count", "feed_forward_length",
                               "attention.head_count", "attention.head_count_kv", "attention.key_length",
                               "attention.value_length", "attention.layer_norm_rms_epsilon", "rope.freq_base",
                               "rope.dimension_count", "attention.sliding_window"};
  struct TypeSummary {
    int64_t count = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string, TypeSummary> by_type;
  uint64_t total = 0;
  int64_t params = 0;
  for (const auto& t : f.tensors()) {
    auto& s = by_type[type_name(t.type)];
    ++s.count;
    s.bytes += t.n_bytes;
    total += t.n_bytes;
    params += t.n_elements();
  }
  const auto vocab = f.find("tokenizer.ggml.tokens");
  const size_t n_vocab = vocab != nullptr && vocab->type == GgufValueType::ARRAY ? vocab->as_array("tokens").items.size() : 0;

  if (o.json) {
    nlohmann::json j;
    j["path"] = f.path();
    j["file_bytes"] = f.file_size();
    j["gguf_version"] = f.version();
    j["architecture"] = arch;
    j["name"] = f.get_string_opt("general.name").value_or("");
    for (const char* k : hparam_keys) {
      if (const GgufValue* v = f.find(arch + "." + k)) j["hparams"][k] = v->to_display_string();
    }
    j["tokenizer"] = {{"model", f.get_string_opt("tokenizer.ggml.model").value_or("")}, {"n_vocab", n_vocab}};
    j["n_parameters"] = params;
    for (const auto& [name, s] : by_type) j["tensor_types"][name] = {{"count", s.count}, {"bytes", s.bytes}};
    j["rotation_block"] = f.get_u64_opt("tessera.rotation.block_size").value_or(0);  // 0: not rotated
    j["activation_scales"] = f.get_string_opt(kActivationScalesKey).value_or("block");
    if (o.metadata) {
      for (const auto& [k, v] : f.metadata()) j["metadata"][k] = v.to_display_string();
    }
    if (o.tensors) {
      for (const auto& t : f.tensors()) {
        j["tensors"].push_back({{"name", t.name}, {"shape", t.shape}, {"type", type_name(t.type)}, {"bytes", t.n_bytes}});
      }
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("file          %s (%.1f MiB, GGUF v%u)\n", f.path().c_str(), f.file_size() / 1048576.0, f.version());
  std::printf("architecture  %s", arch.c_str());
  if (auto name = f.get_string_opt("general.name")) std::printf("  (%s)", name->c_str());
  std::printf("\nparameters    %.1f M\n", params / 1e6);
  for (const char* k : hparam_keys) {
    if (const GgufValue* v = f.find(arch + "." + k)) std::printf("  %-34s %s\n", k, v->to_display_string().c_str());
  }
  std::printf("tokenizer     %s, %zu tokens", f.get_string_opt("tokenizer.ggml.model").value_or("(none)").c_str(), n_vocab);
  if (auto pre = f.get_string_opt("tokenizer.ggml.pre")) std::printf(", pre-tokenizer %s", pre->c_str());
  if (auto bos = f.get_i64_opt("tokenizer.ggml.bos_token_id")) std::printf(", BOS %lld", static_cast<long long>(*bos));
  if (auto eos = f.get_i64_opt("tokenizer.ggml.eos_token_id")) std::printf(", EOS %lld", static_cast<long long>(*eos));
  std::printf("\ntensors       %zu, %.1f MiB\n", f.tensors().size(), total / 1048576.0);
  for (const auto& [name, s] : by_type) {
    std::printf("  %-6s %5lld tensors  %9.1f MiB\n", name.c_str(), static_cast<long long>(s.count), s.bytes / 1048576.0);
  }
  if (auto block = f.get_u64_opt("tessera.rotation.block_size")) {
    // Worth a line of its own: the weights only mean the model with their inputs rotated.
    std::printf("rotation      Hadamard, blocks of %llu inputs (tessera-only file: llama.cpp would run it wrong)\n",
                static_cast<unsigned long long>(*block));
  }
  if (auto scales = f.get_string_opt(kActivationScalesKey)) {
    std::printf("activations   8-bit, one scale per %s, on the layer matrices with one scale per row (row-scaled "
                "integer kernels; llama.cpp runs the file with its per-block activations)\n", scales->c_str());
  }
  if (o.metadata) {
    std::printf("metadata\n");
    for (const auto& [k, v] : f.metadata()) std::printf("  %-44s %s\n", k.c_str(), v.to_display_string().c_str());
  }
  if (o.tensors) {
    std::printf("tensor list\n");
    for (const auto& t : f.tensors()) {
      std::printf("  %-40s %-22s %-5s %10llu\n", t.name.c_str(), shape_string(t.shape).c_str(), type_name(t.type),
                  static_cast<unsigned long long>(t.n_bytes));
    }
  }
}

}  // namespace

void register_info(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand("info", "Show a GGUF file's architecture, hyper-parameters, tokenizer and tensors");
  cmd->add_option("model", o->model, "GGUF file")->required();
  cmd->add_flag("--metadata", o->metadata, "list every metadata key");
  cmd->add_flag("--tensors", o->tensors, "list every tensor");
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o] { run_info(*o); });
}

}  // namespace tessera::cli
