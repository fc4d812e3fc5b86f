// cmkwatch-bench-timeline: the storage stage alone. How fast the timeline
// commits events (hash chain, compression, SQLite with its indexes), with
// nothing else on the machine's two cores: the figure the end-to-end goals
// of issue 3 and replay's of issue 6 are bounded by.
//
// Reads up to --events events from the FILEs (made by cmkwatch-bench-gen)
// with the real readers and encodes them (neither timed), then stores them
// into a fresh timeline in batches of --batch events (InsertEncodedBatches,
// the analyzer's and replay's path), as --durable says (FULL: the analyzer;
// NORMAL), or --bulk 1 as a bulk load (replay into a new file; the clock
// stops after FinishBulkLoad), with the timeline's helper thread or,
// --helper 0, without. Prints events/s by wall time and by the storing thread's CPU
// time, the CPU of all threads (the helper's included), MB/s of raw
// records, the database's bytes per event, and the slowest batch. Benchmarks are not tests: the program reports, it does not
// assert.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cmkwatch/analyzer/timeline.h"
#include "cmkwatch/collector/reader.h"
#include "cmkwatch/common/wire.h"

namespace {

using cmkwatch::Event;
namespace analyzer = cmkwatch::analyzer;
namespace collector = cmkwatch::collector;
namespace fs = std::filesystem;

// CPU seconds of this thread, or with clock CLOCK_PROCESS_CPUTIME_ID of
// every thread (the timeline's compression workers included).
double CpuSeconds(clockid_t clock = CLOCK_THREAD_CPUTIME_ID) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

class Collect : public collector::RecordHandler {
 public:
  Collect(std::vector<Event>& out, size_t limit) : out_(out), limit_(limit) {}
  void OnEvent(Event&& event, const collector::RecordLocation&) override {
    if (out_.size() < limit_) out_.push_back(std::move(event));
  }
  void OnQuarantine(collector::Quarantined&&) override {}

 private:
  std::vector<Event>& out_;
  size_t limit_;
};

int Usage() {
  std::fprintf(stderr,
               "usage: cmkwatch-bench-timeline --db FILE [--events N] [--batch N] [--durable 0|1] [--compress 0|1] [--helper 0|1] [--bulk 0|1] "
               "FILE...\n  FILE: files from cmkwatch-bench-gen; --db must not exist (a fresh timeline)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string db;
  size_t limit = 200'000, batch_events = 2000;
  bool durable = true, compress = true, helper = true, bulk = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (arg == "--db" && (v = next())) {
      db = v;
    } else if (arg == "--events" && (v = next())) {
      limit = std::strtoull(v, nullptr, 10);
    } else if (arg == "--batch" && (v = next())) {
      batch_events = std::max<size_t>(1, std::strtoull(v, nullptr, 10));
    } else if (arg == "--durable" && (v = next())) {
      durable = std::atoi(v) != 0;
    } else if (arg == "--compress" && (v = next())) {
      compress = std::atoi(v) != 0;
    } else if (arg == "--helper" && (v = next())) {
      helper = std::atoi(v) != 0;
    } else if (arg == "--bulk" && (v = next())) {
      bulk = std::atoi(v) != 0;
    } else if (arg == "-h" || arg == "--help") {
      Usage();
      return 0;
    } else if (!arg.empty() && arg[0] != '-') {
      files.push_back(arg);
    } else {
      return Usage();
    }
  }
  if (db.empty() || files.empty() || fs::exists(db)) return Usage();

  std::vector<Event> events;
  Collect c(events, limit);
  for (const std::string& f : files) {
    collector::ReadStats stats;
    if (auto s = collector::ReadPath(f, {}, c, stats); !s.ok()) {
      std::fprintf(stderr, "cmkwatch-bench-timeline: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::vector<std::string> encoded;
  encoded.reserve(events.size());
  uint64_t raw_bytes = 0;
  for (const Event& e : events) {
    encoded.push_back(cmkwatch::wire::EncodeEvent(e));
    raw_bytes += e.raw.size();
  }

  analyzer::TimelineOptions options;
  options.durable_commits = durable;
  options.compress = compress;
  options.helper_thread = helper;
  options.bulk_load = bulk;
  auto timeline = analyzer::Timeline::Open(db, options);
  if (!timeline.ok()) {
    std::fprintf(stderr, "cmkwatch-bench-timeline: %s\n", timeline.status().ToString().c_str());
    return 1;
  }
  // The batches are built before the clock starts: copying events into
  // them is the bench's own cost, not the timeline's.
  std::vector<cmkwatch::wire::Batch> batches;
  std::vector<std::vector<std::string_view>> views;
  for (size_t i = 0, seq = 1; i < events.size(); i += batch_events, ++seq) {
    const size_t end = std::min(events.size(), i + batch_events);
    auto& b = batches.emplace_back();
    b.collector_id = "bench";
    b.sequence = seq;
    b.events.assign(std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(i)),
                    std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(end)));
    views.emplace_back(encoded.begin() + static_cast<std::ptrdiff_t>(i),
                       encoded.begin() + static_cast<std::ptrdiff_t>(end));
  }
  const auto wall0 = std::chrono::steady_clock::now();
  const double cpu0 = CpuSeconds();
  const double all_cpu0 = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
  double slowest = 0;
  uint64_t stored = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = (*timeline)->InsertEncodedBatches({{&batches[i], &views[i]}}, 0);
    if (!r.ok()) {
      std::fprintf(stderr, "cmkwatch-bench-timeline: %s\n", r.status().ToString().c_str());
      return 1;
    }
    slowest = std::max(slowest, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    stored += (*r)[0].stored;
  }
  if (auto s = bulk ? (*timeline)->FinishBulkLoad() : (*timeline)->Checkpoint(); !s.ok()) {
    std::fprintf(stderr, "cmkwatch-bench-timeline: %s\n", s.ToString().c_str());
    return 1;
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double cpu = CpuSeconds() - cpu0;
  const double all_cpu = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - all_cpu0;
  timeline->reset();
  std::error_code ec;
  const auto db_bytes = fs::file_size(db, ec);
  std::printf("stored %llu of %zu events (%.0f MB raw) in batches of %zu, durable=%d compress=%d helper=%d bulk=%d\n",
              static_cast<unsigned long long>(stored), events.size(), static_cast<double>(raw_bytes) / 1e6,
              batch_events, durable ? 1 : 0, compress ? 1 : 0, helper ? 1 : 0, bulk ? 1 : 0);
  std::printf("wall %.2f s: %.0f events/s, %.0f MB/s raw; this thread's CPU %.2f s: %.0f events/s; "
              "all threads' CPU %.2f s\n",
              wall, static_cast<double>(stored) / wall, static_cast<double>(raw_bytes) / 1e6 / wall, cpu,
              static_cast<double>(stored) / cpu, all_cpu);
  std::printf("database %.1f MB, %.0f bytes/event (%.2fx raw); slowest batch %.0f ms\n",
              static_cast<double>(db_bytes) / 1e6, static_cast<double>(db_bytes) / static_cast<double>(stored),
              static_cast<double>(db_bytes) / static_cast<double>(raw_bytes), slowest * 1e3);
  return 0;
}
