// MLLP intake with real TCP clients: ACK after a durable commit, group commit across
// connections, partial and garbage frames, and replay of the inbox after a crash.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "medlake/lake.h"
#include "server/mllp_server.h"
#include "test_util.h"

namespace medlake::server {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

std::string Oru(int patient, int n) {
  return "MSH|^~\\&|MON|ICU|LAKE|HOSP|20240301120000||ORU^R01|C" + std::to_string(patient) + "-" +
         std::to_string(n) + "|P|2.5\rPID|1||MRN" + std::to_string(patient) +
         "^^^HOSP^MR\rPV1|1|I|ICU^1^" + std::to_string(patient) + "\rOBR|1||R" +
         std::to_string(patient) + "-" + std::to_string(n) +
         "|85353-1^Vital signs^LN|||20240301120000\rOBX|1|NM|8867-4^Heart rate^LN||" +
         std::to_string(60 + n % 40) + "|/min|||||F|||2024030112" + std::to_string(10 + n % 50) +
         "00\r";
}

std::string Frame(const std::string& m) {
  return "\x0b" + m + "\x1c\r";
}

// Reads one framed reply.
std::string ReadAck(tcp::socket& s) {
  std::string buf;
  char c;
  while (asio::read(s, asio::buffer(&c, 1)) == 1) {
    buf.push_back(c);
    if (buf.size() >= 2 && buf[buf.size() - 2] == '\x1c' && c == '\r') break;
  }
  return buf;
}

TEST(MllpTest, ConcurrentClientsGetAcksAfterDurableCommits) {
  testing::TempDir dir;
  auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
  ASSERT_TRUE(ingestor.ok()) << ingestor.status().ToString();
  MllpServer server(**ingestor);
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status().ToString();

  constexpr int kClients = 8, kMessages = 50;
  std::vector<std::thread> clients;
  std::atomic<int> aa{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      asio::io_context io;
      tcp::socket s(io);
      s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), *port));
      for (int i = 0; i < kMessages; ++i) {
        asio::write(s, asio::buffer(Frame(Oru(c, i))));
        std::string ack = ReadAck(s);
        if (ack.find("MSA|AA|C" + std::to_string(c) + "-" + std::to_string(i)) != std::string::npos)
          ++aa;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(aa.load(), kClients * kMessages);

  // Garbage, then a frame split in three writes; an unsupported message is rejected (AR).
  {
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), *port));
    std::string framed = Frame(Oru(99, 1));
    asio::write(s, asio::buffer(std::string("noise before the frame")));
    asio::write(s, asio::buffer(framed.substr(0, 10)));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    asio::write(s, asio::buffer(framed.substr(10, 30)));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    asio::write(s, asio::buffer(framed.substr(40)));
    EXPECT_NE(ReadAck(s).find("MSA|AA|C99-1"), std::string::npos);
    asio::write(s, asio::buffer(Frame("MSH|^~\\&|X|Y|Z|W|20240301||ZZZ^Z99|BAD1|P|2.5\rZZZ|1\r")));
    std::string ack = ReadAck(s);
    EXPECT_NE(ack.find("MSA|AR|BAD1"), std::string::npos) << ack;
    EXPECT_NE(ack.find("unsupported message type"), std::string::npos) << ack;
  }
  server.Stop();
  EXPECT_EQ(server.stats().messages, kClients * kMessages + 2u);
  EXPECT_EQ(server.stats().garbage_bytes, 22u);
  EXPECT_EQ((*ingestor)->stats().rejected, 1u);
  ingestor->reset();  // final commit, lock released

  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  auto s = (*lake)->Status();
  EXPECT_EQ(s->resources["Observation"], kClients * kMessages + 1u);
  EXPECT_EQ(s->patients, kClients + 1u);
  EXPECT_EQ(s->quarantined, 1u);
}

TEST(MllpTest, AcknowledgedMessagesSurviveACrash) {
  testing::TempDir dir;
  pid_t pid = ::fork();
  if (pid == 0) {
    auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
    if (!ingestor.ok()) ::_exit(2);
    std::vector<std::string> batch;
    for (int i = 0; i < 30; ++i) batch.push_back(Oru(1, i));
    auto outcomes = (*ingestor)->AcceptHl7v2(batch);
    // Acknowledged: now die without a checkpoint, as kill -9 would.
    ::_exit(outcomes.ok() ? 0 : 3);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  {
    auto ingestor = ingest::StreamIngestor::Open(dir / "lake");  // replays the inbox
    ASSERT_TRUE(ingestor.ok()) << ingestor.status().ToString();
    EXPECT_EQ((*ingestor)->stats().replayed, 30u);
  }
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Status()->resources["Observation"], 30u);
  // Replaying again adds nothing.
  {
    auto again = ingest::StreamIngestor::Open(dir / "lake");
    ASSERT_TRUE(again.ok());
  }
  EXPECT_EQ((*Lake::Open(dir / "lake"))->Status()->resources["Observation"], 30u);
}

// HL7 v2.5.1 section 2.9 and tables 0008, 0357: AE for an error in the content, AR for a
// message type not taken or a failure to make it durable (unrelated to the content); MSA-2
// echoes MSH-10 as sent; MSH-9 is ACK^event^ACK.
TEST(MllpTest, AckShape) {
  std::string ack = BuildAck(Oru(5, 1), Status::Ok(), true);
  EXPECT_EQ(ack.substr(0, 25), "MSH|^~\\&|MEDLAKE|MEDLAKE|");
  EXPECT_NE(ack.find("|ACK^R01^ACK|C5-1-ACK|P|2.5\r"), std::string::npos) << ack;
  EXPECT_NE(ack.find("\rMSA|AA|C5-1\r"), std::string::npos);
  std::string lost = BuildAck(Oru(5, 1), IoError("disk full"), false);
  EXPECT_NE(lost.find("MSA|AR|C5-1\rERR|||207|"), std::string::npos) << lost;
  std::string content = BuildAck(Oru(5, 1), ParseError("no PID segment"), true);
  EXPECT_NE(content.find("MSA|AE|C5-1\rERR|||100|"), std::string::npos) << content;
  std::string type = BuildAck(Oru(5, 1), Unsupported("unsupported message type"), true);
  EXPECT_NE(type.find("MSA|AR|C5-1\rERR|||200|"), std::string::npos) << type;
  // A byte-order mark and a blank line before MSH; escapes and components as sent.
  std::string odd =
      "\xEF\xBB\xBF\nMSH|^~\\&|APP|HOSP^1.2.3^ISO|L|L|20240301||ORU^R01|A\\S\\B|T|2.5.1\r";
  std::string echoed = BuildAck(odd, Status::Ok(), true);
  EXPECT_NE(echoed.find("MSA|AA|A\\S\\B\r"), std::string::npos) << echoed;
  EXPECT_NE(echoed.find("|APP|HOSP^1.2.3^ISO|"), std::string::npos) << echoed;
  EXPECT_NE(echoed.find("|T|2.5.1\r"), std::string::npos) << echoed;
  // Another field separator: values are escaped for the ACK's.
  std::string other =
      BuildAck("MSH#^~\\&#APP#HOSP#L#L#20240301##ORU^R01#X|Y#P#2.5\r", Status::Ok(), true);
  EXPECT_NE(other.find("MSA|AA|X\\F\\Y\r"), std::string::npos) << other;
}

// A start byte inside a frame begins a new frame (the cut one before it is not a message);
// a frame over 16 MiB is answered AE with the reason, not left waiting.
TEST(MllpTest, RestartedAndOversizedFrames) {
  testing::TempDir dir;
  auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
  ASSERT_TRUE(ingestor.ok()) << ingestor.status().ToString();
  MllpServer server(**ingestor);
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), *port));
  asio::write(s, asio::buffer("\x0b" + Oru(1, 1).substr(0, 40) + Frame(Oru(2, 1))));
  std::string ack = ReadAck(s);
  EXPECT_NE(ack.find("MSA|AA|C2-1\r"), std::string::npos) << ack;
  std::string big = Oru(3, 1) + "NTE|1||" + std::string(17u << 20, 'x') + "\r";
  asio::write(s, asio::buffer(Frame(big)));
  std::string nak = ReadAck(s);
  EXPECT_NE(nak.find("MSA|AE|C3-1\r"), std::string::npos) << nak.substr(0, 300);
  EXPECT_NE(nak.find("16 MiB"), std::string::npos) << nak.substr(0, 300);
  asio::write(s, asio::buffer(Frame(Oru(4, 1))));  // the connection goes on
  EXPECT_NE(ReadAck(s).find("MSA|AA|C4-1\r"), std::string::npos);
  server.Stop();
}

size_t OpenDescriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

// CPU time (user + system, in clock ticks) of process `pid` so far.
long CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

// A connection's descriptor and thread are released when the sender closes it, not when the
// listener stops: a listener that had served 300 short connections still accepts the next.
TEST(MllpTest, ClosedConnectionsAreReleased) {
  testing::TempDir dir;
  auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
  ASSERT_TRUE(ingestor.ok()) << ingestor.status().ToString();
  MllpServer server(**ingestor);
  auto port = server.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  const size_t before = OpenDescriptors();
  asio::io_context io;
  for (int i = 0; i < 300; ++i) {
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), *port));
    if (i % 50 == 0) {  // some send a message first
      asio::write(s, asio::buffer(Frame(Oru(i, 1))));
      EXPECT_NE(ReadAck(s).find("MSA|AA|"), std::string::npos);
    }
  }
  size_t after = OpenDescriptors();
  // A few more for the files the ingestor opened for the messages; not one per connection.
  for (int i = 0; i < 100 && after > before + 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    after = OpenDescriptors();
  }
  EXPECT_LE(after, before + 5) << "descriptors of closed connections are still open";
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), *port));
  asio::write(s, asio::buffer(Frame(Oru(1000, 1))));
  EXPECT_NE(ReadAck(s).find("MSA|AA|C1000-1"), std::string::npos);
  s.close();
  server.Stop();
  EXPECT_EQ(server.stats().connections, 301u);
  EXPECT_EQ(server.stats().messages, 7u);
}

// At the limit, a new sender makes the connection idle the longest close: idle or half-sent
// connections (a sender that never closes, one stalled mid-frame) cannot keep others out.
TEST(MllpTest, AtTheLimitTheIdlestConnectionMakesRoom) {
  testing::TempDir dir;
  auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
  ASSERT_TRUE(ingestor.ok()) << ingestor.status().ToString();
  MllpServer server(**ingestor);
  std::vector<std::string> notices;
  std::mutex notices_mu;
  MllpOptions options;
  options.max_connections = 2;
  options.on_notice = [&](const std::string& n) {
    std::lock_guard lock(notices_mu);
    notices.push_back(n);
  };
  auto port = server.Start("127.0.0.1", 0, options);
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  asio::io_context io;
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), *port);
  tcp::socket stalled(io), active(io), third(io);
  stalled.connect(endpoint);
  asio::write(stalled, asio::buffer(std::string("\x0bMSH|")));  // half a frame, never more
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  active.connect(endpoint);
  asio::write(active, asio::buffer(Frame(Oru(2, 1))));
  EXPECT_NE(ReadAck(active).find("MSA|AA|C2-1"), std::string::npos);
  third.connect(endpoint);
  asio::write(third, asio::buffer(Frame(Oru(3, 1))));
  EXPECT_NE(ReadAck(third).find("MSA|AA|C3-1"), std::string::npos);
  // The stalled one was closed, not the one that had sent a message since.
  char byte;
  boost::system::error_code ec;
  stalled.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  asio::write(active, asio::buffer(Frame(Oru(2, 2))));
  EXPECT_NE(ReadAck(active).find("MSA|AA|C2-2"), std::string::npos);
  EXPECT_EQ(server.stats().evicted, 1u);
  active.close();
  third.close();
  server.Stop();
  std::lock_guard lock(notices_mu);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("2 connections open, the limit"), std::string::npos) << notices[0];
}

// Out of file descriptors (EMFILE), the acceptor pauses between attempts instead of spinning
// on the pending connection, says so once, and accepts again once descriptors are free.
// The listener runs in a child process with a low descriptor limit.
TEST(MllpTest, RunningOutOfDescriptorsDoesNotSpin) {
  testing::TempDir dir;
  int to_parent[2], to_child[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_child), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(to_parent[0]);
    ::close(to_child[1]);
    auto ingestor = ingest::StreamIngestor::Open(dir / "lake");
    if (!ingestor.ok()) ::_exit(2);
    MllpServer server(**ingestor);
    MllpOptions options;
    // Opened now: once descriptors run out, a notice could not open a file.
    int notices = ::open((dir / "notices.txt").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (notices < 0) ::_exit(6);
    options.on_notice = [notices](const std::string& n) {
      std::string line = n + "\n";
      (void)!::write(notices, line.data(), line.size());
    };
    auto port = server.Start("127.0.0.1", 0, options);
    if (!port.ok()) ::_exit(3);
    // Room for a few connections beyond what is open now.
    rlimit limit{OpenDescriptors() + 4, OpenDescriptors() + 4};
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(4);
    uint16_t p = *port;
    if (::write(to_parent[1], &p, sizeof p) != sizeof p) ::_exit(5);
    char c;
    (void)::read(to_child[0], &c, 1);  // until the parent closes its end
    server.Stop();
    ::_exit(0);
  }
  ::close(to_parent[1]);
  ::close(to_child[0]);
  uint16_t port = 0;
  ASSERT_EQ(::read(to_parent[0], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  asio::io_context io;
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  std::vector<std::unique_ptr<tcp::socket>> held;
  for (int i = 0; i < 12; ++i) {  // more than the child can accept
    held.push_back(std::make_unique<tcp::socket>(io));
    held.back()->connect(endpoint);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const long ticks_before = CpuTicks(pid);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const long busy = CpuTicks(pid) - ticks_before;
  EXPECT_LT(busy, ::sysconf(_SC_CLK_TCK) / 5) << "the acceptor spins while out of descriptors";
  held.clear();  // descriptors come back; the waiting connections are accepted, then end
  tcp::socket late(io);
  late.connect(endpoint);
  asio::write(late, asio::buffer(Frame(Oru(7, 1))));
  EXPECT_NE(ReadAck(late).find("MSA|AA|C7-1"), std::string::npos);
  late.close();
  ::close(to_child[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  std::ifstream in(dir / "notices.txt");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("cannot accept a connection (Too many open files); retrying every 100 ms\n"
                      "MLLP: accepting connections again after "),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace medlake::server
