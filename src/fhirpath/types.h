// The FHIR R4 type model FHIRPath navigates with: types, their base types, and elements with
// their types, cardinality and choice ([x]) expansion. Built once from the generated table
// r4_types_table.inc; immutable afterwards and safe to share between threads.
#pragma once

#include <cstdint>
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

// A name that navigation reaches on one type: an element (own or inherited) or a choice
// element named with its type suffix (valueQuantity), which is not an element of the type.
struct MemberInfo {
  uint32_t symbol;
  const ElementInfo* element;   // the element, or null for a typed choice name
  const TypeInfo* choice_type;  // typed choice name: the type its suffix names
};

struct TypeInfo {
  std::string name;
  TypeKind kind = TypeKind::kComplex;
  const TypeInfo* base = nullptr;
  std::vector<ElementInfo> elements;         // own elements; inherited ones are on `base`
  ValueKind system_kind = ValueKind::kNode;  // for primitives: the System type they map to
  std::vector<MemberInfo> members;           // sorted by symbol; elements before typed choice names
};

class TypeModel {
 public:
  // The R4 model (built on first use, thread-safe).
  static const TypeModel& R4();

  const TypeInfo* Find(std::string_view name) const;
  // Element `name` of `type` or of one of its bases; null when absent.
  const ElementInfo* FindElement(const TypeInfo* type, std::string_view name) const;
  // Compile-time interning of navigation names: the symbol of any element name or typed choice
  // name of the model, kNoSymbol for other names.
  static constexpr uint32_t kNoSymbol = UINT32_MAX;
  uint32_t Symbol(std::string_view name) const;
  // What `symbol` names on `type` (an element, with the precedence of FindElement, else a
  // typed choice name); null when neither.
  const MemberInfo* FindMember(const TypeInfo* type, uint32_t symbol) const;
  // True when `type` is `ancestor` or derives from it.
  static bool IsA(const TypeInfo* type, const TypeInfo* ancestor);

 private:
  TypeModel();
  void BuildMembers();  // fills symbols_ and every type's members
  std::unordered_map<std::string_view, std::unique_ptr<TypeInfo>> types_;
  // Find's index: open addressing over a power-of-two table (types_ stays the owner).
  std::vector<const TypeInfo*> slots_;
  std::unordered_map<std::string_view, uint32_t> symbols_;  // views into ElementInfo names
};

// Name of a System type for a value kind ("Boolean", "String", ...).
std::string_view SystemTypeName(ValueKind kind);

}  // namespace medlake::fhirpath
