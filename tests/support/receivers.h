// Real receivers on loopback for the alert-delivery tests: an HTTP(S)
// server with scripted answers, an SMTP server (STARTTLS, SMTPS or no TLS,
// optional AUTH) and a plain TCP listener. Each is a /usr/bin/python3 process
// running a script from tests/receivers, started and owned by one of the
// classes below; what it received is read back from the files it writes, so
// it survives the receiver's own SIGKILL, and Restart() brings it back on the
// same port with the same files.
//
// Threading: an object is used from one thread, the test's main thread (the
// receiver is spawned with PR_SET_PDEATHSIG, tied to the spawning thread, so
// that a crashed test binary leaves no listener behind). The receivers
// themselves serve any number of concurrent client connections.
//
// Failure: Start() fails the running test (ADD_FAILURE, with the receiver's
// stderr) and returns nullptr when the receiver does not come up; Restart()
// does the same and returns false.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cmkwatch::test {

// A throwaway CA and a server certificate it signed for 127.0.0.1 and
// localhost (subjectAltName IP:127.0.0.1, DNS:localhost), made with the
// openssl CLI in `dir` at test time and never committed. Fails the test and
// returns empty paths when openssl fails.
struct TestCertificate {
  std::filesystem::path ca_file;    // PEM, for CURLOPT_CAINFO
  std::filesystem::path cert_file;  // PEM, the server's certificate
  std::filesystem::path key_file;   // PEM, its private key (mode 0600)
};
TestCertificate MakeTestCertificate(const std::filesystem::path& dir);

// Header fields in the order sent, duplicates kept.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The first value of `name` (case-insensitive) in `headers`, or "".
std::string FindHeader(const HeaderList& headers, std::string_view name);

// --- HTTP -----------------------------------------------------------------

// One answer of an HttpReceiver's script. With hang_s > 0 the receiver reads
// the request and sends nothing for that long, then drops the connection.
struct ScriptedAnswer {
  // Default member initializers throughout, so that designated initializers
  // naming only some fields stay clear of gcc's -Wmissing-field-initializers.
  int status = 200;
  HeaderList headers{};
  std::string body{};
  double hang_s = 0;

  static ScriptedAnswer Hang(double seconds) { return {.status = 0, .hang_s = seconds}; }
};

struct RecordedRequest {
  std::string method;
  std::string path;  // as sent, with the query string
  HeaderList headers;
  std::string body;  // the bytes received (a chunked upload de-chunked)
  int answered_status = 0;  // 0: the receiver hung on this one

  std::string Header(std::string_view name) const { return FindHeader(headers, name); }
};

struct HttpReceiverOptions {
  bool tls = false;          // HTTPS with a fresh MakeTestCertificate()
  int default_status = 200;  // once the script is exhausted (Teams-like: 202); body "ok"
  int port = 0;              // 0: any free port
};

namespace detail {
class ReceiverProcess;
}

// An HTTP/1.1 server on 127.0.0.1 (keep-alive, a thread per connection).
// Every request is recorded before it is answered.
class HttpReceiver {
 public:
  // Its files go in a fresh subdirectory of `dir`.
  static std::unique_ptr<HttpReceiver> Start(const std::filesystem::path& dir, HttpReceiverOptions options = {});
  ~HttpReceiver();  // kills and reaps the receiver
  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  int port() const;
  // "http://127.0.0.1:<port>/<path>" (https:// with tls).
  std::string Url(std::string_view path) const;
  // The CA that signed the server's certificate; "" without tls.
  std::string ca_file() const;

  // Replaces the script: the next requests get these answers in order, then
  // the default. The count of answers consumed restarts at 0 (and survives
  // Kill()/Restart()). Call it while no request is in flight: one arriving
  // mid-replacement may be answered from either script.
  void Script(const std::vector<ScriptedAnswer>& answers);

  // Every request received so far, in the order answers were chosen,
  // across restarts.
  std::vector<RecordedRequest> Requests() const;
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;

  void Kill();     // SIGKILL and reap; connections drop without an answer
  bool Restart();  // (killing first if running) same port, log and script position

 private:
  HttpReceiver(std::filesystem::path dir, HttpReceiverOptions options);

  std::filesystem::path dir_;
  HttpReceiverOptions options_;
  std::string ca_file_;
  std::unique_ptr<detail::ReceiverProcess> process_;
};

// --- SMTP -----------------------------------------------------------------

enum class SmtpTls {
  kStartTls,  // STARTTLS offered and required before MAIL (and before AUTH)
  kImplicit,  // SMTPS: TLS from the first byte
  kNone,      // no TLS offered; AUTH, if set, offered in the clear
};

// Three bools (starttls, implicit, offer) would allow meaningless mixes; one
// enum names the three servers there are.
struct SmtpReceiverOptions {
  SmtpTls tls = SmtpTls::kStartTls;
  std::string user{};  // non-empty: AUTH PLAIN/LOGIN required before MAIL
  std::string password{};
  int port = 0;
};

struct ReceivedMail {
  std::string raw;  // the DATA bytes as received (after dot-unstuffing)
  std::string envelope_from;
  std::vector<std::string> rcpts;
  std::string auth_user;  // "" when the session did not authenticate
  bool tls = false;       // delivered over STARTTLS or SMTPS

  // The first header field `name` (case-insensitive) of the message,
  // unfolded, trimmed; "" when absent. Encoded words are left as they are.
  std::string Header(std::string_view name) const;
  // The text/plain part (of a multipart/alternative, nested multiparts
  // searched, or the whole message when it is text/plain), decoded from
  // quoted-printable or base64, line ends as "\n". "" when there is none.
  std::string TextBody() const;
};

struct AuthAttempt {
  std::string user;
  bool ok = false;
  bool tls = false;  // whether the credentials travelled over TLS
};

class SmtpReceiver {
 public:
  static std::unique_ptr<SmtpReceiver> Start(const std::filesystem::path& dir, SmtpReceiverOptions options = {});
  ~SmtpReceiver();
  SmtpReceiver(const SmtpReceiver&) = delete;
  SmtpReceiver& operator=(const SmtpReceiver&) = delete;

  int port() const;
  // The CA that signed the server's certificate; "" with SmtpTls::kNone.
  std::string ca_file() const;

  // Messages accepted so far, in arrival order, across restarts.
  std::vector<ReceivedMail> Mails() const;
  bool WaitForMails(size_t n, std::chrono::milliseconds timeout) const;
  // Every AUTH the server checked, right or wrong, in order.
  std::vector<AuthAttempt> AuthAttempts() const;

  void Kill();
  bool Restart();

 private:
  SmtpReceiver(std::filesystem::path dir, SmtpReceiverOptions options);

  std::filesystem::path dir_;
  SmtpReceiverOptions options_;
  std::string ca_file_;
  std::unique_ptr<detail::ReceiverProcess> process_;
};

// --- TCP ------------------------------------------------------------------

struct TcpReceiverOptions {
  int port = 0;
};

// A plain TCP listener that keeps every byte it is sent (all connections,
// across restarts; simultaneous connections interleave).
class TcpReceiver {
 public:
  static std::unique_ptr<TcpReceiver> Start(const std::filesystem::path& dir, TcpReceiverOptions options = {});
  ~TcpReceiver();
  TcpReceiver(const TcpReceiver&) = delete;
  TcpReceiver& operator=(const TcpReceiver&) = delete;

  int port() const;
  std::string Received() const;
  bool WaitForBytes(size_t n, std::chrono::milliseconds timeout) const;

  void Kill();
  bool Restart();

 private:
  explicit TcpReceiver(std::filesystem::path dir);

  std::filesystem::path dir_;
  std::unique_ptr<detail::ReceiverProcess> process_;
};

// The text of a MIME entity's text/plain part, as ReceivedMail::TextBody();
// exposed so it can be checked on a hand-made message.
std::string MimeTextBody(std::string_view entity);
// The header field of a MIME entity, as ReceivedMail::Header().
std::string MimeHeader(std::string_view entity, std::string_view name);

}  // namespace cmkwatch::test
