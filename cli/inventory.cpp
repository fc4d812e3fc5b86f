// cmkwatch inventory import: seeds the timeline with ARM resource snapshots
// (az keyvault show, az keyvault key show, az cognitiveservices account
// show, az ml workspace show, az role assignment list, Resource Graph
// exports), so the rules know every vault, key, binding and identity from
// the first live event instead of waiting to see each resource written.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cmkwatch/analyzer/timeline.h"
#include "cmkwatch/collector/reader.h"
#include "commands.h"

namespace cmkwatch::cli {
namespace {

constexpr char kInventoryHelp[] = R"(usage: cmkwatch inventory import --db FILE PATH...

Reads ARM JSON snapshots (files or directories; the output of
az keyvault show / az keyvault key show / az cognitiveservices account show /
az ml workspace show / az role assignment list, or a Resource Graph export)
and stores each resource as an inventory event in the timeline database,
hash-chained like every other event. The analyzer builds its rules' state
from the timeline when it starts: import before starting it (or restart it
after importing) so it judges from the first event.

A snapshot's time is when the resource last changed (systemData.lastModifiedAt
and the like); one without any time is dated by its file's modification time.
Importing the same snapshot twice stores it once.

Options:
  --db FILE   the timeline database (created when missing)
  -h, --help  show this help

Exit status: 0 imported; 3 some records could not be read (each is named on
standard error; the others were imported); 1 a file or the database could
not be read or written; 2 usage error.
)";

class Collect : public collector::RecordHandler {
 public:
  explicit Collect(wire::Batch& batch) : batch_(batch) {}
  void OnEvent(Event&& event, const collector::RecordLocation&) override { batch_.events.push_back(std::move(event)); }
  void OnQuarantine(collector::Quarantined&& q) override {
    std::fprintf(stderr, "cmkwatch inventory: %s:%llu: %s\n", ForTerminal(q.path).c_str(),
                 static_cast<unsigned long long>(q.line), ForTerminal(q.reason).c_str());
    batch_.quarantined.push_back(std::move(q));
  }

 private:
  wire::Batch& batch_;
};

int UsageError(const std::string& message) {
  std::fprintf(stderr, "cmkwatch inventory: %s (see --help)\n", message.c_str());
  return kExitUsage;
}

}  // namespace

int Inventory(const std::vector<std::string_view>& args) {
  if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) {
    std::fputs(kInventoryHelp, stdout);
    return kExitOk;
  }
  if (args.empty() || args[0] != "import") return UsageError("the subcommand is 'import'");
  std::string db_path;
  std::vector<std::string> paths;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "-h" || args[i] == "--help") {
      std::fputs(kInventoryHelp, stdout);
      return kExitOk;
    }
    std::string_view value;
    if (FlagValue f = TakeFlagValue(args, i, "--db", &value); f != FlagValue::kNotThisFlag) {
      if (f == FlagValue::kMissing || value.empty()) return UsageError("--db needs a file");
      db_path = std::string(value);
    } else if (!args[i].empty() && args[i][0] == '-') {
      return UsageError("unknown option '" + ForTerminal(args[i]) + "'");
    } else {
      paths.emplace_back(args[i]);
    }
  }
  if (db_path.empty()) return UsageError("--db is required");
  if (paths.empty()) return UsageError("name at least one snapshot file or directory");

  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  // One import is one batch of its own collector id; the sequence is the
  // import's time, so every import counts as new and a re-import of the
  // same snapshots stores nothing twice (event ids are content hashes).
  wire::Batch batch;
  batch.collector_id = "inventory-import";
  batch.sequence = static_cast<uint64_t>(now);
  Collect handler(batch);
  collector::ReadOptions options;
  options.format = collector::Format::kArm;
  for (const auto& p : paths) {
    collector::ReadStats stats;
    if (Status st = collector::ReadPath(p, options, handler, stats); !st.ok()) {
      std::fprintf(stderr, "cmkwatch inventory: %s\n", ForTerminal(st.message()).c_str());
      return kExitIoError;
    }
  }
  if (batch.events.size() > wire::kMaxItems || batch.quarantined.size() > wire::kMaxItems) {
    std::fprintf(stderr, "cmkwatch inventory: more than %zu resources in one import; split it\n",
                 static_cast<size_t>(wire::kMaxItems));
    return kExitIoError;
  }
  auto timeline = analyzer::Timeline::Open(db_path, {});
  if (!timeline.ok()) {
    std::fprintf(stderr, "cmkwatch inventory: %s\n", timeline.status().message().c_str());
    return kExitIoError;
  }
  auto result = (*timeline)->InsertBatch(batch, now);
  if (!result.ok()) {
    std::fprintf(stderr, "cmkwatch inventory: %s\n", result.status().message().c_str());
    return kExitIoError;
  }
  std::fprintf(stderr, "cmkwatch inventory: %llu resources stored, %llu already there, %zu records not read\n",
               static_cast<unsigned long long>(result->stored), static_cast<unsigned long long>(result->duplicates),
               batch.quarantined.size());
  return batch.quarantined.empty() ? kExitOk : kExitQuarantined;
}

}  // namespace cmkwatch::cli
