// Framing: cuts a byte stream into JSON records for the parsers.
//
// Grammar of what is accepted (whitespace, a UTF-8 BOM at the start, CR and
// LF anywhere between values):
//
//   stream   := value*                       concatenated documents / JSON Lines
//   value    := array | wrapper | record
//   array    := '[' (record (',' record)*)? ']'        each element is a record
//   wrapper  := '{' ... '"records"|"value"|"data"' ':' array ... '}'
//               an object with such a key holding an array is a list of
//               records (Storage/Event Hubs {"records":[...]}, ARM
//               {"value":[...]}, Resource Graph {"data":[...]}); its other
//               members are ignored
//   record   := any other JSON object
//
// Records are handed out with their byte offset and 1-based line in the
// stream. Memory stays bounded by max_record_bytes however long a line is: a
// record that grows past the limit is skipped to its end and reported, and
// so is one that nests deeper than max_depth or holds a string longer than
// max_string_bytes. These are the limits every record from a file or stream
// meets before any parser sees it.
//
// Recovery, so that one bad record costs only itself:
//  * a raw newline inside a string ends the broken record there;
//  * in JSON Lines input (the first record was on one line), a newline at
//    nesting depth > 0 ends a truncated record;
//  * bytes that cannot start a value are reported up to the next newline.
//
// Not thread-safe; one Framer per stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cmkwatch/collector/parse.h"

namespace cmkwatch::collector {

struct FramerOptions {
  size_t max_record_bytes = size_t{4} << 20;
  size_t max_depth = 64;
  size_t max_string_bytes = size_t{1} << 20;  // one JSON string, escapes included
};

struct FramedRecord {
  PaddedRecord record;  // valid only during the OnRecord call
  uint64_t offset = 0;  // of the record's first byte in the stream
  uint64_t line = 1;    // 1-based line of that byte
};

struct FrameError {
  uint64_t offset = 0;
  uint64_t line = 1;
  std::string reason;
};

// Receives what the framer cuts. Called synchronously from Feed/Finish.
class FramerSink {
 public:
  virtual ~FramerSink() = default;
  virtual void OnRecord(const FramedRecord& record) = 0;
  virtual void OnError(const FrameError& error) = 0;
};

class Framer {
 public:
  Framer(FramerSink& sink, FramerOptions options = {});
  ~Framer();
  Framer(const Framer&) = delete;
  Framer& operator=(const Framer&) = delete;

  // Feeds the next bytes of the stream; chunk boundaries may fall anywhere.
  void Feed(std::string_view chunk);
  // Same, promising that `readable_after` bytes past the chunk's end may be
  // read: records wholly inside the chunk are then handed out in place
  // (no copy) when at least kPadding bytes follow them.
  void Feed(std::string_view chunk, size_t readable_after);
  // End of stream: an unfinished record is reported as an error.
  void Finish();

  uint64_t bytes_seen() const;

 private:
  struct State;
  State* state_;  // owned; pimpl keeps the scanner private
};

}  // namespace cmkwatch::collector
