// Balancing algorithms (SPEC `balance`). The control thread prepares the immutable part
// of an algorithm once per snapshot (Maglev's lookup table); each worker owns a Picker
// with the mutable part (round-robin position), so a pick takes no lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "contrail_lb/config/config.hpp"
#include "contrail_lb/net/address.hpp"

namespace clb::balance {

struct Candidate {
    uint32_t weight = 1;                 // > 0
    uint64_t key_hash = 0;               // stable hash of the backend's name (Maglev)
    const std::atomic<int32_t>* active = nullptr;  // in-flight connections, all workers
};

// Immutable, shared by all workers (e.g. the Maglev table); may be null.
class Prepared {
public:
    virtual ~Prepared() = default;
};

std::shared_ptr<const Prepared> prepare(config::Algorithm algo, std::span<const Candidate> cands);

class Picker {
public:
    virtual ~Picker() = default;
    // Index into the candidates, or -1 when every candidate is excluded. `exclude`
    // holds the indexes already tried for this request (retries go elsewhere).
    virtual int pick(uint64_t client_hash, std::span<const uint32_t> exclude) = 0;
};

// `cands` and `prepared` must outlive the picker (both belong to one snapshot).
std::unique_ptr<Picker> make_picker(config::Algorithm algo, std::span<const Candidate> cands,
                                    std::shared_ptr<const Prepared> prepared, uint64_t seed);

uint64_t hash_key(std::string_view key);
uint64_t hash_client(const net::IpAddress& ip);

}  // namespace clb::balance
