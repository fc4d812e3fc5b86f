// Event Grid push endpoint throughput on loopback: an EventGridSource whose
// sink is a real spool (SQLite, as the collector's), and C client threads,
// each one libcurl handle kept alive (as Event Grid reuses connections),
// posting deliveries of B distinct Key Vault events for S seconds. Prints
// deliveries/s, events/s and the answer latency (p50, p99, max), each
// delivery answered only after its batch is committed to the spool.
//
//   cmkwatch-bench-eventgrid [--clients C] [--batch B] [--seconds S]
//                            [--cert PEM --key PEM --ca PEM]   (HTTPS)
//
// The spool and the secret live in a fresh directory under /tmp.
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cmkwatch/collector/source.h"
#include "cmkwatch/collector/spool.h"

namespace {

using namespace cmkwatch;
using Clock = std::chrono::steady_clock;

class SpoolBatchSink final : public collector::SourceSink {
 public:
  explicit SpoolBatchSink(collector::Spool& spool) : spool_(spool) {}
  Status OnBatch(std::vector<Event>&& events, std::vector<QuarantineEntry>&& quarantined,
                 const std::vector<collector::FileCheckpoint>&) override {
    auto seq = spool_.Append(std::move(events), std::move(quarantined));
    return seq.ok() ? Status::Ok() : seq.status();
  }

 private:
  collector::Spool& spool_;
};

// B Key Vault KeyNewVersionCreated events with ids unique to (client, n).
std::string Delivery(int client, uint64_t n, int batch) {
  std::string out = "[";
  for (int i = 0; i < batch; ++i) {
    char id[64];
    std::snprintf(id, sizeof id, "%08x-%04x-4a5b-8c9d-%012llx", client, i, static_cast<unsigned long long>(n));
    if (i > 0) out += ',';
    out += R"({"id":")" + std::string(id) +
           R"(","topic":"/subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg-cmk/providers/)"
           R"(Microsoft.KeyVault/vaults/contoso-cmk-kv","subject":"ai-cmk-key","eventType":)"
           R"("Microsoft.KeyVault.KeyNewVersionCreated","eventTime":"2025-03-01T10:00:00.1234567Z","data":)"
           R"({"Id":"https://contoso-cmk-kv.vault.azure.net/keys/ai-cmk-key/5f0c3b1a9e8d4c7b8a6f5e4d3c2b1a09",)"
           R"("VaultName":"contoso-cmk-kv","ObjectType":"Key","ObjectName":"ai-cmk-key",)"
           R"("Version":"5f0c3b1a9e8d4c7b8a6f5e4d3c2b1a09","NBF":null,"EXP":null},"dataVersion":"1",)"
           R"("metadataVersion":"1"})";
  }
  return out + "]";
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

int main(int argc, char** argv) {
  int clients = 4, batch = 10;
  double seconds = 5;
  std::string cert, key, ca;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--clients") clients = std::atoi(argv[i + 1]);
    else if (a == "--batch") batch = std::atoi(argv[i + 1]);
    else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (a == "--cert") cert = argv[i + 1];
    else if (a == "--key") key = argv[i + 1];
    else if (a == "--ca") ca = argv[i + 1];
  }
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("cmkwatch-bench-eventgrid-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string secret = "bench-" + std::to_string(::getpid()) + "-" +
                             std::to_string(Clock::now().time_since_epoch().count());
  std::ofstream(dir / "secret") << secret << "\n";
  fs::permissions(dir / "secret", fs::perms::owner_read | fs::perms::owner_write);

  auto spool = collector::Spool::Open((dir / "bench.spool").string(), {"bench", uint64_t{8} << 30});
  if (!spool.ok()) {
    std::fprintf(stderr, "spool: %s\n", spool.status().ToString().c_str());
    return 1;
  }
  SpoolBatchSink sink(**spool);
  collector::EventGridSourceOptions o;
  o.listen = "127.0.0.1:0";
  o.secret.file = (dir / "secret").string();
  o.tls_cert_file = cert;
  o.tls_key_file = key;
  o.max_connections = std::max(clients, 1) + 4;
  collector::EventGridSource source(o, sink);
  if (Status s = source.Setup(); !s.ok()) {
    std::fprintf(stderr, "setup: %s\n", s.ToString().c_str());
    return 1;
  }
  std::atomic<bool> done{false};
  std::thread runner([&] {
    while (!done.load()) (void)source.RunOnce(100);
  });

  curl_global_init(CURL_GLOBAL_DEFAULT);
  const std::string url = std::string(cert.empty() ? "http" : "https") + "://127.0.0.1:" +
                          std::to_string(source.port()) + "/eventgrid?access_token=" + secret;
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::atomic<uint64_t> ok{0}, failed{0};
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      CURL* h = curl_easy_init();
      curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
      curl_easy_setopt(h, CURLOPT_URL, url.c_str());
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Discard);
      curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
      if (!ca.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca.c_str());
      std::vector<double> mine;
      for (uint64_t n = 0; Clock::now() < until; ++n) {
        const std::string body = Delivery(c, n, batch);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
        const auto t0 = Clock::now();
        long status = 0;
        if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        (status == 200 ? ok : failed).fetch_add(1);
      }
      curl_slist_free_all(headers);
      curl_easy_cleanup(h);
      std::lock_guard lock(mu);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  const auto start = Clock::now();
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  done.store(true);
  source.Stop();
  runner.join();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double p) {
    return latencies_ms.empty() ? 0.0 : latencies_ms[std::min(latencies_ms.size() - 1, static_cast<size_t>(p * static_cast<double>(latencies_ms.size())))];
  };
  const auto stats = source.Stats();
  std::printf("eventgrid %s: %d clients, %d events/delivery, %.1f s\n", cert.empty() ? "http" : "https", clients, batch,
              elapsed);
  std::printf("  deliveries: %llu ok, %llu failed; %.0f deliveries/s, %.0f events/s\n",
              static_cast<unsigned long long>(ok.load()), static_cast<unsigned long long>(failed.load()),
              static_cast<double>(ok.load()) / elapsed, static_cast<double>(ok.load()) * batch / elapsed);
  std::printf("  answer latency ms: p50 %.2f, p99 %.2f, max %.2f; connections %llu; events spooled %llu\n", pct(0.5),
              pct(0.99), latencies_ms.empty() ? 0.0 : latencies_ms.back(),
              static_cast<unsigned long long>(stats.connections), static_cast<unsigned long long>(stats.events));
  curl_global_cleanup();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return failed.load() == 0 ? 0 : 1;
}
