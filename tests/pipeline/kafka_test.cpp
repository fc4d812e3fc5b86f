// The Kafka / Event Hubs source as an operator runs it: real
// cmkwatch-collector and cmkwatch-analyzer processes consuming from a real
// Kafka protocol endpoint — librdkafka's mock cluster on loopback, kept
// alive by the cmkwatch-test-kafka helper process — with consumer groups,
// rebalances, broker errors, a full spool and kill -9. What a user relies
// on: every record produced ends up in the timeline exactly once, offsets
// are committed only once the analyzer holds the events, and nothing is
// lost whichever process dies when.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cmkwatch/analyzer/timeline.h"
#include "numbered_records.h"
#include "process.h"
#include "test_support.h"
#include "timeline_checks.h"

extern char** environ;

namespace cmkwatch {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using test::Process;

constexpr const char* kTopic = "cmk";
constexpr int kPartitions = 4;

// The mock cluster in its helper process, driven through its stdin and
// stdout (one command, one answer line; see tests/kafka_mock/main.cpp).
class KafkaMock {
 public:
  KafkaMock(const fs::path& dir, int brokers) : dir_(dir) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe";
      return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, (dir / "kafka-mock.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    std::vector<std::string> argv = {CMKWATCH_TEST_KAFKA, "--brokers", std::to_string(brokers), "--topic",
                                     std::string(kTopic) + ":" + std::to_string(kPartitions)};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const int rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
    if (rc != 0) {
      ADD_FAILURE() << "cannot start " << argv[0];
      pid_ = -1;
      return;
    }
    const std::string first = ReadLine(20s);
    if (first.rfind("bootstrap ", 0) != 0) {
      ADD_FAILURE() << "the mock cluster said: " << first;
      return;
    }
    bootstrap_ = first.substr(10);
  }
  ~KafkaMock() {
    ::close(to_);  // end of its stdin: it exits
    if (pid_ > 0) {
      int status = 0;
      for (int i = 0; i < 200 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) std::this_thread::sleep_for(10ms);
      if (::waitpid(pid_, &status, WNOHANG) == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    ::close(from_);
  }
  KafkaMock(const KafkaMock&) = delete;
  KafkaMock& operator=(const KafkaMock&) = delete;

  const std::string& bootstrap() const { return bootstrap_; }

  // One command; its answer without the leading "ok" (a failure otherwise).
  std::string Command(const std::string& cmd) {
    const std::string line = cmd + "\n";
    EXPECT_EQ(::write(to_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    const std::string answer = ReadLine(120s);
    EXPECT_EQ(answer.rfind("ok", 0), 0u) << cmd << " -> " << answer;
    return answer.size() > 3 ? answer.substr(3) : "";
  }

  // Each value one message, to `partition` (-1: round-robin).
  void Produce(const std::vector<std::string>& values, int partition = -1) {
    const fs::path file = dir_ / ("produce-" + std::to_string(++files_) + ".txt");
    {
      std::ofstream out(file, std::ios::binary);
      for (const auto& v : values) out << v << '\n';
    }
    EXPECT_EQ(Command("produce " + std::string(kTopic) + " " + std::to_string(partition) + " " + file.string()),
              std::to_string(values.size()));
    // The mock cluster keeps only about the last 5 MB of each partition: a
    // test that produced more would wait for records the cluster dropped.
    EXPECT_EQ(Command(std::string("starts ") + kTopic), "0 0 0 0") << "the mock cluster dropped old messages";
  }

  std::vector<int64_t> Committed(const std::string& group) { return Numbers(Command("committed " + group + " " + kTopic)); }
  std::vector<int64_t> Watermarks() { return Numbers(Command(std::string("watermarks ") + kTopic)); }

 private:
  static std::vector<int64_t> Numbers(const std::string& text) {
    std::vector<int64_t> out;
    std::istringstream in(text);
    for (int64_t v; in >> v;) out.push_back(v);
    return out;
  }

  std::string ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return "(no answer in time)";
      pollfd p{from_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(from_, chunk, sizeof chunk);
      if (n <= 0) return "(the mock cluster exited)";
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  fs::path dir_;
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buf_, bootstrap_;
  int files_ = 0;
};

// Messages as Azure's diagnostic settings write them to an Event Hub: each
// a {"records":[...]} batch of `per_message` records, numbered from `first`.
std::vector<std::string> Messages(uint64_t first, uint64_t count, uint64_t per_message) {
  static const std::string tmpl = test::Template();
  std::vector<std::string> out;
  for (uint64_t i = first; i < first + count; i += per_message) {
    std::string m = "{\"records\":[";
    for (uint64_t j = i; j < std::min(first + count, i + per_message); ++j) {
      if (j != i) m += ',';
      m += test::RecordNumber(tmpl, j);
    }
    out.push_back(m + "]}");
  }
  return out;
}

std::set<std::string> IdsOf(uint64_t first, uint64_t count) {
  static const std::string tmpl = test::Template();
  std::set<std::string> ids;
  for (uint64_t i = first; i < first + count; ++i) ids.insert(test::ParseOrFail(test::RecordNumber(tmpl, i)).id);
  return ids;
}

// The sum of every series of metric `name` whose labels contain `labels`
// (e.g. "collector=\"a\""), from a Prometheus text page.
double MetricSum(const std::string& page, const std::string& name, const std::string& labels = "") {
  double sum = 0;
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
    if (!labels.empty() && line.find(labels) == std::string::npos) continue;
    sum += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return sum;
}

using test::HttpGet;

class KafkaPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // Short: the analyzer's ipc:// socket lives here, and a socket path has
    // 107 bytes at most. The test's name is in the directory's .name file.
    static int n = 0;
    dir_ = fs::temp_directory_path() / ("cmkwatch-kafka-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / ".name") << info->name() << "\n";
    db_ = (dir_ / "timeline.db").string();
    endpoint_ = "ipc://" + (dir_ / "analyzer.sock").string();
  }
  void TearDown() override {
    if (HasFailure()) {
      for (const auto& entry : fs::directory_iterator(dir_)) {
        if (entry.path().extension() != ".log") continue;
        std::ifstream in(entry.path());
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (text.size() > 5000) text = "..." + text.substr(text.size() - 5000);
        std::printf("---- %s ----\n%s\n", entry.path().filename().c_str(), text.c_str());
      }
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<Process> StartAnalyzer() {
    return std::make_unique<Process>(
        std::vector<std::string>{CMKWATCH_ANALYZER_BIN, "--db", db_, "--bind", endpoint_, "--http", ""},
        dir_ / "analyzer.log");
  }

  // A collector `id` in consumer group `group` (its own spool, its own log
  // "<id>.log", metrics on a port it picks), with `extra` lines added to its
  // kafka source (indented four spaces) and `top` lines at the top level.
  std::unique_ptr<Process> StartCollector(const KafkaMock& kafka, const std::string& id, const std::string& group,
                                          const std::string& extra = "", const std::string& top = "") {
    const fs::path config = dir_ / (id + ".yaml");
    {
      std::ofstream c(config);
      c << "id: " << id << "\nconnect: " << endpoint_ << "\nspool: " << (dir_ / (id + ".spool")).string()
        << "\nhttp: 127.0.0.1:0\n"
        << "send: { resend_after_ms: 1000 }\n"
        << top << "sources:\n  - type: kafka\n    bootstrap_servers: [" << kafka.bootstrap() << "]\n"
        << "    topics: [" << kTopic << "]\n    group_id: " << group << "\n    security: plaintext\n"
        << "    commit_interval_ms: 100\n"
        // Quick failure detection, so a killed member's partitions move on
        // within seconds.
        << "    properties: { session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\" }\n"
        << extra;
    }
    return std::make_unique<Process>(std::vector<std::string>{CMKWATCH_COLLECTOR_BIN, "--config", config.string()},
                                     dir_ / (id + ".log"));
  }

  // The metrics page of the collector `id`, from its latest start.
  std::string CollectorMetrics(const std::string& id) {
    for (int i = 0; i < 100; ++i) {
      std::ifstream in(dir_ / (id + ".log"));
      const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const size_t at = log.rfind("http_port=");
      if (at != std::string::npos) {
        const int port = std::atoi(log.c_str() + at + 10);
        if (port > 0) {
          std::string page = HttpGet(port, "/metrics");
          if (!page.empty()) return page;
        }
      }
      std::this_thread::sleep_for(50ms);
    }
    return "";
  }

  bool WaitFor(const std::function<bool()>& done, std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return done();
  }

  uint64_t StoredEvents() { return test::StoredEvents(db_); }
  std::set<std::string> StoredIds() { return test::StoredIds(db_); }
  void ExpectChainVerifies() { test::ExpectChainVerifies(db_); }
  // Waits until the group's committed offsets are every partition's end.
  void ExpectEverythingCommitted(KafkaMock& kafka, const std::string& group) {
    const std::vector<int64_t> end = kafka.Watermarks();
    std::vector<int64_t> committed;
    EXPECT_TRUE(WaitFor(
        [&] {
          committed = kafka.Committed(group);
          return committed == end;
        },
        30s))
        << "committed " << ::testing::PrintToString(committed) << " of " << ::testing::PrintToString(end);
  }

  fs::path dir_;
  std::string db_;
  std::string endpoint_;
};

// Produce → consume → timeline, with the analyzer down at first: the
// collector spools everything but commits nothing, because nothing is in the
// timeline yet; once the analyzer has stored the events, every partition is
// committed to its end. A malformed message and one without a value are
// quarantined naming topic, partition and offset; their neighbours are
// stored.
TEST_F(KafkaPipelineTest, EventsReachTheTimelineAndOffsetsAreCommittedOnlyAfterTheAnalyzersAck) {
  KafkaMock kafka(dir_, 3);
  ASSERT_FALSE(kafka.bootstrap().empty());
  kafka.Produce(Messages(0, 1000, 25));                            // 40 messages over 4 partitions
  kafka.Produce({R"({"records":[{"time": "2025-03-14T08:00:00Z", "category": )"}, 2);  // cut short
  kafka.Produce({"!null"}, 3);
  auto collector = StartCollector(kafka, "k1", "g1");
  ASSERT_TRUE(WaitFor([&] { return MetricSum(CollectorMetrics("k1"), "cmkwatch_collector_events_spooled_total") >= 1000; },
                      60s))
      << CollectorMetrics("k1");
  std::this_thread::sleep_for(1500ms);  // 15 commit intervals: time enough for a commit that should not happen
  EXPECT_EQ(kafka.Committed("g1"), std::vector<int64_t>(kPartitions, -1)) << "committed before the analyzer had them";
  const std::string before = CollectorMetrics("k1");
  EXPECT_EQ(MetricSum(before, "cmkwatch_kafka_messages_total"), 42) << before;
  EXPECT_EQ(MetricSum(before, "cmkwatch_kafka_quarantined_total"), 2);
  EXPECT_EQ(MetricSum(before, "cmkwatch_kafka_assigned_partitions"), kPartitions);

  auto analyzer = StartAnalyzer();
  ASSERT_TRUE(WaitFor([&] { return StoredEvents() >= 1000; }, 60s)) << StoredEvents();
  ExpectEverythingCommitted(kafka, "g1");
  const std::vector<int64_t> end = kafka.Watermarks();
  EXPECT_TRUE(WaitFor(
      [&] {
        const std::string page = CollectorMetrics("k1");
        for (int p = 0; p < kPartitions; ++p) {
          const std::string l = "partition=\"" + std::to_string(p) + "\"";
          if (MetricSum(page, "cmkwatch_kafka_committed_offset", l) != static_cast<double>(end[p]) ||
              MetricSum(page, "cmkwatch_kafka_lag", l) != 0) {
            return false;
          }
        }
        return true;
      },
      10s))
      << CollectorMetrics("k1");

  auto t = analyzer::Timeline::Open(db_, {});
  ASSERT_TRUE(t.ok());
  auto q = (*t)->Quarantined(10);
  ASSERT_TRUE(q.ok());
  std::map<std::string, std::string> reasons;
  for (const auto& e : *q) reasons[e.path] = e.reason;
  ASSERT_EQ(reasons.size(), 2u) << ::testing::PrintToString(reasons);
  // Partition 2 holds 10 records messages (offsets 0-9), then the cut one.
  EXPECT_TRUE(reasons.count("kafka:cmk/2@10")) << ::testing::PrintToString(reasons);
  EXPECT_TRUE(reasons.count("kafka:cmk/3@10")) << ::testing::PrintToString(reasons);
  EXPECT_NE(reasons["kafka:cmk/3@10"].find("no value"), std::string::npos);
  EXPECT_FALSE(reasons["kafka:cmk/2@10"].empty());

  collector->Signal(SIGTERM);
  analyzer->Signal(SIGTERM);
  EXPECT_EQ(collector->Wait(), 0);
  EXPECT_EQ(analyzer->Wait(), 0);
  EXPECT_TRUE(StoredIds() == IdsOf(0, 1000));
  ExpectChainVerifies();
}

// A collector that spooled everything and then lost its machine — killed,
// its disk (the spool) gone — while the analyzer was down: nothing had been
// acknowledged, so nothing was committed, and the member that takes over
// its partitions reads every record again. (A source that committed once
// its spool held a batch would have lost all of them here.)
TEST_F(KafkaPipelineTest, ACollectorLostWithItsSpoolLosesNothing) {
  KafkaMock kafka(dir_, 1);
  ASSERT_FALSE(kafka.bootstrap().empty());
  kafka.Produce(Messages(0, 1000, 25));
  auto lost = StartCollector(kafka, "klost", "glost");
  ASSERT_TRUE(WaitFor([&] { return MetricSum(CollectorMetrics("klost"), "cmkwatch_collector_events_spooled_total") >= 1000; },
                      60s));
  std::this_thread::sleep_for(500ms);
  lost->Signal(SIGKILL);
  EXPECT_EQ(lost->Wait(), 128 + SIGKILL);
  fs::remove(dir_ / "klost.spool");
  fs::remove(dir_ / "klost.spool-wal");
  fs::remove(dir_ / "klost.spool-shm");

  auto analyzer = StartAnalyzer();
  auto heir = StartCollector(kafka, "kheir", "glost");
  ASSERT_TRUE(WaitFor([&] { return StoredEvents() >= 1000; }, 60s)) << StoredEvents();
  ExpectEverythingCommitted(kafka, "glost");
  heir->Signal(SIGTERM);
  analyzer->Signal(SIGTERM);
  EXPECT_EQ(heir->Wait(), 0);
  EXPECT_EQ(analyzer->Wait(), 0);
  EXPECT_TRUE(StoredIds() == IdsOf(0, 1000));
}

// Two collectors in one consumer group split the partitions; when one
// leaves, the other takes them all over and carries on from the committed
// offsets. Every record is stored once.
TEST_F(KafkaPipelineTest, TwoCollectorsShareThePartitionsAndOneTakesOverWhenTheOtherLeaves) {
  KafkaMock kafka(dir_, 3);
  ASSERT_FALSE(kafka.bootstrap().empty());
  auto analyzer = StartAnalyzer();
  auto a = StartCollector(kafka, "ka", "shared");
  auto b = StartCollector(kafka, "kb", "shared");
  auto assigned = [&](const std::string& id) {
    return MetricSum(CollectorMetrics(id), "cmkwatch_kafka_assigned_partitions");
  };
  ASSERT_TRUE(WaitFor([&] { return assigned("ka") > 0 && assigned("kb") > 0 && assigned("ka") + assigned("kb") == kPartitions; },
                      60s))
      << "ka " << assigned("ka") << ", kb " << assigned("kb");
  auto rebalances = [&] {
    return MetricSum(CollectorMetrics("ka"), "cmkwatch_kafka_rebalances_total") +
           MetricSum(CollectorMetrics("kb"), "cmkwatch_kafka_rebalances_total");
  };
  const double rebalances_before = rebalances();
  kafka.Produce(Messages(0, 2000, 20));
  ASSERT_TRUE(WaitFor([&] { return StoredEvents() >= 2000; }, 60s)) << StoredEvents();
  const double by_a = MetricSum(CollectorMetrics("ka"), "cmkwatch_kafka_events_total");
  const double by_b = MetricSum(CollectorMetrics("kb"), "cmkwatch_kafka_events_total");
  EXPECT_GT(by_a, 0);
  EXPECT_GT(by_b, 0);
  if (rebalances() == rebalances_before) {
    EXPECT_EQ(by_a + by_b, 2000) << "while the group was stable each record was read by one member only";
  } else {
    EXPECT_GE(by_a + by_b, 2000);  // a rebalance re-reads what was in flight
  }

  a->Signal(SIGTERM);
  EXPECT_EQ(a->Wait(), 0);
  ASSERT_TRUE(WaitFor([&] { return assigned("kb") == kPartitions; }, 60s)) << assigned("kb");
  kafka.Produce(Messages(2000, 2000, 20));
  ASSERT_TRUE(WaitFor([&] { return StoredEvents() >= 4000; }, 60s)) << StoredEvents();
  ExpectEverythingCommitted(kafka, "shared");
  b->Signal(SIGTERM);
  EXPECT_EQ(b->Wait(), 0);
  analyzer->Signal(SIGTERM);
  EXPECT_EQ(analyzer->Wait(), 0);
  EXPECT_TRUE(StoredIds() == IdsOf(0, 4000));
  ExpectChainVerifies();
}

// Broker trouble: fetches and offset commits fail for a while (errors the
// cluster injects), then a broker goes down with its partitions and comes
// back. Commits that failed are made again; nothing is lost or doubled.
TEST_F(KafkaPipelineTest, BrokerErrorsAndABrokerOutageLoseNothing) {
  KafkaMock kafka(dir_, 3);
  ASSERT_FALSE(kafka.bootstrap().empty());
  auto analyzer = StartAnalyzer();
  auto collector = StartCollector(kafka, "kerr", "gerr");
  ASSERT_TRUE(WaitFor([&] { return MetricSum(CollectorMetrics("kerr"), "cmkwatch_kafka_assigned_partitions") == kPartitions; },
                      60s));
  // ApiKey 1 Fetch, 8 OffsetCommit; 6 NOT_LEADER_OR_FOLLOWER, 12
  // OFFSET_METADATA_TOO_LARGE (not retriable: librdkafka hands it to the
  // collector, whose own retry must then commit), 16 NOT_COORDINATOR and
  // 7 REQUEST_TIMED_OUT (retriable: librdkafka may retry them itself).
  kafka.Command("errors 1 6 5");
  kafka.Command("errors 8 12 2");
  kafka.Command("errors 8 16 3");
  kafka.Command("errors 8 7 3");
  kafka.Produce(Messages(0, 1500, 25));
  ASSERT_TRUE(WaitFor([&] { return StoredEvents() >= 1500; }, 60s)) << StoredEvents();
  kafka.Command("down 2");
  std::this_thread::sleep_for(1500ms);
  kafka.Command("up 2");
  kafka.Produce(Messages(1500, 1500, 25));
  ASSERT_TRUE(WaitFor([&] { return StoredEvents() >= 3000; }, 90s)) << StoredEvents();
  ExpectEverythingCommitted(kafka, "gerr");
  const std::string page = CollectorMetrics("kerr");
  EXPECT_GT(MetricSum(page, "cmkwatch_kafka_commit_failures_total"), 0) << "the injected commit errors were seen";
  collector->Signal(SIGTERM);
  analyzer->Signal(SIGTERM);
  EXPECT_EQ(collector->Wait(), 0);
  EXPECT_EQ(analyzer->Wait(), 0);
  EXPECT_TRUE(StoredIds() == IdsOf(0, 3000));
  ExpectChainVerifies();
}

// The spool holds only a few batches and the analyzer is down: the source
// is refused, pauses its partitions and waits; nothing is dropped. Once the
// analyzer is back, everything drains, exactly once.
TEST_F(KafkaPipelineTest, AFullSpoolPausesConsumptionAndLosesNothing) {
  KafkaMock kafka(dir_, 1);
  ASSERT_FALSE(kafka.bootstrap().empty());
  kafka.Produce(Messages(0, 4000, 10));  // ~5.3 MB of records, 400 messages
  auto collector = StartCollector(kafka, "kfull", "gfull",
                                  "    max_message_bytes: 128KiB\n    max_batch_bytes: 64KiB\n",
                                  "spool_max_bytes: 1MiB\n");
  ASSERT_TRUE(WaitFor([&] { return MetricSum(CollectorMetrics("kfull"), "cmkwatch_kafka_paused") == 1; }, 60s))
      << CollectorMetrics("kfull");
  std::this_thread::sleep_for(1s);
  const std::string paused = CollectorMetrics("kfull");
  EXPECT_EQ(MetricSum(paused, "cmkwatch_collector_blocked"), 1);
  EXPECT_LT(MetricSum(paused, "cmkwatch_collector_events_spooled_total"), 4000);
  EXPECT_GT(MetricSum(paused, "cmkwatch_kafka_rejected_batches_total"), 0);
  EXPECT_EQ(kafka.Committed("gfull"), std::vector<int64_t>(kPartitions, -1));

  auto analyzer = StartAnalyzer();
  ASSERT_TRUE(WaitFor([&] { return StoredEvents() >= 4000; }, 90s)) << StoredEvents();
  ExpectEverythingCommitted(kafka, "gfull");
  EXPECT_EQ(MetricSum(CollectorMetrics("kfull"), "cmkwatch_kafka_paused"), 0);
  collector->Signal(SIGTERM);
  analyzer->Signal(SIGTERM);
  EXPECT_EQ(collector->Wait(), 0);
  EXPECT_EQ(analyzer->Wait(), 0);
  EXPECT_TRUE(StoredIds() == IdsOf(0, 4000));
}

// The issue's acceptance test for the source: records keep arriving while
// two collectors of one group are SIGKILLed at random points — mid-batch,
// with batches spooled but not acknowledged and offsets not committed — and
// restarted, and the analyzer is SIGKILLed once too. Every record is stored
// exactly once and every partition ends committed.
TEST_F(KafkaPipelineTest, CollectorsKilledMidBatchAndRestartedStoreEveryRecordOnce) {
  KafkaMock kafka(dir_, 3);
  ASSERT_FALSE(kafka.bootstrap().empty());
  auto analyzer = StartAnalyzer();
  const std::string small = "    max_batch_events: 40\n";
  std::unique_ptr<Process> c[2] = {StartCollector(kafka, "kill-a", "gkill", small),
                                   StartCollector(kafka, "kill-b", "gkill", small)};
  std::mt19937_64 rng(20261202);  // fixed: a failure reproduces
  const uint64_t chunks = 10, per_chunk = 800;  // ~3 MB per partition: the mock cluster keeps 5
  int kills = 0;
  for (uint64_t i = 0; i < chunks; ++i) {
    kafka.Produce(Messages(i * per_chunk, per_chunk, 10));
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
    if (i % 2 == 1 && i + 1 < chunks) {
      const size_t victim = (i / 2) % 2;
      c[victim]->Signal(SIGKILL);
      EXPECT_EQ(c[victim]->Wait(), 128 + SIGKILL);
      ++kills;
      c[victim] = StartCollector(kafka, victim == 0 ? "kill-a" : "kill-b", "gkill", small);
    }
    if (i == 6) {
      analyzer->Signal(SIGKILL);
      EXPECT_EQ(analyzer->Wait(), 128 + SIGKILL);
      analyzer = StartAnalyzer();
    }
  }
  EXPECT_GE(kills, 4);
  const uint64_t total = chunks * per_chunk;
  ASSERT_TRUE(WaitFor([&] { return StoredEvents() >= total; }, 120s)) << StoredEvents() << " of " << total;
  ExpectEverythingCommitted(kafka, "gkill");
  for (auto& p : c) {
    p->Signal(SIGTERM);
    EXPECT_EQ(p->Wait(), 0);
  }
  analyzer->Signal(SIGTERM);
  EXPECT_EQ(analyzer->Wait(), 0);
  EXPECT_TRUE(StoredIds() == IdsOf(0, total));
  ExpectChainVerifies();
}

// Event Hubs' connection string is a key to the namespace: it must never
// reach a log line, even with librdkafka's security and broker debugging on
// while its SASL/TLS handshake fails against a broker that speaks neither.
TEST_F(KafkaPipelineTest, TheConnectionStringNeverReachesTheLog) {
  KafkaMock kafka(dir_, 1);
  ASSERT_FALSE(kafka.bootstrap().empty());
  const std::string key = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1sb2dnZWQtMDEyMzQ1Njc4OQ==";
  const fs::path secret = dir_ / "eventhubs.connstr";
  std::ofstream(secret) << "Endpoint=sb://cmkwatch-test.servicebus.windows.net/;SharedAccessKeyName=listen;"
                        << "SharedAccessKey=" << key << ";EntityPath=" << kTopic << "\n";
  fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
  const fs::path config = dir_ / "secret.yaml";
  std::ofstream(config) << "id: ksecret\nconnect: " << endpoint_ << "\nspool: " << (dir_ / "s.spool").string()
                        << "\nlog: { level: debug }\nsources:\n  - type: kafka\n    bootstrap_servers: ["
                        << kafka.bootstrap() << "]\n    topics: [" << kTopic << "]\n"
                        << "    security: connection_string\n    connection_string_file: " << secret.string() << "\n"
                        << "    properties: { debug: \"security,broker,conf\" }\n";
  auto collector = std::make_unique<Process>(
      std::vector<std::string>{CMKWATCH_COLLECTOR_BIN, "--config", config.string()}, dir_ / "secret.log");
  std::string log;
  ASSERT_TRUE(WaitFor(
      [&] {
        log = test::ReadFileOrFail(dir_ / "secret.log");
        // The client tried: its TLS handshake with the plaintext broker failed
        // (and librdkafka printed its configuration, redacted).
        return log.find("level=warning msg=\"kafka client\"") != std::string::npos &&
               log.find("SSL_HANDSHAKE") != std::string::npos && log.find("sasl.password") != std::string::npos;
      },
      30s))
      << log;
  std::this_thread::sleep_for(2s);  // a few reconnect attempts
  collector->Signal(SIGTERM);
  EXPECT_EQ(collector->Wait(), 0);
  log = test::ReadFileOrFail(dir_ / "secret.log");
  EXPECT_EQ(log.find(key), std::string::npos) << "the key is in the log";
  EXPECT_EQ(log.find(key.substr(0, 16)), std::string::npos) << "part of the key is in the log";
  EXPECT_EQ(log.find("SharedAccessKey="), std::string::npos);
}

}  // namespace
}  // namespace cmkwatch
