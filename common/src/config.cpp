// The YAML document layer (over libyaml's event parser) and the typed reader.
#include "cmkwatch/common/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <set>

#include "cmkwatch/common/transport.h"

namespace cmkwatch::config {
namespace {

std::string Where(std::string_view file, Mark mark) {
  return std::string(file) + ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column);
}

Mark MarkOf(const yaml_mark_t& m) { return Mark{m.line + 1, m.column + 1}; }

// Bytes of the line break at text[i] (0 if none), as YAML and libyaml
// count them: CR LF, CR, LF, NEL (U+0085), LS (U+2028), PS (U+2029).
size_t BreakAt(std::string_view text, size_t i) {
  const std::string_view rest = text.substr(i);
  if (rest.rfind("\r\n", 0) == 0) return 2;
  if (rest.front() == '\r' || rest.front() == '\n') return 1;
  if (rest.rfind("\xc2\x85", 0) == 0) return 2;
  if (rest.rfind("\xe2\x80\xa8", 0) == 0 || rest.rfind("\xe2\x80\xa9", 0) == 0) return 3;
  return 0;
}

// libyaml's reader reports a byte offset rather than a mark; count lines
// and characters (not bytes) the way its scanner does.
Mark MarkAtOffset(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  Mark m;
  for (size_t i = 0; i < offset;) {
    if (const size_t n = BreakAt(text, i); n > 0) {
      ++m.line;
      m.column = 1;
      i += n;
      continue;
    }
    if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80) ++m.column;  // not a continuation byte
    ++i;
  }
  return m;
}

// A value as messages show it: quoted, control characters escaped, cut
// after 40 characters.
std::string Quoted(std::string_view value) {
  std::string out = "'";
  size_t chars = 0;
  for (char c : value) {
    if (++chars > 40) {
      out += "...";
      break;
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\' || c == '\'') {
      static constexpr char kHex[] = "0123456789abcdef";
      const auto u = static_cast<unsigned char>(c);
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "'";
}

struct ParserDeleter {
  void operator()(yaml_parser_t* p) const {
    yaml_parser_delete(p);
    delete p;
  }
};
using ParserPtr = std::unique_ptr<yaml_parser_t, ParserDeleter>;

// One parsed event, freed whatever path leaves the loop.
class EventHolder {
 public:
  EventHolder() = default;
  ~EventHolder() { Reset(); }
  EventHolder(const EventHolder&) = delete;
  EventHolder& operator=(const EventHolder&) = delete;
  yaml_event_t* Fill() {
    Reset();
    live_ = true;
    return &event_;
  }
  void Failed() { live_ = false; }  // yaml_parser_parse failed: nothing to free
  const yaml_event_t& get() const { return event_; }

 private:
  void Reset() {
    if (live_) yaml_event_delete(&event_);
    live_ = false;
  }
  yaml_event_t event_{};
  bool live_ = false;
};

// One open collection while the tree is built.
struct Frame {
  Node node;
  bool expecting_key = true;  // mappings only
  std::string pending_key;
  Mark pending_key_mark;
  std::set<std::string, std::less<>> keys;  // mappings only: duplicates
};

class TreeBuilder {
 public:
  TreeBuilder(std::string_view text, std::string_view file, const Limits& limits)
      : text_(text), file_(file), limits_(limits) {}

  Result<Node> Run() {
    ParserPtr parser(new yaml_parser_t{});
    if (yaml_parser_initialize(parser.get()) == 0) return Status::Internal("libyaml: cannot initialize parser");
    yaml_parser_set_input_string(parser.get(), reinterpret_cast<const unsigned char*>(text_.data()), text_.size());
    // UTF-8 only: libyaml would otherwise take UTF-16 after a BOM, whose
    // line breaks and columns nothing else here counts the same way.
    yaml_parser_set_encoding(parser.get(), YAML_UTF8_ENCODING);
    EventHolder event;
    size_t documents = 0;
    for (;;) {
      if (yaml_parser_parse(parser.get(), event.Fill()) == 0) {
        event.Failed();
        return ParserError(*parser);
      }
      const yaml_event_t& e = event.get();
      const Mark mark = MarkOf(e.start_mark);
      switch (e.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
        case YAML_NO_EVENT:
          break;
        case YAML_STREAM_END_EVENT:
          if (!have_root_) return Node{};  // an empty file: null
          return std::move(root_);
        case YAML_DOCUMENT_START_EVENT:
          if (++documents > 1) {
            return Error(mark, "a second document ('---') is not supported: one file holds one configuration");
          }
          break;
        case YAML_ALIAS_EVENT:
          return Error(mark, "aliases (*name) are not supported");
        case YAML_SCALAR_EVENT: {
          if (auto st = Refuse(mark, e.data.scalar.anchor, e.data.scalar.tag); !st.ok()) return st;
          if (e.data.scalar.length > limits_.max_scalar_bytes) {
            return Status::LimitExceeded(Where(file_, mark) + ": value longer than " +
                                         std::to_string(limits_.max_scalar_bytes) + " bytes");
          }
          if (auto st = Count(mark); !st.ok()) return st;
          Node n;
          n.mark = mark;
          n.value.assign(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
          n.plain = e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
          if (!stack_.empty() && stack_.back().node.IsMapping() && stack_.back().expecting_key) {
            Frame& f = stack_.back();
            if (f.keys.count(n.value) != 0) {
              return Error(mark, "duplicate key " + Quoted(n.value));
            }
            f.keys.insert(n.value);
            f.pending_key = std::move(n.value);
            f.pending_key_mark = mark;
            f.expecting_key = false;
            break;
          }
          Attach(std::move(n));
          break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
          const bool mapping = e.type == YAML_MAPPING_START_EVENT;
          const auto* anchor = mapping ? e.data.mapping_start.anchor : e.data.sequence_start.anchor;
          const auto* tag = mapping ? e.data.mapping_start.tag : e.data.sequence_start.tag;
          if (auto st = Refuse(mark, anchor, tag); !st.ok()) return st;
          if (!stack_.empty() && stack_.back().node.IsMapping() && stack_.back().expecting_key) {
            return Error(mark, "a mapping key must be a plain value, not a list or mapping");
          }
          if (stack_.size() >= limits_.max_depth) {
            return Status::LimitExceeded(Where(file_, mark) + ": nested deeper than " +
                                         std::to_string(limits_.max_depth) + " levels");
          }
          if (auto st = Count(mark); !st.ok()) return st;
          Frame f;
          f.node.kind = mapping ? Node::Kind::kMapping : Node::Kind::kSequence;
          f.node.mark = mark;
          stack_.push_back(std::move(f));
          break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
          // libyaml pairs start and end events, so the stack is never empty here.
          if (stack_.empty()) return Status::Internal(Where(file_, mark) + ": unbalanced collection end");
          Node n = std::move(stack_.back().node);
          stack_.pop_back();
          Attach(std::move(n));
          break;
        }
      }
    }
  }

 private:
  Status Error(Mark mark, std::string_view message) const {
    return Status::InvalidArgument(Where(file_, mark) + ": " + std::string(message));
  }

  Status Refuse(Mark mark, const yaml_char_t* anchor, const yaml_char_t* tag) const {
    if (anchor != nullptr) return Error(mark, "anchors (&name) are not supported");
    if (tag != nullptr) return Error(mark, "tags (!name) are not supported");
    return Status::Ok();
  }

  Status Count(Mark mark) {
    if (++nodes_ > limits_.max_nodes) {
      return Status::LimitExceeded(Where(file_, mark) + ": more than " + std::to_string(limits_.max_nodes) +
                                   " values");
    }
    return Status::Ok();
  }

  void Attach(Node n) {
    if (stack_.empty()) {
      root_ = std::move(n);
      have_root_ = true;
      return;
    }
    Frame& f = stack_.back();
    if (f.node.IsMapping()) {
      n.key = std::move(f.pending_key);
      n.key_mark = f.pending_key_mark;
      f.pending_key.clear();
      f.expecting_key = true;
    }
    f.node.children.push_back(std::move(n));
  }

  Status ParserError(const yaml_parser_t& p) const {
    if (p.error == YAML_MEMORY_ERROR) return Status::LimitExceeded(std::string(file_) + ": out of memory parsing YAML");
    const std::string problem = p.problem != nullptr ? p.problem : "malformed YAML";
    if (p.error == YAML_READER_ERROR) {
      // Bad encoding: libyaml gives the byte offset (and the byte) instead.
      return Error(MarkAtOffset(text_, p.problem_offset), problem + " (the file must be UTF-8 text)");
    }
    std::string message = problem;
    if (p.context != nullptr) {
      const Mark c = MarkOf(p.context_mark);
      message += " (" + std::string(p.context) + " that starts at line " + std::to_string(c.line) + ", column " +
                 std::to_string(c.column) + ")";
    }
    const size_t at = p.problem_mark.index;
    if (at < text_.size() && text_[at] == '\t') message += "; YAML indents with spaces, never tabs";
    return Error(MarkOf(p.problem_mark), message);
  }

  std::string_view text_;
  std::string_view file_;
  const Limits& limits_;
  std::vector<Frame> stack_;
  Node root_;
  bool have_root_ = false;
  size_t nodes_ = 0;
};

// Levenshtein distance, for "did you mean"; keys are short.
size_t Distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// Parses [+-]digits[_digits] and an optional unit; false on anything else
// or on overflow of int64.
bool ParseInteger(std::string_view s, bool units, int64_t* out, std::string* why) {
  bool negative = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
  uint64_t v = 0;
  size_t digits = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_' && digits > 0) continue;
    if (c < '0' || c > '9') break;
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (uint64_t{1} << 63) / 10 || v * 10 > (uint64_t{1} << 63) - d) {
      *why = "too large";
      return false;
    }
    v = v * 10 + d;
    ++digits;
  }
  if (digits == 0) return false;
  std::string_view rest = s.substr(i);
  uint64_t multiplier = 1;
  if (!rest.empty()) {
    if (!units) return false;
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    struct Unit {
      std::string_view name;
      uint64_t bytes;
    };
    static constexpr Unit kUnits[] = {{"B", 1},
                                      {"KiB", uint64_t{1} << 10},
                                      {"MiB", uint64_t{1} << 20},
                                      {"GiB", uint64_t{1} << 30},
                                      {"TiB", uint64_t{1} << 40}};
    bool found = false;
    for (const Unit& u : kUnits) {
      if (rest == u.name) {
        multiplier = u.bytes;
        found = true;
      }
    }
    if (!found) {
      *why = "unknown unit (use B, KiB, MiB, GiB or TiB)";
      return false;
    }
    if (v > std::numeric_limits<uint64_t>::max() / multiplier) {
      *why = "too large";
      return false;
    }
    v *= multiplier;
  }
  if (negative) {
    if (v > (uint64_t{1} << 63)) {
      *why = "too large";
      return false;
    }
    *out = v == (uint64_t{1} << 63) ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(v);
  } else {
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      *why = "too large";
      return false;
    }
    *out = static_cast<int64_t>(v);
  }
  return true;
}

}  // namespace

bool Node::IsNull() const {
  return kind == Kind::kScalar && plain && (value.empty() || value == "~" || value == "null" || value == "Null" ||
                                            value == "NULL");
}

const Node* Node::Find(std::string_view name) const {
  if (!IsMapping()) return nullptr;
  for (const Node& c : children) {
    if (c.key == name) return &c;
  }
  return nullptr;
}

Result<Node> ParseYaml(std::string_view text, std::string_view file_name, const Limits& limits) {
  if (text.size() > limits.max_document_bytes) {
    return Status::LimitExceeded(std::string(file_name) + ": larger than " + std::to_string(limits.max_document_bytes) +
                                 " bytes");
  }
  return TreeBuilder(text, file_name, limits).Run();
}

Result<std::string> ReadConfigFile(const std::string& path, size_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    std::string msg = path + ": " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::IoError(msg);
  }
  // A FIFO or device would make the size check meaningless (or block).
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Status::LimitExceeded(path + ": larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  std::string text;
  // Read at most one byte past the limit so a file that grew since stat is
  // still refused rather than read whole.
  text.resize(max_bytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Status::IoError(path + ": read failed");
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > max_bytes) {
    return Status::LimitExceeded(path + ": larger than " + std::to_string(max_bytes) + " bytes");
  }
  return text;
}

std::string ResolvePath(std::string_view config_file, std::string_view path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  fs::path joined = fs::path(config_file).parent_path() / p;
  std::error_code ec;
  fs::path absolute = fs::absolute(joined, ec);
  return (ec ? joined : absolute).lexically_normal().string();
}

std::optional<int64_t> ParseDuration(std::string_view text) {
  if (text.size() < 2 || text.size() > 12) return std::nullopt;
  int64_t n = 0;
  for (char ch : text.substr(0, text.size() - 1)) {
    if (ch < '0' || ch > '9') return std::nullopt;
    n = n * 10 + (ch - '0');
  }
  int64_t unit = 0;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86'400; break;
    default: return std::nullopt;
  }
  // Eleven digits of days is beyond int64 nanoseconds: refuse, never wrap.
  if (n > INT64_MAX / 1'000'000'000 / unit) return std::nullopt;
  return n * unit * 1'000'000'000;
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

std::string EndpointProblem(std::string_view e) {
  if (e.rfind("ipc://", 0) == 0 || e.rfind("inproc://", 0) == 0) {
    return e.size() > e.find("://") + 3 ? "" : "expected a name after ://";
  }
  if (e.rfind("tcp://", 0) != 0) return "expected tcp://host:port, ipc://path or inproc://name";
  const std::string_view rest = e.substr(6);
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return "expected tcp://host:port";
  const std::string_view port = rest.substr(colon + 1);
  if (port == "*") return "";
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
        return c >= '0' && c <= '9';
      }) || std::stoi(std::string(port)) > 65535) {
    return "expected a port 0..65535 (or *) after the last ':'";
  }
  return "";
}

void Problems::Add(Mark mark, std::string_view message) {
  ++count_;
  if (messages_.size() >= kMaxProblems) return;
  // A message may quote the file's own text (a path, a key). Control
  // characters in it are escaped so each problem stays one line of the
  // report and of the log, whatever the file holds (fuzzing found a path
  // with line breaks splitting a message).
  std::string line = Where(file_name_, mark) + ": ";
  for (const char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(u));
      line += buf;
    } else {
      line += c;
    }
  }
  messages_.push_back(std::move(line));
}

Status Problems::ToStatus() const {
  if (count_ == 0) return Status::Ok();
  std::string text;
  for (const std::string& m : messages_) {
    if (!text.empty()) text += '\n';
    text += m;
  }
  if (count_ > messages_.size()) text += "\n... and " + std::to_string(count_ - messages_.size()) + " more problems";
  return Status::InvalidArgument(std::move(text));
}

MapReader::MapReader(const Node& node, Problems& problems, std::string_view what)
    : node_(node), problems_(problems), what_(what) {
  if (node.IsMapping()) {
    usable_ = true;
  } else if (!node.IsNull()) {
    problems_.Add(node.mark, "expected " + what_ + " to be a mapping (key: value lines), got " + Shown(node));
  }
}

std::string MapReader::Shown(const Node& n) {
  if (n.IsMapping()) return "a mapping";
  if (n.IsSequence()) return "a list";
  if (n.IsNull()) return "nothing (null)";
  return Quoted(n.value);
}

const Node* MapReader::Lookup(std::string_view key, Need need) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
  const Node* n = usable_ ? node_.Find(key) : nullptr;
  if (n == nullptr && need == Need::kRequired && (usable_ || node_.IsNull())) {
    problems_.Add(node_.mark, "missing required key '" + std::string(key) + "' in " + what_);
  }
  return n;
}

const Node* MapReader::Value(std::string_view key) { return Lookup(key, Need::kOptional); }

const Node* MapReader::ScalarValue(std::string_view key, Need need, std::string_view expected) {
  const Node* n = Lookup(key, need);
  if (n == nullptr) return nullptr;
  if (!n->IsScalar() || n->IsNull()) {
    problems_.Add(n->mark, "'" + std::string(key) + "': expected " + std::string(expected) + ", got " + Shown(*n));
    return nullptr;
  }
  return n;
}

bool MapReader::String(std::string_view key, std::string* out, Need need) {
  const Node* n = Lookup(key, need);
  if (n == nullptr) return false;
  if (!n->IsScalar() || n->IsNull()) {
    problems_.Add(n->mark, "'" + std::string(key) + "': expected a string, got " + Shown(*n) +
                               (n->IsNull() ? " (write \"\" for an empty string)" : ""));
    return false;
  }
  *out = n->value;
  return true;
}

bool MapReader::Path(std::string_view key, std::string* out, Need need) {
  const Node* n = ScalarValue(key, need, "a path");
  if (n == nullptr) return false;
  if (n->value.empty()) {
    problems_.Add(n->mark, "'" + std::string(key) + "': expected a path, got an empty string");
    return false;
  }
  if (n->value.size() > 4096 || n->value.find('\0') != std::string::npos) {
    problems_.Add(n->mark, "'" + std::string(key) + "': not a usable path (over 4096 bytes or a NUL byte)");
    return false;
  }
  *out = ResolvePath(problems_.file_name(), n->value);
  return true;
}

bool MapReader::Bool(std::string_view key, bool* out, Need need) {
  const Node* n = ScalarValue(key, need, "true or false");
  if (n == nullptr) return false;
  if (n->plain) {
    for (std::string_view t : {"true", "yes"}) {
      if (EqualsIgnoreCase(n->value, t)) {
        *out = true;
        return true;
      }
    }
    for (std::string_view f : {"false", "no"}) {
      if (EqualsIgnoreCase(n->value, f)) {
        *out = false;
        return true;
      }
    }
  }
  problems_.Add(n->mark, "'" + std::string(key) + "': expected true or false, got " + Shown(*n) +
                             (n->plain ? "" : " (quoted, so a string)"));
  return false;
}

bool MapReader::Duration(std::string_view key, int64_t* out_ns, int64_t min_ns, int64_t max_ns, Need need) {
  const Node* n = ScalarValue(key, need, "a duration (e.g. 30s, 10m, 6h, 2d)");
  if (n == nullptr) return false;
  const std::optional<int64_t> d = ParseDuration(n->value);
  if (!d || *d < min_ns || *d > max_ns) {
    auto shown = [](int64_t ns) {
      return ns % 1'000'000'000 == 0 ? std::to_string(ns / 1'000'000'000) + "s" : std::to_string(ns) + "ns";
    };
    problems_.Add(n->mark, "'" + std::string(key) + "': expected a duration from " + shown(min_ns) + " to " +
                               shown(max_ns) + " (e.g. 30s, 10m, 6h, 2d), got " + Shown(*n));
    return false;
  }
  *out_ns = *d;
  return true;
}

bool MapReader::StringList(std::string_view key, std::vector<std::string>* out, Need need) {
  const Node* list = Sequence(key, need);
  if (list == nullptr) return false;
  std::vector<std::string> items;
  bool ok = true;
  for (const Node& item : list->children) {
    if (!item.IsScalar() || item.IsNull()) {
      problems_.Add(item.mark, "'" + std::string(key) + "': expected a list of strings, got " + Shown(item));
      ok = false;
      continue;
    }
    items.push_back(item.value);
  }
  if (ok) *out = std::move(items);
  return ok;
}

bool MapReader::ReadInteger(std::string_view key, int64_t* out, int64_t min, int64_t max, Need need, bool units) {
  const char* expected = units ? "a size (bytes, or a number with B, KiB, MiB, GiB or TiB)" : "an integer";
  const Node* n = ScalarValue(key, need, expected);
  if (n == nullptr) return false;
  int64_t v = 0;
  std::string why;
  if (!n->plain || !ParseInteger(n->value, units, &v, &why)) {
    std::string message = "'" + std::string(key) + "': expected " + expected + ", got " + Shown(*n);
    if (!n->plain) message += " (quoted, so a string)";
    if (!why.empty()) message += ": " + why;
    problems_.Add(n->mark, message);
    return false;
  }
  if (v < min || v > max) {
    problems_.Add(n->mark, "'" + std::string(key) + "': " + std::to_string(v) + " is out of range " +
                               std::to_string(min) + ".." + std::to_string(max));
    return false;
  }
  *out = v;
  return true;
}

const Node* MapReader::Mapping(std::string_view key, Need need) {
  const Node* n = Lookup(key, need);
  if (n == nullptr) return nullptr;
  if (n->IsNull()) {
    if (need == Need::kRequired) problems_.Add(n->mark, "'" + std::string(key) + "': is empty");
    return nullptr;
  }
  if (!n->IsMapping()) {
    problems_.Add(n->mark, "'" + std::string(key) + "': expected a mapping (key: value lines), got " + Shown(*n));
    return nullptr;
  }
  return n;
}

const Node* MapReader::Sequence(std::string_view key, Need need) {
  const Node* n = Lookup(key, need);
  if (n == nullptr) return nullptr;
  if (n->IsNull()) {
    if (need == Need::kRequired) problems_.Add(n->mark, "'" + std::string(key) + "': the list is empty");
    return nullptr;
  }
  if (!n->IsSequence()) {
    problems_.Add(n->mark, "'" + std::string(key) + "': expected a list ('- item' lines), got " + Shown(*n));
    return nullptr;
  }
  return n;
}

void MapReader::Finish() {
  if (!usable_) return;
  std::string valid;
  for (const std::string& k : known_) valid += (valid.empty() ? "" : ", ") + k;
  for (const Node& c : node_.children) {
    if (std::find(known_.begin(), known_.end(), c.key) != known_.end()) continue;
    if (problems_.count() >= kMaxProblems) {
      // Counted, not stored: skip the suggestion search for a flood of keys.
      problems_.Add(c.key_mark, "unknown key");
      continue;
    }
    std::string message = "unknown key " + Quoted(c.key) + " in " + what_;
    const std::string* closest = nullptr;
    size_t best = 3;  // at most two edits away counts as a typo
    for (const std::string& k : known_) {
      const size_t d = Distance(c.key.substr(0, 64), k);
      if (d < best) {
        best = d;
        closest = &k;
      }
    }
    if (closest != nullptr) message += " (did you mean '" + *closest + "'?)";
    message += "; valid keys: " + (valid.empty() ? std::string("none") : valid);
    problems_.Add(c.key_mark, message);
  }
}

bool ReadKeyFileEntry(MapReader& reader, std::string_view key, bool secret, std::string* path_out,
                      std::string* key_out) {
  std::string path;
  if (!reader.Path(key, &path, Need::kRequired)) return false;
  const Node* at = reader.Value(key);
  // ReadKeyFile reads whole files; a FIFO, a device or a huge file named
  // here by mistake must not hang or exhaust the daemon.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    reader.Problem(*at, "'" + std::string(key) + "': key file " + path + ": " + std::strerror(errno));
    return false;
  }
  // Size 0 is refused too: a key file is never empty, and /proc files
  // (which report 0 whatever they hold) are never key files.
  if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > 4096) {
    reader.Problem(*at, "'" + std::string(key) + "': key file " + path +
                            " is not a regular file of 1 byte to 4 KiB");
    return false;
  }
  auto k = transport::ReadKeyFile(path, secret);
  if (!k.ok()) {
    // ReadKeyFile's messages name the path and never the content.
    reader.Problem(*at, "'" + std::string(key) + "': " + k.status().message());
    return false;
  }
  *path_out = std::move(path);
  *key_out = std::move(*k);
  return true;
}

void ReadSecretSource(MapReader& r, std::string_view stem, SecretSource* out, Need need) {
  const std::string env_key = std::string(stem) + "_env";
  const std::string file_key = std::string(stem) + "_file";
  const bool env = r.String(env_key, &out->env);
  const bool file = r.Path(file_key, &out->file);
  if (env && file) {
    r.Problem(*r.Value(file_key), "'" + env_key + "' and '" + file_key + "': give one of them, not both");
  } else if (!env && !file && need == Need::kRequired) {
    r.Problem(r.node(), "'" + env_key + "' or '" + file_key + "' is required (secrets are never written inline)");
  }
  if (env && out->env.empty()) r.Problem(*r.Value(env_key), "'" + env_key + "': expected a variable name");
}

Result<std::string> ReadSecret(const SecretSource& source, std::string_view what) {
  std::string value;
  if (!source.env.empty()) {
    const char* v = std::getenv(source.env.c_str());
    if (v == nullptr || *v == '\0') {
      return Status::NotFound(std::string(what) + ": environment variable " + source.env + " is not set");
    }
    value = v;
  } else if (!source.file.empty()) {
    const int fd = ::open(source.file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return Status::NotFound(std::string(what) + ": " + source.file + ": " + std::strerror(errno));
    struct stat st {};
    const bool stat_ok = ::fstat(fd, &st) == 0;
    if (!stat_ok || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return Status::InvalidArgument(std::string(what) + ": " + source.file + " is not a regular file");
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      ::close(fd);
      return Status::InvalidArgument(std::string(what) + ": " + source.file +
                                     " is readable by group or others (chmod 600 it)");
    }
    if (st.st_size > static_cast<off_t>(kMaxSecretBytes)) {
      ::close(fd);
      return Status::InvalidArgument(std::string(what) + ": " + source.file + " is over 16 KiB");
    }
    value.resize(kMaxSecretBytes + 1);
    size_t got = 0;
    while (got < value.size()) {
      const ssize_t n = ::read(fd, value.data() + got, value.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
    value.resize(std::min(got, kMaxSecretBytes));
  } else {
    return Status::InvalidArgument(std::string(what) + ": no source given");
  }
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) return Status::InvalidArgument(std::string(what) + ": the secret is empty");
  if (value.find_first_of("\r\n") != std::string::npos) {
    return Status::InvalidArgument(std::string(what) + ": the secret spans several lines");
  }
  return value;
}

void ReadLinkSection(MapReader& parent, transport::LinkOptions* link, bool with_max_message_bytes) {
  constexpr int64_t kMaxMillis = 3'600'000;  // one hour: longer intervals are a mistake, not a setting
  const Node* section = parent.Mapping("link");
  if (section == nullptr) return;
  MapReader r(*section, parent.problems(), "link");
  r.Integer("heartbeat_ivl_ms", &link->heartbeat_ivl_ms, 100, kMaxMillis);
  const bool timeout = r.Integer("heartbeat_timeout_ms", &link->heartbeat_timeout_ms, 100, kMaxMillis);
  if (timeout && link->heartbeat_timeout_ms < link->heartbeat_ivl_ms) {
    r.Problem(*r.Value("heartbeat_timeout_ms"),
              "'heartbeat_timeout_ms': must be at least heartbeat_ivl_ms (" + std::to_string(link->heartbeat_ivl_ms) +
                  "), or every idle link is declared dead");
  }
  if (with_max_message_bytes) {
    // Batches are at most the wire format's 256 MiB; below 1 MiB one large
    // raw record could no longer cross.
    r.Size("max_message_bytes", &link->max_message_bytes, int64_t{1} << 20, int64_t{256} << 20);
  }
  r.Integer("send_high_water_mark", &link->send_high_water_mark, 1, 1'000'000);
  r.Finish();
}

void ReadLogSection(MapReader& parent, log::Level* level, log::Format* format) {
  const Node* section = parent.Mapping("log");
  if (section == nullptr) return;
  MapReader r(*section, parent.problems(), "log");
  r.Enum("level", level, log::LevelFromName, "debug, info, warning, error");
  r.Enum("format", format, log::FormatFromName, "kv, json");
  r.Finish();
}

}  // namespace cmkwatch::config
