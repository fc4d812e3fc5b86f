// Alert <-> JSON (schema in alert.h). nlohmann_json: alerts are few, and
// this is the library the project uses for reports and output.
#include <nlohmann/json.hpp>

#include "cmkwatch/analyzer/alert.h"
#include "cmkwatch/common/time.h"

namespace cmkwatch::analyzer {
namespace {

using json = nlohmann::json;

std::optional<AlertStatus> ParseStatus(std::string_view s) {
  for (AlertStatus st : {AlertStatus::kOpen, AlertStatus::kResolved, AlertStatus::kSuppressed}) {
    if (s == ToString(st)) return st;
  }
  return std::nullopt;
}

}  // namespace

std::string AlertToJson(const Alert& a) {
  json j = json::object();
  j["id"] = a.id;
  j["rule"] = a.rule;
  j["title"] = a.title;
  j["severity"] = ToString(a.severity);
  j["status"] = ToString(a.status);
  j["resource_id"] = a.resource_id;
  if (!a.subject.empty()) j["subject"] = a.subject;
  j["affected"] = a.affected;
  j["operation"] = a.operation;
  json actor = json::object();
  if (!a.actor.object_id.empty()) actor["object_id"] = a.actor.object_id;
  if (!a.actor.app_id.empty()) actor["app_id"] = a.actor.app_id;
  if (!a.actor.upn.empty()) actor["upn"] = a.actor.upn;
  if (!a.actor.ip.empty()) actor["ip"] = a.actor.ip;
  j["actor"] = std::move(actor);
  j["time"] = FormatTimestamp(a.time);
  j["first_seen"] = FormatTimestamp(a.first_seen);
  j["last_seen"] = FormatTimestamp(a.last_seen);
  j["count"] = a.count;
  j["evidence"] = a.evidence;
  j["why"] = a.why;
  j["remediation"] = a.remediation;
  if (!a.suppression.empty()) j["suppression"] = a.suppression;
  if (!a.resolved_by.empty()) {
    j["resolved_at"] = FormatTimestamp(a.resolved_at);
    j["resolved_by"] = a.resolved_by;
  }
  // Replace: text from logs may hold invalid UTF-8; the alert must still
  // serialize (nlohmann throws otherwise).
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Alert> AlertFromJson(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::InvalidArgument("alert: not a JSON object");
  Alert a;
  auto str = [&](const char* key, std::string& out) {
    if (auto it = j.find(key); it != j.end() && it->is_string()) out = it->get<std::string>();
  };
  auto time = [&](const char* key, int64_t& out) -> bool {
    auto it = j.find(key);
    if (it == j.end()) return true;
    if (!it->is_string()) return false;
    auto t = ParseTimestamp(it->get<std::string>());
    if (!t) return false;
    out = *t;
    return true;
  };
  auto list = [&](const char* key, std::vector<std::string>& out) {
    if (auto it = j.find(key); it != j.end() && it->is_array()) {
      for (const auto& v : *it) {
        if (v.is_string()) out.push_back(v.get<std::string>());
      }
    }
  };
  str("id", a.id);
  str("rule", a.rule);
  str("title", a.title);
  str("resource_id", a.resource_id);
  str("subject", a.subject);
  str("operation", a.operation);
  str("why", a.why);
  str("remediation", a.remediation);
  str("suppression", a.suppression);
  str("resolved_by", a.resolved_by);
  list("affected", a.affected);
  list("evidence", a.evidence);
  std::string severity, status;
  str("severity", severity);
  str("status", status);
  auto sev = ParseSeverity(severity);
  auto st = ParseStatus(status);
  if (a.id.empty() || a.rule.empty() || !sev || !st) {
    return Status::InvalidArgument("alert: id, rule, severity or status missing or unknown");
  }
  a.severity = *sev;
  a.status = *st;
  if (auto it = j.find("actor"); it != j.end() && it->is_object()) {
    auto actor_str = [&](const char* key, std::string& out) {
      if (auto f = it->find(key); f != it->end() && f->is_string()) out = f->get<std::string>();
    };
    actor_str("object_id", a.actor.object_id);
    actor_str("app_id", a.actor.app_id);
    actor_str("upn", a.actor.upn);
    actor_str("ip", a.actor.ip);
  }
  if (auto it = j.find("count"); it != j.end() && it->is_number_unsigned()) a.count = it->get<uint64_t>();
  if (!time("time", a.time) || !time("first_seen", a.first_seen) || !time("last_seen", a.last_seen) ||
      !time("resolved_at", a.resolved_at)) {
    return Status::InvalidArgument("alert: a time is not RFC 3339");
  }
  return a;
}

}  // namespace cmkwatch::analyzer
