#include "mini_xml.h"

namespace medlake::fhirpath::testing {
namespace {

std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out.push_back('&');
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "lt")
      out.push_back('<');
    else if (ent == "gt")
      out.push_back('>');
    else if (ent == "amp")
      out.push_back('&');
    else if (ent == "quot")
      out.push_back('"');
    else if (ent == "apos")
      out.push_back('\'');
    else if (!ent.empty() && ent[0] == '#') {
      unsigned long cp = ent.size() > 1 && ent[1] == 'x'
                             ? std::stoul(std::string(ent.substr(2)), nullptr, 16)
                             : std::stoul(std::string(ent.substr(1)));
      if (cp < 0x80) {
        out.push_back(char(cp));
      } else if (cp < 0x800) {
        out.push_back(char(0xC0 | (cp >> 6)));
        out.push_back(char(0x80 | (cp & 0x3F)));
      } else {
        out.push_back(char(0xE0 | (cp >> 12)));
        out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cp & 0x3F)));
      }
    }
    i = semi;
  }
  return out;
}

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}

  std::unique_ptr<XmlElement> Document() {
    while (pos_ < s_.size()) {
      SkipMisc();
      if (pos_ < s_.size() && s_[pos_] == '<') return Element();
      ++pos_;
    }
    return nullptr;
  }

 private:
  void SkipMisc() {
    while (true) {
      while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      if (s_.substr(pos_, 4) == "<!--") {
        size_t end = s_.find("-->", pos_);
        pos_ = end == std::string_view::npos ? s_.size() : end + 3;
      } else if (s_.substr(pos_, 2) == "<?") {
        size_t end = s_.find("?>", pos_);
        pos_ = end == std::string_view::npos ? s_.size() : end + 2;
      } else {
        return;
      }
    }
  }

  std::unique_ptr<XmlElement> Element() {
    auto e = std::make_unique<XmlElement>();
    size_t element_start = pos_;
    ++pos_;  // '<'
    size_t start = pos_;
    while (pos_ < s_.size() && !std::isspace(static_cast<unsigned char>(s_[pos_])) &&
           s_[pos_] != '>' && s_[pos_] != '/')
      ++pos_;
    e->name = std::string(s_.substr(start, pos_ - start));
    while (true) {
      while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      if (pos_ >= s_.size()) return nullptr;
      if (s_[pos_] == '/') {
        pos_ += 2;
        e->raw = s_.substr(element_start, pos_ - element_start);
        return e;
      }
      if (s_[pos_] == '>') {
        ++pos_;
        break;
      }
      size_t eq = s_.find('=', pos_);
      std::string key(s_.substr(pos_, eq - pos_));
      while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
      pos_ = eq + 1;
      while (std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      char quote = s_[pos_++];
      size_t end = s_.find(quote, pos_);
      e->attributes[key] = Unescape(s_.substr(pos_, end - pos_));
      pos_ = end + 1;
    }
    while (pos_ < s_.size()) {
      if (s_.substr(pos_, 4) == "<!--") {
        size_t end = s_.find("-->", pos_);
        pos_ = end + 3;
      } else if (s_.substr(pos_, 9) == "<![CDATA[") {
        size_t end = s_.find("]]>", pos_);
        e->text += std::string(s_.substr(pos_ + 9, end - pos_ - 9));
        pos_ = end + 3;
      } else if (s_.substr(pos_, 2) == "</") {
        size_t end = s_.find('>', pos_);
        pos_ = end + 1;
        e->raw = s_.substr(element_start, pos_ - element_start);
        return e;
      } else if (s_[pos_] == '<') {
        auto child = Element();
        if (!child) return nullptr;
        e->children.push_back(std::move(child));
      } else {
        size_t end = s_.find('<', pos_);
        if (end == std::string_view::npos) return nullptr;
        e->text += Unescape(s_.substr(pos_, end - pos_));
        pos_ = end;
      }
    }
    return nullptr;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::unique_ptr<XmlElement> ParseXml(std::string_view text) {
  return Reader(text).Document();
}

}  // namespace medlake::fhirpath::testing
