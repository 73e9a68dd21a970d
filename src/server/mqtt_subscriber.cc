#include "server/mqtt_subscriber.h"

#include <mosquitto.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace medlake::server {

struct MqttSubscriber::Impl {
  ingest::StreamIngestor& ingestor;
  mosquitto* client = nullptr;
  std::thread committer;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<ingest::StreamIngestor::Reading> queue;
  bool stopping = false;
  std::atomic<uint64_t> received{0}, stored{0}, rejected{0};

  explicit Impl(ingest::StreamIngestor& i) : ingestor(i) {}

  static void OnMessage(mosquitto*, void* self, const mosquitto_message* m) {
    auto* im = static_cast<Impl*>(self);
    ingest::StreamIngestor::Reading r{
        m->topic ? m->topic : "",
        std::string(static_cast<const char*>(m->payload), static_cast<size_t>(m->payloadlen))};
    ++im->received;
    {
      std::lock_guard lock(im->mu);
      im->queue.push_back(std::move(r));
    }
    im->cv.notify_one();
  }

  void Commit() {
    for (;;) {
      std::vector<ingest::StreamIngestor::Reading> batch;
      {
        std::unique_lock lock(mu);
        cv.wait_for(lock, std::chrono::milliseconds(200),
                    [&] { return !queue.empty() || stopping; });
        if (queue.empty()) {
          if (stopping) return;
          lock.unlock();
          (void)ingestor.MaybeCheckpoint();
          continue;
        }
        while (!queue.empty() && batch.size() < 8192) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      auto outcomes = ingestor.AcceptDeviceReadings(batch);
      if (outcomes.ok()) {
        stored += batch.size();
        for (const auto& o : *outcomes) rejected += !o.ok();
      }
      (void)ingestor.MaybeCheckpoint();
    }
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

Status MqttSubscriber::Start(const std::string& host, uint16_t port, const std::string& topic) {
  Impl& im = *impl_;
  im.client = mosquitto_new(nullptr, true, &im);
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
  {
    std::lock_guard lock(im.mu);
    im.stopping = true;
  }
  im.cv.notify_all();
  im.committer.join();  // drains the queue first
  (void)im.ingestor.Checkpoint();
}

MqttStats MqttSubscriber::stats() const {
  return {impl_->received.load(), impl_->stored.load(), impl_->rejected.load()};
}

}  // namespace medlake::server
