// Placeholder registration; replaced by the real command.
#include "cli/commands.h"

namespace tessera::cli {

void register_run(CLI::App& app) { (void)app; }

}  // namespace tessera::cli
