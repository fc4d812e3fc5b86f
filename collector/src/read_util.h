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
