#include "cohort/index_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <type_traits>

#include "common/file_util.h"
#include "privacy/segment_cipher.h"
#include "store/bitmap.h"
#include "store/bytes.h"

namespace medlake::cohort {

namespace {

constexpr char kMagic[8] = {'M', 'L', 'C', 'O', 'H', 'I', 'X', '1'};
constexpr uint32_t kVersion = 1;
static_assert(sizeof(Event) == 32 && std::is_trivially_copyable_v<Event>);

// An encrypted cache (in a lake with a key) starts with kSealedMagic and a salt, then holds
// the plain layout in sealed chunks of at most kChunk bytes: u32 sealed size, then the chunk
// sealed under the lake's data cipher (privacy/segment_cipher.h) with its number as section.
constexpr char kSealedMagic[8] = {'M', 'L', 'C', 'O', 'H', 'I', 'X', 'E'};
constexpr size_t kChunk = 1 << 20;

// Buffered file output that hashes what it writes (and seals each chunk when `key` is set).
class Writer {
 public:
  explicit Writer(int fd, const privacy::SegmentCipher::SegmentKey* key = nullptr)
      : fd_(fd), key_(key), state_(XXH64_createState()) {
    XXH64_reset(state_, 0);
  }
  ~Writer() { XXH64_freeState(state_); }

  void Bytes(const void* data, size_t n) {
    XXH64_update(state_, data, n);
    const char* p = static_cast<const char*>(data);
    while (n > 0 && ok_) {
      size_t take = std::min(n, kChunk - buf_.size());
      buf_.append(p, take);
      p += take;
      n -= take;
      if (buf_.size() == kChunk) Flush();
    }
  }
  template <typename T>
  void Put(T v) {
    Bytes(&v, sizeof v);
  }
  template <typename T>
  void Array(const std::vector<T>& v) {
    Put<uint64_t>(v.size());
    Bytes(v.data(), v.size() * sizeof(T));
  }
  void String(const std::string& s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    Bytes(s.data(), s.size());
  }
  void Bitmap(const Roaring& r) {
    std::string bytes(r.getSizeInBytes(true), '\0');
    r.write(bytes.data(), true);
    Put<uint64_t>(bytes.size());
    Bytes(bytes.data(), bytes.size());
  }
  uint64_t Digest() const { return XXH64_digest(state_); }
  bool Flush() {
    if (key_ && !buf_.empty()) {
      key_->Seal(chunks_++, buf_, sealed_);
      uint32_t size = static_cast<uint32_t>(sealed_.size());
      WriteAll(std::string_view(reinterpret_cast<const char*>(&size), sizeof size));
      WriteAll(sealed_);
    } else {
      WriteAll(buf_);
    }
    buf_.clear();
    return ok_;
  }

 private:
  void WriteAll(std::string_view bytes) {
    size_t done = 0;
    while (ok_ && done < bytes.size()) {
      ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) ok_ = false;
      if (n > 0) done += static_cast<size_t>(n);
    }
  }

  int fd_;
  const privacy::SegmentCipher::SegmentKey* key_;
  uint64_t chunks_ = 0;
  std::string sealed_;
  XXH64_state_t* state_;
  std::string buf_;
  bool ok_ = true;
};

// The file's arrays, strings and bitmaps over store::ByteReader, which does the bounds checks.
class Reader {
 public:
  explicit Reader(std::string_view data) : in_(data) {}
  bool ok() const { return in_.ok(); }
  size_t remaining() const { return in_.remaining(); }

  template <typename T>
  T Get() {
    return in_.Get<T>();
  }
  void Skip(size_t n) { in_.GetBytes(n); }
  template <typename T>
  void Array(std::vector<T>& v) {
    auto n = in_.Get<uint64_t>();
    if (!in_.ok() || n > in_.remaining() / sizeof(T)) {
      in_.Fail();
      return;
    }
    std::string_view bytes = in_.GetBytes(n * sizeof(T));
    v.resize(n);
    std::memcpy(v.data(), bytes.data(), bytes.size());
  }
  std::string String() { return std::string(in_.GetString()); }
  Roaring Bitmap() {
    std::string_view bytes = in_.GetBytes(in_.Get<uint64_t>());
    if (!in_.ok()) return {};
    roaring_bitmap_t* r = store::ReadBitmap(bytes);
    if (!r) {
      in_.Fail();
      return {};
    }
    return Roaring(r);
  }

 private:
  store::ByteReader in_;
};

}  // namespace

// Reads and writes the private members of CohortIndex.
class IndexFile {
 public:
  static void Write(const CohortIndex& x, uint64_t stamp, Writer& w) {
    w.Bytes(kMagic, sizeof kMagic);
    w.Put<uint32_t>(kVersion);
    w.Put<uint64_t>(stamp);
    w.Put<uint64_t>(x.codes_.size());
    for (const auto& c : x.codes_) {
      w.String(c.system);
      w.String(c.code);
    }
    for (const auto* table : {&x.types_, &x.units_, &x.statuses_}) {
      w.Put<uint64_t>(table->size());
      for (const auto& s : *table) w.String(s);
    }
    std::vector<int64_t> birth, deceased;
    std::vector<uint8_t> sex;
    for (const auto& f : x.facts_) {
      birth.push_back(f.birth_ms);
      deceased.push_back(f.deceased_ms);
      sex.push_back(static_cast<uint8_t>(f.sex));
    }
    w.Array(birth);
    w.Array(deceased);
    w.Array(sex);
    w.Bitmap(x.patients_);
    w.Put<uint64_t>(x.entries_.size());
    for (const auto& e : x.entries_) {
      w.Put<uint32_t>(e.code);
      w.Put<uint16_t>(e.type);
      w.Bitmap(e.patients);
      w.Array(e.offsets);
      w.Array(e.events);
      w.Array(e.units);
    }
  }

  static Status Read(std::string_view data, uint64_t stamp, CohortIndex& x) {
    if (data.size() < sizeof kMagic + 12 + 8 || std::memcmp(data.data(), kMagic, 8) != 0)
      return Corruption("cohort index: not a cohort index file");
    uint64_t stored;
    std::memcpy(&stored, data.data() + data.size() - 8, 8);
    if (XXH64(data.data(), data.size() - 8, 0) != stored)
      return Corruption("cohort index: checksum mismatch");
    Reader r(data.substr(0, data.size() - 8));
    r.Skip(sizeof kMagic);
    if (r.Get<uint32_t>() != kVersion) return NotFound("cohort index: other version");
    if (r.Get<uint64_t>() != stamp) return NotFound("cohort index: built for another lake state");
    auto n = r.Get<uint64_t>();
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      std::string system = r.String();
      x.codes_.push_back({std::move(system), r.String()});
    }
    for (auto* table : {&x.types_, &x.units_, &x.statuses_}) {
      auto m = r.Get<uint64_t>();
      for (uint64_t i = 0; i < m && r.ok(); ++i) table->push_back(r.String());
    }
    std::vector<int64_t> birth, deceased;
    std::vector<uint8_t> sex;
    r.Array(birth);
    r.Array(deceased);
    r.Array(sex);
    if (!r.ok() || birth.size() != deceased.size() || birth.size() != sex.size())
      return Corruption("cohort index: damaged patient facts");
    x.facts_.resize(birth.size());
    for (size_t i = 0; i < birth.size(); ++i)
      x.facts_[i] = {birth[i], deceased[i], static_cast<Sex>(std::min<uint8_t>(sex[i], 4))};
    x.patients_ = r.Bitmap();
    if (!x.patients_.isEmpty() && x.patients_.maximum() >= x.facts_.size())
      return Corruption("cohort index: patients without facts");
    auto entries = r.Get<uint64_t>();
    if (!r.ok() || entries > data.size()) return Corruption("cohort index: damaged header");
    x.entries_.resize(entries);
    for (auto& e : x.entries_) {
      e.code = r.Get<uint32_t>();
      e.type = r.Get<uint16_t>();
      e.patients = r.Bitmap();
      r.Array(e.offsets);
      r.Array(e.events);
      r.Array(e.units);
      if (!r.ok()) break;
      // Structural checks so that a well-checksummed but inconsistent file cannot index
      // out of bounds.
      if (e.code >= x.codes_.size() || e.type >= x.types_.size() ||
          e.offsets.size() != e.patients.cardinality() + 1 || e.offsets.back() != e.events.size())
        return Corruption("cohort index: inconsistent entry");
      for (uint16_t u : e.units)
        if (u >= x.units_.size()) return Corruption("cohort index: inconsistent entry");
    }
    if (!r.ok() || r.remaining() != 0) return Corruption("cohort index: damaged entries");
    x.Derive();
    return Status::Ok();
  }
};

namespace {

// Turns the bytes of an encrypted cache into its plain layout, in place (each plain chunk is
// shorter than its sealed form, so writing never overtakes reading). Plain caches of a lake
// without a key pass through; any other mix is kCorruption (the cache is then rebuilt).
Status Unseal(const privacy::SegmentCipher* cipher, const std::string& path, std::string& data) {
  const bool sealed = data.size() >= 8 && std::memcmp(data.data(), kSealedMagic, 8) == 0;
  if (!sealed && !cipher) return Status::Ok();
  const size_t header = 8 + privacy::SegmentCipher::kSaltBytes;
  if (!sealed || !cipher || data.size() < header) {
    return Corruption(path + ": not encrypted as the lake's key requires");
  }
  auto key =
      cipher->ForSegment(std::string_view(data).substr(8, privacy::SegmentCipher::kSaltBytes));
  std::string chunk;
  size_t in = header, out = 0;
  for (uint64_t section = 0; in < data.size(); ++section) {
    uint32_t size = 0;
    if (data.size() - in < sizeof size) return Corruption(path + ": truncated");
    std::memcpy(&size, data.data() + in, sizeof size);
    in += sizeof size;
    if (data.size() - in < size ||
        !key.Open(section, std::string_view(data).substr(in, size), chunk)) {
      return Corruption(path + ": chunk " + std::to_string(section) +
                        " does not decrypt under the lake key");
    }
    in += size;
    std::memcpy(data.data() + out, chunk.data(), chunk.size());
    out += chunk.size();
  }
  data.resize(out);
  return Status::Ok();
}

// The lake's state hash, and the size and modification time of every segment file: segments
// never change once committed, so a file changed since the index was built (a flipped byte,
// a restored backup) rebuilds it, and the rebuild reports the damage as every run must.
uint64_t CacheStamp(const Lake& lake) {
  uint64_t h = lake.state_hash();
  auto mix = [&h](uint64_t v) { h = XXH64(&v, sizeof v, h); };
  for (const SegmentInfo& seg : lake.segments()) {
    struct stat st;
    if (::stat((lake.dir() + "/" + seg.file).c_str(), &st) != 0) {
      mix(~0ull);
      continue;
    }
    mix(static_cast<uint64_t>(st.st_size));
    mix(static_cast<uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000ull +
        static_cast<uint64_t>(st.st_mtim.tv_nsec));
  }
  return h;
}

}  // namespace

std::string IndexPath(const Lake& lake) {
  return lake.dir() + "/index/cohort.idx";
}

Status SaveIndex(const CohortIndex& index, const Lake& lake) {
  std::string path = IndexPath(lake);
  MEDLAKE_RETURN_IF_ERROR(MakeDirs(lake.dir() + "/index"));
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create " + tmp + ": " + std::strerror(errno));
  std::optional<privacy::SegmentCipher::SegmentKey> key;
  bool header_ok = true;
  if (const privacy::SegmentCipher* cipher = lake.data_cipher()) {
    std::string header = std::string(kSealedMagic, 8) + privacy::SegmentCipher::NewSalt();
    key = cipher->ForSegment(std::string_view(header).substr(8));
    header_ok = ::write(fd, header.data(), header.size()) == static_cast<ssize_t>(header.size());
  }
  Writer w(fd, key ? &*key : nullptr);
  IndexFile::Write(index, CacheStamp(lake), w);
  uint64_t digest = w.Digest();
  w.Put<uint64_t>(digest);
  bool ok = header_ok && w.Flush() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = IoError("cannot write " + path + ": " + std::strerror(errno));
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDir(lake.dir() + "/index");
}

Result<std::unique_ptr<CohortIndex>> LoadIndex(const Lake& lake) {
  std::string path = IndexPath(lake);
  if (!std::filesystem::exists(path)) return NotFound("no cohort index at " + path);
  MEDLAKE_ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  MEDLAKE_RETURN_IF_ERROR(Unseal(lake.data_cipher(), path, data));
  auto index = std::make_unique<CohortIndex>();
  MEDLAKE_RETURN_IF_ERROR(IndexFile::Read(data, CacheStamp(lake), *index));
  return index;
}

Result<std::unique_ptr<CohortIndex>> LoadOrBuildIndex(const Lake& lake, int threads,
                                                      std::vector<std::string>* damaged,
                                                      IndexLoad* info) {
  IndexLoad local;
  IndexLoad& out = info ? *info : local;
  auto loaded = LoadIndex(lake);
  if (loaded.ok()) {
    out.built = false;
    return loaded;
  }
  if (loaded.status().code() != ErrorCode::kNotFound &&
      loaded.status().code() != ErrorCode::kCorruption)
    return loaded.status();
  std::vector<std::string> seen;
  MEDLAKE_ASSIGN_OR_RETURN(auto index, CohortIndex::Build(lake, threads, &seen));
  out.built = true;
  if (seen.empty()) {
    Status saved = SaveIndex(*index, lake);
    if (!saved.ok()) out.cache_error = saved.message();
  }
  if (damaged) damaged->insert(damaged->end(), seen.begin(), seen.end());
  return index;
}

}  // namespace medlake::cohort
