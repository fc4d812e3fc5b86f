// A Prometheus metrics registry: counters, gauges, histograms and gauges
// computed at scrape time, rendered in the text exposition format 0.0.4.
//
//   metrics::Registry registry;
//   auto stored = registry.AddCounter("cmkwatch_events_stored_total", "Events committed to the timeline.");
//   if (!stored.ok()) return stored.status();
//   stored->Inc(batch.events.size());          // one relaxed atomic add
//   std::string text = registry.Render();        // what GET /metrics serves
//
// Series. A metric (family) has a name, help text, a type and a fixed set of
// label names; each distinct set of label values is one series. Adding an
// existing series again returns the same handle, so components may look
// their handles up independently. Label names are sorted on the way in, so
// the order a caller lists them in does not matter.
//
// Bounds. A family holds at most max_series_per_metric series. Beyond the cap
// every new label combination folds into one overflow series (every label
// value kOverflowLabelValue) and the fold is counted in
// cmkwatch_metrics_series_overflow_total{metric="<name>"}, so a label fed
// from outside input cannot grow memory without bound, and the loss shows.
// Names, help texts and label values have size limits too (InvalidArgument).
//
// Threading. Every Registry method may be called from any thread. Handles
// are cheap to copy, stay valid as long as the Registry lives (series are
// never removed), and update with relaxed atomics: no lock on the hot path.
// A default-constructed handle does nothing, which lets a class hold one
// before it is wired to a registry.
//
// Render order is deterministic: families by name, series by label values.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cmkwatch/common/status.h"

namespace cmkwatch::metrics {

// Label name → value. Names match [a-zA-Z_][a-zA-Z0-9_]* and may not start
// with "__" (reserved by Prometheus); histograms may not use "le".
using Labels = std::vector<std::pair<std::string, std::string>>;

inline constexpr size_t kDefaultMaxSeriesPerMetric = 10'000;
inline constexpr size_t kMaxNameBytes = 200;
inline constexpr size_t kMaxHelpBytes = 1024;
inline constexpr size_t kMaxLabelValueBytes = 1024;
inline constexpr size_t kMaxLabelsPerSeries = 16;
inline constexpr size_t kMaxHistogramBuckets = 64;
inline constexpr std::string_view kOverflowLabelValue = "__overflow__";

// True for a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*, at most
// kMaxNameBytes.
bool IsValidMetricName(std::string_view name);

namespace internal {
struct HistogramCell;
}  // namespace internal

// A monotonically increasing count (of events, bytes, errors).
class Counter {
 public:
  Counter() = default;
  void Inc(uint64_t n = 1) const {
    if (cell_ != nullptr) cell_->fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t value() const { return cell_ != nullptr ? cell_->load(std::memory_order_relaxed) : 0; }

 private:
  friend class Registry;
  explicit Counter(std::atomic<uint64_t>* cell) : cell_(cell) {}
  std::atomic<uint64_t>* cell_ = nullptr;
};

// A value that goes up and down (queue depth, last batch size).
class Gauge {
 public:
  Gauge() = default;
  void Set(double v) const {
    if (cell_ != nullptr) cell_->store(v, std::memory_order_relaxed);
  }
  void Add(double delta) const;
  double value() const { return cell_ != nullptr ? cell_->load(std::memory_order_relaxed) : 0.0; }

 private:
  friend class Registry;
  explicit Gauge(std::atomic<double>* cell) : cell_(cell) {}
  std::atomic<double>* cell_ = nullptr;
};

// Observations counted into fixed buckets (latencies, batch sizes).
class Histogram {
 public:
  Histogram() = default;
  // A NaN observation is counted only in the +Inf bucket (and makes _sum NaN,
  // which is what Prometheus would show for it anyway).
  void Observe(double x) const;

 private:
  friend class Registry;
  explicit Histogram(internal::HistogramCell* cell) : cell_(cell) {}
  internal::HistogramCell* cell_ = nullptr;
};

class Registry {
 public:
  explicit Registry(size_t max_series_per_metric = kDefaultMaxSeriesPerMetric);
  ~Registry();
  // Handles point into the registry: it neither copies nor moves.
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // InvalidArgument for a bad name (counters must end in "_total"), help or
  // labels, or when the name already belongs to a metric of another type,
  // help text or label-name set.
  Result<Counter> AddCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Result<Gauge> AddGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // `bounds`: finite bucket upper bounds, strictly increasing, 1 to
  // kMaxHistogramBuckets of them (+Inf is implied). Every series of one
  // histogram has the same bounds.
  Result<Histogram> AddHistogram(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                                 const Labels& labels = {});
  // A gauge whose value is `fn()` at each Render (database file size, spool
  // depth). `fn` runs on the rendering thread without the registry's lock
  // held, so it may be slow or even use the registry; an exception from it
  // renders the value as NaN. Adding the same series twice is an error (two
  // functions cannot both be the value), and so is a series beyond the cap
  // (LimitExceeded: a function cannot be folded).
  Status AddCallbackGauge(std::string_view name, std::string_view help, std::function<double()> fn,
                          const Labels& labels = {});

  // The text exposition format 0.0.4, served with content type
  // kContentType.
  std::string Render() const;
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmkwatch::metrics
