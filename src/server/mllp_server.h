// MllpServer: receives HL7 v2 messages over MLLP (HL7 v2 Appendix C: <VT> message <FS><CR>)
// on TCP, commits each durably through a StreamIngestor, then answers with an ACK: AA when the
// message was mapped, AR with the reason when it was quarantined, AE when it could not be made
// durable. Messages arriving together on any connection share one inbox sync (group commit).
// Bytes outside frames are skipped and counted; a connection that closes mid-frame loses only
// that unacknowledged frame.
//
// Threads: one acceptor, one per connection (blocking I/O), one committer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "ingest/stream_ingest.h"
#include "medlake/status.h"

namespace medlake::server {

struct MllpStats {
  uint64_t connections = 0;
  uint64_t messages = 0;
  uint64_t garbage_bytes = 0;
};

class MllpServer {
 public:
  explicit MllpServer(ingest::StreamIngestor& ingestor);
  ~MllpServer();

  // Listens on 127.0.0.1 or `host`; port 0 picks a free one. Returns the port.
  Result<uint16_t> Start(const std::string& host, uint16_t port);
  // Stops accepting, closes connections, commits what is pending.
  void Stop();
  MllpStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The ACK for a message (MSH of the reply, MSA with AA/AE/AR and the control id, ERR with the
// reason when not AA). Used by the server and its tests.
std::string BuildAck(std::string_view message, const Status& outcome, bool durable);

}  // namespace medlake::server
