// HL7 v2 (ER7, versions 2.3 to 2.8) messages as zero-copy views.
//
// A Message is a list of segment views into a buffer the caller owns: the buffer must outlive
// the Message and every view taken from it (views carry their delimiters by value, so they do
// not depend on the Message object itself). Fields, repetitions, components and subcomponents
// are located on access by scanning for the delimiters that MSH-1 and MSH-2 declare; nothing is
// copied until Text() unescapes a value into a std::string.
//
// Numbering follows HL7 notation: Segment::Field(n) is "SEG-n" (for MSH, Field(1) is the field
// separator and Field(2) the encoding characters), Value::Component(n) and
// Value::Subcomponent(n) are 1-based, Value::Repetition(i) is 0-based. Asking for something
// that is not there yields an empty Value, never an error.
//
// Messages and views are immutable and safe to share between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "medlake/status.h"

namespace medlake::hl7v2 {

// The separators of one message, from MSH-1 and MSH-2.
struct Delimiters {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';
};

// A piece of a field at any level (field, repetition, component, subcomponent).
class Value {
 public:
  Value() = default;
  Value(std::string_view raw, const Delimiters& delimiters) : raw_(raw), d_(delimiters) {}

  // The escaped text as it stands in the message.
  std::string_view raw() const { return raw_; }
  bool empty() const { return raw_.empty(); }
  // HL7's explicit null: the two characters "" (the receiver should delete the value).
  bool IsNull() const { return raw_ == "\"\""; }

  // Splitting one level down. On a field, Repetition(0) is the first repetition; Component
  // and Subcomponent look inside the first repetition (resp. first component) when applied to
  // a higher level, so Field(3).Component(1) is the first component of the first repetition.
  size_t RepetitionCount() const;
  Value Repetition(size_t index) const;
  Value Component(size_t n) const;
  Value Subcomponent(size_t n) const;

  // Unescaped text (see Unescape). Empty for the HL7 null "".
  std::string Text() const;
  // Appends the unescaped text to `out`.
  void AppendText(std::string& out) const;

 private:
  Value Nth(char separator, size_t index) const;

  std::string_view raw_;
  Delimiters d_;
};

// One segment, e.g. "PID|1||12345^^^HOSP^MR".
class Segment {
 public:
  Segment() = default;
  Segment(std::string_view raw, const Delimiters& delimiters) : raw_(raw), d_(delimiters) {}

  std::string_view raw() const { return raw_; }
  // The three-character segment id ("MSH", "PID", "ZPI", ...).
  std::string_view Id() const { return raw_.substr(0, 3); }
  // Field SEG-n (n >= 1); empty when absent.
  Value Field(size_t n) const;
  // Number of fields present (the highest n with a field separator before it).
  size_t FieldCount() const;
  // Calls fn(n, Value) for every field n >= 1 in one pass (MSH-1 and MSH-2 included).
  template <typename Fn>
  void ForEachField(Fn&& fn) const;

 private:
  std::string_view raw_;
  Delimiters d_;
};

template <typename Fn>
void Segment::ForEachField(Fn&& fn) const {
  size_t n = 1;
  size_t start = 4;
  if (Id() == "MSH") {
    fn(size_t{1}, Field(1));
    n = 2;
  }
  if (raw_.size() < 4) return;
  while (true) {
    size_t end = raw_.find(d_.field, start);
    if (end == std::string_view::npos) end = raw_.size();
    fn(n, n == 2 && Id() == "MSH" ? Field(2) : Value(raw_.substr(start, end - start), d_));
    if (end == raw_.size()) return;
    start = end + 1;
    ++n;
  }
}

// Where a message sits in its file.
struct SourceLocation {
  size_t byte_offset = 0;        // of the "MSH" that starts it
  size_t message_index = 0;      // 0-based position among the file's messages
  size_t byte_length = 0;        // of the message (or the text outside messages), when known
  bool outside_message = false;  // text before a message, not inside one (no MSH)
};

class Message {
 public:
  // Parses one message starting with "MSH". Segments may end with CR, LF or CRLF; blank lines
  // are skipped. Errors (kParseError) name the control id when known and the segment, never
  // field contents. `text` must outlive the Message.
  static Result<Message> Parse(std::string_view text, SourceLocation location = {});

  std::string_view raw() const { return raw_; }
  const Delimiters& delimiters() const { return delimiters_; }
  const SourceLocation& location() const { return location_; }

  size_t SegmentCount() const { return segments_.size(); }
  Segment segment(size_t index) const { return Segment(segments_[index], delimiters_); }
  // Index of the first segment with `id` at or after `from`; SegmentCount() when none.
  size_t Find(std::string_view id, size_t from = 0) const;

  // MSH-10, raw (control ids are plain identifiers; never patient data).
  std::string_view ControlId() const { return segment(0).Field(10).raw(); }
  // MSH-9.1 and MSH-9.2, e.g. "ADT" and "A01".
  std::string_view MessageCode() const { return segment(0).Field(9).Component(1).raw(); }
  std::string_view TriggerEvent() const { return segment(0).Field(9).Component(2).raw(); }
  // MSH-12.1, e.g. "2.5.1".
  std::string_view Version() const { return segment(0).Field(12).Component(1).raw(); }

  // "control id X", or "message at byte N (no control id)", for error messages.
  std::string Describe() const;

 private:
  Message() = default;

  std::string_view raw_;
  Delimiters delimiters_;
  SourceLocation location_;
  std::vector<std::string_view> segments_;
};

// Replaces HL7 escape sequences: \F\ \S\ \T\ \R\ \E\ become the delimiters, \Xhhhh..\ the
// bytes it spells, \.br\ a line feed; highlighting (\H\ \N\), character-set (\C..\ \M..\),
// locally defined (\Z..\) and other formatting sequences (\.sp\ \.in\ ...) are dropped. An
// unterminated or malformed sequence is kept literally.
std::string Unescape(std::string_view raw, const Delimiters& delimiters);
void AppendUnescaped(std::string_view raw, const Delimiters& delimiters, std::string& out);

// One message found in a file: either parsed or the reason it could not be.
struct FileEntry {
  SourceLocation location;
  Result<Message> message;
};

// Splits a file into its messages. Handles a UTF-8 byte-order mark, MLLP framing bytes,
// CR/LF/CRLF segment ends, several messages in a row and batch envelopes (FHS/BHS/BTS/FTS
// segments are consumed, not returned). Text before the first MSH that is not an envelope
// becomes an entry with a kParseError. Never fails as a whole; `file` must outlive the result.
std::vector<FileEntry> ReadMessages(std::string_view file);

// Like ReadMessages but all-or-nothing: the first bad message is returned as the error, with
// its byte offset. An empty file yields an empty vector.
Result<std::vector<Message>> SplitMessages(std::string_view file);

}  // namespace medlake::hl7v2
