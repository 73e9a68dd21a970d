// Fuzz target: the FHIR reader and fact extraction on arbitrary bytes, read both as NDJSON and
// as one JSON document. Any crash, hang, sanitizer report or broken invariant is a bug.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fhir/resource_facts.h"
#include "ingest/fhir/fhir_reader.h"
#include "json/json.h"

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string buf(reinterpret_cast<const char*>(data), size);
  buf.append(medlake::json::kPadding, '\0');
  medlake::ingest::FhirReader reader([](std::string_view, std::optional<std::string_view>,
                                        std::string_view) { return std::string(); });
  CheckingSink sink;
  reader.ReadNdjson(buf.data(), size, "fuzz.ndjson", 1, 0, sink);
  reader.ReadJson(buf.data(), size, "fuzz.json", 0, sink);
  return 0;
}
