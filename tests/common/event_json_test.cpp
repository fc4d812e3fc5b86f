#include "cmkwatch/common/event_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cmkwatch/common/time.h"

namespace cmkwatch {
namespace {

Event SampleEvent() {
  Event e;
  e.id = "keyvault_audit:0123";
  e.source = Source::kKeyVaultAudit;
  e.time = *ParseTimestamp("2026-03-01T10:00:00.1234567Z");
  e.resource_id = "/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv/keys/cmk";
  e.resource_kind = ResourceKind::kKey;
  e.operation = "KeyUnwrap";
  e.outcome = Outcome::kFailed;
  e.http_status = 403;
  e.actor.object_id = "11111111-1111-1111-1111-111111111111";
  e.actor.ip = "10.0.0.4";
  e.key = KeyRef{"kv.vault.azure.net", "cmk", "abc"};
  KeyChanges k;
  k.kty = "RSA";
  k.key_size = 2048;
  k.enabled = false;
  e.changes.key = k;
  e.raw = "{\"raw\":\"\xff\"}";  // invalid UTF-8 must not throw
  return e;
}

TEST(EventJson, WritesTheDocumentedFields) {
  const auto j = nlohmann::json::parse(EventToJson(SampleEvent()));
  EXPECT_EQ(j["id"], "keyvault_audit:0123");
  EXPECT_EQ(j["source"], "keyvault_audit");
  EXPECT_EQ(j["time"], "2026-03-01T10:00:00.1234567Z");
  EXPECT_EQ(j["resource_kind"], "key");
  EXPECT_EQ(j["operation"], "KeyUnwrap");
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["http_status"], 403);
  EXPECT_EQ(j["caller"]["object_id"], "11111111-1111-1111-1111-111111111111");
  EXPECT_EQ(j["caller"]["ip"], "10.0.0.4");
  EXPECT_FALSE(j["caller"].contains("upn"));  // absent, not null
  EXPECT_EQ(j["key"]["vault"], "kv.vault.azure.net");
  EXPECT_EQ(j["changes"]["key"]["key_size"], 2048);
  EXPECT_EQ(j["changes"]["key"]["enabled"], false);
  EXPECT_FALSE(j.contains("raw"));
}

TEST(EventJson, RawIsOptionalAndInvalidUtf8IsReplaced) {
  EventJsonOptions options;
  options.include_raw = true;
  const std::string text = EventToJson(SampleEvent(), options);
  const auto j = nlohmann::json::parse(text);
  ASSERT_TRUE(j.contains("raw"));
  EXPECT_NE(j["raw"].get<std::string>().find("raw"), std::string::npos);
}

TEST(EventJson, UnknownHttpStatusAndEmptyActorAreLeftOut) {
  Event e;
  e.id = "x";
  const auto j = nlohmann::json::parse(EventToJson(e));
  EXPECT_FALSE(j.contains("http_status"));
  EXPECT_FALSE(j.contains("caller"));
  EXPECT_FALSE(j.contains("key"));
  EXPECT_TRUE(j["changes"].is_object());
}

}  // namespace
}  // namespace cmkwatch
