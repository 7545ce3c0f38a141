// Session ticket keys of one TLS service: made at random in memory (never written
// anywhere), shared by every worker through the service's one SSL_CTX, handed from one
// context to the next on a reload, and rotated on a schedule so that a stolen key opens
// only the tickets of a bounded time span (docs/configuration.md, services[].tls).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>

namespace clb::tls {

class TicketKeys {
  public:
    using Clock = std::chrono::steady_clock;

    struct Key {
        std::array<unsigned char, 16> name;
        std::array<unsigned char, 32> aes;   // AES-256-CBC, as OpenSSL's own tickets
        std::array<unsigned char, 32> hmac;  // HMAC-SHA256
        Clock::time_point issue_until;       // encrypts new tickets until then
        Clock::time_point accept_until;      // decrypts tickets until then
    };

    // Each key issues tickets for one `period` and is kept one more to accept them: no key
    // lives longer than twice the period. Throws std::runtime_error without randomness.
    explicit TicketKeys(std::chrono::seconds period);
    TicketKeys(const TicketKeys&) = delete;
    TicketKeys& operator=(const TicketKeys&) = delete;

    std::chrono::seconds period() const { return period_; }
    // The key new tickets are encrypted with; rotates first when its period is over.
    Key issuing(Clock::time_point now);
    // The key a ticket names, if it is still accepted; `renew` when a newer one issues.
    std::optional<Key> accepting(const unsigned char* name, Clock::time_point now, bool& renew);
    // Forgets the keys past their time even when no handshake asks (the control thread
    // calls it now and then), so an idle service holds no stale key.
    void expire(Clock::time_point now);

  private:
    // Immutable once published: handshakes on any worker read it, a rotation replaces it.
    struct Ring {
        Key current;
        std::optional<Key> previous;
        ~Ring();  // wipes the keys
    };
    Key fresh(Clock::time_point now) const;
    std::shared_ptr<const Ring> rotated(const Ring& old, Clock::time_point now) const;

    std::chrono::seconds period_;
    std::atomic<std::shared_ptr<const Ring>> ring_;
};

}  // namespace clb::tls
