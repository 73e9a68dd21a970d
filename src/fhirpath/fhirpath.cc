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

const FunctionDef& FunctionAt(int index) { return Table()[size_t(index)]; }

Result<Expression> Expression::Compile(std::string_view text) {
  MEDLAKE_ASSIGN_OR_RETURN(std::unique_ptr<Ast> ast, ParseExpression(text));
  Expression e;
  e.text_ = std::string(text);
  e.ast_ = std::move(ast);
  return e;
}

Item ResourceItem(json::Node resource) {
  Item item;
  item.kind = ValueKind::kNode;
  item.node = resource;
  if (auto rt = resource.Find("resourceType")) item.type = TypeModel::R4().Find(rt->GetString());
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

}  // namespace medlake::fhirpath
