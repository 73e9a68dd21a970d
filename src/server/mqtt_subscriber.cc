#include "server/mqtt_subscriber.h"

#include <mosquitto.h>

#include <thread>

#include "server/group_commit.h"

namespace medlake::server {

struct MqttSubscriber::Impl {
  ingest::StreamIngestor& ingestor;
  mosquitto* client = nullptr;
  std::thread committer;
  GroupCommitQueue<ingest::StreamIngestor::Reading> queue;
  std::atomic<uint64_t> received{0}, stored{0}, rejected{0}, lost{0};

  explicit Impl(ingest::StreamIngestor& i) : ingestor(i) {}

  static void OnMessage(mosquitto*, void* self, const mosquitto_message* m) {
    auto* im = static_cast<Impl*>(self);
    ingest::StreamIngestor::Reading r{
        m->topic ? m->topic : "",
        std::string(static_cast<const char*>(m->payload), static_cast<size_t>(m->payloadlen)),
        ingest::StreamClock::now()};
    ++im->received;
    im->queue.Push(std::move(r));
  }

  void Commit() {
    queue.Run(
        8192,
        [&](std::vector<ingest::StreamIngestor::Reading>& batch) {
          auto outcomes = ingestor.AcceptDeviceReadings(batch);
          if (!outcomes.ok()) {
            lost += batch.size();
            return;
          }
          stored += batch.size();
          for (const auto& o : *outcomes) rejected += !o.ok();
        },
        [&] { (void)ingestor.MaybeCheckpoint(); });
  }
};

MqttSubscriber::MqttSubscriber(ingest::StreamIngestor& ingestor)
    : impl_(std::make_unique<Impl>(ingestor)) {
  mosquitto_lib_init();
}

MqttSubscriber::~MqttSubscriber() {
  Stop();
  if (impl_->client) mosquitto_destroy(impl_->client);
  mosquitto_lib_cleanup();
}

Status MqttSubscriber::Start(const std::string& host, uint16_t port, const std::string& topic,
                             const std::string& client_id) {
  Impl& im = *impl_;
  im.client = client_id.empty() ? mosquitto_new(nullptr, true, &im)
                                : mosquitto_new(client_id.c_str(), false, &im);
  if (!im.client) return Internal("cannot create an MQTT client");
  mosquitto_message_callback_set(im.client, &Impl::OnMessage);
  int rc = mosquitto_connect(im.client, host.c_str(), port, 30);
  if (rc != MOSQ_ERR_SUCCESS) {
    return IoError("cannot connect to MQTT broker " + host + ":" + std::to_string(port) + ": " +
                   mosquitto_strerror(rc));
  }
  rc = mosquitto_subscribe(im.client, nullptr, topic.c_str(), 1);
  if (rc != MOSQ_ERR_SUCCESS)
    return InvalidArgument("cannot subscribe to '" + topic + "': " + mosquitto_strerror(rc));
  im.committer = std::thread([&im] { im.Commit(); });
  rc = mosquitto_loop_start(im.client);
  if (rc != MOSQ_ERR_SUCCESS)
    return Internal(std::string("cannot start the MQTT loop: ") + mosquitto_strerror(rc));
  return Status::Ok();
}

void MqttSubscriber::Stop() {
  Impl& im = *impl_;
  if (!im.client || !im.committer.joinable()) return;
  mosquitto_disconnect(im.client);
  mosquitto_loop_stop(im.client, false);
  im.queue.Stop();
  im.committer.join();  // drains the queue first
  (void)im.ingestor.Checkpoint();
}

MqttStats MqttSubscriber::stats() const {
  return {impl_->received.load(), impl_->stored.load(), impl_->rejected.load(), impl_->lost.load()};
}

}  // namespace medlake::server
