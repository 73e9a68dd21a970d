// The cohort index cached on disk, so that a cohort over a large lake is answered without
// re-reading the lake: `<lake>/index/cohort.idx`, stamped with the lake's state hash and the
// size and modification time of its segment files (a segment damaged after the cache was
// built rebuilds it, which reports the damage), and checksummed. It is a derived file: a stale, damaged or missing one is rebuilt, never trusted.
//
// Layout (native little-endian): "MLCOHIX1", u32 version, u64 stamp (above), the string
// tables (codes, types, units, statuses), per-patient facts, the patients bitmap (CRoaring
// portable serialization), the entries (code, type, bitmap, offsets, events), and an XXH64 of
// every preceding byte. In a lake with a key the file is encrypted like its segments
// (magic "MLCOHIXE", a salt, then that layout in sealed 1 MiB chunks; docs/format.md).
#pragma once

#include <memory>
#include <string>

#include "cohort/cohort_index.h"
#include "medlake/lake.h"
#include "medlake/status.h"

namespace medlake::cohort {

// Where a lake's cohort index is cached.
std::string IndexPath(const Lake& lake);

// Writes `index` for `lake` (temporary file, fsync, rename).
Status SaveIndex(const CohortIndex& index, const Lake& lake);

// Loads the cached index of `lake`. kNotFound when there is none or it was built for another
// state of the lake; kCorruption when the file is damaged.
Result<std::unique_ptr<CohortIndex>> LoadIndex(const Lake& lake);

struct IndexLoad {
  bool built = false;       // false: loaded from the cache
  std::string cache_error;  // why a built index could not be cached (e.g. a read-only lake)
};

// Loads the cached index, or builds it (and caches it, best effort) when it is missing, stale
// or damaged. A lake with damaged segments is never cached, so that every run reports them.
Result<std::unique_ptr<CohortIndex>> LoadOrBuildIndex(const Lake& lake, int threads,
                                                      std::vector<std::string>* damaged,
                                                      IndexLoad* info);

}  // namespace medlake::cohort
