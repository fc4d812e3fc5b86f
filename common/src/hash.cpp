#include "cmkwatch/common/hash.h"

#include <openssl/sha.h>

namespace cmkwatch {

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest out{};
  // One-shot SHA256() takes the SHA-NI path where the CPU has it.
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

std::string HexLower(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHex[b >> 4];
    out[2 * i + 1] = kHex[b & 0xF];
  }
  return out;
}

std::string HexLower(const Sha256Digest& digest, size_t bytes) {
  if (bytes > digest.size()) bytes = digest.size();
  return HexLower(std::string_view(reinterpret_cast<const char*>(digest.data()), bytes));
}

}  // namespace cmkwatch
