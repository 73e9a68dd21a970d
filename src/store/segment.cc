#include "store/segment.h"

#include <fcntl.h>
#include <roaring/roaring.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <unordered_map>

#include "common/string_util.h"
#include "store/bytes.h"
#include "store/file_syncer.h"

namespace medlake::store {
namespace {

constexpr char kMagic[8] = {'M', 'L', 'S', 'E', 'G', '0', '0', '1'};
constexpr char kEndMagic[8] = {'M', 'L', 'S', 'E', 'G', 'E', 'N', 'D'};
constexpr size_t kHeaderSize = 16;
constexpr size_t kTrailerSize = 32;
constexpr size_t kBlockTarget = 128 * 1024;
constexpr int kZstdLevel = 1;
constexpr uint16_t kNone16 = 0xFFFF;
// The section number of the column section in the nonces of an encrypted segment (blocks are
// numbered from 0 and fewer than 2^32).
constexpr uint64_t kColumnSection = uint64_t{1} << 32;

// A compression context with the lake's parameters, set once (they stay with the context).
ZSTD_CCtx* NewCompressor() {
  ZSTD_CCtx* ctx = ZSTD_createCCtx();
  if (ctx == nullptr) return nullptr;
  ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, kZstdLevel);
  // Matches of 7 bytes at least, not level 1's 5 (the repeats of FHIR JSON are mostly longer:
  // names with their quotes, systems, references). On the minified resources of Synthea's 100
  // patients in 128 KiB blocks, compression runs 3 % faster and the output is 0.6 % smaller
  // (ratio 14.21 against 14.13; bench/ingest/parts_bench.cc).
  ZSTD_CCtx_setParameter(ctx, ZSTD_c_minMatch, 7);
  return ctx;
}

Status Compress(std::string_view in, std::string& out) {
  thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> ctx(NewCompressor(),
                                                                        &ZSTD_freeCCtx);
  if (!ctx) return Internal("zstd: cannot create a compression context");
  out.resize(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compress2(ctx.get(), out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n)) return Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return Status::Ok();
}

bool Decompress(std::string_view in, size_t raw_size, std::string& out) {
  thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(),
                                                                        &ZSTD_freeDCtx);
  out.resize(raw_size);
  size_t n = ZSTD_decompressDCtx(ctx.get(), out.data(), out.size(), in.data(), in.size());
  return !ZSTD_isError(n) && n == raw_size;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot write " + path + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status ReadAt(int fd, uint64_t offset, size_t size, std::string& out, const std::string& path) {
  out.resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read " + path + ": " + std::strerror(errno));
    if (n == 0) return Corruption(path + ": truncated segment");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Interns strings into a dictionary; index kNone16 for "".
class Dict16 {
 public:
  uint16_t Add(std::string_view s) {
    if (s.empty()) return kNone16;
    if (auto it = index_.find(s); it != index_.end()) return it->second;
    const auto at = static_cast<uint16_t>(values_.size());
    values_.emplace_back(s);
    index_.emplace(values_.back(), at);
    return at;
  }
  const std::vector<std::string>& values() const { return values_; }

 private:
  StringMap<uint16_t> index_;
  std::vector<std::string> values_;
};

void PutStrings(ByteWriter& w, const std::vector<std::string>& v) {
  w.Put<uint32_t>(static_cast<uint32_t>(v.size()));
  for (const auto& s : v) w.PutString(s);
}

std::vector<std::string> GetStrings(ByteReader& r) {
  uint32_t n = r.Get<uint32_t>();
  std::vector<std::string> v;
  if (n > r.remaining()) return v;  // damaged count; r.ok() will tell
  v.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) v.emplace_back(r.GetString());
  return v;
}

template <typename T>
void PutArray(ByteWriter& w, const std::vector<T>& v) {
  w.PutBytes(std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)));
}

template <typename T>
std::vector<T> GetArray(ByteReader& r, size_t n) {
  if (n > r.remaining() / sizeof(T)) {  // a damaged count: nothing is allocated for it
    r.Fail();
    return std::vector<T>();
  }
  std::vector<T> v(n);
  std::string_view bytes = r.GetBytes(n * sizeof(T));
  if (n > 0 && bytes.size() == n * sizeof(T)) std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

}  // namespace

Key128 ResourceKey(std::string_view type, std::string_view id) {
  // Valid ids have at most 64 characters and type names at most 40: no allocation for them.
  char local[128];
  std::string heap;
  size_t size = type.size() + 1 + id.size();
  char* buf = local;
  if (size > sizeof local) {
    heap.resize(size);
    buf = heap.data();
  }
  std::memcpy(buf, type.data(), type.size());
  buf[type.size()] = '/';
  std::memcpy(buf + type.size() + 1, id.data(), id.size());
  XXH128_hash_t h = XXH3_128bits(buf, size);
  return {h.low64, h.high64};
}

uint64_t ContentHash(std::string_view json) {
  return XXH3_64bits(json.data(), json.size());
}

size_t Row::MemoryBytes() const {
  // A string's characters live in the object up to 15 bytes, else in a heap block (malloc
  // rounds up to 16 and adds 8 bytes of header).
  auto heap = [](const std::string& s) -> size_t {
    return s.capacity() > 15 ? (s.capacity() + 1 + 8 + 15) / 16 * 16 : 0;
  };
  size_t bytes = sizeof(Row) + heap(type) + heap(id) + heap(unit) + heap(status) + heap(encounter) +
                 heap(json) + codings.capacity() * sizeof(fhir::Coding);
  for (const auto& c : codings) bytes += heap(c.system) + heap(c.code);
  return bytes;
}

namespace {

// The first 8 bytes of `s` (zeros past its end) as a number that orders as the strings do
// (std::string compares bytes as unsigned): a differing prefix decides, an equal one does not.
uint64_t Prefix8(const std::string& s) {
  unsigned char bytes[8] = {};
  std::memcpy(bytes, s.data(), std::min<size_t>(s.size(), 8));
  uint64_t v = 0;
  for (unsigned char b : bytes) v = v << 8 | b;
  return v;
}

}  // namespace

std::vector<uint32_t> SortedOrder(const std::vector<Row>& rows) {
  // Sorted by a compact copy of what orders them: patient, time, the rank of the type among
  // the segment's types, the first 8 bytes of the id. The rows themselves are 300 bytes apart,
  // their ids further: only rows whose ids begin alike are looked at again. Many rows tie on
  // patient and time (an encounter's observations), most on type as well.
  struct Lead {
    uint32_t patient;
    uint32_t row;
    int64_t start;
    uint32_t type;
    uint64_t id;  // Prefix8
  };
  // The distinct types (a segment has a few dozen at most), then their ranks in byte order.
  std::vector<std::string_view> types;
  std::vector<Lead> leads(rows.size());
  size_t last = 0;  // rows of one type come in runs
  for (uint32_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    if (last >= types.size() || types[last] != r.type) {
      last = static_cast<size_t>(std::find(types.begin(), types.end(), r.type) - types.begin());
      if (last == types.size()) types.push_back(r.type);
    }
    leads[i] = {r.patient, i, r.effective.start, static_cast<uint32_t>(last), Prefix8(r.id)};
  }
  std::vector<uint32_t> by_name(types.size()), rank(types.size());
  std::iota(by_name.begin(), by_name.end(), 0u);
  std::sort(by_name.begin(), by_name.end(),
            [&types](uint32_t a, uint32_t b) { return types[a] < types[b]; });
  for (uint32_t k = 0; k < by_name.size(); ++k) rank[by_name[k]] = k;
  for (Lead& lead : leads) lead.type = rank[lead.type];
  std::sort(leads.begin(), leads.end(), [&rows](const Lead& a, const Lead& b) {
    if (a.patient != b.patient) return a.patient < b.patient;
    if (a.start != b.start) return a.start < b.start;
    if (a.type != b.type) return a.type < b.type;
    if (a.id != b.id) return a.id < b.id;
    return rows[a.row].id < rows[b.row].id;
  });
  std::vector<uint32_t> order(rows.size());
  for (size_t i = 0; i < leads.size(); ++i) order[i] = leads[i].row;
  return order;
}

void SortRows(std::vector<Row>& rows) {
  std::vector<Row> sorted;
  sorted.reserve(rows.size());
  for (uint32_t i : SortedOrder(rows)) sorted.push_back(std::move(rows[i]));
  rows.swap(sorted);
}

namespace {

// A segment's rows were read long before it is written, and lie 300 bytes apart (their text
// further away): each would cost its loops below a miss per line. They are fetched this many
// rows ahead: the first lines of a text (the hardware streams the rest), every line of a row.
constexpr uint32_t kAhead = 4;

void PrefetchText(const std::string& text) {
  const size_t lines = std::min<size_t>(text.size(), 256);
  for (size_t at = 0; at < lines; at += 64) __builtin_prefetch(text.data() + at);
}

void PrefetchRow(const Row& row) {
  const auto* bytes = reinterpret_cast<const char*>(&row);
  for (size_t at = 0; at < sizeof(Row); at += 64) __builtin_prefetch(bytes + at);
}

}  // namespace

Result<uint64_t> WriteSegment(const std::string& path, uint32_t shard, const std::vector<Row>& rows,
                              const SegmentCipher* cipher) {
  std::vector<uint32_t> order(rows.size());
  std::iota(order.begin(), order.end(), 0u);
  return WriteSegment(path, shard, rows, order, cipher);
}

Result<uint64_t> WriteSegment(const std::string& path, uint32_t shard, const std::vector<Row>& all,
                              std::span<const uint32_t> order, const SegmentCipher* cipher,
                              FileSyncer* syncer) {
  // The segment's i-th row.
  auto row = [&all, order](size_t i) -> const Row& { return all[order[i]]; };
  const size_t row_count = order.size();
  // A writer thread writes segment after segment: its buffers keep their capacity (no
  // reallocation, no fresh pages to fault in) from one to the next, but not that of an
  // unusually large segment (a rewrite of a big one), whatever way this returns.
  thread_local std::string file, raw, packed, cols;
  file.clear();
  raw.clear();
  cols.clear();
  struct Trim {
    ~Trim() {
      constexpr size_t kKeptCapacity = 8u << 20;
      for (std::string* buffer : {&file, &raw, &packed, &cols}) {
        if (buffer->capacity() > kKeptCapacity) std::string().swap(*buffer);
      }
    }
  } trim;
  ByteWriter fw(file);
  fw.PutBytes(std::string_view(kMagic, 8));
  fw.Put<uint32_t>(cipher ? kEncryptedFormatVersion : kPlainFormatVersion);
  fw.Put<uint32_t>(shard);
  std::string salt;
  std::optional<SegmentCipher::SegmentKey> key;
  if (cipher) {
    salt = SegmentCipher::NewSalt();
    key = cipher->ForSegment(salt);
  }
  std::string sealed;
  // The bytes stored for a compressed section: sealed under the segment key when encrypted.
  auto stored = [&](uint64_t section, const std::string& compressed) -> const std::string& {
    if (!key) return compressed;
    key->Seal(section, compressed, sealed);
    return sealed;
  };

  // Data blocks.
  struct BlockMeta {
    uint64_t offset;
    uint32_t csize, rsize, first_row, row_count;
    uint64_t checksum;
  };
  std::vector<BlockMeta> blocks;
  std::vector<uint32_t> rec_offset(row_count), rec_size(row_count), row_block(row_count);
  uint32_t first = 0;
  auto flush_block = [&](uint32_t end) -> Status {
    if (end == first) return Status::Ok();
    MEDLAKE_RETURN_IF_ERROR(Compress(raw, packed));
    const std::string& bytes = stored(blocks.size(), packed);
    blocks.push_back({file.size(), static_cast<uint32_t>(bytes.size()),
                      static_cast<uint32_t>(raw.size()), first, end - first,
                      XXH64(bytes.data(), bytes.size(), 0)});
    file.append(bytes);
    raw.clear();
    first = end;
    return Status::Ok();
  };
  for (uint32_t i = 0; i < row_count; ++i) {
    if (i + kAhead < row_count) PrefetchText(row(i + kAhead).json);
    if (i + 2 * kAhead < row_count) __builtin_prefetch(&row(i + 2 * kAhead).json);
    const std::string& json = row(i).json;
    rec_offset[i] = static_cast<uint32_t>(raw.size());
    rec_size[i] = static_cast<uint32_t>(json.size());
    row_block[i] = static_cast<uint32_t>(blocks.size());
    raw.append(json);
    if (raw.size() >= kBlockTarget) MEDLAKE_RETURN_IF_ERROR(flush_block(i + 1));
  }
  MEDLAKE_RETURN_IF_ERROR(flush_block(static_cast<uint32_t>(row_count)));

  // Columns.
  ByteWriter cw(cols);
  const uint32_t n = static_cast<uint32_t>(row_count);
  cw.Put<uint32_t>(n);
  Dict16 types, units, statuses;
  std::vector<uint16_t> type_col(n), unit_col(n), status_col(n);
  std::vector<uint32_t> patient_col(n);
  std::vector<int64_t> start_col(n), end_col(n), updated_col(n);
  std::vector<double> value_col(n);
  std::vector<uint64_t> hash_col(n);
  std::vector<Key128> key_col(n);
  // Codes by (system, code), as views of the rows' strings (alive until this returns).
  struct CodeKey {
    std::string_view system, code;
    bool operator==(const CodeKey&) const = default;
  };
  struct CodeHash {
    size_t operator()(const CodeKey& k) const {
      return XXH3_64bits_withSeed(k.code.data(), k.code.size(),
                                  XXH3_64bits(k.system.data(), k.system.size()));
    }
  };
  std::vector<const fhir::Coding*> code_dict;
  std::unordered_map<CodeKey, uint32_t, CodeHash> code_index;
  std::vector<uint32_t> code_offsets{0}, code_ids;
  std::vector<roaring_bitmap_t*> code_bitmaps;
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kAhead < n) PrefetchRow(row(i + kAhead));
    const Row& r = row(i);
    type_col[i] = types.Add(r.type);
    unit_col[i] = units.Add(r.unit);
    status_col[i] = statuses.Add(r.status);
    patient_col[i] = r.patient;
    start_col[i] = r.effective.start;
    end_col[i] = r.effective.end;
    updated_col[i] = r.last_updated;
    value_col[i] = r.has_value ? r.value : NAN;
    hash_col[i] = r.content_hash;
    key_col[i] = r.key;
    for (const auto& c : r.codings) {
      auto [it, inserted] = code_index.try_emplace(CodeKey{c.system, c.code},
                                                   static_cast<uint32_t>(code_dict.size()));
      if (inserted) {
        code_dict.push_back(&c);
        code_bitmaps.push_back(roaring_bitmap_create());
      }
      code_ids.push_back(it->second);
      if (r.patient != kNoPatient) roaring_bitmap_add(code_bitmaps[it->second], r.patient);
    }
    code_offsets.push_back(static_cast<uint32_t>(code_ids.size()));
  }
  if (types.values().size() >= kNone16 || units.values().size() >= kNone16 ||
      statuses.values().size() >= kNone16) {
    for (auto* b : code_bitmaps) roaring_bitmap_free(b);
    return Internal("segment dictionary overflow");
  }
  PutStrings(cw, types.values());
  PutArray(cw, type_col);
  for (uint32_t i = 0; i < n; ++i) cw.PutString(row(i).id);
  PutArray(cw, key_col);
  PutArray(cw, hash_col);
  PutArray(cw, patient_col);
  PutArray(cw, start_col);
  PutArray(cw, end_col);
  PutArray(cw, updated_col);
  PutArray(cw, value_col);
  PutStrings(cw, units.values());
  PutArray(cw, unit_col);
  PutStrings(cw, statuses.values());
  PutArray(cw, status_col);
  for (uint32_t i = 0; i < n; ++i) cw.PutString(row(i).encounter);
  cw.Put<uint32_t>(static_cast<uint32_t>(code_dict.size()));
  for (const fhir::Coding* c : code_dict) {
    cw.PutString(c->system);
    cw.PutString(c->code);
  }
  PutArray(cw, code_offsets);
  cw.Put<uint32_t>(static_cast<uint32_t>(code_ids.size()));
  PutArray(cw, code_ids);
  std::string bitmap;
  for (auto* b : code_bitmaps) {
    roaring_bitmap_run_optimize(b);
    bitmap.resize(roaring_bitmap_portable_size_in_bytes(b));
    roaring_bitmap_portable_serialize(b, bitmap.data());
    cw.PutString(bitmap);
    roaring_bitmap_free(b);
  }
  PutArray(cw, rec_offset);
  PutArray(cw, rec_size);
  PutArray(cw, row_block);

  MEDLAKE_RETURN_IF_ERROR(Compress(cols, packed));
  const std::string& cols_bytes = stored(kColumnSection, packed);
  uint64_t cols_offset = file.size();
  file.append(cols_bytes);

  // Footer and trailer.
  uint64_t footer_offset = file.size();
  std::string footer;
  ByteWriter ftw(footer);
  ftw.Put<uint32_t>(static_cast<uint32_t>(blocks.size()));
  for (const auto& b : blocks) {
    ftw.Put(b.offset);
    ftw.Put(b.csize);
    ftw.Put(b.rsize);
    ftw.Put(b.first_row);
    ftw.Put(b.row_count);
    ftw.Put(b.checksum);
  }
  ftw.Put<uint64_t>(cols_offset);
  ftw.Put<uint32_t>(static_cast<uint32_t>(cols_bytes.size()));
  ftw.Put<uint32_t>(static_cast<uint32_t>(cols.size()));
  ftw.Put<uint64_t>(XXH64(cols_bytes.data(), cols_bytes.size(), 0));
  ftw.Put<uint32_t>(n);
  if (key) ftw.PutBytes(salt);
  file.append(footer);
  fw.Put<uint64_t>(footer_offset);
  fw.Put<uint32_t>(static_cast<uint32_t>(footer.size()));
  fw.Put<uint32_t>(0);
  fw.Put<uint64_t>(XXH64(footer.data(), footer.size(), 0));
  fw.PutBytes(std::string_view(kEndMagic, 8));

  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create " + path + ": " + std::strerror(errno));
  Status s = WriteAll(fd, file, path);
  if (s.ok() && syncer != nullptr) {
    syncer->Add(fd, path);  // fsynced and closed there
    return static_cast<uint64_t>(file.size());
  }
  if (s.ok() && ::fsync(fd) != 0) s = IoError("cannot sync " + path + ": " + std::strerror(errno));
  ::close(fd);
  if (!s.ok()) return s;
  return static_cast<uint64_t>(file.size());
}

SegmentReader::~SegmentReader() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<SegmentReader>> SegmentReader::Open(const std::string& path,
                                                           const SegmentCipher* cipher) {
  std::unique_ptr<SegmentReader> r(new SegmentReader());
  r->path_ = path;
  r->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r->fd_ < 0) {
    if (errno == ENOENT) return NotFound("segment missing: " + path);
    return IoError("cannot open " + path + ": " + std::strerror(errno));
  }
  off_t size = ::lseek(r->fd_, 0, SEEK_END);
  if (size < static_cast<off_t>(kHeaderSize + kTrailerSize)) {
    return Corruption(path + ": too short to be a segment");
  }
  std::string buf;
  MEDLAKE_RETURN_IF_ERROR(ReadAt(r->fd_, 0, kHeaderSize, buf, path));
  if (std::memcmp(buf.data(), kMagic, 8) != 0) return Corruption(path + ": bad magic");
  ByteReader hr(std::string_view(buf).substr(8));
  uint32_t version = hr.Get<uint32_t>();
  if (version != kPlainFormatVersion && version != kEncryptedFormatVersion) {
    return Unsupported(path + ": segment format version " + std::to_string(version));
  }
  const bool encrypted = version == kEncryptedFormatVersion;
  if (encrypted && !cipher) {
    return Unauthenticated(path + ": the segment is encrypted and no lake key was given");
  }
  r->columns_.shard = hr.Get<uint32_t>();

  MEDLAKE_RETURN_IF_ERROR(
      ReadAt(r->fd_, static_cast<uint64_t>(size) - kTrailerSize, kTrailerSize, buf, path));
  if (std::memcmp(buf.data() + 24, kEndMagic, 8) != 0) return Corruption(path + ": bad trailer");
  ByteReader tr(buf);
  uint64_t footer_offset = tr.Get<uint64_t>();
  uint32_t footer_size = tr.Get<uint32_t>();
  if (tr.Get<uint32_t>() != 0) return Corruption(path + ": bad trailer (reserved field not 0)");
  uint64_t footer_sum = tr.Get<uint64_t>();
  if (footer_offset + footer_size + kTrailerSize != static_cast<uint64_t>(size)) {
    return Corruption(path + ": footer out of bounds");
  }
  std::string footer;
  MEDLAKE_RETURN_IF_ERROR(ReadAt(r->fd_, footer_offset, footer_size, footer, path));
  if (XXH64(footer.data(), footer.size(), 0) != footer_sum) {
    return Corruption(path + ": footer checksum mismatch");
  }
  ByteReader fr(footer);
  uint32_t nblocks = fr.Get<uint32_t>();
  if (nblocks > footer.size()) return Corruption(path + ": bad block count");
  for (uint32_t i = 0; i < nblocks; ++i) {
    Block b{};
    b.offset = fr.Get<uint64_t>();
    b.compressed_size = fr.Get<uint32_t>();
    b.raw_size = fr.Get<uint32_t>();
    b.first_row = fr.Get<uint32_t>();
    b.row_count = fr.Get<uint32_t>();
    b.checksum = fr.Get<uint64_t>();
    r->blocks_.push_back(b);
  }
  uint64_t cols_offset = fr.Get<uint64_t>();
  uint32_t cols_csize = fr.Get<uint32_t>();
  uint32_t cols_rsize = fr.Get<uint32_t>();
  uint64_t cols_sum = fr.Get<uint64_t>();
  uint32_t nrows = fr.Get<uint32_t>();
  if (encrypted) {
    std::string_view salt = fr.GetBytes(SegmentCipher::kSaltBytes);
    if (fr.ok()) r->key_ = cipher->ForSegment(salt);
  }
  if (!fr.ok()) return Corruption(path + ": truncated footer");

  std::string packed, cols;
  MEDLAKE_RETURN_IF_ERROR(ReadAt(r->fd_, cols_offset, cols_csize, packed, path));
  if (XXH64(packed.data(), packed.size(), 0) != cols_sum) {
    return Corruption(path + ": column section checksum mismatch");
  }
  if (!r->Unseal(kColumnSection, packed)) {
    return Corruption(path + ": column section does not decrypt under the lake key");
  }
  if (!Decompress(packed, cols_rsize, cols)) return Corruption(path + ": column section damaged");

  Columns& c = r->columns_;
  ByteReader cr(cols);
  c.rows = cr.Get<uint32_t>();
  if (c.rows != nrows) return Corruption(path + ": row count mismatch");
  const size_t n = c.rows;
  c.type_dict = GetStrings(cr);
  c.type = GetArray<uint16_t>(cr, n);
  c.id.reserve(n);
  for (size_t i = 0; i < n && cr.ok(); ++i) c.id.emplace_back(cr.GetString());
  c.key = GetArray<Key128>(cr, n);
  c.content_hash = GetArray<uint64_t>(cr, n);
  c.patient = GetArray<uint32_t>(cr, n);
  c.eff_start = GetArray<int64_t>(cr, n);
  c.eff_end = GetArray<int64_t>(cr, n);
  c.last_updated = GetArray<int64_t>(cr, n);
  c.value = GetArray<double>(cr, n);
  c.unit_dict = GetStrings(cr);
  c.unit = GetArray<uint16_t>(cr, n);
  c.status_dict = GetStrings(cr);
  c.status = GetArray<uint16_t>(cr, n);
  c.encounter.reserve(n);
  for (size_t i = 0; i < n && cr.ok(); ++i) c.encounter.emplace_back(cr.GetString());
  uint32_t ncodes = cr.Get<uint32_t>();
  if (ncodes > cols.size()) return Corruption(path + ": bad code count");
  for (uint32_t i = 0; i < ncodes && cr.ok(); ++i) {
    fhir::Coding coding;
    coding.system = cr.GetString();
    coding.code = cr.GetString();
    c.code_dict.push_back(std::move(coding));
  }
  c.code_offsets = GetArray<uint32_t>(cr, n + 1);
  uint32_t nids = cr.Get<uint32_t>();
  if (nids > cols.size()) return Corruption(path + ": bad code id count");
  c.code_ids = GetArray<uint32_t>(cr, nids);
  for (uint32_t i = 0; i < ncodes && cr.ok(); ++i) c.code_patients.emplace_back(cr.GetString());
  r->record_offset_ = GetArray<uint32_t>(cr, n);
  r->record_size_ = GetArray<uint32_t>(cr, n);
  r->row_block_ = GetArray<uint32_t>(cr, n);
  if (!cr.ok()) return Corruption(path + ": column section truncated");
  // Every index the columns hold points inside what it indexes (a segment whose checksums
  // hold was written so; one made otherwise must not make readers read out of bounds).
  auto dict_index_ok = [](uint16_t v, size_t dict) { return v == kNone16 || v < dict; };
  if (c.code_offsets[0] != 0 || c.code_offsets[n] != c.code_ids.size()) {
    return Corruption(path + ": column values out of range");
  }
  for (size_t i = 0; i < n; ++i) {
    if (c.type[i] >= c.type_dict.size() || r->row_block_[i] >= r->blocks_.size() ||
        !dict_index_ok(c.unit[i], c.unit_dict.size()) ||
        !dict_index_ok(c.status[i], c.status_dict.size()) ||
        c.code_offsets[i] > c.code_offsets[i + 1]) {
      return Corruption(path + ": column values out of range");
    }
  }
  for (uint32_t id : c.code_ids) {
    if (id >= c.code_dict.size()) return Corruption(path + ": column values out of range");
  }
  return r;
}

Status SegmentReader::LoadBlock(uint32_t block) {
  if (loaded_block_ == block) return Status::Ok();
  if (failed_block_ == block) return failed_;
  const Block& b = blocks_[block];
  std::string packed;
  MEDLAKE_RETURN_IF_ERROR(ReadAt(fd_, b.offset, b.compressed_size, packed, path_));
  const char* damage = nullptr;
  if (XXH64(packed.data(), packed.size(), 0) != b.checksum) {
    damage = "checksum mismatch";
  } else if (!Unseal(block, packed)) {
    damage = "does not decrypt under the lake key";
  } else if (!Decompress(packed, b.raw_size, block_data_)) {
    damage = "cannot decompress";
  }
  if (damage != nullptr) {
    loaded_block_ = -1;
    failed_block_ = block;
    failed_ = Corruption(path_ + " block " + std::to_string(block) + ": " + damage);
    return failed_;
  }
  loaded_block_ = block;
  return Status::Ok();
}

bool SegmentReader::Unseal(uint64_t section, std::string& bytes) const {
  if (!key_) return true;
  thread_local std::string plain;
  if (!key_->Open(section, bytes, plain)) return false;
  bytes.swap(plain);
  return true;
}

Result<std::string_view> SegmentReader::Resource(uint32_t row) {
  if (row >= columns_.rows) return InvalidArgument("row out of range");
  MEDLAKE_RETURN_IF_ERROR(LoadBlock(row_block_[row]));
  uint64_t end = uint64_t(record_offset_[row]) + record_size_[row];
  if (end > block_data_.size()) {
    return Corruption(path_ + " row " + std::to_string(row) + ": record out of block bounds");
  }
  return std::string_view(block_data_).substr(record_offset_[row], record_size_[row]);
}

Result<Row> SegmentReader::ReadRow(uint32_t i) {
  const Columns& c = columns_;
  if (i >= c.rows) return InvalidArgument("row out of range");
  Row r;
  r.type = c.type_dict[c.type[i]];
  r.id = c.id[i];
  r.patient = c.patient[i];
  r.effective = {c.eff_start[i], c.eff_end[i]};
  for (uint32_t k = c.code_offsets[i]; k < c.code_offsets[i + 1]; ++k) {
    r.codings.push_back(c.code_dict[c.code_ids[k]]);
  }
  r.has_value = !std::isnan(c.value[i]);
  r.value = r.has_value ? c.value[i] : 0;
  if (c.unit[i] != kNone16) r.unit = c.unit_dict[c.unit[i]];
  if (c.status[i] != kNone16) r.status = c.status_dict[c.status[i]];
  r.encounter = c.encounter[i];
  r.last_updated = c.last_updated[i];
  r.content_hash = c.content_hash[i];
  r.key = c.key[i];
  MEDLAKE_ASSIGN_OR_RETURN(std::string_view json, Resource(i));
  r.json.assign(json);
  return r;
}

std::vector<Status> SegmentReader::VerifyAll() {
  std::vector<Status> damaged;
  for (uint32_t b = 0; b < blocks_.size(); ++b) {
    Status s = LoadBlock(b);
    if (!s.ok()) damaged.push_back(std::move(s));
  }
  return damaged;
}

bool IsSegmentDamage(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kCorruption:
    case ErrorCode::kNotFound:
    case ErrorCode::kUnsupported:
    case ErrorCode::kUnauthenticated:
      return true;
    default:
      return false;
  }
}

Result<SegmentCheck> CheckSegment(const std::string& path, const SegmentCipher* cipher,
                                  uint64_t rows, uint64_t bytes, uint32_t shard) {
  SegmentCheck check;
  auto reader = SegmentReader::Open(path, cipher);
  if (!reader.ok()) {
    if (!IsSegmentDamage(reader.status())) return reader.status();
    check.problems.push_back(reader.status().message());
    return check;
  }
  check.reader = std::move(reader).value();
  const SegmentReader& r = *check.reader;
  std::vector<Status> blocks = check.reader->VerifyAll();
  for (const auto& s : blocks) {
    if (!IsSegmentDamage(s)) return s;
    check.problems.push_back(s.message());
  }
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (r.columns().rows != rows || (!ec && size != bytes)) {
    check.problems.push_back(path + ": holds " + std::to_string(r.columns().rows) + " rows in " +
                             std::to_string(size) + " bytes, the catalog says " +
                             std::to_string(rows) + " rows in " + std::to_string(bytes));
  }
  // The header's shard is covered by no checksum: it must be the catalog's.
  if (blocks.empty() && r.columns().shard != shard) {
    check.problems.push_back(path + ": header names shard " + std::to_string(r.columns().shard) +
                             ", the catalog " + std::to_string(shard));
  }
  return check;
}

}  // namespace medlake::store
