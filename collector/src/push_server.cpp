#include "push_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string_view>

#include "cmkwatch/collector/parse.h"
#include "cmkwatch/common/net.h"
#include "tls.h"

namespace cmkwatch::collector::internal {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kListenBacklog = 128;
constexpr int kMaxConnectionsCap = 4096;
constexpr int kMaxTimeoutMs = 10 * 60 * 1000;
// After the last answer on a closing connection: see the header.
constexpr int kLingerMs = 1000;
constexpr size_t kMaxLingerBytes = 64 * 1024;
// Out of descriptors: stop accepting this long, so a full table cannot
// turn the loop into a busy spin.
constexpr int kAcceptPauseMs = 100;
constexpr size_t kReadChunk = 16 * 1024;

std::string_view Reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 400 ? "OK" : "Error";
  }
}

bool IsTokenChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool SafeValue(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\r' || u == '\n' || u == 0 || (u < 0x20 && u != '\t') || u == 0x7f;
  });
}

bool SafeName(std::string_view n) { return !n.empty() && std::all_of(n.begin(), n.end(), IsTokenChar); }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Whether a comma-separated header value (Connection, Expect) holds `token`.
bool HasToken(const http::Request& req, std::string_view header, std::string_view token) {
  for (const http::Header& h : req.headers) {
    if (!EqualsIgnoreCase(h.name, header)) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      const size_t comma = v.find(',');
      std::string_view item = v.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (EqualsIgnoreCase(item, token)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

struct Conn {
  enum class Phase { kHead, kBody, kQueued, kWriting, kDraining };
  uint64_t id = 0;
  net::UniqueFd fd;
  std::unique_ptr<TlsSession> tls;
  Phase phase = Phase::kHead;
  Clock::time_point deadline;
  bool in_request = false;  // some byte of the current request has arrived
  bool keep_alive = true;   // the current request allows reuse
  bool close_after = false;  // close once `out` is sent
  bool shutdown_sent = false;
  int requests = 0;
  std::string in;   // plaintext received and not consumed
  std::string out;  // bytes for the socket (ciphertext with TLS)
  size_t out_sent = 0;
  PushRequest reading;  // the request whose body is being read
  size_t body_needed = 0;
  size_t drained = 0;
  bool closed = false;
};

}  // namespace

std::optional<std::string> SerializeResponse(const PushResponse& r, bool close) {
  if (r.status < 100 || r.status > 599 || !SafeValue(r.content_type)) return std::nullopt;
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(Reason(r.status)) + "\r\n";
  if (!r.content_type.empty()) out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  for (const auto& [name, value] : r.headers) {
    if (!SafeName(name) || !SafeValue(value)) return std::nullopt;
    out += name + ": " + value + "\r\n";
  }
  // Deliveries may carry their secret in the query: nothing on the way may
  // keep a copy of the exchange.
  out += "Cache-Control: no-store\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  out += r.body;
  return out;
}

struct PushServer::Impl {
  PushServerOptions options;
  HeadGate gate;
  RefusalObserver on_refused;
  std::unique_ptr<TlsContext> tls;
  net::UniqueFd listener;
  uint16_t port = 0;
  std::vector<std::unique_ptr<Conn>> conns;
  std::deque<PushRequest> ready;
  uint64_t next_id = 1;
  Clock::time_point accept_paused_until{};
  PushServerStats stats;

  Conn* Find(uint64_t id) {
    for (auto& c : conns) {
      if (c->id == id && !c->closed) return c.get();
    }
    return nullptr;
  }

  // ------------------------------------------------------------ writing

  // Queues bytes for the socket (encrypting them with TLS).
  void Send(Conn& c, std::string_view bytes) {
    if (c.tls) {
      if (!c.tls->Write(bytes).ok()) {
        ++stats.tls_failures;
        c.closed = true;
        return;
      }
      c.tls->TakeCiphertext(c.out);
    } else {
      c.out.append(bytes);
    }
  }

  void Answer(Conn& c, const PushResponse& r, Clock::time_point now) {
    const bool close = r.close || c.close_after || !c.keep_alive;
    auto bytes = SerializeResponse(r, close);
    if (!bytes) {
      PushResponse err{500, "text/plain; charset=utf-8", "internal error\n", {}, true};
      bytes = SerializeResponse(err, true);
    }
    c.close_after = close;
    c.phase = Conn::Phase::kWriting;
    c.deadline = now + milliseconds(options.request_timeout_ms);
    Send(c, *bytes);  // sent by the caller's Flush
  }

  // An answer the server gives on its own; the connection closes after it.
  void Refuse(Conn& c, int status, Clock::time_point now) {
    if (on_refused) on_refused(status);
    std::string body(Reason(status));
    body += '\n';
    c.close_after = true;
    Answer(c, PushResponse{status, "text/plain; charset=utf-8", std::move(body), {}, true}, now);
  }

  void Flush(Conn& c, Clock::time_point now) {
    while (!c.closed) {
      while (c.out_sent < c.out.size()) {
        // MSG_NOSIGNAL: a client that hung up gives EPIPE, not a SIGPIPE
        // that would end the collector.
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
      c.out_sent = 0;
      if (c.phase != Conn::Phase::kWriting) return;  // e.g. a 100 Continue, or handshake records
      if (!c.close_after) {
        // Keep-alive: the next request, which may already be here.
        c.phase = Conn::Phase::kHead;
        c.in_request = !c.in.empty();
        c.deadline = now + milliseconds(c.in_request ? options.request_timeout_ms : options.idle_timeout_ms);
        ProcessInput(c, now);
        if (c.out.empty() || c.closed) return;
        continue;  // the next answer is already queued (a refusal)
      }
      if (c.tls && !c.shutdown_sent) {
        c.shutdown_sent = true;
        c.tls->Shutdown();
        c.tls->TakeCiphertext(c.out);
        continue;
      }
      ::shutdown(c.fd.get(), SHUT_WR);
      c.phase = Conn::Phase::kDraining;
      c.deadline = now + milliseconds(std::min(options.request_timeout_ms, kLingerMs));
      return;
    }
  }

  // ------------------------------------------------------------ reading

  void OnReadable(Conn& c, Clock::time_point now) {
    if (c.phase == Conn::Phase::kDraining) {
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
    if (c.phase != Conn::Phase::kHead && c.phase != Conn::Phase::kBody) return;
    // One chunk per readable event. `in` stays bounded: it is read only
    // while a request is incomplete (head ≤ 8 KiB, body ≤ max_body_bytes),
    // so it holds at most that plus one chunk of what follows it.
    char buf[kReadChunk];
    const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {
      // The client left (or failed) before finishing a request: nobody to
      // answer.
      c.closed = true;
      return;
    }
    const size_t before = c.in.size();
    if (c.tls) {
      c.tls->FeedCiphertext(std::string_view(buf, static_cast<size_t>(n)));
      // Everything it can decrypt (never more than was fed), so no
      // plaintext is left inside the session waiting for a readable event
      // that will not come.
      const auto r = c.tls->Read(c.in, SIZE_MAX);
      c.tls->TakeCiphertext(c.out);  // handshake records, alerts
      if (r == TlsSession::ReadResult::kError) {
        ++stats.tls_failures;
        Flush(c, now);  // the alert, if any; best effort
        c.closed = true;
        return;
      }
      if (r == TlsSession::ReadResult::kClosed) {
        c.closed = true;
        return;
      }
    } else {
      c.in.append(buf, static_cast<size_t>(n));
    }
    if (c.in.size() > before && !c.in_request) {
      c.in_request = true;
      // From idle: a fresh request deadline. A connection's first request
      // keeps the deadline set at accept, which covers the TLS handshake.
      if (c.requests > 0) c.deadline = now + milliseconds(options.request_timeout_ms);
    }
    ProcessInput(c, now);
    if (!c.closed && !c.out.empty()) Flush(c, now);
  }

  void ProcessInput(Conn& c, Clock::time_point now) {
    if (c.phase == Conn::Phase::kHead) {
      const size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (c.in.size() > http::kMaxHeadBytes) Refuse(c, 431, now);
        return;
      }
      if (end + 4 > http::kMaxHeadBytes) {
        Refuse(c, 431, now);
        return;
      }
      const std::string head_text = c.in.substr(0, end + 4);
      c.in.erase(0, end + 4);
      ++c.requests;
      ++stats.requests;
      auto head = http::ParseRequestHead(head_text);
      if (!head.ok()) {
        const Status& st = head.status();
        Refuse(c, st.IsLimitExceeded() ? 431 : st.IsUnsupported() ? 505 : 400, now);
        return;
      }
      c.keep_alive = head->version == "HTTP/1.1" && !HasToken(*head, "connection", "close") &&
                     c.requests < options.max_requests_per_connection;
      c.close_after = false;
      HeadDecision d = gate(*head);
      const bool announces_body = head->transfer_encoding || head->content_length.value_or(0) > 0;
      switch (d.kind) {
        case HeadDecision::Kind::kRespond:
          // The body, if any, is never read: the connection cannot be reused.
          if (announces_body) c.close_after = true;
          Answer(c, d.response, now);
          return;
        case HeadDecision::Kind::kDefer:
          c.close_after = announces_body || c.close_after;
          c.phase = Conn::Phase::kQueued;
          c.deadline = Clock::time_point::max();
          ready.push_back(PushRequest{c.id, std::move(*head), {}, 0, false});
          return;
        case HeadDecision::Kind::kReadBody:
          break;
      }
      if (head->transfer_encoding) {
        Refuse(c, 411, now);
        return;
      }
      const uint64_t length = head->content_length.value_or(0);
      if (length > options.max_body_bytes) {
        Refuse(c, 413, now);
        return;
      }
      if (head->version == "HTTP/1.1" && HasToken(*head, "expect", "100-continue")) {
        Send(c, "HTTP/1.1 100 Continue\r\n\r\n");
      }
      c.reading = PushRequest{c.id, std::move(*head), {}, 0, true};
      c.body_needed = static_cast<size_t>(length);
      c.phase = Conn::Phase::kBody;
    }
    if (c.phase == Conn::Phase::kBody && c.in.size() >= c.body_needed) {
      std::string& body = c.reading.padded_body;
      body.reserve(c.body_needed + kPadding);
      body.assign(c.in, 0, c.body_needed);
      body.append(kPadding, ' ');
      c.reading.body_size = c.body_needed;
      c.in.erase(0, c.body_needed);
      c.phase = Conn::Phase::kQueued;
      c.deadline = Clock::time_point::max();
      ready.push_back(std::move(c.reading));
      c.reading = PushRequest{};
    }
  }

  void OnDeadline(Conn& c, Clock::time_point now) {
    switch (c.phase) {
      case Conn::Phase::kHead:
        // Idle between requests, or a TLS handshake that never finished:
        // nothing to answer.
        if (!c.in_request || (c.tls && !c.tls->handshake_done())) {
          c.closed = true;
          return;
        }
        [[fallthrough]];
      case Conn::Phase::kBody:
        Refuse(c, 408, now);
        // A client too slow to send its request does not get a full timeout
        // to read the 408.
        c.deadline = now + milliseconds(std::min(options.request_timeout_ms, kLingerMs));
        Flush(c, now);
        return;
      case Conn::Phase::kQueued:
        return;  // the owner answers; no deadline
      case Conn::Phase::kWriting:
      case Conn::Phase::kDraining:
        c.closed = true;
        return;
    }
  }

  void Accept(Clock::time_point now) {
    while (conns.size() < static_cast<size_t>(options.max_connections)) {
      const int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) accept_paused_until = now + milliseconds(kAcceptPauseMs);
        return;
      }
      auto c = std::make_unique<Conn>();
      c->fd = net::UniqueFd(fd);
      const int one = 1;
      // Answers are written in one piece; no reason to let Nagle hold one.
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (tls) {
        auto session = TlsSession::Accept(*tls);
        if (!session.ok()) {
          ++stats.tls_failures;
          continue;  // c closes the descriptor
        }
        c->tls = std::move(*session);
      }
      c->id = next_id++;
      c->deadline = now + milliseconds(options.request_timeout_ms);
      ++stats.connections;
      conns.push_back(std::move(c));
    }
  }

  Status Step(int timeout_ms, int wake_fd) {
    const auto now = Clock::now();
    const bool room = conns.size() < static_cast<size_t>(options.max_connections);
    const bool accepting = room && now >= accept_paused_until;
    std::vector<pollfd> fds;
    fds.reserve(conns.size() + 2);
    fds.push_back({wake_fd, POLLIN, 0});  // a negative fd is skipped by poll
    fds.push_back({accepting ? listener.get() : -1, POLLIN, 0});
    Clock::time_point next = Clock::time_point::max();
    if (room && !accepting) next = accept_paused_until;
    for (const auto& c : conns) {
      short events = 0;
      if (c->phase == Conn::Phase::kHead || c->phase == Conn::Phase::kBody || c->phase == Conn::Phase::kDraining) {
        events |= POLLIN;
      }
      if (c->out_sent < c->out.size()) events |= POLLOUT;
      fds.push_back({c->fd.get(), events, 0});
      next = std::min(next, c->deadline);
    }
    int timeout = std::clamp(timeout_ms, 0, kMaxTimeoutMs);
    if (next != Clock::time_point::max()) {
      // Rounded up, so as not to wake a moment early and spin.
      const auto wait = std::chrono::ceil<milliseconds>(next - now).count();
      timeout = static_cast<int>(std::clamp<int64_t>(wait, 0, timeout));
    }
    const int rc = ::poll(fds.data(), static_cast<nfds_t>(fds.size()), timeout);
    if (rc < 0 && errno != EINTR) return Status::IoError(std::string("poll: ") + std::strerror(errno));
    const auto after = Clock::now();
    for (size_t i = 0; i < conns.size(); ++i) {
      Conn& c = *conns[i];
      const short re = rc > 0 ? fds[i + 2].revents : 0;
      if ((re & POLLNVAL) != 0) c.closed = true;
      if (!c.closed && (re & POLLOUT) != 0) Flush(c, after);
      if (!c.closed && (re & (POLLIN | POLLHUP | POLLERR)) != 0) OnReadable(c, after);
      if (!c.closed && after >= c.deadline) OnDeadline(c, after);
    }
    conns.erase(std::remove_if(conns.begin(), conns.end(), [](const auto& c) { return c->closed; }), conns.end());
    if (accepting && rc > 0 && (fds[1].revents & POLLIN) != 0) Accept(after);
    stats.open_connections = conns.size();
    return Status::Ok();
  }
};

PushServer::PushServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PushServer::~PushServer() = default;

Result<std::unique_ptr<PushServer>> PushServer::Start(const PushServerOptions& options, HeadGate gate,
                                                      RefusalObserver on_refused) {
  if (!gate) return Status::InvalidArgument("push server: no head gate");
  if (options.max_connections <= 0 || options.max_connections > kMaxConnectionsCap) {
    return Status::InvalidArgument("max_connections must be between 1 and " + std::to_string(kMaxConnectionsCap));
  }
  for (int t : {options.request_timeout_ms, options.idle_timeout_ms}) {
    if (t <= 0 || t > kMaxTimeoutMs) return Status::InvalidArgument("timeouts must be between 1 ms and 10 minutes");
  }
  if (options.max_requests_per_connection <= 0) {
    return Status::InvalidArgument("max_requests_per_connection must be positive");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Status::InvalidArgument("a TLS certificate needs its key and a key its certificate: give both or neither");
  }
  auto endpoint = net::ResolveListenAddress(options.listen);
  if (!endpoint.ok()) return endpoint.status();
  const bool use_tls = !options.cert_file.empty();
  if (!use_tls && !net::IsLoopback(*endpoint)) {
    return Status::InvalidArgument("plain HTTP is served only on a loopback address, and " + options.listen +
                                   " is not one: give a TLS certificate and key (tls: {cert_file, key_file}) "
                                   "or listen on 127.0.0.1 behind a TLS-terminating proxy");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->gate = std::move(gate);
  impl->on_refused = std::move(on_refused);
  if (use_tls) {
    auto ctx = TlsContext::Load(options.cert_file, options.key_file);
    if (!ctx.ok()) return ctx.status();
    impl->tls = std::move(*ctx);
  }
  auto listener = net::Listen(*endpoint, options.listen, kListenBacklog);
  if (!listener.ok()) return listener.status();
  impl->listener = std::move(listener->fd);
  impl->port = listener->port;
  return std::unique_ptr<PushServer>(new PushServer(std::move(impl)));
}

uint16_t PushServer::port() const { return impl_->port; }
bool PushServer::tls() const { return impl_->tls != nullptr; }
Status PushServer::Step(int timeout_ms, int wake_fd) { return impl_->Step(timeout_ms, wake_fd); }

std::optional<PushRequest> PushServer::TakeRequest() {
  if (impl_->ready.empty()) return std::nullopt;
  PushRequest r = std::move(impl_->ready.front());
  impl_->ready.pop_front();
  return r;
}

bool PushServer::HasRequests() const { return !impl_->ready.empty(); }

void PushServer::Respond(uint64_t id, PushResponse response) {
  Conn* c = impl_->Find(id);
  if (c == nullptr || c->phase != Conn::Phase::kQueued) return;
  const auto now = Clock::now();
  impl_->Answer(*c, response, now);
  impl_->Flush(*c, now);
}

PushServerStats PushServer::Stats() const { return impl_->stats; }

}  // namespace cmkwatch::collector::internal
