// cmkwatch keygen: a CURVE key pair for the collector → analyzer link.
#include <cstdio>
#include <string>

#include "cmkwatch/common/transport.h"
#include "commands.h"

namespace cmkwatch::cli {
namespace {

constexpr char kKeygenHelp[] = R"(usage: cmkwatch keygen PREFIX

Writes a new CURVE key pair for the encrypted collector → analyzer link:
  PREFIX.key         the public key (give the analyzer's to every collector;
                     list each collector's in the analyzer's allowlist)
  PREFIX.key_secret  the secret key, created with mode 0600; keep it on the
                     machine that uses it
Existing files are never overwritten. The secret key is never printed.

Exit status: 0 written; 1 a file could not be written (or exists); 2 usage.
)";

}  // namespace

int Keygen(const std::vector<std::string_view>& args) {
  if (args.size() == 1 && (args[0] == "-h" || args[0] == "--help")) {
    std::fputs(kKeygenHelp, stdout);
    return kExitOk;
  }
  if (args.size() != 1 || args[0].empty() || args[0][0] == '-') {
    std::fputs(kKeygenHelp, stderr);
    return kExitUsage;
  }
  const std::string prefix(args[0]);
  auto keys = transport::GenerateKeyPair();
  if (!keys.ok()) {
    std::fprintf(stderr, "cmkwatch keygen: %s\n", keys.status().message().c_str());
    return kExitIoError;
  }
  if (Status st = transport::WriteKeyPair(prefix, *keys); !st.ok()) {
    std::fprintf(stderr, "cmkwatch keygen: %s\n", st.message().c_str());
    return kExitIoError;
  }
  std::printf("public key: %s\nwrote %s.key and %s.key_secret (mode 0600)\n", keys->public_key.c_str(),
              prefix.c_str(), prefix.c_str());
  return kExitOk;
}

}  // namespace cmkwatch::cli
