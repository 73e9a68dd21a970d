// listen: network intake into the lake (MLLP for HL7 v2).
#include <fmt/format.h>
#include <signal.h>

#include <cstdio>

#include "cli/access_options.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/stop_wait.h"
#include "server/mllp_server.h"
#include "server/mqtt_subscriber.h"

namespace medlake::cli {
namespace {

int RunListen(const std::string& lake, const std::string& host, int port, const std::string& mqtt,
              const std::string& topic, const std::string& client_id, double checkpoint_seconds,
              const AccessOptions& access_options) {
  if (port < 0 && mqtt.empty())
    return Fail(InvalidArgument("give --mllp PORT and/or --mqtt HOST:PORT"));
  std::string mqtt_host;
  uint16_t mqtt_port = 1883;
  if (!mqtt.empty()) {
    auto colon = mqtt.rfind(':');
    mqtt_host = mqtt.substr(0, colon);
    if (colon != std::string::npos) {
      try {
        mqtt_port = static_cast<uint16_t>(std::stoi(mqtt.substr(colon + 1)));
      } catch (const std::exception&) {
        return Fail(InvalidArgument("--mqtt expects HOST:PORT, got " + mqtt));
      }
    }
  }
  // In a lake with a key, storing records is the admin's; start and stop are audited.
  auto access = OpenAccess(lake, access_options, query::OutputKind::kWrite, "listen");
  if (!access.ok()) return Fail(access.status());
  if (Status a = (*access)->Audit("listen.start", "listen", -1); !a.ok()) return Fail(a);
  // Block the stop signals before any thread starts, then wait for one here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ingest::StreamOptions options;
  if (checkpoint_seconds > 0)
    options.checkpoint_interval =
        std::chrono::milliseconds(static_cast<int64_t>(checkpoint_seconds * 1000));
  auto ingestor = ingest::StreamIngestor::Open(lake, options);
  if (!ingestor.ok()) return FailAudited(**access, "listen", ingestor.status());
  if ((*ingestor)->stats().replayed > 0) {
    std::fprintf(stderr, "replayed %llu messages left in the inbox\n",
                 static_cast<unsigned long long>((*ingestor)->stats().replayed));
  }
  server::MllpServer mllp(**ingestor);
  server::MqttSubscriber subscriber(**ingestor);
  if (port >= 0) {
    server::MllpOptions mllp_options;
    mllp_options.on_notice = [](const std::string& notice) {
      std::fprintf(stderr, "listen: %s\n", notice.c_str());
    };
    auto bound = mllp.Start(host, static_cast<uint16_t>(port), std::move(mllp_options));
    if (!bound.ok()) return FailAudited(**access, "listen", bound.status());
    std::printf("listening for MLLP on %s:%u\n", host.c_str(), *bound);
  }
  if (!mqtt.empty()) {
    Status s = subscriber.Start(
        mqtt_host, mqtt_port, topic, client_id,
        [](const std::string& notice) { std::fprintf(stderr, "listen: %s\n", notice.c_str()); });
    if (!s.ok()) return FailAudited(**access, "listen", s);
    std::printf("subscribed to MQTT %s:%u topic %s\n", mqtt_host.c_str(), mqtt_port, topic.c_str());
  }
  std::printf("lake %s (Ctrl-C to stop)\n", lake.c_str());
  std::fflush(stdout);
  (void)WaitForStop(signals, **ingestor);
  mllp.Stop();
  subscriber.Stop();
  Status closed = (*ingestor)->Close();
  if (std::string w = (*ingestor)->warning(); !w.empty()) {
    std::fprintf(stderr, "medlake: warning: %s\n", w.c_str());
  }
  auto st = (*ingestor)->stats();
  auto ms = mllp.stats();
  auto mq = subscriber.stats();
  std::printf(
      "stopped: %llu records made durable (%llu quarantined); MLLP %llu connections, %llu bytes "
      "outside frames; MQTT %llu messages, %llu not made durable\n",
      static_cast<unsigned long long>(st.accepted), static_cast<unsigned long long>(st.rejected),
      static_cast<unsigned long long>(ms.connections),
      static_cast<unsigned long long>(ms.garbage_bytes),
      static_cast<unsigned long long>(mq.received), static_cast<unsigned long long>(mq.lost));
  Status audited = (*access)->Audit(
      "listen", fmt::format("{} records stored, {} quarantined", st.accepted, st.rejected), -1);
  if (!closed.ok()) {
    // Every message acknowledged AA is in the inbox; the lake keeps its last checkpoint.
    std::fprintf(stderr,
                 "listen: stopped on an error; what was accepted since the last checkpoint is "
                 "kept in the inbox and stored when listen starts again\n");
    return Fail(closed);
  }
  return audited.ok() ? 0 : Fail(audited);
}

}  // namespace

void RegisterServerCommands(CLI::App& app, int& exit_code) {
  struct Options {
    std::string lake, host = "127.0.0.1", mqtt, topic = "medlake/devices/#", client_id;
    int port = -1;
    double checkpoint_seconds = 0;
    AccessOptions access;
  };
  auto o = std::make_shared<Options>();
  auto* listen = app.add_subcommand(
      "listen",
      "Receive HL7 v2 over MLLP (ACK after a durable commit) and device readings over MQTT");
  listen->add_option("--lake", o->lake, "Lake directory")->check(NotEmpty())->required();
  listen->add_option("--mllp", o->port, "TCP port for MLLP (HL7 v2 usually uses 2575)")
      ->check(CLI::Range(1, 65535));
  listen->add_option("--mqtt", o->mqtt, "MQTT broker HOST:PORT to subscribe to");
  listen->add_option("--topic", o->topic, "MQTT topic pattern (default medlake/devices/#)");
  listen->add_option("--mqtt-client-id", o->client_id,
                     "Persistent MQTT session: the broker keeps readings sent while away");
  listen->add_option("--host", o->host, "Address to listen on (default 127.0.0.1)");
  listen
      ->add_option("--checkpoint-seconds", o->checkpoint_seconds,
                   "Move accepted messages into segments this often (default 5)")
      ->check(PositiveFinite());
  AddAccessOptions(listen, o->access);
  listen->callback([o, &exit_code] {
    exit_code = RunListen(o->lake, o->host, o->port, o->mqtt, o->topic, o->client_id,
                          o->checkpoint_seconds, o->access);
  });
}

}  // namespace medlake::cli
