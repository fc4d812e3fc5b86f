// DirectorySource over real files in a temp dir, with inotify and with
// forced polling: discovery, appends, partial lines, resume from
// checkpoints, truncation, replacement, new directories, back-pressure,
// quarantine and Stop; and the same for a root that is one regular file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "cmkwatch/collector/source.h"
#include "test_support.h"

namespace cmkwatch::collector {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A hand-made Key Vault audit record whose operation names it.
std::string AuditRecord(std::string_view op) {
  return std::string(R"({"time":"2026-03-01T10:00:00Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV","operationName":")") +
         std::string(op) +
         R"(","category":"AuditEvent","resultType":"Success","resultSignature":"OK","callerIpAddress":"192.0.2.1","identity":{"claim":{"oid":"11111111-1111-1111-1111-111111111111"}},"properties":{"id":"https://kv.vault.azure.net/","httpStatusCode":200}})";
}
std::string Line(std::string_view op) { return AuditRecord(op) + "\n"; }

constexpr const char* kHour10 =
    "insights-logs-auditevent/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV/"
    "y=2026/m=03/d=01/h=10/m=00/PT1H.json";
constexpr const char* kHour11 =
    "insights-logs-auditevent/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV/"
    "y=2026/m=03/d=01/h=11/m=00/PT1H.json";

uint64_t InodeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return static_cast<uint64_t>(st.st_ino);
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cmkwatch-source-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }
  const fs::path& path() const { return path_; }
  // Creates or replaces the file (same inode when it exists: O_TRUNC).
  void Write(const std::string& rel, std::string_view bytes) const {
    fs::create_directories((path_ / rel).parent_path());
    std::ofstream(path_ / rel, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  void Append(const std::string& rel, std::string_view bytes) const {
    const int fd = ::open((path_ / rel).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }

 private:
  fs::path path_;
};

struct CollectSink final : SourceSink {
  std::vector<std::string> ops;  // operations of accepted events, in order
  std::vector<QuarantineEntry> quarantined;
  std::vector<std::vector<std::string>> attempts;  // every offered batch's operations
  std::map<std::string, FileCheckpoint> checkpoints;
  size_t batches = 0;
  size_t largest = 0;
  int fail_next = 0;

  Status OnBatch(std::vector<Event>&& events, std::vector<QuarantineEntry>&& q,
                 const std::vector<FileCheckpoint>& through) override {
    std::vector<std::string> these;
    for (const auto& e : events) these.push_back(e.operation);
    attempts.push_back(these);
    if (fail_next > 0) {
      --fail_next;
      return Status::LimitExceeded("spool full");
    }
    ++batches;
    largest = std::max(largest, events.size() + q.size());
    ops.insert(ops.end(), these.begin(), these.end());
    for (auto& e : q) quarantined.push_back(std::move(e));
    for (const auto& cp : through) checkpoints[cp.path] = cp;
    return Status::Ok();
  }
};

class SourceTest : public ::testing::TestWithParam<bool> {
 protected:
  DirectorySourceOptions Options() const {
    DirectorySourceOptions o;
    o.force_polling = GetParam();
    o.poll_interval_ms = 20;
    o.rescan_interval_ms = 200;
    return o;
  }

  std::unique_ptr<DirectorySource> Start(CollectSink& sink, std::vector<FileCheckpoint> resume = {},
                                         std::optional<DirectorySourceOptions> options = std::nullopt) {
    auto source = std::make_unique<DirectorySource>(dir_.path().string(), options.value_or(Options()),
                                                    std::move(resume), sink);
    EXPECT_TRUE(source->Setup().ok());
    EXPECT_EQ(source->Stats().inotify, !GetParam());
    return source;
  }

  // Runs steps until `done` holds (true) or 3 s pass (false).
  static bool Pump(DirectorySource& source, const std::function<bool()>& done) {
    const auto deadline = Clock::now() + std::chrono::seconds(3);
    while (Clock::now() < deadline) {
      auto r = source.RunOnce(20);
      EXPECT_TRUE(r.ok() || r.status().IsLimitExceeded()) << r.status().ToString();
      if (done()) return true;
    }
    return done();
  }
  // Runs steps for a while: whatever was going to arrive twice would.
  static void Settle(DirectorySource& source) {
    const auto until = Clock::now() + std::chrono::milliseconds(150);
    while (Clock::now() < until) (void)source.RunOnce(10);
  }

  TempDir dir_;
};

using Ops = std::vector<std::string>;

TEST_P(SourceTest, NewFileAndAppendedRecordsArriveOnce) {
  CollectSink sink;
  auto source = Start(sink);
  dir_.Write(kHour10, Line("KeyGet") + Line("KeyUnwrap"));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 2; }));
  dir_.Append(kHour10, Line("KeyWrap") + Line("KeyDelete"));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 4; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, (Ops{"KeyGet", "KeyUnwrap", "KeyWrap", "KeyDelete"}));
  EXPECT_TRUE(sink.quarantined.empty());
  const auto& cp = sink.checkpoints.at((dir_ / kHour10).string());
  EXPECT_EQ(cp.offset, fs::file_size(dir_ / kHour10) - 1);  // end of the last record, before its newline
  const auto stats = source->Stats();
  EXPECT_EQ(stats.files, 1u);
  EXPECT_EQ(stats.events, 4u);
  EXPECT_EQ(stats.bytes, fs::file_size(dir_ / kHour10));
}

TEST_P(SourceTest, PartialLastLineIsHeldBackUntilItsNewline) {
  CollectSink sink;
  auto source = Start(sink);
  const std::string second = Line("KeyUnwrap");
  dir_.Write(kHour10, Line("KeyGet") + second.substr(0, 50));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 1; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, (Ops{"KeyGet"}));
  EXPECT_TRUE(sink.quarantined.empty()) << sink.quarantined[0].reason;
  EXPECT_EQ(sink.checkpoints.at((dir_ / kHour10).string()).offset, AuditRecord("KeyGet").size());
  dir_.Append(kHour10, second.substr(50));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 2; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, (Ops{"KeyGet", "KeyUnwrap"}));
  EXPECT_TRUE(sink.quarantined.empty());
}

TEST_P(SourceTest, RestartFromCheckpointsReadsOnlyNewBytes) {
  std::vector<FileCheckpoint> saved;
  {
    CollectSink sink;
    auto source = Start(sink);
    dir_.Write(kHour10, Line("KeyGet") + Line("KeyUnwrap") + AuditRecord("KeyWrap").substr(0, 30));
    ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 2; }));
    Settle(*source);
    saved = source->Checkpoints();
    ASSERT_EQ(saved.size(), 1u);
    EXPECT_EQ(saved[0], sink.checkpoints.at((dir_ / kHour10).string()));
  }
  // Written while the collector was down: the rest of the partial record and one more.
  dir_.Append(kHour10, AuditRecord("KeyWrap").substr(30) + "\n" + Line("KeyDelete"));
  CollectSink sink;
  auto source = Start(sink, saved);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 2; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, (Ops{"KeyWrap", "KeyDelete"}));
  EXPECT_TRUE(sink.quarantined.empty());
  EXPECT_EQ(source->Stats().truncations, 0u);
}

TEST_P(SourceTest, RestartWithCheckpointOfAnotherInodeReadsFromZero) {
  dir_.Write(kHour10, Line("KeyGet"));
  const FileCheckpoint stale{(dir_ / kHour10).string(), 1, 1, 10};
  CollectSink sink;
  auto source = Start(sink, {stale});
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 1; }));
  EXPECT_EQ(sink.ops, (Ops{"KeyGet"}));
}

TEST_P(SourceTest, TruncationRestartsAtZero) {
  CollectSink sink;
  auto source = Start(sink);
  dir_.Write(kHour10, Line("KeyGet") + Line("KeyUnwrap") + Line("KeyWrap"));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 3; }));
  const uint64_t inode_before = InodeOf(dir_ / kHour10);
  dir_.Write(kHour10, Line("KeyDelete"));  // rewritten in place (O_TRUNC), smaller
  EXPECT_EQ(InodeOf(dir_ / kHour10), inode_before);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 4; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, (Ops{"KeyGet", "KeyUnwrap", "KeyWrap", "KeyDelete"}));
  EXPECT_EQ(source->Stats().truncations, 1u);
  EXPECT_EQ(sink.checkpoints.at((dir_ / kHour10).string()).offset, AuditRecord("KeyDelete").size());
}

TEST_P(SourceTest, ReplacementIsReadFromZeroAndOldTailQuarantined) {
  CollectSink sink;
  auto source = Start(sink);
  dir_.Write(kHour10, Line("KeyGet") + AuditRecord("KeyUnwrap").substr(0, 40));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 1; }));
  Settle(*source);
  // A sync tool writes the new blob beside it (hidden name) and renames it over.
  const std::string tmp = std::string(kHour10) + ".partial";
  dir_.Write(tmp, Line("KeyWrap") + Line("KeyDelete"));
  fs::rename(dir_ / tmp, dir_ / kHour10);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 3; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, (Ops{"KeyGet", "KeyWrap", "KeyDelete"}));
  ASSERT_EQ(sink.quarantined.size(), 1u);
  EXPECT_EQ(sink.quarantined[0].path, (dir_ / kHour10).string());
  EXPECT_EQ(sink.quarantined[0].offset, AuditRecord("KeyGet").size() + 1);
  EXPECT_NE(sink.quarantined[0].reason.find("truncated"), std::string::npos) << sink.quarantined[0].reason;
  EXPECT_EQ(source->Stats().replacements, 1u);
  const auto cps = source->Checkpoints();
  ASSERT_EQ(cps.size(), 1u);
  EXPECT_EQ(cps[0].inode, InodeOf(dir_ / kHour10));
  EXPECT_EQ(cps[0].offset, fs::file_size(dir_ / kHour10) - 1);
}

TEST_P(SourceTest, NewHourDirectoryIsDiscovered) {
  CollectSink sink;
  auto source = Start(sink);
  dir_.Write(kHour10, Line("KeyGet"));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 1; }));
  Settle(*source);
  dir_.Write(kHour11, Line("KeyUnwrap"));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 2; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, (Ops{"KeyGet", "KeyUnwrap"}));
  EXPECT_EQ(source->Stats().files, 2u);
  EXPECT_EQ(sink.checkpoints.size(), 2u);
}

TEST_P(SourceTest, BackPressureRedeliversTheSameBatchThenContinues) {
  CollectSink sink;
  auto source = Start(sink);
  dir_.Write(kHour10, Line("KeyGet") + Line("KeyUnwrap"));
  sink.fail_next = 1;
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  bool refused = false;
  while (!refused && Clock::now() < deadline) {
    auto r = source->RunOnce(20);
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsLimitExceeded());
      refused = true;
    }
  }
  ASSERT_TRUE(refused);
  EXPECT_TRUE(sink.ops.empty());
  EXPECT_TRUE(source->Checkpoints()[0].offset == 0);
  dir_.Append(kHour10, Line("KeyWrap"));  // must not slip into the retried batch
  auto r = source->RunOnce(20);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  ASSERT_EQ(sink.attempts.size(), 2u);
  EXPECT_EQ(sink.attempts[0], sink.attempts[1]);
  EXPECT_EQ(sink.ops, (Ops{"KeyGet", "KeyUnwrap"}));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 3; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, (Ops{"KeyGet", "KeyUnwrap", "KeyWrap"}));
  EXPECT_EQ(source->Stats().rejected_batches, 1u);
}

TEST_P(SourceTest, MalformedLinesAreQuarantinedWithLocation) {
  CollectSink sink;
  auto source = Start(sink);
  const std::string l1 = Line("KeyGet");
  const std::string l2 = "{\"not\":\"azure\"}\n";
  const std::string l3 = "{\"broken\n";
  const std::string l4 = "garbage here\n";
  dir_.Write(kHour10, l1 + l2 + l3 + l4 + Line("KeyUnwrap"));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 2; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, (Ops{"KeyGet", "KeyUnwrap"}));
  ASSERT_EQ(sink.quarantined.size(), 3u);
  const std::string path = (dir_ / kHour10).string();
  uint64_t offset = l1.size();
  uint64_t line = 2;
  for (const auto& q : sink.quarantined) {
    EXPECT_EQ(q.path, path);
    EXPECT_EQ(q.offset, offset);
    EXPECT_EQ(q.line, line);
    EXPECT_FALSE(q.reason.empty());
    offset += (line == 2 ? l2 : line == 3 ? l3 : l4).size();
    ++line;
  }
  EXPECT_EQ(source->Stats().quarantined, 3u);
}

TEST_P(SourceTest, QuarantineLinesAreRightAfterAResume) {
  dir_.Write(kHour10, Line("KeyGet") + Line("KeyUnwrap"));
  std::vector<FileCheckpoint> saved;
  {
    CollectSink sink;
    auto source = Start(sink);
    ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 2; }));
    saved = source->Checkpoints();
  }
  dir_.Append(kHour10, "nonsense\n");
  CollectSink sink;
  auto source = Start(sink, saved);
  ASSERT_TRUE(Pump(*source, [&] { return sink.quarantined.size() >= 1; }));
  EXPECT_EQ(sink.quarantined[0].line, 3u);
  EXPECT_EQ(sink.quarantined[0].offset, Line("KeyGet").size() + Line("KeyUnwrap").size());
  EXPECT_TRUE(sink.ops.empty());  // nothing before the checkpoint again
}

TEST_P(SourceTest, BatchesAreBounded) {
  std::string text;
  for (int i = 0; i < 12; ++i) text += Line("KeyGet");
  dir_.Write(kHour10, text);
  auto options = Options();
  options.max_batch_events = 5;
  CollectSink sink;
  auto source = Start(sink, {}, options);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 12; }));
  Settle(*source);
  EXPECT_EQ(sink.ops.size(), 12u);
  EXPECT_LE(sink.largest, 5u);
  EXPECT_GE(sink.batches, 3u);
}

// gzip of `text`; "" and a test failure when zlib refuses.
std::string Gzip(const std::string& text) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    ADD_FAILURE() << "deflateInit2";
    return "";
  }
  std::string gz(deflateBound(&z, text.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(gz.data());
  z.avail_out = static_cast<uInt>(gz.size());
  const int rc = deflate(&z, Z_FINISH);
  EXPECT_EQ(rc, Z_STREAM_END);
  gz.resize(rc == Z_STREAM_END ? z.total_out : 0);
  deflateEnd(&z);
  return gz;
}

TEST_P(SourceTest, GzipFileIsReadWholeOnceStable) {
  const std::string text = Line("KeyGet") + Line("KeyUnwrap");
  const std::string gz = Gzip(text);
  const std::string rel = std::string(kHour10) + ".gz";
  dir_.Write(rel, gz);
  // One record per batch: delivery spans several polls, and the file is
  // still read only once.
  auto options = Options();
  options.max_batch_events = 1;
  CollectSink sink;
  auto source = Start(sink, {}, options);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  Settle(*source);
  EXPECT_EQ(sink.ops, (Ops{"KeyGet", "KeyUnwrap"}));
  EXPECT_EQ(sink.checkpoints.at((dir_ / rel).string()).offset, gz.size());
  // Resumed with that checkpoint, it is not read again.
  CollectSink again;
  auto resumed = Start(again, source->Checkpoints());
  Settle(*resumed);
  EXPECT_TRUE(again.ops.empty());
}

TEST_P(SourceTest, IdleDescriptorsAreClosedAndReopenedWithoutLoss) {
  auto options = Options();
  options.max_open_files = 1;
  CollectSink sink;
  auto source = Start(sink, {}, options);
  dir_.Write(kHour10, Line("KeyGet"));
  dir_.Write(kHour11, Line("KeyUnwrap"));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 2; }));
  dir_.Append(kHour10, Line("KeyWrap"));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 3; }));
  dir_.Append(kHour11, Line("KeyDelete"));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 4; }));
  Settle(*source);
  EXPECT_EQ(sink.ops.size(), 4u);
  EXPECT_EQ(sink.ops[2], "KeyWrap");
  EXPECT_EQ(sink.ops[3], "KeyDelete");
}

TEST_P(SourceTest, DeletedFilesAreForgotten) {
  CollectSink sink;
  auto source = Start(sink);
  dir_.Write(kHour10, Line("KeyGet"));
  dir_.Write(kHour11, Line("KeyUnwrap"));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 2; }));
  fs::remove(dir_ / kHour10);
  ASSERT_TRUE(Pump(*source, [&] { return source->Stats().deletions >= 1; }));
  Settle(*source);
  const auto cps = source->Checkpoints();
  ASSERT_EQ(cps.size(), 1u);
  EXPECT_EQ(cps[0].path, (dir_ / kHour11).string());
  EXPECT_EQ(sink.ops.size(), 2u);
}

TEST_P(SourceTest, StopFromAnotherThreadWakesRunOnce) {
  CollectSink sink;
  auto source = Start(sink);
  (void)source->RunOnce(0);  // initial scan: nothing there
  std::atomic<bool> called{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    source->Stop();
    called = true;
  });
  const auto start = Clock::now();
  // With inotify one call blocks until Stop wakes it; polling wakes every
  // poll interval, so keep calling as a daemon would.
  for (;;) {
    auto r = source->RunOnce(10'000);
    ASSERT_TRUE(r.ok());
    if (!GetParam() || (called && !*r) || Clock::now() - start > std::chrono::seconds(5)) break;
  }
  const auto waited = Clock::now() - start;
  stopper.join();
  EXPECT_LT(waited, std::chrono::seconds(2));
  EXPECT_GE(waited, std::chrono::milliseconds(90));
  auto after = source->RunOnce(10'000);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(*after);
}

// ---------------------------------------------------------------- one file

// The Key Vault audit fixture's records (JSON Lines), each with its newline,
// and their operations.
std::vector<std::string> FixtureLines() {
  const std::string text = test::ReadFileOrFail(test::FixtureFile("kvaudit/PT1H.json"));
  std::vector<std::string> lines;
  for (size_t start = 0; start < text.size();) {
    const size_t nl = std::min(text.find('\n', start), text.size() - 1);
    lines.push_back(text.substr(start, nl + 1 - start));
    start = nl + 1;
  }
  return lines;
}
Ops OpsOf(const std::vector<std::string>& lines, size_t from, size_t to) {
  Ops ops;
  for (size_t i = from; i < to; ++i) ops.push_back(test::ParseOrFail(lines[i]).operation);
  return ops;
}
std::string Concat(const std::vector<std::string>& lines, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to; ++i) out += lines[i];
  return out;
}

// Root = one regular file in a directory that also holds other log files.
class SingleFileTest : public SourceTest {
 protected:
  static constexpr const char* kName = "PT1H.json";
  std::string Root() const { return (dir_ / kName).string(); }
  std::unique_ptr<DirectorySource> StartFile(CollectSink& sink, std::vector<FileCheckpoint> resume = {},
                                             std::optional<DirectorySourceOptions> options = std::nullopt) {
    auto source = std::make_unique<DirectorySource>(Root(), options.value_or(Options()), std::move(resume), sink);
    EXPECT_TRUE(source->Setup().ok());
    EXPECT_EQ(source->Stats().inotify, !GetParam());
    return source;
  }
  const std::vector<std::string> lines_ = FixtureLines();
};

TEST_P(SingleFileTest, AppendsWhileRunningArriveOnceAndSiblingsAreIgnored) {
  ASSERT_EQ(lines_.size(), 16u);
  dir_.Write(kName, Concat(lines_, 0, 2));
  dir_.Write("other.json", Line("KeyGet"));
  CollectSink sink;
  auto source = StartFile(sink);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 2; }));
  // A record written in two pieces waits for its second piece.
  dir_.Append(kName, Concat(lines_, 2, 4) + lines_[4].substr(0, 80));
  dir_.Append("other.json", Line("KeyUnwrap"));
  dir_.Write("new.json", Line("KeyWrap"));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 4; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, OpsOf(lines_, 0, 4));
  EXPECT_TRUE(sink.quarantined.empty());
  dir_.Append(kName, lines_[4].substr(80) + Concat(lines_, 5, 16));
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 16; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, OpsOf(lines_, 0, 16));
  EXPECT_TRUE(sink.quarantined.empty());
  ASSERT_EQ(sink.checkpoints.size(), 1u);
  EXPECT_EQ(sink.checkpoints.at(Root()).offset, fs::file_size(dir_ / kName) - 1);
  EXPECT_EQ(sink.checkpoints.at(Root()).inode, InodeOf(dir_ / kName));
  const auto stats = source->Stats();
  EXPECT_EQ(stats.files, 1u);
  EXPECT_EQ(stats.bytes, fs::file_size(dir_ / kName));
  EXPECT_EQ(source->Checkpoints().size(), 1u);
}

TEST_P(SingleFileTest, TruncationRereadsFromZero) {
  dir_.Write(kName, Concat(lines_, 0, 3));
  CollectSink sink;
  auto source = StartFile(sink);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 3; }));
  Settle(*source);
  const uint64_t inode = InodeOf(dir_ / kName);
  dir_.Write(kName, lines_[3]);  // O_TRUNC: same inode, smaller
  ASSERT_EQ(InodeOf(dir_ / kName), inode);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 4; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, OpsOf(lines_, 0, 4));
  EXPECT_EQ(source->Stats().truncations, 1u);
  EXPECT_EQ(sink.checkpoints.at(Root()).offset, lines_[3].size() - 1);
}

TEST_P(SingleFileTest, ReplacementDrainsTheOldFileThenReadsTheNew) {
  dir_.Write(kName, lines_[0]);
  CollectSink sink;
  auto source = StartFile(sink);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 1; }));
  Settle(*source);
  // The old file gets one more record and an unfinished one, and before the
  // source looks again a new file is renamed over its name.
  dir_.Append(kName, lines_[1] + lines_[2].substr(0, 50));
  dir_.Write(".PT1H.json.partial", Concat(lines_, 3, 6));
  fs::rename(dir_ / ".PT1H.json.partial", dir_ / kName);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 5; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, (Ops{OpsOf(lines_, 0, 2)[0], OpsOf(lines_, 0, 2)[1], OpsOf(lines_, 3, 6)[0],
                           OpsOf(lines_, 3, 6)[1], OpsOf(lines_, 3, 6)[2]}));
  ASSERT_EQ(sink.quarantined.size(), 1u);
  EXPECT_EQ(sink.quarantined[0].path, Root());
  EXPECT_EQ(sink.quarantined[0].offset, lines_[0].size() + lines_[1].size());
  EXPECT_NE(sink.quarantined[0].reason.find("truncated"), std::string::npos) << sink.quarantined[0].reason;
  EXPECT_EQ(source->Stats().replacements, 1u);
  const auto cps = source->Checkpoints();
  ASSERT_EQ(cps.size(), 1u);
  EXPECT_EQ(cps[0].inode, InodeOf(dir_ / kName));
  EXPECT_EQ(cps[0].offset, fs::file_size(dir_ / kName) - 1);
}

TEST_P(SingleFileTest, DeletedThenRecreatedIsReadFromZero) {
  dir_.Write(kName, lines_[0]);
  CollectSink sink;
  auto source = StartFile(sink);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 1; }));
  fs::remove(dir_ / kName);
  ASSERT_TRUE(Pump(*source, [&] { return source->Stats().deletions >= 1; }));
  Settle(*source);
  EXPECT_TRUE(source->Checkpoints().empty());
  dir_.Write(kName, lines_[1]);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 2; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, OpsOf(lines_, 0, 2));
}

TEST_P(SingleFileTest, RestartResumesFromCheckpointsWithNoByteRereadOrSkipped) {
  std::vector<FileCheckpoint> saved;
  uint64_t first_bytes = 0;
  {
    dir_.Write(kName, Concat(lines_, 0, 3) + lines_[3].substr(0, 70));
    CollectSink sink;
    auto source = StartFile(sink);
    ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 3; }));
    Settle(*source);
    saved = source->Checkpoints();
    ASSERT_EQ(saved.size(), 1u);
    EXPECT_EQ(saved[0], sink.checkpoints.at(Root()));
    EXPECT_EQ(saved[0].offset, Concat(lines_, 0, 3).size() - 1);
    first_bytes = source->Stats().bytes;
  }
  // Written while the collector was down.
  dir_.Append(kName, lines_[3].substr(70) + Concat(lines_, 4, 6));
  CollectSink sink;
  auto source = StartFile(sink, saved);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 3; }));
  Settle(*source);
  EXPECT_EQ(sink.ops, OpsOf(lines_, 3, 6));
  EXPECT_TRUE(sink.quarantined.empty());
  // Only the bytes after the checkpoint were read again (the newline
  // ending the last consumed record and the unfinished record the first
  // run had only buffered), nothing before it.
  const uint64_t size = fs::file_size(dir_ / kName);
  EXPECT_EQ(source->Stats().bytes, size - saved[0].offset);
  EXPECT_EQ(first_bytes, Concat(lines_, 0, 3).size() + 70);
  EXPECT_EQ(source->Stats().truncations, 0u);
  EXPECT_EQ(sink.checkpoints.at(Root()).offset, size - 1);
}

TEST_P(SingleFileTest, GzipFileRootIsReadWholeOnce) {
  const std::string gz = Gzip(Concat(lines_, 0, 4));
  dir_.Write("PT1H.json.gz", gz);
  CollectSink sink;
  auto source = std::make_unique<DirectorySource>((dir_ / "PT1H.json.gz").string(), Options(),
                                                  std::vector<FileCheckpoint>{}, sink);
  ASSERT_TRUE(source->Setup().ok());
  ASSERT_TRUE(Pump(*source, [&] { return sink.ops.size() >= 4; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  Settle(*source);
  EXPECT_EQ(sink.ops, OpsOf(lines_, 0, 4));
  EXPECT_EQ(sink.checkpoints.at((dir_ / "PT1H.json.gz").string()).offset, gz.size());
}

TEST(SingleFileRootTest, MissingRootIsRefusedAtSetup) {
  TempDir dir;
  CollectSink sink;
  const std::string typo = (dir / "PT1H.jsno").string();
  DirectorySource source(typo, {}, {}, sink);
  const Status status = source.Setup();
  EXPECT_TRUE(status.IsNotFound()) << status.ToString();
  EXPECT_NE(status.message().find(typo), std::string::npos) << status.message();
  auto r = source.RunOnce(0);
  EXPECT_FALSE(r.ok());
}

TEST(SingleFileRootTest, FifoRootIsRefusedAsNotAFile) {
  TempDir dir;
  const std::string fifo = (dir / "pipe.json").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  CollectSink sink;
  DirectorySource source(fifo, {}, {}, sink);
  const Status status = source.Setup();
  EXPECT_TRUE(status.IsInvalidArgument()) << status.ToString();
}

INSTANTIATE_TEST_SUITE_P(Modes, SingleFileTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? std::string("Polling") : std::string("Inotify");
                         });

INSTANTIATE_TEST_SUITE_P(Modes, SourceTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? std::string("Polling") : std::string("Inotify");
                         });

}  // namespace
}  // namespace cmkwatch::collector
