// Alert delivery: how long an alert change waits between its commit to the
// outbox and its endpoint taking it, and how many changes a sink drains per
// second, through the real Dispatcher and sinks.
//
//   cmkwatch-bench-delivery DIR [N] [WEBHOOK_URL]
//
// Commits N changes (default 2000) to a fresh timeline in DIR, first one at
// a time (latency: 200 changes, 20 ms apart, each timed from its commit to
// its line in the file sink / its request answered), then all at once
// (throughput). The file sink measures the sender's own overhead (an fsync
// per change); WEBHOOK_URL, when given, adds a webhook sink to a receiver
// you run (e.g. tests/receivers/http_receiver.py).
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cmkwatch/alerts/dispatcher.h"
#include "cmkwatch/analyzer/timeline.h"
#include "cmkwatch/common/time.h"

namespace {

using namespace cmkwatch;
using Clock = std::chrono::steady_clock;

analyzer::Alert MakeAlert(int n) {
  analyzer::Alert a;
  char id[32];
  std::snprintf(id, sizeof id, "CMK001-%016x", n);
  a.id = id;
  a.rule = "CMK001";
  a.title = "Key deleted: contoso-cmk-kv/keys/key-" + std::to_string(n);
  a.severity = analyzer::Severity::kCritical;
  a.resource_id = "/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv/keys/key-" + std::to_string(n);
  a.affected = {"/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/foundry"};
  a.operation = "KeyDelete";
  a.time = a.first_seen = a.last_seen = WallClockNs();
  a.count = 1;
  a.evidence = {"ev"};
  a.why = "The account cannot unwrap its data encryption key.";
  a.remediation = "Recover the key within the retention period.";
  return a;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: cmkwatch-bench-delivery DIR [N] [WEBHOOK_URL]\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const int n = argc > 2 ? std::atoi(argv[2]) : 2000;
  const std::string url = argc > 3 ? argv[3] : "";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string db = (dir / "timeline.db").string();
  auto timeline = analyzer::Timeline::Open(db, {});
  if (!timeline.ok()) {
    std::fprintf(stderr, "%s\n", timeline.status().ToString().c_str());
    return 1;
  }
  std::vector<alerts::SinkConfig> configs;
  alerts::SinkConfig file;
  file.name = "file";
  file.type = "file";
  file.path = (dir / "alerts.jsonl").string();
  configs.push_back(file);
  if (!url.empty()) {
    alerts::SinkConfig hook;
    hook.name = "webhook";
    hook.type = "webhook";
    hook.url_secret.file = (dir / "url").string();
    std::ofstream(hook.url_secret.file) << url << "\n";
    ::chmod(hook.url_secret.file.c_str(), 0600);
    configs.push_back(hook);
  }
  std::vector<std::pair<alerts::SinkConfig, std::unique_ptr<alerts::Sink>>> sinks;
  for (const auto& c : configs) {
    auto s = alerts::MakeSink(c);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
      return 1;
    }
    sinks.emplace_back(c, std::move(*s));
  }
  log::Logger logger(log::Format::kKeyValue, log::Level::kError);
  alerts::DispatcherOptions o;
  o.db_path = db;
  auto dispatcher = alerts::Dispatcher::Start(o, std::move(sinks), logger);
  if (!dispatcher.ok()) {
    std::fprintf(stderr, "%s\n", dispatcher.status().ToString().c_str());
    return 1;
  }
  auto delivered = [&](const std::string& name) -> uint64_t {
    for (const auto& s : (*dispatcher)->Stats()) {
      if (s.name == name) return s.delivered;
    }
    return 0;
  };
  auto commit = [&](int i) {
    if (Status st = (*timeline)->StoreAlertChanges({{analyzer::AlertChange::Kind::kOpened, MakeAlert(i)}}, WallClockNs()); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      std::exit(1);
    }
    (*dispatcher)->Notify();  // as the analyzer does after its commit
  };

  // Latency: one change at a time.
  constexpr int kLatencyChanges = 200;
  std::vector<double> ms_file, ms_hook;
  for (int i = 0; i < kLatencyChanges; ++i) {
    const auto t0 = Clock::now();
    commit(i);
    bool file_done = false, hook_done = url.empty();
    while (!file_done || !hook_done) {
      const auto dt = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (!file_done && delivered("file") == static_cast<uint64_t>(i + 1)) {
        ms_file.push_back(dt);
        file_done = true;
      }
      if (!hook_done && delivered("webhook") == static_cast<uint64_t>(i + 1)) {
        ms_hook.push_back(dt);
        hook_done = true;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("latency commit -> endpoint took it (%d changes, one at a time; includes the 0.1 ms poll of this bench)\n",
              kLatencyChanges);
  std::printf("  file     p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", Percentile(ms_file, 0.5), Percentile(ms_file, 0.99),
              Percentile(ms_file, 1.0));
  if (!url.empty()) {
    std::printf("  webhook  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", Percentile(ms_hook, 0.5),
                Percentile(ms_hook, 0.99), Percentile(ms_hook, 1.0));
  }

  // Throughput: a burst of n changes committed in one transaction.
  std::vector<analyzer::AlertChange> burst;
  for (int i = 0; i < n; ++i) burst.push_back({analyzer::AlertChange::Kind::kOpened, MakeAlert(kLatencyChanges + i)});
  const auto t0 = Clock::now();
  if (Status st = (*timeline)->StoreAlertChanges(burst, WallClockNs()); !st.ok()) return 1;
  (*dispatcher)->Notify();
  const uint64_t want = static_cast<uint64_t>(kLatencyChanges + n);
  double file_s = 0, hook_s = 0;
  while (file_s == 0 || (!url.empty() && hook_s == 0)) {
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (file_s == 0 && delivered("file") >= want) file_s = dt;
    if (!url.empty() && hook_s == 0 && delivered("webhook") >= want) hook_s = dt;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::printf("burst of %d changes drained\n", n);
  std::printf("  file     %.2f s  %.0f changes/s\n", file_s, n / file_s);
  if (!url.empty()) std::printf("  webhook  %.2f s  %.0f changes/s\n", hook_s, n / hook_s);
  return 0;
}
