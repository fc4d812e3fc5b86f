// The compliance engine: resource state, key bindings and the built-in CMK
// rules of ../shared/RULES.md, with the alert lifecycle.
//
// Contract:
//  * Process(event) first applies what the event says to the resource state
//    (last writer wins by event time: an event older than the state it would
//    change is judged by nothing that state decides, and changes nothing),
//    then checks the event against the rules indexed under its (resource
//    kind, operation) only, and returns the alert lifecycle changes it
//    caused, in order.
//  * Deterministic: the same events in the same order give the same alerts
//    and ids; the engine's clock is event time, never the wall clock (so a
//    replay judges like the live run did). Tick(now) is the one exception:
//    it runs the time-based checks (CMK016's silence window) at `now`.
//  * "Bound" means at least one AI resource (Cognitive Services / AI
//    Foundry account, ML workspace) uses the vault or key as its CMK, as
//    learned from account/workspace writes, inventory snapshots and the
//    identities' own successful unwrap calls. Rules on bound resources list
//    every affected AI resource and use RULES.md's "bound" severity.
//  * Bounded: at most `max_resources` resources of each kind are tracked;
//    events about further ones are stored by the caller but not judged,
//    and `dropped_resources()` counts them.
//
// Threading: not thread-safe; one engine per analyzer thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cmkwatch/analyzer/alert.h"
#include "cmkwatch/common/event.h"

namespace cmkwatch::analyzer {

struct RuleSetting {
  bool enabled = true;
  std::optional<Severity> severity;  // overrides RULES.md's severity
};

// An alert whose rule and resource match is still recorded, with status
// `suppressed` and this reason, until `expires` (event time, ns; 0 never).
struct Suppression {
  std::string rule = "*";  // "CMK007" or "*"
  std::string resource_pattern;  // glob over the canonical resource id; '*' matches any run
  std::string reason;            // required: says why in the alert
  int64_t expires = 0;
};

struct RulesConfig {
  std::map<std::string, RuleSetting> rules;  // by rule id; absent = enabled, catalogue severity
  std::vector<Suppression> suppressions;
  // CMK016: a bound vault with no AuditEvent for this long is a blind spot.
  int64_t silence_window_ns = int64_t{6} * 3600 * 1'000'000'000;
  size_t max_resources = 1'000'000;
};

// One row of the catalogue, as shipped (RULES.md).
struct RuleInfo {
  std::string_view id;
  std::string_view what;
  Severity bound;
  std::optional<Severity> unbound;  // nullopt: no alert when unbound
  std::string_view why;
  std::string_view remediation;
};
const std::vector<RuleInfo>& RuleCatalogue();

class RuleEngine {
 public:
  explicit RuleEngine(RulesConfig config = {});
  ~RuleEngine();
  RuleEngine(RuleEngine&&) noexcept;
  RuleEngine& operator=(RuleEngine&&) noexcept;

  std::vector<AlertChange> Process(const Event& event);
  std::vector<AlertChange> Tick(int64_t now);
  // New rule settings, suppressions and silence window for the events from
  // now on (a configuration reload). The state and every alert stay as
  // they are: an alert opened under the old settings is judged under the
  // new ones at its next event. max_resources keeps its first value (the
  // state is not rebuilt).
  void Reconfigure(RulesConfig config);

  // Every alert, open, suppressed and resolved, ordered by first seen.
  std::vector<Alert> Alerts() const;
  // AI resources whose CMK is in this vault (name or canonical id), sorted.
  std::vector<std::string> AffectedByVault(std::string_view vault) const;
  uint64_t dropped_resources() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmkwatch::analyzer
