#include "server/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>

#include "server/api_error.h"
#include "server/chat_prompt.h"
#include "server/metrics_text.h"
#include "server/openai_response.h"

namespace tessera::server {

namespace {

using json = nlohmann::json;

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status(), error_body(e)); }

// Comparison whose time does not depend on where the strings differ.
bool same_secret(const std::string& given, const std::string& key) {
  if (given.size() != key.size() || key.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < key.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ key[i]);
  return diff == 0;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

struct HttpServer::Impl {
  serving::ServingEngine& engine;
  ServerOptions options;
  std::atomic<bool> stopping{false};
  ChatPrompt chat_prompt;
  CompletionHandler completions;
  httplib::Server http;
  socket_t listen_socket = INVALID_SOCKET;  // set when bind() creates it
  int64_t created = unix_now();
  std::mutex counts_mutex;
  std::map<int, uint64_t> response_counts;  // HTTP status -> responses

  Impl(serving::ServingEngine& e, ServerOptions o)
      : engine(e),
        options(std::move(o)),
        chat_prompt(e.model()),
        completions(e, chat_prompt, options.completion, stopping) {
    configure();
  }

  // Runs a handler, turning every exception into an OpenAI error response:
  // no request can take the server down.
  template <typename Fn>
  httplib::Server::Handler guarded(Fn fn) {
    return [fn](const httplib::Request& req, httplib::Response& res) {
      try {
        fn(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const InvalidArgument& e) {
        send_error(res, ApiError(400, e.what()));
      } catch (const std::bad_alloc&) {
        send_error(res, ApiError(500, "out of memory", "server_error"));
      } catch (const std::exception& e) {
        send_error(res, ApiError(500, e.what(), "server_error"));
      }
    };
  }

  json model_object() const {
    const Model& m = engine.model();
    return {{"id", options.completion.model_id},
            {"object", "model"},
            {"created", created},
            {"owned_by", "tessera"},
            {"meta",
             {{"architecture", m.hparams().arch},
              {"n_ctx", engine.config().n_ctx},
              {"n_ctx_train", m.hparams().n_ctx_train},
              {"n_vocab", m.tokenizer().n_vocab()},
              {"chat_template", chat_prompt.origin()}}}};
  }

  void configure() {
    const int threads =
        options.http_threads > 0 ? options.http_threads : std::max(64, 8 * engine.config().max_seqs);
    http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    // Remember the listening socket (bind() widens its backlog); the default
    // options (address reuse) still apply.
    http.set_socket_options([this](socket_t sock) {
      httplib::default_socket_options(sock);
      listen_socket = sock;
    });
    http.set_payload_max_length(options.max_body_bytes);
    http.set_read_timeout(std::chrono::seconds(30));
    http.set_write_timeout(std::chrono::seconds(30));

    // Authentication happens before the body is read.
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (options.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      const std::string given = auth.starts_with(prefix) ? auth.substr(prefix.size()) : std::string();
      if (same_secret(given, options.api_key)) return httplib::Server::HandlerResponse::Unhandled;
      send_json(res, 401,
                error_body(given.empty() ? "You didn't provide an API key (Authorization: Bearer KEY)"
                                         : "Incorrect API key provided",
                           "invalid_request_error", std::nullopt, "invalid_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    });

    // Errors httplib produces itself (no route, body too large, malformed
    // HTTP) get the OpenAI shape too; responses that have a body keep it.
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string message;
      switch (res.status) {
        case 404: message = fmt::format("Invalid URL ({} {})", req.method, req.path); break;
        case 413:
          message = fmt::format("the request body is larger than the limit of {} bytes", options.max_body_bytes);
          break;
        default: message = fmt::format("HTTP error {}", res.status); break;
      }
      send_json(res, res.status,
                error_body(message, res.status >= 500 ? "server_error" : "invalid_request_error"));
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      send_error(res, ApiError(500, "internal error", "server_error"));
    });
    http.set_logger([this](const httplib::Request&, const httplib::Response& res) {
      std::lock_guard lock(counts_mutex);
      ++response_counts[res.status];
    });

    http.Post("/v1/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
      completions.handle(req, res, Endpoint::Completions);
    }));
    http.Post("/v1/chat/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
      completions.handle(req, res, Endpoint::ChatCompletions);
    }));
    http.Get("/v1/models", guarded([this](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, {{"object", "list"}, {"data", json::array({model_object()})}});
    }));
    http.Get("/v1/models/(.+)", guarded([this](const httplib::Request& req, httplib::Response& res) {
      if (req.matches[1] != options.completion.model_id) {
        throw ApiError(404, fmt::format("The model '{}' does not exist", req.matches[1].str()),
                       "invalid_request_error", "model", "model_not_found");
      }
      send_json(res, 200, model_object());
    }));
    http.Get("/health", guarded([](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, {{"status", "ok"}});
    }));
    http.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
      std::map<int, uint64_t> counts;
      {
        std::lock_guard lock(counts_mutex);
        counts = response_counts;
      }
      res.status = 200;
      res.set_content(metrics_text(engine.metrics(), counts), "text/plain; version=0.0.4");
    }));
    http.Post("/tokenize", guarded([this](const httplib::Request& req, httplib::Response& res) { tokenize(req, res); }));
    http.Post("/detokenize",
              guarded([this](const httplib::Request& req, httplib::Response& res) { detokenize(req, res); }));
  }

  // llama.cpp server: {"content": str, "add_special": false, "with_pieces": false}
  //   -> {"tokens": [ids]} or {"tokens": [{"id", "piece"}]}
  void tokenize(const httplib::Request& req, httplib::Response& res) {
    const json body = parse_json_object(req.body);
    auto it = body.find("content");
    if (it == body.end() || !it->is_string()) bad_request("content", "'content' must be a string");
    auto flag = [&](const char* name) {
      auto f = body.find(name);
      if (f == body.end() || f->is_null()) return false;
      if (!f->is_boolean()) bad_request(name, fmt::format("'{}' must be a boolean", name));
      return f->get<bool>();
    };
    const bool add_special = flag("add_special");
    const bool with_pieces = flag("with_pieces");
    const Tokenizer& tok = engine.model().tokenizer();
    const std::vector<TokenId> ids = tok.encode(it->get<std::string>(), add_special, /*parse_special=*/true);
    json tokens = json::array();
    for (TokenId id : ids) {
      if (with_pieces) {
        tokens.push_back({{"id", id}, {"piece", tok.token_to_piece(id, true)}});
      } else {
        tokens.push_back(id);
      }
    }
    send_json(res, 200, {{"tokens", tokens}});
  }

  // {"tokens": [ids]} -> {"content": text}
  void detokenize(const httplib::Request& req, httplib::Response& res) {
    const json body = parse_json_object(req.body);
    auto it = body.find("tokens");
    if (it == body.end() || !it->is_array()) bad_request("tokens", "'tokens' must be an array of token ids");
    const Tokenizer& tok = engine.model().tokenizer();
    std::vector<TokenId> ids;
    for (const auto& t : *it) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok.n_vocab()) {
        bad_request("tokens", fmt::format("'tokens' must hold token ids in [0, {})", tok.n_vocab()));
      }
      ids.push_back(static_cast<TokenId>(t.get<int64_t>()));
    }
    send_json(res, 200, {{"content", tok.decode(ids)}});
  }
};

HttpServer::HttpServer(serving::ServingEngine& engine, ServerOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {}

HttpServer::~HttpServer() { stop(); }

namespace {

// Pending connections the kernel holds for the accept loop. Debian's
// cpp-httplib (a compiled library: its CPPHTTPLIB_LISTEN_BACKLOG cannot be
// overridden) listens with 5; 32 clients connecting at once on a loaded
// machine overflowed that, the kernel fell back to SYN cookies ("Possible SYN
// flooding" in dmesg) and a client's connection was reset before its response
// (the 32-stream serving test, once in CI). listen() again on a listening
// socket only changes its backlog; the kernel caps it at net.core.somaxconn.
constexpr int kListenBacklog = 1024;

}  // namespace

int HttpServer::bind() {
  const auto& o = impl_->options;
  int port = o.port;
  if (o.port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    if (port <= 0) raise("cannot listen on {} (any port)", o.host);
  } else if (!impl_->http.bind_to_port(o.host, o.port)) {
    raise("cannot listen on {}:{} (in use, or a bad address?)", o.host, o.port);
  }
  if (impl_->listen_socket != INVALID_SOCKET && ::listen(impl_->listen_socket, kListenBacklog) != 0) {
    raise("cannot widen the listen backlog on {}:{}", o.host, port);
  }
  return port;
}

bool HttpServer::run() { return impl_->http.listen_after_bind(); }

void HttpServer::stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

}  // namespace tessera::server
