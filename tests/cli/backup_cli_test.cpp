// `cmkwatch backup` as an operator runs it beside a live analyzer: the copy
// is one committed state, whole, private, and verifies like the original.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "test_support.h"

namespace cmkwatch {
namespace {

namespace fs = std::filesystem;

const fs::path kSamples = fs::path(CMKWATCH_SOURCE_DIR) / "samples";

class BackupCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto r = test::RunCommand({CMKWATCH_CLI, "replay", "--no-progress", "--db", db_.string(),
                                     (kSamples / "insights-activity-logs").string(),
                                     (kSamples / "insights-logs-auditevent").string()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  test::CommandResult Backup(const fs::path& to) {
    return test::RunCommand({CMKWATCH_CLI, "backup", "--db", db_.string(), "--to", to.string()});
  }
  static long long Count(const fs::path& db, const char* sql) {
    sqlite3* h = nullptr;
    sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    long long n = -1;
    if (sqlite3_prepare_v2(h, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
  }

  test::TestDir dir_{"backup"};
  fs::path db_ = dir_ / "timeline.db";
};

TEST_F(BackupCli, TheCopyIsTheLastCommittedStateWhileAWriterIsMidTransaction) {
  const long long events = Count(db_, "SELECT count(*) FROM events");
  ASSERT_GT(events, 0);
  // Another connection (the analyzer, as far as the file knows) is in the
  // middle of a write: the copy must neither wait for it nor contain it.
  sqlite3* writer = nullptr;
  ASSERT_EQ(sqlite3_open(db_.c_str(), &writer), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(writer,
                         "BEGIN IMMEDIATE; INSERT INTO quarantine (collector_id, path, offset, line, format, reason, "
                         "received_ns) VALUES ('c', 'x', 0, 1, 'unknown', 'uncommitted', 0);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(writer);

  const fs::path copy = dir_ / "copy.db";
  const auto r = Backup(copy);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("quick_check ok"), std::string::npos) << r.out;
  ASSERT_EQ(sqlite3_exec(writer, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(writer);

  EXPECT_EQ(Count(copy, "SELECT count(*) FROM events"), events);
  EXPECT_EQ(Count(copy, "SELECT count(*) FROM quarantine WHERE reason = 'uncommitted'"), 0);
  EXPECT_EQ(Count(db_, "SELECT count(*) FROM quarantine WHERE reason = 'uncommitted'"), 1);
  struct stat st {};
  ASSERT_EQ(::stat(copy.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "a backup holds every raw record";
  EXPECT_FALSE(fs::exists(dir_ / "copy.db.partial"));
  const auto verify = test::RunCommand({CMKWATCH_CLI, "verify", "--db", copy.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("intact: " + std::to_string(events) + " events"), std::string::npos) << verify.out;
}

TEST_F(BackupCli, ItNeverOverwritesAndNeverCreatesFromNothing) {
  const fs::path existing = dir_ / "old-backup.db";
  std::ofstream(existing) << "yesterday's backup";
  auto r = Backup(existing);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("never overwrites"), std::string::npos) << r.err;
  std::ifstream in(existing);
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(kept, "yesterday's backup");

  r = test::RunCommand(
      {CMKWATCH_CLI, "backup", "--db", (dir_ / "no-such.db").string(), "--to", (dir_ / "c.db").string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "no-such.db"));
  EXPECT_FALSE(fs::exists(dir_ / "c.db"));
}

}  // namespace
}  // namespace cmkwatch
