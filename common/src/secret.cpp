// Secrets from files or environment variables (contract in the header).
#include "cmkwatch/common/secret.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace cmkwatch::config {

void ReadSecretSource(MapReader& r, std::string_view stem, SecretSource* out, Need need) {
  const std::string env_key = std::string(stem) + "_env";
  const std::string file_key = std::string(stem) + "_file";
  const bool env = r.String(env_key, &out->env);
  const bool file = r.Path(file_key, &out->file);
  if (env && file) {
    r.Problem(*r.Value(file_key), "'" + env_key + "' and '" + file_key + "': give one of them, not both");
  } else if (!env && !file && need == Need::kRequired) {
    r.Problem(r.node(), "'" + env_key + "' or '" + file_key + "' is required (secrets are never written inline)");
  }
  if (env && out->env.empty()) r.Problem(*r.Value(env_key), "'" + env_key + "': expected a variable name");
}

Result<std::string> ReadSecret(const SecretSource& source, std::string_view what) {
  std::string value;
  if (!source.env.empty()) {
    const char* v = std::getenv(source.env.c_str());
    if (v == nullptr || *v == '\0') {
      return Status::NotFound(std::string(what) + ": environment variable " + source.env + " is not set");
    }
    if (std::strlen(v) > kMaxSecretBytes) {
      return Status::InvalidArgument(std::string(what) + ": environment variable " + source.env + " is over 16 KiB");
    }
    value = v;
  } else if (!source.file.empty()) {
    // O_NOFOLLOW: the mode checked below must be the secret's own, not a
    // symlink's target chosen by someone else.
    const int fd = ::open(source.file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return Status::NotFound(std::string(what) + ": " + source.file + ": " + std::strerror(errno));
    struct stat st {};
    const bool stat_ok = ::fstat(fd, &st) == 0;
    if (!stat_ok || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return Status::InvalidArgument(std::string(what) + ": " + source.file + " is not a regular file");
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      ::close(fd);
      return Status::InvalidArgument(std::string(what) + ": " + source.file +
                                     " is readable by group or others (chmod 600 it)");
    }
    if (st.st_size > static_cast<off_t>(kMaxSecretBytes)) {
      ::close(fd);
      return Status::InvalidArgument(std::string(what) + ": " + source.file + " is over 16 KiB");
    }
    value.resize(kMaxSecretBytes + 1);
    size_t got = 0;
    while (got < value.size()) {
      const ssize_t n = ::read(fd, value.data() + got, value.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
    value.resize(std::min(got, kMaxSecretBytes));
  } else {
    return Status::InvalidArgument(std::string(what) + ": no source given");
  }
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) return Status::InvalidArgument(std::string(what) + ": the secret is empty");
  if (value.find_first_of("\r\n") != std::string::npos) {
    return Status::InvalidArgument(std::string(what) + ": the secret spans several lines");
  }
  return value;
}

}  // namespace cmkwatch::config
