// Every file of the shared sample corpus (../shared/corpus, read in place)
// goes through the real read path — framing, detection, parsing — and must
// yield events without a single quarantined record. A corpus file this table
// does not know fails the test, so new samples cannot go unexercised.
//
// Field-by-field assertions per format live in the format tests
// (activity_log_test.cpp, keyvault_audit_test.cpp, ...); this test is the
// guarantee that nothing in the corpus is left out or silently dropped.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cmkwatch/collector/reader.h"
#include "test_support.h"

namespace cmkwatch::collector {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct Collect final : RecordHandler {
  std::vector<Event> events;
  std::vector<Quarantined> quarantined;
  void OnEvent(Event&& e, const RecordLocation&) override { events.push_back(std::move(e)); }
  void OnQuarantine(Quarantined&& q) override { quarantined.push_back(std::move(q)); }
};

// How a corpus file becomes input to the read path: the file itself, or
// JSON documents taken out of it (REST API examples, recorded HTTP
// cassettes, a Markdown page, a column schema).
using Extract = std::function<std::vector<std::string>(const std::string& text)>;

std::vector<std::string> Whole(const std::string& text) { return {text}; }

Extract ResponseBody(std::vector<std::string> statuses) {
  return [statuses](const std::string& text) {
    std::vector<std::string> out;
    const Json j = Json::parse(text);
    for (const auto& s : statuses) out.push_back(j.at("responses").at(s).at("body").dump());
    return out;
  };
}

// vcrpy cassettes: response bodies that are ARM/Key Vault JSON or lists of it
// (under body.data, or as text under body.string). Bodies that are neither
// (AAD Graph answers, rotation policies, errors) are not records of ours.
std::vector<std::string> CassetteBodies(const std::string& text) {
  std::vector<std::string> out;
  const Json j = Json::parse(text);
  for (const auto& interaction : j.at("interactions")) {
    const auto& body = interaction.at("response").at("body");
    Json data;
    if (body.contains("data")) {
      data = body.at("data");
    } else if (body.contains("string") && body.at("string").is_string()) {
      data = Json::parse(body.at("string").get<std::string>(), nullptr, false);
    }
    if (!data.is_object()) continue;
    const Json* list = data.contains("value") && data.at("value").is_array() ? &data.at("value") : nullptr;
    auto is_ours = [](const Json& item) {
      if (!item.is_object()) return false;
      if (item.contains("kid")) return true;
      if (item.contains("key") && item.at("key").is_object()) return true;
      if (item.contains("eventTimestamp")) return true;
      return item.contains("id") && item.at("id").is_string() && item.contains("type") &&
             item.at("id").get<std::string>().rfind("/subscriptions/", 0) == 0;
    };
    if (list != nullptr) {
      for (const auto& item : *list) {
        if (is_ours(item)) out.push_back(item.dump());
      }
    } else if (is_ours(data)) {
      out.push_back(data.dump());
    }
  }
  return out;
}

std::vector<std::string> MarkdownJsonBlocks(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = text.find("```json", pos)) != std::string::npos) {
    const size_t start = text.find('\n', pos) + 1;
    const size_t end = text.find("```", start);
    out.push_back(text.substr(start, end - start));
    pos = end + 3;
  }
  return out;
}

// A Log Analytics AZKVAuditLogs row built from the table's column schema: a
// plausible value of each column's type, so every documented column reaches
// the parser.
std::vector<std::string> RowFromColumnSchema(const std::string& text) {
  const Json schema = Json::parse(text);
  Json row = Json::object();
  for (const auto& col : schema.at("Properties")) {
    const std::string name = col.at("Name");
    const std::string type = col.at("Type");
    if (type == "datetime") row[name] = "2026-03-01T10:00:00.1234567Z";
    else if (type == "int") row[name] = 200;
    else if (type == "bool") row[name] = true;
    else if (type == "dynamic") row[name] = Json::object();
    else row[name] = "";
  }
  row["OperationName"] = "KeyUnwrap";
  row["Type"] = "AZKVAuditLogs";
  row["_ResourceId"] = "/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv";
  row["Id"] = "https://kv.vault.azure.net/keys/cmk/0123";
  row["Identity"] = {{"claim", {{"oid", "11111111-1111-1111-1111-111111111111"}}}};
  return {row.dump()};
}

struct CorpusFile {
  Extract extract;
  size_t min_events;
};

const std::map<std::string, CorpusFile>& Table() {
  static const std::map<std::string, CorpusFile> table = {
      {"azure-rest-api-specs/cognitiveservices/CreateAccount.json", {ResponseBody({"200", "201"}), 2}},
      {"azure-rest-api-specs/cognitiveservices/PutEncryptionScope.json", {ResponseBody({"200", "201"}), 2}},
      {"azure-rest-api-specs/eventgrid-keyvault/cloud-events-schema_secret_new_version_created.json", {Whole, 1}},
      {"azure-rest-api-specs/eventgrid-keyvault/event-grid-schema_secret_new_version_created.json", {Whole, 1}},
      {"azure-rest-api-specs/eventgrid-resources/event-grid-schema_resource_write_success.json", {Whole, 1}},
      {"azure-rest-api-specs/keyvault/createKey.json", {ResponseBody({"200"}), 1}},
      {"azure-rest-api-specs/keyvault/createVaultWithNetworkAcls.json", {ResponseBody({"200", "201"}), 2}},
      {"azure-rest-api-specs/keyvault/getVault.json", {ResponseBody({"200"}), 1}},
      {"azure-rest-api-specs/keyvault/updateAccessPoliciesAdd.json", {ResponseBody({"200"}), 1}},
      {"azure-rest-api-specs/machinelearningservices/Workspace_create.json", {ResponseBody({"200"}), 1}},
      {"azure-rest-api-specs/monitor/GetActivityLogsFiltered.json", {ResponseBody({"200"}), 1}},
      {"azure-sentinel/schemas/AZKVAuditLogs.json", {RowFromColumnSchema, 1}},
      {"cloud-custodian/AIFoundryProjectTest.ai-foundry-projects.json", {CassetteBodies, 1}},
      {"cloud-custodian/CognitiveServiceTest.test_find_by_name.json", {CassetteBodies, 1}},
      {"cloud-custodian/FunctionalActionsTagsTest.test_autotag_user_and_date.json", {CassetteBodies, 1}},
      {"cloud-custodian/KeyVaultKeyTest.test_key_vault_key_update_action.json", {CassetteBodies, 1}},
      {"cloud-custodian/KeyVaultKeyTest.test_key_vault_keys_rotation.json", {CassetteBodies, 1}},
      {"cloud-custodian/KeyVaultKeyTest.test_key_vault_keys_type.json", {CassetteBodies, 2}},
      {"cloud-custodian/KeyVaultTest.test_update_access_policy.json", {CassetteBodies, 2}},
      {"cloud-custodian/KeyVaultTest.test_whitelist.json", {CassetteBodies, 1}},
      {"cloud-custodian/MachineLearningWorkspaceTest.test_machine_learning_workspace_policy_run.json",
       {CassetteBodies, 1}},
      {"microsoftdocs-azure-docs/key-vault_general_logging.md", {MarkdownJsonBlocks, 1}},
      {"otel-collector-contrib/administrative-log.json", {Whole, 2}},
  };
  return table;
}

// Not samples: licence and provenance texts.
const std::set<std::string> kNotSamples = {"PROVENANCE.md", "cloud-custodian/LICENSE"};

TEST(Corpus, EveryFileIsKnownToThisTest) {
  CMK_REQUIRE_CORPUS();
  ASSERT_TRUE(fs::is_directory(test::CorpusDir())) << test::CorpusDir() << " missing (../shared/corpus)";
  size_t seen = 0;
  for (const auto& entry : fs::recursive_directory_iterator(test::CorpusDir())) {
    if (!entry.is_regular_file()) continue;
    const std::string rel = fs::relative(entry.path(), test::CorpusDir()).string();
    if (kNotSamples.count(rel) != 0) continue;
    ++seen;
    EXPECT_EQ(Table().count(rel), 1u) << "corpus file not exercised by corpus_test: " << rel;
  }
  EXPECT_EQ(seen, Table().size());
}

class CorpusFileTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CorpusFileTest, ParsesWithoutQuarantine) {
  CMK_REQUIRE_CORPUS();
  const auto& spec = Table().at(GetParam());
  const std::string text = test::ReadFileOrFail(test::CorpusFile(GetParam()));
  ASSERT_FALSE(text.empty());
  Collect out;
  ReadStats stats;
  for (const auto& doc : spec.extract(text)) {
    ASSERT_TRUE(ReadBuffer(doc, GetParam(), {}, out, stats).ok());
  }
  for (const auto& q : out.quarantined) {
    ADD_FAILURE() << "quarantined at offset " << q.offset << " (" << q.format_guess << "): " << q.reason;
  }
  EXPECT_GE(out.events.size(), spec.min_events);
  for (const auto& e : out.events) {
    EXPECT_FALSE(e.id.empty());
    EXPECT_FALSE(e.operation.empty());
    EXPECT_NE(e.resource_kind, ResourceKind::kUnknown) << e.operation << " " << e.resource_id;
    if (e.source != Source::kInventory) {
      EXPECT_GT(e.time, 0) << e.operation;
    }
  }
}

std::vector<std::string> CorpusNames() {
  std::vector<std::string> names;
  for (const auto& [name, spec] : Table()) names.push_back(name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Shared, CorpusFileTest, ::testing::ValuesIn(CorpusNames()),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           std::string n = param_info.param;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace cmkwatch::collector
