// Private: what the two Key Vault audit parsers share.
//
// One Key Vault AuditEvent reaches us in three shapes (exported JSON,
// AZKVAuditLogs rows, AzureDiagnostics rows). Each parser walks its record
// once and drops what it finds into AuditFields; BuildAuditEvent then applies
// the one set of normalization rules, so the same audit event gives the same
// Event whatever shape it came in.
//
// This is the collector's hot path (KeyUnwrap/KeyWrap/KeyGet dominate real
// audit volume), so fields are held as views into the record while it is
// walked and copied once, into the Event.
#pragma once

#include <array>
#include <forward_list>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/common/event.h"
#include "json_access.h"

namespace cmkwatch::collector::internal {

inline bool StartsWithName(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && KeyIs(s.substr(0, prefix.size()), prefix);
}

// Field name → id, case-insensitively, bucketed by length so that a lookup
// compares against one or two names rather than the whole list.
template <typename Id>
class FieldTable {
 public:
  struct Entry {
    std::string_view name;
    Id id;
  };
  FieldTable(std::initializer_list<Entry> entries, Id none) : none_(none) {
    for (const Entry& e : entries) {
      if (e.name.size() < kMaxName) buckets_[e.name.size()].push_back(e);
    }
  }
  Id Find(std::string_view name) const {
    if (name.size() >= kMaxName) return none_;
    for (const Entry& e : buckets_[name.size()]) {
      if (KeyIs(name, e.name)) return e.id;
    }
    return none_;
  }

 private:
  static constexpr size_t kMaxName = 80;
  std::array<std::vector<Entry>, kMaxName> buckets_;
  Id none_;
};

// How a shape names the fields an error message mentions.
struct AuditNames {
  std::string_view form = "Key Vault AuditEvent record";
  std::string_view time = "time";
  std::string_view operation = "operationName";
  std::string_view resource = "resourceId";
};

// What one audit record said, in any of its shapes. String views point into
// the record's document, or into `owned` for text that came from JSON inside
// a string (whose document is closed before the record is finished).
struct AuditFields {
  bool time_seen = false;
  std::optional<int64_t> time;
  std::string_view time_text;  // for the error message when unreadable
  std::string_view resource_id;
  std::string_view operation;
  std::string_view category;
  std::string_view result_type;
  std::string_view result_signature;
  std::string_view correlation_id;
  std::string_view caller_ip;
  std::string_view object_uri;   // properties.id / Id / id_s: the object acted on
  std::string_view request_uri;  // properties.requestUri / RequestUri / requestUri_s
  std::string_view kid;          // a key id inside key properties
  int http_status = 0;           // httpStatusCode, 0 when not said
  bool log_analytics = false;    // a Log Analytics row (TimeGenerated, Type seen)
  AuditNames names;              // set by the parser before BuildAuditEvent
  Actor actor;
  VaultChanges vault;
  bool vault_seen = false;
  KeyChanges key;
  bool key_seen = false;

  // Copies text whose document will close before BuildAuditEvent. A list,
  // not a vector: the views must not move, and an empty list allocates
  // nothing (the hot path never needs it).
  std::string_view Keep(std::string_view text) {
    owned_.emplace_front(text);
    return owned_.front();
  }

 private:
  std::forward_list<std::string> owned_;
};

// The elements of a list Log Analytics flattened into text: JSON array text
// ("[\"Get\",\"WrapKey\"]") or a comma-separated list ("Get, WrapKey").
std::vector<std::string> SplitListText(std::string_view text);
// How many elements such a text holds (ipRules as text).
uint32_t CountListText(std::string_view text);

// Sets the access policy operation from the added/removed lists: "add",
// "remove", or "replace" when Key Vault logged both (a policy edited in place
// is logged as the old one removed and the new one added).
void SetAccessPolicyOperation(VaultChanges& vault);

// Applies the normalization rules (event.h) and returns the Event, or
// Corruption naming the field that is missing or unreadable. `raw` is the
// record's bytes, copied into the Event and hashed for its id.
Result<Event> BuildAuditEvent(AuditFields& fields, std::string_view raw);

}  // namespace cmkwatch::collector::internal
