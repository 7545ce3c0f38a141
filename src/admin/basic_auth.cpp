#include "admin/basic_auth.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace clb::admin {

bool constant_time_equal(std::string_view a, std::string_view b);  // access.cpp

namespace {

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Standard base64 with padding (RFC 4648 §4), as browsers and curl send it.
std::optional<std::string> base64_decode(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0) return std::nullopt;
    size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
    std::string out;
    uint32_t bits = 0;
    int count = 0;
    for (size_t i = 0; i < text.size() - padding; ++i) {
        int v = base64_value(text[i]);
        if (v < 0) return std::nullopt;
        bits = (bits << 6) | static_cast<uint32_t>(v);
        if (++count == 4) {
            out += static_cast<char>((bits >> 16) & 0xff);
            out += static_cast<char>((bits >> 8) & 0xff);
            out += static_cast<char>(bits & 0xff);
            bits = 0;
            count = 0;
        }
    }
    if (count == 3) {
        out += static_cast<char>((bits >> 10) & 0xff);
        out += static_cast<char>((bits >> 2) & 0xff);
    } else if (count == 2) {
        out += static_cast<char>((bits >> 4) & 0xff);
    } else if (count != 0) {
        return std::nullopt;
    }
    return out;
}

}  // namespace

std::optional<BasicCredentials> parse_basic(std::string_view authorization) {
    constexpr std::string_view kScheme = "basic ";
    if (authorization.size() < kScheme.size()) return std::nullopt;
    for (size_t i = 0; i < kScheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i])
            return std::nullopt;
    authorization.remove_prefix(kScheme.size());
    while (authorization.starts_with(' '))
        authorization.remove_prefix(1);
    auto decoded = base64_decode(authorization);
    if (!decoded) return std::nullopt;
    size_t colon = decoded->find(':');
    if (colon == std::string::npos) return std::nullopt;
    return BasicCredentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

std::string loggable_user(std::string_view user) {
    std::string out;
    for (char c : user.substr(0, 64)) {
        auto byte = static_cast<unsigned char>(c);
        out += byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\' ? c : '?';
    }
    if (user.size() > 64) out += "...";
    return out;
}

size_t BasicAuth::DigestHash::operator()(const Digest& d) const {
    size_t h = 0;
    std::memcpy(&h, d.data(), sizeof h);  // already uniformly distributed
    return h;
}

BasicAuth::BasicAuth(BasicAuthLimits limits)
    : limits_(limits), scratch_(std::make_unique<crypt_data>()) {}

void BasicAuth::set_users(std::vector<config::AdminUser> users) {
    users_ = std::move(users);
    trusted_.clear();
}

bool BasicAuth::verify(const BasicCredentials& credentials) {
    auto user = std::find_if(users_.begin(), users_.end(),
                             [&](const auto& u) { return u.name == credentials.user; });
    // An unknown user costs a verification too (against the first user's hash, the same
    // scheme and cost), so timing does not tell which names exist.
    const std::string& hash = user != users_.end() ? user->hash : users_.front().hash;
    // A NUL would cut the password short for crypt: such a password never matches.
    bool cut = credentials.password.find('\0') != std::string::npos;
    const char* out =
        crypt_rn(credentials.password.c_str(), hash.c_str(), scratch_.get(), sizeof *scratch_);
    bool match = out && out[0] != '*' && constant_time_equal(out, hash);
    return match && !cut && user != users_.end();
}

bool BasicAuth::trusted(const Digest& digest, double now) {
    auto it = trusted_.find(digest);
    if (it == trusted_.end()) return false;
    if (it->second > now) return true;
    trusted_.erase(it);
    return false;
}

void BasicAuth::trust(const Digest& digest, double now) {
    if (trusted_.size() >= limits_.max_cached) {
        std::erase_if(trusted_, [now](const auto& entry) { return entry.second <= now; });
        if (trusted_.size() >= limits_.max_cached) trusted_.clear();  // a flood of users: rare
    }
    trusted_[digest] = now + limits_.cache_seconds;
}

BasicAuth::Client& BasicAuth::client_entry(const std::string& ip, double now) {
    if (!clients_.contains(ip) && clients_.size() >= limits_.max_clients) {
        double horizon = now - limits_.window;
        std::erase_if(clients_,
                      [horizon](const auto& c) { return c.second.window_start <= horizon; });
        if (clients_.size() >= limits_.max_clients) {
            // Many addresses failing at once: forget the oldest window, not the newest.
            auto oldest = std::min_element(clients_.begin(), clients_.end(), [](auto& a, auto& b) {
                return a.second.window_start < b.second.window_start;
            });
            clients_.erase(oldest);
        }
    }
    Client& client = clients_[ip];
    if (client.failures == 0 || now - client.window_start >= limits_.window) {
        client = Client{};
        client.window_start = now;
    }
    return client;
}

std::optional<BasicAuth::Result> BasicAuth::limited(const net::IpAddress& client, double now) {
    auto it = clients_.find(client.to_string());
    if (it == clients_.end()) return std::nullopt;
    Client& c = it->second;
    if (now - c.window_start >= limits_.window) {
        clients_.erase(it);
        return std::nullopt;
    }
    if (c.failures < limits_.max_failures) return std::nullopt;
    Result result;
    result.verdict = Verdict::limited;
    result.retry_after = c.window_start + limits_.window - now;
    result.first_limited = !c.refused;
    c.refused = true;
    return result;
}

BasicAuth::Result BasicAuth::count_failure(const net::IpAddress& client, double now) {
    Client& c = client_entry(client.to_string(), now);
    Result result;
    result.verdict = Verdict::wrong;
    result.failures = ++c.failures;
    return result;
}

BasicAuth::Result BasicAuth::check(std::string_view authorization, const net::IpAddress& client,
                                   double now) {
    Result result;
    if (!enabled()) {
        result.verdict = Verdict::ok;
        return result;
    }
    auto credentials = parse_basic(authorization);
    if (!credentials) return result;  // missing: the browser has not asked the user yet
    result.user = credentials->user;
    Digest digest{};
    unsigned int length = 0;
    EVP_Digest(authorization.data(), authorization.size(), digest.data(), &length, EVP_sha256(),
               nullptr);
    if (trusted(digest, now)) {
        result.verdict = Verdict::ok;
        return result;
    }
    if (auto refused = limited(client, now)) {
        refused->user = std::move(result.user);
        return *refused;
    }
    if (verify(*credentials)) {
        trust(digest, now);
        clients_.erase(client.to_string());
        result.verdict = Verdict::ok;
        return result;
    }
    Result failed = count_failure(client, now);
    failed.user = std::move(result.user);
    return failed;
}

}  // namespace clb::admin
