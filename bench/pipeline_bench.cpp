// cmkwatch-bench-pipeline: one collector and one analyzer, as real
// processes on this machine, from records on disk to committed rows.
//
//   throughput  a Key Vault JSON Lines file (cmkwatch-bench-gen's
//               kv_audit.jsonl) is renamed into the watched directory at
//               t0; the run ends when the timeline holds every record.
//               Reports events/s, MB/s of input, both daemons' peak RSS
//               (VmHWM), and database bytes per event and per input byte.
//   latency     records are appended to a watched file at a steady rate,
//               each stamped with its append time as its event time; after
//               the run, each row's received_ns (the analyzer's receive
//               time, just before its commit) minus that time gives the
//               append → analyzer latency, reported as p50/p99/max, plus
//               the analyzer's own receive → ack histogram (commit included).
//   soak        latency's steady appends for a long time (bench/run_soak_bench.sh:
//               30 minutes at 5,000 events/s), with a key deleted and
//               recovered every second (an alert opened and resolved each
//               time) and the analyzer's alerts going to a file and to a
//               webhook receiver on loopback. Every --sample-every seconds
//               it prints each daemon's RSS and open descriptors, the
//               database size, the events stored and the append → analyzer
//               latency p99 of that interval: nothing may grow without bound.
//
// Benchmarks print figures; they are not tests (bench/README.md).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string analyzer, collector, input, work, mode = "throughput";
  double rate = 10'000;
  double seconds = 30;
  double sample_every = 60;
  std::string webhook_url;  // soak: the analyzer's webhook sink posts here
};

pid_t Spawn(std::vector<std::string> argv, const fs::path& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// Peak resident set (VmHWM) in MiB, read before the process exits.
// A size field of /proc/PID/status ("VmHWM:", "VmRSS:", in kB) in MiB.
double StatusMiB(pid_t pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::strtod(line.c_str() + field.size(), nullptr) / 1024.0;
  }
  return 0;
}
double PeakRssMiB(pid_t pid) { return StatusMiB(pid, "VmHWM:"); }

void StopAndWait(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

// A read-only second connection, as `cmkwatch timeline` would use.
class Db {
 public:
  explicit Db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db_);
      db_ = nullptr;
    } else {
      sqlite3_busy_timeout(db_, 5000);
    }
  }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  int64_t Count() {
    if (db_ == nullptr) return 0;
    sqlite3_stmt* st = nullptr;
    int64_t n = 0;
    if (sqlite3_prepare_v2(db_, "SELECT count(*) FROM events", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
  }
  std::vector<int64_t> LatenciesNs() {
    std::vector<int64_t> out;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT received_ns - time_ns FROM events", -1, &st, nullptr) != SQLITE_OK) return out;
    while (sqlite3_step(st) == SQLITE_ROW) out.push_back(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

int64_t WaitForCount(const std::string& db_path, int64_t want, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  int64_t n = 0;
  while (Clock::now() < deadline) {
    if (fs::exists(db_path)) {
      Db db(db_path);
      n = db.Count();
      if (n >= want) return n;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return n;
}

uint64_t FileBytes(const std::string& path) {
  uint64_t n = 0;
  std::error_code ec;
  for (const char* ext : {"", "-wal"}) {
    const auto s = fs::file_size(path + ext, ec);
    if (!ec) n += s;
  }
  return n;
}

struct Daemons {
  pid_t analyzer = -1, collector = -1;
  std::string db, endpoint;
};

// The resident set now, not the peak.
double RssMiB(pid_t pid) { return StatusMiB(pid, "VmRSS:"); }

size_t OpenFds(pid_t pid) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    ++n;
  }
  return n;
}

Daemons Start(const Options& o, const fs::path& work) {
  Daemons d;
  d.db = (work / "timeline.db").string();
  d.endpoint = "ipc://" + (work / "analyzer.sock").string();
  if (!o.webhook_url.empty()) {
    // The webhook's URL is a secret like any other: from a 0600 file.
    const fs::path url = work / "webhook.url";
    std::ofstream(url) << o.webhook_url << "\n";
    fs::permissions(url, fs::perms::owner_read | fs::perms::owner_write);
    std::ofstream(work / "analyzer.yaml") << "db: timeline.db\nbind: " << d.endpoint << "\nhttp: \"\"\n"
                                         << "alerts:\n  sinks:\n"
                                         << "    - { name: file, type: file, path: alerts.jsonl }\n"
                                         << "    - { name: hook, type: webhook, url_file: webhook.url }\n";
    d.analyzer = Spawn({o.analyzer, "--config", (work / "analyzer.yaml").string()}, work / "analyzer.log");
  } else {
    d.analyzer = Spawn({o.analyzer, "--db", d.db, "--bind", d.endpoint, "--http", ""}, work / "analyzer.log");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  d.collector = Spawn({o.collector, "--connect", d.endpoint, "--spool", (work / "collector.spool").string(), "--id",
                       "bench", (work / "logs").string()},
                      work / "collector.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  return d;
}

int Throughput(const Options& o, const fs::path& work) {
  // Count records (lines) and stage a copy on the same file system, so the
  // rename at t0 is instant and the collector sees a complete file.
  uint64_t records = 0, bytes = 0;
  {
    std::ifstream in(o.input, std::ios::binary);
    std::ofstream out(work / "staged.json", std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      ++records;
      bytes += line.size() + 1;
      out << line << '\n';
    }
  }
  Daemons d = Start(o, work);
  const auto t0 = Clock::now();
  fs::rename(work / "staged.json", work / "logs" / "PT1H.json");
  const int64_t stored = WaitForCount(d.db, static_cast<int64_t>(records), std::chrono::seconds(3600));
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const double rss_a = PeakRssMiB(d.analyzer), rss_c = PeakRssMiB(d.collector);
  StopAndWait(d.collector);
  StopAndWait(d.analyzer);
  const uint64_t db_bytes = FileBytes(d.db);
  std::printf("throughput: %llu records (%.1f MB) stored %lld in %.2f s\n", static_cast<unsigned long long>(records),
              static_cast<double>(bytes) / 1e6, static_cast<long long>(stored), secs);
  std::printf("  events/s            %.0f\n", static_cast<double>(stored) / secs);
  std::printf("  input MB/s          %.1f\n", static_cast<double>(bytes) / 1e6 / secs);
  std::printf("  peak RSS analyzer   %.1f MiB\n", rss_a);
  std::printf("  peak RSS collector  %.1f MiB\n", rss_c);
  std::printf("  database            %.1f MB, %.0f bytes/event, %.3f x input\n", static_cast<double>(db_bytes) / 1e6,
              static_cast<double>(db_bytes) / static_cast<double>(std::max<int64_t>(1, stored)),
              static_cast<double>(db_bytes) / static_cast<double>(std::max<uint64_t>(1, bytes)));
  return stored == static_cast<int64_t>(records) ? 0 : 1;
}

// The template's "time" value is replaced by the append time.
std::string Stamp(const std::string& tmpl, size_t time_at, size_t time_len, uint64_t n, int64_t now_ns) {
  const int64_t secs = now_ns / 1'000'000'000;
  const int64_t frac = (now_ns % 1'000'000'000) / 100;  // 7 digits, Azure's precision
  std::time_t t = secs;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%07lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
  std::string r = tmpl;
  r.replace(time_at, time_len, ts);
  // A distinct record each time: the correlation id carries the counter.
  const size_t corr = r.find("\"correlationId\"");
  if (corr != std::string::npos) {
    const size_t q = r.find('"', r.find(':', corr) + 1);
    char id[64];
    std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012llx", static_cast<unsigned long long>(n));
    r.replace(q + 1, 36, id);
  }
  return r;
}

int Latency(const Options& o, const fs::path& work) {
  std::string tmpl;
  {
    std::ifstream in(o.input, std::ios::binary);
    std::getline(in, tmpl);
  }
  const size_t key = tmpl.find("\"time\"");
  if (key == std::string::npos) {
    std::fprintf(stderr, "cmkwatch-bench-pipeline: no \"time\" in the first record of %s\n", o.input.c_str());
    return 2;
  }
  const size_t time_at = tmpl.find('"', tmpl.find(':', key) + 1) + 1;
  const size_t time_len = tmpl.find('"', time_at) - time_at;

  Daemons d = Start(o, work);
  std::ofstream out(work / "logs" / "PT1H.json", std::ios::binary | std::ios::app);
  const auto t0 = Clock::now();
  const auto tick = std::chrono::milliseconds(10);
  uint64_t written = 0;
  for (auto next = t0; std::chrono::duration<double>(Clock::now() - t0).count() < o.seconds; next += tick) {
    std::this_thread::sleep_until(next);
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto due = static_cast<uint64_t>(elapsed * o.rate);
    std::string chunk;
    for (; written < due; ++written) {
      const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      chunk += Stamp(tmpl, time_at, time_len, written, now);
      chunk += '\n';
    }
    out << chunk;
    out.flush();
  }
  const int64_t stored = WaitForCount(d.db, static_cast<int64_t>(written), std::chrono::seconds(300));
  const double rss_a = PeakRssMiB(d.analyzer), rss_c = PeakRssMiB(d.collector);
  StopAndWait(d.collector);
  StopAndWait(d.analyzer);
  Db db(d.db);
  std::vector<int64_t> lat = db.LatenciesNs();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    if (lat.empty()) return 0.0;
    return static_cast<double>(lat[std::min(lat.size() - 1, static_cast<size_t>(p * static_cast<double>(lat.size())))]) / 1e6;
  };
  std::printf("latency: %.0f events/s for %.0f s: %llu written, %lld stored\n", o.rate, o.seconds,
              static_cast<unsigned long long>(written), static_cast<long long>(stored));
  std::printf("  append -> analyzer  p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", pct(0.50), pct(0.99), pct(1.0));
  std::printf("  peak RSS analyzer   %.1f MiB, collector %.1f MiB\n", rss_a, rss_c);
  return stored == static_cast<int64_t>(written) ? 0 : 1;
}

// The latency run's appends, kept up for a long time and sampled.
int Soak(const Options& o, const fs::path& work) {
  std::string tmpl;
  {
    std::ifstream in(o.input, std::ios::binary);
    std::getline(in, tmpl);
  }
  const size_t key = tmpl.find("\"time\"");
  const size_t op = tmpl.find("\"operationName\":\"");
  if (key == std::string::npos || op == std::string::npos) {
    std::fprintf(stderr, "cmkwatch-bench-pipeline: no time or operationName in the first record of %s\n",
                 o.input.c_str());
    return 2;
  }
  const size_t time_at = tmpl.find('"', tmpl.find(':', key) + 1) + 1;
  const size_t time_len = tmpl.find('"', time_at) - time_at;
  // The same record as a KeyDelete and a KeyRecover: CMK001 opens and
  // resolves, so the sinks have work all along.
  const size_t op_at = op + 17, op_len = tmpl.find('"', op + 17) - (op + 17);
  auto with_op = [&](const char* name) {
    std::string r = tmpl;
    r.replace(op_at, op_len, name);
    return r;
  };
  const std::string deleted = with_op("KeyDelete"), recovered = with_op("KeyRecover");
  auto stamp_of = [&](const std::string& t) {
    const size_t k = t.find("\"time\"");
    const size_t at = t.find('"', t.find(':', k) + 1) + 1;
    return std::pair<size_t, size_t>(at, t.find('"', at) - at);
  };
  const auto [del_at, del_len] = stamp_of(deleted);
  const auto [rec_at, rec_len] = stamp_of(recovered);

  Daemons d = Start(o, work);
  std::ofstream out(work / "logs" / "PT1H.json", std::ios::binary | std::ios::app);
  const auto t0 = Clock::now();
  const auto tick = std::chrono::milliseconds(10);
  uint64_t written = 0, keyops = 0;
  double next_sample = 0;
  int64_t last_rowid = 0;
  std::printf("soak: %.0f events/s for %.0f s, sampled every %.0f s\n", o.rate, o.seconds, o.sample_every);
  std::printf("%8s %12s %12s %8s %8s %10s %12s %10s\n", "t_s", "analyzer_MiB", "collector_MiB", "a_fds", "c_fds",
              "db_MB", "stored", "p99_ms");
  for (auto next = t0;; next += tick) {
    std::this_thread::sleep_until(next);
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    if (elapsed >= next_sample) {
      Db db(d.db);
      std::vector<int64_t> lat;
      int64_t stored = 0;
      if (sqlite3* h = nullptr; sqlite3_open_v2(d.db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 5000);
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(h, "SELECT rowid, received_ns - time_ns FROM events WHERE rowid > ?", -1, &st,
                               nullptr) == SQLITE_OK) {
          sqlite3_bind_int64(st, 1, last_rowid);
          while (sqlite3_step(st) == SQLITE_ROW) {
            last_rowid = sqlite3_column_int64(st, 0);
            lat.push_back(sqlite3_column_int64(st, 1));
          }
        }
        sqlite3_finalize(st);
        sqlite3_close(h);
      }
      stored = db.Count();
      std::sort(lat.begin(), lat.end());
      const double p99 = lat.empty() ? 0 : static_cast<double>(lat[lat.size() * 99 / 100]) / 1e6;
      std::printf("%8.0f %12.1f %12.1f %8zu %8zu %10.1f %12lld %10.1f\n", elapsed, RssMiB(d.analyzer),
                  RssMiB(d.collector), OpenFds(d.analyzer), OpenFds(d.collector),
                  static_cast<double>(FileBytes(d.db)) / 1e6, static_cast<long long>(stored), p99);
      std::fflush(stdout);
      next_sample += o.sample_every;
    }
    if (elapsed >= o.seconds) break;
    const auto due = static_cast<uint64_t>(elapsed * o.rate);
    std::string chunk;
    for (; written < due; ++written) {
      const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      chunk += Stamp(tmpl, time_at, time_len, written, now);
      chunk += '\n';
    }
    if (static_cast<uint64_t>(elapsed) >= keyops) {
      const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      const bool del = keyops % 2 == 0;
      chunk += Stamp(del ? deleted : recovered, del ? del_at : rec_at, del ? del_len : rec_len,
                     (uint64_t{1} << 40) + keyops, now);
      chunk += '\n';
      ++keyops;
      ++written;
    }
    out << chunk;
    out.flush();
  }
  const int64_t stored = WaitForCount(d.db, static_cast<int64_t>(written), std::chrono::seconds(300));
  const double peak_a = PeakRssMiB(d.analyzer), peak_c = PeakRssMiB(d.collector);
  StopAndWait(d.collector);
  StopAndWait(d.analyzer);
  std::printf("soak: %llu written (%llu key deletions/recoveries), %lld stored; peak RSS analyzer %.1f MiB, "
              "collector %.1f MiB\n",
              static_cast<unsigned long long>(written), static_cast<unsigned long long>(keyops),
              static_cast<long long>(stored), peak_a, peak_c);
  return stored == static_cast<int64_t>(written) ? 0 : 1;
}

constexpr const char* kUsage =
    "usage: cmkwatch-bench-pipeline --analyzer BIN --collector BIN --input FILE --work DIR\n"
    "                               [--mode throughput|latency|soak] [--rate N] [--seconds S]\n"
    "                               [--sample-every S] [--webhook-url URL]\n";

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--analyzer") o.analyzer = v;
    else if (a == "--collector") o.collector = v;
    else if (a == "--input") o.input = v;
    else if (a == "--work") o.work = v;
    else if (a == "--mode") o.mode = v;
    else if (a == "--rate") o.rate = std::strtod(v, nullptr);
    else if (a == "--seconds") o.seconds = std::strtod(v, nullptr);
    else if (a == "--sample-every") o.sample_every = std::strtod(v, nullptr);
    else if (a == "--webhook-url") o.webhook_url = v;
    else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (o.analyzer.empty() || o.collector.empty() || o.input.empty() || o.work.empty() || o.rate <= 0) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const fs::path work = o.work;
  fs::remove_all(work);
  fs::create_directories(work / "logs");
  if (o.mode == "throughput") return Throughput(o, work);
  if (o.mode == "latency") return Latency(o, work);
  if (o.mode == "soak") return Soak(o, work);
  std::fputs(kUsage, stderr);
  return 2;
}
