#include "server/mqtt_subscriber.h"

#include <mosquitto.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/group_commit.h"

namespace medlake::server {

struct MqttSubscriber::Impl {
  ingest::StreamIngestor& ingestor;
  mosquitto* client = nullptr;
  std::string broker, topic;
  std::function<void(const std::string&)> on_notice;
  std::thread committer;
  GroupCommitQueue<ingest::StreamIngestor::Reading> queue;
  std::atomic<uint64_t> received{0}, stored{0}, rejected{0}, lost{0}, connects{0};
  // The outcome of the first subscription, awaited by Start().
  std::mutex mu;
  std::condition_variable first_outcome;
  bool first_done = false;  // guarded by mu
  Status first_status;      // guarded by mu

  explicit Impl(ingest::StreamIngestor& i) : ingestor(i) {}

  void Notice(const std::string& text) const {
    if (on_notice) on_notice(text);
  }

  void SetFirstOutcome(Status status) {
    {
      std::lock_guard lock(mu);
      if (first_done) return;
      first_done = true;
      first_status = std::move(status);
    }
    first_outcome.notify_all();
  }

  // Every (re)connection subscribes again: with a clean session the broker forgot the
  // subscription when the connection dropped (and a restarted broker without persistence
  // forgets it in any case), and libmosquitto's loop reconnects without subscribing.
  static void OnConnect(mosquitto* client, void* self, int rc) {
    auto* im = static_cast<Impl*>(self);
    if (rc != 0) {
      std::string reason =
          std::string("the broker refused the connection: ") + mosquitto_connack_string(rc);
      im->Notice("MQTT: " + im->broker + ": " + reason);
      im->SetFirstOutcome(IoError("MQTT broker " + im->broker + ": " + reason));
      return;
    }
    if (++im->connects > 1) {
      im->Notice("MQTT: reconnected to " + im->broker + ", subscribing again to " + im->topic);
    }
    int s = mosquitto_subscribe(client, nullptr, im->topic.c_str(), 1);
    if (s != MOSQ_ERR_SUCCESS) {
      im->Notice("MQTT: cannot subscribe to " + im->topic + ": " + mosquitto_strerror(s));
      im->SetFirstOutcome(
          InvalidArgument("cannot subscribe to '" + im->topic + "': " + mosquitto_strerror(s)));
    }
  }

  static void OnSubscribe(mosquitto*, void* self, int, int count, const int* granted) {
    auto* im = static_cast<Impl*>(self);
    if (count < 1 || granted[0] > 2) {  // 0x80: the broker refused the subscription
      im->Notice("MQTT: the broker refused the subscription to " + im->topic);
      im->SetFirstOutcome(InvalidArgument("the MQTT broker " + im->broker +
                                          " refused the subscription to '" + im->topic + "'"));
      return;
    }
    im->SetFirstOutcome(Status::Ok());
  }

  static void OnDisconnect(mosquitto*, void* self, int rc) {
    auto* im = static_cast<Impl*>(self);
    if (rc == 0) return;  // asked for by Stop()
    std::string reason = mosquitto_strerror(rc);
    if (reason.ends_with('.')) reason.pop_back();
    im->Notice("MQTT: connection to " + im->broker + " lost (" + reason +
               "); reconnecting every second");
  }

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
                             const std::string& client_id,
                             std::function<void(const std::string&)> on_notice) {
  Impl& im = *impl_;
  im.broker = host + ":" + std::to_string(port);
  im.topic = topic;
  im.on_notice = std::move(on_notice);
  im.client = client_id.empty() ? mosquitto_new(nullptr, true, &im)
                                : mosquitto_new(client_id.c_str(), false, &im);
  if (!im.client) return Internal("cannot create an MQTT client");
  mosquitto_message_callback_set(im.client, &Impl::OnMessage);
  mosquitto_connect_callback_set(im.client, &Impl::OnConnect);
  mosquitto_subscribe_callback_set(im.client, &Impl::OnSubscribe);
  mosquitto_disconnect_callback_set(im.client, &Impl::OnDisconnect);
  mosquitto_reconnect_delay_set(im.client, 1, 1, false);
  int rc = mosquitto_connect(im.client, host.c_str(), port, 30);
  if (rc != MOSQ_ERR_SUCCESS) {
    return IoError("cannot connect to MQTT broker " + im.broker + ": " + mosquitto_strerror(rc));
  }
  im.committer = std::thread([&im] { im.Commit(); });
  rc = mosquitto_loop_start(im.client);
  if (rc != MOSQ_ERR_SUCCESS)
    return Internal(std::string("cannot start the MQTT loop: ") + mosquitto_strerror(rc));
  // The subscription is made by the connect callback; wait for the broker's answer.
  std::unique_lock lock(im.mu);
  if (!im.first_outcome.wait_for(lock, std::chrono::seconds(30), [&] { return im.first_done; })) {
    return IoError("MQTT broker " + im.broker + " did not confirm the subscription to '" + topic +
                   "' within 30 s");
  }
  return im.first_status;
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
  return {impl_->received.load(), impl_->stored.load(), impl_->rejected.load(), impl_->lost.load(),
          impl_->connects.load()};
}

}  // namespace medlake::server
