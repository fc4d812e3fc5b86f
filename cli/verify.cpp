// cmkwatch verify: re-walks the timeline's hash chains and says whether any
// stored event was altered, removed or reordered since it was written.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cmkwatch/analyzer/timeline.h"
#include "cmkwatch/common/resource_id.h"
#include "commands.h"

namespace cmkwatch::cli {
namespace {

constexpr char kVerifyHelp[] = R"(usage: cmkwatch verify --db FILE [OPTIONS]

Re-walks every hash chain of a cmkwatch timeline database (one chain per
resource, in insertion order): recomputes each stored event's SHA-256 chain
hash from its stored bytes, checks that every indexed column agrees with the
stored event, that no row is missing or out of order, and that each chain
ends where its recorded head says. The file is only read; a running analyzer
may go on writing it (verify checks one consistent snapshot).

Options:
  --db FILE        the timeline database (required; must exist)
  --resource ID    check only this resource's chain (an ARM id, any case)
  --json           print the result as one JSON object:
                     {"intact", "resources", "events"} and, when a chain is
                     broken, "problem" (altered_bytes, altered_columns,
                     missing_row, reordered_rows, head_mismatch,
                     damaged_file), "resource_id", "seq", "event_id",
                     "detail"
  -h, --help       show this help

The first problem found (in insertion order) is reported: the resource, the
row (seq) and the event id, and what is wrong. The chain proves the stored
rows were not changed since they were written, not who wrote them: keep a
copy of verify's output elsewhere to compare against.

Exit status: 0 every chain is intact; 4 a chain is broken (or the file is
damaged); 2 usage error; 1 the database is missing or could not be read, or
--resource names a resource without a chain.
)";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "cmkwatch verify: %s (see --help)\n", message.c_str());
  return kExitUsage;
}

// Stable names for scripts (ToString gives words for people).
std::string_view JsonName(analyzer::ChainProblem p) {
  switch (p) {
    case analyzer::ChainProblem::kNone: return "none";
    case analyzer::ChainProblem::kAlteredBytes: return "altered_bytes";
    case analyzer::ChainProblem::kAlteredColumns: return "altered_columns";
    case analyzer::ChainProblem::kMissingRow: return "missing_row";
    case analyzer::ChainProblem::kReorderedRows: return "reordered_rows";
    case analyzer::ChainProblem::kHeadMismatch: return "head_mismatch";
  }
  return "unknown";
}

std::string Plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

int Verify(const std::vector<std::string_view>& args) {
  std::string db_path;
  std::optional<std::string> resource;
  bool json = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kVerifyHelp, stdout);
      return kExitOk;
    }
    if (a == "--json") {
      json = true;
      continue;
    }
    std::string_view value;
    FlagValue f = TakeFlagValue(args, i, "--db", &value);
    if (f == FlagValue::kFound) {
      if (value.empty()) return UsageError("--db needs a file name");
      db_path = value;
      continue;
    }
    if (f == FlagValue::kMissing) return UsageError("--db needs a value");
    f = TakeFlagValue(args, i, "--resource", &value);
    if (f == FlagValue::kFound) {
      resource = CanonicalResourceId(value);
      if (resource->empty()) return UsageError("--resource needs an ARM resource id");
      continue;
    }
    if (f == FlagValue::kMissing) return UsageError("--resource needs a value");
    if (!a.empty() && a[0] == '-') return UsageError("unknown option '" + ForTerminal(a) + "'");
    return UsageError("unexpected argument '" + ForTerminal(a) + "'");
  }
  if (db_path.empty()) return UsageError("--db FILE is required");

  if (Status s = CheckTimelineFileExists(db_path); !s.ok()) {
    std::fprintf(stderr, "cmkwatch verify: %s\n", s.message().c_str());
    return kExitIoError;
  }
  analyzer::TimelineOptions options;
  options.compress = false;  // nothing is written
  auto opened = analyzer::Timeline::Open(db_path, options);
  if (!opened.ok()) {
    std::fprintf(stderr, "cmkwatch verify: cannot open %s: %s\n", db_path.c_str(), opened.status().message().c_str());
    // A file SQLite itself calls malformed is a failed verification, not a
    // read error an operator would retry.
    return opened.status().IsCorruption() ? kExitVerifyFailed : kExitIoError;
  }

  analyzer::VerifyReport report;
  const Status s = resource ? (*opened)->Verify(*resource, &report) : (*opened)->Verify(&report);
  if (!s.ok() && !s.IsCorruption()) {
    std::fprintf(stderr, "cmkwatch verify: %s: %s\n", db_path.c_str(), s.message().c_str());
    return kExitIoError;
  }
  const bool intact = s.ok();
  // Corruption without a chain problem: SQLite found the file itself
  // damaged before any chain could be judged.
  const bool damaged_file = !intact && report.problem == analyzer::ChainProblem::kNone;

  if (json) {
    nlohmann::ordered_json j;
    j["intact"] = intact;
    j["resources"] = report.resources;
    j["events"] = report.events;
    if (!intact) {
      j["problem"] = damaged_file ? std::string_view("damaged_file") : JsonName(report.problem);
      j["resource_id"] = report.resource_id;
      j["seq"] = report.seq;
      j["event_id"] = report.event_id;
      j["detail"] = damaged_file ? s.message() : report.detail;
    }
    // Replace, not throw: the strings come from a file someone may have
    // tampered with, invalid UTF-8 included.
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
  } else if (intact) {
    std::printf("verify: intact: %s in %s\n", Plural(report.events, "event", "events").c_str(),
                Plural(report.resources, "resource chain", "resource chains").c_str());
  } else if (damaged_file) {
    std::printf("verify: BROKEN: the database file is damaged: %s\n", ForTerminal(s.message()).c_str());
  } else {
    std::string where = "resource " + ForTerminal(report.resource_id);
    if (report.seq != 0) where += ", row " + std::to_string(report.seq) + " (event " + ForTerminal(report.event_id) + ")";
    std::printf("verify: BROKEN: %s: %s: %s\n", where.c_str(), std::string(analyzer::ToString(report.problem)).c_str(),
                ForTerminal(report.detail).c_str());
    std::printf("verify: %s checked intact before it\n", Plural(report.events, "event", "events").c_str());
  }
  std::fflush(stdout);
  return intact ? kExitOk : kExitVerifyFailed;
}

}  // namespace cmkwatch::cli
