// ARM inventory parser: ARM resources (REST examples, az ... show, Resource
// Graph rows), az role assignment list output, diagnostic settings and Key
// Vault data-plane key bundles. Inputs: the shared corpus (read in place:
// REST API examples and Cloud Custodian's recorded Azure traffic) and the
// hand-made fixtures in tests/fixtures/arm (see its README).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cmkwatch/collector/parse.h"
#include "cmkwatch/common/time.h"
#include "test_support.h"

namespace cmkwatch {
namespace {

using collector::Format;
using collector::ParseRecord;

constexpr int64_t kSec = kNanosPerSecond;
constexpr const char* kSub = "11111111-2222-4333-8444-555555555555";
constexpr const char* kVaultId =
    "/subscriptions/11111111-2222-4333-8444-555555555555/resourcegroups/rg-cmk/providers/microsoft.keyvault/vaults/"
    "contoso-cmk-kv";
constexpr const char* kVaultHost = "contoso-cmk-kv.vault.azure.net";
constexpr const char* kUai =
    "/subscriptions/11111111-2222-4333-8444-555555555555/resourcegroups/rg-ai/providers/microsoft.managedidentity/"
    "userassignedidentities/id-foundry-cmk";

int64_t Ts(std::string_view text) {
  auto t = ParseTimestamp(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t.value_or(0);
}

Event ParseExample(std::string_view file, std::string_view pointer = "/responses/200/body") {
  return test::ParseOrFail(test::JsonAt(test::CorpusFile(file), pointer), "arm");
}

Event ParseFixture(std::string_view file) {
  return test::ParseOrFail(test::ReadFileOrFail(test::FixtureFile(file)), "arm");
}

std::vector<Event> ParseFixtureList(std::string_view file) {
  std::vector<Event> out;
  for (const auto& record : test::SplitRecords(test::ReadFileOrFail(test::FixtureFile(file)))) {
    out.push_back(test::ParseOrFail(record));  // auto-detection must pick ARM
  }
  return out;
}

bool Has(const std::vector<std::string>& v, std::string_view s) { return std::find(v.begin(), v.end(), s) != v.end(); }

// A Cloud Custodian cassette's response bodies (parsed "data", or raw JSON
// text in "string"), split into records; only those the detector takes for
// ARM resources or key bundles are parsed (error bodies, rotation policies
// and AAD Graph objects are not inventory). Each must parse.
std::vector<Event> ParseCassette(std::string_view file) {
  std::vector<Event> out;
  auto doc = nlohmann::json::parse(test::ReadFileOrFail(test::CorpusFile(file)), nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << file;
  if (doc.is_discarded()) return out;
  for (const auto& interaction : doc["interactions"]) {
    const auto& body = interaction["response"]["body"];
    std::string text;
    if (body.contains("data")) {
      text = body["data"].dump();
    } else if (body.contains("string") && body["string"].is_string()) {
      text = body["string"].get<std::string>();
    }
    if (text.empty() || (text[0] != '{' && text[0] != '[')) continue;
    for (const auto& record : test::SplitRecords(text)) {
      auto format = collector::DetectFormat(record);
      if (!format.ok() || *format != Format::kArm) continue;
      out.push_back(test::ParseOrFail(record, "arm"));
    }
  }
  return out;
}

const Event* FindByResource(const std::vector<Event>& events, std::string_view suffix) {
  for (const auto& e : events) {
    if (e.resource_id.size() >= suffix.size() &&
        e.resource_id.compare(e.resource_id.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return &e;
    }
  }
  return nullptr;
}

const Event* FindByKeyName(const std::vector<Event>& events, std::string_view name, bool with_material) {
  for (const auto& e : events) {
    if (e.key && e.key->name == name && e.changes.key && (e.changes.key->kty.empty() != with_material)) return &e;
  }
  return nullptr;
}

// --- Azure REST API examples ------------------------------------------------

TEST(ArmTest, GetVaultExample) {
  CMK_REQUIRE_CORPUS();
  Event e = ParseExample("azure-rest-api-specs/keyvault/getVault.json");
  EXPECT_EQ(e.source, Source::kInventory);
  EXPECT_EQ(e.id.rfind("inventory:", 0), 0u) << e.id;
  EXPECT_EQ(e.operation, "microsoft.keyvault/vaults/read");
  EXPECT_EQ(e.outcome, Outcome::kSucceeded);
  EXPECT_EQ(e.resource_id,
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/sample-resource-group/providers/"
            "microsoft.keyvault/vaults/sample-vault");
  EXPECT_EQ(e.resource_kind, ResourceKind::kVault);
  EXPECT_EQ(e.time, Ts("2020-01-01T12:00:00Z"));  // systemData.lastModifiedAt
  ASSERT_TRUE(e.changes.vault.has_value());
  const VaultChanges& v = *e.changes.vault;
  EXPECT_EQ(v.location, "westus");
  EXPECT_EQ(v.public_network_access, "Enabled");
  EXPECT_FALSE(v.enable_soft_delete.has_value());  // the example does not say
  EXPECT_FALSE(v.enable_purge_protection.has_value());
  ASSERT_TRUE(v.access_policies.has_value());
  ASSERT_EQ(v.access_policies->size(), 1u);
  const auto& perms = (*v.access_policies)[0].key_permissions;
  EXPECT_TRUE(Has(perms, "get") && Has(perms, "wrapkey") && Has(perms, "unwrapkey")) << perms.size();
  EXPECT_TRUE(std::is_sorted(perms.begin(), perms.end()));
  EXPECT_TRUE(v.access_policy_operation.empty());
}

TEST(ArmTest, CreateVaultWithNetworkAclsExample) {
  CMK_REQUIRE_CORPUS();
  for (const char* status : {"/responses/200/body", "/responses/201/body"}) {
    SCOPED_TRACE(status);
    Event e = ParseExample("azure-rest-api-specs/keyvault/createVaultWithNetworkAcls.json", status);
    ASSERT_TRUE(e.changes.vault.has_value());
    ASSERT_TRUE(e.changes.vault->network_acls.has_value());
    EXPECT_EQ(*e.changes.vault->network_acls, (NetworkAcls{"Deny", "AzureServices", 2, 1}));
    EXPECT_EQ(e.changes.vault->vault_uri, "https://sample-vault.vault.azure.net");
  }
}

TEST(ArmTest, AccessPoliciesAddIsAnIncrementalChangeOfTheVault) {
  CMK_REQUIRE_CORPUS();
  Event e = ParseExample("azure-rest-api-specs/keyvault/updateAccessPoliciesAdd.json");
  EXPECT_EQ(e.operation, "microsoft.keyvault/vaults/accesspolicies/read");
  EXPECT_EQ(e.resource_id,
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/sample-group/providers/"
            "microsoft.keyvault/vaults/sample-vault");
  EXPECT_EQ(e.resource_kind, ResourceKind::kVault);
  ASSERT_TRUE(e.changes.vault.has_value());
  // Never the vault's whole list: that would read as every other policy removed.
  EXPECT_FALSE(e.changes.vault->access_policies.has_value());
  EXPECT_EQ(e.changes.vault->access_policy_operation, "add");
  ASSERT_EQ(e.changes.vault->added_policies.size(), 1u);
  EXPECT_EQ(e.changes.vault->added_policies[0].key_permissions, std::vector<std::string>{"encrypt"});
}

TEST(ArmTest, CreateKeyExample) {
  CMK_REQUIRE_CORPUS();
  Event e = ParseExample("azure-rest-api-specs/keyvault/createKey.json");
  EXPECT_EQ(e.operation, "microsoft.keyvault/vaults/keys/read");
  EXPECT_EQ(e.resource_id,
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/sample-group/providers/"
            "microsoft.keyvault/vaults/sample-vault-name/keys/sample-key-name");
  EXPECT_EQ(e.resource_kind, ResourceKind::kKey);
  ASSERT_TRUE(e.key.has_value());
  EXPECT_EQ(*e.key, (KeyRef{"sample-vault-name.vault.azure.net", "sample-key-name",
                            "fd618d9519b74f9aae94ade66b876acc"}));
  ASSERT_TRUE(e.changes.key.has_value());
  EXPECT_EQ(e.changes.key->kty, "RSA");
  EXPECT_EQ(e.changes.key->key_size, 2048);
  EXPECT_EQ(e.changes.key->enabled, true);
  EXPECT_TRUE(Has(e.changes.key->key_ops, "wrapkey"));
  EXPECT_EQ(e.time, 1598533051 * kSec);  // properties.attributes.updated
}

TEST(ArmTest, CognitiveServicesAccountWithCmkExample) {
  CMK_REQUIRE_CORPUS();
  for (const char* status : {"/responses/200/body", "/responses/201/body"}) {
    SCOPED_TRACE(status);
    Event e = ParseExample("azure-rest-api-specs/cognitiveservices/CreateAccount.json", status);
    EXPECT_EQ(e.operation, "microsoft.cognitiveservices/accounts/read");
    EXPECT_EQ(e.resource_kind, ResourceKind::kAiAccount);
    EXPECT_EQ(e.time, 0);  // nothing in the body says when; the importer stamps it
    ASSERT_TRUE(e.changes.account.has_value());
    const AccountChanges& a = *e.changes.account;
    EXPECT_EQ(a.kind, "Emotion");
    EXPECT_EQ(a.location, "west us");
    EXPECT_EQ(a.key_source, "Microsoft.KeyVault");
    EXPECT_EQ(a.key_vault_uri, "https://pltfrmscrts-use-pc-dev.vault.azure.net/");
    EXPECT_EQ(a.key_name, "fakekeyname");
    EXPECT_EQ(a.key_version, "891cf236-d241-4738-9462-d506af493dfa");
    EXPECT_EQ(a.identity_type, "SystemAssigned");
    EXPECT_EQ(a.principal_id, "b5cf119e-a5c2-42c7-802f-592e0efb169f");
  }
}

TEST(ArmTest, EncryptionScopeParsesAsOtherResource) {
  CMK_REQUIRE_CORPUS();
  // An account's encryption scope carries its own keyVaultProperties
  // (with identityClientId) directly under properties. The Event model has
  // no place for per-scope CMK yet, so it is inventoried as kOther without
  // typed changes; the raw bytes keep the identityClientId.
  Event e = ParseExample("azure-rest-api-specs/cognitiveservices/PutEncryptionScope.json");
  EXPECT_EQ(e.operation, "microsoft.cognitiveservices/accounts/encryptionscopes/read");
  EXPECT_EQ(e.resource_kind, ResourceKind::kOther);
  EXPECT_EQ(e.resource_id,
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/resourcegroupname/providers/"
            "microsoft.cognitiveservices/accounts/accountname/encryptionscopes/encryptionscopename");
  EXPECT_EQ(e.time, Ts("2023-06-08T06:35:08.0662558Z"));
  EXPECT_TRUE(e.changes.empty());
  EXPECT_NE(e.raw.find("identityClientId"), std::string::npos);
}

TEST(ArmTest, MachineLearningWorkspaceWithCmkExample) {
  CMK_REQUIRE_CORPUS();
  Event e = ParseExample("azure-rest-api-specs/machinelearningservices/Workspace_create.json");
  EXPECT_EQ(e.operation, "microsoft.machinelearningservices/workspaces/read");
  EXPECT_EQ(e.resource_kind, ResourceKind::kMlWorkspace);
  ASSERT_TRUE(e.changes.account.has_value());
  const AccountChanges& a = *e.changes.account;
  const std::string rg = "/subscriptions/00000000-1111-2222-3333-444444444444/resourcegroups/workspace-1234";
  EXPECT_EQ(a.encryption_status, "Enabled");
  EXPECT_EQ(a.key_source, "Microsoft.KeyVault");
  EXPECT_EQ(a.key_vault_arm_id, rg + "/providers/microsoft.keyvault/vaults/testkv");
  EXPECT_EQ(a.key_vault_uri, "https://testkv.vault.azure.net/");
  EXPECT_EQ(a.key_name, "testkey");
  EXPECT_EQ(a.key_version, "aabbccddee112233445566778899aabb");
  EXPECT_EQ(a.encryption_identity, rg + "/providers/microsoft.managedidentity/userassignedidentities/testuai");
  EXPECT_EQ(a.identity_type, "SystemAssigned,UserAssigned");
  EXPECT_EQ(a.user_assigned_identities, std::vector<std::string>{a.encryption_identity});
  EXPECT_EQ(a.identity_client_id, "");  // the example sends ""
  EXPECT_EQ(a.location, "eastus2euap");
}

// --- Cloud Custodian cassettes (real Azure responses) ------------------------

TEST(ArmTest, CassetteVaultsWithAccessPoliciesAndFirewall) {
  CMK_REQUIRE_CORPUS();
  auto events = ParseCassette("cloud-custodian/KeyVaultTest.test_update_access_policy.json");
  ASSERT_GE(events.size(), 7u);  // 5 listed vaults, the accessPolicies PUT, the GET

  const Event* cmk = FindByResource(events, "/vaults/cmkvaultstacklet");
  ASSERT_NE(cmk, nullptr);
  ASSERT_TRUE(cmk->changes.vault.has_value());
  EXPECT_EQ(cmk->changes.vault->enable_soft_delete, true);
  EXPECT_EQ(cmk->changes.vault->enable_purge_protection, true);
  EXPECT_EQ(cmk->changes.vault->soft_delete_retention_days, 10);
  ASSERT_TRUE(cmk->changes.vault->access_policies.has_value());
  ASSERT_EQ(cmk->changes.vault->access_policies->size(), 4u);
  // "UnwrapKey" as sent by the portal, compared lower-case.
  const auto& perms = (*cmk->changes.vault->access_policies)[0].key_permissions;
  EXPECT_TRUE(Has(perms, "unwrapkey") && Has(perms, "wrapkey") && Has(perms, "get"));
  EXPECT_TRUE(Has(perms, "getrotationpolicy"));

  const Event* stacklet = FindByResource(events, "/vaults/stacklet-kv");
  ASSERT_NE(stacklet, nullptr);
  ASSERT_TRUE(stacklet->changes.vault.has_value());
  EXPECT_EQ(stacklet->changes.vault->enable_rbac_authorization, false);
  EXPECT_FALSE(stacklet->changes.vault->enable_purge_protection.has_value());

  // The PUT .../accessPolicies/add response and the GET after it.
  const Event* added = nullptr;
  const Event* after = nullptr;
  for (const auto& e : events) {
    if (e.operation == "microsoft.keyvault/vaults/accesspolicies/read") added = &e;
    if (e.operation == "microsoft.keyvault/vaults/read" &&
        e.resource_id.find("/vaults/cckeyvault1zd2yzvhwvtnsu") != std::string::npos) {
      after = &e;
    }
  }
  ASSERT_NE(added, nullptr);
  ASSERT_TRUE(added->changes.vault.has_value());
  EXPECT_EQ(added->changes.vault->access_policy_operation, "add");
  ASSERT_EQ(added->changes.vault->added_policies.size(), 1u);
  EXPECT_EQ(added->changes.vault->added_policies[0].object_id, "11111111-1111-1111-1111-111111111111");
  EXPECT_EQ(added->changes.vault->added_policies[0].key_permissions, std::vector<std::string>{"get"});
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(added->resource_id, after->resource_id);
  ASSERT_TRUE(after->changes.vault.has_value());
  ASSERT_TRUE(after->changes.vault->network_acls.has_value());
  EXPECT_EQ(*after->changes.vault->network_acls, (NetworkAcls{"Deny", "AzureServices", 8, 0}));
  ASSERT_TRUE(after->changes.vault->access_policies.has_value());
  EXPECT_EQ(after->changes.vault->access_policies->size(), 2u);
  EXPECT_EQ(after->changes.vault->location, "southcentralus");
  EXPECT_EQ(after->time, 0);  // 2019-09-01 API: no systemData
}

TEST(ArmTest, CassetteWhitelistSkipsGraphObjects) {
  CMK_REQUIRE_CORPUS();
  auto events = ParseCassette("cloud-custodian/KeyVaultTest.test_whitelist.json");
  ASSERT_EQ(events.size(), 2u);  // vault list + vault GET; the AAD Graph user is not inventory
  for (const auto& e : events) {
    EXPECT_EQ(e.resource_kind, ResourceKind::kVault);
    EXPECT_EQ(e.changes.vault->network_acls->default_action, "Deny");
  }
  EXPECT_EQ(events[0].changes, events[1].changes);
  EXPECT_EQ(events[0].id, events[1].id);  // same resource bytes modulo whitespace → same id
}

TEST(ArmTest, CassetteDataPlaneKeyBundles) {
  CMK_REQUIRE_CORPUS();
  auto events = ParseCassette("cloud-custodian/KeyVaultKeyTest.test_key_vault_keys_type.json");
  const std::string host = "cckeyvault1yghq6zt4ewg2e.vault.azure.net";

  const Event* rsa = FindByKeyName(events, "cctestrsa", true);
  ASSERT_NE(rsa, nullptr);
  EXPECT_EQ(rsa->operation, "microsoft.keyvault/vaults/keys/read");
  EXPECT_EQ(rsa->resource_kind, ResourceKind::kKey);
  EXPECT_EQ(rsa->resource_id, "");  // no ARM id in a data-plane bundle
  EXPECT_EQ(*rsa->key, (KeyRef{host, "cctestrsa", "451c01573b6d4bf886c393132be12de0"}));
  EXPECT_EQ(rsa->changes.key->kty, "RSA");
  EXPECT_EQ(rsa->changes.key->key_size, 2048);  // from the modulus n
  EXPECT_EQ(rsa->changes.key->enabled, true);
  EXPECT_TRUE(Has(rsa->changes.key->key_ops, "unwrapkey"));
  EXPECT_EQ(rsa->time, 1666285606 * kSec);  // attributes.updated

  const Event* ec = FindByKeyName(events, "cctestec", true);
  ASSERT_NE(ec, nullptr);
  EXPECT_EQ(ec->changes.key->kty, "EC");
  EXPECT_EQ(ec->changes.key->curve, "P-256");
  EXPECT_FALSE(ec->changes.key->key_size.has_value());

  // Key list items: kid at the top level, attributes only.
  const Event* listed = FindByKeyName(events, "cctest1", false);
  ASSERT_NE(listed, nullptr);
  EXPECT_EQ(*listed->key, (KeyRef{host, "cctest1", ""}));
  EXPECT_EQ(listed->changes.key->expires, 1697821612 * kSec);
  EXPECT_EQ(listed->changes.key->not_before, 1666285012 * kSec);
}

TEST(ArmTest, CassetteKeyUpdateAndRotation) {
  CMK_REQUIRE_CORPUS();
  auto update = ParseCassette("cloud-custodian/KeyVaultKeyTest.test_key_vault_key_update_action.json");
  const Event* before = FindByKeyName(update, "test", false);
  const Event* after = FindByKeyName(update, "test", true);
  ASSERT_NE(before, nullptr);
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(before->changes.key->enabled, false);
  EXPECT_EQ(after->changes.key->enabled, true);
  EXPECT_EQ(after->changes.key->key_size, 2048);
  EXPECT_LT(before->time, after->time);

  // Bodies recorded as JSON text; rotation policies are not inventory.
  auto rotation = ParseCassette("cloud-custodian/KeyVaultKeyTest.test_key_vault_keys_rotation.json");
  const Event* vault = FindByResource(rotation, "/vaults/cfb-qmbknzbm-keyvault");
  ASSERT_NE(vault, nullptr);
  EXPECT_EQ(vault->changes.vault->soft_delete_retention_days, 7);
  EXPECT_EQ(vault->changes.vault->enable_rbac_authorization, false);
  EXPECT_EQ(vault->changes.vault->vault_uri, "https://cfb-qmbknzbm-keyvault.vault.azure.net/");
  const Event* key = FindByKeyName(rotation, "cfb-qmbknzbm-generated-certificate", false);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->key->vault, "cfb-qmbknzbm-keyvault.vault.azure.net");
}

TEST(ArmTest, CassetteAiFoundryAccountWithMicrosoftManagedKey) {
  CMK_REQUIRE_CORPUS();
  auto events = ParseCassette("cloud-custodian/AIFoundryProjectTest.ai-foundry-projects.json");
  ASSERT_EQ(events.size(), 2u);
  const Event& account = events[0];
  EXPECT_EQ(account.resource_kind, ResourceKind::kAiAccount);
  ASSERT_TRUE(account.changes.account.has_value());
  EXPECT_EQ(account.changes.account->kind, "AIServices");
  EXPECT_EQ(account.changes.account->key_source, "");  // no encryption block: Microsoft-managed
  EXPECT_EQ(account.changes.account->key_vault_uri, "");
  EXPECT_EQ(account.changes.account->identity_type, "SystemAssigned");
  EXPECT_EQ(account.changes.account->principal_id, "073099f7-b0a2-4654-8988-ae6ad2392e36");
  EXPECT_EQ(account.time, Ts("2026-03-16T18:12:46.5679674Z"));  // properties.dateCreated

  const Event& project = events[1];
  EXPECT_EQ(project.operation, "microsoft.cognitiveservices/accounts/projects/read");
  EXPECT_EQ(project.resource_kind, ResourceKind::kOther);
  EXPECT_EQ(project.time, Ts("2026-03-16T18:13:07.5523873Z"));
}

TEST(ArmTest, CassetteCognitiveServicesAndMlWorkspace) {
  CMK_REQUIRE_CORPUS();
  auto cog = ParseCassette("cloud-custodian/CognitiveServiceTest.test_find_by_name.json");
  ASSERT_EQ(cog.size(), 1u);
  ASSERT_TRUE(cog[0].changes.account.has_value());
  EXPECT_EQ(cog[0].changes.account->kind, "TextTranslation");
  EXPECT_EQ(cog[0].changes.account->location, "global");
  EXPECT_EQ(cog[0].changes.account->key_source, "");

  auto ml = ParseCassette("cloud-custodian/MachineLearningWorkspaceTest.test_machine_learning_workspace_policy_run.json");
  ASSERT_EQ(ml.size(), 1u);
  EXPECT_EQ(ml[0].resource_kind, ResourceKind::kMlWorkspace);
  EXPECT_EQ(ml[0].resource_id,
            "/subscriptions/ea42f556-5106-4743-99b0-c129bfa71a47/resourcegroups/vv/providers/"
            "microsoft.machinelearningservices/workspaces/mlvvtest");
  ASSERT_TRUE(ml[0].changes.account.has_value());
  EXPECT_EQ(ml[0].changes.account->identity_type, "SystemAssigned");
  EXPECT_EQ(ml[0].changes.account->key_source, "");  // no CMK
  EXPECT_EQ(ml[0].changes.account->key_vault_arm_id, "");  // the linked properties.keyVault is not the CMK vault
  EXPECT_EQ(ml[0].time, Ts("2021-11-24T20:58:47.4883547Z"));
}

// --- Hand-made fixtures --------------------------------------------------------

TEST(ArmTest, RsaHsm3072KeyInArmAndDataPlaneForm) {
  Event arm = ParseFixture("arm/key_rsa_hsm_3072_arm.json");
  Event plane = ParseFixture("arm/key_rsa_hsm_3072_dataplane.json");
  const KeyRef ref{kVaultHost, "hsm-key-3072", "0a1b2c3d4e5f40718293a4b5c6d7e8f9"};
  EXPECT_EQ(arm.resource_id, std::string(kVaultId) + "/keys/hsm-key-3072");
  EXPECT_EQ(plane.resource_id, "");
  for (const Event* e : {&arm, &plane}) {
    EXPECT_EQ(e->resource_kind, ResourceKind::kKey);
    EXPECT_EQ(e->operation, "microsoft.keyvault/vaults/keys/read");
    ASSERT_TRUE(e->key.has_value());
    EXPECT_EQ(*e->key, ref);
    ASSERT_TRUE(e->changes.key.has_value());
    EXPECT_EQ(e->changes.key->kty, "RSA-HSM");
    EXPECT_EQ(e->changes.key->key_size, 3072);  // keySize, or the modulus length
    EXPECT_EQ(e->changes.key->enabled, true);
    EXPECT_EQ(e->changes.key->expires, 1767225600 * kSec);
    EXPECT_EQ(e->changes.key->not_before, 1736499600 * kSec);
    EXPECT_EQ(e->changes.key->key_ops, (std::vector<std::string>{"wrapkey", "unwrapkey"}));
    EXPECT_EQ(e->time, 1736503200 * kSec);
  }
}

TEST(ArmTest, Rsa4096KeyInArmAndAzCliForm) {
  Event arm = ParseFixture("arm/key_rsa_4096_arm.json");
  Event cli = ParseFixture("arm/key_rsa_4096_az_cli.json");
  const KeyRef ref{kVaultHost, "rsa-key-4096", "f9e8d7c6b5a4493827160f1e2d3c4b5a"};
  for (const Event* e : {&arm, &cli}) {
    ASSERT_TRUE(e->key.has_value());
    EXPECT_EQ(*e->key, ref);  // ":443" dropped from the ARM keyUriWithVersion
    ASSERT_TRUE(e->changes.key.has_value());
    EXPECT_EQ(e->changes.key->kty, "RSA");
    EXPECT_EQ(e->changes.key->key_size, 4096);
    EXPECT_EQ(e->changes.key->enabled, false);
    EXPECT_FALSE(e->changes.key->expires.has_value());
  }
  EXPECT_EQ(arm.time, 1738000000 * kSec);
  EXPECT_EQ(cli.time, Ts("2025-01-27T17:46:40Z"));  // RFC 3339 "updated" from the CLI
}

TEST(ArmTest, AiAccountWithCmkAndUserAssignedIdentity) {
  Event e = ParseFixture("arm/ai_account_cmk_user_assigned.json");
  EXPECT_EQ(e.resource_id,
            std::string("/subscriptions/") + kSub +
                "/resourcegroups/rg-ai/providers/microsoft.cognitiveservices/accounts/contoso-foundry");
  EXPECT_EQ(e.resource_kind, ResourceKind::kAiAccount);
  EXPECT_EQ(e.time, Ts("2025-02-11T09:30:15.1234567Z"));
  ASSERT_TRUE(e.changes.account.has_value());
  const AccountChanges& a = *e.changes.account;
  EXPECT_EQ(a.kind, "AIServices");
  EXPECT_EQ(a.key_source, "Microsoft.KeyVault");
  EXPECT_EQ(a.key_vault_uri, "https://contoso-cmk-kv.vault.azure.net/");
  EXPECT_EQ(a.key_name, "ai-cmk-key");
  EXPECT_EQ(a.key_version, "5f0c3b1a9e8d4c7b8a6f5e4d3c2b1a09");
  EXPECT_EQ(a.identity_client_id, "c0ffee00-1234-4abc-9def-0123456789ab");
  EXPECT_EQ(a.identity_type, "SystemAssigned,UserAssigned");
  EXPECT_EQ(a.principal_id, "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d");
  EXPECT_EQ(a.user_assigned_identities, std::vector<std::string>{kUai});
}

TEST(ArmTest, RoleAssignmentsFromAzCliListAndArm) {
  auto list = ParseFixtureList("arm/role_assignment_list_az_cli.json");
  ASSERT_EQ(list.size(), 2u);
  const Event& crypto = list[0];
  EXPECT_EQ(crypto.operation, "microsoft.authorization/roleassignments/read");
  EXPECT_EQ(crypto.resource_kind, ResourceKind::kRoleAssignment);
  EXPECT_EQ(crypto.resource_id,
            std::string(kVaultId) + "/providers/microsoft.authorization/roleassignments/4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d");
  EXPECT_EQ(crypto.time, Ts("2025-02-10T08:05:00Z"));  // updatedOn
  ASSERT_TRUE(crypto.changes.role_assignment.has_value());
  const RoleAssignmentChanges& r = *crypto.changes.role_assignment;
  EXPECT_EQ(r.role_definition_id, "e147488a-f6f5-4113-8e2d-b22465e65bf6");  // Crypto Service Encryption User
  EXPECT_EQ(r.principal_id, "7c6b5a49-3827-4160-9f8e-7d6c5b4a3928");
  EXPECT_EQ(r.principal_type, "ServicePrincipal");
  EXPECT_EQ(r.scope, kVaultId);

  ASSERT_TRUE(list[1].changes.role_assignment.has_value());
  EXPECT_EQ(list[1].changes.role_assignment->role_definition_id, "acdd72a7-3385-48ef-bd42-f606fba81ae7");
  EXPECT_EQ(list[1].changes.role_assignment->scope, std::string("/subscriptions/") + kSub);

  Event arm = ParseFixture("arm/role_assignment_arm.json");
  EXPECT_EQ(arm.resource_kind, ResourceKind::kRoleAssignment);
  ASSERT_TRUE(arm.changes.role_assignment.has_value());
  EXPECT_EQ(arm.changes.role_assignment->role_definition_id, "14b46e9e-c2b7-41b4-b07b-48a6ebf60603");
  EXPECT_EQ(arm.changes.role_assignment->principal_id, "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d");
  EXPECT_EQ(arm.changes.role_assignment->scope, std::string(kVaultId) + "/keys/ai-cmk-key");
  EXPECT_EQ(arm.time, Ts("2025-02-10T08:06:00Z"));
}

TEST(ArmTest, DiagnosticSettingFromAzCli) {
  Event e = ParseFixture("arm/diagnostic_setting_az_cli.json");
  EXPECT_EQ(e.resource_kind, ResourceKind::kDiagnosticSetting);
  EXPECT_EQ(e.operation, "microsoft.insights/diagnosticsettings/read");
  ASSERT_TRUE(e.changes.diagnostic_setting.has_value());
  EXPECT_EQ(e.changes.diagnostic_setting->enabled_categories, std::vector<std::string>{"AuditEvent"});
  EXPECT_EQ(e.changes.diagnostic_setting->target,
            std::string("/subscriptions/") + kSub +
                "/resourcegroups/rg-logs/providers/microsoft.operationalinsights/workspaces/law-sec");
}

TEST(ArmTest, ResourceGraphExport) {
  auto rows = ParseFixtureList("arm/resource_graph_export.json");
  ASSERT_EQ(rows.size(), 3u);
  const Event& vault = rows[0];
  EXPECT_EQ(vault.operation, "microsoft.keyvault/vaults/read");
  EXPECT_EQ(vault.resource_id, kVaultId);
  ASSERT_TRUE(vault.changes.vault.has_value());
  EXPECT_EQ(vault.changes.vault->enable_purge_protection, true);
  EXPECT_EQ(vault.changes.vault->enable_soft_delete, true);
  EXPECT_EQ(vault.changes.vault->enable_rbac_authorization, true);
  EXPECT_EQ(vault.changes.vault->public_network_access, "Disabled");  // "disabled" as sent
  EXPECT_EQ(*vault.changes.vault->network_acls, (NetworkAcls{"Deny", "AzureServices", 0, 0}));
  ASSERT_TRUE(vault.changes.vault->access_policies.has_value());
  EXPECT_TRUE(vault.changes.vault->access_policies->empty());  // RBAC vault: an empty list is a statement

  const Event& account = rows[1];
  EXPECT_EQ(account.resource_kind, ResourceKind::kAiAccount);
  EXPECT_EQ(account.changes.account->kind, "AIServices");
  EXPECT_EQ(account.changes.account->key_source, "");
  EXPECT_EQ(account.changes.account->location, "westeurope");

  const Event& hub = rows[2];
  EXPECT_EQ(hub.resource_kind, ResourceKind::kMlWorkspace);
  ASSERT_TRUE(hub.changes.account.has_value());
  EXPECT_EQ(hub.changes.account->kind, "Hub");
  EXPECT_EQ(hub.changes.account->key_vault_arm_id, kVaultId);
  EXPECT_EQ(hub.changes.account->key_name, "ai-cmk-key");
  EXPECT_EQ(hub.changes.account->encryption_identity, kUai);
  EXPECT_EQ(hub.time, Ts("2025-01-06T07:00:00Z"));
}

// --- Errors -----------------------------------------------------------------------

TEST(ArmTest, MalformedRecordsAreCorruptionWithReadableMessages) {
  struct Case {
    const char* record;
    const char* mentions;
  };
  const Case cases[] = {
      {R"({"error":{"code":"Unauthorized","message":"AKV10000"}})", "no \"id\""},
      {R"({"id":"https://v.vault.azure.net/keys/k/rotationpolicy","attributes":{}})", "not an ARM resource id"},
      {R"({"kid":"https://v.vault.azure.net/secrets/s/1","attributes":{}})", "not a key URI"},
      {R"({"key":{"kid":"not a uri"}})", "not a key URI"},
      {R"(["/subscriptions/s"])", "not a JSON object"},
      {R"({"id":"/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/v","properties":{)",
       "malformed JSON"},
  };
  for (const auto& c : cases) {
    auto r = ParseRecord(std::string_view(c.record), Format::kArm);
    ASSERT_FALSE(r.ok()) << c.record;
    EXPECT_TRUE(r.status().IsCorruption()) << c.record << " -> " << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.mentions), std::string::npos) << r.status().message();
  }
}

TEST(ArmTest, DeepNestingIsRefused) {
  std::string deep = R"({"id":"/subscriptions/s","properties":)";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "}";
  auto r = ParseRecord(std::string_view(deep), Format::kArm);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsLimitExceeded()) << r.status().ToString();
}

TEST(ArmTest, TypeDerivedFromIdWhenAbsent) {
  Event e = test::ParseOrFail(
      R"({"id":"/subscriptions/S/resourceGroups/R/providers/Microsoft.KeyVault/vaults/V/keys/K","properties":{"kty":"rsa-hsm"}})",
      "arm");
  EXPECT_EQ(e.operation, "microsoft.keyvault/vaults/keys/read");
  EXPECT_EQ(e.changes.key->kty, "RSA-HSM");
  EXPECT_FALSE(e.key.has_value());  // no keyUri: the vault host is not known
}

TEST(ArmTest, TruncatedRecordsNeverCrash) {
  // Every prefix of each shape: an error or an event, never a crash.
  for (const char* fixture : {"arm/ai_account_cmk_user_assigned.json", "arm/key_rsa_4096_az_cli.json",
                              "arm/role_assignment_arm.json"}) {
    const std::string record = test::ReadFileOrFail(test::FixtureFile(fixture));
    for (size_t n = 0; n < record.size(); ++n) {
      auto r = ParseRecord(std::string_view(record).substr(0, n), Format::kArm);
      if (!r.ok()) {
        EXPECT_FALSE(r.status().message().empty());
      }
    }
  }
}

}  // namespace
}  // namespace cmkwatch
