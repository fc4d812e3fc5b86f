#include "sha256.h"

namespace cmkwatch::analyzer::internal {

Status Sha256Context::Digest(std::string_view a, std::string_view b, std::string* out) {
  if (!ctx_) {
    md_.reset(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    ctx_.reset(EVP_MD_CTX_new());
    if (!md_ || !ctx_) {
      ctx_.reset();
      return Status::Internal("OpenSSL has no SHA-256");
    }
  }
  out->resize(kSha256Bytes);
  unsigned int n = 0;
  if (EVP_DigestInit_ex2(ctx_.get(), md_.get(), nullptr) != 1 || EVP_DigestUpdate(ctx_.get(), a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx_.get(), b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx_.get(), reinterpret_cast<unsigned char*>(out->data()), &n) != 1 || n != kSha256Bytes) {
    return Status::Internal("SHA-256 failed");
  }
  return Status::Ok();
}

Result<int64_t> Sha256Context::EventKey(std::string_view event_id) {
  CMK_RETURN_IF_ERROR(Digest(event_id, {}, &key_buf_));
  uint64_t k = 0;
  for (size_t i = 0; i < 8; ++i) k = (k << 8) | static_cast<unsigned char>(key_buf_[i]);
  return static_cast<int64_t>(k);
}

}  // namespace cmkwatch::analyzer::internal
