// Logging: one facade with structured fields, written one line per record
// to stderr (journald takes stderr as is).
//
//   logger.Info("batch stored", {{"collector", id}, {"events", n}});
//   → time=2026-03-02T09:00:00.123Z level=info msg="batch stored" collector=kv-1 events=500
//   → {"time":"...","level":"info","msg":"batch stored","collector":"kv-1","events":500}   (json)
//
// No global logger: a Logger is created by main and passed to what logs, so
// tests can give each component its own sink. Never pass a secret (key
// material, webhook URL, password) as a field: nothing here can tell.
//
// Threading: every method may be called from any thread; each record is one
// write(2) of a whole line, so records never interleave.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace cmkwatch::log {

enum class Level : uint8_t { kDebug, kInfo, kWarning, kError };
enum class Format : uint8_t { kKeyValue, kJson };

std::optional<Level> LevelFromName(std::string_view name);    // debug, info, warning (warn), error
std::optional<Format> FormatFromName(std::string_view name);  // kv (keyvalue), json

// The daemons' --log-format / --log-level values over what the
// configuration said (an empty name leaves its setting alone). Returns a
// usage message naming the flag, or "" when both are valid.
std::string ApplyLogFlags(std::string_view format_name, std::string_view level_name, Format* format, Level* level);

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, int64_t v) : key(k), value(v) {}
  Field(std::string_view k, uint64_t v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, int v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  std::string_view key;
  std::variant<std::string, int64_t, double, bool> value;
};
using Fields = std::initializer_list<Field>;

class Logger {
 public:
  // Writes to `fd` (stderr by default).
  explicit Logger(Format format = Format::kKeyValue, Level level = Level::kInfo, int fd = 2);

  void SetLevel(Level level) { level_.store(level); }
  Level level() const { return level_.load(); }
  bool Enabled(Level level) const { return level >= level_.load(); }

  void Log(Level level, std::string_view msg, Fields fields = {});
  void Debug(std::string_view msg, Fields fields = {}) { Log(Level::kDebug, msg, fields); }
  void Info(std::string_view msg, Fields fields = {}) { Log(Level::kInfo, msg, fields); }
  void Warning(std::string_view msg, Fields fields = {}) { Log(Level::kWarning, msg, fields); }
  void Error(std::string_view msg, Fields fields = {}) { Log(Level::kError, msg, fields); }

  // The line a record becomes (without the newline); exposed for tests.
  std::string FormatLine(int64_t time_ns, Level level, std::string_view msg, Fields fields) const;

 private:
  log::Format format_;
  std::atomic<Level> level_;
  int fd_;
};

}  // namespace cmkwatch::log
