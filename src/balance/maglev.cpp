// maglev: consistent hashing with Google's Maglev lookup table (Eisenbud et al., NSDI
// 2016, section 3.4). Every backend walks its own permutation of the M slots, given by
// an offset and a skip derived from the hash of its name, and the backends take turns
// claiming their next free slot until the table is full. A client's backend is
// table[client_hash % M]: O(1), and when one of N backends leaves, mostly only its own
// slots (about 1/N of the clients) change hands.
//
// Weights follow Envoy's variant: a backend of weight w takes a turn in w of every
// max_weight rounds, so it ends up with about w / sum(weights) of the table.
//
// The table is built once per snapshot in prepare() (O(M log M) probes on average) and
// shared read-only by every worker.
#include "balance/common.hpp"

namespace clb::balance::detail {

namespace {

// M is prime (every skip then visits every slot) and at least kSlotsPerBackend times N:
// the larger M/N, the closer each backend's share is to its weight and the closer the
// disruption on a change is to the ideal 1/N.
constexpr uint64_t kMinTableSize = 65537;
constexpr uint64_t kSlotsPerBackend = 100;
constexpr uint32_t kEmpty = UINT32_MAX;
// On a retry, slots to walk for an untried backend before scanning the candidates.
constexpr size_t kMaxProbes = 256;

bool is_prime(uint64_t n) {
    if (n < 2) return false;
    for (uint64_t d = 2; d * d <= n; ++d)
        if (n % d == 0) return false;
    return true;
}

uint64_t table_size(size_t backends) {
    uint64_t size = std::max(kMinTableSize, kSlotsPerBackend * backends);
    while (!is_prime(size))
        ++size;
    return size;
}

struct MaglevPrepared final : Prepared {
    size_t backends = 0;
    std::vector<uint32_t> table;  // slot -> candidate index
};

// A backend's walk over the slots: offset, offset + skip, offset + 2 skip, ... (mod M).
struct Permutation {
    uint32_t index;
    uint64_t weight;
    uint64_t slot;
    uint64_t skip;
    uint64_t turns_owed = 0;  // Envoy's target_weight: rounds * max_weight already used

    void advance(uint64_t size) {
        slot += skip;  // both below size: one subtraction instead of a division
        if (slot >= size) slot -= size;
    }
};

std::vector<Permutation> permutations(std::span<const Candidate> cands, uint64_t size) {
    std::vector<Permutation> perms;
    for (uint32_t i = 0; i < cands.size(); ++i) {
        uint64_t h = cands[i].key_hash;
        perms.push_back({i, weight_of(cands[i]), mix64(h ^ 0x6d61676c65766f66ULL) % size,
                         mix64(h ^ 0x6d61676c6576736bULL) % (size - 1) + 1});
    }
    // Fill in hash order, not config order, so that every contrail-lb node with the same
    // backends builds the same table whatever order its configuration lists them in.
    std::sort(perms.begin(), perms.end(), [&](const Permutation& a, const Permutation& b) {
        return cands[a.index].key_hash != cands[b.index].key_hash
                   ? cands[a.index].key_hash < cands[b.index].key_hash
                   : a.index < b.index;
    });
    return perms;
}

std::vector<uint32_t> populate(std::span<const Candidate> cands, uint64_t size) {
    std::vector<Permutation> perms = permutations(cands, size);
    uint64_t max_weight = 0;
    for (const auto& p : perms)
        max_weight = std::max(max_weight, p.weight);
    std::vector<uint32_t> table(size, kEmpty);
    uint64_t filled = 0;
    for (uint64_t round = 1; filled < size; ++round) {
        for (auto& p : perms) {
            if (filled == size) break;
            if (round * p.weight < p.turns_owed) continue;  // its share of turns is used up
            p.turns_owed += max_weight;
            while (table[p.slot] != kEmpty)
                p.advance(size);
            table[p.slot] = p.index;
            p.advance(size);
            ++filled;
        }
    }
    return table;
}

class MaglevPicker final : public Picker {
  public:
    MaglevPicker(std::span<const Candidate> cands, std::shared_ptr<const MaglevPrepared> prepared)
        : cands_(cands), prepared_(std::move(prepared)) {}

    int pick(uint64_t client_hash, std::span<const uint32_t> exclude) override {
        const auto& table = prepared_->table;
        size_t slot = client_hash % table.size();
        uint32_t natural = table[slot];
        if (!excluded(natural, exclude)) return static_cast<int>(natural);
        if (all_excluded(cands_.size(), exclude)) return -1;
        // Neighbouring slots belong to unrelated backends (in proportion to weight), so
        // the next untried one is near and the same client always retries the same way.
        for (size_t k = 1; k <= kMaxProbes; ++k) {
            uint32_t index = table[(slot + k) % table.size()];
            if (!excluded(index, exclude)) return static_cast<int>(index);
        }
        return next_allowed(natural, cands_.size(), exclude);
    }

  private:
    std::span<const Candidate> cands_;
    std::shared_ptr<const MaglevPrepared> prepared_;
};

}  // namespace

std::shared_ptr<const Prepared> prepare_maglev(std::span<const Candidate> cands) {
    auto prepared = std::make_shared<MaglevPrepared>();
    prepared->backends = cands.size();
    prepared->table = populate(cands, table_size(cands.size()));
    return prepared;
}

std::unique_ptr<Picker> maglev_picker(std::span<const Candidate> cands,
                                      std::shared_ptr<const Prepared> prepared) {
    auto own = std::dynamic_pointer_cast<const MaglevPrepared>(prepared);
    if (!own || own->backends != cands.size())
        own = std::static_pointer_cast<const MaglevPrepared>(prepare_maglev(cands));
    return std::make_unique<MaglevPicker>(cands, std::move(own));
}

}  // namespace clb::balance::detail
