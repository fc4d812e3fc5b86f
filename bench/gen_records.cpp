// cmkwatch-bench-gen: writes deterministic, realistic input for the parse
// benchmark (parse_bench.cpp).
//
//   kv_audit.jsonl   Key Vault AuditEvent records, one per line, as Azure
//                    Monitor writes them to Storage (insights-logs-auditevent
//                    PT1H.json) and Event Hubs: category AuditEvent, time with
//                    7 fractional digits, upper-case resourceId, durationMs as
//                    a string, identity.claim, properties{id, clientInfo,
//                    requestUri, httpStatusCode, isAccessPolicyMatch |
//                    isRbacAuthorized, tlsVersion, ...}.
//   activity.jsonl   Activity Log records in the export schema (Storage
//                    insights-activity-logs PT1H.json, one per line): Start
//                    and Success pairs of vault, Cognitive Services account
//                    and role assignment writes, with properties.requestbody /
//                    responseBody as JSON inside a string and
//                    identity.{authorization, claims}.
//
// Field names and shapes follow Microsoft's documented schemas and the
// real samples in /work/shared/corpus (Key Vault logging page; the
// administrative-log.json export record). All identifiers are synthetic:
// GUIDs come from the seeded generator, IPs from documentation ranges where
// the address is public.
//
// Output depends only on the seed and the record counts: the generator is
// our own xoshiro256** (std:: distributions differ between standard
// libraries) and nothing iterates an unordered container.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

// ---------------------------------------------------------------------------
// Random numbers

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman & Vigna), seeded through SplitMix64.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& s : s_) s = SplitMix64(seed);
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n); the modulo bias is irrelevant for the small n used here.
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
  // True with probability per_mille / 1000.
  bool Chance(uint32_t per_mille) { return Next() % 1000 < per_mille; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(v.size())];
  }
  template <typename T, size_t N>
  const T& Pick(const T (&a)[N]) {
    return a[Below(N)];
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

constexpr char kHexLower[] = "0123456789abcdef";

std::string Hex(Rng& rng, size_t digits) {
  std::string s(digits, '0');
  uint64_t bits = 0;
  for (size_t i = 0; i < digits; ++i) {
    if (i % 16 == 0) bits = rng.Next();
    s[i] = kHexLower[bits & 0xF];
    bits >>= 4;
  }
  return s;
}

// 8-4-4-4-12, lower case, shaped as a version-4 GUID like Azure's.
std::string Guid(Rng& rng) {
  std::string h = Hex(rng, 32);
  h[12] = '4';
  h[16] = "89ab"[rng.Below(4)];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// ---------------------------------------------------------------------------
// Time: 100-ns ticks since the Unix epoch, formatted as Azure does
// ("2025-06-02T10:16:32.9873441Z": always 7 fractional digits).

constexpr int64_t kTicksPerSecond = 10'000'000;

// Days since 1970-01-01 → civil date (H. Hinnant's algorithm).
void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

// Days since the epoch of a civil date (inverse of the above).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string FormatTicks(int64_t ticks) {
  const int64_t secs = ticks / kTicksPerSecond;
  const int64_t frac = ticks % kTicksPerSecond;
  const int64_t days = secs / 86400;
  const int64_t sod = secs % 86400;
  int64_t y = 0;
  unsigned m = 0, d = 0;
  CivilFromDays(days, y, m, d);
  char buf[64];  // room for any int64 the format could print
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%07lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(sod / 3600), static_cast<long long>(sod / 60 % 60),
                static_cast<long long>(sod % 60), static_cast<long long>(frac));
  return buf;
}

// ---------------------------------------------------------------------------
// A small streaming JSON writer (one line, no spaces, as Azure exports).

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& BeginObject() {
    Separate();
    out_ += '{';
    first_.push_back(true);
    return *this;
  }
  JsonWriter& EndObject() {
    out_ += '}';
    first_.pop_back();
    return *this;
  }
  JsonWriter& BeginArray() {
    Separate();
    out_ += '[';
    first_.push_back(true);
    return *this;
  }
  JsonWriter& EndArray() {
    out_ += ']';
    first_.pop_back();
    return *this;
  }
  JsonWriter& Key(std::string_view key) {
    Separate();
    AppendString(key);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  JsonWriter& String(std::string_view value) {
    Separate();
    AppendString(value);
    return *this;
  }
  JsonWriter& Int(int64_t value) {
    Separate();
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    (void)ec;
    out_.append(buf, end);
    return *this;
  }
  JsonWriter& Bool(bool value) {
    Separate();
    out_ += value ? "true" : "false";
    return *this;
  }
  JsonWriter& Null() {
    Separate();
    out_ += "null";
    return *this;
  }
  // Shorthands for "key": value.
  JsonWriter& Field(std::string_view key, std::string_view value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, const char* value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, const std::string& value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, int64_t value) { return Key(key).Int(value); }
  JsonWriter& Field(std::string_view key, int value) { return Key(key).Int(value); }
  JsonWriter& Field(std::string_view key, bool value) { return Key(key).Bool(value); }

 private:
  void Separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (first_.empty()) return;
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
  void AppendString(std::string_view s) {
    out_ += '"';
    for (char c : s) {
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out_ += buf;
          } else {
            out_ += c;
          }
      }
    }
    out_ += '"';
  }

  std::string& out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

// ---------------------------------------------------------------------------
// The synthetic estate: subscriptions, vaults, keys, identities, AI accounts.

struct Subscription {
  std::string id;
  std::vector<std::string> resource_groups;
};

struct Vault {
  std::string name;  // lower case, as in vault URIs
  size_t sub = 0;
  std::string rg;
  std::string location;
  std::string arm_id;  // canonical case: /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name>
  bool rbac = false;
  bool purge_protection = true;
  // The vault's configuration, fixed for the run (a real estate changes it
  // rarely): every write of the vault repeats it, except during an incident.
  bool premium = true;
  bool disk_encryption = false;
  int64_t retention_days = 90;
  bool deny = true;  // networkAcls.defaultAction
  std::vector<std::string> ip_rules;
  bool vnet_rule = false;
  // Access policies (access-policy vaults): identity indexes. Every CMK
  // identity bound to the vault has get/wrapKey/unwrapKey, as the seed
  // requires; a few operators and pipelines have more.
  std::vector<size_t> policies;
  std::vector<size_t> keys;
  std::vector<std::string> secrets;
  std::vector<std::string> secret_versions;
};

struct Key {
  size_t vault = 0;
  std::string name;
  std::vector<std::string> versions;
  std::string kty;  // "RSA" / "RSA-HSM"
};

enum class IdKind : uint8_t { kUserAssignedMi, kSystemAssignedMi, kServicePrincipal, kUser };

struct Identity {
  IdKind kind = IdKind::kServicePrincipal;
  std::string object_id;
  std::string app_id;
  std::string mirid;  // managed identities: the ARM id in xms_mirid
  std::string upn;    // users
  std::string given, surname;
  std::string ip;
  std::string client_info;
  bool uri_claims = true;  // claim names in long URI form (else oid/tid)
  size_t sub = 0;
};

struct AiAccount {
  std::string name;
  size_t sub = 0;
  std::string rg;
  std::string location;
  size_t vault = 0;
  size_t key = 0;
  size_t identity = 0;  // the managed identity CMK uses: user-assigned, or the account's own
  bool user_assigned = true;
  bool cmk = true;
};

struct Estate {
  std::string tenant;
  std::string root_mg;
  std::vector<Subscription> subs;
  std::vector<Vault> vaults;
  std::vector<Key> keys;
  std::vector<Identity> ids;
  std::vector<AiAccount> accounts;
  std::vector<size_t> mis, sps, users;  // indexes into ids by kind
  std::vector<size_t> cmk_accounts;     // indexes into accounts with cmk
};

constexpr const char* kLocations[] = {"westeurope", "swedencentral", "eastus2", "northeurope", "francecentral"};
constexpr const char* kTeams[] = {"openai", "foundry", "search", "ml", "data", "payments", "shared", "platform",
                                  "risk",   "claims",  "hr",     "ops"};
constexpr const char* kStages[] = {"prod", "dev", "test", "stg"};
constexpr const char* kKeyPurposes[] = {"openai", "foundry", "search", "storage", "cosmos", "sql", "disk", "backup"};
constexpr const char* kSecretNames[] = {"sp-client-secret", "storage-connection", "db-password",  "api-key",
                                        "cosmos-key",        "redis-password",     "smtp-password", "webhook-hmac"};
constexpr const char* kGiven[] = {"Ana", "Bruno", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jun"};
constexpr const char* kSurname[] = {"Novak", "Silva", "Wang", "Meyer", "Kowalski", "Haddad", "Ito", "Berg"};

// Client strings of the kind Key Vault records in properties.clientInfo.
constexpr const char* kSdkClients[] = {
    "azsdk-net-Security.KeyVault.Keys/4.6.0 (.NET 8.0.7; Linux 5.15.0-1066-azure #75-Ubuntu SMP Thu May 30 14:29:45 "
    "UTC 2024)",
    "azsdk-python-keyvault-keys/4.9.0 Python/3.11.9 (Linux-5.15.0-1064-azure-x86_64-with-glibc2.35)",
    "azsdk-java-azure-security-keyvault-keys/4.8.3 (17.0.11; Linux; 5.15.0-1064-azure)",
    "FxVersion/4.8.9256.0 OSName/Windows OSVersion/Microsoft.Windows.10.0.20348. "
    "Microsoft.Azure.KeyVault.KeyVaultClient/3.0.5.0",
    "azsdk-go-azkeys/v1.1.0 (go1.22.4; linux)",
};
constexpr const char* kBrowserClient =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Safari/537.36 Edg/126.0.0.0";
constexpr const char* kAzCliClient =
    "AZURECLI/2.61.0 (DEB) azsdk-python-keyvault-keys/4.9.0 Python/3.11.8 (Linux-6.5.0-1022-azure-x86_64-with-glibc2.35)";

// Well-known first-party app ids: Azure CLI, Azure Portal.
constexpr const char* kAzCliAppId = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
constexpr const char* kPortalAppId = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c";

// Built-in Key Vault roles (ids as Azure documents them).
struct Role {
  const char* name;
  const char* id;
};
constexpr Role kRoles[] = {
    {"Key Vault Crypto Service Encryption User", "e147488a-f6f5-4113-8e2d-b22465e65bf6"},
    {"Key Vault Crypto User", "12338af0-0e69-4776-bea7-57ae8d297424"},
    {"Key Vault Crypto Officer", "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"},
    {"Key Vault Administrator", "00482a5a-887f-4fb3-b363-3b7fe8e74483"},
    {"Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6"},
};

std::string PublicIp(Rng& rng) {
  // Documentation ranges (RFC 5737) stand in for public client addresses.
  constexpr const char* kNets[] = {"192.0.2.", "198.51.100.", "203.0.113."};
  return std::string(rng.Pick(kNets)) + std::to_string(1 + rng.Below(254));
}

std::string AzureIp(Rng& rng) {
  return "10." + std::to_string(rng.Below(256)) + "." + std::to_string(rng.Below(256)) + "." +
         std::to_string(1 + rng.Below(254));
}

Estate BuildEstate(Rng& rng) {
  Estate e;
  e.tenant = Guid(rng);
  e.root_mg = "mg-" + Hex(rng, 6);
  for (int i = 0; i < 5; ++i) {
    Subscription s;
    s.id = Guid(rng);
    for (int j = 0; j < 6; ++j) {
      s.resource_groups.push_back(std::string("rg-") + rng.Pick(kTeams) + "-" + rng.Pick(kStages) + "-" +
                                  std::to_string(j + 1));
    }
    e.subs.push_back(std::move(s));
  }

  // ~50 vaults, 4 keys each (~200 keys), a few secrets each.
  for (int i = 0; i < 50; ++i) {
    Vault v;
    v.sub = rng.Below(e.subs.size());
    v.rg = rng.Pick(e.subs[v.sub].resource_groups);
    v.location = rng.Pick(kLocations);
    v.name = std::string("kv-") + kTeams[static_cast<size_t>(i) % std::size(kTeams)] + "-" + rng.Pick(kStages) + "-" +
             (i < 10 ? "0" : "") + std::to_string(i);  // <= 24 characters
    v.arm_id = "/subscriptions/" + e.subs[v.sub].id + "/resourceGroups/" + v.rg +
               "/providers/Microsoft.KeyVault/vaults/" + v.name;
    v.rbac = rng.Chance(600);
    v.purge_protection = rng.Chance(900);
    for (int k = 0; k < 4; ++k) {
      Key key;
      key.vault = e.vaults.size();
      key.name = std::string("cmk-") + rng.Pick(kKeyPurposes) + "-" + std::to_string(k + 1);
      const size_t versions = 1 + rng.Below(3);
      for (size_t n = 0; n < versions; ++n) key.versions.push_back(Hex(rng, 32));
      key.kty = rng.Chance(300) ? "RSA-HSM" : "RSA";
      v.keys.push_back(e.keys.size());
      e.keys.push_back(std::move(key));
    }
    for (int s = 0; s < 3; ++s) {
      v.secrets.push_back(std::string(rng.Pick(kSecretNames)) + "-" + std::to_string(s + 1));
      v.secret_versions.push_back(Hex(rng, 32));
    }
    e.vaults.push_back(std::move(v));
  }

  // 100 identities: 40 user-assigned MIs, 20 system-assigned MIs (of AI
  // accounts), 25 service principals, 15 users.
  for (int i = 0; i < 100; ++i) {
    Identity id;
    id.object_id = Guid(rng);
    id.app_id = Guid(rng);
    id.sub = rng.Below(e.subs.size());
    const std::string& rg = rng.Pick(e.subs[id.sub].resource_groups);
    id.uri_claims = rng.Chance(700);
    if (i < 40) {
      id.kind = IdKind::kUserAssignedMi;
      id.mirid = "/subscriptions/" + e.subs[id.sub].id + "/resourcegroups/" + rg +
                 "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-" + rng.Pick(kTeams) + "-cmk-" +
                 std::to_string(i);
      id.ip = AzureIp(rng);
      id.client_info = rng.Pick(kSdkClients);
    } else if (i < 60) {
      id.kind = IdKind::kSystemAssignedMi;
      id.mirid = "/subscriptions/" + e.subs[id.sub].id + "/resourcegroups/" + rg +
                 "/providers/Microsoft.CognitiveServices/accounts/aif-" + rng.Pick(kTeams) + "-" + std::to_string(i);
      id.ip = AzureIp(rng);
      id.client_info = rng.Pick(kSdkClients);
    } else if (i < 85) {
      id.kind = IdKind::kServicePrincipal;
      id.ip = PublicIp(rng);
      id.client_info = rng.Pick(kSdkClients);
    } else {
      id.kind = IdKind::kUser;
      id.given = rng.Pick(kGiven);
      id.surname = rng.Pick(kSurname);
      id.upn = Lower(id.given) + "." + Lower(id.surname) + std::to_string(i) + "@contoso.example";
      id.app_id = rng.Chance(500) ? kAzCliAppId : kPortalAppId;
      id.ip = PublicIp(rng);
      id.client_info = id.app_id == kAzCliAppId ? kAzCliClient : kBrowserClient;
    }
    const size_t index = e.ids.size();
    if (id.kind == IdKind::kUser) {
      e.users.push_back(index);
    } else if (id.kind == IdKind::kServicePrincipal) {
      e.sps.push_back(index);
    } else {
      e.mis.push_back(index);
    }
    e.ids.push_back(std::move(id));
  }

  // 60 AI Foundry / Azure OpenAI accounts with CMK in one of the vaults.
  // Placed as the seed requires (the vault's region and tenant; mostly its
  // resource group too, as the portal wizard insists), so that a replay of
  // the estate measures the pipeline rather than an alert storm.
  size_t system_mis = 0;
  for (int i = 0; i < 60; ++i) {
    AiAccount a;
    a.vault = rng.Below(e.vaults.size());
    const Vault& v = e.vaults[a.vault];
    a.key = rng.Pick(v.keys);
    a.sub = v.sub;
    a.rg = rng.Chance(900) ? v.rg : rng.Pick(e.subs[a.sub].resource_groups);
    a.location = v.location;
    a.name = std::string("aif-") + rng.Pick(kTeams) + "-" + rng.Pick(kStages) + "-" + std::to_string(i);
    // System-assigned identities are the 20 system MIs (ids 40..59), one
    // account each; the rest use one of the 40 user-assigned MIs.
    a.user_assigned = rng.Chance(600) || system_mis == 20;
    a.identity = a.user_assigned ? rng.Below(40) : 40 + system_mis++;
    a.cmk = rng.Chance(900);
    if (a.cmk) e.cmk_accounts.push_back(e.accounts.size());
    e.accounts.push_back(std::move(a));
  }

  // Vault configuration: a firewall with trusted services allowed, and the
  // access policies the bound identities need plus a few operators.
  for (size_t vi = 0; vi < e.vaults.size(); ++vi) {
    Vault& v = e.vaults[vi];
    v.premium = rng.Chance(700);
    v.disk_encryption = rng.Chance(300);
    v.retention_days = rng.Chance(800) ? 90 : 7;
    v.deny = rng.Chance(700);
    const size_t ip_rules = v.deny ? rng.Below(4) : 0;
    for (size_t i = 0; i < ip_rules; ++i) v.ip_rules.push_back(PublicIp(rng) + "/32");
    v.vnet_rule = v.deny && rng.Chance(600);
    if (v.rbac) continue;
    for (const size_t ai : e.cmk_accounts) {
      const AiAccount& a = e.accounts[ai];
      if (a.vault == vi && std::find(v.policies.begin(), v.policies.end(), a.identity) == v.policies.end()) {
        v.policies.push_back(a.identity);
      }
    }
    v.policies.push_back(rng.Pick(e.users));
    v.policies.push_back(rng.Pick(e.sps));
  }
  return e;
}

// Three incidents at fixed points of the archive's time span, each fixed
// again a little later: what a replay of the archive should find (besides
// the estate's posture findings, e.g. vaults without purge protection).
//   revoke  a vault write drops the access policy of one account's CMK
//           identity (CMK005); the identity's key calls to that vault are
//           refused until the fix (CMK006);
//   bypass  a bound vault's firewall stops allowing trusted services (CMK007);
//   rotate  an account's key moves to a key in another vault (CMK011).
struct Window {
  int64_t from = 0;
  int64_t to = 0;
  bool In(int64_t ticks) const { return ticks >= from && ticks < to; }
};

struct Incidents {
  Window revoke, bypass, rotate;
  size_t revoke_vault = 0, revoke_identity = 0;
  size_t bypass_vault = 0;
  size_t rotate_account = 0, rotate_key = 0;
};

Incidents PlanIncidents(Estate& e, int64_t begin, int64_t end) {
  Incidents inc;
  const auto at = [&](int per_mille) { return begin + (end - begin) / 1000 * per_mille; };
  inc.revoke = {at(300), at(360)};
  inc.bypass = {at(500), at(550)};
  inc.rotate = {at(700), at(720)};
  // The first CMK account in an access-policy vault loses its grant; the
  // next one in another vault behind a firewall loses trusted services; a
  // third, elsewhere again, is rotated across vaults.
  size_t revoke_account = e.accounts.size();
  for (const size_t ai : e.cmk_accounts) {
    const AiAccount& a = e.accounts[ai];
    if (revoke_account == e.accounts.size()) {
      if (!e.vaults[a.vault].rbac) {
        revoke_account = ai;
        inc.revoke_vault = a.vault;
        inc.revoke_identity = a.identity;
      }
    } else if (a.vault != inc.revoke_vault && e.vaults[a.vault].deny) {
      inc.bypass_vault = a.vault;
      break;
    }
  }
  for (const size_t ai : e.cmk_accounts) {
    const AiAccount& a = e.accounts[ai];
    if (ai == revoke_account || a.vault == inc.revoke_vault || a.vault == inc.bypass_vault) continue;
    inc.rotate_account = ai;
    for (const Vault& v : e.vaults) {
      if (&v - e.vaults.data() != static_cast<ptrdiff_t>(a.vault) && v.location == a.location) {
        inc.rotate_key = v.keys.front();
        break;
      }
    }
    // Whoever moves the key grants the identity in the new vault first: the
    // incident is the cross-vault rotation alone.
    Vault& target = e.vaults[e.keys[inc.rotate_key].vault];
    if (!target.rbac) target.policies.insert(target.policies.begin(), a.identity);
    break;
  }
  return inc;
}

std::string VaultResourceIdUpper(const Estate& e, const Vault& v) {
  return "/SUBSCRIPTIONS/" + Upper(e.subs[v.sub].id) + "/RESOURCEGROUPS/" + Upper(v.rg) +
         "/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/" + Upper(v.name);
}

std::string VaultUri(const Vault& v) { return "https://" + v.name + ".vault.azure.net/"; }

// ---------------------------------------------------------------------------
// Output

class Output {
 public:
  explicit Output(const std::filesystem::path& path) : path_(path) {
    file_ = std::fopen(path.c_str(), "wb");
    if (file_ == nullptr) {
      throw std::runtime_error("cannot create " + path.string() + ": " + std::strerror(errno));
    }
    buffer_.reserve(kFlushBytes + (size_t{1} << 16));
  }
  ~Output() {
    if (file_ != nullptr) std::fclose(file_);
  }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  std::string& buffer() { return buffer_; }
  void EndRecord() {
    buffer_ += '\n';
    ++records_;
    if (buffer_.size() >= kFlushBytes) Flush();
  }
  void Close() {
    Flush();
    if (std::fclose(file_) != 0) {
      file_ = nullptr;
      throw std::runtime_error("cannot write " + path_.string() + ": " + std::strerror(errno));
    }
    file_ = nullptr;
  }
  uint64_t records() const { return records_; }
  uint64_t bytes() const { return bytes_; }

 private:
  static constexpr size_t kFlushBytes = size_t{8} << 20;
  void Flush() {
    if (!buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
      throw std::runtime_error("cannot write " + path_.string() + ": " + std::strerror(errno));
    }
    bytes_ += buffer_.size();
    buffer_.clear();
  }

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  std::string buffer_;
  uint64_t records_ = 0;
  uint64_t bytes_ = 0;
};

// ---------------------------------------------------------------------------
// Key Vault AuditEvent

enum class KvOp : uint8_t { kKeyUnwrap, kKeyWrap, kKeyGet, kSecretGet, kVaultGet, kKeySign, kKeyList };

// The mix in per mille: CMK traffic (unwrap/wrap/get) dominates a vault that
// protects AI resources.
KvOp PickKvOp(Rng& rng) {
  const uint64_t r = rng.Below(1000);
  if (r < 400) return KvOp::kKeyUnwrap;
  if (r < 650) return KvOp::kKeyWrap;
  if (r < 800) return KvOp::kKeyGet;
  if (r < 920) return KvOp::kSecretGet;
  if (r < 960) return KvOp::kVaultGet;
  if (r < 990) return KvOp::kKeySign;
  return KvOp::kKeyList;
}

const char* KvOpName(KvOp op) {
  switch (op) {
    case KvOp::kKeyUnwrap: return "KeyUnwrap";
    case KvOp::kKeyWrap: return "KeyWrap";
    case KvOp::kKeyGet: return "KeyGet";
    case KvOp::kSecretGet: return "SecretGet";
    case KvOp::kVaultGet: return "VaultGet";
    case KvOp::kKeySign: return "KeySign";
    case KvOp::kKeyList: return "KeyList";
  }
  return "KeyGet";
}

const char* KvPermission(KvOp op) {
  switch (op) {
    case KvOp::kKeyUnwrap: return "keys unwrapKey";
    case KvOp::kKeyWrap: return "keys wrapKey";
    case KvOp::kKeyGet: return "keys get";
    case KvOp::kSecretGet: return "secrets get";
    case KvOp::kVaultGet: return "vault get";
    case KvOp::kKeySign: return "keys sign";
    case KvOp::kKeyList: return "keys list";
  }
  return "keys get";
}

void WriteKvClaims(JsonWriter& w, const Estate& e, const Identity& id) {
  w.Key("identity").BeginObject().Key("claim").BeginObject();
  if (id.uri_claims) {
    w.Field("http://schemas.microsoft.com/identity/claims/objectidentifier", id.object_id);
    if (!id.upn.empty()) w.Field("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", id.upn);
    w.Field("appid", id.app_id);
    w.Field("http://schemas.microsoft.com/identity/claims/tenantid", e.tenant);
  } else {
    w.Field("oid", id.object_id);
    w.Field("appid", id.app_id);
    w.Field("tid", e.tenant);
    if (!id.upn.empty()) w.Field("upn", id.upn);
  }
  if (!id.mirid.empty()) w.Field("xms_mirid", id.mirid);
  w.Key("xms_az_nwperimid").BeginArray().EndArray();
  w.Field("idtyp", id.kind == IdKind::kUser ? "user" : "app");
  w.Field("appidacr", id.kind == IdKind::kUser ? "0" : "2");
  w.EndObject().EndObject();
}

// Callers other than the AI accounts' CMK identities (whose calls
// WriteKvRecord makes itself).
const Identity& PickKvCaller(Rng& rng, const Estate& e, KvOp op) {
  const std::vector<size_t>* pool = &e.mis;
  switch (op) {
    case KvOp::kKeyUnwrap:
    case KvOp::kKeyWrap: pool = &e.sps; break;
    case KvOp::kKeyGet: pool = &e.users; break;
    case KvOp::kSecretGet: pool = rng.Chance(500) ? &e.sps : &e.mis; break;
    case KvOp::kVaultGet:
    case KvOp::kKeyList: pool = &e.users; break;
    case KvOp::kKeySign: pool = &e.sps; break;
  }
  return e.ids[rng.Pick(*pool)];
}

void WriteKvRecord(Rng& rng, const Estate& e, const Incidents& inc, int64_t ticks, std::string& out) {
  const KvOp op = PickKvOp(rng);
  // Most key traffic is the AI accounts' CMK identities wrapping and
  // unwrapping with their own key; they are never refused, except the one
  // whose grant the revoke incident removed.
  const bool cmk_call =
      (op == KvOp::kKeyUnwrap || op == KvOp::kKeyWrap) ? rng.Chance(900) : op == KvOp::kKeyGet && rng.Chance(700);
  const AiAccount& account = e.accounts[rng.Pick(e.cmk_accounts)];
  const Vault& vault = cmk_call ? e.vaults[account.vault] : e.vaults[rng.Below(e.vaults.size())];
  const Key& key = cmk_call ? e.keys[account.key] : e.keys[rng.Pick(vault.keys)];
  const Identity* other = cmk_call ? nullptr : &PickKvCaller(rng, e, op);
  // On an access-policy vault a pipeline that uses keys is the one the
  // vault's policies name (it would be refused otherwise).
  if (other != nullptr && !vault.rbac && other->kind == IdKind::kServicePrincipal) {
    other = &e.ids[vault.policies.back()];
  }
  const Identity& caller = cmk_call ? e.ids[account.identity] : *other;
  // ~5 % of people's requests are refused (browsing a vault without the
  // permission); pipelines keep their grants.
  // The revocation takes effect once its write completes, a few seconds
  // after the request.
  const bool forbidden = cmk_call ? account.vault == inc.revoke_vault && account.identity == inc.revoke_identity &&
                                        inc.revoke.In(ticks - 5 * kTicksPerSecond)
                                  : caller.kind == IdKind::kUser && rng.Chance(50);
  const bool tls13 = rng.Chance(250);
  const char* api = rng.Chance(700) ? "7.4" : "7.5";

  std::string object_id;  // properties.id
  std::string request_uri;
  const std::string vault_host = "https://" + vault.name + ".vault.azure.net";
  std::string algorithm;
  switch (op) {
    case KvOp::kKeyUnwrap:
    case KvOp::kKeyWrap:
    case KvOp::kKeySign: {
      const std::string& version = key.versions.back();
      object_id = vault_host + "/keys/" + key.name + "/" + version;
      const char* verb = op == KvOp::kKeyUnwrap ? "unwrapkey" : op == KvOp::kKeyWrap ? "wrapkey" : "sign";
      request_uri = object_id + "/" + verb + "?api-version=" + api;
      algorithm = op == KvOp::kKeySign ? (rng.Chance(500) ? "PS256" : "RS256") : (rng.Chance(700) ? "RSA-OAEP" : "RSA-OAEP-256");
      break;
    }
    case KvOp::kKeyGet: {
      const std::string& version = rng.Pick(key.versions);
      object_id = vault_host + "/keys/" + key.name + "/" + version;
      request_uri = vault_host + "/keys/" + key.name + "/?api-version=" + api;
      break;
    }
    case KvOp::kSecretGet: {
      const size_t s = rng.Below(vault.secrets.size());
      object_id = vault_host + "/secrets/" + vault.secrets[s] + "/" + vault.secret_versions[s];
      request_uri = vault_host + "/secrets/" + vault.secrets[s] + "/?api-version=" + api;
      break;
    }
    case KvOp::kVaultGet:
      object_id = VaultUri(vault);
      request_uri = "https://control-prod-" + std::string(vault.location.substr(0, 3)) +
                    ".vaultcore.azure.net/subscriptions/" + e.subs[vault.sub].id + "/resourcegroups/" +
                    Lower(vault.rg) + "/providers/Microsoft.KeyVault/vaults/" + vault.name + "?api-version=2023-07-01";
      api = "2023-07-01";
      break;
    case KvOp::kKeyList:
      request_uri = vault_host + "/keys?api-version=" + api + "&maxresults=25";
      break;
  }

  const std::string vault_upper = VaultResourceIdUpper(e, vault);
  JsonWriter w(out);
  w.BeginObject();
  w.Field("time", FormatTicks(ticks));
  w.Field("category", "AuditEvent");
  w.Field("operationName", KvOpName(op));
  // Key Vault reports "Success" for every completed request; the HTTP
  // status says whether it was refused.
  w.Field("resultType", "Success");
  if (forbidden) {
    std::string why;
    if (vault.rbac) {
      why = "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role "
            "definitions were changed recently, please observe propagation time.\r\nCaller: appid=" +
            caller.app_id + ";oid=" + caller.object_id + ";iss=https://sts.windows.net/" + e.tenant +
            "/\r\nAction: 'Microsoft.KeyVault/vaults/keys/" + (op == KvOp::kKeyWrap ? "wrap" : "unwrap") +
            "/action'\r\nResource: '" + Lower(vault_upper) + "'";
    } else {
      why = "The user, group or application 'appid=" + caller.app_id + ";oid=" + caller.object_id +
            ";iss=https://sts.windows.net/" + e.tenant + "/' does not have " + KvPermission(op) +
            " permission on key vault '" + vault.name + ";location=" + vault.location +
            "'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287";
    }
    w.Field("resultDescription", why);
  } else {
    w.Field("resultDescription", "");
  }
  w.Field("correlationId", Guid(rng));
  w.Field("callerIpAddress", caller.ip);
  WriteKvClaims(w, e, caller);

  w.Key("properties").BeginObject();
  if (!object_id.empty()) w.Field("id", object_id);
  if (!algorithm.empty()) w.Field("algorithm", algorithm);
  w.Field("clientInfo", op == KvOp::kVaultGet ? "azure-resource-manager/2.0" : caller.client_info.c_str());
  w.Field("httpStatusCode", forbidden ? 403 : 200);
  w.Field("requestUri", request_uri);
  if (vault.rbac) {
    w.Field("isRbacAuthorized", !forbidden);
    if (!forbidden) w.Field("appliedAssignmentId", Hex(rng, 32));
  } else {
    w.Field("isAccessPolicyMatch", !forbidden);
  }
  if (op == KvOp::kKeyGet && !forbidden) {
    w.Key("keyProperties").BeginObject().Field("type", key.kty);
    w.Key("attributes").BeginObject().Field("enabled", true).Field("hsmPlatform", key.kty == "RSA-HSM" ? "2" : "0");
    w.EndObject().EndObject();
  }
  w.Field("tlsVersion", tls13 ? "TLS1_3" : "TLS1_2");
  w.EndObject();

  w.Field("resourceId", vault_upper);
  w.Field("operationVersion", api);
  w.Field("resultSignature", forbidden ? "Forbidden" : "OK");
  w.Field("durationMs", std::to_string(forbidden ? 1 + rng.Below(10) : 3 + rng.Below(rng.Chance(50) ? 900 : 60)));
  w.EndObject();
}

// ---------------------------------------------------------------------------
// Activity Log (export schema)

enum class ArmOp : uint8_t { kVaultWrite, kAccountWrite, kRoleAssignmentWrite };

struct ArmAction {
  ArmOp op = ArmOp::kVaultWrite;
  std::string resource_id;  // canonical case
  std::string action;       // "Microsoft.KeyVault/vaults/write"
  std::string request_body;
  std::string response_body;
  std::string status_code;  // "OK" / "Created"
  std::string scope_for_evidence;
};

std::string IsoDate(int64_t ticks) {
  std::string t = FormatTicks(ticks);
  return t.substr(0, 19) + "." + t.substr(20, 7) + "Z";
}

// The vault's state at `ticks`: its fixed configuration, changed by an
// incident in progress.
struct VaultState {
  bool drop_revoked = false;  // the revoke incident's identity has no policy
  bool bypass_none = false;   // networkAcls.bypass None
};

VaultState VaultStateAt(const Estate& e, const Incidents& inc, const Vault& v, int64_t ticks) {
  const auto index = static_cast<size_t>(&v - e.vaults.data());
  return {index == inc.revoke_vault && inc.revoke.In(ticks), index == inc.bypass_vault && inc.bypass.In(ticks)};
}

void WriteAccessPolicies(JsonWriter& w, const Estate& e, const Vault& v, const VaultState& state,
                         size_t revoked_identity) {
  w.Key("accessPolicies").BeginArray();
  if (!v.rbac) {
    for (const size_t index : v.policies) {
      if (state.drop_revoked && index == revoked_identity) continue;
      const Identity& id = e.ids[index];
      w.BeginObject().Field("tenantId", e.tenant).Field("objectId", id.object_id);
      w.Key("permissions").BeginObject();
      w.Key("keys").BeginArray();
      if (id.kind == IdKind::kUser) {
        for (const char* p : {"Get", "List", "Update", "Create", "Import", "Delete", "Recover", "Backup", "Restore",
                              "GetRotationPolicy", "SetRotationPolicy", "Rotate"}) {
          w.String(p);
        }
      } else {
        for (const char* p : {"get", "wrapKey", "unwrapKey"}) w.String(p);
      }
      w.EndArray();
      w.Key("secrets").BeginArray();
      if (id.kind != IdKind::kUserAssignedMi) w.String("get").String("list");
      w.EndArray();
      w.Key("certificates").BeginArray().EndArray();
      w.EndObject().EndObject();
    }
  }
  w.EndArray();
}

void WriteVaultProperties(JsonWriter& w, const Estate& e, const Incidents& inc, const Vault& v, int64_t ticks,
                          bool response) {
  const VaultState state = VaultStateAt(e, inc, v, ticks);
  const bool deny = v.deny;
  w.Key("properties").BeginObject();
  w.Key("sku").BeginObject().Field("family", "A").Field("name", v.premium ? "premium" : "standard").EndObject();
  w.Field("tenantId", e.tenant);
  WriteAccessPolicies(w, e, v, state, inc.revoke_identity);
  w.Field("enabledForDeployment", false);
  w.Field("enabledForDiskEncryption", v.disk_encryption);
  w.Field("enabledForTemplateDeployment", false);
  w.Field("enableSoftDelete", true);
  w.Field("softDeleteRetentionInDays", v.retention_days);
  w.Field("enableRbacAuthorization", v.rbac);
  if (v.purge_protection) w.Field("enablePurgeProtection", true);
  w.Key("networkAcls").BeginObject();
  w.Field("bypass", state.bypass_none ? "None" : "AzureServices");
  w.Field("defaultAction", deny ? "Deny" : "Allow");
  w.Key("ipRules").BeginArray();
  for (const std::string& rule : v.ip_rules) w.BeginObject().Field("value", rule).EndObject();
  w.EndArray();
  w.Key("virtualNetworkRules").BeginArray();
  if (v.vnet_rule) {
    w.BeginObject()
        .Field("id", "/subscriptions/" + e.subs[v.sub].id + "/resourceGroups/" + v.rg +
                         "/providers/Microsoft.Network/virtualNetworks/vnet-hub/subnets/snet-private-endpoints")
        .Field("ignoreMissingVnetServiceEndpoint", false)
        .EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Field("publicNetworkAccess", deny ? "Disabled" : "Enabled");
  if (response) {
    w.Field("vaultUri", VaultUri(v));
    w.Field("provisioningState", "Succeeded");
  }
  w.EndObject();
}

ArmAction MakeVaultWrite(const Estate& e, const Incidents& inc, size_t vault, const Identity& caller,
                         int64_t ticks) {
  const Vault& v = e.vaults[vault];
  ArmAction a;
  a.op = ArmOp::kVaultWrite;
  a.resource_id = v.arm_id;
  a.action = "Microsoft.KeyVault/vaults/write";
  a.status_code = "OK";
  a.scope_for_evidence = "/subscriptions/" + e.subs[v.sub].id + "/resourceGroups/" + v.rg;
  for (int pass = 0; pass < 2; ++pass) {
    // Request and response describe the same vault, in its state when the
    // request was made.
    std::string& body = pass == 0 ? a.request_body : a.response_body;
    JsonWriter w(body);
    w.BeginObject();
    if (pass == 1) {
      w.Field("id", v.arm_id).Field("name", v.name).Field("type", "Microsoft.KeyVault/vaults");
    }
    w.Field("location", v.location);
    w.Key("tags").BeginObject().Field("env", "prod").Field("owner", "platform-security").EndObject();
    if (pass == 1) {
      w.Key("systemData").BeginObject();
      w.Field("createdBy", caller.upn.empty() ? caller.app_id : caller.upn);
      w.Field("createdByType", caller.kind == IdKind::kUser ? "User" : "Application");
      w.Field("createdAt", IsoDate(ticks - 86400 * 30 * kTicksPerSecond));
      w.Field("lastModifiedBy", caller.upn.empty() ? caller.app_id : caller.upn);
      w.Field("lastModifiedByType", caller.kind == IdKind::kUser ? "User" : "Application");
      w.Field("lastModifiedAt", IsoDate(ticks));
      w.EndObject();
    }
    WriteVaultProperties(w, e, inc, v, ticks, pass == 1);
    w.EndObject();
  }
  return a;
}

ArmAction MakeAccountWrite(Rng& rng, const Estate& e, const Incidents& inc, size_t account, int64_t ticks) {
  const AiAccount& acct = e.accounts[account];
  // The rotate incident points the account at a key in another vault.
  const bool rotated = account == inc.rotate_account && inc.rotate.In(ticks);
  const Key& key = e.keys[rotated ? inc.rotate_key : acct.key];
  const Vault& v = e.vaults[key.vault];
  const Identity& mi = e.ids[acct.identity];
  ArmAction a;
  a.op = ArmOp::kAccountWrite;
  a.resource_id = "/subscriptions/" + e.subs[acct.sub].id + "/resourceGroups/" + acct.rg +
                  "/providers/Microsoft.CognitiveServices/accounts/" + acct.name;
  a.action = "Microsoft.CognitiveServices/accounts/write";
  a.status_code = "OK";
  a.scope_for_evidence = "/subscriptions/" + e.subs[acct.sub].id + "/resourceGroups/" + acct.rg;
  for (int pass = 0; pass < 2; ++pass) {
    std::string& body = pass == 0 ? a.request_body : a.response_body;
    JsonWriter w(body);
    w.BeginObject();
    if (pass == 1) {
      w.Field("id", a.resource_id).Field("name", acct.name).Field("type", "Microsoft.CognitiveServices/accounts");
      w.Field("etag", "\"" + Guid(rng) + "\"");
    }
    w.Field("kind", "AIServices");
    w.Key("sku").BeginObject().Field("name", "S0").EndObject();
    w.Field("location", acct.location);
    w.Key("identity").BeginObject();
    if (acct.user_assigned) {
      w.Field("type", "UserAssigned");
      w.Key("userAssignedIdentities").BeginObject().Key(mi.mirid).BeginObject();
      if (pass == 1) w.Field("principalId", mi.object_id).Field("clientId", mi.app_id);
      w.EndObject().EndObject();
    } else {
      w.Field("type", "SystemAssigned");
      if (pass == 1) w.Field("principalId", mi.object_id).Field("tenantId", e.tenant);
    }
    w.EndObject();
    w.Key("properties").BeginObject();
    w.Field("customSubDomainName", acct.name);
    w.Field("publicNetworkAccess", "Disabled");
    w.Key("networkAcls").BeginObject().Field("defaultAction", "Deny");
    w.Key("virtualNetworkRules").BeginArray().EndArray().Key("ipRules").BeginArray().EndArray().EndObject();
    w.Field("disableLocalAuth", true);
    w.Field("allowProjectManagement", true);
    w.Key("encryption").BeginObject();
    if (acct.cmk) {
      w.Field("keySource", "Microsoft.KeyVault");
      w.Key("keyVaultProperties").BeginObject();
      w.Field("keyName", key.name).Field("keyVersion", key.versions.back()).Field("keyVaultUri", VaultUri(v));
      if (acct.user_assigned) w.Field("identityClientId", mi.app_id);
      w.EndObject();
    } else {
      w.Field("keySource", "Microsoft.CognitiveServices");
    }
    w.EndObject();
    if (pass == 1) {
      w.Field("endpoint", "https://" + acct.name + ".cognitiveservices.azure.com/");
      w.Field("provisioningState", "Succeeded");
      w.Field("dateCreated", "2025-03-11T09:12:44.0211823Z");
    }
    w.EndObject();
    w.EndObject();
  }
  return a;
}

ArmAction MakeRoleAssignmentWrite(Rng& rng, const Estate& e, const Identity& caller, int64_t ticks) {
  const Vault& v = e.vaults[rng.Below(e.vaults.size())];
  const Identity& principal = e.ids[rng.Below(e.ids.size())];
  const Role& role = kRoles[principal.kind == IdKind::kUser ? 2 + rng.Below(3) : rng.Below(2)];
  const std::string name = Guid(rng);
  const std::string role_definition =
      "/subscriptions/" + e.subs[v.sub].id + "/providers/Microsoft.Authorization/roleDefinitions/" + role.id;
  const char* principal_type = principal.kind == IdKind::kUser ? "User" : "ServicePrincipal";
  ArmAction a;
  a.op = ArmOp::kRoleAssignmentWrite;
  a.resource_id = v.arm_id + "/providers/Microsoft.Authorization/roleAssignments/" + name;
  a.action = "Microsoft.Authorization/roleAssignments/write";
  a.status_code = "Created";
  a.scope_for_evidence = "/subscriptions/" + e.subs[v.sub].id;
  // The Activity Log records role assignment request bodies with PascalCase
  // names; the response uses camelCase.
  {
    JsonWriter w(a.request_body);
    w.BeginObject().Field("Id", name).Key("Properties").BeginObject();
    w.Field("PrincipalId", principal.object_id).Field("PrincipalType", principal_type);
    w.Field("RoleDefinitionId", role_definition).Field("Scope", v.arm_id);
    w.Key("Condition").Null().Key("ConditionVersion").Null();
    w.EndObject().EndObject();
  }
  {
    JsonWriter w(a.response_body);
    w.BeginObject().Key("properties").BeginObject();
    w.Field("roleDefinitionId", role_definition).Field("principalId", principal.object_id);
    w.Field("principalType", principal_type).Field("scope", v.arm_id);
    w.Key("condition").Null().Key("conditionVersion").Null();
    w.Field("createdOn", IsoDate(ticks)).Field("updatedOn", IsoDate(ticks));
    w.Key("createdBy").Null().Field("updatedBy", caller.object_id);
    w.Key("delegatedManagedIdentityResourceId").Null().Key("description").Null();
    w.EndObject();
    w.Field("id", a.resource_id).Field("type", "Microsoft.Authorization/roleAssignments").Field("name", name);
    w.EndObject();
  }
  return a;
}

// `rng` is seeded per request, so that the Start and Success records of one
// request carry the same token.
void WriteActivityClaims(JsonWriter& w, Rng& rng, const Estate& e, const Identity& id, int64_t ticks) {
  const int64_t iat = ticks / kTicksPerSecond - static_cast<int64_t>(rng.Below(3000));
  w.Key("claims").BeginObject();
  w.Field("aud", "https://management.core.windows.net/");
  w.Field("iss", "https://sts.windows.net/" + e.tenant + "/");
  w.Field("iat", std::to_string(iat));
  w.Field("nbf", std::to_string(iat));
  w.Field("exp", std::to_string(iat + 4800));
  if (id.kind == IdKind::kUser) {
    w.Field("http://schemas.microsoft.com/claims/authnclassreference", "1");
    w.Field("aio", "AaQAW/8ZAAAA" + Hex(rng, 40) + "+o4oybByk52SljldSN5LizwAmpC0b/rho3D6WMskK7fBotCV3XQ==");
    w.Field("http://schemas.microsoft.com/claims/authnmethodsreferences", "pwd,mfa");
    w.Field("appid", id.app_id);
    w.Field("appidacr", "0");
    w.Field("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", id.surname);
    w.Field("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", id.given);
    w.Field("groups", Guid(rng) + "," + Guid(rng));
    w.Field("idtyp", "user");
    w.Field("ipaddr", id.ip);
    w.Field("name", id.given + " " + id.surname);
    w.Field("http://schemas.microsoft.com/identity/claims/objectidentifier", id.object_id);
    w.Field("puid", Upper(Hex(rng, 16)));
    w.Field("rh", "1.AUgAW2hAqn1BZEa07I92QHGa20ZIf3kAutdPukPawfj2MBMLAR1IAA.");
    w.Field("http://schemas.microsoft.com/identity/claims/scope", "user_impersonation");
    w.Field("sid", Guid(rng));
    w.Field("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", Hex(rng, 43));
    w.Field("http://schemas.microsoft.com/identity/claims/tenantid", e.tenant);
    w.Field("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", id.upn);
    w.Field("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", id.upn);
    w.Field("uti", Hex(rng, 22));
    w.Field("ver", "1.0");
    w.Field("wids", "62e90394-69f5-4237-9190-012177145e10,b79fbf4d-3ef9-4689-8143-76b194e85509");
    w.Field("xms_idrel", "1 24");
    w.Field("xms_tcdt", "1391159646");
  } else {
    w.Field("aio", "k2BgYJj" + Hex(rng, 40) + "AA=");
    w.Field("appid", id.app_id);
    w.Field("appidacr", "2");
    w.Field("http://schemas.microsoft.com/identity/claims/identityprovider", "https://sts.windows.net/" + e.tenant + "/");
    w.Field("idtyp", "app");
    w.Field("http://schemas.microsoft.com/identity/claims/objectidentifier", id.object_id);
    w.Field("rh", "0.AXkA" + Hex(rng, 40) + ".");
    w.Field("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", id.object_id);
    w.Field("http://schemas.microsoft.com/identity/claims/tenantid", e.tenant);
    w.Field("uti", Hex(rng, 22));
    w.Field("ver", "1.0");
    if (!id.mirid.empty()) w.Field("xms_mirid", id.mirid);
    w.Field("xms_tcdt", "1391159646");
  }
  w.EndObject();
}

void WriteActivityRecord(Rng& rng, uint64_t token_seed, const Estate& e, const ArmAction& a, const Identity& caller,
                         bool start, int64_t ticks, int64_t duration_ms, const std::string& correlation,
                         std::string& out) {
  Rng token_rng(token_seed);
  const std::string sub_id = a.resource_id.substr(15, 36);
  JsonWriter w(out);
  w.BeginObject();
  w.Field("RoleLocation", "West Europe");
  w.Field("Stamp", "FDWeb");
  w.Field("ReleaseVersion", "6.2025.22.3+8c51bd4.release_2025w22");
  w.Field("time", FormatTicks(ticks));
  w.Field("resourceId", Upper(a.resource_id));
  w.Field("operationName", Upper(a.action));
  w.Field("category", "Administrative");
  w.Field("resultType", start ? "Start" : "Success");
  w.Field("resultSignature", start ? "Started." : "Succeeded." + a.status_code);
  w.Field("durationMs", std::to_string(start ? 0 : duration_ms));
  w.Field("callerIpAddress", caller.ip);
  w.Field("correlationId", correlation);

  w.Key("identity").BeginObject();
  w.Key("authorization").BeginObject();
  w.Field("scope", a.resource_id);
  w.Field("action", a.action);
  w.Key("evidence").BeginObject();
  const bool owner = caller.kind == IdKind::kUser;
  w.Field("role", owner ? "Owner" : "Contributor");
  w.Field("roleAssignmentScope", a.scope_for_evidence);
  w.Field("roleAssignmentId", Hex(token_rng, 32));
  w.Field("roleDefinitionId", owner ? "8e3af657a8ff443ca75c2fe8c4bcb635" : "b24988ac618042a0ab8820f7382dd24c");
  std::string principal_hex = caller.object_id;  // evidence ids are 32 hex digits without dashes
  std::erase(principal_hex, '-');
  w.Field("principalId", principal_hex);
  w.Field("principalType", owner ? "User" : "ServicePrincipal");
  w.EndObject();
  w.EndObject();
  WriteActivityClaims(w, token_rng, e, caller, start ? ticks : ticks - duration_ms * 10'000);
  w.EndObject();

  w.Field("level", "Informational");
  w.Key("properties").BeginObject();
  if (start) {
    w.Field("requestbody", a.request_body);
  } else {
    w.Field("statusCode", a.status_code);
    w.Field("serviceRequestId", Guid(rng));
    w.Field("responseBody", a.response_body);
  }
  w.Field("eventCategory", "Administrative");
  w.Field("entity", a.resource_id);
  w.Field("message", a.action);
  w.Field("hierarchy", e.tenant + "/" + e.root_mg + "/" + sub_id);
  w.EndObject();
  w.Field("tenantId", e.tenant);
  w.EndObject();
}

// ---------------------------------------------------------------------------

struct Options {
  std::filesystem::path out;
  uint64_t kv_records = 1'000'000;
  uint64_t activity_records = 200'000;
  uint64_t seed = 0x636d6b7761746368ULL;  // "cmkwatch"
};

constexpr const char* kUsage =
    "usage: cmkwatch-bench-gen --out DIR [--kv-records N] [--activity-records N] [--seed S]\n"
    "\n"
    "Writes DIR/kv_audit.jsonl (Key Vault AuditEvent, default 1000000 records)\n"
    "and DIR/activity.jsonl (Activity Log export schema, default 200000 records).\n"
    "The output depends only on the seed and the counts. N = 0 skips a file.\n";

bool ParseU64(std::string_view text, uint64_t& value) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
    base = 16;
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return ec == std::errc() && end == text.data() + text.size();
}

// Returns false (after printing why) on bad usage.
bool ParseArgs(int argc, char** argv, Options& opt, bool& help) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      help = true;
      return true;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "cmkwatch-bench-gen: %s needs a value\n%s", argv[i], kUsage);
      return false;
    }
    const std::string_view value = argv[++i];
    bool ok = true;
    if (arg == "--out") {
      opt.out = std::filesystem::path(std::string(value));
    } else if (arg == "--kv-records") {
      ok = ParseU64(value, opt.kv_records);
    } else if (arg == "--activity-records") {
      ok = ParseU64(value, opt.activity_records);
    } else if (arg == "--seed") {
      ok = ParseU64(value, opt.seed);
    } else {
      std::fprintf(stderr, "cmkwatch-bench-gen: unknown option %s\n%s", argv[i - 1], kUsage);
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "cmkwatch-bench-gen: %s: not a number: %s\n", argv[i - 1], argv[i]);
      return false;
    }
  }
  if (opt.out.empty()) {
    std::fprintf(stderr, "cmkwatch-bench-gen: --out DIR is required\n%s", kUsage);
    return false;
  }
  return true;
}

void Report(const std::filesystem::path& path, const Output& out) {
  std::printf("%-40s %10llu records %14llu bytes (%.1f MB, %.0f bytes/record)\n", path.string().c_str(),
              static_cast<unsigned long long>(out.records()), static_cast<unsigned long long>(out.bytes()),
              static_cast<double>(out.bytes()) / 1e6,
              out.records() ? static_cast<double>(out.bytes()) / static_cast<double>(out.records()) : 0.0);
}

int Run(const Options& opt) {
  std::filesystem::create_directories(opt.out);
  Rng estate_rng(opt.seed);
  Estate estate = BuildEstate(estate_rng);
  // Both files cover the same span: the Key Vault records one every ~86 ms
  // on average (1,000,000 of them a day), the Activity Log writes spread
  // evenly over it (or one every ~30 s without Key Vault records).
  const int64_t begin = DaysFromCivil(2025, 6, 2) * 86400 * kTicksPerSecond;
  const int64_t span = opt.kv_records > 0 ? static_cast<int64_t>(opt.kv_records) * 864'000
                                          : static_cast<int64_t>(opt.activity_records / 2 + 1) * 30 * kTicksPerSecond;
  const Incidents incidents = PlanIncidents(estate, begin, begin + span);

  if (opt.kv_records > 0) {
    Rng rng(opt.seed ^ 0x6b76ULL);
    const std::filesystem::path path = opt.out / "kv_audit.jsonl";
    Output out(path);
    int64_t ticks = begin;
    for (uint64_t i = 0; i < opt.kv_records; ++i) {
      ticks += static_cast<int64_t>(rng.Below(1'728'000));
      WriteKvRecord(rng, estate, incidents, ticks, out.buffer());
      out.EndRecord();
    }
    out.Close();
    Report(path, out);
  }

  if (opt.activity_records > 0) {
    Rng rng(opt.seed ^ 0x61637469ULL);
    const std::filesystem::path path = opt.out / "activity.jsonl";
    Output out(path);
    const uint64_t writes = opt.activity_records / 2 + 1;
    const auto step = static_cast<uint64_t>(std::max<int64_t>(2, 2 * span / static_cast<int64_t>(writes)));
    // The incidents' writes and their fixes, made by an operator at the
    // window's edges (routine writes inside a window repeat the incident's
    // state, as a real template would until someone fixes it).
    struct Scheduled {
      int64_t ticks;
      ArmOp op;
      size_t target;
    };
    std::vector<Scheduled> scheduled = {
        {incidents.revoke.from, ArmOp::kVaultWrite, incidents.revoke_vault},
        {incidents.revoke.to, ArmOp::kVaultWrite, incidents.revoke_vault},
        {incidents.bypass.from, ArmOp::kVaultWrite, incidents.bypass_vault},
        {incidents.bypass.to, ArmOp::kVaultWrite, incidents.bypass_vault},
        {incidents.rotate.from, ArmOp::kAccountWrite, incidents.rotate_account},
        {incidents.rotate.to, ArmOp::kAccountWrite, incidents.rotate_account},
    };
    size_t next_scheduled = 0;
    int64_t ticks = begin;
    while (out.records() < opt.activity_records) {
      ticks += static_cast<int64_t>(rng.Below(step));
      const bool incident_write = next_scheduled < scheduled.size() && scheduled[next_scheduled].ticks <= ticks;
      const Scheduled due = incident_write ? scheduled[next_scheduled++] : Scheduled{};
      if (incident_write) ticks = std::max(ticks, due.ticks);
      // Callers: users run most administrative writes; pipelines (service
      // principals, managed identities) the rest.
      const Identity& caller =
          incident_write ? estate.ids[estate.users.front()]
          : estate.ids[rng.Chance(450) ? rng.Pick(estate.users) : rng.Chance(700) ? rng.Pick(estate.sps)
                                                                                  : rng.Pick(estate.mis)];
      const uint64_t r = incident_write ? (due.op == ArmOp::kVaultWrite ? 0 : 50) : rng.Below(100);
      const ArmAction action =
          r < 40   ? MakeVaultWrite(estate, incidents, incident_write ? due.target : rng.Below(estate.vaults.size()),
                                    caller, ticks)
          : r < 70 ? MakeAccountWrite(rng, estate, incidents,
                                      incident_write ? due.target : rng.Below(estate.accounts.size()), ticks)
                   : MakeRoleAssignmentWrite(rng, estate, caller, ticks);
      const std::string correlation = Guid(rng);
      const auto duration_ms = static_cast<int64_t>(200 + rng.Below(4000));
      const uint64_t token_seed = rng.Next();
      WriteActivityRecord(rng, token_seed, estate, action, caller, true, ticks, 0, correlation, out.buffer());
      out.EndRecord();
      if (out.records() >= opt.activity_records) break;
      WriteActivityRecord(rng, token_seed, estate, action, caller, false, ticks + duration_ms * 10'000, duration_ms, correlation,
                          out.buffer());
      out.EndRecord();
    }
    out.Close();
    Report(path, out);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options opt;
    bool help = false;
    if (!ParseArgs(argc, argv, opt, help)) return 2;
    if (help) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    return Run(opt);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "cmkwatch-bench-gen: %s\n", ex.what());
    return 1;
  }
}
