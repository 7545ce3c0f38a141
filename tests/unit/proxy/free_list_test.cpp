// The pools' free list (src/proxy/free_list.hpp): objects come back warm, and trim()
// frees what went unused since the previous trim(), so a pool grown by a burst shrinks to
// what the steady load takes while that load still never allocates.
#include "proxy/free_list.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace clb::proxy {
namespace {

using Ints = FreeList<std::unique_ptr<int>, 8>;

struct Maker {
    int made = 0;
    std::unique_ptr<int> operator()() { return std::make_unique<int>(++made); }
};

// Takes `n` objects and puts them all back, as `n` requests in flight at once would.
void cycle(Ints& list, Maker& make, int n) {
    std::vector<std::unique_ptr<int>> taken;
    for (int i = 0; i < n; ++i)
        taken.push_back(list.get([&] { return make(); }));
    for (auto& p : taken)
        list.put(std::move(p));
}

TEST(FreeList, ReusesWhatWasPut) {
    Ints list;
    Maker make;
    cycle(list, make, 3);
    EXPECT_EQ(make.made, 3);
    cycle(list, make, 3);
    EXPECT_EQ(make.made, 3) << "a warm pool allocates nothing";
    EXPECT_EQ(list.size(), 3u);
}

TEST(FreeList, KeepsAtMostItsCapacity) {
    Ints list;
    Maker make;
    cycle(list, make, 12);
    EXPECT_EQ(list.size(), 8u);
}

TEST(FreeList, TrimFreesWhatABurstLeftAndTheSteadyLoadDoesNotUse) {
    Ints list;
    Maker make;
    cycle(list, make, 8);  // the burst
    list.trim();           // ends the burst's period: all 8 were taken in it, none freed
    EXPECT_EQ(list.size(), 8u);
    for (int period = 0; period < 2; ++period)
        cycle(list, make, 2);  // the steady load: two in flight at a time
    EXPECT_EQ(list.trim(), 6u);
    EXPECT_EQ(list.size(), 2u);
    int made = make.made;
    cycle(list, make, 2);
    EXPECT_EQ(make.made, made) << "the steady load still allocates nothing";
    EXPECT_EQ(list.trim(), 0u);
    EXPECT_EQ(list.size(), 2u);
}

TEST(FreeList, TrimEmptiesAnUnusedPool) {
    Ints list;
    Maker make;
    cycle(list, make, 5);
    list.trim();
    EXPECT_EQ(list.trim(), 5u) << "nothing taken for a whole period";
    EXPECT_EQ(list.size(), 0u);
}

TEST(FreeList, GrowingWithinAPeriodFreesNothing) {
    Ints list;
    Maker make;
    cycle(list, make, 2);
    list.trim();
    cycle(list, make, 4);  // took all it had and made more: the low-water mark is 0
    EXPECT_EQ(list.trim(), 0u);
    EXPECT_EQ(list.size(), 4u);
}

}  // namespace
}  // namespace clb::proxy
