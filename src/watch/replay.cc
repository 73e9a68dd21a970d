#include "watch/replay.h"

#include <cerrno>
#include <cstring>
#include <vector>

namespace medlake::watch {

Result<uint64_t> ReplayReadings(ingest::StreamIngestor& ingestor, std::FILE* in,
                                const std::string& source) {
  constexpr size_t kBatch = 1024;
  std::vector<ingest::StreamIngestor::Reading> batch;
  uint64_t accepted = 0;
  int64_t line_number = 0;
  char* line = nullptr;
  size_t capacity = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    MEDLAKE_ASSIGN_OR_RETURN(auto outcomes, ingestor.AcceptDeviceReadings(batch));
    accepted += outcomes.size();
    batch.clear();
    return ingestor.MaybeCheckpoint();
  };
  Status status;
  for (;;) {
    errno = 0;
    ssize_t n = ::getline(&line, &capacity, in);
    if (n < 0) {
      if (errno != 0) status = IoError("cannot read " + source + ": " + std::strerror(errno));
      break;
    }
    ++line_number;
    std::string_view text(line, static_cast<size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    if (text.find_first_not_of(" \t") == std::string_view::npos) continue;
    ingest::StreamIngestor::Reading r;
    r.payload.assign(text);
    r.received = ingest::StreamClock::now();
    r.source = source;
    r.line = line_number;
    batch.push_back(std::move(r));
    if (batch.size() == kBatch) {
      status = flush();
      if (!status.ok()) break;
    }
  }
  std::free(line);
  if (status.ok()) status = flush();
  if (!status.ok()) return status;
  return accepted;
}

}  // namespace medlake::watch
