// Standard Webhooks signatures (https://www.standardwebhooks.com): base64
// and HMAC-SHA256 through OpenSSL's EVP_MAC, which streams the signed
// content's parts without joining them into one copy of the body.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <memory>
#include <string>

#include "format.h"

namespace cmkwatch::alerts::internal {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kSecretPrefix = "whsec_";
// The spec's bounds on a decoded secret.
constexpr size_t kMinKeyBytes = 24;
constexpr size_t kMaxKeyBytes = 64;

// The 6-bit value of a base64 character, or -1.
int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

struct MacDeleter {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

}  // namespace

std::string Base64Encode(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{bytes[i]} << 16;
    if (rest == 2) v |= uint32_t{bytes[i + 1]} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::vector<uint8_t>> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return Status::InvalidArgument("base64: length is not a multiple of 4");
  std::vector<uint8_t> out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    // Padding only at the very end: "xx==" or "xxx=".
    size_t pad = 0;
    if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
    uint32_t v = 0;
    for (size_t k = 0; k < 4 - pad; ++k) {
      const int s = Sextet(text[i + k]);
      if (s < 0) return Status::InvalidArgument("base64: a character outside the standard alphabet");
      v |= static_cast<uint32_t>(s) << (18 - 6 * k);
    }
    // Bits below the last whole byte must be zero, so every byte string has
    // one spelling and Encode(Decode(x)) == x.
    if ((pad == 1 && (v & 0xFF) != 0) || (pad == 2 && (v & 0xFFFF) != 0)) {
      return Status::InvalidArgument("base64: non-zero bits in the padding");
    }
    out.push_back(static_cast<uint8_t>(v >> 16));
    if (pad < 2) out.push_back(static_cast<uint8_t>(v >> 8));
    if (pad < 1) out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

Result<std::vector<uint8_t>> DecodeWebhookSecret(std::string_view whsec) {
  // Messages name the problem only: the secret never goes into a log.
  if (!whsec.starts_with(kSecretPrefix)) return Status::InvalidArgument("webhook secret: does not start with whsec_");
  auto key = Base64Decode(whsec.substr(kSecretPrefix.size()));
  if (!key.ok()) return Status::InvalidArgument("webhook secret: the part after whsec_ is not base64");
  if (key->size() < kMinKeyBytes || key->size() > kMaxKeyBytes) {
    return Status::InvalidArgument("webhook secret: the key is " + std::to_string(key->size()) +
                                   " bytes; 24 to 64 are accepted");
  }
  return key;
}

std::string WebhookSignature(std::span<const uint8_t> key, std::string_view id, int64_t timestamp_s,
                             std::string_view body) {
  const std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr));
  if (!mac) return "";
  const std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) return "";
  char digest[] = OSSL_DIGEST_NAME_SHA2_256;
  const std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  // An empty key still needs a non-null pointer, or OpenSSL keeps "no key".
  static const uint8_t kNoKey = 0;
  if (EVP_MAC_init(ctx.get(), key.empty() ? &kNoKey : key.data(), key.size(), params.data()) != 1) return "";
  const std::string timestamp = std::to_string(timestamp_s);
  auto update = [&](std::string_view part) {
    return EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(part.data()), part.size()) == 1;
  };
  if (!update(id) || !update(".") || !update(timestamp) || !update(".") || !update(body)) return "";
  std::array<uint8_t, EVP_MAX_MD_SIZE> out{};
  size_t out_size = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &out_size, out.size()) != 1) return "";
  return "v1," + Base64Encode(std::span<const uint8_t>(out.data(), out_size));
}

}  // namespace cmkwatch::alerts::internal
