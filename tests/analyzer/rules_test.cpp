// The compliance engine, rule by rule: for each, a scenario that must fire
// it, the nearest benign look-alike that must not, and its resolution where
// RULES.md says it resolves. Every record is hand-made in a real published
// format (Activity Log export schema with responseBody as a JSON string,
// Key Vault AuditEvent, Event Grid schema) and goes through the real
// parsers before the engine sees it. Identifiers are obviously fake.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "cmkwatch/analyzer/rules.h"
#include "cmkwatch/collector/reader.h"
#include "cmkwatch/common/resource_id.h"
#include "test_support.h"

namespace cmkwatch::analyzer {
namespace {

using json = nlohmann::json;

constexpr const char* kSub = "00000000-0000-0000-0000-0000000000a1";
constexpr const char* kTenant = "00000000-0000-0000-0000-0000000000f0";
constexpr const char* kIdentity = "00000000-0000-0000-0000-0000000000c1";  // the account's identity
constexpr const char* kOther = "00000000-0000-0000-0000-0000000000c9";     // someone else
constexpr const char* kAdmin = "00000000-0000-0000-0000-0000000000b1";

std::string Rg() { return std::string("/subscriptions/") + kSub + "/resourceGroups/rg-ai"; }
// Mixed case, as Azure sends it; the engine sees canonical lower case.
std::string VaultArm(const std::string& name = "kv-cmk") { return Rg() + "/providers/Microsoft.KeyVault/vaults/" + name; }
std::string VaultId(const std::string& name = "kv-cmk") { return AsciiLower(VaultArm(name)); }
std::string KeyId(const std::string& key = "cmk", const std::string& vault = "kv-cmk") {
  return VaultId(vault) + "/keys/" + key;
}
std::string AccountArm(const std::string& name = "aif-demo") {
  return Rg() + "/providers/Microsoft.CognitiveServices/accounts/" + name;
}
std::string AccountId(const std::string& name = "aif-demo") { return AsciiLower(AccountArm(name)); }

std::string Time(int minute) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "2025-06-01T%02d:%02d:00.0000000Z", 8 + minute / 60, minute % 60);
  return buf;
}

// Activity Log, export schema (Storage / Event Hubs): responseBody is the
// resource's JSON as a string, as Azure ships it.
std::string Activity(int minute, const std::string& resource, const std::string& operation, const json& body = {},
                     const std::string& result = "Success", const std::string& caller = kAdmin) {
  json r = {{"time", Time(minute)},
            {"resourceId", resource},
            {"operationName", operation},
            {"category", "Administrative"},
            {"resultType", result},
            {"resultSignature", result == "Success" ? "Succeeded.OK" : "Failed.Forbidden"},
            {"callerIpAddress", "198.51.100.23"},
            {"correlationId", "10000000-0000-0000-0000-" + std::to_string(100000000000 + minute)},
            {"identity",
             {{"claims",
               {{"http://schemas.microsoft.com/identity/claims/objectidentifier", caller},
                {"http://schemas.microsoft.com/identity/claims/tenantid", kTenant}}}}},
            {"level", "Informational"},
            {"properties", {{"statusCode", result == "Success" ? "OK" : "Forbidden"}}}};
  if (!body.is_null()) r["properties"]["responseBody"] = body.dump();
  return r.dump();
}

// Key Vault AuditEvent as exported to Storage.
std::string Audit(int minute, const std::string& operation, const std::string& object_uri, int status,
                  const std::string& oid = kIdentity, const std::string& vault = "kv-cmk", json extra = json::object()) {
  json props = {{"id", object_uri}, {"httpStatusCode", status}};
  for (auto& [k, v] : extra.items()) props[k] = v;
  json r = {{"time", Time(minute)},
            {"resourceId", VaultArm(vault)},
            {"operationName", operation},
            {"operationVersion", "7.4"},
            {"category", "AuditEvent"},
            {"resultType", status < 300 ? "Success" : "Failure"},
            {"resultSignature", status < 300 ? "OK" : status == 403 ? "Forbidden" : "NotFound"},
            {"durationMs", "9"},
            {"callerIpAddress", "20.42.73.118"},
            {"correlationId", "f1e2d3c4-b5a6-4978-8a9b-" + std::to_string(100000000000 + minute)},
            {"identity", {{"claim", {{"oid", oid}, {"appid", "00000000-0000-0000-0000-0000000000e9"}}}}},
            {"properties", props}};
  return r.dump();
}

std::string KeyUri(const std::string& key = "cmk", const std::string& version = "v1",
                   const std::string& vault = "kv-cmk") {
  return "https://" + vault + ".vault.azure.net/keys/" + key + "/" + version;
}

// Event Grid schema, Key Vault event.
std::string Grid(int minute, const std::string& type, const std::string& key = "cmk", const std::string& version = "v1") {
  json r = {{"id", "eg-" + std::to_string(minute) + type},
            {"topic", VaultArm()},
            {"subject", key},
            {"eventType", type},
            {"eventTime", Time(minute)},
            {"data",
             {{"Id", KeyUri(key, version)},
              {"VaultName", "kv-cmk"},
              {"ObjectType", "Key"},
              {"ObjectName", key},
              {"Version", version},
              {"NBF", nullptr},
              {"EXP", 1751328000}}},  // 2025-07-01, after the scenarios' day
            {"dataVersion", "1"},
            {"metadataVersion", "1"}};
  return r.dump();
}

json AccountBody(const std::string& vault = "kv-cmk", const std::string& key = "cmk", const std::string& version = "v1",
                 const std::string& principal = kIdentity, const std::string& key_source = "Microsoft.KeyVault") {
  json encryption = {{"keySource", key_source}};
  if (key_source == "Microsoft.KeyVault") {
    encryption["keyVaultProperties"] = {
        {"keyVaultUri", "https://" + vault + ".vault.azure.net/"}, {"keyName", key}, {"keyVersion", version}};
  }
  json identity = principal.empty() ? json{{"type", "None"}}
                                    : json{{"type", "SystemAssigned"}, {"principalId", principal}, {"tenantId", kTenant}};
  return {{"id", AccountArm()},
          {"type", "Microsoft.CognitiveServices/accounts"},
          {"kind", "AIServices"},
          {"location", "westeurope"},
          {"identity", identity},
          {"properties", {{"encryption", encryption}}}};
}

json VaultBody(json overrides = json::object()) {
  json props = {{"tenantId", kTenant},
                {"vaultUri", "https://kv-cmk.vault.azure.net/"},
                {"enableSoftDelete", true},
                {"enablePurgeProtection", true},
                {"networkAcls", {{"defaultAction", "Allow"}, {"bypass", "AzureServices"}}},
                {"accessPolicies",
                 json::array({{{"tenantId", kTenant},
                               {"objectId", kIdentity},
                               {"permissions", {{"keys", {"get", "wrapKey", "unwrapKey"}}}}}})}};
  for (auto& [k, v] : overrides.items()) {
    if (v.is_null()) {
      props.erase(k);
    } else {
      props[k] = v;
    }
  }
  return {{"id", VaultArm()}, {"type", "Microsoft.KeyVault/vaults"}, {"location", "westeurope"}, {"properties", props}};
}

class Scenario {
 public:
  explicit Scenario(RulesConfig config = {}) : engine_(std::move(config)) {}

  // Parses one record with the real parsers and feeds it; returns the
  // lifecycle changes it caused.
  std::vector<AlertChange> Feed(const std::string& record) {
    const Event e = test::ParseOrFail(record);
    auto changes = engine_.Process(e);
    all_.insert(all_.end(), changes.begin(), changes.end());
    return changes;
  }

  // The usual start: a vault with good posture, and an AI account bound to
  // its key through a system-assigned identity with access.
  void BindAccount() {
    Feed(Activity(0, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", VaultBody()));
    Feed(Activity(1, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody()));
  }

  RuleEngine& engine() { return engine_; }
  const std::vector<AlertChange>& all() const { return all_; }

  std::vector<Alert> AlertsOf(const std::string& rule) const {
    std::vector<Alert> out;
    for (const Alert& a : engine_.Alerts()) {
      if (a.rule == rule) out.push_back(a);
    }
    return out;
  }
  // The one alert of `rule`, failing the test when there is not exactly one.
  Alert Only(const std::string& rule) const {
    auto alerts = AlertsOf(rule);
    EXPECT_EQ(alerts.size(), 1u) << rule;
    return alerts.empty() ? Alert{} : alerts.front();
  }
  std::vector<std::string> Rules() const {
    std::vector<std::string> out;
    for (const Alert& a : engine_.Alerts()) out.push_back(a.rule);
    return out;
  }

 private:
  RuleEngine engine_;
  std::vector<AlertChange> all_;
};

const std::vector<std::string> kNone;

TEST(RulesSetup, ABoundAccountWithGoodPostureRaisesNothing) {
  Scenario s;
  s.BindAccount();
  s.Feed(Audit(2, "KeyUnwrap", KeyUri(), 200));
  s.Feed(Audit(3, "KeyGet", KeyUri(), 200));
  EXPECT_EQ(s.Rules(), kNone);
  EXPECT_EQ(s.engine().AffectedByVault(VaultId()), std::vector<std::string>{AccountId()});
  EXPECT_EQ(s.engine().AffectedByVault("kv-cmk"), std::vector<std::string>{AccountId()});
}

// CMK001 ---------------------------------------------------------------

TEST(Cmk001, DeletingTheBoundKeyIsCriticalAndNamesTheAccountRecoverResolves) {
  Scenario s;
  s.BindAccount();
  auto changes = s.Feed(Audit(5, "KeyDelete", KeyUri("cmk", ""), 200, kAdmin));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, AlertChange::Kind::kOpened);
  Alert a = changes[0].alert;
  EXPECT_EQ(a.rule, "CMK001");
  EXPECT_EQ(a.severity, Severity::kCritical);
  EXPECT_EQ(a.status, AlertStatus::kOpen);
  EXPECT_EQ(a.resource_id, KeyId());
  EXPECT_EQ(a.affected, std::vector<std::string>{AccountId()});
  EXPECT_EQ(a.operation, "KeyDelete");
  EXPECT_EQ(a.actor.object_id, kAdmin);
  EXPECT_EQ(a.actor.ip, "20.42.73.118");
  EXPECT_NE(a.why.find("fine-tune"), std::string::npos);
  EXPECT_FALSE(a.remediation.empty());
  ASSERT_EQ(a.evidence.size(), 1u);
  EXPECT_EQ(a.count, 1u);

  changes = s.Feed(Audit(9, "KeyRecover", KeyUri("cmk", ""), 200, kAdmin));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, AlertChange::Kind::kResolved);
  EXPECT_EQ(changes[0].alert.id, a.id);
  EXPECT_EQ(changes[0].alert.status, AlertStatus::kResolved);
  EXPECT_EQ(changes[0].alert.resolved_by, changes[0].alert.evidence.back());
}

TEST(Cmk001, AKeyDeleteOnAnUnboundVaultIsLow) {
  Scenario s;
  s.BindAccount();
  s.Feed(Audit(5, "KeyDelete", KeyUri("cmk", "", "kv-other"), 200, kAdmin, "kv-other"));
  const Alert a = s.Only("CMK001");
  EXPECT_EQ(a.severity, Severity::kLow);
  EXPECT_TRUE(a.affected.empty());
  EXPECT_EQ(a.resource_id, KeyId("cmk", "kv-other"));
}

TEST(Cmk001, AFailedDeleteRaisesNothing) {
  Scenario s;
  s.BindAccount();
  s.Feed(Audit(5, "KeyDelete", KeyUri("cmk", ""), 403, kOther));
  EXPECT_EQ(s.Rules(), kNone);
}

TEST(Cmk001, ALateDeleteOlderThanTheRecoveryNeverReopens) {
  Scenario s;
  s.BindAccount();
  s.Feed(Audit(5, "KeyDelete", KeyUri("cmk", ""), 200, kAdmin));
  s.Feed(Audit(9, "KeyRecover", KeyUri("cmk", ""), 200, kAdmin));
  // A second delete from before the recovery arrives late (a collector
  // that was behind): stored, but it changes nothing.
  auto changes = s.Feed(Audit(7, "KeyDelete", KeyUri("cmk", ""), 200, kAdmin));
  EXPECT_TRUE(changes.empty());
  const Alert a = s.Only("CMK001");
  EXPECT_EQ(a.status, AlertStatus::kResolved);
}

// CMK002 ---------------------------------------------------------------

TEST(Cmk002, APurgeIsCriticalAndARecoverDoesNotResolveIt) {
  Scenario s;
  s.BindAccount();
  s.Feed(Audit(5, "KeyDelete", KeyUri("cmk", ""), 200, kAdmin));
  s.Feed(Audit(6, "KeyPurge", KeyUri("cmk", ""), 200, kAdmin));
  s.Feed(Audit(7, "KeyRecover", KeyUri("cmk", ""), 200, kAdmin));
  const Alert a = s.Only("CMK002");
  EXPECT_EQ(a.severity, Severity::kCritical);
  EXPECT_EQ(a.status, AlertStatus::kOpen);
}

// CMK003 ---------------------------------------------------------------

TEST(Cmk003, ExpiredIsCriticalNearExpiryMedium) {
  Scenario s;
  s.BindAccount();
  s.Feed(Grid(5, "Microsoft.KeyVault.KeyNearExpiry"));
  Alert a = s.Only("CMK003");
  EXPECT_EQ(a.severity, Severity::kMedium);
  EXPECT_EQ(a.affected, std::vector<std::string>{AccountId()});
  s.Feed(Grid(6, "Microsoft.KeyVault.KeyExpired"));
  a = s.Only("CMK003");  // the same alert, now critical
  EXPECT_EQ(a.severity, Severity::kCritical);
  EXPECT_EQ(a.count, 2u);
  EXPECT_NE(a.title.find("expired"), std::string::npos);
}

TEST(Cmk003, ANewVersionOfAnotherKeyIsNoExpiry) {
  Scenario s;
  s.BindAccount();
  s.Feed(Grid(5, "Microsoft.KeyVault.KeyNewVersionCreated", "other-key"));
  EXPECT_TRUE(s.AlertsOf("CMK003").empty());
}

// CMK004 ---------------------------------------------------------------

TEST(Cmk004, DeletingTheBoundVaultIsCriticalRecoverResolves) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/DELETE"));
  Alert a = s.Only("CMK004");
  EXPECT_EQ(a.severity, Severity::kCritical);
  EXPECT_EQ(a.resource_id, VaultId());
  EXPECT_EQ(a.affected, std::vector<std::string>{AccountId()});
  s.Feed(Audit(8, "VaultRecover", "https://kv-cmk.vault.azure.net/", 200, kAdmin));
  EXPECT_EQ(s.Only("CMK004").status, AlertStatus::kResolved);
}

TEST(Cmk004, DeletingAnUnboundVaultIsLow) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, VaultArm("kv-scratch"), "MICROSOFT.KEYVAULT/VAULTS/DELETE"));
  EXPECT_EQ(s.Only("CMK004").severity, Severity::kLow);
}

// CMK005 ---------------------------------------------------------------

std::string PolicyChange(int minute, const std::string& kind, const std::string& object_id,
                         const std::vector<std::string>& perms) {
  json body = {{"id", VaultArm() + "/accessPolicies/" + kind},
               {"type", "Microsoft.KeyVault/vaults/accessPolicies"},
               {"properties",
                {{"accessPolicies",
                  json::array({{{"tenantId", kTenant}, {"objectId", object_id}, {"permissions", {{"keys", perms}}}}})}}}};
  return Activity(minute, VaultArm() + "/accessPolicies/" + kind, "MICROSOFT.KEYVAULT/VAULTS/ACCESSPOLICIES/WRITE",
                  body);
}

TEST(Cmk005, RemovingTheIdentitysPolicyIsCriticalAndRestoringResolves) {
  Scenario s;
  s.BindAccount();
  s.Feed(PolicyChange(5, "remove", kIdentity, {"get", "wrapKey", "unwrapKey"}));
  Alert a = s.Only("CMK005");
  EXPECT_EQ(a.severity, Severity::kCritical);
  EXPECT_EQ(a.resource_id, VaultId());
  EXPECT_EQ(a.subject, kIdentity);
  EXPECT_EQ(a.affected, std::vector<std::string>{AccountId()});
  s.Feed(PolicyChange(9, "add", kIdentity, {"get", "wrapKey", "unwrapKey"}));
  EXPECT_EQ(s.Only("CMK005").status, AlertStatus::kResolved);
}

TEST(Cmk005, RemovingSomeoneElsesPolicyIsNothing) {
  Scenario s;
  s.BindAccount();
  s.Feed(PolicyChange(5, "remove", kOther, {"get", "wrapKey", "unwrapKey"}));
  EXPECT_EQ(s.Rules(), kNone);
}

TEST(Cmk005, AVaultWriteWhoseListDropsTheIdentityFires) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", VaultBody({{"accessPolicies", json::array()}})));
  EXPECT_EQ(s.Only("CMK005").subject, kIdentity);
}

json CryptoRoleAssignment(const std::string& assignment) {
  return {{"id", assignment},
          {"type", "Microsoft.Authorization/roleAssignments"},
          {"properties",
           {{"roleDefinitionId", std::string("/subscriptions/") + kSub +
                                     "/providers/Microsoft.Authorization/roleDefinitions/"
                                     "e147488a-f6f5-4113-8e2d-b22465e65bf6"},  // Crypto Service Encryption User
            {"principalId", kIdentity},
            {"principalType", "ServicePrincipal"},
            {"scope", VaultArm()}}}};
}

TEST(Cmk005, DeletingTheIdentitysCryptoRoleOnAnRbacVaultFiresAndAGrantResolves) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(4, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE",
                  VaultBody({{"enableRbacAuthorization", true}, {"accessPolicies", json::array()}})));
  ASSERT_TRUE(s.AlertsOf("CMK005").empty());  // an RBAC vault's policies are not its grants
  const std::string assignment = VaultArm() + "/providers/Microsoft.Authorization/roleAssignments/ra-1";
  s.Feed(Activity(5, assignment, "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/DELETE", CryptoRoleAssignment(assignment)));
  Alert a = s.Only("CMK005");
  EXPECT_EQ(a.subject, kIdentity);
  EXPECT_EQ(a.affected, std::vector<std::string>{AccountId()});
  s.Feed(Activity(8, assignment, "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", CryptoRoleAssignment(assignment)));
  EXPECT_EQ(s.Only("CMK005").status, AlertStatus::kResolved);
}

// A role assignment grants nothing on a vault that uses access policies
// (enableRbacAuthorization false), so it cannot restore a revoked grant.
TEST(Cmk005, ARoleAssignmentDoesNotRestoreAccessOnAnAccessPolicyVault) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE",
                  VaultBody({{"enableRbacAuthorization", false}, {"accessPolicies", json::array()}})));
  ASSERT_EQ(s.Only("CMK005").status, AlertStatus::kOpen);
  const std::string assignment = VaultArm() + "/providers/Microsoft.Authorization/roleAssignments/ra-1";
  s.Feed(Activity(7, assignment, "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", CryptoRoleAssignment(assignment)));
  EXPECT_EQ(s.Only("CMK005").status, AlertStatus::kOpen);
  // The policy restored is what resolves it.
  s.Feed(Activity(9, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", VaultBody({{"enableRbacAuthorization", false}})));
  EXPECT_EQ(s.Only("CMK005").status, AlertStatus::kResolved);
}

// CMK006 ---------------------------------------------------------------

TEST(Cmk006, RefusedUnwrapsByTheIdentityAreAnOutageUntilItsNextSuccess) {
  Scenario s;
  s.BindAccount();
  s.Feed(Audit(5, "KeyUnwrap", KeyUri(), 403));
  s.Feed(Audit(6, "KeyUnwrap", KeyUri(), 403));
  Alert a = s.Only("CMK006");
  EXPECT_EQ(a.severity, Severity::kCritical);
  EXPECT_EQ(a.count, 2u);  // a repeat updates, never a second alert
  EXPECT_EQ(a.evidence.size(), 2u);
  EXPECT_EQ(a.subject, kIdentity);
  EXPECT_EQ(a.affected, std::vector<std::string>{AccountId()});
  s.Feed(Audit(8, "KeyUnwrap", KeyUri(), 200));
  EXPECT_EQ(s.Only("CMK006").status, AlertStatus::kResolved);
}

TEST(Cmk006, AStrangerRefusedIsNoOutage) {
  Scenario s;
  s.BindAccount();
  s.Feed(Audit(5, "KeyUnwrap", KeyUri(), 403, kOther));
  EXPECT_EQ(s.Rules(), kNone);
}

TEST(Cmk006, AnIdentityLearnedFromItsOwnUnwrapsCounts) {
  // No account write seen: the identity's successful unwraps bind it.
  Scenario s;
  s.Feed(Audit(1, "KeyUnwrap", KeyUri(), 200, kOther));
  s.Feed(Audit(2, "KeyUnwrap", KeyUri(), 401, kOther));
  EXPECT_EQ(s.Only("CMK006").subject, kOther);
}

// CMK007 / CMK008 / CMK009 --------------------------------------------

TEST(Cmk007, AClosedFirewallWithoutTrustedServicesIsHighAndReopeningResolves) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE",
                  VaultBody({{"networkAcls", {{"defaultAction", "Deny"}, {"bypass", "None"}}}})));
  Alert a = s.Only("CMK007");
  EXPECT_EQ(a.severity, Severity::kHigh);
  EXPECT_EQ(a.affected, std::vector<std::string>{AccountId()});
  s.Feed(Activity(9, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE",
                  VaultBody({{"networkAcls", {{"defaultAction", "Deny"}, {"bypass", "AzureServices"}}}})));
  EXPECT_EQ(s.Only("CMK007").status, AlertStatus::kResolved);
}

TEST(Cmk007, AClosedFirewallThatLetsTrustedServicesInIsFine) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE",
                  VaultBody({{"networkAcls", {{"defaultAction", "Deny"}, {"bypass", "AzureServices"}}}})));
  EXPECT_EQ(s.Rules(), kNone);
}

TEST(Cmk007, ALateOlderWriteNeverOverwritesNewerState) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(9, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", VaultBody()));
  // From minute 5, arriving after minute 9's good state.
  s.Feed(Activity(5, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE",
                  VaultBody({{"networkAcls", {{"defaultAction", "Deny"}, {"bypass", "None"}}}})));
  EXPECT_EQ(s.Rules(), kNone);
}

TEST(Cmk008, SoftDeleteOffIsHighOnABoundVaultAndTurningItOnResolves) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", VaultBody({{"enableSoftDelete", false}})));
  EXPECT_EQ(s.Only("CMK008").severity, Severity::kHigh);
  s.Feed(Activity(6, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", VaultBody()));
  EXPECT_EQ(s.Only("CMK008").status, AlertStatus::kResolved);
}

TEST(Cmk009, AnAlertRaisedUnboundTurnsHighWhenTheVaultIsBound) {
  Scenario s;
  s.Feed(Activity(0, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", VaultBody({{"enablePurgeProtection", nullptr}})));
  EXPECT_EQ(s.Only("CMK009").severity, Severity::kMedium);
  s.Feed(Activity(1, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody()));
  Alert a = s.Only("CMK009");
  EXPECT_EQ(a.severity, Severity::kHigh);
  EXPECT_EQ(a.affected, std::vector<std::string>{AccountId()});
  s.Feed(Activity(6, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", VaultBody()));
  EXPECT_EQ(s.Only("CMK009").status, AlertStatus::kResolved);
}

TEST(Cmk009, ABodyWithoutTheFlagAfterItWasOnIsNoAlert) {
  // Purge protection cannot be turned off; ARM just leaves it out.
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", VaultBody({{"enablePurgeProtection", nullptr}})));
  EXPECT_EQ(s.Rules(), kNone);
}

TEST(Cmk009, AnUnboundVaultWithoutPurgeProtectionIsMedium) {
  Scenario s;
  s.Feed(Activity(5, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", VaultBody({{"enablePurgeProtection", nullptr}})));
  EXPECT_EQ(s.Only("CMK009").severity, Severity::kMedium);
}

// CMK011 / CMK018 -----------------------------------------------------

TEST(Cmk011, RotatingToAKeyInAnotherVaultIsCriticalAndMovingBackResolves) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody("kv-elsewhere")));
  Alert a = s.Only("CMK011");
  EXPECT_EQ(a.severity, Severity::kCritical);
  EXPECT_EQ(a.resource_id, AccountId());
  EXPECT_NE(a.title.find("kv-elsewhere"), std::string::npos);
  s.Feed(Activity(9, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody()));
  EXPECT_EQ(s.Only("CMK011").status, AlertStatus::kResolved);
}

// The Started record of a write (its request body): ARM has not answered,
// and nothing is stored as state, but an attempt to rotate to another
// vault is the alert.
std::string Started(int minute, const std::string& resource, const std::string& operation, const json& body) {
  json r = json::parse(Activity(minute, resource, operation));
  r["resultType"] = "Start";
  r["resultSignature"] = "Started.";
  r["properties"] = {{"statusCode", "Started"}, {"requestbody", body.dump()}};
  return r.dump();
}

TEST(Cmk011, AnAttemptToRotateToAnotherVaultIsAlreadyTheAlertButChangesNoState) {
  Scenario s;
  s.BindAccount();
  s.Feed(Started(5, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody("kv-elsewhere")));
  EXPECT_EQ(s.Only("CMK011").status, AlertStatus::kOpen);
  // The binding is still the original vault.
  EXPECT_EQ(s.engine().AffectedByVault("kv-cmk"), std::vector<std::string>{AccountId()});
  EXPECT_TRUE(s.engine().AffectedByVault("kv-elsewhere").empty());
}

TEST(Cmk011, AnInVaultRotationIsOnlyANotice) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody("kv-cmk", "cmk", "v2")));
  EXPECT_EQ(s.Rules(), std::vector<std::string>{"CMK018"});
  EXPECT_EQ(s.Only("CMK018").severity, Severity::kInfo);
}

// CMK012 / CMK013 -----------------------------------------------------

TEST(Cmk012, SwitchingBackToMicrosoftManagedKeysIsHigh) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE",
                  AccountBody("", "", "", kIdentity, "Microsoft.CognitiveServices")));
  EXPECT_EQ(s.Only("CMK012").severity, Severity::kHigh);
}

TEST(Cmk013, RemovingTheIdentityWhileCmkIsActiveIsCritical) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE",
                  AccountBody("kv-cmk", "cmk", "v1", "")));
  const Alert a = s.Only("CMK013");
  EXPECT_EQ(a.severity, Severity::kCritical);
  EXPECT_EQ(a.subject, kIdentity);
}

TEST(Cmk013, RestoringTheIdentityResolves) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody("kv-cmk", "cmk", "v1", "")));
  s.Feed(Activity(9, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody()));
  EXPECT_EQ(s.Only("CMK013").status, AlertStatus::kResolved);
}

TEST(Cmk013, ANewIdentityResolvesOnceItHoldsTheKeyPermissions) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE",
                  AccountBody("kv-cmk", "cmk", "v1", kOther)));  // replaced: the new one has no access
  EXPECT_EQ(s.Only("CMK013").status, AlertStatus::kOpen);
  s.Feed(PolicyChange(6, "add", kOther, {"get", "wrapKey", "unwrapKey"}));
  s.Feed(Activity(7, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody("kv-cmk", "cmk", "v1", kOther)));
  EXPECT_EQ(s.Only("CMK013").status, AlertStatus::kResolved);
}

TEST(Cmk013, RewritingTheSameIdentityIsNothing) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody()));
  EXPECT_EQ(s.Rules(), kNone);
}

// CMK010 ---------------------------------------------------------------

std::string KeyWrite(int minute, const std::string& key, const std::string& kty, int size) {
  json body = {{"id", VaultArm() + "/keys/" + key},
               {"type", "Microsoft.KeyVault/vaults/keys"},
               {"properties",
                {{"kty", kty},
                 {"keySize", size},
                 {"keyUri", "https://kv-cmk.vault.azure.net/keys/" + key},
                 {"keyUriWithVersion", KeyUri(key, "v1")},
                 {"attributes", {{"enabled", true}}}}}};
  return Activity(minute, VaultArm() + "/keys/" + key, "MICROSOFT.KEYVAULT/VAULTS/KEYS/WRITE", body);
}

TEST(Cmk010, ABoundKeyThatIsNotRsa2048IsHighAndMovingToACompliantKeyResolves) {
  Scenario s;
  s.Feed(KeyWrite(0, "cmk", "RSA", 4096));
  s.Feed(KeyWrite(0, "cmk2", "RSA-HSM", 2048));
  EXPECT_EQ(s.Rules(), kNone);  // nobody uses them yet
  s.BindAccount();
  Alert a = s.Only("CMK010");
  EXPECT_EQ(a.severity, Severity::kHigh);
  EXPECT_EQ(a.resource_id, KeyId("cmk"));
  EXPECT_NE(a.title.find("RSA 4096"), std::string::npos);
  EXPECT_EQ(a.affected, std::vector<std::string>{AccountId()});
  s.Feed(Activity(5, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody("kv-cmk", "cmk2")));
  EXPECT_EQ(s.Only("CMK010").status, AlertStatus::kResolved);
}

TEST(Cmk010, AnRsaHsm2048KeyIsSupported) {
  Scenario s;
  s.Feed(KeyWrite(0, "cmk", "RSA-HSM", 2048));
  s.BindAccount();
  EXPECT_EQ(s.Rules(), kNone);
}

// CMK014 ---------------------------------------------------------------

TEST(Cmk014, AVaultInAnotherRegionIsHigh) {
  Scenario s;
  json vault = VaultBody();
  vault["location"] = "eastus";
  s.Feed(Activity(0, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", vault));
  s.Feed(Activity(1, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody()));
  const Alert a = s.Only("CMK014");
  EXPECT_EQ(a.severity, Severity::kHigh);
  EXPECT_NE(a.title.find("eastus"), std::string::npos);
}

TEST(Cmk014, AVaultInAnotherResourceGroupIsInfo) {
  Scenario s;
  json vault = VaultBody();
  const std::string other = std::string("/subscriptions/") + kSub + "/resourceGroups/rg-keys/providers/Microsoft.KeyVault/vaults/kv-cmk";
  vault["id"] = other;
  s.Feed(Activity(0, other, "MICROSOFT.KEYVAULT/VAULTS/WRITE", vault));
  s.Feed(Activity(1, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody()));
  EXPECT_EQ(s.Only("CMK014").severity, Severity::kInfo);
}

// CMK015 ---------------------------------------------------------------

std::string HubWrite(int minute, const std::string& key) {
  json body = {{"id", Rg() + "/providers/Microsoft.MachineLearningServices/workspaces/hub-demo"},
               {"type", "Microsoft.MachineLearningServices/workspaces"},
               {"kind", "Hub"},
               {"location", "westeurope"},
               {"identity", {{"type", "SystemAssigned"}, {"principalId", kIdentity}, {"tenantId", kTenant}}},
               {"properties",
                {{"encryption",
                  {{"status", "Enabled"},
                   {"keyVaultProperties", {{"keyVaultArmId", VaultArm()}, {"keyIdentifier", KeyUri(key, "v1")}}}}}}}};
  return Activity(minute, Rg() + "/providers/Microsoft.MachineLearningServices/workspaces/hub-demo",
                  "MICROSOFT.MACHINELEARNINGSERVICES/WORKSPACES/WRITE", body);
}

TEST(Cmk015, AHubsEncryptionChangedAfterCreationIsHigh) {
  Scenario s;
  s.Feed(Activity(0, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", VaultBody()));
  s.Feed(HubWrite(1, "cmk"));
  s.Feed(HubWrite(2, "cmk"));  // the same settings again: nothing
  EXPECT_EQ(s.Rules(), kNone);
  s.Feed(HubWrite(3, "cmk-new"));
  const Alert a = s.Only("CMK015");
  EXPECT_EQ(a.severity, Severity::kHigh);
  EXPECT_EQ(a.resource_id, AsciiLower(Rg()) + "/providers/microsoft.machinelearningservices/workspaces/hub-demo");
}

// CMK016 ---------------------------------------------------------------

TEST(Cmk016, DeletingTheBoundVaultsDiagnosticSettingIsHighRestoringResolves) {
  Scenario s;
  s.BindAccount();
  const std::string setting = VaultArm() + "/providers/Microsoft.Insights/diagnosticSettings/to-law";
  s.Feed(Activity(5, setting, "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE"));
  Alert a = s.Only("CMK016");
  EXPECT_EQ(a.severity, Severity::kHigh);
  EXPECT_EQ(a.resource_id, VaultId());
  json body = {{"id", setting},
               {"properties", {{"logs", json::array({{{"category", "AuditEvent"}, {"enabled", true}}})}}}};
  s.Feed(Activity(9, setting, "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/WRITE", body));
  EXPECT_EQ(s.Only("CMK016").status, AlertStatus::kResolved);
}

TEST(Cmk016, AnUnboundVaultsSettingDeletedIsMedium) {
  Scenario s;
  s.Feed(Activity(5, VaultArm("kv-x") + "/providers/Microsoft.Insights/diagnosticSettings/a",
                  "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE"));
  EXPECT_EQ(s.Only("CMK016").severity, Severity::kMedium);
}

TEST(Cmk016, SilenceLongerThanTheWindowIsABlindSpotUntilLogsFlow) {
  RulesConfig config;
  config.silence_window_ns = int64_t{30} * 60 * 1'000'000'000;  // 30 minutes
  Scenario s(config);
  s.BindAccount();
  s.Feed(Audit(2, "KeyUnwrap", KeyUri(), 200));
  const int64_t last = test::ParseOrFail(Audit(2, "KeyUnwrap", KeyUri(), 200)).time;
  const int64_t minute = int64_t{60} * 1'000'000'000;
  EXPECT_TRUE(s.engine().Tick(last + 29 * minute).empty());
  auto changes = s.engine().Tick(last + 31 * minute);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].alert.rule, "CMK016");
  EXPECT_EQ(changes[0].alert.subject, "silence");
  EXPECT_TRUE(s.engine().Tick(last + 40 * minute).empty());  // one alert per silence
  s.Feed(Audit(50, "KeyUnwrap", KeyUri(), 200));
  EXPECT_EQ(s.Only("CMK016").status, AlertStatus::kResolved);
}

// CMK017 ---------------------------------------------------------------

std::string VersionEnabled(int minute, const std::string& version, bool enabled) {
  return Audit(minute, "KeyUpdate", KeyUri("cmk", version), 200, kAdmin, "kv-cmk",
               {{"keyProperties", {{"kty", "RSA"}, {"key_size", 2048}, {"attributes", {{"enabled", enabled}}}}}});
}

TEST(Cmk017, DisablingTheVersionTheDataWasEncryptedWithBeforeARotationIsHigh) {
  Scenario s;
  s.BindAccount();  // on v1
  s.Feed(Activity(5, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody("kv-cmk", "cmk", "v2")));
  s.Feed(VersionEnabled(6, "v1", false));
  const Alert a = s.Only("CMK017");
  EXPECT_EQ(a.severity, Severity::kHigh);
  EXPECT_EQ(a.subject, "v1");
  EXPECT_TRUE(s.AlertsOf("CMK003").empty());  // the key itself is still enabled
  s.Feed(VersionEnabled(9, "v1", true));
  EXPECT_EQ(s.Only("CMK017").status, AlertStatus::kResolved);
}

TEST(Cmk017, DisablingTheCurrentVersionIsCmk003NotCmk017) {
  Scenario s;
  s.BindAccount();
  s.Feed(VersionEnabled(6, "v1", false));
  EXPECT_EQ(s.Rules(), std::vector<std::string>{"CMK003"});
  EXPECT_EQ(s.Only("CMK003").severity, Severity::kCritical);
  s.Feed(VersionEnabled(7, "v1", true));
  EXPECT_EQ(s.Only("CMK003").status, AlertStatus::kResolved);
}

// CMK019 ---------------------------------------------------------------

TEST(Cmk019, DeletingACmkAccountIsANoticeRecreatingResolves) {
  Scenario s;
  s.BindAccount();
  s.Feed(Activity(5, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/DELETE"));
  EXPECT_EQ(s.Only("CMK019").severity, Severity::kInfo);
  EXPECT_TRUE(s.engine().AffectedByVault(VaultId()).empty());  // a deleted account is bound to nothing
  s.Feed(Activity(9, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", AccountBody()));
  EXPECT_EQ(s.Only("CMK019").status, AlertStatus::kResolved);
}

TEST(Cmk019, DeletingAnAccountWithoutCmkIsNothing) {
  Scenario s;
  s.Feed(Activity(1, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE",
                  AccountBody("", "", "", kIdentity, "Microsoft.CognitiveServices")));
  s.Feed(Activity(5, AccountArm(), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/DELETE"));
  EXPECT_EQ(s.Rules(), kNone);
}

// The hand-made fixture files (tests/fixtures/*/README.md), whole, through
// the parsers and the engine: the rules fire on each published form.
// Read with the collector's reader (any framing), every record parsed.
void FeedFixture(RuleEngine& engine, std::string_view relative) {
  struct Feed final : collector::RecordHandler {
    explicit Feed(RuleEngine& e) : engine(e) {}
    void OnEvent(Event&& e, const collector::RecordLocation&) override { (void)engine.Process(e); }
    void OnQuarantine(QuarantineEntry&& q) override { ADD_FAILURE() << q.path << ": " << q.reason; }
    RuleEngine& engine;
  } feed(engine);
  collector::ReadStats stats;
  const Status st = collector::ReadPath(test::FixtureFile(relative).string(), {}, feed, stats);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_GT(stats.events, 0u) << relative;
}

TEST(RulesOnFixtures, ActivityLogExportRecordsRaiseFirewallRevocationVaultDeletionAndBlindSpot) {
  RuleEngine engine;
  FeedFixture(engine, "activity/export_ai_account_write_system.json");  // the binding
  FeedFixture(engine, "activity/export_vault_write.json");
  FeedFixture(engine, "activity/export_access_policy_remove.json");
  FeedFixture(engine, "activity/export_role_assignment_delete.json");
  FeedFixture(engine, "activity/export_vault_delete.json");
  FeedFixture(engine, "activity/export_diagnostic_setting_delete.json");
  const std::string account = "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourcegroups/rg-ai-foundry/"
                              "providers/microsoft.cognitiveservices/accounts/aif-contoso-demo";
  std::map<std::string, Alert> by_rule;
  for (const Alert& a : engine.Alerts()) {
    EXPECT_TRUE(by_rule.emplace(a.rule, a).second) << "two alerts of " << a.rule;
  }
  ASSERT_EQ(by_rule.size(), 4u) << [&] {
    std::string rules;
    for (const auto& [r, a] : by_rule) rules += r + " ";
    return rules;
  }();
  // The access policy removal. The role assignment deletion that follows
  // adds nothing: the vault write said the vault uses access policies
  // (enableRbacAuthorization false), where roles grant no key access.
  EXPECT_EQ(by_rule["CMK005"].severity, Severity::kCritical);
  EXPECT_EQ(by_rule["CMK005"].count, 1u);
  EXPECT_EQ(by_rule["CMK005"].subject, "00000000-0000-0000-0000-0000000000c1");
  EXPECT_EQ(by_rule["CMK004"].severity, Severity::kCritical);
  EXPECT_EQ(by_rule["CMK016"].severity, Severity::kHigh);
  // The vault write's firewall: defaultAction Deny, bypass None.
  EXPECT_EQ(by_rule["CMK007"].severity, Severity::kHigh);
  for (const auto& [rule, a] : by_rule) EXPECT_EQ(a.affected, std::vector<std::string>{account}) << rule;
}

// The same Key Vault audit story as exported to Storage (AuditEvent), as
// Log Analytics AzureDiagnostics rows and as AZKVAuditLogs rows: the
// identity that unwrapped successfully is refused, and that is CMK006 in
// every form.
TEST(RulesOnFixtures, AnOutageIsSeenInEveryKeyVaultAuditForm) {
  for (const char* fixture :
       {"kvaudit/PT1H.json", "azurediagnostics/keyvault_auditevent.json", "kvaudit/azkvauditlogs.json"}) {
    RuleEngine engine;
    FeedFixture(engine, fixture);
    std::vector<Alert> outages;
    for (const Alert& a : engine.Alerts()) {
      if (a.rule == "CMK006") outages.push_back(a);
    }
    ASSERT_EQ(outages.size(), 1u) << fixture;
    EXPECT_EQ(outages[0].subject, "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9") << fixture;
    EXPECT_EQ(outages[0].severity, Severity::kCritical) << fixture;
  }
}

// A benign day ----------------------------------------------------------

// 100,000 routine events over a well-configured estate: five vaults with
// soft delete, purge protection, a firewall that lets trusted services in
// and access policies for their AI resources' identities; ten accounts
// bound to them; their identities wrapping and unwrapping all day,
// administrators reading keys, applications reading secrets, strangers
// refused now and then, the estate re-written unchanged, keys rotated in
// their vaults. Nothing of this is high or critical.
TEST(RulesBenignDay, AHundredThousandRoutineEventsRaiseNothingHighOrCritical) {
  struct Account {
    std::string name, vault, key, principal, version = "v1";
  };
  std::vector<std::string> vaults = {"kv-cmk-a", "kv-cmk-b", "kv-cmk-c", "kv-cmk-d", "kv-cmk-e"};
  std::vector<Account> accounts;
  for (int i = 0; i < 10; ++i) {
    char principal[40];
    std::snprintf(principal, sizeof principal, "00000000-0000-0000-0000-0000000001%02d", i);
    accounts.push_back({"aif-" + std::to_string(i), vaults[static_cast<size_t>(i) % vaults.size()],
                        "cmk-" + std::to_string(i), principal});
  }
  auto vault_body = [&](const std::string& vault) {
    json policies = json::array();
    for (const auto& a : accounts) {
      if (a.vault != vault) continue;
      policies.push_back({{"tenantId", kTenant},
                          {"objectId", a.principal},
                          {"permissions", {{"keys", {"get", "wrapKey", "unwrapKey"}}}}});
    }
    policies.push_back({{"tenantId", kTenant},
                        {"objectId", kAdmin},
                        {"permissions", {{"keys", {"get", "list", "create", "update", "rotate"}}}}});
    json body = VaultBody({{"accessPolicies", policies},
                           {"vaultUri", "https://" + vault + ".vault.azure.net/"},
                           {"networkAcls", {{"defaultAction", "Deny"}, {"bypass", "AzureServices"}}}});
    body["id"] = VaultArm(vault);
    return body;
  };
  auto account_body = [&](const Account& a) {
    json body = AccountBody(a.vault, a.key, a.version, a.principal);
    body["id"] = AccountArm(a.name);
    return body;
  };

  Scenario s;
  for (const auto& v : vaults) s.Feed(Activity(0, VaultArm(v), "MICROSOFT.KEYVAULT/VAULTS/WRITE", vault_body(v)));
  for (const auto& a : accounts) {
    s.Feed(KeyWrite(0, a.key, "RSA", 2048));
    s.Feed(Activity(1, AccountArm(a.name), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", account_body(a)));
  }
  uint64_t seed = 0x636d6b7761746368;  // deterministic
  auto next = [&seed](uint64_t n) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed % n;
  };
  int events = static_cast<int>(vaults.size() + 2 * accounts.size());
  const int kEvents = 100'000;
  for (int i = events; i < kEvents; ++i) {
    const int minute = 2 + i * 900 / kEvents;  // 08:02 to 23:02, in order
    Account& a = accounts[next(accounts.size())];
    const uint64_t roll = next(1000);
    if (roll < 700) {
      s.Feed(Audit(minute, roll % 2 ? "KeyUnwrap" : "KeyWrap", KeyUri(a.key, a.version, a.vault), 200, a.principal,
                   a.vault));
    } else if (roll < 800) {
      s.Feed(Audit(minute, "KeyGet", KeyUri(a.key, a.version, a.vault), 200, kAdmin, a.vault));
    } else if (roll < 880) {
      s.Feed(Audit(minute, "SecretGet", "https://" + a.vault + ".vault.azure.net/secrets/db-password/s1", 200,
                   "00000000-0000-0000-0000-0000000000d1", a.vault));
    } else if (roll < 910) {
      s.Feed(Audit(minute, "KeyUnwrap", KeyUri(a.key, a.version, a.vault), 403, kOther, a.vault));
    } else if (roll < 960) {
      s.Feed(Audit(minute, "KeyList", "https://" + a.vault + ".vault.azure.net/keys", 200, kAdmin, a.vault));
    } else if (roll < 975) {
      s.Feed(Audit(minute, "VaultGet", "https://" + a.vault + ".vault.azure.net/", 200, kAdmin, a.vault));
    } else if (roll < 990) {
      s.Feed(Activity(minute, VaultArm(a.vault), "MICROSOFT.KEYVAULT/VAULTS/WRITE", vault_body(a.vault)));
    } else if (roll < 998) {
      s.Feed(Activity(minute, AccountArm(a.name), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", account_body(a)));
    } else {
      // An in-vault rotation: a new version, then the account follows it.
      a.version = "v" + std::to_string(i);
      s.Feed(Audit(minute, "KeyRotate", KeyUri(a.key, a.version, a.vault), 200, kAdmin, a.vault));
      s.Feed(Activity(minute, AccountArm(a.name), "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/WRITE", account_body(a)));
      ++i;
    }
  }
  int high = 0;
  for (const Alert& alert : s.engine().Alerts()) {
    if (alert.severity >= Severity::kHigh) {
      ++high;
      ADD_FAILURE() << alert.rule << " " << ToString(alert.severity) << ": " << alert.title;
    }
  }
  EXPECT_EQ(high, 0);
  // The rotations were seen, as notices.
  EXPECT_FALSE(s.AlertsOf("CMK018").empty());
}

// Configuration ---------------------------------------------------------

TEST(RulesConfig, ADisabledRuleRaisesNothing) {
  RulesConfig config;
  config.rules["CMK001"].enabled = false;
  Scenario s(config);
  s.BindAccount();
  s.Feed(Audit(5, "KeyDelete", KeyUri("cmk", ""), 200, kAdmin));
  EXPECT_EQ(s.Rules(), kNone);
}

TEST(RulesConfig, SeverityOverrideAndSuppressionUntilItExpires) {
  RulesConfig config;
  config.rules["CMK009"].severity = Severity::kLow;
  Suppression sup;
  sup.rule = "CMK009";
  sup.resource_pattern = "*/vaults/kv-lab*";
  sup.reason = "lab vaults, ticket SEC-12";
  sup.expires = 0;
  config.suppressions.push_back(sup);
  Scenario s(config);
  s.Feed(Activity(5, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE", VaultBody({{"enablePurgeProtection", nullptr}})));
  Alert a = s.Only("CMK009");
  EXPECT_EQ(a.severity, Severity::kLow);
  EXPECT_EQ(a.status, AlertStatus::kOpen);  // kv-cmk is not a lab vault

  json lab = VaultBody({{"enablePurgeProtection", nullptr}});
  lab["id"] = VaultArm("kv-lab-1");
  s.Feed(Activity(6, VaultArm("kv-lab-1"), "MICROSOFT.KEYVAULT/VAULTS/WRITE", lab));
  auto alerts = s.AlertsOf("CMK009");
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[1].status, AlertStatus::kSuppressed);  // still recorded
  EXPECT_EQ(alerts[1].suppression, "lab vaults, ticket SEC-12");
}

TEST(RulesConfig, ASuppressionEndsAtItsExpiry) {
  RulesConfig config;
  Suppression sup;
  sup.rule = "*";
  sup.resource_pattern = "*/vaults/kv-cmk/keys/*";
  sup.reason = "maintenance window";
  sup.expires = test::ParseOrFail(Audit(10, "KeyGet", KeyUri(), 200)).time;
  config.suppressions.push_back(sup);
  Scenario s(config);
  s.BindAccount();
  s.Feed(Audit(5, "KeyUnwrap", KeyUri(), 403));
  EXPECT_EQ(s.Only("CMK006").status, AlertStatus::kSuppressed);
  auto changes = s.Feed(Audit(12, "KeyUnwrap", KeyUri(), 403));  // after the window: the outage goes on
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].alert.status, AlertStatus::kOpen);
  EXPECT_TRUE(changes[0].alert.suppression.empty());
}

// A reload (SIGHUP) changes how later events are judged and nothing else:
// the bindings learned before it still make a later alert bound.
TEST(RulesConfig, ReconfigureJudgesLaterEventsByTheNewSettingsAndKeepsTheState) {
  Scenario s;
  s.BindAccount();
  s.Feed(Audit(5, "KeyUnwrap", KeyUri(), 403));
  ASSERT_EQ(s.Only("CMK006").status, AlertStatus::kOpen);

  RulesConfig next;
  next.rules["CMK001"].enabled = false;
  Suppression sup;
  sup.rule = "CMK007";
  sup.resource_pattern = "*";
  sup.reason = "firewall change approved, CHG-7";
  next.suppressions.push_back(sup);
  s.engine().Reconfigure(next);

  EXPECT_EQ(s.Only("CMK006").status, AlertStatus::kOpen) << "an open alert stays open";
  s.Feed(Audit(6, "KeyDelete", KeyUri(), 200, kAdmin));
  EXPECT_TRUE(s.AlertsOf("CMK001").empty()) << "a rule disabled by the reload raises nothing";
  s.Feed(Activity(7, VaultArm(), "MICROSOFT.KEYVAULT/VAULTS/WRITE",
                  VaultBody({{"networkAcls", {{"defaultAction", "Deny"}, {"bypass", "None"}}}})));
  const Alert fw = s.Only("CMK007");
  EXPECT_EQ(fw.status, AlertStatus::kSuppressed);
  EXPECT_EQ(fw.severity, Severity::kHigh) << "still bound: the state survived the reload";
  EXPECT_EQ(fw.affected, std::vector<std::string>{AccountId()});
}

TEST(Rules, TheSameEventsGiveTheSameAlertIds) {
  auto run = [] {
    Scenario s;
    s.BindAccount();
    s.Feed(Audit(5, "KeyDelete", KeyUri("cmk", ""), 200, kAdmin));
    s.Feed(Audit(6, "KeyUnwrap", KeyUri(), 403));
    std::vector<std::string> ids;
    for (const Alert& a : s.engine().Alerts()) ids.push_back(a.id);
    return ids;
  };
  const auto first = run();
  EXPECT_EQ(first.size(), 2u);
  EXPECT_EQ(first, run());
}

TEST(Rules, AlertsRoundTripThroughJson) {
  Scenario s;
  s.BindAccount();
  s.Feed(Audit(5, "KeyDelete", KeyUri("cmk", ""), 200, kAdmin));
  s.Feed(Audit(9, "KeyRecover", KeyUri("cmk", ""), 200, kAdmin));
  const Alert a = s.Only("CMK001");
  const std::string text = AlertToJson(a);
  auto back = AlertFromJson(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, a);
  const auto j = json::parse(text);
  EXPECT_EQ(j["status"], "resolved");
  EXPECT_EQ(j["severity"], "critical");
  EXPECT_EQ(j["affected"][0], AccountId());
  EXPECT_EQ(j["first_seen"], "2025-06-01T08:05:00Z");
  EXPECT_FALSE(AlertFromJson("{\"id\": \"x\"}").ok());
  EXPECT_FALSE(AlertFromJson("not json").ok());
}

TEST(Rules, EveryCatalogueRuleHasItsWords) {
  const auto& catalogue = RuleCatalogue();
  ASSERT_EQ(catalogue.size(), 19u);
  for (size_t i = 0; i < catalogue.size(); ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "CMK%03u", static_cast<unsigned>(i + 1));
    EXPECT_EQ(catalogue[i].id, id);
    EXPECT_FALSE(catalogue[i].why.empty()) << id;
    EXPECT_FALSE(catalogue[i].remediation.empty()) << id;
  }
}

}  // namespace
}  // namespace cmkwatch::analyzer
