// SHA-256 for the timeline: the chain hash and the dedup key of an event id.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cmkwatch/common/status.h"

namespace cmkwatch::analyzer::internal {

inline constexpr size_t kSha256Bytes = 32;

// SHA-256 through one fetched algorithm and one reused context. OpenSSL 3's
// one-shot SHA256() fetches the algorithm and allocates a context on every
// call, which for the dedup key's 50 bytes costs more than the hashing; and
// hashing prev and the bytes as two updates needs no concatenated copy.
// One per thread.
class Sha256Context {
 public:
  // *out becomes SHA-256(a || b), 32 bytes (its buffer is reused).
  Status Digest(std::string_view a, std::string_view b, std::string* out);

  // The dedup key of an event id: its SHA-256's first 8 bytes, big-endian.
  // A cryptographic hash rather than a fast one because ids come from
  // outside (an Event Grid id is whatever the sender chose): nobody can
  // cheaply make many ids share a key and turn each insert into a scan.
  Result<int64_t> EventKey(std::string_view event_id);

 private:
  struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  struct MdFree {
    void operator()(EVP_MD* md) const { EVP_MD_free(md); }
  };
  std::unique_ptr<EVP_MD, MdFree> md_;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx_;
  std::string key_buf_;
};

}  // namespace cmkwatch::analyzer::internal
