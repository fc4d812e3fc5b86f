// Identities shared by the hand-made Key Vault audit fixtures
// (tests/fixtures/kvaudit and tests/fixtures/azurediagnostics describe the
// same vault, key and principals in different Log Analytics shapes).
#pragma once

#include <string>

namespace cmkwatch::test::kv_fixture {

inline const std::string kVaultId =
    "/subscriptions/7d3a1b2c-4e5f-4a6b-8c9d-0e1f2a3b4c5d/resourcegroups/rg-aifoundry-cmk/providers/"
    "microsoft.keyvault/vaults/kv-aifoundry-cmk";
inline const std::string kKeyId = kVaultId + "/keys/foundry-cmk";
inline constexpr const char* kHost = "kv-aifoundry-cmk.vault.azure.net";
inline constexpr const char* kV1 = "0a1b2c3d4e5f46a7b8c9d0e1f2a3b4c5";
inline constexpr const char* kV2 = "9f8e7d6c5b4a49382716f5e4d3c2b1a0";
inline constexpr const char* kTenant = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f";
inline constexpr const char* kMiOid = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9";
inline constexpr const char* kMiAppId = "8b9c0d1e-2f3a-4b5c-8d6e-7f8a9b0c1d2e";
inline constexpr const char* kMiIp = "20.42.73.118";
inline constexpr const char* kAdminOid = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
inline constexpr const char* kAdminUpn = "kvadmin@contoso.example";
inline constexpr const char* kAdminIp = "203.0.113.7";
inline constexpr const char* kCliAppId = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
inline constexpr const char* kPortalAppId = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c";

}  // namespace cmkwatch::test::kv_fixture
