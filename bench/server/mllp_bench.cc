// MLLP intake with durable commits: messages/s and ACK latency through real TCP connections.
//
//   medlake_bench_mllp [CLIENTS=32] [MESSAGES_PER_CLIENT=500] [LAKE_PARENT=/tmp]
//
// Baseline in the same run: one client, so every message waits for its own inbox fsync (what
// a server that syncs per message achieves). Then CLIENTS concurrent clients, whose messages
// share syncs (group commit). Each client sends a message, waits for its ACK, sends the next.
// Boost.Asio 1.74 uses std::exchange without including <utility>; it must come first.
#include <utility>
// clang-format off
#include <boost/asio.hpp>
// clang-format on
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include "ingest/stream_ingest.h"
#include "server/mllp_server.h"

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

std::string Oru(int client, int n) {
  return "MSH|^~\\&|MON|ICU|LAKE|HOSP|20240301120000||ORU^R01|C" + std::to_string(client) + "-" +
         std::to_string(n) + "|P|2.5\rPID|1||MRN" + std::to_string(client) +
         "^^^HOSP^MR\rPV1|1|I|ICU^1^" + std::to_string(client) + "\rOBR|1||R" +
         std::to_string(client) + "-" + std::to_string(n) +
         "|85353-1^Vital signs^LN|||20240301120000\rOBX|1|NM|8867-4^Heart rate^LN||" +
         std::to_string(60 + n % 40) + "|/min|||||F|||20240301120000\r";
}

struct Result {
  double seconds;
  size_t messages;
  double p50_ms, p99_ms;
};

Result Run(const std::string& lake, int clients, int per_client) {
  std::filesystem::remove_all(lake);
  auto ingestor = medlake::ingest::StreamIngestor::Open(lake);
  if (!ingestor.ok()) {
    std::fprintf(stderr, "%s\n", ingestor.status().ToString().c_str());
    std::exit(1);
  }
  medlake::server::MllpServer server(**ingestor);
  auto port = server.Start("127.0.0.1", 0);
  if (!port.ok()) std::exit(1);
  std::vector<std::vector<double>> latencies(clients);
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      asio::io_context io;
      tcp::socket s(io);
      s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), *port));
      s.set_option(tcp::no_delay(true));
      std::string reply;
      char buf[4096];
      for (int i = 0; i < per_client; ++i) {
        std::string frame = "\x0b" + Oru(c, i) + "\x1c\r";
        auto t0 = Clock::now();
        asio::write(s, asio::buffer(frame));
        reply.clear();
        while (reply.size() < 2 || reply[reply.size() - 2] != '\x1c') {
          size_t n = s.read_some(asio::buffer(buf));
          reply.append(buf, n);
        }
        latencies[c].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  server.Stop();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  return {seconds, all.size(), all[all.size() / 2], all[all.size() * 99 / 100]};
}

}  // namespace

int main(int argc, char** argv) {
  int clients = argc > 1 ? std::atoi(argv[1]) : 32;
  int per_client = argc > 2 ? std::atoi(argv[2]) : 500;
  std::string parent = argc > 3 ? argv[3] : std::filesystem::temp_directory_path().string();
  std::string lake = parent + "/medlake-bench-mllp";
  Result base = Run(lake, 1, std::min(per_client, 300));
  Result group = Run(lake, clients, per_client);
  std::printf(
      "baseline  1 client : %8.0f messages/s  ACK p50 %6.2f ms  p99 %6.2f ms  (%zu messages)\n",
      base.messages / base.seconds, base.p50_ms, base.p99_ms, base.messages);
  std::printf(
      "medlake %2d clients : %8.0f messages/s  ACK p50 %6.2f ms  p99 %6.2f ms  (%zu messages)\n",
      clients, group.messages / group.seconds, group.p50_ms, group.p99_ms, group.messages);
  std::printf("ratio group commit / per-message sync: %.1fx\n",
              (group.messages / group.seconds) / (base.messages / base.seconds));
  std::filesystem::remove_all(lake);
  return 0;
}
