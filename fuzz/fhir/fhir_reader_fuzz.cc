// Fuzz target: the FHIR reader and fact extraction on arbitrary bytes, read both as NDJSON and
// as one JSON document, whole and an entry at a time (which must give the same records). Any
// crash, hang, sanitizer report or broken invariant is a bug.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fhir/resource_facts.h"
#include "ingest/fhir/fhir_reader.h"
#include "json/json.h"
#include "json/scanner.h"

namespace {

class CheckingSink final : public medlake::ingest::FhirRecordSink {
 public:
  void OnResource(medlake::json::Node resource, std::string_view json,
                  const medlake::fhir::ReferenceResolver& resolver,
                  const medlake::ingest::RecordLocation&, bool) override {
    medlake::fhir::ResourceFacts facts;
    if (medlake::fhir::ExtractFacts(resource, &resolver, facts).ok()) {
      // A stored resource must be valid JSON with a valid id.
      medlake::json::Parser parser;
      if (!parser.Parse(json).ok() || !medlake::fhir::IsValidId(facts.id)) std::abort();
    }
  }
  void OnReject(std::string_view, const medlake::ingest::RecordLocation&,
                std::string reason) override {
    if (reason.empty()) std::abort();
  }
  void OnExisting(const medlake::ingest::RecordLocation&) override {}
};

// What the reader gives, as lines: a Bundle read an entry at a time must give what a parse of
// the whole document gives (the words for invalid JSON and the whitespace of a document
// refused whole aside).
class RecordingSink final : public medlake::ingest::FhirRecordSink {
 public:
  std::string events;
  void OnResource(medlake::json::Node, std::string_view json,
                  const medlake::fhir::ReferenceResolver&,
                  const medlake::ingest::RecordLocation& loc, bool) override {
    events += "stored " + Where(loc) + std::string(json) + "\n";
  }
  void OnReject(std::string_view record, const medlake::ingest::RecordLocation& loc,
                std::string reason) override {
    if (reason.starts_with("invalid JSON")) reason = "invalid JSON";
    std::string kept(record);
    if (loc.location.empty()) {
      std::erase_if(kept, [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
    }
    events += "refused " + Where(loc) + reason + " " + kept + "\n";
  }
  void OnExisting(const medlake::ingest::RecordLocation& loc) override {
    events += "exists " + Where(loc) + "\n";
  }

 private:
  static std::string Where(const medlake::ingest::RecordLocation& loc) {
    return std::to_string(loc.byte_offset) + ":" + std::to_string(loc.entry) + ":" + loc.location +
           " ";
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string buf(reinterpret_cast<const char*>(data), size);
  buf.append(medlake::json::kPadding, '\0');
  medlake::ingest::FhirReader reader([](std::string_view, std::optional<std::string_view>,
                                        std::string_view) { return std::string(); });
  CheckingSink sink;
  reader.ReadNdjson(buf.data(), size, "fuzz.ndjson", 1, 0, sink);
  reader.ReadJson(buf.data(), size, "fuzz.json", 0, sink);

  RecordingSink whole, streamed;
  medlake::ingest::FhirReader whole_reader([](std::string_view, std::optional<std::string_view>,
                                              std::string_view) { return std::string(); });
  whole_reader.ReadJson(buf.data(), size, "fuzz.json", 0, whole);
  auto read = reader.ReadJsonStreamed(
      medlake::json::ReadAtMemory(std::string_view(buf.data(), size)), size, "fuzz.json", streamed);
  if (!read.ok()) std::abort();  // memory gives no I/O error
  if (*read && streamed.events != whole.events) {
    std::fprintf(stderr, "parsed whole:\n%s\nan entry at a time:\n%s\n", whole.events.c_str(),
                 streamed.events.c_str());
    std::abort();
  }
  if (!*read && !streamed.events.empty()) std::abort();
  return 0;
}
