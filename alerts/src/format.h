// What each sink sends, as pure functions of the messages (no I/O, no
// clock, no randomness: the caller passes time and ids in), so every
// payload shape is unit-tested and fuzzed byte for byte.
//
// Limits of the receiving services are applied here (Slack's 150-character
// header and 3000-character sections, PagerDuty's 1024-character summary):
// text is cut on a UTF-8 boundary with "…", never refused, so an alert with
// a long title still arrives.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/alerts/message.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::alerts::internal {

// How a rendered value is escaped for its destination.
enum class Escape : uint8_t {
  kNone,   // plain text (email text part, syslog, PagerDuty summary)
  kSlack,  // Slack mrkdwn: & < > as &amp; &lt; &gt;
  kHtml,   // HTML text: & < > " ' escaped
};

// ---- text helpers (shared by the templates and the payloads) ----
//
// Alert text comes from logs that whoever can write to Azure controls, so
// it may hold invalid UTF-8 and control characters.

// Valid UTF-8 with no control characters other than \n and \t: each
// invalid byte becomes U+FFFD, CR and the other C0 controls and DEL a space.
std::string CleanText(std::string_view text);
// `text` escaped per `escape` (kNone: unchanged).
std::string EscapeText(std::string_view text, Escape escape);
// At most `max_chars` code points (an invalid byte counts as one): longer
// text is cut on a code point boundary, before any "&…;" entity the cut
// would split, and ends in "…" (which counts). max_chars ≥ 1.
std::string CutText(std::string_view text, size_t max_chars);
// The same bounded in bytes (the "…" is 3 bytes). max_bytes ≥ 3.
std::string CutBytes(std::string_view text, size_t max_bytes);
// The last segment of an ARM id ("" for "").
std::string_view ResourceName(std::string_view resource_id);
// Who acted, as one name: upn, else app id, else object id, else "unknown".
std::string_view ActorName(const Actor& actor);

// A message template: literal text with {{name}} placeholders.
//
// Names: id, rule, title, severity, status, change (opened/updated/resolved),
// resource (the ARM id), resource_name (its last segment), subject,
// affected (AI resource names, comma-separated, "none" when empty),
// operation, actor (upn, else app id, else object id, else "unknown"),
// ip ("unknown" when not said), time, first_seen, last_seen (RFC 3339
// UTC), count, why, remediation, evidence (comma-separated event ids),
// suppression.
// "{{{{" is a literal "{{". Spaces inside the braces are allowed
// ("{{ title }}"). An unknown name, an unclosed "{{" or a template over
// kMaxTemplateBytes is InvalidArgument naming the place:
// "template:LINE:COL: ..." (1-based, columns in bytes).
inline constexpr size_t kMaxTemplateBytes = 8 << 10;
// Render's output is cut (CutBytes) at this size: a template of many
// {{why}} over a long why stays bounded.
inline constexpr size_t kMaxRenderedBytes = 64 << 10;

class Template {
 public:
  static Result<Template> Parse(std::string_view text);
  // Every placeholder replaced by the message's value, cleaned (CleanText)
  // and escaped per `escape` (the literal text is not escaped: it is the
  // operator's own). At most kMaxRenderedBytes.
  std::string Render(const Message& m, Escape escape = Escape::kNone) const;
  const std::string& source() const { return source_; }

 private:
  struct Piece {
    bool placeholder = false;
    std::string text;   // the literal, or the placeholder's name
    uint8_t field = 0;  // the placeholder's index in template.cpp's table
  };
  std::string source_;
  std::vector<Piece> pieces_;
};

// The two templates every sink uses: a one-line title (chat headers, email
// subject, PagerDuty summary, CEF name) and a text body (email text part,
// Slack fallback `text`). Defaults:
//   title: "[{{severity}}] {{title}}" (resolved changes read
//          "[resolved] {{title}}" unless the operator sets title_resolved)
//   text:  several lines: what happened, affected, actor, time, why,
//          remediation, evidence, alert id.
struct Templates {
  Template title;
  Template title_resolved;
  Template text;
};
Templates DefaultTemplates();

// ---- chat, paging, generic webhook (JSON bodies) ----

// Slack incoming webhook: {"text": fallback, "blocks": [header, section
// with fields severity, rule, resource, affected AI resources, actor, time;
// section "why"; section remediation; context with evidence ids and the
// alert id]}. Resolutions say so in the header and carry a short body.
std::string SlackPayload(const Message& m, const Templates& t);

// Teams Workflows webhook: {"type":"message","attachments":[{"contentType":
// "application/vnd.microsoft.card.adaptive","contentUrl":null,"content":
// {AdaptiveCard 1.4: title TextBlock, FactSet, why, remediation}}]}.
std::string TeamsPayload(const Message& m, const Templates& t);

// PagerDuty Events API v2: trigger for opened/updated, resolve for resolved,
// dedup_key = alert id; severity critical→critical, high→error,
// medium/low→warning, info→info; payload.summary from the title template
// (≤1024), source = resource id, timestamp = alert time, component =
// resource name, group/class = rule, custom_details = the alert's fields.
std::string PagerDutySeverity(Severity s);
std::string PagerDutyPayload(const Message& m, const Templates& t, std::string_view routing_key);

// Generic webhook body: {"type":"alert.<change>","timestamp":RFC3339 of
// committed_ns,"data":<the alert as AlertToJson>} (Standard Webhooks'
// recommended envelope).
std::string WebhookPayload(const Message& m);
// The webhook-id of a change: "msg_<alert id>_<seq>", the same on every retry.
std::string WebhookId(const Message& m);

// ---- Standard Webhooks signing (https://www.standardwebhooks.com) ----

std::string Base64Encode(std::span<const uint8_t> bytes);
// Standard alphabet with padding; InvalidArgument on anything else.
Result<std::vector<uint8_t>> Base64Decode(std::string_view text);
// "whsec_<base64>" → the key bytes (24..64 bytes after decoding).
// InvalidArgument without the prefix or with a bad or short key; the
// message never contains the secret.
Result<std::vector<uint8_t>> DecodeWebhookSecret(std::string_view whsec);
// "v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>", or ""
// when OpenSSL fails (out of memory): the caller then fails the delivery
// rather than send it unsigned.
std::string WebhookSignature(std::span<const uint8_t> key, std::string_view id, int64_t timestamp_s,
                             std::string_view body);

// ---- email ----

struct EmailOptions {
  std::string from;             // "cmkwatch <cmkwatch@example.com>" or a bare address
  std::vector<std::string> to;  // bare addresses
  std::string domain = "cmkwatch.invalid";  // right-hand side of Message-IDs
};
// One RFC 5322 message (CRLF line ends, lines ≤ 998 octets, non-ASCII
// headers RFC 2047-encoded, bodies quoted-printable) for one change, or a
// digest of several (`messages.size() > 1`): multipart/alternative with a
// text part and an HTML part. Message-ID "<alert id>.<seq>@domain" (digest:
// "<digest.<first seq>-<last seq>@domain>"); a single change also carries
// In-Reply-To/References "<alert id>@domain" so mail clients thread one
// alert's lifecycle. `now_ns` is the Date header. `messages` is not empty
// ("" if it is). A digest's subject reads "[cmkwatch] 5 alert changes (2
// critical)", counting critical changes that are not resolutions; it lists
// at most 100 changes, then how many more there were. The MIME boundary is
// derived from the Message-ID, so a retry is byte-identical.
std::string EmailMessage(std::span<const Message> messages, const Templates& t, const EmailOptions& o,
                         int64_t now_ns);

// ---- syslog (RFC 5424 over TCP, RFC 6587 octet counting) with CEF ----

struct SyslogOptions {
  int facility = 10;  // authpriv (security messages); 0..23
  std::string hostname = "-";  // the analyzer host, "-" when unknown; ≤255 printable ASCII
  std::string app_name = "cmkwatch";
};
// "<len> <PRI>1 <timestamp> <host> <app> - <msgid> - CEF:0|cmkwatch|cmkwatch|
// <version>|<rule>|<title>|<0-10>|<extensions>": PRI from the facility and
// the alert's severity (critical→2 crit, high→3 err, medium→4 warning,
// low→5 notice, info→6 info); msgid = change (ALERT_OPENED …); CEF severity
// critical 10, high 8, medium 5, low 3, info 1; extensions rt, act, suser,
// src, cs1 (alert id), cs2 (resource), cs3 (affected), cnt, msg — escaped per
// CEF (header: \ and |; extensions: \ = and newlines). The timestamp is
// `now_ns`.
std::string SyslogFrame(const Message& m, const Templates& t, const SyslogOptions& o, int64_t now_ns,
                        std::string_view version);

}  // namespace cmkwatch::alerts::internal
