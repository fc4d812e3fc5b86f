// Format detection picks the parser from a record's own fields.
#include <gtest/gtest.h>

#include "cmkwatch/collector/parse.h"

namespace cmkwatch::collector {
namespace {

Format Detect(std::string_view record) {
  auto f = DetectFormat(record);
  EXPECT_TRUE(f.ok()) << f.status().ToString() << " for " << record;
  return f.ok() ? *f : Format::kAuto;
}

TEST(Detect, EachFormatBySignature) {
  EXPECT_EQ(Detect(R"({"time":"t","operationName":"MICROSOFT.KEYVAULT/VAULTS/WRITE","category":"Administrative"})"),
            Format::kActivityLog);
  EXPECT_EQ(Detect(R"({"eventTimestamp":"t","operationName":{"value":"x"}})"), Format::kActivityLog);
  EXPECT_EQ(Detect(R"({"TimeGenerated":"t","OperationNameValue":"x","Type":"AzureActivity"})"), Format::kActivityLog);
  EXPECT_EQ(Detect(R"({"time":"t","operationName":"KeyGet","category":"AuditEvent"})"), Format::kKeyVaultAudit);
  EXPECT_EQ(Detect(R"({"TimeGenerated":"t","OperationName":"KeyGet","Identity":{},"HttpStatusCode":200})"),
            Format::kKeyVaultAudit);
  EXPECT_EQ(Detect(R"({"Type":"AZKVAuditLogs","TimeGenerated":"t"})"), Format::kKeyVaultAudit);
  EXPECT_EQ(Detect(R"({"TimeGenerated":"t","OperationName":"KeyGet","Category":"AuditEvent","id_s":"x"})"),
            Format::kAzureDiagnostics);
  EXPECT_EQ(Detect(R"({"TimeGenerated":"t","ResourceProvider":"MICROSOFT.KEYVAULT"})"), Format::kAzureDiagnostics);
  EXPECT_EQ(Detect(R"({"id":"1","eventType":"Microsoft.KeyVault.KeyExpired","eventTime":"t","data":{}})"),
            Format::kEventGrid);
  EXPECT_EQ(Detect(R"({"id":"1","type":"Microsoft.KeyVault.KeyExpired","specversion":"1.0","source":"s"})"),
            Format::kEventGrid);
  EXPECT_EQ(Detect(R"({"id":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv","type":"Microsoft.KeyVault/vaults"})"),
            Format::kArm);
  EXPECT_EQ(Detect(R"({"key":{"kid":"https://kv.vault.azure.net/keys/k/1"},"attributes":{}})"), Format::kArm);
}

TEST(Detect, FieldOrderDoesNotMatter) {
  EXPECT_EQ(Detect(R"({"data":{},"eventTime":"t","eventType":"x","id":"1"})"), Format::kEventGrid);
  EXPECT_EQ(Detect(R"({"properties":{},"category":"AuditEvent","operationName":"KeyGet","time":"t"})"),
            Format::kKeyVaultAudit);
}

TEST(Detect, UnknownRecordsSayWhatWasSeen) {
  auto f = DetectFormat(R"({"hello":"world","answer":42})");
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(f.status().IsUnsupported());
  EXPECT_NE(f.status().message().find("hello, answer"), std::string::npos) << f.status().message();

  auto arr = DetectFormat("[1,2]");
  ASSERT_FALSE(arr.ok());
  EXPECT_NE(arr.status().message().find("not a JSON object"), std::string::npos);

  auto bad = DetectFormat("{\"a\":");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsCorruption()) << bad.status().ToString();
}

TEST(Detect, OversizedRecordIsRefusedBeforeParsing) {
  ParseLimits limits;
  limits.max_record_bytes = 16;
  auto f = DetectFormat(R"({"time":"t","operationName":"KeyGet","category":"AuditEvent"})", limits);
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(f.status().IsLimitExceeded());
}

}  // namespace
}  // namespace cmkwatch::collector
