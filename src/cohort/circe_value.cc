#include "cohort/circe_value.h"

#include <charconv>
#include <cmath>

#include "json/json.h"

namespace medlake::cohort::circe_internal {

Value Value::Object() {
  Value v;
  v.kind_ = Kind::kObject;
  return v;
}

Value Value::Array() {
  Value v;
  v.kind_ = Kind::kArray;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.text_ = std::move(s);
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.bool_ = b;
  return v;
}

Value Value::Int(int64_t n) {
  return NumberText(std::to_string(n));
}

Value Value::Number(double d) {
  if (!std::isfinite(d)) return Value();
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  if (ec != std::errc()) return Value();
  return NumberText(std::string(buf, end));
}

Value Value::NumberText(std::string text) {
  Value v;
  v.kind_ = Kind::kNumber;
  v.text_ = std::move(text);
  return v;
}

Value& Value::Set(std::string_view key, Value v) {
  for (auto& [k, member] : members_) {
    if (k == key) {
      member = std::move(v);
      return member;
    }
  }
  members_.emplace_back(std::string(key), std::move(v));
  return members_.back().second;
}

const Value* Value::Get(std::string_view key) const {
  for (const auto& [k, member] : members_) {
    if (k == key) return &member;
  }
  return nullptr;
}

Value& Value::Push(Value v) {
  items_.push_back(std::move(v));
  return items_.back();
}

std::string Value::Dump() const {
  std::string out;
  Write(out, -1);
  return out;
}

std::string Value::Pretty() const {
  std::string out;
  Write(out, 0);
  out += '\n';
  return out;
}

namespace {

void NewLine(std::string& out, int indent) {
  out += '\n';
  out.append(static_cast<size_t>(indent) * 2, ' ');
}

bool IsScalar(const Value& v) {
  return v.kind() != Value::Kind::kArray && v.kind() != Value::Kind::kObject;
}

}  // namespace

// Pretty printing writes a container on one line when it fits in this many bytes.
constexpr size_t kInlineWidth = 72;
// The indent that writes a container on one line with spaces after ',' and ':'.
constexpr int kInline = -2;

void Value::Write(std::string& out, int indent) const {
  if (indent >= 0 && (kind_ == Kind::kArray || kind_ == Kind::kObject) && size() > 0) {
    std::string one_line;
    Write(one_line, kInline);
    if (one_line.size() <= kInlineWidth) {
      out += one_line;
      return;
    }
  }
  const bool spaced = indent == kInline;
  switch (kind_) {
    case Kind::kNull:
      out += "null";
      return;
    case Kind::kBool:
      out += bool_ ? "true" : "false";
      return;
    case Kind::kNumber:
      out += text_;
      return;
    case Kind::kString:
      json::AppendQuoted(text_, out);
      return;
    case Kind::kArray: {
      bool flat = indent < 0;
      if (!flat) {
        flat = true;
        for (const Value& item : items_) flat = flat && IsScalar(item);
      }
      out += '[';
      // Scalars stay on one line; anything nested gets a line per item.
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i > 0) out += (flat && indent >= 0) || spaced ? ", " : ",";
        if (!flat) NewLine(out, indent + 1);
        items_[i].Write(out, spaced ? kInline : flat ? -1 : indent + 1);
      }
      if (!flat && !items_.empty()) NewLine(out, indent);
      out += ']';
      return;
    }
    case Kind::kObject: {
      out += '{';
      for (size_t i = 0; i < members_.size(); ++i) {
        if (i > 0) out += spaced ? ", " : ",";
        if (indent >= 0) NewLine(out, indent + 1);
        json::AppendQuoted(members_[i].first, out);
        out += indent >= 0 || spaced ? ": " : ":";
        members_[i].second.Write(out, indent < 0 ? indent : indent + 1);
      }
      if (indent >= 0 && !members_.empty()) NewLine(out, indent);
      out += '}';
      return;
    }
  }
}

}  // namespace medlake::cohort::circe_internal
