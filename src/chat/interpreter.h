// Renders a parsed template against a context of variables. Rendering is
// bounded: output size and an evaluation step budget (which also charges for
// the bytes of strings built) stop runaway templates with a TemplateError
// instead of a hang or an exhausted machine.
#pragma once

#include <cstdint>
#include <string>

#include "chat/ast.h"
#include "chat/value.h"

namespace tessera::chat {

struct RenderLimits {
  size_t max_output_bytes = size_t{8} << 20;
  // About a second of work; a 1,000-message conversation through the largest
  // templates here takes well under 1% of it.
  uint64_t max_steps = 2'000'000;
};

// `globals` holds the template's variables (messages, add_generation_prompt,
// ...); the built-in functions (range, namespace, raise_exception, ...) are
// visible unless a variable of the same name shadows them.
std::string render_template(const StmtList& program, const ValueDict& globals, const RenderLimits& limits = {});

}  // namespace tessera::chat
