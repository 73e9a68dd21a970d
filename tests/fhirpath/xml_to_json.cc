#include "xml_to_json.h"

#include <map>
#include <vector>

#include "fhirpath/types.h"
#include "json/json.h"
#include "mini_xml.h"

namespace medlake::fhirpath::testing {
namespace {

bool IsNumberType(const TypeInfo* t) {
  return t != nullptr &&
         (t->system_kind == ValueKind::kInteger || t->system_kind == ValueKind::kDecimal ||
          t->system_kind == ValueKind::kBoolean);
}

// Element `name` of `type` with its type (choice names resolved: valueQuantity -> Quantity).
struct Resolved {
  const ElementInfo* element = nullptr;
  const TypeInfo* type = nullptr;
};

Resolved Resolve(const TypeModel& model, const TypeInfo* type, const std::string& name) {
  Resolved r;
  if (type == nullptr) return r;
  if (const ElementInfo* e = model.FindElement(type, name); e != nullptr && !e->choice) {
    r.element = e;
    r.type = e->types.empty() ? nullptr : e->types[0];
    return r;
  }
  for (const TypeInfo* t = type; t != nullptr; t = t->base) {
    for (const ElementInfo& e : t->elements) {
      if (!e.choice || name.compare(0, e.name.size(), e.name) != 0) continue;
      std::string suffix = name.substr(e.name.size());
      for (const TypeInfo* ct : e.types) {
        std::string cap = ct->name;
        cap[0] = char(std::toupper(static_cast<unsigned char>(cap[0])));
        if (cap == suffix) {
          r.element = &e;
          r.type = ct;
          return r;
        }
      }
    }
  }
  return r;
}

class Converter {
 public:
  Converter() : model_(TypeModel::R4()) {}

  void Resource(const XmlElement& el, std::string& out) {
    out += "{\"resourceType\":";
    json::AppendQuoted(el.name, out);
    Members(el, model_.Find(el.name), out, false);
    out += "}";
  }

 private:
  struct Group {
    std::string name;
    Resolved resolved;
    std::vector<const XmlElement*> items;
  };

  // Writes ",\"key\":value" pairs for the attributes and children of `el`.
  void Members(const XmlElement& el, const TypeInfo* type, std::string& out, bool first) {
    auto sep = [&]() {
      if (!first) out += ",";
      first = false;
    };
    for (const auto& [key, value] : el.attributes) {
      if (key == "xmlns" || key.rfind("xmlns:", 0) == 0 || key == "value") continue;
      sep();
      json::AppendQuoted(key, out);
      out += ":";
      json::AppendQuoted(value, out);
    }
    std::vector<Group> groups;
    std::map<std::string, size_t> index;
    for (const auto& child : el.children) {
      auto it = index.find(child->name);
      if (it == index.end()) {
        it = index.emplace(child->name, groups.size()).first;
        groups.push_back({child->name, Resolve(model_, type, child->name), {}});
      }
      groups[it->second].items.push_back(child.get());
    }
    for (const Group& g : groups) {
      const TypeInfo* t = g.resolved.type;
      bool repeating =
          g.resolved.element == nullptr ? g.items.size() > 1 : g.resolved.element->repeating;
      if (t != nullptr && t->name == "xhtml") {
        sep();
        json::AppendQuoted(g.name, out);
        out += ":";
        json::AppendQuoted(g.items[0]->raw, out);
        continue;
      }
      if (t != nullptr && t->kind == TypeKind::kPrimitive) {
        Primitive(g, t, repeating, sep, out);
        continue;
      }
      sep();
      json::AppendQuoted(g.name, out);
      out += ":";
      if (repeating) out += "[";
      for (size_t i = 0; i < g.items.size(); ++i) {
        if (i > 0) out += ",";
        const XmlElement& item = *g.items[i];
        if (t != nullptr && (t->name == "Resource" || t->name == "DomainResource") &&
            !item.children.empty()) {
          Resource(*item.children[0], out);
        } else {
          out += "{";
          Members(item, t, out, true);
          out += "}";
        }
      }
      if (repeating) out += "]";
    }
  }

  template <typename Sep>
  void Primitive(const Group& g, const TypeInfo* t, bool repeating, Sep& sep, std::string& out) {
    auto value = [&](const XmlElement& item) {
      auto it = item.attributes.find("value");
      if (it == item.attributes.end()) return std::string("null");
      std::string v;
      if (IsNumberType(t)) return it->second;
      json::AppendQuoted(it->second, v);
      return v;
    };
    auto has_ext = [](const XmlElement& item) {
      return !item.children.empty() || item.attributes.count("id") > 0;
    };
    bool any_value = false, any_ext = false;
    for (const XmlElement* item : g.items) {
      any_value = any_value || item->attributes.count("value") > 0;
      any_ext = any_ext || has_ext(*item);
    }
    if (any_value) {
      sep();
      json::AppendQuoted(g.name, out);
      out += ":";
      if (repeating) out += "[";
      for (size_t i = 0; i < g.items.size(); ++i) {
        if (i > 0) out += ",";
        out += value(*g.items[i]);
      }
      if (repeating) out += "]";
    }
    if (any_ext) {
      sep();
      json::AppendQuoted("_" + g.name, out);
      out += ":";
      if (repeating) out += "[";
      for (size_t i = 0; i < g.items.size(); ++i) {
        if (i > 0) out += ",";
        if (!has_ext(*g.items[i])) {
          out += "null";
          continue;
        }
        out += "{";
        Members(*g.items[i], model_.Find("Element"), out, true);
        out += "}";
      }
      if (repeating) out += "]";
    }
  }

  const TypeModel& model_;
};

}  // namespace

std::optional<std::string> FhirXmlToJson(std::string_view xml) {
  auto root = ParseXml(xml);
  if (!root) return std::nullopt;
  std::string out;
  Converter().Resource(*root, out);
  return out;
}

}  // namespace medlake::fhirpath::testing
