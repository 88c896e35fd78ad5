// Errors at boundaries (files, CLI, HTTP) are exceptions that say what was wrong
// and where. The hot path never throws.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace tessera {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown for malformed or unsupported model files; the message names the file,
// the field and the problem.
class FormatError : public Error {
 public:
  using Error::Error;
};

// Thrown for impossible user parameters (CLI flags, request fields).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

template <typename E = Error, typename... Args>
[[noreturn]] void raise(fmt::format_string<Args...> format, Args&&... args) {
  throw E(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace tessera
