// The one error type of the HTTP layer: an OpenAI-style error that knows its
// HTTP status. Handlers throw it for anything the client got wrong; the server
// turns it into {"error": {"message", "type", "param", "code"}} with `status`.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/error.h"

namespace tessera::server {

class ApiError : public Error {
 public:
  // type: OpenAI's error class ("invalid_request_error", "authentication_error",
  // "not_found_error", "server_error"); param: the offending request field, if
  // any; code: a machine-readable reason ("model_not_found",
  // "context_length_exceeded", ...), if any.
  ApiError(int status, std::string message, std::string type = "invalid_request_error",
           std::optional<std::string> param = std::nullopt, std::optional<std::string> code = std::nullopt)
      : Error(message), status_(status), type_(std::move(type)), param_(std::move(param)), code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::optional<std::string>& param() const { return param_; }
  const std::optional<std::string>& code() const { return code_; }

 private:
  int status_;
  std::string type_;
  std::optional<std::string> param_;
  std::optional<std::string> code_;
};

// {"error": {"message": ..., "type": ..., "param": ... or null, "code": ... or null}}
nlohmann::json error_body(const std::string& message, const std::string& type,
                          const std::optional<std::string>& param = std::nullopt,
                          const std::optional<std::string>& code = std::nullopt);
inline nlohmann::json error_body(const ApiError& e) { return error_body(e.what(), e.type(), e.param(), e.code()); }

// A 400 for field `param`.
[[noreturn]] inline void bad_request(const std::string& param, const std::string& message) {
  throw ApiError(400, message, "invalid_request_error", param);
}

}  // namespace tessera::server
