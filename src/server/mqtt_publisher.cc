#include "server/mqtt_publisher.h"

#include <mosquitto.h>

namespace medlake::server {

MqttPublisher::MqttPublisher() {
  mosquitto_lib_init();
}

MqttPublisher::~MqttPublisher() {
  Stop();
  if (client_) mosquitto_destroy(client_);
  mosquitto_lib_cleanup();
}

Status MqttPublisher::Start(const std::string& host, uint16_t port) {
  client_ = mosquitto_new(nullptr, true, nullptr);
  if (!client_) return Internal("cannot create an MQTT client");
  int rc = mosquitto_connect(client_, host.c_str(), port, 30);
  if (rc != MOSQ_ERR_SUCCESS) {
    return IoError("cannot connect to MQTT broker " + host + ":" + std::to_string(port) + ": " +
                   mosquitto_strerror(rc));
  }
  rc = mosquitto_loop_start(client_);
  if (rc != MOSQ_ERR_SUCCESS)
    return Internal(std::string("cannot start the MQTT loop: ") + mosquitto_strerror(rc));
  running_ = true;
  return Status::Ok();
}

Status MqttPublisher::Publish(const std::string& topic, std::string_view payload) {
  if (!running_) return Internal("MQTT publisher not started");
  int rc = mosquitto_publish(client_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), 1, false);
  if (rc != MOSQ_ERR_SUCCESS)
    return IoError("cannot publish to '" + topic + "': " + mosquitto_strerror(rc));
  return Status::Ok();
}

void MqttPublisher::Stop() {
  if (!running_) return;
  running_ = false;
  mosquitto_disconnect(client_);  // queued after the messages, so sent after them
  mosquitto_loop_stop(client_, false);
}

}  // namespace medlake::server
