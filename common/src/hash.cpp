#include "cmkwatch/common/hash.h"

#include <openssl/sha.h>

namespace cmkwatch {

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest out{};
  // One-shot SHA256() takes the SHA-NI path where the CPU has it.
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

std::string HexLower(const Sha256Digest& digest, size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (bytes > digest.size()) bytes = digest.size();
  std::string out(bytes * 2, '0');
  for (size_t i = 0; i < bytes; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  return out;
}

}  // namespace cmkwatch
