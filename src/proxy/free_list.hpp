// A per-worker free list that shrinks back after a burst: trim() frees what no get() took
// since the previous trim() (the list's low-water mark over that period), so a pool grown
// to a burst's size returns to what the steady load takes, which still never allocates.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace clb::proxy {

template <class Ptr, size_t kMaxFree>
class FreeList {
  public:
    template <class Make>
    Ptr get(Make make) {
        if (free_.empty()) {
            low_water_ = 0;
            return make();
        }
        Ptr object = std::move(free_.back());
        free_.pop_back();
        low_water_ = std::min(low_water_, free_.size());
        return object;
    }
    void put(Ptr object) {
        if (object && free_.size() < kMaxFree) free_.push_back(std::move(object));
    }
    // Frees the objects unused since the last call, least recently used first; returns
    // how many.
    size_t trim() {
        size_t unused = std::min(low_water_, free_.size());
        free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(unused));
        low_water_ = free_.size();
        return unused;
    }
    size_t size() const { return free_.size(); }

  private:
    std::vector<Ptr> free_;
    size_t low_water_ = 0;  // fewest objects the list held since the last trim()
};

}  // namespace clb::proxy
