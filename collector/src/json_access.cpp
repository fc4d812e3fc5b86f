#include "json_access.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>

#include "cmkwatch/common/time.h"

namespace cmkwatch::collector::internal {
namespace {

struct Slot {
  od::parser parser;
  od::document doc;
};

thread_local std::array<Slot, kLevels> t_slots;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<int64_t> IntFromText(std::string_view s) {
  s = TrimSpaces(s);
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && p == s.data() + s.size()) return v;
  // Log Analytics renders *_d columns as doubles ("200.0").
  double d = 0;
  auto [p2, ec2] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec2 == std::errc() && p2 == s.data() + s.size() && std::isfinite(d) && d == std::floor(d) &&
      std::fabs(d) < 9.0e18) {
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

}  // namespace

Result<od::document*> OpenDoc(std::string_view padded_bytes, int level) {
  if (level < 0 || level >= kLevels) return Status::Internal("JSON nesting level out of range");
  Slot& slot = t_slots[static_cast<size_t>(level)];
  auto err = slot.parser.iterate(padded_bytes.data(), padded_bytes.size(), padded_bytes.size() + kPadding)
                 .get(slot.doc);
  if (err) return JsonError(err, "record");
  return &slot.doc;
}

Result<od::object> RootObject(od::document& doc) {
  od::json_type type;
  if (auto err = doc.type().get(type)) return JsonError(err, "top level");
  if (type != od::json_type::object) return Status::Corruption("record is not a JSON object");
  od::object obj;
  if (auto err = doc.get_object().get(obj)) return JsonError(err, "top level");
  return obj;
}

std::optional<std::string> AsText(od::value v) {
  od::json_type type;
  if (v.type().get(type)) return std::nullopt;
  switch (type) {
    case od::json_type::string: {
      std::string_view s;
      if (v.get_string().get(s)) return std::nullopt;
      return std::string(s);
    }
    case od::json_type::number:
    case od::json_type::boolean: {
      std::string_view raw = v.raw_json_token();
      return std::string(TrimSpaces(raw));
    }
    default: return std::nullopt;
  }
}

std::optional<bool> AsBool(od::value v) {
  od::json_type type;
  if (v.type().get(type)) return std::nullopt;
  if (type == od::json_type::boolean) {
    bool b;
    if (v.get_bool().get(b)) return std::nullopt;
    return b;
  }
  if (type == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return std::nullopt;
    s = TrimSpaces(s);
    if (KeyIs(s, "true") || s == "1") return true;
    if (KeyIs(s, "false") || s == "0") return false;
    return std::nullopt;
  }
  if (type == od::json_type::number) {
    auto i = AsInt(v);
    if (i && (*i == 0 || *i == 1)) return *i == 1;
  }
  return std::nullopt;
}

std::optional<int64_t> AsInt(od::value v) {
  od::json_type type;
  if (v.type().get(type)) return std::nullopt;
  if (type == od::json_type::number) {
    std::string_view raw = v.raw_json_token();
    return IntFromText(raw);
  }
  if (type == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return std::nullopt;
    return IntFromText(s);
  }
  return std::nullopt;
}

std::optional<int64_t> AsTime(od::value v) {
  od::json_type type;
  if (v.type().get(type)) return std::nullopt;
  if (type == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return std::nullopt;
    if (auto t = ParseTimestamp(s)) return t;
    // Epoch seconds as text ("1559082102", Event Grid's EXP/NBF).
    s = TrimSpaces(s);
    if (!s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos) {
      if (auto secs = IntFromText(s); secs && *secs < 9'000'000'000) return *secs * kNanosPerSecond;
    }
    return std::nullopt;
  }
  if (type == od::json_type::number) {
    auto secs = AsInt(v);
    if (secs && *secs > -9'000'000'000 && *secs < 9'000'000'000) return *secs * kNanosPerSecond;
  }
  return std::nullopt;
}

std::optional<EmbeddedJson> EmbeddedJson::Parse(std::string_view text, int level, const ParseLimits& limits) {
  text = TrimSpaces(text);
  if (text.empty() || (text.front() != '{' && text.front() != '[')) return std::nullopt;
  if (text.size() > limits.max_string_bytes) return std::nullopt;
  if (ScanDepth(text, limits.max_depth) > limits.max_depth) return std::nullopt;
  if (level < 0 || level >= kLevels) return std::nullopt;
  thread_local std::array<std::string, kLevels> t_buffers;
  std::string& buffer = t_buffers[static_cast<size_t>(level)];
  buffer.assign(text);
  buffer.append(kPadding, ' ');
  EmbeddedJson out;
  auto doc = OpenDoc(std::string_view(buffer.data(), text.size()), level);
  if (!doc.ok()) return std::nullopt;
  out.doc_ = *doc;
  return out;
}

bool IsString(od::value v) {
  od::json_type t;
  return !v.type().get(t) && t == od::json_type::string;
}
bool IsObject(od::value v) {
  od::json_type t;
  return !v.type().get(t) && t == od::json_type::object;
}
bool IsArray(od::value v) {
  od::json_type t;
  return !v.type().get(t) && t == od::json_type::array;
}

size_t ScanDepth(std::string_view json, size_t stop_at) {
  size_t depth = 0, max_depth = 0;
  const char* const data = json.data();
  const size_t n = json.size();
  for (size_t i = 0; i < n; ++i) {
    const char c = data[i];
    if (c == '"') {
      // Jump over the string: to the next quote not escaped by an odd run
      // of backslashes (memchr beats a byte loop on long bodies).
      size_t j = i + 1;
      for (;;) {
        const void* q = std::memchr(data + j, '"', n - j);
        if (q == nullptr) return max_depth;
        const size_t at = static_cast<size_t>(static_cast<const char*>(q) - data);
        size_t slashes = 0;
        while (at - slashes > i + 1 && data[at - slashes - 1] == '\\') ++slashes;
        j = at + 1;
        if (slashes % 2 == 0) break;
      }
      i = j - 1;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) {
        max_depth = depth;
        if (max_depth > stop_at) return max_depth;
      }
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return max_depth;
}

Status JsonError(simdjson::error_code code, std::string_view where) {
  std::string msg = "malformed JSON in ";
  msg += where;
  msg += ": ";
  msg += simdjson::error_message(code);
  return Status::Corruption(std::move(msg));
}

}  // namespace cmkwatch::collector::internal
