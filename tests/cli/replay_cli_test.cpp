// `cmkwatch replay` as an incident responder runs it: real archive files in,
// a real timeline database and reports out, checked for what they rely on —
// the same alerts and hashes in any file order, bounded memory that still
// orders, quarantine that loses nothing, delivery only when asked.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "receivers.h"
#include "test_support.h"

namespace cmkwatch {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path kSamples = fs::path(CMKWATCH_SOURCE_DIR) / "samples";

class ReplayCli : public ::testing::Test {
 protected:
  test::CommandResult Replay(std::vector<std::string> args) {
    args.insert(args.begin(), {CMKWATCH_CLI, "replay", "--no-progress"});
    return test::RunCommand(args);
  }
  json Report(const fs::path& p) {
    std::ifstream in(p);
    return json::parse(in);
  }
  // The sample logs (not the inventory) copied under new names in reverse
  // order, so neither names nor order match the originals.
  fs::path ShuffledSamples() {
    const fs::path out = dir_ / "shuffled";
    fs::create_directories(out / "deep" / "er");
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(kSamples)) {
      if (e.is_regular_file() && e.path().extension() == ".json" &&
          e.path().string().find("/inventory/") == std::string::npos) {
        files.push_back(e.path());
      }
    }
    std::sort(files.rbegin(), files.rend());
    for (size_t i = 0; i < files.size(); ++i) {
      fs::copy_file(files[i], out / (i % 2 ? "deep/er" : "") / ("z" + std::to_string(i) + ".json"));
    }
    return out;
  }

  test::TestDir dir_{"replay"};
};

TEST_F(ReplayCli, TheSampleIncidentGivesTheSameAlertsAndHashesInAnyFileOrder) {
  const auto a = Replay({"--db", (dir_ / "a.db").string(), "--inventory", (kSamples / "inventory").string(),
                         "--json-report", (dir_ / "a.json").string(), (kSamples / "insights-activity-logs").string(),
                         (kSamples / "insights-logs-auditevent").string(), (kSamples / "eventgrid").string()});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  const auto b = Replay({"--db", (dir_ / "b.db").string(), "--inventory", (kSamples / "inventory").string(),
                         "--json-report", (dir_ / "b.json").string(), ShuffledSamples().string()});
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  const json ra = Report(dir_ / "a.json"), rb = Report(dir_ / "b.json");
  EXPECT_EQ(ra["run_hash"], rb["run_hash"]);
  EXPECT_EQ(ra["alerts"], rb["alerts"]) << "same ids, evidence, times";
  EXPECT_EQ(ra["resources"], rb["resources"]);
  EXPECT_NE(ra["input"]["files"], rb["input"]["files"]) << "the inputs did differ in name";

  // What the sample incident is: six alerts, each naming the AI account.
  std::set<std::string> rules;
  for (const auto& al : ra["alerts"]) {
    rules.insert(al["rule"].get<std::string>());
    EXPECT_FALSE(al["evidence"].empty());
    ASSERT_EQ(al["affected"].size(), 1u);
    EXPECT_NE(al["affected"][0].get<std::string>().find("contoso-foundry"), std::string::npos);
  }
  EXPECT_EQ(rules, (std::set<std::string>{"CMK001", "CMK003", "CMK005", "CMK006", "CMK007", "CMK011"}));
  EXPECT_EQ(ra["counts"]["events"], 13);
  EXPECT_EQ(ra["counts"]["stored"], 13);
  EXPECT_EQ(ra["counts"]["alerts_by_severity"]["critical"], 5);
  bool bound = false;
  for (const auto& bnd : ra["bindings"]) {
    bound = bound || (bnd["vault"].get<std::string>().ends_with("/vaults/contoso-cmk-kv") &&
                      bnd["ai_resource"].get<std::string>().ends_with("/accounts/contoso-foundry"));
  }
  EXPECT_TRUE(bound) << ra["bindings"];
  for (const auto& f : ra["input"]["files"]) EXPECT_EQ(f["sha256"].get<std::string>().size(), 64u);

  // The database is a timeline like the analyzer's: it verifies.
  const auto verify = test::RunCommand({CMKWATCH_CLI, "verify", "--db", (dir_ / "a.db").string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("intact: 13 events"), std::string::npos) << verify.out;
  EXPECT_NE(a.out.find("6 alerts, 5 critical, 1 high"), std::string::npos) << a.out;
}

// Key Vault records at shuffled times over several files: with 1 MiB of
// memory the sorter spills runs and merges them, and the result is what an
// all-in-memory replay gives.
TEST_F(ReplayCli, SpillingToDiskOrdersExactlyAsInMemory) {
  std::string sample;
  {
    std::ifstream in(kSamples /
                     "insights-logs-auditevent/resourceId=/SUBSCRIPTIONS/7D1C2B3A-0000-4000-8000-00000000C0DE/"
                     "RESOURCEGROUPS/RG-AI-PROD/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/CONTOSO-CMK-KV/y=2026/m=03/"
                     "d=02/h=09/m=00/PT1H.json");
    std::getline(in, sample);
  }
  const std::string stamp = "2026-03-02T09:00:03.1184512Z";
  ASSERT_NE(sample.find(stamp), std::string::npos);
  constexpr int kRecords = 3000;
  std::vector<int> order(kRecords);
  for (int i = 0; i < kRecords; ++i) order[i] = i;
  std::mt19937 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  fs::create_directories(dir_ / "logs");
  std::ofstream files[3] = {std::ofstream(dir_ / "logs" / "a.json"), std::ofstream(dir_ / "logs" / "b.json"),
                            std::ofstream(dir_ / "logs" / "c.json")};
  for (int i = 0; i < kRecords; ++i) {
    char when[40];
    std::snprintf(when, sizeof when, "2026-03-02T%02d:%02d:%02d.%07dZ", order[i] / 3600 % 24, order[i] / 60 % 60,
                  order[i] % 60, i);
    std::string rec = sample;
    rec.replace(rec.find(stamp), stamp.size(), when);
    files[i % 3] << rec << "\n";
  }
  for (auto& f : files) f.close();
  const auto spilled = Replay({"--db", (dir_ / "s.db").string(), "--memory", "1", "--json-report",
                               (dir_ / "s.json").string(), (dir_ / "logs").string()});
  ASSERT_EQ(spilled.exit_code, 0) << spilled.out << spilled.err;
  EXPECT_NE(spilled.out.find("runs spilled to disk"), std::string::npos) << spilled.out;
  const auto memory = Replay({"--db", (dir_ / "m.db").string(), "--json-report", (dir_ / "m.json").string(),
                              (dir_ / "logs").string()});
  ASSERT_EQ(memory.exit_code, 0) << memory.out << memory.err;
  EXPECT_EQ(memory.out.find("spilled"), std::string::npos) << memory.out;
  const json s = Report(dir_ / "s.json"), m = Report(dir_ / "m.json");
  EXPECT_EQ(s["counts"]["stored"], kRecords);
  EXPECT_EQ(s["run_hash"], m["run_hash"]);
  EXPECT_EQ(s["input"]["first_event"], m["input"]["first_event"]);
  EXPECT_EQ(s["input"]["last_event"], m["input"]["last_event"]);
  // The spill runs are gone with the replay.
  for (const auto& e : fs::directory_iterator(dir_.path())) {
    EXPECT_EQ(e.path().filename().string().rfind("cmkwatch-replay-", 0), std::string::npos)
        << "spill directory left behind: " << e.path();
  }
}

// Archives overlap (the same export pulled twice, an hour's blob in two
// downloads), and responders replay again into the database they have:
// every event is stored once and judged once, whichever way it arrives.
TEST_F(ReplayCli, OverlappingArchivesAndASecondRunStoreEachEventOnceWithTheSameAlerts) {
  const fs::path logs = ShuffledSamples();
  const auto once = Replay({"--db", (dir_ / "once.db").string(), "--json-report", (dir_ / "once.json").string(),
                            logs.string()});
  ASSERT_EQ(once.exit_code, 0) << once.out << once.err;
  // The same files again under other names, beside the originals.
  fs::copy(logs, dir_ / "again", fs::copy_options::recursive);
  const auto twice = Replay({"--db", (dir_ / "twice.db").string(), "--json-report", (dir_ / "twice.json").string(),
                             logs.string(), (dir_ / "again").string()});
  ASSERT_EQ(twice.exit_code, 0) << twice.out << twice.err;
  const json o = Report(dir_ / "once.json"), t = Report(dir_ / "twice.json");
  const int events = o["counts"]["stored"].get<int>();
  ASSERT_GT(events, 0);
  EXPECT_EQ(t["counts"]["stored"], events);
  EXPECT_EQ(t["counts"]["duplicates"], events);
  EXPECT_EQ(t["run_hash"], o["run_hash"]);
  EXPECT_EQ(t["alerts"], o["alerts"]) << "repeats are no new evidence";

  // Again into the database that has them all: nothing new, same alerts.
  const auto rerun = Replay({"--db", (dir_ / "once.db").string(), "--json-report", (dir_ / "rerun.json").string(),
                             logs.string()});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  const json r = Report(dir_ / "rerun.json");
  EXPECT_EQ(r["counts"]["stored"], 0);
  EXPECT_EQ(r["counts"]["already_in_database"], events);
  EXPECT_EQ(r["run_hash"], o["run_hash"]);
  EXPECT_EQ(r["alerts"], o["alerts"]);
  const auto verify = test::RunCommand({CMKWATCH_CLI, "verify", "--db", (dir_ / "twice.db").string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

// A new database is built aside (as FILE.partial) and takes its name only
// when complete; what a killed run left behind is cleared first.
TEST_F(ReplayCli, ANewDatabaseTakesItsNameOnlyWhenCompleteAndAKilledRunsLeftoversGo) {
  const fs::path db = dir_ / "new.db";
  std::ofstream(db.string() + ".partial") << "half a database from a replay that was killed";
  std::ofstream(db.string() + ".partial-journal") << "and its journal";
  const auto r = Replay({"--db", db.string(), "--json-report", (dir_ / "new.json").string(), kSamples.string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(fs::exists(db));
  for (const char* suffix : {".partial", ".partial-journal", ".partial-wal", ".partial-shm"}) {
    EXPECT_FALSE(fs::exists(db.string() + suffix)) << suffix;
  }
  const json report = Report(dir_ / "new.json");
  const auto verify = test::RunCommand({CMKWATCH_CLI, "verify", "--db", db.string()});
  ASSERT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find(std::to_string(report["counts"]["stored"].get<int>()) + " events"), std::string::npos)
      << verify.out;
  // And it is an ordinary timeline: the analyzer's timeline command reads it.
  const auto timeline = test::RunCommand({CMKWATCH_CLI, "timeline", "--db", db.string(), "--json"});
  EXPECT_EQ(timeline.exit_code, 0) << timeline.err;
}

TEST_F(ReplayCli, SinceAndUntilKeepOnlyTheirWindow) {
  const auto r = Replay({"--db", (dir_ / "w.db").string(), "--since", "2026-03-02T09:15:00Z", "--until",
                         "2026-03-02T09:32:00Z", "--json-report", (dir_ / "w.json").string(),
                         (kSamples / "insights-activity-logs").string(), (kSamples / "insights-logs-auditevent").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json w = Report(dir_ / "w.json");
  EXPECT_GT(w["counts"]["filtered_out"].get<int>(), 0);
  EXPECT_GE(w["input"]["first_event"].get<std::string>(), "2026-03-02T09:15:00Z");
  EXPECT_LT(w["input"]["last_event"].get<std::string>(), "2026-03-02T09:32:00Z");
  EXPECT_EQ(w["input"]["since"], "2026-03-02T09:15:00Z");
}

TEST_F(ReplayCli, AMalformedRecordIsQuarantinedAndTheRestReplayed) {
  fs::create_directories(dir_ / "logs");
  fs::copy_file(kSamples / "eventgrid" / "keyvault-delivery.json", dir_ / "logs" / "good.json");
  std::ofstream(dir_ / "logs" / "bad.jsonl") << "{\"time\": \"not a time\", \"operationName\": 42}\n{\"truncated\": \n";
  const auto r = Replay({"--db", (dir_ / "q.db").string(), "--json-report", (dir_ / "q.json").string(),
                         (dir_ / "logs").string()});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  const json q = Report(dir_ / "q.json");
  ASSERT_GE(q["quarantine"].size(), 1u);
  EXPECT_NE(q["quarantine"][0]["path"].get<std::string>().find("bad.jsonl"), std::string::npos);
  EXPECT_FALSE(q["quarantine"][0]["reason"].get<std::string>().empty());
  EXPECT_GT(q["counts"]["stored"].get<int>(), 0) << "the good file's events are stored";
}

TEST_F(ReplayCli, DeliverSendsTheReplayedAlertsMarkedAsReplayed) {
  auto hook = test::HttpReceiver::Start(dir_.path());
  ASSERT_TRUE(hook);
  std::ofstream(dir_ / "hook.url") << hook->Url("/soar") << "\n";
  fs::permissions(dir_ / "hook.url", fs::perms::owner_read | fs::perms::owner_write);
  std::ofstream(dir_ / "analyzer.yaml") << "db: unused.db\nalerts:\n  sinks:\n"
                                        << "    - { name: soar, type: webhook, url_file: hook.url }\n";
  const std::vector<std::string> base = {"--db", (dir_ / "d.db").string(), "--inventory",
                                         (kSamples / "inventory").string(), kSamples.string()};
  // Without --deliver nothing is sent.
  auto quiet = base;
  quiet.insert(quiet.end(), {"--config", (dir_ / "analyzer.yaml").string()});
  ASSERT_EQ(Replay(quiet).exit_code, 0);
  EXPECT_TRUE(hook->Requests().empty());
  // With it, into a fresh database: every change, titles marked.
  auto loud = quiet;
  loud[1] = (dir_ / "e.db").string();
  loud.push_back("--deliver");
  const auto r = Replay(loud);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(hook->WaitForRequests(6, std::chrono::milliseconds(5000)));
  for (const auto& req : hook->Requests()) {
    const json body = json::parse(req.body);
    EXPECT_EQ(body["data"]["title"].get<std::string>().rfind("[replay] ", 0), 0u) << body["data"]["title"];
  }
  EXPECT_NE(r.out.find("sink soar: "), std::string::npos) << r.out;
}

TEST_F(ReplayCli, UsageErrorsSayWhatIsWrong) {
  EXPECT_EQ(Replay({kSamples.string()}).exit_code, 2);
  const auto bad = Replay({"--db", (dir_ / "x.db").string(), "--since", "yesterday", kSamples.string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("'yesterday' is not an RFC 3339 time"), std::string::npos) << bad.err;
  const auto nodeliver = Replay({"--db", (dir_ / "x.db").string(), "--deliver", kSamples.string()});
  EXPECT_EQ(nodeliver.exit_code, 2);
  const auto missing = Replay({"--db", (dir_ / "x.db").string(), (dir_ / "nope").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no such file"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace cmkwatch
