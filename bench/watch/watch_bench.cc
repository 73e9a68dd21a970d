// Live NEWS2 pipeline through a real mosquitto broker: readings/s and reading-to-alert latency.
//
//   medlake_bench_watch [READINGS=100000] [PATIENTS=1000] [RATE=10000] [LAKE_PARENT=/tmp]
//
// A mosquitto broker is started on loopback (DESIGN.md configuration). Each patient cycles
// through pulse 80, SpO2 97, temperature 37, systolic 120, respiration 16, respiration 26: the
// last reading scores 3 (RCP NEWS2 2017 chart 1) and moves the patient from low to low-medium,
// so one reading in six raises an alert (NDJSON to a file, MQTT message on the alert topic, a
// RiskAssessment stored); respiration 16 brings the patient back to low.
//
// Baseline in the same run: the same messages published to the same broker and received by a
// plain libmosquitto subscriber that stores and scores nothing (publish -> subscribe echo).
// Two modes each: a burst (everything published at once: throughput) and a paced run at RATE
// readings/s (latency at a sustained rate). medlake's figures: readings made durable and
// scored per second; latency from the reading's receipt to its alert's emission (measured by
// the Watcher) and end to end, from publish to the alert's arrival on the alert topic.
// Boost.Asio 1.74 uses std::exchange without including <utility>; it must come first.
#include <utility>
// clang-format off
#include <boost/asio.hpp>
// clang-format on
#include <mosquitto.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/fhir_time.h"
#include "ingest/stream_ingest.h"
#include "server/mqtt_publisher.h"
#include "server/mqtt_subscriber.h"
#include "watch/watcher.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kReadingTopic = "medlake/devices/bench";
constexpr const char* kAlertTopic = "medlake/alerts/news2";

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

class Broker {
 public:
  explicit Broker(const std::string& dir) {
    port_ = static_cast<uint16_t>(40000 + ::getpid() % 20000);
    std::string conf = dir + "/mosquitto.conf";
    std::ofstream(conf) << "listener " << port_
                        << " 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\n"
                           "max_queued_messages 0\npersistence false\nlog_dest none\n";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      boost::system::error_code ec;
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
      if (!ec) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::fprintf(stderr, "mosquitto did not start (is /usr/sbin/mosquitto installed?)\n");
    std::exit(1);
  }
  ~Broker() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

struct Workload {
  std::vector<std::string> payloads;
  std::vector<std::string> alert_keys;  // "patient|reading_time" of the readings that alert
  std::unordered_map<std::string, size_t> index_of_alert;
};

Workload MakeWorkload(size_t readings, size_t patients) {
  struct Step {
    const char* vital;
    const char* unit;
    double value;
  };
  static const Step kCycle[] = {{"heart_rate", "/min", 80},       {"spo2", "%", 97},
                                {"temperature", "Cel", 37},       {"systolic_bp", "mm[Hg]", 120},
                                {"respiratory_rate", "/min", 16}, {"respiratory_rate", "/min", 26}};
  Workload w;
  const int64_t t0 = 1'772'000'000'000;  // 2026-02-25
  for (size_t i = 0; i < readings; ++i) {
    size_t patient = i % patients;
    size_t n = i / patients;  // the patient's n-th reading
    const Step& s = kCycle[n % 6];
    std::string id = "b" + std::to_string(patient);
    std::string time = medlake::FormatUtc(t0 + static_cast<int64_t>(n) * 1000);
    char payload[256];
    std::snprintf(
        payload, sizeof payload,
        R"({"time":"%s","device":"mon-%zu","patient":"%s","vital":"%s","value":%g,"unit":"%s"})",
        time.c_str(), patient, id.c_str(), s.vital, s.value, s.unit);
    w.payloads.emplace_back(payload);
    if (n % 6 == 5) w.index_of_alert[id + "|" + time] = i;
  }
  return w;
}

// Publishes `payloads` (QoS 1) at `rate` per second (0: as fast as possible), recording the
// publish time of each.
void Publish(mosquitto* client, const std::vector<std::string>& payloads, double rate,
             std::vector<std::atomic<int64_t>>& sent_ns, Clock::time_point origin) {
  auto start = Clock::now();
  for (size_t i = 0; i < payloads.size(); ++i) {
    if (rate > 0 && i % 10 == 0) {
      std::this_thread::sleep_until(start + std::chrono::nanoseconds(static_cast<int64_t>(
                                                static_cast<double>(i) * 1e9 / rate)));
    }
    sent_ns[i].store(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - origin).count(),
        std::memory_order_relaxed);
    int rc;
    while ((rc = mosquitto_publish(client, nullptr, kReadingTopic,
                                   static_cast<int>(payloads[i].size()), payloads[i].data(), 1,
                                   false)) == MOSQ_ERR_NOMEM) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    if (rc != MOSQ_ERR_SUCCESS) {
      std::fprintf(stderr, "publish failed: %s\n", mosquitto_strerror(rc));
      std::exit(1);
    }
  }
}

mosquitto* Connect(uint16_t port, void* user) {
  mosquitto* m = mosquitto_new(nullptr, true, user);
  if (!m || mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS ||
      mosquitto_loop_start(m) != MOSQ_ERR_SUCCESS) {
    std::fprintf(stderr, "cannot connect to the broker\n");
    std::exit(1);
  }
  return m;
}

struct RunResult {
  double seconds = 0;
  double per_second = 0;
  double p50 = 0, p99 = 0;          // baseline: publish -> received; medlake: receipt -> alert
  double e2e_p50 = 0, e2e_p99 = 0;  // medlake: publish -> alert received
  uint64_t alerts = 0;
  double score_p50 = 0, score_p99 = 0;
};

// Baseline: a plain subscriber receives the same messages.
RunResult RunBaseline(uint16_t port, const Workload& w, double rate) {
  struct State {
    std::atomic<size_t> received{0};
    std::vector<double> latency_ms;
    std::vector<std::atomic<int64_t>>* sent = nullptr;
    Clock::time_point origin;
  } st;
  std::vector<std::atomic<int64_t>> sent(w.payloads.size());
  st.sent = &sent;
  st.latency_ms.resize(w.payloads.size());
  st.origin = Clock::now();
  mosquitto* sub = mosquitto_new(nullptr, true, &st);
  mosquitto_message_callback_set(sub, [](mosquitto*, void* self, const mosquitto_message*) {
    auto* s = static_cast<State*>(self);
    size_t i = s->received.load(std::memory_order_relaxed);  // one publisher: in order
    int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - s->origin).count();
    if (i < s->latency_ms.size())
      s->latency_ms[i] = static_cast<double>(now - (*s->sent)[i].load()) / 1e6;
    s->received.store(i + 1, std::memory_order_release);
  });
  if (mosquitto_connect(sub, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) std::exit(1);
  mosquitto_subscribe(sub, nullptr, kReadingTopic, 1);
  mosquitto_loop_start(sub);
  mosquitto* pub = Connect(port, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto start = Clock::now();
  Publish(pub, w.payloads, rate, sent, st.origin);
  while (st.received.load(std::memory_order_acquire) < w.payloads.size() &&
         Clock::now() - start < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  RunResult r;
  r.seconds = Ms(Clock::now() - start) / 1000;
  r.per_second = static_cast<double>(st.received.load()) / r.seconds;
  r.p50 = Percentile(st.latency_ms, 0.50);
  r.p99 = Percentile(st.latency_ms, 0.99);
  for (mosquitto* m : {pub, sub}) {
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
  }
  return r;
}

// medlake watch: subscriber -> inbox (durable) -> lake -> live NEWS2 -> alerts.
RunResult RunWatch(uint16_t port, const Workload& w, double rate, const std::string& lake) {
  std::filesystem::remove_all(lake);
  auto ingestor = medlake::ingest::StreamIngestor::Open(lake);
  if (!ingestor.ok()) {
    std::fprintf(stderr, "%s\n", ingestor.status().ToString().c_str());
    std::exit(1);
  }
  medlake::server::MqttSubscriber subscriber(**ingestor);
  std::FILE* alerts = std::fopen((lake + ".alerts.ndjson").c_str(), "w");
  medlake::watch::WatchOptions options;
  options.alerts = alerts;
  medlake::server::MqttPublisher publisher;
  if (!publisher.Start("127.0.0.1", port).ok()) std::exit(1);
  options.publish = [&publisher](std::string_view line) {
    return publisher.Publish(kAlertTopic, line).ok();
  };
  medlake::watch::Watcher watcher(**ingestor, options);
  if (!subscriber.Start("127.0.0.1", port, "medlake/devices/#").ok()) std::exit(1);

  struct AlertState {
    const Workload* w;
    std::vector<std::atomic<int64_t>>* sent;
    Clock::time_point origin;
    std::mutex mu;
    std::vector<double> e2e_ms;
  } as;
  std::vector<std::atomic<int64_t>> sent(w.payloads.size());
  as.w = &w;
  as.sent = &sent;
  as.origin = Clock::now();
  mosquitto* alert_sub = mosquitto_new(nullptr, true, &as);
  mosquitto_message_callback_set(alert_sub, [](mosquitto*, void* self, const mosquitto_message* m) {
    auto* s = static_cast<AlertState*>(self);
    int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - s->origin).count();
    auto j = nlohmann::json::parse(
        std::string_view(static_cast<const char*>(m->payload), static_cast<size_t>(m->payloadlen)));
    auto it = s->w->index_of_alert.find(j["patient"].get<std::string>() + "|" +
                                        j["reading_time"].get<std::string>());
    if (it == s->w->index_of_alert.end()) return;
    std::lock_guard lock(s->mu);
    s->e2e_ms.push_back(static_cast<double>(now - (*s->sent)[it->second].load()) / 1e6);
  });
  if (mosquitto_connect(alert_sub, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) std::exit(1);
  mosquitto_subscribe(alert_sub, nullptr, kAlertTopic, 1);
  mosquitto_loop_start(alert_sub);
  mosquitto* pub = Connect(port, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  auto start = Clock::now();
  Publish(pub, w.payloads, rate, sent, as.origin);
  while (subscriber.stats().stored < w.payloads.size() &&
         Clock::now() - start < std::chrono::seconds(300)) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  RunResult r;
  r.seconds = Ms(Clock::now() - start) / 1000;
  r.per_second = static_cast<double>(subscriber.stats().stored) / r.seconds;
  // Let the last alerts arrive on the alert topic.
  auto deadline = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    {
      std::lock_guard lock(as.mu);
      if (as.e2e_ms.size() >= w.index_of_alert.size()) break;
    }
    if (Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (mosquitto* m : {pub, alert_sub}) {
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
  }
  subscriber.Stop();
  watcher.Stop();
  publisher.Stop();
  std::fclose(alerts);
  auto s = watcher.stats();
  r.p50 = s.alert_p50_ms;
  r.p99 = s.alert_p99_ms;
  r.score_p50 = s.score_p50_ms;
  r.score_p99 = s.score_p99_ms;
  r.alerts = s.alerts;
  {
    std::lock_guard lock(as.mu);
    r.e2e_p50 = Percentile(as.e2e_ms, 0.50);
    r.e2e_p99 = Percentile(as.e2e_ms, 0.99);
  }
  if (s.alerts != w.index_of_alert.size()) {
    std::fprintf(stderr, "expected %zu alerts, got %llu\n", w.index_of_alert.size(),
                 static_cast<unsigned long long>(s.alerts));
  }
  ingestor->reset();
  std::filesystem::remove_all(lake);
  std::filesystem::remove(lake + ".alerts.ndjson");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  size_t readings = argc > 1 ? std::stoul(argv[1]) : 100000;
  size_t patients = argc > 2 ? std::stoul(argv[2]) : 1000;
  double rate = argc > 3 ? std::stod(argv[3]) : 10000;
  std::string parent = argc > 4 ? argv[4] : "/tmp";
  std::string dir = parent + "/medlake-bench-watch-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  mosquitto_lib_init();
  Workload w = MakeWorkload(readings, patients);
  std::printf("medlake watch: %zu readings, %zu patients, %zu alerts expected\n", readings,
              patients, w.index_of_alert.size());
  RunResult base_burst, base_paced, watch_burst, watch_paced;
  {
    Broker broker(dir);
    base_burst = RunBaseline(broker.port(), w, 0);
    watch_burst = RunWatch(broker.port(), w, 0, dir + "/lake");
    base_paced = RunBaseline(broker.port(), w, rate);
    watch_paced = RunWatch(broker.port(), w, rate, dir + "/lake");
  }
  std::printf("%-44s %12s %10s %10s %12s %12s\n", "", "readings/s", "p50 ms", "p99 ms",
              "e2e p50 ms", "e2e p99 ms");
  std::printf("%-44s %12.0f %10.2f %10.2f %12s %12s\n", "baseline: broker echo, burst",
              base_burst.per_second, base_burst.p50, base_burst.p99, "", "");
  std::printf("%-44s %12.0f %10.2f %10.2f %12.2f %12.2f\n", "medlake watch, burst",
              watch_burst.per_second, watch_burst.p50, watch_burst.p99, watch_burst.e2e_p50,
              watch_burst.e2e_p99);
  std::printf("%-44s %12.0f %10.2f %10.2f %12s %12s\n", "baseline: broker echo, paced",
              base_paced.per_second, base_paced.p50, base_paced.p99, "", "");
  std::printf("%-44s %12.0f %10.2f %10.2f %12.2f %12.2f\n", "medlake watch, paced",
              watch_paced.per_second, watch_paced.p50, watch_paced.p99, watch_paced.e2e_p50,
              watch_paced.e2e_p99);
  std::printf(
      "medlake / broker echo (burst throughput): %.2fx; alerts %llu (burst), %llu (paced)\n"
      "medlake: baseline latency is publish -> received; medlake p50/p99 are reading receipt -> "
      "alert emitted, e2e is publish -> alert received on %s\n"
      "medlake paced: receipt -> scored p50 %.2f ms, p99 %.2f ms\n",
      watch_burst.per_second / base_burst.per_second,
      static_cast<unsigned long long>(watch_burst.alerts),
      static_cast<unsigned long long>(watch_paced.alerts), kAlertTopic, watch_paced.score_p50,
      watch_paced.score_p99);
  mosquitto_lib_cleanup();
  std::filesystem::remove_all(dir);
  return 0;
}
