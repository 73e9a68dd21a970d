// Fuzz target for the HL7 v2 parser and FHIR mapping. Invariants checked on any input: no
// crash or sanitizer report, every field view stays inside the input, and every mapped
// resource is valid JSON whose id is a FHIR id.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ingest/hl7v2/fhir_mapper.h"
#include "json/json.h"

namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

bool IsFhirId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace hl7 = medlake::hl7v2;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  static medlake::json::Parser parser;
  std::vector<hl7::FileEntry> entries = hl7::ReadMessages(input);
  // Also the whole input as one message, so segments ReadMessages would split off (an inner
  // MSH) reach the accessors.
  entries.push_back({{}, hl7::Message::Parse(input)});
  for (const hl7::FileEntry& entry : entries) {
    if (!entry.message.ok()) continue;
    const hl7::Message& m = *entry.message;
    for (size_t s = 0; s < m.SegmentCount(); ++s) {
      m.segment(s).ForEachField([&](size_t, const hl7::Value& v) {
        Check(v.raw().empty() || (v.raw().data() >= input.data() &&
                                  v.raw().data() + v.raw().size() <= input.data() + size));
        for (size_t r = 0; r < v.RepetitionCount() && r < 4; ++r) {
          (void)v.Repetition(r).Component(2).Subcomponent(2).Text();
        }
      });
    }
    auto mapped = hl7::MapToFhir(m);
    if (!mapped.ok()) continue;
    for (const hl7::MappedResource& r : mapped->resources) {
      Check(IsFhirId(r.id));
      Check(parser.Parse(r.json).ok());
    }
  }
  return 0;
}
