#include "ingest/stream_ingest.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <thread>

#include "common/fhir_time.h"
#include "common/file_util.h"
#include "ingest/device/device_reading.h"
#include "ingest/record_worker.h"
#include "medlake/lake.h"
#include "privacy/segment_cipher.h"

namespace medlake::ingest {
namespace {

using Clock = std::chrono::steady_clock;

// Inbox record: u32 length, u64 XXH64(bytes), bytes, where bytes = kind ('H' HL7 v2 message,
// 'D' device reading: i64 time received, u32 topic length, topic, payload; 'F' device reading
// from a file: i64 line, u32 file name length, file name, payload; 'R' a FHIR resource). A torn
// tail (crash during a write that was never acknowledged) fails its length or checksum and ends
// the replay.
constexpr char kHl7v2 = 'H';
constexpr char kDevice = 'D';
constexpr char kFileReading = 'F';
constexpr char kResource = 'R';
// A 'D' or 'F' record: its number (time received, or line), name (topic, or file) and payload.
bool DecodeReading(std::string_view record, int64_t& number, std::string_view& name,
                   std::string_view& payload) {
  if (record.size() < 13) return false;
  uint32_t name_len;
  std::memcpy(&number, record.data() + 1, 8);
  std::memcpy(&name_len, record.data() + 9, 4);
  if (13 + static_cast<size_t>(name_len) > record.size()) return false;
  name = record.substr(13, name_len);
  payload = record.substr(13 + name_len);
  return true;
}

// Where a quarantined MQTT reading came from, without patient data: its topic with the last
// non-empty level (and what follows it), which names the patient when the payload does not
// (device/device_reading.h), written as the wildcard `+`, and the time it was received (to find it
// in the sender's or broker's logs).
std::string TopicLocation(std::string_view topic, int64_t received_ms) {
  // Masked conservatively: a topic ending in '/' names no patient for TopicPatient (the reading
  // is quarantined for it), but the level before the slash may still be one.
  while (!topic.empty() && topic.back() == '/') topic.remove_suffix(1);
  size_t slash = topic.rfind('/');
  std::string shown =
      slash == std::string_view::npos ? "+" : std::string(topic.substr(0, slash)) + "/+";
  if (shown.size() > 128) shown = shown.substr(0, 126) + "/+";
  return "topic " + shown + " received " + FormatUtc(received_ms);
}

// An inbox record of a keyed lake: 'E', a 16-byte salt, then the record (kind byte first)
// sealed under the key the lake's data cipher derives from the salt (privacy/segment_cipher.h;
// a fresh salt per record, so every record has its own key and nonce 0 is never reused).
constexpr char kEncrypted = 'E';
constexpr uint64_t kInboxSection = 0;

std::string SealRecord(const privacy::SegmentCipher& cipher, std::string_view record) {
  std::string salt = privacy::SegmentCipher::NewSalt();
  std::string sealed;
  cipher.ForSegment(salt).Seal(kInboxSection, record, sealed);
  return kEncrypted + salt + sealed;
}

// The record inside an inbox record: itself, or opened when sealed. An error when a sealed
// record meets a lake without a key or does not open under its key.
Status OpenRecord(const privacy::SegmentCipher* cipher, std::string_view bytes, uint64_t index,
                  std::string& out) {
  if (bytes.empty() || bytes[0] != kEncrypted) {
    out.assign(bytes);
    return Status::Ok();
  }
  const size_t salt = privacy::SegmentCipher::kSaltBytes;
  if (!cipher || bytes.size() < 1 + salt ||
      !cipher->ForSegment(bytes.substr(1, salt)).Open(kInboxSection, bytes.substr(1 + salt), out)) {
    return Corruption("inbox record " + std::to_string(index) +
                      " is encrypted and does not decrypt under the lake key");
  }
  return Status::Ok();
}

void AppendRecord(std::string_view bytes, std::string& out) {
  uint32_t n = static_cast<uint32_t>(bytes.size());
  uint64_t h = XXH64(bytes.data(), bytes.size(), 0);
  out.append(reinterpret_cast<const char*>(&n), 4);
  out.append(reinterpret_cast<const char*>(&h), 8);
  out.append(bytes);
}

}  // namespace

// Checkpoints (segments written, catalog committed, inbox emptied) run on a background thread,
// or on the caller of Checkpoint, and hold `mu` only at their start and end: records accepted
// meanwhile are made durable in the inbox and observed at once, and stored in the writer when
// the checkpoint ends (their inbox records are kept until the next one). So intake never waits
// for segment writes.
struct StreamIngestor::Impl {
  std::mutex mu;             // everything below except checkpoint_mu
  std::mutex checkpoint_mu;  // one checkpoint at a time
  std::condition_variable checkpoint_cv;
  std::thread checkpointer;
  bool checkpoint_wanted = false, stopping = false;
  bool checkpointing = false;  // the writer belongs to a running checkpoint
  std::vector<std::pair<std::string, uint64_t>> deferred;  // records (and index) to store after it
  uint64_t inbox_bytes = 0;                                // size of the inbox file
  // The first error of storing or checkpointing (under mu). After it the ingestor accepts
  // nothing more: what it accepted is in the inbox, replayed at the next start, and the lake
  // keeps its last checkpoint (the writer refuses to commit after a failed segment write).
  Status failed;
  bool closed = false;
  bool observe_stores = true;
  json::Parser map_parser;
  json::Parser map_stored_parser;  // the de-identified version, in a keyed lake
  std::string map_deidentified;
  fhir::ResourceFacts map_facts;
  StreamOptions options;
  std::string inbox_path;
  int inbox_fd = -1;
  std::unique_ptr<store::LakeWriter> writer;
  std::unique_ptr<Deidentifier> deidentifier;            // null for a lake without a key
  std::shared_ptr<const privacy::SegmentCipher> cipher;  // seals inbox records; null: no key
  SharedCounters counters;
  std::unique_ptr<RecordWorker> worker;
  uint64_t since_checkpoint = 0;
  Clock::time_point last_checkpoint = Clock::now();
  StreamStats stats;
  std::string buffer;
  json::Parser parser;
  StreamObserver* observer = nullptr;
  StreamClock::time_point current_received;
  // HL7 v2 Patients and Encounters merged with the version before them, in arrival order:
  // versions stored since the last checkpoint are remembered, older ones come from the lake as
  // that checkpoint left it (so memory holds only those of one checkpoint interval).
  std::string lake_dir;
  std::unique_ptr<Lake> committed;
  hl7v2::ResourceHistory updates{[this](std::string_view type, const std::string& id) {
    return VersionToMerge(*committed, deidentifier.get(), type, id);
  }};

  Status AppendAndSync(const std::vector<std::string>& records) {
    buffer.clear();
    for (const auto& r : records) AppendRecord(cipher ? SealRecord(*cipher, r) : r, buffer);
    // On failure the batch is cut off again, so that later records do not follow a torn one.
    auto fail = [&](const char* what) {
      Status error = IoError(std::string("cannot ") + what + " inbox " + inbox_path + ": " +
                             std::strerror(errno));
      (void)::ftruncate(inbox_fd, static_cast<off_t>(inbox_bytes));
      return error;
    };
    size_t done = 0;
    while (done < buffer.size()) {
      ssize_t n = ::write(inbox_fd, buffer.data() + done, buffer.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail("write");
      done += static_cast<size_t>(n);
    }
    if (::fdatasync(inbox_fd) != 0) return fail("sync");
    inbox_bytes += buffer.size();
    return Status::Ok();
  }

  // `received` has one time per record, or is empty (now).
  Result<std::vector<Status>> AcceptLocked(const std::vector<std::string>& records,
                                           const std::vector<StreamClock::time_point>& received) {
    MEDLAKE_RETURN_IF_ERROR(failed);
    MEDLAKE_RETURN_IF_ERROR(AppendAndSync(records));
    std::vector<Status> outcomes(records.size());
    StreamClock::time_point now = StreamClock::now();
    for (size_t i = 0; i < records.size(); ++i) {
      current_received =
          i < received.size() && received[i] != StreamClock::time_point{} ? received[i] : now;
      if (checkpointing) {
        outcomes[i] = MapAndObserve(records[i]);
        deferred.emplace_back(records[i], stats.accepted + i);
        ++stats.deferred;
      } else if (failed.ok()) {
        if (Status stored = StoreRecord(records[i], stats.accepted + i, &outcomes[i]);
            !stored.ok()) {
          failed = stored;
          outcomes[i] = MapAndObserve(records[i]);
        }
      } else {
        // Durable in the inbox, stored when it is replayed: its outcome is what the mapping
        // says, as for a deferred record.
        outcomes[i] = MapAndObserve(records[i]);
      }
      if (observer) observer->OnRecordEnd(current_received);
      if (!outcomes[i].ok()) ++stats.rejected;
    }
    stats.accepted += records.size();
    since_checkpoint += records.size();
    return outcomes;
  }

  ~Impl() {
    if (inbox_fd >= 0) ::close(inbox_fd);
  }

  // The FHIR resources a record maps to, and why it would be quarantined (what StoreRecord
  // decides, without touching the writer).
  Status MapRecord(std::string_view record, std::vector<std::string>& out) {
    if (record.empty()) return Status::Ok();
    if (record[0] == kHl7v2) {
      // Message views its text: the record (the inbox buffer) outlives it here.
      auto parsed = hl7v2::Message::Parse(record.substr(1));
      if (!parsed.ok()) return parsed.status();
      auto mapped = hl7v2::MapToFhir(*parsed);
      if (!mapped.ok()) return mapped.status();
      for (auto& r : mapped->resources) out.push_back(std::move(r.json));
      return Status::Ok();
    }
    if (record[0] == kResource) {
      out.emplace_back(record.substr(1));
      return Status::Ok();
    }
    int64_t number;
    std::string_view name, payload;
    if ((record[0] == kDevice || record[0] == kFileReading) &&
        DecodeReading(record, number, name, payload)) {
      bool file = record[0] == kFileReading;
      auto mapped = DeviceReadingToFhir(payload, file ? "" : name, file ? kNoTime : number);
      if (!mapped.ok()) return mapped.status();
      for (auto& r : *mapped) out.push_back(std::move(r.json));
      return Status::Ok();
    }
    return Corruption("unknown inbox record kind");
  }

  // For a record accepted during a checkpoint: shows its resources to the observer now (it is
  // stored later) and returns its outcome.
  Status MapAndObserve(std::string_view record) {
    std::vector<std::string> resources;
    Status outcome = MapRecord(record, resources);
    if (!observer) return outcome;
    const fhir::ReferenceResolver same = fhir::ReferenceAsWritten;
    for (const auto& json : resources) {
      auto node = map_parser.Parse(json);
      if (!node.ok()) {
        if (outcome.ok()) outcome = node.status();
        continue;
      }
      if (deidentifier) {
        // The observer sees what will be stored, as for records stored at once: in a keyed
        // lake, the pseudonymized resource (the source ids and names never reach it).
        VaultRecord removed;
        if (!deidentifier->Apply(*node, map_deidentified, removed).ok()) continue;
        node = map_stored_parser.Parse(map_deidentified);
        if (!node.ok()) continue;
      }
      if (!fhir::ExtractFacts(*node, &same, map_facts).ok()) continue;
      observer->OnResource(map_facts, *node, current_received);
    }
    return outcome;
  }
  // Stores one inbox record (kind byte first); `outcome` is why it was quarantined, if it was.
  Status StoreRecord(std::string_view record, uint64_t index, Status* outcome) {
    if (record.empty()) return Status::Ok();
    if (record[0] == kHl7v2) return Store(std::string(record.substr(1)), index, outcome);
    if (record[0] == kResource) return StoreResource(record.substr(1), index, outcome);
    int64_t number;  // time received, or line
    std::string_view name, payload;
    if ((record[0] == kDevice || record[0] == kFileReading) &&
        DecodeReading(record, number, name, payload)) {
      {
        if (record[0] == kDevice) {
          RecordLocation loc{"mqtt", 0, static_cast<int64_t>(index), 0,
                             TopicLocation(name, number)};
          return StoreDevice(name, payload, number, loc, outcome);
        }
        RecordLocation loc{name, number, 0, 0, ""};
        return StoreDevice("", payload, kNoTime, loc, outcome);
      }
    }
    RecordLocation loc{"inbox", 0, static_cast<int64_t>(index), 0, ""};
    worker->OnReject(record, loc, "unknown inbox record kind");
    *outcome = Corruption("unknown inbox record kind");
    return Status::Ok();
  }

  Status StoreDevice(std::string_view topic, std::string_view payload, int64_t received,
                     RecordLocation loc, Status* outcome) {
    auto mapped = DeviceReadingToFhir(payload, topic, received);
    if (!mapped.ok()) {
      worker->OnReject(payload, loc, mapped.status().message());
      *outcome = mapped.status();
      return Status::Ok();
    }
    const fhir::ReferenceResolver same = fhir::ReferenceAsWritten;
    for (const auto& resource : *mapped) {
      auto node = parser.Parse(resource.json);
      if (!node.ok()) continue;
      worker->OnResource(*node, resource.json, same, loc, ParsedText::kOther);
      ++loc.entry;
    }
    *outcome = Status::Ok();
    return worker->error();
  }

  Status StoreResource(std::string_view json, uint64_t index, Status* outcome) {
    RecordLocation loc{"watch", 0, static_cast<int64_t>(index), 0, ""};
    auto node = parser.Parse(json);
    if (!node.ok()) {
      worker->OnReject(json, loc, node.status().message());
      *outcome = node.status();
      return Status::Ok();
    }
    const fhir::ReferenceResolver same = fhir::ReferenceAsWritten;
    worker->OnResource(*node, json, same, loc, ParsedText::kOther);
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

  // Removes the first `mark` bytes of the inbox (records now in committed segments), keeping
  // the records appended after them: the tail is written to a new file renamed over the inbox.
  Status DropInboxPrefix(uint64_t mark) {
    if (mark >= inbox_bytes) {
      if (::ftruncate(inbox_fd, 0) != 0 || ::fdatasync(inbox_fd) != 0)
        return IoError("cannot empty inbox " + inbox_path + ": " + std::strerror(errno));
      inbox_bytes = 0;
      return Status::Ok();
    }
    std::string tail(inbox_bytes - mark, '\0');
    size_t done = 0;
    while (done < tail.size()) {
      ssize_t n = ::pread(inbox_fd, tail.data() + done, tail.size() - done,
                          static_cast<off_t>(mark + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return IoError("cannot read inbox " + inbox_path);
      done += static_cast<size_t>(n);
    }
    MEDLAKE_RETURN_IF_ERROR(WriteFileAtomic(inbox_path, tail));
    ::close(inbox_fd);
    inbox_fd = ::open(inbox_path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
    if (inbox_fd < 0)
      return IoError("cannot open inbox " + inbox_path + ": " + std::strerror(errno));
    inbox_bytes = tail.size();
    return Status::Ok();
  }

  // A checkpoint; the caller holds checkpoint_mu and not mu. Its error is the ingestor's
  // failure (`failed`).
  Status RunCheckpoint() {
    Status s = TryCheckpoint();
    std::lock_guard lock(mu);
    if (!s.ok() && failed.ok()) failed = s;
    return failed;
  }

  Status TryCheckpoint() {
    uint64_t mark, started_with;
    {
      std::lock_guard lock(mu);
      MEDLAKE_RETURN_IF_ERROR(failed);
      if (since_checkpoint == 0) {
        last_checkpoint = Clock::now();
        return Status::Ok();
      }
      checkpointing = true;
      mark = inbox_bytes;
      started_with = since_checkpoint;
    }
    // The writer is ours: accepts defer their stores while `checkpointing`.
    Status s = writer->Flush();
    if (s.ok()) s = writer->Commit(Counters(), false);
    std::lock_guard lock(mu);
    checkpointing = false;
    if (s.ok()) s = DropInboxPrefix(mark);
    if (s.ok()) {
      since_checkpoint -= started_with;
      last_checkpoint = Clock::now();
      ++stats.checkpoints;
      // The lake as this checkpoint left it: the versions it stored are found there now.
      auto lake = Lake::Open(lake_dir);
      if (lake.ok()) {
        committed = std::move(*lake);
        updates.Clear();
      } else {
        s = lake.status();
      }
    }
    // Store what arrived meanwhile; its records stay in the inbox until the next checkpoint.
    observe_stores = false;
    for (const auto& [record, index] : deferred) {
      Status outcome;
      Status stored = StoreRecord(record, index, &outcome);
      if (s.ok() && !stored.ok()) s = stored;
    }
    observe_stores = true;
    deferred.clear();
    return s;
  }

  void CheckpointLoop() {
    std::unique_lock lock(mu);
    for (;;) {
      checkpoint_cv.wait(lock, [&] { return checkpoint_wanted || stopping; });
      if (stopping) return;
      checkpoint_wanted = false;
      lock.unlock();
      {
        std::lock_guard c(checkpoint_mu);
        (void)RunCheckpoint();  // its error is `failed`, which MaybeCheckpoint returns
      }
      lock.lock();
    }
  }

  void StopCheckpointer() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    checkpoint_cv.notify_all();
    if (checkpointer.joinable()) checkpointer.join();
  }
};

StreamIngestor::~StreamIngestor() {
  if (impl_ && impl_->writer) (void)Close();
}

Status StreamIngestor::Close() {
  Impl& im = *impl_;
  im.StopCheckpointer();
  std::lock_guard c(im.checkpoint_mu);
  {
    std::lock_guard lock(im.mu);
    if (im.closed) return im.failed;
    im.closed = true;
    if (!im.failed.ok()) return im.failed;  // nothing is committed after a failure
  }
  MEDLAKE_RETURN_IF_ERROR(im.RunCheckpoint());
  std::lock_guard lock(im.mu);
  if (Status s = im.writer->Commit(im.Counters(), true); !s.ok() && im.failed.ok()) im.failed = s;
  return im.failed;
}

std::string StreamIngestor::warning() const {
  std::lock_guard lock(impl_->mu);
  const Status& w = impl_->writer->index_warning();
  return w.ok() ? std::string()
                : "the last checkpoint is committed, but the identity index could not be "
                  "updated (" +
                      w.ToString() + "); the next start rebuilds it from the segments";
}

Status StreamIngestor::failure() const {
  std::lock_guard lock(impl_->mu);
  return impl_->failed;
}

Result<std::unique_ptr<StreamIngestor>> StreamIngestor::Open(const std::string& lake_dir,
                                                             const StreamOptions& options) {
  std::unique_ptr<StreamIngestor> s(new StreamIngestor());
  s->impl_ = std::make_unique<Impl>();
  Impl& im = *s->impl_;
  im.options = options;
  MEDLAKE_ASSIGN_OR_RETURN(im.writer, store::LakeWriter::Open(lake_dir));
  MEDLAKE_ASSIGN_OR_RETURN(im.deidentifier, Deidentifier::ForLake(lake_dir, *im.writer));
  MEDLAKE_ASSIGN_OR_RETURN(im.cipher, privacy::SegmentCipher::ForLake(lake_dir));
  im.worker = std::make_unique<RecordWorker>(*im.writer, im.counters, im.deidentifier.get());
  im.worker->set_resource_history(&im.updates);
  im.map_parser.set_keep_number_text(true);  // Deidentifier::Apply writes decimals as given
  im.lake_dir = lake_dir;
  MEDLAKE_ASSIGN_OR_RETURN(im.committed, Lake::Open(lake_dir));
  im.worker->set_resource_hook([&im](const fhir::ResourceFacts& facts, json::Node resource) {
    if (im.observer && im.observe_stores)
      im.observer->OnResource(facts, resource, im.current_received);
  });
  MEDLAKE_RETURN_IF_ERROR(MakeDirs(lake_dir + "/inbox"));
  im.inbox_path = lake_dir + "/inbox/stream.log";
  // Replay what a crash left.
  auto previous = ReadFile(im.inbox_path);
  if (previous.ok() && !previous->empty()) {
    std::string_view rest = *previous;
    std::string record;
    uint64_t index = 0;
    while (rest.size() >= 12) {
      uint32_t n;
      uint64_t h;
      std::memcpy(&n, rest.data(), 4);
      std::memcpy(&h, rest.data() + 4, 8);
      if (rest.size() < 12 + static_cast<size_t>(n)) break;
      std::string_view bytes = rest.substr(12, n);
      if (XXH64(bytes.data(), bytes.size(), 0) != h) break;
      MEDLAKE_RETURN_IF_ERROR(OpenRecord(im.cipher.get(), bytes, index, record));
      Status outcome;
      MEDLAKE_RETURN_IF_ERROR(im.StoreRecord(record, index++, &outcome));
      ++im.stats.replayed;
      rest.remove_prefix(12 + n);
    }
  }
  im.inbox_fd = ::open(im.inbox_path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (im.inbox_fd < 0)
    return IoError("cannot open inbox " + im.inbox_path + ": " + std::strerror(errno));
  MEDLAKE_RETURN_IF_ERROR(SyncDir(lake_dir + "/inbox"));
  // What was replayed goes into segments; a torn tail (never acknowledged) is dropped so that
  // new records do not follow it.
  im.since_checkpoint = im.stats.replayed;
  im.inbox_bytes = previous.ok() ? previous->size() : 0;
  MEDLAKE_RETURN_IF_ERROR(im.RunCheckpoint());
  if (im.inbox_bytes > 0) MEDLAKE_RETURN_IF_ERROR(im.DropInboxPrefix(im.inbox_bytes));
  im.checkpointer = std::thread([&im] { im.CheckpointLoop(); });
  return s;
}

Result<std::vector<Status>> StreamIngestor::AcceptHl7v2(
    const std::vector<std::string>& messages,
    const std::vector<StreamClock::time_point>& received) {
  std::vector<std::string> records;
  records.reserve(messages.size());
  for (const auto& m : messages) records.push_back(kHl7v2 + m);
  std::lock_guard lock(impl_->mu);
  return impl_->AcceptLocked(records, received);
}

Result<std::vector<Status>> StreamIngestor::AcceptResources(
    const std::vector<std::string>& resources) {
  std::vector<std::string> records;
  records.reserve(resources.size());
  for (const auto& r : resources) records.push_back(kResource + r);
  std::lock_guard lock(impl_->mu);
  return impl_->AcceptLocked(records, {});
}

void StreamIngestor::SetObserver(StreamObserver* observer) {
  std::lock_guard lock(impl_->mu);
  impl_->observer = observer;
}

Result<std::vector<Status>> StreamIngestor::AcceptDeviceReadings(
    const std::vector<Reading>& readings) {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::vector<std::string> records;
  std::vector<StreamClock::time_point> received;
  records.reserve(readings.size());
  received.reserve(readings.size());
  for (const auto& r : readings) {
    bool from_file = !r.source.empty();
    std::string rec(1, from_file ? kFileReading : kDevice);
    const std::string& name = from_file ? r.source : r.topic;
    uint32_t name_len = static_cast<uint32_t>(name.size());
    rec.append(reinterpret_cast<const char*>(from_file ? &r.line : &now), 8);
    rec.append(reinterpret_cast<const char*>(&name_len), 4);
    rec += name;
    rec += r.payload;
    records.push_back(std::move(rec));
    received.push_back(r.received);
  }
  std::lock_guard lock(impl_->mu);
  return impl_->AcceptLocked(records, received);
}

Status StreamIngestor::Checkpoint() {
  std::lock_guard c(impl_->checkpoint_mu);
  return impl_->RunCheckpoint();
}

Status StreamIngestor::MaybeCheckpoint() {
  Impl& im = *impl_;
  {
    std::lock_guard lock(im.mu);
    MEDLAKE_RETURN_IF_ERROR(im.failed);
    if (im.since_checkpoint == 0 || im.checkpointing) return Status::Ok();
    if (im.since_checkpoint < im.options.checkpoint_records &&
        Clock::now() - im.last_checkpoint < im.options.checkpoint_interval) {
      return Status::Ok();
    }
    im.checkpoint_wanted = true;
  }
  im.checkpoint_cv.notify_one();
  return Status::Ok();
}

StreamStats StreamIngestor::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

}  // namespace medlake::ingest
