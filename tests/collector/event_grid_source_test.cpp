// EventGridSource over real HTTP and HTTPS on loopback, driven by libcurl
// the way Event Grid drives a webhook: both validation handshakes, single
// and batched deliveries in both schemas reaching the sink, the secret
// (401), the body cap (413), malformed bodies (400, quarantined), the spool
// full (503 + Retry-After, then accepted once there is room), a retried
// delivery giving the same event ids, keep-alive, timeouts, TLS with a
// certificate made at test time, and the metrics. The pure protocol pieces
// (body splitting, media types, authentication) are checked directly too.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../../collector/src/event_grid_endpoint.h"
#include "cmkwatch/collector/source.h"
#include "cmkwatch/common/metrics.h"
#include "http_client.h"
#include "receivers.h"
#include "test_support.h"

namespace cmkwatch::collector {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string RandomSecret() {
  std::random_device rd;
  std::string s;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) s += kHex[rd() % 16];
  return s;
}

std::string Fixture(std::string_view name) { return test::ReadFileOrFail(test::FixtureFile(name)); }

// A sink that keeps what it is given, and can play a full spool.
class RecordingSink final : public SourceSink {
 public:
  Status OnBatch(std::vector<Event>&& events, std::vector<QuarantineEntry>&& quarantined,
                 const std::vector<FileCheckpoint>& through) override {
    if (full.load()) {
      ++refusals;
      return Status::LimitExceeded("spool full");  // vectors left as they were
    }
    std::lock_guard lock(mu_);
    EXPECT_TRUE(through.empty());
    for (auto& e : events) events_.push_back(std::move(e));
    for (auto& q : quarantined) quarantined_.push_back(std::move(q));
    ++batches_;
    return Status::Ok();
  }
  std::vector<Event> Events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::vector<QuarantineEntry> Quarantined() const {
    std::lock_guard lock(mu_);
    return quarantined_;
  }
  size_t Batches() const {
    std::lock_guard lock(mu_);
    return batches_;
  }
  std::atomic<bool> full{false};
  std::atomic<int> refusals{0};

 private:
  mutable std::mutex mu_;
  std::vector<Event> events_;
  std::vector<QuarantineEntry> quarantined_;
  size_t batches_ = 0;
};

std::vector<std::string> IdsOf(const std::vector<Event>& events) {
  std::vector<std::string> ids;
  for (const auto& e : events) ids.push_back(e.id);
  return ids;
}

using test::Http;
using Call = test::HttpCall;
using Reply = test::HttpReply;

// --- the source, run as the collector runs it --------------------------------

class EventGridSourceTest : public ::testing::Test {
 protected:
  EventGridSourceTest() : dir_("eventgrid"), secret_(RandomSecret()) {
    const fs::path file = dir_ / "secret";
    std::ofstream(file) << secret_ << "\n";
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
    options_.name = "eg-test";
    options_.listen = "127.0.0.1:0";
    options_.secret.file = file.string();
    options_.request_timeout_ms = 3000;
    options_.backpressure_hold_ms = 300;
    options_.retry_after_s = 7;
  }
  ~EventGridSourceTest() override { StopSource(); }

  void StartSource() {
    source_ = std::make_unique<EventGridSource>(options_, sink_, &registry_);
    ASSERT_TRUE(source_->Setup().ok());
    thread_ = std::thread([this] {
      while (!done_.load()) {
        auto r = source_->RunOnce(50);
        // The collector waits on acks after a refusal; a short pause stands in.
        if (!r.ok()) std::this_thread::sleep_for(10ms);
      }
    });
  }
  void StopSource() {
    if (!thread_.joinable()) return;
    done_.store(true);
    source_->Stop();
    thread_.join();
  }
  std::string Url(std::string_view query = "") const {
    const std::string scheme = options_.tls_cert_file.empty() ? "http" : "https";
    std::string url = scheme + "://127.0.0.1:" + std::to_string(source_->port()) + options_.url_path;
    if (!query.empty()) url += "?" + std::string(query);
    return url;
  }
  std::string Authed() const { return Url("access_token=" + secret_); }
  Call C(std::string method, std::string url, std::string body = "",
         std::vector<std::string> headers = {"Content-Type: application/json"}) const {
    return Call{std::move(method), std::move(url), std::move(body), std::move(headers), ca_file_};
  }
  Call Post(std::string body, std::string content_type = "application/json") const {
    return C("POST", Authed(), std::move(body), {"Content-Type: " + content_type});
  }
  // The value of one series in the registry's text, e.g.
  // cmkwatch_eventgrid_deliveries_refused_total{endpoint="eg-test",reason="unauthorized"}.
  double Metric(const std::string& series) const {
    const std::string text = registry_.Render();
    const size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }
  double Refused(std::string_view reason) const {
    return Metric("cmkwatch_eventgrid_deliveries_refused_total{endpoint=\"eg-test\",reason=\"" + std::string(reason) +
                  "\"}");
  }

  test::TestDir dir_;
  std::string secret_;
  std::string ca_file_;
  EventGridSourceOptions options_;
  metrics::Registry registry_;
  RecordingSink sink_;
  std::unique_ptr<EventGridSource> source_;
  std::thread thread_;
  std::atomic<bool> done_{false};
};

TEST_F(EventGridSourceTest, EventGridValidationHandshakeEchoesTheCode) {
  StartSource();
  const Reply r = Http(Post(Fixture("eventgrid/subscription_validation.json")));
  ASSERT_EQ(r.curl_code, 0);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body), nlohmann::json({{"validationResponse", "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}}));
  EXPECT_TRUE(sink_.Events().empty());
  EXPECT_EQ(Metric("cmkwatch_eventgrid_handshakes_total{endpoint=\"eg-test\",kind=\"eventgrid\"}"), 1);

  // Without the secret the handshake fails: nobody can subscribe a topic
  // to this endpoint by guessing its address.
  const Reply anon = Http(C("POST", Url(), Fixture("eventgrid/subscription_validation.json")));
  EXPECT_EQ(anon.status, 401);
  EXPECT_EQ(anon.body.find("512d38b6"), std::string::npos);
}

TEST_F(EventGridSourceTest, CloudEventsOptionsHandshake) {
  StartSource();
  Reply r = Http(C("OPTIONS", Authed(), "", {"WebHook-Request-Origin: eventgrid.azure.net", "WebHook-Request-Rate: 120"}));
  ASSERT_EQ(r.curl_code, 0);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("WebHook-Allowed-Origin"), "eventgrid.azure.net");
  EXPECT_EQ(r.Header("WebHook-Allowed-Rate"), "*");
  EXPECT_NE(r.Header("Allow").find("POST"), std::string::npos);

  r = Http(C("OPTIONS", Authed(), "", {}));
  EXPECT_EQ(r.status, 400) << "no WebHook-Request-Origin";
  EXPECT_EQ(r.Header("WebHook-Allowed-Origin"), "");
  r = Http(C("OPTIONS", Url(), "", {"WebHook-Request-Origin: eventgrid.azure.net"}));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("WebHook-Allowed-Origin"), "");
  EXPECT_EQ(Metric("cmkwatch_eventgrid_handshakes_total{endpoint=\"eg-test\",kind=\"cloudevents\"}"), 1);
}

TEST_F(EventGridSourceTest, CloudEventsHandshakeRefusesOriginsNotAllowed) {
  options_.allowed_origins = {"eventgrid.azure.net"};
  options_.allowed_rate = "600";
  StartSource();
  Reply r = Http(C("OPTIONS", Authed(), "", {"WebHook-Request-Origin: attacker.example.com"}));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Header("WebHook-Allowed-Origin"), "");
  r = Http(C("OPTIONS", Authed(), "", {"WebHook-Request-Origin: EventGrid.Azure.net"}));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("WebHook-Allowed-Rate"), "600");
  EXPECT_EQ(Refused("origin_not_allowed"), 1);
}

TEST_F(EventGridSourceTest, BatchedEventGridDeliveryIsSpooledBeforeThe200) {
  StartSource();
  const std::string batch = Fixture("eventgrid/keyvault_batch_eventgrid_schema.json");
  const Reply r = Http(Post(batch));
  ASSERT_EQ(r.curl_code, 0);
  EXPECT_EQ(r.status, 200);
  // The answer came after the sink took the batch, so it is there now.
  const auto events = sink_.Events();
  EXPECT_EQ(IdsOf(events), (std::vector<std::string>{"6f1a2b3c-0001-4a5b-8c9d-0e1f2a3b4c5d",
                                                     "6f1a2b3c-0002-4a5b-8c9d-0e1f2a3b4c5d",
                                                     "6f1a2b3c-0003-4a5b-8c9d-0e1f2a3b4c5d",
                                                     "6f1a2b3c-0004-4a5b-8c9d-0e1f2a3b4c5d"}));
  EXPECT_EQ(sink_.Batches(), 1u) << "one delivery, one batch";
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].source, cmkwatch::Source::kEventGrid);
  EXPECT_EQ(events[0].operation, "Microsoft.KeyVault.KeyNewVersionCreated");
  EXPECT_TRUE(sink_.Quarantined().empty());
  EXPECT_EQ(Metric("cmkwatch_eventgrid_deliveries_accepted_total{endpoint=\"eg-test\"}"), 1);
  EXPECT_EQ(Metric("cmkwatch_eventgrid_events_total{endpoint=\"eg-test\"}"), 4);
}

TEST_F(EventGridSourceTest, SingleAndBatchedCloudEventsAndASingleEventGridObject) {
  StartSource();
  const auto batch = nlohmann::json::parse(Fixture("eventgrid/keyvault_batch_cloudevents.json"));
  Reply r = Http(Post(batch[0].dump(), "application/cloudevents+json; charset=utf-8"));
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(sink_.Events().size(), 1u);
  EXPECT_EQ(sink_.Events()[0].id, "6f1a2b3c-0001-4a5b-8c9d-0e1f2a3b4c5d");

  r = Http(Post(batch.dump(2), "application/cloudevents-batch+json"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(sink_.Events().size(), 5u);

  // The media type says which shape to expect.
  r = Http(Post(batch.dump(), "application/cloudevents+json"));
  EXPECT_EQ(r.status, 400);
  r = Http(Post(Fixture("eventgrid/resource_delete_success_vault.json")));
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(sink_.Events().size(), 6u);
  EXPECT_EQ(sink_.Events()[5].id, "8e7d6c5b-4a39-4281-9f0e-d1c2b3a49586");

  r = Http(Post(batch.dump(), "text/plain"));
  EXPECT_EQ(r.status, 415);
  r = Http(Post(batch.dump(), "application/json; charset=latin1"));
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(sink_.Events().size(), 6u);
  EXPECT_EQ(Refused("unsupported_media_type"), 2);
}

TEST_F(EventGridSourceTest, WrongOrMissingSecretIs401AndNothingIsSpooled) {
  options_.secret_header = "X-Cmkwatch-Secret";
  StartSource();
  const std::string batch = Fixture("eventgrid/keyvault_batch_eventgrid_schema.json");
  std::string wrong = secret_;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  for (const Call& c : {C("POST", Url(), batch),                                 // none
                        C("POST", Url("access_token=" + wrong), batch),          // wrong in the query
                        C("POST", Url("access_token=" + secret_.substr(1)), batch),  // a prefix of it
                        C("POST", Url("access_token="), batch),
                        C("POST", Url(), batch, {"X-Cmkwatch-Secret: " + wrong}),  // wrong header
                        // Every copy presented must match.
                        C("POST", Url("access_token=" + secret_), batch, {"X-Cmkwatch-Secret: " + wrong})}) {
    const Reply r = Http(c);
    EXPECT_EQ(r.status, 401) << c.url;
    EXPECT_EQ(r.body.find(secret_), std::string::npos);
  }
  EXPECT_TRUE(sink_.Events().empty());
  EXPECT_TRUE(sink_.Quarantined().empty()) << "unauthenticated bodies are not recorded";
  EXPECT_EQ(Refused("unauthorized"), 6);

  // The header alone, and the query with percent-escapes, are enough.
  Reply r = Http(C("POST", Url(), batch, {"Content-Type: application/json", "X-Cmkwatch-Secret: " + secret_}));
  EXPECT_EQ(r.status, 200);
  std::string escaped;
  for (char c : secret_) escaped += "%" + std::string(1, "0123456789ABCDEF"[c >> 4]) + "0123456789ABCDEF"[c & 15];
  r = Http(C("POST", Url("x=1&access_token=" + escaped), batch));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(sink_.Events().size(), 8u);
}

TEST_F(EventGridSourceTest, AuthorizationBearerHeader) {
  options_.secret_query_parameter = "";
  options_.secret_header = "Authorization";
  StartSource();
  const std::string batch = Fixture("eventgrid/keyvault_batch_eventgrid_schema.json");
  const std::string json = "Content-Type: application/json";
  EXPECT_EQ(Http(C("POST", Url(), batch, {json, "Authorization: Bearer " + secret_})).status, 200);
  EXPECT_EQ(Http(C("POST", Url(), batch, {json, "Authorization: bearer  " + secret_})).status, 200);
  EXPECT_EQ(Http(C("POST", Url(), batch, {json, "Authorization: " + secret_})).status, 401) << "the scheme is required";
  EXPECT_EQ(Http(C("POST", Url("access_token=" + secret_), batch)).status, 401) << "the query is switched off";
}

TEST_F(EventGridSourceTest, OversizedBodyIs413AndRecorded) {
  options_.max_body_bytes = 4096;
  StartSource();
  const std::string big = "[" + std::string(8000, ' ') + "]";
  Reply r = Http(Post(big));
  ASSERT_EQ(r.curl_code, 0);
  EXPECT_EQ(r.status, 413);
  const auto q = sink_.Quarantined();
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].path, "eventgrid:eg-test/length:8002");
  EXPECT_NE(q[0].reason.find("413"), std::string::npos) << q[0].reason;
  EXPECT_NE(q[0].reason.find("max_body_bytes"), std::string::npos) << q[0].reason;
  EXPECT_EQ(Refused("too_large"), 1);

  // Unauthenticated: refused for the secret first, and not recorded.
  r = Http(C("POST", Url(), big));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(sink_.Quarantined().size(), 1u);
  // Just under the cap is fine.
  r = Http(Post("[" + std::string(4094, ' ') + "]"));
  EXPECT_EQ(r.status, 200);
}

TEST_F(EventGridSourceTest, MalformedJsonIs400AndQuarantined) {
  StartSource();
  const std::string bad = R"([{"id":"x","eventType":"Microsoft.KeyVault.KeyExpired",)";
  const Reply r = Http(Post(bad));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("not valid JSON"), std::string::npos) << r.body;
  EXPECT_TRUE(sink_.Events().empty());
  const auto q = sink_.Quarantined();
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].path, "eventgrid:eg-test/sha256:" + HexLower(Sha256(bad), 8));
  EXPECT_EQ(q[0].format_guess, "eventgrid");
  EXPECT_NE(q[0].reason.find("delivery refused (400)"), std::string::npos) << q[0].reason;
  EXPECT_EQ(Refused("malformed"), 1);
  EXPECT_EQ(Http(Post("42")).status, 400) << "JSON, but not a delivery";
  EXPECT_EQ(Http(Post("")).status, 400);
  EXPECT_EQ(sink_.Quarantined().size(), 3u);
}

TEST_F(EventGridSourceTest, BadEventsAreQuarantinedAndTheirNeighboursKept) {
  StartSource();
  auto batch = nlohmann::json::parse(Fixture("eventgrid/keyvault_batch_eventgrid_schema.json"));
  nlohmann::json no_time = batch[1];
  no_time.erase("eventTime");
  const std::string body = "[\n" + batch[0].dump() + ",\n\"just a string\",\n" + no_time.dump() + ",\n" +
                           batch[2].dump() + "\n]";
  const Reply r = Http(Post(body));
  EXPECT_EQ(r.status, 200) << "what could be used is spooled; the rest is quarantined, not refused";
  EXPECT_EQ(IdsOf(sink_.Events()), (std::vector<std::string>{batch[0]["id"], batch[2]["id"]}));
  const auto q = sink_.Quarantined();
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].line, 3u);
  EXPECT_EQ(q[0].offset, body.find("\"just a string\""));
  EXPECT_NE(q[0].reason.find("not a JSON object"), std::string::npos);
  EXPECT_EQ(q[1].line, 4u);
  EXPECT_NE(q[1].reason.find("eventTime"), std::string::npos) << q[1].reason;
  EXPECT_EQ(sink_.Batches(), 1u) << "events and quarantine entries travel together";
}

TEST_F(EventGridSourceTest, RetriedDeliveryGivesTheSameEventIds) {
  StartSource();
  const std::string batch = Fixture("eventgrid/keyvault_batch_eventgrid_schema.json");
  // Event Grid resends a delivery it got no 2xx for; the events keep
  // Azure's ids, which the analyzer stores once.
  EXPECT_EQ(Http(Post(batch)).status, 200);
  Call again = Post(batch);
  again.headers.push_back("aeg-delivery-count: 1");
  EXPECT_EQ(Http(again).status, 200);
  const auto ids = IdsOf(sink_.Events());
  ASSERT_EQ(ids.size(), 8u);
  EXPECT_EQ(std::vector<std::string>(ids.begin(), ids.begin() + 4), std::vector<std::string>(ids.begin() + 4, ids.end()));
  // CloudEvents without an id of their own get one from their bytes: also
  // the same both times.
  auto ce = nlohmann::json::parse(Fixture("eventgrid/keyvault_batch_cloudevents.json"))[0];
  ce.erase("id");
  EXPECT_EQ(Http(Post(ce.dump(), "application/cloudevents+json")).status, 200);
  EXPECT_EQ(Http(Post(ce.dump(), "application/cloudevents+json")).status, 200);
  const auto all = sink_.Events();
  ASSERT_EQ(all.size(), 10u);
  EXPECT_FALSE(all[8].id.empty());
  EXPECT_EQ(all[8].id, all[9].id);
}

TEST_F(EventGridSourceTest, FullSpoolAnswers503WithRetryAfterAndAcceptsOnceThereIsRoom) {
  StartSource();
  const std::string batch = Fixture("eventgrid/keyvault_batch_eventgrid_schema.json");
  sink_.full.store(true);
  const auto t0 = Clock::now();
  Reply r = Http(Post(batch));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Header("Retry-After"), "7");
  EXPECT_GE(Clock::now() - t0, 250ms) << "held for backpressure_hold_ms before giving up";
  EXPECT_GT(sink_.refusals.load(), 1) << "offered again while held";
  EXPECT_TRUE(sink_.Events().empty());
  EXPECT_EQ(Refused("spool_full"), 1);

  // Room frees up while a delivery is held: it is taken and answered 200.
  std::thread free_later([this] {
    std::this_thread::sleep_for(100ms);
    sink_.full.store(false);
  });
  r = Http(Post(batch));
  free_later.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(sink_.Events().size(), 4u);
}

TEST_F(EventGridSourceTest, PathsAndMethods) {
  StartSource();
  EXPECT_EQ(Http(C("POST", "http://127.0.0.1:" + std::to_string(source_->port()) + "/other?access_token=" + secret_, "[]")).status, 404);
  const Reply get = Http(C("GET", Authed(), "", {}));
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.Header("Allow"), "POST, OPTIONS");
  EXPECT_EQ(Http(Post("[]")).status, 200) << "an empty delivery is fine";
  EXPECT_EQ(sink_.Batches(), 0u) << "and spools nothing";
  EXPECT_EQ(Refused("not_found"), 1);
  EXPECT_EQ(Refused("method_not_allowed"), 1);
}

TEST_F(EventGridSourceTest, KeepAliveServesSeveralDeliveriesOnOneConnection) {
  StartSource();
  test::CurlHandle handle;
  const std::string batch = Fixture("eventgrid/keyvault_batch_eventgrid_schema.json");
  long connections = 0;
  for (int i = 0; i < 5; ++i) {
    const Reply r = Http(Post(batch), &handle);
    EXPECT_EQ(r.status, 200);
    connections += r.new_connections;
  }
  EXPECT_EQ(connections, 1);
  // A large body with Expect: 100-continue (curl's default above 1 MiB, asked
  // for here) goes through without the client waiting out its timer.
  Call big = Post("[" + std::string(200'000, ' ') + batch.substr(1));
  big.headers.push_back("Expect: 100-continue");
  const auto t0 = Clock::now();
  EXPECT_EQ(Http(big, &handle).status, 200);
  EXPECT_LT(Clock::now() - t0, 900ms);
  EXPECT_EQ(sink_.Events().size(), 24u);
}

// A raw socket for what curl will not send: a request that never ends.
int ConnectLoopback(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

TEST_F(EventGridSourceTest, SlowRequestsTimeOutWith408) {
  options_.request_timeout_ms = 300;
  StartSource();
  const int fd = ConnectLoopback(source_->port());
  const std::string head = "POST /eventgrid?access_token=" + secret_ +
                           " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  const auto t0 = Clock::now();
  const std::string answer = ReadAll(fd);
  ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 408 ", 0), 0u) << answer;
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_TRUE(sink_.Events().empty());
  EXPECT_EQ(Refused("timeout"), 1);

  // Chunked bodies are refused with 411 (Event Grid sends Content-Length).
  const int fd2 = ConnectLoopback(source_->port());
  const std::string chunked = "POST /eventgrid?access_token=" + secret_ +
                              " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n";
  ASSERT_GT(::send(fd2, chunked.data(), chunked.size(), MSG_NOSIGNAL), 0);
  const std::string answer2 = ReadAll(fd2);
  ::close(fd2);
  EXPECT_EQ(answer2.rfind("HTTP/1.1 411 ", 0), 0u) << answer2;
}

TEST_F(EventGridSourceTest, HeadCapAndConnectionCap) {
  options_.max_connections = 2;
  options_.request_timeout_ms = 400;
  StartSource();
  // A head over 8 KiB: 431, before any of it is used.
  const int big = ConnectLoopback(source_->port());
  const std::string head = "POST /eventgrid?access_token=" + secret_ + " HTTP/1.1\r\nHost: x\r\nX-Pad: " +
                           std::string(9000, 'a') + "\r\n\r\n";
  ASSERT_GT(::send(big, head.data(), head.size(), MSG_NOSIGNAL), 0);
  const std::string answer = ReadAll(big);
  ::close(big);
  EXPECT_EQ(answer.rfind("HTTP/1.1 431 ", 0), 0u) << answer.substr(0, 80);
  EXPECT_EQ(Refused("header_too_large"), 1);

  // Two silent clients take both slots; a third request waits in the
  // backlog until the silent ones are cut off at their deadline, then is
  // served.
  const int idle1 = ConnectLoopback(source_->port());
  const int idle2 = ConnectLoopback(source_->port());
  std::this_thread::sleep_for(100ms);  // both accepted
  const auto t0 = Clock::now();
  const Reply r = Http(Post(Fixture("eventgrid/keyvault_batch_eventgrid_schema.json")));
  const auto waited = Clock::now() - t0;
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(waited, 150ms) << "served only once a slot freed";
  EXPECT_LT(waited, 3s);
  const double open = Metric("cmkwatch_eventgrid_connections_open{endpoint=\"eg-test\"}");
  EXPECT_GE(open, 0) << "the gauge is there";
  EXPECT_LE(open, 2);
  ::close(idle1);
  ::close(idle2);
}

TEST_F(EventGridSourceTest, WhileOneDeliveryIsHeldOthersAre503AtOnce) {
  options_.backpressure_hold_ms = 1500;
  StartSource();
  const std::string batch = Fixture("eventgrid/keyvault_batch_eventgrid_schema.json");
  sink_.full.store(true);
  Reply held;
  std::thread first([&] { held = Http(Post(batch)); });
  const auto deadline = Clock::now() + 2s;
  while (sink_.refusals.load() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  const auto t0 = Clock::now();
  const Reply second = Http(Post(batch));
  EXPECT_EQ(second.status, 503);
  EXPECT_LT(Clock::now() - t0, 1000ms) << "not held behind the first";
  // A handshake needs no spool and is answered as usual meanwhile.
  EXPECT_EQ(Http(Post(Fixture("eventgrid/subscription_validation.json"))).status, 200);
  sink_.full.store(false);
  first.join();
  EXPECT_EQ(held.status, 200) << "the held one was taken once there was room";
  EXPECT_EQ(sink_.Events().size(), 4u);
}

TEST_F(EventGridSourceTest, StopWakesABlockedStep) {
  EventGridSource source(options_, sink_);
  ASSERT_TRUE(source.Setup().ok());
  std::atomic<bool> returned{false};
  std::thread t([&] {
    (void)source.RunOnce(20'000);
    returned.store(true);
  });
  std::this_thread::sleep_for(50ms);
  const auto t0 = Clock::now();
  source.Stop();
  t.join();
  EXPECT_TRUE(returned.load());
  EXPECT_LT(Clock::now() - t0, 1s);
  auto again = source.RunOnce(20'000);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again) << "every later step returns at once";
}

TEST_F(EventGridSourceTest, TlsWithATestCertificate) {
  const test::TestCertificate cert = test::MakeTestCertificate(dir_ / "tls");
  ASSERT_FALSE(cert.cert_file.empty());
  options_.tls_cert_file = cert.cert_file.string();
  options_.tls_key_file = cert.key_file.string();
  ca_file_ = cert.ca_file.string();
  StartSource();
  test::CurlHandle handle;
  const std::string batch = Fixture("eventgrid/keyvault_batch_eventgrid_schema.json");
  Reply r = Http(Post(batch), &handle);
  ASSERT_EQ(r.curl_code, 0) << r.curl_error;
  EXPECT_EQ(r.status, 200);
  r = Http(Post(Fixture("eventgrid/subscription_validation.json")), &handle);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("512d38b6-c7b8-40c8-89fe-f46f9e9622b6"), std::string::npos);
  EXPECT_EQ(r.new_connections, 0) << "one TLS session for both";
  EXPECT_EQ(sink_.Events().size(), 4u);

  // Plain HTTP to the TLS port gets nowhere, and a client that does not
  // trust the CA refuses the server.
  r = Http(C("POST", "http://127.0.0.1:" + std::to_string(source_->port()) + "/eventgrid?access_token=" + secret_, batch));
  EXPECT_NE(r.status, 200);
  Call untrusted = C("POST", Authed(), batch);
  untrusted.ca_file.clear();
  r = Http(untrusted);
  EXPECT_NE(r.curl_code, 0);
  EXPECT_EQ(sink_.Events().size(), 4u);
  StopSource();
  EXPECT_GE(source_->Stats().tls_failures, 1u);
}

TEST_F(EventGridSourceTest, PlainHttpOnlyOnLoopback) {
  options_.listen = "0.0.0.0:0";
  EventGridSource source(options_, sink_);
  const Status s = source.Setup();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("only on a loopback address"), std::string::npos) << s.message();
}

TEST_F(EventGridSourceTest, SecretFileMustBePrivate) {
  fs::permissions(options_.secret.file, fs::perms::owner_read | fs::perms::group_read);
  EventGridSource source(options_, sink_);
  const Status s = source.Setup();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_EQ(s.message().find(secret_), std::string::npos);
}

// --- the pure pieces ------------------------------------------------------

std::string Padded(std::string_view s) { return std::string(s) + std::string(kPadding, ' '); }

TEST(EventGridEndpointTest, SplitsArraysAtTheirOwnCommasOnly) {
  const std::string body = Padded(" [ {\"a\":\"x,]}\\\"\"} ,\n{\"b\":[1,{\"c\":2}]},3 ,\"s\" ] ");
  auto els = internal::SplitDeliveryBody(std::string_view(body).substr(0, body.size() - kPadding),
                                         internal::MediaType::kJson, 64);
  ASSERT_TRUE(els.ok()) << els.status().ToString();
  ASSERT_EQ(els->size(), 4u);
  EXPECT_EQ((*els)[0].bytes, R"({"a":"x,]}\""})");
  EXPECT_EQ((*els)[1].bytes, R"({"b":[1,{"c":2}]})");
  EXPECT_EQ((*els)[1].line, 2u);
  EXPECT_EQ((*els)[2].bytes, "3");
  EXPECT_FALSE((*els)[2].is_object);
  EXPECT_EQ((*els)[3].bytes, "\"s\"");
  EXPECT_TRUE((*els)[0].compact);

  const std::string spaced = Padded("{ \"a\" : 1 }");
  auto one = internal::SplitDeliveryBody(std::string_view(spaced).substr(0, spaced.size() - kPadding),
                                         internal::MediaType::kCloudEvent, 64);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_FALSE((*one)[0].compact);
  EXPECT_EQ((*one)[0].bytes, "{ \"a\" : 1 }");
}

TEST(EventGridEndpointTest, RefusesWhatIsNotOneJsonDelivery) {
  for (std::string_view bad : {"[1,2", "[1] [2]", "{\"a\":1}}", "[\"\xff\"]", "nul", "[1,]"}) {
    const std::string b = Padded(bad);
    auto r = internal::SplitDeliveryBody(std::string_view(b).substr(0, bad.size()), internal::MediaType::kJson, 64);
    EXPECT_TRUE(r.status().IsCorruption()) << bad;
  }
  const std::string deep = Padded(std::string(70, '[') + std::string(70, ']'));
  auto r = internal::SplitDeliveryBody(std::string_view(deep).substr(0, 140), internal::MediaType::kJson, 64);
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("deeper"), std::string::npos);
  const std::string many = Padded("[1,2,3,4]");
  r = internal::SplitDeliveryBody(std::string_view(many).substr(0, 9), internal::MediaType::kJson, 64, 3);
  EXPECT_TRUE(r.status().IsLimitExceeded());
}

http::Request Head(std::string_view text) {
  auto r = http::ParseRequestHead(text);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : http::Request{};
}

TEST(EventGridEndpointTest, MediaTypes) {
  using internal::MediaType;
  auto type = [](std::string_view ct) {
    return internal::DeliveryMediaType(Head("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: " + std::string(ct) + "\r\n\r\n"));
  };
  EXPECT_EQ(type("application/json"), MediaType::kJson);
  EXPECT_EQ(type("Application/JSON; charset=\"UTF-8\""), MediaType::kJson);
  EXPECT_EQ(type("application/cloudevents+json; charset=utf-8"), MediaType::kCloudEvent);
  EXPECT_EQ(type("application/cloudevents-batch+json"), MediaType::kCloudEventBatch);
  EXPECT_EQ(type("application/json; charset=iso-8859-1"), std::nullopt);
  EXPECT_EQ(type("application/xml"), std::nullopt);
  EXPECT_EQ(internal::DeliveryMediaType(Head("POST / HTTP/1.1\r\nHost: x\r\n\r\n")), MediaType::kJson);
}

TEST(EventGridEndpointTest, QueryParameterDecoding) {
  EXPECT_EQ(http::QueryParameter("a=1&access_token=x%2By%3d&b", "access_token"), "x+y=");
  EXPECT_EQ(http::QueryParameter("access_token", "access_token"), "");
  EXPECT_EQ(http::QueryParameter("access_tokens=1", "access_token"), std::nullopt);
  EXPECT_EQ(http::QueryParameter("access_token=%4", "access_token"), std::nullopt);
  EXPECT_EQ(http::QueryParameter("access_token=%zz", "access_token"), std::nullopt);
}

TEST(EventGridEndpointTest, NoSecretMeansNobodyGetsIn) {
  internal::EndpointOptions o;
  o.secret = "";
  internal::Endpoint e("x", o);
  EXPECT_FALSE(e.Authenticate(Head("POST /eventgrid?access_token= HTTP/1.1\r\nHost: x\r\n\r\n")));
}

}  // namespace
}  // namespace cmkwatch::collector
