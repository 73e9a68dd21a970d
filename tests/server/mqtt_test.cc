// Device readings through a real mosquitto broker started on loopback.
#include <gtest/gtest.h>
#include <mosquitto.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <chrono>
#include <thread>

#include "medlake/lake.h"
#include "mosquitto_broker.h"
#include "server/mqtt_subscriber.h"
#include "test_util.h"

namespace medlake::server {
namespace {

TEST(MqttTest, ReadingsBecomeObservationsAndBadOnesAreQuarantined) {
  testing::TempDir dir;
  testing::MosquittoBroker broker;
  MEDLAKE_START_OR_SKIP(broker, dir.path());
  auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
  ASSERT_TRUE(ingestor.ok()) << ingestor.status().ToString();
  MqttSubscriber sub(**ingestor);
  ASSERT_TRUE(sub.Start("127.0.0.1", broker.port(), "medlake/devices/#").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // subscription in place

  mosquitto_lib_init();
  mosquitto* pub = mosquitto_new(nullptr, true, nullptr);
  ASSERT_EQ(mosquitto_connect(pub, "127.0.0.1", broker.port(), 30), MOSQ_ERR_SUCCESS);
  ASSERT_EQ(mosquitto_loop_start(pub), MOSQ_ERR_SUCCESS);
  constexpr int kReadings = 500;
  auto publish = [&](const std::string& topic, const std::string& payload) {
    ASSERT_EQ(mosquitto_publish(pub, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                                payload.data(), 1, false),
              MOSQ_ERR_SUCCESS);
  };
  for (int i = 0; i < kReadings; ++i) {
    publish("medlake/devices/mon-" + std::to_string(i % 10),
            R"({"time":"2024-03-01T10:)" + std::to_string(10 + i / 50) + ":" +
                std::to_string(10 + i % 50) + R"(Z","device":"mon-)" + std::to_string(i % 10) +
                R"(","patient":"p)" + std::to_string(i % 10) +
                R"(","vital":"heart_rate","value":)" + std::to_string(60 + i % 30) +
                R"(,"unit":"/min"})");
  }
  publish(
      "medlake/devices/omh/p42",
      R"({"oxygen_saturation":{"value":91,"unit":"%"},"effective_time_frame":{"date_time":"2024-03-01T10:00:00Z"}})");
  publish("medlake/devices/omh/p42", R"({"heart_rate":{"value":"fast","unit":"beats/min"}})");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (sub.stats().stored < kReadings + 2u && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  mosquitto_disconnect(pub);
  mosquitto_loop_stop(pub, false);
  mosquitto_destroy(pub);
  mosquitto_lib_cleanup();
  sub.Stop();
  EXPECT_EQ(sub.stats().received, kReadings + 2u);
  EXPECT_EQ(sub.stats().rejected, 1u);
  ingestor->reset();

  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto s = (*lake)->Status();
  EXPECT_EQ(s->resources["Observation"], kReadings + 1u);
  EXPECT_EQ(s->quarantined, 1u);
  auto q = (*lake)->Quarantine(10);
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].location, "topic medlake/devices/omh/p42");
  EXPECT_NE((*q)[0].reason.find("heart_rate.value is not a number"), std::string::npos)
      << (*q)[0].reason;
}

TEST(MqttTest, PersistentSessionReceivesReadingsPublishedWhileAway) {
  testing::TempDir dir;
  testing::MosquittoBroker broker;
  MEDLAKE_START_OR_SKIP(broker, dir.path());
  auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
  ASSERT_TRUE(ingestor.ok());
  {  // Registers the session and its subscription, then goes away.
    MqttSubscriber first(**ingestor);
    ASSERT_TRUE(first.Start("127.0.0.1", broker.port(), "medlake/devices/#", "medlake-test").ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    first.Stop();
  }
  mosquitto_lib_init();
  mosquitto* pub = mosquitto_new(nullptr, true, nullptr);
  ASSERT_EQ(mosquitto_connect(pub, "127.0.0.1", broker.port(), 30), MOSQ_ERR_SUCCESS);
  ASSERT_EQ(mosquitto_loop_start(pub), MOSQ_ERR_SUCCESS);
  for (int i = 0; i < 5; ++i) {
    std::string payload =
        R"({"time":"2024-03-01T10:00:0)" + std::to_string(i) +
        R"(Z","device":"mon-1","patient":"p1","vital":"heart_rate","value":80,"unit":"/min"})";
    ASSERT_EQ(mosquitto_publish(pub, nullptr, "medlake/devices/mon-1",
                                static_cast<int>(payload.size()), payload.data(), 1, false),
              MOSQ_ERR_SUCCESS);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // at the broker, queued
  MqttSubscriber second(**ingestor);
  ASSERT_TRUE(second.Start("127.0.0.1", broker.port(), "medlake/devices/#", "medlake-test").ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (second.stats().stored < 5 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  second.Stop();
  mosquitto_disconnect(pub);
  mosquitto_loop_stop(pub, false);
  mosquitto_destroy(pub);
  mosquitto_lib_cleanup();
  EXPECT_EQ(second.stats().stored, 5u);
}

}  // namespace
}  // namespace medlake::server
