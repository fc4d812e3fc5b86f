// Event Grid parser: Event Grid schema and CloudEvents 1.0, Key Vault events,
// Microsoft.Resources events and the subscription-validation handshake.
// Inputs: the published samples in the shared corpus (read in place) and the
// hand-made fixtures in tests/fixtures/eventgrid (see its README).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cmkwatch/collector/parse.h"
#include "cmkwatch/common/time.h"
#include "test_support.h"

namespace cmkwatch {
namespace {

using collector::Format;
using collector::ParseRecord;

constexpr int64_t kSec = kNanosPerSecond;
constexpr const char* kVaultId =
    "/subscriptions/11111111-2222-4333-8444-555555555555/resourcegroups/rg-cmk/providers/microsoft.keyvault/vaults/"
    "contoso-cmk-kv";
constexpr const char* kVaultHost = "contoso-cmk-kv.vault.azure.net";
constexpr const char* kKeyVersion = "5f0c3b1a9e8d4c7b8a6f5e4d3c2b1a09";

int64_t Ts(std::string_view text) {
  auto t = ParseTimestamp(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t.value_or(0);
}

std::vector<Event> ParseAll(std::string_view fixture) {
  std::vector<Event> out;
  for (const auto& record : test::SplitRecords(test::ReadFileOrFail(test::FixtureFile(fixture)))) {
    out.push_back(test::ParseOrFail(record, "eventgrid"));
  }
  return out;
}

// Everything but the raw bytes, which differ by construction.
void ExpectSameNormalized(Event a, Event b) {
  a.raw.clear();
  b.raw.clear();
  EXPECT_EQ(a, b) << "ids " << a.id << " / " << b.id;
}

Status ParseError(std::string_view record) {
  auto r = ParseRecord(record, Format::kEventGrid);
  EXPECT_FALSE(r.ok()) << record;
  return r.status();
}

TEST(EventGridTest, KeyVaultBatchInEventGridSchema) {
  auto events = ParseAll("eventgrid/keyvault_batch_eventgrid_schema.json");
  ASSERT_EQ(events.size(), 4u);
  const std::string key_id = std::string(kVaultId) + "/keys/ai-cmk-key";
  const KeyRef key_ref{kVaultHost, "ai-cmk-key", kKeyVersion};

  const Event& created = events[0];
  EXPECT_EQ(created.id, "6f1a2b3c-0001-4a5b-8c9d-0e1f2a3b4c5d");  // Azure's id, unprefixed
  EXPECT_EQ(created.source, Source::kEventGrid);
  EXPECT_EQ(created.time, Ts("2025-03-01T10:00:00.1234567Z"));
  EXPECT_EQ(created.operation, "Microsoft.KeyVault.KeyNewVersionCreated");
  EXPECT_EQ(created.outcome, Outcome::kSucceeded);
  EXPECT_EQ(created.resource_id, key_id);
  EXPECT_EQ(created.resource_kind, ResourceKind::kKey);
  ASSERT_TRUE(created.key.has_value());
  EXPECT_EQ(*created.key, key_ref);
  ASSERT_TRUE(created.changes.key.has_value());
  EXPECT_EQ(created.changes.key->expires, 1772359200 * kSec);  // EXP as a string
  EXPECT_EQ(created.changes.key->not_before, 1740823200 * kSec);
  EXPECT_TRUE(created.actor.empty());
  EXPECT_FALSE(created.raw.empty());

  const Event& near = events[1];
  EXPECT_EQ(near.operation, "Microsoft.KeyVault.KeyNearExpiry");
  EXPECT_EQ(near.time, Ts("2026-02-01T00:00:05.5Z"));
  EXPECT_EQ(near.resource_id, key_id);
  ASSERT_TRUE(near.changes.key.has_value());
  EXPECT_EQ(near.changes.key->expires, 1772359200 * kSec);  // EXP as a number
  EXPECT_EQ(near.changes.key->not_before, 1740823200 * kSec);

  const Event& expired = events[2];
  EXPECT_EQ(expired.operation, "Microsoft.KeyVault.KeyExpired");
  ASSERT_TRUE(expired.changes.key.has_value());
  EXPECT_EQ(expired.changes.key->expires, 1772359200 * kSec);
  EXPECT_FALSE(expired.changes.key->not_before.has_value());  // NBF null
  EXPECT_FALSE(expired.changes.key->enabled.has_value());     // not said by the event

  const Event& policy = events[3];
  EXPECT_EQ(policy.operation, "Microsoft.KeyVault.VaultAccessPolicyChanged");
  EXPECT_EQ(policy.resource_id, kVaultId);
  EXPECT_EQ(policy.resource_kind, ResourceKind::kVault);
  ASSERT_TRUE(policy.key.has_value());  // names the vault host only
  EXPECT_EQ(*policy.key, (KeyRef{kVaultHost, "", ""}));
  EXPECT_TRUE(policy.changes.empty());
}

// An ObjectName Key Vault would refuse ("ai-cmk-key \t", found by fuzzing)
// names no key: the event stays on the vault instead of on an id that is
// not canonical.
TEST(EventGridTest, ObjectNameKeyVaultWouldRefuseStaysOnTheVault) {
  const std::string record =
      R"({"id": "e1", "topic": "/subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-cmk/)"
      R"(providers/Microsoft.KeyVault/vaults/contoso-cmk-kv", "subject": "ai-cmk-key",)"
      R"( "eventType": "Microsoft.KeyVault.KeyNewVersionCreated", "eventTime": "2025-03-01T10:00:00Z",)"
      R"( "data": {"ObjectType": "Key", "ObjectName": "ai-cmk-key \t", "Version": "01"}})";
  const Event e = test::ParseOrFail(record, "eventgrid");
  EXPECT_EQ(e.resource_id, kVaultId);
  EXPECT_EQ(e.resource_kind, ResourceKind::kVault);
  EXPECT_FALSE(e.key.has_value());
  EXPECT_EQ(e.operation, "Microsoft.KeyVault.KeyNewVersionCreated");
}

TEST(EventGridTest, CloudEventsNormalizeLikeEventGridSchema) {
  auto grid = ParseAll("eventgrid/keyvault_batch_eventgrid_schema.json");
  auto cloud = ParseAll("eventgrid/keyvault_batch_cloudevents.json");
  ASSERT_EQ(grid.size(), 4u);
  ASSERT_EQ(cloud.size(), grid.size());
  for (size_t i = 0; i < grid.size(); ++i) {
    SCOPED_TRACE(grid[i].operation);
    ExpectSameNormalized(grid[i], cloud[i]);
  }
}

TEST(EventGridTest, CorpusSecretNewVersionInBothSchemas) {
  CMK_REQUIRE_CORPUS();
  const std::string grid_raw = test::ReadFileOrFail(
      test::CorpusFile("azure-rest-api-specs/eventgrid-keyvault/event-grid-schema_secret_new_version_created.json"));
  const std::string cloud_raw = test::ReadFileOrFail(
      test::CorpusFile("azure-rest-api-specs/eventgrid-keyvault/cloud-events-schema_secret_new_version_created.json"));
  Event grid = test::ParseOrFail(grid_raw);  // auto-detected
  Event cloud = test::ParseOrFail(cloud_raw);
  EXPECT_EQ(grid.id, "00eccf70-95a7-4e7c-8299-2eb17ee9ad64");
  EXPECT_EQ(grid.time, Ts("2019-07-25T01:08:33.1036736Z"));
  EXPECT_EQ(grid.operation, "Microsoft.KeyVault.SecretNewVersionCreated");
  // "{subscription-id}" is a placeholder, but still a path segment.
  EXPECT_EQ(grid.resource_id,
            "/subscriptions/{subscription-id}/resourcegroups/sample-rg/providers/microsoft.keyvault/vaults/sample-kv/"
            "secrets/newsecret");
  EXPECT_EQ(grid.resource_kind, ResourceKind::kSecret);
  EXPECT_FALSE(grid.key.has_value());           // a secret is not a key
  EXPECT_FALSE(grid.changes.key.has_value());   // EXP of a secret is not a key expiry
  EXPECT_EQ(grid.outcome, Outcome::kSucceeded);
  EXPECT_EQ(grid.raw, grid_raw);
  ExpectSameNormalized(grid, cloud);
}

TEST(EventGridTest, CorpusResourceWriteSuccessWithPlaceholders) {
  CMK_REQUIRE_CORPUS();
  Event e = test::ParseOrFail(test::ReadFileOrFail(
      test::CorpusFile("azure-rest-api-specs/eventgrid-resources/event-grid-schema_resource_write_success.json")));
  EXPECT_EQ(e.id, "4db48cba-50a2-455a-93b4-de41a3b5b7f6");
  EXPECT_EQ(e.time, Ts("2018-07-19T18:38:04.6117357Z"));
  // Lower-cased like the Activity Log, so rules match either source.
  EXPECT_EQ(e.operation, "microsoft.storage/storageaccounts/write");
  EXPECT_EQ(e.outcome, Outcome::kSucceeded);
  EXPECT_EQ(e.resource_id,
            "/subscriptions/{subscription-id}/resourcegroups/{resource-group}/providers/microsoft.storage/"
            "storageaccounts/{storage-name}");
  EXPECT_EQ(e.resource_kind, ResourceKind::kOther);
  EXPECT_EQ(e.correlation_id, "{id}");
  // Claims in long URI form; placeholder values are plain strings.
  EXPECT_EQ(e.actor.upn, "{user-name}");
  EXPECT_EQ(e.actor.object_id, "{id}");
  EXPECT_EQ(e.actor.tenant_id, "{id}");
  EXPECT_EQ(e.actor.app_id, "{id}");
  EXPECT_EQ(e.actor.ip, "{IP-address}");  // no httpRequest: the token's ipaddr
  EXPECT_TRUE(e.changes.empty());
}

TEST(EventGridTest, ResourceDeleteSuccessForVault) {
  auto events = ParseAll("eventgrid/resource_delete_success_vault.json");
  ASSERT_EQ(events.size(), 1u);
  const Event& e = events[0];
  EXPECT_EQ(e.id, "8e7d6c5b-4a39-4281-9f0e-d1c2b3a49586");
  EXPECT_EQ(e.source, Source::kEventGrid);
  EXPECT_EQ(e.time, Ts("2025-03-03T14:05:06.789Z"));
  EXPECT_EQ(e.operation, "microsoft.keyvault/vaults/delete");  // what CMK004 matches
  EXPECT_EQ(e.outcome, Outcome::kSucceeded);
  EXPECT_EQ(e.resource_id, kVaultId);
  EXPECT_EQ(e.resource_kind, ResourceKind::kVault);
  EXPECT_EQ(e.correlation_id, "3c2b1a09-8f7e-4d6c-9b5a-493827161504");
  EXPECT_EQ(e.actor.object_id, "0f0e0d0c-0b0a-4909-8807-060504030201");
  EXPECT_EQ(e.actor.upn, "mallory@contoso.example");
  EXPECT_EQ(e.actor.app_id, "04b07795-8ddb-461a-bbee-02f9e1bf7b46");
  EXPECT_EQ(e.actor.tenant_id, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
  EXPECT_EQ(e.actor.principal_type, "User");
  // httpRequest.clientIpAddress, not the token's ipaddr (198.51.100.77).
  EXPECT_EQ(e.actor.ip, "203.0.113.45");
}

TEST(EventGridTest, ResourceOutcomeFromTypeSuffixThenStatus) {
  auto make = [](std::string_view type, std::string_view extra) {
    return std::string(R"({"id":"1","eventType":")") + std::string(type) +
           R"(","eventTime":"2025-01-01T00:00:00Z","subject":"/subscriptions/s/resourceGroups/RG","data":{)" +
           std::string(extra) + "}}";
  };
  Event failed = test::ParseOrFail(make("Microsoft.Resources.ResourceWriteFailure", R"("status":"Succeeded")"));
  EXPECT_EQ(failed.outcome, Outcome::kFailed);  // the type's verdict wins
  Event cancel = test::ParseOrFail(make("Microsoft.Resources.ResourceActionCancel", ""));
  EXPECT_EQ(cancel.outcome, Outcome::kFailed);
  Event by_status = test::ParseOrFail(make("Microsoft.Resources.ResourceSomethingNew", R"("status":"Failed")"));
  EXPECT_EQ(by_status.outcome, Outcome::kFailed);
  // No resourceUri: the subject; no operationName: authorization.action.
  Event action = test::ParseOrFail(
      make("Microsoft.Resources.ResourceActionSuccess",
           R"("authorization":{"action":"Microsoft.KeyVault/vaults/keys/purge/action","evidence":{"principalId":"ABC","principalType":"ServicePrincipal"}})"));
  EXPECT_EQ(action.resource_id, "/subscriptions/s/resourcegroups/rg");
  EXPECT_EQ(action.resource_kind, ResourceKind::kResourceGroup);
  EXPECT_EQ(action.operation, "microsoft.keyvault/vaults/keys/purge/action");
  EXPECT_EQ(action.actor.object_id, "abc");
  EXPECT_EQ(action.actor.principal_type, "ServicePrincipal");
}

TEST(EventGridTest, SubscriptionValidationHandshake) {
  auto events = ParseAll("eventgrid/subscription_validation.json");
  ASSERT_EQ(events.size(), 1u);
  const Event& e = events[0];
  EXPECT_EQ(e.id, "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66");
  EXPECT_EQ(e.operation, "Microsoft.EventGrid.SubscriptionValidationEvent");
  EXPECT_EQ(e.resource_id, kVaultId);
  EXPECT_EQ(e.time, Ts("2025-03-01T09:59:58.1Z"));
  EXPECT_EQ(e.outcome, Outcome::kUnknown);  // a handshake, not an operation
  // The caller answers from the raw bytes, which must hold the code.
  EXPECT_NE(e.raw.find("512d38b6-c7b8-40c8-89fe-f46f9e9622b6"), std::string::npos);

  Status st = ParseError(
      R"({"id":"x","topic":"/subscriptions/s","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent",)"
      R"("eventTime":"2025-03-01T09:59:58Z","data":{"validationUrl":"https://example.net/"}})");
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("validationCode"), std::string::npos) << st.message();
}

TEST(EventGridTest, DataAsJsonTextAndUnknownTypes) {
  Event e = test::ParseOrFail(
      R"({"specversion":"1.0","id":"a1","source":"/subscriptions/S/resourceGroups/R/providers/Microsoft.KeyVault/vaults/V",)"
      R"("type":"Microsoft.KeyVault.KeyExpired","time":"2025-01-01T00:00:00Z",)"
      R"("data":"{\"Id\":\"https://v.vault.azure.net/keys/K/1\",\"ObjectType\":\"Key\",\"EXP\":1700000000}"})");
  EXPECT_EQ(e.resource_id, "/subscriptions/s/resourcegroups/r/providers/microsoft.keyvault/vaults/v/keys/k");
  ASSERT_TRUE(e.key.has_value());
  EXPECT_EQ(*e.key, (KeyRef{"v.vault.azure.net", "k", "1"}));
  ASSERT_TRUE(e.changes.key.has_value());
  EXPECT_EQ(e.changes.key->expires, 1700000000 * kSec);

  // A type we have no rules for still becomes an event.
  Event other = test::ParseOrFail(
      R"({"id":"b2","topic":"/subscriptions/S/resourceGroups/R/providers/Microsoft.Storage/storageAccounts/A",)"
      R"("eventType":"Microsoft.Storage.BlobCreated","eventTime":"2025-01-01T00:00:00Z","dataVersion":"1","data":{}})");
  EXPECT_EQ(other.operation, "Microsoft.Storage.BlobCreated");
  EXPECT_EQ(other.resource_kind, ResourceKind::kOther);
  EXPECT_EQ(other.outcome, Outcome::kUnknown);
}

TEST(EventGridTest, MissingIdIsHashedStably) {
  const std::string compact =
      R"({"topic":"/subscriptions/s","eventType":"Microsoft.Resources.ResourceWriteSuccess","eventTime":"2025-01-01T00:00:00Z","data":{}})";
  const std::string pretty =
      "{\n  \"topic\": \"/subscriptions/s\",\n  \"eventType\": \"Microsoft.Resources.ResourceWriteSuccess\",\n"
      "  \"eventTime\": \"2025-01-01T00:00:00Z\",\n  \"data\": {}\n}";
  Event a = test::ParseOrFail(compact, "eventgrid");
  Event b = test::ParseOrFail(pretty, "eventgrid");
  EXPECT_EQ(a.id.rfind("event_grid:", 0), 0u) << a.id;
  EXPECT_EQ(a.id, b.id);
}

TEST(EventGridTest, MalformedRecordsAreCorruptionWithReadableMessages) {
  struct Case {
    const char* record;
    const char* mentions;
  };
  const Case cases[] = {
      {R"({"id":"1","topic":"/subscriptions/s","eventTime":"2025-01-01T00:00:00Z","dataVersion":"1","data":{}})",
       "eventType"},
      {R"({"id":"1","specversion":"1.0","source":"/subscriptions/s","time":"2025-01-01T00:00:00Z"})", "\"type\""},
      {R"({"id":"1","eventType":"Microsoft.KeyVault.KeyExpired","dataVersion":"1","data":{}})", "eventTime"},
      {R"({"id":"1","specversion":"1.0","type":"Microsoft.KeyVault.KeyExpired"})", "\"time\""},
      {R"({"id":"1","eventType":"Microsoft.KeyVault.KeyExpired","eventTime":"yesterday","data":{}})",
       "not a timestamp"},
      {R"([{"id":"1"}])", "not a JSON object"},
      {R"({"id":"1","eventType":"Microsoft.KeyVault.KeyExpired","eventTime":)", "malformed JSON"},
  };
  for (const auto& c : cases) {
    Status st = ParseError(c.record);
    EXPECT_TRUE(st.IsCorruption()) << c.record << " -> " << st.ToString();
    EXPECT_NE(st.message().find(c.mentions), std::string::npos) << st.message();
  }
}

TEST(EventGridTest, DeepNestingIsRefused) {
  std::string deep = R"({"id":"1","eventType":"X","eventTime":"2025-01-01T00:00:00Z","data":)";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "}";
  Status st = ParseError(deep);
  EXPECT_TRUE(st.IsLimitExceeded()) << st.ToString();
}

TEST(EventGridTest, TruncatedRecordsNeverCrash) {
  // Every prefix of a real batch element: an error or an event, never a crash.
  for (const char* fixture : {"eventgrid/keyvault_batch_cloudevents.json", "eventgrid/resource_delete_success_vault.json"}) {
    for (const auto& record : test::SplitRecords(test::ReadFileOrFail(test::FixtureFile(fixture)))) {
      for (size_t n = 0; n < record.size(); ++n) {
        auto r = ParseRecord(std::string_view(record).substr(0, n), Format::kEventGrid);
        if (!r.ok()) {
          EXPECT_FALSE(r.status().message().empty());
        }
      }
    }
  }
}

}  // namespace
}  // namespace cmkwatch
