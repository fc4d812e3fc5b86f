// Shared by the fuzz targets: the input as a padded record, and a property
// check that aborts (so libFuzzer reports it) when a parser contract breaks.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cmkwatch/collector/parse.h"
#include "cmkwatch/common/event.h"
#include "cmkwatch/common/resource_id.h"

namespace cmkwatch::fuzz {

// Copies the input into a buffer with simdjson's padding after it.
class PaddedInput {
 public:
  PaddedInput(const uint8_t* data, size_t size)
      : buffer_(reinterpret_cast<const char*>(data), size) {
    buffer_.append(collector::kPadding, '\0');
    size_ = size;
  }
  collector::PaddedRecord record() const { return {std::string_view(buffer_.data(), size_)}; }
  std::string_view view() const { return {buffer_.data(), size_}; }

 private:
  std::string buffer_;
  size_t size_ = 0;
};

#define CMK_FUZZ_CHECK(cond)                                                           \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

// What every successfully parsed Event must satisfy, whatever the input.
inline void CheckEventInvariants(const Event& e, std::string_view input) {
  CMK_FUZZ_CHECK(!e.id.empty());
  CMK_FUZZ_CHECK(e.raw == input);
  // Resource ids are canonical: re-canonicalizing changes nothing.
  CMK_FUZZ_CHECK(CanonicalResourceId(e.resource_id) == e.resource_id);
  if (e.key) {
    CMK_FUZZ_CHECK(AsciiLower(e.key->vault) == e.key->vault);
    CMK_FUZZ_CHECK(AsciiLower(e.key->name) == e.key->name);
  }
}

}  // namespace cmkwatch::fuzz
