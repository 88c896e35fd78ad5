// Each subcommand lives in its own cmd_*.cc and registers itself on the app.
// A command's callback throws tessera::Error for bad input; main() prints the
// message and exits non-zero.
#pragma once

#include <CLI/CLI.hpp>

namespace tessera::cli {

void register_run(CLI::App& app);         // cmd_run.cc
void register_info(CLI::App& app);        // cmd_info.cc
void register_tokenize(CLI::App& app);    // cmd_tokenize.cc
void register_perplexity(CLI::App& app);  // cmd_perplexity.cc
void register_bench(CLI::App& app);       // cmd_bench.cc
void register_quantize(CLI::App& app);    // cmd_quantize.cc
void register_serve(CLI::App& app);       // cmd_serve.cc
void register_dev(CLI::App& app);         // cmd_dev.cc: test-harness helpers

}  // namespace tessera::cli
