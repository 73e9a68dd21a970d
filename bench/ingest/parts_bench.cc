// Two parts of the ingest hot path against the form they replaced, on the same data in the same
// run (docs/benchmarks.md, "Twenty-second pass"):
//
//   medlake_bench_parts [--rounds R] BUNDLE_DIR
//
// * The hash of the string maps (StringHash, XXH3) against std::hash<std::string_view>
//   (libstdc++'s Murmur), over the fullUrls of every Bundle under BUNDLE_DIR: ns per key.
// * The compression of segment blocks (store/segment.cc: zstd level 1, shortest match 7 bytes)
//   against plain level 1, over the minified resources of those Bundles in their order, cut in
//   128 KiB blocks as a segment's are: MB/s of input on one core, and the compression ratio.
//
// Each figure is the median of R rounds (default 7); the ratios are printed new / old.
#include <simdjson.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/string_util.h"
#include "median.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

using medlake::bench::Median;

// Nanoseconds per key of `hash` over `keys`, `passes` times, median of `rounds`.
template <typename Hash>
double NsPerKey(const std::vector<std::string>& keys, int rounds, Hash hash) {
  constexpr int kPasses = 200;
  std::vector<double> ns;
  size_t sink = 0;
  for (int r = 0; r < rounds; ++r) {
    const auto start = Clock::now();
    for (int p = 0; p < kPasses; ++p) {
      for (const std::string& key : keys) sink += hash(std::string_view(key));
    }
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    ns.push_back(secs * 1e9 / (static_cast<double>(keys.size()) * kPasses));
  }
  if (sink == 42) std::printf(" ");  // keeps the hashes
  return Median(ns);
}

struct Compression {
  double mb_per_s = 0;
  double ratio = 0;
};

// One pass of `ctx` (its parameters set) over `blocks`.
Compression Compress(ZSTD_CCtx* ctx, const std::vector<std::string>& blocks) {
  std::string out;
  size_t in_bytes = 0, out_bytes = 0;
  const auto start = Clock::now();
  for (const std::string& block : blocks) {
    out.resize(ZSTD_compressBound(block.size()));
    const size_t n = ZSTD_compress2(ctx, out.data(), out.size(), block.data(), block.size());
    if (ZSTD_isError(n)) {
      std::fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(n));
      std::exit(1);
    }
    in_bytes += block.size();
    out_bytes += n;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  return {static_cast<double>(in_bytes) / 1e6 / secs,
          static_cast<double>(in_bytes) / static_cast<double>(out_bytes)};
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else {
      dir = a;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: medlake_bench_parts [--rounds R] BUNDLE_DIR\n");
    return 2;
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  // The fullUrls, and the minified resources cut in 128 KiB blocks.
  constexpr size_t kBlockTarget = 128 * 1024;  // store/segment.cc
  std::vector<std::string> keys, blocks(1);
  simdjson::dom::parser parser;
  for (const fs::path& file : files) {
    simdjson::dom::element bundle;
    if (parser.load(file.string()).get(bundle)) continue;
    simdjson::dom::array entries;
    if (bundle["entry"].get_array().get(entries)) continue;
    for (simdjson::dom::element entry : entries) {
      std::string_view full_url;
      if (!entry["fullUrl"].get_string().get(full_url)) keys.emplace_back(full_url);
      simdjson::dom::element resource;
      if (entry["resource"].get(resource)) continue;
      blocks.back() += simdjson::minify(resource);
      if (blocks.back().size() >= kBlockTarget) blocks.emplace_back();
    }
  }
  if (keys.empty() || blocks.front().empty()) {
    std::fprintf(stderr, "no Bundle with fullUrls and resources under %s\n", dir.c_str());
    return 1;
  }
  size_t key_bytes = 0, resource_bytes = 0;
  for (const auto& k : keys) key_bytes += k.size();
  for (const auto& b : blocks) resource_bytes += b.size();
  std::printf(
      "%zu fullUrls (%.1f bytes each), %.1f MB of minified resources in %zu blocks, "
      "median of %d rounds\n",
      keys.size(), static_cast<double>(key_bytes) / static_cast<double>(keys.size()),
      static_cast<double>(resource_bytes) / 1e6, blocks.size(), rounds);

  const double std_ns = NsPerKey(keys, rounds, std::hash<std::string_view>());
  const double xxh3_ns = NsPerKey(keys, rounds, medlake::StringHash());
  std::printf(
      "hash    std::hash %.2f ns/key | StringHash (XXH3) %.2f ns/key | speed new/old %.2f\n",
      std_ns, xxh3_ns, std_ns / xxh3_ns);

  ZSTD_CCtx* level1 = ZSTD_createCCtx();
  ZSTD_CCtx* lake = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(level1, ZSTD_c_compressionLevel, 1);
  ZSTD_CCtx_setParameter(lake, ZSTD_c_compressionLevel, 1);
  ZSTD_CCtx_setParameter(lake, ZSTD_c_minMatch, 7);
  // Alternated, so that a drift of the machine's speed falls on both.
  std::vector<double> old_speeds, new_speeds;
  Compression old_c, new_c;
  for (int r = 0; r < rounds; ++r) {
    old_c = Compress(level1, blocks);
    new_c = Compress(lake, blocks);
    old_speeds.push_back(old_c.mb_per_s);
    new_speeds.push_back(new_c.mb_per_s);
  }
  const double old_speed = Median(old_speeds), new_speed = Median(new_speeds);
  std::printf(
      "zstd    level 1 %.0f MB/s ratio %.2f | level 1, match 7 %.0f MB/s ratio %.2f | "
      "speed new/old %.2f, size new/old %.3f\n",
      old_speed, old_c.ratio, new_speed, new_c.ratio, new_speed / old_speed,
      old_c.ratio / new_c.ratio);
  ZSTD_freeCCtx(level1);
  ZSTD_freeCCtx(lake);
  return 0;
}
