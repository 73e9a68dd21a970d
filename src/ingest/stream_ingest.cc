#include "ingest/stream_ingest.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>

#include "common/file_util.h"
#include "ingest/device/device_reading.h"
#include "ingest/record_worker.h"

namespace medlake::ingest {
namespace {

using Clock = std::chrono::steady_clock;

// Inbox record: u32 length, u64 XXH64(bytes), bytes, where bytes = kind ('H' HL7 v2 message,
// 'D' device reading: i64 time received, u32 topic length, topic, payload). A torn tail (crash
// during a write that was never acknowledged) fails its length or checksum and ends the replay.
constexpr char kHl7v2 = 'H';
constexpr char kDevice = 'D';
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
  std::unique_ptr<Deidentifier> deidentifier;  // null for a lake without a key
  SharedCounters counters;
  std::unique_ptr<RecordWorker> worker;
  uint64_t since_checkpoint = 0;
  Clock::time_point last_checkpoint = Clock::now();
  StreamStats stats;
  std::string buffer;
  json::Parser parser;

  Status AppendAndSync(const std::vector<std::string>& records) {
    buffer.clear();
    for (const auto& r : records) AppendRecord(r, buffer);
    size_t done = 0;
    while (done < buffer.size()) {
      ssize_t n = ::write(inbox_fd, buffer.data() + done, buffer.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IoError("cannot write inbox " + inbox_path + ": " + std::strerror(errno));
      done += static_cast<size_t>(n);
    }
    if (::fdatasync(inbox_fd) != 0)
      return IoError("cannot sync inbox " + inbox_path + ": " + std::strerror(errno));
    return Status::Ok();
  }

  Result<std::vector<Status>> AcceptLocked(const std::vector<std::string>& records) {
    MEDLAKE_RETURN_IF_ERROR(AppendAndSync(records));
    std::vector<Status> outcomes(records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      MEDLAKE_RETURN_IF_ERROR(StoreRecord(records[i], stats.accepted + i, &outcomes[i]));
      if (!outcomes[i].ok()) ++stats.rejected;
    }
    stats.accepted += records.size();
    since_checkpoint += records.size();
    return outcomes;
  }

  ~Impl() {
    if (inbox_fd >= 0) ::close(inbox_fd);
  }

  // Stores one inbox record (kind byte first); `outcome` is why it was quarantined, if it was.
  Status StoreRecord(std::string_view record, uint64_t index, Status* outcome) {
    if (record.empty()) return Status::Ok();
    if (record[0] == kHl7v2) return Store(std::string(record.substr(1)), index, outcome);
    if (record[0] == kDevice && record.size() >= 13) {
      int64_t received;
      uint32_t topic_len;
      std::memcpy(&received, record.data() + 1, 8);
      std::memcpy(&topic_len, record.data() + 9, 4);
      if (13 + static_cast<size_t>(topic_len) <= record.size()) {
        return StoreDevice(record.substr(13, topic_len), record.substr(13 + topic_len), received,
                           index, outcome);
      }
    }
    RecordLocation loc{"inbox", 0, static_cast<int64_t>(index), 0, ""};
    worker->OnReject(record, loc, "unknown inbox record kind");
    *outcome = Corruption("unknown inbox record kind");
    return Status::Ok();
  }

  Status StoreDevice(std::string_view topic, std::string_view payload, int64_t received,
                     uint64_t index, Status* outcome) {
    RecordLocation loc{"mqtt", 0, static_cast<int64_t>(index), 0,
                       "topic " + std::string(topic).substr(0, 128)};
    auto mapped = DeviceReadingToFhir(payload, topic, received);
    if (!mapped.ok()) {
      worker->OnReject(payload, loc, mapped.status().message());
      *outcome = mapped.status();
      return Status::Ok();
    }
    const fhir::ReferenceResolver same = [](std::string_view r) { return std::string(r); };
    for (const auto& resource : *mapped) {
      auto node = parser.Parse(resource.json);
      if (!node.ok()) continue;
      worker->OnResource(*node, resource.json, same, loc);
      ++loc.entry;
    }
    *outcome = Status::Ok();
    return worker->error();
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
  MEDLAKE_ASSIGN_OR_RETURN(im.deidentifier, Deidentifier::ForLake(lake_dir, *im.writer));
  im.worker = std::make_unique<RecordWorker>(*im.writer, im.counters, im.deidentifier.get());
  MEDLAKE_RETURN_IF_ERROR(MakeDirs(lake_dir + "/inbox"));
  im.inbox_path = lake_dir + "/inbox/stream.log";
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
      MEDLAKE_RETURN_IF_ERROR(im.StoreRecord(bytes, index++, &outcome));
      ++im.stats.replayed;
      rest.remove_prefix(12 + n);
    }
  }
  im.inbox_fd = ::open(im.inbox_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (im.inbox_fd < 0)
    return IoError("cannot open inbox " + im.inbox_path + ": " + std::strerror(errno));
  MEDLAKE_RETURN_IF_ERROR(SyncDir(lake_dir + "/inbox"));
  if (im.stats.replayed > 0) {
    std::lock_guard lock(im.mu);
    MEDLAKE_RETURN_IF_ERROR(im.CheckpointLocked());
  }
  return s;
}

Result<std::vector<Status>> StreamIngestor::AcceptHl7v2(const std::vector<std::string>& messages) {
  std::vector<std::string> records;
  records.reserve(messages.size());
  for (const auto& m : messages) records.push_back(kHl7v2 + m);
  std::lock_guard lock(impl_->mu);
  return impl_->AcceptLocked(records);
}

Result<std::vector<Status>> StreamIngestor::AcceptDeviceReadings(
    const std::vector<Reading>& readings) {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::vector<std::string> records;
  records.reserve(readings.size());
  for (const auto& r : readings) {
    std::string rec(1, kDevice);
    uint32_t topic_len = static_cast<uint32_t>(r.topic.size());
    rec.append(reinterpret_cast<const char*>(&now), 8);
    rec.append(reinterpret_cast<const char*>(&topic_len), 4);
    rec += r.topic;
    rec += r.payload;
    records.push_back(std::move(rec));
  }
  std::lock_guard lock(impl_->mu);
  return impl_->AcceptLocked(records);
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
