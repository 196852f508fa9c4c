// The cpulist parser behind `cpus =`: ranges, lists, junk and absent CPUs.
#include "core/config/cpu_list.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ttscache {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CpuList, ParsesRangesAndListsSortedAndUnique) {
  EXPECT_THAT(ParseCpuList("6-9").value(), ElementsAre(6, 7, 8, 9));
  EXPECT_THAT(ParseCpuList("0,2,4-5").value(), ElementsAre(0, 2, 4, 5));
  EXPECT_THAT(ParseCpuList(" 5 , 1-2,2 ,0 ").value(), ElementsAre(0, 1, 2, 5));
  EXPECT_THAT(ParseCpuList("3-3").value(), ElementsAre(3));
  EXPECT_TRUE(ParseCpuList("").value().empty());
  EXPECT_TRUE(ParseCpuList("   ").value().empty());
}

TEST(CpuList, RefusesJunkNamingTheItem) {
  for (const char* junk : {"a", "1-", "-1", "9-6", "1,,2", "1-2-3", "0x1", "1.5", "1024", "4 5",
                           "99999999999999999999"}) {
    Result<std::vector<int>> r = ParseCpuList(junk);
    ASSERT_FALSE(r.ok()) << junk;
    EXPECT_THAT(r.error().message, HasSubstr("bad CPU list item")) << junk;
  }
  EXPECT_THAT(ParseCpuList("0,9-6").error().message, HasSubstr("\"9-6\""));
}

TEST(CpuList, FormatsBackWithRanges) {
  EXPECT_EQ(FormatCpuList({0, 2, 4, 5}), "0,2,4-5");
  EXPECT_EQ(FormatCpuList({6, 7, 8, 9}), "6-9");
  EXPECT_EQ(FormatCpuList({}), "");
}

TEST(CpuList, AbsentCpusAreNamed) {
  EXPECT_TRUE(CheckCpusUsable({0, 1}, {0, 1, 2}).ok());
  Status s = CheckCpusUsable({1, 7}, {0, 1, 2});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("CPU 7"));
  EXPECT_THAT(s.error().message, HasSubstr("usable: 0-2"));
}

TEST(CpuList, UsableCpusMatchesThisProcess) {
  std::vector<int> usable = UsableCpus();
  ASSERT_FALSE(usable.empty());
  EXPECT_TRUE(std::is_sorted(usable.begin(), usable.end()));
  EXPECT_TRUE(CheckCpusUsable(usable, usable).ok());
  EXPECT_FALSE(CheckCpusUsable({kMaxCpuId}, usable).ok());
}

}  // namespace
}  // namespace ttscache
