// ARM resource ids and Key Vault URIs in one canonical form.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cmkwatch/common/event.h"

namespace cmkwatch {

// Lower-cases an ARM id (ids are case-insensitive and Azure sends both cases),
// trims surrounding whitespace and trailing '/', and ensures a leading '/'.
// An empty input gives an empty id.
std::string CanonicalResourceId(std::string_view id);

// ASCII lower case.
std::string AsciiLower(std::string_view s);

// Inline: parsers compare every field name they meet this way.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] | 0x20) : a[i];
    const char y = (b[i] >= 'A' && b[i] <= 'Z') ? static_cast<char>(b[i] | 0x20) : b[i];
    if (x != y) return false;
  }
  return true;
}

// Whether `name` can name a Key Vault key, secret or certificate: 1 to 127
// letters, digits and '-'. Parsers build ids from names only when it can, so
// a name Key Vault would refuse ("cmk \t") never becomes part of an id.
bool IsVaultObjectName(std::string_view name);

// The id of the Key Vault vault an id is inside ("/subscriptions/../vaults/v"
// for ".../vaults/v/keys/k/versions/1" or ".../vaults/v/accesspolicies/add"),
// or "" when the id is not inside a vault or the vault's name holds a
// character no DNS label has. Input must be canonical.
std::string VaultIdOf(std::string_view canonical_id);
// The same as a prefix of `canonical_id` (no allocation, for per-record use).
std::string_view VaultIdPrefix(std::string_view canonical_id);

// A Key Vault data-plane URI:
//   https://contoso.vault.azure.net/keys/name/version
//   https://contoso.vault.azure.net:443/keys/name   (port dropped)
//   https://contoso.vault.azure.net/                (vault only)
// Also managed HSM hosts. Returns nullopt when this is not an https URI with a
// host, or when the host or one of the first three path segments holds a
// character outside [A-Za-z0-9._~-] (Key Vault names never do). Collection
// names other than "keys" (secrets, certificates) leave name and version
// empty unless `any_collection` is set.
struct VaultUri {
  std::string host;        // lower case
  std::string collection;  // "keys", "secrets", "certificates", or ""
  std::string name;        // lower case
  std::string version;     // lower case
};
std::optional<VaultUri> ParseVaultUri(std::string_view uri);
// The same parse as views into `uri`, not lower-cased (no allocation, for
// the per-record path; ParseVaultUri is this plus lower-cased copies).
struct VaultUriView {
  std::string_view host, collection, name, version;
};
std::optional<VaultUriView> ParseVaultUriView(std::string_view uri);

// "https://<host>/" for a vault host, the form AI accounts store in keyVaultUri.
std::string VaultUriOfHost(std::string_view host);

}  // namespace cmkwatch
