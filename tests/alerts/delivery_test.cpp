// Alert delivery end to end below the daemon: changes committed to a real
// timeline's outbox, the Dispatcher and the real sinks, real receivers on
// loopback (tests/support/receivers.h): HTTP(S), SMTP with STARTTLS and
// AUTH, TCP syslog. Receivers are killed and restarted mid-run; nothing
// may be lost.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cmkwatch/alerts/config.h"
#include "cmkwatch/alerts/dispatcher.h"
#include "cmkwatch/alerts/sink.h"
#include "cmkwatch/analyzer/timeline.h"
#include "cmkwatch/common/time.h"
#include "receivers.h"

namespace cmkwatch::alerts {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using analyzer::Timeline;
using std::chrono::milliseconds;
using std::chrono::seconds;
using test::HttpReceiver;
using test::ScriptedAnswer;

constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr const char* kAccount =
    "/subscriptions/7d1c2b3a-0000-4000-8000-00000000c0de/resourcegroups/rg-ai-prod/providers/"
    "microsoft.cognitiveservices/accounts/contoso-foundry";

Alert MakeAlert(int n, Severity severity = Severity::kCritical, std::string rule = "CMK001") {
  Alert a;
  char id[32];
  std::snprintf(id, sizeof id, "%s-%016x", rule.c_str(), n);
  a.id = id;
  a.rule = rule;
  a.title = "Key deleted: contoso-cmk-kv/keys/key-" + std::to_string(n);
  a.severity = severity;
  a.resource_id =
      "/subscriptions/7d1c2b3a-0000-4000-8000-00000000c0de/resourcegroups/rg-ai-prod/providers/"
      "microsoft.keyvault/vaults/contoso-cmk-kv/keys/key-" +
      std::to_string(n);
  a.affected = {kAccount};
  a.operation = "KeyDelete";
  a.actor.upn = "mallory@contoso.com";
  a.time = a.first_seen = a.last_seen = 1'764'600'000'000'000'000 + n;
  a.count = 1;
  a.evidence = {"ev-" + std::to_string(n)};
  a.why = "The account cannot unwrap its data encryption key.";
  a.remediation = "Recover the key (soft delete) within the retention period.";
  return a;
}

// The Standard Webhooks signature, computed here with OpenSSL directly
// rather than with the code under test.
std::string ExpectedSignature(const std::string& id, const std::string& ts, const std::string& body) {
  const std::string b64 = std::string(kSecret).substr(6);
  std::vector<unsigned char> key(b64.size());
  const int n = EVP_DecodeBlock(key.data(), reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  key.resize(static_cast<size_t>(n) - static_cast<size_t>(std::count(b64.end() - 2, b64.end(), '=')));
  const std::string content = id + "." + ts + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), mac, &mac_len);
  std::string out(4 * ((mac_len + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac, static_cast<int>(mac_len));
  return "v1," + out;
}

class DeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cmkwatch-delivery-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = (dir_ / "timeline.db").string();
    auto t = Timeline::Open(db_, {});
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    timeline_ = std::move(*t);
  }
  void TearDown() override {
    dispatcher_.reset();
    timeline_.reset();
    fs::remove_all(dir_);
  }

  // Commits one change to the outbox, as the analyzer does, and wakes the sender.
  void Commit(AlertChange::Kind kind, const Alert& a) {
    ASSERT_TRUE(timeline_->StoreAlertChanges({{kind, a}}, WallClockNs()).ok());
    if (dispatcher_) dispatcher_->Notify();
  }

  std::string SecretFile(const std::string& name, const std::string& value) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << value << "\n";
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
    return p.string();
  }

  SinkConfig Webhook(const std::string& name, const HttpReceiver& r, bool sign = true) {
    SinkConfig c;
    c.name = name;
    c.type = "webhook";
    c.route.send_updates = true;
    c.url_secret.file = SecretFile(name + ".url", r.Url("/hook/" + name));
    if (sign) c.hmac_secret.file = SecretFile(name + ".secret", kSecret);
    c.headers = {{"X-Team", "secops"}};
    c.ca_file = r.ca_file();
    c.timeout_ns = 2'000'000'000;
    return c;
  }

  void Start(std::vector<SinkConfig> configs, int64_t start_after = 0) {
    std::vector<std::pair<SinkConfig, std::unique_ptr<Sink>>> sinks;
    for (const SinkConfig& c : configs) {
      auto s = MakeSink(c);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      sinks.emplace_back(c, std::move(*s));
    }
    DispatcherOptions o;
    o.db_path = db_;
    o.retry.initial_ns = 100'000'000;
    o.retry.max_ns = 400'000'000;
    o.start_after_seq = start_after;
    o.poll_interval_ns = 200'000'000;
    o.raise = [this](std::vector<AlertChange> changes) {
      std::lock_guard lock(raised_mu_);
      for (auto& c : changes) raised_.push_back(std::move(c));
    };
    auto d = Dispatcher::Start(o, std::move(sinks), logger_);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    dispatcher_ = std::move(*d);
  }

  std::vector<AlertChange> Raised() {
    std::lock_guard lock(raised_mu_);
    return raised_;
  }

  bool WaitFor(const std::function<bool()>& done, milliseconds timeout = milliseconds(15000)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return done();
  }

  const SinkStats StatsOf(const std::string& name) {
    for (const SinkStats& s : dispatcher_->Stats()) {
      if (s.name == name) return s;
    }
    ADD_FAILURE() << "no sink " << name;
    return {};
  }

  static std::set<std::string> DeliveredIds(const HttpReceiver& r) {
    std::set<std::string> ids;
    for (const auto& req : r.Requests()) {
      if (req.answered_status >= 200 && req.answered_status < 300) ids.insert(req.Header("webhook-id"));
    }
    return ids;
  }

  int64_t CountRows(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    int64_t n = -1;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }

  fs::path dir_;
  std::string db_;
  std::unique_ptr<Timeline> timeline_;
  log::Logger logger_{log::Format::kKeyValue, log::Level::kError};
  std::unique_ptr<Dispatcher> dispatcher_;
  std::mutex raised_mu_;
  std::vector<AlertChange> raised_;
};

TEST_F(DeliveryTest, WebhookGetsEveryChangeInOrderSignedPerStandardWebhooks) {
  auto r = HttpReceiver::Start(dir_, {.tls = true});
  ASSERT_TRUE(r);
  Start({Webhook("hook", *r)});
  Alert a = MakeAlert(1);
  Commit(AlertChange::Kind::kOpened, a);
  a.count = 2;
  a.affected.push_back(std::string(kAccount) + "-2");  // the blast radius grew: always queued
  Commit(AlertChange::Kind::kUpdated, a);
  a.status = AlertStatus::kResolved;
  a.resolved_by = "ev-9";
  Commit(AlertChange::Kind::kResolved, a);
  ASSERT_TRUE(r->WaitForRequests(3, milliseconds(10000)));

  const auto reqs = r->Requests();
  ASSERT_EQ(reqs.size(), 3u);
  const char* types[] = {"alert.opened", "alert.updated", "alert.resolved"};
  std::set<std::string> ids;
  for (size_t i = 0; i < 3; ++i) {
    const auto& q = reqs[i];
    EXPECT_EQ(q.method, "POST");
    EXPECT_EQ(q.path, "/hook/hook");
    EXPECT_EQ(q.Header("X-Team"), "secops");
    EXPECT_EQ(q.Header("Content-Type"), "application/json");
    const json body = json::parse(q.body);
    EXPECT_EQ(body["type"], types[i]);
    EXPECT_EQ(body["data"]["id"], a.id);
    const std::string id = q.Header("webhook-id");
    ids.insert(id);
    EXPECT_EQ(q.Header("webhook-signature"), ExpectedSignature(id, q.Header("webhook-timestamp"), q.body));
    const int64_t ts = std::stoll(q.Header("webhook-timestamp"));
    EXPECT_LT(std::llabs(ts - WallClockNs() / 1'000'000'000), 60);
  }
  EXPECT_EQ(ids.size(), 3u) << "each change has its own webhook-id";
  EXPECT_TRUE(WaitFor([&] { return StatsOf("hook").delivered == 3; }));
}

TEST_F(DeliveryTest, RetryAfterAndServerErrorsAreRetriedWithTheSameWebhookId) {
  auto r = HttpReceiver::Start(dir_);
  ASSERT_TRUE(r);
  r->Script({{.status = 429, .headers = {{"Retry-After", "1"}}}, {.status = 503}, {.status = 500}});
  Start({Webhook("hook", *r)});
  Commit(AlertChange::Kind::kOpened, MakeAlert(1));
  ASSERT_TRUE(r->WaitForRequests(4, milliseconds(15000)));
  const auto reqs = r->Requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].answered_status, 429);
  EXPECT_EQ(reqs[3].answered_status, 200);
  for (const auto& q : reqs) EXPECT_EQ(q.Header("webhook-id"), reqs[0].Header("webhook-id"));
  // Retry-After: 1 means no second attempt within the first second.
  EXPECT_GE(std::stoll(reqs[1].Header("webhook-timestamp")) - std::stoll(reqs[0].Header("webhook-timestamp")), 1);
  ASSERT_TRUE(WaitFor([&] { return StatsOf("hook").delivered == 1; }));
  const SinkStats s = StatsOf("hook");
  EXPECT_EQ(s.attempted, 4u);
  EXPECT_EQ(s.failed, 3u);
  EXPECT_EQ(s.dead_lettered, 0u);
  EXPECT_EQ(CountRows("SELECT count(*) FROM dead_letters"), 0);
}

TEST_F(DeliveryTest, AHangingEndpointTimesOutAndTheChangeIsRetried) {
  auto r = HttpReceiver::Start(dir_);
  ASSERT_TRUE(r);
  r->Script({ScriptedAnswer::Hang(30)});
  SinkConfig c = Webhook("hook", *r);
  c.timeout_ns = 1'000'000'000;
  Start({c});
  Commit(AlertChange::Kind::kOpened, MakeAlert(1));
  ASSERT_TRUE(WaitFor([&] { return StatsOf("hook").delivered == 1; }));
  const auto reqs = r->Requests();
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_EQ(reqs.front().answered_status, 0);
  EXPECT_EQ(reqs.back().answered_status, 200);
  EXPECT_EQ(StatsOf("hook").failed, 1u);
}

TEST_F(DeliveryTest, ARefusalIsDeadLetteredRaisedOnTheOtherSinksAndResolvedByTheNextDelivery) {
  auto bad = HttpReceiver::Start(dir_);
  auto good = HttpReceiver::Start(dir_);
  ASSERT_TRUE(bad && good);
  bad->Script({{.status = 400, .body = "invalid payload"}});
  Start({Webhook("bad", *bad), Webhook("good", *good)});
  const Alert first = MakeAlert(1);
  Commit(AlertChange::Kind::kOpened, first);
  ASSERT_TRUE(WaitFor([&] { return StatsOf("bad").dead_lettered == 1; }));
  EXPECT_EQ(CountRows("SELECT count(*) FROM dead_letters WHERE sink = 'bad' AND code = 400 AND alert_id = '" +
                      first.id + "'"),
            1);

  // The self-alert, stored as the analyzer stores raised changes, goes to
  // the other sink and never to the failing one.
  ASSERT_TRUE(WaitFor([&] { return !Raised().empty(); }));
  const AlertChange trouble = Raised().front();
  EXPECT_EQ(trouble.kind, AlertChange::Kind::kOpened);
  EXPECT_EQ(trouble.alert.rule, "CMKW001");
  EXPECT_EQ(trouble.alert.subject, "bad");
  EXPECT_NE(trouble.alert.why.find("invalid payload"), std::string::npos) << trouble.alert.why;
  Commit(trouble.kind, trouble.alert);
  ASSERT_TRUE(good->WaitForRequests(2, milliseconds(10000)));
  EXPECT_EQ(json::parse(good->Requests()[1].body)["data"]["rule"], "CMKW001");

  // The next change reaches the bad sink (its script is used up): the
  // self-alert resolves.
  Commit(AlertChange::Kind::kOpened, MakeAlert(2));
  ASSERT_TRUE(WaitFor([&] { return StatsOf("bad").delivered == 1; }));
  ASSERT_TRUE(WaitFor([&] { return Raised().size() == 2; }));
  EXPECT_EQ(Raised()[1].kind, AlertChange::Kind::kResolved);
  EXPECT_EQ(Raised()[1].alert.id, trouble.alert.id);
  for (const auto& q : bad->Requests()) EXPECT_NE(json::parse(q.body)["data"]["rule"], "CMKW001");
}

TEST_F(DeliveryTest, ABrokenSinkDoesNotDelayTheOthers) {
  auto slow = HttpReceiver::Start(dir_);
  auto fast = HttpReceiver::Start(dir_);
  ASSERT_TRUE(slow && fast);
  slow->Script({ScriptedAnswer::Hang(60)});
  SinkConfig s = Webhook("slow", *slow);
  s.timeout_ns = 60'000'000'000;
  Start({s, Webhook("fast", *fast)});
  for (int i = 1; i <= 5; ++i) Commit(AlertChange::Kind::kOpened, MakeAlert(i));
  ASSERT_TRUE(fast->WaitForRequests(5, milliseconds(10000)));
  EXPECT_EQ(DeliveredIds(*fast).size(), 5u);
  EXPECT_EQ(StatsOf("slow").delivered, 0u) << "the slow sink is still on its first change";
  slow->Kill();  // lets the hung send fail now, so the test ends promptly
}

TEST_F(DeliveryTest, AReceiverKilledMidRunGetsEveryChangeOnceItIsBack) {
  auto r = HttpReceiver::Start(dir_);
  ASSERT_TRUE(r);
  Start({Webhook("hook", *r)});
  for (int i = 1; i <= 3; ++i) Commit(AlertChange::Kind::kOpened, MakeAlert(i));
  ASSERT_TRUE(r->WaitForRequests(3, milliseconds(10000)));
  r->Kill();
  for (int i = 4; i <= 10; ++i) Commit(AlertChange::Kind::kOpened, MakeAlert(i));
  ASSERT_TRUE(WaitFor([&] { return StatsOf("hook").failed >= 2; }));
  ASSERT_TRUE(r->Restart());
  ASSERT_TRUE(WaitFor([&] { return StatsOf("hook").delivered == 10; }));
  EXPECT_EQ(DeliveredIds(*r).size(), 10u);
}

TEST_F(DeliveryTest, ASenderRestartedMidOutboxResumesWhereItStopped) {
  auto r = HttpReceiver::Start(dir_);
  ASSERT_TRUE(r);
  r->Kill();
  Start({Webhook("hook", *r)});
  for (int i = 1; i <= 6; ++i) Commit(AlertChange::Kind::kOpened, MakeAlert(i));
  ASSERT_TRUE(WaitFor([&] { return StatsOf("hook").failed >= 2; }));
  dispatcher_.reset();  // as at SIGTERM, with six changes undelivered
  EXPECT_EQ(CountRows("SELECT attempts FROM sink_cursors WHERE sink = 'hook'") >= 2, true)
      << "the backoff state is stored, not only kept in memory";
  ASSERT_TRUE(r->Restart());
  Start({Webhook("hook", *r)}, /*start_after=*/6);  // the stored cursor wins over start_after
  ASSERT_TRUE(WaitFor([&] { return StatsOf("hook").delivered == 6; }));
  EXPECT_EQ(DeliveredIds(*r).size(), 6u);
  Commit(AlertChange::Kind::kOpened, MakeAlert(7));
  ASSERT_TRUE(WaitFor([&] { return DeliveredIds(*r).size() == 7; }));
  EXPECT_EQ(r->Requests().size(), 7u) << "nothing delivered twice";
}

TEST_F(DeliveryTest, ASinkNewToTheDatabaseStartsWithTheChangesFromNowOn) {
  for (int i = 1; i <= 3; ++i) Commit(AlertChange::Kind::kOpened, MakeAlert(i));
  auto last = LastChangeSeq(db_);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 3);
  auto r = HttpReceiver::Start(dir_);
  ASSERT_TRUE(r);
  Start({Webhook("hook", *r)}, *last);
  Commit(AlertChange::Kind::kOpened, MakeAlert(4));
  ASSERT_TRUE(r->WaitForRequests(1, milliseconds(10000)));
  std::this_thread::sleep_for(milliseconds(500));
  ASSERT_EQ(r->Requests().size(), 1u);
  EXPECT_EQ(json::parse(r->Requests()[0].body)["data"]["id"], MakeAlert(4).id);
}

TEST_F(DeliveryTest, RepeatsOfAnOpenAlertAreSentAtMostOncePerIntervalUnlessItGetsWorse) {
  SinkConfig file;
  file.name = "file";
  file.type = "file";
  file.path = (dir_ / "changes.jsonl").string();
  file.route.send_updates = true;
  Start({file});
  Alert a = MakeAlert(1, Severity::kHigh);
  Commit(AlertChange::Kind::kOpened, a);
  for (int i = 2; i <= 50; ++i) {  // a key failing unwraps over and over
    a.count = static_cast<uint64_t>(i);
    Commit(AlertChange::Kind::kUpdated, a);
  }
  a.severity = Severity::kCritical;  // regraded: said at once
  a.count = 51;
  Commit(AlertChange::Kind::kUpdated, a);
  a.status = AlertStatus::kResolved;
  Commit(AlertChange::Kind::kResolved, a);
  auto lines = [&] {
    std::vector<json> out;
    std::ifstream in(dir_ / "changes.jsonl");
    for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
    return out;
  };
  ASSERT_TRUE(WaitFor([&] { return lines().size() == 3; })) << lines().size();
  std::this_thread::sleep_for(milliseconds(300));
  const auto got = lines();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0]["change"], "opened");
  EXPECT_EQ(got[1]["change"], "updated");
  EXPECT_EQ(got[1]["alert"]["severity"], "critical");
  EXPECT_EQ(got[1]["alert"]["count"], 51) << "the update carries the count so far";
  EXPECT_EQ(got[2]["change"], "resolved");
  // The alerts table has every repeat's state.
  auto stored = timeline_->Alerts(std::nullopt, 10);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].count, 51u);
}

TEST_F(DeliveryTest, RoutesFilterBySeverityRuleAndChangeKind) {
  SinkConfig all;
  all.name = "all";
  all.type = "file";
  all.path = (dir_ / "all.jsonl").string();
  all.route.min_severity = Severity::kInfo;
  all.route.send_updates = true;
  SinkConfig pager = all;
  pager.name = "pager";
  pager.path = (dir_ / "pager.jsonl").string();
  pager.route.min_severity = Severity::kHigh;
  pager.route.send_updates = false;
  pager.route.send_resolved = false;
  pager.route.exclude_rules = {"CMK016"};
  Start({all, pager});

  Alert crit = MakeAlert(1, Severity::kCritical);
  Commit(AlertChange::Kind::kOpened, crit);                          // both
  Commit(AlertChange::Kind::kOpened, MakeAlert(2, Severity::kMedium));  // all only
  Commit(AlertChange::Kind::kOpened, MakeAlert(3, Severity::kHigh, "CMK016"));  // all only
  crit.count = 2;
  crit.affected.push_back(std::string(kAccount) + "-2");
  Commit(AlertChange::Kind::kUpdated, crit);  // all only: pager takes no updates
  Alert quiet = MakeAlert(4, Severity::kCritical);
  quiet.status = AlertStatus::kSuppressed;
  quiet.suppression = "maintenance";
  Commit(AlertChange::Kind::kOpened, quiet);  // nobody: suppressed
  crit.status = AlertStatus::kResolved;
  Commit(AlertChange::Kind::kResolved, crit);  // all only: pager takes no resolutions
  Commit(AlertChange::Kind::kOpened, MakeAlert(5, Severity::kHigh));  // both

  auto lines = [&](const std::string& file) {
    std::vector<json> out;
    std::ifstream in(dir_ / file);
    for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
    return out;
  };
  ASSERT_TRUE(WaitFor([&] { return lines("all.jsonl").size() == 6 && lines("pager.jsonl").size() == 2; }));
  const auto pager_lines = lines("pager.jsonl");
  EXPECT_EQ(pager_lines[0]["alert"]["id"], MakeAlert(1).id);
  EXPECT_EQ(pager_lines[1]["alert"]["id"], MakeAlert(5).id);
  const auto all_lines = lines("all.jsonl");
  EXPECT_EQ(all_lines[3]["change"], "updated");
  EXPECT_EQ(all_lines[4]["change"], "resolved");
  for (const auto& l : all_lines) EXPECT_NE(l["alert"]["id"], quiet.id);
  ASSERT_TRUE(WaitFor([&] { return StatsOf("pager").cursor == 7; })) << "skipped changes move the cursor too";
}

TEST_F(DeliveryTest, SlackTeamsAndPagerDutyGetTheirOwnShapes) {
  auto slack = HttpReceiver::Start(dir_);
  auto teams = HttpReceiver::Start(dir_, {.default_status = 202});
  auto pd = HttpReceiver::Start(dir_, {.default_status = 202});
  ASSERT_TRUE(slack && teams && pd);
  SinkConfig s;
  s.name = "slack";
  s.type = "slack";
  s.url_secret.file = SecretFile("slack.url", slack->Url("/services/T000/B000/XXXX"));
  SinkConfig t = s;
  t.name = "teams";
  t.type = "teams";
  t.url_secret.file = SecretFile("teams.url", teams->Url("/workflows/abc"));
  SinkConfig p = s;
  p.name = "pd";
  p.type = "pagerduty";
  p.url = pd->Url("/v2/enqueue");
  p.url_secret = {};
  ::setenv("CMKWATCH_TEST_PD_KEY", "R0UT1NGKEY00000000000000000000AB", 1);
  p.routing_key.env = "CMKWATCH_TEST_PD_KEY";
  Start({s, t, p});

  Alert a = MakeAlert(1);
  Commit(AlertChange::Kind::kOpened, a);
  a.status = AlertStatus::kResolved;
  Commit(AlertChange::Kind::kResolved, a);
  ASSERT_TRUE(slack->WaitForRequests(2, milliseconds(10000)));
  ASSERT_TRUE(teams->WaitForRequests(2, milliseconds(10000)));
  ASSERT_TRUE(pd->WaitForRequests(2, milliseconds(10000)));

  const json sj = json::parse(slack->Requests()[0].body);
  EXPECT_TRUE(sj["text"].is_string());
  ASSERT_TRUE(sj["blocks"].is_array());
  EXPECT_EQ(sj["blocks"][0]["type"], "header");

  const json tj = json::parse(teams->Requests()[0].body);
  EXPECT_EQ(tj["type"], "message");
  EXPECT_EQ(tj["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
  EXPECT_TRUE(tj["attachments"][0]["contentUrl"].is_null());
  EXPECT_EQ(tj["attachments"][0]["content"]["version"], "1.4");
  EXPECT_TRUE(WaitFor([&] { return StatsOf("teams").delivered == 2; })) << "202 means accepted";

  const json trigger = json::parse(pd->Requests()[0].body);
  const json resolve = json::parse(pd->Requests()[1].body);
  EXPECT_EQ(trigger["event_action"], "trigger");
  EXPECT_EQ(resolve["event_action"], "resolve");
  EXPECT_EQ(trigger["routing_key"], "R0UT1NGKEY00000000000000000000AB");
  EXPECT_EQ(trigger["dedup_key"], a.id);
  EXPECT_EQ(resolve["dedup_key"], a.id);
  EXPECT_EQ(trigger["payload"]["severity"], "critical");
  ::unsetenv("CMKWATCH_TEST_PD_KEY");
}

TEST_F(DeliveryTest, HttpsIsVerifiedAgainstTheConfiguredCa) {
  auto r = HttpReceiver::Start(dir_, {.tls = true});
  ASSERT_TRUE(r);
  SinkConfig c = Webhook("hook", *r);
  c.ca_file.clear();  // the system's store does not know the test CA
  auto sink = MakeSink(c);
  ASSERT_TRUE(sink.ok());
  const Message m{1, AlertChange::Kind::kOpened, MakeAlert(1), WallClockNs()};
  const SendResult refused = (*sink)->Send({&m, 1});
  EXPECT_EQ(refused.outcome, SendResult::Outcome::kRetry);
  EXPECT_EQ(refused.code, 0);
  EXPECT_TRUE(r->Requests().empty()) << "nothing sent to an unverified server";
  c.ca_file = r->ca_file();
  auto trusted = MakeSink(c);
  ASSERT_TRUE(trusted.ok());
  EXPECT_EQ((*trusted)->Send({&m, 1}).outcome, SendResult::Outcome::kDelivered);
}

TEST_F(DeliveryTest, MissingSecretsFailAtSetupNamingTheSourceNotTheValue) {
  SinkConfig c;
  c.name = "slack";
  c.type = "slack";
  c.url_secret.env = "CMKWATCH_TEST_NO_SUCH_VAR";
  auto r = MakeSink(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("CMKWATCH_TEST_NO_SUCH_VAR"), std::string::npos);

  const std::string loose = (dir_ / "loose.url").string();
  std::ofstream(loose) << "https://hooks.slack.com/services/T/B/SECRETPART\n";
  fs::permissions(loose, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  c.url_secret = {.env = "", .file = loose};
  r = MakeSink(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("readable by group or others"), std::string::npos);
  EXPECT_EQ(r.status().message().find("SECRETPART"), std::string::npos);
}

// ---- email ----

class EmailTest : public DeliveryTest {
 protected:
  SinkConfig Email(const test::SmtpReceiver& smtp, bool implicit = false) {
    SinkConfig c;
    c.name = "mail";
    c.type = "email";
    c.smtp_url = std::string(implicit ? "smtps" : "smtp") + "://127.0.0.1:" + std::to_string(smtp.port());
    c.ca_file = smtp.ca_file();
    c.username = "cmkwatch";
    c.password.file = SecretFile("smtp.password", "s3cret-pass");
    c.from = "cmkwatch <cmkwatch@contoso.com>";
    c.to = {"secops@contoso.com", "oncall@contoso.com"};
    c.timeout_ns = 10'000'000'000;
    return c;
  }
};

TEST_F(EmailTest, StartTlsAndAuthDeliverOneMailPerChangeThreadedByAlert) {
  auto smtp = test::SmtpReceiver::Start(dir_, {.tls = test::SmtpTls::kStartTls, .user = "cmkwatch", .password = "s3cret-pass"});
  ASSERT_TRUE(smtp);
  Start({Email(*smtp)});
  Alert a = MakeAlert(1);
  Commit(AlertChange::Kind::kOpened, a);
  a.status = AlertStatus::kResolved;
  Commit(AlertChange::Kind::kResolved, a);
  ASSERT_TRUE(smtp->WaitForMails(2, milliseconds(15000)));
  const auto mails = smtp->Mails();
  ASSERT_EQ(mails.size(), 2u);
  const auto& m = mails[0];
  EXPECT_TRUE(m.tls);
  EXPECT_EQ(m.auth_user, "cmkwatch");
  EXPECT_EQ(m.envelope_from, "cmkwatch@contoso.com");
  EXPECT_EQ(m.rcpts, (std::vector<std::string>{"secops@contoso.com", "oncall@contoso.com"}));
  EXPECT_NE(m.Header("Subject").find("Key deleted"), std::string::npos) << m.Header("Subject");
  EXPECT_NE(m.Header("Message-ID").find(a.id), std::string::npos);
  EXPECT_NE(m.Header("Message-ID"), mails[1].Header("Message-ID"));
  EXPECT_NE(mails[1].Header("In-Reply-To").find(a.id), std::string::npos);
  EXPECT_NE(m.TextBody().find("Recover the key"), std::string::npos) << m.TextBody();
}

TEST_F(EmailTest, AServerWithoutStartTlsIsNeverSentTo) {
  auto smtp = test::SmtpReceiver::Start(dir_, {.tls = test::SmtpTls::kNone});
  ASSERT_TRUE(smtp);
  SinkConfig c = Email(*smtp);
  c.username.clear();
  auto sink = MakeSink(c);
  ASSERT_TRUE(sink.ok());
  const Message m{1, AlertChange::Kind::kOpened, MakeAlert(1), WallClockNs()};
  const SendResult r = (*sink)->Send({&m, 1});
  EXPECT_EQ(r.outcome, SendResult::Outcome::kRetry) << r.detail;
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_TRUE(smtp->Mails().empty());
}

TEST_F(EmailTest, ImplicitTlsWorksAndAWrongPasswordIsRetriedNotDropped) {
  auto smtp = test::SmtpReceiver::Start(dir_, {.tls = test::SmtpTls::kImplicit, .user = "cmkwatch", .password = "s3cret-pass"});
  ASSERT_TRUE(smtp);
  SinkConfig c = Email(*smtp, /*implicit=*/true);
  const Message m{1, AlertChange::Kind::kOpened, MakeAlert(1), WallClockNs()};
  auto ok = MakeSink(c);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->Send({&m, 1}).outcome, SendResult::Outcome::kDelivered);
  c.password.file = SecretFile("wrong.password", "nope");
  auto wrong = MakeSink(c);
  ASSERT_TRUE(wrong.ok());
  const SendResult r = (*wrong)->Send({&m, 1});
  EXPECT_EQ(r.outcome, SendResult::Outcome::kRetry) << r.detail;
  EXPECT_EQ(smtp->Mails().size(), 1u);
}

TEST_F(EmailTest, ADigestSendsABurstAsOneMail) {
  auto smtp = test::SmtpReceiver::Start(dir_, {.tls = test::SmtpTls::kStartTls, .user = "cmkwatch", .password = "s3cret-pass"});
  ASSERT_TRUE(smtp);
  SinkConfig c = Email(*smtp);
  c.digest_window_ns = 1'500'000'000;
  c.digest_max = 50;
  Start({c});
  for (int i = 1; i <= 4; ++i) Commit(AlertChange::Kind::kOpened, MakeAlert(i));
  ASSERT_TRUE(smtp->WaitForMails(1, milliseconds(15000)));
  ASSERT_TRUE(WaitFor([&] { return StatsOf("mail").delivered == 4; }));
  ASSERT_EQ(smtp->Mails().size(), 1u);
  const std::string text = smtp->Mails()[0].TextBody();
  for (int i = 1; i <= 4; ++i) EXPECT_NE(text.find("key-" + std::to_string(i)), std::string::npos) << text;
}

// ---- syslog ----

// Splits RFC 6587 octet-counted frames; fails on a malformed stream.
std::vector<std::string> Frames(const std::string& bytes) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t sp = bytes.find(' ', at);
    if (sp == std::string::npos) break;
    const size_t len = std::stoul(bytes.substr(at, sp - at));
    EXPECT_LE(sp + 1 + len, bytes.size());
    out.push_back(bytes.substr(sp + 1, len));
    at = sp + 1 + len;
  }
  return out;
}

TEST_F(DeliveryTest, SyslogFramesReachACollectorAndSurviveItsRestart) {
  auto tcp = test::TcpReceiver::Start(dir_);
  ASSERT_TRUE(tcp);
  SinkConfig c;
  c.name = "siem";
  c.type = "syslog";
  c.address = "127.0.0.1:" + std::to_string(tcp->port());
  c.route.send_updates = true;
  c.timeout_ns = 2'000'000'000;
  Start({c});
  Commit(AlertChange::Kind::kOpened, MakeAlert(1));
  ASSERT_TRUE(WaitFor([&] { return StatsOf("siem").delivered == 1; }));
  ASSERT_TRUE(tcp->Restart());
  Commit(AlertChange::Kind::kOpened, MakeAlert(2));
  ASSERT_TRUE(WaitFor([&] { return Frames(tcp->Received()).size() == 2; }));
  const auto frames = Frames(tcp->Received());
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(frames[i].rfind("<82>1 ", 0), 0u) << frames[i];  // authpriv (10) * 8 + crit (2)
    EXPECT_NE(frames[i].find("CEF:0|cmkwatch|cmkwatch|"), std::string::npos);
    EXPECT_NE(frames[i].find(MakeAlert(static_cast<int>(i) + 1).id), std::string::npos);
  }
}

}  // namespace
}  // namespace cmkwatch::alerts
