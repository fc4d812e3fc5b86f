// `cmkwatch timeline` and `cmkwatch verify` as an operator runs them: a real
// timeline database written through the analyzer's Timeline from the real
// parsers' events, then the real binary run over it, before and after the
// file is tampered with through a plain sqlite3 connection.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cmkwatch/analyzer/timeline.h"
#include "cmkwatch/collector/reader.h"
#include "cmkwatch/common/time.h"
#include "test_support.h"

namespace cmkwatch {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q.push_back(c);
    }
  }
  return q + "'";
}

// Runs `cmkwatch <args...>` with stdout and stderr captured in files.
CliResult Cli(const std::vector<std::string>& args) {
  static std::atomic<int> counter{0};
  const fs::path dir =
      fs::temp_directory_path() / ("cmkwatch-tlcli-out-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::create_directories(dir);
  std::string cmd = CMKWATCH_CLI;
  for (const auto& a : args) cmd += " " + ShellQuote(a);
  cmd += " </dev/null >" + (dir / "stdout").string() + " 2>" + (dir / "stderr").string();
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = test::ReadFileOrFail(dir / "stdout");
  r.err = test::ReadFileOrFail(dir / "stderr");
  fs::remove_all(dir);
  return r;
}

std::vector<Json> JsonLines(const std::string& text) {
  std::vector<Json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json j = Json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

std::vector<std::string> TextLines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// Real events from the real parsers: the bundled samples and the fixtures.
const std::vector<Event>& SampleEvents() { return test::SampleAndFixtureEvents(); }

// Events in the order `timeline` must print them: event time, ties in
// insertion order.
std::vector<Event> InTimeOrder(std::vector<Event> events) {
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.time < b.time; });
  return events;
}

std::vector<Event> EventsOf(const std::string& resource_id) {
  std::vector<Event> out;
  for (const auto& e : SampleEvents()) {
    if (e.resource_id == resource_id) out.push_back(e);
  }
  return out;
}

// The resource with the most sample events: tampering needs several rows.
std::string BusiestResource() { return test::BusiestResource(SampleEvents()); }

std::vector<std::string> Ids(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.id);
  return out;
}

std::vector<std::string> Ids(const std::vector<Json>& lines) {
  std::vector<std::string> out;
  for (const auto& j : lines) out.push_back(j.value("id", ""));
  return out;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// What an operator (or an attacker) can do with the sqlite3 shell.
class RawDb {
 public:
  explicit RawDb(const fs::path& path) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    db_.reset(db);
    sqlite3_busy_timeout(db, 5000);
  }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << sql << ": " << err;
    sqlite3_free(err);
  }
  std::vector<int64_t> Ints(const std::string& sql, const std::string& text_param) {
    auto stmt = Prepare(sql);
    sqlite3_bind_text(stmt.get(), 1, text_param.data(), static_cast<int>(text_param.size()), SQLITE_TRANSIENT);
    std::vector<int64_t> out;
    while (sqlite3_step(stmt.get()) == SQLITE_ROW) out.push_back(sqlite3_column_int64(stmt.get(), 0));
    return out;
  }
  std::string Blob(const std::string& sql, int64_t seq) {
    auto stmt = Prepare(sql);
    sqlite3_bind_int64(stmt.get(), 1, seq);
    if (sqlite3_step(stmt.get()) != SQLITE_ROW) {
      ADD_FAILURE() << sql << " found no row " << seq;
      return "";
    }
    const void* p = sqlite3_column_blob(stmt.get(), 0);
    return p == nullptr ? ""
                        : std::string(static_cast<const char*>(p),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt.get(), 0)));
  }
  void SetBody(int64_t seq, const std::string& body) {
    auto stmt = Prepare("UPDATE events SET body = ?1 WHERE seq = ?2");
    sqlite3_bind_blob64(stmt.get(), 1, body.data(), body.size(), SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt.get(), 2, seq);
    EXPECT_EQ(sqlite3_step(stmt.get()), SQLITE_DONE) << sqlite3_errmsg(db_.get());
  }

 private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, Closer> Prepare(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &s, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_.get());
    return std::unique_ptr<sqlite3_stmt, Closer>(s);
  }
  std::unique_ptr<sqlite3, Closer> db_;
};

class TimelineVerifyCli : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("cmkwatch-tlcli-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir_);
    db_ = (dir_ / "timeline.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<analyzer::Timeline> OpenTimeline() {
    auto t = analyzer::Timeline::Open(db_, {});
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : nullptr;
  }
  void Store(analyzer::Timeline& t, const std::vector<Event>& events, uint64_t sequence) {
    wire::Batch batch;
    batch.collector_id = "collector-test";
    batch.sequence = sequence;
    batch.events = events;
    auto r = t.InsertBatch(batch, 1);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  // Every sample event, in batches of 20, then the file is closed.
  void StoreSamples() {
    auto t = OpenTimeline();
    ASSERT_TRUE(t);
    const auto& all = SampleEvents();
    ASSERT_GT(all.size(), 20u);
    uint64_t sequence = 1;
    for (size_t i = 0; i < all.size(); i += 20) {
      const auto end = all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), i + 20));
      ASSERT_NO_FATAL_FAILURE(Store(*t, std::vector<Event>(all.begin() + static_cast<std::ptrdiff_t>(i), end),
                                    sequence++));
    }
  }
  // A resource's rows in chain (insertion) order.
  std::vector<int64_t> ChainRows(const std::string& resource_id) {
    return RawDb(db_).Ints(
        "SELECT seq FROM events WHERE resource = (SELECT id FROM resources WHERE resource_id = ?1) ORDER BY seq",
        resource_id);
  }
  std::string EventIdOfRow(int64_t seq) { return RawDb(db_).Blob("SELECT event_id FROM events WHERE seq = ?1", seq); }

  // Runs verify (text, then --json) on a tampered file: both must fail with
  // exit 4 naming the resource, the row and its event.
  Json ExpectVerifyNames(const std::string& resource, int64_t seq, const std::string& problem) {
    const std::string event_id = EventIdOfRow(seq);
    EXPECT_FALSE(event_id.empty());
    const CliResult text = Cli({"verify", "--db", db_});
    EXPECT_EQ(text.exit_code, 4) << text.out << text.err;
    EXPECT_NE(text.out.find("BROKEN"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("resource " + resource), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("row " + std::to_string(seq) + " (event " + event_id + ")"), std::string::npos)
        << text.out;
    const CliResult json = Cli({"verify", "--db", db_, "--json"});
    EXPECT_EQ(json.exit_code, 4) << json.err;
    const auto lines = JsonLines(json.out);
    EXPECT_EQ(lines.size(), 1u) << json.out;
    if (lines.size() != 1) return Json();
    const Json& j = lines[0];
    EXPECT_EQ(j["intact"], false);
    EXPECT_EQ(j["problem"], problem) << j.dump();
    EXPECT_EQ(j["resource_id"], resource);
    EXPECT_EQ(j["seq"], seq);
    EXPECT_EQ(j["event_id"], event_id);
    return j;
  }

  fs::path dir_;
  std::string db_;
};

TEST_F(TimelineVerifyCli, OneResourceInEventTimeOrderAndNothingElse) {
  ASSERT_NO_FATAL_FAILURE(StoreSamples());
  const std::string resource = BusiestResource();
  const auto expected = InTimeOrder(EventsOf(resource));
  ASSERT_GE(expected.size(), 3u);

  const CliResult r = Cli({"timeline", "--db", db_, "--resource", resource, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = JsonLines(r.out);
  EXPECT_EQ(Ids(lines), Ids(expected));
  int64_t previous = INT64_MIN;
  for (const auto& j : lines) {
    EXPECT_EQ(j["resource_id"], resource);
    for (const char* field : {"id", "source", "time", "resource_kind", "operation", "status"}) {
      EXPECT_TRUE(j.contains(field)) << field << " missing in " << j.dump();
    }
    const auto t = ParseTimestamp(j.value("time", ""));
    ASSERT_TRUE(t) << j.dump();
    EXPECT_GE(*t, previous) << "out of time order: " << j.dump();
    previous = *t;
  }

  // The table for people: a header, then one row per event, same order,
  // starting with the RFC 3339 time; no resource column for one resource.
  const CliResult table = Cli({"timeline", "--db", db_, "--resource", resource});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  const auto rows = TextLines(table.out);
  ASSERT_EQ(rows.size(), expected.size() + 1) << table.out;
  EXPECT_EQ(rows[0].rfind("TIME", 0), 0u);
  EXPECT_EQ(rows[0].find("RESOURCE"), std::string::npos);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(rows[i + 1].rfind(FormatTimestamp(expected[i].time) + " ", 0), 0u) << rows[i + 1];
    EXPECT_NE(rows[i + 1].find(expected[i].operation), std::string::npos) << rows[i + 1];
    EXPECT_EQ(rows[i + 1].find(resource), std::string::npos) << rows[i + 1];
  }
}

TEST_F(TimelineVerifyCli, UpperCaseResourceIdAsAzurePrintsIt) {
  ASSERT_NO_FATAL_FAILURE(StoreSamples());
  const std::string resource = BusiestResource();
  const CliResult lower = Cli({"timeline", "--db", db_, "--resource", resource, "--json"});
  const CliResult upper = Cli({"timeline", "--db", db_, "--resource=" + Upper(resource) + "/", "--json"});
  ASSERT_EQ(upper.exit_code, 0) << upper.err;
  EXPECT_FALSE(JsonLines(upper.out).empty());
  EXPECT_EQ(upper.out, lower.out);
  EXPECT_EQ(upper.err.find("no events"), std::string::npos) << upper.err;

  const CliResult verify = Cli({"verify", "--db", db_, "--resource", Upper(resource), "--json"});
  ASSERT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  const Json j = Json::parse(verify.out);
  EXPECT_EQ(j["intact"], true);
  EXPECT_EQ(j["resources"], 1);
  EXPECT_EQ(j["events"], EventsOf(resource).size());
}

TEST_F(TimelineVerifyCli, AllResourcesTableNamesActorOutcomeAndResource) {
  ASSERT_NO_FATAL_FAILURE(StoreSamples());
  const CliResult r = Cli({"timeline", "--db", db_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = TextLines(r.out);
  ASSERT_EQ(rows.size(), SampleEvents().size() + 1);
  EXPECT_NE(rows[0].find("RESOURCE"), std::string::npos);
  // The samples' decisive moment (and the fixtures' like it): the account's
  // identity is refused the key. Each such event has its row, naming who,
  // from where, and which key.
  std::vector<const Event*> refused;
  for (const auto& e : SampleEvents()) {
    if (e.operation == "KeyUnwrap" && e.http_status == 403) refused.push_back(&e);
  }
  ASSERT_FALSE(refused.empty());
  size_t refused_rows = 0;
  for (const auto& row : rows) {
    if (row.find("KeyUnwrap") != std::string::npos && row.find("failed 403") != std::string::npos) ++refused_rows;
  }
  EXPECT_EQ(refused_rows, refused.size()) << r.out;
  for (const Event* e : refused) {
    const std::string who = !e->actor.upn.empty() ? e->actor.upn : e->actor.object_id;
    ASSERT_FALSE(who.empty());
    const auto row = std::find_if(rows.begin(), rows.end(), [&](const std::string& line) {
      return line.rfind(FormatTimestamp(e->time) + " ", 0) == 0 && line.find("KeyUnwrap") != std::string::npos &&
             line.find(" " + who) != std::string::npos && line.find(" " + e->resource_id) != std::string::npos &&
             (e->actor.ip.empty() || line.find(" " + e->actor.ip) != std::string::npos);
    });
    EXPECT_NE(row, rows.end()) << "no row for " << e->id << " by " << who << " in\n" << r.out;
  }
}

TEST_F(TimelineVerifyCli, SinceAndUntilFilterByEventTime) {
  ASSERT_NO_FATAL_FAILURE(StoreSamples());
  const auto all = InTimeOrder(SampleEvents());
  const int64_t since = all[all.size() / 4].time;
  const int64_t until = all[3 * all.size() / 4].time;
  ASSERT_LT(since, until);
  std::vector<Event> expected;
  for (const auto& e : all) {
    if (e.time >= since && e.time < until) expected.push_back(e);
  }
  ASSERT_LT(expected.size(), all.size());
  const CliResult r = Cli({"timeline", "--db", db_, "--since", FormatTimestamp(since), "--until=" + FormatTimestamp(until),
                     "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Ids(JsonLines(r.out)), Ids(expected));

  // A plain date is the whole UTC day, for --until too.
  const int64_t day = *ParseTimestamp("2026-03-02T00:00:00Z");
  expected.clear();
  for (const auto& e : all) {
    if (e.time >= day && e.time < day + 86'400 * kNanosPerSecond) expected.push_back(e);
  }
  ASSERT_FALSE(expected.empty());
  const CliResult d = Cli({"timeline", "--db", db_, "--since", "2026-03-02", "--until", "2026-03-02", "--json"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(Ids(JsonLines(d.out)), Ids(expected));

  // Nothing in range: no output, exit 0, a note on stderr.
  const CliResult none = Cli({"timeline", "--db", db_, "--since", "1990-01-01", "--until", "1990-01-02"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(TextLines(none.out).size(), 1u);  // the header only
  EXPECT_NE(none.err.find("no events match"), std::string::npos) << none.err;
}

TEST_F(TimelineVerifyCli, LimitCutsTheOutputAndSaysSo) {
  ASSERT_NO_FATAL_FAILURE(StoreSamples());
  const auto all = InTimeOrder(SampleEvents());
  const CliResult cut = Cli({"timeline", "--db", db_, "--limit", "3", "--json"});
  ASSERT_EQ(cut.exit_code, 0) << cut.err;
  EXPECT_EQ(Ids(JsonLines(cut.out)), Ids(std::vector<Event>(all.begin(), all.begin() + 3)));
  EXPECT_NE(cut.err.find("cut at --limit 3"), std::string::npos) << cut.err;

  // Exactly as many as match: nothing was cut, so nothing is said.
  const CliResult exact = Cli({"timeline", "--db", db_, "--limit", std::to_string(all.size()), "--json"});
  ASSERT_EQ(exact.exit_code, 0) << exact.err;
  EXPECT_EQ(JsonLines(exact.out).size(), all.size());
  EXPECT_EQ(exact.err.find("cut"), std::string::npos) << exact.err;
}

// More events than one page of the CLI's paged reads, in groups that share
// one timestamp across page boundaries: each event is printed exactly once,
// ties in insertion order.
TEST_F(TimelineVerifyCli, LongTimelinesWithTiesArePrintedWhole) {
  const Event model = EventsOf(BusiestResource()).front();
  std::vector<Event> events;
  constexpr size_t kEvents = 4'500;
  for (size_t i = 0; i < kEvents; ++i) {
    Event e = model;
    e.id = "tie-test:" + std::to_string(i);
    e.time = model.time + static_cast<int64_t>(i / 1'500) * kNanosPerSecond;
    events.push_back(std::move(e));
  }
  {
    auto t = OpenTimeline();
    ASSERT_TRUE(t);
    ASSERT_NO_FATAL_FAILURE(Store(*t, events, 1));
  }
  const CliResult r = Cli({"timeline", "--db", db_, "--resource", model.resource_id, "--json", "--limit", "1000000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Ids(JsonLines(r.out)), Ids(events));
  EXPECT_EQ(r.err.find("cut"), std::string::npos) << r.err;

  const CliResult cut = Cli({"timeline", "--db", db_, "--json", "--limit", "4499"});
  ASSERT_EQ(cut.exit_code, 0) << cut.err;
  EXPECT_EQ(Ids(JsonLines(cut.out)), Ids(std::vector<Event>(events.begin(), events.end() - 1)));
  EXPECT_NE(cut.err.find("cut at --limit 4499"), std::string::npos) << cut.err;
}

TEST_F(TimelineVerifyCli, VerifyCountsAnIntactTimelineWhileTheWriterKeepsItOpen) {
  ASSERT_NO_FATAL_FAILURE(StoreSamples());
  std::set<std::string> resources;
  for (const auto& e : SampleEvents()) resources.insert(e.resource_id);
  const size_t n = SampleEvents().size();

  // The analyzer keeps its connection open and goes on writing.
  auto writer = OpenTimeline();
  ASSERT_TRUE(writer);
  const CliResult r = Cli({"verify", "--db", db_});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("verify: intact: " + std::to_string(n) + " events in " + std::to_string(resources.size()) +
                       " resource chains"),
            std::string::npos)
      << r.out;

  Event late = SampleEvents().front();
  late.id = "late-event";
  ASSERT_NO_FATAL_FAILURE(Store(*writer, {late}, 1000));
  const CliResult j = Cli({"verify", "--db", db_, "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.out << j.err;
  const Json report = Json::parse(j.out);
  EXPECT_EQ(report["intact"], true);
  EXPECT_EQ(report["events"], n + 1);
  EXPECT_EQ(report["resources"], resources.size());
  EXPECT_FALSE(report.contains("problem"));
  // And the writer is undisturbed.
  late.id = "later-event";
  ASSERT_NO_FATAL_FAILURE(Store(*writer, {late}, 1001));
}

TEST_F(TimelineVerifyCli, AnEditedBodyIsNamed) {
  ASSERT_NO_FATAL_FAILURE(StoreSamples());
  const std::string resource = BusiestResource();
  const auto rows = ChainRows(resource);
  ASSERT_GE(rows.size(), 3u);
  {
    RawDb raw(db_);
    std::string body = raw.Blob("SELECT body FROM events WHERE seq = ?1", rows[1]);
    ASSERT_FALSE(body.empty());
    body[body.size() / 2] = static_cast<char>(body[body.size() / 2] ^ 0x20);
    raw.SetBody(rows[1], body);
  }
  ExpectVerifyNames(resource, rows[1], "altered_bytes");
  // Only that chain is broken: the others still verify one by one.
  for (const auto& e : SampleEvents()) {
    if (e.resource_id == resource) continue;
    EXPECT_EQ(Cli({"verify", "--db", db_, "--resource", e.resource_id}).exit_code, 0) << e.resource_id;
    break;
  }
  EXPECT_EQ(Cli({"verify", "--db", db_, "--resource", resource}).exit_code, 4);
}

TEST_F(TimelineVerifyCli, AnEditedIndexedColumnIsNamed) {
  ASSERT_NO_FATAL_FAILURE(StoreSamples());
  const std::string resource = BusiestResource();
  const auto rows = ChainRows(resource);
  ASSERT_GE(rows.size(), 3u);
  // Moving an event in time through the indexed column the queries use.
  RawDb(db_).Exec("UPDATE events SET time_ns = time_ns - 3600000000000 WHERE seq = " + std::to_string(rows[1]));
  const Json j = ExpectVerifyNames(resource, rows[1], "altered_columns");
  EXPECT_NE(j.value("detail", "").find("time_ns"), std::string::npos) << j.dump();
}

TEST_F(TimelineVerifyCli, ADeletedRowIsNamed) {
  ASSERT_NO_FATAL_FAILURE(StoreSamples());
  const std::string resource = BusiestResource();
  const auto rows = ChainRows(resource);
  ASSERT_GE(rows.size(), 3u);
  RawDb(db_).Exec("DELETE FROM events WHERE seq = " + std::to_string(rows[1]));
  // Named by the row whose predecessor is gone.
  ExpectVerifyNames(resource, rows[2], "missing_row");
}

TEST_F(TimelineVerifyCli, ReorderedRowsAreNamed) {
  ASSERT_NO_FATAL_FAILURE(StoreSamples());
  const std::string resource = BusiestResource();
  const auto rows = ChainRows(resource);
  ASSERT_GE(rows.size(), 3u);
  {
    // Two whole rows trade places: each stays consistent with its body.
    RawDb raw(db_);
    const std::string a = std::to_string(rows[1]), b = std::to_string(rows[2]);
    raw.Exec("UPDATE events SET seq = -1 WHERE seq = " + a);
    raw.Exec("UPDATE events SET seq = " + a + " WHERE seq = " + b);
    raw.Exec("UPDATE events SET seq = " + b + " WHERE seq = -1");
  }
  ExpectVerifyNames(resource, rows[1], "reordered_rows");
}

// An older schema: tests/cli/migrate_cli_test.cpp, on a file the older
// cmkwatch wrote.

TEST_F(TimelineVerifyCli, AMissingDatabaseIsAnErrorAndIsNotCreated) {
  const std::string missing = (dir_ / "no-such.db").string();
  for (const char* command : {"timeline", "verify"}) {
    const CliResult r = Cli({command, "--db", missing});
    EXPECT_EQ(r.exit_code, 1) << command;
    EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_FALSE(fs::exists(missing)) << command << " created " << missing;
  }
  // An empty file is not a timeline either, and stays empty.
  const std::string empty = (dir_ / "empty.db").string();
  { std::ofstream touch(empty); }
  for (const char* command : {"timeline", "verify"}) {
    const CliResult r = Cli({command, "--db", empty});
    EXPECT_EQ(r.exit_code, 1) << command;
    EXPECT_NE(r.err.find("empty"), std::string::npos) << r.err;
    EXPECT_EQ(fs::file_size(empty), 0u);
  }
  // A directory, and a SQLite file of something else.
  EXPECT_EQ(Cli({"verify", "--db", dir_.string()}).exit_code, 1);
  const std::string other = (dir_ / "other.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(other.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  const CliResult r = Cli({"timeline", "--db", other});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a cmkwatch timeline"), std::string::npos) << r.err;
}

TEST_F(TimelineVerifyCli, UnknownResourceForVerifyIsAnError) {
  ASSERT_NO_FATAL_FAILURE(StoreSamples());
  const CliResult r = Cli({"verify", "--db", db_, "--resource", "/subscriptions/none/resourcegroups/rg/x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no chain"), std::string::npos) << r.err;
}

TEST_F(TimelineVerifyCli, UsageErrorsExitTwo) {
  ASSERT_NO_FATAL_FAILURE(StoreSamples());
  const std::vector<std::vector<std::string>> bad = {
      {"timeline"},
      {"timeline", "--db"},
      {"timeline", "--db", db_, "--bogus"},
      {"timeline", "--db", db_, "extra"},
      {"timeline", "--db", db_, "--limit", "0"},
      {"timeline", "--db", db_, "--limit", "1000001"},
      {"timeline", "--db", db_, "--limit", "-5"},
      {"timeline", "--db", db_, "--limit", "ten"},
      {"timeline", "--db", db_, "--since", "yesterday"},
      {"timeline", "--db", db_, "--until", "2026-02-30"},
      {"timeline", "--db", db_, "--since", "2026-03-03", "--until", "2026-03-02"},
      {"timeline", "--db", db_, "--resource", "  /  "},
      {"verify"},
      {"verify", "--db", db_, "--resource"},
      {"verify", "--db", db_, "--since", "2026-03-02"},
  };
  for (const auto& args : bad) {
    const CliResult r = Cli(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("see --help"), std::string::npos) << joined << r.err;
  }
}

TEST_F(TimelineVerifyCli, HelpDocumentsEveryFlagAndTheExitCodes) {
  const CliResult t = Cli({"timeline", "--help"});
  EXPECT_EQ(t.exit_code, 0);
  for (const char* word : {"--db", "--resource", "--since", "--until", "--limit", "--json", "Exit status", "RFC 3339"}) {
    EXPECT_NE(t.out.find(word), std::string::npos) << word;
  }
  const CliResult v = Cli({"verify", "--help"});
  EXPECT_EQ(v.exit_code, 0);
  for (const char* word : {"--db", "--resource", "--json", "Exit status", " 4 "}) {
    EXPECT_NE(v.out.find(word), std::string::npos) << word;
  }
  const CliResult top = Cli({"--help"});
  EXPECT_NE(top.out.find("timeline"), std::string::npos);
  EXPECT_NE(top.out.find("verify"), std::string::npos);
}

}  // namespace
}  // namespace cmkwatch
