// Pieces of the read path shared by reader.cpp (ReadPath/ReadBuffer) and
// file_source.cpp (DirectorySource), so both pick the same files, parse and
// quarantine records alike, and decompress gzip the same way. Private to the
// collector library.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <utility>
#include <variant>

#include "cmkwatch/collector/framing.h"
#include "cmkwatch/collector/parse.h"
#include "cmkwatch/collector/reader.h"
#include "cmkwatch/common/event.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::collector::internal {

// Owns a file descriptor (never closes 0-2, so stdin can be wrapped).
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ > 2) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Whether a directory walk reads this file: a non-hidden name ending .json,
// .jsonl or .ndjson, optionally followed by .gz.
bool LooksLikeLogFile(const std::filesystem::path& p);

// Walks the tree under `root` the way every directory reader here does:
// hidden directories are skipped with everything below them, on_dir sees
// each other directory below root, on_file each log file (LooksLikeLogFile).
// Returns the iteration error, if any.
template <typename OnDir, typename OnFile>
std::error_code WalkLogTree(const std::filesystem::path& root, OnDir&& on_dir, OnFile&& on_file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    if (it->is_directory(fec)) {
      const std::string name = it->path().filename().string();
      if (!name.empty() && name.front() == '.') {
        it.disable_recursion_pending();
        continue;
      }
      on_dir(it->path());
    } else if (it->is_regular_file(fec) && LooksLikeLogFile(it->path())) {
      on_file(it->path());
    }
  }
  return ec;
}

// gzip's magic bytes.
bool IsGzip(std::string_view head);

// When the file was last written, ns since the epoch; now for pipes.
int64_t SnapshotTimeOf(int fd);

// The framer limits that match parse limits.
FramerOptions FramerOptionsFor(const ParseLimits& limits);

// What one framed record became: its event, or the entry that quarantines
// it (the format it looked like and the parser's reason). `snapshot_time`
// stands in for the time of inventory snapshots that carry none.
std::variant<Event, Quarantined> ParseFramed(const FramedRecord& record, std::string_view path,
                                             const ReadOptions& options, int64_t snapshot_time);

// The quarantine entry for bytes the framer could not cut into a record.
Quarantined FrameErrorEntry(std::string_view path, const FrameError& error);

// Reads an already open file from its current position to its end, as
// ReadPath reads one file (gzip detected by magic). Does not count the file
// in stats.files. The caller keeps ownership of `fd`.
Status ReadOpenFile(int fd, std::string_view path, const ReadOptions& options, RecordHandler& handler,
                    ReadStats& stats);

}  // namespace cmkwatch::collector::internal
