// What the pipeline tests check in an analyzer's timeline file, read
// through a second connection as `cmkwatch timeline` would: how many
// events, which ids (each at most once), and that every chain verifies.
#pragma once

#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include "cmkwatch/analyzer/timeline.h"

namespace cmkwatch::test {

inline uint64_t StoredEvents(const std::string& db) {
  if (!std::filesystem::exists(db)) return 0;
  auto t = analyzer::Timeline::Open(db, {});
  if (!t.ok()) return 0;
  auto s = (*t)->Stats();
  return s.ok() ? s->events : 0;
}

// Every stored event id; an id stored twice fails the test.
inline std::set<std::string> StoredIds(const std::string& db) {
  std::set<std::string> ids;
  auto t = analyzer::Timeline::Open(db, {});
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  if (!t.ok()) return ids;
  auto events = (*t)->EventsBetween(INT64_MIN, INT64_MAX, analyzer::kMaxQueryEvents);
  EXPECT_TRUE(events.ok()) << events.status().ToString();
  if (!events.ok()) return ids;
  for (const auto& e : *events) EXPECT_TRUE(ids.insert(e.id).second) << "stored twice: " << e.id;
  return ids;
}

inline void ExpectChainVerifies(const std::string& db) {
  auto t = analyzer::Timeline::Open(db, {});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  analyzer::VerifyReport report;
  const Status s = (*t)->Verify(&report);
  EXPECT_TRUE(s.ok()) << s.ToString() << " at " << report.resource_id << " " << report.event_id << ": "
                      << report.detail;
}

}  // namespace cmkwatch::test
