// bgp: the speaker, its peers and the VIPs it announces.
#include <charconv>
#include <cstring>
#include <map>

#include "config/loader.hpp"

namespace clb::config::detail {

namespace {

constexpr int64_t kMaxAs = 4'294'967'295;  // 4-octet AS numbers (RFC 6793)
constexpr size_t kMaxMd5KeyBytes = 80;     // TCP_MD5SIG_MAXKEYLEN
constexpr Duration kMaxWithdrawWait = 60s;

// RFC 1997 and RFC 8326 well-known communities, by the names operators write in BIRD and FRR.
constexpr std::pair<std::string_view, uint32_t> kWellKnownCommunities[] = {
    {"no-export", 0xFFFFFF01},
    {"no-advertise", 0xFFFFFF02},
    {"no-export-subconfed", 0xFFFFFF03},
    {"graceful-shutdown", 0xFFFF0000},
};

std::optional<uint16_t> parse_u16(std::string_view text) {
    if (text.empty() || (text.size() > 1 && text.front() == '0')) return std::nullopt;
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return std::nullopt;
    return static_cast<uint16_t>(value);
}

// The same prefix with its host bits cleared, to suggest in an error.
std::string network_of(const net::IpAddress& ip, unsigned length) {
    uint8_t bytes[16] = {};
    for (unsigned bit = 0; bit < length && bit < ip.size() * 8; ++bit) {
        bytes[bit / 8] |= ip.bytes()[bit / 8] & (0x80 >> (bit % 8));
    }
    net::IpAddress network;
    if (ip.is_v4()) {
        in_addr a{};
        std::memcpy(&a, bytes, 4);
        network = net::IpAddress::v4(a);
    } else {
        in6_addr a{};
        std::memcpy(&a, bytes, 16);
        network = net::IpAddress::v6(a);
    }
    return network.to_string() + "/" + std::to_string(length);
}

}  // namespace

Bgp Loader::load_bgp(const YAML::Node& node, const Config& config) {
    Bgp bgp;
    Section section(diag_, node, "bgp",
                    {"router_id", "local_as", "hold_time", "listen", "listen_port",
                     "graceful_shutdown", "watchdog", "withdraw_wait", "bfd", "peers", "vips"});
    if (!section.valid()) return bgp;
    if (auto value = section.require_value("router_id")) {
        auto ip = scalars_.ip_address(*value, "bgp.router_id");
        if (ip && (!ip->is_v4() || ip->v4_host_order() == 0)) {
            diag_.error(*value, "bgp.router_id: " + ip->to_string() +
                                    " is not a usable BGP identifier: use a non-zero IPv4 address, "
                                    "usually this node's own");
        } else if (ip) {
            bgp.router_id = *ip;
        }
    }
    if (auto value = section.require_value("local_as")) {
        if (auto as = scalars_.integer(*value, "bgp.local_as", 1, kMaxAs)) {
            bgp.local_as = static_cast<uint32_t>(*as);
        }
    }
    section.read("hold_time", bgp.hold_time, [&](const YAML::Node& value, const std::string& at) {
        auto hold = scalars_.duration(value, at, Duration::zero());
        // RFC 4271 4.2: zero (no keepalives) or at least three seconds, carried in whole seconds.
        if (hold && *hold != Duration::zero() &&
            (*hold < 3s || *hold > std::chrono::seconds(65535) || hold->count() % 1000 != 0)) {
            diag_.error(value,
                        at + ": " + format_duration(*hold) +
                            " is not a valid hold time: use 0 or 3s..65535s in whole seconds");
            return std::optional<Duration>();
        }
        return hold;
    });
    section.read("listen", bgp.listen, boolean(scalars_));
    section.read("listen_port", bgp.listen_port, integer_in<uint16_t>(scalars_, 1, 65535));
    section.read("graceful_shutdown", bgp.graceful_shutdown,
                 duration_at_least(scalars_, Duration::zero()));
    // Shorter than this, an ordinary scheduling hiccup would withdraw every VIP.
    section.read("watchdog", bgp.watchdog, duration_at_least(scalars_, 100ms));
    // Routers apply a withdraw to their FIB some time after receiving it (FRR batches for
    // 50 ms); longer than a minute would only delay a restart that the routers left already.
    section.read("withdraw_wait", bgp.withdraw_wait,
                 [&](const YAML::Node& value, const std::string& at) {
                     auto wait = scalars_.duration(value, at, Duration::zero());
                     if (wait && *wait > kMaxWithdrawWait) {
                         diag_.error(value, at + ": " + format_duration(*wait) +
                                                " is too long: use 0..1m (routers move traffic "
                                                "within milliseconds of a withdraw)");
                         return std::optional<Duration>();
                     }
                     return wait;
                 });
    if (auto value = section.find("bfd")) bgp.bfd = load_bfd(*value, "bgp.bfd", Bfd{});
    if (auto value = section.require_value("peers"))
        bgp.peers = load_peers(*value, "bgp.peers", bgp.bfd);
    if (auto value = section.require_value("vips"))
        bgp.vips = load_vips(*value, "bgp.vips", config);
    return bgp;
}

// `bfd:` is a mapping of timers (keys it leaves out come from `base`), or true (= `base`)
// or false (off).
std::optional<Bfd> Loader::load_bfd(const YAML::Node& node, const std::string& path,
                                    const Bfd& base) {
    if (node.IsScalar()) {
        const std::string& text = node.Scalar();
        if (text == "true") return base;
        if (text == "false") return std::nullopt;
    }
    if (!node.IsMap() && !node.IsNull()) {
        diag_.error(node, path + ": expected false, true or {min_tx, min_rx, multiplier}, got " +
                              describe(node));
        return std::nullopt;
    }
    Section section(diag_, node, path, {"min_tx", "min_rx", "multiplier"});
    if (!section.valid()) return std::nullopt;
    // Below 10 ms a scheduling hiccup of an ordinary host is a false failure; above a minute
    // BFD detects nothing BGP's hold timer would not.
    auto interval = [&](const YAML::Node& value, const std::string& at) {
        auto d = scalars_.duration(value, at, 10ms);
        if (d && *d > 60s) {
            diag_.error(value, at + ": " + format_duration(*d) +
                                   " is too long for BFD: must be at most 60s");
            return std::optional<Duration>();
        }
        return d;
    };
    Bfd bfd = base;
    section.read("min_tx", bfd.min_tx, interval);
    section.read("min_rx", bfd.min_rx, interval);
    section.read("multiplier", bfd.multiplier, integer_in<unsigned>(scalars_, 1, 255));
    return bfd;
}

std::vector<BgpPeer> Loader::load_peers(const YAML::Node& node, const std::string& path,
                                        const std::optional<Bfd>& default_bfd) {
    std::vector<BgpPeer> peers;
    if (!scalars_.is_sequence(node, path, "peers")) return peers;
    if (node.size() == 0) {
        diag_.error(node, path + ": at least one peer is required");
        return peers;
    }
    std::map<std::pair<std::string, uint16_t>, YAML::Mark> seen;
    size_t index = 0;
    for (const auto& item : node) {
        std::string at = item_path(path, index++);
        Section section(diag_, item, at, {"address", "port", "remote_as", "password", "bfd"});
        if (!section.valid()) continue;
        BgpPeer peer;
        peer.bfd = default_bfd;
        if (auto value = section.find("bfd"))
            peer.bfd = load_bfd(*value, section.path_of("bfd"), default_bfd.value_or(Bfd{}));
        auto address_node = section.require_value("address");
        std::optional<net::IpAddress> address;
        if (address_node) address = scalars_.ip_address(*address_node, section.path_of("address"));
        section.read("port", peer.port, integer_in<uint16_t>(scalars_, 1, 65535));
        if (auto value = section.require_value("remote_as")) {
            if (auto as = scalars_.integer(*value, section.path_of("remote_as"), 1, kMaxAs)) {
                peer.remote_as = static_cast<uint32_t>(*as);
            }
        }
        section.read("password", peer.password, [&](const YAML::Node& value, const std::string& p) {
            auto password = scalars_.string(value, p);
            if (password && password->size() > kMaxMd5KeyBytes) {
                diag_.error(value, p + ": " + std::to_string(password->size()) +
                                       " characters is too long: TCP MD5 keys are at most 80");
                return std::optional<std::string>();
            }
            return password;
        });
        if (address) {
            peer.address = *address;
            auto [first, inserted] =
                seen.emplace(std::pair(address->to_string(), peer.port), address_node->Mark());
            if (!inserted) {
                diag_.error(*address_node,
                            section.path_of("address") + ": peer " + address->to_string() +
                                " port " + std::to_string(peer.port) +
                                " is already configured (at " + position(first->second) + ")");
            }
        }
        peers.push_back(std::move(peer));
    }
    return peers;
}

std::vector<Vip> Loader::load_vips(const YAML::Node& node, const std::string& path,
                                   const Config& config) {
    std::vector<Vip> vips;
    if (!scalars_.is_sequence(node, path, "VIPs")) return vips;
    if (node.size() == 0) {
        diag_.error(node, path + ": at least one VIP is required");
        return vips;
    }
    std::map<std::string, YAML::Mark> prefixes;
    size_t index = 0;
    for (const auto& item : node) {
        Vip vip = load_vip(item, item_path(path, index++), config);
        if (vip.prefix.address.family() != AF_UNSPEC && item.IsMap()) {
            YAML::Mark mark = item["prefix"].Mark();
            auto [first, inserted] = prefixes.emplace(vip.prefix.to_string(), mark);
            if (!inserted) {
                diag_.error(mark, item_path(path, index - 1) +
                                      ".prefix: " + vip.prefix.to_string() +
                                      " is already announced (at " + position(first->second) + ")");
            }
        }
        vips.push_back(std::move(vip));
    }
    return vips;
}

Vip Loader::load_vip(const YAML::Node& node, const std::string& path, const Config& config) {
    Vip vip;
    Section section(diag_, node, path,
                    {"prefix", "next_hop", "med", "as_path_prepend", "communities", "require"});
    if (!section.valid()) return vip;
    if (auto value = section.require_value("prefix")) {
        if (auto parsed = prefix(*value, section.path_of("prefix"))) vip.prefix = *parsed;
    }
    if (auto value = section.find_value("next_hop")) {
        std::string at = section.path_of("next_hop");
        auto text = scalars_.string(*value, at);
        if (text && *text != "self") {
            auto ip = net::IpAddress::parse(*text);
            if (!ip) {
                diag_.error(*value, at + ": invalid next hop " + in_quotes(*text) +
                                        ": use self or an IP address");
            } else if (vip.prefix.address.family() != AF_UNSPEC &&
                       ip->family() != vip.prefix.address.family()) {
                diag_.error(*value, at + ": " + ip->to_string() +
                                        " is not of the same address family as the prefix " +
                                        vip.prefix.to_string());
            } else {
                vip.next_hop = *ip;
            }
        }
    }
    section.read("med", vip.med, [&](const YAML::Node& value, const std::string& at) {
        auto med = scalars_.integer(value, at, 0, kMaxAs);
        return med ? std::optional<std::optional<uint32_t>>(static_cast<uint32_t>(*med))
                   : std::nullopt;
    });
    section.read("as_path_prepend", vip.as_path_prepend, integer_in<unsigned>(scalars_, 0, 16));
    if (auto value = section.find_value("communities")) {
        std::string at = section.path_of("communities");
        if (scalars_.is_sequence(*value, at, "communities, e.g. [\"64512:100\"]")) {
            size_t index = 0;
            for (const auto& item : *value) {
                if (auto c = community(item, item_path(at, index++))) vip.communities.push_back(*c);
            }
        }
    }
    if (auto value = section.find_section("require")) {
        vip.require = load_require(*value, section.path_of("require"), config);
    }
    return vip;
}

std::optional<net::IpPrefix> Loader::prefix(const YAML::Node& node, const std::string& path) {
    auto text = scalars_.string(node, path);
    if (!text) return std::nullopt;
    if (auto parsed = net::IpPrefix::parse(*text)) return parsed;
    // Tell a prefix with host bits apart from plain garbage: the fix differs.
    auto slash = text->find('/');
    auto ip =
        slash == std::string::npos ? std::nullopt : net::IpAddress::parse(text->substr(0, slash));
    auto length = slash == std::string::npos ? std::nullopt : parse_u16(text->substr(slash + 1));
    if (ip && length && *length <= ip->size() * 8) {
        diag_.error(node, path + ": " + *text + " has host bits set (did you mean " +
                              network_of(*ip, *length) + "?)");
    } else {
        diag_.error(node, path + ": invalid prefix " + in_quotes(*text) +
                              ": use ADDRESS/LENGTH, e.g. 10.0.0.100/32 or 2001:db8::100/128");
    }
    return std::nullopt;
}

std::optional<uint32_t> Loader::community(const YAML::Node& node, const std::string& path) {
    auto text = scalars_.string(node, path);
    if (!text) return std::nullopt;
    for (const auto& [name, value] : kWellKnownCommunities) {
        if (*text == name) return value;
    }
    auto colon = text->find(':');
    if (colon != std::string::npos) {
        auto high = parse_u16(std::string_view(*text).substr(0, colon));
        auto low = parse_u16(std::string_view(*text).substr(colon + 1));
        if (high && low) return (static_cast<uint32_t>(*high) << 16) | *low;
    }
    diag_.error(node, path + ": invalid community " + in_quotes(*text) +
                          ": use \"A:B\" with A and B in 0..65535 (quoted), or no-export, "
                          "no-advertise, no-export-subconfed, graceful-shutdown");
    return std::nullopt;
}

VipRequire Loader::load_require(const YAML::Node& node, const std::string& path,
                                const Config& config) {
    VipRequire require;
    Section section(diag_, node, path, {"services", "min_healthy_backends"});
    if (!section.valid()) return require;
    section.read("min_healthy_backends", require.min_healthy_backends,
                 integer_in<unsigned>(scalars_, 0, 1'000'000));
    auto services = section.require_value("services");
    std::string at = section.path_of("services");
    if (!services || !scalars_.is_sequence(*services, at, "service names")) return require;
    if (services->size() == 0) {
        diag_.error(*services, at + ": list at least one service (or drop require)");
        return require;
    }
    size_t index = 0;
    for (const auto& item : *services) {
        std::string item_at = item_path(at, index++);
        auto name = scalars_.string(item, item_at);
        if (!name) continue;
        if (service_names_.find(*name) == service_names_.end()) {
            std::vector<std::string_view> known;
            for (const auto& entry : service_names_)
                known.push_back(entry.first);
            auto hint = closest(*name, known);
            diag_.error(item, item_at + ": no service is named " + in_quotes(*name) +
                                  (hint ? " (did you mean \"" + std::string(*hint) + "\"?)" : ""));
            continue;
        }
        // A threshold above the backend count can never hold: the VIP would never be announced.
        const Service* service = config.find_service(*name);
        if (service && !service->backends.empty() &&
            require.min_healthy_backends > service->backends.size()) {
            diag_.error(item, item_at + ": service \"" + *name + "\" has " +
                                  std::to_string(service->backends.size()) +
                                  " backends, fewer than min_healthy_backends " +
                                  std::to_string(require.min_healthy_backends) +
                                  ": the VIP would never be announced");
        }
        require.services.push_back(*name);
    }
    return require;
}

}  // namespace clb::config::detail
