// medlake's JSON layer: the only module that includes simdjson.
//
// Parser parses one document at a time into an internal tape; Node is a cheap, copyable,
// read-only view into the last document that Parser parsed. A Node is valid until its Parser
// parses again or is destroyed. A Parser is not thread-safe: use one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"

namespace medlake::json {

// Bytes that must be readable (any value) after a buffer handed to Parser::ParsePadded.
inline constexpr size_t kPadding = 64;

enum class Kind : uint8_t { kNull, kBool, kInt64, kUint64, kDouble, kString, kArray, kObject };

struct NodeAccess;
class Cursor;

// Distinct names to look up together (Node::FindFields), hashed once so that looking up a key
// costs one probe of a small table, not a comparison per name.
class FieldSet {
 public:
  static constexpr size_t kMaxNames = 255;
  // At most kMaxNames distinct names; the views must outlive the set.
  explicit FieldSet(std::vector<std::string_view> names);
  size_t size() const { return names_.size(); }
  const std::vector<std::string_view>& names() const { return names_; }
  // Index of `key` in names(), -1 when absent.
  int IndexOf(std::string_view key) const {
    for (uint8_t i = head_[Bucket(key)]; i != 0; i = next_[i - 1]) {
      // The first byte before the rest: most names that share a bucket and a length differ
      // there, without a call to memcmp.
      const std::string_view name = names_[i - 1];
      if (name.size() == key.size() && (key.empty() || name[0] == key[0]) && name == key) {
        return i - 1;
      }
    }
    return -1;
  }

 private:
  size_t Bucket(std::string_view key) const {
    size_t h = key.size();
    if (!key.empty()) {
      h = h * 131 + static_cast<unsigned char>(key[0]) * 31 +
          static_cast<unsigned char>(key[key.size() / 2]) * 7 +
          static_cast<unsigned char>(key.back());
    }
    return h & mask_;
  }
  std::vector<std::string_view> names_;
  std::vector<uint8_t> head_;  // per bucket: 1 + index of its first name; 0: empty
  std::vector<uint8_t> next_;  // per name: 1 + index of the next in its bucket; 0: last
  size_t mask_ = 0;
};

class Node {
 public:
  Node() = default;

  Kind kind() const { return kind_; }
  bool IsNull() const { return kind() == Kind::kNull; }
  bool IsObject() const { return kind() == Kind::kObject; }
  bool IsArray() const { return kind() == Kind::kArray; }
  bool IsString() const { return kind() == Kind::kString; }
  bool IsNumber() const;
  bool IsBool() const { return kind() == Kind::kBool; }

  // Accessors return a neutral value ("" / 0 / false) when the kind does not match.
  std::string_view GetString() const;
  double GetDouble() const;  // any number kind
  int64_t GetInt64() const;  // kInt64, kUint64 (if it fits) and integral doubles
  bool GetBool() const;

  // Object field lookup; nullopt when this is not an object or the key is absent.
  std::optional<Node> Find(std::string_view key) const;
  // Looks up a set of fields of an object in one pass over it: out[i] becomes the first field
  // named names()[i] of `set` and stays nullopt when there is none (out.size() >= set.size();
  // all of it nullopt when this is not an object). A Find per name walks the fields once per
  // call, which adds up when most names are absent. Returns the names that occur more than
  // once: bit i for names()[i], for i < 64.
  uint64_t FindFields(const FieldSet& set, std::span<std::optional<Node>> out) const;
  // Finds the fields `key` and `prefix` + `key` of an object in one pass (FHIR keeps a
  // primitive's id and extensions under "_name"); each stays nullopt when absent.
  void FindWithPrefixed(std::string_view key, char prefix, std::optional<Node>& plain,
                        std::optional<Node>& prefixed) const;
  // Index of the first of `keys` (in their order) that is a field of this object, bare or
  // after `prefix`; -1 when none is. Every key starts with `stem`, which filters the fields.
  int FirstPresent(std::string_view stem, std::span<const std::string> keys, char prefix) const;
  // Visits fields in document order; stop by returning false.
  void ForEachField(const std::function<bool(std::string_view key, Node value)>& fn) const;
  // Visits array items in order; stop by returning false.
  void ForEachItem(const std::function<bool(Node item)>& fn) const;
  // Steps through the fields of an object or the items of an array without a callback (see
  // Cursor); an empty cursor for scalars.
  Cursor Children() const;
  // Number of array items or object fields; 0 for scalars.
  size_t Size() const;
  // Whether one of `keys` (escapes decoded) names more than one member of this object; false
  // for what is no object. One pass over its names, each compared by its length first: faster
  // than ForEachField (no callback). At most 64 keys.
  bool RepeatsAny(std::initializer_list<std::string_view> keys) const;
  // A name that an object repeats, in this node or anywhere below it (the empty name too);
  // nullopt when none does. (RFC 8259: names SHOULD be unique; FHIR's JSON format: they SHALL.
  // Readers of a repeated name disagree on which value counts.) Asked of a document's root
  // and answered nullopt, it is remembered for the document: this and RepeatsAny then answer
  // every Node of it at once (a reader asks the root of a Bundle once, not each entry).
  std::optional<std::string_view> RepeatedName() const;

  // Minified JSON text of this node.
  std::string ToJson() const;

  // The number as written in the source ("1.0", "2.50", "1e3"), which the parsed value
  // loses; empty when this is not a number or its Parser does not keep number text (see
  // Parser::set_keep_number_text). The view lives as long as the document.
  std::string_view NumberText() const;

 private:
  friend class Parser;
  friend struct NodeAccess;
  // Opaque copy of simdjson::dom::element (a document pointer and a tape index).
  alignas(8) unsigned char raw_[16] = {};
  bool valid_ = false;
  Kind kind_ = Kind::kNull;  // read from the tape when the Node is made
  // What the Parser knows of the whole document (its number text, whether a name repeats);
  // null for a Node made by no Parser.
  const void* doc_ = nullptr;
};

// Walks the children of one Node in document order without a callback per child:
//   for (Cursor c = node.Children(); c.Next();) Use(c.key(), c.value());
// Valid while the Node's document lives. key() is empty for array items.
class Cursor {
 public:
  Cursor() = default;
  // Moves to the next child (the first on the first call); false past the last.
  bool Next();
  std::string_view key() const;
  Node value() const;

 private:
  friend struct NodeAccess;
  // Opaque copies of simdjson's object or array iterators (current and end).
  alignas(8) unsigned char cur_[16] = {};
  alignas(8) unsigned char end_[16] = {};
  const void* doc_ = nullptr;
  bool object_ = false;
  bool started_ = false;
  bool valid_ = false;
};

class Parser {
 public:
  Parser();
  ~Parser();
  Parser(Parser&&) noexcept;
  Parser& operator=(Parser&&) noexcept;

  // Parses `text`, copying it into padded storage. Errors are kParseError with simdjson's
  // reason; the message never contains the input.
  Result<Node> Parse(std::string_view text);
  // Parses without copying: `data[size .. size + kPadding)` must be readable.
  Result<Node> ParsePadded(const char* data, size_t size);
  // Parses `text` that its caller wrote from a document in which no object repeats a name,
  // giving each object at most the names it had there (a de-identified resource): the
  // document's Nodes answer RepeatedName and RepeatsAny without a walk. A text that breaks the
  // promise has its repeated names go unseen.
  Result<Node> ParseWithUniqueNames(std::string_view text);

  // When on, Nodes of later parses answer NumberText() (FHIR decimals keep their precision:
  // "1.0" is not "1"). Costs a copy of the text per Parse and, on the first NumberText() call
  // per document, one walk over it. ParsePadded's buffer must then outlive the document.
  void set_keep_number_text(bool keep);
  // Documents nested deeper than this (objects and arrays) are refused as invalid JSON.
  static constexpr size_t kDefaultMaxDepth = 1024;
  Status set_max_depth(size_t depth);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// For each item of the array `root[array_key]` of the JSON object `text`, the raw text of
// `item[member_key]` (an empty view when the item has no such member). `text` must be followed
// by kPadding readable bytes; the views point into it, each to a value's text without the
// whitespace around it. kParseError if `text` is not such an object. Used to slice Bundle
// entries without re-serializing them.
Status MemberSlices(std::string_view text, std::string_view array_key, std::string_view member_key,
                    std::vector<std::string_view>& out);

// The raw text of `key` in the JSON value `text` (an empty view when `text` is no object or has
// no such member), as MemberSlices gives it for one item. `text` must be followed by kPadding
// readable bytes; the view points into it.
Status MemberSlice(std::string_view text, std::string_view key, std::string_view& out);

// Writes the minified form of `text` (valid JSON) into `out` (replacing its contents).
Status Minify(std::string_view text, std::string& out);

// Appends `s` to `out` as a JSON string literal, quotes included. Bytes that are not valid
// UTF-8 become U+FFFD, so the output is always valid JSON.
void AppendQuoted(std::string_view s, std::string& out);

}  // namespace medlake::json
