#include "cmkwatch/common/log.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>

#include "cmkwatch/common/time.h"

namespace cmkwatch::log {
namespace {

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarning: return "warning";
    case Level::kError: return "error";
  }
  return "info";
}

// JSON string escaping (also used for quoted key=value values: the same
// escapes keep one record on one line whatever a field holds).
void AppendEscaped(std::string& out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
}

// key=value values are quoted only when they would not read back as one token.
bool NeedsQuotes(std::string_view s) {
  if (s.empty()) return true;
  for (const char c : s) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

void AppendValue(std::string& out, const Field& f, bool json) {
  if (const auto* s = std::get_if<std::string>(&f.value)) {
    if (json || NeedsQuotes(*s)) {
      out += '"';
      AppendEscaped(out, *s);
      out += '"';
    } else {
      out += *s;
    }
  } else if (const auto* i = std::get_if<int64_t>(&f.value)) {
    out += std::to_string(*i);
  } else if (const auto* d = std::get_if<double>(&f.value)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", *d);
    out += buf;
  } else if (const auto* b = std::get_if<bool>(&f.value)) {
    out += *b ? "true" : "false";
  }
}

}  // namespace

std::optional<Level> LevelFromName(std::string_view name) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warning" || name == "warn") return Level::kWarning;
  if (name == "error") return Level::kError;
  return std::nullopt;
}

std::optional<Format> FormatFromName(std::string_view name) {
  if (name == "kv" || name == "keyvalue") return Format::kKeyValue;
  if (name == "json") return Format::kJson;
  return std::nullopt;
}

std::string ApplyLogFlags(std::string_view format_name, std::string_view level_name, Format* format, Level* level) {
  if (!format_name.empty()) {
    auto f = FormatFromName(format_name);
    if (!f) return "--log-format must be kv or json";
    *format = *f;
  }
  if (!level_name.empty()) {
    auto l = LevelFromName(level_name);
    if (!l) return "--log-level must be debug, info, warning or error";
    *level = *l;
  }
  return {};
}

Logger::Logger(log::Format format, Level level, int fd) : format_(format), level_(level), fd_(fd) {}

std::string Logger::FormatLine(int64_t time_ns, Level level, std::string_view msg, Fields fields) const {
  // Milliseconds are enough for logs and keep lines short.
  const std::string time = FormatTimestamp(time_ns - time_ns % 1'000'000);
  std::string out;
  out.reserve(128);
  const bool json = format_ == log::Format::kJson;
  if (json) {
    out += "{\"time\":\"";
    out += time;
    out += "\",\"level\":\"";
    out += LevelName(level);
    out += "\",\"msg\":\"";
    AppendEscaped(out, msg);
    out += '"';
    for (const auto& f : fields) {
      out += ",\"";
      AppendEscaped(out, f.key);
      out += "\":";
      AppendValue(out, f, true);
    }
    out += '}';
  } else {
    out += "time=";
    out += time;
    out += " level=";
    out += LevelName(level);
    out += " msg=\"";
    AppendEscaped(out, msg);
    out += '"';
    for (const auto& f : fields) {
      out += ' ';
      out += f.key;
      out += '=';
      AppendValue(out, f, false);
    }
  }
  return out;
}

void Logger::Log(Level level, std::string_view msg, Fields fields) {
  if (!Enabled(level)) return;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::string line = FormatLine(now, level, msg, fields);
  line += '\n';
  // One write per record: lines from several threads never interleave.
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to log to; never fail the caller for it
    done += static_cast<size_t>(n);
  }
}

}  // namespace cmkwatch::log
