#include "ingest/hl7v2/json_builder.h"

#include <algorithm>

#include "common/string_util.h"
#include "json/json.h"

namespace medlake::hl7v2 {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

void AppendJsonString(std::string_view s, TextEncoding encoding, std::string& out) {
  // A FHIR string holds no control character but tab, CR and LF (R4 datatypes: string
  // matches [ \r\n\t\S]+): the others (raw bytes, or \X00\ escapes) become spaces.
  const bool controls = std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t' && c != '\r' && c != '\n') || u == 0x7f;
  });
  if (encoding != TextEncoding::kLatin1 && !controls) {
    json::AppendQuoted(s, out);  // escapes, and replaces invalid UTF-8 with U+FFFD
    return;
  }
  std::string text = ToUtf8(s, encoding);
  for (char& c : text) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\r' && c != '\n') || u == 0x7f) c = ' ';
  }
  json::AppendQuoted(text, out);
}

std::string ToUtf8(std::string_view s, TextEncoding encoding) {
  if (encoding != TextEncoding::kLatin1) return std::string(s);
  // ISO 8859-1: each byte is its code point.
  std::string utf8;
  utf8.reserve(s.size() + s.size() / 4);
  for (unsigned char c : s) AppendUtf8(c, utf8);
  return utf8;
}

void JsonBuilder::Key(std::string_view key) {
  if (!frames_.empty()) {
    if (frames_.back().has_members) out_.push_back(',');
    frames_.back().has_members = true;
  }
  if (!key.empty()) {
    out_.push_back('"');
    out_.append(key);
    out_ += "\":";
  }
}

void JsonBuilder::Begin(std::string_view key, char open) {
  Frame frame;
  frame.rollback = out_.size();
  frame.parent_had_members = !frames_.empty() && frames_.back().has_members;
  Key(key);
  out_.push_back(open);
  frames_.push_back(frame);
}

void JsonBuilder::End(char close) {
  Frame frame = frames_.back();
  frames_.pop_back();
  if (!frame.has_members && !frames_.empty()) {
    out_.resize(frame.rollback);
    frames_.back().has_members = frame.parent_had_members;
    return;
  }
  out_.push_back(close);
}

void JsonBuilder::BeginObject(std::string_view key) {
  Begin(key, '{');
}
void JsonBuilder::EndObject() {
  End('}');
}
void JsonBuilder::BeginArray(std::string_view key) {
  Begin(key, '[');
}
void JsonBuilder::EndArray() {
  End(']');
}

void JsonBuilder::String(std::string_view key, std::string_view text) {
  text = Trim(text);
  if (text.empty()) return;
  Key(key);
  AppendJsonString(text, encoding_, out_);
}

void JsonBuilder::Raw(std::string_view key, std::string_view json) {
  if (json.empty()) return;
  Key(key);
  out_.append(json);
}

std::string JsonBuilder::Take() {
  frames_.clear();
  std::string result = std::move(out_);
  out_.clear();
  return result;
}

std::string MakeId(std::string_view kind, std::string_view key) {
  // FNV-1a 64 followed by a final avalanche (splitmix64) so similar keys spread.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  std::string id(kind);
  id.push_back('-');
  for (int shift = 60; shift >= 0; shift -= 4) id.push_back(kHex[(h >> shift) & 15]);
  return id;
}

}  // namespace medlake::hl7v2
