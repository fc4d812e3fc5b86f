#include "cmkwatch/common/http_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "cmkwatch/common/http_request.h"
#include "cmkwatch/common/net.h"

namespace cmkwatch::http {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kListenBacklog = 64;
constexpr int kMaxConnectionsCap = 1024;
constexpr int kMaxTimeoutMs = 10 * 60 * 1000;
// After the response, what the client still sends (a refused body, a
// pipelined request) is read and discarded for at most this long before
// closing: closing with unread bytes makes the kernel send a reset, which
// can destroy the response before the client reads it.
constexpr int kLingerMs = 1000;
constexpr size_t kMaxLingerBytes = 64 * 1024;
// Pause accepting for this long when out of file descriptors, so a full
// descriptor table cannot turn the loop into a busy spin.
constexpr int kAcceptPauseMs = 100;

using net::UniqueFd;

Status Errno(std::string_view what) { return Status::IoError(std::string(what) + ": " + std::strerror(errno)); }

std::string_view Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 400 ? "OK" : "Error";
  }
}

bool SafeHeaderValue(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

struct Connection {
  enum class Phase { kReading, kWriting, kDraining };
  UniqueFd fd;
  Phase phase = Phase::kReading;
  Clock::time_point deadline;
  std::string in;
  std::string out;
  size_t out_sent = 0;
  size_t drained = 0;
  bool closed = false;
};

}  // namespace

struct Server::Impl {
  Options options;
  UniqueFd listener;
  UniqueFd wake_read;
  UniqueFd wake_write;
  uint16_t port = 0;
  std::thread thread;
  std::mutex stop_mu;
  bool stop_requested = false;  // guarded by stop_mu
  std::vector<Connection> conns;
  Clock::time_point accept_paused_until{};

  void Run();
  void Accept(Clock::time_point now);
  void OnReadable(Connection& c, Clock::time_point now);
  void OnWritable(Connection& c, Clock::time_point now);
  void OnDeadline(Connection& c, Clock::time_point now);
  void HandleHead(Connection& c, std::string_view head, Clock::time_point now);
  void Respond(Connection& c, int status, std::string_view content_type, std::string_view body, bool head_only,
               bool allow_header, Clock::time_point now);
  void Error(Connection& c, int status, Clock::time_point now, bool allow_header = false) {
    std::string body(Reason(status));
    body += '\n';
    Respond(c, status, "text/plain; charset=utf-8", body, false, allow_header, now);
  }
};

void Server::Impl::Run() {
  std::vector<pollfd> fds;
  for (;;) {
    const auto now = Clock::now();
    const bool accepting = conns.size() < static_cast<size_t>(options.max_connections) && now >= accept_paused_until;
    fds.clear();
    fds.push_back({wake_read.get(), POLLIN, 0});
    // A negative fd is skipped by poll: at the cap, new clients wait in
    // the backlog.
    fds.push_back({accepting ? listener.get() : -1, POLLIN, 0});
    Clock::time_point next = Clock::time_point::max();
    if (!accepting && conns.size() < static_cast<size_t>(options.max_connections)) next = accept_paused_until;
    for (const Connection& c : conns) {
      const short events = c.phase == Connection::Phase::kWriting ? POLLOUT : POLLIN;
      fds.push_back({c.fd.get(), events, 0});
      next = std::min(next, c.deadline);
    }
    int timeout = -1;
    if (next != Clock::time_point::max()) {
      // Round up, so we do not wake a moment early and spin.
      const auto wait = std::chrono::ceil<milliseconds>(next - now).count();
      timeout = static_cast<int>(std::clamp<int64_t>(wait, 0, kMaxTimeoutMs));
    }
    const int rc = ::poll(fds.data(), static_cast<nfds_t>(fds.size()), timeout);
    if (rc < 0 && errno != EINTR) return;  // cannot happen with valid fds; leave rather than spin
    if (fds[0].revents != 0) return;       // Stop()

    const auto after = Clock::now();
    for (size_t i = 0; i < conns.size(); ++i) {
      Connection& c = conns[i];
      const short re = fds[i + 2].revents;
      if (re != 0) {
        if (c.phase == Connection::Phase::kWriting) {
          OnWritable(c, after);
        } else {
          OnReadable(c, after);
        }
      }
      if (!c.closed && after >= c.deadline) OnDeadline(c, after);
    }
    conns.erase(std::remove_if(conns.begin(), conns.end(), [](const Connection& c) { return c.closed; }),
                conns.end());
    if (accepting && (fds[1].revents & POLLIN) != 0) Accept(after);
  }
}

void Server::Impl::Accept(Clock::time_point now) {
  while (conns.size() < static_cast<size_t>(options.max_connections)) {
    const int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) accept_paused_until = now + milliseconds(kAcceptPauseMs);
      return;
    }
    Connection c;
    c.fd = UniqueFd(fd);
    c.deadline = now + milliseconds(options.read_timeout_ms);
    conns.push_back(std::move(c));
  }
}

void Server::Impl::OnReadable(Connection& c, Clock::time_point now) {
  if (c.phase == Connection::Phase::kDraining) {
    char scratch[4096];
    const ssize_t n = ::recv(c.fd.get(), scratch, sizeof scratch, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {
      c.closed = true;
      return;
    }
    c.drained += static_cast<size_t>(n);
    if (c.drained > kMaxLingerBytes) c.closed = true;
    return;
  }
  // Read at most one byte past the limit: enough to know it was exceeded.
  const size_t old = c.in.size();
  const size_t room = kMaxHeadBytes + 1 - old;
  c.in.resize(old + room);
  const ssize_t n = ::recv(c.fd.get(), c.in.data() + old, room, 0);
  c.in.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    // The client left (or failed) before finishing its head: nobody to
    // answer.
    c.closed = true;
    return;
  }
  const size_t from = old >= 3 ? old - 3 : 0;
  const size_t end = c.in.find("\r\n\r\n", from);
  if (end != std::string::npos && end + 4 <= kMaxHeadBytes) {
    const std::string head = c.in.substr(0, end + 4);
    HandleHead(c, head, now);
  } else if (c.in.size() > kMaxHeadBytes) {
    Error(c, 431, now);
  }
}

void Server::Impl::HandleHead(Connection& c, std::string_view head, Clock::time_point now) {
  auto req = ParseRequestHead(head);
  if (!req.ok()) {
    const Status& st = req.status();
    Error(c, st.IsLimitExceeded() ? 431 : st.IsUnsupported() ? 505 : 400, now);
    return;
  }
  const bool head_only = req->method == "HEAD";
  if (req->method != "GET" && !head_only) {
    Error(c, 405, now, /*allow_header=*/true);
    return;
  }
  if (req->declares_body) {
    Error(c, 413, now);
    return;
  }
  const auto it = options.handlers.find(req->path);
  if (it == options.handlers.end()) {
    Error(c, 404, now);
    return;
  }
  Response resp;
  try {
    resp = it->second();
  } catch (...) {
    // A handler bug answers 500 instead of killing the service.
    Error(c, 500, now);
    return;
  }
  if (resp.status < 100 || resp.status > 599 || !SafeHeaderValue(resp.content_type)) {
    Error(c, 500, now);
    return;
  }
  Respond(c, resp.status, resp.content_type, resp.body, head_only, false, now);
}

void Server::Impl::Respond(Connection& c, int status, std::string_view content_type, std::string_view body,
                           bool head_only, bool allow_header, Clock::time_point now) {
  std::string& out = c.out;
  out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(Reason(status)) + "\r\n";
  out += "Content-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (allow_header) out += "Allow: GET, HEAD\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  if (!head_only) out += body;
  c.out_sent = 0;
  c.in.clear();
  c.in.shrink_to_fit();
  c.phase = Connection::Phase::kWriting;
  c.deadline = now + milliseconds(options.read_timeout_ms);
  OnWritable(c, now);  // usually all fits in the socket buffer at once
}

void Server::Impl::OnWritable(Connection& c, Clock::time_point now) {
  while (c.out_sent < c.out.size()) {
    // MSG_NOSIGNAL: a client that hung up gives EPIPE here, not a SIGPIPE
    // that would kill the whole service.
    const ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      c.closed = true;
      return;
    }
    c.out_sent += static_cast<size_t>(n);
  }
  c.out.clear();
  c.out.shrink_to_fit();
  ::shutdown(c.fd.get(), SHUT_WR);
  c.phase = Connection::Phase::kDraining;
  c.deadline = now + milliseconds(std::min(options.read_timeout_ms, kLingerMs));
}

void Server::Impl::OnDeadline(Connection& c, Clock::time_point now) {
  if (c.phase == Connection::Phase::kReading) {
    Error(c, 408, now);
    // The 408 gets a short deadline of its own: a client too slow to send
    // its head does not get a fresh full timeout to read the answer.
    if (!c.closed && c.phase == Connection::Phase::kWriting) {
      c.deadline = now + milliseconds(std::min(options.read_timeout_ms, kLingerMs));
    }
    return;
  }
  c.closed = true;
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  Stop();
  if (impl_->thread.joinable()) {
    // Only when destroyed from a handler, which the contract forbids.
    if (impl_->thread.get_id() == std::this_thread::get_id()) {
      impl_->thread.detach();
    } else {
      impl_->thread.join();
    }
  }
}

uint16_t Server::port() const { return impl_->port; }

void Server::Stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (!impl_->stop_requested) {
    impl_->stop_requested = true;
    const char byte = 1;
    // The pipe is empty until now and non-blocking: this cannot block, and
    // a failure could only mean the loop already left.
    [[maybe_unused]] const ssize_t n = ::write(impl_->wake_write.get(), &byte, 1);
  }
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id()) {
    impl_->thread.join();
    // The loop has left: release connections and the port now, not at
    // destruction.
    impl_->conns.clear();
    impl_->listener.Reset();
  }
}

Result<std::unique_ptr<Server>> Server::Start(const std::string& address, Options options) {
  if (options.read_timeout_ms <= 0 || options.read_timeout_ms > kMaxTimeoutMs) {
    return Status::InvalidArgument("read_timeout_ms must be between 1 and 600000");
  }
  if (options.max_connections <= 0 || options.max_connections > kMaxConnectionsCap) {
    return Status::InvalidArgument("max_connections must be between 1 and 1024");
  }
  for (const auto& [path, handler] : options.handlers) {
    if (path.empty() || path.front() != '/' || path.find('?') != std::string::npos) {
      return Status::InvalidArgument("handler path '" + path + "' must start with '/' and have no query");
    }
    if (!handler) return Status::InvalidArgument("handler for '" + path + "' is empty");
  }
  auto endpoint = net::ResolveListenAddress(address);
  if (!endpoint.ok()) return endpoint.status();
  if (!options.allow_non_loopback && !net::IsLoopback(*endpoint)) {
    return Status::InvalidArgument("refusing to serve HTTP on non-loopback address '" + address +
                                   "' (unauthenticated); set allow_non_loopback to do so");
  }

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  auto listener = net::Listen(*endpoint, address, kListenBacklog);
  if (!listener.ok()) return listener.status();
  impl->listener = std::move(listener->fd);
  impl->port = listener->port;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0) return Errno("pipe");
  impl->wake_read = UniqueFd(pipe_fds[0]);
  impl->wake_write = UniqueFd(pipe_fds[1]);

  Impl* raw = impl.get();
  try {
    raw->thread = std::thread([raw] { raw->Run(); });
  } catch (const std::system_error& e) {
    return Status::Internal(std::string("starting the HTTP server thread: ") + e.what());
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

}  // namespace cmkwatch::http
