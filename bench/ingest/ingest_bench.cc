// Ingest throughput against its practical ceiling, in the same run.
//
//   medlake_bench_ingest [--jobs N] [--copies K] [--runs R] [--keyed] [--one-bundle] [--cold]
//                        INPUT_DIR
//
// Baseline: a plain simdjson DOM parse of the same bytes with no storing (each NDJSON line, or
// each JSON document), on the same number of threads (files in parallel, and the pieces of a
// big NDJSON file in parallel too), each thread reading into a buffer it reuses. A second
// reference, the format floor: that parse plus the minify and zstd compression every writer of the
// lake's segments must do. Then medlake ingest into a fresh lake. With --copies K, the input is
// first replicated K times with fresh ids (every UUID gets a copy-specific prefix), to show how
// time and peak memory grow with input size. Every measurement runs in its own child process so
// that peak RSS is its own. With --keyed the lakes get a key first (privacy/key_store.h), as
// `medlake init` gives them: ingest then pseudonymizes every resource and fills the vault.
// With --one-bundle the entries of every Bundle of the input (and of each copy) are merged into
// one transaction Bundle, one file, which ingest reads an entry at a time
// (FhirReader::ReadJsonStreamed); ingest parsing it whole, as it did before, is measured too,
// and the two compared.
// With --cold every measurement starts with the input out of the page cache (each file written
// back, then dropped with posix_fadvise DONTNEED: no root needed, but a tmpfs keeps its files),
// and a third reference is measured: reading the same bytes from the disk the way the ceiling
// does, with nothing else (the disk's speed); ingest's ratio to it is printed.
#include <fcntl.h>
#include <linux/magic.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_for_each.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "ingest/ingest.h"
#include "json/minify.h"
#include "privacy/key_store.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Measure {
  double seconds = 0;
  uint64_t records = 0;
  uint64_t bytes = 0;
  long peak_rss_kb = 0;
};

std::vector<std::string> InputFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    auto p = e.path().string();
    if (e.is_regular_file() && (p.ends_with(".json") || p.ends_with(".ndjson"))) files.push_back(p);
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs `fn` in a child process; returns its Measure with the child's peak RSS.
template <typename Fn>
Measure InChild(Fn fn) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipefd[0]);
    Measure m = fn();
    struct rusage ru {};
    ::getrusage(RUSAGE_SELF, &ru);
    m.peak_rss_kb = ru.ru_maxrss;
    if (::write(pipefd[1], &m, sizeof m) != sizeof m) ::_exit(1);
    ::_exit(0);
  }
  ::close(pipefd[1]);
  Measure m;
  if (::read(pipefd[0], &m, sizeof m) != sizeof m) std::fprintf(stderr, "child failed\n");
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return m;
}

// Reads `size` bytes at `offset` of `fd` into `buffer` (grown as needed, kept by the caller
// from one call to the next, with simdjson's padding after the bytes).
std::string_view ReadPiece(int fd, uint64_t offset, size_t size, std::vector<char>& buffer) {
  if (buffer.size() < size + simdjson::SIMDJSON_PADDING)
    buffer.resize(size + simdjson::SIMDJSON_PADDING);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, buffer.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n <= 0) {
      std::fprintf(stderr, "cannot read an input file\n");
      std::exit(1);
    }
    done += static_cast<size_t>(n);
  }
  std::memset(buffer.data() + size, 0, simdjson::SIMDJSON_PADDING);
  return {buffer.data(), size};
}

// The offsets that cut an NDJSON file into line-aligned pieces of about 4 MiB (what ingest's
// chunks were until 2026-11-30; they are 512 KiB now, and the ceiling keeps its pieces): each
// cut is just after the first newline at or past a multiple of 4 MiB.
std::vector<uint64_t> LineCuts(int fd, uint64_t size) {
  std::vector<uint64_t> cuts{0};
  std::vector<char> window(64u << 10);
  while (cuts.back() < size) {
    uint64_t pos = std::min(size, cuts.back() + (4u << 20));
    while (pos < size) {
      ssize_t n = ::pread(fd, window.data(), window.size(), static_cast<off_t>(pos));
      if (n <= 0) break;
      auto* nl = static_cast<const char*>(std::memchr(window.data(), '\n', static_cast<size_t>(n)));
      if (nl != nullptr) {
        pos += static_cast<uint64_t>(nl - window.data()) + 1;
        break;
      }
      pos += static_cast<uint64_t>(n);
    }
    cuts.push_back(std::min(pos, size));
  }
  return cuts;
}

// The read buffer of a pool thread, reused from file to file and piece to piece (at namespace
// scope: a block-scope thread_local would be constructed only on the threads that pass its
// declaration).
thread_local std::vector<char> read_buffer;
thread_local simdjson::dom::parser thread_parser;

// Calls `on_document(parser, json)` for every JSON document of `files` (each NDJSON line, or each
// whole file) on `jobs` threads, files in parallel and the pieces of a big NDJSON file in
// parallel too; `on_document` returns the records it found and `end_piece()` is called on the
// thread that finished a file or NDJSON piece. The bytes are read the way ingest reads them, into
// a buffer each thread reuses: a fresh allocation per file (simdjson's `padded_string::load`)
// spends more time faulting in new pages than parsing (0.25 s to load the 461 MB of the
// 5,000-patient Observation.ndjson on one thread, 0.19 s to parse it), so it is not a ceiling.
template <typename OnDocument, typename EndPiece>
Measure ForEachDocument(const std::vector<std::string>& files, int jobs, OnDocument on_document,
                        EndPiece end_piece) {
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                              static_cast<size_t>(jobs));
  std::atomic<uint64_t> records{0}, bytes{0};
  auto start = Clock::now();
  tbb::parallel_for_each(files.begin(), files.end(), [&](const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      std::fprintf(stderr, "cannot open an input file\n");
      std::exit(1);
    }
    const auto size = static_cast<uint64_t>(st.st_size);
    bytes += size;
    if (path.ends_with(".ndjson")) {
      // Pieces parsed by any thread: one big file (a bulk export's Observation.ndjson) must not
      // leave the ceiling on one core.
      std::vector<uint64_t> cuts = LineCuts(fd, size);
      tbb::parallel_for(size_t{0}, cuts.size() - 1, [&](size_t piece) {
        std::string_view all =
            ReadPiece(fd, cuts[piece], cuts[piece + 1] - cuts[piece], read_buffer);
        uint64_t parsed = 0;
        size_t pos = 0;
        while (pos < all.size()) {
          size_t nl = all.find('\n', pos);
          if (nl == std::string_view::npos) nl = all.size();
          if (nl > pos) parsed += on_document(thread_parser, all.substr(pos, nl - pos));
          pos = nl + 1;
        }
        end_piece();
        records += parsed;
      });
    } else {
      records += on_document(thread_parser, ReadPiece(fd, 0, size, read_buffer));
      end_piece();
    }
    ::close(fd);
  });
  return {std::chrono::duration<double>(Clock::now() - start).count(), records, bytes, 0};
}

// Parses `json` and returns the records it holds (a Bundle's entries, else one), 0 when it is not
// valid JSON. The bytes after a line (the next lines, or the padding) keep simdjson's
// read-ahead inside the buffer.
uint64_t ParseAndCount(simdjson::dom::parser& parser, std::string_view json) {
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size(), false).get(doc)) return 0;
  simdjson::dom::array entries;
  return doc["entry"].get_array().get(entries) ? 1 : entries.size();
}

// Reading every byte the ceiling reads, as it reads them (pieces, lines), and nothing else:
// from a cold cache, the disk's speed (--cold).
Measure DiskRead(const std::vector<std::string>& files, int jobs) {
  return ForEachDocument(
      files, jobs, [](simdjson::dom::parser&, std::string_view) { return uint64_t{1}; }, [] {});
}

// Drops `files` from the page cache, written back first so that their pages can go (--cold).
void Evict(const std::vector<std::string>& files) {
  for (const auto& path : files) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// The ceiling: a plain simdjson DOM parse of every document, nothing stored.
Measure Baseline(const std::vector<std::string>& files, int jobs) {
  return ForEachDocument(files, jobs, ParseAndCount, [] {});
}

// A thread's pending block of minified resources and its compressor (FormatFloor). At
// namespace scope: a block-scope thread_local is constructed only on the threads that pass its
// declaration, not on the pool's workers that run the lambdas.
struct FloorBlocks {
  std::string raw, minified, packed;
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> ctx{ZSTD_createCCtx(), &ZSTD_freeCCtx};
  void Compress() {
    packed.resize(ZSTD_compressBound(raw.size()));
    size_t n =
        ZSTD_compressCCtx(ctx.get(), packed.data(), packed.size(), raw.data(), raw.size(), 1);
    if (ZSTD_isError(n)) std::abort();
    raw.clear();
  }
};
thread_local FloorBlocks floor_blocks;

// What the lake format itself costs, as a second reference: the ceiling's parse plus what any
// writer of DESIGN.md's segments must do with the bytes, minify them (with ingest's own
// minifier, json::MinifyInto) and compress them with zstd at the level and block size segments
// use (level 1, blocks of 128 KiB). No facts, no identities, nothing written.
Measure FormatFloor(const std::vector<std::string>& files, int jobs) {
  return ForEachDocument(
      files, jobs,
      [](simdjson::dom::parser& parser, std::string_view json) -> uint64_t {
        uint64_t records = ParseAndCount(parser, json);
        if (records == 0) return 0;
        floor_blocks.minified.resize(json.size() + medlake::json::kMinifySlack);
        auto n = medlake::json::MinifyInto(json, floor_blocks.minified.data());
        if (!n.ok()) return 0;
        floor_blocks.raw.append(floor_blocks.minified.data(), *n);
        if (floor_blocks.raw.size() >= (128u << 10)) floor_blocks.Compress();
        return records;
      },
      [] {
        if (!floor_blocks.raw.empty()) floor_blocks.Compress();
      });
}

// Writes the entries of every Bundle in `files` (as they are written) into one transaction
// Bundle at `out`.
void MergeBundles(const std::vector<std::string>& files, const std::string& out) {
  std::ofstream merged(out, std::ios::binary);
  merged << "{\"resourceType\": \"Bundle\",\n \"type\": \"transaction\",\n \"entry\": [";
  simdjson::ondemand::parser parser;
  bool first = true;
  for (const auto& f : files) {
    simdjson::padded_string text(Slurp(f));
    simdjson::ondemand::document doc;
    simdjson::ondemand::array entries;
    if (parser.iterate(text).get(doc) || doc["entry"].get_array().get(entries)) continue;
    for (auto entry : entries) {
      simdjson::ondemand::object object;
      std::string_view raw;
      if (entry.get_object().get(object) || object.raw_json().get(raw)) {
        std::fprintf(stderr, "cannot read an entry of an input Bundle\n");
        std::exit(1);
      }
      merged << (first ? "\n  " : ",\n  ") << raw;
      first = false;
    }
  }
  merged << "\n ]\n}\n";
}

Measure IngestRun(const std::string& input, const std::string& lake, int jobs, bool keyed,
                  bool parse_whole = false) {
  fs::remove_all(lake);
  if (keyed) {
    fs::create_directories(lake);
    if (auto keys = medlake::privacy::KeyStore::Create(lake); !keys.ok()) {
      std::fprintf(stderr, "cannot key the lake: %s\n", keys.status().ToString().c_str());
      return {};
    }
  }
  medlake::ingest::IngestOptions options;
  options.jobs = jobs;
  if (parse_whole) options.streamed_document_bytes = UINT64_MAX;
  auto start = Clock::now();
  auto report = medlake::ingest::Ingest(lake, {input}, options);
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (!report.ok()) {
    std::fprintf(stderr, "ingest failed: %s\n", report.status().ToString().c_str());
    return {};
  }
  return {secs, report->counters.records_read, report->counters.bytes_read, 0};
}

// Writes `copies` copies of every input file under `out`, each UUID given a copy prefix.
void Replicate(const std::vector<std::string>& files, const std::string& in_root,
               const std::string& out, int copies) {
  auto is_hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  for (int k = 0; k < copies; ++k) {
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%02x", k);
    for (const auto& f : files) {
      std::string text = Slurp(f);
      // A UUID is 8-4-4-4-12 hex digits; rewrite its first two digits.
      for (size_t i = 0; i + 36 <= text.size(); ++i) {
        if (text[i + 8] == '-' && text[i + 13] == '-' && text[i + 18] == '-' &&
            text[i + 23] == '-' && is_hex(text[i]) && is_hex(text[i + 1]) && is_hex(text[i + 35]) &&
            (i == 0 || !is_hex(text[i - 1]))) {
          text[i] = prefix[0];
          text[i + 1] = prefix[1];
          i += 35;
        }
      }
      fs::path rel = fs::relative(f, in_root);
      fs::path dst = fs::path(out) / ("copy" + std::to_string(k)) / rel;
      fs::create_directories(dst.parent_path());
      std::ofstream(dst, std::ios::binary) << text;
    }
  }
}

struct Figures {
  Measure base, floor, ingest;
  Measure whole;  // --one-bundle: ingest parsing the Bundle whole
  Measure read;   // --cold: the bytes read from the disk, nothing else
};

void Report(const char* label, const Figures& f, int jobs) {
  auto mbps = [](const Measure& m) { return m.bytes / 1e6 / m.seconds; };
  const Measure &base = f.base, &ing = f.ingest;
  std::printf(
      "%-10s %8.1f MB  baseline %7.1f MB/s %9.0f rec/s  %6.0f MB RSS | ingest %7.1f MB/s %9.0f "
      "rec/s (%7.0f rec/s/core) %6.0f MB RSS | ingest/baseline %.2f\n",
      label, base.bytes / 1e6, mbps(base), base.records / base.seconds, base.peak_rss_kb / 1024.0,
      mbps(ing), ing.records / ing.seconds, ing.records / ing.seconds / jobs,
      ing.peak_rss_kb / 1024.0, mbps(ing) / mbps(base));
  std::printf(
      "%-10s format floor (parse + minify + zstd 1) %7.1f MB/s | floor/baseline %.2f | "
      "ingest/floor %.2f\n",
      "", mbps(f.floor), mbps(f.floor) / mbps(base), mbps(ing) / mbps(f.floor));
  if (f.read.seconds > 0) {
    std::printf("%-10s from a cold cache: read alone %7.1f MB/s | ingest/read %.2f\n", "",
                mbps(f.read), mbps(ing) / mbps(f.read));
  }
  if (f.whole.seconds > 0) {
    std::printf(
        "%-10s the Bundle parsed whole: ingest %7.1f MB/s %6.0f MB RSS | an entry at a time / "
        "whole: time %.2f, peak RSS %.2f\n",
        "", mbps(f.whole), f.whole.peak_rss_kb / 1024.0, ing.seconds / f.whole.seconds,
        static_cast<double>(ing.peak_rss_kb) / f.whole.peak_rss_kb);
  }
}

// Runs baseline, format floor and ingest alternately `runs` times (each in its own process);
// returns the run of median time of each, with the highest peak RSS seen. A shared VM's speed
// drifts by 10-30 % from run to run: one run is not a figure.
Figures MedianFigures(int runs, const std::vector<std::string>& files, const std::string& input,
                      const std::string& lake, int jobs, bool keyed, bool also_whole, bool cold) {
  std::vector<Measure> bases, floors, ingests, wholes, reads;
  // With --cold, each measurement begins with the input out of the page cache.
  auto measure = [&](auto fn) {
    if (cold) Evict(files);
    return InChild(fn);
  };
  for (int r = 0; r < runs; ++r) {
    bases.push_back(measure([&] { return Baseline(files, jobs); }));
    floors.push_back(measure([&] { return FormatFloor(files, jobs); }));
    ingests.push_back(measure([&] { return IngestRun(input, lake, jobs, keyed); }));
    wholes.push_back(also_whole ? measure([&] { return IngestRun(input, lake, jobs, keyed, true); })
                                : Measure{1, 0, 0, 0});
    reads.push_back(cold ? measure([&] { return DiskRead(files, jobs); }) : Measure{1, 0, 0, 0});
    if (bases.back().seconds <= 0 || floors.back().seconds <= 0 || ingests.back().seconds <= 0 ||
        wholes.back().seconds <= 0 || reads.back().seconds <= 0) {
      std::fprintf(stderr, "a measurement failed (see above)\n");
      std::exit(1);
    }
  }
  auto median = [](std::vector<Measure> v) {
    long peak = 0;
    for (const auto& m : v) peak = std::max(peak, m.peak_rss_kb);
    std::sort(v.begin(), v.end(),
              [](const Measure& a, const Measure& b) { return a.seconds < b.seconds; });
    Measure m = v[v.size() / 2];
    m.peak_rss_kb = peak;
    return m;
  };
  return {median(bases), median(floors), median(ingests), also_whole ? median(wholes) : Measure{},
          cold ? median(reads) : Measure{}};
}

int main(int argc, char** argv) {
  int jobs = static_cast<int>(std::thread::hardware_concurrency());
  int copies = 10;
  int runs = 3;
  bool keyed = false;
  bool one_bundle = false;
  bool cold = false;
  std::string input;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--jobs" && i + 1 < argc)
      jobs = std::atoi(argv[++i]);
    else if (a == "--copies" && i + 1 < argc)
      copies = std::atoi(argv[++i]);
    else if (a == "--runs" && i + 1 < argc)
      runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--keyed")
      keyed = true;
    else if (a == "--one-bundle")
      one_bundle = true;
    else if (a == "--cold")
      cold = true;
    else
      input = a;
  }
  if (input.empty()) {
    std::fprintf(stderr,
                 "usage: medlake_bench_ingest [--jobs N] [--copies K] [--runs R] [--keyed] "
                 "[--one-bundle] [--cold] INPUT_DIR\n");
    return 2;
  }
  std::string work = (fs::temp_directory_path() / "medlake-bench-ingest").string();
  fs::remove_all(work);
  auto files = InputFiles(input);
  // A tmpfs keeps its files in memory: --cold cannot drop them.
  auto on_tmpfs = [](const std::string& dir) {
    struct statfs info {};
    return ::statfs(dir.c_str(), &info) == 0 && info.f_type == TMPFS_MAGIC;
  };
  if (cold && (on_tmpfs(input) || on_tmpfs(work.substr(0, work.rfind('/'))))) {
    std::fprintf(stderr,
                 "--cold: the input or its copies are on a tmpfs, which keeps them cached\n");
  }
  std::printf("jobs %d, input %s (%zu files), median of %d runs, peak RSS the highest%s%s%s\n",
              jobs, input.c_str(), files.size(), runs, keyed ? ", lakes with a key" : "",
              one_bundle ? ", merged into one Bundle" : "", cold ? ", from a cold cache" : "");
  // With --one-bundle, `dir`'s Bundles merged into one file, which becomes the input.
  auto as_input = [&](std::vector<std::string>& dir_files, std::string& dir,
                      const std::string& merged) {
    if (!one_bundle) return;
    fs::create_directories(merged);
    MergeBundles(dir_files, merged + "/bundle.json");
    dir = merged;
    dir_files = InputFiles(merged);
  };
  as_input(files, input, work + "/merged1");
  Figures one = MedianFigures(runs, files, input, work + "/lake1", jobs, keyed, one_bundle, cold);
  Report("1x", one, jobs);
  if (copies > 1) {
    Replicate(files, input, work + "/input10", copies);
    auto files10 = InputFiles(work + "/input10");
    std::string input10 = work + "/input10";
    as_input(files10, input10, work + "/merged10");
    Figures many =
        MedianFigures(runs, files10, input10, work + "/lake10", jobs, keyed, one_bundle, cold);
    char label[16];
    std::snprintf(label, sizeof label, "%dx", copies);
    Report(label, many, jobs);
    std::printf("growth %dx input: ingest time x%.2f, peak RSS x%.2f\n", copies,
                many.ingest.seconds / one.ingest.seconds,
                static_cast<double>(many.ingest.peak_rss_kb) / one.ingest.peak_rss_kb);
  }
  fs::remove_all(work);
  return 0;
}
