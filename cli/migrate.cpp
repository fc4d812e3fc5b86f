// cmkwatch migrate: brings a timeline of an older schema to this cmkwatch's
// (the analyzer does the same when it starts), for an operator who wants
// to upgrade a file, or read an archived one, without starting a daemon.
#include <cstdio>
#include <string>

#include "cmkwatch/analyzer/timeline.h"
#include "commands.h"

namespace cmkwatch::cli {
namespace {

constexpr char kMigrateHelp[] = R"(usage: cmkwatch migrate --db FILE

Migrates the timeline database FILE, written by an earlier cmkwatch with an
older timeline schema, to the schema this cmkwatch reads and writes. The
analyzer does this by itself when it starts; `cmkwatch timeline`, `verify`
and the other reading commands refuse an older file and leave it as it is.

The migration is one transaction: if it fails or is interrupted the file is
exactly as it was. Rows keep their order, bodies and hashes, so the hash
chains verify after it exactly when they verified before (a row altered or
removed earlier is still found). It rewrites every event, so it needs free
space for a second copy of them while it runs, and the analyzer (of either
version) must not be writing the file meanwhile. Take a copy first
(`cmkwatch backup --db FILE --to COPY`, with the cmkwatch that wrote it).

Exit status: 0 migrated, or already current; 1 the migration failed (file
unchanged); 2 usage (FILE missing).
)";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "cmkwatch migrate: %s (see --help)\n", message.c_str());
  return kExitUsage;
}

}  // namespace

int Migrate(const std::vector<std::string_view>& args) {
  std::string db_path;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kMigrateHelp, stdout);
      return kExitOk;
    }
    std::string_view v;
    if (FlagValue f = TakeFlagValue(args, i, "--db", &v); f != FlagValue::kNotThisFlag) {
      if (f == FlagValue::kMissing || v.empty()) return UsageError("--db needs a file");
      db_path = std::string(v);
    } else {
      return UsageError("unknown argument '" + ForTerminal(a) + "'");
    }
  }
  if (db_path.empty()) return UsageError("--db FILE is required");
  if (Status st = CheckTimelineFileExists(db_path); !st.ok()) return UsageError(st.message());
  analyzer::TimelineOptions options;
  options.migrate = true;
  auto timeline = analyzer::Timeline::Open(db_path, options);
  if (!timeline.ok()) {
    std::fprintf(stderr, "cmkwatch migrate: %s\n", ForTerminal(timeline.status().ToString()).c_str());
    return kExitIoError;
  }
  if (const auto& m = (*timeline)->migration()) {
    std::printf("migrated %s from timeline schema %lld to %lld: %llu events in %.1f s; `cmkwatch verify --db %s` "
                "re-walks its chains\n",
                ForTerminal(db_path).c_str(), static_cast<long long>(m->from), static_cast<long long>(m->to),
                static_cast<unsigned long long>(m->events), m->seconds, ForTerminal(db_path).c_str());
  } else {
    std::printf("%s is at timeline schema %lld already; nothing to do\n", ForTerminal(db_path).c_str(),
                static_cast<long long>(analyzer::kSchemaVersion));
  }
  return kExitOk;
}

}  // namespace cmkwatch::cli
