// Private: typed changes from an ARM resource body.
//
// The same JSON shape reaches us four ways: inventory snapshots (az ... show),
// Activity Log request and response bodies, Key Vault VaultPut/VaultPatch
// audit properties and Event Grid payloads. ReadArmBody turns it into the
// Changes of event.h for the resource kinds rules care about:
//
//   vault:            properties.{enableSoftDelete, enablePurgeProtection,
//                     enableRbacAuthorization, softDeleteRetentionInDays,
//                     publicNetworkAccess, networkAcls, accessPolicies,
//                     tenantId, vaultUri}, location
//   key (ARM):        properties.{kty, keySize, curveName, keyOps,
//                     attributes.{enabled, exp, nbf}}
//   key (data plane): key.{kid, kty, key_ops, crv, n}, attributes.{enabled,
//                     exp|expires, nbf|notBefore}
//   AI account:       kind, location, identity, properties.encryption.
//                     {keySource, keyVaultProperties.{keyVaultUri, keyName,
//                     keyVersion, identityClientId}}
//   ML workspace:     kind, location, identity, properties.encryption.
//                     {status, identity.userAssignedIdentity,
//                     keyVaultProperties.{keyVaultArmId, keyIdentifier,
//                     identityClientId}}
//   role assignment:  properties.{principalId, principalType,
//                     roleDefinitionId, scope} (or the same at top level, as
//                     az role assignment list prints them)
//   diagnostic set.:  properties.{logs[].{category, categoryGroup, enabled},
//                     workspaceId, storageAccountId, eventHubAuthorizationRuleId}
//
// Field names are matched case-insensitively. Unknown fields are skipped.
#pragma once

#include <string>

#include "cmkwatch/common/event.h"
#include "json_access.h"

namespace cmkwatch::collector::internal {

struct ArmContext {
  ResourceKind kind = ResourceKind::kUnknown;
  // For Microsoft.KeyVault/vaults/accessPolicies/{add,replace,remove}: the
  // listed policies are the change, not the vault's whole list.
  std::string access_policy_operation;
  int level = 1;  // parser level for JSON found inside strings
};

// Everything a body may say, before it is known which kind it describes
// (Azure does not promise that "type" comes before "properties").
struct ArmBody {
  std::string id, type, name;  // top-level fields, as sent
  std::string kid;             // data-plane key bundle: key.kid
  VaultChanges vault;
  bool vault_seen = false;
  KeyChanges key;
  bool key_seen = false;
  AccountChanges account;
  bool account_seen = false;
  RoleAssignmentChanges role;
  bool role_seen = false;
  DiagnosticSettingChanges diag;
  bool diag_seen = false;
  std::vector<AccessPolicy> policies;
  bool policies_seen = false;
};

// Two steps, for callers that learn the kind from the body itself.
Status ReadArmBody(od::object body, const ParseLimits& limits, ArmBody& out);
void ApplyArmBody(ArmBody&& body, const ArmContext& ctx, Changes& changes);

// Reads `body` (a whole resource or an object holding just its properties)
// and fills the part of `changes` that matches ctx.kind. Returns Corruption
// only when the JSON itself is malformed; missing fields are not errors.
Status ReadArmBody(od::object body, const ArmContext& ctx, const ParseLimits& limits, Changes& changes);

// The same for a body that arrives as JSON text inside a string.
Status ReadArmBodyText(std::string_view text, const ArmContext& ctx, const ParseLimits& limits, Changes& changes);

}  // namespace cmkwatch::collector::internal
