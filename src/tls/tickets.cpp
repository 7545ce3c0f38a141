#include "contrail_lb/tls/tickets.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace clb::tls {

TicketKeys::Ring::~Ring() {
    OPENSSL_cleanse(&current, sizeof current);
    if (previous) OPENSSL_cleanse(&*previous, sizeof *previous);
}

TicketKeys::TicketKeys(std::chrono::seconds period)
    : period_(period), ring_(std::make_shared<const Ring>(Ring{fresh(Clock::now()), {}})) {}

TicketKeys::Key TicketKeys::fresh(Clock::time_point now) const {
    Key key{};
    if (RAND_bytes(key.name.data(), key.name.size()) != 1 ||
        RAND_bytes(key.aes.data(), key.aes.size()) != 1 ||
        RAND_bytes(key.hmac.data(), key.hmac.size()) != 1)
        throw std::runtime_error("tls: no randomness for a session ticket key");
    key.issue_until = now + period_;
    key.accept_until = now + 2 * period_;
    return key;
}

// The old current key stays to accept the tickets it issued, if any may still be valid.
std::shared_ptr<const TicketKeys::Ring> TicketKeys::rotated(const Ring& old,
                                                            Clock::time_point now) const {
    std::optional<Key> previous;
    if (now < old.current.accept_until) previous = old.current;
    return std::make_shared<const Ring>(Ring{fresh(now), previous});
}

TicketKeys::Key TicketKeys::issuing(Clock::time_point now) {
    auto ring = ring_.load();
    while (now >= ring->current.issue_until) {
        auto next = rotated(*ring, now);
        // Another worker may rotate at the same moment: one ring wins, both use it.
        if (ring_.compare_exchange_strong(ring, next)) ring = std::move(next);
    }
    return ring->current;
}

std::optional<TicketKeys::Key> TicketKeys::accepting(const unsigned char* name,
                                                     Clock::time_point now, bool& renew) {
    auto ring = ring_.load();
    auto named = [&](const Key& key) {
        return std::equal(key.name.begin(), key.name.end(), name) && now < key.accept_until;
    };
    if (named(ring->current)) {
        renew = now >= ring->current.issue_until;
        return ring->current;
    }
    if (ring->previous && named(*ring->previous)) {
        renew = true;  // the client gets a ticket under the current key
        return ring->previous;
    }
    return std::nullopt;
}

void TicketKeys::expire(Clock::time_point now) {
    auto ring = ring_.load();
    if (now >= ring->current.issue_until) {
        ring_.compare_exchange_strong(ring, rotated(*ring, now));
    } else if (ring->previous && now >= ring->previous->accept_until) {
        ring_.compare_exchange_strong(ring, std::make_shared<const Ring>(Ring{ring->current, {}}));
    }
}

}  // namespace clb::tls
