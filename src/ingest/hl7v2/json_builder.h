// A small append-only JSON writer for building FHIR resources as text, fast.
//
// Containers that end up with no members are removed together with their key when closed, so
// a mapping can open "period" and write whatever of start/end exists without leaving the "{}"
// FHIR forbids. Strings are trimmed and skipped when empty (FHIR strings are never empty), and
// their bytes are made valid UTF-8: invalid sequences become U+FFFD, or, for messages declared
// ISO 8859-1, each byte above 0x7F is transcoded. Not thread-safe; one per resource.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medlake::hl7v2 {

enum class TextEncoding : uint8_t { kUtf8, kLatin1 };

// Appends `text` as a JSON string literal (quotes included) with valid UTF-8.
void AppendJsonString(std::string_view text, TextEncoding encoding, std::string& out);
// `text` in UTF-8: ISO 8859-1 transcoded, UTF-8 as it is (for bytes that are not written as a
// JSON string, such as a text attachment's base64 data).
std::string ToUtf8(std::string_view text, TextEncoding encoding);

class JsonBuilder {
 public:
  explicit JsonBuilder(TextEncoding encoding = TextEncoding::kUtf8) : encoding_(encoding) {}

  // Pass an empty key inside arrays.
  void BeginObject(std::string_view key = {});
  void EndObject();
  void BeginArray(std::string_view key);
  void EndArray();

  // Writes a string member (trimmed; nothing when empty after trimming).
  void String(std::string_view key, std::string_view text);
  // Writes `json` verbatim: a number or literal the caller has validated.
  void Raw(std::string_view key, std::string_view json);
  void Bool(std::string_view key, bool value) { Raw(key, value ? "true" : "false"); }

  // True when the innermost open container has at least one member.
  bool HasMembers() const { return !frames_.empty() && frames_.back().has_members; }

  // The finished document; the builder is empty afterwards.
  std::string Take();

 private:
  struct Frame {
    size_t rollback = 0;
    bool parent_had_members = false;
    bool has_members = false;
  };
  void Begin(std::string_view key, char open);
  void End(char close);
  void Key(std::string_view key);

  TextEncoding encoding_;
  std::string out_;
  std::vector<Frame> frames_;
};

// FHIR id of `kind` (e.g. "pat") for the identity `key`: kind + "-" + 16 hex digits of a
// 64-bit hash. Deterministic across runs and machines, so re-ingest is idempotent; the key
// (which may contain identifiers) is not recoverable from the id text itself.
std::string MakeId(std::string_view kind, std::string_view key);

}  // namespace medlake::hl7v2
