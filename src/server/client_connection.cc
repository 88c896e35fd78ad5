#include "server/client_connection.h"

#include <httplib.h>

#if defined(__linux__)
#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#endif

#include <cstdlib>

namespace tessera::server {

#if defined(__linux__)
namespace {

// The numeric host and port of an address, as httplib fills Request's
// remote_addr / local_addr (getnameinfo with NI_NUMERICHOST).
bool numeric_address(const sockaddr_storage& addr, socklen_t len, std::string& host, int& port) {
  char host_buf[NI_MAXHOST];
  char port_buf[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host_buf, sizeof(host_buf), port_buf,
                  sizeof(port_buf), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return false;
  }
  host = host_buf;
  port = std::atoi(port_buf);
  return true;
}

bool is_connection_of(int fd, const httplib::Request& req) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  std::string host;
  int port = -1;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  if (!numeric_address(addr, len, host, port) || port != req.remote_port || host != req.remote_addr) return false;
  len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  return numeric_address(addr, len, host, port) && port == req.local_port && host == req.local_addr;
}

}  // namespace

std::optional<ClientConnection> ClientConnection::find(const httplib::Request& req) {
  if (req.remote_port < 0 || req.local_port < 0) return std::nullopt;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  std::optional<ClientConnection> found;
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    if (is_connection_of(static_cast<int>(fd), req)) {
      found = ClientConnection(static_cast<int>(fd));
      break;
    }
  }
  closedir(dir);
  return found;
}

bool ClientConnection::peer_closed() const {
  pollfd p{fd_, POLLRDHUP, 0};
  if (poll(&p, 1, 0) < 0) return false;  // EINTR and the like: ask again next time
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

#else

std::optional<ClientConnection> ClientConnection::find(const httplib::Request&) { return std::nullopt; }
bool ClientConnection::peer_closed() const { return false; }

#endif

}  // namespace tessera::server
