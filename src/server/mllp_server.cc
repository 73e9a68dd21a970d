#include "server/mllp_server.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <list>
#include <mutex>
#include <system_error>
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

// `message` without what may come before its MSH: a byte-order mark, blank lines.
std::string_view FromMsh(std::string_view message) {
  if (message.starts_with("\xEF\xBB\xBF")) message.remove_prefix(3);
  while (!message.empty() && (message.front() == '\r' || message.front() == '\n' ||
                              message.front() == ' ' || message.front() == '\t')) {
    message.remove_prefix(1);
  }
  return message;
}

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

bool IsControl(char c) {
  return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

// Appends `c` as the ACK (| and ^~\&) writes it in a text: its separators as escape
// sequences (HL7 v2.5.1 section 2.7), control characters as `control` (none when 0).
void AppendEscaped(char c, char control, std::string& out) {
  switch (c) {
    case '|':
      out += "\\F\\";
      return;
    case '^':
      out += "\\S\\";
      return;
    case '~':
      out += "\\R\\";
      return;
    case '\\':
      out += "\\E\\";
      return;
    case '&':
      out += "\\T\\";
      return;
    default:
      if (!IsControl(c)) {
        out.push_back(c);
      } else if (control != 0) {
        out.push_back(control);
      }
  }
}

// A field of the incoming message as the ACK (which uses | and ^~\&) writes it. When the
// message uses the same encoding characters the value is copied as sent, components and
// escape sequences included (MSA-2 must equal MSH-10); otherwise its separators are escaped.
// Control characters are dropped: the ACK frame must stay intact.
std::string AckField(std::string_view message, int n) {
  std::string_view value = MshField(message, n);
  const bool same_encoding = MshField(message, 1) == "|" && MshField(message, 2) == "^~\\&";
  std::string out;
  for (char c : value.substr(0, 200)) {
    if (same_encoding) {
      if (!IsControl(c)) out.push_back(c);
    } else {
      AppendEscaped(c, 0, out);
    }
  }
  return out;
}

// Free text (ERR-8) with the ACK's separators escaped and control characters as spaces.
std::string AckText(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 200)) AppendEscaped(c, ' ', out);
  return out;
}

struct Pending {
  std::string message;
  ingest::StreamClock::time_point received;
  std::promise<std::string> ack;
};

}  // namespace

std::string BuildAck(std::string_view message, const Status& outcome, bool durable) {
  message = FromMsh(message);
  std::string control = AckField(message, 10);
  std::string_view trigger = MshField(message, 9);
  size_t caret = trigger.find('^');
  std::string event =
      caret == std::string_view::npos ? "" : std::string(trigger.substr(caret + 1, 3));
  std::erase_if(event, [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); });
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::string ts = FormatUtc(now);  // 2024-01-01T10:00:00.000Z -> 20240101100000
  std::string hl7_time = ts.substr(0, 4) + ts.substr(5, 2) + ts.substr(8, 2) + ts.substr(11, 2) +
                         ts.substr(14, 2) + ts.substr(17, 2);
  // HL7 v2.5.1 table 0008 (original mode): AE, an error in the message's content (the sender
  // corrects it, resending does not help); AR, a reject for reasons unrelated to the content:
  // a message type medlake does not take (MSH-9), or a failure of medlake to make it durable
  // (the sender may resend). ERR-3 from table 0357.
  std::string_view code = "AA", condition;
  if (!durable) {
    code = "AR", condition = "207";  // application internal error
  } else if (!outcome.ok() && outcome.code() == ErrorCode::kUnsupported) {
    code = "AR", condition = "200";  // unsupported message type
  } else if (!outcome.ok()) {
    code = "AE", condition = outcome.code() == ErrorCode::kParseError ? "100" : "102";
  }
  std::string processing = AckField(message, 11);
  std::string version = AckField(message, 12);
  std::string ack =
      "MSH|^~\\&|MEDLAKE|MEDLAKE|" + AckField(message, 3) + "|" + AckField(message, 4) + "|" +
      hl7_time + "||ACK" + (event.empty() ? "" : "^" + event + "^ACK") + "|" + control + "-ACK|" +
      (processing.empty() ? "P" : processing) + "|" + (version.empty() ? "2.5" : version) + "\r";
  ack += std::string("MSA|") + std::string(code) + "|" + control + "\r";
  if (code != "AA") {
    ack += "ERR|||" + std::string(condition) + "|E||||" + AckText(outcome.message()) + "\r";
  }
  return ack;
}

// One sender's connection. `done` is set (under Impl::mu) when its thread has closed the
// socket and is about to return; the acceptor then joins the thread.
struct Connection {
  std::shared_ptr<tcp::socket> socket;
  std::thread thread;
  bool done = false;
  bool evicted = false;  // closed by the acceptor to make room (under Impl::mu)
  // When the sender last sent or was answered (read by the acceptor, written by the
  // connection's thread), and whether a message of it awaits its ACK (under Impl::mu).
  std::atomic<int64_t> last_activity_ms{0};
  bool busy = false;
  void Touch() {
    last_activity_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count();
  }
};

struct MllpServer::Impl {
  ingest::StreamIngestor& ingestor;
  MllpOptions options;
  asio::io_context io;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread accept_thread, commit_thread;
  std::mutex mu;
  std::condition_variable connection_ended;            // or stopping
  std::list<std::shared_ptr<Connection>> connections;  // guarded by mu
  size_t open_connections = 0;                         // guarded by mu
  GroupCommitQueue<std::shared_ptr<Pending>> queue;
  std::atomic<bool> stopping{false};
  uint16_t port = 0;
  std::atomic<uint64_t> n_connections{0}, n_messages{0}, n_garbage{0}, n_accept_failures{0},
      n_evicted{0};

  explicit Impl(ingest::StreamIngestor& i) : ingestor(i) {}

  void Notice(const std::string& text) const {
    if (options.on_notice) options.on_notice(text);
  }

  // At the limit, with a sender waiting: the connection idle the longest is closed (not one
  // awaiting its ACK), as only one at a time. Under mu. False when none can be.
  bool EvictIdlestLocked() {
    std::shared_ptr<Connection> idlest;
    for (const auto& c : connections) {
      if (c->done) continue;
      if (c->evicted) return true;  // one is already on its way out
      if (c->busy) continue;
      if (!idlest || c->last_activity_ms < idlest->last_activity_ms) idlest = c;
    }
    if (!idlest) return false;
    idlest->evicted = true;
    ++n_evicted;
    // Wakes its thread's blocking read; the thread closes the socket as it ends.
    ::shutdown(idlest->socket->native_handle(), SHUT_RDWR);
    return true;
  }

  // The acceptor thread's loop: reaps ended connections, accepts, makes room at the limit.
  void Accept() {
    bool limit_reported = false, failing = false;
    uint64_t failures_in_a_row = 0;
    for (;;) {
      Reap();
      if (stopping) return;
      auto socket = std::make_shared<tcp::socket>(io);
      boost::system::error_code ec;
      acceptor->accept(*socket, ec);
      if (stopping) return;
      if (ec == asio::error::connection_aborted || ec == asio::error::interrupted) continue;
      if (ec) {
        // EMFILE, ENFILE (no descriptor left), ENOBUFS, ENOMEM: the pending connection stays in
        // the backlog and accept() would fail again at once. Pause instead of spinning.
        ++n_accept_failures;
        ++failures_in_a_row;
        if (!failing) {
          Notice("MLLP: cannot accept a connection (" + ec.message() + "); retrying every 100 ms");
        }
        failing = true;
        std::unique_lock lock(mu);
        connection_ended.wait_for(lock, std::chrono::milliseconds(100),
                                  [&] { return stopping.load(); });
        continue;
      }
      if (failing) {
        Notice("MLLP: accepting connections again after " + std::to_string(failures_in_a_row) +
               " failed attempts");
        failing = false;
        failures_in_a_row = 0;
      }
      socket->set_option(tcp::no_delay(true), ec);
      // A sender that vanished without closing (a cable pulled) is found by the kernel.
      socket->set_option(asio::socket_base::keep_alive(true), ec);
      ++n_connections;
      auto connection = std::make_shared<Connection>();
      connection->socket = std::move(socket);
      connection->Touch();
      std::unique_lock lock(mu);
      // At the limit, a connection idle the longest makes room for this sender: idle or
      // half-sent connections (a sender that never closes) cannot keep every other one out.
      while (open_connections >= options.max_connections && !stopping) {
        if (!limit_reported) {  // said without the lock: ending connections need it
          const std::string notice = "MLLP: " + std::to_string(open_connections) +
                                     " connections open, the limit; the one idle the longest "
                                     "is closed for each new sender";
          limit_reported = true;
          lock.unlock();
          Notice(notice);
          lock.lock();
          continue;
        }
        EvictIdlestLocked();  // when every one awaits its ACK, wait for one to end
        connection_ended.wait_for(lock, std::chrono::milliseconds(100));
        lock.unlock();
        Reap();
        lock.lock();
      }
      if (stopping) {
        connection->socket->close(ec);
        return;
      }
      try {
        connection->thread = std::thread([this, connection] {
          Serve(*connection);
          Finish(*connection);
        });
      } catch (const std::system_error& e) {  // no thread to be had (EAGAIN): refuse this one
        Notice(std::string("MLLP: cannot start a connection's thread (") + e.what() +
               "); connection closed");
        connection->socket->close(ec);
        continue;
      }
      ++open_connections;
      connections.push_back(std::move(connection));
    }
  }

  // Called by a connection's thread as it ends: the socket is closed now, so its descriptor
  // is free at once; the thread is joined by Reap() or Stop().
  void Finish(Connection& connection) {
    {
      std::lock_guard lock(mu);
      boost::system::error_code ec;
      connection.socket->shutdown(tcp::socket::shutdown_both, ec);
      connection.socket->close(ec);
      connection.done = true;
      --open_connections;
    }
    connection_ended.notify_all();
  }

  // Joins the threads of the connections that ended.
  void Reap() {
    std::list<std::shared_ptr<Connection>> ended;
    {
      std::lock_guard lock(mu);
      for (auto it = connections.begin(); it != connections.end();) {
        auto next = std::next(it);
        if ((*it)->done) ended.splice(ended.end(), connections, it);
        it = next;
      }
    }
    for (auto& connection : ended) connection->thread.join();
  }

  void Serve(Connection& connection) {
    const std::shared_ptr<tcp::socket>& socket = connection.socket;
    std::string buf;
    char chunk[65536];
    boost::system::error_code ec;
    for (;;) {
      size_t n = socket->read_some(asio::buffer(chunk), ec);
      if (ec || n == 0) return;
      connection.Touch();
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
        // A start byte inside a frame begins a new one: what came before it was cut off
        // (a sender that gave up on a frame and sent the next one) and is not a message.
        size_t restart = buf.rfind(kStart, end == std::string::npos ? buf.size() : end);
        if (restart != std::string::npos && restart > 0) {
          n_garbage += restart;
          buf.erase(0, restart);
          if (end != std::string::npos) end -= restart;
        }
        if (end == std::string::npos) {
          if (buf.size() > kMaxFrame) {
            // No end in sight: answer from the frame's MSH (the sender learns why instead of
            // waiting), then skip to the frame's end.
            std::string nak = BuildAck(std::string_view(buf).substr(1, 4096),
                                       InvalidArgument("the frame is longer than 16 MiB and was "
                                                       "not read"),
                                       true);
            n_garbage += buf.size();
            buf.clear();
            if (!SkipToFrameEnd(*socket, chunk, sizeof chunk, buf)) return;
            std::string reply = std::string(1, kStart) + nak + std::string(1, kEnd) + "\r";
            asio::write(*socket, asio::buffer(reply), ec);
            if (ec) return;
            continue;
          }
          break;
        }
        auto pending = std::make_shared<Pending>();
        pending->message = std::string(FromMsh(std::string_view(buf).substr(1, end - 1)));
        pending->received = ingest::StreamClock::now();
        size_t consumed = end + 1;
        if (consumed < buf.size() && buf[consumed] == kCr) ++consumed;
        buf.erase(0, consumed);
        auto ack = pending->ack.get_future();
        {
          // Not closed to make room while its message commits; one the acceptor chose to
          // close already does not take another (the sender resends it elsewhere or later).
          std::lock_guard lock(mu);
          if (connection.evicted) return;
          connection.busy = true;
        }
        if (!queue.Push(pending)) return;  // stopping: not acknowledged, the sender will resend
        std::string reply =
            std::string(1, kStart) + ack.get() + std::string(1, kEnd) + std::string(1, kCr);
        asio::write(*socket, asio::buffer(reply), ec);
        connection.Touch();
        {
          std::lock_guard lock(mu);
          connection.busy = false;
        }
        if (ec) return;
        ++n_messages;
      }
    }
  }

  // Reads and drops bytes up to the end of the current frame; what follows it stays in `buf`.
  // False when the connection closed first.
  bool SkipToFrameEnd(tcp::socket& socket, char* chunk, size_t size, std::string& buf) {
    boost::system::error_code ec;
    for (;;) {
      size_t n = socket.read_some(asio::buffer(chunk, size), ec);
      if (ec || n == 0) return false;
      std::string_view got(chunk, n);
      size_t end = got.find(kEnd);
      if (end == std::string_view::npos) {
        n_garbage += n;
        continue;
      }
      n_garbage += end + 1;
      got.remove_prefix(end + 1);
      if (!got.empty() && got.front() == kCr) got.remove_prefix(1);
      buf.assign(got);
      return true;
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

Result<uint16_t> MllpServer::Start(const std::string& host, uint16_t port, MllpOptions options) {
  Impl& im = *impl_;
  // Each connection holds a file descriptor: the limit leaves the lake's own (segments being
  // written, the catalog, the inbox, the index) room under the process's limit (ulimit -n).
  constexpr size_t kReservedDescriptors = 96;
  if (rlimit nofile{};
      ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    const size_t room = nofile.rlim_cur > kReservedDescriptors + 8
                            ? static_cast<size_t>(nofile.rlim_cur) - kReservedDescriptors
                            : 8;
    options.max_connections = std::min(options.max_connections, room);
  }
  if (options.max_connections == 0) options.max_connections = 1;
  im.options = std::move(options);
  try {
    tcp::endpoint endpoint(asio::ip::make_address(host.empty() ? "127.0.0.1" : host), port);
    im.acceptor = std::make_unique<tcp::acceptor>(im.io, endpoint, true);
  } catch (const std::exception& e) {
    return IoError("cannot listen on port " + std::to_string(port) + ": " + e.what());
  }
  uint16_t bound = im.acceptor->local_endpoint().port();
  im.port = bound;
  im.commit_thread = std::thread([&im] { im.Commit(); });
  im.accept_thread = std::thread([&im] { im.Accept(); });
  return bound;
}

void MllpServer::Stop() {
  Impl& im = *impl_;
  if (!im.acceptor || im.stopping.exchange(true)) return;
  {
    std::lock_guard lock(im.mu);  // so that a waiting acceptor sees `stopping`
  }
  im.connection_ended.notify_all();
  boost::system::error_code ec;
  {
    // Wake the blocking accept() with one last connection; it sees `stopping` and returns.
    tcp::socket poke(im.io);
    poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), im.port), ec);
  }
  if (im.accept_thread.joinable()) im.accept_thread.join();
  im.acceptor->close(ec);
  std::list<std::shared_ptr<Connection>> connections;
  {
    std::lock_guard lock(im.mu);
    for (auto& connection : im.connections) {
      if (!connection->done) connection->socket->shutdown(tcp::socket::shutdown_both, ec);
    }
    connections.swap(im.connections);
  }
  im.queue.Stop();
  if (im.commit_thread.joinable()) im.commit_thread.join();  // answers everything queued
  for (auto& connection : connections) connection->thread.join();
  (void)im.ingestor.Checkpoint();
}

MllpStats MllpServer::stats() const {
  return {impl_->n_connections.load(), impl_->n_messages.load(), impl_->n_garbage.load(),
          impl_->n_accept_failures.load(), impl_->n_evicted.load()};
}

}  // namespace medlake::server
