#include "fhirpath/evaluator.h"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "fhirpath/functions.h"

namespace medlake::fhirpath {
namespace {

std::string Capitalize(std::string_view s) {
  std::string out(s);
  if (!out.empty()) out[0] = char(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

// Digits after the decimal point: from the source text when the parser kept it, else from
// the shortest text that round-trips (which loses trailing zeros: 1.0 reads as 1).
int DecimalScaleOf(double v, std::string_view source) {
  if (!source.empty()) {
    size_t dot = source.find('.');
    if (dot == std::string_view::npos) return 0;
    size_t end = source.find_first_of("eE", dot);
    if (end == std::string_view::npos) end = source.size();
    return int(end - dot - 1);
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  const char* dot = std::strchr(buf, '.');
  return dot == nullptr ? 0 : int(std::strlen(dot + 1));
}

}  // namespace

int DecimalScale(const Item& item) {
  if (item.scale != kScaleFromSource) return item.scale;
  return DecimalScaleOf(item.decimal, item.node.NumberText());
}

Evaluator::Evaluator(const Environment& env, const Collection& context, const Collection& resource)
    : env_(env), context_(context), resource_(resource), model_(TypeModel::R4()) {}

int64_t Evaluator::NowMs() const {
  if (now_ms_ == INT64_MIN) {
    now_ms_ = env_.now_ms != INT64_MIN ? env_.now_ms
                                       : std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count();
  }
  return now_ms_;
}

Item Evaluator::MakeItem(json::Node value, const TypeInfo* type,
                         std::optional<json::Node> ext) const {
  Item item;
  if (ext) {
    item.ext = *ext;
    item.has_ext = true;
  }
  item.node = value;
  if (type != nullptr && type->kind != TypeKind::kPrimitive) {
    item.kind = ValueKind::kNode;
    item.type = type;
    if (type->name == "Resource" || type->name == "DomainResource") {
      if (auto rt = value.Find("resourceType")) {
        if (const TypeInfo* actual = model_.Find(rt->GetString())) item.type = actual;
      }
    }
    return item;
  }
  ValueKind kind = type != nullptr ? type->system_kind : ValueKind::kNode;
  item.type = type;
  json::Kind jk = value.kind();
  if (type == nullptr) {
    switch (jk) {
      case json::Kind::kString:
        kind = ValueKind::kString;
        break;
      case json::Kind::kBool:
        kind = ValueKind::kBoolean;
        break;
      case json::Kind::kInt64:
      case json::Kind::kUint64:
        kind = ValueKind::kInteger;
        break;
      case json::Kind::kDouble:
        kind = ValueKind::kDecimal;
        break;
      default: {
        item.kind = ValueKind::kNode;
        if (auto rt = value.Find("resourceType")) item.type = model_.Find(rt->GetString());
        return item;
      }
    }
  }
  item.kind = kind;
  switch (kind) {
    case ValueKind::kBoolean:
      item.boolean = value.GetBool();
      break;
    case ValueKind::kInteger:
      item.integer = value.GetInt64();
      break;
    case ValueKind::kDecimal:
      item.decimal = value.GetDouble();
      item.scale = kScaleFromSource;
      break;
    case ValueKind::kDate:
    case ValueKind::kDateTime:
    case ValueKind::kTime: {
      auto dt = ParseFhirTemporal(value.GetString(), kind);
      if (dt) {
        item.dt = *dt;
        if (kind == ValueKind::kDateTime && dt->precision <= Precision::kDay) {
          item.kind = ValueKind::kDateTime;
        }
      } else {
        item.kind = ValueKind::kString;
        item.str = std::string(value.GetString());
      }
      break;
    }
    default:
      if (jk == json::Kind::kString) {
        item.str = std::string(value.GetString());
      } else {
        item.str = value.ToJson();
      }
  }
  return item;
}

bool Evaluator::Member(const Item& item, std::string_view name, Collection& out) const {
  if (item.kind == ValueKind::kTypeInfo) {
    size_t dot = item.str.find('.');
    if (name == "namespace") out.push_back(Item::String(item.str.substr(0, dot)));
    if (name == "name") out.push_back(Item::String(item.str.substr(dot + 1)));
    return true;
  }
  if (item.kind != ValueKind::kNode || !item.node.IsObject()) {
    // Primitive: only id and extension live on the "_name" companion.
    if (item.has_ext && (name == "extension" || name == "id")) {
      Item holder;
      holder.node = item.ext;
      holder.type = model_.Find("Element");
      Member(holder, name, out);
    }
    return true;  // primitives and System values have no children to check
  }
  auto emit = [&](std::string_view key, const TypeInfo* type) {
    auto value = item.node.Find(key);
    char underscored[128];
    std::optional<json::Node> ext;
    if (key.size() < sizeof underscored) {
      underscored[0] = '_';
      std::memcpy(underscored + 1, key.data(), key.size());
      ext = item.node.Find(std::string_view(underscored, key.size() + 1));
    } else {
      ext = item.node.Find("_" + std::string(key));
    }
    if (!value && !ext) return false;
    if (value && value->IsArray()) {
      size_t i = 0;
      value->ForEachItem([&](json::Node v) {
        std::optional<json::Node> e;
        if (ext && ext->IsArray()) {
          size_t j = 0;
          ext->ForEachItem([&](json::Node en) {
            if (j++ == i && !en.IsNull()) e = en;
            return j <= i;
          });
        }
        if (!v.IsNull()) {
          out.push_back(MakeItem(v, type, e));
        } else if (e && type != nullptr) {
          Item empty;
          empty.kind = ValueKind::kNode;
          empty.type = type;
          empty.ext = *e;
          empty.has_ext = true;
          out.push_back(empty);
        }
        ++i;
        return true;
      });
    } else if (value && !value->IsNull()) {
      out.push_back(MakeItem(*value, type, ext));
    } else if (ext && ext->IsObject() && type != nullptr) {
      // A primitive with extensions but no value.
      Item empty;
      empty.kind = ValueKind::kNode;
      empty.type = type;
      empty.ext = *ext;
      empty.has_ext = true;
      out.push_back(empty);
    }
    return true;
  };
  const TypeInfo* type = item.type;
  if (const ElementInfo* e = type ? model_.FindElement(type, name) : nullptr) {
    if (e->choice) {
      for (size_t i = 0; i < e->types.size(); ++i) {
        if (emit(e->json_names[i], e->types[i])) return true;
      }
      return true;
    }
    emit(name, e->types.empty() ? nullptr : e->types[0]);
    return true;
  }
  // Not in the model: a choice element named with its type suffix, or an unknown field.
  if (type != nullptr) {
    for (const TypeInfo* t = type; t != nullptr; t = t->base) {
      for (const ElementInfo& e : t->elements) {
        if (!e.choice || name.size() <= e.name.size() || name.substr(0, e.name.size()) != e.name)
          continue;
        for (const TypeInfo* ct : e.types) {
          if (Capitalize(ct->name) == name.substr(e.name.size())) {
            emit(name, ct);
            return false;
          }
        }
      }
    }
  }
  if (name == "resourceType") return true;
  emit(name, nullptr);
  return type == nullptr;
}

void Evaluator::AllChildren(const Item& item, Collection& out) const {
  if (item.kind != ValueKind::kNode || !item.node.IsObject()) return;
  std::vector<std::string> keys;
  item.node.ForEachField([&](std::string_view key, json::Node) {
    if (key != "resourceType" && !key.empty()) {
      std::string k(key[0] == '_' ? key.substr(1) : key);
      bool seen = false;
      for (const auto& existing : keys) seen = seen || existing == k;
      if (!seen) keys.push_back(k);
    }
    return true;
  });
  const TypeInfo* type = item.type;
  for (const std::string& key : keys) {
    // Map a choice key (valueQuantity) back to its element so that the type is known.
    if (type != nullptr && model_.FindElement(type, key) == nullptr) {
      Member(item, key, out);
    } else if (type != nullptr) {
      const ElementInfo* e = model_.FindElement(type, key);
      if (e->choice) continue;  // choice elements never appear under their bare name
      Member(item, key, out);
    } else {
      Member(item, key, out);
    }
  }
}

Result<bool> Evaluator::IsType(const Item& item, const TypeSpec& spec, bool exact) const {
  const std::string& name = spec.name;
  bool system_name = name == "Boolean" || name == "String" || name == "Integer" ||
                     name == "Decimal" || name == "Date" || name == "DateTime" || name == "Time" ||
                     name == "Quantity";
  if (spec.ns == "System" || (spec.ns.empty() && system_name && name != "Quantity")) {
    if (!system_name) return false;
    if (item.type != nullptr) return false;
    if (item.kind == ValueKind::kNode) return false;
    return SystemTypeName(item.kind) == name;
  }
  if (!spec.ns.empty() && spec.ns != "FHIR")
    return InvalidArgument("unknown type namespace " + spec.ns);
  const TypeInfo* target = model_.Find(name);
  if (target == nullptr) {
    if (name == "Quantity" && item.kind == ValueKind::kQuantity) return true;
    return InvalidArgument("unknown type " + name);
  }
  if (item.type == nullptr) {
    return name == "Quantity" && item.kind == ValueKind::kQuantity && spec.ns.empty();
  }
  if (exact && target->kind == TypeKind::kPrimitive) return item.type == target;
  return TypeModel::IsA(item.type, target);
}

Result<std::optional<Item>> Evaluator::EvalSingle(const Ast& node, const Scope& scope) {
  MEDLAKE_ASSIGN_OR_RETURN(Collection c, Eval(node, scope));
  return Singleton(c, "argument");
}

Result<Collection> Evaluator::EvalPerItem(const Ast& node, const Collection& input,
                                          const Scope& scope, bool with_index) {
  Collection out;
  Collection one(1);
  Scope inner = scope;
  inner.this_coll = &one;
  for (size_t i = 0; i < input.size(); ++i) {
    one[0] = input[i];
    if (with_index) inner.index = int64_t(i);
    MEDLAKE_ASSIGN_OR_RETURN(Collection r, Eval(node, inner));
    for (Item& item : r) out.push_back(std::move(item));
  }
  return out;
}

Status Evaluator::UnknownElement(const Ast& node, const Item& item) const {
  return InvalidArgument("FHIRPath error at column " + std::to_string(node.column) + ": " +
                         ItemTypeName(item) + " has no element '" + node.name + "'");
}

// Static rules of strict mode that runtime values cannot show: a member of `x as T` must be
// an element of T, and order-dependent functions do not apply to children()/descendants().
Status Evaluator::StrictCheck(const Ast& invoke) const {
  const Ast& left = *invoke.args[0];
  const Ast& right = *invoke.args[1];
  const Ast* last = left.kind == AstKind::kInvoke ? left.args[1].get() : &left;
  if (right.kind == AstKind::kMember) {
    const TypeSpec* spec = nullptr;
    if (left.kind == AstKind::kAs) spec = &left.type;
    if (last->kind == AstKind::kFunction && last->has_type_arg &&
        (last->name == "as" || last->name == "ofType")) {
      spec = &last->type;
    }
    const TypeInfo* t = spec ? model_.Find(spec->name) : nullptr;
    if (t != nullptr && t->kind != TypeKind::kPrimitive) {
      Item probe;
      probe.type = t;
      if (model_.FindElement(t, right.name) == nullptr) return UnknownElement(right, probe);
    }
  }
  if (right.kind == AstKind::kFunction && last->kind == AstKind::kFunction &&
      (last->name == "children" || last->name == "descendants")) {
    static constexpr std::string_view kOrdered[] = {"skip", "take", "first",
                                                    "last", "tail", "single"};
    for (std::string_view f : kOrdered) {
      if (right.name == f) {
        return InvalidArgument("FHIRPath error at column " + std::to_string(right.column) + ": " +
                               right.name + "() needs an ordered collection, and " + last->name +
                               "() is unordered");
      }
    }
  }
  return Status::Ok();
}

Result<Collection> Evaluator::EvalMemberRoot(const Ast& node, const Scope& scope) {
  Collection out;
  const Collection& focus = *scope.this_coll;
  // A leading type name (Patient.name) selects the focus when it has that type.
  if (!node.name.empty() && std::isupper(static_cast<unsigned char>(node.name[0]))) {
    if (const TypeInfo* t = model_.Find(node.name)) {
      bool any_typed = false;
      for (const Item& item : focus) {
        if (item.type != nullptr && TypeModel::IsA(item.type, t)) out.push_back(item);
        any_typed = any_typed || item.type != nullptr;
      }
      if (!out.empty()) return out;
      if (env_.strict && t->kind == TypeKind::kResource && scope.this_coll == &context_ &&
          any_typed && focus.size() == 1 && focus[0].type->kind == TypeKind::kResource) {
        return InvalidArgument("FHIRPath error at column " + std::to_string(node.column) +
                               ": the context is a " + focus[0].type->name + ", not a " +
                               node.name);
      }
    }
  }
  bool known = focus.empty();
  for (const Item& item : focus) known = Member(item, node.name, out) || known;
  if (!known && env_.strict) return UnknownElement(node, focus[0]);
  return out;
}

Result<Collection> Evaluator::Eval(const Ast& node, const Scope& scope) {
  switch (node.kind) {
    case AstKind::kEmpty:
      return Collection{};
    case AstKind::kLiteral:
      return Collection{node.literal};
    case AstKind::kMember:
      return EvalMemberRoot(node, scope);
    case AstKind::kFunction:
      return FunctionAt(node.function).impl(*this, *scope.this_coll, node, scope);
    case AstKind::kInvoke: {
      if (env_.strict) MEDLAKE_RETURN_IF_ERROR(StrictCheck(node));
      MEDLAKE_ASSIGN_OR_RETURN(Collection left, Eval(*node.args[0], scope));
      const Ast& right = *node.args[1];
      if (right.kind == AstKind::kFunction) {
        return FunctionAt(right.function).impl(*this, left, right, scope);
      }
      // Strict mode rejects names that no item's type defines (typos, valueQuantity).
      Collection out;
      bool known = left.empty();
      for (const Item& item : left) known = Member(item, right.name, out) || known;
      if (!known && env_.strict) return UnknownElement(right, left[0]);
      return out;
    }
    case AstKind::kIndexer: {
      MEDLAKE_ASSIGN_OR_RETURN(Collection left, Eval(*node.args[0], scope));
      MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> idx, EvalSingle(*node.args[1], scope));
      if (!idx) return Collection{};
      if (idx->kind != ValueKind::kInteger) return InvalidArgument("index must be an Integer");
      if (idx->integer < 0 || idx->integer >= int64_t(left.size())) return Collection{};
      return Collection{left[size_t(idx->integer)]};
    }
    case AstKind::kUnary: {
      MEDLAKE_ASSIGN_OR_RETURN(std::optional<Item> v, EvalSingle(*node.args[0], scope));
      if (!v) return Collection{};
      if (node.op == BinaryOp::kPlus) {
        if (!v->IsNumber() && v->kind != ValueKind::kQuantity)
          return InvalidArgument("unary + needs a number");
        return Collection{*v};
      }
      Item r = *v;
      r.type = nullptr;
      if (r.kind == ValueKind::kInteger)
        r.integer = -r.integer;
      else if (r.kind == ValueKind::kDecimal || r.kind == ValueKind::kQuantity)
        r.decimal = -r.decimal;
      else
        return InvalidArgument("unary - needs a number");
      return Collection{r};
    }
    case AstKind::kBinary:
      return EvalBinary(node, scope);
    case AstKind::kIs:
    case AstKind::kAs: {
      MEDLAKE_ASSIGN_OR_RETURN(Collection left, Eval(*node.args[0], scope));
      if (left.empty()) return Collection{};
      if (left.size() > 1) {
        return InvalidArgument(std::string("'") + (node.kind == AstKind::kIs ? "is" : "as") +
                               "' needs a single item");
      }
      MEDLAKE_ASSIGN_OR_RETURN(bool match, IsType(left[0], node.type, node.kind == AstKind::kAs));
      if (node.kind == AstKind::kIs) return Collection{Item::Boolean(match)};
      return match ? left : Collection{};
    }
    case AstKind::kThis:
      return *scope.this_coll;
    case AstKind::kIndex:
      if (scope.index < 0) return Collection{};
      return Collection{Item::Integer(scope.index)};
    case AstKind::kTotal:
      if (scope.total == nullptr) return Collection{};
      return *scope.total;
    case AstKind::kVariable: {
      const std::string& n = node.name;
      if (n == "resource" || n == "rootResource") return resource_;
      if (n == "context") return context_;
      if (n == "ucum") return Collection{Item::String("http://unitsofmeasure.org")};
      if (n == "sct") return Collection{Item::String("http://snomed.info/sct")};
      if (n == "loinc") return Collection{Item::String("http://loinc.org")};
      if (auto it = env_.variables.find(n); it != env_.variables.end()) return it->second;
      if (n.rfind("vs-", 0) == 0) {
        return Collection{Item::String("http://hl7.org/fhir/ValueSet/" + n.substr(3))};
      }
      if (n.rfind("ext-", 0) == 0) {
        return Collection{Item::String("http://hl7.org/fhir/StructureDefinition/" + n.substr(4))};
      }
      return InvalidArgument("FHIRPath error at column " + std::to_string(node.column) +
                             ": unknown variable %" + n);
    }
  }
  return Internal("unhandled FHIRPath node");
}

}  // namespace medlake::fhirpath
