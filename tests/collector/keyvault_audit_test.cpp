// Key Vault AuditEvent parser: the exported form (Storage / Event Hubs) and
// Log Analytics AZKVAuditLogs rows.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cmkwatch/collector/parse.h"
#include "cmkwatch/common/time.h"
#include "kv_fixture_ids.h"
#include "test_support.h"

namespace cmkwatch::test {
namespace {

using collector::Format;

using namespace kv_fixture;  // the fixtures' vault, key and principals
constexpr int64_t kKeyExpiry = int64_t{1798675200} * kNanosPerSecond;  // 2026-12-31T00:00:00Z

int64_t Ts(std::string_view text) {
  auto t = ParseTimestamp(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t.value_or(0);
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty()) out.emplace_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::vector<Event> ParseAll(const std::vector<std::string>& records) {
  std::vector<Event> out;
  for (const auto& r : records) out.push_back(ParseOrFail(r, "kvaudit"));
  return out;
}

std::vector<std::string> ExportedRecords() { return Lines(ReadFileOrFail(FixtureFile("kvaudit/PT1H.json"))); }
std::vector<std::string> AzkvRows() { return SplitRecords(ReadFileOrFail(FixtureFile("kvaudit/azkvauditlogs.json"))); }

Actor MiActor(std::string ip = kMiIp) {
  Actor a;
  a.object_id = kMiOid;
  a.app_id = kMiAppId;
  a.tenant_id = kTenant;
  a.principal_type = "ServicePrincipal";
  a.ip = std::move(ip);
  return a;
}

Actor AdminActor(const char* app_id = kCliAppId) {
  Actor a;
  a.object_id = kAdminOid;
  a.upn = kAdminUpn;
  a.app_id = app_id;
  a.ip = kAdminIp;
  return a;
}

KeyRef Key(std::string version) { return KeyRef{kHost, "foundry-cmk", std::move(version)}; }

void ExpectKeyEvent(const Event& e, std::string_view op, Outcome outcome, int http, const std::string& version) {
  EXPECT_EQ(e.source, Source::kKeyVaultAudit);
  EXPECT_EQ(e.resource_id, kKeyId);
  EXPECT_EQ(e.resource_kind, ResourceKind::kKey);
  EXPECT_EQ(e.operation, op);
  EXPECT_EQ(e.outcome, outcome);
  EXPECT_EQ(e.http_status, http);
  ASSERT_TRUE(e.key.has_value()) << op;
  EXPECT_EQ(*e.key, Key(version));
}


// --- The one real sample: the Key Vault logging docs page. ---

TEST(KeyVaultAuditTest, DocsSampleRecord) {
  CMK_REQUIRE_CORPUS();
  const std::string md = ReadFileOrFail(CorpusFile("microsoftdocs-azure-docs/key-vault_general_logging.md"));
  const size_t open = md.find("```json");
  ASSERT_NE(open, std::string::npos);
  const size_t body = md.find('\n', open) + 1;
  const size_t close = md.find("```", body);
  ASSERT_NE(close, std::string::npos);
  const auto records = SplitRecords(std::string_view(md).substr(body, close - body));
  ASSERT_EQ(records.size(), 1u);

  auto detected = collector::DetectFormat(records[0]);
  ASSERT_TRUE(detected.ok()) << detected.status().ToString();
  EXPECT_EQ(*detected, Format::kKeyVaultAudit);

  const Event e = ParseOrFail(records[0], "kvaudit");
  EXPECT_EQ(e.source, Source::kKeyVaultAudit);
  EXPECT_EQ(e.id.rfind("keyvault_audit:", 0), 0u) << e.id;
  EXPECT_EQ(e.time, Ts("2016-01-05T01:32:01.2691226Z"));
  EXPECT_EQ(e.resource_id,
            "/subscriptions/361da5d4-a47a-4c79-afdd-xxxxxxxxxxxx/resourcegroups/contosogroup/providers/"
            "microsoft.keyvault/vaults/contosokeyvault");
  EXPECT_EQ(e.resource_kind, ResourceKind::kVault);
  EXPECT_EQ(e.operation, "VaultGet");
  EXPECT_EQ(e.outcome, Outcome::kSucceeded);
  EXPECT_EQ(e.http_status, 200);
  EXPECT_EQ(e.correlation_id, "");
  EXPECT_EQ(e.actor.object_id, "d9da5048-2737-4770-bd64-xxxxxxxxxxxx");
  EXPECT_EQ(e.actor.upn, "live.com#username@outlook.com");
  EXPECT_EQ(e.actor.app_id, "1950a258-227b-4e31-a9cf-xxxxxxxxxxxx");
  EXPECT_EQ(e.actor.ip, "104.40.82.76");
  // A vault operation: properties.id (the vault URI) and the ARM request URI
  // name no key.
  EXPECT_FALSE(e.key.has_value());
  EXPECT_TRUE(e.changes.empty());
  EXPECT_EQ(e.raw, records[0]);
}

// --- AZKVAuditLogs: every column of the table schema. ---

TEST(KeyVaultAuditTest, AzkvRowWithAllSchemaColumns) {
  CMK_REQUIRE_CORPUS();
  const auto schema = nlohmann::json::parse(ReadFileOrFail(CorpusFile("azure-sentinel/schemas/AZKVAuditLogs.json")));
  ASSERT_EQ(schema.at("Name"), "AZKVAuditLogs");
  nlohmann::json row = nlohmann::json::object();
  for (const auto& column : schema.at("Properties")) {
    const std::string name = column.at("Name");
    const std::string type = column.at("Type");
    if (type == "string") {
      row[name] = "sample-" + name;
    } else if (type == "datetime") {
      row[name] = "2025-03-14T08:00:00.1234567Z";
    } else if (type == "int") {
      row[name] = 1;
    } else if (type == "bool") {
      row[name] = false;
    } else if (type == "dynamic") {
      row[name] = nlohmann::json::object();
    } else {
      FAIL() << "column type " << type << " not covered by this test";
    }
  }
  ASSERT_EQ(row.size(), 48u);

  // The columns the parser reads, with values of their schema type.
  const std::string key_uri = std::string("https://") + kHost + "/keys/foundry-cmk/" + kV1;
  row["TimeGenerated"] = "2025-03-14T09:15:02.5Z";
  row["OperationName"] = "KeyUnwrap";
  row["ResultType"] = "Success";
  row["ResultSignature"] = "Forbidden";
  row["CallerIpAddress"] = kMiIp;
  row["CorrelationId"] = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
  row["Identity"] = {{"claim", {{"oid", kMiOid}, {"appid", kMiAppId}, {"idtyp", "app"}}}};
  row["Properties"] = {{"clientInfo", "test"}, {"isAccessPolicyMatch", false}};
  row["KeyProperties"] = {{"kty", "RSA-HSM"}, {"key_size", 2048}, {"attributes", {{"enabled", true}}}};
  row["Id"] = key_uri;
  row["RequestUri"] = key_uri + "/unwrapkey?api-version=7.4";
  row["HttpStatusCode"] = 403;
  row["VaultProperties"] = {{"publicNetworkAccess", "Disabled"}};
  row["NetworkAcls"] = {{"defaultAction", "deny"},
                        {"bypass", "azureservices"},
                        {"ipRules", nlohmann::json::array()},
                        {"virtualNetworkRules", {{{"id", "/subscriptions/x/virtualNetworks/v/subnets/s"}}}}};
  row["EnableSoftDelete"] = true;
  row["EnablePurgeProtection"] = true;
  row["SoftDeleteRetentionInDays"] = 7;
  row["EnableRbacAuthorization"] = true;
  row["Type"] = "AZKVAuditLogs";
  row["_ResourceId"] = kVaultId;
  ASSERT_EQ(row.size(), 48u);

  const std::string text = row.dump();
  auto detected = collector::DetectFormat(text);
  ASSERT_TRUE(detected.ok()) << detected.status().ToString();
  EXPECT_EQ(*detected, Format::kKeyVaultAudit);

  const Event e = ParseOrFail(text, "kvaudit");
  EXPECT_EQ(e.time, Ts("2025-03-14T09:15:02.5Z"));
  ExpectKeyEvent(e, "KeyUnwrap", Outcome::kFailed, 403, kV1);
  EXPECT_EQ(e.correlation_id, "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e");
  EXPECT_EQ(e.actor.object_id, kMiOid);
  EXPECT_EQ(e.actor.app_id, kMiAppId);
  EXPECT_EQ(e.actor.ip, kMiIp);
  EXPECT_EQ(e.actor.principal_type, "ServicePrincipal");
  // TenantId is the workspace's tenant column, not the caller's.
  EXPECT_EQ(e.actor.tenant_id, "");
  ASSERT_TRUE(e.changes.vault.has_value());
  const VaultChanges& v = *e.changes.vault;
  EXPECT_EQ(v.enable_soft_delete, true);
  EXPECT_EQ(v.enable_purge_protection, true);
  EXPECT_EQ(v.enable_rbac_authorization, true);
  EXPECT_EQ(v.soft_delete_retention_days, 7);
  EXPECT_EQ(v.public_network_access, "Disabled");
  ASSERT_TRUE(v.network_acls.has_value());
  EXPECT_EQ(*v.network_acls, (NetworkAcls{"Deny", "AzureServices", 0, 1}));
  ASSERT_TRUE(e.changes.key.has_value());
  EXPECT_EQ(e.changes.key->kty, "RSA-HSM");
  EXPECT_EQ(e.changes.key->key_size, 2048);
  EXPECT_EQ(e.changes.key->enabled, true);
}

// --- Hand-made exported records (PT1H.json, one per line). ---

TEST(KeyVaultAuditTest, ExportedKeyDataPlaneOperations) {
  const auto events = ParseAll(ExportedRecords());
  ASSERT_EQ(events.size(), 16u);

  {
    SCOPED_TRACE("line 1: KeyUnwrap by the AI account's managed identity");
    const Event& e = events[0];
    EXPECT_EQ(e.time, Ts("2025-03-14T08:00:00.1234567Z"));
    ExpectKeyEvent(e, "KeyUnwrap", Outcome::kSucceeded, 200, kV1);
    EXPECT_EQ(e.actor, MiActor());
    EXPECT_EQ(e.correlation_id, "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b");
    EXPECT_TRUE(e.changes.empty());
  }
  {
    SCOPED_TRACE("line 2: KeyUnwrap 403, key only in the request URI");
    const Event& e = events[1];
    ExpectKeyEvent(e, "KeyUnwrap", Outcome::kFailed, 403, kV1);
    EXPECT_EQ(e.actor, MiActor());
  }
  {
    SCOPED_TRACE("line 3: KeyUnwrap ForbiddenByFirewall, unversioned request URI");
    const Event& e = events[2];
    ExpectKeyEvent(e, "KeyUnwrap", Outcome::kFailed, 403, "");
    EXPECT_EQ(e.actor, MiActor("198.51.100.23"));
  }
  ExpectKeyEvent(events[3], "KeyWrap", Outcome::kSucceeded, 200, kV1);
  EXPECT_EQ(events[3].actor, MiActor());
  ExpectKeyEvent(events[4], "KeyGet", Outcome::kSucceeded, 200, kV1);
  {
    SCOPED_TRACE("line 6: KeyCreate with key properties");
    const Event& e = events[5];
    ExpectKeyEvent(e, "KeyCreate", Outcome::kSucceeded, 200, kV1);
    EXPECT_EQ(e.actor, AdminActor());
    ASSERT_TRUE(e.changes.key.has_value());
    KeyChanges want;
    want.kty = "RSA";
    want.key_size = 2048;
    want.enabled = true;
    want.expires = kKeyExpiry;
    want.key_ops = {"encrypt", "decrypt", "sign", "verify", "wrapkey", "unwrapkey"};
    EXPECT_EQ(*e.changes.key, want);
    EXPECT_FALSE(e.changes.vault.has_value());
  }
  ExpectKeyEvent(events[6], "KeyRotate", Outcome::kSucceeded, 200, kV2);
  ExpectKeyEvent(events[7], "KeyDelete", Outcome::kSucceeded, 200, "");
  EXPECT_EQ(events[7].actor, AdminActor());
  // deletedkeys/<name> is the same key; 204 is success.
  ExpectKeyEvent(events[8], "KeyPurge", Outcome::kSucceeded, 204, "");
  // deletedkeys/<name>/recover: "recover" is the action, not a version.
  ExpectKeyEvent(events[9], "KeyRecover", Outcome::kSucceeded, 200, "");
  {
    SCOPED_TRACE("line 11: KeyUpdate disabling the key");
    const Event& e = events[10];
    ExpectKeyEvent(e, "KeyUpdate", Outcome::kSucceeded, 200, kV1);
    ASSERT_TRUE(e.changes.key.has_value());
    EXPECT_EQ(e.changes.key->enabled, false);
    EXPECT_EQ(e.changes.key->expires, kKeyExpiry);
    EXPECT_EQ(e.changes.key->kty, "RSA");
    EXPECT_EQ(e.changes.key->key_size, 2048);
  }
}

TEST(KeyVaultAuditTest, ExportedVaultOperations) {
  const auto events = ParseAll(ExportedRecords());
  ASSERT_EQ(events.size(), 16u);
  {
    SCOPED_TRACE("line 12: VaultPatch closing the firewall");
    const Event& e = events[11];
    EXPECT_EQ(e.resource_id, kVaultId);
    EXPECT_EQ(e.resource_kind, ResourceKind::kVault);
    EXPECT_EQ(e.operation, "VaultPatch");
    EXPECT_EQ(e.outcome, Outcome::kSucceeded);
    EXPECT_EQ(e.http_status, 200);
    EXPECT_FALSE(e.key.has_value());
    EXPECT_EQ(e.actor, AdminActor(kPortalAppId));
    ASSERT_TRUE(e.changes.vault.has_value());
    VaultChanges want;
    want.enable_soft_delete = true;
    want.enable_purge_protection = true;
    want.enable_rbac_authorization = false;
    want.soft_delete_retention_days = 90;
    want.public_network_access = "Enabled";
    want.network_acls = NetworkAcls{"Deny", "None", 1, 0};
    EXPECT_EQ(*e.changes.vault, want);
    EXPECT_FALSE(e.changes.key.has_value());
  }
  {
    SCOPED_TRACE("line 13: VaultPut removing the identity's access policy");
    const Event& e = events[12];
    EXPECT_EQ(e.resource_id, kVaultId);
    EXPECT_EQ(e.operation, "VaultPut");
    ASSERT_TRUE(e.changes.vault.has_value());
    const VaultChanges& v = *e.changes.vault;
    EXPECT_EQ(v.access_policy_operation, "remove");
    EXPECT_TRUE(v.added_policies.empty());
    ASSERT_EQ(v.removed_policies.size(), 1u);
    EXPECT_EQ(v.removed_policies[0], (AccessPolicy{kTenant, kMiOid, "", {"get", "unwrapkey", "wrapkey"}}));
    EXPECT_FALSE(v.access_policies.has_value());
    EXPECT_FALSE(v.enable_soft_delete.has_value());
  }
  {
    SCOPED_TRACE("line 14: VaultDelete");
    const Event& e = events[13];
    EXPECT_EQ(e.resource_id, kVaultId);
    EXPECT_EQ(e.resource_kind, ResourceKind::kVault);
    EXPECT_EQ(e.operation, "VaultDelete");
    EXPECT_EQ(e.outcome, Outcome::kSucceeded);
    EXPECT_TRUE(e.changes.empty());
  }
}

TEST(KeyVaultAuditTest, ExportedNotificationAndSecret) {
  const auto events = ParseAll(ExportedRecords());
  ASSERT_EQ(events.size(), 16u);
  {
    SCOPED_TRACE("line 15: KeyNearExpiryEventGridNotification");
    const Event& e = events[14];
    ExpectKeyEvent(e, "KeyNearExpiryEventGridNotification", Outcome::kSucceeded, 200, kV1);
    EXPECT_TRUE(e.actor.empty());
    // The embedded Event Grid payload is not mistaken for changes.
    EXPECT_TRUE(e.changes.empty());
  }
  {
    SCOPED_TRACE("line 16: SecretGet");
    const Event& e = events[15];
    EXPECT_EQ(e.resource_id, kVaultId + "/secrets/openai-endpoint-key");
    EXPECT_EQ(e.resource_kind, ResourceKind::kSecret);
    EXPECT_FALSE(e.key.has_value());
    EXPECT_EQ(e.actor.object_id, "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d");
    EXPECT_EQ(e.actor.app_id, "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e");
  }
}

TEST(KeyVaultAuditTest, EveryFixtureRecordIsDetectedAsKeyVaultAudit) {
  std::vector<std::string> all = ExportedRecords();
  for (auto& r : AzkvRows()) all.push_back(std::move(r));
  ASSERT_EQ(all.size(), 22u);
  for (const auto& r : all) {
    auto f = collector::DetectFormat(r);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(*f, Format::kKeyVaultAudit) << r.substr(0, 200);
    const Event e = ParseOrFail(r);  // auto
    EXPECT_EQ(e.source, Source::kKeyVaultAudit);
  }
}

// --- AZKVAuditLogs rows: the same audit events as exported lines. ---

TEST(KeyVaultAuditTest, AzkvRowsNormalizeLikeExportedRecords) {
  const auto exported = ParseAll(ExportedRecords());
  const auto rows = ParseAll(AzkvRows());
  ASSERT_EQ(exported.size(), 16u);
  ASSERT_EQ(rows.size(), 6u);
  // Row i is the audit event of exported line kSame[i] (fixture README).
  constexpr size_t kSame[] = {0, 1, 11, 12, 10, 5};
  for (size_t i = 0; i < rows.size(); ++i) {
    test::ExpectSameNormalized(rows[i], exported[kSame[i]], "AZKVAuditLogs row " + std::to_string(i + 1));
    // Different bytes, different ids: dedup is per delivered record.
    EXPECT_NE(rows[i].id, exported[kSame[i]].id);
  }
  // Spot checks that the comparison compared something.
  ExpectKeyEvent(rows[1], "KeyUnwrap", Outcome::kFailed, 403, kV1);  // Identity/Properties as JSON text
  ASSERT_TRUE(rows[2].changes.vault.has_value());                   // NetworkAcls/VaultProperties as text
  EXPECT_EQ(rows[2].changes.vault->network_acls, (NetworkAcls{"Deny", "None", 1, 0}));
  EXPECT_EQ(rows[2].changes.vault->public_network_access, "Enabled");
  ASSERT_TRUE(rows[3].changes.vault.has_value());  // removedAccessPolicy in VaultProperties
  EXPECT_EQ(rows[3].changes.vault->removed_policies.size(), 1u);
  ASSERT_TRUE(rows[5].changes.key.has_value());  // KeyProperties as JSON text
  EXPECT_EQ(rows[5].changes.key->key_size, 2048);
}

// --- Edge cases, inline. ---

std::string Record(std::string_view properties, std::string_view extra = "") {
  std::string r = R"({"time":"2025-03-14T08:00:00Z","resourceId":")" + kVaultId +
                  R"(","operationName":"KeyUnwrap","category":"AuditEvent","resultType":"Success",)";
  r += extra;
  r += R"("properties":)";
  r += properties;
  r += "}";
  return r;
}

TEST(KeyVaultAuditTest, RequestUriActionIsNotAVersion) {
  const std::string base = std::string("https://") + kHost;
  struct Case {
    std::string uri;
    std::string version;
  };
  const Case cases[] = {
      {base + "/keys/foundry-cmk/" + kV1 + "/unwrapkey?api-version=7.4", kV1},
      {base + "/keys/foundry-cmk//unwrapkey?api-version=7.4", ""},
      {base + "/keys/foundry-cmk/unwrapkey?api-version=7.4", ""},
      {base + "/keys/foundry-cmk/create?api-version=7.4", ""},
      {base + ":443/keys/Foundry-CMK/" + kV1 + "/WrapKey", kV1},
      {base + "/deletedkeys/foundry-cmk/recover?api-version=7.4", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.uri);
    const Event e = ParseOrFail(Record(R"({"requestUri":")" + c.uri + R"(","httpStatusCode":200})"), "kvaudit");
    ExpectKeyEvent(e, "KeyUnwrap", Outcome::kSucceeded, 200, c.version);
  }
}

TEST(KeyVaultAuditTest, OutcomeWithoutHttpStatusCode) {
  // resultSignature names the status when httpStatusCode is absent.
  Event e = ParseOrFail(Record("{}", R"("resultSignature":"Unauthorized",)"), "kvaudit");
  EXPECT_EQ(e.http_status, 401);
  EXPECT_EQ(e.outcome, Outcome::kFailed);
  // Neither: resultType decides.
  e = ParseOrFail(Record("{}"), "kvaudit");
  EXPECT_EQ(e.http_status, 0);
  EXPECT_EQ(e.outcome, Outcome::kSucceeded);
  // httpStatusCode as a string, durationMs as a number.
  e = ParseOrFail(Record(R"({"httpStatusCode":"403"})", R"("durationMs":12,)"), "kvaudit");
  EXPECT_EQ(e.http_status, 403);
  EXPECT_EQ(e.outcome, Outcome::kFailed);
}

TEST(KeyVaultAuditTest, FieldNamesIgnoreCase) {
  const std::string r = R"({"Time":"2025-03-14T08:00:00Z","ResourceID":")" + kVaultId +
                        R"(","OperationName":"VaultPatch","Category":"AuditEvent","Identity":{"Claim":{"oid":")" +
                        kAdminOid +
                        R"("}},"Properties":{"EnableSoftDelete":"True","NetworkACLs":{"DefaultAction":"Allow"}}})";
  const Event e = ParseOrFail(r, "kvaudit");
  EXPECT_EQ(e.resource_id, kVaultId);
  EXPECT_EQ(e.actor.object_id, kAdminOid);
  ASSERT_TRUE(e.changes.vault.has_value());
  EXPECT_EQ(e.changes.vault->enable_soft_delete, true);
  ASSERT_TRUE(e.changes.vault->network_acls.has_value());
  EXPECT_EQ(e.changes.vault->network_acls->default_action, "Allow");
}

TEST(KeyVaultAuditTest, PrettyPrintedRecordKeepsItsId) {
  const std::string compact = ExportedRecords().at(0);
  // ordered_json keeps the field order; only whitespace differs.
  const std::string pretty = nlohmann::ordered_json::parse(compact).dump(2);
  ASSERT_NE(compact, pretty);
  EXPECT_EQ(ParseOrFail(compact, "kvaudit").id, ParseOrFail(pretty, "kvaudit").id);
}

TEST(KeyVaultAuditTest, MalformedInputIsCorruption) {
  struct Case {
    std::string record;
    std::string message_part;
  };
  const std::string props = R"("properties":{})";
  const Case cases[] = {
      {R"({"time":"2025-03-14T08:00:00Z","operationName":"KeyGet",)", "malformed JSON"},
      {R"({"time":"2025-03-14T08:00:00Z" "operationName":"KeyGet"})", "malformed JSON"},
      {"[1,2,3]", "not a JSON object"},
      {R"({"resourceId":")" + kVaultId + R"(","operationName":"KeyGet",)" + props + "}", "no time"},
      {R"({"time":"yesterday","resourceId":")" + kVaultId + R"(","operationName":"KeyGet"})", "not a timestamp"},
      {R"({"time":"2025-03-14T08:00:00Z","resourceId":")" + kVaultId + R"(",)" + props + "}", "no operationName"},
      {R"({"time":"2025-03-14T08:00:00Z","operationName":"KeyGet",)" + props + "}", "no resourceId"},
      {R"({"TimeGenerated":"2025-03-14T08:00:00Z","OperationName":"KeyGet","Type":"AZKVAuditLogs"})",
       "no _ResourceId"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.record);
    auto r = collector::ParseRecord(c.record, Format::kKeyVaultAudit);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.message_part), std::string::npos) << r.status().ToString();
  }
}

TEST(KeyVaultAuditTest, OtherCategoriesAndTablesAreUnsupported) {
  auto r = collector::ParseRecord(R"({"time":"2025-03-14T08:00:00Z","resourceId":")" + kVaultId +
                                      R"(","operationName":"Microsoft.KeyVault/vaults/write","category":"Administrative"})",
                                  Format::kKeyVaultAudit);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnsupported()) << r.status().ToString();
  r = collector::ParseRecord(R"({"TimeGenerated":"2025-03-14T08:00:00Z","Type":"AzureActivity"})",
                             Format::kKeyVaultAudit);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnsupported()) << r.status().ToString();
}

TEST(KeyVaultAuditTest, DynamicColumnText) {
  const std::string head = R"({"TimeGenerated":"2025-03-14T08:00:00Z","OperationName":"VaultGet","Type":"AZKVAuditLogs",)"
                           R"("_ResourceId":")" + kVaultId + R"(",)";
  // Text that is not JSON (az CLI prints absent dynamic values as "") says nothing.
  const Event e = ParseOrFail(head + R"("Identity":"","NetworkAcls":"n/a","Properties":"null"})", "kvaudit");
  EXPECT_EQ(e.resource_id, kVaultId);
  EXPECT_TRUE(e.actor.empty());
  EXPECT_TRUE(e.changes.empty());
  // Broken JSON text is a broken record, as at the top level.
  auto r = collector::ParseRecord(head + R"("Properties":"{\"id\" \"x\"}"})", Format::kKeyVaultAudit);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("malformed JSON"), std::string::npos) << r.status().ToString();
}

}  // namespace
}  // namespace cmkwatch::test
