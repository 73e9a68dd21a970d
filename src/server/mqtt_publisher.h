// MqttPublisher: publishes messages (watch alerts) to an MQTT broker over its own connection
// (libmosquitto), so that it outlives the subscriber whose readings trigger them: a
// subscriber that stops first still stores what it received, and the alerts of those readings
// are still sent.
//
// Thread-safe once Start succeeded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "medlake/status.h"

struct mosquitto;

namespace medlake::server {

class MqttPublisher {
 public:
  MqttPublisher();
  ~MqttPublisher();
  MqttPublisher(const MqttPublisher&) = delete;
  MqttPublisher& operator=(const MqttPublisher&) = delete;

  Status Start(const std::string& host, uint16_t port);
  // Queues `payload` on `topic` at QoS 1, not retained (delivered by the network thread).
  Status Publish(const std::string& topic, std::string_view payload);
  // Sends what is queued, then disconnects.
  void Stop();

 private:
  mosquitto* client_ = nullptr;
  bool running_ = false;
};

}  // namespace medlake::server
