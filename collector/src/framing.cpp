// The framing scanner. One pass over every byte, with a fast skip through
// string contents; no allocation unless a record spans chunks.
#include "cmkwatch/collector/framing.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace cmkwatch::collector {
namespace {

// Index of the first '"', '\\' or '\n' in [p, end), or end - p.
size_t FindStringStop(const char* p, const char* end) {
  const char* start = p;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i newline = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hits = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash)),
                                      _mm_cmpeq_epi8(chunk, newline));
    const int mask = _mm_movemask_epi8(hits);
    if (mask != 0) return static_cast<size_t>(p - start) + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    p += 16;
  }
#endif
  while (p < end && *p != '"' && *p != '\\' && *p != '\n') ++p;
  return static_cast<size_t>(p - start);
}

bool IsWrapperKey(std::string_view key) { return key == "records" || key == "value" || key == "data"; }

enum class Rec : uint8_t {
  kNone,       // between records
  kRecord,     // an object to hand out
  kCandidate,  // a top-level object: a record, or a wrapper once its key is seen
  kBad,        // an element to skip and report (not an object, too big, too deep)
};

enum class KeyState : uint8_t { kIdle, kExpectKey, kInKey, kAfterKey, kAfterColon };

enum class Lines : uint8_t { kUnknown, kYes, kNo };

}  // namespace

struct Framer::State {
  FramerSink& sink;
  FramerOptions options;

  uint64_t base = 0;  // stream offset of the current chunk's first byte
  uint64_t line = 1;
  size_t bom_seen = 0;  // bytes of a leading UTF-8 BOM matched so far
  bool started = false;

  uint64_t depth = 0;
  bool in_string = false;
  bool escape = false;
  uint64_t list_depth = 0;  // > 0: objects opened at this depth are records
  bool in_wrapper_tail = false;
  bool scalar_reported = false;  // a non-object list element was reported

  Rec rec = Rec::kNone;
  uint64_t rec_base = 0;  // depth the record's object was opened at
  uint64_t rec_offset = 0, rec_line = 1;
  bool rec_in_chunk = false;  // record bytes still lie in the current chunk
  size_t rec_chunk_pos = 0;
  std::string carry;  // record bytes from earlier chunks
  uint64_t rec_bytes = 0;
  bool oversize = false, too_deep = false;
  bool rec_has_space = false;  // whitespace outside strings inside the record
  bool too_long_string = false;
  uint64_t string_start = 0;  // stream offset of the open string's quote
  std::string bad_reason;

  KeyState key_state = KeyState::kIdle;
  char key_buf[8] = {};
  size_t key_len = 0;

  Lines lines = Lines::kUnknown;
  bool top_has_newline = false;  // current top-level value spans lines

  bool garbage = false;  // skipping junk to the end of the line
  uint64_t garbage_offset = 0, garbage_line = 1;
  char garbage_char = 0;

  State(FramerSink& s, FramerOptions o) : sink(s), options(o) {}

  void Error(uint64_t offset, uint64_t at_line, std::string reason) {
    sink.OnError(FrameError{offset, at_line, std::move(reason)});
  }

  void StartRecord(Rec kind, uint64_t at_depth, size_t pos) {
    rec = kind;
    rec_base = at_depth;
    rec_offset = base + pos;
    rec_line = line;
    rec_in_chunk = true;
    rec_chunk_pos = pos;
    carry.clear();
    rec_bytes = 0;
    oversize = too_deep = false;
    too_long_string = false;
    rec_has_space = false;
    bad_reason.clear();
  }

  void EndGarbage() {
    if (!garbage) return;
    garbage = false;
    std::string reason = "unexpected '";
    if (garbage_char >= 0x20 && garbage_char < 0x7f) {
      reason += garbage_char;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(garbage_char));
      reason += hex;
    }
    reason += "' where a JSON object or array should start; skipped to the end of the line";
    Error(garbage_offset, garbage_line, std::move(reason));
  }

  // Bytes of the record in [rec_chunk_pos, end) of this chunk go to carry,
  // unless the record is being skipped.
  void SaveRecordTail(const char* chunk, size_t end) {
    if (rec == Rec::kNone) return;
    const size_t from = rec_in_chunk ? rec_chunk_pos : 0;
    AppendRecordBytes(chunk + from, end - from);
    rec_in_chunk = false;
  }

  void AppendRecordBytes(const char* p, size_t n) {
    rec_bytes += n;
    if (oversize || rec == Rec::kBad) return;
    if (rec_bytes > options.max_record_bytes) {
      oversize = true;
      carry.clear();
      carry.shrink_to_fit();
      return;
    }
    carry.append(p, n);
  }

  void AbandonRecord(std::string reason) {
    if (rec == Rec::kNone) return;
    Error(rec_offset, rec_line, std::move(reason));
    rec = Rec::kNone;
    rec_in_chunk = false;
    carry.clear();
    key_state = KeyState::kIdle;
  }

  void FinishRecord(const char* chunk, size_t end_pos, size_t readable_after) {
    // end_pos: one past the record's last byte in this chunk; readable_after:
    // how many bytes may be read past it (simdjson's padding).
    const Rec kind = rec;
    rec = Rec::kNone;
    key_state = KeyState::kIdle;
    size_t total;
    if (rec_in_chunk) {
      total = end_pos - rec_chunk_pos;
      rec_bytes = total;
    } else {
      AppendRecordBytes(chunk, end_pos);
      total = static_cast<size_t>(rec_bytes);
    }
    if (kind == Rec::kBad) {
      Error(rec_offset, rec_line, bad_reason);
      carry.clear();
      return;
    }
    if (oversize || total > options.max_record_bytes) {
      Error(rec_offset, rec_line,
            "record of " + std::to_string(rec_bytes) + " bytes exceeds the " +
                std::to_string(options.max_record_bytes) + "-byte limit; skipped");
      carry.clear();
      return;
    }
    if (too_long_string) {
      Error(rec_offset, rec_line,
            "record holds a string longer than the " + std::to_string(options.max_string_bytes) +
                "-byte limit; skipped");
      carry.clear();
      return;
    }
    if (too_deep) {
      Error(rec_offset, rec_line,
            "record nests deeper than " + std::to_string(options.max_depth) + " levels; skipped");
      carry.clear();
      return;
    }
    FramedRecord out;
    out.offset = rec_offset;
    out.line = rec_line;
    out.record.compact = !rec_has_space;
    if (rec_in_chunk && readable_after >= kPadding) {
      out.record.bytes = std::string_view(chunk + rec_chunk_pos, end_pos - rec_chunk_pos);
      rec_in_chunk = false;
      sink.OnRecord(out);
      return;
    }
    if (rec_in_chunk) {
      carry.assign(chunk + rec_chunk_pos, end_pos - rec_chunk_pos);
      rec_in_chunk = false;
    }
    const size_t n = carry.size();
    carry.append(kPadding, ' ');
    out.record.bytes = std::string_view(carry.data(), n);
    sink.OnRecord(out);
    carry.clear();
  }

  // Resynchronizes after a line break that cannot be inside a valid record.
  void ResyncAtNewline() {
    in_string = false;
    escape = false;
    if (lines == Lines::kYes) {
      depth = 0;
      list_depth = 0;
      in_wrapper_tail = false;
    } else {
      depth = list_depth;
    }
  }

  void Scan(const char* chunk, size_t n, size_t readable_after);
};

void Framer::State::Scan(const char* chunk, size_t n, size_t readable_after) {
  size_t i = 0;
  // A leading UTF-8 BOM, possibly split across chunks.
  static constexpr unsigned char kBom[3] = {0xEF, 0xBB, 0xBF};
  while (!started && i < n) {
    if (static_cast<unsigned char>(chunk[i]) == kBom[bom_seen]) {
      ++bom_seen;
      ++i;
      if (bom_seen == 3) started = true;
    } else {
      if (bom_seen != 0) {
        Error(base, line, "incomplete UTF-8 byte order mark at start of input");
      }
      started = true;
    }
  }

  while (i < n) {
    if (in_string) {
      if (escape) {
        escape = false;
        if (chunk[i] == '\n') {
          // fallthrough to newline handling below
        } else {
          ++i;
          continue;
        }
      }
      const size_t stop = i + FindStringStop(chunk + i, chunk + n);
      if (key_state == KeyState::kInKey) {
        // Capture the key's bytes, also across chunk boundaries; a key
        // longer than the buffer is never a wrapper key.
        const size_t take = std::min(stop - i, sizeof key_buf + 1 - std::min(key_len, sizeof key_buf + 1));
        for (size_t k = 0; k < take && key_len <= sizeof key_buf; ++k) {
          if (key_len < sizeof key_buf) key_buf[key_len] = chunk[i + k];
          ++key_len;
        }
      }
      i = stop;
      if (i >= n) break;
      const char c = chunk[i];
      if (c == '"') {
        in_string = false;
        if (base + i - string_start > options.max_string_bytes && rec != Rec::kNone) too_long_string = true;
        if (key_state == KeyState::kInKey) key_state = KeyState::kAfterKey;
        ++i;
        continue;
      }
      if (c == '\\') {
        if (key_state == KeyState::kInKey) key_len = sizeof key_buf + 1;  // escaped keys are never wrapper keys
        escape = true;
        ++i;
        continue;
      }
      // A raw line break cannot occur inside a JSON string: the record was
      // cut short. Report it and start afresh on the next line.
      if (rec != Rec::kNone) {
        AbandonRecord("line break inside a string: the record is truncated or corrupted");
      }
      ResyncAtNewline();
      key_state = KeyState::kIdle;
      ++line;
      ++i;
      continue;
    }
    const char c = chunk[i];
    if (garbage) {
      if (c == '\n') {
        EndGarbage();
        ++line;
      }
      ++i;
      continue;
    }
    switch (c) {
      case ' ':
      case '\t':
      case '\r':
        rec_has_space = true;
        break;
      case '\n':
        rec_has_space = true;
        ++line;
        if (depth > 0) top_has_newline = true;
        if (lines == Lines::kYes && depth > 0) {
          // JSON Lines: a record never spans lines.
          if (rec != Rec::kNone) AbandonRecord("record ends at a line break before it is complete (truncated line)");
          else Error(base + i, line - 1, "JSON value ends at a line break before it is complete (truncated line)");
          ResyncAtNewline();
          key_state = KeyState::kIdle;
        }
        break;
      case '"':
        if (rec == Rec::kNone && depth == 0) {
          garbage = true;
          garbage_offset = base + i;
          garbage_line = line;
          garbage_char = c;
          break;
        }
        if (rec == Rec::kNone && list_depth > 0 && depth == list_depth && !scalar_reported) {
          scalar_reported = true;
          Error(base + i, line, "list element is not a JSON object");
        }
        in_string = true;
        string_start = base + i;
        if (rec == Rec::kCandidate && depth == 1 && key_state == KeyState::kExpectKey) {
          key_state = KeyState::kInKey;
          key_len = 0;
        } else if (key_state != KeyState::kIdle && rec == Rec::kCandidate && depth == 1) {
          key_state = KeyState::kIdle;
        }
        break;
      case ':':
        if (key_state == KeyState::kAfterKey) {
          key_state = (key_len <= sizeof key_buf && IsWrapperKey(std::string_view(key_buf, key_len)))
                          ? KeyState::kAfterColon
                          : KeyState::kIdle;
        }
        break;
      case ',':
        if (rec == Rec::kCandidate && depth == 1) key_state = KeyState::kExpectKey;
        if (rec == Rec::kNone && list_depth > 0 && depth == list_depth) scalar_reported = false;
        // Commas between top-level values (concatenated array elements) are tolerated.
        break;
      case '{':
      case '[': {
        if (rec == Rec::kCandidate && depth == 1 && c == '[' && key_state == KeyState::kAfterColon) {
          // {"records":[ ... — a wrapper: its elements are the records.
          rec = Rec::kNone;
          rec_in_chunk = false;
          carry.clear();
          key_state = KeyState::kIdle;
          list_depth = 2;
          depth = 2;
          scalar_reported = false;
          break;
        }
        if (key_state == KeyState::kAfterColon) key_state = KeyState::kIdle;
        if (rec == Rec::kNone) {
          if (depth == 0) {
            EndGarbage();
            top_has_newline = false;
            in_wrapper_tail = false;
            if (c == '[') {
              list_depth = 1;
              scalar_reported = false;
            } else {
              StartRecord(Rec::kCandidate, 0, i);
              key_state = KeyState::kExpectKey;
            }
          } else if (list_depth > 0 && depth == list_depth) {
            StartRecord(c == '{' ? Rec::kRecord : Rec::kBad, depth, i);
            if (c == '[') bad_reason = "list element is an array, not a JSON object";
          }
        }
        ++depth;
        if (rec != Rec::kNone && depth - rec_base > options.max_depth) too_deep = true;
        break;
      }
      case '}':
      case ']': {
        if (key_state == KeyState::kAfterColon || key_state == KeyState::kAfterKey) key_state = KeyState::kIdle;
        if (depth == 0) {
          Error(base + i, line, std::string("unbalanced '") + c + "' between records");
          break;
        }
        --depth;
        if (rec != Rec::kNone && depth == rec_base) {
          const bool top = rec_base == 0;
          if (c == ']' && rec != Rec::kBad) {
            // An object closed by ']': the brackets inside do not match.
            rec = Rec::kBad;
            bad_reason = "record's brackets do not match ('{' closed by ']')";
          }
          FinishRecord(chunk, i + 1, (n - i - 1) + readable_after);
          if (top && lines == Lines::kUnknown) lines = top_has_newline ? Lines::kNo : Lines::kYes;
        } else if (rec == Rec::kNone && list_depth > 0 && depth + 1 == list_depth) {
          // The list closed.
          if (list_depth == 2) in_wrapper_tail = true;
          list_depth = 0;
        }
        if (depth == 0 && rec == Rec::kNone) {
          if (lines == Lines::kUnknown) lines = top_has_newline ? Lines::kNo : Lines::kYes;
          in_wrapper_tail = false;
        }
        break;
      }
      default:
        if (rec == Rec::kNone) {
          if (depth == 0) {
            garbage = true;
            garbage_offset = base + i;
            garbage_line = line;
            garbage_char = c;
          } else if (list_depth > 0 && depth == list_depth && !scalar_reported) {
            scalar_reported = true;
            Error(base + i, line, "list element is not a JSON object");
          }
        }
        break;
    }
    ++i;
  }
  // Keep the unfinished record's bytes for the next chunk.
  SaveRecordTail(chunk, n);
}

Framer::Framer(FramerSink& sink, FramerOptions options) : state_(new State(sink, options)) {}
Framer::~Framer() { delete state_; }

void Framer::Feed(std::string_view chunk) { Feed(chunk, 0); }

void Framer::Feed(std::string_view chunk, size_t readable_after) {
  state_->Scan(chunk.data(), chunk.size(), readable_after);
  state_->base += chunk.size();
}

void Framer::Finish() {
  State& s = *state_;
  s.EndGarbage();
  if (s.rec != Rec::kNone) {
    s.AbandonRecord(s.in_string ? "input ends inside a string: the record is truncated"
                                : "input ends before the record is complete: the record is truncated");
  }
  s.depth = 0;
  s.list_depth = 0;
  s.in_string = false;
  s.escape = false;
}

uint64_t Framer::bytes_seen() const { return state_->base; }

}  // namespace cmkwatch::collector
