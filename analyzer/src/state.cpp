#include "state.h"

#include <algorithm>

#include "cmkwatch/common/resource_id.h"

namespace cmkwatch::analyzer::internal {

std::string VaultNameOfId(std::string_view id) {
  const std::string_view vault = VaultIdPrefix(id);
  if (vault.empty()) return {};
  return std::string(vault.substr(vault.rfind('/') + 1));
}

std::string VaultNameOfHost(std::string_view host) {
  const size_t dot = host.find('.');
  return AsciiLower(host.substr(0, dot));
}

std::string VaultNameOfUri(std::string_view uri) {
  auto parsed = ParseVaultUriView(uri);
  if (!parsed) return {};
  return VaultNameOfHost(parsed->host);
}

std::string_view ResourceGroupOf(std::string_view id) {
  constexpr std::string_view kRg = "/resourcegroups/";
  const size_t at = id.find(kRg);
  if (at == std::string_view::npos) return {};
  const size_t start = at + kRg.size();
  return id.substr(start, id.find('/', start) - start);
}

bool IsKeyCryptoRole(std::string_view role) {
  // Key Vault Crypto Service Encryption User, Crypto Officer, Administrator.
  return role == "e147488a-f6f5-4113-8e2d-b22465e65bf6" || role == "14b46e9e-c2b7-41b4-b07b-48a6ebf60603" ||
         role == "00482a5a-887f-4fb3-b363-3b7fe8e74483";
}

template <typename M>
typename M::mapped_type* State::FindOrAdd(M& map, std::string key) {
  auto it = map.find(key);
  if (it != map.end()) return &it->second;
  if (map.size() >= max_) {
    ++dropped_;
    return nullptr;
  }
  return &map.emplace(std::move(key), typename M::mapped_type{}).first->second;
}

VaultState* State::Vault(std::string_view name) {
  if (name.empty()) return nullptr;
  VaultState* v = FindOrAdd(vaults_, std::string(name));
  if (v && v->name.empty()) v->name = std::string(name);
  return v;
}

KeyState* State::Key(std::string_view vault, std::string_view key) {
  if (vault.empty() || key.empty()) return nullptr;
  std::string k(vault);
  k += '/';
  k += key;
  KeyState* s = FindOrAdd(keys_, std::move(k));
  if (s && s->name.empty()) {
    s->vault = std::string(vault);
    s->name = std::string(key);
  }
  return s;
}

AiState* State::Ai(std::string_view id) {
  if (id.empty()) return nullptr;
  AiState* a = FindOrAdd(ai_, std::string(id));
  if (a && a->id.empty()) a->id = std::string(id);
  return a;
}

RoleAssignmentState* State::RoleAssignment(std::string_view id) {
  if (id.empty()) return nullptr;
  return FindOrAdd(role_assignments_, std::string(id));
}

const VaultState* State::FindVault(std::string_view name) const {
  auto it = vaults_.find(std::string(name));
  return it == vaults_.end() ? nullptr : &it->second;
}

const KeyState* State::FindKey(std::string_view vault, std::string_view key) const {
  std::string k(vault);
  k += '/';
  k += key;
  auto it = keys_.find(k);
  return it == keys_.end() ? nullptr : &it->second;
}

const AiState* State::FindAi(std::string_view id) const {
  auto it = ai_.find(std::string(id));
  return it == ai_.end() ? nullptr : &it->second;
}

std::vector<const AiState*> State::BoundToVault(std::string_view vault) const {
  std::vector<const AiState*> out;
  if (vault.empty()) return out;
  for (const auto& [id, a] : ai_) {
    if (!a.deleted && a.Cmk() && a.vault == vault) out.push_back(&a);
  }
  return out;
}

std::vector<const AiState*> State::BoundToKey(std::string_view vault, std::string_view key) const {
  std::vector<const AiState*> out;
  for (const AiState* a : BoundToVault(vault)) {
    if (a->key_name == key) out.push_back(a);
  }
  return out;
}

std::set<std::string> State::BoundPrincipals(std::string_view vault) const {
  std::set<std::string> out;
  for (const AiState* a : BoundToVault(vault)) {
    if (!a->principal_id.empty()) out.insert(a->principal_id);
    out.insert(a->learned_principals.begin(), a->learned_principals.end());
  }
  std::string prefix(vault);
  prefix += '/';
  for (auto it = keys_.lower_bound(prefix); it != keys_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    for (const auto& [principal, last_success] : it->second.users) out.insert(principal);
  }
  return out;
}

}  // namespace cmkwatch::analyzer::internal
