// HTTP Basic authentication of the admin endpoints (admin.users_file; docs/admin.md
// "Access control"), HAProxy's `stats auth` with crypt(3) hashes instead of passwords.
//
// Verifying a hash costs milliseconds (that is the point of yescrypt and SHA-crypt) and
// runs on the control loop, beside the health checker and the BGP speaker. So a verified
// Authorization header is trusted for a while (a browser resends the same one with every
// request: one crypt per minute per user), and a client IP that keeps sending wrong
// credentials is refused without verifying anything once it has used up its failures.
#pragma once

#include <crypt.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "contrail_lb/config/config.hpp"
#include "contrail_lb/net/address.hpp"

namespace clb::admin {

struct BasicCredentials {
    std::string user;
    std::string password;
};

// "Basic BASE64(user:password)" (RFC 7617; the scheme is case-insensitive). nullopt for
// another scheme, bad base64 or no ':'.
std::optional<BasicCredentials> parse_basic(std::string_view authorization);

// A user name as a log line may show it: printable ASCII, at most 64 characters.
std::string loggable_user(std::string_view user);

struct BasicAuthLimits {
    unsigned max_failures = 5;  // wrong credentials per client IP within `window`, then 429
    double window = 60;         // seconds
    size_t max_clients = 1024;  // client IPs remembered; beyond, the oldest are forgotten
    double cache_seconds = 60;  // a verified Authorization header is trusted this long
    size_t max_cached = 256;    // headers trusted at once
};

class BasicAuth {
  public:
    enum class Verdict { ok, missing, wrong, limited };
    struct Result {
        Verdict verdict = Verdict::missing;
        std::string user;        // as sent (Basic), empty otherwise
        unsigned failures = 0;   // wrong: this client's failures in the window, this one included
        double retry_after = 0;  // limited: seconds until the window ends
        bool first_limited = false;  // limited: the first refusal of this window (log it)
    };

    explicit BasicAuth(BasicAuthLimits limits = {});

    // A reload read the users file again; trusted headers are forgotten, so a removed
    // user or a changed password takes effect at once.
    void set_users(std::vector<config::AdminUser> users);
    bool enabled() const { return !users_.empty(); }
    const BasicAuthLimits& limits() const { return limits_; }

    // Basic credentials in `authorization` from `client` at `now` (seconds).
    Result check(std::string_view authorization, const net::IpAddress& client, double now);
    // Counts a wrong credential of another kind (a bearer token) against `client`.
    Result count_failure(const net::IpAddress& client, double now);
    // True while `client` has used up its failures (nothing is verified for it then).
    std::optional<Result> limited(const net::IpAddress& client, double now);

    size_t tracked_clients() const { return clients_.size(); }
    size_t cached_headers() const { return trusted_.size(); }

  private:
    using Digest = std::array<unsigned char, 32>;  // SHA-256 of an Authorization header
    struct DigestHash {
        size_t operator()(const Digest& d) const;
    };
    struct Client {
        unsigned failures = 0;
        double window_start = 0;
        bool refused = false;  // a 429 was sent in this window
    };

    bool verify(const BasicCredentials& credentials);
    bool trusted(const Digest& digest, double now);
    void trust(const Digest& digest, double now);
    Client& client_entry(const std::string& ip, double now);

    BasicAuthLimits limits_;
    std::vector<config::AdminUser> users_;
    std::unordered_map<Digest, double, DigestHash> trusted_;  // header digest -> expiry
    std::unordered_map<std::string, Client> clients_;         // by IP text
    std::unique_ptr<crypt_data> scratch_;                     // ~32 KiB: on the heap, reused
};

}  // namespace clb::admin
