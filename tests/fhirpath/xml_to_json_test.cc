#include "xml_to_json.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "json/json.h"

namespace medlake::fhirpath::testing {
namespace {

TEST(XmlToJson, ConvertsPrimitivesArraysChoicesAndExtensions) {
  auto json_text = FhirXmlToJson(R"(<?xml version="1.0"?>
<Observation xmlns="http://hl7.org/fhir">
  <id value="o1"/>
  <extension url="http://x"><valueString value="v"/></extension>
  <status value="final"/>
  <category><coding><code value="a"/></coding><coding><code value="b"/></coding></category>
  <valueQuantity><value value="1.50"/><unit value="kg"/></valueQuantity>
  <note><text value="t"><extension url="http://e"><valueBoolean value="true"/></extension></text></note>
  <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>x &amp; y</p></div></text>
</Observation>)");
  ASSERT_TRUE(json_text.has_value());
  json::Parser parser;
  auto root = parser.Parse(*json_text);
  ASSERT_TRUE(root.ok()) << *json_text;
  EXPECT_EQ(root->Find("resourceType")->GetString(), "Observation");
  EXPECT_TRUE(root->Find("extension")->IsArray());
  EXPECT_TRUE(root->Find("category")->IsArray());
  EXPECT_EQ(root->Find("category")->Size(), 1u);
  EXPECT_EQ(root->Find("valueQuantity")->Find("value")->GetDouble(), 1.5);
  EXPECT_TRUE(root->Find("note")->IsArray());
  EXPECT_TRUE(root->Find("text")->Find("div")->IsString()) << *json_text;
}

}  // namespace
}  // namespace medlake::fhirpath::testing
