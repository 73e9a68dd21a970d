// StreamIngestor: durable ingestion of a stream of small records (HL7 v2 messages from MLLP,
// device readings from MQTT).
//
// Accept appends a batch to the lake's inbox log (inbox/stream.log) and fsyncs it before it
// returns, so the caller may acknowledge the messages: from then on they survive a crash. The
// records are stored in the lake's segments at the next checkpoint (every checkpoint_records
// messages or checkpoint_seconds), after which the inbox is emptied. A non-empty inbox found
// on open (a crash) is replayed first; ingest is idempotent, so replaying twice stores nothing
// twice. Holds the lake's writer lock while open. Thread-safe: batches are serialized.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"

namespace medlake::ingest {

struct StreamOptions {
  uint64_t checkpoint_records = 20000;
  std::chrono::milliseconds checkpoint_interval{5000};
};

struct StreamStats {
  uint64_t accepted = 0;  // messages made durable
  uint64_t rejected = 0;  // of those, quarantined (unparseable or unsupported)
  uint64_t replayed = 0;  // messages replayed from the inbox at open
  uint64_t checkpoints = 0;
};

class StreamIngestor {
 public:
  static Result<std::unique_ptr<StreamIngestor>> Open(const std::string& lake_dir,
                                                      const StreamOptions& options = {});
  ~StreamIngestor();

  // Makes `messages` durable, maps them, and returns one Status per message: OK when mapped,
  // else why it was quarantined (it is kept, durably, in quarantine). An inbox write or sync
  // failure is returned for the whole batch, and nothing of it may be acknowledged.
  Result<std::vector<Status>> AcceptHl7v2(const std::vector<std::string>& messages);
  // The same for device readings (ingest/device/device_reading.h), each with the topic it
  // arrived on; the time of acceptance stands in for a reading without one.
  struct Reading {
    std::string topic;
    std::string payload;
  };
  Result<std::vector<Status>> AcceptDeviceReadings(const std::vector<Reading>& readings);
  // Stores everything accepted so far in segments and empties the inbox.
  Status Checkpoint();
  // Checkpoints if the count or the interval says so.
  Status MaybeCheckpoint();
  StreamStats stats() const;

 private:
  struct Impl;
  StreamIngestor() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace medlake::ingest
