#include "cmkwatch/common/wire.h"

#include <cstdint>
#include <cstring>

namespace cmkwatch::wire {
namespace {

constexpr char kMagic[4] = {'C', 'M', 'K', 'W'};

// ---- Writing --------------------------------------------------------------

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void Svarint(int64_t v) { Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void Str(std::string_view s) {
    Varint(s.size());
    out_.append(s);
  }
  void StrList(const std::vector<std::string>& list) {
    Varint(list.size());
    for (const auto& s : list) Str(s);
  }
  void OptBool(const std::optional<bool>& b) { U8(!b ? 0 : (*b ? 2 : 1)); }
  void OptInt(const std::optional<int64_t>& v) {
    U8(v ? 1 : 0);
    if (v) Svarint(*v);
  }
  void OptStr(const std::optional<std::string>& s) {
    U8(s ? 1 : 0);
    if (s) Str(*s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

void Header(Writer& w, MessageType type) {
  for (char c : kMagic) w.U8(static_cast<uint8_t>(c));
  w.U8(kVersion);
  w.U8(static_cast<uint8_t>(type));
}

void PutPolicy(Writer& w, const AccessPolicy& p) {
  w.Str(p.tenant_id);
  w.Str(p.object_id);
  w.Str(p.application_id);
  w.StrList(p.key_permissions);
}

void PutPolicies(Writer& w, const std::vector<AccessPolicy>& ps) {
  w.Varint(ps.size());
  for (const auto& p : ps) PutPolicy(w, p);
}

void PutVault(Writer& w, const VaultChanges& v) {
  w.OptBool(v.enable_soft_delete);
  w.OptBool(v.enable_purge_protection);
  w.OptBool(v.enable_rbac_authorization);
  w.OptInt(v.soft_delete_retention_days);
  w.OptStr(v.public_network_access);
  w.U8(v.network_acls ? 1 : 0);
  if (v.network_acls) {
    w.Str(v.network_acls->default_action);
    w.Str(v.network_acls->bypass);
    w.Varint(v.network_acls->ip_rules);
    w.Varint(v.network_acls->virtual_network_rules);
  }
  w.U8(v.access_policies ? 1 : 0);
  if (v.access_policies) PutPolicies(w, *v.access_policies);
  w.Str(v.access_policy_operation);
  PutPolicies(w, v.added_policies);
  PutPolicies(w, v.removed_policies);
  w.Str(v.location);
  w.Str(v.tenant_id);
  w.Str(v.vault_uri);
}

void PutKey(Writer& w, const KeyChanges& k) {
  w.Str(k.kty);
  w.OptInt(k.key_size);
  w.Str(k.curve);
  w.OptBool(k.enabled);
  w.OptInt(k.expires);
  w.OptInt(k.not_before);
  w.StrList(k.key_ops);
}

void PutAccount(Writer& w, const AccountChanges& a) {
  for (const std::string* s : {&a.kind, &a.location, &a.key_source, &a.key_vault_uri, &a.key_vault_arm_id,
                               &a.key_name, &a.key_version, &a.encryption_status, &a.identity_type,
                               &a.principal_id, &a.tenant_id}) {
    w.Str(*s);
  }
  w.StrList(a.user_assigned_identities);
  w.Str(a.identity_client_id);
  w.Str(a.encryption_identity);
}

void PutEvent(Writer& w, const Event& e) {
  w.Str(e.id);
  w.U8(static_cast<uint8_t>(e.source));
  w.Svarint(e.time);
  w.Str(e.resource_id);
  w.U8(static_cast<uint8_t>(e.resource_kind));
  w.Str(e.operation);
  w.U8(static_cast<uint8_t>(e.outcome));
  w.Svarint(e.http_status);
  w.Str(e.correlation_id);
  for (const std::string* s : {&e.actor.object_id, &e.actor.app_id, &e.actor.upn, &e.actor.ip, &e.actor.tenant_id,
                               &e.actor.principal_type}) {
    w.Str(*s);
  }
  w.U8(e.key ? 1 : 0);
  if (e.key) {
    w.Str(e.key->vault);
    w.Str(e.key->name);
    w.Str(e.key->version);
  }
  const Changes& c = e.changes;
  w.U8(c.vault ? 1 : 0);
  if (c.vault) PutVault(w, *c.vault);
  w.U8(c.key ? 1 : 0);
  if (c.key) PutKey(w, *c.key);
  w.U8(c.account ? 1 : 0);
  if (c.account) PutAccount(w, *c.account);
  w.U8(c.role_assignment ? 1 : 0);
  if (c.role_assignment) {
    w.Str(c.role_assignment->principal_id);
    w.Str(c.role_assignment->principal_type);
    w.Str(c.role_assignment->role_definition_id);
    w.Str(c.role_assignment->scope);
  }
  w.U8(c.diagnostic_setting ? 1 : 0);
  if (c.diagnostic_setting) {
    w.StrList(c.diagnostic_setting->enabled_categories);
    w.Str(c.diagnostic_setting->target);
  }
  w.Str(e.raw);
}

// ---- Reading --------------------------------------------------------------

// Reads from a byte range; the first failure sticks (later reads return
// defaults) and names what was being read and where.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t remaining() const { return in_.size() - pos_; }
  size_t pos() const { return pos_; }

  void Fail(std::string_view what) {
    if (!error_.empty()) return;
    error_ = std::string(what) + " at byte " + std::to_string(pos_);
  }

  uint8_t U8(std::string_view what) {
    if (!ok()) return 0;
    if (pos_ >= in_.size()) {
      Fail(std::string("truncated: expected ") + std::string(what));
      return 0;
    }
    return static_cast<uint8_t>(in_[pos_++]);
  }

  uint64_t Varint(std::string_view what) {
    uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      const uint8_t b = U8(what);
      if (!ok()) return 0;
      if (i == 9 && b > 1) {
        Fail(std::string("varint overflows 64 bits: ") + std::string(what));
        return 0;
      }
      v |= static_cast<uint64_t>(b & 0x7F) << (7 * i);
      if ((b & 0x80) == 0) {
        // Canonical: no trailing zero groups.
        if (i > 0 && b == 0) {
          Fail(std::string("non-minimal varint: ") + std::string(what));
          return 0;
        }
        return v;
      }
    }
    Fail(std::string("varint longer than 10 bytes: ") + std::string(what));
    return 0;
  }

  int64_t Svarint(std::string_view what) {
    const uint64_t z = Varint(what);
    return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
  }

  std::string Str(std::string_view what) {
    const uint64_t n = Varint(what);
    if (!ok()) return {};
    if (n > kMaxStringBytes) {
      Fail(std::string(what) + " longer than the " + std::to_string(kMaxStringBytes) + "-byte limit");
      return {};
    }
    if (n > remaining()) {
      Fail(std::string("truncated: ") + std::string(what) + " claims " + std::to_string(n) + " bytes, " +
           std::to_string(remaining()) + " left");
      return {};
    }
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }

  // A count of items that each take at least one byte: never more than
  // what is left, nor than kMaxItems.
  size_t Count(std::string_view what) {
    const uint64_t n = Varint(what);
    if (!ok()) return 0;
    if (n > kMaxItems || n > remaining()) {
      Fail(std::string(what) + " count " + std::to_string(n) + " is impossible here");
      return 0;
    }
    return static_cast<size_t>(n);
  }

  std::vector<std::string> StrList(std::string_view what) {
    std::vector<std::string> out;
    const size_t n = Count(what);
    for (size_t i = 0; i < n && ok(); ++i) out.push_back(Str(what));
    return out;
  }

  bool Flag(std::string_view what) {
    const uint8_t b = U8(what);
    if (b > 1) Fail(std::string("flag byte out of range: ") + std::string(what));
    return b == 1;
  }

  std::optional<bool> OptBool(std::string_view what) {
    const uint8_t b = U8(what);
    if (b > 2) Fail(std::string("bool byte out of range: ") + std::string(what));
    if (b == 0 || !ok()) return std::nullopt;
    return b == 2;
  }

  std::optional<int64_t> OptInt(std::string_view what) {
    if (!Flag(what)) return std::nullopt;
    const int64_t v = Svarint(what);
    if (!ok()) return std::nullopt;
    return v;
  }

  std::optional<std::string> OptStr(std::string_view what) {
    if (!Flag(what)) return std::nullopt;
    std::string s = Str(what);
    if (!ok()) return std::nullopt;
    return s;
  }

  // An enum stored as a byte, at most `max`.
  template <typename E>
  E Enum(uint8_t max, std::string_view what) {
    const uint8_t b = U8(what);
    if (b > max) Fail(std::string("unknown ") + std::string(what) + " " + std::to_string(b));
    return static_cast<E>(ok() ? b : 0);
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  std::string error_;
};

AccessPolicy GetPolicy(Reader& r) {
  AccessPolicy p;
  p.tenant_id = r.Str("policy tenant");
  p.object_id = r.Str("policy object id");
  p.application_id = r.Str("policy application id");
  p.key_permissions = r.StrList("policy permissions");
  return p;
}

std::vector<AccessPolicy> GetPolicies(Reader& r) {
  std::vector<AccessPolicy> out;
  const size_t n = r.Count("access policies");
  for (size_t i = 0; i < n && r.ok(); ++i) out.push_back(GetPolicy(r));
  return out;
}

VaultChanges GetVault(Reader& r) {
  VaultChanges v;
  v.enable_soft_delete = r.OptBool("enable_soft_delete");
  v.enable_purge_protection = r.OptBool("enable_purge_protection");
  v.enable_rbac_authorization = r.OptBool("enable_rbac_authorization");
  v.soft_delete_retention_days = r.OptInt("soft_delete_retention_days");
  v.public_network_access = r.OptStr("public_network_access");
  if (r.Flag("network_acls")) {
    NetworkAcls n;
    n.default_action = r.Str("default_action");
    n.bypass = r.Str("bypass");
    const uint64_t ip = r.Varint("ip_rules");
    const uint64_t vnet = r.Varint("virtual_network_rules");
    if (ip > UINT32_MAX || vnet > UINT32_MAX) r.Fail("network rule count out of range");
    n.ip_rules = static_cast<uint32_t>(ip);
    n.virtual_network_rules = static_cast<uint32_t>(vnet);
    v.network_acls = std::move(n);
  }
  if (r.Flag("access_policies")) v.access_policies = GetPolicies(r);
  v.access_policy_operation = r.Str("access_policy_operation");
  v.added_policies = GetPolicies(r);
  v.removed_policies = GetPolicies(r);
  v.location = r.Str("vault location");
  v.tenant_id = r.Str("vault tenant");
  v.vault_uri = r.Str("vault uri");
  return v;
}

KeyChanges GetKey(Reader& r) {
  KeyChanges k;
  k.kty = r.Str("kty");
  k.key_size = r.OptInt("key_size");
  k.curve = r.Str("curve");
  k.enabled = r.OptBool("enabled");
  k.expires = r.OptInt("expires");
  k.not_before = r.OptInt("not_before");
  k.key_ops = r.StrList("key_ops");
  return k;
}

AccountChanges GetAccount(Reader& r) {
  AccountChanges a;
  for (std::string* s : {&a.kind, &a.location, &a.key_source, &a.key_vault_uri, &a.key_vault_arm_id, &a.key_name,
                         &a.key_version, &a.encryption_status, &a.identity_type, &a.principal_id, &a.tenant_id}) {
    *s = r.Str("account field");
  }
  a.user_assigned_identities = r.StrList("user_assigned_identities");
  a.identity_client_id = r.Str("identity_client_id");
  a.encryption_identity = r.Str("encryption_identity");
  return a;
}

Event GetEvent(Reader& r) {
  Event e;
  e.id = r.Str("event id");
  e.source = r.Enum<Source>(static_cast<uint8_t>(Source::kInventory), "source");
  e.time = r.Svarint("time");
  e.resource_id = r.Str("resource_id");
  e.resource_kind = r.Enum<ResourceKind>(static_cast<uint8_t>(ResourceKind::kOther), "resource kind");
  e.operation = r.Str("operation");
  e.outcome = r.Enum<Outcome>(static_cast<uint8_t>(Outcome::kFailed), "outcome");
  const int64_t http = r.Svarint("http_status");
  if (http < INT32_MIN || http > INT32_MAX) r.Fail("http_status out of range");
  e.http_status = static_cast<int>(http);
  e.correlation_id = r.Str("correlation_id");
  for (std::string* s : {&e.actor.object_id, &e.actor.app_id, &e.actor.upn, &e.actor.ip, &e.actor.tenant_id,
                         &e.actor.principal_type}) {
    *s = r.Str("actor field");
  }
  if (r.Flag("key")) {
    KeyRef k;
    k.vault = r.Str("key vault");
    k.name = r.Str("key name");
    k.version = r.Str("key version");
    e.key = std::move(k);
  }
  if (r.Flag("vault changes")) e.changes.vault = GetVault(r);
  if (r.Flag("key changes")) e.changes.key = GetKey(r);
  if (r.Flag("account changes")) e.changes.account = GetAccount(r);
  if (r.Flag("role assignment changes")) {
    RoleAssignmentChanges ra;
    ra.principal_id = r.Str("principal_id");
    ra.principal_type = r.Str("principal_type");
    ra.role_definition_id = r.Str("role_definition_id");
    ra.scope = r.Str("scope");
    e.changes.role_assignment = std::move(ra);
  }
  if (r.Flag("diagnostic setting changes")) {
    DiagnosticSettingChanges d;
    d.enabled_categories = r.StrList("enabled_categories");
    d.target = r.Str("diagnostic target");
    e.changes.diagnostic_setting = std::move(d);
  }
  e.raw = r.Str("raw record");
  return e;
}

Status CheckHeader(std::string_view message, MessageType want) {
  auto type = PeekType(message);
  if (!type.ok()) return type.status();
  if (*type != want) {
    return Status::Corruption("wire: expected message type " + std::to_string(static_cast<int>(want)) + ", got " +
                              std::to_string(static_cast<int>(*type)));
  }
  return Status::Ok();
}

Status Finish(const Reader& r) {
  if (!r.ok()) return Status::Corruption("wire: " + r.error());
  if (r.remaining() != 0) {
    return Status::Corruption("wire: " + std::to_string(r.remaining()) + " unexpected bytes after the message");
  }
  return Status::Ok();
}

}  // namespace

std::string EncodeBatch(const Batch& batch) {
  Writer w;
  Header(w, MessageType::kBatch);
  w.Str(batch.collector_id);
  w.Varint(batch.sequence);
  w.Varint(batch.events.size());
  for (const auto& e : batch.events) PutEvent(w, e);
  w.Varint(batch.quarantined.size());
  for (const auto& q : batch.quarantined) {
    w.Str(q.path);
    w.Varint(q.offset);
    w.Varint(q.line);
    w.Str(q.format_guess);
    w.Str(q.reason);
  }
  return w.Take();
}

std::string EncodeEvent(const Event& event) {
  Writer w;
  PutEvent(w, event);
  return w.Take();
}

std::string EncodeAck(const Ack& ack) {
  Writer w;
  Header(w, MessageType::kAck);
  w.Str(ack.collector_id);
  w.Varint(ack.sequence);
  w.Varint(ack.stored);
  w.Varint(ack.duplicates);
  return w.Take();
}

std::string EncodeStatus(const CollectorStatus& status) {
  Writer w;
  Header(w, MessageType::kStatus);
  w.Str(status.collector_id);
  w.Varint(status.pending_batches);
  w.Varint(status.pending_bytes);
  w.Varint(status.oldest_pending_age_ms);
  w.Varint(status.blocked ? 1 : 0);
  return w.Take();
}

Result<MessageType> PeekType(std::string_view message) {
  if (message.size() > kMaxMessageBytes) {
    return Status::LimitExceeded("wire: message of " + std::to_string(message.size()) + " bytes exceeds the " +
                                 std::to_string(kMaxMessageBytes) + "-byte limit");
  }
  if (message.size() < kHeaderBytes || std::memcmp(message.data(), kMagic, sizeof kMagic) != 0) {
    return Status::Corruption("wire: not a cmkwatch message (bad magic)");
  }
  const auto version = static_cast<uint8_t>(message[4]);
  if (version != kVersion) {
    return Status::Unsupported("wire: message version " + std::to_string(version) + ", this build speaks " +
                               std::to_string(kVersion));
  }
  const auto type = static_cast<uint8_t>(message[5]);
  if (type != static_cast<uint8_t>(MessageType::kBatch) && type != static_cast<uint8_t>(MessageType::kAck) &&
      type != static_cast<uint8_t>(MessageType::kStatus)) {
    return Status::Corruption("wire: unknown message type " + std::to_string(type));
  }
  return static_cast<MessageType>(type);
}

Result<Batch> DecodeBatch(std::string_view message) { return DecodeBatch(message, nullptr); }

Result<Batch> DecodeBatch(std::string_view message, std::vector<std::string_view>* event_bytes) {
  if (auto st = CheckHeader(message, MessageType::kBatch); !st.ok()) return st;
  const std::string_view body = message.substr(kHeaderBytes);
  Reader r(body);
  Batch b;
  b.collector_id = r.Str("collector id");
  b.sequence = r.Varint("sequence");
  const size_t n = r.Count("events");
  b.events.reserve(n);
  if (event_bytes != nullptr) {
    event_bytes->clear();
    event_bytes->reserve(n);
  }
  for (size_t i = 0; i < n && r.ok(); ++i) {
    const size_t start = r.pos();
    b.events.push_back(GetEvent(r));
    if (event_bytes != nullptr) event_bytes->push_back(body.substr(start, r.pos() - start));
  }
  const size_t m = r.Count("quarantine entries");
  for (size_t i = 0; i < m && r.ok(); ++i) {
    QuarantineEntry q;
    q.path = r.Str("quarantine path");
    q.offset = r.Varint("quarantine offset");
    q.line = r.Varint("quarantine line");
    q.format_guess = r.Str("quarantine format");
    q.reason = r.Str("quarantine reason");
    b.quarantined.push_back(std::move(q));
  }
  if (auto st = Finish(r); !st.ok()) return st;
  return b;
}

Result<Ack> DecodeAck(std::string_view message) {
  if (auto st = CheckHeader(message, MessageType::kAck); !st.ok()) return st;
  Reader r(message.substr(kHeaderBytes));
  Ack a;
  a.collector_id = r.Str("collector id");
  a.sequence = r.Varint("sequence");
  a.stored = r.Varint("stored");
  a.duplicates = r.Varint("duplicates");
  if (auto st = Finish(r); !st.ok()) return st;
  return a;
}

Result<CollectorStatus> DecodeStatus(std::string_view message) {
  if (auto st = CheckHeader(message, MessageType::kStatus); !st.ok()) return st;
  Reader r(message.substr(kHeaderBytes));
  CollectorStatus c;
  c.collector_id = r.Str("collector id");
  c.pending_batches = r.Varint("pending batches");
  c.pending_bytes = r.Varint("pending bytes");
  c.oldest_pending_age_ms = r.Varint("oldest pending age");
  const uint64_t blocked = r.Varint("blocked flag");
  if (r.ok() && blocked > 1) return Status::Corruption("wire: blocked flag " + std::to_string(blocked) + " is not 0 or 1");
  c.blocked = blocked == 1;
  if (auto st = Finish(r); !st.ok()) return st;
  return c;
}

}  // namespace cmkwatch::wire
