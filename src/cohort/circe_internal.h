// Pieces of the Circe importer shared by its files: issue collection, a member walker that
// reports what nobody read, concept sets as code sets, and criteria translation.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cohort/circe.h"
#include "cohort/circe_value.h"
#include "json/json.h"

namespace medlake::cohort::circe_internal {

class Issues {
 public:
  void Unsupported(std::string path, std::string reason) {
    unsupported.push_back({std::move(path), std::move(reason)});
  }
  void Approximate(std::string path, std::string reason) {
    approximations.push_back({std::move(path), std::move(reason)});
  }

  std::vector<CirceIssue> unsupported;
  std::vector<CirceIssue> approximations;
};

// "a.b" joins; an empty parent gives "b".
std::string Join(std::string_view parent, std::string_view key);
std::string Index(std::string_view parent, size_t i);

// The JSON kinds Circe's members have (its Java fields: objects, arrays, strings, numbers,
// booleans).
enum class Shape { kObject, kArray, kString, kNumber, kBool };

// The members of one Circe object. Take() marks a member as read; Finish() reports every
// member that was not read and is not empty (null, false, [] and {} carry no meaning in
// Circe) as unsupported.
//
// A node that is not an object (a string where Circe has an object: "StartWindow": "30 days")
// is reported as unsupported at `path` on construction, and so is a member taken with a Shape
// it does not have; malformed() then tells the caller to leave out what it was translating
// rather than read the member as absent.
class Members {
 public:
  Members(json::Node node, std::string path, Issues& issues);

  // The member when present and not null.
  std::optional<json::Node> Take(std::string_view key);
  // The member when present, not null and of `shape`; nullopt (reported, malformed()) when it
  // has another kind.
  std::optional<json::Node> Take(std::string_view key, Shape shape);
  std::string PathOf(std::string_view key) const { return Join(path_, key); }
  const std::string& path() const { return path_; }
  // The object is not an object, or a member taken with a Shape has another kind.
  bool malformed() const { return malformed_; }
  // Reports the unread members as unsupported: "<reason>".
  void Finish(std::string_view reason);

 private:
  json::Node node_;
  std::string path_;
  Issues& issues_;
  std::vector<std::string> taken_;
  bool malformed_ = false;
};

// The kind of `node` as Circe's documentation would name it ("a string", "an array", ...).
std::string_view KindName(json::Node node);

// True for members that say nothing: null, false, [] and {}.
bool IsEmptyValue(json::Node node);

// The integer `node` holds (an integral number that fits in int64), else nullopt.
std::optional<int64_t> Integer(json::Node node);

// An OMOP concept as Circe writes it (a row of the CONCEPT table).
struct Concept {
  int64_t id = 0;
  std::string code;        // CONCEPT_CODE
  std::string vocabulary;  // VOCABULARY_ID
};

// Reads a concept; its descriptive columns (name, domain, class, validity) are read without
// a report, unknown members are reported.
Concept ReadConcept(json::Node node, const std::string& path, Issues& issues);

// Circe ConceptSets as medlake code sets. Every concept set is translated up front; its issues
// are reported (and the code set written) only when a criterion uses it, so that concept sets
// nothing refers to do not count against the translation.
class CodesetTable {
 public:
  CodesetTable(std::optional<json::Node> concept_sets, std::string path, Issues& issues);

  // The medlake code set name for Circe concept set `id`; nullopt, reported at `ref_path`,
  // when the document has no such concept set.
  std::optional<std::string> Use(int64_t id, const std::string& ref_path);
  bool Has(int64_t id) const;
  // A code set named `name`, the union of the known concept sets among `ids`; their issues
  // are reported as by Use().
  std::string UseUnion(const std::vector<int64_t>& ids, const std::string& name);

  // The "codesets" member: the used code sets, in order of first use.
  Value ToJson() const;

 private:
  struct Set {
    std::string name;
    Value entries;  // array of {"system", "codes"} / {"system", "prefix"}
    std::vector<CirceIssue> unsupported;
    std::vector<CirceIssue> approximations;
    bool reported = false;  // issues passed on to issues_
    bool emitted = false;   // written as a code set of its own
  };
  void Translate(json::Node concept_set, const std::string& path);
  void Report(Set& set);

  Issues& issues_;
  std::map<int64_t, Set> sets_;
  std::vector<std::pair<std::string, Value>> used_;  // name, entries
};

struct Context {
  Issues& issues;
  CodesetTable& codesets;
};

// A Circe domain criterion ({"ConditionOccurrence": {...}}) read as a medlake event.
struct EventPart {
  std::vector<std::string> types;     // FHIR resource types; empty when the domain is unsupported
  std::optional<int64_t> codeset_id;  // absent: any code
  std::string codeset_path;
  bool first = false;  // Circe "First": the earliest occurrence of the person's history
  bool death = false;  // a Death criterion (Patient.deceased)
  std::optional<std::string> date_start;  // OccurrenceStartDate bounds, inclusive dates
  std::optional<std::string> date_end;
  std::optional<Value> value;           // medlake "value"
  std::optional<Value> length_of_stay;  // medlake "length_of_stay"
  // Entry events only: person-level filters written on the event (Age, Gender), as medlake
  // criteria, and the event's CorrelatedCriteria group.
  std::vector<Value> person_filters;
  std::vector<std::string> age_ops;  // the Op of each Age filter
  std::optional<json::Node> correlated;
  std::string correlated_path;
};

enum class Role { kEntry, kCorrelated };

// Reads `wrapper` = {"<Domain>": {...}}; nullopt (reported) when the domain is unsupported.
std::optional<EventPart> ReadDomainCriterion(json::Node wrapper, const std::string& path, Role role,
                                             Context& ctx);

// Builds the medlake event body from a part: type, codeset, select, window, value and
// length_of_stay (no count). The window is `window` when given, else the part's date bounds.
Value EventBody(const EventPart& part, const std::string& codeset_name,
                std::optional<Value> window = std::nullopt);

// A Circe CriteriaGroup as a medlake criterion; nullopt when nothing of it could be translated.
std::optional<Value> TranslateGroup(json::Node group, const std::string& path, Context& ctx);

// Circe NumericRange {Value, Op, Extent} as medlake value comparisons: an object, or an array
// for "bt". nullopt (reported) for ops the format cannot say.
std::optional<Value> NumericComparison(json::Node range, const std::string& path,
                                       std::optional<std::string> unit, Issues& issues);

// Circe NumericRange of an age as a medlake criterion ({"age": ...} or {"not": ...}).
std::optional<Value> AgeCriterion(json::Node range, const std::string& path, Issues& issues);
// Circe gender concepts as {"sex": [...]}.
std::optional<Value> SexCriterion(json::Node concepts, const std::string& path, Issues& issues);

}  // namespace medlake::cohort::circe_internal
