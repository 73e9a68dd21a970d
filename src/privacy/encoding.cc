#include "privacy/encoding.h"

#include <pthread.h>
#include <sodium.h>

#include <atomic>
#include <cstdlib>

namespace medlake::privacy {

bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

SecretKey::SecretKey(SecretKey&& o) noexcept : bytes_(o.bytes_) {
  sodium_memzero(o.bytes_.data(), o.bytes_.size());
}

SecretKey& SecretKey::operator=(SecretKey&& o) noexcept {
  if (this != &o) {
    bytes_ = o.bytes_;
    sodium_memzero(o.bytes_.data(), o.bytes_.size());
  }
  return *this;
}

SecretKey::~SecretKey() {
  sodium_memzero(bytes_.data(), bytes_.size());
}

SecretKey SecretKey::Random() {
  SodiumReady();
  SecretKey k;
  randombytes_buf(k.bytes_.data(), k.bytes_.size());
  return k;
}

bool SecretKey::Equals(const SecretKey& o) const {
  return sodium_memcmp(bytes_.data(), o.bytes_.data(), kKeyBytes) == 0;
}

std::string ToHex(std::string_view bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), AsBytes(bytes), bytes.size());
  out.pop_back();
  return out;
}

std::optional<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                     hex.size(), nullptr, &len, &end) != 0 ||
      end != hex.data() + hex.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

std::string ToBase64Url(std::string_view bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), AsBytes(bytes), bytes.size(), kVariant);
  out.resize(out.size() - 1);
  return out;
}

std::optional<std::string> FromBase64(std::string_view text) {
  for (int variant : {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                      sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING}) {
    std::string out(text.size(), '\0');
    size_t len = 0;
    const char* end = nullptr;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                          text.size(), nullptr, &len, &end, variant) == 0 &&
        end == text.data() + text.size()) {
      out.resize(len);
      return out;
    }
  }
  return std::nullopt;
}

std::string ToBase32Lower(std::string_view bytes) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

std::string RandomBytes(size_t n) {
  SodiumReady();
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

namespace {

// Incremented in a forked child (pthread_atfork): a child holds a copy of its parent's nonce
// buffers, and taking the same bytes would repeat the parent's nonces under the same key.
// getpid() would tell too, but glibc makes it a system call each time.
std::atomic<uint64_t> fork_generation{0};

void CountFork() {
  fork_generation.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

std::string NonceBytes(size_t n) {
  static const bool registered = ::pthread_atfork(nullptr, nullptr, CountFork) == 0;
  if (!registered) return RandomBytes(n);  // a system call per nonce, as before
  struct Buffer {
    std::array<unsigned char, kNonceBufferBytes> bytes;
    size_t used = kNonceBufferBytes;
    uint64_t generation = 0;
  };
  thread_local Buffer buffer;
  if (n > kNonceBufferBytes) std::abort();  // a programming error: nonces are short
  const uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (buffer.used + n > buffer.bytes.size() || buffer.generation != generation) {
    SodiumReady();
    randombytes_buf(buffer.bytes.data(), buffer.bytes.size());
    buffer.used = 0;
    buffer.generation = generation;
  }
  std::string out(reinterpret_cast<const char*>(buffer.bytes.data() + buffer.used), n);
  buffer.used += n;
  return out;
}

std::string KeyedBlake2b(const SecretKey& key, std::string_view message, size_t out_len) {
  std::string out(out_len, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out_len, AsBytes(message),
                     message.size(), key.data(), key.size());
  return out;
}

void AppendU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void AppendField(std::string& out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out.append(s);
}

}  // namespace medlake::privacy
