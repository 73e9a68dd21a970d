// The Circe document: entry events and limits as the medlake index, additional criteria and
// inclusion rules as inclusion rules, exit-shaping members reported.
#include "cohort/circe.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "cohort/circe_internal.h"

namespace medlake::cohort {
namespace {

using circe_internal::CodesetTable;
using circe_internal::Context;
using circe_internal::EventPart;
using circe_internal::Integer;
using circe_internal::Issues;
using circe_internal::Join;
using circe_internal::Members;
using circe_internal::Value;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The Type of a Circe ResultLimit: "First" when absent (ResultLimit.type defaults to "First"),
// compared without case, as CohortExpressionQueryBuilder does (equalsIgnoreCase "ALL" and
// "LAST"): "all" is All.
std::string LimitType(std::optional<json::Node> limit, const std::string& path, Issues& issues) {
  if (!limit) return "First";
  Members m(*limit, path, issues);
  auto type = m.Take("Type", circe_internal::Shape::kString);
  m.Finish("not translated: unknown member of a limit");
  std::string t = type ? Lower(type->GetString()) : "first";
  if (t == "all") return "All";
  if (t == "last") return "Last";
  if (t != "first") {
    issues.Unsupported(Join(path, "Type"),
                       "unknown limit '" + std::string(type->GetString()) + "': read as First");
  }
  return "First";
}

Value Rule(std::string name, Value criterion) {
  Value rule = Value::Object();
  rule.Set("name", Value::String(std::move(name)));
  rule.Set("criterion", std::move(criterion));
  return rule;
}

// The entry events (PrimaryCriteria.CriteriaList) read as one event: the index.
struct Entry {
  EventPart part;  // the shape shared by the merged entries
  std::vector<std::string> types;
  std::vector<std::optional<int64_t>> codeset_ids;
  std::vector<std::string> codeset_paths;
  std::string path;  // of the first merged entry
};

// What must be equal for two entries to be one event criterion with a type list and a union
// code set.
std::string Shape(const EventPart& part) {
  EventPart shape = part;
  shape.types.clear();
  shape.codeset_id.reset();
  std::string s = circe_internal::EventBody(shape, "").Dump();
  for (const Value& f : part.person_filters) s += "|" + f.Dump();
  if (part.correlated) s += "|" + part.correlated->ToJson();
  return s;
}

bool SameTypes(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  return sorted(a) == sorted(b);
}

// Circe's entry events are the union (UNION ALL) of its entries' events. Merged into one event
// criterion, the types and the code sets are each united: exact when every entry has the same
// types or every entry the same codes. An entry of any code (no CodesetId) on other types than
// an entry with a code set cannot merge: every listed type would then take any code.
std::optional<Entry> ReadEntries(json::Node list, const std::string& path, Context& ctx) {
  std::optional<Entry> entry;
  std::string shape;
  bool same_types = true;  // every merged entry has the types of the first
  size_t i = 0;
  list.ForEachItem([&](json::Node item) {
    std::string item_path = circe_internal::Index(path, i++);
    auto part = ReadDomainCriterion(item, item_path, circe_internal::Role::kEntry, ctx);
    if (!part) return true;
    if (part->death) {
      ctx.issues.Unsupported(item_path,
                             "death as the entry event: medlake's index is the start of a "
                             "resource, and a death is a Patient element");
      return true;
    }
    if (!entry) {
      entry = Entry{*part, part->types, {part->codeset_id}, {part->codeset_path}, item_path};
      shape = Shape(*part);
      return true;
    }
    if (Shape(*part) != shape) {
      ctx.issues.Unsupported(item_path,
                             "entry event with other filters than " + entry->path +
                                 ": medlake's index is one event criterion (a type list and one "
                                 "code set), so this entry is left out");
      return true;
    }
    bool types_stay = same_types && SameTypes(part->types, entry->part.types);
    bool any_code = !part->codeset_id;
    bool coded = !any_code;
    for (const auto& id : entry->codeset_ids) {
      any_code = any_code || !id;
      coded = coded || id.has_value();
    }
    if (any_code && coded && !types_stay) {
      ctx.issues.Unsupported(item_path,
                             "entries of any code (no CodesetId) and entries with a code set, on "
                             "different resource types: medlake's index is one event criterion "
                             "(a type list and one code set for every type), so this entry is "
                             "left out");
      return true;
    }
    same_types = types_stay;
    for (const std::string& t : part->types) {
      if (std::find(entry->types.begin(), entry->types.end(), t) == entry->types.end()) {
        entry->types.push_back(t);
      }
    }
    entry->codeset_ids.push_back(part->codeset_id);
    entry->codeset_paths.push_back(part->codeset_path);
    return true;
  });
  return entry;
}

// The code set name of the merged entries; "" for any code.
std::string EntryCodeset(const Entry& entry, const std::string& path, Context& ctx) {
  std::vector<int64_t> ids;
  for (size_t i = 0; i < entry.codeset_ids.size(); ++i) {
    if (!entry.codeset_ids[i]) return "";  // one entry takes any code
    if (!ctx.codesets.Has(*entry.codeset_ids[i])) {
      ctx.codesets.Use(*entry.codeset_ids[i], entry.codeset_paths[i]);  // reports it
      continue;
    }
    if (std::find(ids.begin(), ids.end(), *entry.codeset_ids[i]) == ids.end()) {
      ids.push_back(*entry.codeset_ids[i]);
    }
  }
  if (ids.empty()) return "";
  if (ids.size() == 1) return ctx.codesets.Use(ids[0], entry.codeset_paths[0]).value_or("");
  if (entry.types.size() > 1) {
    ctx.issues.Approximate(path,
                           "entry events of different domains and code sets merged into one "
                           "event: every code set applies to every listed resource type");
  }
  return ctx.codesets.UseUnion(ids, "entry_events");
}

// Reports a member that only shapes cohort exit dates or eras.
void ReportExit(std::string path, std::string_view what, Issues& issues) {
  issues.Approximate(std::move(path),
                     std::string(what) +
                         ": not translated, exit dates are out of scope (a medlake cohort is "
                         "patients with an index date); membership is unchanged");
}

// The index and what decides its select.
struct IndexFacts {
  Value index;                   // {"event": ...}; null when no entry could be translated
  bool has_pre_filters = false;  // the entry events have their own criteria (a rule)
  bool entry_first = false;      // the index is each person's first entry event
};

// The index event of `entry` and the rule "Entry event criteria" (appended to `rules`).
IndexFacts TranslateIndex(const Entry& entry, const std::string& primary_limit,
                          const std::string& limit_path, Context& ctx, std::vector<Value>& rules) {
  Issues& issues = ctx.issues;
  IndexFacts facts;
  std::string codeset = EntryCodeset(entry, "PrimaryCriteria.CriteriaList", ctx);
  EventPart part = entry.part;
  part.types = entry.types;
  // Circe's First on an entry is the person's first occurrence, before any other filter:
  // medlake's index "first" when nothing else filters the entry events.
  if (part.first) {
    part.first = false;  // the index event has no select of its own
    bool filtered = part.date_start || part.date_end || part.value || part.length_of_stay;
    if (!filtered && (entry.codeset_ids.size() == 1 || primary_limit == "First")) {
      facts.entry_first = true;
    } else {
      issues.Unsupported(entry.path,
                         "First on entry events that are also filtered by date or value, or on "
                         "several entries: Circe takes each first occurrence before filtering; "
                         "medlake's index chooses among the filtered events");
    }
  }
  facts.index = Value::Object();
  facts.index.Set("event", circe_internal::EventBody(part, codeset));

  Value filters = Value::Array();
  for (const Value& f : part.person_filters) filters.Push(f);
  if (part.correlated) {
    if (auto g = TranslateGroup(*part.correlated, part.correlated_path, ctx)) {
      filters.Push(std::move(*g));
    }
  }
  facts.has_pre_filters = filters.size() > 0;
  if (filters.size() == 1) {
    rules.push_back(Rule("Entry event criteria", filters.items()[0]));
  } else if (filters.size() > 1) {
    Value all = Value::Object();
    all.Set("all", std::move(filters));
    rules.push_back(Rule("Entry event criteria", std::move(all)));
  }

  // Circe filters entry events before taking the first (or last) one; medlake takes it and
  // then applies the rule. The same only for an upper age bound with First (the first event
  // is the youngest), a lower one with Last, and the patient's gender.
  if (primary_limit != "All" && !facts.entry_first) {
    bool same = !part.correlated;
    for (const std::string& op : part.age_ops) {
      bool upper = op == "lt" || op == "lte";
      bool lower = op == "gt" || op == "gte";
      same = same && (primary_limit == "First" ? upper : lower);
    }
    if (!same) {
      std::string limit = Lower(primary_limit);
      issues.Unsupported(limit_path, "Circe takes the " + limit +
                                         " entry event that meets the entry event's own "
                                         "criteria; medlake takes the " +
                                         limit +
                                         " entry event and then applies them as the rule "
                                         "\"Entry event criteria\"");
    }
  }
  return facts;
}

// The index's select. Circe applies, in order, PrimaryCriteriaLimit, the additional criteria,
// QualifiedLimit, the inclusion rules and ExpressionLimit, and QualifiedLimit only when the
// document has AdditionalCriteria (CohortExpressionQueryBuilder.buildExpressionQuery writes
// "WHERE QE.ordinal = 1" only if additionalCriteria != null). medlake applies its select before
// every rule, and "all" admits a patient when any entry event meets every rule, reported with
// the earliest.
std::string ChooseSelect(const std::string& primary_limit, const std::string& qualified_limit,
                         const std::string& expression_limit, const IndexFacts& facts,
                         bool additional_present, bool has_additional, bool has_inclusion,
                         Issues& issues) {
  if (facts.entry_first) return "first";
  // One event per person from here on: the later limits have nothing to choose from.
  if (primary_limit != "All") return Lower(primary_limit);
  bool filtered = facts.has_pre_filters || has_additional;
  if (!additional_present || qualified_limit == "All") {
    // Only ExpressionLimit chooses, after every rule.
    if (!filtered && !has_inclusion && expression_limit != "All") return Lower(expression_limit);
    if (expression_limit == "Last") {
      issues.Approximate("ExpressionLimit",
                         "the index date is the earliest qualifying event, where Circe takes the "
                         "last; membership is unchanged");
    }
    return "all";
  }
  if (!filtered) return Lower(qualified_limit);
  if (has_inclusion) {
    issues.Unsupported("QualifiedLimit",
                       "Circe tests the inclusion rules on the " + Lower(qualified_limit) +
                           " event that meets the entry and additional criteria only; medlake "
                           "tests them on every such event");
  } else if (qualified_limit == "Last") {
    issues.Approximate("QualifiedLimit",
                       "the index date is the earliest event that meets the additional "
                       "criteria, where Circe takes the last; membership is unchanged");
  }
  return "all";
}

// Members that shape cohort exits and eras only (approximations), or drop eras outside a
// calendar window (unsupported).
void ReportExitMembers(Members& doc, Issues& issues) {
  if (auto end = doc.Take("EndStrategy", circe_internal::Shape::kObject);
      end && !circe_internal::IsEmptyValue(*end)) {
    std::string what = "exit strategy";
    end->ForEachField([&](std::string_view key, json::Node) {
      what = "exit strategy " + std::string(key);
      return false;
    });
    ReportExit("EndStrategy", what, issues);
  }
  if (auto censoring = doc.Take("CensoringCriteria", circe_internal::Shape::kArray);
      censoring && !circe_internal::IsEmptyValue(*censoring)) {
    ReportExit("CensoringCriteria",
               std::to_string(censoring->Size()) + " censoring criteria (events that end an era)",
               issues);
  }
  if (auto collapse = doc.Take("CollapseSettings")) {
    Members m(*collapse, "CollapseSettings", issues);
    auto type = m.Take("CollapseType", circe_internal::Shape::kString);
    auto pad = m.Take("EraPad", circe_internal::Shape::kNumber);
    m.Finish("not translated: unknown member of the collapse settings");
    if (!m.malformed()) {
      ReportExit("CollapseSettings",
                 "entries collapsed into eras (" +
                     std::string(type ? type->GetString() : std::string_view("ERA")) + ", pad " +
                     std::to_string(pad ? Integer(*pad).value_or(0) : 0) + " days)",
                 issues);
    }
  }
  if (auto window = doc.Take("CensorWindow", circe_internal::Shape::kObject);
      window && !circe_internal::IsEmptyValue(*window)) {
    issues.Unsupported("CensorWindow",
                       "cohort eras clipped to a calendar window (eras outside it dropped): "
                       "medlake cohorts have no eras; not translated");
  }
}

}  // namespace

Result<CirceTranslation> TranslateCirce(std::string_view circe_json, std::string_view name) {
  json::Parser parser;
  parser.set_keep_number_text(true);
  auto parsed = parser.Parse(circe_json);
  if (!parsed.ok()) return parsed.status();
  json::Node root = *parsed;
  if (!root.IsObject() || !root.Find("PrimaryCriteria") ||
      !root.Find("PrimaryCriteria")->IsObject()) {
    return InvalidArgument("not a Circe cohort expression: no PrimaryCriteria object");
  }

  Issues issues;
  Members doc(root, "", issues);
  CodesetTable codesets(doc.Take("ConceptSets", circe_internal::Shape::kArray), "ConceptSets",
                        issues);
  Context ctx{issues, codesets};

  // Entry events.
  auto primary = doc.Take("PrimaryCriteria");
  Members pc(*primary, "PrimaryCriteria", issues);
  std::optional<Entry> entry;
  if (auto list = pc.Take("CriteriaList", circe_internal::Shape::kArray))
    entry = ReadEntries(*list, pc.PathOf("CriteriaList"), ctx);
  if (auto window = pc.Take("ObservationWindow")) {
    Members w(*window, pc.PathOf("ObservationWindow"), issues);
    auto prior = w.Take("PriorDays");
    auto post = w.Take("PostDays");
    w.Finish("not translated: unknown member of the observation window");
    std::optional<int64_t> prior_days = prior ? Integer(*prior) : 0;
    std::optional<int64_t> post_days = post ? Integer(*post) : 0;
    if (!w.malformed() && (!prior_days || !post_days)) {
      issues.Unsupported(pc.PathOf("ObservationWindow"),
                         "PriorDays and PostDays must be integers: not translated");
    } else if (!w.malformed() && (*prior_days != 0 || *post_days != 0)) {
      issues.Unsupported(pc.PathOf("ObservationWindow"),
                         "requires " + std::to_string(*prior_days) +
                             " days of continuous observation before and " +
                             std::to_string(*post_days) +
                             " after the entry event: FHIR has no observation periods");
    }
  }
  std::string primary_limit =
      LimitType(pc.Take("PrimaryCriteriaLimit"), pc.PathOf("PrimaryCriteriaLimit"), issues);
  pc.Finish("not translated: unknown member of the primary criteria");

  std::vector<Value> rules;
  IndexFacts facts;
  if (entry) {
    facts = TranslateIndex(*entry, primary_limit, pc.PathOf("PrimaryCriteriaLimit"), ctx, rules);
  } else {
    issues.Unsupported("PrimaryCriteria",
                       "no entry event could be translated: the cohort has no index and is not "
                       "runnable as is");
  }

  // Additional criteria, then the qualified and expression limits.
  bool has_additional = false;
  bool additional_present = false;
  if (auto additional = doc.Take("AdditionalCriteria", circe_internal::Shape::kObject)) {
    additional_present = true;
    if (auto g = TranslateGroup(*additional, "AdditionalCriteria", ctx)) {
      const Value* all = g->Get("all");
      bool always = all && all->size() == 0;
      if (!always) {
        rules.push_back(Rule("Additional entry criteria", std::move(*g)));
        has_additional = true;
      }
    }
  }
  std::string qualified_limit = LimitType(doc.Take("QualifiedLimit"), "QualifiedLimit", issues);
  std::string expression_limit = LimitType(doc.Take("ExpressionLimit"), "ExpressionLimit", issues);

  // Inclusion rules.
  std::string rule_descriptions;
  size_t first_inclusion = rules.size();
  if (auto list = doc.Take("InclusionRules", circe_internal::Shape::kArray)) {
    size_t i = 0;
    list->ForEachItem([&](json::Node rule) {
      std::string path = circe_internal::Index("InclusionRules", i++);
      Members m(rule, path, issues);
      if (m.malformed()) return true;
      auto rule_name = m.Take("name", circe_internal::Shape::kString);
      auto description = m.Take("description", circe_internal::Shape::kString);
      auto expression = m.Take("expression");
      m.Finish("not translated: unknown member of an inclusion rule");
      std::string n = rule_name ? std::string(rule_name->GetString()) : "";
      if (n.empty()) n = "Inclusion rule " + std::to_string(i);
      if (description && !description->GetString().empty()) {
        rule_descriptions += "\n" + n + ": " + std::string(description->GetString());
      }
      if (!expression) {
        issues.Unsupported(path, "inclusion rule without an expression: left out");
        return true;
      }
      if (auto g = TranslateGroup(*expression, Join(path, "expression"), ctx)) {
        rules.push_back(Rule(n, std::move(*g)));
      } else {
        issues.Unsupported(path, "no part of the rule could be translated: left out");
      }
      return true;
    });
  }
  bool has_inclusion = rules.size() > first_inclusion;

  std::string select = ChooseSelect(primary_limit, qualified_limit, expression_limit, facts,
                                    additional_present, has_additional, has_inclusion, issues);
  if (!facts.index.IsNull()) facts.index.Set("select", Value::String(select));

  ReportExitMembers(doc, issues);
  doc.Take("cdmVersionRange");  // the OMOP CDM versions the SQL targets: moot on FHIR
  doc.Finish("not translated: unknown member of a Circe cohort expression");

  Value out = Value::Object();
  out.Set("medlake_cohort", Value::Int(1));
  out.Set("name", Value::String(name.empty() ? "OHDSI Circe cohort" : std::string(name)));
  out.Set("description", Value::String("Translated from an OHDSI Circe cohort definition by "
                                       "medlake cohort import-circe." +
                                       rule_descriptions));
  out.Set("codesets", codesets.ToJson());
  if (!facts.index.IsNull()) out.Set("index", std::move(facts.index));
  Value& inclusion = out.Set("inclusion", Value::Array());
  for (Value& rule : rules) inclusion.Push(std::move(rule));

  CirceTranslation t;
  t.cohort_json = out.Pretty();
  t.unsupported = std::move(issues.unsupported);
  t.approximations = std::move(issues.approximations);
  return t;
}

std::string FormatCirceReport(const CirceTranslation& translation) {
  std::string out;
  for (const CirceIssue& issue : translation.unsupported) {
    out += "unsupported   " + issue.path + ": " + issue.reason + "\n";
  }
  for (const CirceIssue& issue : translation.approximations) {
    out += "approximated  " + issue.path + ": " + issue.reason + "\n";
  }
  out += std::to_string(translation.unsupported.size()) + " unsupported, " +
         std::to_string(translation.approximations.size()) + " approximated: ";
  out += translation.complete()
             ? (translation.approximations.empty() ? "translated exactly\n"
                                                   : "translated with approximations\n")
             : "incomplete translation (unsupported elements left out)\n";
  return out;
}

}  // namespace medlake::cohort
