// Listening TCP sockets for the daemons' small servers: /metrics
// (http_server.h) and the collector's Event Grid endpoint.
//
// Addresses are "host:port" or "[ipv6]:port": "127.0.0.1:9464", "[::1]:0",
// "0.0.0.0:8443", "localhost:0" (always 127.0.0.1, whatever /etc/hosts says,
// so a loopback promise never depends on that file). Port 0 picks a free
// port; Listener::port tells which.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <utility>

#include "cmkwatch/common/status.h"

namespace cmkwatch::net {

// Owns a file descriptor; closes it when destroyed or reset.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset();

 private:
  int fd_ = -1;
};

struct SocketAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// InvalidArgument naming the address when it is malformed or its host does
// not resolve to an IP address.
Result<SocketAddress> ResolveListenAddress(const std::string& address);

// 127.0.0.0/8, ::1 and ::ffff:127.x.y.z.
bool IsLoopback(const SocketAddress& address);

struct Listener {
  UniqueFd fd;  // non-blocking, close-on-exec, listening
  uint16_t port = 0;
};

// socket + SO_REUSEADDR (a restart need not wait out TIME_WAIT) +
// IPV6_V6ONLY for IPv6 + bind + listen. IoError naming `shown` (the address
// as the user wrote it) on failure.
Result<Listener> Listen(const SocketAddress& address, const std::string& shown, int backlog);

}  // namespace cmkwatch::net
