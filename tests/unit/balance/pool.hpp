// Test fixture: a set of named backends with weights and live connection counters,
// laid out the way the runtime registry hands them to the balancer.
#pragma once

#include <arpa/inet.h>

#include <atomic>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "contrail_lb/balance/balancer.hpp"

namespace clb::balance::testing {

inline constexpr config::Algorithm kAllAlgorithms[] = {
    config::Algorithm::roundrobin, config::Algorithm::leastconn, config::Algorithm::random2,
    config::Algorithm::source, config::Algorithm::maglev};

inline const char* name_of(config::Algorithm algo) {
    switch (algo) {
        case config::Algorithm::roundrobin:
            return "roundrobin";
        case config::Algorithm::leastconn:
            return "leastconn";
        case config::Algorithm::random2:
            return "random2";
        case config::Algorithm::source:
            return "source";
        case config::Algorithm::maglev:
            return "maglev";
    }
    return "?";
}

class Pool {
  public:
    Pool() = default;
    explicit Pool(const std::vector<uint32_t>& weights) {
        for (size_t i = 0; i < weights.size(); ++i)
            add("backend-" + std::to_string(i), weights[i]);
    }
    // n backends named backend-0 .. backend-(n-1), weight 1.
    static Pool uniform(size_t n) { return Pool(std::vector<uint32_t>(n, 1)); }

    void add(std::string name, uint32_t weight) {
        active_.emplace_back(0);
        cands_.push_back({weight, hash_key(name), &active_.back()});
        names_.push_back(std::move(name));
    }
    // The same pool without backend `index` (as after it went DOWN).
    Pool without(size_t index) const {
        Pool p;
        for (size_t i = 0; i < cands_.size(); ++i)
            if (i != index) p.add(names_[i], cands_[i].weight);
        return p;
    }

    std::span<const Candidate> cands() const { return cands_; }
    size_t size() const { return cands_.size(); }
    const std::string& name(int index) const { return names_.at(index); }
    std::atomic<int32_t>& active(size_t index) { return active_[index]; }

    std::unique_ptr<Picker> picker(config::Algorithm algo, uint64_t seed = 0) {
        prepared_ = prepare(algo, cands_);
        return make_picker(algo, cands_, prepared_, seed);
    }

  private:
    std::deque<std::atomic<int32_t>> active_;  // stable addresses
    std::vector<Candidate> cands_;
    std::vector<std::string> names_;
    std::shared_ptr<const Prepared> prepared_;
};

// The n-th test client's hash: distinct IPv4 addresses 10.x.y.z.
inline uint64_t client(uint32_t n) {
    in_addr a{};
    a.s_addr = htonl(0x0a000000u + n);
    return hash_client(net::IpAddress::v4(a));
}

// Each value's share of the total: pick counts, or weights (what the counts should follow).
template <typename Count>
std::vector<double> shares(const std::vector<Count>& counts) {
    double total = 0;
    for (Count c : counts)
        total += c;
    std::vector<double> out;
    for (Count c : counts)
        out.push_back(c / total);
    return out;
}

inline std::vector<double> weight_shares(const std::vector<uint32_t>& weights) {
    return shares(weights);
}

}  // namespace clb::balance::testing
