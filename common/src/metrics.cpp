#include "cmkwatch/common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <mutex>

namespace cmkwatch::metrics {

namespace internal {
// One histogram series. Buckets are stored per bucket (not cumulative) so
// Observe touches one bucket; Render accumulates.
struct HistogramCell {
  explicit HistogramCell(const std::vector<double>& b)
      : bounds(b), counts(std::make_unique<std::atomic<uint64_t>[]>(b.size() + 1)) {}
  const std::vector<double>& bounds;  // the family's, which outlives the cell
  std::unique_ptr<std::atomic<uint64_t>[]> counts;  // bounds.size() + 1 (the last is +Inf)
  std::atomic<double> sum{0.0};
};
}  // namespace internal

namespace {

constexpr std::string_view kOverflowFamily = "cmkwatch_metrics_series_overflow_total";

// atomic<double>::fetch_add is C++20 but not in every standard library we
// build with; a CAS loop is portable and just as cheap uncontended.
void AtomicAdd(std::atomic<double>& a, double delta) {
  double old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, old + delta, std::memory_order_relaxed)) {
  }
}

bool IsLabelNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes || !IsLabelNameStart(name[0])) return false;
  if (name.substr(0, 2) == "__") return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsLabelNameStart(c) || IsDigit(c); });
}

// Strict UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF):
// Prometheus refuses a whole scrape over one bad label value.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0u) != 0x80u) return false;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

// Prometheus floats: shortest round-trip decimal, and its spellings of the
// non-finite values.
void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (std::trunc(v) == v && std::fabs(v) < 9007199254740992.0) {
    // Whole numbers (byte sizes, depths) as integers: to_chars alone would
    // pick "1e+06" for a million, valid but unkind to a human reader.
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
    out.append(buf, r.ptr);
  } else {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Label values escape backslash, double quote and newline; HELP text
// escapes backslash and newline only (the format's two rules).
void AppendEscaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

enum class Kind { kCounter, kGauge, kHistogram, kCallbackGauge };

std::string_view TypeName(Kind k) {
  switch (k) {
    case Kind::kCounter: return "counter";
    case Kind::kGauge: return "gauge";
    case Kind::kHistogram: return "histogram";
    case Kind::kCallbackGauge: return "gauge";
  }
  return "untyped";
}

std::string_view KindName(Kind k) { return k == Kind::kCallbackGauge ? "callback gauge" : TypeName(k); }

struct Series {
  std::vector<std::string> label_values;  // in the family's label_names order
  std::atomic<uint64_t> count{0};         // counters
  std::atomic<double> value{0.0};         // gauges
  std::unique_ptr<internal::HistogramCell> histogram;
  std::function<double()> callback;       // set once, before the series is published
};

struct Family {
  std::string name;
  std::string help;
  Kind kind = Kind::kCounter;
  std::vector<std::string> label_names;  // sorted
  std::vector<double> bounds;            // histograms
  std::map<std::vector<std::string>, std::unique_ptr<Series>> series;
  std::unique_ptr<Series> overflow;  // created at the first fold
  std::atomic<uint64_t> folds{0};
};

// One series of a family, `series_name` being the family name plus a
// suffix for histograms, and `extra` one more label (le) if given.
void AppendSample(std::string& out, std::string_view series_name, const Family& f, const Series& s,
                  std::string_view extra_name, std::string_view extra_value) {
  out += series_name;
  const bool any = !f.label_names.empty() || !extra_name.empty();
  if (any) {
    out += '{';
    for (size_t i = 0; i < f.label_names.size(); ++i) {
      if (i > 0) out += ',';
      out += f.label_names[i];
      out += "=\"";
      AppendEscaped(out, s.label_values[i], true);
      out += '"';
    }
    if (!extra_name.empty()) {
      if (!f.label_names.empty()) out += ',';
      out += extra_name;
      out += "=\"";
      out += extra_value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void RenderSeries(std::string& out, const Family& f, const Series& s) {
  switch (f.kind) {
    case Kind::kCounter:
      AppendSample(out, f.name, f, s, {}, {});
      AppendUint(out, s.count.load(std::memory_order_relaxed));
      out += '\n';
      return;
    case Kind::kGauge:
      AppendSample(out, f.name, f, s, {}, {});
      AppendDouble(out, s.value.load(std::memory_order_relaxed));
      out += '\n';
      return;
    case Kind::kCallbackGauge: {
      double v = 0;
      try {
        v = s.callback();
      } catch (...) {
        // A broken probe must not take the whole scrape down with it.
        v = std::nan("");
      }
      AppendSample(out, f.name, f, s, {}, {});
      AppendDouble(out, v);
      out += '\n';
      return;
    }
    case Kind::kHistogram: {
      const internal::HistogramCell& h = *s.histogram;
      const std::string bucket = f.name + "_bucket";
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= f.bounds.size(); ++i) {
        cumulative += h.counts[i].load(std::memory_order_relaxed);
        std::string le;
        if (i < f.bounds.size()) {
          AppendDouble(le, f.bounds[i]);
        } else {
          le = "+Inf";
        }
        AppendSample(out, bucket, f, s, "le", le);
        AppendUint(out, cumulative);
        out += '\n';
      }
      AppendSample(out, f.name + "_sum", f, s, {}, {});
      AppendDouble(out, h.sum.load(std::memory_order_relaxed));
      out += '\n';
      // _count from the same bucket reads as +Inf, so the two always agree
      // even while observations race the scrape.
      AppendSample(out, f.name + "_count", f, s, {}, {});
      AppendUint(out, cumulative);
      out += '\n';
      return;
    }
  }
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  auto start = [](char c) { return IsLabelNameStart(c) || c == ':'; };
  if (!start(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return start(c) || IsDigit(c); });
}

void Gauge::Add(double delta) const {
  if (cell_ != nullptr) AtomicAdd(*cell_, delta);
}

void Histogram::Observe(double x) const {
  if (cell_ == nullptr) return;
  const std::vector<double>& b = cell_->bounds;
  // le semantics: x lands in the first bucket whose bound is >= x.
  const size_t i = std::isnan(x) ? b.size()
                                 : static_cast<size_t>(std::lower_bound(b.begin(), b.end(), x) - b.begin());
  cell_->counts[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(cell_->sum, x);
}

struct Registry::Impl {
  explicit Impl(size_t max) : max_series(max) {}
  const size_t max_series;
  mutable std::mutex mu;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families;  // guarded by mu

  // Finds or creates a series. A new one is first passed to `init` while
  // mu is still held, so no other thread ever sees it half made; `created`
  // says whether that happened.
  using Init = std::function<void(const Family&, Series&)>;
  Result<Series*> Get(Kind kind, std::string_view name, std::string_view help, const Labels& labels,
                      const std::vector<double>* bounds, const Init& init, bool& created);
};

Result<Series*> Registry::Impl::Get(Kind kind, std::string_view name, std::string_view help, const Labels& labels,
                                    const std::vector<double>* bounds, const Init& init, bool& created) {
  created = false;
  const std::string shown(name.substr(0, std::min(name.size(), kMaxNameBytes)));
  if (!IsValidMetricName(name)) {
    return Status::InvalidArgument("metric name '" + shown +
                                   "' must match [a-zA-Z_:][a-zA-Z0-9_:]* (at most 200 bytes)");
  }
  if (name == kOverflowFamily) return Status::InvalidArgument("metric name '" + shown + "' is reserved");
  const bool ends_total = name.size() >= 6 && name.substr(name.size() - 6) == "_total";
  if (kind == Kind::kCounter && !ends_total) {
    return Status::InvalidArgument("counter '" + shown + "' must end in _total");
  }
  if (help.size() > kMaxHelpBytes) return Status::InvalidArgument("help text of '" + shown + "' over 1024 bytes");
  if (!IsValidUtf8(help)) return Status::InvalidArgument("help text of '" + shown + "' is not UTF-8");
  if (labels.size() > kMaxLabelsPerSeries) return Status::InvalidArgument("more than 16 labels on '" + shown + "'");

  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> names, values;
  for (const auto& [label, value] : sorted) {
    if (!IsValidLabelName(label)) {
      return Status::InvalidArgument("label name '" + label.substr(0, kMaxNameBytes) + "' on '" + shown +
                                     "' must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __");
    }
    if (kind == Kind::kHistogram && label == "le") {
      return Status::InvalidArgument("histogram '" + shown + "' may not use the label 'le'");
    }
    if (!names.empty() && names.back() == label) {
      return Status::InvalidArgument("label '" + label + "' given twice on '" + shown + "'");
    }
    if (value.size() > kMaxLabelValueBytes) {
      return Status::InvalidArgument("value of label '" + label + "' on '" + shown + "' over 1024 bytes");
    }
    if (!IsValidUtf8(value)) {
      return Status::InvalidArgument("value of label '" + label + "' on '" + shown + "' is not UTF-8");
    }
    if (value == kOverflowLabelValue) {
      // It would render as a second copy of the overflow series.
      return Status::InvalidArgument("label value '" + std::string(kOverflowLabelValue) + "' on '" + shown +
                                     "' is reserved");
    }
    names.push_back(label);
    values.push_back(value);
  }
  if (bounds != nullptr) {
    if (bounds->empty() || bounds->size() > kMaxHistogramBuckets) {
      return Status::InvalidArgument("histogram '" + shown + "' needs 1 to 64 bucket bounds");
    }
    for (size_t i = 0; i < bounds->size(); ++i) {
      if (!std::isfinite((*bounds)[i]) || (i > 0 && !((*bounds)[i - 1] < (*bounds)[i]))) {
        return Status::InvalidArgument("bucket bounds of '" + shown + "' must be finite and strictly increasing");
      }
    }
  }

  std::lock_guard<std::mutex> lock(mu);
  auto it = families.find(name);
  if (it == families.end()) {
    auto f = std::make_unique<Family>();
    f->name = std::string(name);
    f->help = std::string(help);
    f->kind = kind;
    f->label_names = names;
    if (bounds != nullptr) f->bounds = *bounds;
    it = families.emplace(f->name, std::move(f)).first;
  }
  Family& f = *it->second;
  if (f.kind != kind) {
    return Status::InvalidArgument("'" + shown + "' is already a " + std::string(KindName(f.kind)) + ", not a " +
                                   std::string(KindName(kind)));
  }
  if (f.help != help) return Status::InvalidArgument("'" + shown + "' was created with another help text");
  if (f.label_names != names) return Status::InvalidArgument("'" + shown + "' was created with other label names");
  if (bounds != nullptr && f.bounds != *bounds) {
    return Status::InvalidArgument("histogram '" + shown + "' was created with other bucket bounds");
  }

  if (auto s = f.series.find(values); s != f.series.end()) return s->second.get();
  if (f.series.size() >= max_series) {
    if (kind == Kind::kCallbackGauge) {
      return Status::LimitExceeded("'" + shown + "' already has the maximum number of series");
    }
    f.folds.fetch_add(1, std::memory_order_relaxed);
    if (!f.overflow) {
      f.overflow = std::make_unique<Series>();
      f.overflow->label_values.assign(names.size(), std::string(kOverflowLabelValue));
      if (init) init(f, *f.overflow);
      created = true;
    }
    return f.overflow.get();
  }
  auto s = std::make_unique<Series>();
  s->label_values = std::move(values);
  if (init) init(f, *s);
  Series* raw = s.get();
  f.series.emplace(raw->label_values, std::move(s));
  created = true;
  return raw;
}

Registry::Registry(size_t max_series_per_metric)
    : impl_(std::make_unique<Impl>(std::max<size_t>(max_series_per_metric, 1))) {}
Registry::~Registry() = default;

Result<Counter> Registry::AddCounter(std::string_view name, std::string_view help, const Labels& labels) {
  bool created = false;
  auto s = impl_->Get(Kind::kCounter, name, help, labels, nullptr, {}, created);
  if (!s.ok()) return s.status();
  return Counter(&(*s)->count);
}

Result<Gauge> Registry::AddGauge(std::string_view name, std::string_view help, const Labels& labels) {
  bool created = false;
  auto s = impl_->Get(Kind::kGauge, name, help, labels, nullptr, {}, created);
  if (!s.ok()) return s.status();
  return Gauge(&(*s)->value);
}

Result<Histogram> Registry::AddHistogram(std::string_view name, std::string_view help,
                                         const std::vector<double>& bounds, const Labels& labels) {
  bool created = false;
  auto init = [](const Family& f, Series& s) { s.histogram = std::make_unique<internal::HistogramCell>(f.bounds); };
  auto s = impl_->Get(Kind::kHistogram, name, help, labels, &bounds, init, created);
  if (!s.ok()) return s.status();
  return Histogram((*s)->histogram.get());
}

Status Registry::AddCallbackGauge(std::string_view name, std::string_view help, std::function<double()> fn,
                                  const Labels& labels) {
  const std::string shown(name.substr(0, std::min(name.size(), kMaxNameBytes)));
  if (!fn) return Status::InvalidArgument("callback gauge '" + shown + "' has no function");
  bool created = false;
  auto init = [&fn](const Family&, Series& s) { s.callback = std::move(fn); };
  auto s = impl_->Get(Kind::kCallbackGauge, name, help, labels, nullptr, init, created);
  if (!s.ok()) return s.status();
  if (!created) return Status::InvalidArgument("callback gauge '" + shown + "' with these labels already exists");
  return Status::Ok();
}

std::string Registry::Render() const {
  // Snapshot the structure under the lock, then render without it: families
  // and series are never removed and their metadata never changes, so the
  // pointers stay valid, and callbacks run unlocked.
  struct Entry {
    const Family* family;
    std::vector<const Series*> series;
  };
  std::vector<Entry> entries;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    entries.reserve(impl_->families.size());
    for (const auto& [name, f] : impl_->families) {
      Entry e{f.get(), {}};
      e.series.reserve(f->series.size() + 1);
      for (const auto& [values, s] : f->series) e.series.push_back(s.get());
      // The overflow series sorts last, after every real combination.
      if (f->overflow) e.series.push_back(f->overflow.get());
      entries.push_back(std::move(e));
    }
  }

  std::string out;
  bool any_fold = false;
  for (const Entry& e : entries) {
    const Family& f = *e.family;
    out += "# HELP ";
    out += f.name;
    out += ' ';
    AppendEscaped(out, f.help, false);
    out += "\n# TYPE ";
    out += f.name;
    out += ' ';
    out += TypeName(f.kind);
    out += '\n';
    for (const Series* s : e.series) RenderSeries(out, f, *s);
    if (f.folds.load(std::memory_order_relaxed) > 0) any_fold = true;
  }
  if (any_fold) {
    out += "# HELP ";
    out += kOverflowFamily;
    out += " Series folded into the __overflow__ series because the metric reached its series cap.\n# TYPE ";
    out += kOverflowFamily;
    out += " counter\n";
    for (const Entry& e : entries) {
      const uint64_t n = e.family->folds.load(std::memory_order_relaxed);
      if (n == 0) continue;
      out += kOverflowFamily;
      out += "{metric=\"";
      out += e.family->name;
      out += "\"} ";
      AppendUint(out, n);
      out += '\n';
    }
  }
  return out;
}

}  // namespace cmkwatch::metrics
