#include "fhirpath/types.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <utility>

namespace medlake::fhirpath {
namespace {

struct RawType {
  const char* name;
  const char* base;
  int kind;
  const char* elements;
};

#define MEDLAKE_FP_TYPE(name, base, kind, elements) {name, base, kind, elements},
constexpr RawType kRawTypes[] = {
#include "fhirpath/r4_types_table.inc"
};
#undef MEDLAKE_FP_TYPE

ValueKind PrimitiveKind(std::string_view name) {
  if (name == "boolean") return ValueKind::kBoolean;
  if (name == "integer" || name == "positiveInt" || name == "unsignedInt")
    return ValueKind::kInteger;
  if (name == "decimal") return ValueKind::kDecimal;
  if (name == "date") return ValueKind::kDate;
  if (name == "dateTime" || name == "instant") return ValueKind::kDateTime;
  if (name == "time") return ValueKind::kTime;
  return ValueKind::kString;
}

// Type names are short and Find runs once per resource and expression: the hash mixes the
// length with the first and the last eight bytes instead of walking every byte.
size_t NameHash(std::string_view name) {
  uint64_t head = 0, tail = 0;
  size_t n = name.size();
  if (n > 0) std::memcpy(&head, name.data(), std::min<size_t>(n, 8));  // data() may be null
  if (n > 8) std::memcpy(&tail, name.data() + n - 8, 8);
  uint64_t h = (head ^ (tail * 0x9E3779B97F4A7C15ull) ^ n) * 0xff51afd7ed558ccdull;
  return size_t(h ^ (h >> 32));
}

}  // namespace

const TypeModel& TypeModel::R4() {
  static const TypeModel* model = new TypeModel();
  return *model;
}

TypeModel::TypeModel() {
  for (const RawType& raw : kRawTypes) {
    auto t = std::make_unique<TypeInfo>();
    t->name = raw.name;
    t->kind = static_cast<TypeKind>(raw.kind);
    if (t->kind == TypeKind::kPrimitive) t->system_kind = PrimitiveKind(t->name);
    std::string_view key = t->name;
    types_.emplace(key, std::move(t));
  }
  size_t capacity = 1;
  while (capacity < 2 * types_.size()) capacity *= 2;
  slots_.assign(capacity, nullptr);
  for (const auto& [name, type] : types_) {
    size_t i = NameHash(name) & (capacity - 1);
    while (slots_[i] != nullptr) i = (i + 1) & (capacity - 1);
    slots_[i] = type.get();
  }
  for (const RawType& raw : kRawTypes) {
    TypeInfo* t = types_.at(raw.name).get();
    if (raw.base[0] != '\0') t->base = Find(raw.base);
    std::string_view spec = raw.elements;
    while (!spec.empty()) {
      size_t comma = spec.find(',');
      std::string_view item = spec.substr(0, comma);
      spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
      size_t colon = item.find(':');
      std::string_view name = item.substr(0, colon);
      std::string_view type_list = item.substr(colon + 1);
      ElementInfo e;
      if (!name.empty() && name.back() == '*') {
        e.repeating = true;
        name.remove_suffix(1);
      }
      if (name.size() > 3 && name.substr(name.size() - 3) == "[x]") {
        e.choice = true;
        name.remove_suffix(3);
      }
      e.name = std::string(name);
      while (!type_list.empty()) {
        size_t bar = type_list.find('|');
        if (const TypeInfo* et = Find(type_list.substr(0, bar))) e.types.push_back(et);
        type_list = bar == std::string_view::npos ? std::string_view() : type_list.substr(bar + 1);
      }
      if (e.choice) {
        for (const TypeInfo* et : e.types) {
          std::string suffix = et->name;
          suffix[0] = char(std::toupper(static_cast<unsigned char>(suffix[0])));
          e.json_names.push_back(e.name + suffix);
        }
      }
      t->elements.push_back(std::move(e));
    }
  }
  BuildMembers();
}

void TypeModel::BuildMembers() {
  auto intern = [&](std::string_view name) {
    return symbols_.emplace(name, uint32_t(symbols_.size())).first->second;
  };
  for (auto& [name, type] : types_) {
    // Candidates in precedence order: elements (own before inherited), then typed choice
    // names; the first candidate of each symbol wins.
    std::vector<MemberInfo>& members = type->members;
    for (const TypeInfo* x = type.get(); x != nullptr; x = x->base) {
      for (const ElementInfo& e : x->elements) members.push_back({intern(e.name), &e, nullptr});
    }
    for (const TypeInfo* x = type.get(); x != nullptr; x = x->base) {
      for (const ElementInfo& e : x->elements) {
        for (size_t i = 0; i < e.json_names.size(); ++i) {
          members.push_back({intern(e.json_names[i]), nullptr, e.types[i]});
        }
      }
    }
    auto by_symbol = [](const MemberInfo& a, const MemberInfo& b) { return a.symbol < b.symbol; };
    std::stable_sort(members.begin(), members.end(), by_symbol);
    auto same_symbol = [](const MemberInfo& a, const MemberInfo& b) {
      return a.symbol == b.symbol;
    };
    members.erase(std::unique(members.begin(), members.end(), same_symbol), members.end());
  }
}

uint32_t TypeModel::Symbol(std::string_view name) const {
  auto it = symbols_.find(name);
  return it == symbols_.end() ? kNoSymbol : it->second;
}

const MemberInfo* TypeModel::FindMember(const TypeInfo* type, uint32_t symbol) const {
  if (type == nullptr || symbol == kNoSymbol) return nullptr;
  auto it = std::lower_bound(type->members.begin(), type->members.end(), symbol,
                             [](const MemberInfo& m, uint32_t s) { return m.symbol < s; });
  return it != type->members.end() && it->symbol == symbol ? &*it : nullptr;
}

const TypeInfo* TypeModel::Find(std::string_view name) const {
  size_t mask = slots_.size() - 1;
  for (size_t i = NameHash(name) & mask; slots_[i] != nullptr; i = (i + 1) & mask) {
    if (slots_[i]->name == name) return slots_[i];
  }
  return nullptr;
}

const ElementInfo* TypeModel::FindElement(const TypeInfo* type, std::string_view name) const {
  for (const TypeInfo* t = type; t != nullptr; t = t->base) {
    for (const ElementInfo& e : t->elements) {
      if (e.name == name) return &e;
    }
  }
  return nullptr;
}

bool TypeModel::IsA(const TypeInfo* type, const TypeInfo* ancestor) {
  for (const TypeInfo* t = type; t != nullptr; t = t->base) {
    if (t == ancestor) return true;
  }
  return false;
}

std::string_view SystemTypeName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kBoolean:
      return "Boolean";
    case ValueKind::kString:
      return "String";
    case ValueKind::kInteger:
      return "Integer";
    case ValueKind::kDecimal:
      return "Decimal";
    case ValueKind::kDate:
      return "Date";
    case ValueKind::kDateTime:
      return "DateTime";
    case ValueKind::kTime:
      return "Time";
    case ValueKind::kQuantity:
      return "Quantity";
    case ValueKind::kNode:
      return "Object";
    case ValueKind::kTypeInfo:
      return "TypeInfo";
  }
  return "Object";
}

}  // namespace medlake::fhirpath
