// MllpServer: receives HL7 v2 messages over MLLP (HL7 v2 Appendix C: <VT> message <FS><CR>)
// on TCP, commits each durably through a StreamIngestor, then answers with an ACK: AA when the
// message was mapped, AR with the reason when it was quarantined, AE when it could not be made
// durable. Messages arriving together on any connection share one inbox sync (group commit).
// Bytes outside frames are skipped and counted; a connection that closes mid-frame loses only
// that unacknowledged frame.
//
// Threads: one acceptor, one per connection (blocking I/O), one committer. A connection's
// socket is closed as soon as the sender closes it and its thread is joined by the acceptor
// after its next accept, so a listener that runs for months holds only the connections open
// now (and the threads of those that ended since the last sender came). At most
// `max_connections` are served at once (fewer when the process's descriptor limit, ulimit -n,
// leaves less room beside the lake's own files); at the limit, each new sender makes the
// connection idle the longest close (one awaiting its ACK is not closed), so idle or half-sent
// connections cannot keep other senders out (said once through `on_notice`). When accepting fails
// (EMFILE, ENFILE: no file descriptor left; ENOBUFS, ENOMEM) the acceptor retries every 100 ms
// instead of spinning, and says so once through `on_notice` (and once more when it recovers).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ingest/stream_ingest.h"
#include "medlake/status.h"

namespace medlake::server {

struct MllpStats {
  uint64_t connections = 0;
  uint64_t messages = 0;
  uint64_t garbage_bytes = 0;
  uint64_t accept_failures = 0;  // accept() errors (each followed by a pause when persistent)
  uint64_t evicted = 0;          // idle connections closed at the limit to make room
};

struct MllpOptions {
  // Connections served at once (one thread and one file descriptor each).
  size_t max_connections = 256;
  // Operational notices (accepting failed, recovered, connection limit reached), called from
  // the acceptor thread; they name no patient data. None when empty.
  std::function<void(const std::string&)> on_notice;
};

class MllpServer {
 public:
  explicit MllpServer(ingest::StreamIngestor& ingestor);
  ~MllpServer();

  // Listens on 127.0.0.1 or `host`; port 0 picks a free one. Returns the port.
  Result<uint16_t> Start(const std::string& host, uint16_t port, MllpOptions options = {});
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
