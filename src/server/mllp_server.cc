#include "server/mllp_server.h"

#include <boost/asio.hpp>
#include <chrono>
#include <future>
#include <list>
#include <mutex>
#include <thread>

#include "common/fhir_time.h"
#include "server/group_commit.h"

namespace medlake::server {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

constexpr char kStart = 0x0B;
constexpr char kEnd = 0x1C;
constexpr char kCr = 0x0D;
constexpr size_t kMaxFrame = 16u << 20;

// Field `n` (1-based, MSH-1 being the separator) of the MSH segment of `message`.
std::string_view MshField(std::string_view message, int n) {
  if (message.size() < 4 || message.substr(0, 3) != "MSH") return {};
  char sep = message[3];
  size_t end = message.find_first_of("\r\n");
  std::string_view msh = message.substr(0, end);
  int field = 1;
  size_t pos = 4;
  if (n == 1) return msh.substr(3, 1);
  while (pos <= msh.size()) {
    size_t next = msh.find(sep, pos);
    if (next == std::string_view::npos) next = msh.size();
    ++field;
    if (field == n) return msh.substr(pos, next - pos);
    pos = next + 1;
  }
  return {};
}

std::string Sanitize(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|' || c == '^' || c == '~' || c == '\\' || c == '&' || c == '\r' || c == '\n')
      out.push_back(' ');
    else
      out.push_back(c);
  }
  return out.substr(0, 200);
}

struct Pending {
  std::string message;
  ingest::StreamClock::time_point received;
  std::promise<std::string> ack;
};

}  // namespace

std::string BuildAck(std::string_view message, const Status& outcome, bool durable) {
  std::string control = std::string(MshField(message, 10));
  std::string_view trigger = MshField(message, 9);
  size_t caret = trigger.find('^');
  std::string event =
      caret == std::string_view::npos ? "" : std::string(trigger.substr(caret + 1, 3));
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::string ts = FormatUtc(now);  // 2024-01-01T10:00:00.000Z -> 20240101100000
  std::string hl7_time = ts.substr(0, 4) + ts.substr(5, 2) + ts.substr(8, 2) + ts.substr(11, 2) +
                         ts.substr(14, 2) + ts.substr(17, 2);
  const char* code = !durable ? "AE" : outcome.ok() ? "AA" : "AR";
  std::string ack = "MSH|^~\\&|MEDLAKE|MEDLAKE|" + Sanitize(MshField(message, 3)) + "|" +
                    Sanitize(MshField(message, 4)) + "|" + hl7_time + "||ACK" +
                    (event.empty() ? "" : "^" + event) + "|" + Sanitize(control) + "-ACK|P|2.5\r";
  ack += std::string("MSA|") + code + "|" + Sanitize(control) + "\r";
  if (!outcome.ok() || !durable)
    ack += "ERR|||" + std::string(durable ? "207" : "100") + "|E||||" +
           Sanitize(outcome.message()) + "\r";
  return ack;
}

struct MllpServer::Impl {
  ingest::StreamIngestor& ingestor;
  asio::io_context io;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread accept_thread, commit_thread;
  std::mutex mu;
  GroupCommitQueue<std::shared_ptr<Pending>> queue;
  std::list<std::pair<std::shared_ptr<tcp::socket>, std::thread>> connections;
  std::atomic<bool> stopping{false};
  uint16_t port = 0;
  std::atomic<uint64_t> n_connections{0}, n_messages{0}, n_garbage{0};

  explicit Impl(ingest::StreamIngestor& i) : ingestor(i) {}

  void Serve(std::shared_ptr<tcp::socket> socket) {
    std::string buf;
    char chunk[65536];
    boost::system::error_code ec;
    for (;;) {
      size_t n = socket->read_some(asio::buffer(chunk), ec);
      if (ec || n == 0) return;
      buf.append(chunk, n);
      for (;;) {
        size_t start = buf.find(kStart);
        if (start == std::string::npos) {
          n_garbage += buf.size();
          buf.clear();
          break;
        }
        if (start > 0) {
          n_garbage += start;
          buf.erase(0, start);
        }
        size_t end = buf.find(kEnd, 1);
        if (end == std::string::npos) {
          if (buf.size() > kMaxFrame) {  // no end in sight: drop it and resynchronize
            n_garbage += buf.size();
            buf.clear();
          }
          break;
        }
        auto pending = std::make_shared<Pending>();
        pending->message = buf.substr(1, end - 1);
        pending->received = ingest::StreamClock::now();
        size_t consumed = end + 1;
        if (consumed < buf.size() && buf[consumed] == kCr) ++consumed;
        buf.erase(0, consumed);
        auto ack = pending->ack.get_future();
        if (!queue.Push(pending)) return;  // stopping: not acknowledged, the sender will resend
        std::string reply =
            std::string(1, kStart) + ack.get() + std::string(1, kEnd) + std::string(1, kCr);
        asio::write(*socket, asio::buffer(reply), ec);
        if (ec) return;
        ++n_messages;
      }
    }
  }

  void Commit() {
    queue.Run(
        4096,
        [&](std::vector<std::shared_ptr<Pending>>& batch) {
          std::vector<std::string> messages;
          std::vector<ingest::StreamClock::time_point> received;
          messages.reserve(batch.size());
          received.reserve(batch.size());
          for (const auto& p : batch) {
            messages.push_back(p->message);
            received.push_back(p->received);
          }
          auto outcomes = ingestor.AcceptHl7v2(messages, received);
          for (size_t i = 0; i < batch.size(); ++i) {
            const Status& outcome = outcomes.ok() ? (*outcomes)[i] : outcomes.status();
            batch[i]->ack.set_value(BuildAck(batch[i]->message, outcome, outcomes.ok()));
          }
        },
        [&] { (void)ingestor.MaybeCheckpoint(); });
  }
};

MllpServer::MllpServer(ingest::StreamIngestor& ingestor)
    : impl_(std::make_unique<Impl>(ingestor)) {}

MllpServer::~MllpServer() {
  Stop();
}

Result<uint16_t> MllpServer::Start(const std::string& host, uint16_t port) {
  Impl& im = *impl_;
  try {
    tcp::endpoint endpoint(asio::ip::make_address(host.empty() ? "127.0.0.1" : host), port);
    im.acceptor = std::make_unique<tcp::acceptor>(im.io, endpoint, true);
  } catch (const std::exception& e) {
    return IoError("cannot listen on port " + std::to_string(port) + ": " + e.what());
  }
  uint16_t bound = im.acceptor->local_endpoint().port();
  im.port = bound;
  im.commit_thread = std::thread([&im] { im.Commit(); });
  im.accept_thread = std::thread([&im] {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(im.io);
      boost::system::error_code ec;
      im.acceptor->accept(*socket, ec);
      if (im.stopping) return;
      if (ec) continue;
      socket->set_option(tcp::no_delay(true), ec);
      ++im.n_connections;
      std::lock_guard lock(im.mu);
      im.connections.emplace_back(socket, std::thread([&im, socket] { im.Serve(socket); }));
    }
  });
  return bound;
}

void MllpServer::Stop() {
  Impl& im = *impl_;
  if (!im.acceptor || im.stopping.exchange(true)) return;
  boost::system::error_code ec;
  {
    // Wake the blocking accept() with one last connection; it sees `stopping` and returns.
    tcp::socket poke(im.io);
    poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), im.port), ec);
  }
  if (im.accept_thread.joinable()) im.accept_thread.join();
  im.acceptor->close(ec);
  std::list<std::pair<std::shared_ptr<tcp::socket>, std::thread>> connections;
  {
    std::lock_guard lock(im.mu);
    connections.swap(im.connections);
  }
  for (auto& [socket, thread] : connections) socket->shutdown(tcp::socket::shutdown_both, ec);
  im.queue.Stop();
  if (im.commit_thread.joinable()) im.commit_thread.join();  // answers everything queued
  for (auto& [socket, thread] : connections) {
    if (thread.joinable()) thread.join();
    socket->close(ec);
  }
  (void)im.ingestor.Checkpoint();
}

MllpStats MllpServer::stats() const {
  return {impl_->n_connections.load(), impl_->n_messages.load(), impl_->n_garbage.load()};
}

}  // namespace medlake::server
