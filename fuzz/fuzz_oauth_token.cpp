// What an OAuth token endpoint answers, which whoever runs or intercepts it
// controls (collector/src/oauth_token.h): the token handed to librdkafka is
// bounded printable ASCII with a lifetime in [1 s, 1 day]; a refusal's
// message is one bounded line (it reaches logs); reading is deterministic.
// The same bytes as a token endpoint URL: plain http:// is accepted only
// for a loopback host.
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "oauth_token.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cmkwatch::collector::internal;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto token = ParseTokenAnswer(text);
  auto again = ParseTokenAnswer(text);
  CMK_FUZZ_CHECK(token.ok() == again.ok());
  if (token.ok()) {
    CMK_FUZZ_CHECK(token->access_token == again->access_token && token->expires_in_s == again->expires_in_s);
    CMK_FUZZ_CHECK(!token->access_token.empty() && token->access_token.size() <= kMaxAccessTokenBytes);
    for (char c : token->access_token) CMK_FUZZ_CHECK(c > 0x20 && c < 0x7f);
    CMK_FUZZ_CHECK(token->expires_in_s >= 1 && token->expires_in_s <= 86'400);
  } else {
    const cmkwatch::Status st = token.status();
    const std::string& m = st.message();
    CMK_FUZZ_CHECK(m == again.status().message());
    CMK_FUZZ_CHECK(!m.empty() && m.size() <= 1200);
    for (char c : m) CMK_FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  }
  if (TokenEndpointProblem(text).empty() && text.rfind("http://", 0) == 0) {
    // The authority is exactly a loopback host, with or without a port.
    const std::string_view rest = text.substr(7);
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    bool loopback = false;
    for (std::string_view host : {"127.0.0.1", "localhost", "[::1]"}) {
      if (authority == host) loopback = true;
      if (authority.size() > host.size() + 1 && authority.rfind(host, 0) == 0 && authority[host.size()] == ':') {
        loopback = authority.find_first_not_of("0123456789", host.size() + 1) == std::string_view::npos;
      }
    }
    CMK_FUZZ_CHECK(loopback);
  }
  return 0;
}
