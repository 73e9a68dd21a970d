#include "ingest/ingest.h"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/global_control.h>
#include <tbb/parallel_pipeline.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "fhir/r4_model.h"
#include "ingest/chunk_source.h"
#include "ingest/record_worker.h"
#include "medlake/lake.h"

namespace medlake::ingest {
namespace {

using Clock = std::chrono::steady_clock;

// A chunk on its way through the pipeline, with what its parallel stage prepared (keyed lakes).
struct Work {
  Chunk chunk;
  PreparedChunk prepared;
  uint64_t index = 0;  // in its batch, from 0
  ChunkLoad load;
};

// A checkpoint that the chunks' load brings (records, identifiers, HL7 v2 history: what the
// writer holds until a commit) ends its batch this many chunks after the chunk that reached
// the budget. The load is counted by the pipeline's serial stage, in input order; the input
// stage, which ends batches, is by then up to the pipeline's number of chunks in flight ahead.
// With at most kCheckpointDelay chunks in flight, the input stage knows of every chunk
// kCheckpointDelay chunks back whether it reached the budget when it reads the next one: the
// checkpoint falls at the same chunk whatever the number of threads (up to 3 use four chunks
// each; more share 15) or their timing, and so do the batches that conditional references and
// pseudonym links see.
constexpr uint64_t kCheckpointDelay = 15;
// NDJSON chunks are about 512 KiB, so those 15 chunks hold little; a JSON document or HL7 v2
// file is one chunk of any size. Once the last kCheckpointDelay chunks read hold
// IngestOptions::whole_files_in_delay bytes of such files, the batch ends (a pipeline boundary,
// at a place that depends on the file sizes only), and then brings its checkpoint if a chunk
// reached the budget: 14 Bundles of 11 MB with 150,000 identifiers each were otherwise one
// batch (1.2 GB instead of 0.4).

}  // namespace

Result<IngestReport> Ingest(const std::string& lake_dir, const std::vector<std::string>& paths,
                            const IngestOptions& options) {
  auto started = Clock::now();
  MEDLAKE_ASSIGN_OR_RETURN(InputSet inputs, ExpandInputs(paths));
  MEDLAKE_ASSIGN_OR_RETURN(auto writer, store::LakeWriter::Open(lake_dir));
  MEDLAKE_ASSIGN_OR_RETURN(auto deidentifier, Deidentifier::ForLake(lake_dir, *writer));
  if (options.expect_key && *options.expect_key != (deidentifier != nullptr)) {
    return AlreadyExists(
        "the lake at " + lake_dir +
        (deidentifier ? " was given a key (medlake init)" : " has no key any more") +
        " after this ingest began: run it again");
  }
  writer->AddSkippedFiles(inputs.skipped);

  int jobs =
      options.jobs > 0 ? options.jobs : static_cast<int>(std::thread::hardware_concurrency());
  if (jobs < 1) jobs = 1;
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                              static_cast<size_t>(jobs));

  uint64_t total_bytes = 0;
  for (const auto& f : inputs.files) total_bytes += f.size;

  SharedCounters shared;
  // A Bundle read in a batch of its own commits every checkpoint's worth of its entries
  // (Chunk::alone; set below, once the run's counters can be read).
  std::function<Status()> commit_inside;
  auto checkpoints_inside = [&](RecordWorker& w) {
    w.set_checkpoints_inside([&commit_inside] { return commit_inside(); }, options.checkpoint_bytes,
                             store::LakeWriter::kIdentitiesPerCommit);
  };
  tbb::enumerable_thread_specific<std::unique_ptr<RecordWorker>> workers([&] {
    auto w = std::make_unique<RecordWorker>(*writer, shared, deidentifier.get());
    w->set_defer_hl7v2(true);
    w->set_in_order_document_bytes(options.in_order_document_bytes);
    w->set_streamed_document_bytes(options.streamed_document_bytes);
    w->set_parallel_bundles(true);
    checkpoints_inside(*w);
    return w;
  });
  // HL7 v2 messages are mapped in parallel, then sequenced by one serial stage in input order
  // (each Patient and Encounter merged with the version before it: earlier in this run, else
  // the one committed in the lake; in a keyed lake, pseudonyms linked), then stored in parallel.
  // In a keyed lake, the other records are prepared in parallel with the pseudonym links they
  // need made apart, which the serial stage publishes in input order (PreparedChunk); then
  // they are stored in parallel.
  MEDLAKE_ASSIGN_OR_RETURN(std::unique_ptr<Lake> committed, Lake::Open(lake_dir));
  hl7v2::ResourceHistory history(
      [&committed, deid = deidentifier.get()](std::string_view type, const std::string& id) {
        return VersionToMerge(*committed, deid, type, id);
      });
  RecordWorker update_worker(*writer, shared, deidentifier.get());
  update_worker.set_resource_history(&history);
  // It reads the JSON documents too large to prepare (keyed lakes): large Bundles among them,
  // an entry at a time, in parallel ranges whose links it publishes in order.
  update_worker.set_streamed_document_bytes(options.streamed_document_bytes);
  update_worker.set_parallel_bundles(true);
  checkpoints_inside(update_worker);
  ChunkSource source(inputs.files, options.chunk_bytes);
  Status source_error;
  bool done = false;
  std::atomic<bool> worker_failed{false};  // stop reading: the run fails with the worker's error
  // Progress, twice a second, from a thread of its own: a large Bundle is one chunk, read for
  // seconds while no other chunk is handed out. Stopped (joined) before Ingest returns.
  struct ProgressThread {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::thread thread;
    void Stop() {
      if (!thread.joinable()) return;
      {
        std::lock_guard lock(mu);
        stop = true;
      }
      cv.notify_all();
      thread.join();
    }
    ~ProgressThread() { Stop(); }
  } progress;
  if (options.progress) {
    progress.thread = std::thread([&] {
      std::unique_lock lock(progress.mu);
      while (!progress.cv.wait_for(lock, std::chrono::milliseconds(500),
                                   [&] { return progress.stop; })) {
        // Each term only grows: the figure never goes back.
        const uint64_t read =
            source.chunked_bytes() + shared.document_bytes_read.load(std::memory_order_relaxed);
        options.progress(shared.records(), std::min(read, total_bytes), total_bytes);
      }
    });
  }

  auto counters_now = [&] {
    store::RunCounters c = shared.Snapshot(*writer);
    c.files = inputs.files.size();
    c.skipped_files = inputs.skipped.size();
    c.bytes_read = source.bytes_consumed();
    return c;
  };

  // Conditional references resolve against the identifiers of earlier batches only (a batch
  // is the pipeline run between two boundaries): what other threads register meanwhile is not
  // seen, so the lake does not depend on the number of threads or their timing.
  writer->set_isolate_batches(true);
  uint64_t checkpoints = 0;
  ChunkLoad since_commit;  // the load of the chunks sequenced since the last commit
  // The chunk that ends the batch before it, to read first in the next one (Chunk::alone).
  std::optional<Chunk> carried;
  // Nothing else is in flight while a chunk read alone commits; its batch goes on after.
  commit_inside = [&]() -> Status {
    MEDLAKE_RETURN_IF_ERROR(writer->Flush());
    MEDLAKE_RETURN_IF_ERROR(writer->Commit(counters_now(), false));
    ++checkpoints;
    writer->BeginBatch();
    return Status::Ok();
  };
  // Chunks leave in input order: a large Bundle holds back the smaller ones read after it, and
  // with two chunks per thread the other threads ran out of work behind it.
  const size_t in_flight = std::min<size_t>(static_cast<size_t>(jobs) * 4, kCheckpointDelay);
  while (!done) {
    writer->BeginBatch();
    // Bytes read in the batch, as the records hold them: gzipped files count inflated (their
    // compressed size let a small file of large bad lines hold gigabytes until the commit).
    uint64_t batch_bytes = 0;
    bool batch_over = false;
    bool checkpoint_due = false;
    uint64_t read = 0;                                // chunks of the batch read so far
    std::atomic<uint64_t> sequenced{0};               // ... that passed the serial stage
    std::atomic<uint64_t> over_budget{~uint64_t{0}};  // index of the first that reached the budget
    // Bytes of the JSON documents and HL7 v2 files among the last kCheckpointDelay chunks read.
    std::array<uint64_t, kCheckpointDelay> whole_file_bytes{};
    uint64_t recent_file_bytes = 0;
    Status delay_error;
    tbb::parallel_pipeline(
        in_flight,
        tbb::make_filter<void, std::shared_ptr<Work>>(
            tbb::filter_mode::serial_in_order,
            [&](tbb::flow_control& fc) -> std::shared_ptr<Work> {
              if (batch_over || done || worker_failed) {
                fc.stop();
                return nullptr;
              }
              if (recent_file_bytes >= options.whole_files_in_delay) {
                fc.stop();
                return nullptr;
              }
              if (read > kCheckpointDelay) {
                // Every chunk before read - kCheckpointDelay has been sequenced (at most
                // in_flight are in flight); checked, since the lake would otherwise depend on
                // the timing.
                const uint64_t known = read - kCheckpointDelay;
                if (sequenced.load(std::memory_order_acquire) < known) {
                  delay_error = Internal("ingest pipeline: chunk " + std::to_string(known - 1) +
                                         " not sequenced in time for its checkpoint");
                  fc.stop();
                  return nullptr;
                }
                if (over_budget.load(std::memory_order_acquire) < known) {
                  checkpoint_due = true;
                  fc.stop();
                  return nullptr;
                }
              }
              std::optional<Chunk> next_chunk = std::move(carried);
              carried.reset();
              if (!next_chunk) {
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
                next_chunk = std::move(**next);
              }
              // A JSON document larger than a checkpoint is read in a batch of its own, so that
              // the lake can commit while it is read (a Bundle's ranges, in waves, which are
              // larger where they hold shared-area resources only): the chunks before it end
              // their batch first. Whatever its first resource: a Bundle that begins with
              // Organizations is no shared-area file past them.
              if (next_chunk->whole_file && next_chunk->format == InputFormat::kJson &&
                  next_chunk->file_bytes > options.checkpoint_bytes) {
                if (read > 0) {
                  carried = std::move(next_chunk);
                  fc.stop();
                  return nullptr;
                }
                next_chunk->alone = true;
                batch_over = true;
              }
              auto work = std::make_shared<Work>();
              work->chunk = std::move(*next_chunk);
              work->index = read++;
              uint64_t& slot = whole_file_bytes[work->index % kCheckpointDelay];
              recent_file_bytes -= slot;
              slot = work->chunk.whole_file ? work->chunk.file_bytes : 0;
              recent_file_bytes += slot;
              const Chunk* chunk = &work->chunk;
              // A pipeline boundary after the shared-area files, so that their identifiers are
              // known before patient data refers to them; and one per checkpoint (four times
              // further apart inside the shared files, CheckpointBytesAt; memory stays bounded
              // by the identities held, as everywhere).
              batch_bytes += chunk->whole_file ? chunk->file_bytes : chunk->data.size();
              if (batch_bytes >= CheckpointBytesAt(*chunk, options.checkpoint_bytes)) {
                checkpoint_due = true;
              }
              if (chunk->ends_shared_wave || checkpoint_due) batch_over = true;
              return work;
            }) &
            tbb::make_filter<std::shared_ptr<Work>, std::shared_ptr<Work>>(
                tbb::filter_mode::parallel,
                [&](std::shared_ptr<Work> work) {
                  RecordWorker& worker = *workers.local();
                  worker.set_load(&work->load);
                  worker.Process(work->chunk, &work->prepared);
                  worker.set_load(nullptr);
                  if (!worker.error().ok()) worker_failed = true;
                  return work;
                }) &
            tbb::make_filter<std::shared_ptr<Work>, std::shared_ptr<Work>>(
                tbb::filter_mode::serial_in_order,
                [&](std::shared_ptr<Work> work) {
                  Chunk& chunk = work->chunk;
                  if (!chunk.mapped.empty()) update_worker.SequenceMapped(chunk);
                  // A prepared chunk is stored only once its links are published.
                  if (worker_failed) {
                    work->prepared.Clear();
                  } else {
                    // A document read here, not by the parallel stage, is counted here.
                    update_worker.set_load(work->prepared.in_order ? &work->load : nullptr);
                    update_worker.PublishPrepared(chunk, work->prepared);
                    update_worker.set_load(nullptr);
                  }
                  if (!update_worker.error().ok()) {  // nothing of it is stored: the run fails
                    chunk.mapped.clear();
                    work->prepared.Clear();
                    worker_failed = true;
                  }
                  since_commit.records += work->load.records + chunk.mapped.size();
                  since_commit.identifiers += work->load.identifiers;
                  since_commit.quarantined_bytes += work->load.quarantined_bytes;
                  if (over_budget.load(std::memory_order_relaxed) == ~uint64_t{0} &&
                      (since_commit.records >= store::LakeWriter::kIdentitiesPerCommit ||
                       since_commit.identifiers >= options.checkpoint_identifiers ||
                       since_commit.quarantined_bytes >= kQuarantinedBytesPerCommit ||
                       history.bytes() >= hl7v2::ResourceHistory::kBytesPerCommit)) {
                    over_budget.store(work->index, std::memory_order_release);
                  }
                  sequenced.store(work->index + 1, std::memory_order_release);
                  // What follows needs only `mapped` and `prepared`.
                  source.Recycle(std::move(chunk.data));
                  return work;
                }) &
            tbb::make_filter<std::shared_ptr<Work>, void>(
                tbb::filter_mode::parallel, [&](std::shared_ptr<Work> work) {
                  if (work->chunk.mapped.empty() && !work->prepared.active) return;
                  RecordWorker& worker = *workers.local();
                  if (!work->chunk.mapped.empty()) worker.StoreMapped(work->chunk);
                  worker.StorePrepared(work->chunk, work->prepared);
                  if (!worker.error().ok()) worker_failed = true;
                }));
    MEDLAKE_RETURN_IF_ERROR(source_error);
    for (auto& w : workers) MEDLAKE_RETURN_IF_ERROR(w->error());
    MEDLAKE_RETURN_IF_ERROR(update_worker.error());
    MEDLAKE_RETURN_IF_ERROR(delay_error);
    // A batch that ended before reading on (its load, or its large files) may have been the
    // last: the run's final commit is then its checkpoint.
    if (source.exhausted() && !carried) done = true;
    // A batch that a wave's end cut before its load's checkpoint fell still brings it.
    if (over_budget.load() != ~uint64_t{0}) checkpoint_due = true;
    if (!done && checkpoint_due) {
      MEDLAKE_RETURN_IF_ERROR(writer->Flush());  // settles superseded/replaced counts
      MEDLAKE_RETURN_IF_ERROR(writer->Commit(counters_now(), false));
      ++checkpoints;
      since_commit = ChunkLoad();
      // The orders, reports and documents the HL7 v2 history holds are committed now: it
      // forgets them and finds them in the lake as it now stands (memory follows the
      // checkpoint).
      if (history.bytes() > 0) {
        MEDLAKE_ASSIGN_OR_RETURN(committed, Lake::Open(lake_dir));
        history.ForgetSettled();
      }
    }
  }
  IngestReport report;
  report.run_id = writer->run_id();
  report.checkpoints = checkpoints;
  MEDLAKE_RETURN_IF_ERROR(writer->Flush());
  report.counters = counters_now();
  MEDLAKE_RETURN_IF_ERROR(writer->Commit(report.counters, true));
  if (const Status& w = writer->index_warning(); !w.ok()) {
    report.warning = "the run is committed, but the identity index could not be updated (" +
                     w.ToString() + "); the next ingest rebuilds it from the segments";
  }
  for (auto& w : workers) {
    report.unresolved_references += w->unresolved();
  }
  report.unresolved_references += update_worker.unresolved();
  report.untimed_deletions = shared.untimed_deletions.load();
  for (auto& [path, reason] : inputs.skipped) report.skipped.push_back({path, reason});
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  progress.Stop();  // the last call is this one
  if (options.progress) options.progress(report.counters.records_read, total_bytes, total_bytes);
  return report;
}

}  // namespace medlake::ingest
