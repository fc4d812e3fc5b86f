// libcurl for HTTP(S) and SMTP, a plain socket for syslog (transport.h).
#include "transport.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>

namespace cmkwatch::alerts::internal {
namespace {

constexpr size_t kMaxAnswerBytes = 4096;
constexpr size_t kShownBytes = 200;
constexpr int64_t kNsPerMs = 1'000'000;

// curl_global_init is not thread-safe; every client goes through this once.
void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

long Millis(int64_t ns) { return static_cast<long>(std::max<int64_t>(1, ns / kNsPerMs)); }

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

Slist MakeSlist(const std::vector<std::string>& items) {
  curl_slist* list = nullptr;
  for (const std::string& s : items) {
    curl_slist* next = curl_slist_append(list, s.c_str());
    if (next == nullptr) break;  // out of memory: send what we have
    list = next;
  }
  return Slist(list);
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;

size_t CollectBody(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  const size_t bytes = size * n;
  if (out->size() < kMaxAnswerBytes) out->append(data, std::min(bytes, kMaxAnswerBytes - out->size()));
  return bytes;  // the rest is read and dropped: the connection stays usable
}

size_t CollectHeader(char* data, size_t size, size_t n, void* user) {
  auto* retry_after = static_cast<std::string*>(user);
  const std::string_view line(data, size * n);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() && line.size() < 256) {
    bool match = true;
    for (size_t i = 0; i < kName.size() && match; ++i) {
      match = std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
    }
    if (match) {
      std::string_view v = line.substr(kName.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
      *retry_after = std::string(v);
    }
  }
  // A new response (after a 100 Continue, say) starts a new header block.
  if (line.starts_with("HTTP/")) retry_after->clear();
  return size * n;
}

struct Upload {
  std::string_view data;
  size_t offset = 0;
};

size_t ReadUpload(char* buffer, size_t size, size_t n, void* user) {
  auto* up = static_cast<Upload*>(user);
  const size_t take = std::min(size * n, up->data.size() - up->offset);
  std::memcpy(buffer, up->data.data() + up->offset, take);
  up->offset += take;
  return take;
}

}  // namespace

std::string ShownDetail(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size() && out.size() < kShownBytes; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else if (c == '\n' || c == '\r' || c == '\t') {
      out += ' ';
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (text.size() > kShownBytes) out += "…";
  return out;
}

std::optional<int64_t> ParseRetryAfter(std::string_view v, int64_t now_ns) {
  constexpr int64_t kSecondNs = 1'000'000'000;
  if (v.empty() || v.size() > 64) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return std::nullopt;  // more than 31 years is not a delay
    int64_t s = 0;
    for (char c : v) s = s * 10 + (c - '0');
    return s * kSecondNs;
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT", exactly 29 characters.
  if (v.size() != 29 || v[3] != ',' || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
      v[19] != ':' || v[22] != ':' || v.substr(25) != " GMT") {
    return std::nullopt;
  }
  auto num = [&](size_t at, size_t len, int* out) {
    int n = 0;
    for (size_t i = at; i < at + len; ++i) {
      if (v[i] < '0' || v[i] > '9') return false;
      n = n * 10 + (v[i] - '0');
    }
    *out = n;
    return true;
  };
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (!num(5, 2, &day) || !num(12, 4, &year) || !num(17, 2, &hour) || !num(20, 2, &minute) ||
      !num(23, 2, &second)) {
    return std::nullopt;
  }
  int month = -1;
  for (int i = 0; i < 12; ++i) {
    if (v.substr(8, 3) == kMonths[i]) month = i;
  }
  if (month < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 || year < 1970) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const time_t at = timegm(&tm);
  if (at == static_cast<time_t>(-1)) return std::nullopt;
  // In seconds, capped like delay-seconds (nine digits): a date centuries
  // ahead must not overflow nanoseconds.
  const int64_t delay_s = std::min<int64_t>(static_cast<int64_t>(at) - now_ns / kSecondNs, 999'999'999);
  return std::max<int64_t>(0, delay_s) * kSecondNs;
}

SendResult ClassifyHttp(const HttpAnswer& a, int64_t now_ns) {
  SendResult r;
  r.code = a.status;
  if (a.status == 0) {
    r.outcome = a.curl_code == CURLE_URL_MALFORMAT || a.curl_code == CURLE_UNSUPPORTED_PROTOCOL
                    ? SendResult::Outcome::kPermanent
                    : SendResult::Outcome::kRetry;
    r.detail = ShownDetail(a.error);
    return r;
  }
  r.detail = "HTTP " + std::to_string(a.status) + (a.body.empty() ? "" : ": " + ShownDetail(a.body));
  if (a.status >= 200 && a.status < 300) {
    r.outcome = SendResult::Outcome::kDelivered;
  } else if (a.status == 408 || a.status == 425 || a.status == 429 || a.status >= 500) {
    r.outcome = SendResult::Outcome::kRetry;
    if (auto d = ParseRetryAfter(a.retry_after, now_ns)) r.retry_after_ns = *d;
  } else {
    r.outcome = SendResult::Outcome::kPermanent;
  }
  return r;
}

struct HttpClient::Handle {
  Easy easy;
  char error[CURL_ERROR_SIZE] = {};
};

HttpClient::HttpClient() : h_(std::make_unique<Handle>()) {
  GlobalInit();
  h_->easy.reset(curl_easy_init());
}

HttpClient::~HttpClient() = default;

HttpAnswer HttpClient::Post(const HttpTarget& t, std::string_view body, const std::vector<std::string>& headers) {
  HttpAnswer answer;
  CURL* c = h_->easy.get();
  if (c == nullptr) {
    answer.error = "libcurl could not make a handle";
    return answer;
  }
  curl_easy_reset(c);  // keeps the connection cache, drops the last request's options
  h_->error[0] = '\0';
  std::vector<std::string> all = {"Content-Type: application/json", "Expect:"};
  all.insert(all.end(), headers.begin(), headers.end());
  Slist list = MakeSlist(all);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h_->error);
  curl_easy_setopt(c, CURLOPT_URL, t.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "cmkwatch");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, Millis(t.timeout_ns));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, Millis(std::min<int64_t>(t.timeout_ns, 10'000 * kNsPerMs)));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!t.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, t.ca_file.c_str());
  if (!t.client_cert.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, t.client_cert.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, t.client_key.c_str());
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &answer.retry_after);
  const CURLcode rc = curl_easy_perform(c);
  answer.curl_code = rc;
  if (rc != CURLE_OK) {
    answer.error = std::string(curl_easy_strerror(rc)) + (h_->error[0] != '\0' ? std::string(": ") + h_->error : "");
    answer.body.clear();
    return answer;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  answer.status = static_cast<int>(status);
  return answer;
}

SendResult SendMail(const SmtpTarget& t, std::string_view from, const std::vector<std::string>& to,
                    std::string_view message) {
  GlobalInit();
  SendResult r;
  Easy easy(curl_easy_init());
  CURL* c = easy.get();
  if (c == nullptr) {
    r.detail = "libcurl could not make a handle";
    return r;
  }
  char error[CURL_ERROR_SIZE] = {};
  std::vector<std::string> rcpts;
  for (const std::string& a : to) rcpts.push_back("<" + a + ">");
  Slist rcpt_list = MakeSlist(rcpts);
  const std::string mail_from = "<" + std::string(from) + ">";
  Upload upload{message, 0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_URL, t.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  // smtp:// must upgrade with STARTTLS: CURLUSESSL_ALL makes curl refuse a
  // server that does not offer it rather than send the mail in clear.
  curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!t.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, t.ca_file.c_str());
  if (!t.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, t.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, t.password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt_list.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, Millis(t.timeout_ns));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, Millis(std::min<int64_t>(t.timeout_ns, 10'000 * kNsPerMs)));
  const CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  r.code = static_cast<int>(code);
  if (rc == CURLE_OK) {
    r.outcome = SendResult::Outcome::kDelivered;
    r.detail = "SMTP " + std::to_string(code);
    return r;
  }
  r.detail = (code != 0 ? "SMTP " + std::to_string(code) + ": " : std::string()) + curl_easy_strerror(rc) +
             (error[0] != '\0' ? std::string(": ") + ShownDetail(error) : "");
  // 5xx refuses this mail for good (a recipient that does not exist, a
  // message the server will never take); a wrong password (535) is the
  // operator's to fix and must not throw alerts away meanwhile.
  const bool refused = code >= 500 && code < 600 && code != 535 && code != 530 && rc != CURLE_LOGIN_DENIED;
  r.outcome = refused ? SendResult::Outcome::kPermanent : SendResult::Outcome::kRetry;
  return r;
}

TcpSender::~TcpSender() { Close(); }

void TcpSender::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status TcpSender::Connect(int64_t timeout_ns) {
  const size_t colon = address_.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument("syslog address needs host:port");
  std::string host = address_.substr(0, colon);
  const std::string port = address_.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Status::IoError("syslog " + address_ + ": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
  std::string last = "no address";
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, static_cast<int>(Millis(timeout_ns)));
      int err = 0;
      socklen_t len = sizeof err;
      if (rc == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
        rc = 0;
      } else {
        errno = rc == 0 ? ETIMEDOUT : (err != 0 ? err : errno);
        rc = -1;
      }
    }
    if (rc == 0) {
      fd_ = fd;
      return Status::Ok();
    }
    last = std::strerror(errno);
    ::close(fd);
  }
  return Status::IoError("syslog " + address_ + ": " + last);
}

SendResult TcpSender::Send(std::string_view bytes, int64_t timeout_ns) {
  SendResult r;
  // A peer that closed (a restarted collector) shows as readable with
  // nothing to read: reconnect before writing into a dead connection.
  if (fd_ >= 0) {
    char probe;
    const ssize_t n = ::recv(fd_, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) Close();
  }
  if (fd_ < 0) {
    if (Status st = Connect(timeout_ns); !st.ok()) {
      r.detail = st.message();
      return r;
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeout_ns);
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLOUT, 0};
      if (left.count() > 0 && ::poll(&p, 1, static_cast<int>(left.count())) >= 0) continue;
      r.detail = "syslog " + address_ + ": send timed out";
    } else {
      r.detail = "syslog " + address_ + ": " + std::strerror(errno);
    }
    // Part of a frame may be out: the next frame on a new connection starts
    // clean, the collector drops the torn one.
    Close();
    return r;
  }
  r.outcome = SendResult::Outcome::kDelivered;
  r.detail = "sent " + std::to_string(bytes.size()) + " bytes";
  return r;
}

}  // namespace cmkwatch::alerts::internal
