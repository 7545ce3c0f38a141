#include "contrail_lb/upgrade/messages.hpp"

#include <cmath>

#include "contrail_lb/log/json.hpp"
#include "contrail_lb/upgrade/channel.hpp"
#include "contrail_lb/upgrade/json.hpp"

namespace clb::upgrade {

namespace {

constexpr size_t kMaxFds = 65536;

struct TypeName {
    MessageType type;
    const char* name;
};
constexpr TypeName kTypes[] = {
    {MessageType::hello, "hello"},         {MessageType::refused, "refused"},
    {MessageType::state, "state"},         {MessageType::fds, "fds"},
    {MessageType::ready, "ready"},         {MessageType::abort, "abort"},
    {MessageType::committed, "committed"}, {MessageType::client, "client"},
};

const char* name_of(MessageType t) {
    for (const auto& [type, name] : kTypes)
        if (type == t) return name;
    return "?";
}

// {"type":T,"version":V, ...then the caller's members}
log::JsonWriter begin(MessageType type) {
    log::JsonWriter w;
    w.begin_object();
    w.key("type");
    w.value(name_of(type));
    w.key("version");
    w.value(static_cast<int64_t>(kProtocolVersion));
    return w;
}

std::string finish(log::JsonWriter& w) {
    w.end_object();
    return w.str();
}

std::string with_reason(MessageType type, std::string_view reason) {
    auto w = begin(type);
    w.key("reason");
    w.value(reason);
    return finish(w);
}

// Reads the fields of one message, remembering the first thing wrong.
class Reader {
  public:
    explicit Reader(std::string& error) : error_(error) {}
    bool ok() const { return error_.empty(); }
    bool fail(const std::string& why) {
        if (error_.empty()) error_ = why;
        return false;
    }

    const Json* member(const Json& obj, const char* key, Json::Kind kind) {
        const Json* v = obj.find(key);
        if (!v || !v->is(kind)) {
            fail(std::string("\"") + key + "\" missing or of the wrong type");
            return nullptr;
        }
        return v;
    }
    std::string text(const Json& obj, const char* key) {
        const Json* v = member(obj, key, Json::Kind::string);
        return v ? v->text() : std::string();
    }
    bool flag(const Json& obj, const char* key) {
        const Json* v = member(obj, key, Json::Kind::boolean);
        return v && v->boolean();
    }
    // An integer in [0, max].
    size_t count(const Json& obj, const char* key, size_t max) {
        const Json* v = member(obj, key, Json::Kind::number);
        if (!v) return 0;
        double n = v->number();
        if (n < 0 || n > static_cast<double>(max) || std::floor(n) != n) {
            fail(std::string("\"") + key + "\" out of range");
            return 0;
        }
        return static_cast<size_t>(n);
    }
    net::SocketAddress address(const Json& obj, const char* key) {
        auto parsed = net::SocketAddress::parse(text(obj, key));
        if (!parsed) {
            fail(std::string("\"") + key + "\" is not an address");
            return {};
        }
        return *parsed;
    }

  private:
    std::string& error_;
};

std::string to_hex(const std::vector<uint8_t>& bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (uint8_t b : bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 15];
    }
    return out;
}

std::optional<std::vector<uint8_t>> from_hex(const std::string& text) {
    if (text.size() % 2) return std::nullopt;
    std::vector<uint8_t> out;
    auto digit = [](char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    for (size_t i = 0; i < text.size(); i += 2) {
        int hi = digit(text[i]), lo = digit(text[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<uint8_t>(hi * 16 + lo));
    }
    return out;
}

void write_session(log::JsonWriter& w, const bgp::SessionHandOver& h) {
    w.begin_object();
    w.field("peer", h.peer.to_string());
    w.field("port", static_cast<uint64_t>(h.port));
    w.field("four_octet_as", h.options.four_octet_as);
    w.field("ibgp", h.options.ibgp);
    w.key("families");
    w.begin_array();
    for (const auto& f : h.families) {
        w.begin_array();
        w.value(static_cast<uint64_t>(f.afi));
        w.value(static_cast<uint64_t>(f.safi));
        w.end_array();
    }
    w.end_array();
    w.field("hold_time", static_cast<uint64_t>(h.hold_time));
    w.key("adj_rib_out");
    w.begin_array();
    for (const auto& update : h.adj_rib_out)
        w.value(to_hex(update));
    w.end_array();
    w.field("unread", to_hex(h.unread));
    w.field("established_since", h.counters.established_since);
    w.field("flaps", static_cast<uint64_t>(h.counters.flaps));
    w.field("messages_in", h.counters.messages_in);
    w.field("messages_out", h.counters.messages_out);
    w.field("updates_in", h.counters.updates_in);
    w.field("updates_out", h.counters.updates_out);
    w.end_object();
}

std::vector<uint8_t> bytes(Reader& r, const Json& obj, const char* key, size_t max) {
    auto text = r.text(obj, key);
    auto out = from_hex(text);
    if (!out || out->size() > max) {
        r.fail(std::string("\"") + key + "\" is not hex bytes");
        return {};
    }
    return *out;
}

void read_session(const Json& item, Reader& r, bgp::SessionHandOver& h) {
    auto peer = net::IpAddress::parse(r.text(item, "peer"));
    if (!peer) r.fail("\"peer\" is not an address");
    h.peer = peer.value_or(net::IpAddress{});
    h.port = static_cast<uint16_t>(r.count(item, "port", 65535));
    h.options.four_octet_as = r.flag(item, "four_octet_as");
    h.options.ibgp = r.flag(item, "ibgp");
    if (const Json* families = r.member(item, "families", Json::Kind::array)) {
        for (const auto& f : families->items()) {
            if (!f.is(Json::Kind::array) || f.items().size() != 2 ||
                !f.items()[0].is(Json::Kind::number) || !f.items()[1].is(Json::Kind::number)) {
                r.fail("a family that is not [afi, safi]");
                return;
            }
            h.families.push_back({static_cast<uint16_t>(f.items()[0].number()),
                                  static_cast<uint8_t>(f.items()[1].number())});
        }
    }
    h.hold_time = static_cast<uint16_t>(r.count(item, "hold_time", 65535));
    if (const Json* routes = r.member(item, "adj_rib_out", Json::Kind::array)) {
        for (const auto& route : routes->items()) {
            auto b = route.is(Json::Kind::string) ? from_hex(route.text()) : std::nullopt;
            if (!b || b->size() > 4096) {
                r.fail("a route that is not an encoded UPDATE");
                return;
            }
            h.adj_rib_out.push_back(std::move(*b));
        }
    }
    h.unread = bytes(r, item, "unread", 1 << 20);
    if (const Json* since = r.member(item, "established_since", Json::Kind::number))
        h.counters.established_since = since->number();
    h.counters.flaps = static_cast<uint32_t>(r.count(item, "flaps", UINT32_MAX));
    h.counters.messages_in = r.count(item, "messages_in", SIZE_MAX >> 11);
    h.counters.messages_out = r.count(item, "messages_out", SIZE_MAX >> 11);
    h.counters.updates_in = r.count(item, "updates_in", SIZE_MAX >> 11);
    h.counters.updates_out = r.count(item, "updates_out", SIZE_MAX >> 11);
}

constexpr const char* kBfdStates[] = {"admin_down", "down", "init", "up"};

void write_bfd(log::JsonWriter& w, const bfd::HandOver& h) {
    w.begin_object();
    w.key("sessions");
    w.begin_array();
    for (const auto& s : h.sessions) {
        w.begin_object();
        w.field("peer", s.config.peer.to_string());
        w.field("min_tx_us", static_cast<uint64_t>(s.config.timers.min_tx_us));
        w.field("min_rx_us", static_cast<uint64_t>(s.config.timers.min_rx_us));
        w.field("multiplier", static_cast<uint64_t>(s.config.timers.multiplier));
        const auto& f = s.fsm;
        w.field("local_discriminator", static_cast<uint64_t>(f.local_discr));
        w.field("remote_discriminator", static_cast<uint64_t>(f.remote_discr));
        w.field("state", kBfdStates[static_cast<size_t>(f.state) & 3]);
        w.field("remote_state", kBfdStates[static_cast<size_t>(f.remote_state) & 3]);
        w.field("diag", static_cast<uint64_t>(f.diag));
        w.field("remote_multiplier", static_cast<uint64_t>(f.remote_mult));
        w.field("remote_min_rx_us", static_cast<uint64_t>(f.remote_min_rx));
        w.field("remote_min_tx_us", static_cast<uint64_t>(f.remote_min_tx));
        w.field("tx_in_use_us", static_cast<uint64_t>(f.tx_in_use));
        w.field("rx_in_use_us", static_cast<uint64_t>(f.rx_in_use));
        w.field("polling", f.polling);
        w.field("source_port", static_cast<uint64_t>(s.source_port));
        w.field("state_since", s.state_since);
        w.field("packets_in", s.packets_in);
        w.field("packets_out", s.packets_out);
        w.field("flaps", static_cast<uint64_t>(s.flaps));
        w.end_object();
    }
    w.end_array();
    w.key("receivers");
    w.begin_array();
    for (const auto& r : h.receivers)
        w.value(r.valid());
    w.end_array();
    w.end_object();
}

bfd::State bfd_state(Reader& r, const Json& obj, const char* key) {
    std::string text = r.text(obj, key);
    for (size_t i = 0; i < 4; ++i)
        if (text == kBfdStates[i]) return static_cast<bfd::State>(i);
    r.fail(std::string("\"") + key + "\" is not a BFD state");
    return bfd::State::down;
}

void read_bfd(const Json& doc, Reader& r, bfd::HandOver& h, std::vector<bool>& receivers) {
    if (const Json* list = r.member(doc, "sessions", Json::Kind::array)) {
        for (const auto& item : list->items()) {
            if (!item.is(Json::Kind::object)) {
                r.fail("a BFD session that is not an object");
                return;
            }
            bfd::SessionHandOver s;
            auto peer = net::IpAddress::parse(r.text(item, "peer"));
            if (!peer) r.fail("a BFD peer that is not an address");
            s.config.peer = peer.value_or(net::IpAddress{});
            s.config.timers.min_tx_us =
                static_cast<uint32_t>(r.count(item, "min_tx_us", UINT32_MAX));
            s.config.timers.min_rx_us =
                static_cast<uint32_t>(r.count(item, "min_rx_us", UINT32_MAX));
            s.config.timers.multiplier = static_cast<uint8_t>(r.count(item, "multiplier", 255));
            auto& f = s.fsm;
            f.local_discr = static_cast<uint32_t>(r.count(item, "local_discriminator", UINT32_MAX));
            f.remote_discr =
                static_cast<uint32_t>(r.count(item, "remote_discriminator", UINT32_MAX));
            f.state = bfd_state(r, item, "state");
            f.remote_state = bfd_state(r, item, "remote_state");
            f.diag = static_cast<bfd::Diag>(r.count(item, "diag", 31));
            f.remote_mult = static_cast<uint8_t>(r.count(item, "remote_multiplier", 255));
            f.remote_min_rx = static_cast<uint32_t>(r.count(item, "remote_min_rx_us", UINT32_MAX));
            f.remote_min_tx = static_cast<uint32_t>(r.count(item, "remote_min_tx_us", UINT32_MAX));
            f.tx_in_use = static_cast<uint32_t>(r.count(item, "tx_in_use_us", UINT32_MAX));
            f.rx_in_use = static_cast<uint32_t>(r.count(item, "rx_in_use_us", UINT32_MAX));
            f.polling = r.flag(item, "polling");
            s.source_port = static_cast<uint16_t>(r.count(item, "source_port", 65535));
            if (const Json* since = r.member(item, "state_since", Json::Kind::number))
                s.state_since = since->number();
            s.packets_in = r.count(item, "packets_in", SIZE_MAX >> 11);
            s.packets_out = r.count(item, "packets_out", SIZE_MAX >> 11);
            s.flaps = static_cast<uint32_t>(r.count(item, "flaps", UINT32_MAX));
            h.sessions.push_back(std::move(s));
        }
    }
    if (const Json* list = r.member(doc, "receivers", Json::Kind::array)) {
        if (list->items().size() != 2) r.fail("\"receivers\" is not two flags");
        for (const auto& item : list->items())
            receivers.push_back(item.is(Json::Kind::boolean) && item.boolean());
    }
}

void read_state(const Json& doc, Reader& r, State& state) {
    state.pid = static_cast<int>(r.count(doc, "pid", INT32_MAX));
    size_t total = r.count(doc, "fds", kMaxFds);
    if (const Json* list = r.member(doc, "listeners", Json::Kind::array)) {
        for (const auto& item : list->items()) {
            if (!item.is(Json::Kind::object)) {
                r.fail("a listener that is not an object");
                return;
            }
            ListenerGroup g{r.text(item, "service"), r.address(item, "address"),
                            r.count(item, "fds", 1024)};
            if (g.fds == 0) r.fail("a listener without sockets");
            state.listeners.push_back(std::move(g));
        }
    }
    if (const Json* admin = doc.find("admin"); admin && !admin->is(Json::Kind::null)) {
        if (admin->is(Json::Kind::string))
            state.admin = r.address(doc, "admin");
        else
            r.fail("\"admin\" of the wrong type");
    }
    if (const Json* list = r.member(doc, "backends", Json::Kind::array)) {
        for (const auto& item : list->items()) {
            if (!item.is(Json::Kind::object)) {
                r.fail("a backend that is not an object");
                return;
            }
            state.backends.push_back({r.text(item, "service"), r.text(item, "name"),
                                      r.address(item, "address"), r.flag(item, "up"),
                                      r.flag(item, "checked"), r.flag(item, "drained"),
                                      r.text(item, "reason")});
        }
    }
    if (r.ok() && total != state.fd_count())
        r.fail("the state announces " + std::to_string(total) + " descriptors but lists " +
               std::to_string(state.fd_count()));
}

}  // namespace

size_t State::fd_count() const {
    size_t n = admin ? 1 : 0;
    for (const auto& g : listeners)
        n += g.fds;
    return n;
}

std::string encode_hello(int pid) {
    auto w = begin(MessageType::hello);
    w.key("pid");
    w.value(static_cast<int64_t>(pid));
    return finish(w);
}

std::string encode_refused(std::string_view reason) {
    return with_reason(MessageType::refused, reason);
}

std::string encode_state(const State& state) {
    auto w = begin(MessageType::state);
    w.key("pid");
    w.value(static_cast<int64_t>(state.pid));
    w.key("fds");
    w.value(static_cast<uint64_t>(state.fd_count()));
    w.key("listeners");
    w.begin_array();
    for (const auto& g : state.listeners) {
        w.begin_object();
        w.key("service");
        w.value(g.service);
        w.key("address");
        w.value(g.address.to_string());
        w.key("fds");
        w.value(static_cast<uint64_t>(g.fds));
        w.end_object();
    }
    w.end_array();
    w.key("admin");
    if (state.admin)
        w.value(state.admin->to_string());
    else
        w.null();
    w.key("backends");
    w.begin_array();
    for (const auto& b : state.backends) {
        w.begin_object();
        w.key("service");
        w.value(b.service);
        w.key("name");
        w.value(b.name);
        w.key("address");
        w.value(b.address.to_string());
        w.key("up");
        w.value(b.up);
        w.key("checked");
        w.value(b.checked);
        w.key("drained");
        w.value(b.drained);
        w.key("reason");
        w.value(b.reason);
        w.end_object();
    }
    w.end_array();
    return finish(w);
}

std::string encode_fds(size_t count) {
    auto w = begin(MessageType::fds);
    w.key("count");
    w.value(static_cast<uint64_t>(count));
    return finish(w);
}

std::string encode_ready() {
    auto w = begin(MessageType::ready);
    return finish(w);
}

std::string encode_abort(std::string_view reason) {
    return with_reason(MessageType::abort, reason);
}

std::string encode_committed(int pid, const bgp::SpeakerHandOver& speaker) {
    auto w = begin(MessageType::committed);
    w.key("pid");
    w.value(static_cast<int64_t>(pid));
    w.key("bgp");
    w.begin_array();
    for (const auto& h : speaker.sessions)
        write_session(w, h);
    w.end_array();
    w.key("bfd");
    write_bfd(w, speaker.bfd);
    return finish(w);
}

std::string encode_client(const Client& client) {
    auto w = begin(MessageType::client);
    w.field("service", client.service);
    w.field("peer", client.peer.to_string());
    w.field("listen_port", static_cast<uint64_t>(client.listen_port));
    return finish(w);
}

std::vector<int> speaker_fds(const bgp::SpeakerHandOver& speaker) {
    std::vector<int> out;
    for (const auto& s : speaker.sessions)
        out.push_back(s.fd.get());
    for (const auto& s : speaker.bfd.sessions)
        out.push_back(s.fd.get());
    for (const auto& r : speaker.bfd.receivers)
        if (r) out.push_back(r.get());
    return out;
}

size_t committed_fd_count(const Message& m) {
    return m.speaker.sessions.size() + m.speaker.bfd.sessions.size() + m.bfd_receivers[0] +
           m.bfd_receivers[1];
}

bool attach_fds(Message& m, std::vector<net::Fd>& fds) {
    if (fds.size() != committed_fd_count(m)) return false;
    size_t i = 0;
    for (auto& s : m.speaker.sessions)
        s.fd = std::move(fds[i++]);
    for (auto& s : m.speaker.bfd.sessions)
        s.fd = std::move(fds[i++]);
    for (size_t r = 0; r < 2; ++r)
        if (m.bfd_receivers[r]) m.speaker.bfd.receivers[r] = std::move(fds[i++]);
    return true;
}

std::optional<Message> decode(std::string_view json, std::string& error) {
    auto doc = Json::parse(json, error, kMaxFrameBytes);
    if (!doc) return std::nullopt;
    if (!doc->is(Json::Kind::object)) {
        error = "a message that is not a JSON object";
        return std::nullopt;
    }
    Reader r(error);
    const Json* version = doc->find("version");
    if (!version || !version->is(Json::Kind::number)) {
        error = "a message without a protocol version";
        return std::nullopt;
    }
    if (version->number() != kProtocolVersion) {
        error = "protocol version " + std::to_string(static_cast<long long>(version->number())) +
                ", this process speaks version " + std::to_string(kProtocolVersion);
        return std::nullopt;
    }
    std::string type = r.text(*doc, "type");
    Message m;
    bool known = false;
    for (const auto& [t, name] : kTypes)
        if (type == name) m.type = t, known = true;
    if (!r.ok()) return std::nullopt;
    if (!known) {
        error = "an unknown message \"" + type + "\"";
        return std::nullopt;
    }
    switch (m.type) {
        case MessageType::hello:
            m.pid = static_cast<int>(r.count(*doc, "pid", INT32_MAX));
            break;
        case MessageType::committed:
            m.pid = static_cast<int>(r.count(*doc, "pid", INT32_MAX));
            if (const Json* list = r.member(*doc, "bgp", Json::Kind::array)) {
                for (const auto& item : list->items()) {
                    if (!item.is(Json::Kind::object)) {
                        r.fail("a BGP session that is not an object");
                        break;
                    }
                    m.speaker.sessions.emplace_back();
                    read_session(item, r, m.speaker.sessions.back());
                }
            }
            if (const Json* bfd = r.member(*doc, "bfd", Json::Kind::object)) {
                std::vector<bool> receivers;
                read_bfd(*bfd, r, m.speaker.bfd, receivers);
                for (size_t i = 0; i < receivers.size() && i < 2; ++i)
                    m.bfd_receivers[i] = receivers[i];
            }
            break;
        case MessageType::refused:
        case MessageType::abort:
            m.reason = r.text(*doc, "reason");
            break;
        case MessageType::fds:
            m.fds = r.count(*doc, "count", kMaxFds);
            break;
        case MessageType::state:
            read_state(*doc, r, m.state);
            break;
        case MessageType::client:
            m.client.service = r.text(*doc, "service");
            m.client.peer = r.address(*doc, "peer");
            m.client.listen_port = static_cast<uint16_t>(r.count(*doc, "listen_port", 65535));
            break;
        case MessageType::ready:
            break;
    }
    if (!r.ok()) return std::nullopt;
    return m;
}

}  // namespace clb::upgrade
