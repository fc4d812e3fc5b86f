#include "state.h"

#include <algorithm>

#include "cmkwatch/common/resource_id.h"

namespace cmkwatch::analyzer::internal {

std::string_view VaultNameViewOfId(std::string_view id) {
  const std::string_view vault = VaultIdPrefix(id);
  if (vault.empty()) return {};
  return vault.substr(vault.rfind('/') + 1);
}

std::string_view VaultNameViewOfHost(std::string_view host) { return host.substr(0, host.find('.')); }

std::string VaultNameOfId(std::string_view id) { return std::string(VaultNameViewOfId(id)); }

std::string VaultNameOfHost(std::string_view host) { return AsciiLower(VaultNameViewOfHost(host)); }

std::string VaultNameOfUri(std::string_view uri) {
  auto parsed = ParseVaultUriView(uri);
  if (!parsed) return {};
  return VaultNameOfHost(parsed->host);
}

std::string_view SegmentAfter(std::string_view id, std::string_view marker) {
  const size_t at = id.find(marker);
  if (at == std::string_view::npos) return {};
  const size_t start = at + marker.size();
  return id.substr(start, id.find('/', start) - start);
}

bool IsKeyCryptoRole(std::string_view role) {
  // Key Vault Crypto Service Encryption User, Crypto Officer, Administrator.
  return role == "e147488a-f6f5-4113-8e2d-b22465e65bf6" || role == "14b46e9e-c2b7-41b4-b07b-48a6ebf60603" ||
         role == "00482a5a-887f-4fb3-b363-3b7fe8e74483";
}

template <typename M>
typename M::mapped_type* State::FindOrAdd(M& map, std::string key) {
  auto it = map.find(std::string_view(key));
  if (it != map.end()) return &it->second;
  if (map.size() >= max_) {
    ++dropped_;
    return nullptr;
  }
  return &map.emplace(std::move(key), typename M::mapped_type{}).first->second;
}

VaultState* State::Vault(std::string_view name) {
  if (name.empty()) return nullptr;
  if (VaultState* found = FindVault(name)) return found;
  VaultState* v = FindOrAdd(vaults_, std::string(name));
  if (v && v->name.empty()) v->name = std::string(name);
  return v;
}

KeyState* State::Key(std::string_view vault, std::string_view key) {
  if (vault.empty() || key.empty()) return nullptr;
  if (KeyState* found = FindKey(vault, key)) return found;
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
  if (auto it = ai_.find(id); it != ai_.end()) return &it->second;
  AiState* a = FindOrAdd(ai_, std::string(id));
  if (a && a->id.empty()) a->id = std::string(id);
  return a;
}

RoleAssignmentState* State::RoleAssignment(std::string_view id) {
  if (id.empty()) return nullptr;
  if (auto it = role_assignments_.find(id); it != role_assignments_.end()) return &it->second;
  return FindOrAdd(role_assignments_, std::string(id));
}

const VaultState* State::FindVault(std::string_view name) const {
  auto it = vaults_.find(name);
  return it == vaults_.end() ? nullptr : &it->second;
}

VaultState* State::FindVault(std::string_view name) {
  auto it = vaults_.find(name);
  return it == vaults_.end() ? nullptr : &it->second;
}

KeyState* State::FindKey(std::string_view vault, std::string_view key) {
  return const_cast<KeyState*>(static_cast<const State*>(this)->FindKey(vault, key));
}

const KeyState* State::FindKey(std::string_view vault, std::string_view key) const {
  // A reused buffer: this runs for every data-plane event.
  std::string& k = key_scratch_;
  k.assign(vault);
  k += '/';
  k += key;
  auto it = keys_.find(std::string_view(k));
  return it == keys_.end() ? nullptr : &it->second;
}

const AiState* State::FindAi(std::string_view id) const {
  auto it = ai_.find(id);
  return it == ai_.end() ? nullptr : &it->second;
}

void State::Reindex(const std::string& id, const AiState& before, const AiState& after) {
  if (before.vault != after.vault) {
    if (auto it = ai_by_vault_.find(std::string_view(before.vault)); it != ai_by_vault_.end()) {
      it->second.erase(id);
      if (it->second.empty()) ai_by_vault_.erase(it);
    }
    if (!after.vault.empty()) ai_by_vault_[after.vault].insert(id);
  }
  if (before.identity_client_id != after.identity_client_id) {
    if (auto it = ai_by_client_.find(std::string_view(before.identity_client_id)); it != ai_by_client_.end()) {
      it->second.erase(id);
      if (it->second.empty()) ai_by_client_.erase(it);
    }
    if (!after.identity_client_id.empty()) ai_by_client_[after.identity_client_id].insert(id);
  }
}

std::vector<AiState*> State::AiByClientId(std::string_view client_id) {
  std::vector<AiState*> out;
  auto it = ai_by_client_.find(client_id);
  if (it == ai_by_client_.end()) return out;
  for (const auto& id : it->second) {
    if (auto a = ai_.find(std::string_view(id)); a != ai_.end()) out.push_back(&a->second);
  }
  return out;
}

std::vector<const AiState*> State::BoundToVault(std::string_view vault) const {
  std::vector<const AiState*> out;
  auto it = ai_by_vault_.find(vault);
  if (vault.empty() || it == ai_by_vault_.end()) return out;
  for (const auto& id : it->second) {
    auto a = ai_.find(std::string_view(id));
    if (a != ai_.end() && !a->second.deleted && a->second.Cmk()) out.push_back(&a->second);
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
  for (const auto& [name, key] : keys_) {
    if (key.vault != vault) continue;
    for (const auto& [principal, last_success] : key.users) out.insert(principal);
  }
  return out;
}

}  // namespace cmkwatch::analyzer::internal
