// cmkwatch-fuzz-seeds OUT_DIR PATH...: builds seed corpora for the fuzz
// targets from sample files, read in place (the shared corpus is never
// copied into the repository). Each framed record goes to the seed
// directories of parse_record, detect and the parser its format names; each
// whole file goes to reader and (behind a chunk-size byte) framing.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cmkwatch/collector/framing.h"
#include "cmkwatch/collector/parse.h"
#include "cmkwatch/common/hash.h"
#include "cmkwatch/common/wire.h"

#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;
using cmkwatch::collector::Format;

const char* TargetOf(Format f) {
  switch (f) {
    case Format::kActivityLog: return "activity_log";
    case Format::kKeyVaultAudit: return "keyvault_audit";
    case Format::kAzureDiagnostics: return "azure_diagnostics";
    case Format::kEventGrid: return "event_grid";
    case Format::kArm: return "arm";
    case Format::kAuto: break;
  }
  return nullptr;
}

void Write(const fs::path& dir, std::string_view bytes) {
  fs::create_directories(dir);
  const fs::path file = dir / (cmkwatch::HexLower(cmkwatch::Sha256(bytes), 8) + ".json");
  std::ofstream out(file, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

struct Sink final : cmkwatch::collector::FramerSink {
  fs::path root;
  size_t records = 0;
  void OnRecord(const cmkwatch::collector::FramedRecord& r) override {
    const std::string_view bytes = r.record.bytes;
    // A wire batch carrying the parsed event seeds the wire decoder.
    if (auto e = cmkwatch::collector::ParseRecord(bytes); e.ok()) {
      cmkwatch::wire::Batch batch;
      batch.collector_id = "seed";
      batch.sequence = records;
      batch.events.push_back(std::move(e).value());
      Write(root / "wire", cmkwatch::wire::EncodeBatch(batch));
    }
    Write(root / "parse_record", bytes);
    Write(root / "detect", bytes);
    if (auto f = cmkwatch::collector::DetectFormat(bytes); f.ok()) {
      if (const char* t = TargetOf(*f)) Write(root / t, bytes);
      // Event Grid events also seed the push endpoint, as a one-event
      // delivery body (mode byte 1: application/json).
      if (*f == cmkwatch::collector::Format::kEventGrid) {
        Write(root / "eventgrid_delivery", "\x01[" + std::string(bytes) + "]");
      }
    }
    ++records;
  }
  void OnError(const cmkwatch::collector::FrameError&) override {}
};

// Sample files often hold records inside other JSON (REST API examples under
// responses.200.body, recorded HTTP cassettes under response.body): every
// nested object that some parser recognizes becomes a seed too.
void SeedNested(const nlohmann::json& j, const fs::path& root, int depth) {
  if (depth > 12) return;
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (!s.empty() && (s.front() == '{' || s.front() == '[')) {
      auto inner = nlohmann::json::parse(s, nullptr, false);
      if (!inner.is_discarded()) SeedNested(inner, root, depth + 1);
    }
    return;
  }
  if (j.is_object() && depth > 0) {
    const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (text.size() <= 64 * 1024) {
      if (auto f = cmkwatch::collector::DetectFormat(text); f.ok()) {
        if (const char* t = TargetOf(*f)) {
          Write(root / t, text);
          Write(root / "parse_record", text);
        }
      }
    }
  }
  if (j.is_object() || j.is_array()) {
    for (const auto& item : j) SeedNested(item, root, depth + 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: cmkwatch-fuzz-seeds OUT_DIR PATH...\n");
    return 2;
  }
  Sink sink;
  sink.root = argv[1];
  // Every target gets a directory, even when no sample has its format.
  for (const char* t : {"activity_log", "keyvault_audit", "azure_diagnostics", "event_grid", "arm", "parse_record",
                        "detect", "framing", "reader", "text", "wire", "eventgrid_delivery"}) {
    fs::create_directories(sink.root / t);
  }
  size_t files = 0;
  for (int i = 2; i < argc; ++i) {
    std::error_code ec;
    std::vector<fs::path> paths;
    if (fs::is_directory(argv[i], ec)) {
      for (const auto& e : fs::recursive_directory_iterator(argv[i], ec)) {
        if (e.is_regular_file()) paths.push_back(e.path());
      }
    } else if (fs::is_regular_file(argv[i], ec)) {
      paths.emplace_back(argv[i]);
    }
    for (const auto& p : paths) {
      std::ifstream in(p, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      // Keep seeds small enough for fast fuzzing.
      if (bytes.size() > 64 * 1024) continue;
      ++files;
      cmkwatch::collector::Framer framer(sink);
      framer.Feed(bytes);
      framer.Finish();
      SeedNested(nlohmann::json::parse(bytes, nullptr, false), sink.root, 0);
      Write(sink.root / "reader", bytes);
      Write(sink.root / "framing", std::string(1, '\x07') + bytes);
      Write(sink.root / "text", bytes.substr(0, 256));
    }
  }
  std::printf("seeded from %zu files, %zu records\n", files, sink.records);
  return 0;
}
