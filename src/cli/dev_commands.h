#pragma once

#include <CLI/CLI.hpp>

namespace tessera::cli {

// tessera dev dequant --type T --in RAW --out F32: dequantizes raw blocks.
void register_dev_dequant(CLI::App& dev);  // cmd_dev_dequant.cc
// tessera dev logits -m MODEL --tokens-file I32 --out F32: logits of every position.
void register_dev_logits(CLI::App& dev);   // cmd_dev_logits.cc
// tessera dev chat-template [-m MODEL | --template-file F] --messages JSON: rendered prompt.
void register_dev_chat_template(CLI::App& dev);  // cmd_dev_chat_template.cc

}  // namespace tessera::cli
