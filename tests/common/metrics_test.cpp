// The Prometheus registry: the exact text a scraper parses, the bounds, and
// lock-free updates from several threads.
#include "cmkwatch/common/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

namespace cmkwatch::metrics {
namespace {

TEST(Metrics, RendersCountersAndGaugesExactly) {
  Registry r;
  auto events = r.AddCounter("cmkwatch_events_total", "Events received.", {{"source", "activity_log"}});
  auto other = r.AddCounter("cmkwatch_events_total", "Events received.", {{"source", "arm"}});
  auto depth = r.AddGauge("cmkwatch_spool_depth", "Batches waiting in the spool.");
  auto up = r.AddGauge("a_first_gauge", "Sorted before the others.");
  ASSERT_TRUE(events.ok() && other.ok() && depth.ok() && up.ok());
  events->Inc(3);
  events->Inc();
  other->Inc(10);
  depth->Set(2.5);
  depth->Add(-1);
  up->Set(1);

  EXPECT_EQ(r.Render(),
            "# HELP a_first_gauge Sorted before the others.\n"
            "# TYPE a_first_gauge gauge\n"
            "a_first_gauge 1\n"
            "# HELP cmkwatch_events_total Events received.\n"
            "# TYPE cmkwatch_events_total counter\n"
            "cmkwatch_events_total{source=\"activity_log\"} 4\n"
            "cmkwatch_events_total{source=\"arm\"} 10\n"
            "# HELP cmkwatch_spool_depth Batches waiting in the spool.\n"
            "# TYPE cmkwatch_spool_depth gauge\n"
            "cmkwatch_spool_depth 1.5\n");
  EXPECT_EQ(events->value(), 4u);
}

TEST(Metrics, SameSeriesTwiceIsOneSeriesWhateverTheLabelOrder) {
  Registry r;
  auto a = r.AddCounter("x_total", "h", {{"vault", "v1"}, {"key", "k1"}});
  auto b = r.AddCounter("x_total", "h", {{"key", "k1"}, {"vault", "v1"}});
  ASSERT_TRUE(a.ok() && b.ok());
  a->Inc();
  b->Inc();
  EXPECT_EQ(r.Render(), "# HELP x_total h\n# TYPE x_total counter\nx_total{key=\"k1\",vault=\"v1\"} 2\n");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  Registry r;
  auto c = r.AddCounter("odd_total", "Help with \\ and\nnewline and \"quotes\".",
                        {{"path", "C:\\keys\n\"prod\""}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(r.Render(),
            "# HELP odd_total Help with \\\\ and\\nnewline and \"quotes\".\n"
            "# TYPE odd_total counter\n"
            "odd_total{path=\"C:\\\\keys\\n\\\"prod\\\"\"} 0\n");
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Registry r;
  auto h = r.AddHistogram("batch_seconds", "Batch latency.", {0.25, 0.5, 2}, {{"stage", "store"}});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  for (double x : {0.125, 0.25, 0.375, 1.0, 1.5, 7.0}) h->Observe(x);
  EXPECT_EQ(r.Render(),
            "# HELP batch_seconds Batch latency.\n"
            "# TYPE batch_seconds histogram\n"
            "batch_seconds_bucket{stage=\"store\",le=\"0.25\"} 2\n"
            "batch_seconds_bucket{stage=\"store\",le=\"0.5\"} 3\n"
            "batch_seconds_bucket{stage=\"store\",le=\"2\"} 5\n"
            "batch_seconds_bucket{stage=\"store\",le=\"+Inf\"} 6\n"
            "batch_seconds_sum{stage=\"store\"} 10.25\n"
            "batch_seconds_count{stage=\"store\"} 6\n");
}

TEST(Metrics, HistogramWithoutLabelsAndNonFiniteValues) {
  Registry r;
  auto h = r.AddHistogram("h", "x", {1});
  auto g = r.AddGauge("g", "x");
  ASSERT_TRUE(h.ok() && g.ok());
  h->Observe(std::numeric_limits<double>::quiet_NaN());
  g->Set(-std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.Render(),
            "# HELP g x\n# TYPE g gauge\ng -Inf\n"
            "# HELP h x\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum NaN\nh_count 1\n");
}

TEST(Metrics, RefusesBadNamesLabelsAndConflicts) {
  Registry r;
  auto invalid = [](const Status& st) { return st.IsInvalidArgument(); };
  EXPECT_TRUE(invalid(r.AddCounter("events", "no _total suffix").status()));
  EXPECT_TRUE(invalid(r.AddCounter("1events_total", "starts with a digit").status()));
  EXPECT_TRUE(invalid(r.AddGauge("spool-depth", "dash").status()));
  EXPECT_TRUE(invalid(r.AddGauge("", "empty").status()));
  EXPECT_TRUE(invalid(r.AddGauge(std::string(201, 'a'), "too long").status()));
  EXPECT_TRUE(r.AddGauge("ns:sub_metric", "colons are allowed").ok());
  EXPECT_TRUE(invalid(r.AddGauge("g1", "h", {{"bad-label", "v"}}).status()));
  EXPECT_TRUE(invalid(r.AddGauge("g1", "h", {{"__reserved", "v"}}).status()));
  EXPECT_TRUE(invalid(r.AddGauge("g1", "h", {{"a", "v"}, {"a", "w"}}).status()));
  EXPECT_TRUE(invalid(r.AddGauge("g1", "h", {{"a", std::string(1025, 'v')}}).status()));
  EXPECT_TRUE(invalid(r.AddGauge("g1", "h", {{"a", "\xff\xfe"}}).status()));      // not UTF-8
  EXPECT_TRUE(invalid(r.AddGauge("g1", "h", {{"a", "\xed\xa0\x80"}}).status()));  // a surrogate
  EXPECT_TRUE(invalid(r.AddGauge("g1", "h", {{"a", "\xc0\xaf"}}).status()));      // overlong '/'
  EXPECT_TRUE(invalid(r.AddGauge("g1", "bad \xe2\x82 help").status()));
  EXPECT_TRUE(invalid(r.AddGauge("g1", "h", {{"a", "__overflow__"}}).status()));
  EXPECT_TRUE(invalid(r.AddHistogram("h1", "h", {1}, {{"le", "v"}}).status()));
  EXPECT_TRUE(invalid(r.AddHistogram("h1", "h", {}).status()));
  EXPECT_TRUE(invalid(r.AddHistogram("h1", "h", {2, 1}).status()));
  EXPECT_TRUE(invalid(r.AddHistogram("h1", "h", {1, std::numeric_limits<double>::infinity()}).status()));
  EXPECT_TRUE(invalid(r.AddGauge("cmkwatch_metrics_series_overflow_total", "reserved").status()));

  EXPECT_TRUE(r.AddGauge("utf8", "Schlüssel", {{"vault", "kv-münchen-€-\xf0\x9f\x94\x91"}}).ok());
  ASSERT_TRUE(r.AddCounter("c_total", "help", {{"a", "1"}}).ok());
  auto type_clash = r.AddGauge("c_total", "help", {{"a", "1"}});
  ASSERT_FALSE(type_clash.ok());
  EXPECT_NE(type_clash.status().message().find("already a counter"), std::string::npos);
  EXPECT_TRUE(invalid(r.AddCounter("c_total", "other help", {{"a", "1"}}).status()));
  EXPECT_TRUE(invalid(r.AddCounter("c_total", "help", {{"b", "1"}}).status()));
  ASSERT_TRUE(r.AddHistogram("h2", "h", {1, 2}).ok());
  EXPECT_TRUE(invalid(r.AddHistogram("h2", "h", {1, 3}).status()));
  EXPECT_TRUE(invalid(r.AddCallbackGauge("cb", "h", nullptr)));
  ASSERT_TRUE(r.AddCallbackGauge("cb", "h", [] { return 1.0; }).ok());
  EXPECT_TRUE(invalid(r.AddCallbackGauge("cb", "h", [] { return 2.0; })));
  // Refused creations left nothing behind.
  EXPECT_EQ(r.Render().find("events"), std::string::npos);
  EXPECT_EQ(r.Render().find("g1"), std::string::npos);
}

TEST(Metrics, LabelCombinationsBeyondTheCapFoldIntoOneCountedSeries) {
  Registry r(/*max_series_per_metric=*/2);
  std::vector<Counter> handles;
  for (const char* key : {"k1", "k2", "k3", "k4", "k3"}) {
    auto c = r.AddCounter("ops_total", "Operations.", {{"key", key}});
    ASSERT_TRUE(c.ok());
    handles.push_back(*c);
  }
  for (const Counter& c : handles) c.Inc();
  EXPECT_EQ(r.Render(),
            "# HELP ops_total Operations.\n"
            "# TYPE ops_total counter\n"
            "ops_total{key=\"k1\"} 1\n"
            "ops_total{key=\"k2\"} 1\n"
            "ops_total{key=\"__overflow__\"} 3\n"
            "# HELP cmkwatch_metrics_series_overflow_total Series folded into the __overflow__ series because the "
            "metric reached its series cap.\n"
            "# TYPE cmkwatch_metrics_series_overflow_total counter\n"
            "cmkwatch_metrics_series_overflow_total{metric=\"ops_total\"} 3\n");
  // Existing series stay reachable at the cap.
  auto k1 = r.AddCounter("ops_total", "Operations.", {{"key", "k1"}});
  ASSERT_TRUE(k1.ok());
  EXPECT_EQ(k1->value(), 1u);
  // A function cannot be folded: refused instead.
  ASSERT_TRUE(r.AddCallbackGauge("probe", "p", [] { return 1.0; }, {{"db", "a"}}).ok());
  ASSERT_TRUE(r.AddCallbackGauge("probe", "p", [] { return 1.0; }, {{"db", "b"}}).ok());
  EXPECT_TRUE(r.AddCallbackGauge("probe", "p", [] { return 1.0; }, {{"db", "c"}}).IsLimitExceeded());
}

TEST(Metrics, DefaultCapIsTenThousandSeries) {
  Registry r;
  for (int i = 0; i < 10'001; ++i) {
    ASSERT_TRUE(r.AddGauge("g", "h", {{"i", std::to_string(i)}}).ok());
  }
  const std::string text = r.Render();
  EXPECT_NE(text.find("g{i=\"9999\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("g{i=\"__overflow__\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("cmkwatch_metrics_series_overflow_total{metric=\"g\"} 1\n"), std::string::npos);
}

TEST(Metrics, ConcurrentUpdatesAllCount) {
  Registry r;
  auto c = r.AddCounter("hits_total", "h");
  auto g = r.AddGauge("level", "h");
  auto h = r.AddHistogram("sizes", "h", {10, 100});
  ASSERT_TRUE(c.ok() && g.ok() && h.ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half the threads look their handles up again, as separate
      // components would, while the others update.
      Counter mine = *c;
      if (t % 2 == 0) mine = *r.AddCounter("hits_total", "h");
      for (int i = 0; i < kPerThread; ++i) {
        mine.Inc(2);
        g->Add(1);
        h->Observe(i % 2 == 0 ? 5 : 50);
        if (i % 10'000 == 0) (void)r.Render();
      }
    });
  }
  for (auto& th : threads) th.join();
  const uint64_t n = uint64_t{kThreads} * kPerThread;
  EXPECT_EQ(c->value(), 2 * n);
  EXPECT_EQ(g->value(), static_cast<double>(n));
  const std::string text = r.Render();
  EXPECT_NE(text.find("sizes_bucket{le=\"10\"} " + std::to_string(n / 2) + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("sizes_count " + std::to_string(n) + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("sizes_sum " + std::to_string(n / 2 * 55) + "\n"), std::string::npos) << text;
}

TEST(Metrics, CallbackGaugeIsEvaluatedAtEachRender) {
  Registry r;
  std::atomic<int> calls{0};
  double file_size = 4096;
  ASSERT_TRUE(r.AddCallbackGauge("db_bytes", "Timeline file size.", [&] {
                   ++calls;
                   return file_size;
                 }, {{"db", "timeline"}}).ok());
  EXPECT_EQ(calls.load(), 0);  // not at creation
  EXPECT_NE(r.Render().find("db_bytes{db=\"timeline\"} 4096\n"), std::string::npos);
  file_size = 8192.5;
  EXPECT_NE(r.Render().find("db_bytes{db=\"timeline\"} 8192.5\n"), std::string::npos);
  EXPECT_EQ(calls.load(), 2);
}

TEST(Metrics, CallbackMayUseTheRegistryAndAThrowingOneRendersNaN) {
  Registry r;
  auto c = r.AddCounter("renders_total", "h");
  ASSERT_TRUE(c.ok());
  // Runs without the registry's lock: adding a metric from inside must not
  // deadlock.
  ASSERT_TRUE(r.AddCallbackGauge("self", "h", [&r] {
                   (void)r.AddGauge("late", "added during a render");
                   return 1.0;
                 }).ok());
  ASSERT_TRUE(r.AddCallbackGauge("broken", "h", []() -> double { throw std::runtime_error("probe failed"); }).ok());
  const std::string text = r.Render();
  EXPECT_NE(text.find("broken NaN\n"), std::string::npos) << text;
  EXPECT_NE(r.Render().find("late 0\n"), std::string::npos);
}

TEST(Metrics, DefaultHandlesDoNothing) {
  Counter c;
  Gauge g;
  Histogram h;
  c.Inc(5);
  g.Set(3);
  g.Add(1);
  h.Observe(1);
  EXPECT_EQ(c.value(), 0u);
  EXPECT_EQ(g.value(), 0.0);
}

}  // namespace
}  // namespace cmkwatch::metrics
