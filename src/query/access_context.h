// AccessContext: the role-based output policy that every command reading a lake applies (view,
// sql, load-postgres, fhirpath, get, export, score, and the cohort command), so that no output
// can show more than the caller's role may see (docs/privacy.md, "Roles: what each sees").
//
// Open resolves the caller (token, MEDLAKE_TOKEN, else the owner of the key file as admin) for
// a lake initialised with a key. A lake without a key has no principals and no audit log: the
// context is unrestricted and audits nothing (today's behaviour, documented).
//
//   admin, clinician  everything stored (pseudonymized data); re-identification elsewhere,
//                     audited
//   researcher        patient-level rows of research-consented patients only (FHIR Consent
//                     with provision.type deny for research, or listed in LAKE/consent_optout.txt),
//                     every full date shifted by the patient's keyed shift, birthDate replaced
//                     by the age in years; small counts suppressed in aggregate outputs
//   ops               aggregate outputs only (patient-level commands refused), small counts
//                     suppressed; aggregates of patients' data (sql, cohort: request.research)
//                     are computed as for a researcher, from consented patients, shifted
//                     dates and ages
//   auditor           the audit log only
//
// Usage by a command: Open, Require(the kind of output), pass the context to the runners
// (RunViewOverLake) or call Transform per resource, then Audit once with the number of
// patients in the output. Every refusal is audited by Require.
//
// Thread safety: after Open, the const methods (Transform, Admits) are safe from many threads;
// Require and Audit from one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/lake.h"
#include "medlake/status.h"

namespace medlake::query {

// What a command is about to output, or to do.
enum class OutputKind {
  kPatientLevel,  // rows or resources of individual patients (view, get, export, fhirpath, score)
  kAggregate,     // counts and statistics (sql, status)
  kAuditLog,      // the audit log
  kClinical,      // clinical decision output on identified care (score news2): admin, clinician
  kWrite,         // records stored into the lake (ingest, listen, watch): admin
};

struct AccessRequest {
  std::string token;    // --token; empty: MEDLAKE_TOKEN, else the local owner
  std::string purpose;  // --purpose, written to the audit log
  // The output is computed from patients' data (sql, cohort): every role under disclosure
  // control (ops too, not researchers only) then sees those data as a researcher does
  // (NeedsDisclosureControl): opted-out patients left out, dates shifted, ages for birth
  // dates. Researchers see them so in every output.
  bool research = false;
};

// The consent opt-out list of a lake: one patient per line, either a stored Patient id
// (pseudonym) or the source Patient id it was ingested with; '#' starts a comment.
inline constexpr std::string_view kConsentOptOutFile = "consent_optout.txt";
// The patient a line of that list names: the line without its trailing spaces (and CR); empty
// for a blank line or a comment.
std::string_view OptOutListEntry(std::string_view line);

class AccessContext {
 public:
  static Result<std::unique_ptr<AccessContext>> Open(const std::string& lake_dir,
                                                     const AccessRequest& request);
  ~AccessContext();

  // OK when the caller's role may produce `kind`; otherwise kPermissionDenied, audited with
  // `command`.
  Status Require(OutputKind kind, std::string_view command);
  // True when resources are rewritten for the caller (a researcher; ops in a research
  // output).
  bool restricted() const;
  // True when aggregate outputs must suppress small counts (researcher, ops).
  bool suppresses_small_counts() const;
  // Counts from 1 to this minus one are small (`medlake policy set small-count-threshold`,
  // default 10).
  int64_t small_count_threshold() const;
  // False when the patient (ordinal; kNoPatient for the shared area) may not appear: an
  // opted-out patient in any output that restricted() rewrites.
  bool Admits(uint32_t patient) const;
  // The resource as the caller may see it, in `out`; false when it must be left out.
  bool Transform(const ResourceView& resource, std::string& out) const;
  // Audit entry: action (e.g. "query", "export", "read"), object (a command name or
  // "sha256:" of a view), number of patients in the output (-1 when not counted).
  Status Audit(std::string_view action, std::string_view object, int64_t patients);
  // The caller, e.g. "alice (researcher)"; "unrestricted" for a lake without a key.
  std::string Describe() const;
  // The caller's role name, "" for a lake without a key.
  std::string role() const;

 private:
  struct Impl;
  AccessContext();
  std::unique_ptr<Impl> impl_;
};

// Shifts every full date (YYYY-MM-DD, with or without a time) in the JSON text of a resource
// by `days`; partial dates (YYYY, YYYY-MM) stay. Exposed for tests.
std::string ShiftDates(std::string_view json, int days);

}  // namespace medlake::query
