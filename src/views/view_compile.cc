// Validation and compilation of ViewDefinitions.
#include <set>

#include "fhirpath/types.h"
#include "views/plan.h"

namespace medlake::views {
namespace {

using fhirpath::Collection;
using fhirpath::Item;
using fhirpath::ValueKind;

Status Invalid(const std::string& where, const std::string& what) {
  return InvalidArgument("invalid ViewDefinition: " + where + ": " + what);
}

bool IsValidName(std::string_view name) {
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// A constant's value[x] as a FHIRPath item.
Result<Item> ConstantValue(json::Node constant, const std::string& where) {
  std::optional<Item> value;
  Status error;
  constant.ForEachField([&](std::string_view key, json::Node v) {
    if (key.substr(0, 5) != "value" || key.size() == 5) return true;
    std::string type(key.substr(5));
    type[0] = char(std::tolower(static_cast<unsigned char>(type[0])));
    const fhirpath::TypeInfo* info = fhirpath::TypeModel::R4().Find(type);
    if (info == nullptr || info->kind != fhirpath::TypeKind::kPrimitive) {
      error = Invalid(where, "unsupported constant type " + std::string(key));
      return false;
    }
    Item item;
    switch (info->system_kind) {
      case ValueKind::kBoolean:
        if (!v.IsBool()) error = Invalid(where, std::string(key) + " must be a boolean");
        item = Item::Boolean(v.GetBool());
        break;
      case ValueKind::kInteger:
        if (v.kind() != json::Kind::kInt64 && v.kind() != json::Kind::kUint64)
          error = Invalid(where, std::string(key) + " must be an integer");
        item = Item::Integer(v.GetInt64());
        break;
      case ValueKind::kDecimal: {
        if (!v.IsNumber()) error = Invalid(where, std::string(key) + " must be a number");
        std::string text = v.ToJson();
        size_t dot = text.find('.');
        item =
            Item::Decimal(v.GetDouble(), dot == std::string::npos ? 0 : int(text.size() - dot - 1));
        break;
      }
      case ValueKind::kDate:
      case ValueKind::kDateTime:
      case ValueKind::kTime: {
        auto dt = fhirpath::ParseFhirTemporal(v.GetString(), info->system_kind);
        if (!v.IsString() || !dt) {
          error = Invalid(where, std::string(key) + " is not a valid " + type);
          break;
        }
        item = Item::Temporal(info->system_kind, *dt);
        break;
      }
      default:
        if (!v.IsString()) error = Invalid(where, std::string(key) + " must be a string");
        item = Item::String(std::string(v.GetString()));
    }
    item.type = info;
    value = item;
    return false;
  });
  if (!error.ok()) return error;
  if (!value) return Invalid(where, "constant has no value[x]");
  return *value;
}

class Compiler {
 public:
  explicit Compiler(View::Plan& plan) : plan_(plan) {}

  Status Compile(json::Node def) {
    if (!def.IsObject()) return Invalid("ViewDefinition", "not a JSON object");
    auto resource = def.Find("resource");
    if (!resource || !resource->IsString() || resource->GetString().empty()) {
      return Invalid("resource", "missing or not a string");
    }
    plan_.resource = std::string(resource->GetString());
    if (fhirpath::TypeModel::R4().Find(plan_.resource) == nullptr) {
      return Invalid("resource", "unknown FHIR R4 resource type " + plan_.resource);
    }
    if (auto name = def.Find("name"); name && name->IsString()) plan_.name = name->GetString();
    if (auto constants = def.Find("constant")) {
      if (!constants->IsArray()) return Invalid("constant", "must be an array");
      Status st;
      size_t i = 0;
      constants->ForEachItem([&](json::Node c) {
        std::string where = "constant[" + std::to_string(i++) + "]";
        auto name = c.Find("name");
        if (!name || !name->IsString() || !IsValidName(name->GetString())) {
          st = Invalid(where, "missing or invalid name");
          return false;
        }
        auto value = ConstantValue(c, where);
        if (!value.ok()) {
          st = value.status();
          return false;
        }
        plan_.constants.variables[std::string(name->GetString())] = Collection{*value};
        return true;
      });
      MEDLAKE_RETURN_IF_ERROR(st);
    }
    if (auto where = def.Find("where")) {
      if (!where->IsArray()) return Invalid("where", "must be an array");
      Status st;
      size_t i = 0;
      where->ForEachItem([&](json::Node w) {
        std::string at = "where[" + std::to_string(i++) + "]";
        auto expr = Path(w.Find("path"), at + ".path");
        if (!expr.ok()) {
          st = expr.status();
          return false;
        }
        plan_.where.push_back(std::move(expr).value());
        return true;
      });
      MEDLAKE_RETURN_IF_ERROR(st);
    }
    auto select = def.Find("select");
    if (!select || !select->IsArray() || select->Size() == 0) {
      return Invalid("select", "a view needs at least one select");
    }
    MEDLAKE_RETURN_IF_ERROR(Selects(*select, "select", plan_.root.selects));
    for (const SelectPlan& s : plan_.root.selects) {
      plan_.root.all_columns.insert(plan_.root.all_columns.end(), s.all_columns.begin(),
                                    s.all_columns.end());
    }
    std::set<std::string> names;
    for (const Column& c : plan_.columns) {
      if (!names.insert(c.name).second) return Invalid("column " + c.name, "duplicate column name");
    }
    return Status::Ok();
  }

 private:
  Result<fhirpath::Expression> Path(std::optional<json::Node> node, const std::string& where) {
    if (!node || !node->IsString()) return Invalid(where, "must be a FHIRPath string");
    auto expr = fhirpath::Expression::Compile(node->GetString());
    if (!expr.ok()) return Invalid(where, expr.status().message());
    for (const std::string& var : expr->VariableNames()) {
      static const std::set<std::string> kBuiltIn = {"resource", "rootResource", "context", "ucum",
                                                     "sct",      "loinc",        "rowIndex"};
      if (kBuiltIn.count(var) == 0 && plan_.constants.variables.count(var) == 0) {
        return Invalid(where, "undefined constant %" + var);
      }
    }
    return expr;
  }

  Status Selects(json::Node array, const std::string& where, std::vector<SelectPlan>& out) {
    if (!array.IsArray()) return Invalid(where, "must be an array");
    Status st;
    size_t i = 0;
    array.ForEachItem([&](json::Node s) {
      SelectPlan plan;
      st = Select(s, where + "[" + std::to_string(i++) + "]", plan);
      if (!st.ok()) return false;
      out.push_back(std::move(plan));
      return true;
    });
    return st;
  }

  Status Select(json::Node s, const std::string& where, SelectPlan& plan) {
    if (!s.IsObject()) return Invalid(where, "must be an object");
    auto for_each = s.Find("forEach");
    auto for_each_or_null = s.Find("forEachOrNull");
    if (for_each && for_each_or_null) return Invalid(where, "both forEach and forEachOrNull");
    if (for_each || for_each_or_null) {
      plan.or_null = !for_each;
      MEDLAKE_ASSIGN_OR_RETURN(plan.for_each,
                               Path(for_each ? for_each : for_each_or_null,
                                    where + (for_each ? ".forEach" : ".forEachOrNull")));
    }
    if (auto repeat = s.Find("repeat")) {
      if (!repeat->IsArray() || repeat->Size() == 0)
        return Invalid(where + ".repeat", "must be a non-empty array");
      Status st;
      repeat->ForEachItem([&](json::Node p) {
        auto expr = Path(p, where + ".repeat");
        if (!expr.ok()) {
          st = expr.status();
          return false;
        }
        plan.repeat.push_back(std::move(expr).value());
        return true;
      });
      MEDLAKE_RETURN_IF_ERROR(st);
    }
    if (auto columns = s.Find("column")) {
      if (!columns->IsArray()) return Invalid(where + ".column", "must be an array");
      Status st;
      size_t i = 0;
      columns->ForEachItem([&](json::Node c) {
        st = ColumnDef(c, where + ".column[" + std::to_string(i++) + "]", plan);
        return st.ok();
      });
      MEDLAKE_RETURN_IF_ERROR(st);
    }
    for (const ColumnPlan& c : plan.columns) plan.all_columns.push_back(c.index);
    if (auto nested = s.Find("select")) {
      MEDLAKE_RETURN_IF_ERROR(Selects(*nested, where + ".select", plan.selects));
      for (const SelectPlan& n : plan.selects) {
        plan.all_columns.insert(plan.all_columns.end(), n.all_columns.begin(), n.all_columns.end());
      }
    }
    if (auto union_all = s.Find("unionAll")) {
      // Every branch must produce the same columns in the same order; the branches share
      // the column slots of the first one.
      if (!union_all->IsArray() || union_all->Size() == 0)
        return Invalid(where + ".unionAll", "must be a non-empty array");
      size_t first_column = plan_.columns.size();
      std::vector<std::string> first_names;
      Status st;
      size_t i = 0;
      union_all->ForEachItem([&](json::Node branch) {
        size_t mark = plan_.columns.size();
        SelectPlan b;
        std::string at = where + ".unionAll[" + std::to_string(i) + "]";
        st = Select(branch, at, b);
        if (!st.ok()) return false;
        std::vector<std::string> names;
        for (size_t c = mark; c < plan_.columns.size(); ++c) names.push_back(plan_.columns[c].name);
        if (i == 0) {
          first_names = names;
        } else {
          if (names != first_names) {
            st = Invalid(at, "unionAll branches must have the same columns in the same order");
            return false;
          }
          // And of the same type and collection flag (SQL-on-FHIR v2: the branches' rows are
          // rows of one table; a column of integers in one branch and strings in another made
          // a table whose typed column held both).
          for (size_t c = 0; c < names.size(); ++c) {
            const Column& here = plan_.columns[mark + c];
            const Column& first = plan_.columns[first_column + c];
            std::string first_at = where + ".unionAll[0]";
            if (here.type != first.type) {
              st = Invalid(at, "column '" + here.name + "' has type " + TypeText(here.type) +
                                   " here but " + TypeText(first.type) + " in " + first_at +
                                   ": unionAll branches must agree");
              return false;
            }
            if (here.collection != first.collection) {
              st = Invalid(at, "column '" + here.name + "' has collection " +
                                   (here.collection ? "true" : "false") + " here but " +
                                   (first.collection ? "true" : "false") + " in " + first_at +
                                   ": unionAll branches must agree");
              return false;
            }
          }
          // Map this branch's columns onto the first branch's slots.
          Remap(b, mark, first_column);
          plan_.columns.resize(mark);
        }
        plan.union_all.push_back(std::move(b));
        ++i;
        return true;
      });
      MEDLAKE_RETURN_IF_ERROR(st);
      const auto& first = plan.union_all.front().all_columns;
      plan.all_columns.insert(plan.all_columns.end(), first.begin(), first.end());
    }
    return Status::Ok();
  }

  static std::string TypeText(const std::string& type) {
    return type.empty() ? "(none)" : "'" + type + "'";
  }

  static void Remap(SelectPlan& s, size_t from, size_t to) {
    for (ColumnPlan& c : s.columns) c.index = c.index - from + to;
    for (size_t& i : s.all_columns) i = i - from + to;
    for (SelectPlan& n : s.selects) Remap(n, from, to);
    for (SelectPlan& n : s.union_all) Remap(n, from, to);
  }

  Status ColumnDef(json::Node c, const std::string& where, SelectPlan& plan) {
    if (!c.IsObject()) return Invalid(where, "must be an object");
    auto name = c.Find("name");
    if (!name || !name->IsString() || !IsValidName(name->GetString())) {
      return Invalid(where, "missing or invalid column name");
    }
    Column column;
    column.name = std::string(name->GetString());
    if (auto type = c.Find("type"); type && type->IsString()) column.type = type->GetString();
    if (auto collection = c.Find("collection")) {
      if (!collection->IsBool()) return Invalid(where, "collection must be a boolean");
      column.collection = collection->GetBool();
    }
    MEDLAKE_ASSIGN_OR_RETURN(fhirpath::Expression path, Path(c.Find("path"), where + ".path"));
    plan.columns.push_back({plan_.columns.size(), std::move(path), column.collection});
    plan_.columns.push_back(std::move(column));
    return Status::Ok();
  }

  View::Plan& plan_;
};

}  // namespace

Result<View> View::FromJson(json::Node definition) {
  auto plan = std::make_shared<Plan>();
  MEDLAKE_RETURN_IF_ERROR(Compiler(*plan).Compile(definition));
  View view;
  view.plan_ = std::move(plan);
  return view;
}

Result<View> View::Parse(std::string_view json_text) {
  json::Parser parser;
  MEDLAKE_ASSIGN_OR_RETURN(json::Node root, parser.Parse(json_text));
  return FromJson(root);
}

const std::string& View::name() const {
  return plan_->name;
}
const std::string& View::resource() const {
  return plan_->resource;
}
const std::vector<Column>& View::columns() const {
  return plan_->columns;
}

}  // namespace medlake::views
