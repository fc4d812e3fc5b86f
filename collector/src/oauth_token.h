// OAuth 2.0 client-credentials tokens (RFC 6749 §4.4) for Kafka's
// SASL/OAUTHBEARER: what Event Hubs accepts from a Microsoft Entra ID
// application. Debian's librdkafka is built without its own OIDC client
// (no libcurl at its build time), so the collector fetches tokens itself and
// hands them to librdkafka from its token-refresh callback. Private to the
// collector library.
//
// Request: POST token_endpoint, application/x-www-form-urlencoded
//   grant_type=client_credentials&client_id=..&client_secret=..&scope=..
// Answer (RFC 6749 §5.1), of which this reads:
//   { "access_token": STRING, "token_type": "Bearer" (any case),
//     "expires_in": NUMBER | STRING of digits, ... }
// or an error (§5.2): { "error": STRING, "error_description": STRING }.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cmkwatch/common/status.h"

namespace cmkwatch::collector::internal {

inline constexpr size_t kMaxTokenAnswerBytes = size_t{64} << 10;
inline constexpr size_t kMaxAccessTokenBytes = size_t{16} << 10;

struct OAuthToken {
  std::string access_token;  // a secret: never logged
  int64_t expires_in_s = 0;  // 1 .. one day
};

// Reads a token endpoint's answer body. Pure, bounded, never throws (fuzzed:
// fuzz/fuzz_oauth_token.cpp). Errors: Corruption for what is not a token
// answer (the message quotes the endpoint's `error` and at most 200 bytes of
// `error_description`, escaped, never the token), LimitExceeded past the
// size limits.
Result<OAuthToken> ParseTokenAnswer(std::string_view body);

// Whether a token endpoint URL is acceptable: https://, or http:// to a
// loopback host (tests). "" when fine, else what is wrong.
std::string TokenEndpointProblem(std::string_view url);

struct TokenRequest {
  std::string endpoint;
  std::string client_id;
  std::string client_secret;  // a secret
  std::string scope;
  std::string ca_file;  // "" = the system's trust store
  int64_t timeout_ms = 10'000;
};

// Fetches one token. Thread-safe (one libcurl handle per call); blocking up
// to timeout_ms. IoError for transport failures and non-2xx answers (with
// the status and the endpoint's `error`, never the request body).
Result<OAuthToken> FetchToken(const TokenRequest& request);

}  // namespace cmkwatch::collector::internal
