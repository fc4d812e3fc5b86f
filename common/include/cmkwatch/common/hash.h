// SHA-256 (OpenSSL) for event ids and, later, the timeline's hash chain.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace cmkwatch {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);
// Lower-case hex of the first `bytes` bytes of a digest.
std::string HexLower(const Sha256Digest& digest, size_t bytes = 32);
// Any bytes as lower-case hex.
std::string HexLower(std::string_view bytes);

}  // namespace cmkwatch
