// cmkwatch-test-kafka: a real Kafka protocol endpoint on loopback for the
// Kafka source's tests and benchmark — librdkafka's mock cluster, kept
// alive by this process while collector processes connect to it.
//
//   cmkwatch-test-kafka --brokers N --topic NAME:PARTITIONS [--topic ...]
//
// Prints "bootstrap HOST:PORT,..." once the cluster listens, then reads one
// command per line on stdin and answers each with one line, "ok ..." or
// "error ...":
//   produce TOPIC PARTITION FILE   each line of FILE is one message value
//                                  ("!null" = a message without a value);
//                                  PARTITION -1 spreads them round-robin;
//                                  answers after every message is acked:
//                                  "ok <messages>"
//   committed GROUP TOPIC          the group's committed offset of each
//                                  partition: "ok O0 O1 ..." (-1: none)
//   watermarks TOPIC               each partition's end offset: "ok H0 H1 ..."
//   starts TOPIC                   each partition's first offset still held:
//                                  "ok L0 L1 ..." (the mock cluster keeps only
//                                  the last 5 MB or so of each partition and
//                                  drops older messages, as retention would)
//   errors APIKEY CODE COUNT       the next COUNT requests of APIKEY fail
//                                  with error CODE (rd_kafka_resp_err_t)
//   down BROKER | up BROKER        a broker stops / starts answering
// Exits at the end of stdin (the cluster goes with it).
//
// A test helper, not a product: it trusts its caller.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct KafkaDeleter {
  void operator()(rd_kafka_t* k) const { rd_kafka_destroy(k); }
};
using Kafka = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
};
struct MockDeleter {
  void operator()(rd_kafka_mock_cluster_t* m) const { rd_kafka_mock_cluster_destroy(m); }
};

Kafka NewClient(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "cmkwatch-test-kafka: %s\n", err);
      std::exit(1);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) {
    std::fprintf(stderr, "cmkwatch-test-kafka: %s\n", err);
    std::exit(1);
  }
  return Kafka(rk);
}

std::atomic<long> failed_deliveries{0};
void DeliveryCb(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++failed_deliveries;
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 1;
  std::map<std::string, int> topics;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--brokers") {
      brokers = std::atoi(v.c_str());
    } else if (a == "--topic") {
      const size_t colon = v.rfind(':');
      topics[v.substr(0, colon)] = colon == std::string::npos ? 1 : std::atoi(v.c_str() + colon + 1);
    }
  }
  // The cluster runs on this handle's threads.
  Kafka owner = NewClient(RD_KAFKA_PRODUCER, {{"log_level", "3"}});
  std::unique_ptr<rd_kafka_mock_cluster_t, MockDeleter> mock(rd_kafka_mock_cluster_new(owner.get(), brokers));
  if (!mock) {
    std::fprintf(stderr, "cmkwatch-test-kafka: cannot create the mock cluster\n");
    return 1;
  }
  for (const auto& [t, n] : topics) rd_kafka_mock_topic_create(mock.get(), t.c_str(), n, std::min(brokers, 3));
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(mock.get());

  rd_kafka_conf_t* pconf = rd_kafka_conf_new();
  char err[512];
  for (auto [k, v] : std::vector<std::pair<const char*, const char*>>{{"bootstrap.servers", bootstrap.c_str()},
                                                                      {"linger.ms", "5"},
                                                                      {"queue.buffering.max.kbytes", "1048576"},
                                                                      {"queue.buffering.max.messages", "1000000"},
                                                                      {"message.max.bytes", "67108864"},
                                                                      {"log_level", "3"}}) {
    rd_kafka_conf_set(pconf, k, v, err, sizeof err);
  }
  rd_kafka_conf_set_dr_msg_cb(pconf, &DeliveryCb);
  Kafka producer(rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err));
  if (!producer) {
    std::fprintf(stderr, "cmkwatch-test-kafka: %s\n", err);
    return 1;
  }
  std::printf("bootstrap %s\n", bootstrap.c_str());
  std::fflush(stdout);

  std::map<std::string, Kafka> group_clients;  // by group id, for committed offsets
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    std::string answer = "ok";
    if (cmd == "produce") {
      std::string topic, file;
      int partition = -1;
      in >> topic >> partition >> file;
      const int parts = topics.count(topic) ? topics[topic] : 1;
      // rd_kafka_produce rather than producev: the latter's macros are C casts.
      rd_kafka_topic_t* rkt = rd_kafka_topic_new(producer.get(), topic.c_str(), nullptr);
      std::ifstream values(file, std::ios::binary);
      std::string value;
      long n = 0;
      failed_deliveries = 0;
      while (std::getline(values, value)) {
        const int32_t p = partition >= 0 ? partition : static_cast<int32_t>(n % parts);
        const bool null = value == "!null";
        for (;;) {
          const rd_kafka_resp_err_t e =
              rd_kafka_produce(rkt, p, RD_KAFKA_MSG_F_COPY, null ? nullptr : value.data(), null ? 0 : value.size(),
                               nullptr, 0, nullptr) == 0
                  ? RD_KAFKA_RESP_ERR_NO_ERROR
                  : rd_kafka_last_error();
          if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(producer.get(), 50);
            continue;
          }
          if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            answer = std::string("error ") + rd_kafka_err2str(e);
          }
          break;
        }
        ++n;
        rd_kafka_poll(producer.get(), 0);
      }
      rd_kafka_flush(producer.get(), 60'000);
      rd_kafka_topic_destroy(rkt);
      if (failed_deliveries > 0) answer = "error " + std::to_string(failed_deliveries.load()) + " not delivered";
      if (answer == "ok") answer = "ok " + std::to_string(n);
    } else if (cmd == "committed") {
      std::string group, topic;
      in >> group >> topic;
      auto& client = group_clients[group];
      if (!client) {
        client = NewClient(RD_KAFKA_CONSUMER,
                           {{"bootstrap.servers", bootstrap}, {"group.id", group}, {"log_level", "3"}});
      }
      const int parts = topics.count(topic) ? topics[topic] : 1;
      std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter> list(rd_kafka_topic_partition_list_new(parts));
      for (int p = 0; p < parts; ++p) rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
      const rd_kafka_resp_err_t e = rd_kafka_committed(client.get(), list.get(), 10'000);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        answer = std::string("error ") + rd_kafka_err2str(e);
      } else {
        for (int p = 0; p < list->cnt; ++p) {
          const int64_t o = list->elems[p].offset;
          answer += " " + std::to_string(o < 0 ? -1 : o);
        }
      }
    } else if (cmd == "watermarks" || cmd == "starts") {
      std::string topic;
      in >> topic;
      const int parts = topics.count(topic) ? topics[topic] : 1;
      for (int p = 0; p < parts; ++p) {
        int64_t lo = -1, hi = -1;
        rd_kafka_query_watermark_offsets(producer.get(), topic.c_str(), p, &lo, &hi, 10'000);
        answer += " " + std::to_string(cmd == "starts" ? lo : hi);
      }
    } else if (cmd == "errors") {
      int api = 0, code = 0;
      size_t count = 0;
      in >> api >> code >> count;
      std::vector<rd_kafka_resp_err_t> errs(count, static_cast<rd_kafka_resp_err_t>(code));
      rd_kafka_mock_push_request_errors_array(mock.get(), static_cast<int16_t>(api), count, errs.data());
    } else if (cmd == "down" || cmd == "up") {
      int id = 0;
      in >> id;
      const rd_kafka_resp_err_t e = cmd == "down" ? rd_kafka_mock_broker_set_down(mock.get(), id)
                                                  : rd_kafka_mock_broker_set_up(mock.get(), id);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) answer = std::string("error ") + rd_kafka_err2str(e);
    } else {
      answer = "error unknown command";
    }
    std::printf("%s\n", answer.c_str());
    std::fflush(stdout);
  }
  group_clients.clear();
  producer.reset();
  mock.reset();
  return 0;
}
