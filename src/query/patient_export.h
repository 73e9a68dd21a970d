// Right of access (GDPR art. 15): all of one patient's data, re-identified, as one FHIR Bundle.
//
// For admin and clinician only (Permission::kExportPatient), on a lake with a key. The Bundle
// (type collection) holds the original Patient from the identity vault, then every resource of
// the patient's compartment as stored, with what ingest removed put back from the vault: top-
// level elements (narrative, identifiers, notes, ...) in place, nested ones (attachment data,
// reference displays) in an extension `removed-element` (path and JSON value), since their
// exact position was not kept. References to the patient name its original id. Resource ids
// other than the Patient's stay the keyed ones (ingest does not keep source ids).
//
// The re-identification and the export are written to the audit log, with the purpose.
#pragma once

#include <string>

#include "medlake/status.h"

namespace medlake::query {

struct PatientExportRequest {
  std::string lake_dir;
  std::string patient;  // stored pseudonym, or the source Patient id it was ingested with
  std::string token;    // empty: MEDLAKE_TOKEN, else the owner of the key file
  std::string purpose;
};

struct PatientExport {
  std::string bundle_json;
  size_t resources = 0;  // entries, the Patient included
};

// The stored pseudonym of `patient` in a lake with a key: itself when the lake has such a
// Patient, else the pseudonym linked to it as a source Patient id. kNotFound otherwise.
Result<std::string> FindStoredPatient(const std::string& lake_dir, const std::string& patient);

// Erasure (GDPR art. 17), admin only: the patient's vault records (identity and removed
// elements), then its rows in segments, its catalog entries and links (store/erase.h). The
// audit log records that an erasure happened, with the purpose, not whom it concerned. Safe to
// run again after a crash: each step tolerates what an earlier run already removed. Returns
// the number of resources removed from segments. The attempt is audited before anything is
// erased (`erase.start`), the erasure once committed (`erase`); a step after the commit that
// failed is told in `warning`.
Result<size_t> ErasePatientData(const std::string& lake_dir, const std::string& patient,
                                const std::string& token, const std::string& purpose,
                                std::string* warning = nullptr);

// kPermissionDenied (audited) for other roles, kFailedPrecondition for a lake without a key,
// kNotFound for an unknown patient.
Result<PatientExport> ExportPatient(const PatientExportRequest& request);

}  // namespace medlake::query
