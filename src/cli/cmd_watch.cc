// watch: live NEWS2 scoring of readings as they arrive (MQTT, MLLP ORU, NDJSON replay), with
// alerts as NDJSON, MQTT messages and stored RiskAssessments (docs/news2.md).
#include <fmt/format.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/access_options.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/stop_wait.h"
#include "common/fhir_time.h"
#include "server/mllp_server.h"
#include "server/mqtt_publisher.h"
#include "server/mqtt_subscriber.h"
#include "watch/replay.h"
#include "watch/watcher.h"

namespace medlake::cli {
namespace {

struct WatchArgs {
  std::string lake, host = "127.0.0.1", mqtt, topic = "medlake/devices/#",
                    alert_topic = "medlake/alerts/news2", alerts, at, mqtt_client_id;
  std::vector<std::string> replay;
  int port = -1;
  double window_hours = 0, checkpoint_seconds = 0;
  bool no_risk_assessments = false;
  AccessOptions access;
};

int RunWatch(const WatchArgs& a) {
  if (a.port < 0 && a.mqtt.empty() && a.replay.empty())
    return Fail(InvalidArgument("give --mqtt HOST:PORT, --mllp PORT and/or --replay FILE|-"));
  std::string mqtt_host;
  uint16_t mqtt_port = 1883;
  if (!a.mqtt.empty()) {
    auto colon = a.mqtt.rfind(':');
    mqtt_host = a.mqtt.substr(0, colon);
    if (colon != std::string::npos) {
      try {
        mqtt_port = static_cast<uint16_t>(std::stoi(a.mqtt.substr(colon + 1)));
      } catch (const std::exception&) {
        return Fail(InvalidArgument("--mqtt expects HOST:PORT, got " + a.mqtt));
      }
    }
  }
  int64_t at = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  if (!a.at.empty()) {
    auto t = ParseFhirTime(a.at);
    if (!t) return Fail(InvalidArgument("--at: not a FHIR dateTime: " + a.at));
    at = t->start;
  }
  for (const auto& file : a.replay) {  // before anything is opened or created
    std::error_code ec;
    if (file != "-" && (!std::filesystem::exists(file, ec) ||
                        std::filesystem::is_directory(file, ec))) {  // pipes are read too
      return Fail(NotFound("--replay: no file " + file));
    }
  }
  // In a lake with a key, watch stores readings and RiskAssessments and shows patient-level
  // alerts: the admin's; start and stop are audited (the stop with the patients scored).
  auto access = OpenAccess(a.lake, a.access, query::OutputKind::kWrite, "watch");
  if (!access.ok()) return Fail(access.status());
  if (Status s = (*access)->Audit("watch.start", "watch", -1); !s.ok()) return Fail(s);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> alerts_file(nullptr, &std::fclose);
  if (!a.alerts.empty()) {  // once the caller may run watch: a refused one creates nothing
    alerts_file.reset(std::fopen(a.alerts.c_str(), "a"));
    if (!alerts_file) {
      return FailAudited(**access, "watch", IoError("cannot open " + a.alerts + " for appending"));
    }
  }
  // Block the stop signals before any thread starts, then wait for one here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ingest::StreamOptions stream_options;
  if (a.checkpoint_seconds > 0)
    stream_options.checkpoint_interval =
        std::chrono::milliseconds(static_cast<int64_t>(a.checkpoint_seconds * 1000));
  auto ingestor = ingest::StreamIngestor::Open(a.lake, stream_options);
  if (!ingestor.ok()) return FailAudited(**access, "watch", ingestor.status());
  server::MqttSubscriber subscriber(**ingestor);
  server::MllpServer mllp(**ingestor);

  watch::WatchOptions options;
  if (a.window_hours > 0)
    options.news2.window_ms.fill(static_cast<int64_t>(a.window_hours * 3'600'000));
  options.alerts = alerts_file ? alerts_file.get() : stdout;
  options.store_risk_assessments = !a.no_risk_assessments;
  server::MqttPublisher publisher;
  if (!a.mqtt.empty()) {
    Status s = publisher.Start(mqtt_host, mqtt_port);
    if (!s.ok()) return FailAudited(**access, "watch", s);
    options.publish = [&publisher, topic = a.alert_topic](std::string_view line) {
      return publisher.Publish(topic, line).ok();
    };
  }
  watch::Watcher watcher(**ingestor, options);
  auto seeded = watcher.Seed(a.lake, at);
  if (!seeded.ok()) return FailAudited(**access, "watch", seeded.status());
  std::fprintf(stderr, "watch: %zu current inpatients at %s loaded from %s\n", *seeded,
               FormatUtc(at).c_str(), a.lake.c_str());

  if (!a.mqtt.empty()) {
    Status s = subscriber.Start(
        mqtt_host, mqtt_port, a.topic, a.mqtt_client_id,
        [](const std::string& notice) { std::fprintf(stderr, "watch: %s\n", notice.c_str()); });
    if (!s.ok()) return FailAudited(**access, "watch", s);
    std::fprintf(stderr, "watch: subscribed to MQTT %s:%u topic %s, alerts on %s\n",
                 mqtt_host.c_str(), mqtt_port, a.topic.c_str(), a.alert_topic.c_str());
  }
  if (a.port >= 0) {
    server::MllpOptions mllp_options;
    mllp_options.on_notice = [](const std::string& notice) {
      std::fprintf(stderr, "watch: %s\n", notice.c_str());
    };
    auto bound = mllp.Start(a.host, static_cast<uint16_t>(a.port), std::move(mllp_options));
    if (!bound.ok()) return FailAudited(**access, "watch", bound.status());
    std::fprintf(stderr, "watch: listening for MLLP on %s:%u\n", a.host.c_str(), *bound);
  }
  for (const auto& file : a.replay) {
    std::FILE* in = file == "-" ? stdin : std::fopen(file.c_str(), "r");
    if (!in) return FailAudited(**access, "watch", IoError("cannot open " + file));
    auto n = watch::ReplayReadings(**ingestor, in, file == "-" ? "stdin" : file);
    if (in != stdin) std::fclose(in);
    if (!n.ok()) return FailAudited(**access, "watch", n.status());
    std::fprintf(stderr, "watch: replayed %llu readings from %s\n",
                 static_cast<unsigned long long>(*n), file.c_str());
  }
  if (!a.mqtt.empty() || a.port >= 0) {
    std::fprintf(stderr, "watch: lake %s (Ctrl-C to stop)\n", a.lake.c_str());
    (void)WaitForStop(signals, **ingestor);
  }
  mllp.Stop();
  subscriber.Stop();  // stores (and so scores) what it received
  watcher.Stop();
  publisher.Stop();  // after the last alert
  Status checkpoint = (*ingestor)->Close();
  if (std::string w = (*ingestor)->warning(); !w.empty()) {
    std::fprintf(stderr, "medlake: warning: %s\n", w.c_str());
  }
  auto s = watcher.stats();
  auto st = (*ingestor)->stats();
  std::fprintf(stderr,
               "watch: %llu records made durable (%llu quarantined), %llu NEWS2 readings, %zu "
               "patients, %llu alerts, %llu RiskAssessments stored\n",
               static_cast<unsigned long long>(st.accepted),
               static_cast<unsigned long long>(st.rejected),
               static_cast<unsigned long long>(s.readings), s.patients,
               static_cast<unsigned long long>(s.alerts),
               static_cast<unsigned long long>(s.risk_assessments));
  std::fprintf(stderr,
               "watch: latency reading receipt -> alert p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
               "receipt -> scored p50 %.2f ms, p99 %.2f ms\n",
               s.alert_p50_ms, s.alert_p99_ms, s.alert_max_ms, s.score_p50_ms, s.score_p99_ms);
  if (s.future_readings > 0 || s.retracted > 0) {
    std::fprintf(stderr,
                 "watch: %llu readings timed in the future (over 5 min ahead of the clock) not "
                 "scored; %llu Observations entered in error taken back\n",
                 static_cast<unsigned long long>(s.future_readings),
                 static_cast<unsigned long long>(s.retracted));
  }
  if (s.write_failures > 0 || s.publish_failures > 0 || s.store_failures > 0) {
    std::fprintf(stderr,
                 "watch: %llu alerts not written, %llu not published, %llu RiskAssessment batches "
                 "not stored\n",
                 static_cast<unsigned long long>(s.write_failures),
                 static_cast<unsigned long long>(s.publish_failures),
                 static_cast<unsigned long long>(s.store_failures));
  }
  Status audited = (*access)->Audit("watch",
                                    fmt::format("{} readings, {} alerts, {} RiskAssessments stored",
                                                s.readings, s.alerts, s.risk_assessments),
                                    static_cast<int64_t>(s.patients));
  if (!checkpoint.ok()) return Fail(checkpoint);
  if (!audited.ok()) return Fail(audited);
  if (s.write_failures > 0) return Fail(IoError("alerts could not be written"));
  return s.store_failures > 0 ? Fail(IoError("RiskAssessments could not be stored")) : 0;
}

}  // namespace

void RegisterWatchCommands(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<WatchArgs>();
  auto* watch = app.add_subcommand(
      "watch", "Live NEWS2 scoring of readings as they arrive, with alerts on a higher band");
  watch->add_option("--lake", a->lake, "Lake directory")->check(NotEmpty())->required();
  watch->add_option("--mqtt", a->mqtt, "MQTT broker HOST:PORT to subscribe to");
  watch->add_option("--topic", a->topic, "MQTT topic pattern (default medlake/devices/#)");
  watch->add_option("--mqtt-client-id", a->mqtt_client_id,
                    "Persistent MQTT session: the broker keeps readings sent while away");
  watch->add_option("--alert-topic", a->alert_topic,
                    "MQTT topic for alerts (default medlake/alerts/news2)");
  watch->add_option("--mllp", a->port, "TCP port for MLLP (HL7 v2 ORU^R01)")
      ->check(CLI::Range(1, 65535));
  watch->add_option("--host", a->host, "Address to listen on for MLLP (default 127.0.0.1)");
  watch->add_option("--replay", a->replay, "NDJSON file of device readings, or - for stdin");
  watch->add_option("--alerts", a->alerts, "Append alerts (NDJSON) to this file, not stdout");
  watch->add_option("--at", a->at,
                    "Load current inpatients at this time (FHIR dateTime; default now)");
  watch
      ->add_option("--window-hours", a->window_hours,
                   "A reading older than this is stale (default 12)")
      ->check(PositiveFinite());
  watch
      ->add_option("--checkpoint-seconds", a->checkpoint_seconds,
                   "Move accepted readings into segments this often (default 5)")
      ->check(PositiveFinite());
  watch->add_flag("--no-risk-assessments", a->no_risk_assessments,
                  "Do not store a RiskAssessment per alert");
  AddAccessOptions(watch, a->access);
  watch->callback([a, &exit_code] { exit_code = RunWatch(*a); });
}

}  // namespace medlake::cli
