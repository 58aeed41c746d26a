// Replays the fuzz corpus through the fuzz target, so the target stays compilable with g++ and every
// input once found interesting keeps passing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

TEST(FuzzCorpus, Replays) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(AVOW_CRYPTO_FUZZ_CORPUS)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0);
    ++files;
  }
  EXPECT_GT(files, 0);
}
