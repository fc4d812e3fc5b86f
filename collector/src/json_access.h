// Private helpers over simdjson's on-demand API, shared by the parsers.
//
// Every parser walks each object once, field by field, and picks out what it
// needs by key (Azure does not promise field order). These helpers turn the
// loosely typed values Azure sends (numbers as strings, booleans as "True",
// JSON inside strings) into plain C++ values without throwing.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "cmkwatch/collector/parse.h"
#include "cmkwatch/common/resource_id.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::collector::internal {

namespace od = simdjson::ondemand;

// Parses `padded_bytes` (followed by kPadding readable bytes) with this
// thread's parser for `level` and returns its document. Parsers are reused per
// thread because allocation is simdjson's expensive part; levels let JSON
// nested inside a string be parsed while the outer document is still open:
// 0 for records, 1 and 2 for bodies inside them. The document stays valid
// until the same level is opened again on this thread.
Result<od::document*> OpenDoc(std::string_view padded_bytes, int level);
inline constexpr int kLevels = 3;

// The top-level value of a document as an object, or Corruption.
Result<od::object> RootObject(od::document& doc);

// Field name comparison that ignores ASCII case (Azure is inconsistent:
// requestbody / requestBody, TimeGenerated / timeGenerated). Same answer as
// EqualsIgnoreCase, eight bytes at a time: parsers compare every field name
// they meet against several names, and the byte loop was a tenth of a Key
// Vault record's time.
namespace detail {
// ASCII 'A'-'Z' → 'a'-'z' in each byte of `x`; other bytes (non-ASCII
// included) unchanged.
inline uint64_t FoldCase8(uint64_t x) {
  constexpr uint64_t kLow7 = 0x7f7f7f7f7f7f7f7fULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const uint64_t low7 = x & kLow7;
  const uint64_t ge_a = low7 + 0x3f3f3f3f3f3f3f3fULL;  // high bit set where byte >= 'A'
  const uint64_t gt_z = low7 + 0x2525252525252525ULL;  // high bit set where byte > 'Z'
  const uint64_t upper = (ge_a ^ gt_z) & ~x & kHigh;   // ASCII upper-case letters
  return x | (upper >> 2);                             // 0x80 >> 2 == 0x20
}
inline uint64_t Load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// KeyIs for names of equal length.
inline bool KeyIsSameSize(std::string_view key, std::string_view want) {
  const size_t n = key.size();
  const char* a = key.data();
  const char* b = want.data();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (FoldCase8(Load8(a + i)) != FoldCase8(Load8(b + i))) return false;
  }
  if (i == n) return true;
  if (n >= 8) {
    // The last (overlapping) eight bytes.
    return FoldCase8(Load8(a + n - 8)) == FoldCase8(Load8(b + n - 8));
  }
  return EqualsIgnoreCase(key.substr(i), want.substr(i));
}
}  // namespace detail

// The length test stays inline, where `want` is a literal: a walk tries each
// field name against a chain of up to ~35 names, and nearly all differ in
// length (a compare and a branch each, instead of a call).
inline bool KeyIs(std::string_view key, std::string_view want) {
  return key.size() == want.size() && detail::KeyIsSameSize(key, want);
}

// Value readers. Each returns nullopt when the value is absent, null, of a
// type that cannot be read as asked, or malformed. None throws.
//
// AsString is inline: every parser calls it for most values of every record,
// and a call that copies the 24-byte value iterator showed up in profiles.
inline std::optional<std::string_view> AsString(od::value v) {  // JSON string only
  std::string_view s;
  if (v.get_string().get(s)) return std::nullopt;
  return s;
}
std::optional<std::string> AsText(od::value v);                   // string, or a number/bool as text
std::optional<bool> AsBool(od::value v);                          // true/false, "true"/"True"/"1"
std::optional<int64_t> AsInt(od::value v);                        // integer, integral double, numeric string
std::optional<int64_t> AsTime(od::value v);                       // RFC 3339 string, or epoch seconds (number or digits)

// JSON text that Azure ships inside a string (requestbody, Properties
// columns, _claim_names). Unescapes it into a padded buffer owned by the
// returned object, then parses at `level`.
//
// The padded copy lives in a per-thread buffer of `level`, reused like that
// level's parser (a body per Activity Log record would otherwise cost an
// allocation each): valid until the same level is parsed again.
class EmbeddedJson {
 public:
  // Empty/none when the text is empty or not JSON object/array text.
  static std::optional<EmbeddedJson> Parse(std::string_view text, int level, const ParseLimits& limits);
  od::document& doc() { return *doc_; }

 private:
  od::document* doc_ = nullptr;
};

// A field's name without unescaping it. Azure's field names carry no escapes,
// and copying each one into simdjson's string buffer (unescaped_key) is a
// measurable share of a 1 KB record; names with a backslash take that path,
// so the result is always the unescaped name. The view points into the
// document's input (or its string buffer) and lives as long as the document.
inline simdjson::error_code FieldName(simdjson::simdjson_result<od::field>& field, std::string_view& out) {
  od::raw_json_string raw;
  if (auto err = field.key().get(raw)) return err;
  const char* begin = raw.raw();
  const char* p = begin;
  // The closing quote exists: simdjson validated the string in stage 1, and
  // the input is padded.
  while (*p != '"') {
    if (*p == '\\') return field.unescaped_key().get(out);
    ++p;
  }
  out = std::string_view(begin, static_cast<size_t>(p - begin));
  return simdjson::SUCCESS;
}

// Type checks that treat errors as "no".
bool IsString(od::value v);
bool IsObject(od::value v);
bool IsArray(od::value v);

// The deepest nesting of objects/arrays in JSON text (strings skipped).
// Stops counting once `stop_at` is exceeded.
size_t ScanDepth(std::string_view json, size_t stop_at);

// Turns a simdjson error into a Corruption status with context.
Status JsonError(simdjson::error_code code, std::string_view where);

}  // namespace cmkwatch::collector::internal
