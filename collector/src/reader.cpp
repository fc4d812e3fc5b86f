#include "cmkwatch/collector/reader.h"

#include "read_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

namespace cmkwatch::collector {
namespace {

namespace fs = std::filesystem;
using internal::IsGzip;
using internal::UniqueFd;

// Owns an inflate stream.
class Inflater {
 public:
  Inflater() = default;
  ~Inflater() {
    if (ready_) inflateEnd(&z_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  bool Init() {
    // 16 + MAX_WBITS: gzip framing only.
    ready_ = inflateInit2(&z_, 16 + MAX_WBITS) == Z_OK;
    return ready_;
  }
  z_stream& z() { return z_; }

 private:
  z_stream z_{};
  bool ready_ = false;
};

// Frames, parses and routes one stream's records to the handler.
class ParsingSink final : public FramerSink {
 public:
  ParsingSink(std::string_view path, const ReadOptions& options, RecordHandler& handler, ReadStats& stats,
              int64_t snapshot_time)
      : path_(path), options_(options), handler_(handler), stats_(stats), snapshot_time_(snapshot_time) {}

  void OnRecord(const FramedRecord& record) override {
    auto parsed = internal::ParseFramed(record, path_, options_, snapshot_time_);
    if (auto* event = std::get_if<Event>(&parsed)) {
      ++stats_.events;
      handler_.OnEvent(std::move(*event), RecordLocation{path_, record.offset, record.line});
      return;
    }
    ++stats_.quarantined;
    handler_.OnQuarantine(std::get<Quarantined>(std::move(parsed)));
  }

  void OnError(const FrameError& error) override {
    ++stats_.quarantined;
    handler_.OnQuarantine(internal::FrameErrorEntry(path_, error));
  }

  void Quarantine(uint64_t offset, uint64_t line, std::string guess, std::string reason) {
    ++stats_.quarantined;
    handler_.OnQuarantine(Quarantined{std::string(path_), offset, line, std::move(guess), std::move(reason)});
  }

 private:
  std::string_view path_;
  const ReadOptions& options_;
  RecordHandler& handler_;
  ReadStats& stats_;
  int64_t snapshot_time_;
};

int64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Pulls compressed bytes on demand.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Fills up to `cap` bytes; returns bytes read, 0 at end, -1 on error.
  virtual ssize_t Read(char* out, size_t cap) = 0;
};

class FdSource final : public ByteSource {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  ssize_t Read(char* out, size_t cap) override {
    for (;;) {
      const ssize_t n = ::read(fd_, out, cap);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }

 private:
  int fd_;
};

class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::string_view data) : data_(data) {}
  ssize_t Read(char* out, size_t cap) override {
    const size_t n = std::min(cap, data_.size() - pos_);
    std::memcpy(out, data_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Decompresses a gzip stream (several members allowed, as `cat a.gz b.gz`
// makes) into the framer. Corrupt data quarantines the rest of the file.
Status InflateInto(ByteSource& src, std::string head, Framer& framer, ParsingSink& sink, const ReadOptions& options,
                   ReadStats& stats, std::string_view path) {
  Inflater inflater;
  if (!inflater.Init()) return Status::Internal("zlib inflateInit2 failed");
  z_stream& z = inflater.z();
  std::vector<char> in(options.chunk_bytes);
  std::vector<char> out(options.chunk_bytes + kPadding);
  std::string pending = std::move(head);  // bytes already read while sniffing
  uint64_t compressed = 0;
  bool eof = false;
  bool member_open = false;  // inside a gzip member that has not ended yet
  bool output_full = false;  // zlib may hold more output without more input
  for (;;) {
    if (z.avail_in == 0) {
      if (!pending.empty()) {
        const size_t n = std::min(pending.size(), in.size());
        std::memcpy(in.data(), pending.data(), n);
        pending.erase(0, n);
        z.next_in = reinterpret_cast<Bytef*>(in.data());
        z.avail_in = static_cast<uInt>(n);
      } else if (!eof) {
        const ssize_t n = src.Read(in.data(), in.size());
        if (n < 0) return Status::IoError(std::string(path) + ": read failed: " + std::strerror(errno));
        if (n == 0) {
          eof = true;
        } else {
          z.next_in = reinterpret_cast<Bytef*>(in.data());
          z.avail_in = static_cast<uInt>(n);
        }
      }
    }
    if (z.avail_in == 0 && eof && !output_full) break;
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(options.chunk_bytes);
    const uInt before_in = z.avail_in;
    const int rc = inflate(&z, Z_NO_FLUSH);
    compressed += before_in - z.avail_in;
    if (before_in != z.avail_in) member_open = true;
    const size_t produced = options.chunk_bytes - z.avail_out;
    output_full = z.avail_out == 0;
    if (produced > 0) {
      stats.bytes += produced;
      framer.Feed(std::string_view(out.data(), produced), kPadding);
    }
    if (rc == Z_STREAM_END) {
      // Another gzip member may follow.
      member_open = false;
      if (inflateReset(&z) != Z_OK) return Status::Internal("zlib inflateReset failed");
      continue;
    }
    if (rc == Z_BUF_ERROR && z.avail_in == 0 && eof && !output_full) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      framer.Finish();
      sink.Quarantine(framer.bytes_seen(), 0, "unknown",
                      "gzip data is corrupt after " + std::to_string(compressed) + " compressed bytes (" +
                          (z.msg != nullptr ? z.msg : "zlib error") + "); the rest of the file is skipped");
      return Status::Ok();
    }
  }
  framer.Finish();
  if (member_open) {
    sink.Quarantine(framer.bytes_seen(), 0, "unknown",
                    "gzip stream is truncated after " + std::to_string(compressed) +
                        " compressed bytes; a record cut there is lost with it");
  }
  return Status::Ok();
}

Status ReadStream(ByteSource& src, std::string_view path, const ReadOptions& options, RecordHandler& handler,
                  ReadStats& stats, int64_t snapshot_time) {
  ParsingSink sink(path, options, handler, stats, snapshot_time);
  Framer framer(sink, internal::FramerOptionsFor(options.limits));

  std::vector<char> buf(options.chunk_bytes + kPadding);
  // Sniff the first bytes for gzip's magic.
  size_t have = 0;
  while (have < 2) {
    const ssize_t n = src.Read(buf.data() + have, options.chunk_bytes - have);
    if (n < 0) return Status::IoError(std::string(path) + ": read failed: " + std::strerror(errno));
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  if (IsGzip(std::string_view(buf.data(), have))) {
    return InflateInto(src, std::string(buf.data(), have), framer, sink, options, stats, path);
  }
  while (have > 0) {
    stats.bytes += have;
    framer.Feed(std::string_view(buf.data(), have), kPadding);
    const ssize_t n = src.Read(buf.data(), options.chunk_bytes);
    if (n < 0) return Status::IoError(std::string(path) + ": read failed: " + std::strerror(errno));
    have = static_cast<size_t>(n);
  }
  framer.Finish();
  return Status::Ok();
}

Status ReadOneFile(const std::string& path, const ReadOptions& options, RecordHandler& handler, ReadStats& stats) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string msg = path + ": " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(std::move(msg)) : Status::IoError(std::move(msg));
  }
  UniqueFd owner(fd);
  ++stats.files;
  return internal::ReadOpenFile(fd, path, options, handler, stats);
}

}  // namespace

Status ReadPath(std::string_view path, const ReadOptions& options, RecordHandler& handler, ReadStats& stats) {
  if (path == "-") {
    ++stats.files;
    FdSource src(STDIN_FILENO);
    return ReadStream(src, "-", options, handler, stats, internal::SnapshotTimeOf(STDIN_FILENO));
  }
  auto files = ListLogFiles(path);
  if (!files.ok()) return files.status();
  Status first = Status::Ok();
  for (const auto& f : *files) {
    Status st = ReadOneFile(f, options, handler, stats);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

Result<std::vector<std::string>> ListLogFiles(std::string_view path) {
  std::error_code ec;
  const fs::path p(path);
  const auto status = fs::status(p, ec);
  if (ec) {
    return ec == std::errc::no_such_file_or_directory ? Status::NotFound(std::string(path) + ": no such file or directory")
                                                      : Status::IoError(std::string(path) + ": " + ec.message());
  }
  std::vector<std::string> files;
  if (!fs::is_directory(status)) {
    files.emplace_back(path);
    return files;
  }
  ec = internal::WalkLogTree(
      p, [](const fs::path&) {}, [&](const fs::path& f) { files.push_back(f.string()); });
  if (ec) return Status::IoError(std::string(path) + ": " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

Status ReadBuffer(std::string_view bytes, std::string_view name, const ReadOptions& options, RecordHandler& handler,
                  ReadStats& stats, size_t readable_after) {
  ++stats.files;
  if (!IsGzip(bytes) && readable_after >= kPadding) {
    // In place: the framer hands out views into the caller's buffer.
    ParsingSink sink(name, options, handler, stats, NowNs());
    Framer framer(sink, internal::FramerOptionsFor(options.limits));
    stats.bytes += bytes.size();
    framer.Feed(bytes, readable_after);
    framer.Finish();
    return Status::Ok();
  }
  MemorySource src(bytes);
  return ReadStream(src, name, options, handler, stats, NowNs());
}

namespace internal {

int64_t SnapshotTimeOf(int fd) {
  struct stat st {};
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  }
  return NowNs();
}

// In a directory, only files named like log exports are read (a README or a
// checksum file beside them is not a record source). Hidden entries are
// skipped. Naming a file directly reads it whatever its name.
bool LooksLikeLogFile(const fs::path& p) {
  std::string name = p.filename().string();
  if (name.empty() || name.front() == '.') return false;
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) name.resize(name.size() - 3);
  for (const char* ext : {".json", ".jsonl", ".ndjson"}) {
    const size_t n = std::strlen(ext);
    if (name.size() > n && name.compare(name.size() - n, n, ext) == 0) return true;
  }
  return false;
}

bool IsGzip(std::string_view head) {
  return head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x1f && static_cast<unsigned char>(head[1]) == 0x8b;
}

FramerOptions FramerOptionsFor(const ParseLimits& limits) {
  FramerOptions framer_options;
  framer_options.max_record_bytes = limits.max_record_bytes;
  framer_options.max_depth = limits.max_depth;
  framer_options.max_string_bytes = limits.max_string_bytes;
  return framer_options;
}

std::variant<Event, Quarantined> ParseFramed(const FramedRecord& record, std::string_view path,
                                             const ReadOptions& options, int64_t snapshot_time) {
  auto result = ParseRecord(record.record, options.format, options.limits);
  if (result.ok()) {
    // An inventory snapshot (az ... show) that names no time of its own
    // describes the resource as of when the file was written.
    if (result->source == Source::kInventory && result->time == 0) result->time = snapshot_time;
    return std::move(result).value();
  }
  // The rare path: find out which format it looked like, for the operator.
  std::string guess = "unknown";
  if (options.format != Format::kAuto) {
    guess = std::string(FormatName(options.format));
  } else if (auto detected = DetectFormat(record.record.bytes, options.limits); detected.ok()) {
    guess = std::string(FormatName(*detected));
  }
  return Quarantined{std::string(path), record.offset, record.line, std::move(guess), result.status().message()};
}

Quarantined FrameErrorEntry(std::string_view path, const FrameError& error) {
  return Quarantined{std::string(path), error.offset, error.line, "unknown", error.reason};
}

Status ReadOpenFile(int fd, std::string_view path, const ReadOptions& options, RecordHandler& handler,
                    ReadStats& stats) {
  FdSource src(fd);
  return ReadStream(src, path, options, handler, stats, SnapshotTimeOf(fd));
}

}  // namespace internal

}  // namespace cmkwatch::collector
