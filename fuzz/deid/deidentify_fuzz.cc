// Fuzz target: the de-identifying rewrite of a keyed lake (ingest/deidentify.h) on arbitrary
// resources. A resource parsed with its references unresolved and given with the resolver that
// resolves them (a Bundle's entry: ParsedText::kUnresolved) must be stored as the same resource
// parsed with them resolved: the same stored text, the same vault record (as JSON), the same
// patient, or the same refusal. The stored form of a resource that repeats no name repeats none
// (ingest reads it so). Any crash, hang, sanitizer report or difference is a bug.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "fhir/resource_facts.h"
#include "ingest/deidentify.h"
#include "json/json.h"
#include "privacy/key_store.h"
#include "store/lake_writer.h"

namespace {

namespace fs = std::filesystem;
using medlake::json::Node;

// One keyed lake for the whole run; the links each input makes stay apart (PendingLinks).
struct KeyedLake {
  fs::path dir;
  std::unique_ptr<medlake::store::LakeWriter> writer;
  std::unique_ptr<medlake::ingest::Deidentifier> deid;
};

KeyedLake& Lake() {
  static KeyedLake* lake = [] {
    auto* l = new KeyedLake;
    l->dir = fs::temp_directory_path() / ("medlake_fuzz_deid." + std::to_string(getpid()));
    fs::remove_all(l->dir);
    fs::create_directories(l->dir);
    std::atexit([] { fs::remove_all(Lake().dir); });
    if (!medlake::privacy::KeyStore::Create(l->dir.string()).ok()) std::abort();
    auto writer = medlake::store::LakeWriter::Open(l->dir.string());
    if (!writer.ok()) std::abort();
    l->writer = std::move(*writer);
    auto deid = medlake::ingest::Deidentifier::ForLake(l->dir.string(), *l->writer);
    if (!deid.ok() || *deid == nullptr) std::abort();
    l->deid = std::move(*deid);
    return l;
  }();
  return *lake;
}

// urn:uuid:<rest> names a Patient, a Practitioner or an Encounter by the length of <rest>; the
// other references are left as written.
std::string_view Resolve(std::string_view reference, std::string& scratch) {
  constexpr std::string_view kUuid = "urn:uuid:";
  if (!reference.starts_with(kUuid) || reference.size() == kUuid.size()) return reference;
  const std::string_view rest = reference.substr(kUuid.size());
  static constexpr std::string_view kTypes[] = {"Patient/", "Practitioner/", "Encounter/"};
  scratch.assign(kTypes[rest.size() % 3]).append(rest);
  return scratch;
}

// `value` as minified JSON, numbers as written, its "reference" strings resolved when asked.
void Write(Node value, bool resolve, std::string& out) {
  std::string scratch;
  if (value.IsObject()) {
    out += '{';
    bool first = true;
    for (medlake::json::Cursor c = value.Children(); c.Next();) {
      if (!first) out += ',';
      first = false;
      medlake::json::AppendQuoted(c.key(), out);
      out += ':';
      if (resolve && c.key() == "reference" && c.value().IsString()) {
        medlake::json::AppendQuoted(Resolve(c.value().GetString(), scratch), out);
      } else {
        Write(c.value(), resolve, out);
      }
    }
    out += '}';
  } else if (value.IsArray()) {
    out += '[';
    bool first = true;
    for (medlake::json::Cursor c = value.Children(); c.Next();) {
      if (!first) out += ',';
      first = false;
      Write(c.value(), resolve, out);
    }
    out += ']';
  } else if (value.IsString()) {
    medlake::json::AppendQuoted(value.GetString(), out);
  } else if (value.IsNumber() && !value.NumberText().empty()) {
    out.append(value.NumberText());
  } else {
    out += value.ToJson();
  }
}

struct Rewritten {
  std::string status, stored, key, patient, vault;
};

Rewritten Apply(std::string_view text, const medlake::fhir::ReferenceResolver* resolver) {
  medlake::json::Parser parser;
  parser.set_keep_number_text(true);
  auto node = parser.Parse(text);
  if (!node.ok()) std::abort();  // written by Write from a valid document
  medlake::ingest::PendingLinks pending;
  medlake::ingest::VaultRecord removed;
  Rewritten r;
  medlake::Status s = Lake().deid->Apply(*node, r.stored, removed, &pending, resolver);
  r.status = s.ToString();
  if (!s.ok()) return r;
  r.key = removed.key;
  r.patient = removed.patient;
  if (!removed.json.empty()) {
    // Written by ToJson or by the resolving writer: compared as JSON, not as bytes.
    medlake::json::Parser vault_parser;
    auto vault = vault_parser.Parse(removed.json);
    if (!vault.ok()) std::abort();
    r.vault = vault->ToJson();
  }
  // The stored form is JSON and, as ingest parses it without looking
  // (json::Parser::ParseWithUniqueNames), repeats no name where the resource repeated none.
  const bool unique = !node->RepeatedName();
  auto stored = parser.Parse(r.stored);
  if (!stored.ok() || (unique && stored->RepeatedName())) std::abort();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  medlake::json::Parser parser;
  parser.set_keep_number_text(true);
  auto root = parser.Parse(input);
  if (!root.ok() || !root->IsObject()) return 0;
  std::string given, resolved;
  Write(*root, false, given);
  Write(*root, true, resolved);
  const medlake::fhir::ReferenceResolver resolver = Resolve;
  const Rewritten a = Apply(given, &resolver);
  const Rewritten b = Apply(resolved, nullptr);
  if (a.status != b.status || a.stored != b.stored || a.key != b.key || a.patient != b.patient ||
      a.vault != b.vault) {
    std::fprintf(stderr,
                 "read unresolved with its resolver:\n%s\n%s\n%s\n%s\n%s\n"
                 "read resolved:\n%s\n%s\n%s\n%s\n%s\n",
                 a.status.c_str(), a.stored.c_str(), a.key.c_str(), a.patient.c_str(),
                 a.vault.c_str(), b.status.c_str(), b.stored.c_str(), b.key.c_str(),
                 b.patient.c_str(), b.vault.c_str());
    std::abort();
  }
  return 0;
}
