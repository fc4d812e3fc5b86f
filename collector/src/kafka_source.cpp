// KafkaSource over librdkafka's C API (contract in kafka_source.h).
//
// Shape of one RunOnce step, all on the source's thread:
//   1. Acknowledgements collected by OnAcknowledged (any thread) are applied
//      to the OffsetTracker, and what became committable is committed
//      (asynchronously, at most every commit_interval_ms).
//   2. A batch refused earlier is offered again; while it is refused every
//      assigned partition stays paused and the consumer is only polled to
//      serve callbacks.
//   3. Otherwise messages are taken (the first waited for, up to the step's
//      timeout; the rest only while already queued) until the batch bounds,
//      parsed, and the batch offered.
// librdkafka calls back into this file from rd_kafka_consumer_poll (the
// rebalance and offset-commit callbacks, on this thread) and from its own
// threads (log and error callbacks; the OAUTHBEARER token refresh, on its
// SASL background thread); the latter only touch the logger, the token
// fetcher and atomics.
#include "cmkwatch/collector/kafka_source.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "cmkwatch/collector/reader.h"
#include "kafka_internal.h"
#include "oauth_token.h"

namespace cmkwatch::collector {
namespace {

using Clock = std::chrono::steady_clock;
using internal::KafkaProperty;
using internal::TopicPartition;

constexpr int kPollSliceMs = 100;           // Stop() is noticed within this
constexpr int kSeekTimeoutMs = 5'000;
constexpr size_t kMaxPendingAcks = size_t{1} << 20;
constexpr auto kWatermarkInterval = std::chrono::seconds(1);
constexpr auto kErrorLogInterval = std::chrono::seconds(10);
// librdkafka answers every commit, at the latest when a request or a
// deferred commit times out (socket.timeout.ms, session.timeout.ms). Past
// this with no answer, the commits in flight are sent again rather than
// holding their partitions' commits back for good.
constexpr auto kCommitAnswerTimeout = std::chrono::minutes(2);

// --- RAII over librdkafka's handles -----------------------------------------

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct KafkaDeleter {
  void operator()(rd_kafka_t* k) const { rd_kafka_destroy(k); }
};
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};
using Conf = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using Kafka = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;
using Message = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using Error = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;

PartitionList NewList(size_t size) {
  return PartitionList(rd_kafka_topic_partition_list_new(static_cast<int>(std::max<size_t>(size, 1))));
}

std::vector<TopicPartition> Partitions(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  for (int i = 0; i < list->cnt; ++i) out.push_back({list->elems[i].topic, list->elems[i].partition});
  return out;
}

std::string Join(const std::vector<TopicPartition>& tps) {
  std::string out;
  for (const auto& tp : tps) {
    if (!out.empty()) out += ',';
    out += tp.topic + "/" + std::to_string(tp.partition);
  }
  return out;
}

std::string Join(const std::vector<std::string>& items, char sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string MessageName(const TopicPartition& tp, int64_t offset) {
  return "kafka:" + tp.topic + "/" + std::to_string(tp.partition) + "@" + std::to_string(offset);
}

bool IsEventHubs(KafkaSecurity s) { return s == KafkaSecurity::kConnectionString || s == KafkaSecurity::kOAuthBearer; }

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// --- names and properties ----------------------------------------------------

std::string_view KafkaSecurityName(KafkaSecurity security) {
  switch (security) {
    case KafkaSecurity::kPlaintext: return "plaintext";
    case KafkaSecurity::kSsl: return "ssl";
    case KafkaSecurity::kConnectionString: return "connection_string";
    case KafkaSecurity::kSaslPlain: return "sasl_plain";
    case KafkaSecurity::kOAuthBearer: return "oauthbearer";
  }
  return "plaintext";
}

std::optional<KafkaSecurity> KafkaSecurityFromName(std::string_view name) {
  for (auto s : {KafkaSecurity::kPlaintext, KafkaSecurity::kSsl, KafkaSecurity::kConnectionString,
                 KafkaSecurity::kSaslPlain, KafkaSecurity::kOAuthBearer}) {
    if (KafkaSecurityName(s) == name) return s;
  }
  return std::nullopt;
}

std::string KafkaPropertyProblem(std::string_view name) {
  if (name.empty() || name.size() > 128 ||
      !std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_'; })) {
    return "is not a librdkafka property name (lower-case letters, digits, '.', '_')";
  }
  static const std::set<std::string_view> kOwned = {
      "bootstrap.servers", "metadata.broker.list", "group.id", "client.id", "enable.auto.commit",
      "enable.auto.offset.store", "auto.offset.reset", "enable.partition.eof", "security.protocol",
      "ssl.ca.location", "ssl.certificate.location", "ssl.key.location"};
  if (kOwned.count(name) != 0) return "is set by the source itself (use the source's own key)";
  if (name.rfind("sasl.", 0) == 0) return "is set by the source's 'security' mode";
  // Anything that would hold a secret inline: secrets come from *_file / *_env.
  for (std::string_view word : {"password", "secret", "jaas", "ssl.key.", "ssl.keystore.", "ssl_key", ".pem"}) {
    if (name.find(word) != std::string_view::npos) return "would hold a secret inline in the configuration";
  }
  // Loads code into the collector.
  if (name == "plugin.library.paths") return "loads code into the collector";
  return "";
}

namespace internal {

Result<std::vector<KafkaProperty>> KafkaProperties(const KafkaSourceOptions& o) {
  std::vector<KafkaProperty> p;
  auto add = [&p](std::string name, std::string value, bool secret = false) {
    p.push_back({std::move(name), std::move(value), secret});
  };
  add("bootstrap.servers", Join(o.bootstrap_servers, ','));
  add("group.id", o.group_id);
  if (!o.client_id.empty()) add("client.id", o.client_id);
  // Offsets are committed by the source, explicitly, once the analyzer has
  // acknowledged the events from them (never by a timer).
  add("enable.auto.commit", "false");
  add("enable.auto.offset.store", "false");
  add("auto.offset.reset", o.auto_offset_reset);
  add("enable.partition.eof", "false");
  // librdkafka's prefetch is bounded by queued.max.messages.kbytes (64 MiB
  // by default, for the whole consumer queue): left as it is, since a lower
  // bound throttled fetching to a third in the benchmark (bench/RESULTS.md).
  if (IsEventHubs(o.security)) {
    // Microsoft's recommendations for Kafka clients of Event Hubs: Azure's
    // load balancers drop idle TCP connections after about 240 s without a
    // word, so connections are kept alive and closed before that, and
    // metadata is refreshed on the same rhythm.
    add("socket.keepalive.enable", "true");
    add("connections.max.idle.ms", "180000");
    add("metadata.max.age.ms", "180000");
  }
  switch (o.security) {
    case KafkaSecurity::kPlaintext:
      add("security.protocol", "plaintext");
      break;
    case KafkaSecurity::kSsl:
      add("security.protocol", "ssl");
      if (!o.client_cert_file.empty()) add("ssl.certificate.location", o.client_cert_file);
      if (!o.client_key_file.empty()) add("ssl.key.location", o.client_key_file);
      break;
    case KafkaSecurity::kConnectionString: {
      auto cs = config::ReadSecret(o.connection_string, "kafka source " + o.name + " connection string");
      if (!cs.ok()) return cs.status();
      if (cs->find("Endpoint=sb://") == std::string::npos) {
        return Status::InvalidArgument("kafka source " + o.name +
                                       ": the connection string does not look like an Event Hubs one "
                                       "(Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...)");
      }
      add("security.protocol", "sasl_ssl");
      add("sasl.mechanism", "PLAIN");
      // Event Hubs' Kafka endpoint: this literal user name, and the whole
      // connection string as the password.
      add("sasl.username", "$ConnectionString");
      add("sasl.password", std::move(*cs), true);
      break;
    }
    case KafkaSecurity::kSaslPlain: {
      auto pw = config::ReadSecret(o.sasl_password, "kafka source " + o.name + " sasl password");
      if (!pw.ok()) return pw.status();
      add("security.protocol", "sasl_ssl");
      add("sasl.mechanism", "PLAIN");
      add("sasl.username", o.sasl_username);
      add("sasl.password", std::move(*pw), true);
      break;
    }
    case KafkaSecurity::kOAuthBearer:
      add("security.protocol", "sasl_ssl");
      add("sasl.mechanism", "OAUTHBEARER");
      break;
  }
  if (o.security != KafkaSecurity::kPlaintext && !o.ca_file.empty()) add("ssl.ca.location", o.ca_file);
  for (const auto& [name, value] : o.properties) {
    if (std::string why = KafkaPropertyProblem(name); !why.empty()) {
      return Status::InvalidArgument("kafka source " + o.name + ": property '" + name + "' " + why);
    }
    add(name, value);
  }
  return p;
}

}  // namespace internal

// --- the source ------------------------------------------------------------

struct KafkaSource::Impl {
  Impl(KafkaSourceOptions o, SequencedSink& s, log::Logger& l) : options(std::move(o)), sink(s), logger(l) {
    if (options.name.empty()) options.name = "kafka:" + (options.topics.empty() ? std::string("?") : options.topics[0]);
    options.max_batch_events = std::clamp<size_t>(options.max_batch_events, 1, KafkaSource::kMaxItemsPerMessage);
    options.max_batch_bytes = std::max<size_t>(options.max_batch_bytes, 1);
    read_options.format = options.format;
    read_options.limits = options.limits;
  }

  ~Impl() {
    if (rk) {
      // Leaves the group: the revocation callback commits what is
      // acknowledged, so the next owner of each partition starts there.
      closing = true;
      rd_kafka_consumer_close(rk.get());
      rk.reset();
    }
  }

  KafkaSourceOptions options;
  SequencedSink& sink;
  log::Logger& logger;
  ReadOptions read_options;
  Kafka rk;
  std::atomic<bool> stop{false};
  bool closing = false;
  bool cooperative = false;
  std::string fatal;  // a fatal client error, once seen

  // OAUTHBEARER (read in Setup; used by librdkafka's SASL thread).
  internal::TokenRequest token_request;
  std::atomic<uint64_t> token_refreshes{0}, token_failures{0};

  // Acknowledged sequences, from any thread.
  std::mutex ack_mu;
  std::vector<uint64_t> acks;
  uint64_t dropped_acks = 0;  // under ack_mu

  // Source-thread state.
  internal::OffsetTracker tracker;
  std::map<TopicPartition, int64_t> next;  // position: just past the last message taken
  std::set<TopicPartition> assigned;
  bool paused = false;
  Clock::time_point next_commit{};
  Clock::time_point commit_sent{};  // of the oldest request that may still be in flight
  Clock::time_point next_watermarks{};
  std::map<int, Clock::time_point> error_logged;  // by error code, rate limit

  struct Counts {
    uint64_t messages = 0, bytes = 0, events = 0, quarantined = 0;
  };
  struct Batch {
    std::vector<Event> events;
    std::vector<QuarantineEntry> quarantined;
    std::map<TopicPartition, int64_t> through;
    std::map<TopicPartition, Counts> counts;
    size_t bytes = 0;
    size_t messages = 0;
    size_t items() const { return events.size() + quarantined.size(); }
  };
  std::optional<Batch> held;  // refused by the sink, offered again

  mutable std::mutex stats_mu;
  KafkaSourceStats stats;                               // totals (partitions filled in by Stats())
  std::map<TopicPartition, KafkaPartitionStats> parts;  // bounded by kMaxTrackedPartitions

  // --- callbacks (static trampolines; opaque is this Impl) ----------------

  static void LogCb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
    auto* self = static_cast<Impl*>(rd_kafka_opaque(rk));
    if (self == nullptr) return;
    // librdkafka's own errors are mostly transient (a broker restarting):
    // warnings. Its notices and debug lines are for debugging.
    const log::Level l = level <= 4 ? log::Level::kWarning : log::Level::kDebug;
    if (!self->logger.Enabled(l)) return;
    self->logger.Log(l, "kafka client", {{"source", self->options.name}, {"facility", fac}, {"detail", buf}});
  }

  static void ErrorCb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    {
      std::lock_guard lock(self->stats_mu);
      ++self->stats.errors;
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char buf[512] = {};
      rd_kafka_fatal_error(rk, buf, sizeof buf);
      self->logger.Error("kafka client fatal error", {{"source", self->options.name}, {"error", buf}});
    } else {
      self->logger.Debug("kafka client error", {{"source", self->options.name},
                                                {"error", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))},
                                                {"detail", reason}});
    }
  }

  static void RebalanceCb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                          void* opaque) {
    static_cast<Impl*>(opaque)->Rebalance(rk, err, partitions);
  }

  static void CommitCb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets, void* opaque) {
    static_cast<Impl*>(opaque)->Committed(err, offsets);
  }

  static void TokenRefreshCb(rd_kafka_t* rk, const char*, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    auto token = internal::FetchToken(self->token_request);
    if (!token.ok()) {
      ++self->token_failures;
      self->logger.Warning("kafka oauth token refresh failed",
                           {{"source", self->options.name}, {"error", token.status().message()}});
      rd_kafka_oauthbearer_set_token_failure(rk, token.status().message().c_str());
      return;
    }
    char errstr[512] = {};
    const int64_t lifetime_ms = WallMs() + token->expires_in_s * 1000;
    if (rd_kafka_oauthbearer_set_token(rk, token->access_token.c_str(), lifetime_ms,
                                       self->token_request.client_id.c_str(), nullptr, 0, errstr,
                                       sizeof errstr) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++self->token_failures;
      self->logger.Warning("kafka oauth token refused by the client", {{"source", self->options.name}, {"error", errstr}});
      rd_kafka_oauthbearer_set_token_failure(rk, errstr);
      return;
    }
    ++self->token_refreshes;
    self->logger.Debug("kafka oauth token refreshed",
                       {{"source", self->options.name}, {"expires_in_s", token->expires_in_s}});
  }

  // --- setup ----------------------------------------------------------------

  Status Setup() {
    if (options.bootstrap_servers.empty()) return Status::InvalidArgument("kafka source " + options.name + ": no bootstrap servers");
    if (options.topics.empty()) return Status::InvalidArgument("kafka source " + options.name + ": no topics");
    if (options.group_id.empty()) return Status::InvalidArgument("kafka source " + options.name + ": no group id");
    auto props = internal::KafkaProperties(options);
    if (!props.ok()) return props.status();
    Conf conf(rd_kafka_conf_new());
    char errstr[512];
    for (const KafkaProperty& p : *props) {
      errstr[0] = '\0';
      if (rd_kafka_conf_set(conf.get(), p.name.c_str(), p.value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        // librdkafka's message quotes the value: not for a secret.
        return Status::InvalidArgument("kafka source " + options.name + ": property '" + p.name + "': " +
                                       (p.secret ? std::string("refused") : std::string(errstr)));
      }
    }
    if (options.security == KafkaSecurity::kOAuthBearer) {
      if (std::string why = internal::TokenEndpointProblem(options.oauth.token_endpoint); !why.empty()) {
        return Status::InvalidArgument("kafka source " + options.name + ": token endpoint: " + why);
      }
      auto secret = config::ReadSecret(options.oauth.client_secret, "kafka source " + options.name + " oauth client secret");
      if (!secret.ok()) return secret.status();
      token_request.endpoint = options.oauth.token_endpoint;
      token_request.client_id = options.oauth.client_id;
      token_request.client_secret = std::move(*secret);
      token_request.scope = options.oauth.scope;
      rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf.get(), &TokenRefreshCb);
      // Its own queue for SASL callbacks, served on a background thread
      // once the handle exists (below).
      rd_kafka_conf_enable_sasl_queue(conf.get(), 1);
    }
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_log_cb(conf.get(), &LogCb);
    rd_kafka_conf_set_error_cb(conf.get(), &ErrorCb);
    rd_kafka_conf_set_rebalance_cb(conf.get(), &RebalanceCb);
    rd_kafka_conf_set_offset_commit_cb(conf.get(), &CommitCb);

    errstr[0] = '\0';
    rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr);
    if (handle == nullptr) return Status::InvalidArgument("kafka source " + options.name + ": " + errstr);
    conf.release();  // owned by the handle from here on
    rk.reset(handle);
    if (options.security == KafkaSecurity::kOAuthBearer) {
      // Tokens are refreshed on librdkafka's SASL thread, so a source
      // paused by back-pressure (or slow to poll) never lets one expire.
      Error e(rd_kafka_sasl_background_callbacks_enable(rk.get()));
      if (e) return Status::Internal("kafka source " + options.name + ": " + rd_kafka_error_string(e.get()));
    }
    rd_kafka_poll_set_consumer(rk.get());
    PartitionList topics = NewList(options.topics.size());
    for (const auto& t : options.topics) rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk.get(), topics.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::InvalidArgument("kafka source " + options.name + ": subscribe: " + rd_kafka_err2str(err));
    }
    logger.Info("kafka source subscribed", {{"source", options.name},
                                            {"bootstrap", Join(options.bootstrap_servers, ',')},
                                            {"topics", Join(options.topics, ',')},
                                            {"group", options.group_id},
                                            {"security", std::string(KafkaSecurityName(options.security))}});
    return Status::Ok();
  }

  // --- rebalance and commits ------------------------------------------------

  void Rebalance(rd_kafka_t* handle, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
    const char* protocol = rd_kafka_rebalance_protocol(handle);
    cooperative = protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
    const std::vector<TopicPartition> tps = Partitions(partitions);
    {
      std::lock_guard lock(stats_mu);
      ++stats.rebalances;
    }
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      for (const auto& tp : tps) {
        // A partition (re)gained starts from its committed offset: whatever
        // this member knew of it before is stale.
        tracker.Forget(tp);
        next.erase(tp);
        assigned.insert(tp);
        SetAssigned(tp, true);
      }
      if (cooperative) {
        Error e(rd_kafka_incremental_assign(handle, partitions));
        if (e) logger.Error("kafka incremental assign failed", {{"source", options.name}, {"error", rd_kafka_error_string(e.get())}});
      } else {
        rd_kafka_assign(handle, partitions);
      }
      if (paused) rd_kafka_pause_partitions(handle, partitions);
      logger.Info("kafka partitions assigned", {{"source", options.name}, {"partitions", Join(tps)},
                                                {"group", options.group_id}});
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      ApplyAcks();
      // Commit what the analyzer holds before another member takes over,
      // unless the partitions were lost (session timed out): then another
      // member may already own them, and this member's commit is refused or
      // would move the group backwards.
      if (!rd_kafka_assignment_lost(handle)) {
        PartitionList list = NewList(tps.size());
        for (const auto& tp : tps) {
          if (auto off = tracker.TakeCommittable(tp)) {
            rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = *off;
          }
        }
        if (list->cnt > 0) {
          const rd_kafka_resp_err_t ce = rd_kafka_commit(handle, list.get(), 0);
          if (ce != RD_KAFKA_RESP_ERR_NO_ERROR) {
            logger.Warning("kafka commit on revocation failed; the next owner re-reads from the last commit",
                           {{"source", options.name}, {"error", rd_kafka_err2str(ce)}});
          }
        }
      }
      for (const auto& tp : tps) {
        tracker.Forget(tp);
        next.erase(tp);
        assigned.erase(tp);
        SetAssigned(tp, false);
        if (held) held->through.erase(tp);  // still delivered; no longer ours to commit
      }
      if (cooperative) {
        Error e(rd_kafka_incremental_unassign(handle, partitions));
        if (e) logger.Error("kafka incremental unassign failed", {{"source", options.name}, {"error", rd_kafka_error_string(e.get())}});
      } else {
        rd_kafka_assign(handle, nullptr);
      }
      if (!closing || !tps.empty()) {
        logger.Info("kafka partitions revoked", {{"source", options.name}, {"partitions", Join(tps)}});
      }
      return;
    }
    logger.Error("kafka rebalance failed", {{"source", options.name}, {"error", rd_kafka_err2str(err)}});
    for (const auto& tp : assigned) {
      tracker.Forget(tp);
      next.erase(tp);
      SetAssigned(tp, false);
    }
    assigned.clear();
    rd_kafka_assign(handle, nullptr);
  }

  void SetAssigned(const TopicPartition& tp, bool on) {
    std::lock_guard lock(stats_mu);
    KafkaPartitionStats* ps = PartStats(tp);
    if (ps) ps->assigned = on;
    stats.assigned_partitions = assigned.size();
  }

  // Under stats_mu. nullptr past the bound.
  KafkaPartitionStats* PartStats(const TopicPartition& tp) {
    auto it = parts.find(tp);
    if (it != parts.end()) return &it->second;
    if (parts.size() >= KafkaSource::kMaxTrackedPartitions) return nullptr;
    KafkaPartitionStats ps;
    ps.topic = tp.topic;
    ps.partition = tp.partition;
    return &parts.emplace(tp, ps).first->second;
  }

  void Committed(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets) {
    if (offsets == nullptr) {
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        // Which offsets is not said: all unconfirmed ones are asked for
        // again, or the last commit of a quiet partition would never be.
        std::lock_guard lock(stats_mu);
        tracker.RetryUnconfirmed();
        ++stats.commit_failures;
        LogErrorLimited(err, "kafka commit failed; retried");
      }
      return;
    }
    std::lock_guard lock(stats_mu);
    for (int i = 0; i < offsets->cnt; ++i) {
      const auto& e = offsets->elems[i];
      const TopicPartition tp{e.topic, e.partition};
      if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR || e.offset < 0) {
        tracker.CommitFailed(tp, e.offset);
        ++stats.commit_failures;
        LogErrorLimited(e.err != RD_KAFKA_RESP_ERR_NO_ERROR ? e.err : err, "kafka commit failed; retried");
        continue;
      }
      tracker.CommitSucceeded(tp, e.offset);
      ++stats.commits;
      if (KafkaPartitionStats* ps = PartStats(tp)) ps->committed = std::max(ps->committed, e.offset);
    }
  }

  void LogErrorLimited(rd_kafka_resp_err_t err, const char* what) {
    const auto now = Clock::now();
    auto [it, fresh] = error_logged.emplace(static_cast<int>(err), now);
    if (!fresh && now - it->second < kErrorLogInterval) return;
    it->second = now;
    logger.Warning(what, {{"source", options.name}, {"error", rd_kafka_err2name(err)}, {"detail", rd_kafka_err2str(err)}});
  }

  void ApplyAcks() {
    std::vector<uint64_t> got;
    {
      std::lock_guard lock(ack_mu);
      got.swap(acks);
    }
    // Every batch this source offered has been recorded by now (Offer runs
    // on this thread and records before returning), so an ack it does not
    // know is another source's, or a batch of a revoked partition.
    for (uint64_t seq : got) tracker.Acknowledged(seq);
  }

  void Commit(bool now) {
    const auto t = Clock::now();
    if (!now && t < next_commit) return;
    if (tracker.any_in_flight() && t - commit_sent > kCommitAnswerTimeout) {
      logger.Warning("kafka commit unanswered; sent again", {{"source", options.name}});
      std::lock_guard lock(stats_mu);
      ++stats.commit_failures;
      tracker.RetryUnconfirmed();
    }
    const bool answered = !tracker.any_in_flight();
    auto ready = tracker.TakeCommittable();
    if (ready.empty()) return;
    next_commit = t + std::chrono::milliseconds(std::max(0, options.commit_interval_ms));
    PartitionList list = NewList(ready.size());
    for (const auto& [tp, off] : ready) {
      rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = off;
    }
    const rd_kafka_resp_err_t err = rd_kafka_commit(rk.get(), list.get(), 1);
    if (answered) commit_sent = t;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Not even sent (e.g. not in a group right now): ask again next time.
      for (const auto& [tp, off] : ready) tracker.CommitFailed(tp, off);
      LogErrorLimited(err, "kafka commit not sent; retried");
    }
  }

  void RefreshWatermarks() {
    const auto t = Clock::now();
    if (t < next_watermarks) return;
    next_watermarks = t + kWatermarkInterval;
    std::lock_guard lock(stats_mu);
    for (const auto& tp : assigned) {
      int64_t lo = -1, hi = -1;
      if (rd_kafka_get_watermark_offsets(rk.get(), tp.topic.c_str(), tp.partition, &lo, &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          hi >= 0) {
        if (KafkaPartitionStats* ps = PartStats(tp)) ps->high_watermark = hi;
      }
    }
    stats.paused = paused;
  }

  // --- back-pressure ------------------------------------------------------

  void Pause() {
    if (paused) return;
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(rk.get(), &raw) == RD_KAFKA_RESP_ERR_NO_ERROR && raw != nullptr) {
      PartitionList list(raw);
      rd_kafka_pause_partitions(rk.get(), list.get());
    }
    paused = true;
    std::lock_guard lock(stats_mu);
    stats.paused = true;
  }

  void Resume() {
    if (!paused) return;
    paused = false;
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(rk.get(), &raw) == RD_KAFKA_RESP_ERR_NO_ERROR && raw != nullptr) {
      PartitionList list(raw);
      rd_kafka_resume_partitions(rk.get(), list.get());
      // Back to this source's own position, whatever librdkafka fetched or
      // kept around the pause (messages seen while paused were not taken).
      PartitionList seek = NewList(static_cast<size_t>(list->cnt));
      for (int i = 0; i < list->cnt; ++i) {
        auto it = next.find({list->elems[i].topic, list->elems[i].partition});
        if (it == next.end()) continue;  // nothing taken yet: it starts at the committed offset anyway
        rd_kafka_topic_partition_list_add(seek.get(), it->first.topic.c_str(), it->first.partition)->offset = it->second;
      }
      if (seek->cnt > 0) {
        Error e(rd_kafka_seek_partitions(rk.get(), seek.get(), kSeekTimeoutMs));
        if (e) logger.Warning("kafka seek after resume failed", {{"source", options.name}, {"error", rd_kafka_error_string(e.get())}});
      }
    }
    std::lock_guard lock(stats_mu);
    stats.paused = false;
  }

  // --- messages -------------------------------------------------------------

  // Collects one message's records, bounded (kMaxItemsPerMessage).
  class Collect final : public RecordHandler {
   public:
    Collect(Batch& b, std::string_view name) : b_(b), name_(name) {}
    void OnEvent(Event&& e, const RecordLocation& where) override {
      if (Room(where.offset, where.line)) {
        b_.events.push_back(std::move(e));
        ++events;
      }
    }
    void OnQuarantine(Quarantined&& q) override {
      if (Room(q.offset, q.line)) {
        b_.quarantined.push_back(std::move(q));
        ++quarantined;
      }
    }
    void Finish() {
      if (over == 0) return;
      QuarantineEntry q;
      q.path = std::string(name_);
      q.offset = over_offset;
      q.line = over_line;
      q.format_guess = "unknown";
      q.reason = "the message holds more than " + std::to_string(KafkaSource::kMaxItemsPerMessage) + " records; " +
                 std::to_string(over) + " records from here on were not read";
      b_.quarantined.push_back(std::move(q));
      ++quarantined;
    }
    uint64_t events = 0, quarantined = 0;

   private:
    bool Room(uint64_t offset, uint64_t line) {
      if (events + quarantined < KafkaSource::kMaxItemsPerMessage - 1) return true;
      if (over++ == 0) {
        over_offset = offset;
        over_line = line;
      }
      return false;
    }
    Batch& b_;
    std::string_view name_;
    uint64_t over = 0, over_offset = 0, over_line = 1;
  };

  void QuarantineWhole(Batch& b, const std::string& name, std::string reason, Counts& c) {
    QuarantineEntry q;
    q.path = name;
    q.format_guess = "unknown";
    q.reason = std::move(reason);
    b.quarantined.push_back(std::move(q));
    ++c.quarantined;
  }

  // Takes one message into `b`; false when it was not taken (an error
  // event, or below the position: a re-delivery).
  bool Take(const rd_kafka_message_t* m, Batch& b) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        {
          std::lock_guard lock(stats_mu);
          ++stats.errors;
        }
        LogErrorLimited(m->err, "kafka consumer error");
      }
      return false;
    }
    const TopicPartition tp{m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "", m->partition};
    if (assigned.count(tp) == 0) return false;  // revoked since it was fetched
    auto pos = next.find(tp);
    if (pos != next.end() && m->offset < pos->second) return false;
    next[tp] = m->offset + 1;
    b.through[tp] = m->offset + 1;
    ++b.messages;
    b.bytes += m->len;
    Counts& c = b.counts[tp];
    ++c.messages;
    c.bytes += m->len;
    const std::string name = MessageName(tp, m->offset);
    const std::string_view value(static_cast<const char*>(m->payload), m->payload != nullptr ? m->len : 0);
    if (value.empty()) {
      QuarantineWhole(b, name, "the message has no value", c);
    } else if (value.size() > options.max_message_bytes) {
      QuarantineWhole(b, name,
                      "the message value of " + std::to_string(value.size()) + " bytes is over max_message_bytes (" +
                          std::to_string(options.max_message_bytes) + "); not read",
                      c);
    } else if (value.size() >= 2 && static_cast<unsigned char>(value[0]) == 0x1f &&
               static_cast<unsigned char>(value[1]) == 0x8b) {
      // Azure sends plain JSON; a compressed body would be a zip bomb's
      // way past max_message_bytes.
      QuarantineWhole(b, name, "the message value is gzip-compressed; only plain JSON is read", c);
    } else {
      Collect collect(b, name);
      ReadStats rs;
      (void)ReadBuffer(value, name, read_options, collect, rs);  // in-memory: fails only on gzip, refused above
      collect.Finish();
      c.events += collect.events;
      c.quarantined += collect.quarantined;
    }
    return true;
  }

  // A message seen while paused and not taken: the position must not pass
  // it, so the seek after the resume fetches it again.
  void NotTaken(const rd_kafka_message_t* m) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR || m->rkt == nullptr) return;
    const TopicPartition tp{rd_kafka_topic_name(m->rkt), m->partition};
    if (assigned.count(tp) == 0) return;
    auto [it, fresh] = next.emplace(tp, m->offset);
    if (!fresh && m->offset < it->second) it->second = m->offset;
  }

  // Offers `b` to the sink; on success records its offsets for the
  // acknowledgement and counts it.
  Status Offer(Batch& b) {
    auto seq = sink.OnSequencedBatch(std::move(b.events), std::move(b.quarantined));
    if (!seq.ok()) {
      std::lock_guard lock(stats_mu);
      ++stats.rejected_batches;
      return seq.status();
    }
    std::vector<std::pair<TopicPartition, int64_t>> through;
    for (const auto& [tp, off] : b.through) {
      if (assigned.count(tp) != 0) through.emplace_back(tp, off);
    }
    tracker.Spooled(*seq, through);
    Count(b);
    return Status::Ok();
  }

  void Settle(const Batch& b) {
    for (const auto& [tp, off] : b.through) {
      if (assigned.count(tp) != 0) tracker.Settled(tp, off);
    }
    Count(b);
  }

  void Count(const Batch& b) {
    std::lock_guard lock(stats_mu);
    for (const auto& [tp, c] : b.counts) {
      stats.messages += c.messages;
      stats.bytes += c.bytes;
      stats.events += c.events;
      stats.quarantined += c.quarantined;
      if (KafkaPartitionStats* ps = PartStats(tp)) {
        ps->messages += c.messages;
        ps->bytes += c.bytes;
        ps->events += c.events;
        ps->quarantined += c.quarantined;
      }
    }
  }

  // --- the step -------------------------------------------------------------

  Result<bool> RunOnce(int timeout_ms) {
    if (stop.load() || !rk) return false;
    if (!fatal.empty()) return Status::IoError("kafka source " + options.name + ": " + fatal);
    ApplyAcks();
    Commit(false);
    RefreshWatermarks();

    if (held) {
      Status s = Offer(*held);
      if (!s.ok()) {
        Pause();
        // Serve callbacks (rebalances, commits) without taking messages: one
        // that still arrives is dropped here and re-fetched after the resume
        // from the unchanged position.
        Message m(rd_kafka_consumer_poll(rk.get(), 0));
        if (m) NotTaken(m.get());
        CheckFatal();
        return s;
      }
      held.reset();
      Resume();
      return true;
    }

    Batch b;
    const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(0, timeout_ms));
    // Once a message is in, the batch fills for up to batch_linger_ms more:
    // every batch costs the spool an fsync, and librdkafka hands messages out
    // a fetch response at a time, so taking only what is queued at that
    // instant makes batches of a message or two.
    Clock::time_point linger_end{};
    while (!stop.load()) {
      const auto until = b.messages == 0 ? deadline : linger_end;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      const int wait = static_cast<int>(std::clamp<int64_t>(left, 0, kPollSliceMs));
      Message m(rd_kafka_consumer_poll(rk.get(), wait));
      if (!m) {
        if (Clock::now() >= until) break;
        continue;
      }
      if (b.messages == 0) linger_end = Clock::now() + std::chrono::milliseconds(std::max(0, options.batch_linger_ms));
      Take(m.get(), b);
      if (b.items() >= options.max_batch_events || b.bytes >= options.max_batch_bytes) break;
    }
    CheckFatal();
    if (b.messages == 0 || stop.load()) return false;
    if (b.items() == 0) {
      Settle(b);  // nothing to send: committable once everything before it is
      return false;
    }
    Status s = Offer(b);
    if (!s.ok()) {
      held = std::move(b);
      Pause();
      return s;
    }
    return true;
  }

  void CheckFatal() {
    if (!fatal.empty()) return;
    char buf[512] = {};
    if (rd_kafka_fatal_error(rk.get(), buf, sizeof buf) != RD_KAFKA_RESP_ERR_NO_ERROR) fatal = buf;
  }
};

KafkaSource::KafkaSource(KafkaSourceOptions options, SequencedSink& sink, log::Logger& logger)
    : impl_(std::make_unique<Impl>(std::move(options), sink, logger)) {}
KafkaSource::~KafkaSource() = default;

Status KafkaSource::Setup() { return impl_->Setup(); }
Result<bool> KafkaSource::RunOnce(int timeout_ms) { return impl_->RunOnce(timeout_ms); }
void KafkaSource::Stop() { impl_->stop.store(true); }

void KafkaSource::OnAcknowledged(uint64_t sequence) {
  std::lock_guard lock(impl_->ack_mu);
  if (impl_->acks.size() >= kMaxPendingAcks) {
    // Cannot happen short of a source that stopped stepping. Dropping the
    // oldest halts commits of their partitions until the next rebalance or
    // restart, which re-reads from the last commit: nothing is lost.
    impl_->acks.erase(impl_->acks.begin(), impl_->acks.begin() + static_cast<std::ptrdiff_t>(kMaxPendingAcks / 2));
    ++impl_->dropped_acks;
  }
  impl_->acks.push_back(sequence);
}

KafkaSourceStats KafkaSource::Stats() const {
  std::lock_guard lock(impl_->stats_mu);
  KafkaSourceStats out = impl_->stats;
  out.partitions.reserve(impl_->parts.size());
  for (const auto& [tp, ps] : impl_->parts) out.partitions.push_back(ps);
  return out;
}

const std::string& KafkaSource::name() const { return impl_->options.name; }

}  // namespace cmkwatch::collector
