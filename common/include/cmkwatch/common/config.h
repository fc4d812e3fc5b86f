// Configuration files: a small YAML document layer over libyaml's event
// parser, and a typed reader that collects every problem of a file at once.
//
// Grammar accepted (a subset of YAML 1.2; block and flow styles alike):
//   stream    := document?                      at most one document
//   document  := node
//   node      := scalar | sequence | mapping
//   sequence  := ( "-" node )*                  or  "[" node ("," node)* "]"
//   mapping   := ( scalar ":" node )*           or  "{" scalar ":" node, ... "}"
//   scalar    := plain | 'single' | "double" | literal (|) | folded (>)
// Refused, each with file:line:col:
//   anchors (&a) and aliases (*a)  an alias can expand a small file
//                                  exponentially ("billion laughs") and
//                                  configuration never needs one;
//   tags (!!str, !custom)          the reader decides types, not the file;
//   non-scalar (complex) keys, duplicate keys, a second document.
//
// Bounds (Limits): document bytes, one scalar's bytes, nodes, nesting depth.
// libyaml keeps its parser state on heap stacks, not the C stack, and the
// tree is built iteratively; parsing stops at the first collection deeper
// than max_depth, so nothing recurses more than max_depth frames deep (the
// only recursion left is Node's destructor).
//
// Typed reading (MapReader) follows Falco's rule loader: reading never stops
// at the first problem. Every wrong type, out-of-range number, missing key
// and unknown key is collected into Problems with its file:line:col, and
// the caller turns them into one Status listing them all, so an operator
// fixes a file in one pass. Unknown keys are errors that name the valid keys:
// a typo such as `retention_dayz` must never be silently ignored.
//
// Values are echoed in messages (shortened), so configuration files must not
// hold secrets inline; key material lives in key files, which are named by
// path and whose content is never printed.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cmkwatch/common/log.h"
#include "cmkwatch/common/status.h"
#include "cmkwatch/common/transport.h"

namespace cmkwatch::config {

inline constexpr size_t kMaxDocumentBytes = size_t{1} << 20;
inline constexpr size_t kMaxScalarBytes = size_t{64} << 10;
inline constexpr size_t kMaxNodes = 100'000;
inline constexpr size_t kMaxDepth = 32;
// Problems kept for one file; further ones are counted, not stored.
inline constexpr size_t kMaxProblems = 100;

struct Limits {
  size_t max_document_bytes = kMaxDocumentBytes;
  size_t max_scalar_bytes = kMaxScalarBytes;
  size_t max_nodes = kMaxNodes;
  size_t max_depth = kMaxDepth;  // nested collections; a scalar at the top is depth 0
};

// 1-based, as editors show them. Columns count characters, not bytes.
struct Mark {
  size_t line = 1;
  size_t column = 1;
};

struct Node {
  enum class Kind : uint8_t { kScalar, kSequence, kMapping };

  Kind kind = Kind::kScalar;
  Mark mark;  // where the node starts
  // kScalar: the text, and whether it was written plain (unquoted, not a
  // block scalar). A plain `yes` may be read as a boolean, a quoted "yes"
  // is only ever a string.
  std::string value;
  bool plain = true;
  // kSequence: the items. kMapping: the values in document order, each with
  // its key in `key` and `key_mark` (keys are unique).
  std::vector<Node> children;
  std::string key;
  Mark key_mark;

  bool IsScalar() const { return kind == Kind::kScalar; }
  bool IsSequence() const { return kind == Kind::kSequence; }
  bool IsMapping() const { return kind == Kind::kMapping; }
  // A plain empty scalar, `~` or `null` (e.g. `key:` with nothing after it).
  bool IsNull() const;
  // The value under `name` in a mapping; nullptr when absent or not a mapping.
  const Node* Find(std::string_view name) const;
};

// Parses one YAML document into a tree. An empty stream gives a null scalar.
// Errors: InvalidArgument (syntax, refused constructs) or LimitExceeded, each
// message "file_name:line:col: what".
Result<Node> ParseYaml(std::string_view text, std::string_view file_name, const Limits& limits = {});

// Reads a configuration file whole: NotFound / IoError naming the path, or
// LimitExceeded past max_bytes (or when it is not a regular file).
Result<std::string> ReadConfigFile(const std::string& path, size_t max_bytes = kMaxDocumentBytes);

// `path` as written in `config_file`: an absolute path as is; a relative one
// joined to the config file's directory (made absolute, so a daemon that
// changes directory later still finds it).
std::string ResolvePath(std::string_view config_file, std::string_view path);

// "90s", "30m", "6h", "2d" in nanoseconds (digits and one unit, at most 12
// characters); nullopt when malformed.
std::optional<int64_t> ParseDuration(std::string_view text);

// Collector ids: 1..128 bytes of [A-Za-z0-9._-]. They name spools, appear
// in every log line and in the analyzer's allowlist, so nothing that needs
// quoting is allowed.
inline constexpr size_t kMaxIdBytes = 128;
bool IsValidId(std::string_view id);
// A ZeroMQ endpoint a daemon can use: tcp://host:port, ipc://path or
// inproc://name. Returns "" when fine, else what is wrong.
std::string EndpointProblem(std::string_view endpoint);

// The problems of one configuration file, in the order found.
class Problems {
 public:
  explicit Problems(std::string file_name) : file_name_(std::move(file_name)) {}

  void Add(Mark mark, std::string_view message);
  bool empty() const { return count_ == 0; }
  size_t count() const { return count_; }  // including those not stored
  // Each "file:line:col: message".
  const std::vector<std::string>& messages() const { return messages_; }
  const std::string& file_name() const { return file_name_; }
  // Ok when there are none; else InvalidArgument with every stored problem
  // on its own line (and how many more there were).
  Status ToStatus() const;

 private:
  std::string file_name_;
  std::vector<std::string> messages_;
  size_t count_ = 0;
};

enum class Need : uint8_t { kOptional, kRequired };

// Reads the entries of one mapping into typed values.
//
// Every read names a key, which thereby becomes a valid key of the mapping.
// When the key is absent the output is left unchanged (it holds the
// default) and the read returns false; with Need::kRequired the absence is
// a problem. A value of the wrong type or range is a problem naming the key,
// the line and the value; the output is left unchanged and the read returns
// false. Finish() then reports every key nobody asked for.
//
// A null value (`key:` with nothing after it) counts as absent for sections
// and lists, so a section whose entries are all commented out is the same
// as no section. `node` and `problems` must outlive the reader.
class MapReader {
 public:
  // A node that is neither a mapping nor null is a problem ("expected a
  // mapping"); the reader then reads nothing.
  MapReader(const Node& node, Problems& problems, std::string_view what = "this section");

  bool String(std::string_view key, std::string* out, Need need = Need::kOptional);
  // A non-empty path, resolved against the config file's directory.
  bool Path(std::string_view key, std::string* out, Need need = Need::kOptional);
  // true/false/yes/no, unquoted, any case.
  bool Bool(std::string_view key, bool* out, Need need = Need::kOptional);
  // A decimal integer (digits may be grouped with '_') in [min, max].
  template <typename T>
  bool Integer(std::string_view key, T* out, int64_t min, int64_t max, Need need = Need::kOptional) {
    assert(std::in_range<T>(min) && std::in_range<T>(max));
    int64_t v = 0;
    if (!ReadInteger(key, &v, min, max, need, /*units=*/false)) return false;
    *out = static_cast<T>(v);
    return true;
  }
  // A byte count: an integer, optionally with a unit B, KiB, MiB, GiB or
  // TiB ("64MiB", "1 GiB"), in [min, max] bytes.
  template <typename T>
  bool Size(std::string_view key, T* out, int64_t min, int64_t max, Need need = Need::kOptional) {
    assert(std::in_range<T>(min) && std::in_range<T>(max));
    int64_t v = 0;
    if (!ReadInteger(key, &v, min, max, need, /*units=*/true)) return false;
    *out = static_cast<T>(v);
    return true;
  }
  // A name mapped to a value by `from_name` (returning std::optional<T>),
  // e.g. log::LevelFromName; `choices` lists the names for the message
  // ("expected one of: kv, json").
  template <typename T, typename FromName>
  bool Enum(std::string_view key, T* out, FromName from_name, std::string_view choices,
            Need need = Need::kOptional) {
    const Node* n = ScalarValue(key, need, "a name");
    if (n == nullptr) return false;
    auto v = from_name(std::string_view(n->value));
    if (!v) {
      Problem(*n, "'" + std::string(key) + "': expected one of: " + std::string(choices) + ", got " + Shown(*n));
      return false;
    }
    *out = *v;
    return true;
  }
  // A duration "90s", "30m", "6h" or "2d" (0 may be written "0s") in
  // nanoseconds, in [min_ns, max_ns].
  bool Duration(std::string_view key, int64_t* out_ns, int64_t min_ns, int64_t max_ns, Need need = Need::kOptional);
  // A list of strings (a scalar alone is refused: `to: a@b` is a list of one
  // only when written `[a@b]`, so a typo cannot turn into a single item).
  bool StringList(std::string_view key, std::vector<std::string>* out, Need need = Need::kOptional);
  // A nested mapping or a list; nullptr when absent, null or of the wrong
  // kind (a problem).
  const Node* Mapping(std::string_view key, Need need = Need::kOptional);
  const Node* Sequence(std::string_view key, Need need = Need::kOptional);
  // The value under `key` without checking its type (for messages that need
  // its line); marks the key valid.
  const Node* Value(std::string_view key);

  // Reports each key of the mapping that no read named, with the valid keys
  // (and the closest one when the key looks like a typo). Call once, after
  // every read.
  void Finish();

  void Problem(const Node& at, std::string_view message) { problems_.Add(at.mark, message); }
  Problems& problems() { return problems_; }
  const Node& node() const { return node_; }

  // A scalar as messages show it: quoted, control characters escaped, cut
  // after 40 characters; "a mapping" / "a list" for collections.
  static std::string Shown(const Node& n);

 private:
  const Node* Lookup(std::string_view key, Need need);
  const Node* ScalarValue(std::string_view key, Need need, std::string_view expected);
  bool ReadInteger(std::string_view key, int64_t* out, int64_t min, int64_t max, Need need, bool units);

  const Node& node_;
  Problems& problems_;
  std::string what_;
  bool usable_ = false;
  std::vector<std::string> known_;
};

// Reads the value under `key` as the path of a CURVE key file and the key in
// it (transport::ReadKeyFile; `secret` refuses a file readable by group or
// others). The file must be a regular file of 1 byte to 4 KiB. A problem names
// the line, the key and the path, never the file's content.
bool ReadKeyFileEntry(MapReader& reader, std::string_view key, bool secret, std::string* path_out,
                      std::string* key_out);

// Where a secret comes from: exactly one of an environment variable and a
// file (alert sinks' URLs and keys, the Event Grid endpoint's shared secret).
struct SecretSource {
  std::string env;   // environment variable name
  std::string file;  // path (resolved against the config file's directory)
  bool empty() const { return env.empty() && file.empty(); }
};
inline constexpr size_t kMaxSecretBytes = 16 << 10;
// The secret's value, trailing newline trimmed. NotFound / InvalidArgument
// naming the variable or the path, never the value; a file readable by
// group or others, or over 16 KiB, is refused.
Result<std::string> ReadSecret(const SecretSource& source, std::string_view what);
// Reads `<stem>_env` / `<stem>_file` into *out (only where the secret comes
// from; the value is read later, by ReadSecret); a problem when both or
// (when required) neither is given.
void ReadSecretSource(MapReader& r, std::string_view stem, SecretSource* out, Need need);

// The `log: { level: info, format: kv }` section both daemons share.
void ReadLogSection(MapReader& parent, log::Level* level, log::Format* format);

// The optional `link:` section both daemons share: heartbeat_ivl_ms,
// heartbeat_timeout_ms (at least the interval), send_high_water_mark, and —
// for the analyzer, which receives the messages — max_message_bytes.
void ReadLinkSection(MapReader& parent, transport::LinkOptions* link, bool with_max_message_bytes);

}  // namespace cmkwatch::config
