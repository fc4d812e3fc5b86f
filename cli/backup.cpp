// cmkwatch backup: an online copy of a timeline database (SQLite's backup
// API) while the analyzer keeps writing to it.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.h"
#include "sqlite/sqlite.h"

namespace cmkwatch::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kBackupHelp[] = R"(usage: cmkwatch backup --db FILE --to FILE

Copies the timeline database FILE to a new file, consistently, while the
analyzer keeps running: the copy is the database as of one committed
transaction (SQLite's online backup, read under WAL, so the analyzer is
not blocked). The copy is written beside its destination as FILE.partial,
checked (PRAGMA quick_check), synced and only then renamed into place, so
a backup that exists is whole. It holds every raw record: it is created
readable by its owner only (mode 0600).

While a large database is copied, the analyzer's write-ahead log cannot be
checkpointed past the copy's snapshot and grows until the copy ends.

After restoring one, `cmkwatch verify --db FILE` re-walks its hash chains.

Exit status: 0 copied; 1 I/O or database error; 2 usage (the destination
exists, or the source is not a file).
)";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "cmkwatch backup: %s (see --help)\n", message.c_str());
  return kExitUsage;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "cmkwatch backup: %s\n", ForTerminal(message).c_str());
  return kExitIoError;
}

struct BackupFree {
  void operator()(sqlite3_backup* b) const { sqlite3_backup_finish(b); }
};

// fsync of a file or directory by path.
bool SyncPath(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

int Backup(const std::vector<std::string_view>& args) {
  std::string db_path, to_path;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kBackupHelp, stdout);
      return kExitOk;
    }
    std::string_view v;
    if (FlagValue f = TakeFlagValue(args, i, "--db", &v); f != FlagValue::kNotThisFlag) {
      if (f == FlagValue::kMissing || v.empty()) return UsageError("--db needs a file");
      db_path = std::string(v);
    } else if (FlagValue g = TakeFlagValue(args, i, "--to", &v); g != FlagValue::kNotThisFlag) {
      if (g == FlagValue::kMissing || v.empty()) return UsageError("--to needs a file");
      to_path = std::string(v);
    } else {
      return UsageError("unknown argument '" + ForTerminal(a) + "'");
    }
  }
  if (db_path.empty() || to_path.empty()) return UsageError("--db FILE and --to FILE are required");
  if (Status st = CheckTimelineFileExists(db_path); !st.ok()) return UsageError(st.message());
  std::error_code ec;
  if (fs::exists(to_path, ec)) return UsageError(to_path + " exists; a backup never overwrites");
  if (fs::equivalent(db_path, to_path, ec)) return UsageError("--to is the database itself");
  const std::string partial = to_path + ".partial";
  // A partial copy left by a killed run is ours to replace; anything else
  // at that name is not.
  fs::remove(partial, ec);

  // Created here, private, so SQLite opens an existing empty file and the
  // copy is never readable by others, whatever the umask.
  {
    const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Fail("cannot create " + partial + ": " + std::strerror(errno));
    ::close(fd);
  }
  auto cleanup = [&] { fs::remove(partial, ec); };

  const auto started = std::chrono::steady_clock::now();
  auto src = sqlite::Db::Open(db_path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
  if (!src.ok()) {
    cleanup();
    return Fail(src.status().message());
  }
  // Wait out a writer's brief exclusive moments (a checkpoint) instead of
  // failing at once.
  sqlite3_busy_timeout(src->get(), 10'000);
  int pages = 0;
  {
    auto dst = sqlite::Db::Open(partial, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
    if (!dst.ok()) {
      cleanup();
      return Fail(dst.status().message());
    }
    std::unique_ptr<sqlite3_backup, BackupFree> backup(sqlite3_backup_init(dst->get(), "main", src->get(), "main"));
    if (!backup) {
      const std::string why = sqlite3_errmsg(dst->get());
      cleanup();
      return Fail("cannot start the backup: " + why);
    }
    // All pages in one step: one read transaction, hence one consistent
    // snapshot (stepping in slices would restart whenever the analyzer
    // commits in between, and never finish on a busy timeline).
    int rc = sqlite3_backup_step(backup.get(), -1);
    for (int tries = 0; (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && tries < 100; ++tries) {
      sqlite3_sleep(100);
      rc = sqlite3_backup_step(backup.get(), -1);
    }
    pages = sqlite3_backup_pagecount(backup.get());
    backup.reset();
    if (rc != SQLITE_DONE) {
      const std::string why = sqlite3_errstr(rc);
      cleanup();
      return Fail("backup of " + db_path + " failed: " + why);
    }
    auto check = dst->QueryText("PRAGMA quick_check");
    if (!check.ok() || *check != "ok") {
      cleanup();
      return Fail("the copy does not check: " + (check.ok() ? *check : check.status().message()));
    }
  }
  if (!SyncPath(partial, false)) {
    cleanup();
    return Fail("cannot sync " + partial + ": " + std::strerror(errno));
  }
  if (::rename(partial.c_str(), to_path.c_str()) != 0) {
    cleanup();
    return Fail("cannot rename " + partial + " to " + to_path + ": " + std::strerror(errno));
  }
  const fs::path parent = fs::absolute(to_path).parent_path();
  (void)SyncPath(parent.string(), true);  // the rename itself, durably
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto bytes = fs::file_size(to_path, ec);
  std::printf("backup: %s -> %s, %d pages (%.1f MB) in %.1f s; quick_check ok\n", db_path.c_str(), to_path.c_str(),
              pages, static_cast<double>(bytes) / 1e6, s);
  return kExitOk;
}

}  // namespace cmkwatch::cli
