// ARM resources for inventory snapshots, one resource per record (the framer
// splits ARM {"value":[...]} lists, Resource Graph {"data":[...]} pages and
// plain arrays). Shapes accepted:
//
//   ARM resource, az ... show, Resource Graph row
//       {id, type, name, location, kind, identity, properties, systemData}
//   az role assignment list (flattened)
//       {id, type, principalId, principalType, roleDefinitionId, scope, ...}
//   az monitor diagnostic-settings show (flattened)
//       {id, type, logs, workspaceId, ...}
//   Key Vault data-plane key bundle (REST, az keyvault key show)
//       {key:{kid, kty, key_ops|keyOps, n, e, crv}, attributes:{enabled,
//        exp|expires, nbf|notBefore, created, updated}, tags, managed}
//   Key Vault data-plane key list item
//       {kid, attributes:{...}, tags, managed}
//
// The typed changes come from arm_body.h. This file adds what only an
// inventory record needs: the resource and kind, the "<type>/read"
// operation, the key reference, and a time.
//
// Time: a snapshot is a state, not an operation, so the best event time is
// when the state last changed: systemData.lastModifiedAt, else the object's
// own attributes.updated / updatedOn, else its creation time (systemData.
// createdAt, properties.createdAt/createdOn/creationTime/dateCreated,
// attributes.created), else 0. A record with time 0 is stamped with the
// snapshot time by the CLI / importer that read it; parsers are pure and never
// read the clock.
#include <optional>
#include <string>

#include "arm_body.h"
#include "cmkwatch/common/resource_id.h"
#include "normalize.h"
#include "parsers.h"

namespace cmkwatch::collector::internal {
namespace {

// Candidate event times and the key URIs arm_body.h does not read.
struct Extras {
  std::string kid;  // key list item: kid at the top level
  std::string key_uri_with_version;
  std::string key_uri;
  std::optional<int64_t> last_modified;
  std::optional<int64_t> updated;
  std::optional<int64_t> created;

  int64_t Time() const {
    if (last_modified) return *last_modified;
    if (updated) return *updated;
    if (created) return *created;
    return 0;
  }
};

void KeepFirst(std::optional<int64_t>& slot, od::value v) {
  if (!slot) slot = AsTime(v);
}

Status ReadSystemData(od::object obj, Extras& x) {
  for (auto field : obj) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return JsonError(err, "systemData");
    od::value v;
    if (auto err = field.value().get(v)) return JsonError(err, "systemData");
    if (KeyIs(key, "lastModifiedAt")) {
      x.last_modified = AsTime(v);
    } else if (KeyIs(key, "createdAt")) {
      x.created = AsTime(v);  // systemData's creation time outranks the rest
    }
  }
  return Status::Ok();
}

Status ReadAttributes(od::object obj, Extras& x) {
  for (auto field : obj) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return JsonError(err, "attributes");
    od::value v;
    if (auto err = field.value().get(v)) return JsonError(err, "attributes");
    if (KeyIs(key, "updated")) {
      KeepFirst(x.updated, v);
    } else if (KeyIs(key, "created")) {
      KeepFirst(x.created, v);
    }
  }
  return Status::Ok();
}

// The resource level (depth 0) and its properties (depth 1).
Status ReadExtras(od::object obj, int depth, Extras& x) {
  for (auto field : obj) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return JsonError(err, "resource field name");
    od::value v;
    if (auto err = field.value().get(v)) return JsonError(err, "resource field value");
    if (depth == 0 && key == "kid") {
      if (auto s = AsString(v)) x.kid.assign(*s);
    } else if (depth == 0 && KeyIs(key, "systemData")) {
      od::object sd;
      if (!v.get_object().get(sd)) {
        if (auto st = ReadSystemData(sd, x); !st.ok()) return st;
      }
    } else if (depth == 0 && KeyIs(key, "properties")) {
      od::object props;
      if (!v.get_object().get(props)) {
        if (auto st = ReadExtras(props, 1, x); !st.ok()) return st;
      }
    } else if (KeyIs(key, "attributes")) {
      od::object attrs;
      if (!v.get_object().get(attrs)) {
        if (auto st = ReadAttributes(attrs, x); !st.ok()) return st;
      }
    } else if (KeyIs(key, "keyUriWithVersion")) {
      if (auto s = AsString(v)) x.key_uri_with_version.assign(*s);
    } else if (KeyIs(key, "keyUri")) {
      if (auto s = AsString(v)) x.key_uri.assign(*s);
    } else if (KeyIs(key, "updatedOn")) {
      KeepFirst(x.updated, v);
    } else if (KeyIs(key, "createdAt") || KeyIs(key, "createdOn") || KeyIs(key, "creationTime") ||
               KeyIs(key, "dateCreated")) {
      KeepFirst(x.created, v);
    }
  }
  return Status::Ok();
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool IsArmId(std::string_view canonical) {
  return StartsWith(canonical, "/subscriptions/") || StartsWith(canonical, "/providers/");
}

// "microsoft.keyvault/vaults/keys" for ".../providers/microsoft.keyvault/
// vaults/v/keys/k": the provider, then every other segment. For resources
// that do not say their type.
std::string TypeOfResourceId(std::string_view canonical) {
  const size_t prov = canonical.rfind("/providers/");
  if (prov == std::string_view::npos) {
    return canonical.find("/resourcegroups/") != std::string_view::npos
               ? "microsoft.resources/subscriptions/resourcegroups"
               : "microsoft.resources/subscriptions";
  }
  std::string type;
  size_t index = 0;
  std::string_view rest = canonical.substr(prov + 11);
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    if (index == 0 || index % 2 == 1) {
      if (!type.empty()) type += '/';
      type += seg;
    }
    ++index;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return type;
}

// For ".../vaults/v/accesspolicies[/add|replace|remove]": the operation kind.
// An accessPolicies body never holds the vault's whole list, only the
// entries the request named, so it must not be taken as the vault's list;
// Azure returns ".../accessPolicies/" (no kind) for an add, hence the default.
std::string AccessPolicyOperation(std::string_view canonical, std::string_view vault_id) {
  std::string_view rest = canonical.substr(vault_id.size());
  constexpr std::string_view kSeg = "/accesspolicies";
  if (!StartsWith(rest, kSeg)) return {};
  rest.remove_prefix(kSeg.size());
  if (rest == "/replace") return "replace";
  if (rest == "/remove") return "remove";
  return "add";
}

std::string Excerpt(std::string_view s) {
  return s.size() <= 120 ? std::string(s) : std::string(s.substr(0, 120)) + "...";
}

}  // namespace

Result<Event> ParseArmDoc(od::document& doc, std::string_view raw, const ParseLimits& limits) {
  if (ScanDepth(raw, limits.max_depth) > limits.max_depth) {
    return Status::LimitExceeded("ARM resource nests deeper than " + std::to_string(limits.max_depth) + " levels");
  }
  // Two passes over the document (simdjson on demand reads forward only):
  // times and key URIs here, typed changes in ReadArmBody. Views into the
  // document do not survive rewind(), so both passes copy what they keep.
  Extras extras;
  {
    auto root = RootObject(doc);
    if (!root.ok()) return root.status();
    if (auto st = ReadExtras(*root, 0, extras); !st.ok()) return st;
  }
  doc.rewind();
  ArmBody body;
  {
    auto root = RootObject(doc);
    if (!root.ok()) return root.status();
    if (auto st = ReadArmBody(*root, limits, body); !st.ok()) return st;
  }

  Event event;
  event.source = Source::kInventory;
  // The id is derived from the record bytes by parse.cpp.
  event.time = extras.Time();
  event.outcome = Outcome::kSucceeded;

  const std::string canonical = CanonicalResourceId(body.id);
  const std::string kid = !body.kid.empty() ? body.kid : extras.kid;
  ArmContext ctx;
  if (IsArmId(canonical)) {
    ctx.kind = KindOfResourceId(canonical);
    const std::string type = body.type.empty() ? TypeOfResourceId(canonical) : AsciiLower(body.type);
    event.operation = type + "/read";
    event.resource_id = canonical;
    event.resource_kind = ctx.kind;
    if (ctx.kind == ResourceKind::kVault) {
      // accessPolicies sub-resources are about the vault.
      const std::string vault_id = VaultIdOf(canonical);
      if (!vault_id.empty()) {
        ctx.access_policy_operation = AccessPolicyOperation(canonical, vault_id);
        event.resource_id = vault_id;
      }
    } else if (ctx.kind == ResourceKind::kKey) {
      const std::string& uri =
          !extras.key_uri_with_version.empty() ? extras.key_uri_with_version : extras.key_uri;
      if (!uri.empty()) ApplyKeyUri(event, uri, VaultIdOf(canonical));
    }
  } else if (!kid.empty()) {
    // A data-plane key bundle names its key by URI only; the vault's ARM id
    // (subscription, resource group) is not in it. The resource id stays
    // empty rather than invented: the analyzer resolves event.key.vault to
    // the vault through the vault inventory's vaultUri, and the key's ARM id
    // is then "<vault id>/keys/<name>". A made-up id would create a second,
    // phantom resource for the same key.
    auto parsed = ParseVaultUri(kid);
    if (!parsed || parsed->collection != "keys" || parsed->name.empty()) {
      return Status::Corruption("Key Vault key bundle: kid \"" + Excerpt(kid) + "\" is not a key URI");
    }
    ctx.kind = ResourceKind::kKey;
    event.operation = "microsoft.keyvault/vaults/keys/read";
    event.resource_kind = ResourceKind::kKey;
    ApplyKeyUri(event, kid, "");
  } else if (!body.id.empty()) {
    return Status::Corruption("ARM resource: id \"" + Excerpt(body.id) +
                              "\" is not an ARM resource id (/subscriptions/... or /providers/...)");
  } else {
    return Status::Corruption("ARM resource has no \"id\" (nor a Key Vault key \"kid\")");
  }
  ApplyArmBody(std::move(body), ctx, event.changes);
  event.raw.assign(raw);
  return event;
}

}  // namespace cmkwatch::collector::internal
