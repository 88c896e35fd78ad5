// ClientConnection finds the accepted socket of a request by its addresses
// and sees the peer close it; a connection that is open (even with unread
// input) is not reported closed.
#include "server/client_connection.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tessera::server {
namespace {

struct LoopbackPair {
  int listener = -1, client = -1, accepted = -1;
  ~LoopbackPair() {
    for (int fd : {listener, client, accepted}) {
      if (fd >= 0) close(fd);
    }
  }
};

// A TCP connection over 127.0.0.1, both ends in this process.
void connect_loopback(LoopbackPair& p) {
  p.listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(p.listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(p.listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(p.listener, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(p.listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  p.client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(p.client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  p.accepted = accept(p.listener, nullptr, nullptr);
  ASSERT_GE(p.accepted, 0);
}

// The request httplib would hand the server's handler for `p.accepted`.
httplib::Request request_of(const LoopbackPair& p) {
  httplib::Request req;
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  getpeername(p.accepted, reinterpret_cast<sockaddr*>(&addr), &len);
  req.remote_addr = "127.0.0.1";
  req.remote_port = ntohs(addr.sin_port);
  len = sizeof(addr);
  getsockname(p.accepted, reinterpret_cast<sockaddr*>(&addr), &len);
  req.local_addr = "127.0.0.1";
  req.local_port = ntohs(addr.sin_port);
  return req;
}

TEST(ClientConnection, FindsTheAcceptedSocketAndSeesThePeerClose) {
  LoopbackPair p;
  ASSERT_NO_FATAL_FAILURE(connect_loopback(p));
  const auto connection = ClientConnection::find(request_of(p));
  ASSERT_TRUE(connection.has_value());
  // Not the client's end, whose addresses are the same pair swapped.
  EXPECT_EQ(connection->fd(), p.accepted);
  EXPECT_FALSE(connection->peer_closed());

  // A pipelined next request is input, not a hang-up.
  ASSERT_EQ(write(p.client, "GET /", 5), 5);
  EXPECT_FALSE(connection->peer_closed());

  close(p.client);
  p.client = -1;
  EXPECT_TRUE(connection->peer_closed());
}

TEST(ClientConnection, UnknownAddressesFindNothing) {
  LoopbackPair p;
  ASSERT_NO_FATAL_FAILURE(connect_loopback(p));
  httplib::Request req = request_of(p);
  req.remote_port = req.remote_port == 1 ? 2 : 1;
  EXPECT_FALSE(ClientConnection::find(req).has_value());
  req = request_of(p);
  req.remote_addr = "10.1.2.3";
  EXPECT_FALSE(ClientConnection::find(req).has_value());
  EXPECT_FALSE(ClientConnection::find(httplib::Request{}).has_value());  // ports -1: not from a socket
}

}  // namespace
}  // namespace tessera::server
