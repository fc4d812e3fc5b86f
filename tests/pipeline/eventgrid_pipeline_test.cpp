// Event Grid deliveries end to end: a real cmkwatch-collector serving its
// Event Grid endpoint (HTTPS, certificate made at test time) and a real
// cmkwatch-analyzer, with libcurl playing Event Grid. What a user relies
// on: the subscription validates; a 200 means the events are durable — a
// collector killed with SIGKILL right after answering, with the analyzer
// down, still delivers them once both are back; a retried delivery is stored once; a malformed body shows
// up in the analyzer's quarantine; the chain verifies.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "cmkwatch/analyzer/timeline.h"
#include "http_client.h"
#include "receivers.h"
#include "test_support.h"

namespace cmkwatch {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class EventGridPipelineTest : public ::testing::Test {
 protected:
  EventGridPipelineTest() : dir_("eventgrid-pipeline") {}
  void SetUp() override {
    std::random_device rd;
    for (int i = 0; i < 24; ++i) secret_ += "0123456789abcdef"[rd() % 16];
    std::ofstream(dir_ / "eventgrid.secret") << secret_ << "\n";
    fs::permissions(dir_ / "eventgrid.secret", fs::perms::owner_read | fs::perms::owner_write);
    cert_ = test::MakeTestCertificate(dir_ / "tls");
    db_ = (dir_ / "timeline.db").string();
    // A socket path must fit sockaddr_un (108 bytes): not under dir_.
    socket_ = fs::temp_directory_path() / ("cmkw-eg-" + std::to_string(::getpid()) + ".sock");
    endpoint_ = "ipc://" + socket_.string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove(socket_, ec);
    if (HasFailure()) {
      for (const char* log : {"analyzer.log", "collector.log"}) {
        std::string text = Slurp(dir_ / log);
        if (text.size() > 6000) text = "..." + text.substr(text.size() - 6000);
        std::printf("---- %s ----\n%s\n", log, text.c_str());
      }
    }
  }

  std::unique_ptr<test::ChildProcess> StartAnalyzer() {
    return std::make_unique<test::ChildProcess>(
        std::vector<std::string>{CMKWATCH_ANALYZER_BIN, "--db", db_, "--bind", endpoint_, "--http", ""},
        dir_ / "analyzer.log");
  }
  // The collector's own configuration file, as an operator writes it; the
  // port is 0 the first time (any free one) and the same one after.
  std::unique_ptr<test::ChildProcess> StartCollector() {
    std::ofstream(dir_ / "collector.yaml") << "id: eg-test\n"
                                           << "connect: " << endpoint_ << "\n"
                                           << "spool: collector.spool\n"
                                           << "sources:\n"
                                           << "  - type: eventgrid\n"
                                           << "    name: kv-events\n"
                                           << "    listen: 127.0.0.1:" << port_ << "\n"
                                           << "    url_path: /api/eventgrid\n"
                                           << "    tls: { cert_file: " << cert_.cert_file.string()
                                           << ", key_file: " << cert_.key_file.string() << " }\n"
                                           << "    secret_file: eventgrid.secret\n";
    const size_t log_before = Slurp(dir_ / "collector.log").size();
    auto p = std::make_unique<test::ChildProcess>(
        std::vector<std::string>{CMKWATCH_COLLECTOR_BIN, "--config", (dir_ / "collector.yaml").string()},
        dir_ / "collector.log");
    // It says where it listens once it does.
    const std::regex listening("Event Grid endpoint listening.* port=([0-9]+)");
    const auto deadline = Clock::now() + 20s;
    while (Clock::now() < deadline) {
      std::smatch m;
      const std::string log = Slurp(dir_ / "collector.log").substr(log_before);
      if (std::regex_search(log, m, listening)) {
        port_ = std::stoi(m[1]);
        return p;
      }
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "the collector did not start listening";
    return p;
  }

  test::HttpReply Deliver(const std::string& body, std::string content_type = "application/json") {
    return test::Http({"POST", "https://127.0.0.1:" + std::to_string(port_) + "/api/eventgrid?access_token=" + secret_,
                       body, {"Content-Type: " + content_type, "aeg-event-type: Notification"}, cert_.ca_file.string()});
  }

  std::set<std::string> StoredIds(size_t* rows = nullptr) {
    std::set<std::string> ids;
    auto t = analyzer::Timeline::Open(db_, {});
    if (!t.ok()) return ids;
    auto events = (*t)->EventsBetween(INT64_MIN, INT64_MAX, analyzer::kMaxQueryEvents);
    if (!events.ok()) return ids;
    for (const auto& e : *events) ids.insert(e.id);
    if (rows != nullptr) *rows = events->size();
    return ids;
  }
  bool WaitForIds(const std::set<std::string>& want, std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      const auto have = StoredIds();
      if (std::includes(have.begin(), have.end(), want.begin(), want.end())) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  test::TestDir dir_;
  std::string secret_;
  test::TestCertificate cert_;
  std::string db_, endpoint_;
  fs::path socket_;
  int port_ = 0;
};

TEST_F(EventGridPipelineTest, DeliveriesReachTheTimelineOnceAndSurviveACollectorKill) {
  ASSERT_FALSE(cert_.cert_file.empty());
  auto analyzer = StartAnalyzer();
  auto collector = StartCollector();
  ASSERT_NE(port_, 0);

  // The subscription's handshake.
  test::HttpReply r = Deliver(test::ReadFileOrFail(test::FixtureFile("eventgrid/subscription_validation.json")));
  ASSERT_EQ(r.curl_code, 0) << r.curl_error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["validationResponse"], "512d38b6-c7b8-40c8-89fe-f46f9e9622b6");

  // A batch, then Event Grid's retry of it (it did not see our 200).
  const std::string batch = test::ReadFileOrFail(test::FixtureFile("eventgrid/keyvault_batch_eventgrid_schema.json"));
  std::set<std::string> want;
  for (const auto& e : nlohmann::json::parse(batch)) want.insert(e["id"].get<std::string>());
  EXPECT_EQ(Deliver(batch).status, 200);
  EXPECT_EQ(Deliver(batch).status, 200);
  EXPECT_TRUE(WaitForIds(want, 30s));

  // A 200 means durable: with the analyzer down, the collector answers a
  // delivery and is killed at once; the spool held the only copy, and the
  // event arrives once both are back.
  analyzer->Signal(SIGTERM);
  EXPECT_EQ(analyzer->Wait(), 0);
  const std::string single = test::ReadFileOrFail(test::FixtureFile("eventgrid/resource_delete_success_vault.json"));
  EXPECT_EQ(Deliver(single).status, 200);
  collector->Signal(SIGKILL);
  EXPECT_EQ(collector->Wait(), 128 + SIGKILL);
  EXPECT_EQ(StoredIds().count("8e7d6c5b-4a39-4281-9f0e-d1c2b3a49586"), 0u);
  analyzer = StartAnalyzer();
  collector = StartCollector();
  want.insert("8e7d6c5b-4a39-4281-9f0e-d1c2b3a49586");
  EXPECT_TRUE(WaitForIds(want, 30s));

  // A body that is not a delivery: 400, and the analyzer's quarantine says so.
  EXPECT_EQ(Deliver("[{\"id\":").status, 400);
  std::vector<QuarantineEntry> q;
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline && q.empty()) {
    auto t = analyzer::Timeline::Open(db_, {});
    ASSERT_TRUE(t.ok());
    auto got = (*t)->Quarantined(10);
    ASSERT_TRUE(got.ok());
    q = *got;
    if (q.empty()) std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].path.rfind("eventgrid:kv-events/sha256:", 0), 0u) << q[0].path;
  EXPECT_NE(q[0].reason.find("not valid JSON"), std::string::npos) << q[0].reason;

  collector->Signal(SIGTERM);
  analyzer->Signal(SIGTERM);
  EXPECT_EQ(collector->Wait(), 0);
  EXPECT_EQ(analyzer->Wait(), 0);
  size_t rows = 0;
  EXPECT_EQ(StoredIds(&rows), want);
  EXPECT_EQ(rows, want.size()) << "every event stored once, retries and resends included";
  auto t = analyzer::Timeline::Open(db_, {});
  ASSERT_TRUE(t.ok());
  analyzer::VerifyReport report;
  EXPECT_TRUE((*t)->Verify(&report).ok()) << report.detail;
}

}  // namespace
}  // namespace cmkwatch
