// cmkwatch-bench-rules: how fast the compliance engine judges events, and
// what it raises on a generated estate.
//
// Reads the FILEs (made by cmkwatch-bench-gen) with the real readers into
// memory (not timed), sorts the events by time as replay does, then times
// RuleEngine::Process over all of them on the calling thread, repeated for
// --runs passes with a fresh engine each. Prints events/s (best pass, by
// this thread's CPU time), ns per event, and the alerts of the last pass by
// rule and severity: on the generator's estate, which is configured the way
// RULES.md asks, a high or critical alert is a false positive to look at.
//
// Benchmarks are not tests: the program reports, it does not assert.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "cmkwatch/analyzer/rules.h"
#include "cmkwatch/collector/reader.h"

namespace {

using cmkwatch::Event;
namespace analyzer = cmkwatch::analyzer;
namespace collector = cmkwatch::collector;

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

class Collect : public collector::RecordHandler {
 public:
  explicit Collect(std::vector<Event>& out) : out_(out) {}
  void OnEvent(Event&& event, const collector::RecordLocation&) override { out_.push_back(std::move(event)); }
  void OnQuarantine(collector::Quarantined&&) override { ++quarantined; }
  uint64_t quarantined = 0;

 private:
  std::vector<Event>& out_;
};

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "-h" || arg == "--help") {
      std::printf("usage: cmkwatch-bench-rules [--runs N] FILE...\n");
      return 0;
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: cmkwatch-bench-rules [--runs N] FILE...\n");
    return 2;
  }
  std::vector<Event> events;
  Collect handler(events);
  for (const auto& f : files) {
    collector::ReadStats stats;
    if (auto st = collector::ReadPath(f, {}, handler, stats); !st.ok()) {
      std::fprintf(stderr, "%s: %s\n", f.c_str(), st.ToString().c_str());
      return 1;
    }
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.time < b.time; });
  std::printf("events: %zu (quarantined %llu)\n", events.size(), static_cast<unsigned long long>(handler.quarantined));

  double best = 1e300;
  std::vector<analyzer::Alert> alerts;
  uint64_t changes = 0;
  for (int r = 0; r < runs; ++r) {
    analyzer::RuleEngine engine;
    changes = 0;
    const double t0 = CpuSeconds();
    for (const Event& e : events) changes += engine.Process(e).size();
    best = std::min(best, CpuSeconds() - t0);
    alerts = engine.Alerts();
  }
  const double n = static_cast<double>(events.size());
  std::printf("rules: best of %d passes %.3f s cpu, %.0f events/s, %.0f ns/event, %llu lifecycle changes\n", runs,
              best, n / best, best * 1e9 / n, static_cast<unsigned long long>(changes));
  std::map<std::string, std::map<std::string, int>> by_rule;
  for (const auto& a : alerts) ++by_rule[a.rule][std::string(analyzer::ToString(a.severity))];
  for (const auto& [rule, sev] : by_rule) {
    std::printf("  %s", rule.c_str());
    for (const auto& [s, count] : sev) std::printf(" %s=%d", s.c_str(), count);
    std::printf("\n");
  }
  int shown = 0;
  for (const auto& a : alerts) {
    if (a.severity < analyzer::Severity::kHigh || shown >= 10) continue;
    std::printf("  e.g. %s %s %s: %s\n", a.rule.c_str(), std::string(analyzer::ToString(a.severity)).c_str(),
                a.resource_id.c_str(), a.title.c_str());
    ++shown;
  }
  return 0;
}
