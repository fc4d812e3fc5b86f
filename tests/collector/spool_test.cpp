// The collector's durable spool over real SQLite files: order, acks,
// restarts, ownership, the size cap (back-pressure), checkpoints that commit
// with their batch, and survival of SIGKILL at random moments.
#include "cmkwatch/collector/spool.h"

#include <signal.h>
#include <sqlite3.h>  // only to tamper with a closed spool the way an operator could
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "cmkwatch/collector/reader.h"
#include "cmkwatch/common/wire.h"
#include "test_support.h"

namespace cmkwatch::collector {
namespace {

namespace fs = std::filesystem;

struct Collect final : RecordHandler {
  std::vector<Event> events;
  void OnEvent(Event&& e, const RecordLocation&) override { events.push_back(std::move(e)); }
  void OnQuarantine(QuarantineEntry&&) override {}
};

// Real events from the bundled samples, parsed once.
const std::vector<Event>& SampleEvents() {
  static const std::vector<Event> events = [] {
    Collect c;
    ReadStats stats;
    EXPECT_TRUE(ReadPath(std::string(CMKWATCH_SOURCE_DIR) + "/samples", {}, c, stats).ok());
    return std::move(c.events);
  }();
  return events;
}

// A deterministic batch for sequence `seq`: a window of sample events and
// one quarantine entry naming the sequence, so a reader can tell what
// belongs where.
std::vector<Event> EventsFor(uint64_t seq) {
  const auto& all = SampleEvents();
  std::vector<Event> out;
  const size_t n = 1 + seq % 20;
  for (size_t i = 0; i < n; ++i) out.push_back(all[(seq * 7 + i) % all.size()]);
  return out;
}
std::vector<QuarantineEntry> QuarantineFor(uint64_t seq) {
  return {{"/logs/PT1H.json", seq, seq + 1, "kvaudit", "malformed JSON in record " + std::to_string(seq)}};
}

constexpr const char* kCollector = "collector-eastus-1";

SpoolOptions Options(uint64_t max_bytes = uint64_t{1} << 30) { return SpoolOptions{kCollector, max_bytes}; }

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("cmkwatch-spool-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "spool.db").string();
    ASSERT_FALSE(SampleEvents().empty());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<Spool> OpenOrFail(const SpoolOptions& options = Options()) {
    auto spool = Spool::Open(path_, options);
    EXPECT_TRUE(spool.ok()) << spool.status().ToString();
    return spool.ok() ? std::move(*spool) : nullptr;
  }

  uint64_t AppendOrFail(Spool& spool, uint64_t tag, const std::vector<SpoolCheckpoint>& cps = {}) {
    auto seq = spool.Append(EventsFor(tag), QuarantineFor(tag), cps);
    EXPECT_TRUE(seq.ok()) << seq.status().ToString();
    return seq.ok() ? *seq : 0;
  }

  std::vector<SpooledBatch> PendingOrFail(Spool& spool, size_t max = 1000, uint64_t after = 0) {
    auto pending = spool.Pending(max, after);
    EXPECT_TRUE(pending.ok()) << pending.status().ToString();
    return pending.ok() ? std::move(*pending) : std::vector<SpooledBatch>{};
  }

  SpoolStats StatsOrFail(Spool& spool) {
    auto stats = spool.Stats();
    EXPECT_TRUE(stats.ok()) << stats.status().ToString();
    return stats.ok() ? *stats : SpoolStats{};
  }

  static std::vector<uint64_t> Sequences(const std::vector<SpooledBatch>& batches) {
    std::vector<uint64_t> out;
    for (const auto& b : batches) out.push_back(b.sequence);
    return out;
  }

  // Decodes a stored batch and checks it is exactly what was appended as
  // `tag` under sequence b.sequence.
  static void ExpectBatch(const SpooledBatch& b, uint64_t tag) {
    auto decoded = wire::DecodeBatch(b.bytes);
    ASSERT_TRUE(decoded.ok()) << "batch " << b.sequence << ": " << decoded.status().ToString();
    EXPECT_EQ(decoded->collector_id, kCollector);
    EXPECT_EQ(decoded->sequence, b.sequence);
    EXPECT_TRUE(decoded->events == EventsFor(tag)) << "batch " << b.sequence << " events differ";
    EXPECT_EQ(decoded->quarantined, QuarantineFor(tag));
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(SpoolTest, PendingReturnsAppendedBatchesInOrderDecodingToWhatWasAppended) {
  auto spool = OpenOrFail();
  ASSERT_TRUE(spool);
  for (uint64_t i = 1; i <= 5; ++i) EXPECT_EQ(AppendOrFail(*spool, i), i);
  const auto pending = PendingOrFail(*spool);
  ASSERT_EQ(Sequences(pending), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  for (const auto& b : pending) ExpectBatch(b, b.sequence);

  // Paging: a bounded number, then on after the last one seen.
  EXPECT_EQ(Sequences(PendingOrFail(*spool, 2)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Sequences(PendingOrFail(*spool, 2, 2)), (std::vector<uint64_t>{3, 4}));
  EXPECT_TRUE(PendingOrFail(*spool, 10, 5).empty());
  EXPECT_TRUE(PendingOrFail(*spool, 0).empty());

  const SpoolStats stats = StatsOrFail(*spool);
  EXPECT_EQ(stats.pending_batches, 5u);
  uint64_t events = 0, bytes = 0;
  for (const auto& b : pending) {
    events += EventsFor(b.sequence).size();
    bytes += b.bytes.size();
  }
  EXPECT_EQ(stats.pending_events, events);
  EXPECT_EQ(stats.pending_bytes, bytes);
  EXPECT_EQ(stats.next_sequence, 6u);
  EXPECT_TRUE(spool->CheckIntegrity().ok());
}

TEST_F(SpoolTest, AckRemovesABatchAndUnknownAcksAreHarmless) {
  auto spool = OpenOrFail();
  ASSERT_TRUE(spool);
  for (uint64_t i = 1; i <= 3; ++i) AppendOrFail(*spool, i);
  auto acked = spool->Ack(2);
  ASSERT_TRUE(acked.ok());
  EXPECT_TRUE(*acked);
  EXPECT_EQ(Sequences(PendingOrFail(*spool)), (std::vector<uint64_t>{1, 3}));

  // Already acked, never issued, and zero: false, counted, nothing changes.
  for (uint64_t seq : {uint64_t{2}, uint64_t{4}, uint64_t{0}, uint64_t{1} << 63}) {
    auto again = spool->Ack(seq);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_FALSE(*again) << seq;
  }
  const SpoolStats stats = StatsOrFail(*spool);
  EXPECT_EQ(stats.unknown_acks, 4u);
  EXPECT_EQ(stats.pending_batches, 2u);
  EXPECT_EQ(Sequences(PendingOrFail(*spool)), (std::vector<uint64_t>{1, 3}));
}

TEST_F(SpoolTest, AcksMayArriveOutOfOrder) {
  auto spool = OpenOrFail();
  ASSERT_TRUE(spool);
  for (uint64_t i = 1; i <= 6; ++i) AppendOrFail(*spool, i);
  for (uint64_t seq : {5, 1, 3}) {
    auto acked = spool->Ack(seq);
    ASSERT_TRUE(acked.ok() && *acked) << seq;
  }
  const auto pending = PendingOrFail(*spool);
  ASSERT_EQ(Sequences(pending), (std::vector<uint64_t>{2, 4, 6}));
  for (const auto& b : pending) ExpectBatch(b, b.sequence);
  EXPECT_EQ(StatsOrFail(*spool).pending_batches, 3u);
  // The oldest pending is now batch 2.
  EXPECT_TRUE(StatsOrFail(*spool).oldest_append_time.has_value());
}

TEST_F(SpoolTest, ReopenKeepsPendingBatchesAndContinuesTheSequence) {
  {
    auto spool = OpenOrFail();
    ASSERT_TRUE(spool);
    for (uint64_t i = 1; i <= 4; ++i) AppendOrFail(*spool, i);
    ASSERT_TRUE(spool->Ack(1).ok());
  }
  auto spool = OpenOrFail();
  ASSERT_TRUE(spool);
  EXPECT_EQ(Sequences(PendingOrFail(*spool)), (std::vector<uint64_t>{2, 3, 4}));
  const SpoolStats stats = StatsOrFail(*spool);
  EXPECT_EQ(stats.pending_batches, 3u);
  EXPECT_EQ(stats.next_sequence, 5u);
  EXPECT_EQ(AppendOrFail(*spool, 5), 5u);
  for (const auto& b : PendingOrFail(*spool)) ExpectBatch(b, b.sequence);
}

TEST_F(SpoolTest, SequencesAreNeverReusedEvenWhenEverythingWasAcked) {
  {
    auto spool = OpenOrFail();
    ASSERT_TRUE(spool);
    for (uint64_t i = 1; i <= 3; ++i) AppendOrFail(*spool, i);
    for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(spool->Ack(i).ok());
    const SpoolStats stats = StatsOrFail(*spool);
    EXPECT_EQ(stats.pending_batches, 0u);
    EXPECT_EQ(stats.pending_bytes, 0u);
    EXPECT_FALSE(stats.oldest_append_time.has_value());
  }
  auto spool = OpenOrFail();
  ASSERT_TRUE(spool);
  EXPECT_TRUE(PendingOrFail(*spool).empty());
  EXPECT_EQ(StatsOrFail(*spool).next_sequence, 4u);
  EXPECT_EQ(AppendOrFail(*spool, 4), 4u);
}

TEST_F(SpoolTest, AnotherCollectorIdIsRefused) {
  { ASSERT_TRUE(OpenOrFail()); }
  auto other = Spool::Open(path_, SpoolOptions{"collector-westeu-2", uint64_t{1} << 30});
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(other.status().IsInvalidArgument());
  EXPECT_NE(other.status().message().find("belongs to collector 'collector-eastus-1'"), std::string::npos)
      << other.status().message();
  EXPECT_TRUE(OpenOrFail());  // the rightful owner still can
}

TEST_F(SpoolTest, ASpoolOpenElsewhereIsRefused) {
  auto spool = OpenOrFail();
  ASSERT_TRUE(spool);
  auto second = Spool::Open(path_, Options());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsIoError()) << second.status().ToString();
  EXPECT_NE(second.status().message().find("in use"), std::string::npos) << second.status().message();
}

TEST_F(SpoolTest, NewerSchemaForeignDatabasesAndBadOptionsAreRefused) {
  { ASSERT_TRUE(OpenOrFail()); }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &raw), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 2", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto newer = Spool::Open(path_, Options());
  ASSERT_FALSE(newer.ok());
  EXPECT_TRUE(newer.status().IsUnsupported()) << newer.status().ToString();
  EXPECT_NE(newer.status().message().find("schema version 2"), std::string::npos);

  const std::string foreign = (dir_ / "other.db").string();
  ASSERT_EQ(sqlite3_open(foreign.c_str(), &raw), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(raw, "CREATE TABLE t(x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto not_spool = Spool::Open(foreign, Options());
  ASSERT_FALSE(not_spool.ok());
  EXPECT_NE(not_spool.status().message().find("not a cmkwatch spool"), std::string::npos);

  const std::string text = (dir_ / "notes.txt").string();
  std::ofstream(text) << "this is not a database, just some text that is long enough to be a header..........\n";
  auto garbage = Spool::Open(text, Options());
  ASSERT_FALSE(garbage.ok());
  EXPECT_TRUE(garbage.status().IsCorruption()) << garbage.status().ToString();

  EXPECT_TRUE(Spool::Open(path_ + "-2", SpoolOptions{"", 1}).status().IsInvalidArgument());
  EXPECT_TRUE(Spool::Open(path_ + "-3", SpoolOptions{kCollector, 0}).status().IsInvalidArgument());
  EXPECT_FALSE(Spool::Open((dir_ / "missing-dir" / "spool.db").string(), Options()).ok());
}

TEST_F(SpoolTest, NewSpoolFilesAreOwnerOnly) {
  ASSERT_TRUE(OpenOrFail());
  const auto perms = fs::status(path_).permissions();
  EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
}

TEST_F(SpoolTest, AFullSpoolRefusesStoresNothingAndAcceptsAgainAfterAcks) {
  // Room for two batches of tag 19 (20 events each) but not three.
  const uint64_t one = wire::EncodeBatch({kCollector, 1, EventsFor(19), QuarantineFor(19)}).size();
  auto spool = OpenOrFail(Options(one * 2 + one / 2));
  ASSERT_TRUE(spool);
  const std::vector<SpoolCheckpoint> cp1{{"file-a", 100}};
  EXPECT_EQ(AppendOrFail(*spool, 19, cp1), 1u);
  EXPECT_EQ(AppendOrFail(*spool, 19, {{"file-a", 200}}), 2u);
  const SpoolStats before = StatsOrFail(*spool);

  std::vector<Event> events = EventsFor(19);
  std::vector<QuarantineEntry> quarantined = QuarantineFor(19);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto refused = spool->Append(std::move(events), std::move(quarantined), {{"file-a", 300}});
    ASSERT_FALSE(refused.ok());
    EXPECT_TRUE(refused.status().IsLimitExceeded()) << refused.status().ToString();
    EXPECT_NE(refused.status().message().find("is full"), std::string::npos) << refused.status().message();
    EXPECT_NE(refused.status().message().find("reading pauses until"), std::string::npos);
    // The batch is handed back intact, for the retry.
    EXPECT_TRUE(events == EventsFor(19));  // NOLINT(bugprone-use-after-move): refused appends do not take it
    EXPECT_EQ(quarantined, QuarantineFor(19));
  }
  // Nothing stored: same pending set, sequence not consumed, checkpoint kept.
  const SpoolStats after = StatsOrFail(*spool);
  EXPECT_EQ(after.pending_batches, before.pending_batches);
  EXPECT_EQ(after.pending_bytes, before.pending_bytes);
  EXPECT_EQ(after.next_sequence, 3u);
  EXPECT_EQ(Sequences(PendingOrFail(*spool)), (std::vector<uint64_t>{1, 2}));
  auto cp = spool->Checkpoint("file-a");
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(*cp, std::optional<uint64_t>(200));

  ASSERT_TRUE(spool->Ack(1).ok());
  auto retried = spool->Append(std::move(events), std::move(quarantined), {{"file-a", 300}});
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(*retried, 3u);
  const auto pending = PendingOrFail(*spool);
  ASSERT_EQ(Sequences(pending), (std::vector<uint64_t>{2, 3}));
  for (const auto& b : pending) ExpectBatch(b, 19);
  cp = spool->Checkpoint("file-a");
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(*cp, std::optional<uint64_t>(300));
}

TEST_F(SpoolTest, ABatchLargerThanTheCapIsRefusedWithAClearError) {
  auto spool = OpenOrFail(Options(4096));
  ASSERT_TRUE(spool);
  auto big = spool->Append(EventsFor(19), QuarantineFor(19), {{"file-a", 1}});
  ASSERT_FALSE(big.ok());
  EXPECT_TRUE(big.status().IsLimitExceeded());
  EXPECT_NE(big.status().message().find("exceeds the largest the spool"), std::string::npos)
      << big.status().message();
  EXPECT_EQ(StatsOrFail(*spool).next_sequence, 1u);
  auto cp = spool->Checkpoint("file-a");
  ASSERT_TRUE(cp.ok());
  EXPECT_FALSE(cp->has_value());
  // A small one still fits.
  auto small = spool->Append({}, QuarantineFor(1));
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(*small, 1u);

  // More items than the wire allows can never be delivered: refused up front.
  std::vector<QuarantineEntry> many(wire::kMaxItems + 1);
  EXPECT_TRUE(spool->Append({}, std::move(many)).status().IsLimitExceeded());
}

TEST_F(SpoolTest, CheckpointsCommitWithTheirBatchAndSurviveReopen) {
  {
    auto spool = OpenOrFail();
    ASSERT_TRUE(spool);
    auto none = spool->Checkpoint("dev:ino:/logs/a");
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value());
    AppendOrFail(*spool, 1, {{"dev:ino:/logs/a", 1000}});
    // One batch may end reads in two files: both offsets commit with it.
    AppendOrFail(*spool, 2, {{"dev:ino:/logs/a", 1500}, {"dev:ino:/logs/b", 42}});
    AppendOrFail(*spool, 3);  // no checkpoint: offsets unchanged
    // Invalid checkpoints refuse the whole append.
    EXPECT_TRUE(spool->Append(EventsFor(4), {}, {{"", 1}}).status().IsInvalidArgument());
    EXPECT_TRUE(spool->Append(EventsFor(4), {}, {{"x", uint64_t{1} << 63}}).status().IsInvalidArgument());
    EXPECT_EQ(StatsOrFail(*spool).next_sequence, 4u);
    // Acking the batch does not undo its checkpoint: the bytes were read.
    ASSERT_TRUE(spool->Ack(2).ok());
  }
  auto spool = OpenOrFail();
  ASSERT_TRUE(spool);
  auto a = spool->Checkpoint("dev:ino:/logs/a");
  auto b = spool->Checkpoint("dev:ino:/logs/b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, std::optional<uint64_t>(1500));
  EXPECT_EQ(*b, std::optional<uint64_t>(42));
}

// A source resumes from every checkpoint under its own prefix; a file
// replaced under the same path keeps one row, with the new identity.
TEST_F(SpoolTest, CheckpointsAreListedByPrefixWithTheirIdentity) {
  {
    auto spool = OpenOrFail();
    ASSERT_TRUE(spool);
    AppendOrFail(*spool, 1, {{"dir-a\x1f/logs/a/PT1H.json", 100, "2049:11"}, {"dir-b\x1f/x.json", 7, "2049:12"}});
    AppendOrFail(*spool, 2, {{"dir-a\x1f/logs/a/PT1H.json", 40, "2049:99"}, {"dir-a\x1f/logs/b.json", 5, "2049:13"}});
    // An identity too long for the file is refused, not truncated.
    EXPECT_TRUE(spool->Append(EventsFor(3), {}, {{"dir-a\x1fz", 1, std::string(300, 'i')}}).status()
                    .IsInvalidArgument());
  }
  auto spool = OpenOrFail();
  ASSERT_TRUE(spool);
  auto a = spool->Checkpoints("dir-a\x1f");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const std::vector<SpoolCheckpoint> want = {{"dir-a\x1f/logs/a/PT1H.json", 40, "2049:99"},
                                             {"dir-a\x1f/logs/b.json", 5, "2049:13"}};
  EXPECT_EQ(*a, want);
  auto b = spool->Checkpoints("dir-b\x1f");
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].offset, 7u);
  auto none = spool->Checkpoints("dir-c\x1f");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(SpoolTest, StatsReportTheOldestPendingAppendTime) {
  auto spool = OpenOrFail();
  ASSERT_TRUE(spool);
  const auto ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const int64_t t0 = ns();
  AppendOrFail(*spool, 1);
  const int64_t t1 = ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  AppendOrFail(*spool, 2);
  auto first = StatsOrFail(*spool).oldest_append_time;
  ASSERT_TRUE(first.has_value());
  EXPECT_GE(*first, t0);
  EXPECT_LE(*first, t1);
  ASSERT_TRUE(spool->Ack(1).ok());
  auto second = StatsOrFail(*spool).oldest_append_time;
  ASSERT_TRUE(second.has_value());
  EXPECT_GT(*second, t1);
}

// The child side of the crash test: appends batch after batch with a
// checkpoint of seq * 1000, acks every batch two behind each multiple of
// three, and tells the parent (one byte on `ready`) once the first batch is
// durable. Runs until killed; exits non-zero on any surprise. No gtest here.
[[noreturn]] void AppendUntilKilled(const std::string& path, int ready) {
  auto spool = Spool::Open(path, Options());
  if (!spool.ok()) ::_exit(2);
  auto stats = (*spool)->Stats();
  if (!stats.ok()) ::_exit(3);
  bool told = false;
  for (uint64_t seq = stats->next_sequence;; ++seq) {
    auto got = (*spool)->Append(EventsFor(seq), QuarantineFor(seq), {{"file-a", seq * 1000}});
    if (!got.ok() || *got != seq) ::_exit(4);
    if (seq % 3 == 0 && !(*spool)->Ack(seq - 2).ok()) ::_exit(5);
    if (!told) {
      const char c = 1;
      if (::write(ready, &c, 1) != 1) ::_exit(6);
      told = true;
    }
  }
}

TEST_F(SpoolTest, SurvivesSigkillAtAnyMoment) {
  std::random_device device;
  const unsigned seed = device();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_us(0, 60'000);

  uint64_t last_next = 1;
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      AppendUntilKilled(path_, fds[1]);
    }
    ::close(fds[1]);
    char c = 0;
    const bool started = ::read(fds[0], &c, 1) == 1;
    ::close(fds[0]);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(started) << "child failed before its first append, status " << wstatus;
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
        << "child stopped on its own, status " << wstatus;

    auto spool = OpenOrFail();
    ASSERT_TRUE(spool);
    const Status integrity = spool->CheckIntegrity();
    ASSERT_TRUE(integrity.ok()) << integrity.ToString();
    const SpoolStats stats = StatsOrFail(*spool);
    ASSERT_GT(stats.next_sequence, last_next) << "no progress";
    const uint64_t last = stats.next_sequence - 1;  // the last committed batch

    // Every pending batch is whole, in order, and exactly what was appended.
    const auto pending = PendingOrFail(*spool, 1'000'000);
    std::set<uint64_t> pending_set;
    uint64_t previous = 0, bytes = 0;
    for (const auto& b : pending) {
      ASSERT_GT(b.sequence, previous);
      previous = b.sequence;
      ExpectBatch(b, b.sequence);
      pending_set.insert(b.sequence);
      bytes += b.bytes.size();
    }
    EXPECT_EQ(stats.pending_batches, pending.size());
    EXPECT_EQ(stats.pending_bytes, bytes);
    // Nothing lost: a batch is missing only if the child acked it, and the
    // child acks seq - 2 only after appending seq.
    for (uint64_t s = 1; s <= last; ++s) {
      const bool ackable = (s + 2) % 3 == 0 && s + 2 <= last;
      if (!ackable) {
        EXPECT_TRUE(pending_set.count(s)) << "batch " << s << " lost";
      }
    }
    EXPECT_TRUE(pending_set.empty() || *pending_set.rbegin() == last);
    // The checkpoint is the one committed with the last batch.
    auto cp = spool->Checkpoint("file-a");
    ASSERT_TRUE(cp.ok());
    EXPECT_EQ(*cp, std::optional<uint64_t>(last * 1000));
    last_next = stats.next_sequence;
  }
}

}  // namespace
}  // namespace cmkwatch::collector
