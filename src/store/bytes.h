// Little-endian binary encoding helpers for the segment format (docs/format.md).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace medlake::store {

class ByteWriter {
 public:
  explicit ByteWriter(std::string& out) : out_(out) {}
  template <typename T>
  void Put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out_.append(buf, sizeof(T));
  }
  void PutBytes(std::string_view s) { out_.append(s); }
  // u32 length + bytes.
  void PutString(std::string_view s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  size_t size() const { return out_.size(); }

 private:
  std::string& out_;
};

// Reads what ByteWriter wrote; every read is bounds-checked and sets ok() false on overrun,
// so a damaged buffer can never read outside itself.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  template <typename T>
  T Get() {
    T v{};
    if (pos_ + sizeof(T) > in_.size()) {
      ok_ = false;
      pos_ = in_.size();
      return v;
    }
    std::memcpy(&v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view GetBytes(size_t n) {
    if (pos_ + n > in_.size()) {
      ok_ = false;
      pos_ = in_.size();
      return {};
    }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view GetString() { return GetBytes(Get<uint32_t>()); }
  bool ok() const { return ok_; }
  size_t remaining() const { return in_.size() - pos_; }
  // Marks the input damaged (a caller's own consistency check failed): later reads fail too.
  void Fail() {
    ok_ = false;
    pos_ = in_.size();
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace medlake::store
