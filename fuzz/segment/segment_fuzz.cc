// Fuzz target: the segment reader on column sections that pass their checksums but say
// anything. A checksum catches damage; this is about a segment written wrong (or on purpose):
// SegmentReader::Open must reject what does not hold together, and every read of what it
// accepts must stay in bounds (the fuzz build runs with AddressSanitizer).
//
// The input is an XOR mask over the column section of a small valid segment (bytes past its
// end are appended); the section is then compressed again and the footer and trailer
// rewritten around it with correct checksums (layout: docs/format.md).
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "store/segment.h"

namespace {

using medlake::store::Row;
using medlake::store::SegmentReader;

template <typename T>
T Load(const std::string& s, size_t at) {
  T v;
  std::memcpy(&v, s.data() + at, sizeof v);
  return v;
}
template <typename T>
void Store(std::string& s, size_t at, T v) {
  std::memcpy(s.data() + at, &v, sizeof v);
}

constexpr size_t kTrailer = 32;

struct Base {
  std::string path;
  std::string file;  // the valid segment
  uint64_t cols_offset = 0;
  size_t footer_offset = 0, footer_size = 0;
  size_t cols_field = 0;  // offset in the footer of (cols offset, csize, rsize, checksum)
  std::string cols;       // the column section, decompressed
};

const Base& MakeBase() {
  static const Base base = [] {
    Base b;
    b.path = "/tmp/medlake_fuzz_segment_" + std::to_string(::getpid()) + ".mls";
    static std::string remove_at_exit = b.path;
    std::atexit([] { ::unlink(remove_at_exit.c_str()); });
    std::vector<Row> rows(3);
    for (size_t i = 0; i < rows.size(); ++i) {
      Row& r = rows[i];
      r.type = i == 2 ? "Patient" : "Observation";
      r.id = "r" + std::to_string(i);
      r.patient = static_cast<uint32_t>(i % 2);
      r.effective = {1000 * static_cast<int64_t>(i), 2000};
      r.codings = {{"http://loinc.org", "8867-4"}, {"http://snomed.info/sct", std::to_string(i)}};
      r.has_value = i != 1;
      r.value = 72.5;
      r.unit = i == 0 ? "/min" : "";
      r.status = "final";
      r.encounter = "e1";
      r.key = medlake::store::ResourceKey(r.type, r.id);
      r.json = R"({"resourceType":")" + r.type + R"(","id":")" + r.id + R"("})";
    }
    if (!medlake::store::WriteSegment(b.path, 0, rows).ok()) std::abort();
    std::ifstream in(b.path, std::ios::binary);
    b.file.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    const size_t t = b.file.size() - kTrailer;
    b.footer_offset = Load<uint64_t>(b.file, t);
    b.footer_size = Load<uint32_t>(b.file, t + 8);
    const uint32_t blocks = Load<uint32_t>(b.file, b.footer_offset);
    b.cols_field = 4 + 32 * size_t{blocks};
    b.cols_offset = Load<uint64_t>(b.file, b.footer_offset + b.cols_field);
    const uint32_t csize = Load<uint32_t>(b.file, b.footer_offset + b.cols_field + 8);
    const uint32_t rsize = Load<uint32_t>(b.file, b.footer_offset + b.cols_field + 12);
    b.cols.resize(rsize);
    if (ZSTD_decompress(b.cols.data(), rsize, b.file.data() + b.cols_offset, csize) != rsize) {
      std::abort();
    }
    return b;
  }();
  return base;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Base& b = MakeBase();
  std::string cols = b.cols;
  for (size_t i = 0; i < size; ++i) {
    if (i < cols.size()) {
      cols[i] = static_cast<char>(cols[i] ^ data[i]);
    } else {
      cols.push_back(static_cast<char>(data[i]));
    }
  }
  std::string packed(ZSTD_compressBound(cols.size()), '\0');
  packed.resize(ZSTD_compress(packed.data(), packed.size(), cols.data(), cols.size(), 1));

  std::string file = b.file.substr(0, b.cols_offset) + packed;
  std::string footer = b.file.substr(b.footer_offset, b.footer_size);
  Store<uint64_t>(footer, b.cols_field, b.cols_offset);
  Store<uint32_t>(footer, b.cols_field + 8, static_cast<uint32_t>(packed.size()));
  Store<uint32_t>(footer, b.cols_field + 12, static_cast<uint32_t>(cols.size()));
  Store<uint64_t>(footer, b.cols_field + 16, XXH64(packed.data(), packed.size(), 0));
  const uint64_t footer_offset = file.size();
  file += footer;
  std::string trailer = b.file.substr(b.file.size() - kTrailer);
  Store<uint64_t>(trailer, 0, footer_offset);
  Store<uint64_t>(trailer, 16, XXH64(footer.data(), footer.size(), 0));
  file += trailer;
  {
    std::ofstream out(b.path, std::ios::binary | std::ios::trunc);
    out.write(file.data(), static_cast<std::streamsize>(file.size()));
  }

  auto reader = SegmentReader::Open(b.path);
  if (!reader.ok()) return 0;  // rejected: fine
  // Accepted: every column and row must read within bounds.
  for (uint32_t i = 0; i < (*reader)->columns().rows; ++i) {
    (void)(*reader)->Resource(i);
    (void)(*reader)->ReadRow(i);
  }
  return 0;
}
