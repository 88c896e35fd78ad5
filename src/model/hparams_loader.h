#pragma once

#include "gguf/gguf_file.h"
#include "model/hparams.h"

namespace tessera {

// Reads and sanity-checks the hyper-parameters of a supported architecture.
// Throws FormatError naming the file and key for missing or impossible values,
// and for an unsupported architecture (listing the supported ones).
HParams read_hparams(const GgufFile& file);

}  // namespace tessera
