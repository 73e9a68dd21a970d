#include "fhirpath/evaluator.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "fhirpath/functions.h"

namespace medlake::fhirpath {
namespace {

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
  std::string text = FormatDecimal(v, -1);
  size_t dot = text.find('.');
  return dot == std::string::npos ? 0 : int(text.size() - dot - 1);
}

// A field and its "_name" companion.
struct Fields {
  std::optional<json::Node> value, ext;
};

// Item `i` of a JSON array unless null; nullopt when absent.
std::optional<json::Node> ArrayItem(json::Node array, size_t i) {
  size_t j = 0;
  for (json::Cursor c = array.Children(); c.Next(); ++j) {
    if (j == i) {
      json::Node v = c.value();
      if (v.IsNull()) return std::nullopt;
      return v;
    }
  }
  return std::nullopt;
}

// A primitive of FHIR type `type` that has only its "_name" companion (id, extensions).
Item ExtensionOnly(const TypeInfo* type, json::Node ext) {
  Item empty;
  empty.kind = ValueKind::kNode;
  empty.type = type;
  empty.ext = ext;
  empty.has_ext = true;
  return empty;
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

namespace {

// Whether a JSON value of kind `jk` is a valid representation of a FHIR primitive of `kind`.
bool FitsJson(ValueKind kind, json::Kind jk) {
  switch (kind) {
    case ValueKind::kBoolean:
      return jk == json::Kind::kBool;
    case ValueKind::kInteger:
      return jk == json::Kind::kInt64;
    case ValueKind::kDecimal:
      return jk == json::Kind::kInt64 || jk == json::Kind::kUint64 || jk == json::Kind::kDouble;
    case ValueKind::kString:
    case ValueKind::kDate:
    case ValueKind::kDateTime:
    case ValueKind::kTime:
      return jk == json::Kind::kString;
    default:
      return true;
  }
}

}  // namespace

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
  json::Kind jk = value.kind();
  if (type != nullptr && !FitsJson(kind, jk)) {
    // Invalid data (a decimal written "72.5" or true, a boolean "yes", an integer 2.7 or one
    // beyond 64 bits): read as what the JSON holds, not converted into a made-up value.
    type = nullptr;
  }
  item.type = type;
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
        item.str_in_node = true;
      }
      break;
    }
    default:
      if (jk == json::Kind::kString) {
        item.str_in_node = true;
      } else {
        item.str = value.ToJson();
      }
  }
  return item;
}

bool Evaluator::Member(const Item& item, std::string_view name, uint32_t symbol,
                       Collection& out) const {
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
    Fields f;
    item.node.FindWithPrefixed(key, '_', f.value, f.ext);
    if (!f.value && !f.ext) return false;
    if (f.value && f.value->IsArray()) {
      if (size_t need = out.size() + f.value->Size(); need > out.capacity()) {
        out.reserve(std::max(need, 2 * out.capacity()));
      }
      size_t i = 0;
      for (json::Cursor c = f.value->Children(); c.Next(); ++i) {
        json::Node v = c.value();
        std::optional<json::Node> e;
        if (f.ext && f.ext->IsArray()) e = ArrayItem(*f.ext, i);
        if (!v.IsNull()) {
          out.push_back(MakeItem(v, type, e));
        } else if (e && type != nullptr) {
          out.push_back(ExtensionOnly(type, *e));
        }
      }
    } else if (f.value && !f.value->IsNull()) {
      out.push_back(MakeItem(*f.value, type, f.ext));
    } else if (f.ext && f.ext->IsObject() && type != nullptr) {
      // A primitive with extensions but no value.
      out.push_back(ExtensionOnly(type, *f.ext));
    }
    return true;
  };
  const TypeInfo* type = item.type;
  if (const MemberInfo* m = model_.FindMember(type, symbol)) {
    const ElementInfo* e = m->element;
    if (e == nullptr) {
      // A choice element named with its type suffix (valueQuantity): found, but not an element.
      emit(name, m->choice_type);
      return false;
    }
    if (e->choice) {
      if (int i = item.node.FirstPresent(e->name, e->json_names, '_'); i >= 0) {
        emit(e->json_names[size_t(i)], e->types[size_t(i)]);
      }
      return true;
    }
    emit(name, e->types.empty() ? nullptr : e->types[0]);
    return true;
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
  bool system_name = spec.system_name;
  if (spec.ns == "System" || (spec.ns.empty() && system_name && name != "Quantity")) {
    if (!system_name) return false;
    if (item.type != nullptr) return false;
    if (item.kind == ValueKind::kNode) return false;
    return SystemTypeName(item.kind) == name;
  }
  if (!spec.ns.empty() && spec.ns != "FHIR")
    return InvalidArgument("unknown type namespace " + spec.ns);
  const TypeInfo* target = spec.fhir_type;
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
  if (const TypeInfo* t = node.type_name) {
    bool any_typed = false;
    for (const Item& item : focus) {
      if (item.type != nullptr && TypeModel::IsA(item.type, t)) out.push_back(item);
      any_typed = any_typed || item.type != nullptr;
    }
    if (!out.empty()) return out;
    if (env_.strict && t->kind == TypeKind::kResource && scope.this_coll == &context_ &&
        any_typed && focus.size() == 1 && focus[0].type->kind == TypeKind::kResource) {
      return InvalidArgument("FHIRPath error at column " + std::to_string(node.column) +
                             ": the context is a " + focus[0].type->name + ", not a " + node.name);
    }
  }
  bool known = focus.empty();
  for (const Item& item : focus) known = Member(item, node.name, node.symbol, out) || known;
  if (!known && env_.strict) return UnknownElement(node, focus[0]);
  return out;
}

Result<const Collection*> Evaluator::EvalRef(const Ast& node, const Scope& scope,
                                             Collection& storage) {
  switch (node.kind) {
    case AstKind::kLiteral:
      return &node.literal_value;
    case AstKind::kThis:
      return scope.this_coll;
    case AstKind::kMember:
      // A leading type name that every focus item has (Observation.code on an Observation)
      // selects the whole focus.
      if (node.type_name != nullptr && !scope.this_coll->empty() &&
          std::all_of(scope.this_coll->begin(), scope.this_coll->end(), [&](const Item& item) {
            return item.type != nullptr && TypeModel::IsA(item.type, node.type_name);
          })) {
        return scope.this_coll;
      }
      break;
    case AstKind::kVariable:
      if (node.name == "resource" || node.name == "rootResource") return &resource_;
      if (node.name == "context") return &context_;
      break;
    default:
      break;
  }
  MEDLAKE_ASSIGN_OR_RETURN(storage, Eval(node, scope));
  return &storage;
}

Result<Collection> Evaluator::EvalChain(const Ast& node, const Scope& scope) {
  Collection current, next;
  MEDLAKE_ASSIGN_OR_RETURN(const Collection* in, EvalRef(*node.chain[0], scope, current));
  for (size_t i = 1; i < node.chain.size(); ++i) {
    if (in->empty() && i >= node.empty_tail) return Collection{};
    const Ast& step = *node.chain[i];
    if (step.kind == AstKind::kFunction) {
      MEDLAKE_ASSIGN_OR_RETURN(next, FunctionAt(step.function).impl(*this, *in, step, scope));
    } else {
      next.clear();
      for (const Item& item : *in) Member(item, step.name, step.symbol, next);
    }
    std::swap(current, next);
    in = &current;
  }
  return current;
}

Result<Collection> Evaluator::Eval(const Ast& node, const Scope& scope) {
  switch (node.kind) {
    case AstKind::kEmpty:
      return Collection{};
    case AstKind::kLiteral:
      return node.literal_value;
    case AstKind::kMember:
      return EvalMemberRoot(node, scope);
    case AstKind::kFunction:
      return FunctionAt(node.function).impl(*this, *scope.this_coll, node, scope);
    case AstKind::kInvoke: {
      if (!env_.strict && !node.chain.empty()) return EvalChain(node, scope);
      MEDLAKE_RETURN_IF_ERROR(StrictCheck(node));
      Collection left_storage;
      MEDLAKE_ASSIGN_OR_RETURN(const Collection* left_ref,
                               EvalRef(*node.args[0], scope, left_storage));
      const Collection& left = *left_ref;
      const Ast& right = *node.args[1];
      if (right.kind == AstKind::kFunction) {
        return FunctionAt(right.function).impl(*this, left, right, scope);
      }
      // Strict mode rejects names that no item's type defines (typos, valueQuantity).
      Collection out;
      bool known = left.empty();
      for (const Item& item : left) known = Member(item, right.name, right.symbol, out) || known;
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
      if (r.kind == ValueKind::kInteger) {
        if (r.integer == INT64_MIN) return Collection{};  // overflow is empty (N1 §6.6)
        r.integer = -r.integer;
      } else if (r.kind == ValueKind::kDecimal || r.kind == ValueKind::kQuantity) {
        r.decimal = -r.decimal;
      } else {
        return InvalidArgument("unary - needs a number");
      }
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
