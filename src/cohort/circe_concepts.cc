// Circe concept sets (OMOP concepts) as medlake code sets (FHIR system + code).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "cohort/circe_internal.h"

namespace medlake::cohort::circe_internal {

std::string Join(std::string_view parent, std::string_view key) {
  if (key.empty()) return std::string(parent) + "[\"\"]";  // a member named ""
  if (parent.empty()) return std::string(key);
  std::string out(parent);
  out += '.';
  out += key;
  return out;
}

std::string Index(std::string_view parent, size_t i) {
  return std::string(parent) + "[" + std::to_string(i) + "]";
}

bool IsEmptyValue(json::Node node) {
  switch (node.kind()) {
    case json::Kind::kNull:
      return true;
    case json::Kind::kBool:
      return !node.GetBool();
    case json::Kind::kArray:
    case json::Kind::kObject:
      return node.Size() == 0;
    default:
      return false;
  }
}

std::string_view KindName(json::Node node) {
  switch (node.kind()) {
    case json::Kind::kNull:
      return "null";
    case json::Kind::kBool:
      return "a boolean";
    case json::Kind::kInt64:
    case json::Kind::kUint64:
    case json::Kind::kDouble:
      return "a number";
    case json::Kind::kString:
      return "a string";
    case json::Kind::kArray:
      return "an array";
    case json::Kind::kObject:
      return "an object";
  }
  return "a value";
}

namespace {

bool HasShape(json::Node node, Shape shape) {
  switch (shape) {
    case Shape::kObject:
      return node.IsObject();
    case Shape::kArray:
      return node.IsArray();
    case Shape::kString:
      return node.IsString();
    case Shape::kNumber:
      return node.IsNumber();
    case Shape::kBool:
      return node.IsBool();
  }
  return false;
}

std::string_view ShapeName(Shape shape) {
  switch (shape) {
    case Shape::kObject:
      return "an object";
    case Shape::kArray:
      return "an array";
    case Shape::kString:
      return "a string";
    case Shape::kNumber:
      return "a number";
    case Shape::kBool:
      return "a boolean";
  }
  return "a value";
}

}  // namespace

Members::Members(json::Node node, std::string path, Issues& issues)
    : node_(node), path_(std::move(path)), issues_(issues) {
  if (!node_.IsObject()) {
    malformed_ = true;
    issues_.Unsupported(
        path_.empty() ? "$" : path_,
        "expected an object, found " + std::string(KindName(node_)) + ": not translated");
  }
}

std::optional<json::Node> Members::Take(std::string_view key) {
  taken_.emplace_back(key);
  auto member = node_.Find(key);
  if (!member || member->IsNull()) return std::nullopt;
  return member;
}

std::optional<json::Node> Members::Take(std::string_view key, Shape shape) {
  auto member = Take(key);
  if (!member || HasShape(*member, shape)) return member;
  malformed_ = true;
  issues_.Unsupported(PathOf(key), "expected " + std::string(ShapeName(shape)) + ", found " +
                                       std::string(KindName(*member)) + ": not translated");
  return std::nullopt;
}

void Members::Finish(std::string_view reason) {
  node_.ForEachField([&](std::string_view key, json::Node value) {
    if (std::find(taken_.begin(), taken_.end(), key) != taken_.end()) return true;
    if (IsEmptyValue(value)) return true;
    issues_.Unsupported(PathOf(key), std::string(reason));
    return true;
  });
}

std::optional<int64_t> Integer(json::Node node) {
  switch (node.kind()) {
    case json::Kind::kInt64:
      return node.GetInt64();
    case json::Kind::kUint64:
    case json::Kind::kDouble: {
      double d = node.GetDouble();
      if (d != std::floor(d) || d < -9.2e18 || d > 9.2e18) return std::nullopt;
      return static_cast<int64_t>(d);
    }
    default:
      return std::nullopt;
  }
}

Concept ReadConcept(json::Node node, const std::string& path, Issues& issues) {
  Members c(node, path, issues);
  Concept concept_row;
  if (auto v = c.Take("CONCEPT_ID")) concept_row.id = Integer(*v).value_or(0);
  if (auto v = c.Take("CONCEPT_CODE", Shape::kString))
    concept_row.code = std::string(v->GetString());
  if (auto v = c.Take("VOCABULARY_ID", Shape::kString)) {
    concept_row.vocabulary = std::string(v->GetString());
  }
  for (std::string_view k : {"CONCEPT_NAME", "STANDARD_CONCEPT", "STANDARD_CONCEPT_CAPTION",
                             "INVALID_REASON", "INVALID_REASON_CAPTION", "DOMAIN_ID",
                             "CONCEPT_CLASS_ID", "VALID_START_DATE", "VALID_END_DATE"}) {
    c.Take(k);
  }
  c.Finish("not translated: unknown column of an OMOP concept");
  return concept_row;
}

namespace {

// How an OMOP vocabulary is written in FHIR.
struct Vocabulary {
  std::string_view omop_id;
  std::string_view system;
  // The hierarchy is in the code (ICD-10 "E11" is the parent of "E11.9"): descendants are
  // a prefix.
  bool hierarchical_code;
};

constexpr Vocabulary kVocabularies[] = {
    {"SNOMED", "http://snomed.info/sct", false},
    {"RxNorm", "http://www.nlm.nih.gov/research/umls/rxnorm", false},
    {"LOINC", "http://loinc.org", false},
    {"ICD10CM", "http://hl7.org/fhir/sid/icd-10-cm", true},
    {"ICD10", "http://hl7.org/fhir/sid/icd-10", true},
    {"ICD9CM", "http://hl7.org/fhir/sid/icd-9-cm", true},
    {"ICD10PCS", "http://www.cms.gov/Medicare/Coding/ICD10", true},
    {"ATC", "http://www.whocc.no/atc", true},
    {"CPT4", "http://www.ama-assn.org/go/cpt", false},
    {"HCPCS", "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", false},
    {"CVX", "http://hl7.org/fhir/sid/cvx", false},
    {"NDC", "http://hl7.org/fhir/sid/ndc", false},
    {"UCUM", "http://unitsofmeasure.org", false},
};

constexpr std::string_view kActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

const Vocabulary* FindVocabulary(std::string_view omop_id) {
  for (const Vocabulary& v : kVocabularies) {
    if (v.omop_id == omop_id) return &v;
  }
  return nullptr;
}

// OMOP "Visit" concepts as Encounter.class codes. An emergency visit that became an admission
// (ERIP) is an admission: FHIR records it as an inpatient encounter (admitted from the
// emergency department), sometimes after a separate emergency encounter.
std::string_view VisitClass(std::string_view code) {
  if (code == "IP" || code == "ERIP") return "IMP";
  if (code == "ER") return "EMER";
  if (code == "OP") return "AMB";
  return "";
}

std::string Slug(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
    if (out.size() >= 40) break;
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

// The codes of one system in a code set being built.
struct SystemCodes {
  std::string system;
  std::vector<std::string> codes;
  std::vector<std::string> prefixes;
};

void AddUnique(std::vector<std::string>& list, std::string code) {
  if (std::find(list.begin(), list.end(), code) == list.end()) list.push_back(std::move(code));
}

SystemCodes& ForSystem(std::vector<SystemCodes>& systems, std::string_view system) {
  for (SystemCodes& s : systems) {
    if (s.system == system) return s;
  }
  systems.push_back({std::string(system), {}, {}});
  return systems.back();
}

struct Item {
  std::string code;
  std::string vocabulary;
  bool excluded = false;
  bool descendants = false;
  bool mapped = false;
};

std::string CountsText(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [vocabulary, n] : counts) {
    if (!out.empty()) out += ", ";
    out += vocabulary + " " + std::to_string(n);
  }
  return out;
}

}  // namespace

CodesetTable::CodesetTable(std::optional<json::Node> concept_sets, std::string path, Issues& issues)
    : issues_(issues) {
  if (!concept_sets) return;
  size_t i = 0;
  concept_sets->ForEachItem([&](json::Node set) {
    Translate(set, Index(path, i++));
    return true;
  });
}

void CodesetTable::Translate(json::Node concept_set, const std::string& path) {
  Issues local;
  Members members(concept_set, path, local);
  auto id = members.Take("id");
  auto name = members.Take("name", Shape::kString);
  auto expression = members.Take("expression");
  members.Finish("not translated: unknown member of a concept set");
  std::optional<int64_t> key = id ? Integer(*id) : std::nullopt;
  if (!key) {
    issues_.Unsupported(path, "concept set without an integer id: not translated");
    return;
  }
  Set set;
  set.name = "cs" + std::to_string(*key);
  std::string slug = name ? Slug(name->GetString()) : "";
  if (!slug.empty()) set.name += "_" + slug;

  std::vector<Item> items;
  if (expression) {
    Members expr(*expression, Join(path, "expression"), local);
    auto list = expr.Take("items", Shape::kArray);
    expr.Finish("not translated: unknown member of a concept set expression");
    size_t i = 0;
    if (list) {
      list->ForEachItem([&](json::Node node) {
        std::string item_path = Index(Join(path, "expression.items"), i++);
        Members m(node, item_path, local);
        Item item;
        if (auto v = m.Take("isExcluded", Shape::kBool)) item.excluded = v->GetBool();
        if (auto v = m.Take("includeDescendants", Shape::kBool)) item.descendants = v->GetBool();
        if (auto v = m.Take("includeMapped", Shape::kBool)) item.mapped = v->GetBool();
        if (auto concept_node = m.Take("concept")) {
          Concept c = ReadConcept(*concept_node, Join(item_path, "concept"), local);
          item.code = std::move(c.code);
          item.vocabulary = std::move(c.vocabulary);
        }
        m.Finish("not translated: unknown member of a concept set item");
        if (m.malformed()) return true;  // reported: whether it includes or excludes is unknown
        items.push_back(std::move(item));
        return true;
      });
    }
  }

  std::vector<SystemCodes> systems;
  std::map<std::string, int> no_system;     // vocabulary -> concepts
  std::map<std::string, int> not_expanded;  // vocabulary -> concepts
  int mapped = 0;
  int missing_code = 0;
  bool emergency_admissions = false;
  std::string items_path = Join(path, "expression.items");
  for (const Item& item : items) {
    if (item.excluded) continue;
    if (item.mapped) ++mapped;
    if (item.code.empty() || item.vocabulary.empty()) {
      ++missing_code;
      continue;
    }
    if (item.vocabulary == "Visit") {
      std::string_view visit_class = VisitClass(item.code);
      if (visit_class.empty()) {
        ++no_system["Visit " + item.code];
        continue;
      }
      if (item.code == "ERIP") emergency_admissions = true;
      AddUnique(ForSystem(systems, kActCode).codes, std::string(visit_class));
      continue;
    }
    const Vocabulary* vocabulary = FindVocabulary(item.vocabulary);
    if (vocabulary == nullptr) {
      ++no_system[item.vocabulary];
      continue;
    }
    SystemCodes& s = ForSystem(systems, vocabulary->system);
    if (item.descendants && vocabulary->hierarchical_code) {
      AddUnique(s.prefixes, item.code);
    } else {
      AddUnique(s.codes, item.code);
      if (item.descendants) ++not_expanded[item.vocabulary];
    }
  }

  int excluded_descendants = 0;
  for (const Item& item : items) {
    if (!item.excluded) continue;
    const Vocabulary* vocabulary = FindVocabulary(item.vocabulary);
    if (vocabulary == nullptr) continue;  // nothing of that vocabulary was included either
    SystemCodes& s = ForSystem(systems, vocabulary->system);
    std::erase(s.codes, item.code);
    bool hierarchical = vocabulary->hierarchical_code;
    if (item.descendants && hierarchical) {
      std::erase_if(s.codes, [&](const std::string& c) { return c.starts_with(item.code); });
      std::erase_if(s.prefixes, [&](const std::string& p) { return p.starts_with(item.code); });
    } else if (item.descendants) {
      ++excluded_descendants;
    }
    for (const std::string& p : s.prefixes) {
      if (item.code.starts_with(p)) {
        local.Unsupported(items_path, "excluded concept " + item.vocabulary + " " + item.code +
                                          " lies under included prefix " + p +
                                          ": medlake code sets cannot subtract codes");
      }
    }
  }

  if (!no_system.empty()) {
    int n = 0;
    for (const auto& [v, count] : no_system) n += count;
    local.Unsupported(items_path, std::to_string(n) + " concepts have no FHIR code system (" +
                                      CountsText(no_system) + "): left out of code set '" +
                                      set.name + "'");
  }
  if (missing_code > 0) {
    local.Unsupported(items_path, std::to_string(missing_code) +
                                      " concepts without CONCEPT_CODE or VOCABULARY_ID: left out");
  }
  if (!not_expanded.empty()) {
    int n = 0;
    for (const auto& [v, count] : not_expanded) n += count;
    local.Approximate(items_path,
                      "descendants of " + std::to_string(n) + " concepts not expanded (" +
                          CountsText(not_expanded) +
                          "): medlake has no vocabulary hierarchy; only the listed codes match" +
                          (not_expanded.count("RxNorm")
                               ? " (RxNorm ingredients do not match prescriptions coded by "
                                 "clinical drug)"
                               : ""));
  }
  if (excluded_descendants > 0) {
    local.Approximate(items_path, "descendants of " + std::to_string(excluded_descendants) +
                                      " excluded concepts cannot be identified without a "
                                      "vocabulary: only the excluded codes themselves are removed");
  }
  if (emergency_admissions) {
    local.Approximate(items_path,
                      "Visit ERIP (emergency room and inpatient visit) is an admission: "
                      "Encounter.class IMP, which does not tell whether the admission came "
                      "through the emergency room");
  }
  if (mapped > 0) {
    local.Approximate(items_path, "includeMapped on " + std::to_string(mapped) +
                                      " concepts: source codes mapped to them are not added "
                                      "(no vocabulary)");
  }

  set.entries = Value::Array();
  for (const SystemCodes& s : systems) {
    if (!s.codes.empty()) {
      Value entry = Value::Object();
      entry.Set("system", Value::String(s.system));
      Value& codes = entry.Set("codes", Value::Array());
      for (const std::string& c : s.codes) codes.Push(Value::String(c));
      set.entries.Push(std::move(entry));
    }
    if (!s.prefixes.empty()) {
      Value entry = Value::Object();
      entry.Set("system", Value::String(s.system));
      Value& prefixes = entry.Set("prefix", Value::Array());
      for (const std::string& p : s.prefixes) prefixes.Push(Value::String(p));
      set.entries.Push(std::move(entry));
    }
  }
  if (set.entries.size() == 0) {
    local.Unsupported(
        items_path,
        "code set '" + set.name + "' has no translatable code: criteria using it match nothing");
  }
  set.unsupported = std::move(local.unsupported);
  set.approximations = std::move(local.approximations);
  if (sets_.count(*key)) {
    issues_.Unsupported(path, "duplicate concept set id " + std::to_string(*key) + ": ignored");
    return;
  }
  sets_.emplace(*key, std::move(set));
}

void CodesetTable::Report(Set& set) {
  if (set.reported) return;
  set.reported = true;
  for (const CirceIssue& issue : set.unsupported) issues_.unsupported.push_back(issue);
  for (const CirceIssue& issue : set.approximations) issues_.approximations.push_back(issue);
}

std::optional<std::string> CodesetTable::Use(int64_t id, const std::string& ref_path) {
  auto it = sets_.find(id);
  if (it == sets_.end()) {
    issues_.Unsupported(ref_path, "no concept set with id " + std::to_string(id));
    return std::nullopt;
  }
  Set& set = it->second;
  Report(set);
  if (!set.emitted) {
    set.emitted = true;
    used_.emplace_back(set.name, set.entries);
  }
  return set.name;
}

bool CodesetTable::Has(int64_t id) const {
  return sets_.count(id) > 0;
}

std::string CodesetTable::UseUnion(const std::vector<int64_t>& ids, const std::string& name) {
  Value entries = Value::Array();
  for (int64_t id : ids) {
    auto it = sets_.find(id);
    if (it == sets_.end()) continue;
    Report(it->second);
    for (const Value& entry : it->second.entries.items()) entries.Push(entry);
  }
  used_.emplace_back(name, std::move(entries));
  return name;
}

Value CodesetTable::ToJson() const {
  Value out = Value::Object();
  for (const auto& [name, entries] : used_) out.Set(name, entries);
  return out;
}

}  // namespace medlake::cohort::circe_internal
