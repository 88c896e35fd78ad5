// Placeholder registration; replaced by the real command.
#include "cli/dev_commands.h"

namespace tessera::cli {

void register_dev_dequant(CLI::App& dev) { (void)dev; }

}  // namespace tessera::cli
