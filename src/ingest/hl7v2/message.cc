#include "ingest/hl7v2/message.h"

#include <cstring>
#include <string>
#include <utility>

namespace medlake::hl7v2 {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr char kMllpStart = 0x0B;
constexpr char kMllpEnd = 0x1C;

// Position of the next CR or LF at or after `pos`, or text.size(). An MLLP framing byte ends
// a segment too (a file of framed messages may put the end byte right after the last one).
size_t LineEnd(std::string_view text, size_t pos) {
  const char* begin = text.data();
  const char* p = begin + pos;
  const char* end = begin + text.size();
  while (p != end && *p != '\r' && *p != '\n' && *p != kMllpEnd && *p != kMllpStart) ++p;
  return static_cast<size_t>(p - begin);
}

// Skips CR, LF, MLLP framing bytes and a byte-order mark before a segment.
size_t SkipSeparators(std::string_view text, size_t pos) {
  for (;;) {
    if (pos >= text.size()) return pos;
    char c = text[pos];
    if (c == '\r' || c == '\n' || c == kMllpStart || c == kMllpEnd) {
      ++pos;
    } else if (text.substr(pos, kBom.size()) == kBom) {
      pos += kBom.size();
    } else {
      return pos;
    }
  }
}

bool IsBlank(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t' && c != kMllpEnd && c != kMllpStart) return false;
  }
  return true;
}

bool IsSegmentIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsEnvelope(std::string_view id) {
  return id == "FHS" || id == "BHS" || id == "BTS" || id == "FTS";
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Appends the meaning of the escape sequence `seq` (between the escape characters). Returns
// false when the sequence is not one medlake knows, so the caller keeps it literally.
bool AppendEscape(std::string_view seq, const Delimiters& d, std::string& out) {
  if (seq.size() == 1) {
    switch (seq[0]) {
      case 'F':
        out.push_back(d.field);
        return true;
      case 'S':
        out.push_back(d.component);
        return true;
      case 'T':
        out.push_back(d.subcomponent);
        return true;
      case 'R':
        out.push_back(d.repetition);
        return true;
      case 'E':
        out.push_back(d.escape);
        return true;
      case 'H':
      case 'N':
        return true;  // highlighting on/off: formatting only
      default:
        return false;
    }
  }
  if (seq.empty()) return false;
  if (seq[0] == 'X') {
    std::string_view hex = seq.substr(1);
    if (hex.empty() || hex.size() % 2 != 0) return false;
    for (char c : hex) {
      if (HexDigit(c) < 0) return false;
    }
    for (size_t i = 0; i < hex.size(); i += 2) {
      out.push_back(static_cast<char>(HexDigit(hex[i]) * 16 + HexDigit(hex[i + 1])));
    }
    return true;
  }
  if (seq == ".br") {
    out.push_back('\n');
    return true;
  }
  if (seq.substr(0, 3) == ".sp") {
    out.push_back('\n');
    return true;
  }
  // Other formatting commands (.in .ti .sk .ce .fi .nf), character-set switches (\C..\,
  // \M..\) and locally defined sequences (\Z..\) carry no text.
  if (seq[0] == '.' || seq[0] == 'C' || seq[0] == 'M' || seq[0] == 'Z') return true;
  return false;
}

}  // namespace

size_t Value::RepetitionCount() const {
  if (raw_.empty()) return 0;
  if (d_.repetition == '\0') return 1;
  size_t count = 1;
  for (char c : raw_) count += (c == d_.repetition);
  return count;
}

Value Value::Nth(char separator, size_t index) const {
  if (separator == '\0') return index == 0 ? *this : Value(std::string_view(), d_);
  size_t start = 0;
  for (size_t i = 0; i < index; ++i) {
    size_t next = raw_.find(separator, start);
    if (next == std::string_view::npos) return Value(std::string_view(), d_);
    start = next + 1;
  }
  size_t end = raw_.find(separator, start);
  if (end == std::string_view::npos) end = raw_.size();
  return Value(raw_.substr(start, end - start), d_);
}

Value Value::Repetition(size_t index) const {
  return Nth(d_.repetition, index);
}

Value Value::Component(size_t n) const {
  if (n == 0) return Value(std::string_view(), d_);
  return Nth(d_.repetition, 0).Nth(d_.component, n - 1);
}

Value Value::Subcomponent(size_t n) const {
  if (n == 0) return Value(std::string_view(), d_);
  return Nth(d_.repetition, 0).Nth(d_.component, 0).Nth(d_.subcomponent, n - 1);
}

std::string Value::Text() const {
  std::string out;
  AppendText(out);
  return out;
}

void Value::AppendText(std::string& out) const {
  if (IsNull()) return;
  AppendUnescaped(raw_, d_, out);
}

Value Segment::Field(size_t n) const {
  if (n == 0) return Value(std::string_view(), d_);
  bool is_msh = Id() == "MSH";
  if (is_msh) {
    if (n == 1) return Value(raw_.substr(3, 1), Delimiters{d_.field, 0, 0, 0, 0});
    if (n == 2) {
      if (raw_.size() < 4) return Value(std::string_view(), d_);
      size_t end = raw_.find(d_.field, 4);
      if (end == std::string_view::npos) end = raw_.size();
      return Value(raw_.substr(4, end - 4), Delimiters{d_.field, 0, 0, 0, 0});
    }
    --n;  // "MSH|^~\&|X": X is MSH-3 but the second piece after the id
  }
  // Piece n of the segment split by the field separator (piece 0 is the id).
  size_t start = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t next = raw_.find(d_.field, start);
    if (next == std::string_view::npos) return Value(std::string_view(), d_);
    start = next + 1;
  }
  size_t end = raw_.find(d_.field, start);
  if (end == std::string_view::npos) end = raw_.size();
  return Value(raw_.substr(start, end - start), d_);
}

size_t Segment::FieldCount() const {
  size_t count = 0;
  for (char c : raw_) count += (c == d_.field);
  return Id() == "MSH" ? count + 1 : count;
}

size_t Message::Find(std::string_view id, size_t from) const {
  for (size_t i = from; i < segments_.size(); ++i) {
    if (segments_[i].substr(0, 3) == id) return i;
  }
  return segments_.size();
}

std::string Message::Describe() const {
  std::string_view id = ControlId();
  if (id.empty())
    return "message at byte " + std::to_string(location_.byte_offset) + " (no control id)";
  // Control ids are identifiers, but keep the text printable and bounded.
  std::string out = "control id ";
  for (char c : id.substr(0, 64)) {
    out.push_back(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F ? c : '?');
  }
  return out;
}

Result<Message> Message::Parse(std::string_view text, SourceLocation location) {
  std::string where = "message at byte " + std::to_string(location.byte_offset);
  if (text.substr(0, kBom.size()) == kBom) text.remove_prefix(kBom.size());
  if (text.size() < 8 || text.substr(0, 3) != "MSH") {
    return ParseError(where + ": does not start with an MSH segment");
  }
  Message m;
  m.raw_ = text;
  m.location_ = location;
  Delimiters& d = m.delimiters_;
  d.field = text[3];
  if (IsSegmentIdChar(d.field) || d.field == '\r' || d.field == '\n' || d.field == ' ') {
    return ParseError(where + ": MSH-1 field separator is not a delimiter character");
  }
  size_t enc_end = 4;
  while (enc_end < text.size() && text[enc_end] != d.field && text[enc_end] != '\r' &&
         text[enc_end] != '\n') {
    ++enc_end;
  }
  std::string_view enc = text.substr(4, enc_end - 4);
  if (enc.empty() || enc.size() > 5) {
    return ParseError(where + ": MSH-2 encoding characters must be 1 to 5 characters");
  }
  d.component = enc[0];
  d.repetition = enc.size() > 1 ? enc[1] : '\0';
  d.escape = enc.size() > 2 ? enc[2] : '\0';
  d.subcomponent = enc.size() > 3 ? enc[3] : '\0';
  // Tolerance: some exporters double the escape character ("^~\\&"); the subcomponent
  // separator is then the character after the pair.
  if (enc.size() == 5 && enc[3] == enc[2]) d.subcomponent = enc[4];
  const char delims[] = {d.field, d.component, d.repetition, d.escape, d.subcomponent};
  for (size_t i = 0; i < 5; ++i) {
    if (delims[i] == '\0') continue;
    if (IsSegmentIdChar(delims[i]) || delims[i] == '\r' || delims[i] == '\n') {
      return ParseError(where + ": MSH-2 declares a letter, digit or line end as delimiter");
    }
    for (size_t j = i + 1; j < 5; ++j) {
      if (delims[i] == delims[j]) {
        return ParseError(where + ": MSH-1/MSH-2 declare the same delimiter twice");
      }
    }
  }

  size_t pos = 0;
  size_t segment_number = 0;
  while (pos < text.size()) {
    pos = SkipSeparators(text, pos);
    if (pos >= text.size()) break;
    size_t end = LineEnd(text, pos);
    std::string_view line = text.substr(pos, end - pos);
    pos = end;
    if (IsBlank(line)) continue;
    ++segment_number;
    if (line.size() < 3 || !IsSegmentIdChar(line[0]) || !IsSegmentIdChar(line[1]) ||
        !IsSegmentIdChar(line[2]) || (line.size() > 3 && line[3] != d.field)) {
      return ParseError(m.Describe() + ": segment " + std::to_string(segment_number) + " (byte " +
                        std::to_string(location.byte_offset + (line.data() - text.data())) +
                        "): invalid segment id");
    }
    m.segments_.push_back(line);
  }
  return m;
}

std::string Unescape(std::string_view raw, const Delimiters& delimiters) {
  std::string out;
  AppendUnescaped(raw, delimiters, out);
  return out;
}

void AppendUnescaped(std::string_view raw, const Delimiters& d, std::string& out) {
  size_t first = d.escape == '\0' ? std::string_view::npos : raw.find(d.escape);
  if (first == std::string_view::npos) {
    out.append(raw);
    return;
  }
  out.append(raw.substr(0, first));
  size_t pos = first;
  while (pos < raw.size()) {
    if (raw[pos] != d.escape) {
      size_t next = raw.find(d.escape, pos);
      if (next == std::string_view::npos) next = raw.size();
      out.append(raw.substr(pos, next - pos));
      pos = next;
      continue;
    }
    size_t close = raw.find(d.escape, pos + 1);
    if (close == std::string_view::npos) {  // unterminated: literal
      out.append(raw.substr(pos));
      return;
    }
    std::string_view seq = raw.substr(pos + 1, close - pos - 1);
    if (AppendEscape(seq, d, out)) {
      pos = close + 1;
    } else {
      // Unknown sequence: keep the escape character and rescan from the next one, which may
      // open a valid sequence.
      out.append(raw.substr(pos, close - pos));
      pos = close;
      if (seq.empty()) {
        out.push_back(d.escape);
        ++pos;
      }
    }
  }
}

std::vector<FileEntry> ReadMessages(std::string_view file) {
  std::vector<FileEntry> entries;
  size_t pos = 0;
  size_t message_start = std::string_view::npos;
  size_t message_end = 0;
  size_t junk_start = std::string_view::npos;
  size_t junk_end = 0;
  size_t messages = 0;
  auto close_message = [&]() {
    if (message_start == std::string_view::npos) return;
    SourceLocation loc{message_start, messages++, message_end - message_start};
    entries.push_back(
        {loc, Message::Parse(file.substr(message_start, message_end - message_start), loc)});
    message_start = std::string_view::npos;
  };
  auto close_junk = [&]() {
    if (junk_start == std::string_view::npos) return;
    SourceLocation loc{junk_start, messages, junk_end - junk_start, /*outside_message=*/true};
    entries.push_back({loc, ParseError("text at byte " + std::to_string(junk_start) +
                                       " is not inside an HL7 v2 message (no MSH segment)")});
    junk_start = std::string_view::npos;
  };
  while (pos < file.size()) {
    pos = SkipSeparators(file, pos);
    if (pos >= file.size()) break;
    size_t end = LineEnd(file, pos);
    std::string_view line = file.substr(pos, end - pos);
    if (!IsBlank(line)) {
      std::string_view id = line.substr(0, 3);
      if (id == "MSH") {
        close_message();
        close_junk();
        message_start = pos;
        message_end = end;
      } else if (IsEnvelope(id)) {
        close_message();
        close_junk();
      } else if (message_start != std::string_view::npos) {
        message_end = end;
      } else {
        if (junk_start == std::string_view::npos) junk_start = pos;
        junk_end = end;
      }
    }
    pos = end;
  }
  close_message();
  close_junk();
  return entries;
}

Result<std::vector<Message>> SplitMessages(std::string_view file) {
  std::vector<Message> messages;
  for (FileEntry& entry : ReadMessages(file)) {
    if (!entry.message.ok()) return entry.message.status();
    messages.push_back(std::move(entry.message).value());
  }
  return messages;
}

}  // namespace medlake::hl7v2
