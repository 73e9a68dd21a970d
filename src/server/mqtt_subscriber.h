// MqttSubscriber: device readings from an MQTT broker (libmosquitto; tested against a real
// mosquitto) into the lake through a StreamIngestor. Messages arriving together share one
// inbox sync; invalid readings are quarantined with their topic, never dropped.
//
// Threads: libmosquitto's network loop, and one committer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "ingest/stream_ingest.h"
#include "medlake/status.h"

namespace medlake::server {

struct MqttStats {
  uint64_t received = 0;
  uint64_t stored = 0;    // made durable
  uint64_t rejected = 0;  // of those, quarantined
};

class MqttSubscriber {
 public:
  explicit MqttSubscriber(ingest::StreamIngestor& ingestor);
  ~MqttSubscriber();

  // Connects to host:port and subscribes to `topic` (MQTT wildcards allowed) at QoS 1.
  Status Start(const std::string& host, uint16_t port, const std::string& topic);
  // Disconnects and commits what was received.
  void Stop();
  // Publishes `payload` on `topic` over the same connection (QoS 1, not retained). Thread-safe
  // once Start succeeded; the message is queued, not yet delivered, when this returns.
  Status Publish(const std::string& topic, std::string_view payload);
  MqttStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medlake::server
