// The YAML document layer and the typed reader: what an operator sees when a
// configuration file is wrong, and the limits that keep a hostile file cheap.
#include "cmkwatch/common/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace cmkwatch::config {
namespace {

Node ParseOrFail(std::string_view text) {
  auto r = ParseYaml(text, "t.yaml");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Node{};
}

std::string ErrorOf(std::string_view text) {
  auto r = ParseYaml(text, "t.yaml");
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

TEST(ParseYaml, TreeCarriesLinesAndColumns) {
  const Node root = ParseOrFail(
      "db: /var/lib/x.db\n"
      "link:\n"
      "  heartbeat_ivl_ms: 1000\n"
      "clients:\n"
      "  - { id: a, public_key_file: 'k a' }\n"
      "  - plain\n");
  ASSERT_TRUE(root.IsMapping());
  ASSERT_EQ(root.children.size(), 3u);
  const Node* db = root.Find("db");
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->value, "/var/lib/x.db");
  EXPECT_EQ(db->mark.line, 1u);
  EXPECT_EQ(db->mark.column, 5u);
  EXPECT_EQ(db->key_mark.column, 1u);
  const Node* ivl = root.Find("link")->Find("heartbeat_ivl_ms");
  ASSERT_NE(ivl, nullptr);
  EXPECT_EQ(ivl->mark.line, 3u);
  EXPECT_EQ(ivl->mark.column, 21u);
  EXPECT_EQ(ivl->key_mark.column, 3u);
  const Node* clients = root.Find("clients");
  ASSERT_TRUE(clients->IsSequence());
  ASSERT_EQ(clients->children.size(), 2u);
  const Node& first = clients->children[0];
  EXPECT_TRUE(first.IsMapping());
  EXPECT_EQ(first.mark.line, 5u);
  EXPECT_EQ(first.mark.column, 5u);
  const Node* key = first.Find("public_key_file");
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->value, "k a");
  EXPECT_FALSE(key->plain);  // quoted
  EXPECT_EQ(clients->children[1].value, "plain");
  EXPECT_TRUE(clients->children[1].plain);
  EXPECT_EQ(clients->children[1].mark.line, 6u);
}

TEST(ParseYaml, EmptyFileAndEmptyValuesAreNull) {
  EXPECT_TRUE(ParseOrFail("").IsNull());
  EXPECT_TRUE(ParseOrFail("# only a comment\n").IsNull());
  const Node root = ParseOrFail("a:\nb: ~\nc: \"\"\n");
  EXPECT_TRUE(root.Find("a")->IsNull());
  EXPECT_TRUE(root.Find("b")->IsNull());
  EXPECT_FALSE(root.Find("c")->IsNull());  // a quoted empty string is a string
}

TEST(ParseYaml, SyntaxErrorNamesFileLineAndColumn) {
  const std::string e = ErrorOf("a: 1\nb: [1, 2\nc: 3\n");
  EXPECT_EQ(e.rfind("t.yaml:", 0), 0u) << e;
  EXPECT_NE(e.find("t.yaml:3:"), std::string::npos) << e;
  const std::string tab = ErrorOf("a:\n\tb: 1\n");
  EXPECT_EQ(tab.rfind("t.yaml:2:", 0), 0u) << tab;
}

TEST(ParseYaml, InvalidUtf8IsRefusedWithItsPosition) {
  const std::string e = ErrorOf(std::string("a: 1\nb: \xff\xfe\n"));
  EXPECT_EQ(e.rfind("t.yaml:2:4:", 0), 0u) << e;
  EXPECT_NE(e.find("UTF-8"), std::string::npos) << e;
  // Lines counted as YAML counts them (CR LF, lone CR), columns in characters.
  const std::string crlf = ErrorOf(std::string("a: 1\r\nb: 2\rc: \u00e9\u00e9\xff\n"));
  EXPECT_EQ(crlf.rfind("t.yaml:3:6:", 0), 0u) << crlf;
  // UTF-16 (with its byte order mark) is refused rather than half-understood.
  const std::string utf16("\xff\xfe" "a\0:\0 \0" "1\0", 10);
  EXPECT_NE(ErrorOf(utf16).find("UTF-8"), std::string::npos);
}

TEST(ParseYaml, AnchorsAndAliasesAreRefused) {
  // The first step of a "billion laughs" file.
  const std::string e = ErrorOf("a: &x [1, 2]\nb: [*x, *x]\n");
  EXPECT_EQ(e.rfind("t.yaml:1:4:", 0), 0u) << e;
  EXPECT_NE(e.find("anchors"), std::string::npos) << e;
  const std::string alias = ErrorOf("b: *x\n");
  EXPECT_NE(alias.find("aliases"), std::string::npos) << alias;
}

TEST(ParseYaml, DuplicateKeyIsRefused) {
  const std::string e = ErrorOf("db: a\nbind: b\ndb: c\n");
  EXPECT_EQ(e, "t.yaml:3:1: duplicate key 'db'");
  // Nested mappings keep their own key sets.
  ParseOrFail("a: {x: 1}\nb: {x: 2}\n");
}

TEST(ParseYaml, SecondDocumentTagsAndComplexKeysAreRefused) {
  EXPECT_NE(ErrorOf("a: 1\n---\nb: 2\n").find("t.yaml:2:1: a second document"), std::string::npos);
  EXPECT_NE(ErrorOf("a: !!binary aGk=\n").find("tags"), std::string::npos);
  EXPECT_NE(ErrorOf("? [a, b]\n: 1\n").find("mapping key must be a plain value"), std::string::npos);
}

TEST(ParseYaml, DepthIsCapped) {
  const std::string ok = std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']');
  ParseOrFail(ok);
  const std::string deep = std::string(kMaxDepth + 1, '[') + std::string(kMaxDepth + 1, ']');
  auto r = ParseYaml(deep, "t.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsLimitExceeded());
  EXPECT_EQ(r.status().message(), "t.yaml:1:33: nested deeper than 32 levels");
  // Far deeper than any stack would take if something recursed.
  const std::string hostile(200'000, '[');
  EXPECT_TRUE(ParseYaml(hostile, "t.yaml").status().IsLimitExceeded());
}

TEST(ParseYaml, SizesAreCapped) {
  Limits limits;
  limits.max_document_bytes = 64;
  EXPECT_TRUE(ParseYaml(std::string(65, '#'), "t.yaml", limits).status().IsLimitExceeded());
  EXPECT_TRUE(ParseYaml("a: " + std::string(kMaxScalarBytes + 1, 'x'), "t.yaml").status().IsLimitExceeded());
  ParseOrFail("a: " + std::string(kMaxScalarBytes, 'x'));
  limits = Limits{};
  limits.max_nodes = 10;
  auto r = ParseYaml("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", "t.yaml", limits);  // 11 nodes with the list
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsLimitExceeded()) << r.status().ToString();
}

// A small schema, read the way the daemons read theirs.
struct Sample {
  std::string name = "default";
  int64_t count = 7;
  bool on = false;
  uint64_t bytes = 1;
  log::Level level = log::Level::kInfo;
};

Status ReadSample(std::string_view text, Sample* s) {
  auto doc = ParseYaml(text, "s.yaml");
  if (!doc.ok()) return doc.status();
  Problems problems("s.yaml");
  MapReader r(*doc, problems);
  r.String("name", &s->name, Need::kRequired);
  r.Integer("count", &s->count, 0, 100);
  r.Bool("on", &s->on);
  r.Size("bytes", &s->bytes, 1, int64_t{1} << 40);
  r.Enum("level", &s->level, log::LevelFromName, "debug, info, warning, error");
  r.Finish();
  return problems.ToStatus();
}

TEST(MapReader, ReadsTypedValuesAndKeepsDefaults) {
  Sample s;
  Status all = ReadSample("name: x\ncount: 1_0\non: Yes\nbytes: 64MiB\nlevel: debug\n", &s);
  ASSERT_TRUE(all.ok()) << all.ToString();
  EXPECT_EQ(s.name, "x");
  EXPECT_EQ(s.count, 10);
  EXPECT_TRUE(s.on);
  EXPECT_EQ(s.bytes, uint64_t{64} << 20);
  EXPECT_EQ(s.level, log::Level::kDebug);
  Sample t;
  Status st = ReadSample("name: x\ncount: 42\non: no\nbytes: 1 GiB\n", &t);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(t.count, 42);
  EXPECT_FALSE(t.on);
  EXPECT_EQ(t.bytes, uint64_t{1} << 30);
  EXPECT_EQ(t.level, log::Level::kInfo);  // absent: the default stays
}

TEST(MapReader, ReportsEveryProblemWithItsLine) {
  Sample s;
  const Status st = ReadSample(
      "count: abc\n"        // 1
      "on: \"true\"\n"      // 2
      "bytes: 5 MB\n"       // 3
      "level: loud\n"       // 4
      "cuont: 3\n",         // 5
      &s);
  ASSERT_TRUE(st.IsInvalidArgument());
  const std::string& m = st.message();
  EXPECT_NE(m.find("s.yaml:1:1: missing required key 'name'"), std::string::npos) << m;
  EXPECT_NE(m.find("s.yaml:1:8: 'count': expected an integer, got 'abc'"), std::string::npos) << m;
  EXPECT_NE(m.find("s.yaml:2:5: 'on': expected true or false, got 'true' (quoted, so a string)"), std::string::npos)
      << m;
  EXPECT_NE(m.find("s.yaml:3:8: 'bytes':"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown unit"), std::string::npos) << m;
  EXPECT_NE(m.find("s.yaml:4:8: 'level': expected one of: debug, info, warning, error, got 'loud'"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("s.yaml:5:1: unknown key 'cuont' in this section (did you mean 'count'?); valid keys: name, "
                   "count, on, bytes, level"),
            std::string::npos)
      << m;
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 5) << m;  // six problems, one per line
  // Nothing was taken from a wrong value.
  EXPECT_EQ(s.count, 7);
  EXPECT_EQ(s.bytes, 1u);
}

TEST(MapReader, RangesAndOverflow) {
  Sample s;
  const std::string m = ReadSample("name: x\ncount: 101\n", &s).message();
  EXPECT_NE(m.find("s.yaml:2:8: 'count': 101 is out of range 0..100"), std::string::npos) << m;
  const std::string big = ReadSample("name: x\ncount: 99999999999999999999\n", &s).message();
  EXPECT_NE(big.find("too large"), std::string::npos) << big;
  const std::string neg = ReadSample("name: x\ncount: -1\n", &s).message();
  EXPECT_NE(neg.find("-1 is out of range"), std::string::npos) << neg;
  const std::string tib = ReadSample("name: x\nbytes: 2TiB\n", &s).message();
  EXPECT_NE(tib.find("out of range"), std::string::npos) << tib;
}

TEST(MapReader, WrongShapesAreReported) {
  Sample s;
  const std::string top = ReadSample("- a\n- b\n", &s).message();
  EXPECT_NE(top.find("s.yaml:1:1: expected this section to be a mapping"), std::string::npos) << top;
  const std::string nested = ReadSample("name: [a]\ncount: {a: 1}\n", &s).message();
  EXPECT_NE(nested.find("s.yaml:1:7: 'name': expected a string, got a list"), std::string::npos) << nested;
  EXPECT_NE(nested.find("s.yaml:2:8: 'count': expected an integer, got a mapping"), std::string::npos) << nested;
}

TEST(MapReader, ProblemsAreBounded) {
  std::string text = "name: x\n";
  for (int i = 0; i < 300; ++i) text += "k" + std::to_string(i) + ": 1\n";
  Sample s;
  const std::string m = ReadSample(text, &s).message();
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), static_cast<long>(kMaxProblems)) << m.substr(0, 200);
  EXPECT_NE(m.find("... and 200 more problems"), std::string::npos);
}

TEST(Config, ResolvePathAndFileReading) {
  EXPECT_EQ(ResolvePath("/etc/cmkwatch/analyzer.yaml", "keys/a.key"), "/etc/cmkwatch/keys/a.key");
  EXPECT_EQ(ResolvePath("/etc/cmkwatch/analyzer.yaml", "/var/lib/x.db"), "/var/lib/x.db");
  EXPECT_EQ(ResolvePath("/etc/cmkwatch/analyzer.yaml", "../x.db"), "/etc/x.db");

  const auto dir = std::filesystem::path(::testing::TempDir()) / "config_test_read";
  std::filesystem::create_directories(dir);
  const auto file = (dir / "big.yaml").string();
  {
    std::ofstream out(file);
    out << std::string(100, '#');
  }
  EXPECT_TRUE(ReadConfigFile(file, 100).ok());
  EXPECT_TRUE(ReadConfigFile(file, 99).status().IsLimitExceeded());
  EXPECT_TRUE(ReadConfigFile((dir / "missing.yaml").string()).status().IsNotFound());
  EXPECT_FALSE(ReadConfigFile(dir.string()).ok());  // a directory is not a config file
  std::filesystem::remove_all(dir);
}

TEST(Config, IdsAndEndpoints) {
  EXPECT_TRUE(IsValidId("kv-prod.eu_1"));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId("kv prod"));
  EXPECT_FALSE(IsValidId(std::string(kMaxIdBytes + 1, 'a')));
  EXPECT_EQ(EndpointProblem("tcp://127.0.0.1:5570"), "");
  EXPECT_EQ(EndpointProblem("tcp://*:5570"), "");
  EXPECT_EQ(EndpointProblem("ipc:///run/cmkwatch/a.sock"), "");
  EXPECT_NE(EndpointProblem("127.0.0.1:5570"), "");
  EXPECT_NE(EndpointProblem("tcp://127.0.0.1:99999"), "");
  EXPECT_NE(EndpointProblem("tcp://127.0.0.1"), "");
}

}  // namespace
}  // namespace cmkwatch::config
