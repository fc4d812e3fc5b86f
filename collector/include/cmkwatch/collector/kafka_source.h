// KafkaSource: Azure Event Hubs (through its Kafka endpoint) or any Kafka
// cluster, consumed in a consumer group with librdkafka.
//
// Azure diagnostic settings stream Activity Log and Key Vault audit logs to
// an Event Hub in near real time; each Kafka message value is one Event Hubs
// event holding a {"records":[...]} batch. A collector subscribed to the hub
// learns of a deleted key seconds after it happened instead of waiting for
// the hourly blob export. Several collectors with the same group id share a
// hub's partitions, which is how collection scales past one machine
// (docs/scaling.md).
//
// Delivery (end-to-end at-least-once):
//  * Each message value goes through the same framing and parsers as a file
//    (ReadBuffer): records become events, a record the framer or a parser
//    refuses becomes a QuarantineEntry whose path names the message,
//    "kafka:<topic>/<partition>@<offset>", with the byte offset and line of
//    the record inside the message value. A message the source cannot read at
//    all (no value, larger than max_message_bytes, gzip-compressed) is one
//    QuarantineEntry saying why. Nothing is dropped silently.
//  * A message is never split across batches. A batch goes to the sink
//    (SequencedSink, the spool) and gets a spool sequence; the source
//    remembers, per sequence, how far each partition it touched was read.
//  * Offsets are committed to Kafka only once the analyzer has acknowledged
//    the batches holding them (OnAcknowledged): per partition, the committed
//    offset is the end of the longest prefix of batches that are all
//    acknowledged. A spooled but unacknowledged batch therefore keeps its
//    messages uncommitted, so a collector that dies — or whose disk, spool
//    included, is lost — loses nothing: whoever owns the partition next
//    re-reads from the committed offset, and the analyzer's insert, keyed by
//    content-derived event ids, keeps the timeline exactly-once.
//  * Commits are asynchronous and at most every commit_interval_ms, plus a
//    synchronous one when partitions are revoked and on close.
//  * Rebalance: on revocation the source commits what is acknowledged for the
//    revoked partitions and forgets their in-flight state (a batch already
//    spooled is still delivered; its offsets are just never committed by
//    this member). Eager and cooperative assignment protocols are both
//    handled. Messages of a partition are handed out in offset order; one
//    re-delivered below the position already read (after a seek) is skipped.
//  * Back-pressure: a batch the sink refuses is kept and offered again (the
//    Source contract), and every assigned partition is paused so librdkafka
//    stops fetching: memory stays bounded however long the spool is full.
//    The consumer is still polled (rebalances, heartbeats, the poll
//    interval); a message that still arrives while paused is not taken and
//    the position is not advanced past it. On resume each partition is sought
//    back to the source's own position, so nothing fetched around the pause
//    is skipped whatever librdkafka kept in its queues.
//
// Security (`security`):
//   plaintext          self-hosted brokers on a trusted network (or loopback)
//   ssl                TLS; ca_file, optional client certificate and key
//   connection_string  Event Hubs: SASL_SSL + PLAIN, user "$ConnectionString",
//                      password the namespace or hub connection string
//   sasl_plain         SASL_SSL + PLAIN with sasl_username / sasl_password
//   oauthbearer        SASL_SSL + OAUTHBEARER: tokens from an OAuth 2.0
//                      client-credentials grant (Microsoft Entra ID for Event
//                      Hubs), fetched by the collector itself because Debian's
//                      librdkafka is built without its own OIDC client
// Secrets come from `*_file` (mode 0600) or `*_env` (common/config.h) and are
// read in Setup; no log line or Status ever carries one.
//
// Threading: as every Source (source.h); OnAcknowledged and Stats may be
// called from any thread. librdkafka's own threads only call back into
// thread-safe parts (the logger, the token fetcher).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cmkwatch/collector/parse.h"
#include "cmkwatch/collector/source.h"
#include "cmkwatch/common/log.h"
#include "cmkwatch/common/config.h"
#include "cmkwatch/common/status.h"

namespace cmkwatch::collector {

enum class KafkaSecurity : uint8_t { kPlaintext, kSsl, kConnectionString, kSaslPlain, kOAuthBearer };

// "plaintext", "ssl", "connection_string", "sasl_plain", "oauthbearer".
std::string_view KafkaSecurityName(KafkaSecurity security);
std::optional<KafkaSecurity> KafkaSecurityFromName(std::string_view name);

// OAuth 2.0 client credentials (RFC 6749 §4.4). For Event Hubs:
// token_endpoint https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token,
// scope https://<namespace>.servicebus.windows.net/.default.
struct KafkaOAuthOptions {
  std::string token_endpoint;  // https://, or http:// on loopback only
  std::string client_id;
  std::string scope;
  config::SecretSource client_secret;
};

struct KafkaSourceOptions {
  // Names the source in logs and metrics; default "kafka:<first topic>".
  std::string name;
  std::vector<std::string> bootstrap_servers;  // host:port, at least one
  std::vector<std::string> topics;             // at least one
  std::string group_id = "cmkwatch";
  std::string client_id;  // default: the collector id
  KafkaSecurity security = KafkaSecurity::kPlaintext;
  config::SecretSource connection_string;  // kConnectionString
  std::string sasl_username;               // kSaslPlain
  config::SecretSource sasl_password;      // kSaslPlain
  KafkaOAuthOptions oauth;                 // kOAuthBearer
  std::string ca_file;                     // TLS modes; "" = the system's trust store
  std::string client_cert_file, client_key_file;  // kSsl, both or neither
  // Where a partition without a committed offset starts: "earliest" (a new
  // group reads what the hub still retains) or "latest".
  std::string auto_offset_reset = "earliest";

  Format format = Format::kAuto;
  ParseLimits limits;
  // A larger message value is quarantined unread. Event Hubs caps an event
  // at 1 MB on the tiers with a Kafka endpoint; self-hosted brokers may
  // allow more (their message.max.bytes).
  size_t max_message_bytes = size_t{4} << 20;
  // A batch closes after the message that brings it to either bound.
  size_t max_batch_events = 2000;            // events + quarantine entries
  size_t max_batch_bytes = size_t{8} << 20;  // message bytes
  // How long a batch may wait for more messages after its first: each
  // batch costs one spool fsync, so waiting a little makes batches of
  // hundreds of records instead of one message each, for that much latency.
  int batch_linger_ms = 20;
  int commit_interval_ms = 1000;             // 0: commit as soon as acknowledged
  // Further librdkafka properties (e.g. session.timeout.ms,
  // partition.assignment.strategy), applied last. Properties the source owns
  // (group.id, enable.auto.commit, security, SASL and SSL keys, ...) are
  // refused by the configuration reader (KafkaPropertyProblem).
  std::vector<std::pair<std::string, std::string>> properties;
};

// Why a passthrough property cannot be set in `properties` ("" when it can):
// the source's own settings, and anything that would hold a secret inline.
std::string KafkaPropertyProblem(std::string_view name);

// Acknowledgement-driven sources hand batches to a sink that says which
// spool sequence each got.
class SequencedSink {
 public:
  virtual ~SequencedSink() = default;
  // As SourceSink::OnBatch: on failure nothing is taken and the vectors are
  // left as they were (the same batch comes again); on success the batch is
  // durable under the returned sequence.
  virtual Result<uint64_t> OnSequencedBatch(std::vector<Event>&& events,
                                            std::vector<QuarantineEntry>&& quarantined) = 0;
};

struct KafkaPartitionStats {
  std::string topic;
  int32_t partition = 0;
  uint64_t messages = 0;     // messages taken (their batch accepted, or read with nothing in them)
  uint64_t bytes = 0;        // message value bytes of those
  uint64_t events = 0;
  uint64_t quarantined = 0;
  int64_t committed = -1;       // last offset Kafka confirmed committed by this member; -1 none
  int64_t high_watermark = -1;  // as last seen in a fetch; -1 unknown
  bool assigned = false;
  bool operator==(const KafkaPartitionStats&) const = default;
};

struct KafkaSourceStats {
  uint64_t messages = 0, bytes = 0, events = 0, quarantined = 0;
  uint64_t rejected_batches = 0;  // OnSequencedBatch refusals (back-pressure)
  uint64_t commits = 0;           // partition offsets Kafka confirmed committed
  uint64_t commit_failures = 0;   // partition offsets a commit failed for
  uint64_t rebalances = 0;        // assignments and revocations
  uint64_t errors = 0;            // client errors reported by librdkafka (transient ones included)
  uint64_t assigned_partitions = 0;
  bool paused = false;            // consumption paused by back-pressure
  // Every partition this member has held since it started (at most
  // kMaxTrackedPartitions), by topic and partition.
  std::vector<KafkaPartitionStats> partitions;
};

class KafkaSource final : public Source {
 public:
  static constexpr size_t kMaxTrackedPartitions = 4096;
  // Records (events + quarantine entries) kept from one message; past this
  // the rest of the message is one QuarantineEntry (a value this large in
  // records is not what Azure sends, and a batch must stay within
  // wire::kMaxItems).
  static constexpr size_t kMaxItemsPerMessage = 50'000;

  // `sink` and `logger` must outlive the source. Nothing is opened here.
  KafkaSource(KafkaSourceOptions options, SequencedSink& sink, log::Logger& logger);
  ~KafkaSource() override;  // commits what is acknowledged, leaves the group
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  // Reads the secrets, creates the consumer and subscribes. InvalidArgument
  // / NotFound for configuration librdkafka refuses or a secret that cannot
  // be read; brokers are reached asynchronously, so an unreachable cluster
  // is not an error here (it is logged and retried).
  Status Setup() override;
  // One step: commits what acknowledgements allow, then offers a refused
  // batch again or consumes up to one batch (waiting up to timeout_ms for
  // the first message). A fatal client error is returned as IoError.
  Result<bool> RunOnce(int timeout_ms) override;
  void Stop() override;
  void OnAcknowledged(uint64_t sequence) override;

  KafkaSourceStats Stats() const;
  const std::string& name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;  // keeps librdkafka out of this header
};

}  // namespace cmkwatch::collector
