#include "http_client.h"

#include <curl/curl.h>

namespace cmkwatch::test {
namespace {

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

size_t CollectBody(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

size_t CollectHeader(char* p, size_t size, size_t n, void* out) {
  std::string line(p, size * n);
  auto* headers = static_cast<HeaderList*>(out);
  if (line.rfind("HTTP/", 0) == 0) headers->clear();  // an interim response (100 Continue) came first
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    headers->emplace_back(line.substr(0, colon), value);
  }
  return size * n;
}

}  // namespace

CurlHandle::CurlHandle() : curl_(curl_easy_init()) {}
CurlHandle::~CurlHandle() { curl_easy_cleanup(curl_); }

HttpReply Http(const HttpCall& c, CurlHandle* reuse) {
  CurlHandle own;
  CURL* h = reuse != nullptr ? reuse->get() : own.get();
  HttpReply r;
  std::unique_ptr<curl_slist, SlistDeleter> list;
  for (const auto& hd : c.headers) list.reset(curl_slist_append(list.release(), hd.c_str()));
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_URL, c.url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(h, CURLOPT_CAINFO, c.ca_file.empty() ? nullptr : c.ca_file.c_str());
  if (c.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(c.body.size()));
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, nullptr);
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c.method == "GET" ? nullptr : c.method.c_str());
  }
  const CURLcode code = curl_easy_perform(h);
  r.curl_code = static_cast<int>(code);
  r.curl_error = code == CURLE_OK ? "" : std::string(curl_easy_strerror(code)) + ": " + error;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r.new_connections);
  // The handle outlives the header list and the buffers when reused.
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, nullptr);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, nullptr);
  return r;
}

}  // namespace cmkwatch::test
