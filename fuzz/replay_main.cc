// Driver for fuzz targets when the compiler has no libFuzzer (g++): runs every file of the
// corpus directories given on the command line, then deterministic mutations of them
// (byte flips, truncations, insertions, splices) for --iterations rounds. With clang the same
// targets link against libFuzzer instead (see fuzz/CMakeLists.txt and `make fuzz`).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  long iterations = 20000;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--iterations=", 0) == 0) {
      iterations = std::atol(a.c_str() + 13);
      continue;
    }
    for (auto& e : std::filesystem::recursive_directory_iterator(a)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  if (corpus.empty()) corpus.emplace_back("{}");
  for (const auto& c : corpus)
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(c.data()), c.size());
  std::mt19937_64 rng(0x6d65646c616b65);
  for (long it = 0; it < iterations; ++it) {
    std::string s = corpus[rng() % corpus.size()];
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      size_t pos = rng() % s.size();
      switch (rng() % 5) {
        case 0:
          s[pos] = static_cast<char>(rng());
          break;
        case 1:
          s.resize(pos);
          break;
        case 2:
          s.insert(pos, 1, "{}[]\":,\\\n0a-"[rng() % 13]);
          break;
        case 3:
          s.erase(pos, 1 + rng() % 16);
          break;
        case 4: {
          const std::string& other = corpus[rng() % corpus.size()];
          size_t from = other.empty() ? 0 : rng() % other.size();
          s.insert(pos, other.substr(from, rng() % 64));
          break;
        }
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::printf("fuzz replay: %zu corpus inputs, %ld mutations, no crash\n", corpus.size(),
              iterations);
  return 0;
}
