// Activity Log parser: the corpus files in this format (read in place) and
// the hand-made fixtures in tests/fixtures/activity (see its README.md).
// Each test checks the normalized fields a rule needs, not merely that the
// record parsed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cmkwatch/collector/parse.h"
#include "cmkwatch/common/time.h"
#include "test_support.h"

namespace cmkwatch::test {
namespace {

using collector::Format;
using collector::ParseRecord;

constexpr std::string_view kSub = "00000000-0000-0000-0000-0000000000a1";
constexpr std::string_view kTenant = "00000000-0000-0000-0000-0000000000f0";
constexpr std::string_view kUserOid = "00000000-0000-0000-0000-0000000000b1";
constexpr std::string_view kSpOid = "00000000-0000-0000-0000-0000000000d1";
constexpr std::string_view kSpApp = "00000000-0000-0000-0000-0000000000d2";
constexpr std::string_view kAiIdentity = "00000000-0000-0000-0000-0000000000c1";
constexpr std::string_view kKeyVersion = "0123456789abcdef0123456789abcdef";
constexpr std::string_view kCryptoServiceEncryptionUser = "e147488a-f6f5-4113-8e2d-b22465e65bf6";

std::string Rg() { return "/subscriptions/" + std::string(kSub) + "/resourcegroups/rg-ai-foundry"; }
std::string VaultId() { return Rg() + "/providers/microsoft.keyvault/vaults/kv-cmk-demo"; }
std::string AccountId() { return Rg() + "/providers/microsoft.cognitiveservices/accounts/aif-contoso-demo"; }
std::string HubId() { return Rg() + "/providers/microsoft.machinelearningservices/workspaces/mlhub-contoso-demo"; }
std::string UamiId() { return Rg() + "/providers/microsoft.managedidentity/userassignedidentities/uami-cmk"; }

int64_t Ts(std::string_view text) {
  auto t = ParseTimestamp(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t.value_or(0);
}

Event Parse(std::string_view record) { return ParseOrFail(record, "activity"); }

std::vector<std::string> FixtureRecords(std::string_view name) {
  return SplitRecords(ReadFileOrFail(FixtureFile(std::string("activity/") + std::string(name))));
}

// PT1H.json: one JSON object per line.
std::vector<std::string> Lines(std::string_view name) {
  const std::string text = ReadFileOrFail(FixtureFile(std::string("activity/") + std::string(name)));
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Status ParseStatus(std::string_view record) {
  auto r = ParseRecord(record, Format::kActivityLog);
  return r.status();
}

std::vector<std::string> KeyPerms(std::initializer_list<const char*> perms) {
  return std::vector<std::string>(perms.begin(), perms.end());
}

// ---------------------------------------------------------------------------
// Corpus (real, public files; read in place).

TEST(ActivityLogCorpus, OtelAdministrativeExportSchema) {
  CMK_REQUIRE_CORPUS();
  const auto path = CorpusFile("otel-collector-contrib/administrative-log.json");
  const auto records = SplitRecords(ReadFileOrFail(path));
  ASSERT_EQ(records.size(), 2u);
  const std::string diag_id =
      "/subscriptions/11111111-1111-1111-1111-111111111111/providers/microsoft.insights/diagnosticsettings/"
      "example-collect-sample-logs";
  std::vector<std::string> ids;
  for (size_t i = 0; i < records.size(); ++i) {
    SCOPED_TRACE(i);
    Event e = Parse(records[i]);
    EXPECT_EQ(e.source, Source::kActivityLog);
    EXPECT_EQ(e.resource_id, diag_id);
    EXPECT_EQ(e.resource_kind, ResourceKind::kDiagnosticSetting);
    EXPECT_EQ(e.operation, "microsoft.insights/diagnosticsettings/write");
    EXPECT_EQ(e.outcome, Outcome::kStarted);  // resultType Start
    EXPECT_EQ(e.http_status, 0);              // "Started." names no status
    EXPECT_EQ(e.time, Ts(i == 0 ? "2025-04-15T10:16:32.9873441Z" : "2025-04-15T10:16:33.9873441Z"));
    EXPECT_EQ(e.correlation_id, i == 0 ? "aaaaaaaa-bbbb-cccc-dddd-111111111111" : "aaaaaaaa-bbbb-cccc-dddd-222222222222");
    // Long URI claims and short ones alike.
    EXPECT_EQ(e.actor.object_id, "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb");
    EXPECT_EQ(e.actor.app_id, "66666666-6666-6666-6666-666666666666");
    EXPECT_EQ(e.actor.upn, "user@example.com");
    EXPECT_EQ(e.actor.tenant_id, "22222222-2222-2222-2222-222222222222");
    EXPECT_EQ(e.actor.ip, "203.0.113.10");
    EXPECT_EQ(e.actor.principal_type, "User");
    // requestbody is JSON inside a string: parsed into the diagnostic setting.
    ASSERT_TRUE(e.changes.diagnostic_setting.has_value());
    EXPECT_EQ(e.changes.diagnostic_setting->enabled_categories,
              KeyPerms({"Administrative", "Alert", "Autoscale", "Policy", "Recommendation", "ResourceHealth",
                        "Security", "ServiceHealth"}));
    EXPECT_EQ(e.changes.diagnostic_setting->target,
              "/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/example-resource-group/providers/"
              "microsoft.storage/storageaccounts/examplestorageacct");
    EXPECT_FALSE(e.changes.vault || e.changes.account || e.changes.role_assignment || e.changes.key);
    // No eventDataId in the export schema: a hash of the record.
    EXPECT_EQ(e.id.rfind("activity_log:", 0), 0u) << e.id;
    EXPECT_EQ(e.raw, records[i]);
    ids.push_back(e.id);
  }
  EXPECT_NE(ids[0], ids[1]);
}

TEST(ActivityLogCorpus, OtelAdministrativeAutoDetected) {
  CMK_REQUIRE_CORPUS();
  const auto records = SplitRecords(ReadFileOrFail(CorpusFile("otel-collector-contrib/administrative-log.json")));
  ASSERT_FALSE(records.empty());
  for (const auto& record : records) {
    Event e = ParseOrFail(record, "auto");
    EXPECT_EQ(e, Parse(record));
  }
}

TEST(ActivityLogCorpus, RestSchemaFilteredExample) {
  CMK_REQUIRE_CORPUS();
  const auto body = JsonAt(CorpusFile("azure-rest-api-specs/monitor/GetActivityLogsFiltered.json"), "/responses/200/body");
  const auto records = SplitRecords(body);
  ASSERT_EQ(records.size(), 1u);
  Event e = ParseOrFail(records[0], "auto");
  // No resourceId field: the id before "/events/<eventDataId>/ticks/<n>".
  EXPECT_EQ(e.resource_id,
            "/subscriptions/089bd33f-d4ec-47fe-8ba5-0753aa5c5b33/resourcegroups/mssupportgroup/providers/"
            "microsoft.support/supporttickets/115012112305841");
  EXPECT_EQ(e.resource_kind, ResourceKind::kOther);
  EXPECT_EQ(e.operation, "microsoft.support/supporttickets/write");
  EXPECT_EQ(e.outcome, Outcome::kSucceeded);
  EXPECT_EQ(e.http_status, 201);  // properties.statusCode "Created"
  EXPECT_EQ(e.time, Ts("2015-01-21T22:14:26.9792776Z"));
  EXPECT_EQ(e.id, "44ade6b4-3813-45e6-ae27-7420a95fa2f8");
  EXPECT_EQ(e.correlation_id, "1e121103-0ba6-4300-ac9d-952bb5d0c80f");
  EXPECT_EQ(e.actor.upn, "admin@contoso.com");
  EXPECT_EQ(e.actor.object_id, "2468adf0-8211-44e3-95xq-85137af64708");
  EXPECT_EQ(e.actor.tenant_id, "1e8d8218-c5e7-4578-9acc-9abbd5d23315");
  EXPECT_EQ(e.actor.app_id, "c44b4083-3bq0-49c1-b47d-974e53cbdf3c");
  EXPECT_EQ(e.actor.ip, "192.168.35.115");  // httpRequest.clientIpAddress
  EXPECT_TRUE(e.changes.empty());
}

TEST(ActivityLogCorpus, CloudCustodianEventtypesResponse) {
  CMK_REQUIRE_CORPUS();
  const std::string text =
      ReadFileOrFail(CorpusFile("cloud-custodian/FunctionalActionsTagsTest.test_autotag_user_and_date.json"));
  auto cassette = nlohmann::json::parse(text, nullptr, false);
  ASSERT_FALSE(cassette.is_discarded());
  std::string body;
  for (const auto& interaction : cassette["interactions"]) {
    const std::string uri = interaction["request"].value("uri", "");
    if (uri.find("microsoft.insights/eventtypes") == std::string::npos) continue;
    const auto& b = interaction["response"]["body"];
    body = b.contains("data") ? b["data"].dump() : b.value("string", "");
  }
  ASSERT_FALSE(body.empty()) << "no eventtypes interaction in the cassette";
  const auto records = SplitRecords(body);
  ASSERT_EQ(records.size(), 1u);
  Event e = ParseOrFail(records[0], "auto");
  EXPECT_EQ(e.resource_id,
            "/subscriptions/ea42f556-5106-4743-99b0-c129bfa71a47/resourcegroups/test_vm/providers/"
            "microsoft.compute/virtualmachines/cctestvm");
  EXPECT_EQ(e.resource_kind, ResourceKind::kOther);
  EXPECT_EQ(e.operation, "microsoft.compute/virtualmachines/write");
  EXPECT_EQ(e.time, Ts("2019-05-01T15:20:04.8336028Z"));
  EXPECT_EQ(e.actor.upn, "john@doe.com");  // caller
  EXPECT_EQ(e.id, "37bf930a-fbb8-4c8c-9cc7-057cc1805c04");  // from the REST id
  EXPECT_EQ(e.outcome, Outcome::kUnknown);  // $select left status out
}

// ---------------------------------------------------------------------------
// Hand-made fixtures, export schema.

TEST(ActivityLogFixtures, VaultWriteStartAndSuccess) {
  const auto records = FixtureRecords("export_vault_write.json");
  ASSERT_EQ(records.size(), 2u);
  Event start = Parse(records[0]);
  Event done = Parse(records[1]);
  for (const Event* e : {&start, &done}) {
    EXPECT_EQ(e->resource_id, VaultId());  // sent in upper case
    EXPECT_EQ(e->resource_kind, ResourceKind::kVault);
    EXPECT_EQ(e->operation, "microsoft.keyvault/vaults/write");
    EXPECT_EQ(e->correlation_id, "10000000-0000-0000-0000-000000000001");
    EXPECT_EQ(e->actor.object_id, kUserOid);
    EXPECT_EQ(e->actor.upn, "alex@contoso.example");
    EXPECT_EQ(e->actor.ip, "198.51.100.23");
    EXPECT_EQ(e->actor.tenant_id, kTenant);
    EXPECT_EQ(e->actor.principal_type, "User");
    EXPECT_FALSE(e->key.has_value());
    ASSERT_TRUE(e->changes.vault.has_value());
    const VaultChanges& v = *e->changes.vault;
    EXPECT_EQ(v.enable_soft_delete, true);
    EXPECT_EQ(v.enable_purge_protection, true);
    EXPECT_EQ(v.enable_rbac_authorization, false);
    EXPECT_EQ(v.soft_delete_retention_days, 90);
    ASSERT_TRUE(v.network_acls.has_value());
    EXPECT_EQ(v.network_acls->default_action, "Deny");
    EXPECT_EQ(v.network_acls->bypass, "None");
    EXPECT_EQ(v.network_acls->ip_rules, 1u);
    EXPECT_EQ(v.network_acls->virtual_network_rules, 0u);
    ASSERT_TRUE(v.access_policies.has_value());
    ASSERT_EQ(v.access_policies->size(), 2u);
    EXPECT_EQ((*v.access_policies)[0].object_id, kAiIdentity);
    EXPECT_EQ((*v.access_policies)[0].key_permissions, KeyPerms({"get", "unwrapkey", "wrapkey"}));
    EXPECT_EQ((*v.access_policies)[1].key_permissions, KeyPerms({"create", "delete", "get", "list", "purge"}));
    EXPECT_TRUE(v.access_policy_operation.empty());
    EXPECT_EQ(v.tenant_id, kTenant);
  }
  EXPECT_EQ(start.outcome, Outcome::kStarted);
  EXPECT_EQ(start.http_status, 0);
  EXPECT_EQ(start.time, Ts("2025-05-12T09:30:01.1234567Z"));
  EXPECT_TRUE(start.changes.vault->vault_uri.empty());  // the request does not say it
  EXPECT_EQ(done.outcome, Outcome::kSucceeded);
  EXPECT_EQ(done.http_status, 200);
  // The resulting state (responseBody) is preferred over the request.
  EXPECT_EQ(done.changes.vault->vault_uri, "https://kv-cmk-demo.vault.azure.net/");
  EXPECT_EQ(done.changes.vault->location, "westeurope");
  EXPECT_NE(start.id, done.id);
}

TEST(ActivityLogFixtures, AccessPolicyRemoveTargetsVault) {
  const auto records = FixtureRecords("export_access_policy_remove.json");
  ASSERT_EQ(records.size(), 1u);
  Event e = Parse(records[0]);
  EXPECT_EQ(e.resource_id, VaultId());  // not ".../accesspolicies/remove"
  EXPECT_EQ(e.resource_kind, ResourceKind::kVault);
  EXPECT_EQ(e.operation, "microsoft.keyvault/vaults/accesspolicies/write");
  EXPECT_EQ(e.outcome, Outcome::kSucceeded);
  EXPECT_EQ(e.http_status, 200);
  EXPECT_EQ(e.actor.ip, "198.51.100.24");  // callerIpAddress outranks the ipaddr claim
  ASSERT_TRUE(e.changes.vault.has_value());
  const VaultChanges& v = *e.changes.vault;
  EXPECT_EQ(v.access_policy_operation, "remove");
  EXPECT_FALSE(v.access_policies.has_value());  // incremental, not the vault's full list
  EXPECT_TRUE(v.added_policies.empty());
  ASSERT_EQ(v.removed_policies.size(), 1u);
  EXPECT_EQ(v.removed_policies[0].object_id, kAiIdentity);
  EXPECT_EQ(v.removed_policies[0].tenant_id, kTenant);
  EXPECT_EQ(v.removed_policies[0].key_permissions, KeyPerms({"get", "unwrapkey", "wrapkey"}));
}

TEST(ActivityLogFixtures, VaultDelete) {
  const auto records = FixtureRecords("export_vault_delete.json");
  ASSERT_EQ(records.size(), 1u);
  Event e = Parse(records[0]);
  EXPECT_EQ(e.resource_id, VaultId());
  EXPECT_EQ(e.resource_kind, ResourceKind::kVault);
  EXPECT_EQ(e.operation, "microsoft.keyvault/vaults/delete");
  EXPECT_EQ(e.outcome, Outcome::kSucceeded);
  EXPECT_EQ(e.http_status, 200);
  EXPECT_EQ(e.time, Ts("2025-05-12T11:15:42.0000001Z"));
  EXPECT_EQ(e.actor.object_id, kUserOid);
  EXPECT_TRUE(e.changes.empty());  // no bodies on a delete
}

TEST(ActivityLogFixtures, RoleAssignmentDeleteNamesDeletedGrant) {
  const auto records = FixtureRecords("export_role_assignment_delete.json");
  ASSERT_EQ(records.size(), 2u);
  const std::string ra_id =
      VaultId() + "/providers/microsoft.authorization/roleassignments/00000000-0000-0000-0000-0000000000ab";
  Event start = Parse(records[0]);
  Event done = Parse(records[1]);
  for (const Event* e : {&start, &done}) {
    EXPECT_EQ(e->resource_id, ra_id);
    EXPECT_EQ(e->resource_kind, ResourceKind::kRoleAssignment);
    EXPECT_EQ(e->operation, "microsoft.authorization/roleassignments/delete");
    // A service principal: short claims, evidence with a dash-less id.
    EXPECT_EQ(e->actor.object_id, kSpOid);
    EXPECT_EQ(e->actor.app_id, kSpApp);
    EXPECT_EQ(e->actor.principal_type, "ServicePrincipal");
    EXPECT_EQ(e->actor.ip, "192.0.2.44");
    EXPECT_TRUE(e->actor.upn.empty());
  }
  EXPECT_EQ(start.outcome, Outcome::kStarted);
  EXPECT_TRUE(start.changes.empty());
  EXPECT_EQ(done.outcome, Outcome::kSucceeded);
  ASSERT_TRUE(done.changes.role_assignment.has_value());
  const RoleAssignmentChanges& ra = *done.changes.role_assignment;
  EXPECT_EQ(ra.principal_id, kAiIdentity);
  EXPECT_EQ(ra.principal_type, "ServicePrincipal");
  EXPECT_EQ(ra.role_definition_id, kCryptoServiceEncryptionUser);
  EXPECT_EQ(ra.scope, VaultId());
}

TEST(ActivityLogFixtures, AiAccountWriteSystemAssigned) {
  const auto records = FixtureRecords("export_ai_account_write_system.json");
  ASSERT_EQ(records.size(), 1u);
  Event e = Parse(records[0]);
  EXPECT_EQ(e.resource_id, AccountId());
  EXPECT_EQ(e.resource_kind, ResourceKind::kAiAccount);
  EXPECT_EQ(e.operation, "microsoft.cognitiveservices/accounts/write");
  EXPECT_EQ(e.outcome, Outcome::kSucceeded);
  EXPECT_EQ(e.http_status, 200);
  ASSERT_TRUE(e.changes.account.has_value());
  const AccountChanges& a = *e.changes.account;
  EXPECT_EQ(a.kind, "AIServices");
  EXPECT_EQ(a.location, "westeurope");
  EXPECT_EQ(a.key_source, "Microsoft.KeyVault");
  EXPECT_EQ(a.key_vault_uri, "https://kv-cmk-demo.vault.azure.net/");
  EXPECT_EQ(a.key_name, "cmk-key");
  EXPECT_EQ(a.key_version, kKeyVersion);
  EXPECT_EQ(a.identity_type, "SystemAssigned");
  EXPECT_EQ(a.principal_id, kAiIdentity);  // only the response knows it
  EXPECT_EQ(a.tenant_id, kTenant);
  EXPECT_TRUE(a.identity_client_id.empty());
}

TEST(ActivityLogFixtures, AiAccountWriteUserAssignedStart) {
  const auto records = FixtureRecords("export_ai_account_write_user_assigned.json");
  ASSERT_EQ(records.size(), 1u);
  Event e = Parse(records[0]);
  EXPECT_EQ(e.resource_id, AccountId());
  EXPECT_EQ(e.operation, "microsoft.cognitiveservices/accounts/write");
  EXPECT_EQ(e.outcome, Outcome::kStarted);
  ASSERT_TRUE(e.changes.account.has_value());  // from the requestbody alone
  const AccountChanges& a = *e.changes.account;
  EXPECT_EQ(a.identity_type, "UserAssigned");
  EXPECT_EQ(a.user_assigned_identities, std::vector<std::string>{UamiId()});
  EXPECT_EQ(a.identity_client_id, "00000000-0000-0000-0000-0000000000c2");
  EXPECT_EQ(a.key_source, "Microsoft.KeyVault");
  EXPECT_EQ(a.key_name, "cmk-key");
  EXPECT_EQ(a.key_version, kKeyVersion);
  EXPECT_EQ(a.key_vault_uri, "https://kv-cmk-demo.vault.azure.net/");
  EXPECT_EQ(e.actor.object_id, kSpOid);
  EXPECT_EQ(e.actor.principal_type, "ServicePrincipal");
}

TEST(ActivityLogFixtures, MlHubWorkspaceWrite) {
  const auto records = FixtureRecords("export_ml_hub_write.json");
  ASSERT_EQ(records.size(), 1u);
  Event e = Parse(records[0]);
  EXPECT_EQ(e.resource_id, HubId());
  EXPECT_EQ(e.resource_kind, ResourceKind::kMlWorkspace);
  EXPECT_EQ(e.operation, "microsoft.machinelearningservices/workspaces/write");
  EXPECT_EQ(e.outcome, Outcome::kAccepted);  // resultType Accept
  EXPECT_EQ(e.http_status, 201);             // statusCode Created
  ASSERT_TRUE(e.changes.account.has_value());
  const AccountChanges& a = *e.changes.account;
  EXPECT_EQ(a.kind, "Hub");
  EXPECT_EQ(a.encryption_status, "Enabled");
  EXPECT_EQ(a.key_vault_arm_id, VaultId());  // sent in upper case
  EXPECT_EQ(a.key_vault_uri, "https://kv-cmk-demo.vault.azure.net/");
  EXPECT_EQ(a.key_name, "cmk-key");
  EXPECT_EQ(a.key_version, kKeyVersion);
  EXPECT_EQ(a.key_source, "Microsoft.KeyVault");
  EXPECT_EQ(a.principal_id, "00000000-0000-0000-0000-0000000000c4");
}

TEST(ActivityLogFixtures, DiagnosticSettingDeleteOnVault) {
  const auto records = FixtureRecords("export_diagnostic_setting_delete.json");
  ASSERT_EQ(records.size(), 1u);
  Event e = Parse(records[0]);
  EXPECT_EQ(e.resource_id, VaultId() + "/providers/microsoft.insights/diagnosticsettings/send-to-law");
  EXPECT_EQ(e.resource_kind, ResourceKind::kDiagnosticSetting);
  EXPECT_EQ(e.operation, "microsoft.insights/diagnosticsettings/delete");
  EXPECT_EQ(e.outcome, Outcome::kSucceeded);
  EXPECT_EQ(e.http_status, 200);
  EXPECT_TRUE(e.changes.empty());
}

TEST(ActivityLogFixtures, AllExportFixturesAutoDetectAsActivityLog) {
  for (const char* name :
       {"export_vault_write.json", "export_access_policy_remove.json", "export_vault_delete.json",
        "export_role_assignment_delete.json", "export_ai_account_write_system.json",
        "export_ai_account_write_user_assigned.json", "export_ml_hub_write.json",
        "export_diagnostic_setting_delete.json", "rest_list.json", "azure_activity_rows.json"}) {
    SCOPED_TRACE(name);
    for (const auto& record : FixtureRecords(name)) {
      auto format = collector::DetectFormat(record);
      ASSERT_TRUE(format.ok()) << format.status().ToString();
      EXPECT_EQ(*format, Format::kActivityLog);
      EXPECT_EQ(ParseOrFail(record, "auto"), Parse(record));
    }
  }
}

// ---------------------------------------------------------------------------
// PT1H.json: one record per line, as the Storage export writes it.

TEST(ActivityLogFixtures, StorageBlobLines) {
  const auto lines = Lines("PT1H.json");
  ASSERT_EQ(lines.size(), 6u);
  std::vector<Event> events;
  for (const auto& line : lines) events.push_back(ParseOrFail(line, "auto"));

  // Failed write: outcome and 403 from the record; the error responseBody
  // says nothing, so the changes are what was attempted (requestbody).
  const Event& failed = events[2];
  EXPECT_EQ(failed.resource_id, VaultId());
  EXPECT_EQ(failed.outcome, Outcome::kFailed);
  EXPECT_EQ(failed.http_status, 403);
  ASSERT_TRUE(failed.changes.vault.has_value());
  EXPECT_EQ(failed.changes.vault->enable_purge_protection, false);
  EXPECT_FALSE(failed.changes.vault->enable_soft_delete.has_value());

  // ARM key write, versioned id: resource is the key, version in event.key.
  const Event& key = events[3];
  EXPECT_EQ(key.resource_id, VaultId() + "/keys/cmk-key");
  EXPECT_EQ(key.resource_kind, ResourceKind::kKey);
  EXPECT_EQ(key.operation, "microsoft.keyvault/vaults/keys/write");
  EXPECT_EQ(key.http_status, 201);
  ASSERT_TRUE(key.key.has_value());
  EXPECT_EQ(key.key->vault, "kv-cmk-demo.vault.azure.net");
  EXPECT_EQ(key.key->name, "cmk-key");
  EXPECT_EQ(key.key->version, kKeyVersion);
  ASSERT_TRUE(key.changes.key.has_value());
  EXPECT_EQ(key.changes.key->kty, "RSA-HSM");
  EXPECT_EQ(key.changes.key->key_size, 3072);
  EXPECT_EQ(key.changes.key->enabled, true);
  EXPECT_EQ(key.changes.key->expires, 1778572800 * kNanosPerSecond);
  EXPECT_EQ(key.changes.key->key_ops, KeyPerms({"wrapkey", "unwrapkey"}));

  // Another resource type: kept, bodies not interpreted.
  const Event& vm = events[4];
  EXPECT_EQ(vm.resource_kind, ResourceKind::kOther);
  EXPECT_EQ(vm.operation, "microsoft.compute/virtualmachines/write");
  EXPECT_TRUE(vm.changes.empty());

  for (const auto& e : events) EXPECT_EQ(e.id.rfind("activity_log:", 0), 0u);
}

TEST(ActivityLogFixtures, RequestBodyAsStringOrObjectGivesSameChanges) {
  const auto lines = Lines("PT1H.json");
  ASSERT_GE(lines.size(), 2u);
  ASSERT_NE(lines[0].find("\"requestbody\":{"), std::string::npos);  // object form
  ASSERT_NE(lines[1].find("\"requestbody\":\""), std::string::npos);  // string form
  Event as_object = Parse(lines[0]);
  Event as_string = Parse(lines[1]);
  ASSERT_TRUE(as_object.changes.vault.has_value());
  EXPECT_EQ(as_object.changes, as_string.changes);
  EXPECT_EQ(as_object.changes.vault->network_acls->default_action, "Deny");
  EXPECT_EQ(as_object.changes.vault->enable_purge_protection, true);
  // Line 0 sends the ids in upper case, line 1 as written: same canonical values.
  EXPECT_EQ(as_object.resource_id, as_string.resource_id);
  EXPECT_EQ(as_object.operation, as_string.operation);
  EXPECT_EQ(as_object.resource_id, VaultId());
}

TEST(ActivityLogFixtures, LateFieldOrder) {
  const auto lines = Lines("PT1H.json");
  ASSERT_EQ(lines.size(), 6u);
  const std::string& late = lines[5];
  ASSERT_LT(late.find("\"properties\""), late.find("\"operationName\""));
  Event e = Parse(late);
  EXPECT_EQ(e.resource_id, VaultId());
  EXPECT_EQ(e.operation, "microsoft.keyvault/vaults/write");
  EXPECT_EQ(e.outcome, Outcome::kSucceeded);
  EXPECT_EQ(e.http_status, 200);
  ASSERT_TRUE(e.changes.vault.has_value());
  EXPECT_EQ(e.changes.vault->enable_soft_delete, true);
  EXPECT_EQ(e.changes.vault->enable_purge_protection, false);
  EXPECT_EQ(e.changes.vault->network_acls->default_action, "Allow");
  EXPECT_EQ(e.changes.vault->network_acls->bypass, "AzureServices");
}

TEST(ActivityLogFixtures, LateFieldOrderWithStringBody) {
  const std::string record = R"({"properties":{"statusCode":"OK","requestbody":"{\"properties\":{\"enablePurgeProtection\":true}}"},
    "time":"2025-05-12T16:04:00Z","resultType":"Success","operationName":"Microsoft.KeyVault/vaults/write",
    "resourceId":"/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg-ai-foundry/providers/Microsoft.KeyVault/vaults/kv-cmk-demo","category":"Administrative"})";
  Event e = Parse(record);
  EXPECT_EQ(e.resource_id, VaultId());
  ASSERT_TRUE(e.changes.vault.has_value());
  EXPECT_EQ(e.changes.vault->enable_purge_protection, true);
}

TEST(ActivityLogFixtures, CaseOfOperationAndResourceIdDoesNotMatter) {
  const std::string lower = R"({"time":"2025-05-12T16:00:00Z","resourceId":"/subscriptions/00000000-0000-0000-0000-0000000000a1/resourcegroups/rg-ai-foundry/providers/microsoft.keyvault/vaults/kv-cmk-demo/accesspolicies/replace","operationName":"microsoft.keyvault/vaults/accesspolicies/write","category":"Administrative","resultType":"Success","properties":{"requestbody":"{\"properties\":{\"accessPolicies\":[{\"tenantId\":\"00000000-0000-0000-0000-0000000000f0\",\"objectId\":\"00000000-0000-0000-0000-0000000000c1\",\"permissions\":{\"keys\":[\"get\"]}}]}}"}})";
  std::string upper = lower;
  for (const char* from : {"/subscriptions/00000000-0000-0000-0000-0000000000a1/resourcegroups/rg-ai-foundry/"
                           "providers/microsoft.keyvault/vaults/kv-cmk-demo/accesspolicies/replace",
                           "microsoft.keyvault/vaults/accesspolicies/write"}) {
    const std::string f(from);
    std::string to = f;
    for (char& c : to) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const size_t at = upper.find(f);
    ASSERT_NE(at, std::string::npos);
    upper.replace(at, f.size(), to);
  }
  ASSERT_NE(upper, lower);
  Event a = Parse(lower);
  Event b = Parse(upper);
  EXPECT_EQ(a.resource_id, VaultId());
  EXPECT_EQ(a.resource_id, b.resource_id);
  EXPECT_EQ(a.operation, "microsoft.keyvault/vaults/accesspolicies/write");
  EXPECT_EQ(a.operation, b.operation);
  EXPECT_EQ(a.changes, b.changes);
  ASSERT_TRUE(b.changes.vault.has_value());
  EXPECT_EQ(b.changes.vault->access_policy_operation, "replace");
  ASSERT_EQ(b.changes.vault->added_policies.size(), 1u);
  EXPECT_EQ(b.changes.vault->added_policies[0].key_permissions, KeyPerms({"get"}));
}

// ---------------------------------------------------------------------------
// REST schema and Log Analytics.

TEST(ActivityLogFixtures, RestSchemaList) {
  const auto records = FixtureRecords("rest_list.json");
  ASSERT_EQ(records.size(), 3u);

  Event account = Parse(records[0]);
  EXPECT_EQ(account.resource_id, AccountId());
  EXPECT_EQ(account.operation, "microsoft.cognitiveservices/accounts/write");
  EXPECT_EQ(account.outcome, Outcome::kSucceeded);
  EXPECT_EQ(account.http_status, 200);
  EXPECT_EQ(account.id, "30000000-0000-0000-0000-0000000000a1");  // eventDataId, lower-cased
  EXPECT_EQ(account.time, Ts("2025-05-13T08:00:00.1Z"));
  EXPECT_EQ(account.actor.upn, "alex@contoso.example");
  EXPECT_EQ(account.actor.object_id, kUserOid);
  EXPECT_EQ(account.actor.ip, "198.51.100.23");
  EXPECT_EQ(account.correlation_id, "20000000-0000-0000-0000-000000000001");
  ASSERT_TRUE(account.changes.account.has_value());
  EXPECT_EQ(account.changes.account->key_source, "Microsoft.CognitiveServices");  // CMK turned off
  EXPECT_TRUE(account.changes.account->key_vault_uri.empty());
  EXPECT_EQ(account.changes.account->principal_id, kAiIdentity);

  Event policy = Parse(records[1]);
  EXPECT_EQ(policy.resource_id, VaultId());
  EXPECT_EQ(policy.operation, "microsoft.keyvault/vaults/accesspolicies/write");
  EXPECT_EQ(policy.actor.object_id, kSpOid);  // caller is an object id
  EXPECT_EQ(policy.actor.app_id, kSpApp);
  EXPECT_TRUE(policy.actor.upn.empty());
  EXPECT_EQ(policy.actor.ip, "192.0.2.44");
  ASSERT_TRUE(policy.changes.vault.has_value());
  EXPECT_EQ(policy.changes.vault->access_policy_operation, "add");
  ASSERT_EQ(policy.changes.vault->added_policies.size(), 1u);
  EXPECT_EQ(policy.changes.vault->added_policies[0].object_id, "00000000-0000-0000-0000-0000000000c3");
  EXPECT_EQ(policy.changes.vault->added_policies[0].key_permissions, KeyPerms({"get", "unwrapkey", "wrapkey"}));

  Event del = Parse(records[2]);
  EXPECT_EQ(del.resource_id, VaultId());
  EXPECT_EQ(del.operation, "microsoft.keyvault/vaults/delete");
  EXPECT_EQ(del.outcome, Outcome::kFailed);
  EXPECT_EQ(del.http_status, 403);
  EXPECT_EQ(del.id, "30000000-0000-0000-0000-0000000000a3");
  EXPECT_TRUE(del.changes.empty());
}

TEST(ActivityLogFixtures, AzureActivityRows) {
  const auto records = FixtureRecords("azure_activity_rows.json");
  ASSERT_EQ(records.size(), 2u);

  // Dynamic (*_d) columns as objects.
  Event account = Parse(records[0]);
  EXPECT_EQ(account.resource_id, AccountId());
  EXPECT_EQ(account.resource_kind, ResourceKind::kAiAccount);
  // OperationNameValue, not the localized OperationName.
  EXPECT_EQ(account.operation, "microsoft.cognitiveservices/accounts/write");
  EXPECT_EQ(account.outcome, Outcome::kSucceeded);
  EXPECT_EQ(account.http_status, 200);
  EXPECT_EQ(account.time, Ts("2025-05-13T09:00:05.123Z"));
  EXPECT_EQ(account.id, "50000000-0000-0000-0000-000000000001");
  EXPECT_EQ(account.correlation_id, "40000000-0000-0000-0000-000000000001");
  EXPECT_EQ(account.actor.object_id, kSpOid);
  EXPECT_EQ(account.actor.app_id, kSpApp);
  EXPECT_EQ(account.actor.ip, "192.0.2.44");
  EXPECT_EQ(account.actor.principal_type, "ServicePrincipal");
  ASSERT_TRUE(account.changes.account.has_value());
  EXPECT_EQ(account.changes.account->identity_type, "UserAssigned");
  EXPECT_EQ(account.changes.account->user_assigned_identities, std::vector<std::string>{UamiId()});
  EXPECT_EQ(account.changes.account->identity_client_id, "00000000-0000-0000-0000-0000000000c2");
  EXPECT_EQ(account.changes.account->key_name, "cmk-key");

  // String columns only: Properties, Claims, Authorization, HTTPRequest.
  Event diag = Parse(records[1]);
  EXPECT_EQ(diag.resource_id, VaultId() + "/providers/microsoft.insights/diagnosticsettings/send-to-law");
  EXPECT_EQ(diag.resource_kind, ResourceKind::kDiagnosticSetting);
  EXPECT_EQ(diag.operation, "microsoft.insights/diagnosticsettings/write");
  EXPECT_EQ(diag.outcome, Outcome::kStarted);
  EXPECT_EQ(diag.http_status, 200);  // Properties.statusCode
  EXPECT_EQ(diag.actor.upn, "alex@contoso.example");
  EXPECT_EQ(diag.actor.object_id, kUserOid);  // from the Claims string
  EXPECT_EQ(diag.actor.ip, "198.51.100.23");  // HTTPRequest string; CallerIpAddress is empty
  ASSERT_TRUE(diag.changes.diagnostic_setting.has_value());
  EXPECT_TRUE(diag.changes.diagnostic_setting->enabled_categories.empty());  // AuditEvent switched off
  EXPECT_EQ(diag.changes.diagnostic_setting->target,
            Rg() + "/providers/microsoft.operationalinsights/workspaces/law-sec");
}

// ---------------------------------------------------------------------------
// Bad input.

constexpr std::string_view kMinimal =
    R"({"time":"2025-05-12T16:00:00Z","resourceId":"/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv","operationName":"Microsoft.KeyVault/vaults/write","category":"Administrative","resultType":"Success"})";

std::string Without(std::string_view field) {
  std::string s(kMinimal);
  const std::string needle = "\"" + std::string(field) + "\":";
  const size_t at = s.find(needle);
  EXPECT_NE(at, std::string::npos);
  const size_t end = s.find("\",", at + needle.size() + 1);
  s.erase(at, end + 2 - at);
  return s;
}

TEST(ActivityLogErrors, MinimalRecordParses) {
  Event e = Parse(kMinimal);
  EXPECT_EQ(e.resource_kind, ResourceKind::kVault);
  EXPECT_TRUE(e.changes.empty());
}

TEST(ActivityLogErrors, MissingRequiredFieldsAreCorruptionNamingTheField) {
  struct Case {
    const char* field;
    const char* named;
  };
  for (const Case& c : {Case{"time", "time"}, Case{"operationName", "operation"}, Case{"resourceId", "resource id"}}) {
    SCOPED_TRACE(c.field);
    const std::string record = Without(c.field);
    Status st = ParseStatus(record);
    EXPECT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_NE(st.message().find(c.named), std::string::npos) << st.message();
  }
}

TEST(ActivityLogErrors, BadTimestampNamesFieldAndValue) {
  std::string record(kMinimal);
  record.replace(record.find("2025-05-12T16:00:00Z"), 20, "yesterday at noon");
  Status st = ParseStatus(record);
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("time"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("yesterday at noon"), std::string::npos) << st.message();

  // A long value is cut to 64 characters.
  std::string long_value(500, 'x');
  std::string record2(kMinimal);
  record2.replace(record2.find("2025-05-12T16:00:00Z"), 20, long_value);
  Status st2 = ParseStatus(record2);
  EXPECT_TRUE(st2.IsCorruption());
  EXPECT_LT(st2.message().size(), 140u) << st2.message();

  // REST and Log Analytics time fields are named as sent.
  const std::string rest =
      R"({"eventTimestamp":"2025-13-45T99:00:00Z","operationName":{"value":"a/b/write"},"resourceId":"/subscriptions/x"})";
  Status st3 = ParseStatus(rest);
  EXPECT_TRUE(st3.IsCorruption());
  EXPECT_NE(st3.message().find("eventTimestamp"), std::string::npos) << st3.message();
}

TEST(ActivityLogErrors, MalformedRecordJsonIsCorruption) {
  for (std::string_view bad : {
           std::string_view(R"({"time":"2025-05-12T16:00:00Z","resourceId":"/subscriptions/x","operationName")"),
           std::string_view(R"({"time":"2025-05-12T16:00:00Z","properties":{"requestbody":{"a":}},"x":1})"),
           std::string_view(R"({"time":"2025-05-12T16:00:00Z" "resourceId":"/subscriptions/x"})"),
           std::string_view(R"([1,2,3])"),
           std::string_view(R"("just a string")"),
       }) {
    SCOPED_TRACE(bad);
    Status st = ParseStatus(bad);
    EXPECT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_FALSE(st.message().empty());
  }
}

TEST(ActivityLogErrors, BodyThatIsNotJsonKeepsTheEvent) {
  for (std::string_view body : {std::string_view(R"(not json at all)"), std::string_view(R"({\"properties\":{)"),
                                std::string_view(R"({\"properties\":{\"enableSoftDelete\":true)"),
                                std::string_view(R"({\"properties\":{\"networkAcls\":{\"defaultAction\":\"De)"),
                                std::string_view(R"()")}) {
    SCOPED_TRACE(body);
    std::string record(kMinimal);
    record.insert(record.size() - 1, R"(,"properties":{"statusCode":"OK","requestbody":")" + std::string(body) + "\"}");
    auto result = ParseRecord(record, Format::kActivityLog);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ(result->operation, "microsoft.keyvault/vaults/write");
    EXPECT_EQ(result->http_status, 200);
    EXPECT_TRUE(result->changes.empty());
  }
}

TEST(ActivityLogErrors, SameRecordSameIdWhateverTheWhitespace) {
  const std::string pretty =
      "{\n  \"time\": \"2025-05-12T16:00:00Z\",\n  \"resourceId\": \"/subscriptions/x/resourceGroups/rg\",\n"
      "  \"operationName\": \"Microsoft.Resources/subscriptions/resourceGroups/write\",\n  \"category\": \"Administrative\"\n}";
  const std::string compact =
      R"({"time":"2025-05-12T16:00:00Z","resourceId":"/subscriptions/x/resourceGroups/rg","operationName":"Microsoft.Resources/subscriptions/resourceGroups/write","category":"Administrative"})";
  Event a = Parse(pretty);
  Event b = Parse(compact);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.resource_kind, ResourceKind::kResourceGroup);
  EXPECT_EQ(a.raw, pretty);
}

}  // namespace
}  // namespace cmkwatch::test
