// Waiting in a long-running command (listen, watch) for a stop signal or a failure.
#pragma once

#include <signal.h>

#include <ctime>

#include "ingest/stream_ingest.h"
#include "medlake/status.h"

namespace medlake::cli {

// Waits until SIGINT or SIGTERM (blocked in `signals` by the caller) arrives, or `ingestor`
// fails (a checkpoint or a store could not be written): the listener must then stop rather
// than go on acknowledging what it can no longer commit. Returns the ingestor's failure, OK
// when a signal came first.
inline Status WaitForStop(const sigset_t& signals, const ingest::StreamIngestor& ingestor) {
  for (;;) {
    const timespec tick{0, 200'000'000};
    if (sigtimedwait(&signals, nullptr, &tick) > 0) return ingestor.failure();
    if (Status failure = ingestor.failure(); !failure.ok()) return failure;
  }
}

}  // namespace medlake::cli
