// Whether the client of a request that is being handled is still connected.
//
// httplib (0.11, Debian's) gives a handler no socket, and a non-streaming
// handler writes nothing until its response is complete, so without this a
// client that gave up was only noticed when its whole generation had run.
// The socket is found by its addresses: among this process's open sockets,
// the one whose local and peer addresses are the request's. The handler runs
// on the thread that owns that connection, so the descriptor cannot be closed
// or reused while the handler runs (invariant the probe relies on).
//
// Linux only (/proc/self/fd and POLLRDHUP); elsewhere find() returns nothing
// and requests are bounded by max_tokens and the request timeout as before.
#pragma once

#include <optional>
#include <string>

namespace httplib {
struct Request;
}  // namespace httplib

namespace tessera::server {

class ClientConnection {
 public:
  // The connection of `req`, or nothing when it cannot be identified.
  static std::optional<ClientConnection> find(const httplib::Request& req);

  // True once the peer has closed its side (or the socket failed). A client
  // that pipelines its next request is still there: pending input is not EOF.
  bool peer_closed() const;

  int fd() const { return fd_; }

 private:
  explicit ClientConnection(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace tessera::server
