// cmkwatch-bench-kafka: events/s from a Kafka topic (librdkafka's mock
// cluster in the cmkwatch-test-kafka process) through one or more
// collectors of one consumer group to committed rows in the analyzer's
// timeline, all as real processes on this machine.
//
//   1. The input (cmkwatch-bench-gen's kv_audit.jsonl, one record a line) is
//      cut into Event Hubs-style messages of --per-message records
//      ({"records":[...]}), to be produced round-robin into --partitions
//      partitions.
//   2. The analyzer and --collectors collectors start; once the consumer
//      group has settled (each collector owns partitions, together all of
//      them) the messages are produced, at t0, as fast as the mock cluster
//      takes them, while the collectors consume.
//   3. The run ends when the timeline holds every record; then it waits for
//      the group's committed offsets to reach every partition's end.
// Reports events/s from t0 to the last committed row, how the records split
// between the collectors, the commit lag after the last row, and peak RSS.
//
// Benchmarks print figures; they are not tests (bench/README.md).
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string analyzer, collector, kafka, input, work;
  uint64_t records = 0;  // 0: all of the input
  uint64_t per_message = 100;
  int partitions = 32;  // Event Hubs Standard's maximum per hub
  int collectors = 1;
};

pid_t Spawn(std::vector<std::string> argv, const fs::path& log, int in_fd = -1, int out_fd = -1) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in_fd >= 0) {
    posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  } else {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out_fd >= 0) {
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  } else {
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

double PeakRssMiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return 0;
}

void StopAndWait(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

// The mock cluster process, one command and one answer line at a time.
class Mock {
 public:
  Mock(const Options& o, const fs::path& work) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = Spawn({o.kafka, "--brokers", "3", "--topic", "cmk:" + std::to_string(o.partitions)}, work / "kafka.log",
                 in[0], out[1]);
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
    const std::string first = Line();
    if (first.rfind("bootstrap ", 0) == 0) bootstrap_ = first.substr(10);
  }
  ~Mock() {
    ::close(to_);
    int status = 0;
    if (pid_ > 0) ::waitpid(pid_, &status, 0);
    ::close(from_);
  }
  const std::string& bootstrap() const { return bootstrap_; }
  std::string Command(const std::string& cmd) {
    const std::string l = cmd + "\n";
    if (::write(to_, l.data(), l.size()) != static_cast<ssize_t>(l.size())) return "error write";
    return Line();
  }

 private:
  std::string Line() {
    for (;;) {
      const size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      char chunk[4096];
      const ssize_t n = ::read(from_, chunk, sizeof chunk);
      if (n <= 0) return "error eof";
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buf_, bootstrap_;
};

int64_t CountRows(const std::string& path) {
  if (!fs::exists(path)) return 0;
  sqlite3* db = nullptr;
  int64_t n = 0;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM events", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

std::string HttpGet(int port, const std::string& path) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  std::string out;
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    (void)::send(s, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[65536];
    for (ssize_t n; (n = ::read(s, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  }
  ::close(s);
  return out;
}

double MetricSum(const std::string& page, const std::string& name) {
  double sum = 0;
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + "{", 0) == 0) sum += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return sum;
}

int PortOf(const fs::path& log) {
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = text.rfind("http_port=");
  return at == std::string::npos ? 0 : std::atoi(text.c_str() + at + 10);
}

int Run(const Options& o) {
  const fs::path work = o.work;
  fs::remove_all(work);
  fs::create_directories(work);
  // Messages: --per-message records each.
  uint64_t records = 0, bytes = 0, messages = 0;
  {
    std::ifstream in(o.input, std::ios::binary);
    std::ofstream out(work / "messages.txt", std::ios::binary);
    std::string line, msg;
    uint64_t in_msg = 0;
    auto flush = [&] {
      if (in_msg == 0) return;
      out << "{\"records\":[" << msg << "]}\n";
      ++messages;
      msg.clear();
      in_msg = 0;
    };
    while (std::getline(in, line) && (o.records == 0 || records < o.records)) {
      if (line.empty()) continue;
      if (in_msg > 0) msg += ',';
      msg += line;
      ++records;
      bytes += line.size();
      if (++in_msg == o.per_message) flush();
    }
    flush();
  }
  Mock mock(o, work);
  if (mock.bootstrap().empty()) {
    std::fprintf(stderr, "cmkwatch-bench-kafka: the mock cluster did not start (see %s)\n", (work / "kafka.log").c_str());
    return 1;
  }
  const std::string db = (work / "timeline.db").string();
  const std::string endpoint = "ipc://" + (work / "analyzer.sock").string();
  const pid_t analyzer = Spawn({o.analyzer, "--db", db, "--bind", endpoint, "--http", ""}, work / "analyzer.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<pid_t> collectors;
  const auto g0 = Clock::now();
  for (int i = 0; i < o.collectors; ++i) {
    const std::string id = "bench-" + std::to_string(i);
    const fs::path config = work / (id + ".yaml");
    std::ofstream(config) << "id: " << id << "\nconnect: " << endpoint << "\nspool: " << (work / (id + ".spool")).string()
                          << "\nhttp: 127.0.0.1:0\nsources:\n  - type: kafka\n    bootstrap_servers: ["
                          << mock.bootstrap() << "]\n    topics: [cmk]\n    group_id: bench\n"
                          << "    security: plaintext\n"
                          // The mock cluster can leave a member that joined
                          // in the same instant as another out of the first
                          // assignment until its session times out; a short
                          // session keeps that stall to seconds.
                          << "    properties: { session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\" }\n";
    collectors.push_back(Spawn({o.collector, "--config", config.string()}, work / (id + ".log")));
  }
  // The group first: every collector owns some partitions and together all
  // of them, so the figure is the steady state, not the join.
  auto assigned = [&](int i) {
    const int port = PortOf(work / ("bench-" + std::to_string(i) + ".log"));
    return port > 0 ? MetricSum(HttpGet(port, "/metrics"), "cmkwatch_kafka_assigned_partitions") : 0.0;
  };
  bool stable = false;
  while (!stable && Clock::now() - g0 < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    double sum = 0;
    stable = true;
    for (int i = 0; i < o.collectors; ++i) {
      const double a = assigned(i);
      sum += a;
      if (a <= 0) stable = false;
    }
    stable = stable && sum == o.partitions;
  }
  const double group_s = std::chrono::duration<double>(Clock::now() - g0).count();
  if (!stable) {
    std::fprintf(stderr, "cmkwatch-bench-kafka: the consumer group did not settle within 120 s\n");
    for (pid_t c : collectors) StopAndWait(c);
    StopAndWait(analyzer);
    return 1;
  }

  // t0: records start going in, produced as fast as the mock cluster takes
  // them while the collectors consume.
  const auto t0 = Clock::now();
  const std::string produced = mock.Command("produce cmk -1 " + (work / "messages.txt").string());
  const double produce_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (produced.rfind("ok", 0) != 0) {
    std::fprintf(stderr, "cmkwatch-bench-kafka: produce: %s\n", produced.c_str());
    return 1;
  }
  const std::string watermarks = mock.Command("watermarks cmk");
  // The mock cluster keeps only about the last 5 MB of each partition; a run
  // whose oldest messages were dropped would wait for rows that never come.
  {
    std::istringstream starts(mock.Command("starts cmk").substr(2));
    for (int64_t lo; starts >> lo;) {
      if (lo > 0) {
        std::fprintf(stderr,
                     "cmkwatch-bench-kafka: the mock cluster dropped the oldest messages (it keeps about 5 MB per "
                     "partition): give more --partitions or fewer --records\n");
        for (pid_t c : collectors) StopAndWait(c);
        StopAndWait(analyzer);
        return 1;
      }
    }
  }
  auto t_first = t0;
  bool seen_first = false;
  int64_t stored = 0;
  const auto deadline = t0 + std::chrono::hours(1);
  while (Clock::now() < deadline) {
    stored = CountRows(db);
    if (!seen_first && stored > 0) {
      t_first = Clock::now();
      seen_first = true;
    }
    if (stored >= static_cast<int64_t>(records)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto t_end = Clock::now();
  // The group's commits catch up after the last row (commit_interval_ms).
  std::string committed;
  const std::string want = watermarks.substr(2);
  const auto c0 = Clock::now();
  while (Clock::now() - c0 < std::chrono::seconds(30)) {
    committed = mock.Command("committed bench cmk");
    if (committed.size() > 2 && committed.substr(2) == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double commit_lag = std::chrono::duration<double>(Clock::now() - t_end).count();
  std::vector<double> split;
  double rss_c = 0;
  for (int i = 0; i < o.collectors; ++i) {
    const int port = PortOf(work / ("bench-" + std::to_string(i) + ".log"));
    split.push_back(port > 0 ? MetricSum(HttpGet(port, "/metrics"), "cmkwatch_kafka_events_total") : -1);
    rss_c = std::max(rss_c, PeakRssMiB(collectors[static_cast<size_t>(i)]));
  }
  const double rss_a = PeakRssMiB(analyzer);
  for (pid_t c : collectors) StopAndWait(c);
  StopAndWait(analyzer);

  const double total_s = std::chrono::duration<double>(t_end - t0).count();
  std::printf("kafka: %d collector(s), %d partitions, %llu records (%.1f MB) in %llu messages of %llu\n",
              o.collectors, o.partitions, static_cast<unsigned long long>(records), static_cast<double>(bytes) / 1e6,
              static_cast<unsigned long long>(messages), static_cast<unsigned long long>(o.per_message));
  std::printf("  consumer group settled in       %.2f s (not part of the figures)\n", group_s);
  std::printf("  produced into the mock cluster  in %.2f s, while being consumed\n", produce_s);
  std::printf("  stored %lld of %llu\n", static_cast<long long>(stored), static_cast<unsigned long long>(records));
  std::printf("  events/s, produce to committed  %.0f (%.2f s; first row after %.3f s)\n",
              static_cast<double>(stored) / total_s, total_s, std::chrono::duration<double>(t_first - t0).count());
  std::printf("  input MB/s                      %.1f\n", static_cast<double>(bytes) / 1e6 / total_s);
  std::printf("  events per collector           ");
  for (double s : split) std::printf(" %.0f", s);
  std::printf("\n  all offsets committed           %s, %.2f s after the last row\n",
              committed.size() > 2 && committed.substr(2) == want ? "yes" : "NO", commit_lag);
  std::printf("  peak RSS analyzer %.1f MiB, collector (max) %.1f MiB\n", rss_a, rss_c);
  return stored == static_cast<int64_t>(records) ? 0 : 1;
}

constexpr const char* kUsage =
    "usage: cmkwatch-bench-kafka --analyzer BIN --collector BIN --kafka BIN --input FILE --work DIR\n"
    "                            [--records N] [--per-message N] [--partitions N] [--collectors N]\n";

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--analyzer") o.analyzer = v;
    else if (a == "--collector") o.collector = v;
    else if (a == "--kafka") o.kafka = v;
    else if (a == "--input") o.input = v;
    else if (a == "--work") o.work = v;
    else if (a == "--records") o.records = std::strtoull(v, nullptr, 10);
    else if (a == "--per-message") o.per_message = std::strtoull(v, nullptr, 10);
    else if (a == "--partitions") o.partitions = std::atoi(v);
    else if (a == "--collectors") o.collectors = std::atoi(v);
    else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (o.analyzer.empty() || o.collector.empty() || o.kafka.empty() || o.input.empty() || o.work.empty() ||
      o.per_message == 0 || o.partitions < 1 || o.collectors < 1) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  return Run(o);
}
