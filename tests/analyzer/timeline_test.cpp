// The analyzer's timeline over real SQLite files: idempotent batches, the
// per-resource hash chain, tamper detection through a second connection,
// retention, schema versioning and all-or-nothing batches.
#include "cmkwatch/analyzer/timeline.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>

#include "cmkwatch/collector/reader.h"
#include "cmkwatch/common/hash.h"
#include <nlohmann/json.hpp>
#include "test_support.h"

namespace cmkwatch::analyzer {
namespace {

// The totals of a result (the per-source split is checked where it matters).
BatchResult Totals(const BatchResult& r) { return {r.stored, r.duplicates, r.quarantined, r.resend}; }

namespace fs = std::filesystem;

// Real events from the real parsers: the bundled samples and the fixtures.
const std::vector<Event>& SampleEvents() { return test::SampleAndFixtureEvents(); }

wire::Batch MakeBatch(uint64_t sequence, std::vector<Event> events, std::string collector = "collector-1") {
  wire::Batch b;
  b.collector_id = std::move(collector);
  b.sequence = sequence;
  b.events = std::move(events);
  return b;
}

// The resource with the most sample events (the tamper tests need several).
std::string BusiestResource() { return test::BusiestResource(SampleEvents()); }

// A second, plain sqlite3 connection: what an operator (or attacker) with
// the sqlite3 shell can do to the file.
struct RawCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtCloser {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
class RawDb {
 public:
  explicit RawDb(const fs::path& path) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    db_.reset(db);
    sqlite3_busy_timeout(db, 5000);
  }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << sql << ": " << err;
    sqlite3_free(err);
  }
  // Column 0 of every row of `sql`, as bytes.
  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> out;
    auto stmt = Prepare(sql);
    while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
      const void* p = sqlite3_column_blob(stmt.get(), 0);
      const int n = sqlite3_column_bytes(stmt.get(), 0);
      out.emplace_back(p == nullptr ? "" : std::string(static_cast<const char*>(p), static_cast<size_t>(n)));
    }
    return out;
  }
  std::vector<int64_t> Ints(const std::string& sql) {
    std::vector<int64_t> out;
    auto stmt = Prepare(sql);
    while (sqlite3_step(stmt.get()) == SQLITE_ROW) out.push_back(sqlite3_column_int64(stmt.get(), 0));
    return out;
  }
  void SetBlob(const std::string& sql, const std::string& blob, int64_t seq) {
    auto stmt = Prepare(sql);
    sqlite3_bind_blob64(stmt.get(), 1, blob.data(), blob.size(), SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt.get(), 2, seq);
    EXPECT_EQ(sqlite3_step(stmt.get()), SQLITE_DONE) << sqlite3_errmsg(db_.get());
  }

 private:
  std::unique_ptr<sqlite3_stmt, StmtCloser> Prepare(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &s, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_.get());
    return std::unique_ptr<sqlite3_stmt, StmtCloser>(s);
  }
  std::unique_ptr<sqlite3, RawCloser> db_;
};

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out.push_back(c);
    if (c == '\'') out.push_back('\'');
  }
  return out + "'";
}

class TimelineTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("cmkwatch-timeline-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir_);
    path_ = dir_ / "timeline.db";
    options_.compress = GetParam();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::unique_ptr<Timeline> OpenOrFail() {
    auto t = Timeline::Open(path_.string(), options_);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : nullptr;
  }
  // Stores every sample event, in one batch per `per_batch` events.
  void StoreSamples(Timeline& t, size_t per_batch = 50) {
    const auto& all = SampleEvents();
    uint64_t seq = 1;
    for (size_t i = 0; i < all.size(); i += per_batch) {
      std::vector<Event> part(all.begin() + static_cast<std::ptrdiff_t>(i),
                              all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), i + per_batch)));
      auto r = t.InsertBatch(MakeBatch(seq++, std::move(part)), 1000);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
  }
  // Opens the file, stores every sample event and closes it again, so a test
  // can then tamper with the file through a second connection.
  void StoreSamplesAndClose() {
    auto t = OpenOrFail();
    ASSERT_TRUE(t);
    StoreSamples(*t);
  }
  // Row ids of a resource's chain, in chain order.
  std::vector<int64_t> ChainRows(const std::string& resource_id) {
    RawDb raw(path_);
    return raw.Ints("SELECT seq FROM events WHERE resource = (SELECT id FROM resources WHERE resource_id = " +
                    Quote(resource_id) + ") ORDER BY seq");
  }
  VerifyReport VerifyFails() {
    auto t = OpenOrFail();
    VerifyReport report;
    Status s = t->Verify(&report);
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
    EXPECT_NE(report.problem, ChainProblem::kNone);
    EXPECT_NE(s.message().find(report.resource_id), std::string::npos) << s.message();
    return report;
  }

  fs::path dir_;
  fs::path path_;
  TimelineOptions options_;
};

TEST_P(TimelineTest, StoredEventsReadBackEqualInEventTimeOrder) {
  const auto& all = SampleEvents();
  ASSERT_GT(all.size(), 50u);
  auto t = OpenOrFail();
  ASSERT_TRUE(t);
  StoreSamples(*t);

  std::map<std::string, std::vector<Event>> by_resource;
  for (const auto& e : all) by_resource[e.resource_id].push_back(e);
  for (auto& [resource_id, expected] : by_resource) {
    std::stable_sort(expected.begin(), expected.end(), [](const Event& a, const Event& b) { return a.time < b.time; });
    auto got = t->EventsFor(resource_id, INT64_MIN, INT64_MAX, kMaxQueryEvents);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, expected) << resource_id;
  }
  auto everything = t->EventsBetween(INT64_MIN, INT64_MAX, kMaxQueryEvents);
  ASSERT_TRUE(everything.ok());
  EXPECT_EQ(everything->size(), all.size());
  EXPECT_TRUE(std::is_sorted(everything->begin(), everything->end(),
                             [](const Event& a, const Event& b) { return a.time < b.time; }));
  auto limited = t->EventsBetween(INT64_MIN, INT64_MAX, 3);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 3u);
  EXPECT_TRUE(t->EventsBetween(0, 1, 0).status().IsInvalidArgument());

  auto stats = t->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, all.size());
  EXPECT_EQ(stats->resources, by_resource.size());
  EXPECT_EQ(stats->duplicates, 0u);

  VerifyReport report;
  Status s = t->Verify(&report);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.events, all.size());
  EXPECT_EQ(report.resources, by_resource.size());
  EXPECT_TRUE(t->Verify(BusiestResource(), &report).ok());
  EXPECT_TRUE(t->Verify("/subscriptions/none", &report).IsNotFound());
}

// The chain is exactly the documented one, recomputed here independently:
// per resource, in insertion order, SHA-256(prev || EncodeEvent(e)) from 32
// zero bytes; and it carries on across a close and reopen. Each row names
// its predecessor's seq, its resource by key, and its id's dedup key.
TEST_P(TimelineTest, ChainIsTheDocumentedOneAndContinuesAfterReopen) {
  const auto& all = SampleEvents();
  const size_t half = all.size() / 2;
  {
    auto t = OpenOrFail();
    ASSERT_TRUE(t);
    ASSERT_TRUE(t->InsertBatch(MakeBatch(1, {all.begin(), all.begin() + static_cast<std::ptrdiff_t>(half)}), 1).ok());
  }
  {
    auto t = OpenOrFail();
    ASSERT_TRUE(t);
    auto stats = t->Stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->events, half);
    auto r = t->InsertBatch(MakeBatch(2, {all.begin() + static_cast<std::ptrdiff_t>(half), all.end()}), 2);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->stored, all.size() - half);
    Status s = t->Verify(nullptr);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  std::map<std::string, std::string> prev;
  std::map<std::string, int64_t> prev_seq;
  std::vector<std::string> expected_hash, expected_ids, expected_resources;
  std::vector<int64_t> expected_prev_seq, expected_keys;
  int64_t seq = 0;
  for (const auto& e : all) {
    ++seq;  // every sample event is distinct: rows 1..n in insertion order
    auto [it, fresh] = prev.try_emplace(e.resource_id, std::string(32, '\0'));
    const Sha256Digest d = Sha256(it->second + wire::EncodeEvent(e));
    it->second.assign(reinterpret_cast<const char*>(d.data()), d.size());
    expected_hash.push_back(it->second);
    expected_prev_seq.push_back(prev_seq[e.resource_id]);
    prev_seq[e.resource_id] = seq;
    expected_ids.push_back(e.id);
    expected_resources.push_back(e.resource_id);
    const Sha256Digest k = Sha256(e.id);
    uint64_t key = 0;
    for (size_t i = 0; i < 8; ++i) key = (key << 8) | k[i];
    expected_keys.push_back(static_cast<int64_t>(key));
  }
  RawDb raw(path_);
  EXPECT_EQ(raw.Ints("SELECT seq FROM events ORDER BY seq").back(), seq);
  EXPECT_EQ(raw.Ints("SELECT prev_seq FROM events ORDER BY seq"), expected_prev_seq);
  EXPECT_EQ(raw.Column("SELECT hash FROM events ORDER BY seq"), expected_hash);
  EXPECT_EQ(raw.Column("SELECT event_id FROM events ORDER BY seq"), expected_ids);
  EXPECT_EQ(raw.Ints("SELECT event_key FROM events ORDER BY seq"), expected_keys);
  EXPECT_EQ(raw.Column("SELECT r.resource_id FROM events e JOIN resources r ON r.id = e.resource ORDER BY e.seq"),
            expected_resources);
  // The head of each chain is its last row.
  for (const auto& [resource_id, hash] : prev) {
    EXPECT_EQ(raw.Column("SELECT last_hash FROM resources WHERE resource_id = " + Quote(resource_id)),
              std::vector<std::string>{hash});
    EXPECT_EQ(raw.Ints("SELECT last_seq FROM resources WHERE resource_id = " + Quote(resource_id)),
              std::vector<int64_t>{prev_seq[resource_id]});
  }
  EXPECT_EQ(raw.Column("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
}

TEST_P(TimelineTest, DuplicatesAreStoredOnceAndCounted) {
  const auto& all = SampleEvents();
  auto t = OpenOrFail();
  ASSERT_TRUE(t);
  auto r = t->InsertBatch(MakeBatch(1, {all[0], all[1], all[0], all[0]}), 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Totals(*r), (BatchResult{2, 2, 0, false}));
  r = t->InsertBatch(MakeBatch(2, {all[1], all[2]}), 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Totals(*r), (BatchResult{1, 1, 0, false}));
  // Another collector sending the same event is a duplicate too.
  r = t->InsertBatch(MakeBatch(1, {all[2]}, "collector-2"), 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Totals(*r), (BatchResult{0, 1, 0, false}));

  auto stats = t->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, 3u);
  EXPECT_EQ(stats->duplicates, 4u);
  EXPECT_EQ(stats->batches, 3u);
  EXPECT_EQ(stats->collectors, 2u);
  EXPECT_TRUE(t->Verify(nullptr).ok());  // duplicates did not move any chain
}

TEST_P(TimelineTest, ResendOfACommittedBatchIsRecognized) {
  const auto& all = SampleEvents();
  auto t = OpenOrFail();
  ASSERT_TRUE(t);
  wire::Batch batch = MakeBatch(5, {all[0], all[1], all[2]});
  batch.quarantined.push_back({"/logs/PT1H.json", 1234, 7, "kvaudit", "malformed JSON in record"});
  auto first = t->InsertBatch(batch, 1);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Totals(*first), (BatchResult{3, 0, 1, false}));

  // Split by source for the per-source metrics: the split adds up.
  std::array<uint64_t, 4> by_source{};
  for (const Event* e : {&all[0], &all[1], &all[2]}) ++by_source[static_cast<size_t>(e->source)];
  EXPECT_EQ(first->stored_by_source, by_source);

  auto again = t->InsertBatch(batch, 2);  // the collector never saw the ack
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Totals(*again), (BatchResult{0, 3, 0, true}));
  EXPECT_EQ(again->duplicates_by_source, by_source);
  batch.sequence = 4;  // older than the last committed one
  auto older = t->InsertBatch(batch, 3);
  ASSERT_TRUE(older.ok());
  EXPECT_TRUE(older->resend);
  auto newer = t->InsertBatch(MakeBatch(6, {all[3]}), 4);
  ASSERT_TRUE(newer.ok());
  EXPECT_EQ(Totals(*newer), (BatchResult{1, 0, 0, false}));

  // A resend after a restart of the analyzer is recognized too.
  t.reset();
  t = OpenOrFail();
  ASSERT_TRUE(t);
  auto after_restart = t->InsertBatch(MakeBatch(6, {all[3]}), 5);
  ASSERT_TRUE(after_restart.ok());
  EXPECT_TRUE(after_restart->resend);
  auto stats = t->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, 4u);
  EXPECT_EQ(stats->quarantined, 1u);
}

TEST_P(TimelineTest, QuarantineEntriesAreStored) {
  auto t = OpenOrFail();
  ASSERT_TRUE(t);
  wire::Batch batch = MakeBatch(1, {});
  batch.quarantined.push_back({"/logs/a/PT1H.json", 0, 1, "activity", "record is not JSON"});
  batch.quarantined.push_back({"-", 4096, 12, "unknown", "no known format matches"});
  auto r = t->InsertBatch(batch, 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->quarantined, 2u);
  auto q = t->Quarantined(10);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, batch.quarantined);
  // The same entries from a collector whose sequence restarted: not twice.
  batch.collector_id = "collector-1";
  batch.sequence = 100;
  r = t->InsertBatch(batch, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->quarantined, 0u);
  ASSERT_TRUE(t->Quarantined(10).ok());
  EXPECT_EQ(t->Quarantined(10)->size(), 2u);
}

TEST_P(TimelineTest, VerifyNamesAnAlteredByte) {
  ASSERT_NO_FATAL_FAILURE(StoreSamplesAndClose());
  const std::string resource = BusiestResource();
  const auto rows = ChainRows(resource);
  ASSERT_GE(rows.size(), 3u);
  const int64_t victim = rows[1];
  {
    RawDb raw(path_);
    std::string body = raw.Column("SELECT body FROM events WHERE seq = " + std::to_string(victim)).at(0);
    body[body.size() / 2] = static_cast<char>(body[body.size() / 2] ^ 0x01);
    raw.SetBlob("UPDATE events SET body = ?1 WHERE seq = ?2", body, victim);
  }
  const VerifyReport report = VerifyFails();
  EXPECT_EQ(report.problem, ChainProblem::kAlteredBytes) << report.detail;
  EXPECT_EQ(report.resource_id, resource);
  EXPECT_EQ(report.seq, victim);
}

TEST_P(TimelineTest, VerifyNamesARemovedRow) {
  ASSERT_NO_FATAL_FAILURE(StoreSamplesAndClose());
  const std::string resource = BusiestResource();
  const auto rows = ChainRows(resource);
  ASSERT_GE(rows.size(), 3u);
  RawDb(path_).Exec("DELETE FROM events WHERE seq = " + std::to_string(rows[1]));
  const VerifyReport report = VerifyFails();
  EXPECT_EQ(report.problem, ChainProblem::kMissingRow) << report.detail;
  EXPECT_EQ(report.resource_id, resource);
  EXPECT_EQ(report.seq, rows[2]);  // the row whose predecessor is gone
}

TEST_P(TimelineTest, VerifyNamesARemovedLastRowAndAnEditedHead) {
  ASSERT_NO_FATAL_FAILURE(StoreSamplesAndClose());
  const std::string resource = BusiestResource();
  const auto rows = ChainRows(resource);
  RawDb(path_).Exec("DELETE FROM events WHERE seq = " + std::to_string(rows.back()));
  VerifyReport report = VerifyFails();
  EXPECT_EQ(report.problem, ChainProblem::kHeadMismatch) << report.detail;
  EXPECT_EQ(report.resource_id, resource);
}

TEST_P(TimelineTest, VerifyNamesAnEditedChainHead) {
  ASSERT_NO_FATAL_FAILURE(StoreSamplesAndClose());
  const std::string resource = BusiestResource();
  RawDb(path_).Exec("UPDATE resources SET length = length + 1 WHERE resource_id = " + Quote(resource));
  VerifyReport report = VerifyFails();
  EXPECT_EQ(report.problem, ChainProblem::kHeadMismatch) << report.detail;
  EXPECT_EQ(report.resource_id, resource);
  EXPECT_EQ(report.seq, 0);
}

TEST_P(TimelineTest, VerifyNamesSwappedBodies) {
  ASSERT_NO_FATAL_FAILURE(StoreSamplesAndClose());
  const std::string resource = BusiestResource();
  const auto rows = ChainRows(resource);
  ASSERT_GE(rows.size(), 3u);
  {
    RawDb raw(path_);
    const std::string a = std::to_string(rows[0]), b = std::to_string(rows[2]);
    // Swap body and its size together, so each body still decodes.
    raw.Exec("CREATE TEMP TABLE t AS SELECT seq, body, body_size FROM events WHERE seq IN (" + a + "," + b + ")");
    raw.Exec("UPDATE events SET body = (SELECT body FROM t WHERE t.seq = " + b + "), body_size = (SELECT body_size "
             "FROM t WHERE t.seq = " + b + ") WHERE seq = " + a);
    raw.Exec("UPDATE events SET body = (SELECT body FROM t WHERE t.seq = " + a + "), body_size = (SELECT body_size "
             "FROM t WHERE t.seq = " + a + ") WHERE seq = " + b);
  }
  const VerifyReport report = VerifyFails();
  EXPECT_EQ(report.problem, ChainProblem::kReorderedRows) << report.detail;
  EXPECT_EQ(report.resource_id, resource);
  EXPECT_EQ(report.seq, rows[0]);
}

TEST_P(TimelineTest, VerifyNamesReorderedRows) {
  ASSERT_NO_FATAL_FAILURE(StoreSamplesAndClose());
  const std::string resource = BusiestResource();
  const auto rows = ChainRows(resource);
  ASSERT_GE(rows.size(), 3u);
  {
    // Whole rows trade places: every column stays consistent with its body.
    RawDb raw(path_);
    const std::string a = std::to_string(rows[1]), b = std::to_string(rows[2]);
    raw.Exec("UPDATE events SET seq = -1 WHERE seq = " + a);
    raw.Exec("UPDATE events SET seq = " + a + " WHERE seq = " + b);
    raw.Exec("UPDATE events SET seq = " + b + " WHERE seq = -1");
  }
  const VerifyReport report = VerifyFails();
  EXPECT_EQ(report.problem, ChainProblem::kReorderedRows) << report.detail;
  EXPECT_EQ(report.resource_id, resource);
  EXPECT_EQ(report.seq, rows[1]);
}

TEST_P(TimelineTest, VerifyNamesAnEditedColumn) {
  ASSERT_NO_FATAL_FAILURE(StoreSamplesAndClose());
  const std::string resource = BusiestResource();
  const auto rows = ChainRows(resource);
  RawDb(path_).Exec("UPDATE events SET time_ns = time_ns + 1 WHERE seq = " + std::to_string(rows[1]));
  const VerifyReport report = VerifyFails();
  EXPECT_EQ(report.problem, ChainProblem::kAlteredColumns) << report.detail;
  EXPECT_EQ(report.seq, rows[1]);
  EXPECT_NE(report.detail.find("time_ns"), std::string::npos);
}

TEST_P(TimelineTest, PruneKeepsChainsVerifiable) {
  std::vector<Event> all = SampleEvents();
  // In event-time order, so every event older than the cutoff is in its
  // chain's prunable prefix.
  std::stable_sort(all.begin(), all.end(), [](const Event& a, const Event& b) { return a.time < b.time; });
  const int64_t cutoff = all[all.size() / 2].time;
  const auto older = static_cast<uint64_t>(
      std::count_if(all.begin(), all.end(), [&](const Event& e) { return e.time < cutoff; }));
  ASSERT_GT(older, 0u);
  auto t = OpenOrFail();
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->InsertBatch(MakeBatch(1, all), 1).ok());

  auto pruned = t->PruneBefore(cutoff);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, older);
  VerifyReport report;
  Status s = t->Verify(&report);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.events, all.size() - older);
  auto gone = t->EventsBetween(INT64_MIN, cutoff, kMaxQueryEvents);
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(gone->empty());
  auto kept = t->EventsBetween(cutoff, INT64_MAX, kMaxQueryEvents);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->size(), all.size() - older);
  auto stats = t->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, all.size() - older);
  EXPECT_EQ(stats->pruned, older);

  // Pruning everything, then storing again: chains go on from their anchors.
  ASSERT_TRUE(t->PruneBefore(INT64_MAX).ok());
  EXPECT_TRUE(t->Verify(nullptr).ok());
  Event late = all.front();
  late.id = "late-event-1";
  ASSERT_TRUE(t->InsertBatch(MakeBatch(2, {late}), 2).ok());
  s = t->Verify(nullptr);
  EXPECT_TRUE(s.ok()) << s.ToString();

  // The anchor is part of the chain: removing it is noticed.
  t.reset();
  RawDb(path_).Exec("DELETE FROM chain_anchors WHERE resource = (SELECT id FROM resources WHERE resource_id = " +
                    Quote(late.resource_id) + ")");
  report = VerifyFails();
  EXPECT_EQ(report.resource_id, late.resource_id);
  EXPECT_EQ(report.event_id, "late-event-1");
}

TEST_P(TimelineTest, NewerSchemaIsRefused) {
  ASSERT_TRUE(OpenOrFail());
  RawDb(path_).Exec("PRAGMA user_version = 99");
  auto t = Timeline::Open(path_.string(), options_);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(t.status().IsUnsupported()) << t.status().ToString();
  EXPECT_NE(t.status().message().find("version 99"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("newer"), std::string::npos) << t.status().message();
}

// --- a timeline of schema 1, as the cmkwatch of that schema wrote it --------
// (tests/upgrade/timeline-v1/README.md: 150 events in 6 chains after a
// retention prune of 2250; the last seq handed out was 2400)

// The fixture, unpacked to `to`.
void UnpackVersion1Timeline(const fs::path& to) {
  const fs::path gz = fs::path(CMKWATCH_SOURCE_DIR) / "tests/upgrade/timeline-v1/timeline-v1.db.gz";
  gzFile in = gzopen(gz.c_str(), "rb");
  ASSERT_NE(in, nullptr) << gz;
  std::ofstream out(to, std::ios::binary);
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(in, buf, sizeof buf)) > 0) out.write(buf, n);
  EXPECT_EQ(n, 0) << "reading " << gz;
  gzclose(in);
}

std::string FileBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The reading tools must not change a file someone may hold as evidence: an
// older schema is refused, byte for byte untouched, naming what to run.
TEST_P(TimelineTest, AnOlderSchemaIsRefusedUnchangedUnlessMigrationIsAskedFor) {
  ASSERT_NO_FATAL_FAILURE(UnpackVersion1Timeline(path_));
  const std::string before = FileBytes(path_);
  auto t = Timeline::Open(path_.string(), options_);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(t.status().IsUnsupported()) << t.status().ToString();
  EXPECT_NE(t.status().message().find("version 1"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("cmkwatch migrate --db"), std::string::npos) << t.status().message();
  EXPECT_EQ(FileBytes(path_), before);
}

// The upgrade a deployed analyzer goes through: every row, anchor and head
// carried over, the chains verify, and the events read back are the ones
// that cmkwatch showed (its `timeline --json` output, kept beside the file).
TEST_P(TimelineTest, AVersion1TimelineMigratesWithEveryEventAndItsChainsIntact) {
  ASSERT_NO_FATAL_FAILURE(UnpackVersion1Timeline(path_));
  options_.migrate = true;
  auto t = OpenOrFail();
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->migration().has_value());
  EXPECT_EQ(t->migration()->from, 1);
  EXPECT_EQ(t->migration()->to, kSchemaVersion);
  EXPECT_EQ(t->migration()->events, 150u);
  VerifyReport report;
  Status s = t->Verify(&report);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.events, 150u);
  EXPECT_EQ(report.resources, 6u);
  auto stats = t->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, 150u);
  EXPECT_EQ(stats->pruned, 2250u) << "the anchors came along";

  // The same events as the old version printed, field by field.
  std::vector<std::string> expected, got;
  {
    const fs::path gz = fs::path(CMKWATCH_SOURCE_DIR) / "tests/upgrade/timeline-v1/timeline-v1.jsonl.gz";
    gzFile in = gzopen(gz.c_str(), "rb");
    ASSERT_NE(in, nullptr);
    char line[1 << 16];
    while (gzgets(in, line, sizeof line) != nullptr) {
      const auto j = nlohmann::json::parse(line);
      expected.push_back(j.at("id").get<std::string>() + " " + j.at("resource_id").get<std::string>() + " " +
                         j.at("operation").get<std::string>() + " " + std::to_string(j.at("http_status").get<int>()));
    }
    gzclose(in);
  }
  auto events = t->EventsBetween(0, std::numeric_limits<int64_t>::max(), kMaxQueryEvents);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  for (const Event& e : *events) {
    got.push_back(e.id + " " + e.resource_id + " " + e.operation + " " + std::to_string(e.http_status));
  }
  EXPECT_EQ(got, expected);
  t.reset();

  RawDb raw(path_);
  EXPECT_EQ(raw.Ints("PRAGMA user_version"), std::vector<int64_t>{kSchemaVersion});
  EXPECT_EQ(raw.Ints("SELECT seq FROM sqlite_sequence WHERE name = 'events'"), std::vector<int64_t>{2400})
      << "a pruned seq is never handed out again";
  EXPECT_EQ(raw.Ints("SELECT count(*) FROM sqlite_schema WHERE name IN ('events_v1', 'chain_anchors_v1', "
                     "'chain_heads')"),
            std::vector<int64_t>{0});
  EXPECT_EQ(raw.Ints("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN "
                     "('events_by_key', 'events_by_resource_time')"),
            std::vector<int64_t>{2});
}

// After the upgrade the file is an ordinary timeline: a resend of an event
// stored by the old version is known (the dedup key was computed for every
// migrated row), a new event extends its resource's old chain, and a second
// open migrates nothing.
TEST_P(TimelineTest, AMigratedTimelineKnowsItsOldEventsAndExtendsItsOldChains) {
  ASSERT_NO_FATAL_FAILURE(UnpackVersion1Timeline(path_));
  options_.migrate = true;
  auto t = OpenOrFail();
  ASSERT_TRUE(t);
  auto old = t->EventsBetween(0, std::numeric_limits<int64_t>::max(), 10);
  ASSERT_TRUE(old.ok());
  ASSERT_FALSE(old->empty());
  Event resent = old->front();
  Event fresh = old->front();
  fresh.id = "after-the-migration-1";
  fresh.raw = "{}";
  auto r = t->InsertBatch(MakeBatch(1, {resent, fresh}, "upgraded-collector"), 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->stored, 1u);
  EXPECT_EQ(r->duplicates, 1u);
  VerifyReport report;
  Status s = t->Verify(&report);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.events, 151u);
  t.reset();
  EXPECT_GT(RawDb(path_).Ints("SELECT seq FROM events WHERE event_id = 'after-the-migration-1'"),
            std::vector<int64_t>{2400});
  auto again = OpenOrFail();
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->migration().has_value());
}

// A migration must not launder tampering: a row removed, or a body edited,
// in the old file is found by verify in the migrated one.
TEST_P(TimelineTest, TamperingBeforeTheMigrationIsFoundAfterIt) {
  for (const bool remove : {true, false}) {
    SCOPED_TRACE(remove ? "a row removed" : "a body edited");
    fs::remove(path_);
    ASSERT_NO_FATAL_FAILURE(UnpackVersion1Timeline(path_));
    const std::string busiest = RawDb(path_).Column(
        "SELECT resource_id FROM events GROUP BY resource_id ORDER BY count(*) DESC LIMIT 1")[0];
    const auto seqs = RawDb(path_).Ints("SELECT seq FROM events WHERE resource_id = " + Quote(busiest) +
                                        " ORDER BY seq");
    ASSERT_GE(seqs.size(), 3u);
    const int64_t victim = seqs[seqs.size() / 2];
    if (remove) {
      RawDb(path_).Exec("DELETE FROM events WHERE seq = " + std::to_string(victim));
    } else {
      std::string body = RawDb(path_).Column("SELECT body FROM events WHERE seq = " + std::to_string(victim))[0];
      body.back() = static_cast<char>(body.back() ^ 0x01);
      RawDb(path_).SetBlob("UPDATE events SET body = ?1 WHERE seq = ?2", body, victim);
    }
    options_.migrate = true;
    {
      auto t = OpenOrFail();
      ASSERT_TRUE(t);
    }
    options_.migrate = false;
    const VerifyReport report = VerifyFails();
    EXPECT_EQ(report.resource_id, busiest);
    EXPECT_EQ(report.problem, remove ? ChainProblem::kMissingRow : ChainProblem::kAlteredBytes) << report.detail;
    EXPECT_EQ(report.seq, remove ? seqs[seqs.size() / 2 + 1] : victim);
  }
}

// Refused or failed half way, the migration leaves the old file as it was:
// rows naming a resource without a chain head are refused before anything
// changes; a name clash makes it fail after the old tables were renamed,
// and the transaction takes every step back.
TEST_P(TimelineTest, AFailedMigrationLeavesTheOldFileAsItWas) {
  options_.migrate = true;
  ASSERT_NO_FATAL_FAILURE(UnpackVersion1Timeline(path_));
  RawDb(path_).Exec("DELETE FROM chain_heads WHERE resource_id IN (SELECT resource_id FROM events LIMIT 1)");
  auto orphan = Timeline::Open(path_.string(), options_);
  ASSERT_FALSE(orphan.ok());
  EXPECT_TRUE(orphan.status().IsCorruption()) << orphan.status().ToString();
  EXPECT_NE(orphan.status().message().find("file is unchanged"), std::string::npos) << orphan.status().message();
  EXPECT_EQ(RawDb(path_).Ints("PRAGMA user_version"), std::vector<int64_t>{1});

  fs::remove(path_);
  ASSERT_NO_FATAL_FAILURE(UnpackVersion1Timeline(path_));
  RawDb(path_).Exec("CREATE TABLE resources (x)");
  auto clash = Timeline::Open(path_.string(), options_);
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.status().message().find("file is unchanged"), std::string::npos) << clash.status().message();
  RawDb raw(path_);
  EXPECT_EQ(raw.Ints("PRAGMA user_version"), std::vector<int64_t>{1});
  EXPECT_EQ(raw.Ints("SELECT count(*) FROM events WHERE resource_id IN (SELECT resource_id FROM chain_heads)"),
            std::vector<int64_t>{150});
  EXPECT_EQ(raw.Ints("SELECT count(*) FROM sqlite_schema WHERE name IN ('events_v1', 'chain_anchors_v1')"),
            std::vector<int64_t>{0});
}

// The resource key is an indexed column like the others: pointing a row at
// another resource, renaming a resource or editing a dedup key is named.
TEST_P(TimelineTest, VerifyNamesAnEditedResourceOrEventKey) {
  ASSERT_NO_FATAL_FAILURE(StoreSamplesAndClose());
  const std::string resource = BusiestResource();
  const auto rows = ChainRows(resource);
  ASSERT_GE(rows.size(), 3u);
  {
    RawDb(path_).Exec("UPDATE resources SET resource_id = resource_id || 'x' WHERE resource_id = " +
                      Quote(resource));
    const VerifyReport report = VerifyFails();
    EXPECT_EQ(report.problem, ChainProblem::kAlteredColumns) << report.detail;
    EXPECT_EQ(report.seq, rows[0]);
    EXPECT_NE(report.detail.find("resource"), std::string::npos) << report.detail;
    RawDb(path_).Exec("UPDATE resources SET resource_id = " + Quote(resource) + " WHERE resource_id = " +
                      Quote(resource + "x"));
  }
  {
    RawDb(path_).Exec("UPDATE events SET event_key = event_key + 1 WHERE seq = " + std::to_string(rows[1]));
    const VerifyReport report = VerifyFails();
    EXPECT_EQ(report.problem, ChainProblem::kAlteredColumns) << report.detail;
    EXPECT_EQ(report.seq, rows[1]);
    EXPECT_NE(report.detail.find("event_key"), std::string::npos) << report.detail;
    RawDb(path_).Exec("UPDATE events SET event_key = event_key - 1 WHERE seq = " + std::to_string(rows[1]));
  }
  {
    auto t = OpenOrFail();
    ASSERT_TRUE(t);
    EXPECT_TRUE(t->Verify(nullptr).ok());  // both edits undone: intact again
  }
  // A resource's entry removed: its rows name a resource nobody holds.
  RawDb(path_).Exec("DELETE FROM resources WHERE resource_id = " + Quote(resource));
  const VerifyReport report = VerifyFails();
  EXPECT_EQ(report.problem, ChainProblem::kHeadMismatch) << report.detail;
  EXPECT_EQ(report.seq, rows[0]);
}

// Two writers on one file, one after the other (an analyzer restarted while
// the old one still had it open, or `cmkwatch` replaying into it): each
// notices the other's commits and chains on from them, not from the heads
// it had cached.
TEST_P(TimelineTest, AWriterNoticesAnotherWritersCommits) {
  const auto& all = SampleEvents();
  ASSERT_GE(all.size(), 8u);
  auto a = OpenOrFail();
  auto b = OpenOrFail();
  ASSERT_TRUE(a && b);
  uint64_t seq = 1;
  for (size_t i = 0; i < all.size(); ++i) {
    Timeline& writer = (i / 3) % 2 == 0 ? *a : *b;
    auto r = writer.InsertBatch(MakeBatch(seq++, {all[i], all[i]}), 1);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(Totals(*r), (BatchResult{1, 1, 0, false})) << i;
  }
  // Each writer recognizes what the other one stored.
  auto again = a->InsertBatch(MakeBatch(seq++, all), 2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->duplicates, all.size());
  VerifyReport report;
  Status s = b->Verify(&report);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.events, all.size());
}

// A refused batch leaves no trace in the writer's cache either: the
// resources it would have created, and the heads it moved, are rolled back
// with it, and the next batch chains from what was committed.
TEST_P(TimelineTest, ARefusedBatchLeavesTheCacheAsCommitted) {
  const auto& all = SampleEvents();
  options_.max_event_bytes = 64 * 1024;
  auto t = OpenOrFail();
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->InsertBatch(MakeBatch(1, {all[0], all[1]}), 1).ok());
  Event huge = all[3];
  huge.id = "huge-event";
  huge.raw.assign(100 * 1024, 'x');
  EXPECT_TRUE(t->InsertBatch(MakeBatch(2, {all[2], all[4], all[0], huge}), 2).status().IsLimitExceeded());
  ASSERT_TRUE(t->InsertBatch(MakeBatch(2, {all[2], all[4], all[5]}), 3).ok());
  VerifyReport report;
  Status s = t->Verify(&report);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.events, 5u);
}

TEST_P(TimelineTest, OtherFilesAreRefused) {
  RawDb(path_).Exec("CREATE TABLE something_else (x)");
  auto t = Timeline::Open(path_.string(), options_);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(t.status().IsInvalidArgument()) << t.status().ToString();
  EXPECT_NE(t.status().message().find("not a cmkwatch timeline"), std::string::npos);

  const fs::path text = dir_ / "notes.txt";
  {
    std::FILE* f = std::fopen(text.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("this is not a database, just some text that is long enough to have a header\n", f);
    std::fclose(f);
  }
  t = Timeline::Open(text.string(), options_);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(t.status().IsInvalidArgument()) << t.status().ToString();
}

TEST_P(TimelineTest, AFailedBatchLeavesNothingBehind) {
  const auto& all = SampleEvents();
  options_.max_event_bytes = 64 * 1024;
  auto t = OpenOrFail();
  ASSERT_TRUE(t);
  Event huge = all[5];
  huge.id = "huge-event";
  huge.raw.assign(100 * 1024, 'x');
  wire::Batch batch = MakeBatch(1, {all[0], all[1], huge, all[2]});
  batch.quarantined.push_back({"/logs/PT1H.json", 1, 1, "kvaudit", "bad"});
  auto r = t->InsertBatch(batch, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsLimitExceeded()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("huge-event"), std::string::npos) << r.status().message();

  auto stats = t->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, 0u);
  EXPECT_EQ(stats->resources, 0u);
  EXPECT_EQ(stats->quarantined, 0u);
  EXPECT_EQ(stats->batches, 0u);
  {
    RawDb raw(path_);
    EXPECT_EQ(raw.Ints("SELECT count(*) FROM events"), std::vector<int64_t>{0});
    EXPECT_EQ(raw.Ints("SELECT count(*) FROM resources"), std::vector<int64_t>{0});
    EXPECT_EQ(raw.Ints("SELECT count(*) FROM collectors"), std::vector<int64_t>{0});
  }
  // The same sequence without the oversized event is new, not a resend, and
  // the connection is still usable.
  batch.events.erase(batch.events.begin() + 2);
  r = t->InsertBatch(batch, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Totals(*r), (BatchResult{3, 0, 1, false}));
  EXPECT_TRUE(t->Verify(nullptr).ok());
}

TEST_P(TimelineTest, OptionsAreChecked) {
  options_.max_event_bytes = 0;
  EXPECT_TRUE(Timeline::Open(path_.string(), options_).status().IsInvalidArgument());
  options_ = {};
  options_.compression_level = 10;
  EXPECT_TRUE(Timeline::Open(path_.string(), options_).status().IsInvalidArgument());
  options_ = {};
  options_.bulk_commit_events = 0;
  EXPECT_TRUE(Timeline::Open(path_.string(), options_).status().IsInvalidArgument());
  options_ = {};
  options_.bulk_ids_unique = true;  // a promise about a bulk load, without one
  EXPECT_TRUE(Timeline::Open(path_.string(), options_).status().IsInvalidArgument());
}

// Many distinct events, as a busy vault produces them: the sample events
// with their ids and correlation ids numbered.
std::vector<Event> ManyEvents(size_t n) {
  const auto& all = SampleEvents();
  std::vector<Event> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    Event e = all[i % all.size()];
    e.id += "-" + std::to_string(i);
    e.correlation_id = "corr-" + std::to_string(i);
    e.time += static_cast<int64_t>(i) * 1000;
    out.push_back(std::move(e));
  }
  return out;
}

// Past the first 2000 bodies the timeline trains a zstd dictionary, stores
// it in the file, and compresses against it: what it stores must read back
// identical after a reopen (dictionary loaded from the file), verify, and
// be much smaller than the same events stored plainly.
TEST_P(TimelineTest, ADictionaryTrainedOnTheFirstEventsIsStoredAndReadBack) {
  const std::vector<Event> events = ManyEvents(3000);
  {
    auto t = OpenOrFail();
    ASSERT_TRUE(t);
    uint64_t seq = 1;
    for (size_t i = 0; i < events.size(); i += 250) {
      std::vector<Event> part(events.begin() + static_cast<std::ptrdiff_t>(i),
                              events.begin() + static_cast<std::ptrdiff_t>(i + 250));
      ASSERT_TRUE(t->InsertBatch(MakeBatch(seq++, std::move(part)), 1).ok());
    }
  }
  {
    RawDb raw(path_);
    const auto dicts = raw.Ints("SELECT count(*) FROM dictionaries");
    const auto with_dict = raw.Ints("SELECT count(*) FROM events WHERE codec = 2");
    const auto bytes = raw.Ints("SELECT sum(length(body)) FROM events WHERE codec = 2");
    const auto raw_bytes = raw.Ints("SELECT sum(body_size) FROM events WHERE codec = 2");
    if (GetParam()) {
      EXPECT_EQ(dicts, std::vector<int64_t>{1});
      ASSERT_EQ(with_dict.size(), 1u);
      EXPECT_GE(with_dict[0], 900);  // everything after the training set
      // Several times smaller than the canonical bytes.
      EXPECT_LT(bytes[0] * 4, raw_bytes[0]) << bytes[0] << " of " << raw_bytes[0];
    } else {
      EXPECT_EQ(dicts, std::vector<int64_t>{0});
      EXPECT_EQ(with_dict, std::vector<int64_t>{0});
    }
  }
  auto t = OpenOrFail();
  ASSERT_TRUE(t);
  auto back = t->EventsBetween(INT64_MIN, INT64_MAX, kMaxQueryEvents);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), events.size());
  std::map<std::string, const Event*> by_id;
  for (const auto& e : *back) by_id[e.id] = &e;
  for (const auto& e : events) {
    ASSERT_TRUE(by_id.count(e.id)) << e.id;
    EXPECT_TRUE(*by_id[e.id] == e) << e.id;
  }
  EXPECT_TRUE(t->Verify(nullptr).ok());
  // A new batch after the reopen uses the stored dictionary, not a new one.
  ASSERT_TRUE(t->InsertBatch(MakeBatch(100, ManyEvents(3100)), 2).ok());
  RawDb raw(path_);
  EXPECT_EQ(raw.Ints("SELECT count(*) FROM dictionaries"), std::vector<int64_t>{GetParam() ? 1 : 0});
}

// A dictionary row altered or removed makes the bodies that use it
// unreadable, and verify says so rather than trusting them.
TEST_P(TimelineTest, ATamperedDictionaryFailsVerification) {
  if (!GetParam()) GTEST_SKIP() << "no dictionary without compression";
  {
    auto t = OpenOrFail();
    ASSERT_TRUE(t);
    ASSERT_TRUE(t->InsertBatch(MakeBatch(1, ManyEvents(2000)), 1).ok());
    ASSERT_TRUE(t->InsertBatch(MakeBatch(2, ManyEvents(2100)), 1).ok());  // trains, then uses it
  }
  {
    RawDb raw(path_);
    raw.Exec("DELETE FROM dictionaries");
  }
  const VerifyReport report = VerifyFails();
  EXPECT_EQ(report.problem, ChainProblem::kAlteredBytes);
  EXPECT_NE(report.detail.find("dictionary"), std::string::npos) << report.detail;
}

// Group commit: several batches in one transaction give the same results
// as one at a time, resends included.
TEST_P(TimelineTest, InsertBatchesStoresEachAsIfInsertedInTurn) {
  const auto& all = SampleEvents();
  ASSERT_GE(all.size(), 6u);
  auto t = OpenOrFail();
  ASSERT_TRUE(t);
  const wire::Batch a = MakeBatch(1, {all[0], all[1]});
  const wire::Batch b = MakeBatch(2, {all[1], all[2]});  // all[1] again: a duplicate
  const wire::Batch c = MakeBatch(1, {all[0]}, "collector-2");
  auto r = t->InsertBatches({&a, &b, &c, &a}, 5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ(Totals((*r)[0]), (BatchResult{2, 0, 0, false}));
  EXPECT_EQ(Totals((*r)[1]), (BatchResult{1, 1, 0, false}));
  EXPECT_EQ(Totals((*r)[2]), (BatchResult{0, 1, 0, false}));
  EXPECT_EQ(Totals((*r)[3]), (BatchResult{0, 2, 0, true}));
  EXPECT_TRUE(t->Verify(nullptr).ok());
  // One refused batch refuses the group: nothing of it is stored.
  wire::Batch big = MakeBatch(3, {all[3]});
  big.events[0].raw.assign(options_.max_event_bytes + 1, 'x');
  const wire::Batch d = MakeBatch(4, {all[4]});
  EXPECT_TRUE(t->InsertBatches({&d, &big}, 6).status().IsLimitExceeded());
  auto stats = t->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, 3u);
}

// Stores 9000 events into a new file at `name` with the fixture's options:
// batches of 1500 with a duplicate each, and a batch refused midway (at
// its 700th event, while the helper thread is working further on). Returns
// every stored row as text, in seq order, for comparing loads.
std::vector<std::string> StoreManyAndDumpRows(const fs::path& path, const TimelineOptions& options,
                                              bool with_repeats = true) {
  const std::vector<Event> events = ManyEvents(9000);
  {
    auto t = Timeline::Open(path.string(), options);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    if (!t.ok()) return {};
    uint64_t seq = 1;
    for (size_t i = 0; i < events.size(); i += 1500) {
      std::vector<Event> part(events.begin() + static_cast<std::ptrdiff_t>(i),
                              events.begin() + static_cast<std::ptrdiff_t>(i + 1500));
      if (with_repeats) part.push_back(events[i / 2]);  // stored already (or earlier in this batch): a duplicate
      if (i == 4500) {
        std::vector<Event> refused = part;
        refused[700].raw.assign(options.max_event_bytes + 1, 'x');
        auto r = (*t)->InsertBatch(MakeBatch(seq, std::move(refused)), 1);
        EXPECT_TRUE(r.status().IsLimitExceeded()) << r.status().ToString();
      }
      auto r = (*t)->InsertBatch(MakeBatch(seq++, std::move(part)), 1);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (r.ok()) {
        EXPECT_EQ(Totals(*r), (BatchResult{1500, with_repeats ? 1u : 0u, 0, false}));
      }
    }
    EXPECT_TRUE((*t)->FinishBulkLoad().ok());
    EXPECT_TRUE((*t)->Verify(nullptr).ok());
  }
  RawDb raw(path);
  return raw.Column(
      "SELECT seq || ' ' || event_key || ' ' || codec || ' ' || body_size || ' ' || hex(body) || ' ' || prev_seq || "
      "' ' || hex(hash) FROM events ORDER BY seq");
}

// The helper thread that works out keys and compressed bodies ahead of the
// inserts changes nothing that is stored: the same batches (duplicates, a
// refused batch, a dictionary trained on the way) give the same rows,
// byte for byte, with and without it.
TEST_P(TimelineTest, TheHelperThreadStoresExactlyWhatTheStoringThreadAloneWould) {
  options_.helper_thread = false;
  const std::vector<std::string> alone = StoreManyAndDumpRows(dir_ / "alone.db", options_);
  options_.helper_thread = true;
  const std::vector<std::string> with_helper = StoreManyAndDumpRows(dir_ / "with-helper.db", options_);
  ASSERT_EQ(alone.size(), 9000u);
  ASSERT_EQ(with_helper.size(), alone.size());
  for (size_t i = 0; i < alone.size(); ++i) ASSERT_EQ(with_helper[i], alone[i]) << "row " << i;
}

// A bulk load (replay's new database) stores the same rows as a normal
// one, still rolls a refused batch back, and once finished is an ordinary
// timeline: WAL mode, every index, queries and further batches work.
TEST_P(TimelineTest, ABulkLoadStoresWhatANormalLoadDoesAndEndsAnOrdinaryTimeline) {
  const std::vector<std::string> normal = StoreManyAndDumpRows(dir_ / "normal.db", options_);
  ASSERT_EQ(normal.size(), 9000u);
  options_.bulk_load = true;
  // All in one long transaction, and committed every 2000 events (every
  // second call, the refused batch then rolled back to its savepoint in a
  // transaction holding one good batch already).
  for (size_t commit_every : {size_t{50'000}, size_t{2000}}) {
    options_.bulk_commit_events = commit_every;
    path_ = dir_ / ("bulk-" + std::to_string(commit_every) + ".db");
    const std::vector<std::string> bulk = StoreManyAndDumpRows(path_, options_);
    ASSERT_EQ(bulk.size(), normal.size()) << commit_every;
    for (size_t i = 0; i < normal.size(); ++i) ASSERT_EQ(bulk[i], normal[i]) << "row " << i << ", " << commit_every;
  }
  {
    RawDb raw(path_);
    EXPECT_EQ(raw.Column("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
    EXPECT_EQ(raw.Column("SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'events_%' ORDER BY name"),
              (std::vector<std::string>{"events_by_key", "events_by_resource_time"}));
  }
  // Opened again as any timeline: a bulk load needs a new file, and its
  // refusal leaves the file as it was (still in WAL mode).
  EXPECT_TRUE(Timeline::Open(path_.string(), options_).status().IsInvalidArgument());
  {
    RawDb raw(path_);
    EXPECT_EQ(raw.Column("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
  }
  options_.bulk_load = false;
  auto t = OpenOrFail();
  ASSERT_TRUE(t);
  const std::vector<Event> events = ManyEvents(9000);
  auto one = t->EventsFor(events[42].resource_id, INT64_MIN, INT64_MAX, kMaxQueryEvents);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_FALSE(one->empty());
  auto r = t->InsertBatch(MakeBatch(100, {events[1], SampleEvents()[0]}), 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Totals(*r), (BatchResult{1, 1, 0, false}));
  EXPECT_TRUE(t->Verify(nullptr).ok());
}

// A bulk load whose caller keeps ids unique (replay) skips the dedup
// lookup and builds the event-key index at the end: the same rows as a
// normal load of the same batches, the index there afterwards (a resend is
// a duplicate again), and a broken promise caught at the end, naming the id.
TEST_P(TimelineTest, ABulkLoadWithUniqueIdsStoresTheSameRowsAndCatchesARepeat) {
  const std::vector<std::string> normal = StoreManyAndDumpRows(dir_ / "normal.db", options_, false);
  ASSERT_EQ(normal.size(), 9000u);
  TimelineOptions bulk_options = options_;
  bulk_options.bulk_load = true;
  bulk_options.bulk_ids_unique = true;
  bulk_options.bulk_commit_events = 2000;
  path_ = dir_ / "unique.db";
  const std::vector<std::string> bulk = StoreManyAndDumpRows(path_, bulk_options, false);
  ASSERT_EQ(bulk.size(), normal.size());
  for (size_t i = 0; i < normal.size(); ++i) ASSERT_EQ(bulk[i], normal[i]) << "row " << i;
  {
    RawDb raw(path_);
    EXPECT_EQ(raw.Column("SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'events_%' ORDER BY name"),
              (std::vector<std::string>{"events_by_key", "events_by_resource_time"}));
  }
  {
    auto t = OpenOrFail();
    ASSERT_TRUE(t);
    const std::vector<Event> events = ManyEvents(9000);
    auto r = t->InsertBatch(MakeBatch(100, {events[1], events[8999]}), 2);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(Totals(*r), (BatchResult{0, 2, 0, false}));
  }

  path_ = dir_ / "repeat.db";
  auto t = Timeline::Open(path_.string(), bulk_options);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  std::vector<Event> events = ManyEvents(20);
  const std::string repeated = events[3].id;
  events.push_back(events[3]);
  auto r = (*t)->InsertBatch(MakeBatch(1, std::move(events)), 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Status done = (*t)->FinishBulkLoad();
  EXPECT_TRUE(done.IsCorruption()) << done.ToString();
  EXPECT_NE(done.message().find(repeated), std::string::npos) << done.message();
}

INSTANTIATE_TEST_SUITE_P(Codec, TimelineTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? std::string("Zstd") : std::string("Plain");
                         });

}  // namespace
}  // namespace cmkwatch::analyzer
