// Replay of device readings from NDJSON (a file, or stdin) through a StreamIngestor, so that
// `medlake watch --replay` stores and scores them exactly as readings arriving over MQTT.
#pragma once

#include <cstdio>
#include <string>

#include "ingest/stream_ingest.h"
#include "medlake/status.h"

namespace medlake::watch {

// Reads `in` line by line (one device reading per line, ingest/device/device_reading.h) and
// accepts the lines in batches; an invalid line is quarantined with `source` and its line
// number. Blank lines are skipped. Returns the number of readings accepted; an I/O or inbox
// failure stops the replay.
Result<uint64_t> ReplayReadings(ingest::StreamIngestor& ingestor, std::FILE* in,
                                const std::string& source);

}  // namespace medlake::watch
