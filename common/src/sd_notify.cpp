#include "cmkwatch/common/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace cmkwatch::sd {
namespace {

// The datagram socket, closed on every path.
class Socket {
 public:
  Socket() : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// A number from the environment, or 0 when unset or not a number.
unsigned long long EnvNumber(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return 0;
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(v, &end, 10);
  return errno == 0 && end != v && *end == '\0' ? n : 0;
}

}  // namespace

Notifier Notifier::FromEnvironment() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  std::chrono::microseconds watchdog{EnvNumber("WATCHDOG_USEC")};
  // systemd names the process the watchdog is for; a child that inherited
  // the variables must not ping on the parent's behalf.
  const unsigned long long pid = EnvNumber("WATCHDOG_PID");
  if (pid != 0 && pid != static_cast<unsigned long long>(::getpid())) watchdog = std::chrono::microseconds{0};
  return Notifier(socket != nullptr ? socket : "", watchdog);
}

Notifier::Notifier(std::string socket, std::chrono::microseconds watchdog) :
    socket_(std::move(socket)), watchdog_(watchdog.count() > 0 ? watchdog : std::chrono::microseconds{0}) {}

Status Notifier::Notify(std::string_view state) {
  if (!active()) return Status::Ok();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // '@' stands for the abstract namespace's leading NUL (sd_notify(3)).
  if (socket_.size() >= sizeof addr.sun_path || (socket_[0] != '/' && socket_[0] != '@')) {
    return Status::InvalidArgument("NOTIFY_SOCKET is not a socket path or @name");
  }
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  if (socket_[0] == '@') addr.sun_path[0] = '\0';
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
  Socket s;
  if (s.fd() < 0) return Status::IoError(std::string("notify socket: ") + std::strerror(errno));
  const ssize_t sent = ::sendto(s.fd(), state.data(), state.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&addr), len);
  if (sent < 0) return Status::IoError("notify " + socket_ + ": " + std::strerror(errno));
  if (static_cast<size_t>(sent) != state.size()) return Status::IoError("notify " + socket_ + ": short send");
  return Status::Ok();
}

Status Notifier::Ready(std::string_view status_text) {
  std::string state = "READY=1";
  if (!status_text.empty()) {
    state += "\nSTATUS=";
    // One line: a newline would start another assignment.
    for (char c : status_text) state += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return Notify(state);
}

Status Notifier::Stopping() { return Notify("STOPPING=1"); }

Status Notifier::Reloading() { return Notify("RELOADING=1"); }

Status Notifier::WatchdogIfDue() {
  if (!active() || watchdog_.count() == 0) return Status::Ok();
  const auto now = std::chrono::steady_clock::now();
  if (last_ping_ != std::chrono::steady_clock::time_point{} && now - last_ping_ < watchdog_ / 2) return Status::Ok();
  last_ping_ = now;
  return Notify("WATCHDOG=1");
}

}  // namespace cmkwatch::sd
