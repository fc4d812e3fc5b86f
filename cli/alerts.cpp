// cmkwatch alerts: the alerts the analyzer's rules raised, read from its
// timeline database.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "cmkwatch/analyzer/timeline.h"
#include "cmkwatch/common/time.h"
#include "commands.h"

namespace cmkwatch::cli {
namespace {

constexpr size_t kDefaultLimit = 10'000;

constexpr char kAlertsHelp[] = R"(usage: cmkwatch alerts --db FILE [--status open|resolved|suppressed|all] [--json]

Prints the alerts the analyzer's rules raised (see 'cmkwatch rules'), oldest
first, from its timeline database. The file is only read; a running
analyzer may go on writing it.

Options:
  --db FILE        the timeline database (required; must exist)
  --status S       open (default), resolved, suppressed, or all
  --limit N        print at most N alerts (default 10000)
  --json           JSON Lines, one alert per line: id, rule, title,
                   severity, status, resource_id, affected (the AI resources
                   it breaks), first_seen, last_seen, count, evidence (event
                   ids), why, remediation, ...
  -h, --help       show this help

Without --json the output is a table: FIRST SEEN, SEVERITY, STATUS, RULE,
COUNT, TITLE, and the affected AI resources.

Exit status: 0 printed (none may match); 2 usage error; 1 the database is
missing or could not be read.
)";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "cmkwatch alerts: %s (see --help)\n", message.c_str());
  return kExitUsage;
}

std::string LastSegment(const std::string& id) {
  const size_t slash = id.rfind('/');
  return slash == std::string::npos ? id : id.substr(slash + 1);
}

}  // namespace

int Alerts(const std::vector<std::string_view>& args) {
  std::string db_path;
  std::optional<analyzer::AlertStatus> status = analyzer::AlertStatus::kOpen;
  size_t limit = kDefaultLimit;
  bool json = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kAlertsHelp, stdout);
      return kExitOk;
    }
    if (a == "--json") {
      json = true;
      continue;
    }
    std::string_view value;
    if (FlagValue f = TakeFlagValue(args, i, "--db", &value); f != FlagValue::kNotThisFlag) {
      if (f == FlagValue::kMissing || value.empty()) return UsageError("--db needs a file");
      db_path = std::string(value);
    } else if (FlagValue fs = TakeFlagValue(args, i, "--status", &value); fs != FlagValue::kNotThisFlag) {
      if (fs == FlagValue::kMissing) return UsageError("--status needs a value");
      if (value == "open") {
        status = analyzer::AlertStatus::kOpen;
      } else if (value == "resolved") {
        status = analyzer::AlertStatus::kResolved;
      } else if (value == "suppressed") {
        status = analyzer::AlertStatus::kSuppressed;
      } else if (value == "all") {
        status.reset();
      } else {
        return UsageError("--status must be open, resolved, suppressed or all, not '" + ForTerminal(value) + "'");
      }
    } else if (FlagValue fl = TakeFlagValue(args, i, "--limit", &value); fl != FlagValue::kNotThisFlag) {
      const std::string text(value);
      char* end = nullptr;
      const unsigned long long n = fl == FlagValue::kFound ? std::strtoull(text.c_str(), &end, 10) : 0;
      if (fl == FlagValue::kMissing || text.empty() || end == nullptr || *end != '\0' || n == 0 || n > 1'000'000) {
        return UsageError("--limit must be 1 to 1000000");
      }
      limit = static_cast<size_t>(n);
    } else {
      return UsageError("unknown argument '" + ForTerminal(a) + "'");
    }
  }
  if (db_path.empty()) return UsageError("--db is required");
  if (Status st = CheckTimelineFileExists(db_path); !st.ok()) {
    std::fprintf(stderr, "cmkwatch alerts: %s\n", st.message().c_str());
    return kExitIoError;
  }
  auto timeline = analyzer::Timeline::Open(db_path, {});
  if (!timeline.ok()) {
    std::fprintf(stderr, "cmkwatch alerts: %s\n", timeline.status().message().c_str());
    return kExitIoError;
  }
  auto alerts = (*timeline)->Alerts(status, limit);
  if (!alerts.ok()) {
    std::fprintf(stderr, "cmkwatch alerts: %s\n", alerts.status().message().c_str());
    return kExitIoError;
  }
  if (!json) {
    std::printf("%-21s %-9s %-10s %-7s %5s  %s\n", "FIRST SEEN", "SEVERITY", "STATUS", "RULE", "COUNT", "TITLE");
  }
  for (const analyzer::Alert& a : *alerts) {
    if (json) {
      std::printf("%s\n", analyzer::AlertToJson(a).c_str());
      continue;
    }
    std::string affected;
    for (const auto& id : a.affected) affected += (affected.empty() ? "" : ", ") + LastSegment(id);
    std::printf("%-21s %-9s %-10s %-7s %5llu  %s%s\n", (FormatTimestamp(a.first_seen).substr(0, 19) + "Z").c_str(),
                std::string(analyzer::ToString(a.severity)).c_str(), std::string(analyzer::ToString(a.status)).c_str(),
                a.rule.c_str(), static_cast<unsigned long long>(a.count), ForTerminal(a.title).c_str(),
                affected.empty() ? "" : ("  [affects " + ForTerminal(affected) + "]").c_str());
  }
  return kExitOk;
}

}  // namespace cmkwatch::cli
