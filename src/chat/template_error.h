// The one exception type of the chat-template layer. Every failure of a
// template — a syntax error (with line and column), an undefined function or
// filter, a type error, `raise_exception(...)` called by the template itself, or
// a resource limit reached — is a TemplateError, so a caller (the HTTP server)
// can answer it as a bad request without confusing it with engine failures.
#pragma once

#include <string>

#include "core/error.h"

namespace tessera::chat {

class TemplateError : public Error {
 public:
  using Error::Error;
};

// Thrown only for `raise_exception(message)` called from the template: the
// template rejected the conversation (e.g. roles that do not alternate).
// what() is exactly the template's message.
class TemplateRaised : public TemplateError {
 public:
  using TemplateError::TemplateError;
};

}  // namespace tessera::chat
