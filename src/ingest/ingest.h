// Ingestor: reads input files in parallel and stores their records in a lake.
//
// Inputs are files or directories (recursive). Known formats: FHIR R4 NDJSON (.ndjson, .jsonl,
// .ndjson.gz), JSON (.json: a Bundle or one resource). Other files in a directory are listed
// as skipped. Every record read ends as exactly one of stored, duplicate (same content, or an
// older version of something stored), quarantined or deleted (a Bundle entry with a DELETE
// request, docs/format.md "Deletions"): records_read == stored + duplicates + quarantined +
// deleted.
//
// Memory is bounded: a pipeline with at most 2 chunks in flight per thread, per-shard buffers
// of a fixed size, and the identities, patients and identifiers met since the last checkpoint
// (store::LakeWriter); the identity of the lake's resources stays on disk (store/identity_index.h)
// but for a Bloom filter and sparse key index of about 1.4 bytes per resource.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "medlake/status.h"
#include "store/lake_writer.h"

namespace medlake::ingest {

struct IngestOptions {
  int jobs = 0;                            // worker threads; 0 = all cores
  uint64_t checkpoint_bytes = 256u << 20;  // commit after about this much input
  // ... or once the records read since the last commit carry this many identifiers of
  // Patients and shared resources, or, in a lake with a key, pseudonym links (held in memory
  // for conditional references until the commit, 200-270 bytes each). Such a checkpoint comes
  // 15 chunks after the one that reached the count, at the same place whatever the threads.
  uint64_t checkpoint_identifiers = store::LakeWriter::kIdentifiersPerCommit;
  // NDJSON is read in pieces of about this size. A checkpoint comes 15 chunks after the one
  // that reached its budget (ingest.cc), so they are small: with 4 MiB (until 2026-11-30) a
  // file of Patients peaked at 2.8 times the memory; bulk NDJSON ingests as fast.
  size_t chunk_bytes = 512u << 10;
  // A batch ends once the last 15 chunks read hold this many bytes of JSON documents and HL7 v2
  // files (each one chunk), so that a checkpoint their content brings is not held back long.
  uint64_t whole_files_in_delay = 32u << 20;
  // In a lake with a key, a JSON document larger than this is read by the pipeline's serial
  // stage, which stores as it reads, rather than prepared and held (docs/architecture.md).
  uint64_t in_order_document_bytes = 16u << 20;
  // A Bundle file larger than this is read an entry at a time, never held whole (parsed whole,
  // a Bundle takes about four times its size in memory): FhirReader::ReadJsonStreamed.
  uint64_t streamed_document_bytes = 16u << 20;
  // Called about twice a second from a thread of its own (never concurrently), and once at the
  // end: records read, bytes of the input read (a large Bundle's as its entries are stored),
  // bytes of the input in all.
  std::function<void(uint64_t records, uint64_t bytes_done, uint64_t bytes_total)> progress;
  // Whether the caller found the lake with a key (and decided access and auditing by it): the
  // run is refused when the lake, under its writer lock, says otherwise (a `medlake init` that
  // ran in between made a keyed ingest without an audit trail). Unset: not checked.
  std::optional<bool> expect_key;
};

struct SkippedFile {
  std::string path;
  std::string reason;
};

struct IngestReport {
  int64_t run_id = 0;
  store::RunCounters counters;
  uint64_t unresolved_references = 0;
  // DELETE requests without a time (no response.lastModified, Bundle meta.lastUpdated or
  // timestamp): each is older than any version with meta.lastUpdated (docs/format.md,
  // "Deletions"), worth telling the user.
  uint64_t untimed_deletions = 0;
  uint64_t checkpoints = 0;  // commits before the last
  std::vector<SkippedFile> skipped;
  double seconds = 0;
  // Set when the run committed but the identity index could not be updated (the next writer
  // rebuilds it): worth telling the user, not a failure.
  std::string warning;
};

Result<IngestReport> Ingest(const std::string& lake_dir, const std::vector<std::string>& paths,
                            const IngestOptions& options);

}  // namespace medlake::ingest
