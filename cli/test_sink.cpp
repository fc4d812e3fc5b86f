// cmkwatch test-sink: sends a sample alert through one configured sink and
// says what its endpoint answered, so an operator checks a webhook URL, a
// routing key or an SMTP login before the first real alert depends on it.
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include "cmkwatch/alerts/dispatcher.h"
#include "cmkwatch/alerts/sink.h"
#include "cmkwatch/analyzer/config.h"
#include "cmkwatch/common/time.h"
#include "commands.h"

namespace cmkwatch::cli {
namespace {

constexpr char kTestSinkHelp[] = R"(usage: cmkwatch test-sink --config FILE NAME

Sends one sample alert (a TEST CMK003 "key deleted", marked as a test in
its title and text) through the sink NAME of the analyzer configuration
FILE (its alerts.sinks list), with the same payload, secrets, TLS settings
and timeout the analyzer uses, and prints what the endpoint answered. The
sink's routing (min_severity, rules) is not applied: the sample always goes.
Nothing is written to the timeline database.

Exit status: 0 the endpoint accepted it; 5 it did not (the answer is
printed; "retry" means the analyzer would try again, "permanent" that it
would dead-letter the change); 2 usage or configuration error.
)";

inline constexpr int kExitSinkFailed = 5;

int UsageError(const std::string& message) {
  std::fprintf(stderr, "cmkwatch test-sink: %s (see --help)\n", message.c_str());
  return kExitUsage;
}

}  // namespace

int TestSink(const std::vector<std::string_view>& args) {
  std::string config_path, name;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kTestSinkHelp, stdout);
      return kExitOk;
    }
    std::string_view value;
    if (FlagValue f = TakeFlagValue(args, i, "--config", &value); f != FlagValue::kNotThisFlag) {
      if (f == FlagValue::kMissing || value.empty()) return UsageError("--config needs a file");
      config_path = std::string(value);
    } else if (a.starts_with("-")) {
      return UsageError("unknown option '" + std::string(a) + "'");
    } else if (name.empty()) {
      name = std::string(a);
    } else {
      return UsageError("one sink name only");
    }
  }
  if (config_path.empty()) return UsageError("--config FILE is required");
  if (name.empty()) return UsageError("which sink? give its name");

  std::optional<alerts::AlertsConfig> alerts_config;
  auto loaded = analyzer::LoadAnalyzerConfig(config_path, alerts::AlertsSectionReader(&alerts_config));
  if (!loaded.ok()) {
    std::fprintf(stderr, "cmkwatch test-sink: %s\n", loaded.status().message().c_str());
    return kExitUsage;
  }
  if (!alerts_config) alerts_config = alerts::DefaultAlertsConfig(loaded->analyzer.db_path);
  const alerts::SinkConfig* found = nullptr;
  std::string names;
  for (const alerts::SinkConfig& s : alerts_config->sinks) {
    if (s.name == name) found = &s;
    names += (names.empty() ? "" : ", ") + s.name;
  }
  if (found == nullptr) {
    return UsageError("no sink named '" + ForTerminal(name) + "' in " + config_path +
                      (names.empty() ? " (it has none)" : " (it has: " + names + ")"));
  }
  auto sink = alerts::MakeSink(*found);
  if (!sink.ok()) {
    std::fprintf(stderr, "cmkwatch test-sink: %s\n", sink.status().message().c_str());
    return kExitUsage;
  }
  const alerts::Message sample = alerts::SampleMessage(WallClockNs());
  const auto started = std::chrono::steady_clock::now();
  const alerts::SendResult r = (*sink)->Send({&sample, 1});
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  std::printf("sink %s (%s): %s in %lld ms", found->name.c_str(), found->type.c_str(),
              std::string(alerts::ToString(r.outcome)).c_str(), static_cast<long long>(ms.count()));
  if (!r.detail.empty()) std::printf(" - %s", ForTerminal(r.detail).c_str());
  if (r.retry_after_ns > 0) std::printf(" (Retry-After %lld s)", static_cast<long long>(r.retry_after_ns / 1'000'000'000));
  std::printf("\n");
  return r.outcome == alerts::SendResult::Outcome::kDelivered ? kExitOk : kExitSinkFailed;
}

}  // namespace cmkwatch::cli
