// A minimal XML reader for the FHIRPath conformance suite file (elements, attributes, text,
// comments, CDATA and the predefined entities). Test-only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace medlake::fhirpath::testing {

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::string text;  // concatenated character data of this element
  std::vector<std::unique_ptr<XmlElement>> children;
  std::string_view raw;  // the element's source text, tags included (valid with the source)

  std::string Attr(const std::string& key) const {
    auto it = attributes.find(key);
    return it == attributes.end() ? "" : it->second;
  }
};

// Parses `text`; null on malformed input. Elements' `raw` views point into `text`.
std::unique_ptr<XmlElement> ParseXml(std::string_view text);

}  // namespace medlake::fhirpath::testing
