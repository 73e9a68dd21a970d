// The run: patients are generated in chunks on TBB worker threads and written in order by a
// serial stage; HL7 v2 and device records go through temporary files, one per group of days,
// each sorted by time at the end and split into day files (day_buckets.h).
#include "synth/generator.h"

#include <fmt/format.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_pipeline.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "common/file_util.h"
#include "synth/day_buckets.h"
#include "synth/pgx.h"
#include "synth/population.h"
#include "synth/stream_writers.h"
#include "synth/time_format.h"
#include "synth/truth_vcf.h"

namespace medlake::synth {
namespace {

namespace fs = std::filesystem;
constexpr int kNumVariants = static_cast<int>(kPgxVariants.size());
constexpr int kMaxGroups = 200;

// A buffered output file. Every call reports its own error; the destructor only closes.
class OutFile {
 public:
  OutFile() = default;
  OutFile(const OutFile&) = delete;
  OutFile& operator=(const OutFile&) = delete;
  ~OutFile() {
    if (f_ != nullptr) std::fclose(f_);
  }

  Status Open(const std::string& path, const char* mode, size_t buffer = 1 << 20) {
    path_ = path;
    f_ = std::fopen(path.c_str(), mode);
    if (f_ == nullptr) return IoError(fmt::format("{}: {}", path, std::strerror(errno)));
    std::setvbuf(f_, nullptr, _IOFBF, buffer);
    return Status::Ok();
  }
  Status Write(std::string_view data) {
    if (data.empty()) return Status::Ok();
    if (std::fwrite(data.data(), 1, data.size(), f_) != data.size()) {
      return IoError(fmt::format("{}: write failed: {}", path_, std::strerror(errno)));
    }
    bytes_ += data.size();
    return Status::Ok();
  }
  Status Close() {
    if (f_ == nullptr) return Status::Ok();
    const int rc = std::fclose(f_);
    f_ = nullptr;
    if (rc != 0) return IoError(fmt::format("{}: close failed: {}", path_, std::strerror(errno)));
    return Status::Ok();
  }
  uint64_t bytes() const { return bytes_; }

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
  uint64_t bytes_ = 0;
};

Status WriteSmallFile(const std::string& path, std::string_view text) {
  OutFile f;
  MEDLAKE_RETURN_IF_ERROR(f.Open(path, "wb"));
  MEDLAKE_RETURN_IF_ERROR(f.Write(text));
  return f.Close();
}

// Everything one chunk of patients produces.
struct Chunk {
  Chunk(int64_t first_day, int num_days) : hl7(first_day, num_days), device(first_day, num_days) {}
  uint64_t first = 0;
  uint64_t count = 0;
  FhirChunk fhir;
  DayBuckets hl7;
  DayBuckets device;
  std::array<std::string, kNumVariants> vcf;
  std::string truth;
  uint64_t hl7_messages = 0;
  uint64_t device_readings = 0;
  PatientStory story;

  void Clear() {
    fhir.Clear();
    hl7.Clear();
    device.Clear();
    for (std::string& s : vcf) s.clear();
    FhirChunk::Reset(truth);
    hl7_messages = 0;
    device_readings = 0;
  }
};

size_t CountRecords(const DayBuckets& b) {
  size_t n = 0;
  for (int d : b.touched()) {
    const std::string& s = b.day(d);
    size_t pos = 0;
    while (pos + 12 <= s.size()) {
      uint32_t len;
      std::memcpy(&len, s.data() + pos + 8, 4);
      pos += 12 + len;
      ++n;
    }
  }
  return n;
}

class Run {
 public:
  explicit Run(const SynthConfig& config)
      : config_(config),
        model_(config),
        first_day_(DayOf(model_.window_start())),
        num_days_(static_cast<int>(DayOf(model_.horizon_end()) - first_day_ + 1)),
        out_(config.out_dir),
        tmp_(out_ / ".synth-tmp") {
    // About one group per 50 patients (a group then holds ~2 MB of records), at least 8 and
    // at most kMaxGroups: small runs create fewer temporary files.
    const int groups = static_cast<int>(
        std::clamp<uint64_t>(config.patients / 50, 8, static_cast<uint64_t>(kMaxGroups)));
    group_days_ = (num_days_ + groups - 1) / groups;
    num_groups_ = (num_days_ + group_days_ - 1) / group_days_;
  }

  Result<SynthStats> Execute();

 private:
  Status Prepare();
  void Produce(Chunk& chunk) const;
  Status Consume(const Chunk& chunk);
  Status Spill(const DayBuckets& b, std::string_view kind,
               std::vector<std::unique_ptr<OutFile>>& groups);
  // Reads group `g` of `kind`, sorted by time.
  Result<std::vector<TimedRecord>> LoadGroup(std::string_view kind, int g, std::string& data);
  int DayIndex(int64_t time) const {
    return static_cast<int>(std::clamp<int64_t>(DayOf(time) - first_day_, 0, num_days_ - 1));
  }
  Status FinishHl7();
  // Writes group g's day files, or appends its records to `stream` when not null.
  Status FinishHl7Group(int g, uint64_t& bytes, OutFile* stream);
  Status FinishDevice();
  Status FinishVcf();
  std::string TmpPath(std::string_view kind, int day) const {
    return (tmp_ / fmt::format("{}-{}.bin", kind, day)).string();
  }

  const SynthConfig& config_;
  PopulationModel model_;
  int64_t first_day_;
  int num_days_;
  fs::path out_;
  fs::path tmp_;
  std::array<OutFile, kNumFhirTypes> fhir_files_;
  OutFile bundle_file_;
  OutFile truth_file_;
  std::array<OutFile, kNumVariants> vcf_rows_;
  // Temporary files of HL7 v2 and device records, one per group of group_days_ days, kept
  // open during the run (at most kMaxGroups each).
  int group_days_ = 1;
  int num_groups_ = 1;
  std::vector<std::unique_ptr<OutFile>> hl7_groups_;
  std::vector<std::unique_ptr<OutFile>> device_groups_;
  SynthStats stats_;
  bool first_truth_ = true;
};

Status Run::Prepare() {
  std::error_code ec;
  fs::create_directories(out_, ec);
  if (ec) return IoError(fmt::format("{}: {}", out_.string(), ec.message()));
  fs::remove_all(tmp_, ec);
  fs::create_directories(tmp_, ec);
  if (ec) return IoError(fmt::format("{}: {}", tmp_.string(), ec.message()));
  if (config_.formats.fhir) {
    MEDLAKE_RETURN_IF_ERROR(MakeDirs((out_ / "fhir").string()));
    for (int t = 0; t < kNumFhirTypes; ++t) {
      MEDLAKE_RETURN_IF_ERROR(fhir_files_[t].Open(
          (out_ / "fhir" / fmt::format("{}.ndjson", kFhirTypeNames[t])).string(), "wb"));
    }
    const std::string orgs = RenderOrganizations();
    const std::string locations = RenderLocations(model_);
    // Plain writes, no fsync: the output is reproducible, durability would only cost time.
    MEDLAKE_RETURN_IF_ERROR(WriteSmallFile((out_ / "fhir" / "Organization.ndjson").string(), orgs));
    MEDLAKE_RETURN_IF_ERROR(
        WriteSmallFile((out_ / "fhir" / "Location.ndjson").string(), locations));
    stats_.bytes_written += orgs.size() + locations.size();
    stats_.shared_resources = 1 + kNumWards + static_cast<uint64_t>(model_.total_beds());
    if (config_.bundles) {
      MEDLAKE_RETURN_IF_ERROR(MakeDirs((out_ / "fhir-bundles").string()));
      MEDLAKE_RETURN_IF_ERROR(
          bundle_file_.Open((out_ / "fhir-bundles" / "Bundle.ndjson").string(), "wb"));
    }
  }
  if (config_.formats.hl7v2) {
    fs::remove_all(out_ / "hl7v2", ec);
    MEDLAKE_RETURN_IF_ERROR(MakeDirs((out_ / "hl7v2").string()));
    hl7_groups_.resize(num_groups_);
  }
  if (config_.formats.device) {
    MEDLAKE_RETURN_IF_ERROR(MakeDirs((out_ / "device").string()));
    device_groups_.resize(num_groups_);
  }
  if (config_.formats.vcf) {
    MEDLAKE_RETURN_IF_ERROR(MakeDirs((out_ / "vcf").string()));
    for (int v = 0; v < kNumVariants; ++v) {
      MEDLAKE_RETURN_IF_ERROR(vcf_rows_[v].Open(TmpPath("vcf", v), "wb"));
    }
  }
  MEDLAKE_RETURN_IF_ERROR(truth_file_.Open((out_ / "truth.json").string(), "wb"));
  return truth_file_.Write(RenderTruthHeader(model_));
}

void Run::Produce(Chunk& c) const {
  c.Clear();
  for (uint64_t i = c.first; i < c.first + c.count; ++i) {
    model_.Generate(i, c.story);
    if (config_.formats.fhir) RenderFhir(model_, c.story, config_.bundles, c.fhir);
    if (config_.formats.hl7v2) RenderHl7v2(model_, c.story, c.hl7);
    if (config_.formats.device) RenderDeviceReadings(model_, c.story, c.device);
    if (config_.formats.vcf) {
      for (int v = 0; v < kNumVariants; ++v) AppendVcfGenotype(c.story, v, c.vcf[v]);
    }
    if (!c.truth.empty() || c.first != 0 || i != 0) c.truth.append(",\n");
    RenderTruthPatient(c.story, c.truth);
  }
  c.hl7_messages = CountRecords(c.hl7);
  c.device_readings = CountRecords(c.device);
}

Status Run::Consume(const Chunk& c) {
  stats_.patients += c.count;
  if (config_.formats.fhir) {
    for (int t = 0; t < kNumFhirTypes; ++t) {
      MEDLAKE_RETURN_IF_ERROR(fhir_files_[t].Write(c.fhir.ndjson[t]));
      stats_.fhir_resources[t] += c.fhir.counts[t];
    }
    if (config_.bundles) MEDLAKE_RETURN_IF_ERROR(bundle_file_.Write(c.fhir.bundles));
  }
  if (config_.formats.hl7v2) MEDLAKE_RETURN_IF_ERROR(Spill(c.hl7, "hl7", hl7_groups_));
  if (config_.formats.device) MEDLAKE_RETURN_IF_ERROR(Spill(c.device, "dev", device_groups_));
  stats_.hl7_messages += c.hl7_messages;
  stats_.device_readings += c.device_readings;
  if (config_.formats.vcf) {
    for (int v = 0; v < kNumVariants; ++v) MEDLAKE_RETURN_IF_ERROR(vcf_rows_[v].Write(c.vcf[v]));
  }
  return truth_file_.Write(c.truth);
}

Status Run::Spill(const DayBuckets& b, std::string_view kind,
                  std::vector<std::unique_ptr<OutFile>>& groups) {
  for (int d : b.touched()) {
    std::unique_ptr<OutFile>& f = groups[d / group_days_];
    if (f == nullptr) {
      f = std::make_unique<OutFile>();
      MEDLAKE_RETURN_IF_ERROR(f->Open(TmpPath(kind, d / group_days_), "wb", 1 << 16));
    }
    MEDLAKE_RETURN_IF_ERROR(f->Write(b.day(d)));
  }
  return Status::Ok();
}

Result<std::vector<TimedRecord>> Run::LoadGroup(std::string_view kind, int g, std::string& data) {
  const std::string tmp = TmpPath(kind, g);
  MEDLAKE_ASSIGN_OR_RETURN(data, ReadFile(tmp));
  std::error_code ec;
  fs::remove(tmp, ec);
  return DecodeSorted(data);
}

Status Run::FinishHl7Group(int g, uint64_t& bytes, OutFile* stream) {
  MEDLAKE_RETURN_IF_ERROR(hl7_groups_[g]->Close());
  std::string data;
  MEDLAKE_ASSIGN_OR_RETURN(std::vector<TimedRecord> records, LoadGroup("hl7", g, data));
  if (stream != nullptr) {
    for (const TimedRecord& r : records) MEDLAKE_RETURN_IF_ERROR(stream->Write(r.payload));
    return Status::Ok();
  }
  size_t i = 0;
  while (i < records.size()) {
    const int day = DayIndex(records[i].time);
    std::string name;
    AppendFhirDate(first_day_ + day, name);
    OutFile f;
    MEDLAKE_RETURN_IF_ERROR(f.Open((out_ / "hl7v2" / (name + ".hl7")).string(), "wb"));
    for (; i < records.size() && DayIndex(records[i].time) == day; ++i) {
      MEDLAKE_RETURN_IF_ERROR(f.Write(records[i].payload));
    }
    MEDLAKE_RETURN_IF_ERROR(f.Close());
    bytes += f.bytes();
  }
  return Status::Ok();
}

Status Run::FinishHl7() {
  std::unique_ptr<OutFile> stream;
  if (config_.hl7v2_stream) {
    stream = std::make_unique<OutFile>();
    MEDLAKE_RETURN_IF_ERROR(stream->Open((out_ / "hl7v2" / "messages.hl7").string(), "wb"));
  }
  for (int g = 0; g < num_groups_; ++g) {
    if (hl7_groups_[g] == nullptr) continue;
    MEDLAKE_RETURN_IF_ERROR(FinishHl7Group(g, stats_.bytes_written, stream.get()));
  }
  if (stream != nullptr) {
    MEDLAKE_RETURN_IF_ERROR(stream->Close());
    stats_.bytes_written += stream->bytes();
  }
  return Status::Ok();
}

Status Run::FinishDevice() {
  OutFile f;
  MEDLAKE_RETURN_IF_ERROR(f.Open((out_ / "device" / "readings.ndjson").string(), "wb"));
  std::string data;
  for (int g = 0; g < num_groups_; ++g) {
    if (device_groups_[g] == nullptr) continue;
    MEDLAKE_RETURN_IF_ERROR(device_groups_[g]->Close());
    MEDLAKE_ASSIGN_OR_RETURN(std::vector<TimedRecord> records, LoadGroup("dev", g, data));
    for (const TimedRecord& r : records) MEDLAKE_RETURN_IF_ERROR(f.Write(r.payload));
  }
  MEDLAKE_RETURN_IF_ERROR(f.Close());
  stats_.bytes_written += f.bytes();
  return Status::Ok();
}

Status Run::FinishVcf() {
  for (OutFile& row : vcf_rows_) MEDLAKE_RETURN_IF_ERROR(row.Close());
  OutFile f;
  MEDLAKE_RETURN_IF_ERROR(f.Open((out_ / "vcf" / "genotypes.vcf").string(), "wb"));
  MEDLAKE_RETURN_IF_ERROR(f.Write(RenderVcfMeta()));
  std::string line = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT";
  for (uint64_t i = 0; i < config_.patients; ++i) {
    line.push_back('\t');
    AppendPatientId(i, line);
    if (line.size() > (1 << 20)) {
      MEDLAKE_RETURN_IF_ERROR(f.Write(line));
      line.clear();
    }
  }
  line.push_back('\n');
  MEDLAKE_RETURN_IF_ERROR(f.Write(line));
  for (int v = 0; v < kNumVariants; ++v) {
    MEDLAKE_RETURN_IF_ERROR(f.Write(RenderVcfFixedColumns(v)));
    // Rows are copied in slices so memory stays bounded for large populations.
    const std::string tmp = TmpPath("vcf", v);
    std::FILE* in = std::fopen(tmp.c_str(), "rb");
    if (in == nullptr) return IoError(fmt::format("{}: {}", tmp, std::strerror(errno)));
    std::string buf(1 << 20, '\0');
    size_t n;
    Status st;
    while ((n = std::fread(buf.data(), 1, buf.size(), in)) > 0) {
      st = f.Write(std::string_view(buf.data(), n));
      if (!st.ok()) break;
    }
    std::fclose(in);
    MEDLAKE_RETURN_IF_ERROR(st);
    MEDLAKE_RETURN_IF_ERROR(f.Write("\n"));
    std::error_code ec;
    fs::remove(tmp, ec);
  }
  MEDLAKE_RETURN_IF_ERROR(f.Close());
  stats_.bytes_written += f.bytes();
  stats_.vcf_variants = kNumVariants;
  return Status::Ok();
}

Result<SynthStats> Run::Execute() {
  const auto t0 = std::chrono::steady_clock::now();
  MEDLAKE_RETURN_IF_ERROR(Prepare());
  const int threads = config_.threads > 0 ? config_.threads : tbb::info::default_concurrency();
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
  const size_t tokens = static_cast<size_t>(threads) * 2;
  std::vector<std::unique_ptr<Chunk>> pool;
  std::vector<Chunk*> free_list;
  for (size_t i = 0; i < tokens; ++i) {
    pool.push_back(std::make_unique<Chunk>(first_day_, num_days_));
    free_list.push_back(pool.back().get());
  }
  std::mutex free_mutex;
  uint64_t next = 0;
  Status failure;
  const uint64_t chunk_size = static_cast<uint64_t>(config_.chunk_size);
  tbb::parallel_pipeline(
      tokens, tbb::make_filter<void, Chunk*>(tbb::filter_mode::serial_in_order,
                                             [&](tbb::flow_control& fc) -> Chunk* {
                                               if (next >= config_.patients || !failure.ok()) {
                                                 fc.stop();
                                                 return nullptr;
                                               }
                                               Chunk* c;
                                               {
                                                 std::lock_guard<std::mutex> lock(free_mutex);
                                                 c = free_list.back();
                                                 free_list.pop_back();
                                               }
                                               c->first = next;
                                               c->count =
                                                   std::min(chunk_size, config_.patients - next);
                                               next += c->count;
                                               return c;
                                             }) &
                  tbb::make_filter<Chunk*, Chunk*>(tbb::filter_mode::parallel,
                                                   [&](Chunk* c) {
                                                     Produce(*c);
                                                     return c;
                                                   }) &
                  tbb::make_filter<Chunk*, void>(tbb::filter_mode::serial_in_order, [&](Chunk* c) {
                    if (failure.ok()) failure = Consume(*c);
                    std::lock_guard<std::mutex> lock(free_mutex);
                    free_list.push_back(c);
                  }));
  MEDLAKE_RETURN_IF_ERROR(failure);
  MEDLAKE_RETURN_IF_ERROR(truth_file_.Write(kTruthFooter));
  for (OutFile& f : fhir_files_) {
    stats_.bytes_written += f.bytes();
    MEDLAKE_RETURN_IF_ERROR(f.Close());
  }
  stats_.bytes_written += bundle_file_.bytes() + truth_file_.bytes();
  MEDLAKE_RETURN_IF_ERROR(bundle_file_.Close());
  MEDLAKE_RETURN_IF_ERROR(truth_file_.Close());
  if (config_.formats.hl7v2) MEDLAKE_RETURN_IF_ERROR(FinishHl7());
  if (config_.formats.device) MEDLAKE_RETURN_IF_ERROR(FinishDevice());
  if (config_.formats.vcf) MEDLAKE_RETURN_IF_ERROR(FinishVcf());
  std::error_code ec;
  fs::remove_all(tmp_, ec);
  stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats_;
}

}  // namespace

Result<SynthStats> Generate(const SynthConfig& config) {
  MEDLAKE_RETURN_IF_ERROR(Validate(config));
  Run run(config);
  return run.Execute();
}

}  // namespace medlake::synth
