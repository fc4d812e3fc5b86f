// Private helpers over simdjson's on-demand API, shared by the parsers.
//
// Every parser walks each object once, field by field, and picks out what it
// needs by key (Azure does not promise field order). These helpers turn the
// loosely typed values Azure sends (numbers as strings, booleans as "True",
// JSON inside strings) into plain C++ values without throwing.
#pragma once

#include <simdjson.h>

#include <cstdint>
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
// requestbody / requestBody, TimeGenerated / timeGenerated).
inline bool KeyIs(std::string_view key, std::string_view want) { return EqualsIgnoreCase(key, want); }

// Value readers. Each returns nullopt when the value is absent, null, of a
// type that cannot be read as asked, or malformed. None throws.
std::optional<std::string_view> AsString(od::value v);            // JSON string only
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
