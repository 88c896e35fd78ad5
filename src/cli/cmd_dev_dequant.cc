// tessera dev dequant: raw blocks of one type in, float32 out — lets the test
// suite compare dequantization with gguf.quants.dequantize.
#include <fstream>
#include <iterator>
#include <vector>

#include "cli/dev_commands.h"
#include "core/error.h"
#include "quant/dequantize.h"

namespace tessera::cli {

namespace {

struct DevDequantOptions {
  std::string type;
  std::string in;
  std::string out;
};

void run_dev_dequant(const DevDequantOptions& o) {
  const auto type = type_from_name(o.type);
  if (!type || !type_traits(*type).weight_type) {
    raise<InvalidArgument>("unknown type '{}'; supported: {}", o.type, supported_type_names());
  }
  const TypeTraits& t = type_traits(*type);
  std::ifstream in(o.in, std::ios::binary);
  if (!in) raise("{}: cannot open", o.in);
  const std::vector<uint8_t> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (raw.size() % static_cast<size_t>(t.block_bytes) != 0) {
    raise<InvalidArgument>("{}: {} bytes is not a whole number of {} blocks ({} bytes each)", o.in,
                           raw.size(), t.name, t.block_bytes);
  }
  const int64_t n = static_cast<int64_t>(raw.size()) / t.block_bytes * t.block_size;
  std::vector<float> out(static_cast<size_t>(n));
  if (n > 0) dequantize_row(*type, raw.data(), out.data(), n);
  std::ofstream f(o.out, std::ios::binary);
  f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size() * sizeof(float)));
  if (!f) raise("{}: write failed", o.out);
}

}  // namespace

void register_dev_dequant(CLI::App& dev) {
  auto o = std::make_shared<DevDequantOptions>();
  CLI::App* cmd = dev.add_subcommand("dequant", "Dequantize raw blocks of one type to float32");
  cmd->add_option("--type", o->type, "block type, e.g. Q4_K")->required();
  cmd->add_option("--in", o->in, "raw blocks")->required();
  cmd->add_option("--out", o->out, "float32 output")->required();
  cmd->callback([o] { run_dev_dequant(*o); });
}

}  // namespace tessera::cli
