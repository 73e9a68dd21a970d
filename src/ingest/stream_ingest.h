// StreamIngestor: durable ingestion of a stream of small records (HL7 v2 messages from MLLP,
// device readings from MQTT).
//
// Accept appends a batch to the lake's inbox log (inbox/stream.log) and fsyncs it before it
// returns, so the caller may acknowledge the messages: from then on they survive a crash. The
// records are stored in the lake's segments at the next checkpoint (every checkpoint_records
// messages or checkpoint_seconds, on a background thread that intake does not wait for), after
// which the inbox keeps only what arrived during the checkpoint. A non-empty inbox found
// on open (a crash) is replayed first; ingest is idempotent, so replaying twice stores nothing
// twice. Holds the lake's writer lock while open. Thread-safe: batches are serialized.
//
// A StreamObserver (medlake watch) sees every resource mapped from an accepted record once the
// record is durable, with the time the record was received.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fhir/resource_facts.h"
#include "json/json.h"
#include "medlake/status.h"

namespace medlake::ingest {

using StreamClock = std::chrono::steady_clock;

// Sees what a StreamIngestor stores. Called on the accepting thread with the ingestor's lock
// held, so calls are serialized; they must be quick and must not call back into the ingestor.
// Records replayed from the inbox at Open are not observed.
class StreamObserver {
 public:
  virtual ~StreamObserver() = default;
  // A resource mapped from an accepted record, after the record was made durable: stored, or a
  // duplicate of a stored resource. `resource` lives until the call returns.
  virtual void OnResource(const fhir::ResourceFacts& facts, json::Node resource,
                          StreamClock::time_point received) = 0;
  // After all resources of one record (also a quarantined one).
  virtual void OnRecordEnd(StreamClock::time_point received) = 0;
};

struct StreamOptions {
  uint64_t checkpoint_records = 20000;
  std::chrono::milliseconds checkpoint_interval{5000};
};

struct StreamStats {
  uint64_t accepted = 0;  // messages made durable
  uint64_t rejected = 0;  // of those, quarantined (unparseable or unsupported)
  uint64_t replayed = 0;  // messages replayed from the inbox at open
  uint64_t checkpoints = 0;
  uint64_t deferred = 0;  // accepted while a checkpoint ran: observed at once, stored after it
};

class StreamIngestor {
 public:
  static Result<std::unique_ptr<StreamIngestor>> Open(const std::string& lake_dir,
                                                      const StreamOptions& options = {});
  ~StreamIngestor();

  // Makes `messages` durable, maps them, and returns one Status per message: OK when mapped,
  // else why it was quarantined (it is kept, durably, in quarantine). An inbox write or sync
  // failure is returned for the whole batch, and nothing of it may be acknowledged.
  // `received` (one per message, or empty for "now") is when each message arrived.
  Result<std::vector<Status>> AcceptHl7v2(
      const std::vector<std::string>& messages,
      const std::vector<StreamClock::time_point>& received = {});
  // The same for device readings (ingest/device/device_reading.h), each with the topic it
  // arrived on; the time of acceptance stands in for a reading without one. A reading read from
  // a file instead names its `source` and `line` (its quarantine location); it must carry its
  // own time, and its patient.
  struct Reading {
    std::string topic;
    std::string payload;
    StreamClock::time_point received{};  // default: when accepted
    std::string source;                  // file name for file readings, else empty
    int64_t line = 0;
  };
  Result<std::vector<Status>> AcceptDeviceReadings(const std::vector<Reading>& readings);
  // The same for FHIR R4 resources produced by medlake itself (watch's RiskAssessments).
  Result<std::vector<Status>> AcceptResources(const std::vector<std::string>& resources);
  // Sets the observer (not owned; it must outlive the ingestor or be reset to null first).
  void SetObserver(StreamObserver* observer);
  // Stores everything accepted so far in segments and empties the inbox.
  Status Checkpoint();
  // Checkpoints if the count or the interval says so.
  Status MaybeCheckpoint();
  // The first error of storing or checkpointing, OK while there is none. After one the
  // ingestor accepts nothing more (every Accept returns it) and commits nothing: what it
  // accepted is in the inbox, and the next Open replays it. A listener stops on it.
  Status failure() const;
  // A last checkpoint and the final commit (the destructor does it when not called); the
  // ingestor's failure if it has one.
  Status Close();
  // After Close: set when the final commit succeeded but the identity index could not take
  // it (the next writer rebuilds it), a warning for the operator, "" otherwise.
  std::string warning() const;
  StreamStats stats() const;

 private:
  struct Impl;
  StreamIngestor() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medlake::ingest
