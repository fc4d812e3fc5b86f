// Distinct Key Vault AuditEvent records made from one fixture record, for
// tests that need many events whose ids they can predict: record i gets its
// own correlation id and time. Shared by the pipeline and Kafka tests.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "test_support.h"

namespace cmkwatch::test {

// Hand-made Key Vault AuditEvent records, one per line, from the first
// record of tests/fixtures/kvaudit/PT1H.json: each gets its own
// correlation id and time, so each is a distinct event.
inline std::string Template() {
  const std::string all = test::ReadFileOrFail(test::FixtureFile("kvaudit/PT1H.json"));
  return all.substr(0, all.find('\n'));
}

inline std::string RecordNumber(const std::string& tmpl, uint64_t i) {
  std::string r = tmpl;
  char corr[40];
  std::snprintf(corr, sizeof corr, "f1e2d3c4-b5a6-4978-8a9b-%012llx", static_cast<unsigned long long>(i));
  r.replace(r.find("f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b"), 36, corr);
  char time[40];
  std::snprintf(time, sizeof time, "2025-03-14T%02llu:%02llu:%02llu.%07lluZ",
                static_cast<unsigned long long>(i / 3600000 % 24), static_cast<unsigned long long>(i / 60000 % 60),
                static_cast<unsigned long long>(i / 1000 % 60), static_cast<unsigned long long>(i % 1000 * 10000));
  r.replace(r.find("2025-03-14T08:00:00.1234567Z"), 28, time);
  return r;
}

}  // namespace cmkwatch::test
