#include "fhirpath/fhirpath.h"

#include "fhirpath/evaluator.h"
#include "fhirpath/functions.h"
#include "fhirpath/parser.h"

namespace medlake::fhirpath {
namespace {

const std::vector<FunctionDef>& Table() {
  static const std::vector<FunctionDef>* table = [] {
    auto* t = new std::vector<FunctionDef>();
    AddExistenceFunctions(*t);
    AddConversionFunctions(*t);
    AddStringFunctions(*t);
    AddMathFunctions(*t);
    AddNavigationFunctions(*t);
    AddTerminologyFunctions(*t);
    return t;
  }();
  return *table;
}

}  // namespace

const FunctionDef* FindFunction(std::string_view name, int* index) {
  const auto& table = Table();
  for (size_t i = 0; i < table.size(); ++i) {
    if (table[i].name == name) {
      *index = int(i);
      return &table[i];
    }
  }
  return nullptr;
}

const FunctionDef& FunctionAt(int index) {
  return Table()[size_t(index)];
}

Result<Expression> Expression::Compile(std::string_view text) {
  MEDLAKE_ASSIGN_OR_RETURN(std::unique_ptr<Ast> ast, ParseExpression(text));
  Expression e;
  e.text_ = std::string(text);
  e.ast_ = std::move(ast);
  return e;
}

std::vector<std::string> Expression::VariableNames() const {
  std::vector<std::string> names;
  std::vector<const Ast*> stack{ast_.get()};
  while (!stack.empty()) {
    const Ast* node = stack.back();
    stack.pop_back();
    if (node->kind == AstKind::kVariable) names.push_back(node->name);
    for (auto it = node->args.rbegin(); it != node->args.rend(); ++it) stack.push_back(it->get());
  }
  return names;
}

Item ResourceItem(json::Node resource) {
  Item item;
  item.kind = ValueKind::kNode;
  item.node = resource;
  if (auto rt = resource.Find("resourceType")) {
    // Consecutive evaluations mostly see one resource type: remember the last lookup.
    thread_local const TypeInfo* last = nullptr;
    std::string_view name = rt->GetString();
    if (last == nullptr || last->name != name) last = TypeModel::R4().Find(name);
    item.type = last;
  }
  return item;
}

Result<Collection> Expression::Evaluate(json::Node resource, const Environment& env) const {
  Collection root{ResourceItem(resource)};
  return Evaluate(root, root, env);
}

Result<Collection> Expression::Evaluate(const Collection& context, const Collection& resource,
                                        const Environment& env) const {
  Evaluator ev(env, context, resource);
  Scope scope;
  scope.this_coll = &context;
  return ev.Eval(*ast_, scope);
}

void AppendItemJson(const Item& item, std::string& out) {
  switch (item.kind) {
    case ValueKind::kBoolean:
      out += item.boolean ? "true" : "false";
      break;
    case ValueKind::kInteger:
      out += ItemToString(item);
      break;
    case ValueKind::kDecimal:
      // A decimal read from the resource is written as it was (1.50 stays 1.50) when the parser
      // kept the number texts, else in the shortest form that reads back as the same double;
      // a computed one with its precision.
      if (item.scale == kScaleFromSource) {
        std::string_view text = item.node.NumberText();
        out += text.empty() ? FormatDecimal(item.decimal, -1) : std::string(text);
      } else {
        out += ItemToString(item);
      }
      break;
    case ValueKind::kQuantity: {
      Item value = Item::Decimal(item.decimal, DecimalScale(item));
      out += "{\"value\":" + ItemToString(value) + ",\"unit\":";
      json::AppendQuoted(item.str, out);
      out += "}";
      break;
    }
    case ValueKind::kNode:
      if (item.node.IsObject()) {
        out += item.node.ToJson();
      } else {
        out += "null";  // a primitive that has only extensions
      }
      break;
    case ValueKind::kTime:
      // FHIR JSON writes times without the FHIRPath 'T' prefix.
      json::AppendQuoted(ItemToString(item).substr(1), out);
      break;
    default:
      json::AppendQuoted(ItemToString(item), out);
  }
}

std::string CollectionToJson(const Collection& c) {
  std::string out = "[";
  for (size_t i = 0; i < c.size(); ++i) {
    if (i > 0) out += ",";
    AppendItemJson(c[i], out);
  }
  out += "]";
  return out;
}

}  // namespace medlake::fhirpath
