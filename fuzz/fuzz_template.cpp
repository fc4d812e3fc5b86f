// Message templates and the payloads built from them, on arbitrary text.
// The input is parsed as a template (what an operator writes in the
// configuration) and, when it parses, rendered with every escape mode over
// a fixed alert; then it becomes the alert's own text (title, why, actor,
// what logs control) and goes through the chat, mail and syslog payloads,
// rendered with the parsed template when there is one. Properties: parse
// errors are one-line "template:LINE:COL:" messages; renders are bounded;
// JSON bodies parse; mail has CRLF-only lines of at most 998 octets;
// syslog's length prefix counts the bytes after it.
#include <nlohmann/json.hpp>

#include <array>

#include "cmkwatch/common/time.h"
#include "format.h"
#include "fuzz_util.h"

namespace {

using namespace cmkwatch::alerts;
using namespace cmkwatch::alerts::internal;

Message FixedMessage() {
  Message m;
  m.seq = 7;
  m.committed_ns = 1'748'765'101'000'000'000;
  Alert& a = m.alert;
  a.id = "CMK001-0123456789abcdef";
  a.rule = "CMK001";
  a.title = "Purge protection disabled on vault kv-cmk & <co>";
  a.severity = Severity::kCritical;
  a.resource_id = "/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv-cmk";
  a.affected = {"/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/aif"};
  a.operation = "microsoft.keyvault/vaults/write";
  a.actor.upn = "admin@contoso.example";
  a.actor.ip = "198.51.100.23";
  a.time = a.last_seen = 1'748'765'100'123'456'789;
  a.first_seen = 1'748'765'000'000'000'000;
  a.count = 3;
  a.why = "A deleted key could be purged at once.\nThe data is then lost.";
  a.remediation = "Turn purge protection back on.";
  a.evidence = {"ev-1", "ev-2"};
  return m;
}

// Code points, as Slack and PagerDuty count characters.
size_t Chars(const nlohmann::json& text) {
  size_t n = 0;
  for (char c : text.get<std::string>()) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

void CheckMail(const std::string& mail) {
  size_t start = 0;
  while (start < mail.size()) {
    const size_t end = mail.find("\r\n", start);
    CMK_FUZZ_CHECK(end != std::string::npos);
    CMK_FUZZ_CHECK(end - start <= 998);
    CMK_FUZZ_CHECK(mail.substr(start, end - start).find_first_of("\r\n") == std::string::npos);
    start = end + 2;
  }
}

void CheckSyslog(const std::string& frame) {
  const size_t space = frame.find(' ');
  CMK_FUZZ_CHECK(space != std::string::npos && space > 0);
  size_t length = 0;
  for (size_t i = 0; i < space; ++i) {
    CMK_FUZZ_CHECK(frame[i] >= '0' && frame[i] <= '9');
    length = length * 10 + static_cast<size_t>(frame[i] - '0');
  }
  CMK_FUZZ_CHECK(length == frame.size() - space - 1);
  CMK_FUZZ_CHECK(frame.find_first_of("\r\n") == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using json = nlohmann::json;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const Message kFixed = FixedMessage();

  auto parsed = Template::Parse(text);
  Templates templates = DefaultTemplates();
  if (parsed.ok()) {
    CMK_FUZZ_CHECK(parsed->source() == text);
    for (Escape e : {Escape::kNone, Escape::kSlack, Escape::kHtml}) {
      const std::string out = parsed->Render(kFixed, e);
      CMK_FUZZ_CHECK(out.size() <= kMaxRenderedBytes);
      CMK_FUZZ_CHECK(out == parsed->Render(kFixed, e));
    }
    templates.title = templates.title_resolved = templates.text = *parsed;
  } else {
    const cmkwatch::Status st = parsed.status();
    const std::string& msg = st.message();
    CMK_FUZZ_CHECK(st.IsInvalidArgument());
    CMK_FUZZ_CHECK(msg.starts_with("template:"));
    CMK_FUZZ_CHECK(msg.find_first_of("\r\n") == std::string::npos);
  }

  // The input as what logs control, in each kind of change.
  Message m = kFixed;
  m.kind = static_cast<AlertChange::Kind>(size % 3);
  m.alert.title = m.alert.why = m.alert.actor.upn = std::string(text);
  m.alert.resource_id += std::string(text.substr(0, 64));
  if (m.kind == AlertChange::Kind::kResolved) m.alert.resolved_by = std::string(text.substr(0, 64));

  const json s = json::parse(SlackPayload(m, templates), nullptr, /*allow_exceptions=*/false);
  CMK_FUZZ_CHECK(s.is_object() && s.contains("text") && s.contains("blocks"));
  CMK_FUZZ_CHECK(Chars(s["text"]) <= 3000);
  for (const auto& b : s["blocks"]) {
    if (b["type"] == "header") CMK_FUZZ_CHECK(Chars(b["text"]["text"]) <= 150);
    if (b["type"] == "section" && b.contains("text")) CMK_FUZZ_CHECK(Chars(b["text"]["text"]) <= 3000);
    if (b.contains("fields")) {
      CMK_FUZZ_CHECK(b["fields"].size() <= 10);
      for (const auto& f : b["fields"]) CMK_FUZZ_CHECK(Chars(f["text"]) <= 2000);
    }
  }
  const std::string teams = TeamsPayload(m, templates);
  CMK_FUZZ_CHECK(teams.size() < 28 * 1024 && json::accept(teams));
  const json pd = json::parse(PagerDutyPayload(m, templates, "k"), nullptr, /*allow_exceptions=*/false);
  CMK_FUZZ_CHECK(pd.is_object() && pd["dedup_key"] == m.alert.id);
  if (pd.contains("payload")) CMK_FUZZ_CHECK(Chars(pd["payload"]["summary"]) <= 1024);
  CMK_FUZZ_CHECK(json::accept(WebhookPayload(m)));

  std::array<Message, 2> two = {m, kFixed};
  two[1].seq = 8;
  EmailOptions o;
  o.from = "cmkwatch <cmkwatch@example.com>";
  o.to = {"secops@example.com"};
  CheckMail(EmailMessage(std::span<const Message>(two.data(), 1), templates, o, m.committed_ns));
  CheckMail(EmailMessage(two, templates, o, m.committed_ns));

  CheckSyslog(SyslogFrame(m, templates, SyslogOptions{}, m.committed_ns, "0.1.0"));
  return 0;
}
