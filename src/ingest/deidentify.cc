#include "ingest/deidentify.h"

#include <tbb/parallel_for.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <sstream>
#include <tuple>

#include "common/string_util.h"
#include "fhir/r4_model.h"
#include "fhir/resource_facts.h"
#include "privacy/removed_elements.h"
#include "store/key_map.h"

namespace medlake::ingest {
namespace {

// Patient elements kept in segments; everything else goes to the vault only.
constexpr std::array<std::string_view, 11> kPatientKept = {"resourceType",
                                                           "id",
                                                           "meta",
                                                           "gender",
                                                           "deceasedBoolean",
                                                           "deceasedDateTime",
                                                           "maritalStatus",
                                                           "communication",
                                                           "active",
                                                           "managingOrganization",
                                                           "generalPractitioner"};

// Patient extensions kept: coded categories, no identifying text.
constexpr std::array<std::string_view, 3> kPatientExtensionsKept = {
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity",
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"};

using privacy::Contains;

// What a member's name tells the rewrite (DeidWriter::Object), looked up once per member in one
// table (MemberRoles) instead of a comparison with each list of names.
enum Role : uint32_t {
  // The members that tell whether an object is a Reference that may name a person
  // (DeidWriter::NamesPerson), and whether it is a resource.
  kReference = 1u << 0,
  kType = 1u << 1,
  kIdentifier = 1u << 2,
  kDisplay = 1u << 3,
  kCode = 1u << 4,
  kSystem = 1u << 5,
  kResourceType = 1u << 6,
  // The members that tell an Attachment.
  kContentType = 1u << 7,
  kTitle = 1u << 8,
  kData = 1u << 9,
  kUrl = 1u << 10,
  // Removed from a resource's (or a contained resource's) top level: privacy::kRemovedTopLevel.
  kRemovedTop = 1u << 11,
  // Removed from a Device's top level: privacy::kDeviceIdentifiers.
  kDeviceIdentifier = 1u << 12,
  // Removed at any depth: annotations (`note`), identifying data types as choice values
  // (privacy::kIdentifyingValues); free text when it is a string (privacy::kFreeText).
  kRemovedAnywhere = 1u << 13,
  kFreeText = 1u << 14,
  // Rewritten: a person's birth date keeps its year, a resource's id is pseudonymized;
  // contained resources lose their own identifying elements.
  kBirthDate = 1u << 15,
  kId = 1u << 16,
  kContained = 1u << 17,
  // A person's birth date's extensions (`_birthDate`: the birth time), removed whole.
  kBirthDateExtensions = 1u << 18,
  // SampledData's members beside its `data` (which is not an Attachment's then).
  kSampledData = 1u << 19,
  // A choice value that is a uri (an extension's valueUri): read as a reference when it is one
  // in all but its type ("Patient/<source id>").
  kUriValue = 1u << 20,
};

// Every name with a role, and its roles.
class MemberRoles {
 public:
  static const MemberRoles& Get() {
    static const MemberRoles roles;
    return roles;
  }
  uint32_t Of(std::string_view name) const {
    const int i = names_.IndexOf(name);
    return i < 0 ? 0 : roles_[static_cast<size_t>(i)];
  }

 private:
  using Table = std::vector<std::pair<std::string_view, uint32_t>>;
  MemberRoles() : MemberRoles(Entries()) {}
  explicit MemberRoles(const Table& table) : names_(DistinctNames(table)) {
    roles_.assign(names_.size(), 0);
    for (const auto& [name, role] : table) {
      roles_[static_cast<size_t>(names_.IndexOf(name))] |= role;
    }
  }
  // Each name with one of its roles (a name may come more than once).
  static Table Entries() {
    Table table = {{"reference", kReference},
                   {"type", kType},
                   {"identifier", kIdentifier},
                   {"display", kDisplay},
                   {"code", kCode},
                   {"system", kSystem},
                   {"resourceType", kResourceType},
                   {"contentType", kContentType},
                   {"title", kTitle},
                   {"data", kData},
                   {"url", kUrl},
                   {"note", kRemovedAnywhere},
                   {"birthDate", kBirthDate},
                   {"id", kId},
                   {"contained", kContained},
                   {"_birthDate", kBirthDateExtensions},
                   {"origin", kSampledData},
                   {"dimensions", kSampledData},
                   {"valueUri", kUriValue},
                   {"valueUrl", kUriValue},
                   {"valueCanonical", kUriValue}};
    for (std::string_view name : privacy::kRemovedTopLevel) table.emplace_back(name, kRemovedTop);
    for (std::string_view name : privacy::kDeviceIdentifiers) {
      table.emplace_back(name, kDeviceIdentifier);
    }
    for (std::string_view name : privacy::kIdentifyingValues) {
      table.emplace_back(name, kRemovedAnywhere);
    }
    for (std::string_view name : privacy::kIdentifyingElements) {
      table.emplace_back(name, kRemovedAnywhere);
    }
    for (std::string_view name : privacy::kFreeText) table.emplace_back(name, kFreeText);
    return table;
  }
  static std::vector<std::string_view> DistinctNames(const Table& table) {
    std::vector<std::string_view> names;
    for (const auto& entry : table) {
      if (std::find(names.begin(), names.end(), entry.first) == names.end()) {
        names.push_back(entry.first);
      }
    }
    return names;
  }
  json::FieldSet names_;
  std::vector<uint32_t> roles_;
};

// The values a thread computed last from keyed hashes (about a microsecond each), one per slot
// of a direct-mapped table (a slot costs a hash), for keys of one or two parts. A table belongs
// to one Deidentifier at a time (its generation): another one's first use empties it.
template <size_t kSlots>
struct RecentValues {
  struct Slot {
    uint64_t hash = 0;  // of `second`, compared before the strings (which may miss the cache)
    std::string first, second, value;
  };
  // The slot of (first, second); its value is empty when it held another key.
  Slot& SlotOf(uint64_t generation, std::string_view first, std::string_view second) {
    if (owner != generation) {
      owner = generation;
      slots.assign(kSlots, Slot{});
    }
    const uint64_t hash = XXH3_64bits(second.data(), second.size());
    Slot& slot = slots[hash % kSlots];
    if (slot.hash != hash || slot.second != second || slot.first != first) {
      slot.hash = hash;
      slot.first = first;
      slot.second = second;
      slot.value.clear();
    }
    return slot;
  }
  uint64_t owner = 0;
  std::vector<Slot> slots;
};

// Whether the ids of `type` (its index `type_index`) are pseudonymized: a Patient's and those
// of the types of its compartment.
bool PseudonymizedType(std::string_view type, int type_index) {
  return type == "Patient" || !fhir::PatientCompartmentPaths(type_index).empty();
}
bool PseudonymizedType(std::string_view type) {
  return PseudonymizedType(type, fhir::ResourceTypeIndex(type));
}

void AppendNumber(json::Node n, std::string& out) {
  std::string_view text = n.NumberText();
  if (!text.empty()) {
    out.append(text);
  } else {
    out += n.ToJson();
  }
}

// A reference this rewrite redacted: kRedacted, or fhir::kRedactedConditionalPatient, then a
// keyed hash.
constexpr std::string_view kRedacted = "urn:medlake:redacted:";
bool IsRedaction(std::string_view reference) {
  for (std::string_view prefix : {fhir::kRedactedConditionalPatient, kRedacted}) {
    if (reference.starts_with(prefix)) {
      return privacy::Pseudonymizer::LooksLikePseudonym(reference.substr(prefix.size()));
    }
  }
  return false;
}

}  // namespace

// Writes a JSON tree minified, with references rewritten and removed elements collected.
class DeidWriter {
 public:
  DeidWriter(Deidentifier& owner, std::string& out, std::string& removed, PendingLinks* pending)
      : owner_(owner), out_(out), removed_(removed), pending_(pending) {}
  DeidWriter(const DeidWriter&) = delete;
  DeidWriter& operator=(const DeidWriter&) = delete;
  ~DeidWriter() { GiveBack(std::move(buffers_)); }

  // References rewritten, nothing removed: a shared-area resource about no patient.
  void set_keep_content() { keep_content_ = true; }
  // The resource's references are read as `resolver` resolves them (Deidentifier::Apply).
  void set_resolver(const fhir::ReferenceResolver* resolver) { resolver_ = resolver; }

  // Appends `value` as JSON, its references resolved.
  void AppendResolved(json::Node value, std::string& out) {
    if (resolver_ == nullptr || !HoldsReference(value)) {
      out += value.ToJson();
    } else {
      WriteResolved(value, out);
    }
  }

  void Value(json::Node n) {
    switch (n.kind()) {
      case json::Kind::kObject:
        Object(n, false);
        break;
      case json::Kind::kArray: {
        out_ += '[';
        int index = 0;
        for (json::Cursor c = n.Children(); c.Next();) {
          if (index > 0) out_ += ',';
          Item(c.value(), index++);
        }
        out_ += ']';
        break;
      }
      case json::Kind::kString:
        json::AppendQuoted(n.GetString(), out_);
        break;
      case json::Kind::kInt64:
      case json::Kind::kUint64:
      case json::Kind::kDouble:
        AppendNumber(n, out_);
        break;
      default:
        out_ += n.ToJson();
    }
  }

  // Writes `item`, the `index`th of an array. An item that de-identification emptied (a
  // performer named by display alone) stays, so that the items after it keep their places
  // (export-patient puts back by place), marked as masked: FHIR's JSON has no empty objects.
  // So is an extension that lost its value (its url alone breaks R4 ext-1).
  void Item(json::Node item, int index) {
    PathStep step(path_, {}, index);
    const size_t item_at = out_.size();
    Value(item);
    if (out_.size() == item_at + 2 && out_.compare(item_at, 2, "{}") == 0) {
      out_.resize(item_at);
      out_ += privacy::kMaskedElement;
    } else if (item.IsObject() && UrlAlone(item_at) && item.Size() > 1) {
      out_.pop_back();
      out_ += ',';
      out_.append(privacy::kMaskedElement.substr(1));
    }
  }

  // `top`: the resource itself, whose identifying top-level elements are removed and whose id
  // is pseudonymized. `contained`: a resource contained in it (a RelatedPerson, a Patient):
  // its identifying top-level elements are removed too, its local id ("#rp") is kept. A
  // person's exact birth date (RelatedPerson, Person, a contained Patient) keeps its year, as
  // a Patient's does.
  void Object(json::Node n, bool top, bool contained = false) {
    // The members, each with the roles of its name, read once: what the object is (a
    // Reference, an Attachment, a resource) depends on members that may come after the ones
    // it decides about. They stay in `members_` above those of the objects inside until this
    // one is written.
    const size_t base = members_.size();
    uint32_t present = 0;
    for (json::Cursor c = n.Children(); c.Next();) {
      Member& m = members_.emplace_back();
      m.key = c.key();
      m.value = c.value();
      m.roles = roles_.Of(m.key);
      present |= m.roles;
    }
    const size_t end = members_.size();
    // A resource inside another, not as a contained one (a Bundle's entry, a Parameters'
    // parameter, an extension's valueResource, at any depth, in contained ones too): its
    // identifying elements would stay (Deidentifier::Apply refuses the resource).
    const bool inner = !top && !contained;
    if (inner && (present & kResourceType) != 0 && !path_.empty()) holds_resource_ = true;
    bool names_a_person = false;  // surely, not only perhaps (NamesPerson)
    const bool patient_reference = inner && NamesPerson(base, end, present, &names_a_person);
    bool person = false;
    bool device = false;
    bool contained_patient = false;
    if (top || contained) {
      const json::Node* type = First(base, end, kResourceType);
      std::string_view t = type != nullptr && type->IsString() ? type->GetString() : type_;
      person = t == "Patient" || t == "RelatedPerson" || t == "Person";
      device = t == "Device";
      contained_patient = contained && t == "Patient";
    }
    // A resource of the shared area is about a person when it names one surely, or holds one.
    if (names_a_person || (contained && person)) about_person_ = true;
    // The roles that remove a member here (a string of free text is removed too).
    uint32_t removing = kRemovedAnywhere;
    if (top || contained) removing |= kRemovedTop;
    if (device) removing |= kDeviceIdentifier;
    if (patient_reference) removing |= kDisplay | kIdentifier;
    if (person) removing |= kBirthDateExtensions;
    // An Attachment's content and location (it has contentType, data, or a title next to url),
    // and a Signature's data: any `data` but SampledData's (its series of numbers).
    if ((present & kContentType) != 0) removing |= kData | kUrl;
    if ((present & (kData | kTitle)) != 0) removing |= kUrl;
    // (Only a string: Consent.provision.data is a list of what a rule controls.)
    const bool string_data = (present & kData) != 0 && (present & kSampledData) == 0;
    if (keep_content_) removing = 0;
    out_ += '{';
    bool first = true;
    if (patient_reference && (present & kReference) == 0) {
      // A logical reference to a Patient ({"identifier": {...}}, no `reference`) loses its
      // identifier: the patient it names, when known, is kept as a reference (a Consent that
      // names them so is theirs, and their opt-out holds).
      if (std::string named = NamedPatient(base, end); !named.empty()) {
        std::string reference = "Patient/" + named;
        NotePatient(reference);
        out_ += "\"reference\":";
        json::AppendQuoted(reference, out_);
        first = false;
      }
    }
    for (size_t i = base; i < end; ++i) {
      // Copied: the objects inside add members after these, which may move them.
      const std::string_view key = members_[i].key;
      const json::Node value = members_[i].value;
      const uint32_t roles = members_[i].roles;
      PathStep step(path_, key, -1);
      // A contained Patient keeps what a Patient keeps (Deidentifier::ApplyPatient), its birth
      // date's year included (below); the rest, its extensions too, goes to the vault.
      const bool beyond_patient = contained_patient && !keep_content_ &&
                                  (roles & kBirthDate) == 0 && !Contains(kPatientKept, key);
      if ((roles & removing) != 0 || beyond_patient || AuditParticipantName(key, value) ||
          (!keep_content_ && (roles & kFreeText) != 0 && value.IsString()) ||
          (!keep_content_ && string_data && (roles & kData) != 0 && value.IsString())) {
        Remove(value);
        continue;
      }
      const size_t member_at = out_.size();
      const bool was_first = first;
      if (!first) out_ += ',';
      first = false;
      json::AppendQuoted(key, out_);
      out_ += ':';
      const size_t value_at = out_.size();
      if (roles == 0) {
        Value(value);
      } else if ((roles & kReference) != 0 && value.IsString()) {
        owner_.RewriteReference(Resolved(value.GetString()), pending_, rewritten_);
        NotePatient(rewritten_);
        json::AppendQuoted(rewritten_, out_);
      } else if ((roles & kUriValue) != 0 && value.IsString()) {
        WriteUri(value.GetString());
      } else if (person && !keep_content_ && (roles & kBirthDate) != 0 && value.IsString()) {
        Remove(value);  // the exact date goes to the vault
        json::AppendQuoted(value.GetString().substr(0, 4), out_);
      } else if ((roles & kContained) != 0 && value.IsArray()) {
        out_ += '[';
        int index = 0;
        for (json::Cursor item = value.Children(); item.Next();) {
          if (index > 0) out_ += ',';
          PathStep item_step(path_, {}, index++);
          if (item.value().IsObject()) {
            Object(item.value(), false, true);
          } else {
            Value(item.value());
          }
        }
        out_ += ']';
      } else if (!top || (roles & kId) == 0) {
        Value(value);
      } else {
        own_reference_.assign(type_);
        own_reference_ += '/';
        own_reference_.append(value.GetString());
        owner_.RewriteReference(own_reference_, pending_, rewritten_);
        json::AppendQuoted(std::string_view(rewritten_).substr(type_.size() + 1), out_);
      }
      // An object that de-identification emptied (a reference that named a patient by an
      // identifier alone) goes with its name: FHIR's JSON has no empty objects. export-patient
      // makes it again to put back what was removed.
      if (value.IsObject() && out_.size() == value_at + 2 && out_.compare(value_at, 2, "{}") == 0) {
        out_.resize(member_at);
        first = was_first;
      }
    }
    members_.resize(base);
    out_ += '}';
  }

  void set_type(std::string type) { type_ = std::move(type); }
  // Whether the resource holds a resource outside `contained` (Object).
  bool holds_resource() const { return holds_resource_; }
  // Whether it names a person surely (a reference typed Patient, RelatedPerson or Person, by
  // its url or its `type`) or contains one, whatever it could resolve.
  bool about_person() const { return about_person_; }
  // The pseudonyms of the Patients the resource references, in order of appearance.
  const std::vector<std::string>& patients() const { return patients_; }

 private:
  // Whether `key` names an AuditEvent's agent.name or entity.name (the member being written):
  // free text that may be the patient's name, when the patient is the agent or the entity.
  bool AuditParticipantName(std::string_view key, json::Node value) const {
    if (keep_content_ || key != "name" || !value.IsString() || type_ != "AuditEvent") return false;
    const std::span<const Step> steps = path_.steps();
    return steps.size() == 3 && steps[1].index >= 0 &&
           (steps[0].key == "agent" || steps[0].key == "entity");
  }

  // Writes `uri`, a uri value. One that names a resource of a pseudonymized type by its id
  // ("Patient/<id>", "http://h/fhir/Encounter/<id>/_history/2") would keep a source id that the
  // references beside it lose: it is rewritten as the reference "Type/id" (and its history) is,
  // its base gone. Other uris (a code system's, a Questionnaire's) stay as written.
  void WriteUri(std::string_view uri) {
    std::string_view type, id;
    // "urn:uuid:", the scheme and namespace in any case (RFC 8141).
    if (uri.size() > 9 && StartsWithAnyCase(uri, "urn:uuid:")) {
      // A Bundle-local name is the resource its entry holds, and an unresolved one may be a
      // Patient's source id (Synthea's ids are the uuids of its fullUrls): written as that
      // reference is when it names a pseudonymized type ("valueUri":"urn:uuid:<source id>"
      // kept the id until 2026-12-02). A uuid that names nothing known (a message's, a
      // document's) stays as written.
      const std::string_view resolved = Resolved(uri);
      if (resolved == uri) {
        owner_.RewriteReference(uri, pending_, rewritten_);
        if (rewritten_.starts_with("Patient/")) {
          json::AppendQuoted(rewritten_, out_);
          return;
        }
      } else if (fhir::SplitReference(resolved, type, id) && PseudonymizedType(type)) {
        owner_.RewriteReference(resolved, pending_, rewritten_);
        json::AppendQuoted(rewritten_, out_);
        return;
      }
      json::AppendQuoted(uri, out_);
      return;
    }
    if (!fhir::SplitReference(uri, type, id) || !PseudonymizedType(type)) {
      json::AppendQuoted(uri, out_);
      return;
    }
    const size_t id_end = static_cast<size_t>(id.data() + id.size() - uri.data());
    own_reference_.assign(type);
    own_reference_ += '/';
    own_reference_.append(id);
    own_reference_.append(uri.substr(id_end));  // "/_history/2", or nothing
    owner_.RewriteReference(own_reference_, pending_, rewritten_);
    json::AppendQuoted(rewritten_, out_);
  }

  // Whether what was written from `at` on is an object holding "url" alone.
  bool UrlAlone(size_t at) const {
    constexpr std::string_view kUrl = "{\"url\":\"";
    if (out_.compare(at, kUrl.size(), kUrl) != 0) return false;
    size_t i = at + kUrl.size();
    while (i < out_.size() && out_[i] != '"') i += out_[i] == '\\' ? 2 : 1;
    return i + 2 == out_.size() && out_.back() == '}';
  }

  // Where the writer is in the resource: an element's name, or an item's index.
  struct Step {
    std::string_view key;
    int index;
  };
  // The steps from the resource to the element being written. Its storage only grows: a step
  // is a store and an increment, not a vector's push_back and pop_back, which were out of line
  // and took 5 % of the rewrite.
  class Path {
   public:
    Path() : steps_(32) {}
    void Push(std::string_view key, int index) {
      if (depth_ == steps_.size()) steps_.resize(2 * depth_);
      steps_[depth_++] = {key, index};
    }
    void Pop() { --depth_; }
    bool empty() const { return depth_ == 0; }
    std::span<const Step> steps() const { return {steps_.data(), depth_}; }

   private:
    std::vector<Step> steps_;
    size_t depth_ = 0;
  };
  struct PathStep {
    PathStep(Path& path, std::string_view key, int index) : path_(path) { path_.Push(key, index); }
    ~PathStep() { path_.Pop(); }
    Path& path_;
  };

  // A removed element, under its path in the resource ("name", "contained[0].name",
  // "component[1].note"), so that export-patient puts it back where it was.
  void Remove(json::Node value) {
    std::string path;
    for (const Step& step : path_.steps()) {
      if (step.index >= 0) {
        path += '[' + std::to_string(step.index) + ']';
      } else {
        if (!path.empty()) path += '.';
        path.append(step.key);
      }
    }
    removed_ += removed_.empty() ? '[' : ',';
    removed_ += '{';
    json::AppendQuoted(path, removed_);
    removed_ += ':';
    AppendResolved(value, removed_);
    removed_ += '}';
  }

  // `reference` as the resolver resolves it; the view lasts until the next call. A Reference
  // is resolved twice, to decide whether it names a person and to rewrite it: the second time
  // is the same view of the parse, answered from the first.
  std::string_view Resolved(std::string_view reference) {
    if (resolver_ == nullptr) return reference;
    if (reference.data() != last_reference_.data() || reference.size() != last_reference_.size()) {
      last_reference_ = reference;
      std::string_view resolved = (*resolver_)(reference, scratch_);
      last_resolved_.assign(resolved.data(), resolved.size());
    }
    return last_resolved_;
  }
  // Whether `value` holds a reference (a string member "reference"), at any depth.
  static bool HoldsReference(json::Node value) {
    for (json::Cursor c = value.Children(); c.Next();) {
      if (c.key() == "reference" && c.value().IsString()) return true;
      if (HoldsReference(c.value())) return true;
    }
    return false;
  }
  // `value` as JSON, its references resolved: as ToJson writes it but for string escapes.
  void WriteResolved(json::Node value, std::string& out) {
    if (value.IsObject()) {
      out += '{';
      bool first = true;
      for (json::Cursor c = value.Children(); c.Next();) {
        if (!first) out += ',';
        first = false;
        json::AppendQuoted(c.key(), out);
        out += ':';
        if (c.key() == "reference" && c.value().IsString()) {
          json::AppendQuoted(Resolved(c.value().GetString()), out);
        } else {
          WriteResolved(c.value(), out);
        }
      }
      out += '}';
    } else if (value.IsArray()) {
      out += '[';
      bool first = true;
      for (json::Cursor c = value.Children(); c.Next();) {
        if (!first) out += ',';
        first = false;
        WriteResolved(c.value(), out);
      }
      out += ']';
    } else if (value.IsString()) {
      json::AppendQuoted(value.GetString(), out);
    } else {
      out += value.ToJson();
    }
  }

  Deidentifier& owner_;
  std::string& out_;
  std::string& removed_;
  PendingLinks* pending_;
  const fhir::ReferenceResolver* resolver_ = nullptr;
  // Resolved's: the reference it resolved last (a view of the parse); what it resolved to is in
  // last_resolved_.
  std::string_view last_reference_;
  // A member of an object being written, and the roles of its name.
  struct Member {
    std::string_view key;
    json::Node value;
    uint32_t roles;
  };
  // The value of the first of members_[base, end) with `role`, null when none has it.
  const json::Node* First(size_t base, size_t end, uint32_t role) const {
    for (size_t i = base; i < end; ++i) {
      if ((members_[i].roles & role) != 0) return &members_[i].value;
    }
    return nullptr;
  }

  // Whether the object of members_[base, end) is a Reference that may name a person whose
  // display and identifier identify them: a Patient, RelatedPerson or Person, or a target that
  // cannot be told (an unresolved urn:uuid, a contained "#id", a conditional or logical
  // reference without a type). Only a reference that says it names another type keeps them (a
  // Practitioner's or an Organization's name). `present`: the roles of its members.
  bool NamesPerson(size_t base, size_t end, uint32_t present, bool* surely) {
    if ((present & (kReference | kIdentifier | kType | kDisplay)) == 0) return false;
    const json::Node* ref = First(base, end, kReference);
    const json::Node* type = First(base, end, kType);
    const json::Node* ident = First(base, end, kIdentifier);
    const bool display = (present & kDisplay) != 0;
    // A reference written with a display only ({"display": "Jane Roe"}) names no type either; a
    // Coding's display comes with its code or system, and stays.
    const bool display_only = display && (present & (kCode | kSystem)) == 0;
    const bool is_reference = (ref != nullptr && ref->IsString()) ||
                              (ident != nullptr && ident->IsObject()) ||
                              (type != nullptr && type->IsString() && display) || display_only;
    if (!is_reference) return false;
    std::string_view target;
    if (ref != nullptr && ref->IsString()) {
      std::string_view r = Resolved(ref->GetString());
      std::string_view id;
      if (size_t q = r.find('?'); q != std::string_view::npos) {
        target = r.substr(0, q);  // a conditional reference's type
      } else if (!fhir::SplitReference(r, target, id)) {
        target = {};  // urn:uuid, a contained "#id", ...: cannot tell
      }
    }
    if (target.empty() && type != nullptr && type->IsString()) target = type->GetString();
    if (target.empty() || fhir::ResourceTypeIndex(target) < 0) return true;  // cannot tell
    *surely = target == "Patient" || target == "RelatedPerson" || target == "Person";
    return *surely;
  }

  // The pseudonym of the Patient that the logical reference of members_[base, end) names by
  // identifier, "" when unknown.
  std::string NamedPatient(size_t base, size_t end) {
    const json::Node* type = First(base, end, kType);
    if (type != nullptr && !(type->IsString() && type->GetString() == "Patient")) return {};
    const json::Node* ident = First(base, end, kIdentifier);
    if (ident == nullptr || !ident->IsObject()) return {};
    auto system = ident->Find("system");
    auto value = ident->Find("value");
    if (!value || !value->IsString()) return {};
    return owner_.ResolvePatientIdentifier(
        system && system->IsString() ? system->GetString() : std::string_view(), value->GetString(),
        pending_);
  }

  void NotePatient(std::string_view reference) {
    constexpr std::string_view kPatient = "Patient/";
    if (!reference.starts_with(kPatient)) return;
    std::string_view id = reference.substr(kPatient.size());
    id = id.substr(0, id.find('/'));  // without a _history tail
    if (id.empty()) return;
    if (std::find(patients_.begin(), patients_.end(), id) == patients_.end()) {
      patients_.emplace_back(id);
    }
  }

  // What a writer works in, kept by each thread for its next writers: made anew for every
  // resource, the member list (room for 128), the path and the strings cost an allocation each.
  struct Buffers {
    Path path;
    std::vector<Member> members;  // of the objects being written, outermost first
    // Resolved's: what it resolved the last reference to, and the resolver's scratch.
    std::string last_resolved, scratch;
    // A reference as rewritten, and one to rewrite: the resource's own ("Type/id"), a uri's.
    std::string rewritten, own_reference;
  };
  // The thread's buffers not in use (a resource about patients is written twice, by two writers
  // alive at once: Deidentifier::Apply).
  static std::vector<std::unique_ptr<Buffers>>& FreeBuffers() {
    thread_local std::vector<std::unique_ptr<Buffers>> free;
    return free;
  }
  static std::unique_ptr<Buffers> TakeBuffers() {
    std::vector<std::unique_ptr<Buffers>>& free = FreeBuffers();
    if (free.empty()) {
      auto made = std::make_unique<Buffers>();
      // Room for a resource's members, not grown a doubling at a time (callgrind: 1.7 % fewer
      // instructions in Apply over Synthea's resources, the allocation included).
      made->members.reserve(128);
      return made;
    }
    std::unique_ptr<Buffers> taken = std::move(free.back());
    free.pop_back();
    taken->last_resolved.clear();  // what an empty reference resolves to, as in a new writer
    return taken;
  }
  static void GiveBack(std::unique_ptr<Buffers> buffers) {
    buffers->members.clear();  // left empty by every Object, as its path is
    FreeBuffers().push_back(std::move(buffers));
  }

  const MemberRoles& roles_ = MemberRoles::Get();
  std::string type_;
  std::unique_ptr<Buffers> buffers_ = TakeBuffers();
  Path& path_ = buffers_->path;
  std::vector<Member>& members_ = buffers_->members;
  std::string& last_resolved_ = buffers_->last_resolved;
  std::string& scratch_ = buffers_->scratch;
  std::string& rewritten_ = buffers_->rewritten;
  std::string& own_reference_ = buffers_->own_reference;
  std::vector<std::string> patients_;
  bool keep_content_ = false;
  bool holds_resource_ = false;
  bool about_person_ = false;
};

Result<std::unique_ptr<Deidentifier>> Deidentifier::ForLake(const std::string& lake_dir,
                                                            store::LakeWriter& writer) {
  if (!privacy::KeyStore::IsInitialised(lake_dir)) return std::unique_ptr<Deidentifier>();
  MEDLAKE_ASSIGN_OR_RETURN(privacy::KeyStore keys, privacy::KeyStore::Open(lake_dir));
  std::unique_ptr<Deidentifier> d(new Deidentifier(std::move(keys), writer));
  MEDLAKE_ASSIGN_OR_RETURN(d->vault_, privacy::Vault::Open(d->keys_));
  // Records the last writer wrote for a catalog commit that did not happen are put back to
  // what they replaced (privacy/vault.h).
  MEDLAKE_RETURN_IF_ERROR(d->vault_->Recover(writer.commits()));
  MEDLAKE_ASSIGN_OR_RETURN(d->systems_, privacy::IdentifierSystems::ForLake(lake_dir));
  Deidentifier* raw = d.get();
  writer.SetCommitSteps([raw](uint64_t commit) { return raw->FlushVault(commit); },
                        [raw](uint64_t commit, bool final) { raw->VaultCommitted(commit, final); });
  return d;
}

Deidentifier::Deidentifier(privacy::KeyStore keys, store::LakeWriter& writer)
    : keys_(std::move(keys)), pseudonymizer_(keys_), writer_(writer) {
  static std::atomic<uint64_t> generations{0};
  generation_ = ++generations;
}

Deidentifier::~Deidentifier() {
  writer_.SetCommitSteps(nullptr, nullptr);
}

std::string Deidentifier::CanonicalSystem(std::string_view system) const {
  return systems_.Canonical(system);
}

std::string Deidentifier::SourceLink(std::string_view id) const {
  // Asked each time a resource references a Patient not yet linked in the lake (every one, in
  // a first ingest).
  thread_local RecentValues<1024> recent;
  RecentValues<1024>::Slot& slot = recent.SlotOf(generation_, {}, id);
  if (slot.value.empty()) slot.value = pseudonymizer_.SourceLink(id);
  return slot.value;
}

std::string Deidentifier::IdentifierLink(std::string_view system, std::string_view value) const {
  return pseudonymizer_.IdentifierLink(CanonicalSystem(system), value);
}

std::string Deidentifier::PatientPseudonym(std::string_view id, PendingLinks* pending) {
  // A link never changes once made (the first sighting decides), so each thread keeps the
  // ones it has found in the lake; the cache belongs to one Deidentifier at a time.
  struct Cache {
    uint64_t owner = 0;
    StringMap<std::string> links;  // looked up by view: no copy of the id per reference
  };
  thread_local Cache cache;
  if (cache.owner != generation_ || cache.links.size() > 100'000) {
    cache.owner = generation_;
    cache.links.clear();
  }
  if (auto it = cache.links.find(id); it != cache.links.end()) return it->second;
  // A reference before (or without) its Patient: the source id decides, and the Patient, when
  // it comes, finds this link. The pseudonym made so is linked to itself as well, as a
  // Patient's is (PseudonymForPatient): the lake's export names the patient by it, and read
  // back it must name the same patient, not be pseudonymized again (a new patient).
  std::string link = SourceLink(id);
  if (pending != nullptr && pending->apart()) {
    std::string found = FindLink(link, pending);
    if (found.empty()) {
      found = UnlinkedPatientPseudonym(id);
      pending->Make(link, found);
      if (found != id) {
        std::string self = SourceLink(found);
        if (FindLink(self, pending).empty()) pending->Make(self, found);
      }
    } else if (!pending->made.contains(link)) {
      // Only links in the lake are kept: the chunk's own may be made again differently.
      cache.links.emplace(std::string(id), found);
    }
    return found;
  }
  const std::string proposed = UnlinkedPatientPseudonym(id);
  std::string pseudonym = writer_.LinkPseudonym({link}, proposed);
  if (pseudonym == proposed && proposed != id) {
    writer_.LinkPseudonym({SourceLink(pseudonym)}, pseudonym);
  }
  cache.links.emplace(std::string(id), pseudonym);
  return pseudonym;
}

std::string Deidentifier::UnlinkedPatientPseudonym(std::string_view id) {
  // A lake made before its pseudonyms of unlinked patients were linked to themselves
  // (2026-12-02) knows them as the patients its resources are filed under.
  if (privacy::Pseudonymizer::LooksLikePseudonym(id) && writer_.KnowsPatient(std::string(id))) {
    return std::string(id);
  }
  return pseudonymizer_.ForSourceId("Patient", id);
}

std::string Deidentifier::FindLink(const std::string& link, PendingLinks* pending) {
  if (pending == nullptr || !pending->apart()) return writer_.FindLink(link);
  if (auto it = pending->made.find(link); it != pending->made.end()) {
    ++pending->touches;
    return it->second;
  }
  std::string found = writer_.FindLink(link);
  if (found.empty()) {
    ++pending->touches;
    pending->missed.push_back(link);
  }
  return found;
}

std::string Deidentifier::Link(const std::vector<std::string>& links, const std::string& proposed,
                               PendingLinks* pending) {
  if (pending == nullptr || !pending->apart()) return writer_.LinkPseudonym(links, proposed);
  std::vector<std::string> known(links.size());
  std::string pseudonym;
  for (size_t i = 0; i < links.size(); ++i) {
    known[i] = FindLink(links[i], pending);
    if (pseudonym.empty()) pseudonym = known[i];
  }
  if (pseudonym.empty()) pseudonym = proposed;
  for (size_t i = 0; i < links.size(); ++i) {
    if (known[i].empty()) pending->Make(links[i], pseudonym);
  }
  return pseudonym;
}

bool Deidentifier::Publish(const PendingLinks& pending) {
  std::vector<std::pair<std::string, std::string>> missed, made;
  missed.reserve(pending.missed.size());
  for (const std::string& link : pending.missed) {
    auto it = pending.made.find(link);
    missed.emplace_back(link, it == pending.made.end() ? std::string() : it->second);
  }
  made.reserve(pending.made_order.size());
  for (const std::string& link : pending.made_order) made.emplace_back(link, pending.made.at(link));
  return writer_.PublishLinks(missed, made);
}

std::string Deidentifier::PseudonymForPatient(json::Node patient, std::string_view id,
                                              PendingLinks* pending) {
  struct Ident {
    std::string system, value, type;
  };
  std::vector<Ident> idents;
  if (auto list = patient.Find("identifier"); list && list->IsArray()) {
    list->ForEachItem([&](json::Node item) {
      auto value = item.Find("value");
      if (!value || !value->IsString() || value->GetString().empty()) return true;
      Ident ident{"", std::string(value->GetString()), ""};
      if (auto s = item.Find("system"); s && s->IsString()) ident.system = s->GetString();
      if (auto t = item.Find("type")) {
        if (auto codings = t->Find("coding"); codings && codings->IsArray()) {
          codings->ForEachItem([&](json::Node c) {
            if (auto code = c.Find("code"); code && code->IsString()) {
              ident.type = code->GetString();
              return false;
            }
            return true;
          });
        }
      }
      idents.push_back(std::move(ident));
      return true;
    });
  }
  std::vector<std::string> links;
  links.push_back(SourceLink(id));
  for (const auto& ident : idents) links.push_back(IdentifierLink(ident.system, ident.value));
  std::string proposed;
  for (std::string_view preferred : {"MR", "NI"}) {
    for (const auto& ident : idents) {
      if (proposed.empty() && ident.type == preferred) {
        proposed = pseudonymizer_.ForIdentifier(CanonicalSystem(ident.system), ident.value);
      }
    }
  }
  if (proposed.empty() && !idents.empty()) {
    proposed = pseudonymizer_.ForIdentifier(CanonicalSystem(idents[0].system), idents[0].value);
  }
  if (proposed.empty()) proposed = pseudonymizer_.ForSourceId("Patient", id);
  std::string pseudonym = Link(links, proposed, pending);
  // A conditional reference resolved to the pseudonym itself maps to it too.
  Link({SourceLink(pseudonym)}, pseudonym, pending);
  return pseudonym;
}

void Deidentifier::RewriteReference(std::string_view reference, PendingLinks* pending,
                                    std::string& out) {
  out.clear();
  if (reference.empty() || reference.front() == '#') {
    out.append(reference);
    return;
  }
  size_t slash = reference.find('/');
  std::string_view type = reference.substr(0, slash == std::string_view::npos ? 0 : slash);
  const int type_index = slash == std::string_view::npos ? -1 : fhir::ResourceTypeIndex(type);
  if (type_index < 0) {
    // An absolute URL is read by its last Type/id, as in a lake without a key (docs/format.md,
    // "Sharding"), and rewritten as that reference is (its server's base goes).
    std::string_view url_type, url_id;
    if (reference.find("://") != std::string_view::npos &&
        reference.find('?') == std::string_view::npos &&
        fhir::SplitReference(reference, url_type, url_id) &&
        fhir::ResourceTypeIndex(url_type) >= 0) {
      RewriteReference(std::string(url_type) + "/" + std::string(url_id), pending, out);
      return;
    }
    // What this rewrite redacted (below), read back from the lake's export: already a keyed
    // hash, kept as it is rather than hashed again into a new version.
    if (IsRedaction(reference)) {
      out.append(reference);
      return;
    }
    // A conditional reference to a Patient left unresolved says so, without its identifier:
    // the facts then refuse a resource whose patient it is (docs/format.md).
    if (fhir::ConditionalPatientReference(reference)) {
      out.append(fhir::kRedactedConditionalPatient);
      out += pseudonymizer_.ForSourceId("reference", reference);
      return;
    }
    // Not Type/id: an unresolved urn:uuid, which may name a patient by a source id. A known
    // Patient is linked; anything else is replaced by a keyed hash.
    constexpr std::string_view kUuid = "urn:uuid:";
    if (reference.starts_with(kUuid)) {
      std::string pseudonym = FindLink(SourceLink(reference.substr(kUuid.size())), pending);
      if (!pseudonym.empty()) {
        out = "Patient/" + pseudonym;
        return;
      }
    }
    // One that names a Patient in a form FHIR does not allow says so too: the facts refuse
    // the resource whose patient it is, as they do in a lake without a key.
    out = std::string(fhir::MalformedPatientReference(reference) ? fhir::kRedactedConditionalPatient
                                                                 : kRedacted) +
          pseudonymizer_.ForSourceId("reference", reference);
    return;
  }
  std::string_view rest = reference.substr(slash + 1);
  size_t end = rest.find('/');
  std::string_view id = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? "" : rest.substr(end);
  if (!PseudonymizedType(type, type_index)) {
    out.append(reference);
    return;
  }
  // "Patient/p 1", "Patient//p1", "Encounter/": no id a pseudonym may stand for, but perhaps a
  // source id all the same. A Patient's says it names a Patient that cannot be read (the
  // facts refuse the resource whose patient it is).
  if (!fhir::IsValidId(id)) {
    out = std::string(type == "Patient" ? fhir::kRedactedConditionalPatient : kRedacted) +
          pseudonymizer_.ForSourceId("reference", reference);
    return;
  }
  out.append(type);
  out += '/';
  if (type == "Patient") {
    out += PatientPseudonym(id, pending);
  } else {
    out += SourcePseudonym(type, id);
  }
  out.append(tail);
}

const std::string& Deidentifier::SourcePseudonym(std::string_view type, std::string_view id) {
  // The pseudonym is a function of (type, id) under the key: an Encounter's id comes back in
  // every Observation of the encounter.
  thread_local RecentValues<4096> recent;
  RecentValues<4096>::Slot& slot = recent.SlotOf(generation_, type, id);
  if (slot.value.empty()) {
    slot.value =
        IsStoredPseudonym(type, id) ? std::string(id) : pseudonymizer_.ForSourceId(type, id);
  }
  return slot.value;
}

bool Deidentifier::IsStoredPseudonym(std::string_view type, std::string_view id) const {
  if (!privacy::Pseudonymizer::LooksLikePseudonym(id)) return false;
  Result<bool> held = writer_.HoldsCommitted(store::ResourceKey(type, id));
  return held.ok() && *held;  // an index that cannot be read fails the record's admission
}

std::string Deidentifier::StoredId(std::string_view type, std::string_view id) {
  if (type == "Patient") return writer_.FindLink(SourceLink(id));
  if (!PseudonymizedType(type)) return std::string(id);
  return SourcePseudonym(type, id);
}

std::string Deidentifier::LinkPatient(json::Node patient) {
  auto id = patient.Find("id");
  if (!id || !id->IsString() || id->GetString().empty()) return "";
  return PseudonymForPatient(patient, id->GetString(), nullptr);
}

Result<std::optional<std::string>> Deidentifier::PatientOriginal(std::string_view pseudonym) {
  if (pseudonym.empty()) return std::optional<std::string>();
  auto original = vault_->Get(pseudonym);
  if (!original.ok()) {
    if (original.status().code() == ErrorCode::kNotFound) return std::optional<std::string>();
    return original.status();
  }
  json::Parser parser;
  auto node = parser.Parse(*original);
  if (!node.ok() || !node->IsObject()) return Corruption("identity vault: a record is not JSON");
  auto type = node->Find("resourceType");
  if (!type || !type->IsString() || type->GetString() != "Patient") {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(std::move(*original));
}

std::string Deidentifier::ResolvePatientIdentifier(std::string_view system, std::string_view value,
                                                   PendingLinks* pending) {
  if (pending != nullptr) return FindLink(IdentifierLink(system, value), pending);
  return writer_.FindLink(IdentifierLink(system, value), /*as_batch_began=*/true);
}

Status Deidentifier::ApplyPatient(json::Node patient, std::string& out, VaultRecord& removed,
                                  PendingLinks* pending, const fhir::ReferenceResolver* resolver) {
  auto id = patient.Find("id");
  if (!id || !id->IsString() || id->GetString().empty()) {
    return ParseError("Patient without an id");
  }
  // Stored as its year, an invalid birth date ("1961-13-45", "99999") would pass the check of
  // the stored resource's facts that quarantines it in a lake without a key (an audit).
  if (auto birth_date = patient.Find("birthDate")) {
    MEDLAKE_RETURN_IF_ERROR(fhir::CheckTime(*birth_date, "birthDate"));
  }
  std::string pseudonym = PseudonymForPatient(patient, id->GetString(), pending);
  removed.key = pseudonym;
  std::string ignored;
  DeidWriter writer(*this, out, ignored, pending);
  writer.set_resolver(resolver);
  writer.AppendResolved(patient, removed.json);
  out += "{\"resourceType\":\"Patient\",\"id\":";
  json::AppendQuoted(pseudonym, out);
  patient.ForEachField([&](std::string_view key, json::Node value) {
    if (key == "resourceType" || key == "id") return true;
    if (key == "birthDate" && value.IsString()) {
      out += ",\"birthDate\":";  // the year only; the exact date is in the vault
      json::AppendQuoted(value.GetString().substr(0, 4), out);
    } else if (key == "extension" && value.IsArray()) {
      std::vector<json::Node> kept;
      value.ForEachItem([&](json::Node ext) {
        auto url = ext.Find("url");
        if (url && url->IsString() && Contains(kPatientExtensionsKept, url->GetString())) {
          kept.push_back(ext);
        }
        return true;
      });
      // Written as any element is: what identifies a person inside them (a valueHumanName in
      // a nested extension) goes, as it does at any depth.
      for (size_t i = 0; i < kept.size(); ++i) {
        out += i == 0 ? ",\"extension\":[" : ",";
        writer.Item(kept[i], static_cast<int>(i));
      }
      if (!kept.empty()) out += ']';
    } else if (Contains(kPatientKept, key)) {
      out += ',';
      json::AppendQuoted(key, out);
      out += ':';
      writer.Value(value);
    }
    return true;
  });
  out += '}';
  return Status::Ok();
}

Status Deidentifier::Apply(json::Node resource, std::string& out, VaultRecord& removed,
                           PendingLinks* pending, const fhir::ReferenceResolver* resolver) {
  out.clear();
  removed.key.clear();
  removed.json.clear();
  auto type_node = resource.Find("resourceType");
  if (!type_node || !type_node->IsString()) return ParseError("resource without a resourceType");
  std::string type(type_node->GetString());
  // Its id is pseudonymized as a reference of its type is: a type FHIR has not is refused
  // (ingest quarantines such a resource before it gets here).
  if (fhir::ResourceTypeIndex(type) < 0) return ParseError("resource of an unknown type");
  if (type == "Patient") return ApplyPatient(resource, out, removed, pending, resolver);
  removed.patient.clear();
  std::string removed_items;
  DeidWriter writer(*this, out, removed_items, pending);
  writer.set_resolver(resolver);
  writer.set_type(type);
  auto holds_resource = [&type] {
    return ParseError(type +
                      " holding a resource outside contained (a Bundle's entries, a "
                      "Parameters' resource, in a contained one too) is not stored in a lake "
                      "with a key: its identifying elements would stay; ingest the resources it "
                      "holds instead");
  };
  bool compartment = PseudonymizedType(type);
  if (compartment) {
    writer.Object(resource, true);
    if (writer.holds_resource()) return holds_resource();
  } else {
    writer.set_keep_content();
    writer.Value(resource);  // shared area: references rewritten, content kept
    if (writer.holds_resource()) return holds_resource();
    if (!writer.patients().empty() || writer.about_person()) {
      // ... unless it is about patients, or any person (a logical reference to a Patient, a
      // contained one, a RelatedPerson): then its content may name them.
      out.clear();
      removed_items.clear();
      DeidWriter theirs(*this, out, removed_items, pending);
      theirs.set_resolver(resolver);
      theirs.set_type(type);
      theirs.Object(resource, true);
      // When every reference to a patient was inside what is removed (a Task's note by its
      // author), what is removed is still theirs.
      const std::vector<std::string>& patients =
          theirs.patients().empty() ? writer.patients() : theirs.patients();
      // About no patient the lake can name (a logical reference it cannot resolve, a contained
      // Patient): what is removed has no patient to be kept for, and is not kept.
      if (patients.size() == 1) {
        removed.patient = patients[0];
      } else if (patients.size() > 1 && !removed_items.empty()) {
        auto id = resource.Find("id");
        if (id && id->IsString()) {
          removed.key = patients[0] + "/" + type + "/" + std::string(id->GetString());
        }
      }
    }
  }
  if (!removed_items.empty()) {
    removed.json = removed_items + "]";
    // The key is completed by the caller once the resource's patient is known.
  }
  return Status::Ok();
}

void Deidentifier::Queue(VaultRecord record) {
  // Here, on the worker that queues it, rather than at the commit while the workers wait.
  record.lookup = vault_->Lookup(record.key);
  std::lock_guard lock(queue_mu_);
  queue_.push_back(std::move(record));
}

Status Deidentifier::FlushVault(uint64_t commit) {
  std::vector<VaultRecord> records;
  {
    std::lock_guard lock(queue_mu_);
    records.swap(queue_);
    // The next checkpoint queues about as many: room for them now, not a dozen doublings that
    // each move every record (three strings) under the lock the workers queue through.
    queue_.reserve(records.size());
  }
  if (records.empty()) return Status::Ok();
  // In input order, and of the records of one version the first: a record that repeats a
  // version stored (its stored form equal, what was removed not: a Patient sent again with a
  // corrected name) leaves the vault as the first left it, as it does when that version was
  // committed before (by an earlier checkpoint or run), whichever thread admitted which first.
  // The places are sorted, not the records (each holds four strings).
  struct Place {
    store::RecordOrder order;
    size_t record;  // of records in the same place, the one queued first comes first
  };
  std::vector<Place> places(records.size());
  for (size_t i = 0; i < records.size(); ++i) places[i] = {records[i].order, i};
  std::sort(places.begin(), places.end(), [](const Place& a, const Place& b) {
    return std::tie(a.order.hi, a.order.offset, a.order.entry, a.record) <
           std::tie(b.order.hi, b.order.offset, b.order.entry, b.record);
  });
  // A version replaced in the run is not stored: what was removed from it is not kept either
  // (an erasure, which finds records through stored rows, would never reach it). Asked of the
  // writer in parallel: a lock and a cache miss per record.
  std::vector<char> replaced(records.size());
  tbb::parallel_for(size_t{0}, records.size(), [&](size_t i) {
    const VaultRecord& r = records[i];
    replaced[i] = r.row_seq != 0 && !writer_.StillToStore(r.row_key, r.row_seq);
  });
  std::vector<privacy::Vault::StagedRecord> items;
  items.reserve(records.size());
  // Of the versions still to store, a resource has one: LakeWriter::Admit drops the version a
  // later one of the run replaces, for good. So the first record of each version is found by
  // its row key in a flat map, without a node per record. A second version of a key, were
  // there one, would keep its records.
  store::KeyMap<uint64_t> first_seq;
  for (const Place& place : places) {
    const VaultRecord& r = records[place.record];
    if (replaced[place.record]) continue;
    if (r.row_seq != 0) {
      bool inserted = false;
      uint64_t& seq = first_seq.FindOrInsert(r.row_key, inserted);
      if (!inserted && seq == r.row_seq) continue;
      if (inserted) seq = r.row_seq;
    }
    items.push_back({r.key, r.json, r.lookup});
  }
  Status staged = vault_->Stage(commit, items);
  if (!staged.ok()) {
    // The commit fails; its records go back to the queue, before those queued since, for a
    // writer that commits again.
    std::lock_guard lock(queue_mu_);
    records.insert(records.end(), std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.end()));
    queue_.swap(records);
  }
  return staged;
}

void Deidentifier::VaultCommitted(uint64_t commit, bool final) {
  // The undo of `commit` is dropped by the next Stage, in its transaction (one vault
  // transaction per commit, as before there was an undo), or at once after the run's last
  // commit. A drop that fails changes nothing that is read (the records are tagged as made),
  // and the next writer drops it.
  if (final) {
    (void)vault_->Settle(commit);
  } else {
    vault_->SetCommitted(commit);
  }
}

}  // namespace medlake::ingest
