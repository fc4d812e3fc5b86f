#include "receivers.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace cmkwatch::test {

namespace fs = std::filesystem;

namespace {

constexpr auto kStartTimeout = std::chrono::seconds(20);
constexpr auto kPollInterval = std::chrono::milliseconds(10);
// Debian's interpreter (aiosmtpd is a Debian package), run with -I so that a
// pyenv or virtualenv on PATH or in PYTHON* variables cannot reach it.
constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kOpenssl = "/usr/bin/openssl";

fs::path ReceiverScript(std::string_view name) { return fs::path(CMKWATCH_RECEIVERS_DIR) / name; }

std::string ReadWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The last `max` bytes of a file, for failure messages.
std::string Tail(const fs::path& path, size_t max = 4000) {
  std::string text = ReadWhole(path);
  return text.size() > max ? "..." + text.substr(text.size() - max) : text;
}

void WriteAtomically(const fs::path& path, std::string_view text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out) ADD_FAILURE() << "cannot write " << tmp;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) ADD_FAILURE() << "cannot rename " << tmp << ": " << ec.message();
}

// A subdirectory of `dir` no other receiver uses: <dir>/<tag>-<n>.
fs::path FreshSubdir(const fs::path& dir, std::string_view tag) {
  for (int n = 1;; ++n) {
    fs::path candidate = dir / (std::string(tag) + "-" + std::to_string(n));
    std::error_code ec;
    if (fs::create_directories(candidate, ec)) return candidate;
    if (ec) {
      ADD_FAILURE() << "cannot create " << candidate << ": " << ec.message();
      return candidate;
    }
  }
}

// Complete lines only: a line still being appended has no '\n' yet.
std::vector<std::string_view> CompleteLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string_view::npos; nl = text.find('\n', start)) {
    if (nl > start) lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

template <typename Pred>
bool PollUntil(std::chrono::milliseconds timeout, Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(kPollInterval);
  }
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 4648 base64, whitespace skipped, decoding stops at padding.
std::string Base64Decode(std::string_view in) {
  std::string out;
  uint32_t bits = 0;
  int nbits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      continue;
    }
    bits = (bits << 6) | static_cast<uint32_t>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out.push_back(static_cast<char>((bits >> nbits) & 0xFFu));
    }
  }
  return out;
}

// RFC 2045 quoted-printable: "=XX" is a byte, "=" at a line end a soft break.
std::string QuotedPrintableDecode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '=') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 1 < in.size() && in[i + 1] == '\n') {
      i += 1;
    } else if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
      i += 2;
    } else if (i + 2 < in.size() && HexValue(in[i + 1]) >= 0 && HexValue(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
      i += 2;
    } else {
      out.push_back('=');  // malformed: kept, as RFC 2045 suggests
    }
  }
  return out;
}

// --- MIME: just enough to read what our email sink sends ---

struct Entity {
  HeaderList headers;
  std::string_view body;
};

// Header block up to the first empty line, unfolded (a line starting with
// space or tab continues the previous field).
Entity SplitEntity(std::string_view text) {
  Entity entity;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.empty()) break;
    if ((line.front() == ' ' || line.front() == '\t') && !entity.headers.empty()) {
      entity.headers.back().second += line;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // not a field; skipped
    entity.headers.emplace_back(std::string(Trim(line.substr(0, colon))), std::string(line.substr(colon + 1)));
  }
  for (auto& [name, value] : entity.headers) value = std::string(Trim(value));
  entity.body = text.substr(pos);
  return entity;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "multipart/alternative; boundary="b1"" -> media type "multipart/alternative".
std::string MediaType(const HeaderList& headers) {
  const std::string value = FindHeader(headers, "Content-Type");
  if (value.empty()) return "text/plain";  // RFC 2045 default
  return Lower(Trim(std::string_view(value).substr(0, value.find(';'))));
}

// A parameter of the Content-Type field (quoted or token), "" if absent.
std::string ContentTypeParameter(const HeaderList& headers, std::string_view parameter) {
  const std::string value = FindHeader(headers, "Content-Type");
  std::string_view rest(value);
  for (size_t semi = rest.find(';'); semi != std::string_view::npos; semi = rest.find(';')) {
    rest = rest.substr(semi + 1);
    const size_t eq = rest.find('=');
    if (eq == std::string_view::npos) return {};
    const std::string_view name = Trim(rest.substr(0, eq));
    rest = Trim(rest.substr(eq + 1));
    std::string_view v;
    if (!rest.empty() && rest.front() == '"') {
      const size_t close = std::min(rest.find('"', 1), rest.size());
      v = rest.substr(1, close - 1);
      rest = rest.substr(std::min(close + 1, rest.size()));
    } else {
      const size_t end = std::min(rest.find(';'), rest.size());
      v = Trim(rest.substr(0, end));
      rest = rest.substr(end);
    }
    if (EqualsIgnoreCase(name, parameter)) return std::string(v);
  }
  return {};
}

// The body parts between "--boundary" lines, each without the line break
// that belongs to the next delimiter.
std::vector<std::string_view> SplitMultipart(std::string_view body, std::string_view boundary) {
  std::vector<std::string_view> parts;
  const std::string delimiter = "--" + std::string(boundary);
  std::optional<size_t> part_start;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t nl = body.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? body.size() : nl;
    std::string_view line = body.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with(delimiter)) {
      std::string_view after = line.substr(delimiter.size());
      const bool closing = after.starts_with("--");
      if (closing || Trim(after).empty()) {
        if (part_start) {
          size_t part_end = pos;  // drop the line break before the delimiter
          if (part_end > *part_start && body[part_end - 1] == '\n') --part_end;
          if (part_end > *part_start && body[part_end - 1] == '\r') --part_end;
          parts.push_back(body.substr(*part_start, part_end - *part_start));
        }
        if (closing) break;
        part_start = nl == std::string_view::npos ? body.size() : nl + 1;
      }
    }
    pos = nl == std::string_view::npos ? body.size() : nl + 1;
  }
  return parts;
}

std::optional<std::string> FindTextPlain(std::string_view text, int depth) {
  if (depth > 8) return std::nullopt;  // a recursion cap against pathological nesting
  const Entity entity = SplitEntity(text);
  const std::string type = MediaType(entity.headers);
  if (type.starts_with("multipart/")) {
    const std::string boundary = ContentTypeParameter(entity.headers, "boundary");
    if (boundary.empty()) return std::nullopt;
    for (std::string_view part : SplitMultipart(entity.body, boundary)) {
      if (auto found = FindTextPlain(part, depth + 1)) return found;
    }
    return std::nullopt;
  }
  if (type != "text/plain") return std::nullopt;
  const std::string encoding = Lower(FindHeader(entity.headers, "Content-Transfer-Encoding"));
  if (encoding == "quoted-printable") return QuotedPrintableDecode(entity.body);
  if (encoding == "base64") return Base64Decode(entity.body);
  return std::string(entity.body);
}

// --- processes ---

// argv for execv, built before fork so the child only dup2()s and exec()s.
class Argv {
 public:
  explicit Argv(std::vector<std::string> args) : args_(std::move(args)) {
    for (auto& a : args_) pointers_.push_back(a.data());
    pointers_.push_back(nullptr);
  }
  char* const* get() const { return pointers_.data(); }
  std::string Joined() const {
    std::string out;
    for (const auto& a : args_) out += (out.empty() ? "" : " ") + a;
    return out;
  }

 private:
  std::vector<std::string> args_;
  std::vector<char*> pointers_;
};

// Spawns argv[0] with stdin from /dev/null and stdout+stderr appended to
// `output`; -1 on failure (and the test fails).
pid_t Spawn(const Argv& argv, const fs::path& output) {
  const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (in < 0 || out < 0) {
    ADD_FAILURE() << "cannot open /dev/null or " << output << ": " << std::strerror(errno);
    if (in >= 0) ::close(in);
    if (out >= 0) ::close(out);
    return -1;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // A receiver must not outlive a test binary that crashed.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execv(argv.get()[0], argv.get());
    ::_exit(127);
  }
  ::close(in);
  ::close(out);
  if (pid < 0) ADD_FAILURE() << "fork: " << std::strerror(errno);
  return pid;
}

// Waits for the child; its exit code, or -1 when it died of a signal.
int Reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs a program to completion; true when it exits 0, else the test fails
// with its output.
bool RunOrFail(const std::vector<std::string>& args, const fs::path& output) {
  const Argv argv(args);
  const pid_t pid = Spawn(argv, output);
  if (pid < 0) return false;
  const int code = Reap(pid);
  if (code != 0) {
    ADD_FAILURE() << argv.Joined() << " exited " << code << ":\n" << Tail(output);
    return false;
  }
  return true;
}

}  // namespace

namespace detail {

// One receiver script as a child process: started with --port and
// --port-file, considered up once the port file appears, its stderr kept
// in <dir>/<name>.stderr across restarts.
class ReceiverProcess {
 public:
  ReceiverProcess(fs::path dir, std::string name, std::vector<std::string> args)
      : dir_(std::move(dir)), name_(std::move(name)), args_(std::move(args)) {}
  ~ReceiverProcess() { Kill(); }
  ReceiverProcess(const ReceiverProcess&) = delete;
  ReceiverProcess& operator=(const ReceiverProcess&) = delete;

  int port() const { return port_; }

  // Starts on `port` (0: any); false, and the test failed, when it does not
  // come up within kStartTimeout.
  bool Start(int port) {
    Kill();
    const fs::path port_file = dir_ / (name_ + ".port");
    const fs::path stderr_file = dir_ / (name_ + ".stderr");
    std::error_code ec;
    fs::remove(port_file, ec);
    std::vector<std::string> args = {kPython, "-I", ReceiverScript(name_ + ".py").string()};
    args.insert(args.end(), args_.begin(), args_.end());
    args.insert(args.end(), {"--port", std::to_string(port), "--port-file", port_file.string()});
    const Argv argv(std::move(args));
    pid_ = Spawn(argv, stderr_file);
    if (pid_ < 0) return false;

    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (true) {
      const std::string text = ReadWhole(port_file);
      if (!text.empty() && text.back() == '\n') {
        port_ = std::atoi(text.c_str());
        if (port_ > 0) return true;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        ADD_FAILURE() << name_ << " exited before listening (" << argv.Joined() << "):\n" << Tail(stderr_file);
        return false;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        Kill();
        ADD_FAILURE() << name_ << " did not listen within " << kStartTimeout.count() << " s ("
                      << argv.Joined() << "):\n"
                      << Tail(stderr_file);
        return false;
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  }

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    Reap(pid_);
    pid_ = -1;
  }

 private:
  fs::path dir_;
  std::string name_;  // receivers/<name>.py
  std::vector<std::string> args_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace detail

std::string FindHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) return v;
  }
  return {};
}

TestCertificate MakeTestCertificate(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path ca_key = dir / "test-ca.key";
  const fs::path ca_cert = dir / "test-ca.pem";
  const fs::path key = dir / "server.key";
  const fs::path csr = dir / "server.csr";
  const fs::path cert = dir / "server.pem";
  const fs::path extensions = dir / "server-ext.cnf";
  const fs::path output = dir / "openssl.out";
  // P-256 keys: quick to make, and every TLS stack here speaks them.
  const std::vector<std::string> new_key = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};

  std::vector<std::string> make_ca = {kOpenssl, "req", "-x509"};
  make_ca.insert(make_ca.end(), new_key.begin(), new_key.end());
  make_ca.insert(make_ca.end(), {"-keyout", ca_key.string(), "-out", ca_cert.string(), "-days", "2", "-subj",
                                 "/CN=cmkwatch test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                                 "keyUsage=critical,keyCertSign,cRLSign"});
  std::vector<std::string> make_csr = {kOpenssl, "req", "-new"};
  make_csr.insert(make_csr.end(), new_key.begin(), new_key.end());
  make_csr.insert(make_csr.end(), {"-keyout", key.string(), "-out", csr.string(), "-subj", "/CN=localhost"});

  WriteAtomically(extensions,
                  "basicConstraints=critical,CA:FALSE\n"
                  "keyUsage=critical,digitalSignature\n"
                  "extendedKeyUsage=serverAuth\n"
                  "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  std::random_device random;
  char serial[32];
  std::snprintf(serial, sizeof serial, "0x%08x%08x", random(), random());
  const std::vector<std::string> sign = {kOpenssl, "x509",       "-req",     "-in",      csr.string(),
                                         "-CA",    ca_cert.string(), "-CAkey", ca_key.string(), "-set_serial",
                                         serial,   "-days",      "2",        "-extfile", extensions.string(),
                                         "-out",   cert.string()};
  if (!RunOrFail(make_ca, output) || !RunOrFail(make_csr, output) || !RunOrFail(sign, output)) return {};
  return {.ca_file = ca_cert, .cert_file = cert, .key_file = key};
}

// --- HttpReceiver ---

HttpReceiver::HttpReceiver(fs::path dir, HttpReceiverOptions options) : dir_(std::move(dir)), options_(options) {}
HttpReceiver::~HttpReceiver() = default;

std::unique_ptr<HttpReceiver> HttpReceiver::Start(const fs::path& dir, HttpReceiverOptions options) {
  std::unique_ptr<HttpReceiver> receiver(new HttpReceiver(FreshSubdir(dir, "http"), options));
  const fs::path& own = receiver->dir_;
  std::vector<std::string> args = {"--log", (own / "requests.jsonl").string(), "--script",
                                   (own / "script.json").string(), "--default-status",
                                   std::to_string(options.default_status)};
  if (options.tls) {
    const TestCertificate cert = MakeTestCertificate(own / "tls");
    if (cert.ca_file.empty()) return nullptr;
    receiver->ca_file_ = cert.ca_file.string();
    args.insert(args.end(), {"--cert", cert.cert_file.string(), "--key", cert.key_file.string()});
  }
  receiver->process_ = std::make_unique<detail::ReceiverProcess>(own, "http_receiver", std::move(args));
  if (!receiver->process_->Start(options.port)) return nullptr;
  return receiver;
}

int HttpReceiver::port() const { return process_->port(); }

std::string HttpReceiver::Url(std::string_view path) const {
  std::string url = std::string(options_.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port());
  if (!path.starts_with('/')) url += '/';
  url += path;
  return url;
}

std::string HttpReceiver::ca_file() const { return ca_file_; }

void HttpReceiver::Script(const std::vector<ScriptedAnswer>& answers) {
  nlohmann::json list = nlohmann::json::array();
  for (const ScriptedAnswer& a : answers) {
    if (a.hang_s > 0) {
      list.push_back({{"hang_s", a.hang_s}});
      continue;
    }
    nlohmann::json headers = nlohmann::json::array();
    for (const auto& [name, value] : a.headers) headers.push_back({name, value});
    list.push_back({{"status", a.status}, {"headers", headers}, {"body", a.body}});
  }
  std::error_code ec;
  fs::remove(dir_ / "script.json.state", ec);  // the new script starts at its first answer
  WriteAtomically(dir_ / "script.json", list.dump());
}

std::vector<RecordedRequest> HttpReceiver::Requests() const {
  std::vector<RecordedRequest> out;
  const std::string text = ReadWhole(dir_ / "requests.jsonl");
  for (std::string_view line : CompleteLines(text)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    try {
      if (j.is_discarded()) throw std::runtime_error("not JSON");
      RecordedRequest r;
      r.method = j.at("method").get<std::string>();
      r.path = j.at("path").get<std::string>();
      for (const auto& h : j.at("headers")) r.headers.emplace_back(h.at(0).get<std::string>(), h.at(1).get<std::string>());
      r.body = j.at("body").get<std::string>();
      if (j.value("body_encoding", "utf-8") == "base64") r.body = Base64Decode(r.body);
      r.answered_status = j.at("status").get<int>();
      out.push_back(std::move(r));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "bad line in " << dir_ / "requests.jsonl" << " (" << e.what() << "): " << line;
    }
  }
  return out;
}

bool HttpReceiver::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  return PollUntil(timeout, [&] { return Requests().size() >= n; });
}

void HttpReceiver::Kill() { process_->Kill(); }
bool HttpReceiver::Restart() { return process_->Start(port()); }

// --- SmtpReceiver ---

std::string MimeHeader(std::string_view entity, std::string_view name) {
  return FindHeader(SplitEntity(entity).headers, name);
}

std::string MimeTextBody(std::string_view entity) {
  std::string text = FindTextPlain(entity, 0).value_or(std::string());
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out.push_back(text[i]);
  }
  return out;
}

std::string ReceivedMail::Header(std::string_view name) const { return MimeHeader(raw, name); }
std::string ReceivedMail::TextBody() const { return MimeTextBody(raw); }

SmtpReceiver::SmtpReceiver(fs::path dir, SmtpReceiverOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {}
SmtpReceiver::~SmtpReceiver() = default;

std::unique_ptr<SmtpReceiver> SmtpReceiver::Start(const fs::path& dir, SmtpReceiverOptions options) {
  std::unique_ptr<SmtpReceiver> receiver(new SmtpReceiver(FreshSubdir(dir, "smtp"), std::move(options)));
  const fs::path& own = receiver->dir_;
  const SmtpReceiverOptions& o = receiver->options_;
  std::vector<std::string> args = {"--maildir", (own / "maildir").string()};
  switch (o.tls) {
    case SmtpTls::kStartTls: args.emplace_back("--starttls"); break;
    case SmtpTls::kImplicit: args.emplace_back("--implicit-tls"); break;
    case SmtpTls::kNone: args.emplace_back("--no-tls"); break;
  }
  if (o.tls != SmtpTls::kNone) {
    const TestCertificate cert = MakeTestCertificate(own / "tls");
    if (cert.ca_file.empty()) return nullptr;
    receiver->ca_file_ = cert.ca_file.string();
    args.insert(args.end(), {"--cert", cert.cert_file.string(), "--key", cert.key_file.string()});
  }
  if (!o.user.empty()) args.insert(args.end(), {"--auth", o.user + ":" + o.password});
  receiver->process_ = std::make_unique<detail::ReceiverProcess>(own, "smtp_receiver", std::move(args));
  if (!receiver->process_->Start(o.port)) return nullptr;
  return receiver;
}

int SmtpReceiver::port() const { return process_->port(); }
std::string SmtpReceiver::ca_file() const { return ca_file_; }

std::vector<ReceivedMail> SmtpReceiver::Mails() const {
  std::vector<fs::path> messages;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_ / "maildir", ec)) {
    if (entry.path().extension() == ".eml") messages.push_back(entry.path());
  }
  std::sort(messages.begin(), messages.end());  // names sort in arrival order
  std::vector<ReceivedMail> out;
  for (const fs::path& message : messages) {
    fs::path sidecar = message;
    sidecar.replace_extension(".json");
    const auto j = nlohmann::json::parse(ReadWhole(sidecar), nullptr, false);
    try {
      if (j.is_discarded()) throw std::runtime_error("not JSON");
      ReceivedMail mail;
      mail.raw = ReadWhole(message);
      mail.envelope_from = j.at("mail_from").get<std::string>();
      mail.rcpts = j.at("rcpt_tos").get<std::vector<std::string>>();
      if (j.at("auth_user").is_string()) mail.auth_user = j.at("auth_user").get<std::string>();
      mail.tls = j.at("tls").get<bool>();
      out.push_back(std::move(mail));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "bad sidecar " << sidecar << ": " << e.what();
    }
  }
  return out;
}

bool SmtpReceiver::WaitForMails(size_t n, std::chrono::milliseconds timeout) const {
  return PollUntil(timeout, [&] { return Mails().size() >= n; });
}

std::vector<AuthAttempt> SmtpReceiver::AuthAttempts() const {
  std::vector<AuthAttempt> out;
  const std::string text = ReadWhole(dir_ / "maildir" / "auth.jsonl");
  for (std::string_view line : CompleteLines(text)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    try {
      if (j.is_discarded()) throw std::runtime_error("not JSON");
      AuthAttempt a;
      if (j.at("user").is_string()) a.user = j.at("user").get<std::string>();
      a.ok = j.at("ok").get<bool>();
      a.tls = j.at("tls").get<bool>();
      out.push_back(std::move(a));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "bad line in auth.jsonl (" << e.what() << "): " << line;
    }
  }
  return out;
}

void SmtpReceiver::Kill() { process_->Kill(); }
bool SmtpReceiver::Restart() { return process_->Start(port()); }

// --- TcpReceiver ---

TcpReceiver::TcpReceiver(fs::path dir) : dir_(std::move(dir)) {}
TcpReceiver::~TcpReceiver() = default;

std::unique_ptr<TcpReceiver> TcpReceiver::Start(const fs::path& dir, TcpReceiverOptions options) {
  std::unique_ptr<TcpReceiver> receiver(new TcpReceiver(FreshSubdir(dir, "tcp")));
  const fs::path& own = receiver->dir_;
  receiver->process_ = std::make_unique<detail::ReceiverProcess>(
      own, "tcp_receiver", std::vector<std::string>{"--log", (own / "received.bin").string()});
  if (!receiver->process_->Start(options.port)) return nullptr;
  return receiver;
}

int TcpReceiver::port() const { return process_->port(); }
std::string TcpReceiver::Received() const { return ReadWhole(dir_ / "received.bin"); }

bool TcpReceiver::WaitForBytes(size_t n, std::chrono::milliseconds timeout) const {
  return PollUntil(timeout, [&] { return Received().size() >= n; });
}

void TcpReceiver::Kill() { process_->Kill(); }
bool TcpReceiver::Restart() { return process_->Start(port()); }

}  // namespace cmkwatch::test
