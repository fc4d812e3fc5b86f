// The read path end to end: files, directories, gzip, quarantine with
// locations, and memory that stays bounded on a huge line.
#include "cmkwatch/collector/reader.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "test_support.h"

namespace cmkwatch::collector {
namespace {

namespace fs = std::filesystem;

struct Collect final : RecordHandler {
  std::vector<Event> events;
  std::vector<std::string> paths;
  std::vector<Quarantined> quarantined;
  void OnEvent(Event&& e, const RecordLocation& where) override {
    events.push_back(std::move(e));
    paths.emplace_back(where.path);
  }
  void OnQuarantine(Quarantined&& q) override { quarantined.push_back(std::move(q)); }
};

// A hand-made Key Vault audit record whose operation names it.
std::string AuditRecord(std::string_view op) {
  return std::string(R"({"time":"2026-03-01T10:00:00Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV","operationName":")") +
         std::string(op) +
         R"(","category":"AuditEvent","resultType":"Success","resultSignature":"OK","callerIpAddress":"192.0.2.1","identity":{"claim":{"oid":"11111111-1111-1111-1111-111111111111"}},"properties":{"id":"https://kv.vault.azure.net/","httpStatusCode":200}})";
}

std::string Gzip(std::string_view data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cmkwatch-reader-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  void Write(const std::string& rel, std::string_view bytes) const {
    fs::create_directories((path_ / rel).parent_path());
    std::ofstream(path_ / rel, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

 private:
  fs::path path_;
};

TEST(Reader, BadRecordsAreQuarantinedWithLocationAndNeighboursKept) {
  const std::string text = AuditRecord("KeyGet") + "\n" + "{\"not\":\"azure\"}\n" + "{\"broken\n" +
                           AuditRecord("KeyUnwrap") + "\n";
  Collect out;
  ReadStats stats;
  ASSERT_TRUE(ReadBuffer(text, "mem.jsonl", {}, out, stats).ok());
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].operation, "KeyGet");
  EXPECT_EQ(out.events[1].operation, "KeyUnwrap");
  ASSERT_EQ(out.quarantined.size(), 2u);
  EXPECT_EQ(out.quarantined[0].path, "mem.jsonl");
  EXPECT_EQ(out.quarantined[0].line, 2u);
  EXPECT_EQ(out.quarantined[0].offset, AuditRecord("KeyGet").size() + 1);
  EXPECT_NE(out.quarantined[0].reason.find("unrecognized"), std::string::npos) << out.quarantined[0].reason;
  EXPECT_EQ(out.quarantined[1].line, 3u);
  EXPECT_EQ(stats.events, 2u);
  EXPECT_EQ(stats.quarantined, 2u);
}

TEST(Reader, GzipFilesAndMultiMemberStreams) {
  const std::string a = AuditRecord("KeyWrap") + "\n";
  const std::string b = AuditRecord("KeyDelete") + "\n";
  const std::string two_members = Gzip(a) + Gzip(b);
  Collect out;
  ReadStats stats;
  ReadOptions options;
  options.chunk_bytes = 16;  // exercise refills
  ASSERT_TRUE(ReadBuffer(two_members, "x.json.gz", options, out, stats).ok());
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[1].operation, "KeyDelete");
  EXPECT_TRUE(out.quarantined.empty());
  EXPECT_EQ(stats.bytes, a.size() + b.size());
}

TEST(Reader, TruncatedAndCorruptGzipAreQuarantinedNotFatal) {
  const std::string gz = Gzip(AuditRecord("KeyWrap") + "\n" + AuditRecord("KeyGet") + "\n");
  {
    Collect out;
    ReadStats stats;
    ASSERT_TRUE(ReadBuffer(gz.substr(0, gz.size() - 12), "cut.gz", {}, out, stats).ok());
    ASSERT_FALSE(out.quarantined.empty());
    EXPECT_NE(out.quarantined.back().reason.find("truncated"), std::string::npos) << out.quarantined.back().reason;
  }
  {
    std::string bad = gz;
    bad[bad.size() / 2] ^= 0x55;
    bad[bad.size() / 2 + 1] ^= 0x55;
    Collect out;
    ReadStats stats;
    ASSERT_TRUE(ReadBuffer(bad, "bad.gz", {}, out, stats).ok());
    EXPECT_FALSE(out.quarantined.empty());
  }
}

TEST(Reader, DirectoriesAreReadRecursivelyInNameOrderSkippingNonLogFiles) {
  TempDir dir;
  dir.Write("b/PT1H.json", AuditRecord("KeyGet") + "\n");
  dir.Write("a/y=2026/PT1H.json", AuditRecord("KeyWrap") + "\n");
  dir.Write("c/events.jsonl.gz", Gzip(AuditRecord("KeyDelete") + "\n"));
  dir.Write("README.md", "# not a log\n");
  dir.Write(".hidden/PT1H.json", AuditRecord("KeyPurge") + "\n");
  Collect out;
  ReadStats stats;
  ASSERT_TRUE(ReadPath(dir.path().string(), {}, out, stats).ok());
  ASSERT_EQ(out.events.size(), 3u);
  EXPECT_EQ(out.events[0].operation, "KeyWrap");
  EXPECT_EQ(out.events[1].operation, "KeyGet");
  EXPECT_EQ(out.events[2].operation, "KeyDelete");
  EXPECT_NE(out.paths[2].find("events.jsonl.gz"), std::string::npos);
  EXPECT_TRUE(out.quarantined.empty());
  EXPECT_EQ(stats.files, 3u);
}

TEST(Reader, MissingPathIsNotFound) {
  Collect out;
  ReadStats stats;
  Status st = ReadPath("/nonexistent/cmkwatch/file.json", {}, out, stats);
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  EXPECT_NE(st.message().find("/nonexistent/cmkwatch/file.json"), std::string::npos);
}

long MaxRssKb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

TEST(Reader, HugeLineDoesNotGrowMemoryPastTheLimit) {
  // 512 MiB on one line, streamed through a pipe: it must be skipped and
  // reported without being held, and the record after it must survive.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const long before_kb = MaxRssKb();
  std::thread writer([fd = fds[1]] {
    auto put = [fd](std::string_view s) {
      while (!s.empty()) {
        const ssize_t n = write(fd, s.data(), s.size());
        if (n <= 0) return;
        s.remove_prefix(static_cast<size_t>(n));
      }
    };
    put("{\"big\":\"");
    const std::string block(1 << 20, 'x');
    for (int i = 0; i < 512; ++i) put(block);
    put("\"}\n");
    put(AuditRecord("KeyGet") + "\n");
    close(fd);
  });
  Collect out;
  ReadStats stats;
  const std::string path = "/dev/fd/" + std::to_string(fds[0]);
  Status st = ReadPath(path, {}, out, stats);
  writer.join();
  close(fds[0]);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(out.events.size(), 1u);
  ASSERT_EQ(out.quarantined.size(), 1u);
  EXPECT_NE(out.quarantined[0].reason.find("limit"), std::string::npos);
  const long grew_mb = (MaxRssKb() - before_kb) / 1024;
  EXPECT_LT(grew_mb, 64) << "peak RSS grew by " << grew_mb << " MB while skipping a 512 MiB line";
}

}  // namespace
}  // namespace cmkwatch::collector
