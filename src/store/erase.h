// Erasure of one patient from the segments and the catalog (GDPR art. 17).
//
// Under the lake's writer lock: every segment of the patient's shard that holds one of the
// patient's rows is rewritten without them (rows already replaced are dropped as well), and
// shared-area rows that name the patient's id have it replaced by "erased". The new segments
// are written and fsynced first; one catalog transaction then swaps the segment rows, adjusts
// the type counts, renames the patient's row to "erased:<ordinal>" and deletes its identifier
// links; the replaced files are removed afterwards (a crash leaves them to the next writer,
// which deletes unlisted files, docs/format.md). Finally the catalog is checkpointed and
// vacuumed with secure_delete, so no page keeps the patient's id.
//
// The privacy layer erases the vault and writes the audit entry (cli `medlake erase`).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "medlake/status.h"

namespace medlake::store {

struct ErasedResource {
  std::string type;
  std::string id;
};

// An erasure that a crash cut short after its catalog commit left the old segments (no
// commit names them), derived indexes of the state before it, and freed catalog pages, all of
// which may hold the patient's data; the patient is no longer in the catalog. This removes
// them (under the writer lock). ErasePatient does it first, and the erase command when it
// finds no such patient: running the same erase again finishes it.
Status FinishInterruptedErasure(const std::string& lake_dir);

// Runs under the writer lock once the erasure's new segments are written, before the catalog
// commits them, with every row that held the patient: their resources in every version
// (superseded ones included, also a version since given to another patient) and shared-area
// rows naming them. The identity vault's erasure: the keys of its records come from them; no
// other writer, rekey included, runs meanwhile; nothing is erased when the lake is being
// written; and a crash after it leaves data without identity, which the next erase finishes.
// `commits`: the catalog's count of ingest commits (meta.commits), with which the vault first
// drops what a crashed ingest wrote for a commit that did not happen (privacy::Vault::Recover).
using BeforeCommit =
    std::function<Status(const std::vector<ErasedResource>& held, uint64_t commits)>;

// Erases the patient stored as `patient_id`, superseded versions of their resources included;
// returns the resources removed. kNotFound when the lake has
// no such patient; kBusy when another process writes the lake. Once the catalog has
// committed the erasure it has happened: a later step that fails (syncing folders, compacting
// the catalog, whose deleted rows secure_delete has already zeroed) is told in `warning`, not
// as an error, and running the erase again finishes it.
Result<std::vector<ErasedResource>> ErasePatient(const std::string& lake_dir,
                                                 const std::string& patient_id,
                                                 const BeforeCommit& before_commit = {},
                                                 std::string* warning = nullptr);

}  // namespace medlake::store
