// SQL-on-FHIR v2 ViewDefinitions: flatten FHIR resources into rows.
//
// View::Parse validates a ViewDefinition (resource, constant, where, select with column,
// forEach, forEachOrNull, repeat, unionAll and nested select) and compiles every FHIRPath
// once; invalid views are rejected with a message naming the offending part. Evaluate then
// turns one resource into zero or more rows. A View is immutable and may be evaluated from
// many threads at once (each call builds its own evaluation state).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fhirpath/fhirpath.h"
#include "json/json.h"
#include "medlake/status.h"

namespace medlake::views {

struct Column {
  std::string name;
  std::string type;  // the view's declared FHIR type ("string", "integer", ...), may be empty
  bool collection = false;  // values are JSON arrays
};

// One output row: the JSON text of each column's value, in column order ("null" when empty).
using Row = std::vector<std::string>;

class View {
 public:
  // Parses and validates ViewDefinition JSON. Errors are kInvalidArgument.
  static Result<View> Parse(std::string_view json_text);
  static Result<View> FromJson(json::Node definition);

  const std::string& name() const;
  const std::string& resource() const;
  const std::vector<Column>& columns() const;

  // Appends the rows of `resource` (nothing when its type is not resource()). `bundle`, when
  // given, is searched by resolve(), then `resolver` (e.g. a lake) when not empty. Errors: a
  // column without collection=true that yields several values, a where path that is not
  // Boolean, FHIRPath evaluation errors.
  Status Evaluate(json::Node resource, std::vector<Row>& rows,
                  std::optional<json::Node> bundle = std::nullopt,
                  const fhirpath::Resolver& resolver = {}) const;

  struct Plan;

 private:
  std::shared_ptr<const Plan> plan_;
};

}  // namespace medlake::views
