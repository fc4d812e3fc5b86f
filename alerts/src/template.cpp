// Message templates and the text helpers every payload builds on.
//
// Placeholders are resolved to a table index at Parse, so Render is one
// pass over the pieces with no name lookups, and a template that parsed can
// always be rendered.
#include <array>
#include <cassert>
#include <string>
#include <utility>

#include "cmkwatch/common/time.h"
#include "format.h"

namespace cmkwatch::alerts::internal {
namespace {

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";     // U+2026 "…"
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the well-formed UTF-8 sequence (RFC 3629 table 3-7: no
// overlongs, no surrogates, nothing above U+10FFFF) starting at s[i], or 0
// when none starts there.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  const auto b1 = static_cast<unsigned char>(s[i + 1]);
  if (b1 < lo || b1 > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < 0x80 || b > 0xBF) return 0;
  }
  return n;
}

// Steps over one code point, or over one byte that starts none.
size_t NextCodePoint(std::string_view s, size_t i) {
  const size_t n = Utf8SequenceLength(s, i);
  return i + (n == 0 ? 1 : n);
}

bool IsEntityChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '#';
}

// Where to cut `s` at or before `end` so that no "&name;" entity is split:
// escaped text cut inside "&amp;" would show a stray "&am".
size_t BeforeEntity(std::string_view s, size_t end) {
  // The longest entity EscapeText writes is "&quot;" (6 bytes).
  const size_t stop = end > 6 ? end - 6 : 0;
  for (size_t i = end; i > stop; --i) {
    const char c = s[i - 1];
    if (c == '&') return i - 1;
    if (!IsEntityChar(c)) break;
  }
  return end;
}

// A name from a template, safe to quote in an error message (the config
// fuzzer found messages split by quoted line breaks).
std::string Quoted(std::string_view name) {
  std::string out = "\"";
  for (size_t i = 0; i < name.size() && i < 40; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    out += (c >= 0x20 && c < 0x7F) ? static_cast<char>(c) : '?';
  }
  if (name.size() > 40) out += "...";
  out += '"';
  return out;
}

// "template:LINE:COL: " of a byte offset.
std::string Where(std::string_view text, size_t offset) {
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return "template:" + std::to_string(line) + ":" + std::to_string(offset - line_start + 1) + ": ";
}

std::string Join(const std::vector<std::string>& items, bool names_only) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += names_only ? ResourceName(item) : std::string_view(item);
  }
  return out;
}

// The placeholders, in one table: name → the message's value (raw; Render
// cleans and escapes it).
struct Field {
  std::string_view name;
  std::string (*value)(const Message&);
};

constexpr std::array<Field, 21> kFields = {{
    {"id", [](const Message& m) { return m.alert.id; }},
    {"rule", [](const Message& m) { return m.alert.rule; }},
    {"title", [](const Message& m) { return m.alert.title; }},
    {"severity", [](const Message& m) { return std::string(ToString(m.alert.severity)); }},
    {"status", [](const Message& m) { return std::string(ToString(m.alert.status)); }},
    {"change", [](const Message& m) { return std::string(ToString(m.kind)); }},
    {"resource", [](const Message& m) { return m.alert.resource_id; }},
    {"resource_name", [](const Message& m) { return std::string(ResourceName(m.alert.resource_id)); }},
    {"subject", [](const Message& m) { return m.alert.subject; }},
    {"affected",
     [](const Message& m) { return m.alert.affected.empty() ? std::string("none") : Join(m.alert.affected, true); }},
    {"operation", [](const Message& m) { return m.alert.operation; }},
    {"actor", [](const Message& m) { return std::string(ActorName(m.alert.actor)); }},
    {"ip", [](const Message& m) { return m.alert.actor.ip.empty() ? std::string("unknown") : m.alert.actor.ip; }},
    {"time", [](const Message& m) { return FormatTimestamp(m.alert.time); }},
    {"first_seen", [](const Message& m) { return FormatTimestamp(m.alert.first_seen); }},
    {"last_seen", [](const Message& m) { return FormatTimestamp(m.alert.last_seen); }},
    {"count", [](const Message& m) { return std::to_string(m.alert.count); }},
    {"why", [](const Message& m) { return m.alert.why; }},
    {"remediation", [](const Message& m) { return m.alert.remediation; }},
    {"evidence", [](const Message& m) { return Join(m.alert.evidence, false); }},
    {"suppression", [](const Message& m) { return m.alert.suppression; }},
}};

}  // namespace

std::string CleanText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    // C1 controls (U+0080..U+009F, "\xC2\x80".."\xC2\x9F") drive terminals
    // as much as C0 ones do.
    const bool control = (n == 1 && ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F)) ||
                         (n == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0);
    if (control) {
      out += ' ';
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string EscapeText(std::string_view text, Escape escape) {
  if (escape == Escape::kNone) return std::string(text);
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += escape == Escape::kHtml ? "&quot;" : "\""; break;
      case '\'': out += escape == Escape::kHtml ? "&#39;" : "'"; break;
      default: out += c;
    }
  }
  return out;
}

std::string CutText(std::string_view text, size_t max_chars) {
  assert(max_chars >= 1);
  size_t chars = 0, keep = 0;  // keep: the byte length of the first max_chars - 1 code points
  for (size_t i = 0; i < text.size(); i = NextCodePoint(text, i)) {
    if (++chars == max_chars) keep = i;
    if (chars > max_chars) return std::string(text.substr(0, BeforeEntity(text, keep))) + std::string(kEllipsis);
  }
  return std::string(text);
}

std::string CutBytes(std::string_view text, size_t max_bytes) {
  assert(max_bytes >= kEllipsis.size());
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes - kEllipsis.size();
  // Back over continuation bytes to the start of the code point (at most
  // three for well-formed text; ill-formed text has no boundary to keep).
  for (int k = 0; k < 3 && end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80; ++k) --end;
  return std::string(text.substr(0, BeforeEntity(text, end))) + std::string(kEllipsis);
}

std::string_view ResourceName(std::string_view resource_id) {
  const size_t slash = resource_id.rfind('/');
  return slash == std::string_view::npos ? resource_id : resource_id.substr(slash + 1);
}

std::string_view ActorName(const Actor& actor) {
  if (!actor.upn.empty()) return actor.upn;
  if (!actor.app_id.empty()) return actor.app_id;
  if (!actor.object_id.empty()) return actor.object_id;
  return "unknown";
}

Result<Template> Template::Parse(std::string_view text) {
  if (text.size() > kMaxTemplateBytes) {
    return Status::InvalidArgument(Where(text, kMaxTemplateBytes) + "template is " + std::to_string(text.size()) +
                                   " bytes, over the limit of " + std::to_string(kMaxTemplateBytes));
  }
  Template t;
  t.source_ = std::string(text);
  std::string literal;
  size_t i = 0;
  while (i < text.size()) {
    const size_t open = text.find("{{", i);
    if (open == std::string_view::npos) {
      literal.append(text.substr(i));
      break;
    }
    literal.append(text.substr(i, open - i));
    if (text.substr(open, 4) == "{{{{") {
      literal += "{{";
      i = open + 4;
      continue;
    }
    const size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) return Status::InvalidArgument(Where(text, open) + "unclosed \"{{\"");
    size_t name_begin = open + 2, name_end = close;
    while (name_begin < name_end && text[name_begin] == ' ') ++name_begin;
    while (name_end > name_begin && text[name_end - 1] == ' ') --name_end;
    const std::string_view name = text.substr(name_begin, name_end - name_begin);
    size_t field = kFields.size();
    for (size_t f = 0; f < kFields.size(); ++f) {
      if (kFields[f].name == name) field = f;
    }
    if (field == kFields.size()) {
      return Status::InvalidArgument(Where(text, name_begin) + "unknown placeholder " + Quoted(name));
    }
    if (!literal.empty()) t.pieces_.push_back(Piece{false, std::move(literal), 0});
    literal.clear();
    t.pieces_.push_back(Piece{true, std::string(name), static_cast<uint8_t>(field)});
    i = close + 2;
  }
  if (!literal.empty()) t.pieces_.push_back(Piece{false, std::move(literal), 0});
  return t;
}

std::string Template::Render(const Message& m, Escape escape) const {
  std::string out;
  for (const auto& piece : pieces_) {
    if (piece.placeholder) {
      out += EscapeText(CleanText(kFields[piece.field].value(m)), escape);
    } else {
      out += piece.text;
    }
    // Stop early: the rest would be cut anyway.
    if (out.size() > kMaxRenderedBytes) break;
  }
  return CutBytes(out, kMaxRenderedBytes);
}

Templates DefaultTemplates() {
  // These are constants known to parse; a failure is a programming error.
  auto parse = [](std::string_view text) {
    auto t = Template::Parse(text);
    assert(t.ok());
    return std::move(t).value();
  };
  return Templates{
      parse("[{{severity}}] {{title}}"),
      parse("[resolved] {{title}}"),
      parse("Alert {{change}}: {{title}}\n"
            "Severity: {{severity}}, rule {{rule}}\n"
            "Resource: {{resource}}\n"
            "Affected AI resources: {{affected}}\n"
            "Last event: {{operation}} by {{actor}} from {{ip}} at {{time}}\n"
            "Seen {{count}} times, first {{first_seen}}, last {{last_seen}}\n"
            "\n"
            "Why it matters:\n{{why}}\n"
            "\n"
            "What to do:\n{{remediation}}\n"
            "\n"
            "Evidence: {{evidence}}\n"
            "Alert id: {{id}}\n"),
  };
}

}  // namespace cmkwatch::alerts::internal
