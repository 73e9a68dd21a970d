// The FHIR R4 type model FHIRPath navigates with: types, their base types, and elements with
// their types, cardinality and choice ([x]) expansion. Built once from the generated table
// r4_types_table.inc; immutable afterwards and safe to share between threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fhirpath/value.h"

namespace medlake::fhirpath {

enum class TypeKind : uint8_t { kPrimitive = 0, kComplex = 1, kResource = 2, kBackbone = 3 };

struct ElementInfo {
  std::string name;  // without "[x]"
  bool repeating = false;
  bool choice = false;
  std::vector<const TypeInfo*> types;
  std::vector<std::string> json_names;  // choice: "valueQuantity", ... parallel to types
};

struct TypeInfo {
  std::string name;
  TypeKind kind = TypeKind::kComplex;
  const TypeInfo* base = nullptr;
  std::vector<ElementInfo> elements;         // own elements; inherited ones are on `base`
  ValueKind system_kind = ValueKind::kNode;  // for primitives: the System type they map to
};

class TypeModel {
 public:
  // The R4 model (built on first use, thread-safe).
  static const TypeModel& R4();

  const TypeInfo* Find(std::string_view name) const;
  // Element `name` of `type` or of one of its bases; null when absent.
  const ElementInfo* FindElement(const TypeInfo* type, std::string_view name) const;
  // True when `type` is `ancestor` or derives from it.
  static bool IsA(const TypeInfo* type, const TypeInfo* ancestor);

 private:
  TypeModel();
  std::unordered_map<std::string_view, std::unique_ptr<TypeInfo>> types_;
};

// Name of a System type for a value kind ("Boolean", "String", ...).
std::string_view SystemTypeName(ValueKind kind);

}  // namespace medlake::fhirpath
