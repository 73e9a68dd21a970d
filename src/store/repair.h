// Removal of damaged segments from a lake (`medlake verify --drop-damaged`).
//
// A damaged segment is reported and skipped by every read, but ingest cannot replace what it
// held: the identity index still names its rows, so the same source read again counts them as
// duplicates (docs/format.md). Dropping the segment makes the lake consistent without it, and
// ingesting the sources again then stores those resources anew.
//
// Under the lake's writer lock, each segment that fails CheckSegment is dropped in one catalog
// transaction: its row and its delete bitmap go, `type_counts` is counted again from the
// segments that stay, and when its columns still read, the identifier rows of the resources it
// held live go too (they would match references to resources no longer stored). Then its file
// is deleted (a copy elsewhere would escape a later erasure) and with it the derived identity
// index, which the next writer rebuilds. A crash before the commit changes nothing; after it,
// the next writer removes the file, which no commit names any more.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "medlake/status.h"

namespace medlake::store {

struct DroppedSegment {
  std::string file;     // relative to the lake directory
  std::string problem;  // the first thing wrong with it
  uint64_t rows = 0;    // the rows the catalog said it held, superseded ones included
  uint64_t live = 0;    // of which live, when its columns still read (else `rows`)
  bool columns_read = false;
};

// Drops every damaged segment of the lake at `lake_dir`; returns them (empty when none). The
// catalog's live count per type (`type_counts`) is then counted again from the segments that
// stay, also when none was dropped but the counts were wrong (`recounted` says so: verify
// reports such counts). The catalog itself must be sound (SQLite's quick_check), or nothing
// is done: kCorruption. kBusy when another process writes the lake.
Result<std::vector<DroppedSegment>> DropDamagedSegments(const std::string& lake_dir,
                                                        bool* recounted = nullptr);

}  // namespace medlake::store
