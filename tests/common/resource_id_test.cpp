#include "cmkwatch/common/resource_id.h"

#include <gtest/gtest.h>

namespace cmkwatch {
namespace {

TEST(ResourceId, CanonicalFormIsLowerCaseWithoutTrailingSlash) {
  EXPECT_EQ(CanonicalResourceId(" /SUBSCRIPTIONS/AB/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV/ "),
            "/subscriptions/ab/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv");
  EXPECT_EQ(CanonicalResourceId("subscriptions/ab"), "/subscriptions/ab");
  EXPECT_EQ(CanonicalResourceId(""), "");
}

TEST(ResourceId, KindFromProviderPath) {
  const std::string vault = "/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv";
  EXPECT_EQ(KindOfResourceId(vault), ResourceKind::kVault);
  EXPECT_EQ(KindOfResourceId(vault + "/keys/k"), ResourceKind::kKey);
  EXPECT_EQ(KindOfResourceId(vault + "/keys/k/versions/v1"), ResourceKind::kKey);
  EXPECT_EQ(KindOfResourceId(vault + "/secrets/s"), ResourceKind::kSecret);
  EXPECT_EQ(KindOfResourceId(vault + "/accesspolicies/add"), ResourceKind::kVault);
  EXPECT_EQ(KindOfResourceId(vault + "/providers/microsoft.insights/diagnosticsettings/ds"),
            ResourceKind::kDiagnosticSetting);
  EXPECT_EQ(KindOfResourceId("/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/ai"),
            ResourceKind::kAiAccount);
  EXPECT_EQ(KindOfResourceId(
                "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/ai/projects/p"),
            ResourceKind::kOther);
  EXPECT_EQ(KindOfResourceId("/subscriptions/s/resourcegroups/rg/providers/microsoft.machinelearningservices/"
                             "workspaces/hub"),
            ResourceKind::kMlWorkspace);
  EXPECT_EQ(KindOfResourceId(vault + "/providers/microsoft.authorization/roleassignments/ra"),
            ResourceKind::kRoleAssignment);
  EXPECT_EQ(KindOfResourceId("/subscriptions/s"), ResourceKind::kSubscription);
  EXPECT_EQ(KindOfResourceId("/subscriptions/s/resourcegroups/rg"), ResourceKind::kResourceGroup);
  EXPECT_EQ(KindOfResourceId(""), ResourceKind::kUnknown);
}

TEST(ResourceId, VaultIdOfNestedResources) {
  const std::string vault = "/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv";
  EXPECT_EQ(VaultIdOf(vault), vault);
  EXPECT_EQ(VaultIdOf(vault + "/keys/k/versions/1"), vault);
  EXPECT_EQ(VaultIdOf(vault + "/accesspolicies/remove"), vault);
  EXPECT_EQ(VaultIdOf("/subscriptions/s"), "");
}

TEST(VaultUri, KeyUrisSplitIntoHostNameVersion) {
  auto u = ParseVaultUri("https://Contoso-KV.vault.azure.net/keys/CMK/0123ABCD");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "contoso-kv.vault.azure.net");
  EXPECT_EQ(u->collection, "keys");
  EXPECT_EQ(u->name, "cmk");
  EXPECT_EQ(u->version, "0123abcd");

  u = ParseVaultUri("https://kv.vault.azure.net:443/keys/cmk?api-version=7.4");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "kv.vault.azure.net");
  EXPECT_EQ(u->name, "cmk");
  EXPECT_EQ(u->version, "");

  u = ParseVaultUri("https://kv.vault.azure.net/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->collection, "");
  EXPECT_FALSE(ParseVaultUri("http://kv.vault.azure.net/keys/x"));
  EXPECT_FALSE(ParseVaultUri("kv.vault.azure.net"));
  EXPECT_EQ(VaultUriOfHost("KV.vault.azure.net"), "https://kv.vault.azure.net/");
}

// Key Vault names are [A-Za-z0-9-]: a URI whose host or name carries
// whitespace or controls is not taken as a key reference, so no id built
// from it can end in a space (fuzzing found "…/keys/cmk \t?x" becoming a
// non-canonical resource id).
TEST(ResourceId, VaultUrisWithCharactersKeyVaultNeverUsesAreRefused) {
  EXPECT_FALSE(ParseVaultUri("https://kv.vault.azure.net/keys/cmk \t?api-version=7.4"));
  EXPECT_FALSE(ParseVaultUri("https://kv.vault.azure.net/keys/cmk\n/0123"));
  EXPECT_FALSE(ParseVaultUri("https://kv.vault.azure.net/keys/cmk/01 23"));
  EXPECT_FALSE(ParseVaultUri("https://k v.vault.azure.net/keys/cmk"));
  EXPECT_FALSE(ParseVaultUriView("https://kv.vault.azure.net/keys/\"cmk\""));
  // What Key Vault does send still parses, whatever follows the version.
  auto u = ParseVaultUri("https://kv.vault.azure.net/keys/my-cmk_1/0123abcd/unwrapkey?api-version=7.4");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->name, "my-cmk_1");
  EXPECT_EQ(u->version, "0123abcd");
}

// The edges of the one-pass reading: what ends the host, empty segments,
// what is read past the third segment (nothing), and a port left unchecked.
TEST(VaultUri, ThePartsEndWhereTheContractSays) {
  auto u = ParseVaultUriView("https://kv.vault.azure.net//keys///cmk/v1/with space/and:colon");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->collection, "keys");
  EXPECT_EQ(u->name, "cmk");
  EXPECT_EQ(u->version, "v1");

  u = ParseVaultUriView("https://kv.vault.azure.net?x=/keys/cmk");  // the query comes before any path
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "kv.vault.azure.net");
  EXPECT_EQ(u->collection, "");

  u = ParseVaultUriView("https://kv.vault.azure.net:44 3/keys/cmk#frag/ment");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "kv.vault.azure.net");
  EXPECT_EQ(u->name, "cmk");
  EXPECT_EQ(u->version, "");

  u = ParseVaultUriView("  HTTPS://kv.vault.azure.net/keys \n");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->collection, "keys");

  EXPECT_FALSE(ParseVaultUriView("https://:443/keys/cmk"));
  EXPECT_FALSE(ParseVaultUriView("https:///keys/cmk"));
  EXPECT_FALSE(ParseVaultUriView("https://kv.vault.azure.net/keys:x/cmk"));
  EXPECT_FALSE(ParseVaultUriView("https://kv\xc3\xa9.vault.azure.net/keys/cmk"));
}

// Names from fields other than URIs (Event Grid's data.ObjectName, ARM ids)
// pass the same test before they become part of an id: fuzzing found
// "ai-cmk-key \t" turning into an id ending in a tab.
TEST(ResourceId, OnlyNamesKeyVaultAcceptsBecomePartOfAnId) {
  EXPECT_TRUE(IsVaultObjectName("ai-cmk-key"));
  EXPECT_TRUE(IsVaultObjectName("CMK-2025"));
  EXPECT_TRUE(IsVaultObjectName(std::string(127, 'k')));
  EXPECT_FALSE(IsVaultObjectName(std::string(128, 'k')));
  EXPECT_FALSE(IsVaultObjectName(""));
  EXPECT_FALSE(IsVaultObjectName("ai-cmk-key \t"));
  EXPECT_FALSE(IsVaultObjectName("a/b"));
  EXPECT_FALSE(IsVaultObjectName("cmk_1"));

  const std::string rg = "/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/";
  EXPECT_EQ(VaultIdOf(rg + "kv /keys/k"), "");
  EXPECT_EQ(VaultIdOf(rg + "kv\t/keys/k"), "");
  EXPECT_EQ(VaultIdOf(rg + "kv-1/keys/k"), rg + "kv-1");
}

}  // namespace
}  // namespace cmkwatch
