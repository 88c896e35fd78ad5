// tessera: command-line entry point. Each subcommand is in its own cmd_*.cc.
#include <csignal>
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"tessera: an inference engine for GGUF language models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tessera 0.1.0");
  tessera::cli::register_run(app);
  tessera::cli::register_info(app);
  tessera::cli::register_tokenize(app);
  tessera::cli::register_perplexity(app);
  tessera::cli::register_bench(app);
  tessera::cli::register_quantize(app);
  tessera::cli::register_serve(app);
  tessera::cli::register_dev(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const tessera::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
