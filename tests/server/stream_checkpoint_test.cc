// StreamIngestor checkpoints run in the background while readings keep arriving: every
// reading is observed exactly once, stored exactly once, and survives a crash at any point.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "adt_message.h"
#include "ingest/stream_ingest.h"
#include "medlake/lake.h"
#include "test_util.h"

namespace medlake::ingest {
namespace {

class CountingObserver : public StreamObserver {
 public:
  void OnResource(const fhir::ResourceFacts& facts, json::Node, StreamClock::time_point) override {
    observations += facts.type == "Observation";
  }
  void OnRecordEnd(StreamClock::time_point) override { ++records; }
  uint64_t observations = 0, records = 0;
};

std::string Reading(int i) {
  return R"({"time":"2024-03-01T10:00:00Z","device":"mon-)" + std::to_string(i) +
         R"(","patient":"p)" + std::to_string(i % 50) +
         R"(","vital":"heart_rate","value":80,"unit":"/min"})";
}

// Child process: accepts readings in small batches with frequent background checkpoints
// until some were accepted during a checkpoint, then dies without a final checkpoint.
// Exit status: 0, or what went wrong. Writes the number accepted to `count_file`.
int AcceptUntilDeferredThenCrash(const std::string& lake, const std::string& count_file) {
  StreamOptions options;
  options.checkpoint_records = 40;
  auto ingestor = StreamIngestor::Open(lake, options);
  if (!ingestor.ok()) return 2;
  CountingObserver observer;
  (*ingestor)->SetObserver(&observer);
  int n = 0;
  // Until some readings were accepted while a checkpoint ran and at least one checkpoint has
  // completed (on a loaded machine the first one may still be running when readings are
  // first deferred).
  auto done = [&] {
    auto st = (*ingestor)->stats();
    return n >= 2000 && st.deferred > 0 && st.checkpoints >= 1;
  };
  while (n < 20000 && !done()) {
    std::vector<StreamIngestor::Reading> batch;
    for (int i = 0; i < 10; ++i, ++n) batch.push_back({"medlake/devices/x", Reading(n)});
    auto outcomes = (*ingestor)->AcceptDeviceReadings(batch);
    if (!outcomes.ok()) return 3;
    for (const auto& o : *outcomes) {
      if (!o.ok()) return 4;
    }
    if (!(*ingestor)->MaybeCheckpoint().ok()) return 7;
  }
  auto stats = (*ingestor)->stats();
  if (stats.deferred == 0) return 5;
  if (stats.checkpoints < 1) return 8;
  if (observer.observations != static_cast<uint64_t>(n) ||
      observer.records != observer.observations)
    return 6;
  testing::WriteText(count_file, std::to_string(n));
  return 0;  // no checkpoint, no destructor: as kill -9
}

TEST(StreamCheckpointTest, ReadingsAcceptedDuringCheckpointsAreObservedOnceAndSurviveACrash) {
  testing::TempDir dir;
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(AcceptUntilDeferredThenCrash(dir / "lake", dir / "count"));
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "see AcceptUntilDeferredThenCrash for the code";
  uint64_t accepted = std::stoull(testing::ReadText(dir / "count"));
  {
    // Replays what the inbox kept: the records of no committed checkpoint (how many depends
    // on where the crash fell).
    auto ingestor = StreamIngestor::Open(dir / "lake");
    ASSERT_TRUE(ingestor.ok()) << ingestor.status().ToString();
  }
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Status()->resources["Observation"], accepted);
  EXPECT_EQ((*lake)->Status()->quarantined, 0u);
}

// HL7 v2 messages accepted while a checkpoint runs are mapped at once (for the observer) from
// the inbox record: the message was parsed from a temporary copy that it outlived, and such
// messages were acknowledged AR with a made-up reason although they were stored.
TEST(StreamCheckpointTest, Hl7v2MessagesAcceptedDuringACheckpointAreAcknowledgedAA) {
  testing::TempDir dir;
  StreamOptions options;
  options.checkpoint_records = 40;
  auto ingestor = StreamIngestor::Open(dir / "lake", options);
  ASSERT_TRUE(ingestor.ok());
  CountingObserver observer;
  (*ingestor)->SetObserver(&observer);
  int n = 0;
  while (n < 20000 && (*ingestor)->stats().deferred == 0) {
    std::vector<std::string> batch;
    for (int i = 0; i < 10; ++i, ++n) {
      std::string id = std::to_string(n);
      batch.push_back("MSH|^~\\&|LAB|HOSP|LAKE|HOSP|20240301100000||ORU^R01|C" + id +
                      "|P|2.5\rPID|1||MRN" + std::to_string(n % 50) + "^^^HOSP^MR\rOBR|1||F" + id +
                      "|8867-4^Heart rate^LN\rOBX|1|NM|8867-4^Heart rate^LN||80|/min|||||F|||"
                      "20240301100000\r");
    }
    auto acks = (*ingestor)->AcceptHl7v2(batch);
    ASSERT_TRUE(acks.ok());
    for (const auto& ack : *acks)
      ASSERT_TRUE(ack.ok()) << "message " << n << ": " << ack.ToString();
    ASSERT_TRUE((*ingestor)->MaybeCheckpoint().ok());
  }
  ASSERT_GT((*ingestor)->stats().deferred, 0u) << "no message was accepted during a checkpoint";
  ASSERT_TRUE((*ingestor)->Checkpoint().ok());
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Status()->resources["Observation"], static_cast<uint64_t>(n));
  EXPECT_EQ((*lake)->Status()->quarantined, 0u);
}

// A checkpoint whose segments cannot be written stops the ingestor: it accepts nothing more
// and commits nothing (a later checkpoint committed the identities of rows that were never
// written, and emptied the inbox of records acknowledged but lost). Restarted, it replays the
// inbox and stores every record it had accepted.
TEST(StreamCheckpointTest, AFailedCheckpointStopsTheIngestorAndLosesNothingAccepted) {
  namespace fs = std::filesystem;
  testing::TempDir dir;
  auto batch = [](int from) {
    std::vector<StreamIngestor::Reading> readings;
    for (int i = from; i < from + 10; ++i) readings.push_back({"medlake/devices/x", Reading(i)});
    return readings;
  };
  const fs::path segments = dir / "lake/segments";
  {
    auto ingestor = StreamIngestor::Open(dir / "lake");
    ASSERT_TRUE(ingestor.ok());
    ASSERT_TRUE((*ingestor)->AcceptDeviceReadings(batch(0)).ok());
    ASSERT_TRUE((*ingestor)->Checkpoint().ok());
    // Segments can no longer be written (a file where the folder was: root ignores modes).
    fs::rename(segments, dir / "segments.saved");
    testing::WriteText(segments, "");
    ASSERT_TRUE((*ingestor)->AcceptDeviceReadings(batch(10)).ok());  // durable in the inbox
    EXPECT_FALSE((*ingestor)->Checkpoint().ok());
    EXPECT_FALSE((*ingestor)->failure().ok());
    // The folder is back, but the ingestor stays stopped: nothing accepted, nothing committed.
    fs::remove(segments);
    fs::rename(dir / "segments.saved", segments);
    EXPECT_FALSE((*ingestor)->AcceptDeviceReadings(batch(20)).ok());
    EXPECT_FALSE((*ingestor)->Checkpoint().ok());
    EXPECT_FALSE((*ingestor)->Close().ok());
  }
  {
    auto ingestor = StreamIngestor::Open(dir / "lake");  // replays the second batch
    ASSERT_TRUE(ingestor.ok()) << ingestor.status().ToString();
    EXPECT_EQ((*ingestor)->stats().replayed, 10u);
    EXPECT_TRUE((*ingestor)->Close().ok());
  }
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  EXPECT_EQ((*lake)->Status()->resources["Observation"], 20u);
  EXPECT_TRUE((*lake)->Verify()->empty());
}

std::string Adt(const std::string& event, const std::string& time, const std::string& current,
                const std::string& prior, const std::string& discharge = "") {
  return testing::AdtMessage(event, event + "-1", time, current, prior, discharge, "V7", "MRN7");
}

TEST(StreamCheckpointTest, AdtFeedKeepsTheEncounterLocationHistoryAcrossSessions) {
  testing::TempDir dir;
  {
    auto ingestor = StreamIngestor::Open(dir / "lake");
    ASSERT_TRUE(ingestor.ok());
    ASSERT_TRUE((*ingestor)->AcceptHl7v2({Adt("A01", "20240301101000", "4E^136^B^GHH", "")}).ok());
    // After a checkpoint the admission is found in the lake, no longer in memory.
    ASSERT_TRUE((*ingestor)->Checkpoint().ok());
    ASSERT_TRUE((*ingestor)
                    ->AcceptHl7v2({Adt("A02", "20240302075500", "ICU^1^1^GHH", "4E^136^B^GHH")})
                    .ok());
  }
  {  // A later session merges with what the lake holds.
    auto ingestor = StreamIngestor::Open(dir / "lake");
    ASSERT_TRUE(ingestor.ok());
    ASSERT_TRUE(
        (*ingestor)
            ->AcceptHl7v2({Adt("A03", "20240303120000", "ICU^1^1^GHH", "", "20240303120000")})
            .ok());
  }
  auto lake = Lake::Open(dir / "lake");
  ASSERT_TRUE(lake.ok());
  std::string encounter;
  std::vector<std::string> damaged;
  ASSERT_TRUE((*lake)
                  ->Scan(
                      "Encounter", [&](const ResourceView& r) { encounter = std::string(r.json); },
                      &damaged)
                  .ok());
  EXPECT_NE(
      encounter.find(
          R"("display":"4E / 136 / B"},"status":"completed","period":{"start":"2024-03-01T10:10:00Z","end":"2024-03-02T07:55:00Z"})"),
      std::string::npos)
      << encounter;
  EXPECT_NE(
      encounter.find(
          R"("display":"ICU / 1 / 1"},"status":"completed","period":{"start":"2024-03-02T07:55:00Z","end":"2024-03-03T12:00:00Z"})"),
      std::string::npos)
      << encounter;
}

}  // namespace
}  // namespace medlake::ingest
