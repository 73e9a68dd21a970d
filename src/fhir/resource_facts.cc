#include "fhir/resource_facts.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/string_util.h"
#include "fhir/r4_model.h"

namespace medlake::fhir {
namespace {

// Calls `fn` on every node reached by the dot-separated `path` below `node`, flattening arrays
// at every step (FHIRPath navigation semantics).
template <typename Fn>
void Walk(json::Node node, std::string_view path, const Fn& fn) {
  if (node.IsArray()) {
    for (json::Cursor item = node.Children(); item.Next();) Walk(item.value(), path, fn);
    return;
  }
  if (path.empty()) {
    fn(node);
    return;
  }
  size_t dot = path.find('.');
  std::string_view head = path.substr(0, dot);
  std::string_view rest = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
  if (auto child = node.Find(head)) Walk(*child, rest, fn);
}

constexpr size_t kScannedCodings = 32;

void AddCoding(json::Node coding, std::vector<Coding>& out) {
  enum { kCode, kSystem, kMembers };
  static const json::FieldSet kCoding({"code", "system"});
  std::array<std::optional<json::Node>, kMembers> m;
  coding.FindFields(kCoding, m);
  if (!m[kCode] || !m[kCode]->IsString()) return;
  const std::string_view code = m[kCode]->GetString();
  const std::string_view system = m[kSystem] ? m[kSystem]->GetString() : std::string_view();
  // The few codings of a resource are compared here; past kScannedCodings, repeats are taken
  // out once at the end (DropRepeatedCodings): a scan per coding made one resource of 200,000
  // distinct codings take a minute (a review).
  if (out.size() <= kScannedCodings) {
    for (const auto& seen : out) {
      if (seen.code == code && seen.system == system) return;
    }
  }
  out.push_back(Coding{std::string(system), std::string(code)});
}

// Takes the repeats out of more than kScannedCodings codings, keeping the first of each.
void DropRepeatedCodings(std::vector<Coding>& codings) {
  if (codings.size() <= kScannedCodings) return;
  struct PairHash {
    size_t operator()(const std::pair<std::string_view, std::string_view>& p) const {
      return std::hash<std::string_view>()(p.first) * 31 + std::hash<std::string_view>()(p.second);
    }
  };
  std::vector<bool> first(codings.size());
  {
    // Views of the strings, which stay where they are until every coding has been looked at.
    std::unordered_set<std::pair<std::string_view, std::string_view>, PairHash> seen;
    seen.reserve(codings.size());
    for (size_t i = 0; i < codings.size(); ++i) {
      first[i] = seen.emplace(codings[i].system, codings[i].code).second;
    }
  }
  size_t kept = 0;
  for (size_t i = 0; i < codings.size(); ++i) {
    if (!first[i]) continue;
    if (kept != i) codings[kept] = std::move(codings[i]);
    ++kept;
  }
  codings.resize(kept);
}

// A CodeableConcept (with coding[]) or a bare Coding.
void AddCodes(json::Node element, std::vector<Coding>& out) {
  if (auto codings = element.Find("coding")) {
    // An array of Codings; anything else under "coding" is not one (and holds none).
    if (!codings->IsArray()) return;
    for (json::Cursor c = codings->Children(); c.Next();) AddCoding(c.value(), out);
  } else {
    AddCoding(element, out);
  }
}

// The fields a type's facts read, looked up in one pass over the resource
// (json::Node::FindFields): the first step of each patient compartment path, the effective
// time and code elements, and the fixed ones below. Each name appears once.
class FactFields {
 public:
  enum Fixed {
    kResourceType,
    kId,
    kMeta,
    kValueCodeableConcept,
    kValueQuantity,
    kStatus,
    kClinicalStatus,
    kVerificationStatus,
    kEncounter,
    kIdentifier,
    kLifecycleStatus,
    kContext,
  };
  static constexpr size_t kMax = 32;

  explicit FactFields(int type_index) {
    for (std::string_view name : {"resourceType", "id", "meta", "valueCodeableConcept",
                                  "valueQuantity", "status", "clinicalStatus", "verificationStatus",
                                  "encounter", "identifier", "lifecycleStatus", "context"}) {
      Slot(name);
    }
    for (std::string_view path : PatientCompartmentPaths(type_index)) {
      compartment.push_back(SlotPath(path));
    }
    for (std::string_view path : EffectiveTimeElements(type_index)) {
      // "start/end": two elements of the resource that bound it (Appointment).
      const size_t slash = path.find('/');
      effective.push_back(SlotPath(path.substr(0, slash)));
      if (slash != std::string_view::npos) effective.back().end = Slot(path.substr(slash + 1));
    }
    for (std::string_view e : CodeElements(type_index)) code.push_back(Slot(e));
    set = json::FieldSet(std::move(names_));
  }
  // The FactFields of a type, made once for all types.
  static const FactFields& Of(int type_index) {
    static const std::vector<FactFields> all = [] {
      std::vector<FactFields> v;
      for (size_t t = 0; t < ResourceTypeCount(); ++t) v.emplace_back(static_cast<int>(t));
      return v;
    }();
    return all[static_cast<size_t>(type_index)];
  }

  json::FieldSet set{{}};  // at most kMax names
  // Per patient compartment path (in its list's order): the index of its first step in the
  // set's names, and the rest of the path below it.
  struct Path {
    int first;
    std::string_view rest;
    int end = -1;  // an effective time's end element, when it is another than `first`
  };
  std::vector<Path> compartment;
  std::vector<Path> effective;  // in the list's order (EffectiveTimeElements)
  std::vector<int> code;        // indexes into the set's names, in their list's order

 private:
  int Slot(std::string_view name) {
    for (size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return static_cast<int>(i);
    }
    if (names_.size() == kMax) std::abort();  // the R4 tables name far fewer
    names_.push_back(name);
    return static_cast<int>(names_.size() - 1);
  }
  // The slot of a path's first step, and the rest of the path below it.
  Path SlotPath(std::string_view path) {
    const size_t dot = path.find('.');
    return {Slot(path.substr(0, dot)),
            dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1)};
  }
  std::vector<std::string_view> names_;  // while the set is made
};

// Whether a FHIR date/time `a` is after `b` (their ranges `ar`, `br`), as FHIRPath compares
// them: values of one precision (year, month, day, or a time: seconds and their fractions are
// one) by their instants; values of different precision by what they share, and not at all
// (empty, no answer) when that is equal ("2020-01-01" and "2020-01-01T01:00:00+05:00").
bool After(std::string_view a, std::string_view b, TimeRange ar, TimeRange br) {
  auto date_length = [](std::string_view t) {
    return t.find('T') != std::string_view::npos ? size_t{10} : t.size();
  };
  const bool a_time = a.find('T') != std::string_view::npos;
  const bool b_time = b.find('T') != std::string_view::npos;
  if (a_time == b_time && date_length(a) == date_length(b)) return ar.start > br.start;
  const size_t shared = std::min(date_length(a), date_length(b));
  return a.substr(0, shared) > b.substr(0, shared);
}

// The time of an effective element: a date, dateTime or instant (string), or a Period.
// nullopt for a Period with neither start nor end; an error for any other value that is no
// FHIR date or time, and for a Period whose start is after its end (R4 invariant per-1): such
// a resource was stored with no effective time, silently missing from every cohort and score
// that asks for one.
// `name` and `rest` name the element in errors ("collection" and "collectedDateTime").
Result<std::optional<TimeRange>> TimeOf(json::Node element, std::string_view name,
                                        std::string_view rest = {}) {
  auto path = [&](std::string_view part) {
    std::string p(name);
    if (!rest.empty()) p.append(1, '.').append(rest);
    return p.append(part);
  };
  auto parse = [&](json::Node value, const char* part) -> Result<std::optional<TimeRange>> {
    std::optional<TimeRange> t;
    if (value.IsString()) t = ParseFhirTime(value.GetString());
    if (!t) {
      return ParseError(path(part) +
                        " is not a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD, or "
                        "YYYY-MM-DDThh:mm:ss[.fff] then Z or an offset +hh:mm)");
    }
    return t;
  };
  if (!element.IsObject()) return parse(element, "");  // a number, an array: no time either
  TimeRange r;                                         // a Period
  std::string_view start_text, end_text;
  TimeRange start_range, end_range;
  if (auto s = element.Find("start")) {
    MEDLAKE_ASSIGN_OR_RETURN(auto t, parse(*s, ".start"));
    r.start = t->start;
    start_text = s->GetString();
    start_range = *t;
  }
  if (auto e = element.Find("end")) {
    MEDLAKE_ASSIGN_OR_RETURN(auto t, parse(*e, ".end"));
    r.end = t->end;
    end_text = e->GetString();
    end_range = *t;
  }
  if (r.start == kNoTime && r.end == kNoTime) return std::optional<TimeRange>();
  if (r.start != kNoTime && r.end != kNoTime) {
    // per-1 is FHIRPath's start <= end: false is an error, empty (values of different
    // precision that agree on what they share) is not.
    if (After(start_text, end_text, start_range, end_range)) {
      return ParseError(path("") + " ends before it starts");
    }
    if (r.start > r.end) std::swap(r.start, r.end);  // a date (the UTC day) and a time
  }
  return std::optional<TimeRange>(r);
}

// The R4 resource type that `word` most likely misspells: at most two edits (insertions,
// deletions, substitutions; case ignored) away, and closer than any other; "" when none.
std::string_view NearestResourceType(std::string_view word) {
  if (word.empty() || word.size() > 64) return {};
  std::string_view best;
  int best_distance = 3;
  bool tie = false;
  std::vector<int> previous(word.size() + 1), current(word.size() + 1);
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (size_t t = 0; t < ResourceTypeCount(); ++t) {
    std::string_view name = ResourceTypeName(static_cast<int>(t));
    if (name.size() + 2 < word.size() || word.size() + 2 < name.size()) continue;
    for (size_t j = 0; j <= word.size(); ++j) previous[j] = static_cast<int>(j);
    for (size_t i = 1; i <= name.size(); ++i) {
      current[0] = static_cast<int>(i);
      for (size_t j = 1; j <= word.size(); ++j) {
        int substitute = previous[j - 1] + (lower(name[i - 1]) == lower(word[j - 1]) ? 0 : 1);
        current[j] = std::min({substitute, previous[j] + 1, current[j - 1] + 1});
      }
      std::swap(previous, current);
    }
    int distance = previous[word.size()];
    if (distance < best_distance) {
      best = name;
      best_distance = distance;
      tie = false;
    } else if (distance == best_distance) {
      tie = true;
    }
  }
  return tie ? std::string_view() : best;
}

std::string_view Resolve(const ReferenceResolver* resolver, std::string_view ref,
                         std::string& scratch) {
  return resolver ? (*resolver)(ref, scratch) : ref;
}

}  // namespace

void ResourceFacts::Clear() {
  type.clear();
  type_index = -1;
  id.clear();
  patient_id.clear();
  effective = {};
  codings.clear();
  value = NAN;
  unit.clear();
  status.clear();
  encounter_id.clear();
  last_updated = kNoTime;
  identifiers.clear();
}

bool IsValidId(std::string_view id) {
  // R4 id: [A-Za-z0-9\-\.]{1,64}. A table of the allowed bytes: asked for every resource and
  // every reference, where five comparisons a character were 1.5 % of the CPU of ingest.
  static constexpr auto kAllowed = [] {
    std::array<bool, 256> allowed{};
    for (int c = 0; c < 256; ++c) {
      allowed[static_cast<size_t>(c)] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                        (c >= '0' && c <= '9') || c == '-' || c == '.';
    }
    return allowed;
  }();
  if (id.empty() || id.size() > 64) return false;
  bool ok = true;
  for (char c : id) ok &= kAllowed[static_cast<unsigned char>(c)];
  return ok;
}

bool SplitReference(std::string_view reference, std::string_view& type, std::string_view& id) {
  // A type or an id has no '_' (a base URL may): the search for "/_history/" starts at the
  // first one, found with memchr, and most references have none.
  size_t hist = reference.find('_');
  if (hist != std::string_view::npos) hist = reference.find("/_history/", hist - (hist > 0));
  if (hist != std::string_view::npos) reference = reference.substr(0, hist);
  size_t slash = reference.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return false;
  size_t prev = reference.rfind('/', slash - 1);
  type = reference.substr(prev == std::string_view::npos ? 0 : prev + 1,
                          slash - (prev == std::string_view::npos ? 0 : prev + 1));
  id = reference.substr(slash + 1);
  return ResourceTypeIndex(type) >= 0 && IsValidId(id);
}

bool MalformedPatientReference(std::string_view reference) {
  if (reference.empty() || reference.front() == '#') return false;
  std::string_view t, id;
  if (SplitReference(reference, t, id)) return false;
  size_t begin = 0;
  for (size_t slash = reference.find('/'); slash != std::string_view::npos;
       begin = slash + 1, slash = reference.find('/', begin)) {
    std::string_view segment = reference.substr(begin, slash - begin);
    while (!segment.empty() && std::isspace(static_cast<unsigned char>(segment.front()))) {
      segment.remove_prefix(1);
    }
    constexpr std::string_view kPatient = "patient";
    if (std::equal(
            segment.begin(), segment.end(), kPatient.begin(), kPatient.end(),
            [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; })) {
      return true;
    }
  }
  return false;
}

Status ExtractFacts(json::Node resource, const ReferenceResolver* resolver, ResourceFacts& out) {
  MEDLAKE_RETURN_IF_ERROR(ExtractIdentity(resource, out));
  return ExtractFields(resource, resolver, out);
}

Status ExtractIdentity(json::Node resource, ResourceFacts& out) {
  out.Clear();
  if (!resource.IsObject()) return ParseError("resource is not a JSON object");
  auto type_node = resource.Find("resourceType");
  if (!type_node || !type_node->IsString()) return ParseError("no resourceType");
  out.type = type_node->GetString();
  out.type_index = ResourceTypeIndex(out.type);
  if (out.type_index < 0) {
    // The value is record content and is not repeated; a near miss of a type name is.
    std::string message = "unknown resourceType";
    if (std::string_view near = NearestResourceType(out.type); !near.empty()) {
      message += " (did you mean " + std::string(near) + "?)";
    }
    return ParseError(message);
  }
  auto id_node = resource.Find("id");
  if (!id_node) return ParseError("missing id");
  if (!id_node->IsString() || !IsValidId(id_node->GetString())) return ParseError("malformed id");
  out.id = id_node->GetString();
  return Status::Ok();
}

std::optional<double> ExactQuantityValue(json::Node quantity) {
  if (quantity.Find("comparator")) return std::nullopt;
  auto v = quantity.Find("value");
  if (!v || !v->IsNumber()) return std::nullopt;
  return v->GetDouble();
}

std::string_view QuantityUnit(json::Node quantity) {
  if (auto c = quantity.Find("code"); c && c->IsString()) return c->GetString();
  if (auto u = quantity.Find("unit"); u && u->IsString()) return u->GetString();
  return {};
}

Status IdentityNotRepeated(json::Node resource) {
  if (resource.RepeatsAny({"resourceType", "id"})) {
    return ParseError("resourceType or id appears twice");
  }
  return Status::Ok();
}

Status NoRepeatedName(json::Node resource) {
  const std::optional<std::string_view> repeated = resource.RepeatedName();
  if (!repeated) return Status::Ok();
  // The name is given when it is one FHIR's grammar allows for elements (never a value).
  const std::string_view name = *repeated;
  const bool element_name =
      !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      });
  return ParseError(element_name
                        ? "the name \"" + std::string(name) + "\" appears twice in one JSON object"
                        : std::string("a name appears twice in one JSON object"));
}

bool ConditionalPatientReference(std::string_view reference) {
  const size_t q = reference.find('?');
  if (q == std::string_view::npos) return false;
  std::string_view type = reference.substr(0, q);
  if (const size_t slash = type.rfind('/'); slash != std::string_view::npos) {
    type.remove_prefix(slash + 1);
  }
  return type == "Patient";
}

namespace {

// A reference that is not Type/id but names a Patient all the same: MalformedPatientReference,
// or any text its element's `type` says is a Patient's ("p1"). Taken for no patient, the
// resource was filed in the shared area (a review).
bool MalformedPatient(std::string_view ref, json::Node element) {
  // A Type/id (nearly every reference) is split once, here.
  std::string_view t, id;
  if (ref.empty() || ref.front() == '#' || SplitReference(ref, t, id)) return false;
  if (MalformedPatientReference(ref)) return true;
  auto type = element.Find("type");
  return type && type->IsString() && type->GetString() == "Patient";
}

// Whether a Reference element (as resolved) stands for a Patient that could not be found: a
// conditional reference to a Patient that matched none or several (or, in a lake with a key,
// kRedactedConditionalPatient, what de-identification makes of one); or a Bundle-local name
// (urn:uuid:, urn:oid:, in any case) that no stored entry of its Bundle has, or what a lake
// with a key makes of it (urn:medlake:redacted:), when the element's `type` says Patient (an
// untyped one may name a Device, a Practitioner, a Location); or a reference that is not
// Type/id and names a Patient all the same (MalformedPatient).
bool UnresolvedPatient(std::string_view ref, json::Node element) {
  if (ConditionalPatientReference(ref) || ref.starts_with(kRedactedConditionalPatient)) {
    return true;
  }
  if (!StartsWithAnyCase(ref, "urn:uuid:") && !StartsWithAnyCase(ref, "urn:oid:") &&
      !ref.starts_with("urn:medlake:redacted:")) {
    return MalformedPatient(ref, element);
  }
  auto type = element.Find("type");
  return type && type->IsString() && type->GetString() == "Patient";
}

// The Patient compartment (R4 CompartmentDefinition): the first path that references a Patient
// decides. One Patient: theirs. Several (a Group; Synthea's names its members by urn:uuid
// from a file of its own), found or not (UnresolvedPatient): about several patients, in the
// shared area. Only one, which could not be found: the resource is refused, since stored it was
// filed in the shared area, out of its patient's data and unseen by every per-patient query, and no
// report said which it was (a review); the same when a later path names a Patient (a performer is
// not whom an Observation is about). `patient_id` keeps its capacity from resource to resource.
Status CompartmentPatient(const FactFields& wanted,
                          const std::array<std::optional<json::Node>, FactFields::kMax>& fields,
                          const ReferenceResolver* resolver, std::string& patient_id) {
  patient_id.clear();
  std::string scratch;
  for (const auto& path : wanted.compartment) {
    const auto& first = fields[path.first];
    if (!first) continue;
    bool several = false;
    bool no_reference = false;
    int unresolved = 0;
    Walk(*first, path.rest, [&](json::Node element) {
      // A Reference is an object whose `reference` is a string: "subject":"Patient/p1" or
      // {"reference":["Patient/p1"]} names a patient no reader of R4 finds (an audit).
      std::optional<json::Node> ref;
      if (element.IsObject()) ref = element.Find("reference");
      if (!element.IsObject() || (ref && !ref->IsString())) {
        no_reference = true;
        return;
      }
      if (!ref) return;
      std::string_view resolved = Resolve(resolver, ref->GetString(), scratch);
      std::string_view t, id;
      // A conditional reference is never read as Type/id, whatever its query holds.
      if (resolved.find('?') != std::string_view::npos || !SplitReference(resolved, t, id) ||
          t != "Patient") {
        unresolved += UnresolvedPatient(resolved, element) ? 1 : 0;
        return;
      }
      if (patient_id.empty()) {
        patient_id.assign(id);
      } else if (patient_id != id) {
        several = true;
      }
    });
    if (no_reference) {
      return ParseError(std::string(wanted.set.names()[path.first]) +
                        " is not a Reference (an object whose reference is a string): the "
                        "patient it names cannot be read");
    }
    if (several || unresolved > 1 || (unresolved > 0 && !patient_id.empty())) {
      patient_id.clear();  // about several patients
      return Status::Ok();
    }
    if (unresolved > 0) {
      return ParseError(std::string(wanted.set.names()[path.first]) +
                        " names a Patient that could not be found (a conditional reference "
                        "that matches none or several, a urn:uuid or urn:oid that names no "
                        "stored entry, or a reference that is not Patient/[id], such as "
                        "Patient/[id]/ or patient/[id]): stored, it would be filed outside the "
                        "patient's data; ingest it again once the Patient is in the lake, or "
                        "the reference is mended");
    }
    if (!patient_id.empty()) return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace

Status CheckTime(json::Node element, std::string_view path) {
  return TimeOf(element, path).status();
}

Status ExtractFields(json::Node resource, const ReferenceResolver* resolver, ResourceFacts& out) {
  const FactFields& wanted = FactFields::Of(out.type_index);
  std::array<std::optional<json::Node>, FactFields::kMax> fields;
  const uint64_t repeated = resource.FindFields(wanted.set, fields);
  // A JSON object must not repeat a name (RFC 8259 says SHOULD; FHIR's JSON format, MUST NOT):
  // where the identity itself is repeated, readers disagree on what the resource is.
  if (repeated & ((uint64_t{1} << FactFields::kResourceType) | (uint64_t{1} << FactFields::kId))) {
    return ParseError("resourceType or id appears twice");
  }
  // Anywhere else too: the facts would read one value and the readers of an export perhaps the
  // other ("status" final here, entered-in-error for a reader that keeps the last).
  if (Status unique = NoRepeatedName(resource); !unique.ok()) return unique;
  if (const auto& meta = fields[FactFields::kMeta]) {
    if (auto lu = meta->Find("lastUpdated")) {
      // An instant (R4 datatypes: a dateTime to the second, with an offset; one without is read
      // as UTC, as everywhere in medlake). Anything else is refused rather than read as no
      // lastUpdated, which loses to every version that has one: "…+0000" (no colon) made a
      // newer version a silent duplicate of the stored one (a review).
      std::optional<int64_t> t;
      if (lu->IsString()) t = ParseFhirInstant(lu->GetString());
      if (!t) {
        return ParseError(
            "meta.lastUpdated is not a FHIR instant (YYYY-MM-DDThh:mm:ss[.fff] then Z or an "
            "offset +hh:mm)");
      }
      out.last_updated = *t;
    }
  }

  if (out.type == "Patient") {
    out.patient_id = out.id;
  } else {
    MEDLAKE_RETURN_IF_ERROR(CompartmentPatient(wanted, fields, resolver, out.patient_id));
  }

  // The first element present decides; every one present must be a valid time.
  bool decided = false;
  for (const auto& path : wanted.effective) {
    std::optional<json::Node> node = fields[path.first];
    if (node && !path.rest.empty()) node = node->Find(path.rest);
    if (!node) continue;
    const std::string_view name = wanted.set.names()[path.first];
    MEDLAKE_ASSIGN_OR_RETURN(std::optional<TimeRange> t, TimeOf(*node, name, path.rest));
    if (path.end >= 0 && t) {
      // Two elements (start, end): a string each; without the end, the start's own range.
      if (const auto& end_node = fields[path.end]) {
        const std::string_view end_name = wanted.set.names()[path.end];
        MEDLAKE_ASSIGN_OR_RETURN(std::optional<TimeRange> end, TimeOf(*end_node, end_name));
        if (end && end_node->IsString() && node->IsString()) {
          if (After(node->GetString(), end_node->GetString(), *t, *end)) {
            return ParseError(std::string(end_name) + " is before " + std::string(name));
          }
          t->end = end->end;
          if (t->end < t->start) std::swap(t->start, t->end);
        }
      }
    }
    if (!t || decided) continue;
    out.effective = *t;
    if (out.effective.end == kNoTime && node->IsString()) out.effective.end = t->end;
    decided = true;
  }

  for (int slot : wanted.code) {
    if (const auto& node = fields[slot]) {
      if (node->IsArray()) {
        for (json::Cursor item = node->Children(); item.Next();) {
          AddCodes(item.value(), out.codings);
        }
      } else {
        AddCodes(*node, out.codings);
      }
    }
  }
  if (auto vcc = fields[FactFields::kValueCodeableConcept]) AddCodes(*vcc, out.codings);
  DropRepeatedCodings(out.codings);

  if (auto q = fields[FactFields::kValueQuantity]) {
    // The hot column holds exact values only, so that no reader compares a censored result
    // ("<5") as if it were exact.
    if (auto v = ExactQuantityValue(*q)) out.value = *v;
    out.unit = QuantityUnit(*q);
  }

  if (auto s = fields[FactFields::kStatus]; s && s->IsString()) {
    out.status = s->GetString();
  } else if (auto ls = fields[FactFields::kLifecycleStatus]; ls && ls->IsString()) {
    out.status = ls->GetString();  // Goal (R4): its status element is lifecycleStatus
  } else if (auto cs = fields[FactFields::kClinicalStatus]) {
    std::vector<Coding> codes;
    AddCodes(*cs, codes);
    if (!codes.empty()) out.status = codes.front().code;
  }
  // Condition and AllergyIntolerance say "recorded in error" and "ruled out" in
  // verificationStatus (entered-in-error, refuted): the hot status carries them instead of
  // the clinical status, so that every reader can drop such records without parsing them.
  if (auto vs = fields[FactFields::kVerificationStatus]) {
    std::vector<Coding> codes;
    AddCodes(*vs, codes);
    for (const auto& c : codes) {
      if (c.code == "entered-in-error" || c.code == "refuted") out.status = c.code;
    }
  }

  // The Encounter: the `encounter` element, else R4's `context` (MedicationAdministration,
  // MedicationDispense, MedicationStatement, ChargeItem: Reference(Encounter | EpisodeOfCare);
  // DocumentReference: context.encounter, a list).
  std::optional<json::Node> enc = fields[FactFields::kEncounter];
  if (!enc) {
    if (auto ctx = fields[FactFields::kContext]; ctx && ctx->IsObject()) {
      enc = ctx->Find("reference") ? ctx : ctx->Find("encounter");
      if (enc && enc->IsArray()) {
        json::Cursor first = enc->Children();
        enc = first.Next() ? std::optional<json::Node>(first.value()) : std::nullopt;
      }
    }
  }
  if (out.type == "Encounter") {
    out.encounter_id = out.id;
  } else if (enc && enc->IsObject()) {
    if (auto ref = enc->Find("reference"); ref && ref->IsString()) {
      std::string scratch;
      std::string_view resolved = Resolve(resolver, ref->GetString(), scratch);
      std::string_view t, id;
      if (SplitReference(resolved, t, id) && t == "Encounter") out.encounter_id = id;
    }
  }

  if (auto ids = fields[FactFields::kIdentifier]) {
    auto add = [&](json::Node ident) {
      auto v = ident.Find("value");
      if (!v || !v->IsString()) return true;
      auto s = ident.Find("system");
      out.identifiers.push_back(
          {s ? std::string(s->GetString()) : std::string(), std::string(v->GetString())});
      return true;
    };
    if (ids->IsArray()) {
      ids->ForEachItem(add);
    } else {
      add(*ids);
    }
  }
  return Status::Ok();
}

}  // namespace medlake::fhir
