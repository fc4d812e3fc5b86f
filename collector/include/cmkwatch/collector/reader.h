// Reading files, directories and stdin into Events, with quarantine.
//
// ReadPath opens a file (gzip detected by its magic bytes, whatever the
// name), the log files under a directory (recursively, in name order: names
// ending .json, .jsonl or .ndjson, optionally .gz; hidden entries skipped),
// or stdin for "-"; frames it (framing.h), parses each record (parse.h) and
// hands the results to a RecordHandler. A record that cannot be framed or
// parsed becomes a Quarantined entry with its location and reason; reading
// goes on with the next record. Only I/O failures stop a file.
//
// Inventory snapshots that carry no time of their own (an `az keyvault show`
// output has none) get the file's modification time, or the current time
// for stdin and memory buffers: they describe the resource as of then.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/collector/framing.h"
#include "cmkwatch/collector/parse.h"
#include "cmkwatch/common/event.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::collector {

struct RecordLocation {
  std::string_view path;  // "-" for stdin
  uint64_t offset = 0;    // byte offset in the (decompressed) stream
  uint64_t line = 1;
};

// What a reader reports for a record it could not use (common's type, so it
// travels over the wire unchanged).
using Quarantined = QuarantineEntry;

class RecordHandler {
 public:
  virtual ~RecordHandler() = default;
  virtual void OnEvent(Event&& event, const RecordLocation& where) = 0;
  virtual void OnQuarantine(Quarantined&& entry) = 0;
};

struct ReadOptions {
  Format format = Format::kAuto;
  ParseLimits limits;
  size_t chunk_bytes = size_t{1} << 20;  // read size
};

struct ReadStats {
  uint64_t files = 0;
  uint64_t bytes = 0;  // decompressed bytes framed
  uint64_t events = 0;
  uint64_t quarantined = 0;
};

// Reads one path ("-" = stdin). Returns IoError/NotFound when a file cannot
// be opened or read (other files of a directory are still read; the first
// error is returned), Ok otherwise — quarantined records are not errors.
Status ReadPath(std::string_view path, const ReadOptions& options, RecordHandler& handler, ReadStats& stats);

// The files ReadPath reads for `path`, in the order it reads them: the path
// itself when it is not a directory, else the log files under it (named
// *.json, *.jsonl, *.ndjson, optionally .gz; hidden entries skipped), sorted.
Result<std::vector<std::string>> ListLogFiles(std::string_view path);

// Reads bytes already in memory (tests, fuzzing, benchmarks) as if they were
// a file named `name`; gzip is detected here too. When the caller promises
// `readable_after` >= kPadding readable bytes past the end, plain input is
// parsed in place without copying records.
Status ReadBuffer(std::string_view bytes, std::string_view name, const ReadOptions& options,
                  RecordHandler& handler, ReadStats& stats, size_t readable_after = 0);

}  // namespace cmkwatch::collector
