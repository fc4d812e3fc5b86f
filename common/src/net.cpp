#include "cmkwatch/common/net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>

namespace cmkwatch::net {
namespace {

Status Errno(std::string_view what) { return Status::IoError(std::string(what) + ": " + std::strerror(errno)); }

}  // namespace

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool IsLoopback(const SocketAddress& e) {
  if (e.addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&e.addr);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (e.addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&e.addr);
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
    // ::ffff:127.x.y.z
    return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

Result<SocketAddress> ResolveListenAddress(const std::string& address) {
  std::string host;
  std::string_view port_text;
  const std::string_view a(address);
  bool bracketed = false;
  if (!a.empty() && a.front() == '[') {
    const size_t close = a.find(']');
    if (close == std::string_view::npos || close + 1 >= a.size() || a[close + 1] != ':') {
      return Status::InvalidArgument("address '" + address + "' must be [ipv6]:port");
    }
    host = std::string(a.substr(1, close - 1));
    port_text = a.substr(close + 2);
    bracketed = true;
  } else {
    const size_t colon = a.rfind(':');
    if (colon == std::string_view::npos) return Status::InvalidArgument("address '" + address + "' has no :port");
    host = std::string(a.substr(0, colon));
    port_text = a.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return Status::InvalidArgument("address '" + address + "': write IPv6 addresses in brackets, [::1]:port");
    }
  }
  if (host.empty()) return Status::InvalidArgument("address '" + address + "' has no host");
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Status::InvalidArgument("address '" + address + "' has a malformed port");
  }
  unsigned long port = std::stoul(std::string(port_text));
  if (port > 65535) return Status::InvalidArgument("address '" + address + "': port over 65535");
  const auto nport = htons(static_cast<uint16_t>(port));

  SocketAddress e;
  auto* in = reinterpret_cast<sockaddr_in*>(&e.addr);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&e.addr);
  if (bracketed) {
    if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
      return Status::InvalidArgument("address '" + address + "': not an IPv6 address in the brackets");
    }
    in6->sin6_family = AF_INET6;
    in6->sin6_port = nport;
    e.len = sizeof(sockaddr_in6);
    return e;
  }
  if (host == "localhost") host = "127.0.0.1";
  if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = nport;
    e.len = sizeof(sockaddr_in);
    return e;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    return Status::InvalidArgument("address '" + address + "': cannot resolve the host");
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, &freeaddrinfo);
  if (found->ai_addrlen > sizeof e.addr) return Status::InvalidArgument("address '" + address + "': odd address");
  std::memcpy(&e.addr, found->ai_addr, found->ai_addrlen);
  e.len = found->ai_addrlen;
  if (e.addr.ss_family == AF_INET) {
    in->sin_port = nport;
  } else if (e.addr.ss_family == AF_INET6) {
    in6->sin6_port = nport;
  } else {
    return Status::InvalidArgument("address '" + address + "': not an IP address");
  }
  return e;
}

Result<Listener> Listen(const SocketAddress& address, const std::string& shown, int backlog) {
  Listener l;
  const int family = address.addr.ss_family;
  l.fd = UniqueFd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!l.fd.valid()) return Errno("socket");
  const int one = 1;
  if (::setsockopt(l.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return Errno("SO_REUSEADDR");
  if (family == AF_INET6 && ::setsockopt(l.fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
    return Errno("IPV6_V6ONLY");
  }
  if (::bind(l.fd.get(), reinterpret_cast<const sockaddr*>(&address.addr), address.len) != 0) {
    return Errno("binding " + shown);
  }
  if (::listen(l.fd.get(), backlog) != 0) return Errno("listen on " + shown);
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  if (::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) return Errno("getsockname");
  l.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port
                                             : reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  return l;
}

}  // namespace cmkwatch::net
