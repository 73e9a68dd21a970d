#include "store/identity_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <tbb/parallel_sort.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "common/file_util.h"
#include "store/key_filter.h"

namespace medlake::store {
namespace {

namespace fs = std::filesystem;

constexpr char kManifest[] = "MANIFEST";
constexpr char kManifestHeader[] = "medlake identity index 1";
constexpr char kRunMagic[8] = {'M', 'L', 'I', 'D', 'X', '0', '0', '1'};
constexpr char kRunEndMagic[8] = {'M', 'L', 'I', 'D', 'X', 'E', 'N', 'D'};
constexpr uint32_t kRunVersion = 1;
constexpr uint64_t kHeaderSize = 32;
constexpr uint64_t kTrailerSize = 16;
constexpr uint64_t kBlockEntries = 128;  // entries per fence (one pread per lookup)
constexpr size_t kWindowEntries = 32;    // entries a lookup reads first (Run::Find)
constexpr size_t kCursorEntries = 1365;  // 64 KiB of entries read at a time when merging

bool KeyLess(const Key128& a, const Key128& b) {
  return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo;
}

Status PreadAll(int fd, void* buf, size_t n, uint64_t offset, const std::string& path) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t got = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return IoError("cannot read " + path);
    if (got == 0) return Corruption("identity index " + path + ": truncated");
    p += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return Status::Ok();
}

Status WriteAll(int fd, const void* buf, size_t n, const std::string& path) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t put = ::write(fd, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) {
      return IoError("cannot write " + path + ": " +
                     (put < 0 ? std::strerror(errno) : "nothing written"));
    }
    p += put;
    n -= static_cast<size_t>(put);
  }
  return Status::Ok();
}

// "check " and 16 hex digits of the XXH64 (seed 0) of the manifest's other lines, "\n".
std::string ManifestCheckLine(std::string_view lines) {
  char line[32];
  std::snprintf(line, sizeof line, "check %016llx\n",
                static_cast<unsigned long long>(XXH64(lines.data(), lines.size(), 0)));
  return line;
}

// The run names a manifest lists, or false when it is not a manifest stamped `stamp`.
bool ParseManifest(const std::string& text, uint64_t stamp, std::vector<std::string>& runs) {
  // The last line checks the others: a manifest cut short (a lost tail lists fewer runs, and
  // the index would miss the identities of those left out) is not taken for a shorter one.
  size_t last = text.size() < 2 ? std::string::npos : text.rfind('\n', text.size() - 2);
  if (last == std::string::npos) return false;
  if (text.substr(last + 1) != ManifestCheckLine(std::string_view(text).substr(0, last + 1))) {
    return false;
  }
  std::vector<std::string> lines;
  const std::string body = text.substr(0, last + 1);
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string::npos) return false;  // every line ends with a newline
    lines.push_back(body.substr(start, end - start));
    start = end + 1;
  }
  char want[40];
  std::snprintf(want, sizeof want, "stamp %016llx", static_cast<unsigned long long>(stamp));
  if (lines.size() < 2 || lines[0] != kManifestHeader || lines[1] != want) return false;
  for (size_t i = 2; i < lines.size(); ++i) {
    unsigned n = 0;
    char tail = 0;
    if (lines[i].size() != 16 || std::sscanf(lines[i].c_str(), "run-%8u.id%c", &n, &tail) != 2 ||
        tail != 'x') {
      return false;
    }
    runs.push_back(lines[i]);
  }
  return true;
}

unsigned RunNumber(const std::string& name) {
  unsigned n = 0;
  return std::sscanf(name.c_str(), "run-%8u.idx", &n) == 1 ? n : 0;
}

}  // namespace

struct IdentityIndex::Run {
  std::string path;
  std::string name;
  int fd = -1;
  uint64_t count = 0;
  std::vector<uint64_t> filter;  // FilterBlocks(count) blocks of kFilterWords
  std::vector<Key128> fences;    // key of entry i * kBlockEntries

  ~Run() {
    if (fd >= 0) ::close(fd);
  }

  Result<bool> Find(const Key128& key, IdentityEntry& out) const {
    if (count == 0 || !FilterHas(filter, key)) return false;
    auto it = std::upper_bound(fences.begin(), fences.end(), key, KeyLess);
    if (it == fences.begin()) return false;
    const size_t block = static_cast<size_t>(it - fences.begin() - 1);
    const uint64_t first = block * kBlockEntries;
    const size_t n = static_cast<size_t>(std::min(kBlockEntries, count - first));
    // Keys are uniform hashes, so an entry's place in its block follows from where its key
    // lies between the block's fence and the next: read the window of kWindowEntries around
    // that place (a quarter of the block), and the whole block only when the key lies outside
    // the window's range (under 1 % of lookups).
    size_t from = 0;
    size_t len = n;
    if (n > kWindowEntries) {
      const uint64_t low = fences[block].hi;
      const uint64_t high = it == fences.end() ? ~uint64_t{0} : it->hi;
      const double place =
          high > low ? static_cast<double>(key.hi - low) / static_cast<double>(high - low) : 0;
      const auto guess = static_cast<size_t>(place * static_cast<double>(n));
      from = guess > kWindowEntries / 2 ? guess - kWindowEntries / 2 : 0;
      from = std::min(from, n - kWindowEntries);
      len = kWindowEntries;
    }
    IdentityEntry entries[kBlockEntries];
    auto read = [&](size_t at, size_t entries_wanted) {
      return PreadAll(fd, entries, entries_wanted * sizeof(IdentityEntry),
                      kHeaderSize + (first + at) * sizeof(IdentityEntry), path);
    };
    MEDLAKE_RETURN_IF_ERROR(read(from, len));
    const bool before = from > 0 && KeyLess(key, entries[0].key);
    const bool after = from + len < n && KeyLess(entries[len - 1].key, key);
    if (before || after) {  // outside the window: the whole block
      from = 0;
      len = n;
      MEDLAKE_RETURN_IF_ERROR(read(from, len));
    }
    auto at =
        std::lower_bound(entries, entries + len, key,
                         [](const IdentityEntry& e, const Key128& k) { return KeyLess(e.key, k); });
    if (at == entries + len || !(at->key == key)) return false;
    out = *at;
    return true;
  }

  // Reads and checks a run file; kCorruption when it is damaged.
  static Result<std::unique_ptr<Run>> Load(const std::string& dir, const std::string& name) {
    auto run = std::make_unique<Run>();
    run->name = name;
    run->path = dir + "/" + name;
    run->fd = ::open(run->path.c_str(), O_RDONLY | O_CLOEXEC);
    if (run->fd < 0) return NotFound("identity index run " + run->path + " is missing");
    struct stat st;
    if (::fstat(run->fd, &st) != 0) return IoError("cannot stat " + run->path);
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size < kHeaderSize + kTrailerSize) return Corruption(run->path + ": truncated");
    char header[kHeaderSize];
    MEDLAKE_RETURN_IF_ERROR(PreadAll(run->fd, header, kHeaderSize, 0, run->path));
    uint32_t version = 0, entry_size = 0;
    uint64_t blocks = 0;
    std::memcpy(&version, header + 8, 4);
    std::memcpy(&entry_size, header + 12, 4);
    std::memcpy(&run->count, header + 16, 8);
    std::memcpy(&blocks, header + 24, 8);
    if (std::memcmp(header, kRunMagic, 8) != 0 || version != kRunVersion ||
        entry_size != sizeof(IdentityEntry) || run->count > size / sizeof(IdentityEntry) ||
        blocks == 0 || blocks > size / (kFilterWords * 8) ||
        size != kHeaderSize + run->count * sizeof(IdentityEntry) + blocks * kFilterWords * 8 +
                    kTrailerSize) {
      return Corruption(run->path + ": bad header");
    }
    XXH64_state_t* hash = XXH64_createState();
    XXH64_reset(hash, 0);
    std::vector<IdentityEntry> chunk(kCursorEntries * 16);
    Status status = Status::Ok();
    for (uint64_t done = 0; done < run->count && status.ok();) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), run->count - done));
      status = PreadAll(run->fd, chunk.data(), n * sizeof(IdentityEntry),
                        kHeaderSize + done * sizeof(IdentityEntry), run->path);
      XXH64_update(hash, chunk.data(), n * sizeof(IdentityEntry));
      for (size_t i = 0; i < n; ++i) {
        if ((done + i) % kBlockEntries == 0) run->fences.push_back(chunk[i].key);
      }
      done += n;
    }
    run->filter.resize(blocks * kFilterWords);
    const uint64_t filter_at = kHeaderSize + run->count * sizeof(IdentityEntry);
    char trailer[kTrailerSize];
    if (status.ok()) {
      status = PreadAll(run->fd, run->filter.data(), run->filter.size() * 8, filter_at, run->path);
    }
    if (status.ok()) {
      XXH64_update(hash, run->filter.data(), run->filter.size() * 8);
      status = PreadAll(run->fd, trailer, kTrailerSize, size - kTrailerSize, run->path);
    }
    const uint64_t digest = XXH64_digest(hash);
    XXH64_freeState(hash);
    MEDLAKE_RETURN_IF_ERROR(status);
    if (std::memcmp(trailer, &digest, 8) != 0 || std::memcmp(trailer + 8, kRunEndMagic, 8) != 0) {
      return Corruption(run->path + ": checksum mismatch");
    }
    return run;
  }
};

// Writes one run: entries appended in key order, then the filter, the trailer and the header.
// No fsync: the index is derived data. A manifest may name a run whose bytes a power loss then
// keeps from the disk; that run fails its checksum in Load and the index is rebuilt from the
// segments (docs/format.md, "Commit protocol").
class IdentityIndex::RunWriter {
 public:
  static Result<std::unique_ptr<RunWriter>> Create(const std::string& dir, const std::string& name,
                                                   uint64_t max_entries) {
    std::unique_ptr<RunWriter> w(new RunWriter());
    w->run_ = std::make_unique<Run>();
    w->run_->name = name;
    w->run_->path = dir + "/" + name;
    w->run_->fd = ::open(w->run_->path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->run_->fd < 0) return IoError("cannot create " + w->run_->path);
    w->run_->filter.assign(FilterBlocks(max_entries) * kFilterWords, 0);
    w->hash_ = XXH64_createState();
    XXH64_reset(w->hash_, 0);
    w->buffer_.assign(kHeaderSize, '\0');
    return w;
  }
  // A run not finished (a write failed: a full disk) is removed, not left for the next Open.
  ~RunWriter() {
    XXH64_freeState(hash_);
    if (run_ == nullptr) return;
    std::error_code ec;
    fs::remove(run_->path, ec);
  }

  Status Append(const IdentityEntry& e) {
    Run& run = *run_;
    if (run.count % kBlockEntries == 0) run.fences.push_back(e.key);
    // A key's filter bits are set kFilterLag entries later, its block prefetched now: a big
    // run's filter is far larger than the cache, and waiting for one miss per entry was most
    // of a merge's time (merges run while ingest's workers wait).
    __builtin_prefetch(FilterBlock(run.filter, e.key), 1);
    Key128& lagged = lagged_[run.count % kFilterLag];
    if (run.count >= kFilterLag) FilterAdd(run.filter, lagged);
    lagged = e.key;
    ++run.count;
    const char* p = reinterpret_cast<const char*>(&e);
    XXH64_update(hash_, p, sizeof e);
    buffer_.append(p, sizeof e);
    return buffer_.size() >= (1u << 20) ? Drain() : Status::Ok();
  }

  Result<std::unique_ptr<Run>> Finish() {
    Run& run = *run_;
    for (uint64_t i = run.count > kFilterLag ? run.count - kFilterLag : 0; i < run.count; ++i) {
      FilterAdd(run.filter, lagged_[i % kFilterLag]);
    }
    const uint64_t blocks = run.filter.size() / kFilterWords;
    XXH64_update(hash_, run.filter.data(), run.filter.size() * 8);
    const uint64_t digest = XXH64_digest(hash_);
    MEDLAKE_RETURN_IF_ERROR(Drain());
    MEDLAKE_RETURN_IF_ERROR(WriteAll(run.fd, run.filter.data(), run.filter.size() * 8, run.path));
    char trailer[kTrailerSize];
    std::memcpy(trailer, &digest, 8);
    std::memcpy(trailer + 8, kRunEndMagic, 8);
    MEDLAKE_RETURN_IF_ERROR(WriteAll(run.fd, trailer, kTrailerSize, run.path));
    char header[kHeaderSize];
    const uint32_t entry_size = sizeof(IdentityEntry);
    std::memcpy(header, kRunMagic, 8);
    std::memcpy(header + 8, &kRunVersion, 4);
    std::memcpy(header + 12, &entry_size, 4);
    std::memcpy(header + 16, &run.count, 8);
    std::memcpy(header + 24, &blocks, 8);
    if (::pwrite(run.fd, header, kHeaderSize, 0) != static_cast<ssize_t>(kHeaderSize)) {
      return IoError("cannot write " + run.path);
    }
    return std::move(run_);
  }

 private:
  RunWriter() = default;
  Status Drain() {
    Status s = WriteAll(run_->fd, buffer_.data(), buffer_.size(), run_->path);
    buffer_.clear();
    return s;
  }

  static constexpr uint64_t kFilterLag = 16;

  std::unique_ptr<Run> run_;
  XXH64_state_t* hash_ = nullptr;
  std::string buffer_;
  Key128 lagged_[kFilterLag];  // the last keys appended, whose filter bits are not yet set
};

IdentityIndex::~IdentityIndex() = default;

Result<std::unique_ptr<IdentityIndex>> IdentityIndex::Open(const std::string& dir, uint64_t stamp) {
  std::unique_ptr<IdentityIndex> index(new IdentityIndex());
  index->dir_ = dir;
  MEDLAKE_RETURN_IF_ERROR(MakeDirs(dir));
  std::vector<std::string> names;
  auto manifest = ReadFile(dir + "/" + kManifest);
  bool usable = manifest.ok() && ParseManifest(*manifest, stamp, names);
  for (size_t i = 0; usable && i < names.size(); ++i) {
    auto run = Run::Load(dir, names[i]);
    if (!run.ok()) {
      if (run.status().code() == ErrorCode::kIoError) return run.status();
      usable = false;  // damaged or missing: rebuilt like a stale index
      break;
    }
    index->next_run_ = std::max(index->next_run_, RunNumber(names[i]) + 1);
    index->runs_.push_back(std::move(run).value());
  }
  if (!usable) {
    index->runs_.clear();
    index->needs_rebuild_ = true;
  }
  std::set<std::string> keep(names.begin(), names.end());
  std::error_code ec;
  for (const auto& file : fs::directory_iterator(dir, ec)) {
    std::string name = file.path().filename().string();
    if (usable && (name == kManifest || keep.count(name))) continue;
    fs::remove(file.path(), ec);
  }
  return index;
}

Result<bool> IdentityIndex::Find(const Key128& key, IdentityEntry& out) const {
  for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
    MEDLAKE_ASSIGN_OR_RETURN(bool found, (*it)->Find(key, out));
    if (found) return true;
  }
  return false;
}

std::string IdentityIndex::NextRunName() {
  char buf[32];
  std::snprintf(buf, sizeof buf, "run-%08u.idx", next_run_++);
  return buf;
}

IdentityIndex::PreparedRun::PreparedRun() = default;
IdentityIndex::PreparedRun::PreparedRun(PreparedRun&&) noexcept = default;
IdentityIndex::PreparedRun& IdentityIndex::PreparedRun::operator=(PreparedRun&&) noexcept = default;
IdentityIndex::PreparedRun::~PreparedRun() {
  if (!run_) return;
  std::error_code ec;
  fs::remove(run_->path, ec);  // no manifest names it
}

Result<IdentityIndex::PreparedRun> IdentityIndex::Prepare(std::vector<IdentityEntry> entries) {
  PreparedRun prepared;
  if (entries.empty()) return prepared;
  // Runs are added at a commit, when ingest's workers wait: sort on ingest's threads.
  tbb::parallel_sort(
      entries.begin(), entries.end(),
      [](const IdentityEntry& a, const IdentityEntry& b) { return KeyLess(a.key, b.key); });
  MEDLAKE_ASSIGN_OR_RETURN(auto writer, RunWriter::Create(dir_, NextRunName(), entries.size()));
  for (const IdentityEntry& e : entries) MEDLAKE_RETURN_IF_ERROR(writer->Append(e));
  MEDLAKE_ASSIGN_OR_RETURN(prepared.run_, writer->Finish());
  return prepared;
}

Status IdentityIndex::Add(PreparedRun prepared) {
  if (!prepared.run_) return Status::Ok();
  runs_.push_back(std::move(prepared.run_));
  size_t first = runs_.size() - 1;
  uint64_t tail = runs_.back()->count;
  while (first > 0 && runs_[first - 1]->count <= 2 * tail) {
    --first;
    tail += runs_[first]->count;
  }
  return first + 1 < runs_.size() ? MergeTail(first) : Status::Ok();
}

Status IdentityIndex::AddRun(std::vector<IdentityEntry> entries) {
  MEDLAKE_ASSIGN_OR_RETURN(PreparedRun prepared, Prepare(std::move(entries)));
  return Add(std::move(prepared));
}

Status IdentityIndex::MergeTail(size_t first) {
  // Sequential reader of one run, 64 KiB at a time.
  struct Cursor {
    const Run* run;
    uint64_t next = 0;  // entries read from the file
    std::vector<IdentityEntry> buf;
    size_t pos = 0;
    Result<bool> Peek(const IdentityEntry*& e) {
      if (pos == buf.size()) {
        if (next == run->count) return false;
        buf.resize(static_cast<size_t>(std::min<uint64_t>(kCursorEntries, run->count - next)));
        MEDLAKE_RETURN_IF_ERROR(PreadAll(run->fd, buf.data(), buf.size() * sizeof(IdentityEntry),
                                         kHeaderSize + next * sizeof(IdentityEntry), run->path));
        next += buf.size();
        pos = 0;
      }
      e = &buf[pos];
      return true;
    }
  };
  std::vector<Cursor> cursors;
  uint64_t total = 0;
  for (size_t i = first; i < runs_.size(); ++i) {
    cursors.push_back(Cursor{runs_[i].get()});
    total += runs_[i]->count;
  }
  MEDLAKE_ASSIGN_OR_RETURN(auto writer, RunWriter::Create(dir_, NextRunName(), total));
  std::vector<const IdentityEntry*> heads(cursors.size());
  for (;;) {
    // The smallest key; among equal keys the newest run's entry wins.
    const IdentityEntry* best = nullptr;
    for (size_t c = 0; c < cursors.size(); ++c) {
      MEDLAKE_ASSIGN_OR_RETURN(bool more, cursors[c].Peek(heads[c]));
      if (!more) {
        heads[c] = nullptr;
        continue;
      }
      if (best == nullptr || !KeyLess(best->key, heads[c]->key)) best = heads[c];
    }
    if (best == nullptr) break;
    const IdentityEntry chosen = *best;
    MEDLAKE_RETURN_IF_ERROR(writer->Append(chosen));
    for (size_t c = 0; c < cursors.size(); ++c) {
      if (heads[c] != nullptr && heads[c]->key == chosen.key) ++cursors[c].pos;
    }
  }
  MEDLAKE_ASSIGN_OR_RETURN(auto merged, writer->Finish());
  for (size_t i = first; i < runs_.size(); ++i) obsolete_.push_back(runs_[i]->name);
  runs_.resize(first);
  runs_.push_back(std::move(merged));
  return Status::Ok();
}

Status IdentityIndex::Publish(uint64_t stamp) {
  char line[40];
  std::snprintf(line, sizeof line, "stamp %016llx\n", static_cast<unsigned long long>(stamp));
  std::string text = std::string(kManifestHeader) + "\n" + line;
  for (const auto& run : runs_) text += run->name + "\n";
  text += ManifestCheckLine(text);
  MEDLAKE_RETURN_IF_ERROR(WriteFileAtomic(dir_ + "/" + kManifest, text));
  needs_rebuild_ = false;
  std::error_code ec;
  for (const auto& name : obsolete_) fs::remove(dir_ + "/" + name, ec);
  obsolete_.clear();
  return Status::Ok();
}

}  // namespace medlake::store
