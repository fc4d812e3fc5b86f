// The receivers the alert-delivery tests run against, driven by libcurl
// the way a sink will drive them: if these pass, a failing sink test is the
// sink's fault, not the receiver's.
#include "receivers.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_support.h"

namespace cmkwatch::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kWait = 10s;

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
using Curl = std::unique_ptr<CURL, CurlDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

Slist MakeSlist(const std::vector<std::string>& items) {
  curl_slist* list = nullptr;
  for (const auto& item : items) list = curl_slist_append(list, item.c_str());
  return Slist(list);
}

// curl_global_init once, before any test thread makes a handle.
Curl NewCurl() {
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  EXPECT_EQ(init, CURLE_OK);
  Curl curl(curl_easy_init());
  EXPECT_NE(curl, nullptr);
  return curl;
}

size_t AppendTo(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct Upload {
  std::string_view data;
  size_t offset = 0;
};

size_t ReadFrom(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const size_t n = std::min(size * count, upload->data.size() - upload->offset);
  upload->data.copy(buffer, n, upload->offset);
  upload->offset += n;
  return n;
}

struct HttpResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string retry_after;
  long new_connections = 0;
  std::string error;
};

struct PostOptions {
  std::string ca_file{};  // "" leaves curl's default trust store
  long timeout_ms = 5000;
  bool chunked = false;  // upload of unknown length: Transfer-Encoding: chunked
};

HttpResult Post(CURL* curl, const std::string& url, std::string_view body, const PostOptions& options = {}) {
  HttpResult result;
  char error[CURL_ERROR_SIZE] = {};
  Upload upload{body};
  Slist headers = MakeSlist({"Content-Type: application/json"});
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  if (options.chunked) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, nullptr);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadFrom);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    headers.reset(curl_slist_append(headers.release(), "Transfer-Encoding: chunked"));
  } else {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendTo);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, options.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (!options.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
  result.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &result.new_connections);
  curl_header* retry_after = nullptr;
  if (curl_easy_header(curl, "Retry-After", 0, CURLH_HEADER, -1, &retry_after) == CURLHE_OK) {
    result.retry_after = retry_after->value;
  }
  result.error = error;
  // The handle outlives this call (connection reuse); the lists and buffers do not.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  return result;
}

HttpResult Post(const std::string& url, std::string_view body, const PostOptions& options = {}) {
  Curl curl = NewCurl();
  return Post(curl.get(), url, body, options);
}

// --- HTTP ---

TEST(HttpReceiverTest, PostIsRecordedAndAnsweredOkOnOneKeptAliveConnection) {
  TestDir dir("receivers");
  auto http = HttpReceiver::Start(dir.path());
  ASSERT_TRUE(http);
  Curl curl = NewCurl();
  const HttpResult first = Post(curl.get(), http->Url("/hooks/a?x=1"), R"({"n":1})");
  const HttpResult second = Post(curl.get(), http->Url("hooks/b"), R"({"n":2})");
  ASSERT_EQ(first.code, CURLE_OK) << first.error;
  ASSERT_EQ(second.code, CURLE_OK) << second.error;
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "ok");
  EXPECT_EQ(first.new_connections, 1);
  EXPECT_EQ(second.new_connections, 0) << "the second request should reuse the connection";

  const auto requests = http->Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/hooks/a?x=1");
  EXPECT_EQ(requests[0].body, R"({"n":1})");
  EXPECT_EQ(requests[0].Header("content-type"), "application/json");
  EXPECT_EQ(requests[0].Header("HOST"), "127.0.0.1:" + std::to_string(http->port()));
  EXPECT_EQ(requests[0].Header("X-Absent"), "");
  EXPECT_EQ(requests[0].answered_status, 200);
  EXPECT_EQ(requests[1].path, "/hooks/b");
  EXPECT_EQ(http->ca_file(), "");
}

TEST(HttpReceiverTest, HttpsIsVerifiedAgainstTheGeneratedCaAndRefusedWithoutIt) {
  TestDir dir("receivers");
  auto https = HttpReceiver::Start(dir.path(), {.tls = true});
  ASSERT_TRUE(https);
  ASSERT_TRUE(https->Url("/x").starts_with("https://127.0.0.1:"));

  const HttpResult untrusted = Post(https->Url("/x"), "{}");
  EXPECT_EQ(untrusted.code, CURLE_PEER_FAILED_VERIFICATION) << untrusted.error;

  const HttpResult trusted = Post(https->Url("/x"), "{}", {.ca_file = https->ca_file()});
  ASSERT_EQ(trusted.code, CURLE_OK) << trusted.error;
  EXPECT_EQ(trusted.status, 200);
  const auto requests = https->Requests();
  ASSERT_EQ(requests.size(), 1u) << "the refused handshake carried no request";
  EXPECT_EQ(requests[0].path, "/x");
}

TEST(HttpReceiverTest, ScriptedRetryAfterThenTheDefault) {
  TestDir dir("receivers");
  auto http = HttpReceiver::Start(dir.path());
  ASSERT_TRUE(http);
  http->Script({{.status = 429, .headers = {{"Retry-After", "2"}}, .body = "slow down"}});
  Curl curl = NewCurl();
  const HttpResult limited = Post(curl.get(), http->Url("/hook"), "{}");
  const HttpResult accepted = Post(curl.get(), http->Url("/hook"), "{}");
  ASSERT_EQ(limited.code, CURLE_OK) << limited.error;
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.retry_after, "2");
  EXPECT_EQ(limited.body, "slow down");
  EXPECT_EQ(accepted.status, 200);
  EXPECT_EQ(accepted.body, "ok");
  EXPECT_EQ(accepted.new_connections, 0) << "a 429 with a body keeps the connection";
  const auto requests = http->Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].answered_status, 429);
  EXPECT_EQ(requests[1].answered_status, 200);
}

TEST(HttpReceiverTest, DefaultStatusIsConfigurable) {
  TestDir dir("receivers");
  auto teams = HttpReceiver::Start(dir.path(), {.default_status = 202});
  ASSERT_TRUE(teams);
  const HttpResult result = Post(teams->Url("/webhook"), "{}");
  ASSERT_EQ(result.code, CURLE_OK) << result.error;
  EXPECT_EQ(result.status, 202);
  EXPECT_EQ(result.body, "ok");
}

TEST(HttpReceiverTest, HangFailsAOneSecondTimeoutAndTheNextRequestIsServed) {
  TestDir dir("receivers");
  auto http = HttpReceiver::Start(dir.path());
  ASSERT_TRUE(http);
  http->Script({ScriptedAnswer::Hang(30)});
  Curl curl = NewCurl();
  const auto start = std::chrono::steady_clock::now();
  const HttpResult hung = Post(curl.get(), http->Url("/hook"), "{}", {.timeout_ms = 1000});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(hung.code, CURLE_OPERATION_TIMEDOUT) << hung.error;
  EXPECT_GE(elapsed, 1s);
  EXPECT_LT(elapsed, 5s);

  const HttpResult next = Post(curl.get(), http->Url("/hook"), "{}", {.timeout_ms = 1000});
  ASSERT_EQ(next.code, CURLE_OK) << next.error;
  EXPECT_EQ(next.status, 200);
  const auto requests = http->Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].answered_status, 0);
  EXPECT_EQ(requests[1].answered_status, 200);
}

TEST(HttpReceiverTest, KillAndRestartKeepTheLogAndTheScriptPosition) {
  TestDir dir("receivers");
  auto http = HttpReceiver::Start(dir.path());
  ASSERT_TRUE(http);
  http->Script({{.status = 500}, {.status = 503, .headers = {{"Retry-After", "1"}}}});
  const int port = http->port();
  Curl curl = NewCurl();
  EXPECT_EQ(Post(curl.get(), http->Url("/hook"), "one").status, 500);

  http->Kill();
  const HttpResult down = Post(curl.get(), http->Url("/hook"), "lost");
  EXPECT_EQ(down.code, CURLE_COULDNT_CONNECT) << down.error;

  ASSERT_TRUE(http->Restart());
  EXPECT_EQ(http->port(), port);
  const HttpResult second = Post(curl.get(), http->Url("/hook"), "two");
  EXPECT_EQ(second.status, 503) << "the script goes on where the killed receiver stopped";
  EXPECT_EQ(second.retry_after, "1");
  EXPECT_EQ(Post(curl.get(), http->Url("/hook"), "three").status, 200);

  const auto requests = http->Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].body, "one");
  EXPECT_EQ(requests[1].body, "two");
  EXPECT_EQ(requests[2].body, "three");
}

TEST(HttpReceiverTest, ConcurrentClientsAreServedWhileOneHangs) {
  TestDir dir("receivers");
  auto http = HttpReceiver::Start(dir.path());
  ASSERT_TRUE(http);
  http->Script({ScriptedAnswer::Hang(30)});
  const std::string url = http->Url("/hook");
  NewCurl();  // curl_global_init before the threads

  HttpResult hung;
  std::thread hanging([&] { hung = Post(url, "hang", {.timeout_ms = 20000}); });
  ASSERT_TRUE(http->WaitForRequests(1, kWait));

  constexpr int kClients = 6;
  std::vector<HttpResult> results(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] { results[i] = Post(url, "client " + std::to_string(i)); });
  }
  for (auto& t : clients) t.join();
  for (const auto& r : results) {
    EXPECT_EQ(r.code, CURLE_OK) << r.error;
    EXPECT_EQ(r.status, 200);
  }
  EXPECT_EQ(http->Requests().size(), 1u + kClients);

  // Killing the receiver drops the hanging connection at once.
  http->Kill();
  hanging.join();
  EXPECT_NE(hung.code, CURLE_OK);
  EXPECT_NE(hung.code, CURLE_OPERATION_TIMEDOUT) << hung.error;
}

TEST(HttpReceiverTest, BinaryAndChunkedBodiesAreRecordedExactly) {
  TestDir dir("receivers");
  auto http = HttpReceiver::Start(dir.path());
  ASSERT_TRUE(http);
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  const std::string text(100000, 'x');  // also past curl's Expect: 100-continue threshold
  EXPECT_EQ(Post(http->Url("/bin"), binary).status, 200);
  EXPECT_EQ(Post(http->Url("/chunked"), text, {.chunked = true}).status, 200);

  const auto requests = http->Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].body, binary);
  EXPECT_EQ(requests[1].Header("Transfer-Encoding"), "chunked");
  EXPECT_EQ(requests[1].body, text);
}

TEST(HttpReceiverTest, StartOnABusyPortFailsTheTestWithTheReceiversStderr) {
  TestDir dir("receivers");
  auto first = HttpReceiver::Start(dir.path());
  ASSERT_TRUE(first);
  std::unique_ptr<HttpReceiver> second;
  EXPECT_NONFATAL_FAILURE(second = HttpReceiver::Start(dir.path(), {.port = first->port()}),
                          "Address already in use");
  EXPECT_EQ(second, nullptr);
}

// --- SMTP ---

constexpr std::string_view kMessage =
    "From: cmkwatch <cmkwatch@example.test>\r\n"
    "To: ops@example.test\r\n"
    "Subject: [CRITICAL] CMK disabled:\r\n"
    " key cmk-1 in kv-prod\r\n"
    "Message-ID: <42.cmkwatch@example.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=\"b-1\"\r\n"
    "\r\n"
    "--b-1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Key cmk-1 was disabled =E2=80=94 rotate now. A long line, soft=\r\n"
    "-broken.\r\n"
    ".A line that starts with a dot.\r\n"
    "--b-1\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>Key cmk-1 was disabled</p>\r\n"
    "--b-1--\r\n";

constexpr std::string_view kText =
    "Key cmk-1 was disabled \u2014 rotate now. A long line, soft-broken.\n"
    ".A line that starts with a dot.";

struct MailOptions {
  std::string url{};
  std::string ca_file{};
  long use_ssl = CURLUSESSL_ALL;
  std::string user{};
  std::string password{};
};

struct MailResult {
  CURLcode code = CURLE_OK;
  std::string error;
};

MailResult SendMail(const MailOptions& options, std::string_view message = kMessage) {
  Curl curl = NewCurl();
  char error[CURL_ERROR_SIZE] = {};
  Upload upload{message};
  Slist rcpts = MakeSlist({"<ops@example.test>", "<sec@example.test>"});
  curl_easy_setopt(curl.get(), CURLOPT_URL, options.url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_USE_SSL, options.use_ssl);
  if (!options.ca_file.empty()) curl_easy_setopt(curl.get(), CURLOPT_CAINFO, options.ca_file.c_str());
  if (!options.user.empty()) {
    curl_easy_setopt(curl.get(), CURLOPT_USERNAME, options.user.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_PASSWORD, options.password.c_str());
  }
  curl_easy_setopt(curl.get(), CURLOPT_MAIL_FROM, "<cmkwatch@example.test>");
  curl_easy_setopt(curl.get(), CURLOPT_MAIL_RCPT, rcpts.get());
  curl_easy_setopt(curl.get(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_READFUNCTION, ReadFrom);
  curl_easy_setopt(curl.get(), CURLOPT_READDATA, &upload);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  MailResult result;
  result.code = curl_easy_perform(curl.get());
  result.error = error;
  return result;
}

std::string SmtpUrl(const SmtpReceiver& smtp, std::string_view scheme = "smtp") {
  // The path is the name curl gives in EHLO.
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(smtp.port()) + "/cmkwatch.test";
}

TEST(SmtpReceiverTest, StartTlsWithAuthDeliversTheMessage) {
  TestDir dir("receivers");
  auto smtp = SmtpReceiver::Start(dir.path(), {.tls = SmtpTls::kStartTls, .user = "alerts", .password = "s3cret"});
  ASSERT_TRUE(smtp);
  const MailResult sent =
      SendMail({.url = SmtpUrl(*smtp), .ca_file = smtp->ca_file(), .user = "alerts", .password = "s3cret"});
  ASSERT_EQ(sent.code, CURLE_OK) << sent.error;

  ASSERT_TRUE(smtp->WaitForMails(1, kWait));
  const auto mails = smtp->Mails();
  ASSERT_EQ(mails.size(), 1u);
  const ReceivedMail& mail = mails[0];
  EXPECT_EQ(mail.envelope_from, "cmkwatch@example.test");
  EXPECT_EQ(mail.rcpts, (std::vector<std::string>{"ops@example.test", "sec@example.test"}));
  EXPECT_EQ(mail.auth_user, "alerts");
  EXPECT_TRUE(mail.tls);
  EXPECT_EQ(mail.Header("subject"), "[CRITICAL] CMK disabled: key cmk-1 in kv-prod");
  EXPECT_EQ(mail.Header("Message-Id"), "<42.cmkwatch@example.test>");
  EXPECT_EQ(mail.Header("From"), "cmkwatch <cmkwatch@example.test>");
  EXPECT_EQ(mail.TextBody(), kText);
  EXPECT_EQ(mail.raw, kMessage) << "the message is kept byte for byte (dots unstuffed)";

  const auto attempts = smtp->AuthAttempts();
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].user, "alerts");
  EXPECT_TRUE(attempts[0].ok);
  EXPECT_TRUE(attempts[0].tls);
}

TEST(SmtpReceiverTest, StartTlsServerRefusesMailBeforeStartTls) {
  TestDir dir("receivers");
  auto smtp = SmtpReceiver::Start(dir.path(), {.tls = SmtpTls::kStartTls});
  ASSERT_TRUE(smtp);
  const MailResult sent = SendMail({.url = SmtpUrl(*smtp), .use_ssl = CURLUSESSL_NONE});
  EXPECT_NE(sent.code, CURLE_OK);
  EXPECT_TRUE(smtp->Mails().empty());
}

TEST(SmtpReceiverTest, ServerWithoutTlsFailsAClientThatRequiresIt) {
  TestDir dir("receivers");
  auto smtp = SmtpReceiver::Start(dir.path(), {.tls = SmtpTls::kNone, .user = "alerts", .password = "s3cret"});
  ASSERT_TRUE(smtp);
  EXPECT_EQ(smtp->ca_file(), "");
  const MailResult sent = SendMail({.url = SmtpUrl(*smtp), .user = "alerts", .password = "s3cret"});
  EXPECT_EQ(sent.code, CURLE_USE_SSL_FAILED) << sent.error;
  EXPECT_TRUE(smtp->Mails().empty());
  EXPECT_TRUE(smtp->AuthAttempts().empty()) << "no password went over the clear connection";
}

TEST(SmtpReceiverTest, ImplicitTlsDelivers) {
  TestDir dir("receivers");
  auto smtp = SmtpReceiver::Start(dir.path(), {.tls = SmtpTls::kImplicit, .user = "alerts", .password = "s3cret"});
  ASSERT_TRUE(smtp);
  const MailResult sent = SendMail(
      {.url = SmtpUrl(*smtp, "smtps"), .ca_file = smtp->ca_file(), .user = "alerts", .password = "s3cret"});
  ASSERT_EQ(sent.code, CURLE_OK) << sent.error;
  ASSERT_TRUE(smtp->WaitForMails(1, kWait));
  const auto mails = smtp->Mails();
  ASSERT_EQ(mails.size(), 1u);
  EXPECT_EQ(mails[0].auth_user, "alerts");
  EXPECT_TRUE(mails[0].tls);
  EXPECT_EQ(mails[0].TextBody(), kText);
}

TEST(SmtpReceiverTest, WrongPasswordIsRefused) {
  TestDir dir("receivers");
  auto smtp = SmtpReceiver::Start(dir.path(), {.tls = SmtpTls::kStartTls, .user = "alerts", .password = "s3cret"});
  ASSERT_TRUE(smtp);
  const MailResult sent =
      SendMail({.url = SmtpUrl(*smtp), .ca_file = smtp->ca_file(), .user = "alerts", .password = "wrong"});
  EXPECT_EQ(sent.code, CURLE_LOGIN_DENIED) << sent.error;
  EXPECT_TRUE(smtp->Mails().empty());
  const auto attempts = smtp->AuthAttempts();
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_FALSE(attempts[0].ok);

  const MailResult unauthenticated = SendMail({.url = SmtpUrl(*smtp), .ca_file = smtp->ca_file()});
  EXPECT_NE(unauthenticated.code, CURLE_OK) << "AUTH is required";
  EXPECT_TRUE(smtp->Mails().empty());
}

TEST(SmtpReceiverTest, KillAndRestartKeepTheMaildir) {
  TestDir dir("receivers");
  auto smtp = SmtpReceiver::Start(dir.path());
  ASSERT_TRUE(smtp);
  const int port = smtp->port();
  ASSERT_EQ(SendMail({.url = SmtpUrl(*smtp), .ca_file = smtp->ca_file()}).code, CURLE_OK);
  smtp->Kill();
  EXPECT_NE(SendMail({.url = SmtpUrl(*smtp), .ca_file = smtp->ca_file()}).code, CURLE_OK);
  ASSERT_TRUE(smtp->Restart());
  EXPECT_EQ(smtp->port(), port);
  ASSERT_EQ(SendMail({.url = SmtpUrl(*smtp), .ca_file = smtp->ca_file()}).code, CURLE_OK);
  EXPECT_EQ(smtp->Mails().size(), 2u);
}

// The MIME reading behind ReceivedMail, on hand-made messages.
TEST(SmtpReceiverMimeTest, HeadersUnfoldAndTextPartsDecode) {
  constexpr std::string_view kNested =
      "Subject: one\r\n\ttwo\r\n"
      "X-Empty:\r\n"
      "Content-Type: multipart/mixed;\r\n boundary=outer; charset=x\r\n"
      "\r\n"
      "preamble\r\n"
      "--outer\r\n"
      "Content-Type: multipart/alternative; boundary=\"inner\"\r\n"
      "\r\n"
      "--inner\r\n"
      "Content-Type: text/html\r\n"
      "\r\n"
      "<b>no</b>\r\n"
      "--inner\r\n"
      "content-type: TEXT/PLAIN; charset=utf-8\r\n"
      "Content-Transfer-Encoding: Quoted-Printable\r\n"
      "\r\n"
      "caf=C3=A9 =3D=\r\n"
      " done\r\n"
      "--inner--\r\n"
      "--outer\r\n"
      "Content-Type: application/json\r\n"
      "\r\n"
      "{}\r\n"
      "--outer--\r\n";
  EXPECT_EQ(MimeHeader(kNested, "SUBJECT"), "one\ttwo");
  EXPECT_EQ(MimeHeader(kNested, "x-empty"), "");
  EXPECT_EQ(MimeHeader(kNested, "preamble"), "");
  EXPECT_EQ(MimeTextBody(kNested), "caf\u00e9 = done");

  constexpr std::string_view kBase64 =
      "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8K\r\nd29ybGQ=\r\n";
  EXPECT_EQ(MimeTextBody(kBase64), "hello\nworld");
  EXPECT_EQ(MimeTextBody("Subject: plain\n\nline one\nline two\n"), "line one\nline two\n");
  EXPECT_EQ(MimeTextBody("Content-Type: text/html\r\n\r\n<p>x</p>"), "");
}

// --- TCP ---

// A connected client socket, closed when it goes.
class TcpClient {
 public:
  explicit TcpClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~TcpClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  bool connected() const { return connected_; }
  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

 private:
  int fd_;
  bool connected_ = false;
};

// RFC 6587 octet counting: "<length> <message>".
std::string OctetCounted(std::string_view message) { return std::to_string(message.size()) + " " + std::string(message); }

TEST(TcpReceiverTest, KeepsTheBytesOfEveryConnectionAcrossARestart) {
  TestDir dir("receivers");
  auto tcp = TcpReceiver::Start(dir.path());
  ASSERT_TRUE(tcp);
  const std::string first = OctetCounted("<131>1 2026-01-01T00:00:00Z host cmkwatch - CMK001 - key disabled") +
                            OctetCounted("<134>1 2026-01-01T00:00:01Z host cmkwatch - CMK001 - resolved");
  {
    TcpClient client(tcp->port());
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(client.Send(first));
    ASSERT_TRUE(tcp->WaitForBytes(first.size(), kWait));
  }
  tcp->Kill();
  EXPECT_FALSE(TcpClient(tcp->port()).connected());
  ASSERT_TRUE(tcp->Restart());
  const std::string second = OctetCounted(std::string("binary \0\xff ok", 12));
  TcpClient client(tcp->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(second));
  ASSERT_TRUE(tcp->WaitForBytes(first.size() + second.size(), kWait));
  EXPECT_EQ(tcp->Received(), first + second);
}

TEST(ReceiverCertificateTest, WritesTheCaCertificateAndKeyAsPem) {
  TestDir dir("receivers");
  const TestCertificate cert = MakeTestCertificate(dir.path());
  ASSERT_FALSE(cert.ca_file.empty());
  const std::string pem = ReadFileOrFail(cert.cert_file);
  EXPECT_TRUE(pem.starts_with("-----BEGIN CERTIFICATE-----"));
  EXPECT_NE(ReadFileOrFail(cert.key_file).find("PRIVATE KEY"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(cert.ca_file));
}

}  // namespace
}  // namespace cmkwatch::test
