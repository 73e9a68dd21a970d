#include "query/patient_export.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "common/file_util.h"
#include "common/string_util.h"
#include "medlake/lake.h"
#include "privacy/access.h"
#include "privacy/audit_log.h"
#include "privacy/identifier_systems.h"
#include "privacy/key_store.h"
#include "privacy/pseudonymizer.h"
#include "privacy/removed_elements.h"
#include "privacy/vault.h"
#include "query/access_context.h"
#include "store/catalog.h"
#include "store/erase.h"
#include "store/sqlite.h"

namespace medlake::query {
namespace {

constexpr std::string_view kRemovedElement =
    "https://medlake.dev/fhir/StructureDefinition/removed-element";

// An array item left as masked (privacy::kMaskedElement; an extension keeps its url) is itself
// again once something is put back in it. (A source's own masked extension there goes too.)
void Unmask(nlohmann::json& item) {
  static const nlohmann::json kMasked = nlohmann::json::parse(privacy::kMaskedElement);
  if (!item.is_object()) return;
  if (auto ext = item.find("extension"); ext != item.end() && *ext == kMasked["extension"]) {
    item.erase(ext);
  }
}

// Puts an element de-identification removed back where it was: `path` is its place in the
// resource ("name", "contained[0].name", "component[1].note"; records written before paths
// were kept name top-level elements only). A birth date replaces the year left in its place;
// anything else is put back only where nothing stands. An object on the way that is missing
// (one de-identification emptied and dropped: a reference by identifier alone) is made again.
// False when the place is not there.
bool PutBack(nlohmann::json& resource, std::string_view path, const nlohmann::json& value) {
  if (path.find_first_of(".[") == std::string_view::npos) {
    // A name alone is a top-level element only if de-identification removes it there: a
    // record written before paths were kept names a reference's "display" so, whatever its
    // depth (put at the top, it made the resource invalid).
    if (!privacy::RemovedAtTopLevel(path)) return false;
  }
  nlohmann::json* at = &resource;
  size_t i = 0;
  while (true) {
    size_t end = path.find_first_of(".[", i);
    std::string key(path.substr(i, end - i));
    if (key.empty() || !at->is_object()) return false;
    if (end == std::string_view::npos) {  // the element itself
      if (at->contains(key) && key != "birthDate") return false;
      Unmask(*at);
      (*at)[key] = value;
      return true;
    }
    auto it = at->find(key);
    if (it == at->end()) {
      if (path[end] != '.') return false;  // an array is never dropped
      it = at->emplace(key, nlohmann::json::object()).first;
    }
    at = &*it;
    i = end;
    while (i < path.size() && path[i] == '[') {
      size_t close = path.find(']', i);
      if (close == std::string_view::npos || !at->is_array()) return false;
      size_t index =
          std::strtoul(std::string(path.substr(i + 1, close - i - 1)).c_str(), nullptr, 10);
      if (index >= at->size()) return false;
      at = &(*at)[index];
      Unmask(*at);  // an item emptied whole, what was removed inside it put back
      i = close + 1;
    }
    if (i < path.size() && path[i] == '.') ++i;
  }
}

// The stored pseudonym of each of `patients`, named by that pseudonym, the source Patient id or
// an identifier they present (SYSTEM|VALUE), in order; nullopt for one the lake does not know.
// One read of the catalog for them all (erase asks it of every line of the opt-out list).
Result<std::vector<std::optional<std::string>>> StoredPatientIds(
    const std::string& lake_dir, const privacy::KeyStore& keys,
    std::span<const std::string> patients) {
  MEDLAKE_ASSIGN_OR_RETURN(auto db, store::Db::Open(lake_dir + "/catalog.sqlite", false, true));
  MEDLAKE_ASSIGN_OR_RETURN(store::Stmt known,
                           db->Prepare("SELECT ordinal FROM patients WHERE patient_id = ?"));
  MEDLAKE_ASSIGN_OR_RETURN(store::PseudonymLinks links, store::PseudonymLinks::Prepare(*db));
  const privacy::Pseudonymizer pseudonymizer(keys);
  std::optional<privacy::IdentifierSystems> systems;  // read at the first SYSTEM|VALUE
  std::vector<std::optional<std::string>> stored;
  for (const std::string& patient : patients) {
    known.Bind(1, std::string_view(patient));
    MEDLAKE_ASSIGN_OR_RETURN(bool row, known.Step());
    known.Reset();
    if (row) {
      stored.emplace_back(patient);
      continue;
    }
    MEDLAKE_ASSIGN_OR_RETURN(std::optional<std::string> linked,
                             links.Find(pseudonymizer.SourceLink(patient)));
    if (!linked && patient.find('|') != std::string::npos) {
      // "system|value": an identifier the patient presents (an MRN, a national id), linked at
      // ingest under the system's canonical name; a patient known from HL7 v2 alone has no
      // source id the requester could know.
      if (!systems) {
        MEDLAKE_ASSIGN_OR_RETURN(systems, privacy::IdentifierSystems::ForLake(lake_dir));
      }
      const size_t bar = patient.find('|');
      MEDLAKE_ASSIGN_OR_RETURN(
          linked, links.Find(pseudonymizer.IdentifierLink(
                      systems->Canonical(patient.substr(0, bar)), patient.substr(bar + 1))));
    }
    stored.push_back(std::move(linked));
  }
  return stored;
}

Result<std::string> StoredPatientId(const std::string& lake_dir, const privacy::KeyStore& keys,
                                    const std::string& patient) {
  MEDLAKE_ASSIGN_OR_RETURN(auto stored, StoredPatientIds(lake_dir, keys, {&patient, 1}));
  if (!stored[0]) return NotFound("no such patient in the lake");
  return *std::move(stored[0]);
}

}  // namespace

Result<std::string> FindStoredPatient(const std::string& lake_dir, const std::string& patient) {
  MEDLAKE_ASSIGN_OR_RETURN(privacy::KeyStore keys, privacy::KeyStore::Open(lake_dir));
  return StoredPatientId(lake_dir, keys, patient);
}

Result<size_t> ErasePatientData(const std::string& lake_dir, const std::string& patient,
                                const std::string& token, const std::string& purpose,
                                std::string* warning) {
  if (!privacy::KeyStore::IsInitialised(lake_dir)) {
    return Unsupported("erase needs a lake with a key (medlake init)");
  }
  MEDLAKE_ASSIGN_OR_RETURN(privacy::KeyStore keys, privacy::KeyStore::Open(lake_dir));
  MEDLAKE_ASSIGN_OR_RETURN(privacy::Principal who, privacy::ResolvePrincipal(keys, token));
  MEDLAKE_RETURN_IF_ERROR(privacy::Require(keys, who, privacy::Permission::kErase, "erase"));
  Result<std::string> stored = StoredPatientId(lake_dir, keys, patient);
  if (!stored.ok() && stored.status().code() == ErrorCode::kNotFound) {
    // Perhaps erased already by a run that a crash or a failed last step cut short: finish
    // that one, and say so.
    MEDLAKE_RETURN_IF_ERROR(store::FinishInterruptedErasure(lake_dir));
    return NotFound(
        "no such patient in the lake (if an earlier erase of it stopped after its commit, its "
        "last steps are now done)");
  }
  MEDLAKE_ASSIGN_OR_RETURN(std::string pseudonym, std::move(stored));
  // Records a stream accepted but did not store yet (a listen or watch stopped without its
  // last checkpoint) would bring the patient back when they are replayed.
  std::error_code ec;
  const std::string inbox = lake_dir + "/inbox/stream.log";
  if (std::filesystem::exists(inbox, ec) && std::filesystem::file_size(inbox, ec) > 0) {
    return InvalidArgument(
        "the stream inbox holds records not stored yet (a listen or watch stopped without its "
        "last checkpoint): start and stop listen once to store them, then erase");
  }
  // The vault under the writer lock, with the rest: no other writer (a rekey copying the
  // vault) runs meanwhile, and nothing is erased when the lake is being written.
  auto erase_identity = [&](const std::vector<store::ErasedResource>& held,
                            uint64_t commits) -> Status {
    // A rekey that a crash cut short before its journal left copies under the new key.
    for (const char* rel : {"vault.sqlite.new", "principals.sqlite.new", "audit.sqlite.new",
                            "keys/data.keys.new", "keys/lake.key.new", "keys/key.check.new"}) {
      if (!std::filesystem::exists(lake_dir + "/keys/rekey.pending", ec)) {  // rekey.cc
        std::filesystem::remove(lake_dir + "/" + rel, ec);
      }
    }
    // The identity, and what de-identification removed from each version of each resource
    // that held the patient (a version since given to another patient kept its record under
    // this patient's pseudonym; a shared resource about several, under the first one's).
    std::vector<std::string> vault_keys{pseudonym};
    for (const store::ErasedResource& r : held) {
      vault_keys.push_back(pseudonym + "/" + r.type + "/" + r.id);
    }
    std::sort(vault_keys.begin(), vault_keys.end());
    vault_keys.erase(std::unique(vault_keys.begin(), vault_keys.end()), vault_keys.end());
    MEDLAKE_ASSIGN_OR_RETURN(auto vault, privacy::Vault::Open(keys));
    // Records an ingest killed before its catalog commit wrote (of resources the lake does not
    // hold, which `held` cannot name) go first, as the next ingest would drop them.
    MEDLAKE_RETURN_IF_ERROR(vault->Recover(commits));
    return vault->EraseAll(vault_keys).status();
  };
  // The attempt first: a crash or a full disk after the erasure's commit leaves the log
  // saying that it began, with its purpose.
  MEDLAKE_ASSIGN_OR_RETURN(auto audit, privacy::AuditLog::Open(keys));
  auto log = [&](std::string action) {
    privacy::AuditEntry e;
    e.principal = who.name;
    e.role = std::string(privacy::RoleName(who.role));
    e.action = std::move(action);
    e.object = "patient";
    e.purpose = purpose;
    e.patients = 1;
    return audit->Append(std::move(e)).status();
  };
  // The opt-out list's lines that name the patient (by pseudonym or source id), read while
  // the links that tell a source id still exist, and dropped once the erasure is committed:
  // the list is in the lake, and erased, the patient has nothing left to opt out of.
  const std::string optout_path = lake_dir + "/" + std::string(kConsentOptOutFile);
  std::vector<std::string> optout_lines, optout_names;
  if (std::ifstream list(optout_path); list) {
    for (std::string line; std::getline(list, line);) {
      optout_names.emplace_back(OptOutListEntry(line));
      optout_lines.push_back(std::move(line));
    }
  }
  std::vector<size_t> optout_naming;  // indexes into optout_lines
  if (!optout_names.empty()) {
    MEDLAKE_ASSIGN_OR_RETURN(auto named, StoredPatientIds(lake_dir, keys, optout_names));
    for (size_t i = 0; i < named.size(); ++i) {
      if (!optout_names[i].empty() && named[i] == pseudonym) optout_naming.push_back(i);
    }
  }
  MEDLAKE_RETURN_IF_ERROR(log("erase.start"));
  auto erased = store::ErasePatient(lake_dir, pseudonym, erase_identity, warning);
  if (!erased.ok()) {
    (void)log("erase.failed");
    return erased.status();
  }
  if (!optout_naming.empty()) {
    std::string kept;
    for (size_t i = 0, next = 0; i < optout_lines.size(); ++i) {
      if (next < optout_naming.size() && optout_naming[next] == i) {
        ++next;
        continue;
      }
      kept += optout_lines[i];
      kept += '\n';
    }
    if (Status s = WriteFileAtomic(optout_path, kept); !s.ok() && warning != nullptr) {
      std::string lines;
      for (size_t i : optout_naming) lines += (lines.empty() ? "" : ", ") + std::to_string(i + 1);
      *warning += std::string(warning->empty() ? "" : "; ") + "the erasure is committed, but " +
                  std::string(kConsentOptOutFile) + " still names the patient (line " + lines +
                  ": " + s.ToString() + "): remove it by hand";
    }
  }
  MEDLAKE_RETURN_IF_ERROR(log("erase"));
  return erased->size();
}

Result<PatientExport> ExportPatient(const PatientExportRequest& request) {
  if (!privacy::KeyStore::IsInitialised(request.lake_dir)) {
    return Unsupported(
        "export-patient needs a lake with a key (medlake init): this lake keeps "
        "no identities");
  }
  MEDLAKE_ASSIGN_OR_RETURN(privacy::KeyStore keys, privacy::KeyStore::Open(request.lake_dir));
  MEDLAKE_ASSIGN_OR_RETURN(privacy::Principal who, privacy::ResolvePrincipal(keys, request.token));
  MEDLAKE_RETURN_IF_ERROR(
      privacy::Require(keys, who, privacy::Permission::kExportPatient, "export-patient"));
  MEDLAKE_ASSIGN_OR_RETURN(std::string pseudonym,
                           StoredPatientId(request.lake_dir, keys, request.patient));
  MEDLAKE_ASSIGN_OR_RETURN(auto lake, Lake::Open(request.lake_dir));
  MEDLAKE_ASSIGN_OR_RETURN(auto vault, privacy::Vault::Open(keys));
  vault->SetCommitted(lake->commits());  // the identities of what this snapshot holds
  MEDLAKE_ASSIGN_OR_RETURN(auto audit, privacy::AuditLog::Open(keys));
  MEDLAKE_ASSIGN_OR_RETURN(std::string identity,
                           privacy::Reidentify(who, *vault, *audit, pseudonym, request.purpose));
  auto patient = nlohmann::json::parse(identity, nullptr, false);
  if (!patient.is_object()) return Corruption("identity vault: a record is not a resource");
  std::string original_id = patient.value("id", pseudonym);

  MEDLAKE_ASSIGN_OR_RETURN(std::optional<uint32_t> found, lake->PatientOrdinal(pseudonym));
  if (!found) return NotFound("no such patient in the lake");
  const uint32_t ordinal = *found;

  nlohmann::json bundle = {{"resourceType", "Bundle"}, {"type", "collection"}};
  bundle["entry"] = nlohmann::json::array();
  bundle["entry"].push_back({{"resource", patient}});
  std::vector<std::string> damaged;
  Status failure;
  MEDLAKE_RETURN_IF_ERROR(lake->Scan(
      "",
      [&](const ResourceView& r) {
        if (r.patient != ordinal || r.type == "Patient" || !failure.ok()) return;
        std::string text(r.json);
        ReplaceAll(text, "\"Patient/" + pseudonym + "\"", "\"Patient/" + original_id + "\"");
        auto resource = nlohmann::json::parse(text, nullptr, false);
        auto removed = vault->Get(pseudonym + "/" + std::string(r.type) + "/" + std::string(r.id));
        if (!removed.ok() && removed.status().code() != ErrorCode::kNotFound) {
          failure = removed.status();
          return;
        }
        if (removed.ok()) {
          auto items = nlohmann::json::parse(*removed, nullptr, false);
          for (const auto& item : items.is_array() ? items : nlohmann::json::array()) {
            for (const auto& [key, value] : item.items()) {
              if (!PutBack(resource, key, value)) {
                resource["extension"].push_back(
                    {{"url", kRemovedElement},
                     {"extension",
                      {{{"url", "element"}, {"valueString", key}},
                       {{"url", "value"}, {"valueString", value.dump()}}}}});
              }
            }
          }
        }
        bundle["entry"].push_back({{"resource", std::move(resource)}});
      },
      &damaged));
  MEDLAKE_RETURN_IF_ERROR(failure);
  if (!damaged.empty()) return Corruption("a segment is damaged: " + damaged[0]);
  PatientExport out;
  out.resources = bundle["entry"].size();
  privacy::AuditEntry e;
  e.principal = who.name;
  e.role = std::string(privacy::RoleName(who.role));
  e.action = "export-patient";
  e.object = audit->PatientRef(pseudonym);
  e.purpose = request.purpose;
  e.patients = 1;
  MEDLAKE_RETURN_IF_ERROR(audit->Append(std::move(e)).status());
  out.bundle_json = bundle.dump();
  return out;
}

}  // namespace medlake::query
