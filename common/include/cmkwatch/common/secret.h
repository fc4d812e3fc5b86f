// Secrets named by configuration, never written in it: a webhook URL, an
// SMTP password, an Event Hubs connection string, an OAuth client secret.
//
// A configuration key `<stem>_file: PATH` or `<stem>_env: NAME` says where
// the secret is; the value is read only when the component that needs it
// starts (ReadSecret), so configuration parsing, its messages and its fuzzer
// never see one. Messages name the variable or the path, never the value.
//
// Shared by the alert sinks and the collector's Kafka source.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "cmkwatch/common/config.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::config {

inline constexpr size_t kMaxSecretBytes = size_t{16} << 10;

// Where a secret comes from: exactly one of the two.
struct SecretSource {
  std::string env;   // environment variable name
  std::string file;  // path (resolved against the config file's directory)
  bool empty() const { return env.empty() && file.empty(); }
  bool operator==(const SecretSource&) const = default;
};

// Reads `<stem>_env` / `<stem>_file` from `reader` into *out: a problem when
// both or (when required) neither is given, or the variable name is empty.
void ReadSecretSource(MapReader& reader, std::string_view stem, SecretSource* out, Need need);

// The secret's value, trailing newline trimmed. NotFound / InvalidArgument
// naming the variable or the path, never the value; a file that is not a
// regular file, is readable by group or others, or is over kMaxSecretBytes
// is refused, and so is an empty value or one of several lines. `what`
// names the secret in messages ("sink pager routing key").
Result<std::string> ReadSecret(const SecretSource& source, std::string_view what);

}  // namespace cmkwatch::config
