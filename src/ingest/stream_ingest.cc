#include "ingest/stream_ingest.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>

#include "common/file_util.h"
#include "ingest/record_worker.h"

namespace medlake::ingest {
namespace {

using Clock = std::chrono::steady_clock;

// Inbox record: u32 length, u64 XXH64(bytes), bytes. A torn tail (crash during a write that
// was never acknowledged) fails its length or checksum and ends the replay.
void AppendRecord(std::string_view bytes, std::string& out) {
  uint32_t n = static_cast<uint32_t>(bytes.size());
  uint64_t h = XXH64(bytes.data(), bytes.size(), 0);
  out.append(reinterpret_cast<const char*>(&n), 4);
  out.append(reinterpret_cast<const char*>(&h), 8);
  out.append(bytes);
}

}  // namespace

struct StreamIngestor::Impl {
  std::mutex mu;
  StreamOptions options;
  std::string inbox_path;
  int inbox_fd = -1;
  std::unique_ptr<store::LakeWriter> writer;
  SharedCounters counters;
  std::unique_ptr<RecordWorker> worker;
  uint64_t since_checkpoint = 0;
  Clock::time_point last_checkpoint = Clock::now();
  StreamStats stats;
  std::string buffer;

  ~Impl() {
    if (inbox_fd >= 0) ::close(inbox_fd);
  }

  Status Store(const std::string& message, uint64_t index, Status* outcome) {
    RecordLocation loc{"mllp", 0, static_cast<int64_t>(index), 0, ""};
    auto parsed = hl7v2::Message::Parse(message);
    if (!parsed.ok()) {
      worker->OnReject(message, loc, parsed.status().message());
      *outcome = parsed.status();
      return Status::Ok();
    }
    loc.location = "control id " + std::string(parsed->ControlId()).substr(0, 64);
    *outcome = worker->StoreHl7v2(*parsed, loc);
    return worker->error();
  }

  store::RunCounters Counters() { return counters.Snapshot(*writer); }

  Status CheckpointLocked() {
    MEDLAKE_RETURN_IF_ERROR(writer->Flush());
    MEDLAKE_RETURN_IF_ERROR(writer->Commit(Counters(), false));
    if (::ftruncate(inbox_fd, 0) != 0 || ::fdatasync(inbox_fd) != 0) {
      return IoError("cannot empty inbox " + inbox_path + ": " + std::strerror(errno));
    }
    since_checkpoint = 0;
    last_checkpoint = Clock::now();
    ++stats.checkpoints;
    return Status::Ok();
  }
};

StreamIngestor::~StreamIngestor() {
  if (impl_) {
    std::lock_guard lock(impl_->mu);
    (void)impl_->CheckpointLocked();
    (void)impl_->writer->Commit(impl_->Counters(), true);
  }
}

Result<std::unique_ptr<StreamIngestor>> StreamIngestor::Open(const std::string& lake_dir,
                                                             const StreamOptions& options) {
  std::unique_ptr<StreamIngestor> s(new StreamIngestor());
  s->impl_ = std::make_unique<Impl>();
  Impl& im = *s->impl_;
  im.options = options;
  MEDLAKE_ASSIGN_OR_RETURN(im.writer, store::LakeWriter::Open(lake_dir));
  im.worker = std::make_unique<RecordWorker>(*im.writer, im.counters);
  MEDLAKE_RETURN_IF_ERROR(MakeDirs(lake_dir + "/inbox"));
  im.inbox_path = lake_dir + "/inbox/hl7v2.log";
  // Replay what a crash left.
  auto previous = ReadFile(im.inbox_path);
  if (previous.ok() && !previous->empty()) {
    std::string_view rest = *previous;
    uint64_t index = 0;
    while (rest.size() >= 12) {
      uint32_t n;
      uint64_t h;
      std::memcpy(&n, rest.data(), 4);
      std::memcpy(&h, rest.data() + 4, 8);
      if (rest.size() < 12 + static_cast<size_t>(n)) break;
      std::string_view bytes = rest.substr(12, n);
      if (XXH64(bytes.data(), bytes.size(), 0) != h) break;
      Status outcome;
      MEDLAKE_RETURN_IF_ERROR(im.Store(std::string(bytes), index++, &outcome));
      ++im.stats.replayed;
      rest.remove_prefix(12 + n);
    }
  }
  im.inbox_fd = ::open(im.inbox_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (im.inbox_fd < 0) return IoError("cannot open inbox " + im.inbox_path + ": " + std::strerror(errno));
  MEDLAKE_RETURN_IF_ERROR(SyncDir(lake_dir + "/inbox"));
  if (im.stats.replayed > 0) {
    std::lock_guard lock(im.mu);
    MEDLAKE_RETURN_IF_ERROR(im.CheckpointLocked());
  }
  return s;
}

Result<std::vector<Status>> StreamIngestor::AcceptHl7v2(const std::vector<std::string>& messages) {
  Impl& im = *impl_;
  std::lock_guard lock(im.mu);
  im.buffer.clear();
  for (const auto& m : messages) AppendRecord(m, im.buffer);
  size_t done = 0;
  while (done < im.buffer.size()) {
    ssize_t n = ::write(im.inbox_fd, im.buffer.data() + done, im.buffer.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot write inbox " + im.inbox_path + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(im.inbox_fd) != 0) return IoError("cannot sync inbox " + im.inbox_path + ": " + std::strerror(errno));
  std::vector<Status> outcomes(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    MEDLAKE_RETURN_IF_ERROR(im.Store(messages[i], im.stats.accepted + i, &outcomes[i]));
    if (!outcomes[i].ok()) ++im.stats.rejected;
  }
  im.stats.accepted += messages.size();
  im.since_checkpoint += messages.size();
  return outcomes;
}

Status StreamIngestor::Checkpoint() {
  std::lock_guard lock(impl_->mu);
  return impl_->CheckpointLocked();
}

Status StreamIngestor::MaybeCheckpoint() {
  std::lock_guard lock(impl_->mu);
  Impl& im = *impl_;
  if (im.since_checkpoint == 0) return Status::Ok();
  if (im.since_checkpoint >= im.options.checkpoint_records ||
      Clock::now() - im.last_checkpoint >= im.options.checkpoint_interval) {
    return im.CheckpointLocked();
  }
  return Status::Ok();
}

StreamStats StreamIngestor::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

}  // namespace medlake::ingest
