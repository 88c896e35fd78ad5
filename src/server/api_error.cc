#include "server/api_error.h"

namespace tessera::server {

nlohmann::json error_body(const std::string& message, const std::string& type,
                          const std::optional<std::string>& param, const std::optional<std::string>& code) {
  nlohmann::json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (param) e["param"] = *param;
  if (code) e["code"] = *code;
  return {{"error", std::move(e)}};
}

}  // namespace tessera::server
