// MLLP intake with real TCP clients: ACK after a durable commit, group commit across
// connections, partial and garbage frames, and replay of the inbox after a crash.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
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

}  // namespace
}  // namespace medlake::server
