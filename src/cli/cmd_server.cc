// listen: network intake into the lake (MLLP for HL7 v2).
#include <signal.h>

#include <cstdio>

#include "cli/commands.h"
#include "server/mllp_server.h"

namespace medlake::cli {
namespace {

int Fail(const Status& s) {
  std::fprintf(stderr, "medlake: %s\n", s.ToString().c_str());
  return InfoFor(s.code()).exit_code;
}

int RunListen(const std::string& lake, const std::string& host, uint16_t port, double checkpoint_seconds) {
  // Block the stop signals before any thread starts, then wait for one here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ingest::StreamOptions options;
  if (checkpoint_seconds > 0) options.checkpoint_interval = std::chrono::milliseconds(static_cast<int64_t>(checkpoint_seconds * 1000));
  auto ingestor = ingest::StreamIngestor::Open(lake, options);
  if (!ingestor.ok()) return Fail(ingestor.status());
  if ((*ingestor)->stats().replayed > 0) {
    std::fprintf(stderr, "replayed %llu messages left in the inbox\n",
                 static_cast<unsigned long long>((*ingestor)->stats().replayed));
  }
  server::MllpServer mllp(**ingestor);
  auto bound = mllp.Start(host, port);
  if (!bound.ok()) return Fail(bound.status());
  std::printf("listening for MLLP on %s:%u, lake %s (Ctrl-C to stop)\n", host.c_str(), *bound, lake.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  mllp.Stop();
  auto st = (*ingestor)->stats();
  auto ms = mllp.stats();
  std::printf("stopped: %llu connections, %llu messages (%llu quarantined), %llu bytes outside frames\n",
              static_cast<unsigned long long>(ms.connections), static_cast<unsigned long long>(st.accepted),
              static_cast<unsigned long long>(st.rejected), static_cast<unsigned long long>(ms.garbage_bytes));
  return 0;
}

}  // namespace

void RegisterServerCommands(CLI::App& app, int& exit_code) {
  struct Options {
    std::string lake, host = "127.0.0.1";
    uint16_t port = 2575;
    double checkpoint_seconds = 0;
  };
  auto o = std::make_shared<Options>();
  auto* listen = app.add_subcommand("listen", "Receive HL7 v2 over MLLP into the lake (ACK after a durable commit)");
  listen->add_option("--lake", o->lake, "Lake directory")->required();
  listen->add_option("--mllp", o->port, "TCP port for MLLP (default 2575)");
  listen->add_option("--host", o->host, "Address to listen on (default 127.0.0.1)");
  listen->add_option("--checkpoint-seconds", o->checkpoint_seconds, "Move accepted messages into segments this often (default 5)");
  listen->callback([o, &exit_code] { exit_code = RunListen(o->lake, o->host, o->port, o->checkpoint_seconds); });
}

}  // namespace medlake::cli
