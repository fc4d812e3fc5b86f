// The framing scanner. Inside a record it reads 64 bytes at a time
// (BlockMasks: bitmasks of quotes, backslashes, brackets, ...), and the
// byte-at-a-time state machine (Scan's switch) takes everything else: the
// bytes between records, the rare characters the block scanner hands back
// (see ScanBlocks) and the last bytes of a chunk. No allocation unless a
// record spans chunks.
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

// Bytes the block scanner reads at a time: one bit per byte in a uint64_t.
constexpr size_t kBlock = 64;

// What every block needs: one bit per byte for its quotes, backslashes and
// brackets (`open` is '{' or '[', `close` '}' or ']'), and whether any byte
// is <= 0x20 (whitespace or a newline may be there). The masks of
// whitespace and newlines (SpaceMasks), and of ':' and ',' (PunctMasks), are
// computed only for the blocks that need them.
struct BlockMasks {
  uint64_t quote = 0, backslash = 0, open = 0, close = 0;
  bool low = false;
};

struct SpaceMasks {
  uint64_t newline = 0, space = 0;  // space: ' ', '\t', '\r'
};
struct PunctMasks {
  uint64_t colon = 0, comma = 0;
};

#if defined(__SSE2__)
inline __m128i Load16(const char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

struct Vectors {
  __m128i v[4];
  explicit Vectors(const char* p) : v{Load16(p), Load16(p + 16), Load16(p + 32), Load16(p + 48)} {}
};

// The 64 bits of four 16-byte compare results.
inline uint64_t Bits(__m128i a, __m128i b, __m128i c, __m128i d) {
  return static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(a))) |
         static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(b))) << 16 |
         static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(c))) << 32 |
         static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(d))) << 48;
}

// Bits of the bytes b with (b | bit) == c; bit 0 compares b itself.
inline uint64_t EqualWith(const Vectors& x, char bit, char c) {
  const __m128i m = _mm_set1_epi8(bit);
  const __m128i e = _mm_set1_epi8(c);
  return Bits(_mm_cmpeq_epi8(_mm_or_si128(x.v[0], m), e), _mm_cmpeq_epi8(_mm_or_si128(x.v[1], m), e),
              _mm_cmpeq_epi8(_mm_or_si128(x.v[2], m), e), _mm_cmpeq_epi8(_mm_or_si128(x.v[3], m), e));
}
inline uint64_t Equal(const Vectors& x, char c) { return EqualWith(x, 0, c); }
#endif

inline BlockMasks ClassifyBlock(const char* p) {
  BlockMasks m;
#if defined(__SSE2__)
  const Vectors x(p);
  m.quote = Equal(x, '"');
  m.backslash = Equal(x, '\\');
  // '[' and '{' (0x5b, 0x7b) differ only in bit 0x20, as do ']' and '}':
  // with the bit set, one compare finds both and no other byte.
  m.open = EqualWith(x, 0x20, '{');
  m.close = EqualWith(x, 0x20, '}');
  const __m128i space = _mm_set1_epi8(0x20);
  __m128i low = _mm_setzero_si128();
  for (const __m128i& v : x.v) low = _mm_or_si128(low, _mm_cmpeq_epi8(_mm_min_epu8(v, space), v));  // b <= 0x20
  m.low = _mm_movemask_epi8(low) != 0;
#else
  // Portable: the same answers, one byte at a time.
  for (size_t k = 0; k < kBlock; ++k) {
    const uint64_t bit = uint64_t{1} << k;
    const unsigned char c = static_cast<unsigned char>(p[k]);
    if (c == '"') m.quote |= bit;
    if (c == '\\') m.backslash |= bit;
    if (c == '{' || c == '[') m.open |= bit;
    if (c == '}' || c == ']') m.close |= bit;
    if (c <= 0x20) m.low = true;
  }
#endif
  return m;
}

inline SpaceMasks ClassifySpace(const char* p) {
  SpaceMasks m;
#if defined(__SSE2__)
  const Vectors x(p);
  m.newline = Equal(x, '\n');
  // '\t' and '\r' (0x09, 0x0d) differ only in bit 0x04.
  m.space = Equal(x, ' ') | EqualWith(x, 0x04, '\r');
#else
  for (size_t k = 0; k < kBlock; ++k) {
    const uint64_t bit = uint64_t{1} << k;
    if (p[k] == '\n') m.newline |= bit;
    if (p[k] == ' ' || p[k] == '\t' || p[k] == '\r') m.space |= bit;
  }
#endif
  return m;
}

inline PunctMasks ClassifyPunct(const char* p) {
  PunctMasks m;
#if defined(__SSE2__)
  const Vectors x(p);
  m.colon = Equal(x, ':');
  m.comma = Equal(x, ',');
#else
  for (size_t k = 0; k < kBlock; ++k) {
    const uint64_t bit = uint64_t{1} << k;
    if (p[k] == ':') m.colon |= bit;
    if (p[k] == ',') m.comma |= bit;
  }
#endif
  return m;
}

// Bits of the bytes escaped by a backslash, given the block's backslashes and
// whether its first byte is escaped by a backslash run that ended the
// previous block (`*carry`, updated for the next block). A byte is escaped
// when an odd-length run of backslashes precedes it. Adding a run's first bit
// to the run carries through it to the byte after its end; the run's length
// is odd exactly when that byte's position has the other parity than the
// run's start, so runs starting at even and at odd positions are added
// separately and each result keeps only the opposite parity. A run that
// starts at an odd position and reaches bit 63 has odd length and escapes
// the next block's first byte: that addition's carry out.
inline uint64_t EscapedBits(uint64_t backslash, bool* carry) {
  constexpr uint64_t kEven = 0x5555555555555555ULL;  // bits 0, 2, 4, ...
  constexpr uint64_t kOdd = ~kEven;
  const uint64_t carried = *carry ? 1 : 0;
  const uint64_t runs = backslash & ~carried;  // an escaped backslash escapes nothing
  const uint64_t starts = runs & ~(runs << 1);
  const uint64_t after_even = (runs + (starts & kEven)) & ~runs;
  uint64_t odd_sum = 0;
  *carry = __builtin_add_overflow(runs, starts & kOdd, &odd_sum);
  const uint64_t after_odd = odd_sum & ~runs;
  return (after_even & kOdd) | (after_odd & kEven) | carried;
}

// Bit i set when an odd number of bits at or below i are set in x.
inline uint64_t PrefixXor(uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
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

  // Whether ScanBlocks may take the bytes from chunk position i on: inside a
  // record, not inside a key of a top-level object, and where no key state
  // of such an object is pending below depth 1 (only malformed input leaves
  // one there); and while no string can yet exceed max_string_bytes, which
  // the block scanner never checks: a string closed at position p began at
  // or after the record, so it is no longer than p - rec_offset.
  bool BlocksApply(size_t i) const {
    if (rec == Rec::kNone || garbage || key_state == KeyState::kInKey) return false;
    if (rec == Rec::kCandidate) {
      if (depth != 1 && key_state != KeyState::kIdle && key_state != KeyState::kExpectKey) return false;
    } else if (key_state != KeyState::kIdle) {
      return false;
    }
    return base + i + kBlock - 1 <= StringWindowEnd();
  }

  // The last stream offset at which a string closing there cannot be too long.
  uint64_t StringWindowEnd() const {
    const uint64_t limit = options.max_string_bytes;
    return rec_offset > UINT64_MAX - limit ? UINT64_MAX : rec_offset + limit;
  }

  // A key's bytes chunk[open + 1, upto) as the byte loop would have captured
  // them: at most sizeof key_buf, and key_len past it when the key is longer
  // or holds a backslash (it is then no wrapper key).
  void CaptureKey(const char* chunk, size_t open, size_t upto) {
    const size_t len = upto - open - 1;
    if (len > sizeof key_buf || std::memchr(chunk + open + 1, '\\', len) != nullptr) {
      key_len = sizeof key_buf + 1;
      return;
    }
    std::memcpy(key_buf, chunk + open + 1, len);
    key_len = len;
  }

  size_t ScanBlocks(const char* chunk, size_t i, size_t n, size_t& fast_from);
  void Scan(const char* chunk, size_t n, size_t readable_after);
};

// The block scanner: the same state changes as the byte loop below, for the
// bytes of a record, 64 at a time. Per block it finds the escaped bytes, the
// quotes that open or close strings, and from them which bytes lie inside a
// string (PrefixXor of the unescaped quotes); then it visits only the
// brackets outside strings (depth), and in a top-level object at depth 1 the
// quotes, colons and commas (the wrapper-key state). Whitespace and
// newlines outside strings are counted per block.
//
// It hands back to the byte loop (returns the position of that byte, with
// every state field as the byte loop would have left it before the byte; the
// byte loop takes at least that byte before blocks apply again) at:
//  * a bracket that closes the record;
//  * at depth 1 of a top-level object, '[' after a wrapper key and its colon,
//    or a bracket opened right after a key without its colon;
//  * a newline inside a string, or any newline in JSON Lines input (both
//    end the record);
//  * a backslash outside a string (the masks assume every backslash
//    escapes; the byte loop ignores one outside a string);
//  * fewer than 64 bytes left in the chunk or in the string-length window.
size_t Framer::State::ScanBlocks(const char* chunk, size_t i, size_t n, size_t& fast_from) {
  const uint64_t window = StringWindowEnd() - base;  // >= i + kBlock - 1 (BlocksApply)
  const size_t end = window < n ? static_cast<size_t>(window) + 1 : n;
  const bool candidate = rec == Rec::kCandidate;
  constexpr size_t kInBuffer = SIZE_MAX;
  // The current key of a top-level object: its quotes' chunk positions, or
  // kInBuffer when the byte loop captured it into key_buf (entered after it).
  size_t key_open = kInBuffer, key_close = 0;
  const auto is_wrapper_key = [&] {
    if (key_open == kInBuffer) return key_len <= sizeof key_buf && IsWrapperKey(std::string_view(key_buf, key_len));
    // Raw bytes: a key with an escape never equals a wrapper key's name.
    return IsWrapperKey(std::string_view(chunk + key_open + 1, key_close - key_open - 1));
  };
  // Leaves key_buf and key_len as the byte loop would have at position upto.
  const auto save_key = [&](size_t upto) {
    if (key_state == KeyState::kInKey) CaptureKey(chunk, key_open, upto);
    else if (key_state == KeyState::kAfterKey && key_open != kInBuffer) CaptureKey(chunk, key_open, key_close);
  };
  bool str = in_string;
  bool esc = escape;
  size_t pos = i;
  for (; end - pos >= kBlock; pos += kBlock) {
    const char* p = chunk + pos;
    const BlockMasks bm = ClassifyBlock(p);
    const uint64_t backslash = bm.backslash;
    bool esc_next = esc;
    const uint64_t escaped = (backslash != 0 || esc) ? EscapedBits(backslash, &esc_next) : 0;
    const uint64_t quotes = bm.quote & ~escaped;
    // Inside a string: from an opening quote (included) to its closing
    // quote (excluded). For any other byte: inside before the byte.
    const uint64_t inside = PrefixXor(quotes) ^ (str ? ~uint64_t{0} : 0);
    // The key state of a top-level object, from its depth-1 tokens in bits
    // [from, to), which hold no bracket. After a comma it is kExpectKey
    // whatever came before, so only the tokens after the last comma count.
    PunctMasks pm;
    bool have_punct = false;
    const auto key_tokens = [&](size_t from, size_t to) {
      if (!have_punct) {
        pm = ClassifyPunct(p);
        pm.colon &= ~inside;
        pm.comma &= ~inside;
        have_punct = true;
      }
      const uint64_t range = (to == kBlock ? ~uint64_t{0} : (uint64_t{1} << to) - 1) & ~((uint64_t{1} << from) - 1);
      uint64_t t = (quotes | pm.colon) & range;
      if (const uint64_t commas = pm.comma & range; commas != 0) {
        key_state = KeyState::kExpectKey;
        const size_t last = 63 - static_cast<size_t>(__builtin_clzll(commas));
        t &= last == 63 ? 0 : ~((uint64_t{2} << last) - 1);
      }
      for (; t != 0; t &= t - 1) {
        const size_t k = static_cast<size_t>(__builtin_ctzll(t));
        const uint64_t bit = uint64_t{1} << k;
        if ((quotes & bit) != 0) {
          if ((inside & bit) != 0) {  // opening
            if (key_state == KeyState::kExpectKey) {
              key_state = KeyState::kInKey;
              key_open = pos + k;
            } else if (key_state != KeyState::kIdle) {
              key_state = KeyState::kIdle;
            }
          } else if (key_state == KeyState::kInKey) {  // closing a key
            key_close = pos + k;
            key_state = KeyState::kAfterKey;
          }
        } else if (key_state == KeyState::kAfterKey) {  // ':'
          key_state = is_wrapper_key() ? KeyState::kAfterColon : KeyState::kIdle;
        }
      }
    };

    // The common block: no whitespace or newline, no backslash outside a
    // string and no bracket outside one. Only the key state can change.
    if (!bm.low && ((backslash | bm.open | bm.close) & ~inside) == 0) {
      if (candidate && depth == 1) key_tokens(0, kBlock);
      if (quotes != 0) string_start = base + pos + 63 - static_cast<size_t>(__builtin_clzll(quotes));
      str = (inside >> 63) != 0;
      esc = esc_next;
      continue;
    }

    const SpaceMasks sm = bm.low ? ClassifySpace(p) : SpaceMasks{};
    // Where the byte loop must take over.
    const uint64_t stops =
        (backslash & ~inside) | (sm.newline & (lines == Lines::kYes ? ~uint64_t{0} : inside));
    size_t stop = stops != 0 ? static_cast<size_t>(__builtin_ctzll(stops)) : kBlock;
    const uint64_t below_stop = stop == kBlock ? ~uint64_t{0} : (uint64_t{1} << stop) - 1;

    size_t from = 0;
    for (uint64_t b = (bm.open | bm.close) & ~inside & below_stop; b != 0; b &= b - 1) {
      const size_t k = static_cast<size_t>(__builtin_ctzll(b));
      if (candidate && depth == 1) key_tokens(from, k);
      from = k + 1;
      if (((bm.open >> k) & 1) != 0) {
        if (candidate && depth == 1) {
          if (key_state == KeyState::kAfterKey || (key_state == KeyState::kAfterColon && p[k] == '[')) {
            stop = k;
            break;
          }
          if (key_state == KeyState::kAfterColon) key_state = KeyState::kIdle;
        }
        ++depth;
        if (depth - rec_base > options.max_depth) too_deep = true;
      } else {
        if (depth - 1 == rec_base) {
          stop = k;
          break;
        }
        --depth;
      }
    }
    if (from < stop && candidate && depth == 1) key_tokens(from, stop);

    const uint64_t taken = stop == kBlock ? ~uint64_t{0} : (uint64_t{1} << stop) - 1;
    if ((sm.space & ~inside & taken) != 0) rec_has_space = true;
    if (const uint64_t nl = sm.newline & ~inside & taken; nl != 0) {
      rec_has_space = true;
      top_has_newline = true;
      line += static_cast<uint64_t>(__builtin_popcountll(nl));
    }
    if (const uint64_t q = quotes & taken; q != 0) {
      string_start = base + pos + 63 - static_cast<size_t>(__builtin_clzll(q));
    }
    if (stop < kBlock) {
      const uint64_t bit = uint64_t{1} << stop;
      in_string = ((inside ^ quotes) & bit) != 0;
      escape = (escaped & bit) != 0;
      save_key(pos + stop);
      fast_from = pos + stop + 1;
      return pos + stop;
    }
    str = (inside >> 63) != 0;
    esc = esc_next;
  }
  in_string = str;
  escape = esc;
  save_key(pos);
  fast_from = pos + 1;
  return pos;
}

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

  size_t fast_from = i;  // the block scanner may resume here
  while (i < n) {
    if (i >= fast_from && n - i >= kBlock && BlocksApply(i)) {
      i = ScanBlocks(chunk, i, n, fast_from);
      continue;
    }
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
