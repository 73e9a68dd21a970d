// Row generation: forEach / forEachOrNull / repeat iteration, column evaluation, and the
// cross products of nested selects and unionAll branches.
#include <string>
#include <unordered_set>

#include "views/plan.h"

namespace medlake::views {
namespace {

// A view's name in messages ("(unnamed)" when the ViewDefinition has none).
std::string ViewName(const std::string& name) {
  return name.empty() ? "(unnamed)" : name;
}

using fhirpath::Collection;
using fhirpath::Item;

// Columns set so far for one row: (column index, JSON text).
using Partial = std::vector<std::pair<size_t, std::string>>;

class RowBuilder {
 public:
  RowBuilder(const View::Plan& plan, const Collection& resource, std::optional<json::Node> bundle,
             const fhirpath::Resolver& resolver)
      : plan_(plan), resource_(resource) {
    env_ = plan.constants;
    env_.bundle = bundle;
    env_.resolver = resolver;
  }

  Result<Collection> Eval(const fhirpath::Expression& expr, const Item& focus, int64_t row_index) {
    env_.variables["rowIndex"] = Collection{Item::Integer(row_index)};
    Collection context{focus};
    return expr.Evaluate(context, resource_, env_);
  }

  Result<std::vector<Partial>> Rows(const SelectPlan& s, const Item& focus, int64_t row_index) {
    std::vector<std::pair<Item, int64_t>> foci;
    if (s.for_each) {
      MEDLAKE_ASSIGN_OR_RETURN(Collection items, Eval(*s.for_each, focus, row_index));
      for (size_t i = 0; i < items.size(); ++i) foci.emplace_back(items[i], int64_t(i));
      if (items.empty() && s.or_null) {
        // One row: this select's columns evaluated on nothing (%rowIndex and constants still
        // apply), everything below it null.
        Partial nulls;
        for (size_t c : s.all_columns) nulls.emplace_back(c, "null");
        for (const ColumnPlan& c : s.columns) {
          env_.variables["rowIndex"] = Collection{Item::Integer(0)};
          MEDLAKE_ASSIGN_OR_RETURN(Collection values,
                                   c.path.Evaluate(Collection{}, resource_, env_));
          MEDLAKE_ASSIGN_OR_RETURN(std::string text, Cell(c, values));
          nulls.emplace_back(c.index, std::move(text));
        }
        return std::vector<Partial>{nulls};
      }
    } else if (!s.repeat.empty()) {
      Collection items;
      MEDLAKE_RETURN_IF_ERROR(Repeat(s, focus, items));
      for (size_t i = 0; i < items.size(); ++i) foci.emplace_back(items[i], int64_t(i));
    } else {
      foci.emplace_back(focus, row_index);
    }
    std::vector<Partial> out;
    for (const auto& [item, index] : foci) {
      std::vector<Partial> parts(1);
      for (const ColumnPlan& c : s.columns) {
        MEDLAKE_ASSIGN_OR_RETURN(Collection values, Eval(c.path, item, index));
        MEDLAKE_ASSIGN_OR_RETURN(std::string text, Cell(c, values));
        parts[0].emplace_back(c.index, std::move(text));
      }
      for (const SelectPlan& nested : s.selects) {
        MEDLAKE_ASSIGN_OR_RETURN(std::vector<Partial> sub, Rows(nested, item, index));
        parts = Product(parts, sub);
        if (parts.empty()) break;
      }
      if (!s.union_all.empty() && !parts.empty()) {
        std::vector<Partial> branches;
        for (const SelectPlan& branch : s.union_all) {
          MEDLAKE_ASSIGN_OR_RETURN(std::vector<Partial> sub, Rows(branch, item, index));
          for (Partial& p : sub) branches.push_back(std::move(p));
        }
        parts = Product(parts, branches);
      }
      for (Partial& p : parts) out.push_back(std::move(p));
    }
    return out;
  }

 private:
  Result<std::string> Cell(const ColumnPlan& c, const Collection& values) const {
    if (!c.collection && values.size() > 1) {
      return InvalidArgument("column '" + plan_.columns[c.index].name + "' of view " +
                             ViewName(plan_.name) + " yields " + std::to_string(values.size()) +
                             " values; set collection: true");
    }
    std::string text;
    if (c.collection) {
      text = fhirpath::CollectionToJson(values);
    } else if (values.empty()) {
      text = "null";
    } else {
      fhirpath::AppendItemJson(values[0], text);
    }
    return text;
  }

  // Depth-first closure of the repeat paths: each node reached, then what is reached from it.
  // As FHIRPath's repeat() (N1 §5.2.4: "Items are only added if not already in the output
  // collection", by equality), an item already reached is not added or followed again, so
  // cyclic data (Organizations partOf each other through resolve()) ends; identical elements
  // thus give one row. A chain of new items deeper than kMaxRepeatDepth (a path that computes
  // ever new values) is an error rather than a stack overflow.
  static constexpr int kMaxRepeatDepth = 1000;

  Status Repeat(const SelectPlan& s, const Item& node, Collection& out) {
    std::unordered_set<std::string> seen;
    return Repeat(s, node, 1, seen, out);
  }

  Status Repeat(const SelectPlan& s, const Item& node, int depth,
                std::unordered_set<std::string>& seen, Collection& out) {
    for (const fhirpath::Expression& path : s.repeat) {
      MEDLAKE_ASSIGN_OR_RETURN(Collection children, Eval(path, node, 0));
      for (const Item& child : children) {
        // The key of N1 equality: a FHIR element's JSON, a System value's kind and text.
        std::string key = fhirpath::ItemTypeName(child) + ":" + fhirpath::ItemToString(child);
        if (!seen.insert(std::move(key)).second) continue;
        if (depth > kMaxRepeatDepth) {
          return InvalidArgument("repeat path '" + path.text() + "' of view " +
                                 ViewName(plan_.name) + " reaches more than " +
                                 std::to_string(kMaxRepeatDepth) + " levels");
        }
        out.push_back(child);
        MEDLAKE_RETURN_IF_ERROR(Repeat(s, child, depth + 1, seen, out));
      }
    }
    return Status::Ok();
  }

  static std::vector<Partial> Product(const std::vector<Partial>& a,
                                      const std::vector<Partial>& b) {
    std::vector<Partial> out;
    out.reserve(a.size() * b.size());
    for (const Partial& x : a) {
      for (const Partial& y : b) {
        Partial row = x;
        row.insert(row.end(), y.begin(), y.end());
        out.push_back(std::move(row));
      }
    }
    return out;
  }

  const View::Plan& plan_;
  const Collection& resource_;
  fhirpath::Environment env_;
};

}  // namespace

Status View::Evaluate(json::Node resource, std::vector<Row>& rows, std::optional<json::Node> bundle,
                      const fhirpath::Resolver& resolver) const {
  auto type = resource.Find("resourceType");
  if (!type || type->GetString() != plan_->resource) return Status::Ok();
  Collection root{fhirpath::ResourceItem(resource)};
  RowBuilder builder(*plan_, root, bundle, resolver);
  for (const fhirpath::Expression& where : plan_->where) {
    MEDLAKE_ASSIGN_OR_RETURN(Collection r, builder.Eval(where, root[0], 0));
    if (r.empty()) return Status::Ok();
    if (r.size() > 1 || r[0].kind != fhirpath::ValueKind::kBoolean) {
      return InvalidArgument("where path '" + where.text() + "' of view " + ViewName(plan_->name) +
                             " must yield a single Boolean");
    }
    if (!r[0].boolean) return Status::Ok();
  }
  MEDLAKE_ASSIGN_OR_RETURN(std::vector<Partial> partials, builder.Rows(plan_->root, root[0], 0));
  for (const Partial& p : partials) {
    Row row(plan_->columns.size(), "null");
    for (const auto& [index, text] : p) row[index] = text;
    rows.push_back(std::move(row));
  }
  return Status::Ok();
}

}  // namespace medlake::views
