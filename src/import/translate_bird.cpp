// bird.conf -> bgp: router id, the bgp protocols (templates inherited) as peers, protocol
// bfd's intervals, and the static host routes the peers export as VIPs.
#include <cctype>
#include <charconv>
#include <map>
#include <set>
#include <sstream>

#include "contrail_lb/import/bird.hpp"
#include "contrail_lb/net/address.hpp"
#include "import/emit.hpp"

namespace clb::import {

namespace {

std::optional<unsigned long> number(const std::string& text) {
    unsigned long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::string unquote(const std::string& word) {
    if (word.size() >= 2 && word.front() == '"' && word.back() == '"')
        return word.substr(1, word.size() - 2);
    return word;
}

bool is(const BirdStatement& s, std::initializer_list<const char*> prefix) {
    size_t i = 0;
    for (const char* word : prefix) {
        if (i >= s.words.size() || s.words[i] != word) return false;
        ++i;
    }
    return true;
}

// "100 ms", "1 s", "100ms": BIRD's times with a unit; milliseconds.
std::optional<long long> bird_time_ms(const std::vector<std::string>& words, size_t from) {
    std::string text;
    for (size_t i = from; i < words.size(); ++i)
        text += words[i];
    size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
        ++digits;
    auto value = number(text.substr(0, digits));
    if (!value || *value > 86'400'000) return std::nullopt;
    std::string unit = text.substr(digits);
    long long v = static_cast<long long>(*value);
    if (unit == "ms") return v;
    if (unit == "s" || unit.empty()) return v * 1000;
    if (unit == "us") return (v + 999) / 1000;
    return std::nullopt;
}

void flatten(const std::vector<BirdStatement>& block, std::string& out) {
    for (const auto& s : block) {
        for (const auto& w : s.words)
            out += w + " ";
        if (s.has_block) {
            out += "{ ";
            flatten(s.block, out);
            out += "} ";
        }
        out += "; ";
    }
}

// A filter that only matches prefixes and protocols, accepts, rejects and sets bgp_med:
// what the translation reads from it. Token by token (a regex over hostile input of any
// length would recurse as deep as the input is long).
bool simple_filter(const std::string& rule) {
    static const std::set<std::string, std::less<>> kWords = {
        "if", "net", "proto", "then", "accept", "reject", "else",   "bgp_med",   "=",
        "~",  "!",   "!=",    ",",    "[",      "]",      "(",      ")",         "{",
        "}",  ";",   "and",   "or",   "&&",     "||",     "source", "RTS_STATIC"};
    std::istringstream words(rule);
    std::string word;
    while (words >> word) {
        bool literal = word.find_first_not_of("0123456789abcdefABCDEF.:/+-") == std::string::npos ||
                       (word.size() >= 2 && word.front() == '"' && word.back() == '"');
        if (!literal && !kWords.contains(word)) return false;
    }
    return true;
}

// N of "bgp_med = N" in a filter.
std::optional<unsigned long> filter_med(const std::string& rule) {
    std::istringstream words(rule);
    std::string a, b, c;
    words >> a >> b;
    while (words >> c) {
        if (a == "bgp_med" && b == "=") return number(c);
        a = std::move(b);
        b = std::move(c);
    }
    return std::nullopt;
}

std::string config_duration(long long ms) {
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
    return std::to_string(ms) + "ms";
}

struct StaticRoute {
    Origin origin;
    std::string prefix, protocol;
};

struct Peer {
    Origin origin;
    std::string name;
    std::optional<std::string> address;
    std::optional<unsigned long> port, remote_as, local_as, hold_time;
    std::optional<std::string> password;
    bool bfd = false;
    std::vector<std::string> exports;  // "all", "none" or a filter's text
    std::vector<std::string> notes;
};

struct BfdTimers {
    long long min_tx = 100, min_rx = 10;  // BIRD's defaults
    unsigned long multiplier = 5;
    Origin origin;
    bool configured = false;
};

class BirdTranslator {
  public:
    BirdTranslator(const BirdConfig& bird, Notes& notes) : bird_(bird), notes_(notes) {}
    YamlNode run(const std::vector<std::string>& services);

  private:
    Origin at(const BirdStatement& s) const { return Origin{bird_.file, s.line}; }
    void untranslated(const BirdStatement& s, const std::string& why,
                      std::vector<std::string>& to) {
        notes_.untranslated(at(s), s.text(), why, to);
    }
    void top_level(const BirdStatement& s);
    void bgp_protocol(const BirdStatement& s, bool is_template);
    void bgp_option(Peer& peer, const BirdStatement& s);
    void channel(Peer& peer, const BirdStatement& s);
    void export_rule(Peer& peer, const BirdStatement& s);
    void static_protocol(const BirdStatement& s);
    void bfd_protocol(const BirdStatement& s);
    void bfd_option(const BirdStatement& s);
    std::vector<StaticRoute> exported(const Peer& peer, std::optional<unsigned long>& med);
    YamlNode emit(const std::vector<std::string>& services);
    YamlNode emit_peers(bool any_bfd, std::vector<StaticRoute>& vips,
                        std::optional<unsigned long>& med);
    YamlNode emit_vips(const std::vector<StaticRoute>& vips, std::optional<unsigned long> med,
                       const std::vector<std::string>& services);

    const BirdConfig& bird_;
    Notes& notes_;
    std::optional<std::string> router_id_;
    std::string router_id_origin_;
    std::map<std::string, Peer> templates_;
    std::map<std::string, std::string> filters_;
    std::vector<Peer> peers_;
    std::vector<StaticRoute> routes_;
    BfdTimers bfd_;
    std::vector<std::string> notes_here_;
};

void BirdTranslator::top_level(const BirdStatement& s) {
    if (is(s, {"router", "id"}) && s.words.size() == 3) {
        router_id_ = s.words[2];
        router_id_origin_ = "router_id from " + at(s).where() + " " + s.text();
    } else if (is(s, {"protocol", "bgp"}) && s.has_block) {
        bgp_protocol(s, false);
    } else if (is(s, {"template", "bgp"}) && s.has_block && s.words.size() >= 3) {
        bgp_protocol(s, true);
    } else if (is(s, {"protocol", "static"}) && s.has_block) {
        static_protocol(s);
    } else if (is(s, {"protocol", "bfd"}) && s.has_block) {
        bfd_protocol(s);
    } else if (is(s, {"filter"}) && s.words.size() == 2 && s.has_block) {
        flatten(s.block, filters_[s.words[1]]);
    } else if (is(s, {"protocol", "device"}) || is(s, {"protocol", "kernel"}) ||
               is(s, {"protocol", "direct"}) || is(s, {"log"}) || is(s, {"debug"}) ||
               is(s, {"timeformat"})) {
        notes_.dropped(at(s), s.text(), "contrail-lb reads no kernel routes and logs to stderr",
                       notes_here_);
    } else {
        untranslated(s, "no contrail-lb setting", notes_here_);
    }
}

void BirdTranslator::bgp_protocol(const BirdStatement& s, bool is_template) {
    Peer peer;
    size_t name_at = 2;
    if (s.words.size() > name_at) peer.name = s.words[name_at];
    if (s.words.size() == name_at + 3 && s.words[name_at + 1] == "from") {
        auto found = templates_.find(s.words[name_at + 2]);
        if (found != templates_.end())
            peer = found->second, peer.name = s.words[name_at];
        else
            untranslated(s, "no template of that name above", notes_here_);
    }
    peer.origin = at(s);
    for (const auto& option : s.block)
        bgp_option(peer, option);
    if (is_template)
        templates_[peer.name] = std::move(peer);
    else
        peers_.push_back(std::move(peer));
}

void BirdTranslator::bgp_option(Peer& peer, const BirdStatement& s) {
    const auto& w = s.words;
    if (is(s, {"local"}) && w.size() >= 3 && w[w.size() - 2] == "as") {
        peer.local_as = number(w.back());
        if (w.size() == 4)
            untranslated(s,
                         "the local address: contrail-lb connects from the address the route to "
                         "the peer picks",
                         peer.notes);
    } else if (is(s, {"neighbor"}) && w.size() >= 2) {
        size_t i = 1;
        if (w[1] != "as" && w[1] != "port") peer.address = w[i++];
        for (; i + 1 < w.size(); i += 2) {
            if (w[i] == "as")
                peer.remote_as = number(w[i + 1]);
            else if (w[i] == "port")
                peer.port = number(w[i + 1]);
            else
                untranslated(s, "only ADDR, port and as are translated", peer.notes);
        }
    } else if (is(s, {"hold", "time"}) && w.size() == 3) {
        peer.hold_time = number(w[2]);
    } else if (is(s, {"password"}) && w.size() == 2) {
        peer.password = unquote(w[1]);
    } else if (is(s, {"bfd"}) && w.size() == 2 && !s.has_block) {
        peer.bfd = w[1] == "on" || w[1] == "yes" || w[1] == "true";
    } else if ((is(s, {"ipv4"}) || is(s, {"ipv6"})) && s.has_block) {
        channel(peer, s);
    } else if (is(s, {"import"}) || is(s, {"export"})) {
        export_rule(peer, s);
    } else if (is(s, {"description"}) || is(s, {"direct"})) {
        notes_.dropped(at(s), s.text(), "nothing to set: single-hop is what contrail-lb does",
                       peer.notes);
    } else if (is(s, {"source", "address"})) {
        untranslated(s, "contrail-lb connects from the address the route to the peer picks",
                     peer.notes);
    } else {
        untranslated(s, "no contrail-lb setting", peer.notes);
    }
}

void BirdTranslator::channel(Peer& peer, const BirdStatement& s) {
    for (const auto& option : s.block) {
        if (is(option, {"import"}) || is(option, {"export"}))
            export_rule(peer, option);
        else if (is(option, {"next", "hop", "self"}))
            continue;  // contrail-lb's next_hop: self
        else
            untranslated(option, "no contrail-lb setting", peer.notes);
    }
}

void BirdTranslator::export_rule(Peer& peer, const BirdStatement& s) {
    const auto& w = s.words;
    if (w[0] == "import") {
        if (w.size() == 2 && w[1] == "none") return;  // contrail-lb accepts no routes either
        return untranslated(s, "contrail-lb accepts no routes from its peers", peer.notes);
    }
    std::string rule;
    if (w.size() == 2 && (w[1] == "all" || w[1] == "none"))
        rule = w[1];
    else if (w.size() == 3 && w[1] == "filter" && !s.has_block && filters_.contains(w[2]))
        rule = filters_[w[2]];
    else if (w.size() == 2 && w[1] == "filter" && s.has_block)
        flatten(s.block, rule);
    else if (w.size() > 2 && w[1] == "where")
        for (size_t i = 2; i < w.size(); ++i)
            rule += w[i] + " ";
    else
        return untranslated(s, "an export rule the translation cannot read", peer.notes);
    if (rule != "all" && rule != "none" && !simple_filter(rule))
        untranslated(s, "only prefix and protocol matches and bgp_med are read from the filter",
                     peer.notes);
    peer.exports.push_back(rule);
}

void BirdTranslator::static_protocol(const BirdStatement& s) {
    std::string name = s.words.size() > 2 ? s.words[2] : "static1";
    for (const auto& option : s.block) {
        if (is(option, {"route"}) && option.words.size() >= 2) {
            auto prefix = net::IpPrefix::parse(option.words[1]);
            bool host = prefix && prefix->length == (prefix->address.is_v4() ? 32 : 128);
            if (host)
                routes_.push_back({at(option), prefix->to_string(), name});
            else
                untranslated(option, "not a host route (/32, /128): contrail-lb announces VIPs",
                             notes_here_);
        } else if (!is(option, {"ipv4"}) && !is(option, {"ipv6"})) {
            untranslated(option, "no contrail-lb setting", notes_here_);
        }
    }
}

void BirdTranslator::bfd_protocol(const BirdStatement& s) {
    bool have_interface = false;
    for (const auto& option : s.block) {
        if (is(option, {"interface"}) && option.has_block) {
            if (have_interface) {
                untranslated(option,
                             "contrail-lb has one set of BFD intervals: the first interface's",
                             notes_here_);
                continue;
            }
            have_interface = true;
            for (const auto& timer : option.block)
                bfd_option(timer);
        } else if (is(option, {"neighbor"})) {
            notes_.dropped(at(option), option.text(),
                           "contrail-lb runs BFD beside each BGP peer with bfd", notes_here_);
        } else {
            untranslated(option, "no contrail-lb setting", notes_here_);
        }
    }
    bfd_.origin = at(s);
    bfd_.configured = true;
}

void BirdTranslator::bfd_option(const BirdStatement& s) {
    std::optional<long long> ms;
    if (is(s, {"min", "rx", "interval"}) && (ms = bird_time_ms(s.words, 3)))
        bfd_.min_rx = *ms;
    else if (is(s, {"min", "tx", "interval"}) && (ms = bird_time_ms(s.words, 3)))
        bfd_.min_tx = *ms;
    else if (is(s, {"interval"}) && (ms = bird_time_ms(s.words, 1)))
        bfd_.min_rx = bfd_.min_tx = *ms;
    else if (is(s, {"multiplier"}) && s.words.size() == 2 && number(s.words[1]))
        bfd_.multiplier = *number(s.words[1]);
    else
        untranslated(s, "no contrail-lb BFD setting", notes_here_);
}

std::vector<StaticRoute> BirdTranslator::exported(const Peer& peer,
                                                  std::optional<unsigned long>& med) {
    std::vector<StaticRoute> out;
    for (const auto& rule : peer.exports) {
        if (rule == "none") continue;
        if (auto found = filter_med(rule)) med = found;
        bool names_any = false;
        for (const auto& r : routes_)
            names_any = names_any || rule.find(r.prefix) != std::string::npos ||
                        rule.find("\"" + r.protocol + "\"") != std::string::npos;
        for (const auto& r : routes_) {
            bool named = rule.find(r.prefix) != std::string::npos ||
                         rule.find("\"" + r.protocol + "\"") != std::string::npos;
            if (rule == "all" || !names_any || named) out.push_back(r);
        }
    }
    return out;
}

YamlNode BirdTranslator::emit(const std::vector<std::string>& services) {
    YamlNode bgp = YamlNode::map();
    if (!router_id_origin_.empty()) bgp.comment(router_id_origin_);
    bgp.set("router_id", YamlNode::text(*router_id_));
    std::optional<unsigned long> local_as, hold_time;
    for (auto& peer : peers_) {
        if (!local_as) local_as = peer.local_as;
        if (!hold_time) hold_time = peer.hold_time;
        if (peer.local_as != local_as)
            notes_.untranslated(peer.origin, "protocol bgp " + peer.name + " local as",
                                "contrail-lb has one bgp.local_as", peer.notes);
        if (peer.hold_time && peer.hold_time != hold_time)
            notes_.untranslated(peer.origin, "protocol bgp " + peer.name + " hold time",
                                "contrail-lb has one bgp.hold_time", peer.notes);
    }
    bgp.set("local_as", YamlNode::raw(std::to_string(local_as.value_or(0))));
    YamlNode& hold =
        bgp.set("hold_time", YamlNode::raw(std::to_string(hold_time.value_or(240)) + "s"));
    if (!hold_time) hold.trailing("BIRD's default; contrail-lb's own is 9s");
    bool any_bfd = false;
    for (const auto& peer : peers_)
        any_bfd = any_bfd || peer.bfd;
    if (any_bfd) {
        YamlNode bfd = YamlNode::map().flow();
        bfd.set("min_tx", YamlNode::raw(config_duration(bfd_.min_tx)));
        bfd.set("min_rx", YamlNode::raw(config_duration(bfd_.min_rx)));
        bfd.set("multiplier", YamlNode::raw(std::to_string(bfd_.multiplier)));
        YamlNode& added = bgp.set("bfd", std::move(bfd));
        if (bfd_.configured)
            added.comment("bfd from " + bfd_.origin.where() + " protocol bfd");
        else
            added.trailing("BIRD's defaults: no protocol bfd was found");
    }
    std::vector<StaticRoute> vips;
    std::optional<unsigned long> med;
    bgp.set("peers", emit_peers(any_bfd, vips, med));
    bgp.set("vips", emit_vips(vips, med, services));
    for (const auto& n : notes_here_)
        bgp.footer(n);
    return bgp;
}

YamlNode BirdTranslator::emit_peers(bool any_bfd, std::vector<StaticRoute>& vips,
                                    std::optional<unsigned long>& med) {
    YamlNode peers = YamlNode::list();
    for (auto& peer : peers_) {
        YamlNode entry = YamlNode::map().flow();
        entry.set("address", YamlNode::text(peer.address.value_or("")));
        if (peer.port) entry.set("port", YamlNode::raw(std::to_string(*peer.port)));
        entry.set("remote_as", YamlNode::raw(std::to_string(peer.remote_as.value_or(0))));
        if (peer.password) entry.set("password", YamlNode::quoted(*peer.password));
        if (any_bfd && !peer.bfd) entry.set("bfd", YamlNode::raw("false"));
        for (const auto& r : exported(peer, med)) {
            bool seen = false;
            for (const auto& v : vips)
                seen = seen || v.prefix == r.prefix;
            if (!seen) vips.push_back(r);
        }
        YamlNode& added = peers.add(std::move(entry));
        added.comment("from " + peer.origin.where() + " protocol bgp " + peer.name);
        for (const auto& n : peer.notes)
            added.comment(n);
    }
    return peers;
}

YamlNode BirdTranslator::emit_vips(const std::vector<StaticRoute>& vips,
                                   std::optional<unsigned long> med,
                                   const std::vector<std::string>& services) {
    YamlNode list = YamlNode::list();
    for (const auto& v : vips) {
        YamlNode vip = YamlNode::map().flow();
        vip.set("prefix", YamlNode::text(v.prefix));
        if (med) vip.set("med", YamlNode::raw(std::to_string(*med)));
        list.add(std::move(vip))
            .comment("from " + v.origin.where() + " protocol static " + v.protocol);
    }
    if (!services.empty())
        list.footer(
            "announced while contrail-lb runs, as BIRD did; to announce only while a service "
            "has a healthy backend add require: {services: [" +
            services.front() + "]}");
    return list;
}

YamlNode BirdTranslator::run(const std::vector<std::string>& services) {
    for (const auto& s : bird_.statements)
        top_level(s);
    std::vector<std::string> why;
    if (!router_id_) why.push_back("no router id (contrail-lb needs bgp.router_id)");
    if (peers_.empty()) why.push_back("no protocol bgp");
    for (const auto& peer : peers_)
        if (!peer.address || !peer.remote_as || !peer.local_as)
            why.push_back("protocol bgp " + peer.name + " lacks neighbor ADDR, as or local as");
    std::optional<unsigned long> med;
    size_t exported_routes = 0;
    for (const auto& peer : peers_)
        exported_routes += exported(peer, med).size();
    if (why.empty() && exported_routes == 0)
        why.push_back("no static /32 or /128 route is exported to a peer");
    if (!why.empty()) {
        for (const auto& reason : why)
            notes_.untranslated(Origin{bird_.file, 1}, "bgp", reason, notes_here_);
        YamlNode nothing = YamlNode::map();
        return nothing;
    }
    return emit(services);
}

}  // namespace

YamlNode translate_bird(const BirdConfig& bird, const std::vector<std::string>& services,
                        Notes& notes) {
    return BirdTranslator(bird, notes).run(services);
}

}  // namespace clb::import
