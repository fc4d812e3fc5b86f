#include "cmkwatch/common/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace cmkwatch {
namespace {

TEST(Status, OkAndErrorsCarryCodeAndMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().ToString(), "OK");
  Status s = Status::Corruption("bad record");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_FALSE(s.IsIoError());
  EXPECT_EQ(s.message(), "bad record");
  EXPECT_EQ(s.ToString(), "Corruption: bad record");
  EXPECT_TRUE(Status::LimitExceeded("x").IsLimitExceeded());
  EXPECT_TRUE(Status::Unsupported("x").IsUnsupported());
}

TEST(Result, HoldsValueOrStatus) {
  Result<int> good(7);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  EXPECT_TRUE(good.status().ok());
  Result<int> bad(Status::NotFound("nope"));
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsNotFound());
  // Move-only values work.
  Result<std::unique_ptr<int>> owned(std::make_unique<int>(3));
  std::unique_ptr<int> p = std::move(owned).value();
  EXPECT_EQ(*p, 3);
}

}  // namespace
}  // namespace cmkwatch
