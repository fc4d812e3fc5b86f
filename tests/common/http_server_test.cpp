// The loopback HTTP server over real sockets on 127.0.0.1, and its
// request-head parser.
#include "cmkwatch/common/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>

#include "cmkwatch/common/http_request.h"
#include "cmkwatch/common/metrics.h"

namespace cmkwatch::http {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int64_t MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

// A plain blocking TCP client; every read gives up after 10 s so a broken
// server fails the test instead of hanging it.
class TestClient {
 public:
  explicit TestClient(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket");
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~TestClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Everything until the server closes (or the 10 s receive timeout).
  std::string ReadAll() {
    std::string out;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  void Close() {
    ::close(fd_);
    fd_ = -1;
  }
  // Closes with a reset instead of a FIN, like a client that crashed.
  void Abort() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  bool connected_ = false;
};

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  bool complete = false;  // a full head was seen
};

Reply ParseReply(const std::string& raw) {
  Reply r;
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.rfind("HTTP/1.1 ", 0) != 0) return r;
  r.complete = true;
  r.status = std::stoi(raw.substr(9, 3));
  size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    const size_t eol = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = line.substr(colon + 2);
    pos = eol + 2;
  }
  r.body = raw.substr(end + 4);
  return r;
}

Reply Exchange(uint16_t port, std::string_view request) {
  TestClient c(port);
  EXPECT_TRUE(c.connected());
  EXPECT_TRUE(c.Send(request));
  return ParseReply(c.ReadAll());
}

std::string Get(std::string_view path, std::string_view method = "GET") {
  return std::string(method) + " " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n";
}

Options HealthOnly(int timeout_ms = 5000) {
  Options o;
  o.read_timeout_ms = timeout_ms;
  o.handlers["/healthz"] = [] { return Response{200, "text/plain; charset=utf-8", "ok\n"}; };
  return o;
}

std::unique_ptr<Server> StartOrDie(Options o, const std::string& address = "127.0.0.1:0") {
  auto s = Server::Start(address, std::move(o));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return nullptr;
  EXPECT_NE((*s)->port(), 0);
  return std::move(*s);
}

TEST(HttpServer, ServesTheRegistryAsPrometheusText) {
  metrics::Registry registry;
  auto stored = registry.AddCounter("cmkwatch_events_stored_total", "Events stored.", {{"vault", "kv-prod"}});
  ASSERT_TRUE(stored.ok());
  stored->Inc(42);
  Options o = HealthOnly();
  o.handlers["/metrics"] = [&registry] {
    return Response{200, std::string(metrics::Registry::kContentType), registry.Render()};
  };
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);

  const Reply r = Exchange(server->port(), Get("/metrics"));
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.headers.at("connection"), "close");
  EXPECT_EQ(r.body, registry.Render());
  EXPECT_EQ(r.headers.at("content-length"), std::to_string(r.body.size()));
  EXPECT_NE(r.body.find("cmkwatch_events_stored_total{vault=\"kv-prod\"} 42\n"), std::string::npos);

  // A second scrape sees the new value: rendered per request.
  stored->Inc();
  EXPECT_NE(Exchange(server->port(), Get("/metrics")).body.find("} 43\n"), std::string::npos);

  // HEAD: the same headers, no body.
  const Reply head = Exchange(server->port(), Get("/metrics", "HEAD"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers.at("content-length"), std::to_string(registry.Render().size()));
  EXPECT_EQ(head.body, "");
}

TEST(HttpServer, HealthzUnknownPathsAndQueries) {
  auto server = StartOrDie(HealthOnly());
  ASSERT_TRUE(server);
  const Reply ok = Exchange(server->port(), Get("/healthz"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "ok\n");
  EXPECT_EQ(Exchange(server->port(), Get("/healthz?verbose=1")).status, 200);
  EXPECT_EQ(Exchange(server->port(), "GET /healthz HTTP/1.0\r\n\r\n").status, 200);  // 1.0 needs no Host
  const Reply missing = Exchange(server->port(), Get("/nope"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.headers.at("connection"), "close");
  EXPECT_EQ(Exchange(server->port(), Get("/healthz/")).status, 404);  // exact paths only
}

TEST(HttpServer, OnlyGetAndHeadAreAllowed) {
  auto server = StartOrDie(HealthOnly());
  ASSERT_TRUE(server);
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "get"}) {
    Reply r = Exchange(server->port(), Get("/healthz", method));
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_EQ(r.headers["allow"], "GET, HEAD") << method;
  }
  // A POST with a body is still answered 405 (and its body read away, so
  // the answer is not lost to a reset).
  const Reply post = Exchange(server->port(),
                              "POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world");
  EXPECT_EQ(post.status, 405);
}

TEST(HttpServer, RequestBodiesAreRefused) {
  auto server = StartOrDie(HealthOnly());
  ASSERT_TRUE(server);
  EXPECT_EQ(Exchange(server->port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello").status,
            413);
  EXPECT_EQ(Exchange(server->port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
                .status,
            413);
  EXPECT_EQ(Exchange(server->port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").status, 200);
}

TEST(HttpServer, OversizedHeadIs431) {
  auto server = StartOrDie(HealthOnly());
  ASSERT_TRUE(server);
  const std::string big = "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(9000, 'a') + "\r\n\r\n";
  const Reply r = Exchange(server->port(), big);
  EXPECT_EQ(r.status, 431);
  // Also when the client keeps sending and never ends its head.
  TestClient endless(server->port());
  ASSERT_TRUE(endless.Send("GET /healthz HTTP/1.1\r\nX-Pad: " + std::string(20'000, 'b')));
  EXPECT_EQ(ParseReply(endless.ReadAll()).status, 431);
  // Too many header lines, though small.
  std::string many = "GET /healthz HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 70; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Exchange(server->port(), many + "\r\n").status, 431);
  // Just under the limit is fine.
  std::string fits = "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Pad: ";
  fits += std::string(kMaxHeadBytes - fits.size() - 4, 'c') + "\r\n\r\n";
  ASSERT_EQ(fits.size(), kMaxHeadBytes);
  EXPECT_EQ(Exchange(server->port(), fits).status, 200);
}

TEST(HttpServer, MalformedRequestsAre400) {
  auto server = StartOrDie(HealthOnly());
  ASSERT_TRUE(server);
  // A TLS client hello is what a misconfigured https:// scraper sends.
  EXPECT_EQ(Exchange(server->port(), std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15)).status,
            400);
  EXPECT_EQ(Exchange(server->port(), "garbage\r\n\r\n").status, 400);
  EXPECT_EQ(Exchange(server->port(), "GET /healthz HTTP/1.1\r\n\r\n").status, 400);  // no Host
  EXPECT_EQ(Exchange(server->port(), "GET http://a/healthz HTTP/1.1\r\nHost: a\r\n\r\n").status, 400);
  EXPECT_EQ(Exchange(server->port(), "GET /healthz HTTP/1.1\nHost: a\r\n\r\n").status, 400);
  EXPECT_EQ(Exchange(server->port(), "GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n").status, 505);
  // The server is still fine afterwards.
  EXPECT_EQ(Exchange(server->port(), Get("/healthz")).status, 200);
}

TEST(HttpServer, HandlerFailuresAre500) {
  Options o = HealthOnly();
  o.handlers["/throws"] = []() -> Response { throw std::runtime_error("boom"); };
  o.handlers["/inject"] = [] { return Response{200, "text/plain\r\nSet-Cookie: x=1", "x"}; };
  o.handlers["/status"] = [] { return Response{42, "text/plain", "x"}; };
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  EXPECT_EQ(Exchange(server->port(), Get("/throws")).status, 500);
  const Reply inject = Exchange(server->port(), Get("/inject"));
  EXPECT_EQ(inject.status, 500);
  EXPECT_EQ(inject.headers.count("set-cookie"), 0u);
  EXPECT_EQ(Exchange(server->port(), Get("/status")).status, 500);
  EXPECT_EQ(Exchange(server->port(), Get("/healthz")).status, 200);
}

TEST(HttpServer, ASilentClientDoesNotBlockAnother) {
  auto server = StartOrDie(HealthOnly(/*timeout_ms=*/3000));
  ASSERT_TRUE(server);
  const auto start = Clock::now();
  TestClient silent(server->port());
  ASSERT_TRUE(silent.connected());
  std::this_thread::sleep_for(milliseconds(100));  // the server has accepted it

  const auto second = Clock::now();
  EXPECT_EQ(Exchange(server->port(), Get("/healthz")).status, 200);
  EXPECT_LT(MsSince(second), 1500) << "the second client waited for the silent one";

  // The silent one is cut off at its deadline, with a 408.
  const Reply r = ParseReply(silent.ReadAll());
  const int64_t waited = MsSince(start);
  EXPECT_EQ(r.status, 408);
  EXPECT_GE(waited, 2500);
  EXPECT_LT(waited, 8000);
}

TEST(HttpServer, ADripFeedingClientIsCutOffAtTheDeadline) {
  auto server = StartOrDie(HealthOnly(/*timeout_ms=*/500));
  ASSERT_TRUE(server);
  TestClient drip(server->port());
  const auto start = Clock::now();
  const std::string request = Get("/healthz") + std::string(200, 'x');
  std::string got;
  // One byte every 20 ms would take 4+ s; the deadline is since accept, so
  // steady progress does not extend it.
  for (char c : request) {
    if (!drip.Send(std::string_view(&c, 1))) break;
    char buf[512];
    const ssize_t n = ::recv(drip.fd(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      break;
    }
    if (n == 0) break;
    std::this_thread::sleep_for(milliseconds(20));
    if (MsSince(start) > 5000) break;
  }
  got += drip.ReadAll();
  EXPECT_EQ(ParseReply(got).status, 408);
  EXPECT_LT(MsSince(start), 2500);
}

TEST(HttpServer, ConnectionsBeyondTheCapWaitTheirTurn) {
  Options o = HealthOnly(/*timeout_ms=*/1000);
  o.max_connections = 1;
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  TestClient hog(server->port());
  ASSERT_TRUE(hog.connected());
  std::this_thread::sleep_for(milliseconds(100));
  const auto start = Clock::now();
  const Reply r = Exchange(server->port(), Get("/healthz"));  // queued in the backlog
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(MsSince(start), 700) << "served while the only slot was taken";
  EXPECT_EQ(ParseReply(hog.ReadAll()).status, 408);
}

TEST(HttpServer, ManyRequestsInARowAllServed) {
  Options o = HealthOnly();
  o.max_connections = 2;
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(Exchange(server->port(), Get("/healthz")).status, 200) << i;
}

TEST(HttpServer, AClientHangingUpMidResponseDoesNotKillTheProcess) {
  Options o = HealthOnly();
  o.handlers["/big"] = [] { return Response{200, "text/plain", std::string(8 << 20, 'm')}; };
  auto server = StartOrDie(std::move(o));
  ASSERT_TRUE(server);
  for (int i = 0; i < 6; ++i) {
    TestClient c(server->port());
    ASSERT_TRUE(c.Send(Get("/big")));
    // Closing right away (a FIN, then a reset when the response arrives)
    // makes the server's next send fail with EPIPE, which without
    // MSG_NOSIGNAL raises SIGPIPE and ends this process; a reset straight
    // away (SO_LINGER 0) is the other way a client vanishes.
    if (i % 2 == 0) {
      c.Close();
    } else {
      std::this_thread::sleep_for(milliseconds(20));
      c.Abort();
    }
  }
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(Exchange(server->port(), Get("/healthz")).status, 200);
  EXPECT_EQ(Exchange(server->port(), Get("/big")).body.size(), size_t{8} << 20);
}

TEST(HttpServer, StopWithAClientConnectedIsPrompt) {
  auto server = StartOrDie(HealthOnly(/*timeout_ms=*/30'000));
  ASSERT_TRUE(server);
  const uint16_t port = server->port();
  TestClient idle(port);
  ASSERT_TRUE(idle.connected());
  ASSERT_TRUE(idle.Send("GET /healthz HTTP/1.1\r\n"));  // half a head
  std::this_thread::sleep_for(milliseconds(100));
  const auto start = Clock::now();
  server->Stop();
  EXPECT_LT(MsSince(start), 1000);
  // The client sees its connection end, long before its 30 s timeout.
  const auto read_start = Clock::now();
  EXPECT_EQ(idle.ReadAll(), "");
  EXPECT_LT(MsSince(read_start), 1000);
  server->Stop();  // idempotent
  TestClient after(port);
  EXPECT_FALSE(after.connected()) << "still listening after Stop";
  server.reset();  // the destructor after Stop is fine too
}

TEST(HttpServer, DestructorStopsTheServer) {
  uint16_t port = 0;
  {
    auto server = StartOrDie(HealthOnly());
    ASSERT_TRUE(server);
    port = server->port();
    TestClient idle(port);
    ASSERT_TRUE(idle.connected());
  }
  TestClient after(port);
  EXPECT_FALSE(after.connected());
}

TEST(HttpServer, LoopbackOnlyUnlessAllowed) {
  for (const char* address : {"0.0.0.0:0", "[::]:0", "10.1.2.3:9464"}) {
    auto s = Server::Start(address, HealthOnly());
    ASSERT_FALSE(s.ok()) << address;
    EXPECT_TRUE(s.status().IsInvalidArgument()) << address;
    EXPECT_NE(s.status().message().find("allow_non_loopback"), std::string::npos);
  }
  Options o = HealthOnly();
  o.allow_non_loopback = true;
  auto any = Server::Start("0.0.0.0:0", std::move(o));
  ASSERT_TRUE(any.ok()) << any.status().ToString();
  EXPECT_EQ(Exchange((*any)->port(), Get("/healthz")).status, 200);  // reached over 127.0.0.1

  auto local = StartOrDie(HealthOnly(), "localhost:0");
  ASSERT_TRUE(local);
  EXPECT_EQ(Exchange(local->port(), Get("/healthz")).status, 200);

  auto v6 = Server::Start("[::1]:0", HealthOnly());
  if (v6.ok()) {
    EXPECT_NE((*v6)->port(), 0);
  } else {
    EXPECT_TRUE(v6.status().IsIoError()) << v6.status().ToString();  // a host without IPv6
  }
}

TEST(HttpServer, BadAddressesAndOptionsAreRefused) {
  for (const char* address : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:80x", ":9464", "[::1",
                              "[::1]9464", "::1:9464", "[127.0.0.1]:0", ""}) {
    auto s = Server::Start(address, HealthOnly());
    ASSERT_FALSE(s.ok()) << address;
    EXPECT_TRUE(s.status().IsInvalidArgument()) << address << ": " << s.status().ToString();
  }
  Options bad_path = HealthOnly();
  bad_path.handlers["metrics"] = [] { return Response{}; };
  EXPECT_TRUE(Server::Start("127.0.0.1:0", std::move(bad_path)).status().IsInvalidArgument());
  EXPECT_TRUE(Server::Start("127.0.0.1:0", HealthOnly(0)).status().IsInvalidArgument());
  Options no_conns = HealthOnly();
  no_conns.max_connections = 0;
  EXPECT_TRUE(Server::Start("127.0.0.1:0", std::move(no_conns)).status().IsInvalidArgument());
  // A port in use is an I/O error, not a crash.
  auto first = StartOrDie(HealthOnly());
  ASSERT_TRUE(first);
  auto second = Server::Start("127.0.0.1:" + std::to_string(first->port()), HealthOnly());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsIoError());
}

// ParseRequestHead directly: the fields it extracts and what it refuses.

TEST(HttpRequestHead, ParsesAScrape) {
  auto r = ParseRequestHead(
      "GET /metrics?name[]=up&x= HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nAccept:  text/plain;version=0.0.4 \t\r\n"
      "X-Empty:\r\n\r\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->path, "/metrics");
  EXPECT_EQ(r->query, "name[]=up&x=");
  EXPECT_EQ(r->version, "HTTP/1.1");
  ASSERT_EQ(r->headers.size(), 3u);
  ASSERT_NE(r->Find("ACCEPT"), nullptr);
  EXPECT_EQ(r->Find("accept")->value, "text/plain;version=0.0.4");
  EXPECT_EQ(r->Find("x-empty")->value, "");
  EXPECT_EQ(r->Find("missing"), nullptr);
  EXPECT_FALSE(r->declares_body);
}

TEST(HttpRequestHead, RefusesWhatCouldBeReadTwoWays) {
  auto corrupt = [](std::string_view head) { return ParseRequestHead(head).status().IsCorruption(); };
  EXPECT_TRUE(corrupt("GET / HTTP/1.1\r\nHost: a\r\n"));                   // no blank line
  EXPECT_TRUE(corrupt("GET / HTTP/1.1\r\nHost: a\r\n\r\nextra\r\n\r\n"));  // bytes after it
  EXPECT_TRUE(corrupt("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"));         // bare LF
  EXPECT_TRUE(corrupt("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"));         // bare CR
  EXPECT_TRUE(corrupt("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"));  // folding
  EXPECT_TRUE(corrupt("GET / HTTP/1.1\r\nHost : a\r\n\r\n"));              // space before colon
  EXPECT_TRUE(corrupt("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"));    // two hosts
  EXPECT_TRUE(corrupt("GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n"));    // control byte
  EXPECT_TRUE(corrupt("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"));
  EXPECT_TRUE(corrupt("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"));
  EXPECT_TRUE(corrupt("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_TRUE(corrupt("GET * HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_TRUE(corrupt("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_TRUE(corrupt("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"));
  EXPECT_TRUE(corrupt("GET / HTTPS/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_TRUE(corrupt(std::string(17, 'G') + " / HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_TRUE(ParseRequestHead("GET / HTTP/1.2\r\nHost: a\r\n\r\n").status().IsUnsupported());
  auto body = ParseRequestHead("GET / HTTP/1.1\r\nHost: a\r\ncontent-length: 7\r\n\r\n");
  ASSERT_TRUE(body.ok());
  EXPECT_TRUE(body->declares_body);
}

TEST(HttpRequestHead, BoundsAreEnforced) {
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (size_t i = 1; i < kMaxHeaders; ++i) many += "X: v\r\n";
  ASSERT_TRUE(ParseRequestHead(many + "\r\n").ok());  // exactly kMaxHeaders
  EXPECT_TRUE(ParseRequestHead(many + "X: v\r\n\r\n").status().IsLimitExceeded());
  const std::string huge = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(kMaxHeadBytes, 'v') + "\r\n\r\n";
  EXPECT_TRUE(ParseRequestHead(huge).status().IsLimitExceeded());
}

}  // namespace
}  // namespace cmkwatch::http
