// Helpers shared by the test binaries: where the corpus and fixtures are,
// reading files, and splitting wrapper documents into records.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/common/event.h"
#include "cmkwatch/common/status.h"
#include "cmkwatch/common/transport.h"

namespace cmkwatch::test {

// ../shared/corpus (read in place, never copied; CMKWATCH_CORPUS_DIR in the
// environment overrides) and tests/fixtures.
std::filesystem::path CorpusDir();
std::filesystem::path FixturesDir();
std::filesystem::path CorpusFile(std::string_view relative);
std::filesystem::path FixtureFile(std::string_view relative);

// Whether the shared corpus is there, and whether we run under CI (CI set
// to anything but "false"), where it must be.
bool CorpusAvailable();
bool RunningUnderCi();

// First statement of a test that reads the shared corpus: where the corpus
// is not beside the checkout (a user's machine) the test is skipped with a
// message saying so; under CI, where it always is, its absence fails.
#define CMK_REQUIRE_CORPUS()                                                                     \
  do {                                                                                           \
    if (!::cmkwatch::test::CorpusAvailable()) {                                                  \
      if (::cmkwatch::test::RunningUnderCi()) {                                                  \
        FAIL() << "shared corpus missing at " << ::cmkwatch::test::CorpusDir();                  \
      }                                                                                          \
      GTEST_SKIP() << "shared corpus not found at " << ::cmkwatch::test::CorpusDir()             \
                   << " (set CMKWATCH_CORPUS_DIR)";                                              \
    }                                                                                            \
  } while (0)

// Whole file as bytes; fails the current test (ADD_FAILURE) and returns ""
// when it cannot be read.
std::string ReadFileOrFail(const std::filesystem::path& path);

// The JSON value at an RFC 6901 pointer inside a JSON file, re-serialized
// (e.g. "/responses/200/body" of a REST API example, or
// "/interactions/0/response/body/data" of a vcrpy cassette). "" and a test
// failure when absent.
std::string JsonAt(const std::filesystem::path& path, std::string_view pointer);
std::string JsonAtText(std::string_view json_text, std::string_view pointer);

// Elements of a JSON array, or of the array under "records"/"value"/"data",
// or the document itself, each re-serialized as one record.
std::vector<std::string> SplitRecords(std::string_view json_text);

// Parses one record (auto-detected unless a format name is given) and fails
// the test with the parser's message when it does not parse.
Event ParseOrFail(std::string_view record, std::string_view format = "auto");

// The same event expressed in two forms (e.g. exported AuditEvent vs a Log
// Analytics row): every normalized field a rule reads must match. Compared
// one by one so a failure names the field; `what` labels the pair.
void ExpectSameNormalized(const Event& a, const Event& b, const std::string& what);

// Every event the real parsers make of the bundled samples and the
// fixtures, one per event id (the fixtures repeat some records on purpose),
// in reading order. Read once per test binary.
const std::vector<Event>& SampleAndFixtureEvents();

// The resource with the most of `events` (tamper tests need several rows).
std::string BusiestResource(const std::vector<Event>& events);

// A fresh, empty directory for the running test,
// <tmp>/cmkwatch-<tag>-<pid>-<test name>, removed with everything in it when
// the object goes.
class TestDir {
 public:
  explicit TestDir(std::string_view tag);
  ~TestDir();
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A fresh CURVE key pair written as <prefix>.key and <prefix>.key_secret
// (mode 0600) by the production code; fails the test when it cannot be.
// Keys are made at test time, never committed.
transport::KeyPair WriteKeyPairOrFail(const std::filesystem::path& prefix);

// A program run to completion with stdin from /dev/null and its stdout and
// stderr captured (each argument passed as is, no shell), for tests of the
// CLI as a user runs it.
struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv);

// A daemon run in the background for the length of a test, stdin from
// /dev/null and stdout+stderr appended to `log`; killed with SIGKILL and
// reaped if still running when the object goes. A failure to start fails
// the test.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void Signal(int sig) const;
  // The exit code, 128 + the signal that ended it, or -1 when it is still
  // running after `timeout_ms`.
  int Wait(int timeout_ms = 30'000);

 private:
  int pid_ = -1;
  int exit_code_ = -1;
};

}  // namespace cmkwatch::test
