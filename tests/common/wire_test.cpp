// The collector → analyzer wire format: round trips, and a decoder that
// refuses every malformed or lying message with a reason.
#include "cmkwatch/common/wire.h"

#include <gtest/gtest.h>

#include "cmkwatch/collector/reader.h"
#include "test_support.h"

namespace cmkwatch::wire {
namespace {

struct Collect final : collector::RecordHandler {
  std::vector<Event> events;
  std::vector<QuarantineEntry> quarantined;
  void OnEvent(Event&& e, const collector::RecordLocation&) override { events.push_back(std::move(e)); }
  void OnQuarantine(QuarantineEntry&& q) override { quarantined.push_back(std::move(q)); }
};

// Real events with every kind of change: the bundled samples and fixtures.
Batch SampleBatch() {
  Collect c;
  collector::ReadStats stats;
  EXPECT_TRUE(collector::ReadPath(std::string(CMKWATCH_SOURCE_DIR) + "/samples", {}, c, stats).ok());
  EXPECT_TRUE(collector::ReadPath(test::FixturesDir().string(), {}, c, stats).ok());
  Batch b;
  b.collector_id = "collector-eastus-1";
  b.sequence = 4'294'967'296ULL + 7;
  b.events = std::move(c.events);
  b.quarantined.push_back({"/var/log/azure/PT1H.json", 1234, 7, "kvaudit", "malformed JSON in record: TAPE_ERROR"});
  return b;
}

TEST(Wire, BatchRoundTripsEveryNormalizedField) {
  const Batch batch = SampleBatch();
  ASSERT_GT(batch.events.size(), 50u);
  // Make sure the sample exercises every part of Changes.
  bool vault = false, key = false, account = false, role = false, diag = false;
  for (const auto& e : batch.events) {
    vault |= e.changes.vault.has_value();
    key |= e.changes.key.has_value();
    account |= e.changes.account.has_value();
    role |= e.changes.role_assignment.has_value();
    diag |= e.changes.diagnostic_setting.has_value();
  }
  EXPECT_TRUE(vault && key && account && role && diag);

  const std::string bytes = EncodeBatch(batch);
  auto type = PeekType(bytes);
  ASSERT_TRUE(type.ok());
  EXPECT_EQ(*type, MessageType::kBatch);
  auto decoded = DecodeBatch(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, batch);
  // Canonical: re-encoding gives the same bytes.
  EXPECT_EQ(EncodeBatch(*decoded), bytes);

  // Each event's own bytes, as the analyzer's timeline stores them, are
  // exactly its canonical encoding.
  std::vector<std::string_view> event_bytes = {"stale"};
  auto with_bytes = DecodeBatch(bytes, &event_bytes);
  ASSERT_TRUE(with_bytes.ok()) << with_bytes.status().ToString();
  EXPECT_EQ(*with_bytes, batch);
  ASSERT_EQ(event_bytes.size(), batch.events.size());
  for (size_t i = 0; i < batch.events.size(); ++i) {
    EXPECT_EQ(event_bytes[i], EncodeEvent(batch.events[i])) << i;
    EXPECT_TRUE(event_bytes[i].data() >= bytes.data() && event_bytes[i].data() < bytes.data() + bytes.size());
  }
}

TEST(Wire, AckRoundTrips) {
  const Ack ack{"collector-eastus-1", 42, 1000, 3};
  auto decoded = DecodeAck(EncodeAck(ack));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, ack);
  EXPECT_FALSE(DecodeBatch(EncodeAck(ack)).ok());  // a type mix-up is refused
}

// What the analyzer's /metrics shows per collector comes from this message.
TEST(Wire, CollectorStatusRoundTripsAndIsCanonical) {
  const CollectorStatus status{"collector-eastus-1", 12, 3 << 20, 45'000, true};
  const std::string bytes = EncodeStatus(status);
  auto decoded = DecodeStatus(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, status);
  auto type = PeekType(bytes);
  ASSERT_TRUE(type.ok());
  EXPECT_EQ(*type, MessageType::kStatus);
  EXPECT_FALSE(DecodeBatch(bytes).ok());
  EXPECT_FALSE(DecodeStatus(EncodeAck({"c", 1, 0, 0})).ok());
  // The flag byte is 0 or 1, nothing else, so re-encoding gives the same bytes.
  std::string flag2 = bytes;
  flag2.back() = '\x02';
  EXPECT_TRUE(DecodeStatus(flag2).status().IsCorruption());
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(DecodeStatus(bytes.substr(0, n)).ok()) << n;
}

TEST(Wire, EveryTruncationIsRefusedWithAReason) {
  Batch batch = SampleBatch();
  batch.events.resize(3);
  const std::string bytes = EncodeBatch(batch);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = DecodeBatch(std::string_view(bytes.data(), n));
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes decoded";
    EXPECT_FALSE(r.status().message().empty());
  }
}

TEST(Wire, LengthsAndCountsAreNeverTrusted) {
  Batch batch;
  batch.collector_id = "c";
  std::string bytes = EncodeBatch(batch);
  // Header, then str "c" (01 63), sequence 0, events count 0, quarantine 0.
  ASSERT_EQ(bytes.size(), kHeaderBytes + 5);
  std::string lying = bytes;
  lying[kHeaderBytes] = '\x7f';  // collector id claims 127 bytes
  auto r = DecodeBatch(lying);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("claims 127 bytes"), std::string::npos) << r.status().message();

  std::string many = bytes.substr(0, kHeaderBytes + 3);
  many += "\xff\xff\xff\xff\x0f";  // 4 billion events in 0 bytes
  r = DecodeBatch(many);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("impossible"), std::string::npos) << r.status().message();
}

TEST(Wire, HeaderVersionAndTrailingBytesAreChecked) {
  Batch batch;
  batch.collector_id = "c";
  const std::string good = EncodeBatch(batch);
  std::string v2 = good;
  v2[4] = 2;
  auto r = DecodeBatch(v2);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnsupported());
  EXPECT_NE(r.status().message().find("version 2"), std::string::npos);

  EXPECT_TRUE(DecodeBatch("XXXX\x01\x01").status().IsCorruption());
  EXPECT_FALSE(DecodeBatch(good + "x").ok());

  std::string non_minimal = good;
  non_minimal.replace(kHeaderBytes + 2, 1, "\x80\x00");  // sequence 0 as two bytes
  EXPECT_FALSE(DecodeBatch(non_minimal).ok());
}

}  // namespace
}  // namespace cmkwatch::wire
