// StreamSource over real pipes and a real child process writing with
// pauses: JSON Lines and a pretty-printed `az monitor activity-log list`
// array come through complete, quarantine keeps neighbours and names "-",
// back-pressure re-offers the same batch, Stop wakes a blocked RunOnce, and
// end of input quarantines an unfinished record and finishes the source.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cmkwatch/collector/source.h"
#include "test_support.h"

namespace cmkwatch::collector {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Ids = std::vector<std::string>;

// The Key Vault audit fixture is JSON Lines: one record per line, each
// returned with its newline.
std::vector<std::string> AuditLines() {
  const std::string text = test::ReadFileOrFail(test::FixtureFile("kvaudit/PT1H.json"));
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size() - 1;
    if (nl > start) lines.push_back(text.substr(start, nl + 1 - start));
    start = nl + 1;
  }
  return lines;
}

std::string IdOf(std::string_view record) { return test::ParseOrFail(record).id; }

Ids IdsOf(const std::vector<std::string>& records) {
  Ids ids;
  for (const auto& r : records) ids.push_back(IdOf(r));
  return ids;
}

std::string Join(const std::vector<std::string>& parts, size_t from = 0, size_t to = SIZE_MAX) {
  std::string out;
  for (size_t i = from; i < parts.size() && i < to; ++i) out += parts[i];
  return out;
}

// A pipe(2); the test writes into it, the source reads the other end.
class Pipe {
 public:
  Pipe() { EXPECT_EQ(::pipe2(fds_, O_CLOEXEC), 0); }
  ~Pipe() {
    CloseWriter();
    if (fds_[0] >= 0) ::close(fds_[0]);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  int reader() const { return fds_[0]; }
  void Write(std::string_view bytes) const {
    while (!bytes.empty()) {
      const ssize_t n = ::write(fds_[1], bytes.data(), bytes.size());
      ASSERT_GT(n, 0);
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  void CloseWriter() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

struct CollectSink final : SourceSink {
  Ids ids;  // of accepted events, in order
  std::vector<QuarantineEntry> quarantined;
  std::vector<Ids> attempts;  // every offered batch's event ids, accepted or not
  size_t batches = 0;
  size_t largest = 0;
  bool refuse_every_first_offer = false;
  bool refused_last = false;
  bool saw_checkpoint = false;

  Status OnBatch(std::vector<Event>&& events, std::vector<QuarantineEntry>&& q,
                 const std::vector<FileCheckpoint>& through) override {
    Ids these;
    for (const auto& e : events) these.push_back(e.id);
    attempts.push_back(these);
    saw_checkpoint = saw_checkpoint || !through.empty();
    if (refuse_every_first_offer && !refused_last) {
      refused_last = true;
      return Status::LimitExceeded("spool full");
    }
    refused_last = false;
    ++batches;
    largest = std::max(largest, events.size() + q.size());
    ids.insert(ids.end(), these.begin(), these.end());
    for (auto& e : q) quarantined.push_back(std::move(e));
    return Status::Ok();
  }
};

std::unique_ptr<StreamSource> Start(int fd, CollectSink& sink, StreamSourceOptions options = {}) {
  auto source = std::make_unique<StreamSource>(fd, "-", options, sink);
  EXPECT_TRUE(source->Setup().ok());
  return source;
}

// Runs steps until `done` holds (true) or 5 s pass (false).
bool Pump(StreamSource& source, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < deadline) {
    if (done()) return true;
    auto r = source.RunOnce(20);
    EXPECT_TRUE(r.ok() || r.status().IsLimitExceeded()) << r.status().ToString();
  }
  return done();
}
bool RunToEnd(StreamSource& source) {
  return Pump(source, [&] { return source.Finished(); });
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cmkwatch-stream-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path Write(const std::string& name, std::string_view bytes) const {
    std::ofstream(path_ / name, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path_ / name;
  }

 private:
  fs::path path_;
};

TEST(StreamSourceTest, JsonLinesFromAChildProcessWritingWithPausesComeThroughComplete) {
  const auto lines = AuditLines();
  ASSERT_EQ(lines.size(), 16u);
  // The pause falls inside a record: its first half must wait in the framer.
  const std::string all = Join(lines);
  const size_t cut = Join(lines, 0, 8).size() + 100;
  TempDir dir;
  const fs::path a = dir.Write("a", all.substr(0, cut));
  const fs::path b = dir.Write("b", all.substr(cut));
  const std::string command = "sh -c 'cat " + a.string() + "; sleep 0.3; cat " + b.string() + "'";
  FILE* child = ::popen(command.c_str(), "r");
  ASSERT_NE(child, nullptr);

  CollectSink sink;
  auto source = Start(::fileno(child), sink);
  ASSERT_TRUE(Pump(*source, [&] { return sink.ids.size() >= 8; }));
  EXPECT_FALSE(source->Finished());  // the child is still sleeping, the pipe open
  EXPECT_EQ(sink.ids.size(), 8u);
  ASSERT_TRUE(RunToEnd(*source));
  EXPECT_EQ(::pclose(child), 0);

  EXPECT_EQ(sink.ids, IdsOf(lines));
  EXPECT_TRUE(sink.quarantined.empty()) << sink.quarantined[0].reason;
  EXPECT_FALSE(sink.saw_checkpoint);
  const auto stats = source->Stats();
  EXPECT_EQ(stats.bytes, all.size());
  EXPECT_EQ(stats.events, 16u);
  EXPECT_EQ(stats.quarantined, 0u);
  EXPECT_EQ(stats.rejected_batches, 0u);
}

TEST(StreamSourceTest, PrettyPrintedArrayLikeAzActivityLogListComesThroughComplete) {
  // `az monitor activity-log list` prints the bare array of EventData,
  // indented by two spaces.
  const auto document = nlohmann::json::parse(test::ReadFileOrFail(test::FixtureFile("activity/rest_list.json")));
  const auto& array = document.at("value");
  ASSERT_EQ(array.size(), 3u);
  Ids expected;
  for (const auto& element : array) expected.push_back(IdOf(element.dump()));
  const std::string text = array.dump(2) + "\n";

  Pipe pipe;
  std::thread writer([&] {
    // Small pieces with pauses, as a slow `az` would write them.
    for (size_t off = 0; off < text.size(); off += 700) {
      pipe.Write(std::string_view(text).substr(off, 700));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pipe.CloseWriter();
  });
  CollectSink sink;
  auto source = Start(pipe.reader(), sink);
  const bool finished = RunToEnd(*source);
  writer.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(sink.ids, expected);
  EXPECT_TRUE(sink.quarantined.empty()) << sink.quarantined[0].reason;
  EXPECT_EQ(source->Stats().bytes, text.size());
}

TEST(StreamSourceTest, QuarantinedRecordsInTheMiddleKeepTheirNeighbours) {
  const auto lines = AuditLines();
  const std::string unknown = "{\"not\":\"azure\"}\n";
  const std::string garbage = "garbage here\n";
  Pipe pipe;
  pipe.Write(lines[0] + unknown + garbage + lines[1]);
  pipe.CloseWriter();
  CollectSink sink;
  auto source = Start(pipe.reader(), sink);
  ASSERT_TRUE(RunToEnd(*source));

  EXPECT_EQ(sink.ids, (Ids{IdOf(lines[0]), IdOf(lines[1])}));
  ASSERT_EQ(sink.quarantined.size(), 2u);
  EXPECT_EQ(sink.quarantined[0].path, "-");
  EXPECT_EQ(sink.quarantined[0].offset, lines[0].size());
  EXPECT_EQ(sink.quarantined[0].line, 2u);
  EXPECT_FALSE(sink.quarantined[0].reason.empty());
  EXPECT_EQ(sink.quarantined[1].path, "-");
  EXPECT_EQ(sink.quarantined[1].offset, lines[0].size() + unknown.size());
  EXPECT_EQ(sink.quarantined[1].line, 3u);
  EXPECT_NE(sink.quarantined[1].reason.find("skipped"), std::string::npos) << sink.quarantined[1].reason;
  EXPECT_EQ(source->Stats().quarantined, 2u);
  EXPECT_EQ(source->Stats().events, 2u);
}

TEST(StreamSourceTest, RefusedBatchIsOfferedAgainUnchangedAndNothingIsLostOrDuplicated) {
  const auto lines = AuditLines();
  Pipe pipe;
  pipe.Write(Join(lines));
  pipe.CloseWriter();
  CollectSink sink;
  sink.refuse_every_first_offer = true;
  StreamSourceOptions options;
  options.max_batch_events = 4;
  auto source = Start(pipe.reader(), sink, options);

  size_t refusals = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!source->Finished() && Clock::now() < deadline) {
    auto r = source->RunOnce(20);
    if (!r.ok()) {
      ASSERT_TRUE(r.status().IsLimitExceeded()) << r.status().ToString();
      ++refusals;
      // Not finished while a batch (possibly the last) waits for the sink.
      EXPECT_FALSE(source->Finished());
    }
  }
  ASSERT_TRUE(source->Finished());
  EXPECT_EQ(sink.ids, IdsOf(lines));
  ASSERT_EQ(sink.attempts.size(), 2 * sink.batches);
  for (size_t i = 0; i + 1 < sink.attempts.size(); i += 2) {
    EXPECT_EQ(sink.attempts[i], sink.attempts[i + 1]) << "offer " << i;
  }
  EXPECT_EQ(refusals, sink.batches);
  EXPECT_EQ(source->Stats().rejected_batches, refusals);
  EXPECT_EQ(source->Stats().events, lines.size());
  EXPECT_LE(sink.largest, 4u);
  EXPECT_GE(sink.batches, 4u);
}

TEST(StreamSourceTest, StopFromAnotherThreadWakesABlockedRunOnce) {
  Pipe pipe;  // writer kept open and silent: RunOnce has nothing to read
  CollectSink sink;
  auto source = Start(pipe.reader(), sink);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    source->Stop();
  });
  const auto start = Clock::now();
  auto r = source->RunOnce(10'000);
  const auto waited = Clock::now() - start;
  stopper.join();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_LT(waited, std::chrono::seconds(2));
  EXPECT_GE(waited, std::chrono::milliseconds(90));
  // Every later step returns at once, even with input waiting.
  pipe.Write(AuditLines()[0]);
  const auto again = Clock::now();
  auto after = source->RunOnce(10'000);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(*after);
  EXPECT_LT(Clock::now() - again, std::chrono::milliseconds(500));
  EXPECT_TRUE(sink.ids.empty());
}

TEST(StreamSourceTest, UnfinishedRecordAtEndOfInputIsQuarantinedAndTheSourceFinishes) {
  const auto lines = AuditLines();
  Pipe pipe;
  pipe.Write(lines[0] + lines[1].substr(0, 60));
  CollectSink sink;
  auto source = Start(pipe.reader(), sink);
  ASSERT_TRUE(Pump(*source, [&] { return !sink.ids.empty(); }));
  // While the writer may still finish the record, it waits.
  for (int i = 0; i < 5; ++i) (void)source->RunOnce(10);
  EXPECT_TRUE(sink.quarantined.empty());
  EXPECT_FALSE(source->Finished());

  pipe.CloseWriter();
  ASSERT_TRUE(RunToEnd(*source));
  EXPECT_EQ(sink.ids, (Ids{IdOf(lines[0])}));
  ASSERT_EQ(sink.quarantined.size(), 1u);
  EXPECT_EQ(sink.quarantined[0].path, "-");
  EXPECT_EQ(sink.quarantined[0].offset, lines[0].size());
  EXPECT_EQ(sink.quarantined[0].line, 2u);
  EXPECT_NE(sink.quarantined[0].reason.find("truncated"), std::string::npos) << sink.quarantined[0].reason;
  EXPECT_NE(sink.quarantined[0].reason.find("input ends"), std::string::npos) << sink.quarantined[0].reason;
  // Finished: no more batches, and no waiting for them.
  const auto start = Clock::now();
  auto r = source->RunOnce(10'000);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_EQ(source->Stats().quarantined, 1u);
}

TEST(StreamSourceTest, GzipOnAStreamIsRefusedInOneEntryEvenWhenItsMagicArrivesSplit) {
  Pipe pipe;
  std::thread writer([&] {
    pipe.Write("\x1f");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pipe.Write("\x8b\x08 compressed bytes\nmore\n");
    pipe.CloseWriter();
  });
  CollectSink sink;
  auto source = Start(pipe.reader(), sink);
  const bool finished = RunToEnd(*source);
  writer.join();
  ASSERT_TRUE(finished);
  EXPECT_TRUE(sink.ids.empty());
  ASSERT_EQ(sink.quarantined.size(), 1u);
  EXPECT_EQ(sink.quarantined[0].path, "-");
  EXPECT_EQ(sink.quarantined[0].offset, 0u);
  EXPECT_NE(sink.quarantined[0].reason.find("gzip"), std::string::npos) << sink.quarantined[0].reason;
}

TEST(StreamSourceTest, LoneFirstByteThatIsNotGzipIsNotLost) {
  // 0x1f held back for the gzip check must reach the framer when the next
  // byte says it is not gzip: it is reported, and the record after it read.
  const auto lines = AuditLines();
  Pipe pipe;
  std::thread writer([&] {
    pipe.Write("\x1f");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pipe.Write("\n" + lines[0]);
    pipe.CloseWriter();
  });
  CollectSink sink;
  auto source = Start(pipe.reader(), sink);
  const bool finished = RunToEnd(*source);
  writer.join();
  ASSERT_TRUE(finished);
  EXPECT_EQ(sink.ids, (Ids{IdOf(lines[0])}));
  ASSERT_EQ(sink.quarantined.size(), 1u);
  EXPECT_EQ(sink.quarantined[0].offset, 0u);
  EXPECT_EQ(source->Stats().bytes, 2 + lines[0].size());
}

TEST(StreamSourceTest, MisuseIsReportedNotCrashed) {
  CollectSink sink;
  StreamSource closed(-1, "-", {}, sink);
  EXPECT_TRUE(closed.Setup().IsInvalidArgument());
  Pipe pipe;
  StreamSource early(pipe.reader(), "-", {}, sink);
  auto r = early.RunOnce(0);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace cmkwatch::collector
