// Entry points of the balancer: dispatch on the algorithm, and the stable hashes.
#include "contrail_lb/balance/balancer.hpp"

#include <cstring>

#include "balance/common.hpp"

namespace clb::balance {

namespace {

// An empty candidate list: every pick fails, whatever the algorithm.
class EmptyPicker final : public Picker {
  public:
    int pick(uint64_t, std::span<const uint32_t>) override { return -1; }
};

// Byte order of the wire, so the hash is the same on every architecture.
uint64_t load_be(const uint8_t* bytes, size_t n) {
    uint64_t word = 0;
    for (size_t i = 0; i < n; ++i)
        word = word << 8 | bytes[i];
    return word;
}

}  // namespace

std::shared_ptr<const Prepared> prepare(config::Algorithm algo, std::span<const Candidate> cands) {
    if (cands.empty()) return nullptr;
    switch (algo) {
        case config::Algorithm::roundrobin:
            return detail::prepare_roundrobin(cands);
        case config::Algorithm::random2:
        case config::Algorithm::source:
            return detail::prepare_weighted(cands);
        case config::Algorithm::maglev:
            return detail::prepare_maglev(cands);
        case config::Algorithm::leastconn:
            break;  // reads live counters only
    }
    return nullptr;
}

std::unique_ptr<Picker> make_picker(config::Algorithm algo, std::span<const Candidate> cands,
                                    std::shared_ptr<const Prepared> prepared, uint64_t seed) {
    if (cands.empty()) return std::make_unique<EmptyPicker>();
    switch (algo) {
        case config::Algorithm::roundrobin:
            return detail::roundrobin_picker(cands, std::move(prepared), seed);
        case config::Algorithm::leastconn:
            return detail::leastconn_picker(cands, seed);
        case config::Algorithm::random2:
            return detail::random2_picker(cands, std::move(prepared), seed);
        case config::Algorithm::source:
            return detail::source_picker(cands, std::move(prepared));
        case config::Algorithm::maglev:
            return detail::maglev_picker(cands, std::move(prepared));
    }
    return std::make_unique<EmptyPicker>();
}

// FNV-1a 64 with a final avalanche: fixed constants and no std::hash, so a backend name
// hashes the same in every process and on every contrail-lb node (Maglev tables agree).
uint64_t hash_key(std::string_view key) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : key) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return detail::mix64(h);
}

// An IPv4 client hashes the same whether it arrives on an IPv4 socket or as
// ::ffff:a.b.c.d on a dual-stack one, so `source`/`maglev` stickiness survives both.
uint64_t hash_client(const net::IpAddress& ip) {
    static constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t* bytes = ip.bytes();
    bool v4 = ip.is_v4();
    if (ip.is_v6() && std::memcmp(bytes, kV4MappedPrefix, sizeof kV4MappedPrefix) == 0) {
        bytes += 12;
        v4 = true;
    }
    if (v4) return detail::mix64(load_be(bytes, 4) ^ detail::kGolden);
    return detail::mix64(detail::mix64(load_be(bytes, 8) ^ detail::kGolden) ^
                         load_be(bytes + 8, 8));
}

}  // namespace clb::balance
