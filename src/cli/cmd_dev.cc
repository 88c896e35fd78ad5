// `tessera dev ...`: low-level helpers the test suite and benchmarks drive
// (raw dequantization, raw logits). Not part of the user-facing surface, but
// held to the same input checking as every other command.
#include "cli/commands.h"
#include "cli/dev_commands.h"

namespace tessera::cli {

void register_dev(CLI::App& app) {
  CLI::App* dev = app.add_subcommand("dev", "Test-harness helpers (raw dequantization, logits, chat templates)");
  dev->require_subcommand(1);
  register_dev_dequant(*dev);
  register_dev_logits(*dev);
  register_dev_chat_template(*dev);
}

}  // namespace tessera::cli
