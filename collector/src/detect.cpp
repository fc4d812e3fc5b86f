// Format detection from a record's top-level field names (and a few values).
//
// Signatures, checked in this order:
//   Event Grid schema   eventType + (eventTime | dataVersion)
//   CloudEvents         specversion + type
//   Log Analytics rows  Type = AzureDiagnostics | AZKVAuditLogs | AzureActivity;
//                       without Type: TimeGenerated plus flattened *_s/_d/_g/_b
//                       columns or ResourceProvider → AzureDiagnostics,
//                       TimeGenerated plus Identity/Properties/HttpStatusCode/
//                       KeyProperties → AZKVAuditLogs
//   Key Vault export    category = AuditEvent (with time/operationName)
//   Activity Log        eventTimestamp, or operationName as an object (REST);
//                       time + operationName + any other category (export)
//   ARM resource        id "/subscriptions/…" or "/providers/…" with type or
//                       properties; or a data-plane key bundle (key.kid / kid)
#include <string>

#include "cmkwatch/common/resource_id.h"
#include "parsers.h"

namespace cmkwatch::collector::internal {
namespace {

bool EndsWithColumnSuffix(std::string_view key) {
  if (key.size() < 3 || key[key.size() - 2] != '_') return false;
  const char c = key.back();
  return c == 's' || c == 'd' || c == 'g' || c == 'b';
}

}  // namespace

Result<Format> DetectFormatDoc(od::document& doc) {
  auto root = RootObject(doc);
  if (!root.ok()) return root.status();
  bool event_type = false, event_time = false, data_version = false, specversion = false, type_key = false;
  bool time_generated = false, flattened = false, resource_provider = false, la_dynamic = false;
  bool time = false, operation_name = false, operation_object = false, event_timestamp = false;
  bool arm_id = false, properties = false, key_bundle = false;
  bool lower_category = false;  // "category", as exports spell it (rows say "Category")
  // Views into the document, which stays open for the whole walk: detection
  // runs on every record, so it allocates nothing.
  std::string_view category, la_type;
  for (auto field : *root) {
    std::string_view key;
    if (auto err = FieldName(field, key)) return JsonError(err, "top-level field name");
    od::value v;
    if (auto err = field.value().get(v)) return JsonError(err, "top-level value");
    if (key == "eventType") {
      event_type = true;
    } else if (key == "eventTime") {
      event_time = true;
    } else if (key == "dataVersion") {
      data_version = true;
    } else if (key == "specversion") {
      specversion = true;
    } else if (key == "type") {
      type_key = true;
      if (auto s = AsString(v)) la_type = *s;
    } else if (key == "Type") {
      if (auto s = AsString(v)) la_type = *s;
    } else if (key == "TimeGenerated") {
      time_generated = true;
    } else if (key == "ResourceProvider") {
      resource_provider = true;
    } else if (key == "Identity" || key == "Properties" || key == "HttpStatusCode" || key == "KeyProperties") {
      la_dynamic = true;
    } else if (KeyIs(key, "category")) {
      if (auto s = AsString(v)) category = *s;
      lower_category = key == "category";
    } else if (key == "time") {
      time = true;
    } else if (key == "operationName") {
      operation_name = true;
      operation_object = IsObject(v);
    } else if (key == "eventTimestamp") {
      event_timestamp = true;
    } else if (key == "id") {
      if (auto s = AsString(v)) {
        arm_id = (s->size() > 15 && KeyIs(s->substr(0, 15), "/subscriptions/")) ||
                 (s->size() > 11 && KeyIs(s->substr(0, 11), "/providers/"));
      }
    } else if (key == "properties") {
      properties = true;
    } else if (key == "key" || key == "kid") {
      key_bundle = true;
    } else if (EndsWithColumnSuffix(key)) {
      flattened = true;
    }
    // Decisive signatures end the walk early: detection runs on every record.
    if (event_type && (event_time || data_version)) return Format::kEventGrid;
    if (specversion && type_key) return Format::kEventGrid;
    if (lower_category && time && KeyIs(category, "AuditEvent")) return Format::kKeyVaultAudit;
    if (lower_category && time && operation_name && !category.empty() && !time_generated &&
        !KeyIs(category, "AuditEvent")) {
      return Format::kActivityLog;
    }
  }
  if (event_type && (event_time || data_version)) return Format::kEventGrid;
  if (specversion && type_key) return Format::kEventGrid;
  if (KeyIs(la_type, "AzureDiagnostics")) return Format::kAzureDiagnostics;
  if (KeyIs(la_type, "AZKVAuditLogs")) return Format::kKeyVaultAudit;
  if (KeyIs(la_type, "AzureActivity")) return Format::kActivityLog;
  if (time_generated && (flattened || resource_provider)) return Format::kAzureDiagnostics;
  if (time_generated && la_dynamic) return Format::kKeyVaultAudit;
  if (KeyIs(category, "AuditEvent") && (time || operation_name)) return Format::kKeyVaultAudit;
  if (event_timestamp || operation_object) return Format::kActivityLog;
  if (time && operation_name && !category.empty()) return Format::kActivityLog;
  if (arm_id && (type_key || properties)) return Format::kArm;
  if (key_bundle) return Format::kArm;
  // The rare path: walk again for the names the message shows. The walk
  // above went through every field without error, so this one does too.
  std::string first_keys;
  int seen = 0;
  doc.rewind();
  if (auto again = RootObject(doc); again.ok()) {
    for (auto field : *again) {
      std::string_view key;
      if (field.unescaped_key().get(key)) break;
      if (seen < 8) {
        if (!first_keys.empty()) first_keys += ", ";
        first_keys.append(key.substr(0, 40));
      }
      ++seen;
    }
  }
  std::string msg = "unrecognized record: no known Azure log or resource format matches its fields";
  if (!first_keys.empty()) msg += " (" + first_keys + (seen > 8 ? ", ...)" : ")");
  return Status::Unsupported(std::move(msg));
}

}  // namespace cmkwatch::collector::internal
