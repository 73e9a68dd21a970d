// Deidentifier: pseudonymization at ingest for lakes initialised with a key (`medlake init`).
//
// Every resource on its way to a segment is rewritten (docs/privacy.md, "Pseudonymization at
// ingest"):
//   * a Patient gets a keyed pseudonym as id: the pseudonym already linked to one of its
//     identifiers or to its source id when there is one (the first sighting decides), else
//     HMAC of its preferred identifier (type MR, then NI, then the first), else of its source
//     id. Only coded, non-identifying elements stay (gender, birth year, deceased, marital
//     status, language, race/ethnicity/birth-sex extensions, managing organization); the whole
//     original Patient goes to the identity vault.
//   * the id of every resource in the Patient compartment becomes a keyed hash of (type, id),
//     and every reference to such a resource (Patient included) is rewritten the same way, so
//     ids that embed a source patient id or a visit number leave nothing behind.
//   * free text and identifiers (narrative `text`, `note`, business `identifier`, attachment
//     `data` and `url`, `display` of references to a Patient, name/telecom/address/photo of
//     compartment resources) are removed; what was removed goes to the vault, under the
//     resource's patient.
// Shared-area resources (Organization, Practitioner, ...) are kept as they are, apart from
// rewritten references. Lakes without a key are not touched by this class at all.
//
// Links (keyed hashes of source ids and identifiers -> pseudonym) are kept in the catalog's
// `identifiers` table under the type "Patient" and a reserved system, never in plain text.
//
// Thread safety: Apply, Queue and ResolvePatientIdentifier may be called from many threads;
// FlushVault must not run concurrently with Queue (the writer calls it before each commit).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fhir/resource_facts.h"
#include "json/json.h"
#include "medlake/status.h"
#include "privacy/identifier_systems.h"
#include "privacy/key_store.h"
#include "privacy/pseudonymizer.h"
#include "privacy/vault.h"
#include "store/lake_writer.h"

namespace medlake::ingest {

using privacy::kIdentifierSystemsFile;  // identifier system aliases (privacy/identifier_systems.h)

// What de-identification removed from one resource, for the vault.
struct VaultRecord {
  std::string key;     // the pseudonym (Patient) or "<pseudonym>/<Type>/<id>"
  std::string lookup;  // the vault's key of `key` (privacy::Vault::Lookup), set when queued
  std::string json;    // the original Patient, or an object of the removed elements
  // A resource outside the patient compartment (a Task, a Device) that references one patient
  // only: that patient's pseudonym. The resource is theirs: stored, shown, shifted and erased
  // with their data.
  std::string patient;
  // The row this record belongs to (set when it is queued): a version that a later one of
  // the same run replaces before the commit leaves no record.
  store::Key128 row_key{};
  uint64_t row_seq = 0;
  // Where the record is in the input: of the records of one version the vault keeps the first
  // (FlushVault), whichever thread queued it first.
  store::RecordOrder order;
};

// The pseudonym links one chunk of a batch ingest needs, made while the chunk is prepared in
// parallel with others and published in input order by a serial stage (Deidentifier::Publish),
// so that the links, and every pseudonym they decide, are those of reading the input in order
// whatever the threads did (docs/privacy.md, "Pseudonymization at ingest"). Optimistic: a
// chunk that looked for a link that a chunk before it published meanwhile is prepared again.
struct PendingLinks {
  // Links looked up and made in the lake at once, not apart: for the serial stage itself,
  // where the lake's links are those of the input before it.
  bool at_once = false;
  // link -> pseudonym, made by this chunk; `made_order` lists them in the order made.
  std::unordered_map<std::string, std::string> made;
  std::vector<std::string> made_order;
  // Links looked up in the lake and not found (with those the chunk then made).
  std::vector<std::string> missed;
  // Lookups answered by the chunk's own links or missed, and links made: while it is 0, what
  // the chunk has read depends on published links only.
  uint64_t touches = 0;

  void Make(const std::string& link, const std::string& pseudonym) {
    ++touches;
    if (made.emplace(link, pseudonym).second) made_order.push_back(link);
  }
  void Clear() {
    made.clear();
    made_order.clear();
    missed.clear();
    touches = 0;
  }
  bool apart() const { return !at_once; }
};

class Deidentifier {
 public:
  // The de-identifier of the lake at `lake_dir`, or nullptr when the lake has no key (it was
  // not `init`-ed): such lakes store resources as given. A lake with keys whose key is
  // missing or wrong gives KeyStore::Open's error. Installs FlushVault as the writer's
  // pre-commit step, so that identities are durable before the segments naming their
  // pseudonyms become visible.
  static Result<std::unique_ptr<Deidentifier>> ForLake(const std::string& lake_dir,
                                                       store::LakeWriter& writer);
  ~Deidentifier();

  // Rewrites `resource` (references already resolved to Type/id) into `out`, minified; what it
  // removed goes to `removed` (key empty when nothing was removed). A resource outside the
  // patient compartment that references patients is de-identified as theirs (its content may
  // name them: a Task's description, an Appointment's comment): about one patient, it is
  // given to them (`removed.patient`); about several, it stays shared and its removed
  // elements go to the vault under the first one's pseudonym. `resource` must come from a
  // parser that keeps number text, so decimals are written as they were. With `pending`, the
  // links it needs are looked up in and made into `pending` (then published by Publish), not
  // made in the lake. With `resolver`, `resource` is read as that resolver resolves its
  // references (a Bundle's entry as parsed with the Bundle, its urn:uuid references not yet
  // resolved), what is stored and what goes to the vault alike.
  Status Apply(json::Node resource, std::string& out, VaultRecord& removed,
               PendingLinks* pending = nullptr, const fhir::ReferenceResolver* resolver = nullptr);
  // Publishes the links a chunk made (in input order, from one thread): false, publishing
  // nothing, when a link the chunk looked for and did not find has been made since (by a
  // chunk before it) otherwise than the chunk made it: the chunk must then be prepared again.
  // (One made the same way changes nothing the chunk did: two chunks that reference a patient
  // not yet seen both link its source id to the same pseudonym.)
  bool Publish(const PendingLinks& pending);
  // Queues a vault record (for a resource that was admitted) until the next FlushVault.
  void Queue(VaultRecord record);
  // Writes the queued records to the vault for catalog commit `commit`, in one durable
  // transaction (LakeWriter::SetCommitSteps; privacy::Vault::Stage).
  Status FlushVault(uint64_t commit);
  // After catalog commit `commit`: the vault reads its records as made.
  void VaultCommitted(uint64_t commit, bool final);
  // The pseudonym linked to a Patient identifier (conditional references), "" when unknown:
  // as the links stood when the batch began, or with `pending` as they stand at this point of
  // the input (Apply).
  std::string ResolvePatientIdentifier(std::string_view system, std::string_view value,
                                       PendingLinks* pending = nullptr);
  // The stored id of the resource `type`/`id` as given in the source: for use by `get` and
  // `erase` with source ids. For a Patient, the linked pseudonym or "" when unknown.
  std::string StoredId(std::string_view type, std::string_view id);

  // Links the pseudonym of `patient` (as given: source id and identifiers) the way Apply does
  // and returns it ("" when the Patient has no id).
  std::string LinkPatient(json::Node patient);

  // The original (as given, before de-identification) of the Patient stored as `pseudonym`,
  // as the vault holds it: the version an HL7 v2 update is merged with. nullopt when the
  // vault has no record for it or its record is not a Patient (erased, or none yet).
  Result<std::optional<std::string>> PatientOriginal(std::string_view pseudonym);

  // Rewrites "Type/id[/_history/v]" into `out` (replaced; `reference` must not view it) as the
  // stored id when Type's ids are pseudonymized (Patient and the types of its compartment);
  // other references are copied unchanged. The rewrite of a resource reuses one `out` for all
  // its references.
  void RewriteReference(std::string_view reference, PendingLinks* pending, std::string& out);

  const privacy::Pseudonymizer& pseudonymizer() const { return pseudonymizer_; }

 private:
  Deidentifier(privacy::KeyStore keys, store::LakeWriter& writer);
  std::string CanonicalSystem(std::string_view system) const;
  std::string SourceLink(std::string_view id) const;
  std::string IdentifierLink(std::string_view system, std::string_view value) const;
  // The pseudonym of the Patient with source id `id` (links it when unknown).
  std::string PatientPseudonym(std::string_view id, PendingLinks* pending);
  // The pseudonym of a Patient source id that no link names yet: the keyed hash of the id, or
  // the id itself when it is one of the lake's patients' pseudonyms.
  std::string UnlinkedPatientPseudonym(std::string_view id);
  // The pseudonym `link` leads to ("" when none): made by `pending`, else in the lake (a miss
  // is noted in `pending`).
  std::string FindLink(const std::string& link, PendingLinks* pending);
  // As LakeWriter::LinkPseudonym: the pseudonym of the first of `links` known, else `proposed`;
  // the unknown ones are linked to it, in `pending` when not null.
  std::string Link(const std::vector<std::string>& links, const std::string& proposed,
                   PendingLinks* pending);
  // The pseudonym of the source id `id` of a non-Patient `type` whose ids are pseudonymized.
  // The reference is to a per-thread table, valid until the thread's next call.
  const std::string& SourcePseudonym(std::string_view type, std::string_view id);
  // Whether `id` is a pseudonym this lake stores a `type` under: read back (the lake's own
  // export ingested again), it names that resource and is not pseudonymized a second time, as
  // a Patient's pseudonym is linked to itself. A source id is taken for one only when it has
  // a pseudonym's form (32 base32 letters) and the lake holds a resource of the type under it.
  bool IsStoredPseudonym(std::string_view type, std::string_view id) const;
  std::string PseudonymForPatient(json::Node patient, std::string_view id, PendingLinks* pending);
  Status ApplyPatient(json::Node patient, std::string& out, VaultRecord& removed,
                      PendingLinks* pending, const fhir::ReferenceResolver* resolver);

  privacy::KeyStore keys_;
  privacy::Pseudonymizer pseudonymizer_;
  store::LakeWriter& writer_;
  privacy::IdentifierSystems systems_;
  std::mutex queue_mu_;
  std::vector<VaultRecord> queue_;
  std::unique_ptr<privacy::Vault> vault_;
  uint64_t generation_ = 0;  // distinguishes instances in per-thread caches
};

}  // namespace medlake::ingest
