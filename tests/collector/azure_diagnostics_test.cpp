// Key Vault AuditEvent as Log Analytics AzureDiagnostics rows, and the same
// audit event in all three shapes (exported, AZKVAuditLogs, AzureDiagnostics).
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

std::vector<std::string> DiagRows() {
  return SplitRecords(ReadFileOrFail(FixtureFile("azurediagnostics/keyvault_auditevent.json")));
}

std::vector<Event> ParseAll(const std::vector<std::string>& records, std::string_view format) {
  std::vector<Event> out;
  for (const auto& r : records) out.push_back(ParseOrFail(r, format));
  return out;
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    if (nl != 0) out.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}


TEST(AzureDiagnosticsTest, FixtureRowsAreDetected) {
  const auto rows = DiagRows();
  ASSERT_EQ(rows.size(), 6u);
  for (const auto& r : rows) {
    auto f = collector::DetectFormat(r);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(*f, Format::kAzureDiagnostics);
    EXPECT_EQ(ParseOrFail(r).source, Source::kKeyVaultAudit);
  }
}

TEST(AzureDiagnosticsTest, TypedKeyUnwrapRows) {
  const auto events = ParseAll(DiagRows(), "azurediagnostics");
  ASSERT_EQ(events.size(), 6u);
  {
    SCOPED_TRACE("row 1: KeyUnwrap success, short claim columns");
    const Event& e = events[0];
    EXPECT_EQ(e.time, ParseTimestamp("2025-03-14T08:00:00.1234567Z").value_or(0));
    EXPECT_EQ(e.resource_id, kKeyId);
    EXPECT_EQ(e.resource_kind, ResourceKind::kKey);
    EXPECT_EQ(e.operation, "KeyUnwrap");
    EXPECT_EQ(e.outcome, Outcome::kSucceeded);
    EXPECT_EQ(e.http_status, 200);
    ASSERT_TRUE(e.key.has_value());
    EXPECT_EQ(*e.key, (KeyRef{kHost, "foundry-cmk", kV1}));
    EXPECT_EQ(e.actor.object_id, kMiOid);
    EXPECT_EQ(e.actor.app_id, kMiAppId);
    EXPECT_EQ(e.actor.tenant_id, kTenant);
    EXPECT_EQ(e.actor.principal_type, "ServicePrincipal");
    EXPECT_EQ(e.actor.ip, "20.42.73.118");
    EXPECT_TRUE(e.changes.empty());
  }
  {
    SCOPED_TRACE("row 2: KeyUnwrap 403 without id_s");
    const Event& e = events[1];
    EXPECT_EQ(e.resource_id, kKeyId);
    EXPECT_EQ(e.outcome, Outcome::kFailed);
    EXPECT_EQ(e.http_status, 403);
    ASSERT_TRUE(e.key.has_value());
    EXPECT_EQ(e.key->version, kV1);
  }
  {
    SCOPED_TRACE("row 6: ForbiddenByFirewall, all strings");
    const Event& e = events[5];
    EXPECT_EQ(e.resource_id, kKeyId);
    EXPECT_EQ(e.outcome, Outcome::kFailed);
    EXPECT_EQ(e.http_status, 403);
    ASSERT_TRUE(e.key.has_value());
    EXPECT_EQ(e.key->version, "");
    EXPECT_EQ(e.actor.ip, "198.51.100.23");
  }
}

TEST(AzureDiagnosticsTest, AllStringsVaultPatchRow) {
  const auto rows = DiagRows();
  ASSERT_EQ(rows.size(), 6u);
  // The fixture row really is all strings, as az monitor log-analytics query prints.
  const auto row = nlohmann::json::parse(rows[2]);
  for (const auto& [name, value] : row.items()) {
    EXPECT_TRUE(value.is_string()) << name;
  }
  const Event e = ParseOrFail(rows[2], "azurediagnostics");
  EXPECT_EQ(e.resource_id, kVaultId);
  EXPECT_EQ(e.resource_kind, ResourceKind::kVault);
  EXPECT_EQ(e.operation, "VaultPatch");
  EXPECT_EQ(e.http_status, 200);  // "200.0"
  EXPECT_EQ(e.outcome, Outcome::kSucceeded);
  EXPECT_FALSE(e.key.has_value());
  // Flattened URI claim names.
  EXPECT_EQ(e.actor.object_id, kAdminOid);
  EXPECT_EQ(e.actor.upn, kAdminUpn);
  EXPECT_EQ(e.actor.app_id, "c44b4083-3bb0-49c1-b47d-974e53cbdf3c");
  EXPECT_EQ(e.actor.ip, "203.0.113.7");
  ASSERT_TRUE(e.changes.vault.has_value());
  VaultChanges want;
  want.enable_soft_delete = true;          // "True"
  want.enable_purge_protection = true;
  want.enable_rbac_authorization = false;  // "False"
  want.soft_delete_retention_days = 90;    // "90.0"
  want.public_network_access = "Enabled";
  want.network_acls = NetworkAcls{"Deny", "None", 1, 0};  // ipRules as JSON text
  // Empty strings ("" = absent) set nothing: no access policy change.
  EXPECT_EQ(*e.changes.vault, want);
  EXPECT_FALSE(e.changes.key.has_value());
}

TEST(AzureDiagnosticsTest, AccessPolicyColumns) {
  const auto events = ParseAll(DiagRows(), "azurediagnostics");
  ASSERT_EQ(events.size(), 6u);
  {
    SCOPED_TRACE("row 4: removedAccessPolicy_*, permissions as JSON array text");
    const Event& e = events[3];
    EXPECT_EQ(e.operation, "VaultPut");
    ASSERT_TRUE(e.changes.vault.has_value());
    EXPECT_EQ(e.changes.vault->access_policy_operation, "remove");
    ASSERT_EQ(e.changes.vault->removed_policies.size(), 1u);
    EXPECT_EQ(e.changes.vault->removed_policies[0],
              (AccessPolicy{kTenant, kMiOid, "", {"get", "unwrapkey", "wrapkey"}}));
    EXPECT_TRUE(e.changes.vault->added_policies.empty());
  }
  {
    SCOPED_TRACE("row 5: policy edited in place, permissions comma-separated");
    const Event& e = events[4];
    EXPECT_EQ(e.operation, "VaultPatch");
    ASSERT_TRUE(e.changes.vault.has_value());
    const VaultChanges& v = *e.changes.vault;
    EXPECT_EQ(v.access_policy_operation, "replace");
    ASSERT_EQ(v.added_policies.size(), 1u);
    EXPECT_EQ(v.added_policies[0], (AccessPolicy{kTenant, kMiOid, "", {"get", "list"}}));
    ASSERT_EQ(v.removed_policies.size(), 1u);
    EXPECT_EQ(v.removed_policies[0], (AccessPolicy{kTenant, kMiOid, "", {"get", "unwrapkey", "wrapkey"}}));
    EXPECT_FALSE(v.network_acls.has_value());
  }
}

// The same audit event exported, as an AZKVAuditLogs row and as an
// AzureDiagnostics row normalizes to the same resource, operation, outcome,
// actor, key and changes.
TEST(AzureDiagnosticsTest, SameEventInThreeShapes) {
  const auto exported =
      ParseAll(Lines(ReadFileOrFail(FixtureFile("kvaudit/PT1H.json"))), "kvaudit");
  const auto azkv = ParseAll(SplitRecords(ReadFileOrFail(FixtureFile("kvaudit/azkvauditlogs.json"))), "kvaudit");
  const auto diag = ParseAll(DiagRows(), "azurediagnostics");
  ASSERT_EQ(exported.size(), 16u);
  ASSERT_EQ(azkv.size(), 6u);
  ASSERT_EQ(diag.size(), 6u);

  struct Triple {
    size_t exported, azkv, diag;  // 0-based; azkv/diag npos when that shape has no copy
    const char* what;
  };
  constexpr size_t kNone = static_cast<size_t>(-1);
  const Triple triples[] = {
      {0, 0, 0, "KeyUnwrap success"},
      {1, 1, 1, "KeyUnwrap 403 Forbidden"},
      {2, kNone, 5, "KeyUnwrap ForbiddenByFirewall"},
      {11, 2, 2, "VaultPatch firewall"},
      {12, 3, 3, "VaultPut removedAccessPolicy"},
  };
  for (const auto& t : triples) {
    if (t.azkv != kNone) test::ExpectSameNormalized(azkv[t.azkv], exported[t.exported], std::string(t.what) + " (AZKVAuditLogs)");
    if (t.diag != kNone) {
      test::ExpectSameNormalized(diag[t.diag], exported[t.exported], std::string(t.what) + " (AzureDiagnostics)");
    }
  }
}

TEST(AzureDiagnosticsTest, ColumnNamesIgnoreCase) {
  const std::string r = R"({"timegenerated":"2025-03-14T08:00:00Z","RESOURCEID":")" + kVaultId +
                        R"(","operationname":"KeyGet","CATEGORY":"AuditEvent","ID_S":"https://)" + kHost +
                        R"(/keys/foundry-cmk/)" + kV1 + R"(","HTTPSTATUSCODE_D":"200",)"
                        R"("Identity_Claim_OID_g":")" + kMiOid + R"(","type":"AzureDiagnostics"})";
  const Event e = ParseOrFail(r, "azurediagnostics");
  EXPECT_EQ(e.resource_id, kKeyId);
  EXPECT_EQ(e.http_status, 200);
  EXPECT_EQ(e.actor.object_id, kMiOid);
}

TEST(AzureDiagnosticsTest, BadRowsAreRejectedWithReasons) {
  struct Case {
    std::string record;
    bool corruption;  // else Unsupported
    std::string message_part;
  };
  const std::string vault = R"("ResourceId":")" + kVaultId + R"(")";
  const Case cases[] = {
      {R"({"TimeGenerated":"2025-03-14T08:00:00Z",)", true, "malformed JSON"},
      {R"("just a string")", true, "not a JSON object"},
      {R"({"OperationName":"KeyGet",)" + vault + "}", true, "no TimeGenerated"},
      {R"({"TimeGenerated":"","OperationName":"KeyGet",)" + vault + "}", true, "not a timestamp"},
      {R"({"TimeGenerated":"2025-03-14T08:00:00Z",)" + vault + "}", true, "no OperationName"},
      {R"({"TimeGenerated":"2025-03-14T08:00:00Z","OperationName":"KeyGet","ResourceId":""})", true,
       "no ResourceId"},
      {R"({"TimeGenerated":"2025-03-14T08:00:00Z","OperationName":"Write",)" + vault +
           R"(,"ResourceProvider":"MICROSOFT.STORAGE"})",
       false, "MICROSOFT.STORAGE"},
      {R"({"TimeGenerated":"2025-03-14T08:00:00Z","OperationName":"KeyGet",)" + vault +
           R"(,"Category":"AzurePolicyEvaluationDetails"})",
       false, "AzurePolicyEvaluationDetails"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.record);
    auto r = collector::ParseRecord(c.record, Format::kAzureDiagnostics);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().IsCorruption(), c.corruption) << r.status().ToString();
    EXPECT_EQ(r.status().IsUnsupported(), !c.corruption) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.message_part), std::string::npos) << r.status().ToString();
  }
}

}  // namespace
}  // namespace cmkwatch::test
