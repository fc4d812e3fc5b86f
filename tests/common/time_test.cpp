#include "cmkwatch/common/time.h"

#include <gtest/gtest.h>

namespace cmkwatch {
namespace {

TEST(Timestamp, AzureFormsWithZeroToSevenFractionalDigits) {
  // 2016-01-05T01:32:01Z = 1451957521
  const int64_t base = 1451957521LL * kNanosPerSecond;
  EXPECT_EQ(ParseTimestamp("2016-01-05T01:32:01Z"), base);
  EXPECT_EQ(ParseTimestamp("2016-01-05T01:32:01.2Z"), base + 200'000'000);
  EXPECT_EQ(ParseTimestamp("2016-01-05T01:32:01.269122Z"), base + 269'122'000);
  EXPECT_EQ(ParseTimestamp("2016-01-05T01:32:01.2691226Z"), base + 269'122'600);
  EXPECT_EQ(ParseTimestamp("2016-01-05T01:32:01.2691226+00:00"), base + 269'122'600);
  EXPECT_EQ(ParseTimestamp("2016-01-05 01:32:01"), base);  // no offset means UTC
  EXPECT_EQ(ParseTimestamp("2016-01-05t01:32:01z"), base);
}

TEST(Timestamp, OffsetsAreConvertedToUtc) {
  const int64_t utc = *ParseTimestamp("2023-05-01T10:00:00Z");
  EXPECT_EQ(ParseTimestamp("2023-05-01T12:00:00+02:00"), utc);
  EXPECT_EQ(ParseTimestamp("2023-05-01T05:30:00-04:30"), utc);
  EXPECT_EQ(ParseTimestamp("2023-05-01T12:00:00+0200"), utc);
}

TEST(Timestamp, RejectsImpossibleOrMalformedText) {
  for (const char* bad : {"", "2023", "2023-02-29T00:00:00Z", "2023-13-01T00:00:00Z", "2023-01-01T24:00:00Z",
                          "2023-01-01T00:00:00.Z", "2023-01-01T00:00:00Zjunk", "2023-01-01T00:00:00+25:00",
                          "not a time", "1500-01-01T00:00:00Z", "2023-01-01X00:00:00Z"}) {
    EXPECT_FALSE(ParseTimestamp(bad).has_value()) << bad;
  }
  EXPECT_TRUE(ParseTimestamp("2024-02-29T00:00:00Z").has_value());
}

TEST(Timestamp, FormatKeepsSignificantDigitsAndRoundTrips) {
  for (const char* text : {"2016-01-05T01:32:01.2691226Z", "2016-01-05T01:32:01Z", "1970-01-01T00:00:00Z",
                           "1969-12-31T23:59:59.5Z", "2261-12-31T23:59:59.999999999Z"}) {
    auto t = ParseTimestamp(text);
    ASSERT_TRUE(t) << text;
    EXPECT_EQ(FormatTimestamp(*t), text);
  }
}

}  // namespace
}  // namespace cmkwatch
