// A small ordered JSON value that the Circe importer builds its output with. Member order is
// insertion order, so the written cohort reads in the order of the format's documentation.
// Numbers keep their text ("6.5" stays "6.5").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medlake::cohort::circe_internal {

class Value {
 public:
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };

  Value() = default;
  static Value Object();
  static Value Array();
  static Value String(std::string s);
  static Value Bool(bool b);
  static Value Int(int64_t n);
  static Value Number(double d);
  // A number written as `text`, which must be a valid JSON number.
  static Value NumberText(std::string text);

  Kind kind() const { return kind_; }
  bool IsNull() const { return kind_ == Kind::kNull; }

  // Object: sets `key` (replacing an existing member in place). Returns the member.
  Value& Set(std::string_view key, Value v);
  // Object: the member or null.
  const Value* Get(std::string_view key) const;
  // Array: appends. Returns the item.
  Value& Push(Value v);

  const std::vector<Value>& items() const { return items_; }
  const std::vector<std::pair<std::string, Value>>& members() const { return members_; }
  const std::string& text() const { return text_; }  // string or number text
  size_t size() const { return kind_ == Kind::kArray ? items_.size() : members_.size(); }

  // Compact JSON; Pretty() indents by two spaces and keeps short arrays of scalars on a line.
  std::string Dump() const;
  std::string Pretty() const;

  bool operator==(const Value& other) const { return Dump() == other.Dump(); }

 private:
  void Write(std::string& out, int indent) const;

  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  std::string text_;
  std::vector<Value> items_;
  std::vector<std::pair<std::string, Value>> members_;
};

}  // namespace medlake::cohort::circe_internal
