// Framing: every container shape Azure exports, recovery after bad records,
// bounded memory, and chunk-boundary independence.
#include "cmkwatch/collector/framing.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cmkwatch::collector {
namespace {

struct Collected {
  std::vector<std::string> records;
  std::vector<uint64_t> offsets;
  std::vector<uint64_t> lines;
  std::vector<FrameError> errors;
};

class CollectingSink final : public FramerSink {
 public:
  explicit CollectingSink(Collected& out) : out_(out) {}
  void OnRecord(const FramedRecord& r) override {
    out_.records.emplace_back(r.record.bytes);
    out_.offsets.push_back(r.offset);
    out_.lines.push_back(r.line);
  }
  void OnError(const FrameError& e) override { out_.errors.push_back(e); }

 private:
  Collected& out_;
};

Collected Frame(std::string_view input, size_t chunk = 0, FramerOptions options = {}) {
  Collected out;
  CollectingSink sink(out);
  Framer framer(sink, options);
  if (chunk == 0) {
    framer.Feed(input);
  } else {
    for (size_t i = 0; i < input.size(); i += chunk) framer.Feed(input.substr(i, chunk));
  }
  framer.Finish();
  return out;
}

TEST(Framing, JsonArrayGivesEachElement) {
  const std::string in = R"([{"a":1}, {"b":[1,2,{"c":"]"}]},
  {"d":"x"}])";
  auto out = Frame(in);
  ASSERT_EQ(out.records.size(), 3u);
  EXPECT_EQ(out.records[0], R"({"a":1})");
  EXPECT_EQ(out.records[1], R"({"b":[1,2,{"c":"]"}]})");
  EXPECT_EQ(out.records[2], R"({"d":"x"})");
  EXPECT_EQ(out.offsets[1], in.find("{\"b\""));
  EXPECT_EQ(out.lines[2], 2u);
  EXPECT_TRUE(out.errors.empty());
}

TEST(Framing, RecordsValueAndDataWrappersAreLists) {
  auto out = Frame(R"({"records":[{"x":1},{"y":2}]})");
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_EQ(out.records[1], R"({"y":2})");

  out = Frame(R"({"value":[{"id":"/subscriptions/1"}],"nextLink":{"not":"a record"}})");
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_TRUE(out.errors.empty());

  // Resource Graph puts "count" before "data".
  out = Frame(R"({"count":2,"data":[{"a":1},{"b":2}],"skip_token":null})");
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_TRUE(out.errors.empty());
}

TEST(Framing, ObjectWithDataObjectIsARecordNotAWrapper) {
  // An Event Grid event has "data" too, but as an object.
  const std::string ev = R"({"id":"1","data":{"Id":"x"},"eventType":"t"})";
  auto out = Frame(ev);
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(out.records[0], ev);
  // A key that merely starts like a wrapper key is no wrapper.
  out = Frame(R"({"recordsX":[1,2]})");
  ASSERT_EQ(out.records.size(), 1u);
}

TEST(Framing, JsonLinesWithBomAndCrlf) {
  const std::string in = "\xEF\xBB\xBF{\"a\":1}\r\n{\"b\":2}\r\n\r\n{\"c\":3}";
  auto out = Frame(in);
  ASSERT_EQ(out.records.size(), 3u);
  EXPECT_EQ(out.records[0], "{\"a\":1}");
  EXPECT_EQ(out.offsets[0], 3u);
  EXPECT_EQ(out.lines[1], 2u);
  EXPECT_EQ(out.lines[2], 4u);
  EXPECT_TRUE(out.errors.empty());
}

TEST(Framing, ConcatenatedPrettyDocuments) {
  const std::string in = "{\n  \"a\": 1\n}\n{\n  \"b\": {\n    \"c\": 2\n  }\n}{\"d\":3}";
  auto out = Frame(in);
  ASSERT_EQ(out.records.size(), 3u);
  EXPECT_EQ(out.lines[1], 4u);
  EXPECT_TRUE(out.errors.empty());
}

TEST(Framing, TruncatedJsonLineCostsOnlyItself) {
  const std::string in = "{\"a\":1}\n{\"b\":{\"x\":2,\n{\"c\":3}\n";
  auto out = Frame(in);
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_EQ(out.records[1], "{\"c\":3}");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].line, 2u);
  EXPECT_EQ(out.errors[0].offset, 8u);
  EXPECT_NE(out.errors[0].reason.find("truncated"), std::string::npos);
}

TEST(Framing, LineBreakInsideStringEndsTheBrokenRecord) {
  // Pretty-printed array: the broken element is dropped, its neighbours kept.
  const std::string in = "[\n {\"a\":\"ok\"},\n {\"b\":\"cut\n {\"c\":\"ok\"}\n]";
  auto out = Frame(in);
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_EQ(out.records[0], "{\"a\":\"ok\"}");
  EXPECT_EQ(out.records[1], "{\"c\":\"ok\"}");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].line, 3u);
  EXPECT_NE(out.errors[0].reason.find("string"), std::string::npos);
}

TEST(Framing, GarbageBetweenRecordsIsReportedWithItsLine) {
  const std::string in = "{\"a\":1}\nthis is not json\n{\"b\":2}\n";
  auto out = Frame(in);
  ASSERT_EQ(out.records.size(), 2u);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].line, 2u);
  EXPECT_EQ(out.errors[0].offset, 8u);
  EXPECT_NE(out.errors[0].reason.find("'t'"), std::string::npos);
}

TEST(Framing, OversizedRecordIsSkippedWithoutBufferingIt) {
  FramerOptions options;
  options.max_record_bytes = 1024;
  std::string big = "{\"big\":\"" + std::string(100'000, 'x') + "\"}";
  const std::string in = "{\"a\":1}\n" + big + "\n{\"b\":2}\n";
  for (size_t chunk : {size_t{0}, size_t{4096}, size_t{7}}) {
    auto out = Frame(in, chunk, options);
    ASSERT_EQ(out.records.size(), 2u) << "chunk " << chunk;
    ASSERT_EQ(out.errors.size(), 1u);
    EXPECT_EQ(out.errors[0].line, 2u);
    EXPECT_NE(out.errors[0].reason.find("1024-byte limit"), std::string::npos) << out.errors[0].reason;
  }
}

TEST(Framing, TooDeepRecordIsReported) {
  FramerOptions options;
  options.max_depth = 8;
  std::string deep = "{\"a\":" + std::string(20, '[') + std::string(20, ']') + "}";
  auto out = Frame("{\"ok\":1}\n" + deep + "\n{\"ok\":2}", 0, options);
  ASSERT_EQ(out.records.size(), 2u);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_NE(out.errors[0].reason.find("deeper than 8"), std::string::npos);
}

TEST(Framing, NonObjectListElementsAreReported) {
  auto out = Frame(R"([{"a":1}, 42, [1,2], "s", {"b":2}])");
  ASSERT_EQ(out.records.size(), 2u);
  EXPECT_EQ(out.errors.size(), 3u);
}

TEST(Framing, TruncatedAtEndOfInputIsReported) {
  auto out = Frame("{\"a\":1}\n{\"b\":\"unfinished");
  ASSERT_EQ(out.records.size(), 1u);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_NE(out.errors[0].reason.find("truncated"), std::string::npos);
}

TEST(Framing, ChunkBoundariesDoNotChangeTheResult) {
  const std::string in =
      "\xEF\xBB\xBF{\"records\":[{\"a\":\"x\\\"y\"},{\"b\":[{\"c\":1}]}]}\n"
      "[{\"d\":2}]\n{\"e\":\"\\\\\"}\nnot json\n{\"value\":[{\"f\":1}]}";
  const auto whole = Frame(in);
  ASSERT_EQ(whole.records.size(), 5u);
  ASSERT_EQ(whole.errors.size(), 1u);
  for (size_t chunk = 1; chunk < 24; ++chunk) {
    const auto split = Frame(in, chunk);
    EXPECT_EQ(split.records, whole.records) << "chunk " << chunk;
    EXPECT_EQ(split.offsets, whole.offsets) << "chunk " << chunk;
    EXPECT_EQ(split.lines, whole.lines) << "chunk " << chunk;
    EXPECT_EQ(split.errors.size(), whole.errors.size()) << "chunk " << chunk;
  }
}

TEST(Framing, RecordsHandedOutInPlaceHavePadding) {
  // With padding promised, records are views into the caller's buffer.
  std::string buffer = "{\"a\":1}\n{\"b\":2}";
  const size_t len = buffer.size();
  buffer.append(kPadding, ' ');
  std::vector<const char*> starts;
  struct Sink final : FramerSink {
    std::vector<const char*>* starts;
    void OnRecord(const FramedRecord& r) override { starts->push_back(r.record.bytes.data()); }
    void OnError(const FrameError&) override {}
  } sink;
  sink.starts = &starts;
  Framer framer(sink);
  framer.Feed(std::string_view(buffer.data(), len), kPadding);
  framer.Finish();
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[0], buffer.data());
  EXPECT_EQ(starts[1], buffer.data() + 8);
}

}  // namespace
}  // namespace cmkwatch::collector

namespace cmkwatch::collector {
namespace {

TEST(Framing, OverlongStringIsReported) {
  FramerOptions options;
  options.max_string_bytes = 64;
  const std::string in = "{\"a\":\"short\"}\n{\"b\":\"" + std::string(200, 'y') + "\"}\n{\"c\":1}\n";
  for (size_t chunk : {size_t{0}, size_t{5}}) {
    auto out = Frame(in, chunk, options);
    ASSERT_EQ(out.records.size(), 2u);
    ASSERT_EQ(out.errors.size(), 1u);
    EXPECT_EQ(out.errors[0].line, 2u);
    EXPECT_NE(out.errors[0].reason.find("64-byte limit"), std::string::npos) << out.errors[0].reason;
  }
}

// Records long enough for the 64-byte block scanner, cut at every chunk
// size from 1 (the byte loop alone) past two blocks: every hand-off between
// the two (escapes and backslash runs across block ends, a wrapper key at
// depth 1 after long members, newlines inside and outside strings, the
// string-length window) must give what the whole input gives.
TEST(Framing, BlockScannerAgreesWithTheByteLoop) {
  const std::string pad(70, 'p');
  const std::string in =
      "{\"k\":\"" + pad + "\",\"v\":{\"w\":[\"" + pad + "\\\\\\\"\\\\\",{\"x\":\"]}\"}],\"y\":\"\\\\\\\\\"},"
      "\"z\":1,\"data\":\"" + pad + "\",\"records\":[{\"r\":\"" + pad + "\"},{\"s\":\"\\\"" + pad + "\"}]}\n"
      "{\"a\":\"" + pad + "\\u005c\",\"b\":{\"c\":{\"d\":[1,2,3]}},\"e\":\"" + pad + "\"}\n"
      "{\"broken\":\"" + pad + "\n"
      "{\"f\":\"" + pad + "\",\"g\":{\"h\":\"" + pad + "\"}}\r\n"
      "[{\"i\":\"" + pad + "\",\"j\":{\"k\":\"" + pad + "\"}},\n  {\"l\" : \"" + pad + "\"}]\n"
      "{\"records\" :\n [ {\"m\":\"" + pad + pad + "\"} ] }\n"
      "{\"n\":\"" + pad + "\" \\ ,\"o\":{\"p\":\"" + pad + "\"}}\n"
      "{\"q\":\"" + pad + pad + pad + "\"}\n";
  FramerOptions options;
  options.max_string_bytes = 150;  // the 210-byte string is over it
  const auto whole = Frame(in, 0, options);
  EXPECT_EQ(whole.records.size(), 8u);
  ASSERT_FALSE(whole.errors.empty());
  for (size_t chunk = 1; chunk < 140; ++chunk) {
    const auto split = Frame(in, chunk, options);
    EXPECT_EQ(split.records, whole.records) << "chunk " << chunk;
    EXPECT_EQ(split.offsets, whole.offsets) << "chunk " << chunk;
    EXPECT_EQ(split.lines, whole.lines) << "chunk " << chunk;
    ASSERT_EQ(split.errors.size(), whole.errors.size()) << "chunk " << chunk;
    for (size_t e = 0; e < whole.errors.size(); ++e) {
      EXPECT_EQ(split.errors[e].offset, whole.errors[e].offset) << "chunk " << chunk << " error " << e;
      EXPECT_EQ(split.errors[e].line, whole.errors[e].line) << "chunk " << chunk << " error " << e;
      EXPECT_EQ(split.errors[e].reason, whole.errors[e].reason) << "chunk " << chunk << " error " << e;
    }
  }
}

}  // namespace
}  // namespace cmkwatch::collector
