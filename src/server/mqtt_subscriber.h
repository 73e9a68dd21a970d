// MqttSubscriber: device readings from an MQTT broker (libmosquitto; tested against a real
// mosquitto) into the lake through a StreamIngestor. Messages arriving together share one
// inbox sync; invalid readings are quarantined with their topic, never dropped.
//
// Threads: libmosquitto's network loop, and one committer.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ingest/stream_ingest.h"
#include "medlake/status.h"

namespace medlake::server {

struct MqttStats {
  uint64_t received = 0;
  uint64_t stored = 0;    // made durable
  uint64_t rejected = 0;  // of those, quarantined
  // Received (and acknowledged to the broker) but not made durable: the inbox could not be
  // written, or the ingestor had failed. The listener stops on such a failure.
  uint64_t lost = 0;
  uint64_t connects = 0;  // connections to the broker: the first, then each reconnection
};

class MqttSubscriber {
 public:
  explicit MqttSubscriber(ingest::StreamIngestor& ingestor);
  ~MqttSubscriber();

  // Connects to host:port and subscribes to `topic` (MQTT wildcards allowed) at QoS 1. With a
  // `client_id`, the session is persistent (clean session off): the broker keeps the QoS 1
  // readings published while this client is away and delivers them when a subscriber with the
  // same id connects again. Without one, a clean session: readings sent while it is away are
  // not kept.
  //
  // Acknowledgement (libmosquitto 2.0.11, Debian 12): the library queues the PUBACK of a QoS 1
  // message before it calls the message callback and offers no way to delay it (upstream issues
  // eclipse/mosquitto#118 and #2884), so a reading is acknowledged to the broker before it is in
  // the inbox; a crash in that window (one group commit, milliseconds) loses what was in it.
  // docs/architecture.md has the details.
  //
  // The connection is kept: when it drops (a broker restart), libmosquitto reconnects every
  // second and each connection subscribes again; `on_notice` (called from the MQTT thread,
  // never with patient data) hears of each loss and reconnection. Returns once the broker
  // has granted the first subscription; an error when it refuses the connection or the
  // subscription, or does not answer within 30 s.
  Status Start(const std::string& host, uint16_t port, const std::string& topic,
               const std::string& client_id = "",
               std::function<void(const std::string&)> on_notice = {});
  // Disconnects and commits what was received.
  void Stop();
  MqttStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medlake::server
