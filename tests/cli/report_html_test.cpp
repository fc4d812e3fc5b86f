// The replay report's HTML page (cli/replay_report.h): pure checks on the
// string RenderReportHtml returns, then the page opened in a real browser
// (Debian's headless Chromium) to prove its script renders it, without
// errors, under its own Content-Security-Policy.
#include "replay_report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace cmkwatch::cli {
namespace {

using nlohmann::json;

constexpr std::string_view kDataOpen = "<script type=\"application/json\" id=\"report-data\">";
constexpr std::string_view kScriptBreakout = "</script><script>alert(1)</script>";
constexpr std::string_view kImgBreakout = "<img src=x onerror=alert(document.domain)>";

const std::string kRg = "/subscriptions/6f1c2d7e-0b4a-4c1e-9a51-3e2f8d9c0a11/resourcegroups/rg-ai-prod/providers/";
const std::string kVaultProd = kRg + "microsoft.keyvault/vaults/kv-ai-prod";
const std::string kVaultDr = kRg + "microsoft.keyvault/vaults/kv-ai-dr";
const std::string kKeyProd = kVaultProd + "/keys/cmk-openai";
const std::string kKeyDr = kVaultDr + "/keys/cmk-dr";
const std::string kAi = kRg + "microsoft.cognitiveservices/accounts/oai-contoso-prod";

// "2026-03-14T08:00:00Z" plus `minutes`.
std::string At(int minutes) {
  char text[32];
  std::snprintf(text, sizeof text, "2026-03-14T%02d:%02d:%02dZ", 8 + minutes / 60, minutes % 60, (minutes * 7) % 60);
  return text;
}

std::string EventId(int n) {
  char text[24];
  std::snprintf(text, sizeof text, "%016llx", 0x9e3779b97f4a7c15ULL * static_cast<unsigned long long>(n + 1));
  return text;
}

struct EventSpec {
  const std::string* resource;
  int minute;
  const char* source;
  const char* operation;
  const char* status;
  int http_status;
  const char* summary;
};

// A replay of one morning: a key is disabled, the AI account's unwraps fail
// until it is re-enabled; the DR vault runs without purge protection.
json RealisticReport() {
  const std::vector<EventSpec> specs = {
      {&kVaultProd, 0, "activity_log", "Microsoft.KeyVault/vaults/write", "Succeeded", 200, "vault kv-ai-prod updated"},
      {&kVaultDr, 4, "activity_log", "Microsoft.KeyVault/vaults/write", "Succeeded", 200, "vault kv-ai-dr created"},
      {&kVaultDr, 5, "activity_log", "Microsoft.KeyVault/vaults/write", "Succeeded", 200, "purge protection off"},
      {&kKeyProd, 9, "keyvault_audit", "KeyGet", "Succeeded", 200, "key read by the AI account"},
      {&kKeyProd, 14, "keyvault_audit", "KeyUnwrap", "Succeeded", 200, "unwrap for oai-contoso-prod"},
      {&kAi, 17, "activity_log", "Microsoft.CognitiveServices/accounts/write", "Succeeded", 200,
       "encryption set to kv-ai-prod/cmk-openai"},
      {&kKeyDr, 21, "keyvault_audit", "KeyCreate", "Succeeded", 200, "key cmk-dr created"},
      {&kKeyProd, 33, "keyvault_audit", "KeyUnwrap", "Succeeded", 200, "unwrap for oai-contoso-prod"},
      {&kKeyProd, 48, "keyvault_audit", "KeyWrap", "Succeeded", 200, "wrap for oai-contoso-prod"},
      {&kVaultProd, 56, "keyvault_audit", "VaultGet", "Succeeded", 200, "vault read"},
      {&kKeyProd, 62, "keyvault_audit", "KeyUnwrap", "Succeeded", 200, "unwrap for oai-contoso-prod"},
      {&kKeyDr, 70, "keyvault_audit", "KeyGet", "Succeeded", 200, "key read"},
      {&kKeyProd, 81, "keyvault_audit", "KeyUpdate", "Succeeded", 200, "key cmk-openai disabled (enabled=false)"},
      {&kKeyProd, 84, "keyvault_audit", "KeyUnwrap", "Failed", 403, "unwrap refused: key is disabled"},
      {&kAi, 86, "activity_log", "Microsoft.CognitiveServices/accounts/listKeys/action", "Failed", 409,
       "account cannot reach its key"},
      {&kKeyProd, 91, "keyvault_audit", "KeyUnwrap", "Failed", 403, "unwrap refused: key is disabled"},
      {&kVaultProd, 97, "activity_log", "Microsoft.Authorization/roleAssignments/write", "Succeeded", 201,
       "role assignment for the on-call engineer"},
      {&kKeyProd, 104, "keyvault_audit", "KeyGet", "Succeeded", 200, "key read by the on-call engineer"},
      {&kKeyProd, 112, "keyvault_audit", "KeyUpdate", "Succeeded", 200, "key cmk-openai enabled again"},
      {&kKeyProd, 115, "keyvault_audit", "KeyUnwrap", "Succeeded", 200, "unwrap for oai-contoso-prod"},
      {&kAi, 118, "activity_log", "Microsoft.CognitiveServices/accounts/read", "Succeeded", 200, "account healthy"},
      {&kKeyDr, 126, "keyvault_audit", "KeyGet", "Succeeded", 200, "key read"},
      {&kVaultDr, 131, "keyvault_audit", "VaultGet", "Succeeded", 200, "vault read"},
      {&kKeyProd, 140, "keyvault_audit", "KeyUnwrap", "Succeeded", 200, "unwrap for oai-contoso-prod"},
      {&kKeyProd, 152, "keyvault_audit", "KeyWrap", "Succeeded", 200, "wrap for oai-contoso-prod"},
      {&kVaultProd, 163, "keyvault_audit", "SecretList", "Succeeded", 200, "secrets listed"},
      {&kKeyProd, 171, "keyvault_audit", "KeyUnwrap", "Succeeded", 200, "unwrap for oai-contoso-prod"},
      {&kAi, 176, "activity_log", "Microsoft.CognitiveServices/accounts/deployments/write", "Accepted", 202,
       "deployment gpt-4o updated"},
      {&kKeyDr, 184, "keyvault_audit", "KeyBackup", "Succeeded", 200, "key backed up"},
      {&kKeyProd, 195, "keyvault_audit", "KeyUnwrap", "Succeeded", 200, "unwrap for oai-contoso-prod"},
  };
  std::map<std::string, json> per_resource;
  for (size_t i = 0; i < specs.size(); ++i) {
    const EventSpec& s = specs[i];
    const std::string id = EventId(static_cast<int>(i));
    json raw = {{"time", At(s.minute)},
                {"resourceId", *s.resource},
                {"operationName", s.operation},
                {"resultType", s.status},
                {"resultSignature", std::to_string(s.http_status)},
                {"identity", {{"claim", {{"upn", "oncall@contoso.example"}}}}},
                {"properties", {{"requestUri", "https://kv-ai-prod.vault.azure.net/keys/cmk-openai?api-version=7.4"}}}};
    std::string summary = s.summary;
    if (i == 13) {
      // The first failed unwrap carries a script breakout in its raw record,
      // the way a hostile client could put one in a logged field.
      raw["resultDescription"] = std::string("Operation unwrapKey is not permitted on a disabled key ") +
                                 std::string(kScriptBreakout);
      raw["clientInfo"] = std::string(kImgBreakout);
    }
    if (i == 16) {
      summary += std::string(" ") + std::string(kImgBreakout);
      raw["note"] = "line\xE2\x80\xA8separator & <b>markup</b>";
    }
    json actor = {{"upn", "oncall@contoso.example"}, {"ip", "203.0.113.24"}};
    if (std::string_view(s.source) == "keyvault_audit" && i != 16) {
      actor = {{"object_id", "4b3a9a4e-77f1-4bd7-8a54-1f0c9e1b2d33"}, {"app_id", "oai-contoso-prod-msi"}, {"ip", "10.4.2.17"}};
    }
    per_resource[*s.resource].push_back({{"id", id},
                                         {"time", At(s.minute)},
                                         {"source", s.source},
                                         {"operation", s.operation},
                                         {"status", s.status},
                                         {"http_status", s.http_status},
                                         {"actor", actor},
                                         {"summary", summary},
                                         {"raw", raw.dump()}});
  }
  const auto resource = [&](const std::string& id, const char* kind, const char* name) {
    const json& evs = per_resource[id];
    return json{{"id", id}, {"kind", kind}, {"name", name}, {"events_total", evs.size() + 3},
                {"events", evs}, {"events_omitted", 0}};
  };
  json resources = json::array({resource(kKeyDr, "key", "kv-ai-dr/cmk-dr"), resource(kVaultDr, "vault", "kv-ai-dr"),
                                resource(kKeyProd, "key", "kv-ai-prod/cmk-openai"),
                                resource(kVaultProd, "vault", "kv-ai-prod"),
                                resource(kAi, "ai_account", "oai-contoso-prod")});
  std::sort(resources.begin(), resources.end(),
            [](const json& a, const json& b) { return a["id"].get<std::string>() < b["id"].get<std::string>(); });

  const json alerts = json::array({
      {{"id", "CMK009-5c1f0e2a9b7d3344"}, {"rule", "CMK009"}, {"title", "Purge protection off on kv-ai-dr"},
       {"severity", "high"}, {"status", "open"}, {"resource_id", kVaultDr}, {"affected", json::array()},
       {"operation", "Microsoft.KeyVault/vaults/write"}, {"actor", {{"upn", "oncall@contoso.example"}}},
       {"time", At(5)}, {"first_seen", At(5)}, {"last_seen", At(5)}, {"count", 1}, {"evidence", {EventId(2)}},
       {"why", "A deleted key can be purged at once: the data it protects is lost for good."},
       {"remediation", "Enable purge protection on the vault (it cannot be turned off again)."}},
      {{"id", "CMK003-a8e41f07c2d95b16"}, {"rule", "CMK003"}, {"title", "Key kv-ai-prod/cmk-openai disabled"},
       {"severity", "critical"}, {"status", "resolved"}, {"resource_id", kKeyProd}, {"affected", {kAi}},
       {"operation", "KeyUpdate"}, {"actor", {{"object_id", "4b3a9a4e-77f1-4bd7-8a54-1f0c9e1b2d33"}}},
       {"time", At(81)}, {"first_seen", At(81)}, {"last_seen", At(81)}, {"count", 1}, {"evidence", {EventId(12)}},
       {"why", "oai-contoso-prod cannot unwrap its data key: the service is down until the key is enabled."},
       {"remediation", "Enable the key version, then confirm the account's unwrap calls succeed."},
       {"resolved_at", At(112)}, {"resolved_by", EventId(18)}},
      {{"id", "CMK006-0d7c33b1e95a4f28"}, {"rule", "CMK006"}, {"title", "CMK outage in effect on oai-contoso-prod"},
       {"severity", "critical"}, {"status", "open"}, {"resource_id", kAi}, {"affected", {kAi}},
       {"operation", "KeyUnwrap"}, {"actor", {{"app_id", "oai-contoso-prod-msi"}, {"ip", "10.4.2.17"}}},
       {"time", At(91)}, {"first_seen", At(84)}, {"last_seen", At(91)}, {"count", 3},
       {"evidence", {EventId(13), EventId(14), EventId(15)}},
       {"why", "Requests that need the customer-managed key fail with 403: the AI service is unavailable."},
       {"remediation", "Restore the key's availability (enable it, restore access), then watch for successful unwraps."}},
  });
  return {
      {"cmkwatch_replay_report", 1},
      {"version", "0.1.0"},
      {"input",
       {{"files", json::array({{{"path", "logs/activity-2026-03-14.json"}, {"bytes", 48213},
                                {"sha256", "3f7a1c0e9b2d4f68a1c3e5f7091b2d4f6a8c0e2f4b6d8fa0c2e4f6081a3c5e7f"}},
                               {{"path", "logs/kvaudit-2026-03-14.json.gz"}, {"bytes", 20117},
                                {"sha256", "b1d3f5a7c9e0f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a1"}}})},
        {"since", nullptr}, {"until", nullptr}, {"first_event", At(0)}, {"last_event", At(195)}}},
      {"counts",
       {{"records", 33}, {"events", 30}, {"stored", 30}, {"duplicates", 2}, {"quarantined", 1},
        {"by_source", {{"activity_log", 9}, {"keyvault_audit", 21}}},
        {"alerts_by_rule", {{"CMK003", 1}, {"CMK006", 1}, {"CMK009", 1}}},
        {"alerts_by_severity", {{"critical", 2}, {"high", 1}}}}},
      {"quarantine", json::array({{{"path", "logs/kvaudit-2026-03-14.json.gz"}, {"offset", 18230}, {"line", 412},
                                   {"format", "keyvault_audit"}, {"reason", "record is not a JSON object"}}})},
      {"rules", json::array({{{"id", "CMK003"}, {"title", "Key disabled, expired or near expiry"},
                              {"severity_bound", "critical"}, {"severity_unbound", "info"}},
                             {{"id", "CMK006"}, {"title", "CMK outage in effect"}, {"severity_bound", "critical"},
                              {"severity_unbound", nullptr}},
                             {{"id", "CMK009"}, {"title", "Purge protection off"}, {"severity_bound", "high"},
                              {"severity_unbound", "medium"}}})},
      {"alerts", alerts},
      {"bindings", json::array({{{"ai_resource", kAi}, {"vault", kVaultProd}}})},
      {"resources", resources},
      {"run_hash", "9c2b7e41d05f8a36b1e4c7d9f20a5b8e3c6d1f4a7b0e9c2d5f8a1b4e7c0d3f6a"},
  };
}

json EmptyReport() {
  return {{"cmkwatch_replay_report", 1},
          {"version", "0.1.0"},
          {"input", {{"files", json::array()}, {"since", nullptr}, {"until", nullptr},
                     {"first_event", nullptr}, {"last_event", nullptr}}},
          {"counts", {{"records", 0}, {"events", 0}, {"stored", 0}, {"duplicates", 0}, {"quarantined", 0},
                      {"by_source", json::object()}, {"alerts_by_rule", json::object()},
                      {"alerts_by_severity", json::object()}}},
          {"quarantine", json::array()},
          {"rules", json::array()},
          {"alerts", json::array()},
          {"bindings", json::array()},
          {"resources", json::array()},
          {"run_hash", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}};
}

// Three keys with 2,500 events each: over the page's drawing cap.
json LargeReport() {
  json report = EmptyReport();
  json resources = json::array();
  for (int k = 0; k < 3; ++k) {
    const std::string id = kVaultProd + "/keys/bulk-" + std::to_string(k);
    json events = json::array();
    for (int i = 0; i < 2500; ++i) {
      events.push_back({{"id", EventId(k * 10000 + i)},
                        {"time", At(i % 600)},
                        {"source", "keyvault_audit"},
                        {"operation", "KeyUnwrap"},
                        {"status", i % 97 == 0 ? "Failed" : "Succeeded"},
                        {"http_status", i % 97 == 0 ? 403 : 200},
                        {"actor", {{"app_id", "bulk"}}},
                        {"summary", "unwrap"},
                        {"raw", "{}"}});
    }
    resources.push_back({{"id", id}, {"kind", "key"}, {"name", "kv-ai-prod/bulk-" + std::to_string(k)},
                         {"events_total", 9000}, {"events", events}, {"events_omitted", 500}});
  }
  report["resources"] = resources;
  report["input"]["first_event"] = At(0);
  report["input"]["last_event"] = At(599);
  report["counts"]["events"] = 27000;
  return report;
}

// The text of the embedded data block ("" when there is none).
std::string DataBlock(const std::string& html) {
  const size_t open = html.find(kDataOpen);
  if (open == std::string::npos) return "";
  const size_t begin = open + kDataOpen.size();
  const size_t end = html.find("</script>", begin);
  return end == std::string::npos ? "" : html.substr(begin, end - begin);
}

size_t Count(std::string_view text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(ReportHtml, LoadsNothingFromTheNetwork) {
  const std::string html = RenderReportHtml(RealisticReport());
  // Nothing in the page names a network location to load: no src/href/
  // action/url() with a scheme or a protocol-relative address, no <link>,
  // no @import.
  const std::regex load(R"re((src|href|action|srcset|poster|data)\s*=\s*["']?\s*(https?:)?//)re", std::regex::icase);
  EXPECT_FALSE(std::regex_search(html, load));
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<iframe"), std::string::npos);
  // Outside the data, the only URL is the SVG namespace name (an
  // identifier createElementNS needs, never fetched).
  std::string page = html;
  const std::string data = DataBlock(html);
  ASSERT_FALSE(data.empty());
  page.erase(page.find(data), data.size());
  const std::string svg_ns = "http://www.w3.org/2000/svg";
  for (size_t at = page.find(svg_ns); at != std::string::npos; at = page.find(svg_ns)) page.erase(at, svg_ns.size());
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  // The policy forbids every fetch the page could attempt.
  EXPECT_NE(html.find("default-src 'none'"), std::string::npos);
  // The vault URL in a raw record is data, and stays in the data block.
  EXPECT_NE(data.find("https://kv-ai-prod.vault.azure.net/keys/cmk-openai"), std::string::npos);
}

TEST(ReportHtml, HostileTextNeverAppearsUnescaped) {
  const std::string html = RenderReportHtml(RealisticReport());
  EXPECT_EQ(html.find(kScriptBreakout), std::string::npos);
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<b>markup"), std::string::npos);
  EXPECT_EQ(html.find("\xE2\x80\xA8"), std::string::npos);
  // Exactly the page's two script elements open and close.
  EXPECT_EQ(Count(html, "<script"), 2u);
  EXPECT_EQ(Count(html, "</script"), 2u);
  const std::string data = DataBlock(html);
  EXPECT_EQ(data.find_first_of("<>&"), std::string::npos);
  EXPECT_NE(data.find("\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"), std::string::npos);
  EXPECT_NE(data.find("\\u003cimg src=x onerror=alert(document.domain)\\u003e"), std::string::npos);
  EXPECT_NE(data.find("\\u2028"), std::string::npos);
  EXPECT_NE(data.find("\\u0026"), std::string::npos);
}

TEST(ReportHtml, DataBlockParsesBackToTheReport) {
  for (const json& report : {RealisticReport(), EmptyReport(), json::object()}) {
    const std::string data = DataBlock(RenderReportHtml(report));
    ASSERT_FALSE(data.empty());
    const json back = json::parse(data, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(back.is_discarded());
    EXPECT_EQ(back, report);
  }
}

TEST(ReportHtml, InvalidUtf8FromLogsIsReplacedNotThrown) {
  json report = EmptyReport();
  report["run_hash"] = std::string("bad \xC3\x28 bytes");
  std::string html;
  ASSERT_NO_THROW(html = RenderReportHtml(report));
  const json back = json::parse(DataBlock(html), nullptr, false);
  ASSERT_FALSE(back.is_discarded());
  EXPECT_EQ(back["run_hash"], "bad \xEF\xBF\xBD( bytes");
}

// ---- the page in a real browser -------------------------------------------

constexpr const char* kChromium = "/usr/bin/chromium";

#define CMK_REQUIRE_CHROMIUM()                                                                    \
  do {                                                                                            \
    if (!std::filesystem::exists(kChromium)) {                                                    \
      if (::cmkwatch::test::RunningUnderCi()) FAIL() << kChromium << " missing (package chromium)"; \
      GTEST_SKIP() << kChromium << " not installed (apt-get install chromium)";                   \
    }                                                                                             \
  } while (0)

struct BrowserRun {
  int exit_code = -1;
  std::string dom;  // --dump-dom: the DOM after the page's scripts ran
  std::string log;  // chromium's stderr, console messages included
};

// Writes `html` to a file and runs headless Chromium on it (under a 60 s
// timeout, with its own profile directory) with `mode`: "--dump-dom" or
// "--screenshot=<path>". `fragment` is appended to the file URL.
BrowserRun OpenInChromium(const test::TestDir& dir, const std::string& html, const std::string& mode,
                          const std::string& fragment = "", const std::string& window = "1280,900") {
  const std::filesystem::path page = dir / "report.html";
  {
    std::ofstream out(page, std::ios::binary | std::ios::trunc);
    out << html;
  }
  const test::CommandResult r = test::RunCommand({"/usr/bin/timeout", "60", kChromium, "--headless", "--no-sandbox",
                                                  "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                                                  "--user-data-dir=" + (dir / "profile").string(),
                                                  "--enable-logging=stderr", "--v=0", "--window-size=" + window, mode,
                                                  "file://" + page.string() + fragment});
  EXPECT_NE(r.exit_code, 124) << "chromium timed out";
  return {r.exit_code, r.out, r.err};
}

// What the console said that a working page never says.
void ExpectNoScriptErrors(const BrowserRun& run) {
  EXPECT_EQ(run.log.find("Uncaught"), std::string::npos) << run.log;
  EXPECT_EQ(run.log.find("Content Security Policy"), std::string::npos) << run.log;
}

TEST(ReportHtmlBrowser, ErrorDetectionSeesADeliberateError) {
  CMK_REQUIRE_CHROMIUM();
  // A page whose data block is not JSON: the renderer's JSON.parse throws.
  std::string html = RenderReportHtml(EmptyReport());
  const std::string data = DataBlock(html);
  html.replace(html.find(data), data.size(), "{not json");
  const test::TestDir dir("report-html");
  const BrowserRun run = OpenInChromium(dir, html, "--dump-dom");
  EXPECT_NE(run.log.find("Uncaught SyntaxError"), std::string::npos) << run.log;
  EXPECT_EQ(run.dom.find("data-rendered=\"ok\""), std::string::npos);
}

TEST(ReportHtmlBrowser, RendersLanesSpansAndBindings) {
  CMK_REQUIRE_CHROMIUM();
  const json report = RealisticReport();
  const test::TestDir dir("report-html");
  const BrowserRun run = OpenInChromium(dir, RenderReportHtml(report), "--dump-dom");
  EXPECT_EQ(run.exit_code, 0) << run.log;
  ExpectNoScriptErrors(run);
  EXPECT_NE(run.dom.find("data-rendered=\"ok\""), std::string::npos) << run.dom.substr(0, 2000);
  for (const json& r : report["resources"]) {
    EXPECT_EQ(Count(run.dom, "data-lane=\"" + r["id"].get<std::string>() + "\""), 1u) << r["id"];
  }
  for (const json& a : report["alerts"]) {
    EXPECT_EQ(Count(run.dom, "data-alert=\"" + a["id"].get<std::string>() + "\""), 1u) << a["id"];
    EXPECT_EQ(Count(run.dom, "data-alert-row=\"" + a["id"].get<std::string>() + "\""), 1u) << a["id"];
  }
  // The resolved key alert also marks the AI account it took down.
  EXPECT_EQ(Count(run.dom, "data-alert-affected=\"CMK003-a8e41f07c2d95b16\""), 1u);
  EXPECT_EQ(Count(run.dom, "data-binding=\"" + kAi + " -&gt; " + kVaultProd + "\""), 1u);
  EXPECT_EQ(Count(run.dom, "data-event=\""), 30u);
  EXPECT_NE(run.dom.find("data-lanes=\"5\""), std::string::npos);
  EXPECT_EQ(run.dom.find("<img"), std::string::npos);
  EXPECT_EQ(run.dom.find("data-not-drawn=\""), std::string::npos);
}

TEST(ReportHtmlBrowser, DetailsShowTheRawRecordAsText) {
  CMK_REQUIRE_CHROMIUM();
  const test::TestDir dir("report-html");
  // #event=<id> opens the event's details as a click on its mark does.
  const std::string failed_unwrap = EventId(13);
  const BrowserRun run = OpenInChromium(dir, RenderReportHtml(RealisticReport()), "--dump-dom", "#event=" + failed_unwrap);
  ExpectNoScriptErrors(run);
  EXPECT_NE(run.dom.find("data-rendered=\"ok\""), std::string::npos);
  const size_t pre = run.dom.find("data-raw-of=\"" + failed_unwrap + "\"");
  ASSERT_NE(pre, std::string::npos) << run.dom.substr(0, 2000);
  const std::string raw = run.dom.substr(pre, run.dom.find("</pre>", pre) - pre);
  // The DOM holds the hostile text as text: serialized back, it is escaped.
  EXPECT_NE(raw.find("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos) << raw;
  EXPECT_NE(raw.find("&lt;img src=x onerror=alert(document.domain)&gt;"), std::string::npos) << raw;
  EXPECT_EQ(run.dom.find("<img"), std::string::npos);
  EXPECT_EQ(Count(run.dom, "<script"), 2u);
  EXPECT_NE(run.dom.find("class=\"mark failed selected\""), std::string::npos);
}

TEST(ReportHtmlBrowser, EmptyReportRenders) {
  CMK_REQUIRE_CHROMIUM();
  const test::TestDir dir("report-html");
  const BrowserRun run = OpenInChromium(dir, RenderReportHtml(EmptyReport()), "--dump-dom");
  ExpectNoScriptErrors(run);
  EXPECT_NE(run.dom.find("data-rendered=\"ok\""), std::string::npos) << run.log;
  EXPECT_NE(run.dom.find("data-lanes=\"0\""), std::string::npos);
  EXPECT_NE(run.dom.find("No alerts were raised"), std::string::npos);
}

TEST(ReportHtmlBrowser, LargeReportCapsTheMarksAndSaysSo) {
  CMK_REQUIRE_CHROMIUM();
  const test::TestDir dir("report-html");
  const BrowserRun run = OpenInChromium(dir, RenderReportHtml(LargeReport()), "--dump-dom");
  ExpectNoScriptErrors(run);
  EXPECT_NE(run.dom.find("data-rendered=\"ok\""), std::string::npos) << run.log;
  EXPECT_NE(run.dom.find("data-marks=\"4000\""), std::string::npos);
  EXPECT_NE(run.dom.find("data-not-drawn=\"3500\""), std::string::npos);
  // Failures are drawn first: all 78 of them are on the axis.
  EXPECT_EQ(Count(run.dom, "class=\"mark failed\""), 78u);
}

TEST(ReportHtmlBrowser, ScreenshotIsLeftAsAnArtifact) {
  CMK_REQUIRE_CHROMIUM();
  const test::TestDir dir("report-html");
  const std::filesystem::path shot = std::filesystem::path(CMKWATCH_BUILD_DIR) / "report_html_screenshot.png";
  std::filesystem::remove(shot);
  const BrowserRun run = OpenInChromium(dir, RenderReportHtml(RealisticReport()), "--screenshot=" + shot.string());
  EXPECT_EQ(run.exit_code, 0) << run.log;
  ExpectNoScriptErrors(run);
  const std::string png = test::ReadFileOrFail(shot);
  ASSERT_GT(png.size(), 8u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  // The page itself beside it, to open by hand.
  std::ofstream(shot.parent_path() / "report_html_screenshot.html", std::ios::binary) << RenderReportHtml(RealisticReport());
  std::printf("report screenshot: %s\n", shot.string().c_str());
}

}  // namespace
}  // namespace cmkwatch::cli
