// The payload functions, checked the way each receiving service reads them:
// JSON bodies are parsed back and their shape and limits asserted, the
// webhook signature is checked against the Standard Webhooks test vector and
// an independent OpenSSL HMAC, mail is split into lines and its
// quoted-printable parts decoded, syslog frames are measured. Alerts are
// built by hand; identifiers are obviously fake.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cmkwatch/common/time.h"
#include "format.h"
#include "transport.h"

namespace cmkwatch::alerts::internal {
namespace {

using json = nlohmann::json;

constexpr const char* kVault =
    "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourcegroups/rg-ai/providers/microsoft.keyvault/vaults/"
    "kv-cmk";
constexpr const char* kAccount =
    "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourcegroups/rg-ai/providers/"
    "microsoft.cognitiveservices/accounts/aif-demo";

int64_t At(const char* rfc3339) { return *ParseTimestamp(rfc3339); }

Alert MakeAlert() {
  Alert a;
  a.id = "CMK001-0123456789abcdef";
  a.rule = "CMK001";
  a.title = "Purge protection disabled on vault kv-cmk";
  a.severity = Severity::kCritical;
  a.resource_id = std::string(kVault);
  a.affected = {std::string(kAccount)};
  a.operation = "microsoft.keyvault/vaults/write";
  a.actor.upn = "admin@contoso.example";
  a.actor.object_id = "00000000-0000-0000-0000-0000000000b1";
  a.actor.ip = "198.51.100.23";
  a.time = At("2025-06-01T08:05:00.123456789Z");
  a.first_seen = At("2025-06-01T08:00:00Z");
  a.last_seen = a.time;
  a.count = 2;
  a.why = "A deleted key could be purged at once, and the AI account's data lost for good.";
  a.remediation = "Turn purge protection back on for kv-cmk.";
  a.evidence = {"ev-1", "ev-2"};
  return a;
}

Message MakeMessage(AlertChange::Kind kind = AlertChange::Kind::kOpened, Alert a = MakeAlert()) {
  Message m;
  m.seq = 42;
  m.kind = kind;
  if (kind == AlertChange::Kind::kResolved) {
    a.status = AlertStatus::kResolved;
    a.resolved_at = At("2025-06-01T09:00:00Z");
    a.resolved_by = "ev-9";
  }
  m.alert = std::move(a);
  m.committed_ns = At("2025-06-01T08:05:01Z");
  return m;
}

// Code points, as the services count characters.
size_t Chars(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string Repeat(std::string_view s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

Template MustParse(std::string_view text) {
  auto t = Template::Parse(text);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

// ---- templates ----

TEST(Template, RendersPlaceholdersWithSpacesInsideTheBraces) {
  const Message m = MakeMessage();
  EXPECT_EQ(MustParse("{{ title }} on {{resource_name}} ({{  severity}})").Render(m),
            "Purge protection disabled on vault kv-cmk on kv-cmk (critical)");
}

TEST(Template, EveryDocumentedNameRenders) {
  const Message m = MakeMessage();
  const std::string all =
      "{{id}}|{{rule}}|{{title}}|{{severity}}|{{status}}|{{change}}|{{resource}}|{{resource_name}}|{{subject}}|"
      "{{affected}}|{{operation}}|{{actor}}|{{ip}}|{{time}}|{{first_seen}}|{{last_seen}}|{{count}}|{{why}}|"
      "{{remediation}}|{{evidence}}|{{suppression}}";
  EXPECT_EQ(MustParse(all).Render(m),
            "CMK001-0123456789abcdef|CMK001|Purge protection disabled on vault kv-cmk|critical|open|opened|" +
                std::string(kVault) +
                "|kv-cmk||aif-demo|microsoft.keyvault/vaults/write|admin@contoso.example|198.51.100.23|"
                "2025-06-01T08:05:00.123456789Z|2025-06-01T08:00:00Z|2025-06-01T08:05:00.123456789Z|2|" +
                m.alert.why + "|" + m.alert.remediation + "|ev-1, ev-2|");
}

TEST(Template, FallbacksForActorAffectedAndIp) {
  Alert a = MakeAlert();
  a.affected.clear();
  a.actor = {};
  a.actor.app_id = "00000000-0000-0000-0000-0000000000d1";
  const Template t = MustParse("{{actor}} {{affected}} {{ip}}");
  EXPECT_EQ(t.Render(MakeMessage(AlertChange::Kind::kOpened, a)), "00000000-0000-0000-0000-0000000000d1 none unknown");
  a.actor = {};
  EXPECT_EQ(t.Render(MakeMessage(AlertChange::Kind::kOpened, a)), "unknown none unknown");
}

TEST(Template, FourBracesAreALiteralPair) {
  EXPECT_EQ(MustParse("{{{{title}} is {{title}}").Render(MakeMessage()),
            "{{title}} is Purge protection disabled on vault kv-cmk");
  EXPECT_EQ(MustParse("a } b { c }}").Render(MakeMessage()), "a } b { c }}");
}

TEST(Template, UnknownPlaceholderIsRefusedNamingLineAndColumn) {
  auto t = Template::Parse("Alert:\n  {{ titel }}");
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(t.status().IsInvalidArgument());
  EXPECT_EQ(t.status().message(), "template:2:6: unknown placeholder \"titel\"");
}

TEST(Template, UnclosedPlaceholderIsRefusedNamingTheColumn) {
  auto t = Template::Parse("[{{severity}}] {{title");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), "template:1:16: unclosed \"{{\"");
}

TEST(Template, ErrorMessagesStayOnOneLine) {
  auto t = Template::Parse("{{a\nb\rc}}");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message().find_first_of("\r\n"), std::string::npos) << t.status().message();
}

TEST(Template, OverTheSizeLimitIsRefused) {
  EXPECT_TRUE(Template::Parse(std::string(kMaxTemplateBytes, 'x')).ok());
  auto t = Template::Parse(std::string(kMaxTemplateBytes + 1, 'x'));
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(t.status().IsInvalidArgument());
  EXPECT_NE(t.status().message().find("template:1:8193:"), std::string::npos) << t.status().message();
}

TEST(Template, ValuesAreEscapedButTheOperatorsLiteralIsNot) {
  Alert a = MakeAlert();
  a.title = "<script>alert('x') & \"y\"</script>";
  const Message m = MakeMessage(AlertChange::Kind::kOpened, a);
  const Template t = MustParse("<b>{{title}}</b>");
  EXPECT_EQ(t.Render(m, Escape::kHtml), "<b>&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;</b>");
  EXPECT_EQ(t.Render(m, Escape::kSlack), "<b>&lt;script&gt;alert('x') &amp; \"y\"&lt;/script&gt;</b>");
  EXPECT_EQ(t.Render(m, Escape::kNone), "<b>" + a.title + "</b>");
}

TEST(Template, RenderIsBounded) {
  Alert a = MakeAlert();
  a.why = std::string(1 << 20, 'w');
  const std::string many = Repeat("{{why}}", kMaxTemplateBytes / 7);
  const std::string out = MustParse(many).Render(MakeMessage(AlertChange::Kind::kOpened, a));
  EXPECT_LE(out.size(), kMaxRenderedBytes);
  EXPECT_TRUE(out.ends_with("\xE2\x80\xA6"));
}

TEST(Template, DefaultsSayWhatHappenedAndResolutionsSaySo) {
  const Templates t = DefaultTemplates();
  const Message opened = MakeMessage();
  EXPECT_EQ(t.title.Render(opened), "[critical] Purge protection disabled on vault kv-cmk");
  EXPECT_EQ(t.title_resolved.Render(MakeMessage(AlertChange::Kind::kResolved)),
            "[resolved] Purge protection disabled on vault kv-cmk");
  const std::string text = t.text.Render(opened);
  for (const std::string& part : {std::string("Alert opened: "), std::string("aif-demo"),
                                  std::string("admin@contoso.example"), opened.alert.why, opened.alert.remediation,
                                  std::string("ev-1, ev-2"), opened.alert.id}) {
    EXPECT_NE(text.find(part), std::string::npos) << part;
  }
}

// ---- text helpers ----

TEST(Text, CutCountsCodePointsAndKeepsThemWhole) {
  EXPECT_EQ(CutText("short", 5), "short");
  EXPECT_EQ(CutText("longer", 5), "long\xE2\x80\xA6");
  const std::string accents = Repeat("\xC3\xA9", 200);  // "é"
  const std::string cut = CutText(accents, 150);
  EXPECT_EQ(Chars(cut), 150u);
  EXPECT_EQ(cut, Repeat("\xC3\xA9", 149) + "\xE2\x80\xA6");
  EXPECT_EQ(CutBytes(accents, 10), Repeat("\xC3\xA9", 3) + "\xE2\x80\xA6");  // 9 bytes: no half "é"
}

TEST(Text, CutNeverSplitsAnEntity) {
  EXPECT_EQ(CutText("ab&amp;cd", 5), "ab\xE2\x80\xA6");
  EXPECT_EQ(CutBytes("ab&quot;cd", 8), "ab\xE2\x80\xA6");
}

TEST(Text, CleanMakesValidUtf8WithoutControls) {
  EXPECT_EQ(CleanText("a\xFF" "b\xC3"), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
  EXPECT_EQ(CleanText("line\r\nnext\ttab\x1B[31m\xC2\x9B"), "line \nnext\ttab [31m ");
  EXPECT_EQ(CleanText("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate is not UTF-8
  EXPECT_EQ(CleanText("caf\xC3\xA9 \xF0\x9F\x94\x91"), "caf\xC3\xA9 \xF0\x9F\x94\x91");
}

// ---- Slack ----

std::vector<std::string> SlackTexts(const json& j) {
  std::vector<std::string> out;
  for (const auto& b : j["blocks"]) {
    if (b.contains("text")) out.push_back(b["text"]["text"]);
    if (b.contains("fields")) {
      for (const auto& f : b["fields"]) out.push_back(f["text"]);
    }
    if (b.contains("elements")) {
      for (const auto& e : b["elements"]) out.push_back(e["text"]);
    }
  }
  return out;
}

TEST(Slack, ShapeAndFields) {
  const json j = json::parse(SlackPayload(MakeMessage(), DefaultTemplates()));
  ASSERT_TRUE(j["text"].is_string());
  EXPECT_NE(j["text"].get<std::string>().find("Alert opened"), std::string::npos);
  const json& blocks = j["blocks"];
  ASSERT_GE(blocks.size(), 4u);
  EXPECT_EQ(blocks[0]["type"], "header");
  EXPECT_EQ(blocks[0]["text"]["type"], "plain_text");
  EXPECT_EQ(blocks[0]["text"]["text"], "[critical] Purge protection disabled on vault kv-cmk");
  EXPECT_EQ(blocks[1]["type"], "section");
  std::vector<std::string> fields;
  for (const auto& f : blocks[1]["fields"]) {
    EXPECT_EQ(f["type"], "mrkdwn");
    fields.push_back(f["text"]);
  }
  EXPECT_EQ(fields, (std::vector<std::string>{"*Severity*\ncritical", "*Rule*\nCMK001",
                                              "*Resource*\n" + std::string(kVault), "*Affected AI resources*\naif-demo",
                                              "*Actor*\nadmin@contoso.example",
                                              "*Time*\n2025-06-01T08:05:00.123456789Z"}));
  EXPECT_EQ(blocks[2]["text"]["text"], "*Why it matters*\n" + MakeAlert().why);
  EXPECT_EQ(blocks[3]["text"]["text"], "*What to do*\n" + MakeAlert().remediation);
  EXPECT_EQ(blocks.back()["type"], "context");
  const std::string context = blocks.back()["elements"][0]["text"];
  EXPECT_NE(context.find("ev-1, ev-2"), std::string::npos);
  EXPECT_NE(context.find("CMK001-0123456789abcdef"), std::string::npos);
}

TEST(Slack, LongTextStaysWithinEveryLimit) {
  Alert a = MakeAlert();
  a.title = Repeat("T\xC3\xA9", 5000);  // 10 KB title
  a.why = Repeat("w&", 5000);
  a.remediation = Repeat("r", 10000);
  a.resource_id = Repeat("/x", 3000);
  a.actor.upn = Repeat("u", 5000);
  a.evidence.assign(analyzer::kMaxEvidence, Repeat("e", 200));
  const json j = json::parse(SlackPayload(MakeMessage(AlertChange::Kind::kOpened, a), DefaultTemplates()));
  const json& blocks = j["blocks"];
  EXPECT_LE(Chars(blocks[0]["text"]["text"].get<std::string>()), 150u);
  EXPECT_TRUE(blocks[0]["text"]["text"].get<std::string>().ends_with("\xE2\x80\xA6"));
  EXPECT_LE(Chars(j["text"].get<std::string>()), 3000u);
  for (const auto& b : blocks) {
    if (b.contains("fields")) {
      EXPECT_LE(b["fields"].size(), 10u);
      for (const auto& f : b["fields"]) EXPECT_LE(Chars(f["text"].get<std::string>()), 2000u);
    } else if (b["type"] == "section") {
      EXPECT_LE(Chars(b["text"]["text"].get<std::string>()), 3000u);
    } else if (b["type"] == "context") {
      for (const auto& e : b["elements"]) EXPECT_LE(Chars(e["text"].get<std::string>()), 3000u);
    }
  }
  EXPECT_LE(blocks.size(), 50u);
}

TEST(Slack, MrkdwnIsEscapedSoAlertTextCannotMentionOrLink) {
  Alert a = MakeAlert();
  a.title = "<!channel> & <https://evil.example|click>";
  a.why = a.title;
  a.actor.upn = "<@U123>";
  const json j = json::parse(SlackPayload(MakeMessage(AlertChange::Kind::kOpened, a), DefaultTemplates()));
  for (const std::string& text : SlackTexts(j)) {
    if (text == j["blocks"][0]["text"]["text"]) continue;  // plain_text: shown as is
    EXPECT_EQ(text.find('<'), std::string::npos) << text;
    EXPECT_EQ(text.find('>'), std::string::npos) << text;
  }
  EXPECT_EQ(j["blocks"][2]["text"]["text"], "*Why it matters*\n&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;");
  const std::string fallback = j["text"];
  EXPECT_EQ(fallback.find("<!channel>"), std::string::npos);
  EXPECT_NE(fallback.find("&lt;!channel&gt; &amp;"), std::string::npos);
  // The header is plain_text, which Slack never parses.
  EXPECT_EQ(j["blocks"][0]["text"]["text"], "[critical] " + a.title);
}

TEST(Slack, ResolutionSaysSoWithAShortBody) {
  const json j = json::parse(SlackPayload(MakeMessage(AlertChange::Kind::kResolved), DefaultTemplates()));
  EXPECT_EQ(j["blocks"][0]["text"]["text"], "[resolved] Purge protection disabled on vault kv-cmk");
  for (const std::string& text : SlackTexts(j)) {
    EXPECT_EQ(text.find("Why it matters"), std::string::npos);
    EXPECT_EQ(text.find("What to do"), std::string::npos);
  }
  EXPECT_NE(j.dump().find("ev-9"), std::string::npos);
}

TEST(Slack, InvalidUtf8StillGivesJson) {
  Alert a = MakeAlert();
  a.title = "bad \xFF\xFE byte";
  const std::string body = SlackPayload(MakeMessage(AlertChange::Kind::kOpened, a), DefaultTemplates());
  const json j = json::parse(body);
  EXPECT_EQ(j["blocks"][0]["text"]["text"], "[critical] bad \xEF\xBF\xBD\xEF\xBF\xBD byte");
}

// ---- Teams ----

std::set<std::string> Keys(const json& j) {
  std::set<std::string> out;
  for (const auto& [k, v] : j.items()) out.insert(k);
  return out;
}

TEST(Teams, ExactlyTheEnvelopeTheWorkflowAccepts) {
  const json j = json::parse(TeamsPayload(MakeMessage(), DefaultTemplates()));
  EXPECT_EQ(Keys(j), (std::set<std::string>{"type", "attachments"}));
  EXPECT_EQ(j["type"], "message");
  ASSERT_EQ(j["attachments"].size(), 1u);
  const json& att = j["attachments"][0];
  EXPECT_EQ(Keys(att), (std::set<std::string>{"contentType", "contentUrl", "content"}));
  EXPECT_EQ(att["contentType"], "application/vnd.microsoft.card.adaptive");
  EXPECT_TRUE(att["contentUrl"].is_null());
  const json& card = att["content"];
  EXPECT_EQ(Keys(card), (std::set<std::string>{"$schema", "type", "version", "body"}));
  EXPECT_EQ(card["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json");
  EXPECT_EQ(card["type"], "AdaptiveCard");
  EXPECT_EQ(card["version"], "1.4");
  const json& body = card["body"];
  ASSERT_GE(body.size(), 2u);
  EXPECT_EQ(body[0]["type"], "TextBlock");
  EXPECT_EQ(body[0]["text"], "[critical] Purge protection disabled on vault kv-cmk");
  bool saw_facts = false, saw_why = false;
  for (const auto& b : body) {
    if (b["type"] == "TextBlock") {
      EXPECT_EQ(b["wrap"], true);
      saw_why |= b["text"] == MakeAlert().why;
    } else {
      ASSERT_EQ(b["type"], "FactSet");
      saw_facts = true;
      std::set<std::string> titles;
      for (const auto& f : b["facts"]) {
        EXPECT_EQ(Keys(f), (std::set<std::string>{"title", "value"}));
        EXPECT_FALSE(f["value"].get<std::string>().empty());
        titles.insert(f["title"]);
      }
      EXPECT_TRUE(titles.count("Severity") && titles.count("Resource") && titles.count("Actor"));
    }
  }
  EXPECT_TRUE(saw_facts);
  EXPECT_TRUE(saw_why);
}

TEST(Teams, MarkdownLinksInAlertTextAreNotLinks) {
  Message m = MakeMessage();
  m.alert.title = "Key deleted [click to restore](https://evil.example/login)";
  m.alert.actor.upn = "[admin](https://evil.example)";
  m.alert.why = "see [docs](https://evil.example) and [more](https://evil.example/2)";
  const json card = json::parse(TeamsPayload(m, DefaultTemplates()))["attachments"][0]["content"];
  std::string all;
  for (const auto& b : card["body"]) {
    if (b.contains("text")) all += b["text"].get<std::string>() + "\n";
    if (b.contains("facts")) {
      for (const auto& f : b["facts"]) all += f["value"].get<std::string>() + "\n";
    }
  }
  EXPECT_EQ(all.find("]("), std::string::npos) << all;
  EXPECT_NE(all.find("click to restore"), std::string::npos) << "the words stay";
  EXPECT_NE(all.find("[docs]\u200b(https://evil.example)"), std::string::npos) << all;
}

TEST(Teams, HugeAlertStaysUnderTheMessageLimit) {
  Alert a = MakeAlert();
  const std::string key = "\xF0\x9F\x94\x91";  // 4 bytes, 1 character
  a.title = a.why = a.remediation = a.resource_id = a.operation = a.actor.upn = a.id = Repeat(key, 20000);
  const std::string body = TeamsPayload(MakeMessage(AlertChange::Kind::kOpened, a), DefaultTemplates());
  EXPECT_LT(body.size(), 28u * 1024);
  EXPECT_TRUE(json::accept(body));
}

// ---- PagerDuty ----

TEST(PagerDuty, SeverityMapping) {
  EXPECT_EQ(PagerDutySeverity(Severity::kCritical), "critical");
  EXPECT_EQ(PagerDutySeverity(Severity::kHigh), "error");
  EXPECT_EQ(PagerDutySeverity(Severity::kMedium), "warning");
  EXPECT_EQ(PagerDutySeverity(Severity::kLow), "warning");
  EXPECT_EQ(PagerDutySeverity(Severity::kInfo), "info");
}

TEST(PagerDuty, TriggerCarriesTheEventsApiFields) {
  const json j = json::parse(PagerDutyPayload(MakeMessage(), DefaultTemplates(), "R0UTINGKEY0000000000000000000000"));
  EXPECT_EQ(Keys(j), (std::set<std::string>{"routing_key", "event_action", "dedup_key", "payload", "client"}));
  EXPECT_EQ(j["routing_key"], "R0UTINGKEY0000000000000000000000");
  EXPECT_EQ(j["event_action"], "trigger");
  EXPECT_EQ(j["dedup_key"], "CMK001-0123456789abcdef");
  EXPECT_EQ(j["client"], "cmkwatch");
  const json& p = j["payload"];
  EXPECT_EQ(p["summary"], "[critical] Purge protection disabled on vault kv-cmk");
  EXPECT_EQ(p["source"], kVault);
  EXPECT_EQ(p["severity"], "critical");
  EXPECT_EQ(p["timestamp"], "2025-06-01T08:05:00.123Z");
  EXPECT_EQ(p["component"], "kv-cmk");
  EXPECT_EQ(p["group"], "CMK001");
  EXPECT_EQ(p["class"], "CMK001");
  EXPECT_EQ(p["custom_details"]["id"], "CMK001-0123456789abcdef");
  EXPECT_EQ(p["custom_details"]["affected"][0], kAccount);
}

TEST(PagerDuty, UpdateTriggersAgainUnderTheSameKey) {
  const json j = json::parse(PagerDutyPayload(MakeMessage(AlertChange::Kind::kUpdated), DefaultTemplates(), "k"));
  EXPECT_EQ(j["event_action"], "trigger");
  EXPECT_EQ(j["dedup_key"], "CMK001-0123456789abcdef");
}

TEST(PagerDuty, ResolveUsesTheTriggersDedupKeyAndStaysSmall) {
  const json trigger = json::parse(PagerDutyPayload(MakeMessage(), DefaultTemplates(), "k"));
  const std::string body = PagerDutyPayload(MakeMessage(AlertChange::Kind::kResolved), DefaultTemplates(), "k");
  const json resolve = json::parse(body);
  EXPECT_EQ(resolve["event_action"], "resolve");
  EXPECT_EQ(resolve["dedup_key"], trigger["dedup_key"]);
  EXPECT_FALSE(resolve.contains("payload"));
  EXPECT_LT(body.size(), 200u);
}

TEST(PagerDuty, SummaryIsCutTo1024Characters) {
  Alert a = MakeAlert();
  a.title = Repeat("\xC3\xA9", 5000);
  a.why = std::string(1 << 20, 'w');
  const std::string body = PagerDutyPayload(MakeMessage(AlertChange::Kind::kOpened, a), DefaultTemplates(), "k");
  const json j = json::parse(body);
  EXPECT_LE(Chars(j["payload"]["summary"].get<std::string>()), 1024u);
  EXPECT_LT(body.size(), 64u * 1024);  // custom_details is bounded too
}

// ---- generic webhook ----

TEST(Webhook, EnvelopeCarriesTheAlertAsAlertToJsonWritesIt) {
  const Message m = MakeMessage(AlertChange::Kind::kUpdated);
  const json j = json::parse(WebhookPayload(m));
  EXPECT_EQ(Keys(j), (std::set<std::string>{"type", "timestamp", "data"}));
  EXPECT_EQ(j["type"], "alert.updated");
  EXPECT_EQ(j["timestamp"], "2025-06-01T08:05:01Z");
  auto back = analyzer::AlertFromJson(j["data"].dump());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m.alert);
}

TEST(Webhook, IdIsStablePerChange) {
  const Message m = MakeMessage();
  EXPECT_EQ(WebhookId(m), "msg_CMK001-0123456789abcdef_42");
  EXPECT_EQ(WebhookId(m), WebhookId(m));
  Message next = m;
  next.seq = 43;
  EXPECT_NE(WebhookId(next), WebhookId(m));
  Alert a = MakeAlert();
  a.id = "x\r\nInjected: 1";
  EXPECT_EQ(WebhookId(MakeMessage(AlertChange::Kind::kOpened, a)).find_first_of("\r\n :"), std::string::npos);
}

// ---- signing ----

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(Signing, Base64Rfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(Bytes(plain)), encoded);
    auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded;
    EXPECT_EQ(*decoded, Bytes(plain));
  }
  EXPECT_EQ(Base64Encode(std::vector<uint8_t>{0xFB, 0xFF}), "+/8=");
}

TEST(Signing, Base64RefusesAnythingElse) {
  for (const char* bad : {"Zg=", "Zg", "Zh==", "Zm9=", "Z===", "====", "Zm9v!A==", "Zg==Zg==", "Zm-v", "Zm9v\n",
                          "Zm_v"}) {
    auto r = Base64Decode(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsInvalidArgument());
    }
  }
}

TEST(Signing, StandardWebhooksTestVector) {
  auto key = DecodeWebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->size(), 24u);
  EXPECT_EQ(WebhookSignature(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(Signing, RandomKeyRoundTripMatchesAnIndependentHmac) {
  std::mt19937 rng(20250601);
  for (size_t size : {24u, 32u, 64u}) {
    std::vector<uint8_t> key(size);
    for (auto& b : key) b = static_cast<uint8_t>(rng());
    const std::string secret = "whsec_" + Base64Encode(key);
    auto decoded = DecodeWebhookSecret(secret);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, key);
    const std::string body = WebhookPayload(MakeMessage());
    const std::string signed_content = "msg_1.1700000000." + body;
    std::vector<uint8_t> mac(EVP_MAX_MD_SIZE);
    unsigned int mac_size = 0;
    ASSERT_NE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                   reinterpret_cast<const unsigned char*>(signed_content.data()), signed_content.size(), mac.data(),
                   &mac_size),
              nullptr);
    mac.resize(mac_size);
    EXPECT_EQ(WebhookSignature(*decoded, "msg_1", 1700000000, body), "v1," + Base64Encode(mac));
    // Any change to the body changes the signature.
    EXPECT_NE(WebhookSignature(*decoded, "msg_1", 1700000000, body + " "),
              WebhookSignature(*decoded, "msg_1", 1700000000, body));
  }
}

TEST(Signing, BadSecretsAreRefusedWithoutQuotingThem) {
  const std::string short_key = "whsec_" + Base64Encode(std::vector<uint8_t>(16, 0xAB));
  const std::string long_key = "whsec_" + Base64Encode(std::vector<uint8_t>(65, 0xAB));
  for (const std::string& bad : {std::string("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), short_key, long_key,
                                 std::string("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!"), std::string("whsec_")}) {
    auto r = DecodeWebhookSecret(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().IsInvalidArgument());
    const std::string body = bad.substr(bad.find('_') == std::string::npos ? 0 : bad.find('_') + 1);
    if (!body.empty()) {
      EXPECT_EQ(r.status().message().find(body), std::string::npos) << r.status().message();
    }
  }
}

// ---- email ----

struct Mail {
  std::vector<std::string> header_lines;  // without CRLF, folded lines kept apart
  std::string raw;
};

// Every line of `raw` ends in CRLF, with no bare CR or LF anywhere.
void ExpectCrlfOnlyAndShortLines(const std::string& raw) {
  size_t start = 0;
  while (start < raw.size()) {
    const size_t end = raw.find("\r\n", start);
    ASSERT_NE(end, std::string::npos) << "last line has no CRLF";
    const std::string line = raw.substr(start, end - start);
    EXPECT_EQ(line.find_first_of("\r\n"), std::string::npos) << line;
    EXPECT_LE(line.size(), 998u) << line.substr(0, 80);
    start = end + 2;
  }
}

std::string HeaderBlock(const std::string& raw) { return raw.substr(0, raw.find("\r\n\r\n") + 2); }

// The unfolded value of a header, or "" (RFC 5322 unfolding: drop the CRLF
// before whitespace).
std::string Header(const std::string& raw, const std::string& name) {
  const std::string head = "\r\n" + HeaderBlock(raw);
  const size_t at = head.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  size_t pos = at + 2 + name.size() + 2;
  std::string value;
  while (true) {
    const size_t end = head.find("\r\n", pos);
    value += head.substr(pos, end - pos);
    if (end + 2 < head.size() && (head[end + 2] == ' ' || head[end + 2] == '\t')) {
      pos = end + 2;
    } else {
      break;
    }
  }
  return value;
}

int Hex(char c) { return c <= '9' ? c - '0' : c - 'A' + 10; }

std::string DecodeQuotedPrintable(std::string_view qp) {
  std::string out;
  for (size_t i = 0; i < qp.size(); ++i) {
    if (qp[i] == '=' && qp.substr(i + 1, 2) == "\r\n") {
      i += 2;
    } else if (qp[i] == '=') {
      out += static_cast<char>(Hex(qp[i + 1]) * 16 + Hex(qp[i + 2]));
      i += 2;
    } else if (qp.substr(i, 2) == "\r\n") {
      out += '\n';
      ++i;
    } else {
      out += qp[i];
    }
  }
  return out;
}

// Decodes RFC 2047 Q encoded words separated by folding whitespace.
std::string DecodeEncodedWords(std::string_view value) {
  std::string out;
  size_t pos = 0;
  while (pos < value.size()) {
    const size_t open = value.find("=?UTF-8?Q?", pos);
    if (open == std::string_view::npos) break;
    const size_t close = value.find("?=", open + 10);
    for (size_t i = open + 10; i < close; ++i) {
      if (value[i] == '_') {
        out += ' ';
      } else if (value[i] == '=') {
        out += static_cast<char>(Hex(value[i + 1]) * 16 + Hex(value[i + 2]));
        i += 2;
      } else {
        out += value[i];
      }
    }
    pos = close + 2;
  }
  return out;
}

// The decoded body of the part whose Content-Type starts with `type`.
std::string Part(const std::string& raw, const std::string& type) {
  const std::string boundary = "--" + raw.substr(raw.find("boundary=\"") + 10,
                                                 raw.find('"', raw.find("boundary=\"") + 10) - raw.find("boundary=\"") - 10);
  size_t at = raw.find("Content-Type: " + type);
  if (at == std::string::npos) return "";
  const size_t body = raw.find("\r\n\r\n", at) + 4;
  const size_t end = raw.find("\r\n" + boundary, body);
  return DecodeQuotedPrintable(std::string_view(raw).substr(body, end - body));
}

EmailOptions MailOptions() {
  EmailOptions o;
  o.from = "cmkwatch <cmkwatch@contoso.example>";
  o.to = {"secops@contoso.example", "oncall@contoso.example"};
  o.domain = "cmkwatch.contoso.example";
  return o;
}

TEST(Email, HeadersForOneChange) {
  const Message m = MakeMessage();
  const std::vector<Message> one = {m};
  const std::string raw = EmailMessage(one, DefaultTemplates(), MailOptions(), At("2025-07-01T10:00:00.5Z"));
  ExpectCrlfOnlyAndShortLines(raw);
  EXPECT_EQ(Header(raw, "From"), "cmkwatch <cmkwatch@contoso.example>");
  EXPECT_EQ(Header(raw, "To"), "secops@contoso.example, oncall@contoso.example");
  EXPECT_EQ(Header(raw, "Subject"), "[critical] Purge protection disabled on vault kv-cmk");
  EXPECT_EQ(Header(raw, "Date"), "Tue, 01 Jul 2025 10:00:00 +0000");
  EXPECT_EQ(Header(raw, "Message-ID"), "<CMK001-0123456789abcdef.42@cmkwatch.contoso.example>");
  EXPECT_EQ(Header(raw, "In-Reply-To"), "<CMK001-0123456789abcdef@cmkwatch.contoso.example>");
  EXPECT_EQ(Header(raw, "References"), "<CMK001-0123456789abcdef@cmkwatch.contoso.example>");
  EXPECT_EQ(Header(raw, "MIME-Version"), "1.0");
  EXPECT_TRUE(Header(raw, "Content-Type").starts_with("multipart/alternative; boundary=\"=_"));
  EXPECT_TRUE(raw.ends_with("--\r\n"));
}

TEST(Email, DatesBeforeAndAfterLeapDays) {
  const std::vector<Message> one = {MakeMessage()};
  EXPECT_EQ(Header(EmailMessage(one, DefaultTemplates(), MailOptions(), At("2024-02-29T23:59:59Z")), "Date"),
            "Thu, 29 Feb 2024 23:59:59 +0000");
  EXPECT_EQ(Header(EmailMessage(one, DefaultTemplates(), MailOptions(), 0), "Date"), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(Header(EmailMessage(one, DefaultTemplates(), MailOptions(), -1), "Date"), "Wed, 31 Dec 1969 23:59:59 +0000");
}

TEST(Email, QuotedPrintableDecodesBackToTheText) {
  Alert a = MakeAlert();
  a.title = "Schl\xC3\xBCssel = gel\xC3\xB6scht " + Repeat("lang ", 100);
  a.why = "trailing space \nand tab\t\n" + Repeat("=", 300) + "\n.dot";
  const Message m = MakeMessage(AlertChange::Kind::kOpened, a);
  const std::vector<Message> one = {m};
  const std::string raw = EmailMessage(one, DefaultTemplates(), MailOptions(), 0);
  ExpectCrlfOnlyAndShortLines(raw);
  EXPECT_EQ(Part(raw, "text/plain"), DefaultTemplates().text.Render(m));
  // Quoted-printable lines are at most 76 characters.
  const std::string body = raw.substr(raw.find("\r\n\r\n"));
  size_t start = 0;
  while (start < body.size()) {
    const size_t end = body.find("\r\n", start);
    EXPECT_LE(end - start, 76u);
    start = end + 2;
  }
}

TEST(Email, NonAsciiSubjectIsEncodedAndDecodesBack) {
  Alert a = MakeAlert();
  a.title = "Schl\xC3\xBCssel gel\xC3\xB6scht \xF0\x9F\x94\x91 " + Repeat("\xC3\xA9", 60);
  const Message m = MakeMessage(AlertChange::Kind::kOpened, a);
  const std::vector<Message> one = {m};
  const std::string raw = EmailMessage(one, DefaultTemplates(), MailOptions(), 0);
  ExpectCrlfOnlyAndShortLines(raw);
  const std::string subject = Header(raw, "Subject");
  EXPECT_TRUE(subject.starts_with("=?UTF-8?Q?")) << subject;
  EXPECT_EQ(DecodeEncodedWords(subject), "[critical] " + a.title);
  // Each encoded word is at most 75 characters (RFC 2047 section 2).
  for (const std::string& line : {HeaderBlock(raw)}) {
    size_t pos = 0;
    while ((pos = line.find("=?UTF-8?Q?", pos)) != std::string::npos) {
      EXPECT_LE(line.find("?=", pos + 10) + 2 - pos, 75u);
      pos += 10;
    }
  }
}

TEST(Email, HtmlPartEscapesAlertText) {
  Alert a = MakeAlert();
  a.title = "<script>alert(1)</script> vault";
  a.why = "<img src=x onerror=alert(1)>";
  const std::vector<Message> one = {MakeMessage(AlertChange::Kind::kOpened, a)};
  const std::string raw = EmailMessage(one, DefaultTemplates(), MailOptions(), 0);
  const std::string html = Part(raw, "text/html");
  ASSERT_FALSE(html.empty());
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt; vault"), std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
}

TEST(Email, AlertTextCannotAddHeaders) {
  Alert a = MakeAlert();
  a.title = "x\r\nBcc: victim@example.com\r\n\r\nbody";
  a.id = "id>\r\nBcc: victim@example.com";
  EmailOptions o = MailOptions();
  o.to.push_back("a@example.com\r\nBcc: victim@example.com");
  const std::vector<Message> one = {MakeMessage(AlertChange::Kind::kOpened, a)};
  const std::string raw = EmailMessage(one, DefaultTemplates(), o, 0);
  ExpectCrlfOnlyAndShortLines(raw);
  EXPECT_EQ(HeaderBlock(raw).find("\r\nBcc:"), std::string::npos);
}

TEST(Email, DigestListsEveryChange) {
  std::vector<Message> changes;
  for (int i = 0; i < 5; ++i) {
    Alert a = MakeAlert();
    a.id = "CMK00" + std::to_string(i) + "-000000000000000" + std::to_string(i);
    a.severity = i < 2 ? Severity::kCritical : Severity::kMedium;
    Message m = MakeMessage(AlertChange::Kind::kOpened, a);
    m.seq = 100 + i;
    changes.push_back(m);
  }
  // A resolved critical needs no look: not counted.
  changes.push_back(MakeMessage(AlertChange::Kind::kResolved));
  changes.back().seq = 105;
  const std::string raw = EmailMessage(changes, DefaultTemplates(), MailOptions(), 0);
  ExpectCrlfOnlyAndShortLines(raw);
  EXPECT_EQ(Header(raw, "Subject"), "[cmkwatch] 6 alert changes (2 critical)");
  EXPECT_EQ(Header(raw, "Message-ID"), "<digest.100-105@cmkwatch.contoso.example>");
  EXPECT_EQ(Header(raw, "In-Reply-To"), "");
  const std::string text = Part(raw, "text/plain");
  const std::string html = Part(raw, "text/html");
  for (const auto& m : changes) {
    EXPECT_NE(text.find(m.alert.id), std::string::npos) << m.alert.id;
    EXPECT_NE(html.find(m.alert.id), std::string::npos) << m.alert.id;
  }
  EXPECT_NE(text.find("resolved: [resolved] Purge protection"), std::string::npos);
}

TEST(Email, DeterministicWithABoundaryNoBodyLineMatches) {
  const std::vector<Message> one = {MakeMessage()};
  const std::string a = EmailMessage(one, DefaultTemplates(), MailOptions(), 0);
  EXPECT_EQ(a, EmailMessage(one, DefaultTemplates(), MailOptions(), 0));
  const std::string value = Header(a, "Content-Type");
  const std::string boundary = value.substr(value.find('"') + 1, value.rfind('"') - value.find('"') - 1);
  // Three delimiters: two parts and the close.
  size_t count = 0;
  for (size_t pos = 0; (pos = a.find(boundary, pos)) != std::string::npos; pos += boundary.size()) ++count;
  EXPECT_EQ(count, 4u);  // the header's parameter and three delimiter lines
  Message other = MakeMessage();
  other.seq = 43;
  const std::vector<Message> next = {other};
  EXPECT_EQ(EmailMessage(next, DefaultTemplates(), MailOptions(), 0).find(boundary), std::string::npos);
}

// ---- syslog ----

TEST(Syslog, OctetCountedRfc5424WithCef) {
  SyslogOptions o;
  o.hostname = "analyzer-1";
  const std::string frame = SyslogFrame(MakeMessage(), DefaultTemplates(), o, At("2025-06-01T08:05:02.123456789Z"), "0.1.0");
  const size_t space = frame.find(' ');
  const std::string rest = frame.substr(space + 1);
  EXPECT_EQ(std::stoul(frame.substr(0, space)), rest.size());
  EXPECT_EQ(rest,
            "<82>1 2025-06-01T08:05:02.123456Z analyzer-1 cmkwatch - ALERT_OPENED - "
            "CEF:0|cmkwatch|cmkwatch|0.1.0|CMK001|[critical] Purge protection disabled on vault kv-cmk|10|"
            "rt=1748765100123 act=opened suser=admin@contoso.example src=198.51.100.23 cs1Label=alertId "
            "cs1=CMK001-0123456789abcdef cs2Label=resource cs2=" +
                std::string(kVault) + " cs3Label=affected cs3=aif-demo cnt=2 msg=" + MakeAlert().why);
}

TEST(Syslog, PriorityFromFacilityAndSeverity) {
  const std::vector<std::pair<Severity, std::string>> cases = {
      {Severity::kCritical, "<82>"}, {Severity::kHigh, "<83>"}, {Severity::kMedium, "<84>"},
      {Severity::kLow, "<85>"},      {Severity::kInfo, "<86>"}};
  for (const auto& [severity, pri] : cases) {
    Alert a = MakeAlert();
    a.severity = severity;
    const std::string frame = SyslogFrame(MakeMessage(AlertChange::Kind::kOpened, a), DefaultTemplates(), {}, 0, "1");
    EXPECT_EQ(frame.substr(frame.find(' ') + 1, pri.size()), pri);
  }
  SyslogOptions local0;
  local0.facility = 16;
  const std::string frame = SyslogFrame(MakeMessage(), DefaultTemplates(), local0, 0, "1");
  EXPECT_EQ(frame.substr(frame.find(' ') + 1, 5), "<130>");
}

TEST(Syslog, CefEscapingInHeaderAndExtensions) {
  Alert a = MakeAlert();
  a.title = "a|b\\c\nd";
  a.rule = "R|1";
  a.why = "x=y\nz\\ end";
  a.actor.upn = "u=v";
  a.actor.ip = "2001:db8::1";
  const std::string frame = SyslogFrame(MakeMessage(AlertChange::Kind::kOpened, a), DefaultTemplates(), {}, 0, "v|1");
  EXPECT_NE(frame.find("|v\\|1|R\\|1|[critical] a\\|b\\\\c d|10|"), std::string::npos) << frame;
  EXPECT_NE(frame.find(" msg=x\\=y\\nz\\\\ end"), std::string::npos) << frame;
  EXPECT_NE(frame.find(" suser=u\\=v "), std::string::npos) << frame;
  EXPECT_NE(frame.find(" c6a2=2001:db8::1 "), std::string::npos) << frame;
  EXPECT_EQ(frame.find(" src="), std::string::npos);
  EXPECT_EQ(frame.find('\n'), std::string::npos);
  const size_t space = frame.find(' ');
  EXPECT_EQ(std::stoul(frame.substr(0, space)), frame.size() - space - 1);
}

TEST(Syslog, HeaderFieldsAreSanitizedAndLengthIsBytes) {
  SyslogOptions o;
  o.hostname = "bad host\n";
  o.app_name = "";
  o.facility = 99;
  Alert a = MakeAlert();
  a.title = Repeat("\xC3\xA9", 3000);
  a.why = Repeat("\xF0\x9F\x94\x91", 3000);
  const std::string frame = SyslogFrame(MakeMessage(AlertChange::Kind::kResolved, a), DefaultTemplates(), o, 0, "1");
  const size_t space = frame.find(' ');
  EXPECT_EQ(std::stoul(frame.substr(0, space)), frame.size() - space - 1);
  EXPECT_NE(frame.find("<82>1 1970-01-01T00:00:00Z bad_host_ - - ALERT_RESOLVED - CEF:0|"), std::string::npos)
      << frame.substr(0, 120);
  EXPECT_LT(frame.size(), 16u * 1024);
}

// ---- what endpoints answer (transport.h) ----

TEST(HttpAnswerTest, RetryAfterTakesSecondsOrAnHttpDateAndNeverOverflows) {
  constexpr int64_t kS = 1'000'000'000;
  const int64_t now = int64_t{784'111'777} * kS;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(ParseRetryAfter("120", now), 120 * kS);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:51:37 GMT", now), 120 * kS);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now), 0) << "a past date means now";
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 3994 08:49:37 GMT", now), int64_t{999'999'999} * kS)
      << "capped, not wrapped (a fuzzer find)";
  for (const char* bad : {"", "-1", "1.5", "soon", "1234567890", "Sun, 06 Nov 1994 08:49:37 UTC"}) {
    EXPECT_FALSE(ParseRetryAfter(bad, now).has_value()) << bad;
  }
}

TEST(HttpAnswerTest, StatusDecidesRetryOrDeadLetterAndTheDetailIsSafeToLog) {
  auto classify = [](int status, std::string retry_after = "", std::string body = "") {
    HttpAnswer a;
    a.status = status;
    a.retry_after = std::move(retry_after);
    a.body = std::move(body);
    return ClassifyHttp(a, 0);
  };
  EXPECT_EQ(classify(200).outcome, SendResult::Outcome::kDelivered);
  EXPECT_EQ(classify(202).outcome, SendResult::Outcome::kDelivered);
  const SendResult limited = classify(429, "7");
  EXPECT_EQ(limited.outcome, SendResult::Outcome::kRetry);
  EXPECT_EQ(limited.retry_after_ns, int64_t{7'000'000'000});
  for (int s : {408, 425, 500, 502, 503}) EXPECT_EQ(classify(s).outcome, SendResult::Outcome::kRetry) << s;
  for (int s : {301, 400, 401, 403, 404, 410, 413}) EXPECT_EQ(classify(s).outcome, SendResult::Outcome::kPermanent) << s;
  HttpAnswer none;
  none.error = "Couldn't connect to server";
  EXPECT_EQ(ClassifyHttp(none, 0).outcome, SendResult::Outcome::kRetry);
  const SendResult forged = classify(400, "", "bad\ntime=x level=info msg=\"forged\"\x1b[2J");
  EXPECT_EQ(forged.detail.find('\n'), std::string::npos);
  EXPECT_EQ(forged.detail.find('\x1b'), std::string::npos);
  EXPECT_LE(classify(500, "", std::string(10'000, 'x')).detail.size(), 220u);
}

}  // namespace
}  // namespace cmkwatch::alerts::internal
