// The run: patients are generated in chunks on TBB worker threads and written in order by a
// serial stage; HL7 v2 and device records go through a bounded-memory external sort by time
// (external_sort.h) and are split into day files at the end.
#include "synth/generator.h"

#include <fmt/format.h>
#include <tbb/global_control.h>
#include <tbb/info.h>
#include <tbb/parallel_pipeline.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "common/file_util.h"
#include "synth/bed_allocation.h"
#include "synth/external_sort.h"
#include "synth/pgx.h"
#include "synth/population.h"
#include "synth/stream_writers.h"
#include "synth/time_format.h"
#include "synth/truth_vcf.h"

namespace medlake::synth {
namespace {

namespace fs = std::filesystem;
constexpr int kNumVariants = static_cast<int>(kPgxPositions.size());
// Buffer of each VCF row's temporary file: one file per PharmCAT position, all open at once.
constexpr size_t kVcfRowBuffer = 32 << 10;
// Memory for sorting each of the HL7 v2 and device streams, and for each of the two sorts of
// the bed allocation (external_sort.h).
constexpr size_t kSortBudget = 8 << 20;
constexpr size_t kBedSortBudget = 2 << 20;

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
  uint64_t first = 0;
  uint64_t count = 0;
  FhirChunk fhir;
  RecordBuffer hl7;
  RecordBuffer device;
  RecordBuffer beds;            // first pass: bed periods
  std::vector<uint32_t> slots;  // second pass: their allocated beds
  std::array<std::string, kNumVariants> vcf;
  std::vector<std::string> patient_vcfs;  // with config.vcf_per_patient, one per patient
  std::string truth;
  PatientStory story;
  double typical_truth = 0;

  void Clear() {
    fhir.Clear();
    hl7.Clear();
    device.Clear();
    for (std::string& s : vcf) s.clear();
    patient_vcfs.resize(0);
    ClearBuffer(truth, typical_truth);
  }
};

class Run {
 public:
  explicit Run(const SynthConfig& config)
      : config_(config),
        model_(config),
        first_day_(DayOf(model_.window_start())),
        num_days_(static_cast<int>(DayOf(model_.horizon_end()) - first_day_ + 1)),
        out_(config.out_dir),
        tmp_(out_ / ".synth-tmp") {}

  Result<SynthStats> Execute();

 private:
  // Runs `start` (serial, in patient order), `work` (parallel) and `finish` (serial, in patient
  // order) on every chunk of patients; stops at the first error of start or finish.
  template <typename Start, typename Work, typename Finish>
  Status ForEachChunk(Start start, Work work, Finish finish);
  // First pass: allocates the beds of all stays (bed_allocation.h).
  Status PlanBeds();
  // Creates the output files; after PlanBeds, which fixes the hospital layout.
  Status Prepare();
  void Produce(Chunk& chunk) const;
  // The single-sample VCF of one patient (config_.vcf_per_patient).
  void RenderPatientVcf(const PatientStory& story, std::string& out) const;
  Status Consume(const Chunk& chunk);
  int DayIndex(int64_t time) const {
    return static_cast<int>(std::clamp<int64_t>(DayOf(time) - first_day_, 0, num_days_ - 1));
  }
  // Writes the day files, or hl7v2/messages.hl7 with config_.hl7v2_stream.
  Status FinishHl7();
  Status FinishDevice();
  Status FinishVcf();
  std::string TmpPath(std::string_view kind, int index) const {
    return (tmp_ / fmt::format("{}-{}.bin", kind, index)).string();
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
  std::string vcf_meta_;
  std::array<std::string, kNumVariants> vcf_fixed_;
  int threads_ = 1;
  std::unique_ptr<BedPlanner> planner_;
  std::unique_ptr<ExternalSorter> hl7_sort_;
  std::unique_ptr<ExternalSorter> device_sort_;
  SynthStats stats_;
  bool first_truth_ = true;
};

Status Run::Prepare() {
  std::error_code ec;
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
    hl7_sort_ = std::make_unique<ExternalSorter>(TmpPath("hl7", 0), kSortBudget);
  }
  if (config_.formats.device) {
    MEDLAKE_RETURN_IF_ERROR(MakeDirs((out_ / "device").string()));
    device_sort_ = std::make_unique<ExternalSorter>(TmpPath("dev", 0), kSortBudget);
  }
  if (config_.formats.vcf) {
    MEDLAKE_RETURN_IF_ERROR(MakeDirs((out_ / "vcf").string()));
    if (config_.vcf_per_patient) {
      fs::remove_all(out_ / "vcf" / "patients", ec);
      MEDLAKE_RETURN_IF_ERROR(MakeDirs((out_ / "vcf" / "patients").string()));
      vcf_meta_ = RenderVcfMeta();
      for (int v = 0; v < kNumVariants; ++v) vcf_fixed_[v] = RenderVcfFixedColumns(v);
    }
    for (int v = 0; v < kNumVariants; ++v) {
      MEDLAKE_RETURN_IF_ERROR(vcf_rows_[v].Open(TmpPath("vcf", v), "wb", kVcfRowBuffer));
    }
  }
  MEDLAKE_RETURN_IF_ERROR(truth_file_.Open((out_ / "truth.json").string(), "wb"));
  return truth_file_.Write(RenderTruthHeader(model_));
}

void Run::Produce(Chunk& c) const {
  c.Clear();
  size_t next_slot = 0;
  for (uint64_t i = c.first; i < c.first + c.count; ++i) {
    model_.Generate(i, c.story);
    if (planner_ != nullptr) ApplyBeds(model_, c.slots, next_slot, c.story);
    if (config_.formats.fhir) RenderFhir(model_, c.story, config_.bundles, c.fhir);
    if (config_.formats.hl7v2) RenderHl7v2(model_, c.story, c.hl7);
    if (config_.formats.device) RenderDeviceReadings(model_, c.story, c.device);
    if (config_.formats.vcf) {
      for (int v = 0; v < kNumVariants; ++v) AppendVcfGenotype(c.story, v, c.vcf[v]);
      if (config_.vcf_per_patient) RenderPatientVcf(c.story, c.patient_vcfs.emplace_back());
    }
    if (!c.truth.empty() || c.first != 0 || i != 0) c.truth.append(",\n");
    RenderTruthPatient(c.story, c.truth);
  }
}

void Run::RenderPatientVcf(const PatientStory& story, std::string& out) const {
  out = vcf_meta_;
  out.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t");
  AppendPatientId(story.index, out);
  out.push_back('\n');
  for (int v = 0; v < kNumVariants; ++v) {
    out.append(vcf_fixed_[v]);
    AppendVcfGenotype(story, v, out);
    out.push_back('\n');
  }
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
  if (config_.formats.hl7v2) MEDLAKE_RETURN_IF_ERROR(hl7_sort_->AddFrames(c.hl7.frames()));
  if (config_.formats.device) MEDLAKE_RETURN_IF_ERROR(device_sort_->AddFrames(c.device.frames()));
  stats_.hl7_messages += c.hl7.count();
  stats_.device_readings += c.device.count();
  if (config_.formats.vcf) {
    for (int v = 0; v < kNumVariants; ++v) MEDLAKE_RETURN_IF_ERROR(vcf_rows_[v].Write(c.vcf[v]));
    for (size_t i = 0; i < c.patient_vcfs.size(); ++i) {
      std::string name;
      AppendPatientId(c.first + i, name);
      const std::string path = (out_ / "vcf" / "patients" / (name + ".vcf")).string();
      MEDLAKE_RETURN_IF_ERROR(WriteSmallFile(path, c.patient_vcfs[i]));
      stats_.bytes_written += c.patient_vcfs[i].size();
    }
  }
  return truth_file_.Write(c.truth);
}

Status Run::FinishHl7() {
  MEDLAKE_RETURN_IF_ERROR(hl7_sort_->Finish());
  std::unique_ptr<OutFile> f;
  auto close = [&]() -> Status {
    if (f == nullptr) return Status::Ok();
    MEDLAKE_RETURN_IF_ERROR(f->Close());
    stats_.bytes_written += f->bytes();
    return Status::Ok();
  };
  auto open = [&](const std::string& name) -> Status {
    MEDLAKE_RETURN_IF_ERROR(close());
    f = std::make_unique<OutFile>();
    return f->Open((out_ / "hl7v2" / (name + ".hl7")).string(), "wb");
  };
  if (config_.hl7v2_stream) MEDLAKE_RETURN_IF_ERROR(open("messages"));
  int open_day = -1;
  TimedRecord r;
  while (true) {
    MEDLAKE_ASSIGN_OR_RETURN(const bool more, hl7_sort_->Next(r));
    if (!more) break;
    if (!config_.hl7v2_stream && DayIndex(r.key) != open_day) {
      open_day = DayIndex(r.key);
      std::string name;
      AppendFhirDate(first_day_ + open_day, name);
      MEDLAKE_RETURN_IF_ERROR(open(name));
    }
    MEDLAKE_RETURN_IF_ERROR(f->Write(r.payload));
  }
  MEDLAKE_RETURN_IF_ERROR(close());
  hl7_sort_.reset();
  return Status::Ok();
}

Status Run::FinishDevice() {
  MEDLAKE_RETURN_IF_ERROR(device_sort_->Finish());
  OutFile f;
  MEDLAKE_RETURN_IF_ERROR(f.Open((out_ / "device" / "readings.ndjson").string(), "wb"));
  TimedRecord r;
  while (true) {
    MEDLAKE_ASSIGN_OR_RETURN(const bool more, device_sort_->Next(r));
    if (!more) break;
    MEDLAKE_RETURN_IF_ERROR(f.Write(r.payload));
  }
  MEDLAKE_RETURN_IF_ERROR(f.Close());
  stats_.bytes_written += f.bytes();
  device_sort_.reset();
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

template <typename Start, typename Work, typename Finish>
Status Run::ForEachChunk(Start start, Work work, Finish finish) {
  const size_t tokens = static_cast<size_t>(threads_) * 2;
  std::vector<std::unique_ptr<Chunk>> pool;
  std::vector<Chunk*> free_list;
  for (size_t i = 0; i < tokens; ++i) {
    pool.push_back(std::make_unique<Chunk>());
    free_list.push_back(pool.back().get());
  }
  std::mutex free_mutex;
  uint64_t next = 0;
  // The two serial stages may run at the same time: each keeps its own status.
  std::atomic<bool> failed{false};
  Status start_failure;
  Status finish_failure;
  const uint64_t chunk_size = static_cast<uint64_t>(config_.chunk_size);
  auto input = [&](tbb::flow_control& fc) -> Chunk* {
    if (next >= config_.patients || failed.load()) {
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
    c->count = std::min(chunk_size, config_.patients - next);
    next += c->count;
    start_failure = start(*c);
    if (!start_failure.ok()) failed.store(true);
    return c;
  };
  auto output = [&](Chunk* c) {
    if (!failed.load()) {
      finish_failure = finish(*c);
      if (!finish_failure.ok()) failed.store(true);
    }
    std::lock_guard<std::mutex> lock(free_mutex);
    free_list.push_back(c);
  };
  tbb::parallel_pipeline(
      tokens, tbb::make_filter<void, Chunk*>(tbb::filter_mode::serial_in_order, input) &
                  tbb::make_filter<Chunk*, Chunk*>(tbb::filter_mode::parallel,
                                                   [&](Chunk* c) {
                                                     if (!failed.load()) work(*c);
                                                     return c;
                                                   }) &
                  tbb::make_filter<Chunk*, void>(tbb::filter_mode::serial_in_order, output));
  MEDLAKE_RETURN_IF_ERROR(start_failure);
  return finish_failure;
}

Status Run::PlanBeds() {
  planner_ = std::make_unique<BedPlanner>(model_, (tmp_ / "beds").string(), kBedSortBudget);
  MEDLAKE_RETURN_IF_ERROR(
      ForEachChunk([](Chunk&) { return Status::Ok(); },
                   [this](Chunk& c) {
                     c.beds.Clear();
                     for (uint64_t i = c.first; i < c.first + c.count; ++i) {
                       model_.Generate(i, c.story);
                       CollectBedStays(model_, c.story, c.beds);
                     }
                   },
                   [this](Chunk& c) { return planner_->AddStays(c.beds.frames()); }));
  MEDLAKE_RETURN_IF_ERROR(planner_->Allocate());
  model_.SetWardBeds(planner_->ward_beds());
  stats_.surge_beds = planner_->surge_beds();
  return Status::Ok();
}

Result<SynthStats> Run::Execute() {
  const auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  fs::create_directories(out_, ec);
  if (ec) return IoError(fmt::format("{}: {}", out_.string(), ec.message()));
  fs::remove_all(tmp_, ec);
  fs::create_directories(tmp_, ec);
  if (ec) return IoError(fmt::format("{}: {}", tmp_.string(), ec.message()));
  threads_ = config_.threads > 0 ? config_.threads : tbb::info::default_concurrency();
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads_);
  // Beds appear in the FHIR Encounters, the HL7 v2 PV1 segments and the device ids.
  const bool beds = config_.formats.fhir || config_.formats.hl7v2 || config_.formats.device;
  if (beds) MEDLAKE_RETURN_IF_ERROR(PlanBeds());
  stats_.hospital_beds = static_cast<uint64_t>(model_.total_beds());
  MEDLAKE_RETURN_IF_ERROR(Prepare());
  MEDLAKE_RETURN_IF_ERROR(ForEachChunk(
      [this](Chunk& c) {
        return planner_ == nullptr ? Status::Ok() : planner_->TakeSlots(c.first, c.count, c.slots);
      },
      [this](Chunk& c) { Produce(c); }, [this](Chunk& c) { return Consume(c); }));
  planner_.reset();
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
  fs::remove_all(tmp_, ec);
  stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats_;
}

}  // namespace

void MapLargeBuffersDirectly() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
}

Result<SynthStats> Generate(const SynthConfig& config) {
  MEDLAKE_RETURN_IF_ERROR(Validate(config));
  Run run(config);
  return run.Execute();
}

}  // namespace medlake::synth
