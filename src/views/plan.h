// Compiled form of a ViewDefinition. Internal to the views module.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fhirpath/fhirpath.h"
#include "views/view.h"

namespace medlake::views {

struct ColumnPlan {
  size_t index;  // position in View::columns()
  fhirpath::Expression path;
  bool collection = false;
};

struct SelectPlan {
  std::vector<ColumnPlan> columns;
  std::optional<fhirpath::Expression> for_each;  // forEach or forEachOrNull
  bool or_null = false;
  std::vector<fhirpath::Expression> repeat;
  std::vector<SelectPlan> selects;
  std::vector<SelectPlan> union_all;
  std::vector<size_t> all_columns;  // every column this select (and its children) produces
};

struct View::Plan {
  std::string name;
  std::string resource;
  std::vector<Column> columns;
  std::vector<fhirpath::Expression> where;
  fhirpath::Environment constants;  // %name values
  SelectPlan root;                  // no columns; the view's selects as children
};

}  // namespace medlake::views
