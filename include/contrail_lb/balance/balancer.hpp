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
    uint32_t weight = 1;                           // > 0
    uint64_t key_hash = 0;                         // stable hash of the backend's name (Maglev)
    const std::atomic<int32_t>* active = nullptr;  // in-flight connections, all workers
};

// Immutable, shared by all workers (e.g. the Maglev table); may be null.
class Prepared {
  public:
    virtual ~Prepared() = default;
};

// Builds the immutable part for a candidate list (null when empty or not needed).
// Runs on the control thread once per snapshot; see docs/balancing.md for its cost.
std::shared_ptr<const Prepared> prepare(config::Algorithm algo, std::span<const Candidate> cands);

class Picker {
  public:
    virtual ~Picker() = default;
    // Index into the candidates, or -1 when every candidate is excluded or there are
    // none. `exclude` holds the indexes already tried for this request (retries go
    // elsewhere). Never allocates; O(1) except leastconn (O(n) when all are busy).
    // `client_hash` (hash_client) matters to source and maglev only.
    virtual int pick(uint64_t client_hash, std::span<const uint32_t> exclude) = 0;
};

// `cands` and `prepared` must outlive the picker (both belong to one snapshot). A null or
// mismatched `prepared` is rebuilt here. `seed` should differ per worker: it sets where
// round robin and leastconn start and seeds random2's generator.
std::unique_ptr<Picker> make_picker(config::Algorithm algo, std::span<const Candidate> cands,
                                    std::shared_ptr<const Prepared> prepared, uint64_t seed);

// Stable across processes, builds and nodes (fixed constants, no std::hash): Maglev
// tables and source stickiness agree between contrail-lb nodes.
uint64_t hash_key(std::string_view key);
// IPv4 and IPv4-mapped IPv6 (::ffff:a.b.c.d) forms of an address hash the same.
uint64_t hash_client(const net::IpAddress& ip);

}  // namespace clb::balance
