#pragma once

#include <string>

namespace tessera::cli {

// The model to use: `flag` when given, else $TESSERA_MODEL, else the path the
// set-up script recorded in default-model.txt beside the executable. Throws
// tessera::Error telling the user how to get a model when none is found.
std::string resolve_model_path(const std::string& flag);

}  // namespace tessera::cli
