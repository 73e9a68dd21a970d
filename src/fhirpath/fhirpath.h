// FHIRPath (HL7 normative, N1) over FHIR R4 JSON resources.
//
// Compile once, evaluate many: Expression::Compile parses and checks an expression (function
// names, arity, literals); Evaluate runs it over a resource with no re-parsing. A compiled
// Expression is immutable and may be evaluated from many threads at once, each with its own
// resource. Results hold views into the resource's JSON document: they are valid while that
// document lives. Errors are values: syntax errors (kInvalidArgument, with the column) and
// evaluation errors such as a collection where a single item is required.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fhirpath/value.h"
#include "json/json.h"
#include "medlake/status.h"

namespace medlake::fhirpath {

struct Ast;

// Finds the resource `type`/`id` for resolve() when the Bundle and the contained resources do
// not hold it (e.g. in a lake). Returns its root node, std::nullopt when there is no such
// resource, or an error, which fails the evaluation. The resolver owns the documents: a node
// it returns must stay valid as long as the evaluation's results are used.
using Resolver =
    std::function<Result<std::optional<json::Node>>(std::string_view type, std::string_view id)>;

// What an evaluation may see beyond the resource.
struct Environment {
  // User constants, referenced as %name.
  std::map<std::string, Collection, std::less<>> variables;
  // Called by trace(name [, projection]); may be empty.
  std::function<void(std::string_view name, const Collection& values)> trace;
  // A Bundle (or any resource) whose entries resolve() and contained searches may look in.
  std::optional<json::Node> bundle;
  // Looks up references "Type/id" (or URLs ending so) that the Bundle does not resolve; may be
  // empty.
  Resolver resolver;
  // Fixed clock for now()/today()/timeOfDay() (ms since epoch, UTC); kNoTime = system clock.
  int64_t now_ms = INT64_MIN;
  // Strict mode: navigating to a name that is not an element of the item's known FHIR type
  // (a typo, or a choice element under its typed name such as valueQuantity) is an error.
  bool strict = false;
};

class Expression {
 public:
  static Result<Expression> Compile(std::string_view text);

  // Evaluates with %resource, %context and $this set to `resource`.
  Result<Collection> Evaluate(json::Node resource, const Environment& env = {}) const;
  // Evaluates with an explicit context collection (%context / $this) and %resource.
  Result<Collection> Evaluate(const Collection& context, const Collection& resource,
                              const Environment& env) const;

  const std::string& text() const { return text_; }
  // Names of the %variables the expression refers to (without '%'), in order of appearance.
  std::vector<std::string> VariableNames() const;

 private:
  std::string text_;
  std::shared_ptr<const Ast> ast_;
};

// Item of a resource root node (FHIR type taken from its resourceType).
Item ResourceItem(json::Node resource);

// Text of a single item as FHIRPath's toString() gives it (quantities as "5 'mg'"); complex
// nodes as minified JSON.
std::string ItemToString(const Item& item);
// JSON form of an item: strings, numbers and booleans as JSON scalars, dates and times as
// strings, quantities as {"value": v, "unit": u}, FHIR elements as their JSON.
void AppendItemJson(const Item& item, std::string& out);
// JSON array of the collection's items.
std::string CollectionToJson(const Collection& c);

// Type name of an item: its FHIR type ("HumanName", "code") or its System type ("Integer").
std::string ItemTypeName(const Item& item);

}  // namespace medlake::fhirpath
