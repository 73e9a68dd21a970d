#include "cohort/definition.h"

#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "common/fhir_time.h"
#include "fhir/r4_model.h"
#include "json/json.h"

namespace medlake::cohort {

namespace {

// Reads one JSON object member by member, remembering which were consumed so that unknown
// members are reported rather than ignored.
class ObjectReader {
 public:
  ObjectReader(json::Node node, std::string path) : node_(node), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  std::string Path(std::string_view member) const {
    return path_.empty() ? std::string(member) : path_ + "." + std::string(member);
  }

  std::optional<json::Node> Get(std::string_view member) {
    seen_.insert(std::string(member));
    return node_.Find(member);
  }

  // Every member must have been read.
  Status CheckNoUnknown() const {
    Status status = Status::Ok();
    node_.ForEachField([&](std::string_view key, json::Node) {
      if (seen_.count(std::string(key))) return true;
      status = InvalidArgument(Path(key) + ": unknown member");
      return false;
    });
    return status;
  }

 private:
  json::Node node_;
  std::string path_;
  std::set<std::string, std::less<>> seen_;
};

Status Expect(bool ok, const std::string& path, std::string_view what) {
  if (ok) return Status::Ok();
  return InvalidArgument(path + ": " + std::string(what));
}

// A misspelt type ("Observaton") would match nothing and silently widen an exclusion.
Status ExpectType(const std::string& type, const std::string& path) {
  return Expect(fhir::ResourceTypeIndex(type) >= 0, path,
                "unknown FHIR R4 resource type \"" + type + "\" (names are case-sensitive)");
}

Result<std::string> GetString(json::Node node, const std::string& path) {
  MEDLAKE_RETURN_IF_ERROR(Expect(node.IsString(), path, "expected a string"));
  return std::string(node.GetString());
}

Result<double> GetNumber(json::Node node, const std::string& path) {
  MEDLAKE_RETURN_IF_ERROR(Expect(node.IsNumber(), path, "expected a number"));
  double v = node.GetDouble();
  MEDLAKE_RETURN_IF_ERROR(Expect(std::isfinite(v), path, "expected a finite number"));
  return v;
}

Result<uint32_t> GetCount(json::Node node, const std::string& path) {
  MEDLAKE_ASSIGN_OR_RETURN(double v, GetNumber(node, path));
  MEDLAKE_RETURN_IF_ERROR(
      Expect(v >= 0 && v <= 1e9 && std::floor(v) == v, path, "expected a non-negative integer"));
  return static_cast<uint32_t>(v);
}

// A string or a list of strings.
Result<std::vector<std::string>> GetStrings(json::Node node, const std::string& path) {
  std::vector<std::string> out;
  if (node.IsString()) {
    out.emplace_back(node.GetString());
    return out;
  }
  MEDLAKE_RETURN_IF_ERROR(Expect(node.IsArray(), path, "expected a string or a list of strings"));
  Status status = Status::Ok();
  size_t i = 0;
  node.ForEachItem([&](json::Node item) {
    std::string item_path = path + "[" + std::to_string(i++) + "]";
    if (!item.IsString()) {
      status = InvalidArgument(item_path + ": expected a string");
      return false;
    }
    out.emplace_back(item.GetString());
    return true;
  });
  MEDLAKE_RETURN_IF_ERROR(status);
  return out;
}

// Calls fn(item, path) for every item of a list.
Status ForEachListItem(json::Node node, const std::string& path,
                       const std::function<Status(json::Node, const std::string&)>& fn) {
  MEDLAKE_RETURN_IF_ERROR(Expect(node.IsArray(), path, "expected a list"));
  Status status = Status::Ok();
  size_t i = 0;
  node.ForEachItem([&](json::Node item) {
    status = fn(item, path + "[" + std::to_string(i++) + "]");
    return status.ok();
  });
  return status;
}

class DefinitionParser {
 public:
  Result<CohortDefinition> Parse(json::Node root) {
    MEDLAKE_RETURN_IF_ERROR(Expect(root.IsObject(), "$", "a cohort document is a JSON object"));
    ObjectReader r(root, "");
    CohortDefinition def;
    auto version = r.Get("medlake_cohort");
    MEDLAKE_RETURN_IF_ERROR(
        Expect(version.has_value(), "medlake_cohort", "missing (the format version, 1)"));
    MEDLAKE_ASSIGN_OR_RETURN(uint32_t v, GetCount(*version, "medlake_cohort"));
    if (v != static_cast<uint32_t>(kFormatVersion))
      return Unsupported("medlake_cohort: format version " + std::to_string(v) +
                         " is not supported (this medlake reads version " +
                         std::to_string(kFormatVersion) + ")");
    def.version = static_cast<int>(v);
    if (auto n = r.Get("name")) {
      MEDLAKE_ASSIGN_OR_RETURN(def.name, GetString(*n, "name"));
    }
    if (auto n = r.Get("description")) {
      MEDLAKE_ASSIGN_OR_RETURN(def.description, GetString(*n, "description"));
    }
    if (auto sets = r.Get("codesets")) {
      MEDLAKE_RETURN_IF_ERROR(ParseCodeSets(*sets));
    }
    if (auto index = r.Get("index")) {
      MEDLAKE_RETURN_IF_ERROR(ParseIndex(*index, def.index));
    }
    if (auto inc = r.Get("inclusion")) {
      MEDLAKE_RETURN_IF_ERROR(ParseRules(*inc, "inclusion", def.inclusion));
    }
    if (auto exc = r.Get("exclusion")) {
      MEDLAKE_RETURN_IF_ERROR(ParseRules(*exc, "exclusion", def.exclusion));
    }
    MEDLAKE_RETURN_IF_ERROR(r.CheckNoUnknown());
    return def;
  }

 private:
  Status ParseCodeSets(json::Node node) {
    MEDLAKE_RETURN_IF_ERROR(Expect(node.IsObject(), "codesets", "expected an object"));
    Status status = Status::Ok();
    node.ForEachField([&](std::string_view name, json::Node value) {
      CodeSet set;
      status = ParseCodeSet(value, "codesets." + std::string(name), set);
      if (status.ok()) codesets_[std::string(name)] = std::move(set);
      return status.ok();
    });
    return status;
  }

  Status ParseCodeSet(json::Node node, const std::string& path, CodeSet& out) {
    return ForEachListItem(node, path, [&](json::Node item, const std::string& item_path) {
      MEDLAKE_RETURN_IF_ERROR(Expect(item.IsObject(), item_path, "expected an object"));
      ObjectReader r(item, item_path);
      CodeSetEntry entry;
      auto system = r.Get("system");
      MEDLAKE_RETURN_IF_ERROR(Expect(system.has_value(), r.Path("system"), "missing"));
      MEDLAKE_ASSIGN_OR_RETURN(entry.system, GetString(*system, r.Path("system")));
      if (auto codes = r.Get("codes")) {
        MEDLAKE_ASSIGN_OR_RETURN(entry.codes, GetStrings(*codes, r.Path("codes")));
      }
      if (auto prefix = r.Get("prefix")) {
        MEDLAKE_ASSIGN_OR_RETURN(entry.prefixes, GetStrings(*prefix, r.Path("prefix")));
      }
      for (const auto& p : entry.prefixes)
        MEDLAKE_RETURN_IF_ERROR(Expect(!p.empty(), r.Path("prefix"), "empty prefix"));
      MEDLAKE_RETURN_IF_ERROR(Expect(!entry.codes.empty() || !entry.prefixes.empty(), item_path,
                                     "needs \"codes\" or \"prefix\""));
      MEDLAKE_RETURN_IF_ERROR(r.CheckNoUnknown());
      out.push_back(std::move(entry));
      return Status::Ok();
    });
  }

  Status ParseIndex(json::Node node, IndexSpec& out) {
    MEDLAKE_RETURN_IF_ERROR(Expect(node.IsObject(), "index", "expected an object"));
    ObjectReader r(node, "index");
    auto date = r.Get("date");
    auto event = r.Get("event");
    auto select = r.Get("select");
    if (date.has_value() == event.has_value())
      return InvalidArgument("index: needs exactly one of \"date\" and \"event\"");
    if (date) {
      MEDLAKE_ASSIGN_OR_RETURN(out.fixed_text, GetString(*date, "index.date"));
      auto t = ParseFhirTime(out.fixed_text);
      MEDLAKE_RETURN_IF_ERROR(Expect(t.has_value(), "index.date", "not a FHIR date or dateTime"));
      out.kind = IndexSpec::Kind::kFixed;
      out.fixed_ms = t->start;
      MEDLAKE_RETURN_IF_ERROR(Expect(!select, "index.select", "only with \"event\""));
    } else {
      out.kind = IndexSpec::Kind::kEvent;
      MEDLAKE_RETURN_IF_ERROR(ParseEvent(*event, "index.event", out.event));
      MEDLAKE_RETURN_IF_ERROR(Expect(!out.event.window.relative(), "index.event.window",
                                     "the index event's window can only use fixed dates"));
      MEDLAKE_RETURN_IF_ERROR(Expect(out.event.count_min == 1 && !out.event.count_max,
                                     "index.event.count", "not allowed on the index event"));
      MEDLAKE_RETURN_IF_ERROR(
          Expect(out.event.select == Select::kAll, "index.event.select", "use index.select"));
      out.select = Select::kFirst;
      if (select) {
        MEDLAKE_ASSIGN_OR_RETURN(out.select, ParseSelect(*select, "index.select"));
      }
    }
    return r.CheckNoUnknown();
  }

  Result<Select> ParseSelect(json::Node node, const std::string& path) {
    MEDLAKE_ASSIGN_OR_RETURN(std::string s, GetString(node, path));
    if (s == "all") return Select::kAll;
    if (s == "first") return Select::kFirst;
    if (s == "last") return Select::kLast;
    return InvalidArgument(path + ": expected \"all\", \"first\" or \"last\"");
  }

  Status ParseRules(json::Node node, const std::string& path, std::vector<Rule>& out) {
    return ForEachListItem(node, path, [&](json::Node item, const std::string& item_path) {
      MEDLAKE_RETURN_IF_ERROR(Expect(item.IsObject(), item_path, "expected an object"));
      ObjectReader r(item, item_path);
      Rule rule;
      if (auto n = r.Get("name")) {
        MEDLAKE_ASSIGN_OR_RETURN(rule.name, GetString(*n, r.Path("name")));
      }
      if (rule.name.empty()) rule.name = item_path;
      auto c = r.Get("criterion");
      MEDLAKE_RETURN_IF_ERROR(Expect(c.has_value(), r.Path("criterion"), "missing"));
      MEDLAKE_RETURN_IF_ERROR(ParseCriterion(*c, r.Path("criterion"), rule.criterion));
      MEDLAKE_RETURN_IF_ERROR(r.CheckNoUnknown());
      out.push_back(std::move(rule));
      return Status::Ok();
    });
  }

  Status ParseCriterion(json::Node node, const std::string& path, Criterion& out) {
    MEDLAKE_RETURN_IF_ERROR(Expect(node.IsObject() && node.Size() == 1, path,
                                   "a criterion is an object with exactly one member"));
    std::string key;
    json::Node value;
    node.ForEachField([&](std::string_view k, json::Node v) {
      key = k;
      value = v;
      return false;
    });
    std::string sub = path + "." + key;
    using Kind = Criterion::Kind;
    if (key == "age") {
      out.kind = Kind::kAge;
      MEDLAKE_RETURN_IF_ERROR(Expect(value.IsObject(), sub, "expected {\"min\", \"max\"}"));
      ObjectReader r(value, sub);
      if (auto n = r.Get("min")) {
        MEDLAKE_ASSIGN_OR_RETURN(out.age_min, GetNumber(*n, r.Path("min")));
      }
      if (auto n = r.Get("max")) {
        MEDLAKE_ASSIGN_OR_RETURN(out.age_max, GetNumber(*n, r.Path("max")));
      }
      MEDLAKE_RETURN_IF_ERROR(Expect(out.age_min || out.age_max, sub, "needs min or max"));
      return r.CheckNoUnknown();
    }
    if (key == "sex") {
      out.kind = Kind::kSex;
      MEDLAKE_ASSIGN_OR_RETURN(out.sexes, GetStrings(value, sub));
      for (const auto& s : out.sexes) {
        if (s != "male" && s != "female" && s != "other" && s != "unknown")
          return InvalidArgument(sub + ": '" + s +
                                 "' is not an R4 administrative gender (male, female, other, "
                                 "unknown)");
      }
      return Status::Ok();
    }
    if (key == "deceased") {
      out.kind = Kind::kDeceased;
      MEDLAKE_RETURN_IF_ERROR(Expect(value.IsBool(), sub, "expected true or false"));
      out.deceased = value.GetBool();
      return Status::Ok();
    }
    if (key == "event") {
      out.kind = Kind::kEvent;
      return ParseEvent(value, sub, out.event);
    }
    if (key == "all" || key == "any") {
      out.kind = key == "all" ? Kind::kAll : Kind::kAny;
      return ForEachListItem(value, sub, [&](json::Node item, const std::string& item_path) {
        Criterion child;
        MEDLAKE_RETURN_IF_ERROR(ParseCriterion(item, item_path, child));
        out.children.push_back(std::move(child));
        return Status::Ok();
      });
    }
    if (key == "not") {
      out.kind = Kind::kNot;
      out.children.emplace_back();
      return ParseCriterion(value, sub, out.children.back());
    }
    if (key == "fhirpath") {
      out.kind = Kind::kFhirPath;
      MEDLAKE_RETURN_IF_ERROR(Expect(value.IsObject(), sub, "expected {\"type\", \"expression\"}"));
      ObjectReader r(value, sub);
      auto type = r.Get("type");
      auto expr = r.Get("expression");
      MEDLAKE_RETURN_IF_ERROR(Expect(type && expr, sub, "needs \"type\" and \"expression\""));
      MEDLAKE_ASSIGN_OR_RETURN(out.fhirpath_type, GetString(*type, r.Path("type")));
      MEDLAKE_RETURN_IF_ERROR(ExpectType(out.fhirpath_type, r.Path("type")));
      MEDLAKE_ASSIGN_OR_RETURN(out.fhirpath_expression, GetString(*expr, r.Path("expression")));
      if (auto w = r.Get("window")) {
        MEDLAKE_RETURN_IF_ERROR(ParseWindow(*w, r.Path("window"), out.fhirpath_window));
      }
      return r.CheckNoUnknown();
    }
    return InvalidArgument(sub +
                           ": unknown criterion (expected age, sex, deceased, event, all, any, "
                           "not or fhirpath)");
  }

  Status ParseEvent(json::Node node, const std::string& path, EventCriterion& out) {
    MEDLAKE_RETURN_IF_ERROR(Expect(node.IsObject(), path, "expected an object"));
    ObjectReader r(node, path);
    if (auto n = r.Get("type")) {
      MEDLAKE_ASSIGN_OR_RETURN(out.types, GetStrings(*n, r.Path("type")));
      for (const auto& t : out.types) MEDLAKE_RETURN_IF_ERROR(ExpectType(t, r.Path("type")));
    }
    auto codeset = r.Get("codeset");
    auto codes = r.Get("codes");
    MEDLAKE_RETURN_IF_ERROR(
        Expect(!(codeset && codes), path, "use either \"codeset\" or \"codes\", not both"));
    if (codeset) {
      MEDLAKE_ASSIGN_OR_RETURN(std::string name, GetString(*codeset, r.Path("codeset")));
      auto it = codesets_.find(name);
      if (it == codesets_.end())
        return InvalidArgument(r.Path("codeset") + ": no code set named '" + name + "'");
      out.codes = it->second;
      out.any_code = false;
    } else if (codes) {
      MEDLAKE_RETURN_IF_ERROR(ParseCodeSet(*codes, r.Path("codes"), out.codes));
      out.any_code = false;
    }
    MEDLAKE_RETURN_IF_ERROR(Expect(!out.any_code || !out.types.empty(), path,
                                   "needs a \"type\", a \"codeset\" or \"codes\""));
    if (auto n = r.Get("status")) {
      MEDLAKE_ASSIGN_OR_RETURN(out.statuses, GetStrings(*n, r.Path("status")));
    }
    if (auto n = r.Get("select")) {
      MEDLAKE_ASSIGN_OR_RETURN(out.select, ParseSelect(*n, r.Path("select")));
    }
    if (auto n = r.Get("window")) {
      MEDLAKE_RETURN_IF_ERROR(ParseWindow(*n, r.Path("window"), out.window));
    }
    if (auto n = r.Get("value")) {
      MEDLAKE_RETURN_IF_ERROR(ParseComparisons(*n, r.Path("value"), out.values));
    }
    if (auto n = r.Get("length_of_stay")) {
      MEDLAKE_RETURN_IF_ERROR(ParseComparisons(*n, r.Path("length_of_stay"), out.length_of_stay));
      for (const auto& c : out.length_of_stay)
        MEDLAKE_RETURN_IF_ERROR(Expect(c.unit.empty() || c.unit == "d", r.Path("length_of_stay"),
                                       "length of stay is in days (unit \"d\" or none)"));
    }
    if (auto n = r.Get("count")) {
      std::string cpath = r.Path("count");
      MEDLAKE_RETURN_IF_ERROR(Expect(n->IsObject(), cpath, "expected {\"min\", \"max\"}"));
      ObjectReader cr(*n, cpath);
      std::optional<uint32_t> min;
      if (auto m = cr.Get("min")) {
        MEDLAKE_ASSIGN_OR_RETURN(min, GetCount(*m, cr.Path("min")));
      }
      if (auto m = cr.Get("max"); m && !m->IsNull()) {
        MEDLAKE_ASSIGN_OR_RETURN(uint32_t max, GetCount(*m, cr.Path("max")));
        out.count_max = max;
      }
      // "at most k" includes none; otherwise at least one.
      out.count_min = min ? *min : (out.count_max ? 0 : 1);
      MEDLAKE_RETURN_IF_ERROR(
          Expect(!out.count_max || *out.count_max >= out.count_min, cpath, "max is below min"));
      MEDLAKE_RETURN_IF_ERROR(cr.CheckNoUnknown());
    }
    return r.CheckNoUnknown();
  }

  Status ParseWindow(json::Node node, const std::string& path, Window& out) {
    MEDLAKE_RETURN_IF_ERROR(Expect(node.IsObject(), path, "expected {\"start\", \"end\"}"));
    ObjectReader r(node, path);
    if (auto n = r.Get("start")) {
      MEDLAKE_RETURN_IF_ERROR(ParseBound(*n, r.Path("start"), false, out.start));
    }
    if (auto n = r.Get("end")) {
      MEDLAKE_RETURN_IF_ERROR(ParseBound(*n, r.Path("end"), true, out.end));
    }
    MEDLAKE_RETURN_IF_ERROR(Expect(!out.empty(), path, "needs \"start\" or \"end\""));
    return r.CheckNoUnknown();
  }

  Status ParseBound(json::Node node, const std::string& path, bool is_end, Bound& out) {
    MEDLAKE_RETURN_IF_ERROR(Expect(node.IsObject(), path, "expected {\"days\"} or {\"date\"}"));
    ObjectReader r(node, path);
    auto days = r.Get("days");
    auto date = r.Get("date");
    if (days.has_value() == date.has_value())
      return InvalidArgument(path + ": needs exactly one of \"days\" and \"date\"");
    out.present = true;
    std::optional<TimeRange> fixed;
    if (days) {
      out.relative = true;
      MEDLAKE_ASSIGN_OR_RETURN(out.days, GetNumber(*days, r.Path("days")));
    } else {
      out.relative = false;
      MEDLAKE_ASSIGN_OR_RETURN(std::string text, GetString(*date, r.Path("date")));
      fixed = ParseFhirTime(text);
      MEDLAKE_RETURN_IF_ERROR(
          Expect(fixed.has_value(), r.Path("date"), "not a FHIR date or dateTime"));
    }
    if (auto n = r.Get("inclusive")) {
      MEDLAKE_RETURN_IF_ERROR(Expect(n->IsBool(), r.Path("inclusive"), "expected true or false"));
      out.inclusive = n->GetBool();
    }
    if (fixed) {
      // A date is a whole range: an inclusive bound takes it in (an end its last millisecond,
      // a start its first), an exclusive one leaves all of it out (an end before its first
      // millisecond, a start after its last).
      out.fixed_ms = is_end == out.inclusive ? fixed->end : fixed->start;
    }
    return r.CheckNoUnknown();
  }

  Status ParseComparisons(json::Node node, const std::string& path, std::vector<Comparison>& out) {
    if (node.IsArray()) {
      return ForEachListItem(node, path, [&](json::Node item, const std::string& item_path) {
        return ParseComparison(item, item_path, out);
      });
    }
    return ParseComparison(node, path, out);
  }

  Status ParseComparison(json::Node node, const std::string& path, std::vector<Comparison>& out) {
    MEDLAKE_RETURN_IF_ERROR(
        Expect(node.IsObject(), path, "expected {\"op\", \"value\", \"unit\"}"));
    ObjectReader r(node, path);
    Comparison c;
    auto op = r.Get("op");
    auto value = r.Get("value");
    MEDLAKE_RETURN_IF_ERROR(Expect(op && value, path, "needs \"op\" and \"value\""));
    MEDLAKE_ASSIGN_OR_RETURN(std::string op_text, GetString(*op, r.Path("op")));
    static const std::map<std::string, Op, std::less<>> kOps = {{"<", Op::kLt}, {"<=", Op::kLe},
                                                                {">", Op::kGt}, {">=", Op::kGe},
                                                                {"=", Op::kEq}, {"!=", Op::kNe}};
    auto it = kOps.find(op_text);
    if (it == kOps.end())
      return InvalidArgument(r.Path("op") + ": unknown operator '" + op_text +
                             "' (expected <, <=, >, >=, = or !=)");
    c.op = it->second;
    MEDLAKE_ASSIGN_OR_RETURN(c.value, GetNumber(*value, r.Path("value")));
    if (auto u = r.Get("unit")) {
      MEDLAKE_ASSIGN_OR_RETURN(c.unit, GetString(*u, r.Path("unit")));
    }
    MEDLAKE_RETURN_IF_ERROR(r.CheckNoUnknown());
    out.push_back(std::move(c));
    return Status::Ok();
  }

  std::map<std::string, CodeSet, std::less<>> codesets_;
};

}  // namespace

std::string_view OpText(Op op) {
  switch (op) {
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
    case Op::kEq:
      return "=";
    case Op::kNe:
      return "!=";
  }
  return "?";
}

bool Compare(double lhs, Op op, double rhs) {
  switch (op) {
    case Op::kLt:
      return lhs < rhs;
    case Op::kLe:
      return lhs <= rhs;
    case Op::kGt:
      return lhs > rhs;
    case Op::kGe:
      return lhs >= rhs;
    case Op::kEq:
      return lhs == rhs;
    case Op::kNe:
      return lhs != rhs;
  }
  return false;
}

int64_t Bound::At(int64_t index_ms) const {
  if (!relative) return fixed_ms;
  return index_ms + static_cast<int64_t>(std::llround(days * static_cast<double>(kMsPerDay)));
}

bool Window::Contains(int64_t t, int64_t index_ms) const {
  if (t == kNoTime) return false;
  if (start.present) {
    int64_t b = start.At(index_ms);
    if (start.inclusive ? t < b : t <= b) return false;
  }
  if (end.present) {
    int64_t b = end.At(index_ms);
    if (end.inclusive ? t > b : t >= b) return false;
  }
  return true;
}

bool EventCriterion::IsCodeSetOnly() const {
  return statuses.empty() && select == Select::kAll && window.empty() && values.empty() &&
         length_of_stay.empty() && count_min == 1 && !count_max;
}

Result<CohortDefinition> ParseCohort(std::string_view json) {
  json::Parser parser;
  auto root = parser.Parse(json);
  if (!root.ok()) return InvalidArgument("cohort document: " + root.status().message());
  DefinitionParser p;
  return p.Parse(*root);
}

}  // namespace medlake::cohort
