// The payload of every sink, as pure functions (contract in format.h).
//
// JSON bodies are built with nlohmann_json and dumped with invalid UTF-8
// replaced: alert text comes from logs, and an alert must still be sent.
// Every text field is cut to the receiving service's limit (or, where the
// service states none, to a size that keeps the whole body small): a
// service that refuses a body loses the alert.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>

#include "cmkwatch/common/hash.h"
#include "cmkwatch/common/time.h"
#include "format.h"

namespace cmkwatch::alerts::internal {
namespace {

using json = nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool IsResolved(const Message& m) { return m.kind == AlertChange::Kind::kResolved; }

const Template& TitleTemplate(const Message& m, const Templates& t) {
  return IsResolved(m) ? t.title_resolved : t.title;
}

// Line breaks and tabs as spaces: for one-line places (headers, subjects).
std::string OneLine(std::string text) {
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  return text;
}

bool IsBlank(std::string_view s) { return s.find_first_not_of(' ') == std::string_view::npos; }

// The rendered title on one line, cut, never empty (Slack and PagerDuty
// refuse an empty header or summary).
std::string TitleLine(const Message& m, const Templates& t, size_t max_chars, Escape escape = Escape::kNone) {
  std::string title = CutText(OneLine(TitleTemplate(m, t).Render(m, escape)), max_chars);
  if (IsBlank(title)) title = "cmkwatch alert " + CutText(EscapeText(CleanText(m.alert.id), escape), 64);
  return title;
}

// Alert text made safe and fit for one place: cleaned, escaped, cut (the
// limit counts the escaped text, as the services do).
std::string Fit(std::string_view text, Escape escape, size_t max_chars) {
  return CutText(EscapeText(CleanText(text), escape), max_chars);
}

std::string OrDash(std::string s) { return s.empty() ? "-" : s; }

std::string AffectedNames(const Alert& a) {
  if (a.affected.empty()) return "none";
  std::string out;
  for (const auto& id : a.affected) {
    if (!out.empty()) out += ", ";
    out += ResourceName(id);
    if (out.size() > 8192) break;  // cut by the caller; no need to join thousands
  }
  return out;
}

std::string EvidenceList(const Alert& a) {
  std::string out;
  for (const auto& id : a.evidence) {
    if (!out.empty()) out += ", ";
    out += id;
    if (out.size() > 8192) break;
  }
  return out;
}

// The alert with every text field and list cut, for the bodies that carry
// the whole alert (PagerDuty custom_details, the generic webhook): those
// stay well under PagerDuty's 512 KB and a receiver's body limit.
Alert BoundedAlert(const Alert& a) {
  constexpr size_t kShort = 256, kLong = 4096, kMaxAffected = 100;
  Alert b = a;
  for (std::string* s : {&b.id, &b.rule, &b.subject, &b.operation, &b.resolved_by, &b.actor.object_id,
                         &b.actor.app_id, &b.actor.upn, &b.actor.ip}) {
    *s = CutText(*s, kShort);
  }
  for (std::string* s : {&b.title, &b.resource_id, &b.suppression}) *s = CutText(*s, 1024);
  for (std::string* s : {&b.why, &b.remediation}) *s = CutText(*s, kLong);
  if (b.affected.size() > kMaxAffected) b.affected.resize(kMaxAffected);
  for (auto& id : b.affected) id = CutText(id, 1024);
  if (b.evidence.size() > analyzer::kMaxEvidence) b.evidence.resize(analyzer::kMaxEvidence);
  for (auto& id : b.evidence) id = CutText(id, kShort);
  return b;
}

json AlertObject(const Alert& a) {
  // AlertToJson replaced invalid UTF-8, so this parses; discarded never
  // reaches a receiver, but stays a value rather than an exception.
  return json::parse(analyzer::AlertToJson(BoundedAlert(a)), nullptr, /*allow_exceptions=*/false);
}

// Floors a nanosecond time to a coarser unit (toward minus infinity, so
// times before 1970 do not round up).
int64_t FloorTo(int64_t ns, int64_t unit) {
  int64_t q = ns / unit;
  if (ns % unit < 0) --q;
  return q * unit;
}

// ---- Slack ----

constexpr size_t kSlackHeaderChars = 150;
constexpr size_t kSlackSectionChars = 3000;
constexpr size_t kSlackFieldChars = 2000;
constexpr size_t kSlackMaxFields = 10;

json SlackMrkdwn(std::string text) { return {{"type", "mrkdwn"}, {"text", std::move(text)}}; }

// "*Label*\nvalue", the label's bold line counted in the field's limit.
json SlackField(std::string_view label, std::string_view value, size_t max_chars = kSlackFieldChars) {
  std::string text = "*" + std::string(label) + "*\n";
  text += Fit(value.empty() ? "-" : value, Escape::kSlack, max_chars - text.size());
  return SlackMrkdwn(std::move(text));
}

json SlackSection(std::string_view label, std::string_view value) {
  return {{"type", "section"}, {"text", SlackField(label, value, kSlackSectionChars)}};
}

}  // namespace

std::string SlackPayload(const Message& m, const Templates& t) {
  const Alert& a = m.alert;
  json blocks = json::array();
  blocks.push_back({{"type", "header"},
                    {"text", {{"type", "plain_text"}, {"text", TitleLine(m, t, kSlackHeaderChars)}}}});
  json fields = json::array();
  fields.push_back(SlackField("Severity", ToString(a.severity)));
  fields.push_back(SlackField("Rule", a.rule));
  fields.push_back(SlackField("Resource", a.resource_id));
  if (IsResolved(m)) {
    fields.push_back(SlackField("Resolved", a.resolved_at != 0 ? FormatTimestamp(a.resolved_at) : ""));
  } else {
    fields.push_back(SlackField("Affected AI resources", AffectedNames(a)));
    fields.push_back(SlackField("Actor", ActorName(a.actor)));
    fields.push_back(SlackField("Time", FormatTimestamp(a.time)));
  }
  static_assert(6 <= kSlackMaxFields);
  blocks.push_back({{"type", "section"}, {"fields", std::move(fields)}});
  std::string context;
  if (IsResolved(m)) {
    // A resolution is news only in that it happened: no why, no remedy.
    if (!a.resolved_by.empty()) blocks.push_back(SlackSection("Resolved by event", a.resolved_by));
  } else {
    if (!a.why.empty()) blocks.push_back(SlackSection("Why it matters", a.why));
    if (!a.remediation.empty()) blocks.push_back(SlackSection("What to do", a.remediation));
    if (!a.evidence.empty()) context = "Evidence: " + EvidenceList(a) + "  |  ";
  }
  context += "Alert " + a.id;
  blocks.push_back(
      {{"type", "context"}, {"elements", json::array({SlackMrkdwn(Fit(context, Escape::kSlack, kSlackSectionChars))})}});
  json j = json::object();
  j["text"] = CutText(t.text.Render(m, Escape::kSlack), kSlackSectionChars);
  j["blocks"] = std::move(blocks);
  return Dump(j);
}

// ---- Teams ----

// Teams renders Markdown in TextBlocks and fact values, so "[x](https://…)"
// in text an attacker wrote into a log would arrive as a clickable link on
// an alert people trust. A zero-width space between "]" and "(" leaves the
// text as it reads and breaks the link syntax.
namespace {
std::string NoMarkdownLinks(std::string text) {
  static constexpr std::string_view kBreak = "\u200b";
  for (size_t at = text.find("]("); at != std::string::npos; at = text.find("](", at + 1 + kBreak.size())) {
    text.insert(at + 1, kBreak);
  }
  return text;
}
}  // namespace

std::string TeamsPayload(const Message& m, const Templates& t) {
  // Teams refuses a message over about 28 KB; with these limits a card is
  // at most ~23 KB even at 4 bytes per character.
  constexpr size_t kTitle = 200, kFact = 300, kText = 1500;
  const Alert& a = m.alert;
  auto text_block = [](std::string text) {
    return json{{"type", "TextBlock"}, {"text", NoMarkdownLinks(std::move(text))}, {"wrap", true}};
  };
  auto heading = [&](std::string text) {
    json b = text_block(std::move(text));
    b["weight"] = "Bolder";
    b["spacing"] = "Medium";
    return b;
  };
  json body = json::array();
  json title = text_block(TitleLine(m, t, kTitle));
  title["weight"] = "Bolder";
  title["size"] = "Medium";
  if (!IsResolved(m) && a.severity >= Severity::kHigh) title["color"] = "Attention";
  body.push_back(std::move(title));
  json facts = json::array();
  auto fact = [&](std::string_view name, std::string_view value) {
    facts.push_back({{"title", name}, {"value", NoMarkdownLinks(OrDash(Fit(value, Escape::kNone, kFact)))}});
  };
  fact("Severity", ToString(a.severity));
  fact("Rule", a.rule);
  fact("Resource", a.resource_id);
  if (IsResolved(m)) {
    fact("Resolved", a.resolved_at != 0 ? FormatTimestamp(a.resolved_at) : "");
    fact("Resolved by event", a.resolved_by);
  } else {
    fact("Affected AI resources", AffectedNames(a));
    fact("Actor", ActorName(a.actor));
    fact("Operation", a.operation);
    fact("Time", FormatTimestamp(a.time));
  }
  fact("Alert", a.id);
  body.push_back({{"type", "FactSet"}, {"facts", std::move(facts)}});
  if (!IsResolved(m)) {
    if (!a.why.empty()) {
      body.push_back(heading("Why it matters"));
      body.push_back(text_block(Fit(a.why, Escape::kNone, kText)));
    }
    if (!a.remediation.empty()) {
      body.push_back(heading("What to do"));
      body.push_back(text_block(Fit(a.remediation, Escape::kNone, kText)));
    }
  }
  json card = {{"$schema", "http://adaptivecards.io/schemas/adaptive-card.json"},
               {"type", "AdaptiveCard"},
               {"version", "1.4"},
               {"body", std::move(body)}};
  json attachment = {{"contentType", "application/vnd.microsoft.card.adaptive"},
                     {"contentUrl", nullptr},
                     {"content", std::move(card)}};
  json j = {{"type", "message"}, {"attachments", json::array({std::move(attachment)})}};
  return Dump(j);
}

// ---- PagerDuty ----

std::string PagerDutySeverity(Severity s) {
  switch (s) {
    case Severity::kCritical: return "critical";
    case Severity::kHigh: return "error";
    case Severity::kMedium:
    case Severity::kLow: return "warning";
    case Severity::kInfo: return "info";
  }
  return "info";
}

std::string PagerDutyPayload(const Message& m, const Templates& t, std::string_view routing_key) {
  const Alert& a = m.alert;
  json j = json::object();
  j["routing_key"] = routing_key;
  j["event_action"] = IsResolved(m) ? "resolve" : "trigger";
  // PagerDuty's limit on dedup_key is 255 characters; ids are far shorter,
  // and the cut is the same for trigger and resolve.
  j["dedup_key"] = CutText(a.id, 255);
  j["client"] = "cmkwatch";
  if (!IsResolved(m)) {
    json p = json::object();
    p["summary"] = TitleLine(m, t, 1024);
    p["source"] = a.resource_id.empty() ? std::string("cmkwatch") : CutText(a.resource_id, 1024);
    p["severity"] = PagerDutySeverity(a.severity);
    // Milliseconds: ISO 8601 that every parser takes.
    if (a.time != 0) p["timestamp"] = FormatTimestamp(FloorTo(a.time, 1'000'000));
    p["component"] = CutText(ResourceName(a.resource_id), 255);
    p["group"] = CutText(a.rule, 255);
    p["class"] = CutText(a.rule, 255);
    p["custom_details"] = AlertObject(a);
    j["payload"] = std::move(p);
  }
  return Dump(j);
}

// ---- generic webhook ----

std::string WebhookPayload(const Message& m) {
  json j = json::object();
  j["type"] = "alert." + std::string(ToString(m.kind));
  j["timestamp"] = FormatTimestamp(m.committed_ns);
  j["data"] = AlertObject(m.alert);
  return Dump(j);
}

std::string WebhookId(const Message& m) {
  // It travels in an HTTP header: only characters no header parser minds.
  std::string id = "msg_";
  for (char c : std::string_view(m.alert.id).substr(0, 200)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    id += ok ? c : '_';
  }
  return id + "_" + std::to_string(m.seq);
}

// ---- email ----

namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr size_t kEmailMaxDigestItems = 100;
constexpr size_t kEmailText = 8000;  // why and remediation in a body

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Header text from configuration or alerts: printable, one line, bounded,
// so nothing can add a header of its own.
std::string HeaderSafe(std::string_view s, size_t max_bytes) {
  return CutBytes(OneLine(CleanText(s)), max_bytes);
}

char HexDigit(unsigned v) { return "0123456789ABCDEF"[v & 0xF]; }

// RFC 2047 "Q" encoded words of UTF-8 text, each ≤ 75 characters and made of
// whole characters, joined by folding whitespace. Only letters, digits and
// "!*+-/" stay as they are: safe in a Subject and in a display name.
std::string EncodedWords(std::string_view text) {
  constexpr std::string_view kOpen = "=?UTF-8?Q?", kClose = "?=";
  constexpr size_t kMaxWord = 75;
  std::string out, word(kOpen);
  for (size_t i = 0; i < text.size();) {
    size_t n = 1;
    while (i + n < text.size() && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80) ++n;
    std::string token;
    for (size_t k = i; k < i + n; ++k) {
      const auto c = static_cast<unsigned char>(text[k]);
      const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                         c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
      if (c == ' ') {
        token += '_';
      } else if (plain) {
        token += static_cast<char>(c);
      } else {
        token += '=';
        token += HexDigit(c >> 4);
        token += HexDigit(c);
      }
    }
    if (word.size() + token.size() + kClose.size() > kMaxWord && word.size() > kOpen.size()) {
      out += word;
      out += kClose;
      out += "\r\n ";
      word = kOpen;
    }
    word += token;
    i += n;
  }
  return out + word + std::string(kClose);
}

// An unstructured header value (Subject): as is when plain ASCII, else
// encoded words. "=?" is encoded too, so an alert title cannot pose as an
// encoded word of its own.
std::string HeaderText(std::string_view text) {
  if (IsAscii(text) && text.find("=?") == std::string_view::npos) return std::string(text);
  return EncodedWords(text);
}

// "Name <addr>" with a non-ASCII name gets the name encoded; the address
// itself is left alone (non-ASCII addresses are SMTPUTF8's business).
std::string Mailbox(std::string_view mailbox) {
  const std::string safe = HeaderSafe(mailbox, 900);
  const size_t lt = safe.rfind('<');
  if (IsAscii(safe) || lt == std::string::npos || lt == 0) return safe;
  std::string_view name = std::string_view(safe).substr(0, lt);
  while (!name.empty() && (name.back() == ' ' || name.back() == '"')) name.remove_suffix(1);
  while (!name.empty() && (name.front() == ' ' || name.front() == '"')) name.remove_prefix(1);
  if (IsAscii(name)) return safe;
  return EncodedWords(name) + " " + safe.substr(lt);
}

// Message-ID parts: the alert id and domain keep only characters valid in
// a dot-atom, so the id stays one token whatever an alert holds.
std::string IdPart(std::string_view s, size_t max_bytes, bool dots) {
  std::string out;
  for (char c : s.substr(0, max_bytes)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || (dots && c == '.');
    out += ok ? c : '_';
  }
  return out;
}

// RFC 5322 section 3.3: "Tue, 01 Jul 2025 10:00:00 +0000".
std::string EmailDate(int64_t ns) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const int64_t secs = FloorTo(ns, kNanosPerSecond) / kNanosPerSecond;
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  // 1970-01-01 was a Thursday.
  const auto weekday = static_cast<size_t>(((days % 7) + 11) % 7);
  // Civil date from days since 1970 (Howard Hinnant's civil_from_days).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04lld %02d:%02d:%02d +0000", kDays[weekday], static_cast<int>(day),
                kMonths[static_cast<size_t>(month - 1)], static_cast<long long>(year), static_cast<int>(rem / 3600),
                static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60));
  return buf;
}

// Quoted-printable (RFC 2045 section 6.7): "\n" and "\r\n" are hard line
// breaks (CRLF); encoded lines are at most 76 characters, soft breaks
// included, and never end in a space or tab.
std::string QuotedPrintable(std::string_view text) {
  constexpr size_t kMaxLine = 75;  // plus the "=" of a soft break
  std::string out;
  size_t col = 0;
  auto put = [&](std::string_view token) {
    if (col + token.size() > kMaxLine) {
      out += "=\r\n";
      col = 0;
    }
    out += token;
    col += token.size();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n' || (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) {
      if (c == '\r') ++i;
      out += kCrlf;
      col = 0;
      continue;
    }
    const bool line_end = i + 1 == text.size() || text[i + 1] == '\n' || text[i + 1] == '\r';
    const bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !line_end);
    if (literal) {
      const char ch = static_cast<char>(c);
      put(std::string_view(&ch, 1));
    } else {
      const std::array<char, 3> enc = {'=', HexDigit(c >> 4), HexDigit(c)};
      put(std::string_view(enc.data(), enc.size()));
    }
  }
  return out;
}

// Raw text for a body, cleaned and cut (escaping is per part).
std::string BodyText(std::string_view text) { return CutText(CleanText(text), kEmailText); }
std::string Html(std::string_view text) { return EscapeText(CleanText(text), Escape::kHtml); }

constexpr std::string_view kHtmlHead =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n"
    "<body style=\"font-family:sans-serif\">\n";
constexpr std::string_view kHtmlTail = "</body></html>\n";

void HtmlRow(std::string& out, std::string_view name, std::string_view value) {
  out += "<tr><th align=\"left\" valign=\"top\">";
  out += Html(name);
  out += "</th><td>";
  out += Html(value.empty() ? "-" : value);
  out += "</td></tr>\n";
}

std::string SingleHtml(const Message& m, const Templates& t) {
  const Alert& a = m.alert;
  std::string out(kHtmlHead);
  out += "<h2>" + TitleLine(m, t, 1000, Escape::kHtml) + "</h2>\n<table cellpadding=\"4\">\n";
  HtmlRow(out, "Change", ToString(m.kind));
  HtmlRow(out, "Severity", ToString(a.severity));
  HtmlRow(out, "Rule", a.rule);
  HtmlRow(out, "Resource", BodyText(a.resource_id));
  HtmlRow(out, "Affected AI resources", BodyText(AffectedNames(a)));
  HtmlRow(out, "Last event", BodyText(a.operation));
  HtmlRow(out, "Actor", BodyText(ActorName(a.actor)));
  HtmlRow(out, "IP", BodyText(a.actor.ip));
  HtmlRow(out, "Time", FormatTimestamp(a.time));
  HtmlRow(out, "Seen", std::to_string(a.count) + " times, first " + FormatTimestamp(a.first_seen) + ", last " +
                           FormatTimestamp(a.last_seen));
  if (IsResolved(m)) {
    HtmlRow(out, "Resolved", a.resolved_at != 0 ? FormatTimestamp(a.resolved_at) : "");
    HtmlRow(out, "Resolved by event", BodyText(a.resolved_by));
  }
  out += "</table>\n";
  auto section = [&](std::string_view heading, std::string_view text) {
    if (text.empty()) return;
    out += "<h3>" + Html(heading) + "</h3>\n<p style=\"white-space:pre-wrap\">" + Html(BodyText(text)) + "</p>\n";
  };
  section("Why it matters", a.why);
  section("What to do", a.remediation);
  out += "<p style=\"color:#666\">Evidence: " + Html(BodyText(EvidenceList(a))) + "<br>\nAlert id: " +
         Html(BodyText(a.id)) + "</p>\n";
  out += kHtmlTail;
  return out;
}

std::string DigestText(std::span<const Message> messages, const Templates& t) {
  std::string out = std::to_string(messages.size()) + " alert changes\n";
  const size_t shown = std::min(messages.size(), kEmailMaxDigestItems);
  for (size_t i = 0; i < shown; ++i) {
    const Message& m = messages[i];
    const Alert& a = m.alert;
    out += "\n" + std::to_string(i + 1) + ". " + std::string(ToString(m.kind)) + ": " + TitleLine(m, t, 1000) + "\n";
    out += "   Resource: " + OneLine(BodyText(a.resource_id)) + "\n";
    out += "   Time: " + FormatTimestamp(IsResolved(m) && a.resolved_at != 0 ? a.resolved_at : a.time) + "\n";
    out += "   Alert id: " + OneLine(BodyText(a.id)) + "\n";
  }
  if (shown < messages.size()) out += "\n... and " + std::to_string(messages.size() - shown) + " more\n";
  return out;
}

std::string DigestHtml(std::span<const Message> messages, const Templates& t) {
  std::string out(kHtmlHead);
  out += "<h2>" + std::to_string(messages.size()) + " alert changes</h2>\n<table cellpadding=\"4\">\n";
  out += "<tr><th align=\"left\">Change</th><th align=\"left\">Severity</th><th align=\"left\">Alert</th>"
         "<th align=\"left\">Resource</th><th align=\"left\">Time</th><th align=\"left\">Alert id</th></tr>\n";
  const size_t shown = std::min(messages.size(), kEmailMaxDigestItems);
  for (size_t i = 0; i < shown; ++i) {
    const Message& m = messages[i];
    const Alert& a = m.alert;
    out += "<tr><td>" + Html(ToString(m.kind)) + "</td><td>" + Html(ToString(a.severity)) + "</td><td>" +
           TitleLine(m, t, 1000, Escape::kHtml) + "</td><td>" + Html(BodyText(a.resource_id)) + "</td><td>" +
           FormatTimestamp(IsResolved(m) && a.resolved_at != 0 ? a.resolved_at : a.time) + "</td><td>" +
           Html(BodyText(a.id)) + "</td></tr>\n";
  }
  out += "</table>\n";
  if (shown < messages.size()) out += "<p>... and " + std::to_string(messages.size() - shown) + " more</p>\n";
  out += kHtmlTail;
  return out;
}

}  // namespace

std::string EmailMessage(std::span<const Message> messages, const Templates& t, const EmailOptions& o,
                         int64_t now_ns) {
  if (messages.empty()) return "";  // a caller error (see format.h); nothing to mail
  const bool digest = messages.size() > 1;
  std::string domain = IdPart(o.domain, 253, true);
  if (domain.empty()) domain = "cmkwatch.invalid";
  const Message& first = messages.front();
  std::string alert_id = IdPart(first.alert.id, 200, false);
  if (alert_id.empty()) alert_id = "alert";

  std::string subject, message_id, text, html;
  if (digest) {
    // Critical counts what still needs a look: resolutions are not counted.
    const auto critical = std::count_if(messages.begin(), messages.end(), [](const Message& m) {
      return !IsResolved(m) && m.alert.severity == Severity::kCritical;
    });
    subject = "[cmkwatch] " + std::to_string(messages.size()) + " alert changes";
    if (critical > 0) subject += " (" + std::to_string(critical) + " critical)";
    message_id = "<digest." + std::to_string(first.seq) + "-" + std::to_string(messages.back().seq) + "@" + domain + ">";
    text = DigestText(messages, t);
    html = DigestHtml(messages, t);
  } else {
    subject = TitleLine(first, t, 200);
    message_id = "<" + alert_id + "." + std::to_string(first.seq) + "@" + domain + ">";
    text = t.text.Render(first);
    html = SingleHtml(first, t);
  }
  // "=_" never occurs in quoted-printable text, so no body line can match
  // the boundary; the hash makes it the same on every retry.
  const std::string boundary = "=_cmkwatch_" + HexLower(Sha256(message_id), 12);

  std::string out;
  auto header = [&](std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += kCrlf;
  };
  header("From", o.from.empty() ? "cmkwatch@" + domain : Mailbox(o.from));
  if (!o.to.empty()) {
    // One address per line after the first keeps every line short.
    std::string to;
    for (const auto& addr : o.to) {
      if (!to.empty()) to += ",\r\n ";
      to += HeaderSafe(addr, 900);
    }
    header("To", to);
  }
  header("Subject", HeaderText(HeaderSafe(subject, 900)));
  header("Date", EmailDate(now_ns));
  header("Message-ID", message_id);
  if (!digest) {
    const std::string thread = "<" + alert_id + "@" + domain + ">";
    header("In-Reply-To", thread);
    header("References", thread);
  }
  header("MIME-Version", "1.0");
  // RFC 3834: auto-responders must not answer.
  header("Auto-Submitted", "auto-generated");
  header("Content-Type", "multipart/alternative; boundary=\"" + boundary + "\"");
  out += kCrlf;
  auto part = [&](std::string_view type, std::string_view body) {
    out += "--" + boundary + std::string(kCrlf);
    out += "Content-Type: " + std::string(type) + "; charset=utf-8" + std::string(kCrlf);
    out += "Content-Transfer-Encoding: quoted-printable" + std::string(kCrlf) + std::string(kCrlf);
    out += QuotedPrintable(body);
    out += kCrlf;
  };
  part("text/plain", text);
  part("text/html", html);
  out += "--" + boundary + "--" + std::string(kCrlf);
  return out;
}

// ---- syslog ----

namespace {

// RFC 5424 header fields: PRINTUSASCII (33..126), bounded, "-" when empty.
std::string SyslogToken(std::string_view s, size_t max_bytes) {
  std::string out;
  for (char c : s.substr(0, max_bytes)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 33 && u <= 126) ? c : '_';
  }
  return out.empty() ? "-" : out;
}

int SyslogSeverity(Severity s) {
  switch (s) {
    case Severity::kCritical: return 2;
    case Severity::kHigh: return 3;
    case Severity::kMedium: return 4;
    case Severity::kLow: return 5;
    case Severity::kInfo: return 6;
  }
  return 6;
}

int CefSeverity(Severity s) {
  switch (s) {
    case Severity::kCritical: return 10;
    case Severity::kHigh: return 8;
    case Severity::kMedium: return 5;
    case Severity::kLow: return 3;
    case Severity::kInfo: return 1;
  }
  return 1;
}

// CEF header fields: \ and | escaped; line breaks are not allowed there.
std::string CefHeader(std::string_view s, size_t max_chars) {
  const std::string text = CutText(OneLine(CleanText(s)), max_chars);
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '|') out += '\\';
    out += c;
  }
  return out;
}

// CEF extension values: \ and = escaped, line breaks as \n.
std::string CefValue(std::string_view s, size_t max_chars) {
  const std::string text = CutText(CleanText(s), max_chars);
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\\' || c == '=') out += '\\';
    out += c;
  }
  return out;
}

bool IsIpv4(std::string_view s) {
  return !s.empty() && s.size() <= 15 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

}  // namespace

std::string SyslogFrame(const Message& m, const Templates& t, const SyslogOptions& o, int64_t now_ns,
                        std::string_view version) {
  const Alert& a = m.alert;
  const int facility = o.facility >= 0 && o.facility <= 23 ? o.facility : 10;
  std::string msgid = "ALERT_" + std::string(ToString(m.kind));
  std::transform(msgid.begin(), msgid.end(), msgid.begin(), [](char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
  });
  // RFC 5424 allows at most 6 fractional digits.
  std::string rest = "<" + std::to_string(facility * 8 + SyslogSeverity(a.severity)) + ">1 " +
                     FormatTimestamp(FloorTo(now_ns, 1000)) + " " + SyslogToken(o.hostname, 255) + " " +
                     SyslogToken(o.app_name, 48) + " - " + msgid + " - ";
  rest += "CEF:0|cmkwatch|cmkwatch|" + CefHeader(version, 63) + "|" + CefHeader(a.rule, 100) + "|" +
          CefHeader(TitleTemplate(m, t).Render(m), 512) + "|" + std::to_string(CefSeverity(a.severity)) + "|";
  std::string ext;
  auto add = [&](std::string_view key, const std::string& value) {
    if (!ext.empty()) ext += ' ';
    ext += key;
    ext += '=';
    ext += value;
  };
  // rt: the alert's event time, milliseconds since the epoch.
  add("rt", std::to_string(FloorTo(a.time, 1'000'000) / 1'000'000));
  add("act", std::string(ToString(m.kind)));
  add("suser", CefValue(ActorName(a.actor), 1023));
  // src is an IPv4 field in CEF; an IPv6 caller goes in c6a2.
  if (IsIpv4(a.actor.ip)) {
    add("src", a.actor.ip);
  } else if (!a.actor.ip.empty()) {
    add("c6a2", CefValue(a.actor.ip, 64));
  }
  add("cs1Label", "alertId");
  add("cs1", CefValue(a.id, 256));
  add("cs2Label", "resource");
  add("cs2", CefValue(a.resource_id, 1023));
  add("cs3Label", "affected");
  add("cs3", CefValue(AffectedNames(a), 2000));
  add("cnt", std::to_string(a.count));
  add("msg", CefValue(a.why, 1023));
  rest += ext;
  return std::to_string(rest.size()) + " " + rest;
}

}  // namespace cmkwatch::alerts::internal
