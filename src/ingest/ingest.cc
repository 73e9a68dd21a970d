#include "ingest/ingest.h"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/global_control.h>
#include <tbb/parallel_pipeline.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "fhir/r4_model.h"
#include "ingest/chunk_source.h"
#include "ingest/fhir/fhir_reader.h"
#include "ingest/hl7v2/fhir_mapper.h"
#include "ingest/hl7v2/message.h"
#include "store/segment.h"

namespace medlake::ingest {
namespace {

using Clock = std::chrono::steady_clock;

struct SharedCounters {
  std::atomic<uint64_t> records{0}, stored{0}, duplicates{0}, quarantined{0};
};

// Turns reader output into lake rows; one per worker thread.
class Worker final : public FhirRecordSink {
 public:
  Worker(store::LakeWriter& writer, SharedCounters& counters)
      : writer_(writer),
        counters_(counters),
        reader_([&writer](std::string_view type, std::string_view system, std::string_view value) {
          return writer.ResolveIdentifier(type, system, value);
        }) {}

  void Process(const Chunk& chunk) {
    file_index_ = chunk.file_index;
    if (!chunk.error.empty()) {
      OnReject("", RecordLocation{*chunk.source, 0, chunk.base_offset, 0, ""}, chunk.error);
      return;
    }
    if (chunk.format == InputFormat::kJson) {
      reader_.ReadJson(chunk.data.data(), chunk.data.size(), *chunk.source, chunk.base_offset, *this);
    } else if (chunk.format == InputFormat::kHl7v2) {
      ProcessHl7v2(chunk);
    } else {
      reader_.ReadNdjson(chunk.data.data(), chunk.data.size(), *chunk.source, chunk.first_line,
                         chunk.base_offset, *this);
    }
  }

  void OnResource(json::Node resource, std::string_view json, const fhir::ReferenceResolver& resolver,
                  const RecordLocation& loc) override {
    counters_.records.fetch_add(1, std::memory_order_relaxed);
    Status s = fhir::ExtractFacts(resource, &resolver, facts_);
    if (!s.ok()) {
      Quarantine(json, loc, s.message());
      return;
    }
    int type_index = fhir::ResourceTypeIndex(facts_.type);
    bool shared_type = facts_.type != "Patient" && fhir::PatientCompartmentPaths(facts_.type).empty();
    if ((facts_.type == "Patient" || shared_type) && !facts_.identifiers.empty()) {
      writer_.AddIdentifiers(facts_.type, facts_.id, facts_.identifiers);
    }
    store::Row row;
    row.key = store::ResourceKey(facts_.type, facts_.id);
    row.content_hash = store::ContentHash(json);
    store::RecordOrder order{(static_cast<uint64_t>(writer_.run_id()) << 32) | file_index_,
                             (static_cast<uint64_t>(loc.byte_offset) << 20) | loc.entry};
    if (writer_.Admit(row.key, static_cast<uint16_t>(type_index), row.content_hash,
                      facts_.last_updated, order, row.seq) == store::Admission::kDuplicate) {
      counters_.duplicates.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    row.patient = facts_.patient_id.empty() ? store::kNoPatient : writer_.PatientOrdinal(facts_.patient_id);
    row.type = std::move(facts_.type);
    row.id = std::move(facts_.id);
    row.effective = facts_.effective;
    row.codings = std::move(facts_.codings);
    row.has_value = !std::isnan(facts_.value);
    row.value = row.has_value ? facts_.value : 0;
    row.unit = std::move(facts_.unit);
    row.status = std::move(facts_.status);
    row.encounter = std::move(facts_.encounter_id);
    row.last_updated = facts_.last_updated;
    row.json.assign(json);
    Status add = writer_.Add(std::move(row));
    if (!add.ok() && error_.ok()) error_ = add;
    counters_.stored.fetch_add(1, std::memory_order_relaxed);
  }

  void OnReject(std::string_view record, const RecordLocation& loc, std::string reason) override {
    counters_.records.fetch_add(1, std::memory_order_relaxed);
    Quarantine(record, loc, std::move(reason));
  }

  // HL7 v2 messages are mapped to FHIR R4 (docs/hl7v2.md); each resulting resource is a
  // record, and a message that cannot be parsed or mapped is one quarantined record.
  void ProcessHl7v2(const Chunk& chunk) {
    const fhir::ReferenceResolver same = [](std::string_view r) { return std::string(r); };
    std::string_view file(chunk.data.data(), chunk.data.size());
    for (const auto& entry : hl7v2::ReadMessages(file)) {
      RecordLocation loc{*chunk.source, 0, static_cast<int64_t>(entry.location.byte_offset),
                         0, "message " + std::to_string(entry.location.message_index + 1)};
      if (!entry.message.ok()) {
        OnReject(file.substr(entry.location.byte_offset, 4096), loc, entry.message.status().message());
        continue;
      }
      auto mapped = hl7v2::MapToFhir(*entry.message);
      if (!mapped.ok()) {
        OnReject(entry.message->raw(), loc, mapped.status().message());
        continue;
      }
      for (const auto& resource : mapped->resources) {
        auto node = hl7_parser_.Parse(resource.json);
        if (!node.ok()) {
          OnReject(resource.json, loc, "mapped resource is not valid JSON: " + node.status().message());
          continue;
        }
        OnResource(*node, resource.json, same, loc);
        ++loc.entry;
      }
    }
  }

  const Status& error() const { return error_; }
  uint64_t unresolved() const { return reader_.unresolved_references(); }

 private:
  void Quarantine(std::string_view record, const RecordLocation& loc, std::string reason) {
    counters_.quarantined.fetch_add(1, std::memory_order_relaxed);
    QuarantineEntry e{writer_.run_id(), std::string(loc.source), loc.line, loc.byte_offset,
                      loc.location, std::move(reason)};
    writer_.AddQuarantine(e, record);
  }

  store::LakeWriter& writer_;
  SharedCounters& counters_;
  FhirReader reader_;
  json::Parser hl7_parser_;
  fhir::ResourceFacts facts_;
  uint32_t file_index_ = 0;
  Status error_;
};

}  // namespace

Result<IngestReport> Ingest(const std::string& lake_dir, const std::vector<std::string>& paths,
                            const IngestOptions& options) {
  auto started = Clock::now();
  MEDLAKE_ASSIGN_OR_RETURN(InputSet inputs, ExpandInputs(paths));
  MEDLAKE_ASSIGN_OR_RETURN(auto writer, store::LakeWriter::Open(lake_dir));

  int jobs = options.jobs > 0 ? options.jobs : static_cast<int>(std::thread::hardware_concurrency());
  if (jobs < 1) jobs = 1;
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(jobs));

  uint64_t total_bytes = 0;
  for (const auto& f : inputs.files) total_bytes += f.size;

  SharedCounters shared;
  tbb::enumerable_thread_specific<std::unique_ptr<Worker>> workers(
      [&] { return std::make_unique<Worker>(*writer, shared); });
  ChunkSource source(inputs.files);
  Status source_error;
  bool done = false;
  auto last_progress = Clock::now();

  auto counters_now = [&] {
    store::RunCounters c;
    uint64_t superseded = writer->superseded_in_run();
    c.records_read = shared.records.load();
    c.stored = shared.stored.load() - superseded;
    c.duplicates = shared.duplicates.load() + superseded;
    c.replaced = writer->replaced_committed();
    c.quarantined = shared.quarantined.load();
    c.files = inputs.files.size();
    c.skipped_files = inputs.skipped.size();
    c.bytes_read = source.bytes_consumed();
    return c;
  };

  while (!done) {
    uint64_t batch_start = source.bytes_consumed();
    bool batch_over = false;
    bool checkpoint_due = false;
    tbb::parallel_pipeline(
        static_cast<size_t>(jobs) * 2,
        tbb::make_filter<void, std::shared_ptr<Chunk>>(
            tbb::filter_mode::serial_in_order,
            [&](tbb::flow_control& fc) -> std::shared_ptr<Chunk> {
              if (batch_over || done) {
                fc.stop();
                return nullptr;
              }
              auto next = source.Next();
              if (!next.ok()) {
                source_error = next.status();
                done = true;
                fc.stop();
                return nullptr;
              }
              if (!next->has_value()) {
                done = true;
                fc.stop();
                return nullptr;
              }
              auto chunk = std::make_shared<Chunk>(std::move(**next));
              // A pipeline boundary after the shared-area files, so that their identifiers are
              // known before patient data refers to them; and one per checkpoint.
              if (source.bytes_consumed() - batch_start >= options.checkpoint_bytes) {
                checkpoint_due = true;
              }
              if (chunk->ends_shared_wave || checkpoint_due) batch_over = true;
              if (options.progress && Clock::now() - last_progress > std::chrono::milliseconds(500)) {
                last_progress = Clock::now();
                options.progress(shared.records.load(), source.bytes_consumed(), total_bytes);
              }
              return chunk;
            }) &
            tbb::make_filter<std::shared_ptr<Chunk>, void>(
                tbb::filter_mode::parallel,
                [&](std::shared_ptr<Chunk> chunk) { workers.local()->Process(*chunk); }));
    MEDLAKE_RETURN_IF_ERROR(source_error);
    for (auto& w : workers) MEDLAKE_RETURN_IF_ERROR(w->error());
    if (!done && checkpoint_due) {
      MEDLAKE_RETURN_IF_ERROR(writer->Flush());  // settles superseded/replaced counts
      MEDLAKE_RETURN_IF_ERROR(writer->Commit(counters_now(), false));
    }
  }
  IngestReport report;
  report.run_id = writer->run_id();
  MEDLAKE_RETURN_IF_ERROR(writer->Flush());
  report.counters = counters_now();
  MEDLAKE_RETURN_IF_ERROR(writer->Commit(report.counters, true));
  for (auto& w : workers) {
    report.unresolved_references += w->unresolved();
  }
  for (auto& [path, reason] : inputs.skipped) report.skipped.push_back({path, reason});
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (options.progress) options.progress(report.counters.records_read, total_bytes, total_bytes);
  return report;
}

}  // namespace medlake::ingest
