#include "contrail_lb/bgp/wire.hpp"

#include "contrail_lb/net/byte_order.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace clb::bgp::wire {

namespace {

// ---------------------------------------------------------------------------------------------
// Bounds-checked reading and plain writing.

class Reader {
  public:
    explicit Reader(std::span<const uint8_t> data) : data_(data) {}
    size_t remaining() const { return data_.size() - pos_; }
    bool empty() const { return remaining() == 0; }

    bool u8(uint8_t& v) {
        if (remaining() < 1) return false;
        v = data_[pos_++];
        return true;
    }
    bool u16(uint16_t& v) {
        if (remaining() < 2) return false;
        v = net::load_be16(&data_[pos_]);
        pos_ += 2;
        return true;
    }
    bool u32(uint32_t& v) {
        if (remaining() < 4) return false;
        v = net::load_be32(&data_[pos_]);
        pos_ += 4;
        return true;
    }
    bool bytes(size_t n, std::span<const uint8_t>& out) {
        if (remaining() < n) return false;
        out = data_.subspan(pos_, n);
        pos_ += n;
        return true;
    }
    std::span<const uint8_t> rest() const { return data_.subspan(pos_); }

  private:
    std::span<const uint8_t> data_;
    size_t pos_ = 0;
};

class Writer {
  public:
    explicit Writer(std::vector<uint8_t>& out) : out_(out) {}
    void u8(uint8_t v) { out_.push_back(v); }
    void u16(uint16_t v) { net::store_be16(grow(2), v); }
    void u32(uint32_t v) { net::store_be32(grow(4), v); }
    void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
    size_t size() const { return out_.size(); }
    // Writes a 2-byte big-endian value at `at` (a length known only afterwards).
    void patch16(size_t at, size_t value) {
        net::store_be16(&out_[at], static_cast<uint16_t>(value));
    }

  private:
    uint8_t* grow(size_t n) {
        out_.resize(out_.size() + n);
        return &out_[out_.size() - n];
    }

    std::vector<uint8_t>& out_;
};

Notification notification(uint8_t code, uint8_t subcode, std::vector<uint8_t> data = {}) {
    return Notification{code, subcode, std::move(data)};
}

std::vector<uint8_t> u16_data(uint16_t v) {
    std::vector<uint8_t> out(2);
    net::store_be16(out.data(), v);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Prefixes: one length octet, then just enough octets to hold it (RFC 4271 §4.3).

void write_prefix(Writer& w, const net::IpPrefix& p) {
    w.u8(p.length);
    w.bytes({p.address.bytes(), (p.length + 7u) / 8u});
}

// False when the length exceeds the family or the prefix runs past the field.
bool read_prefixes(Reader& r, uint16_t afi, std::vector<net::IpPrefix>& out) {
    const unsigned max_len = afi == kAfiIpv4 ? 32 : 128;
    while (!r.empty()) {
        uint8_t len = 0;
        std::span<const uint8_t> bits;
        if (!r.u8(len) || len > max_len || !r.bytes((len + 7u) / 8u, bits)) return false;
        std::array<uint8_t, 16> raw{};
        std::copy(bits.begin(), bits.end(), raw.begin());
        if (len % 8) raw[len / 8] &= static_cast<uint8_t>(0xFF00 >> (len % 8));  // drop host bits
        net::IpPrefix prefix;
        if (afi == kAfiIpv4) {
            in_addr a{};
            std::memcpy(&a, raw.data(), 4);
            prefix.address = net::IpAddress::v4(a);
        } else {
            in6_addr a{};
            std::memcpy(&a, raw.data(), 16);
            prefix.address = net::IpAddress::v6(a);
        }
        prefix.length = len;
        out.push_back(prefix);
    }
    return true;
}

net::IpAddress ip_from_bytes(std::span<const uint8_t> b) {
    if (b.size() == 4) {
        in_addr a{};
        std::memcpy(&a, b.data(), 4);
        return net::IpAddress::v4(a);
    }
    in6_addr a{};
    std::memcpy(&a, b.data(), 16);
    return net::IpAddress::v6(a);
}

// ---------------------------------------------------------------------------------------------
// Encoding.

void write_header(Writer& w, MessageType type) {
    for (int i = 0; i < 16; ++i)
        w.u8(0xFF);
    w.u16(0);  // patched by finish()
    w.u8(static_cast<uint8_t>(type));
}

void finish(std::vector<uint8_t>& out) {
    Writer(out).patch16(16, out.size());
}

void write_capability(Writer& w, uint8_t code, std::span<const uint8_t> value) {
    w.u8(code);
    w.u8(static_cast<uint8_t>(value.size()));
    w.bytes(value);
}

void encode_open(Writer& w, const Open& open) {
    w.u8(open.version);
    w.u16(open.my_as);
    w.u16(open.hold_time);
    w.u32(open.bgp_identifier);
    // One Capabilities optional parameter holding them all (RFC 5492 allows either way).
    std::vector<uint8_t> caps;
    Writer c(caps);
    for (const auto& af : open.capabilities.multiprotocol) {
        const uint8_t v[] = {static_cast<uint8_t>(af.afi >> 8), static_cast<uint8_t>(af.afi), 0,
                             af.safi};
        write_capability(c, 1, v);
    }
    if (open.capabilities.route_refresh) write_capability(c, 2, {});
    if (open.capabilities.four_octet_as) {
        std::vector<uint8_t> v;
        Writer(v).u32(*open.capabilities.four_octet_as);
        write_capability(c, 65, v);
    }
    for (uint8_t code : open.capabilities.unknown)
        write_capability(c, code, {});
    if (caps.empty()) {
        w.u8(0);
        return;
    }
    // A handful of capabilities: far below the 255 octets a parameter can hold.
    w.u8(static_cast<uint8_t>(caps.size() + 2));
    w.u8(2);
    w.u8(static_cast<uint8_t>(caps.size()));
    w.bytes(caps);
}

void write_attribute(Writer& w, uint8_t flags, uint8_t type, std::span<const uint8_t> value) {
    if (value.size() > 255) flags |= attr::kFlagExtendedLength;
    w.u8(flags);
    w.u8(type);
    if (flags & attr::kFlagExtendedLength)
        w.u16(static_cast<uint16_t>(value.size()));
    else
        w.u8(static_cast<uint8_t>(value.size()));
    w.bytes(value);
}

std::vector<uint8_t> as_path_value(const AsPath& path, bool four_octet) {
    std::vector<uint8_t> v;
    Writer w(v);
    for (const auto& seg : path) {
        // A segment holds 1 to 255 ASNs: longer ones are split, empty ones not sent.
        for (size_t i = 0; i < seg.asns.size(); i += 255) {
            const size_t n = std::min<size_t>(255, seg.asns.size() - i);
            w.u8(seg.type);
            w.u8(static_cast<uint8_t>(n));
            for (size_t j = i; j < i + n; ++j) {
                if (four_octet)
                    w.u32(seg.asns[j]);
                else
                    w.u16(seg.asns[j] > 0xFFFF ? kAsTrans : static_cast<uint16_t>(seg.asns[j]));
            }
        }
    }
    return v;
}

bool needs_as4_path(const AsPath& path) {
    for (const auto& seg : path)
        for (uint32_t as : seg.asns)
            if (as > 0xFFFF) return true;
    return false;
}

std::vector<uint8_t> u32_value(uint32_t x) {
    std::vector<uint8_t> v;
    Writer(v).u32(x);
    return v;
}

void encode_attributes(Writer& w, const PathAttributes& a, const SessionOptions& options) {
    constexpr uint8_t kWellKnown = attr::kFlagTransitive;
    constexpr uint8_t kOptionalTransitive = attr::kFlagOptional | attr::kFlagTransitive;
    constexpr uint8_t kOptionalNonTransitive = attr::kFlagOptional;
    if (a.origin) {
        const uint8_t v = static_cast<uint8_t>(*a.origin);
        write_attribute(w, kWellKnown, attr::kOrigin, {&v, 1});
    }
    if (a.as_path) {
        write_attribute(w, kWellKnown, attr::kAsPath,
                        as_path_value(*a.as_path, options.four_octet_as));
    }
    if (a.next_hop) write_attribute(w, kWellKnown, attr::kNextHop, {a.next_hop->bytes(), 4});
    if (a.med) write_attribute(w, kOptionalNonTransitive, attr::kMultiExitDisc, u32_value(*a.med));
    if (a.local_pref) write_attribute(w, kWellKnown, attr::kLocalPref, u32_value(*a.local_pref));
    if (!a.communities.empty()) {
        std::vector<uint8_t> v;
        Writer cw(v);
        for (uint32_t c : a.communities)
            cw.u32(c);
        write_attribute(w, kOptionalTransitive, attr::kCommunities, v);
    }
    if (a.mp_reach) {
        std::vector<uint8_t> v;
        Writer mw(v);
        mw.u16(a.mp_reach->family.afi);
        mw.u8(a.mp_reach->family.safi);
        size_t nh_len = 0;
        for (const auto& nh : a.mp_reach->next_hops)
            nh_len += nh.size();
        mw.u8(static_cast<uint8_t>(nh_len));
        for (const auto& nh : a.mp_reach->next_hops)
            mw.bytes({nh.bytes(), nh.size()});
        mw.u8(0);  // reserved
        for (const auto& p : a.mp_reach->nlri)
            write_prefix(mw, p);
        write_attribute(w, kOptionalNonTransitive, attr::kMpReachNlri, v);
    }
    if (a.mp_unreach) {
        std::vector<uint8_t> v;
        Writer mw(v);
        mw.u16(a.mp_unreach->family.afi);
        mw.u8(a.mp_unreach->family.safi);
        for (const auto& p : a.mp_unreach->withdrawn)
            write_prefix(mw, p);
        write_attribute(w, kOptionalNonTransitive, attr::kMpUnreachNlri, v);
    }
    if (a.as_path && !options.four_octet_as && needs_as4_path(*a.as_path)) {
        write_attribute(w, kOptionalTransitive, attr::kAs4Path, as_path_value(*a.as_path, true));
    }
}

void encode_update(Writer& w, const Update& u, const SessionOptions& options) {
    const size_t withdrawn_at = w.size();
    w.u16(0);
    for (const auto& p : u.withdrawn)
        write_prefix(w, p);
    w.patch16(withdrawn_at, w.size() - withdrawn_at - 2);
    const size_t attrs_at = w.size();
    w.u16(0);
    encode_attributes(w, u.attributes, options);
    w.patch16(attrs_at, w.size() - attrs_at - 2);
    for (const auto& p : u.nlri)
        write_prefix(w, p);
}

// ---------------------------------------------------------------------------------------------
// Decoding OPEN.

Decoded open_error(uint8_t subcode, std::vector<uint8_t> data = {}) {
    return Decoded{std::nullopt, notification(err::kOpen, subcode, std::move(data))};
}

// False: malformed capability (OPEN Message Error, unspecific subcode).
bool decode_capabilities(Reader r, Capabilities& caps) {
    while (!r.empty()) {
        uint8_t code = 0, len = 0;
        std::span<const uint8_t> value;
        if (!r.u8(code) || !r.u8(len) || !r.bytes(len, value)) return false;
        Reader v(value);
        switch (code) {
            case 1: {
                AddressFamily af;
                uint8_t reserved = 0;
                if (len != 4 || !v.u16(af.afi) || !v.u8(reserved) || !v.u8(af.safi)) return false;
                if (std::find(caps.multiprotocol.begin(), caps.multiprotocol.end(), af) ==
                    caps.multiprotocol.end())
                    caps.multiprotocol.push_back(af);
                break;
            }
            case 2:
                if (len != 0) return false;
                caps.route_refresh = true;
                break;
            case 65: {
                uint32_t as = 0;
                if (len != 4 || !v.u32(as)) return false;
                caps.four_octet_as = as;
                break;
            }
            default:
                caps.unknown.push_back(code);
                break;
        }
    }
    return true;
}

Decoded decode_open(Reader r) {
    Open open;
    uint8_t opt_len = 0;
    if (!r.u8(open.version)) return open_error(0);
    // Checked first: a different version may lay out the rest differently.
    if (open.version != kVersion) return open_error(err::kUnsupportedVersion, u16_data(kVersion));
    if (!r.u16(open.my_as) || !r.u16(open.hold_time) || !r.u32(open.bgp_identifier) ||
        !r.u8(opt_len) || opt_len != r.remaining())
        return open_error(0);
    if (open.hold_time == 1 || open.hold_time == 2) return open_error(err::kUnacceptableHoldTime);
    if (open.bgp_identifier == 0) return open_error(err::kBadBgpIdentifier);
    while (!r.empty()) {
        uint8_t type = 0, len = 0;
        std::span<const uint8_t> value;
        if (!r.u8(type) || !r.u8(len) || !r.bytes(len, value)) return open_error(0);
        if (type != 2) return open_error(err::kUnsupportedOptionalParameter);
        if (!decode_capabilities(Reader(value), open.capabilities)) return open_error(0);
    }
    return Decoded{Message{std::move(open)}, std::nullopt};
}

// ---------------------------------------------------------------------------------------------
// Decoding UPDATE. Error handling follows RFC 7606: errors that leave the message's framing
// intact make the UPDATE "treat-as-withdraw" (or drop just the attribute); errors that make
// the NLRI unreliable reset the session.

Decoded update_error(uint8_t subcode, std::vector<uint8_t> data = {}) {
    return Decoded{std::nullopt, notification(err::kUpdate, subcode, std::move(data))};
}

struct AttributeContext {
    const SessionOptions& options;
    Update& update;
    std::optional<Notification> error;  // session reset

    void withdraw(std::string why) {
        if (!update.treat_as_withdraw) update.malformation = std::move(why);
        update.treat_as_withdraw = true;
    }
};

bool decode_as_path(std::span<const uint8_t> value, bool four_octet, AsPath& out) {
    Reader r(value);
    const size_t width = four_octet ? 4 : 2;
    while (!r.empty()) {
        AsPathSegment seg;
        uint8_t count = 0;
        if (!r.u8(seg.type) || !r.u8(count)) return false;
        // RFC 5065 confederation types 3 and 4 are valid on the wire too.
        if (seg.type < 1 || seg.type > 4 || count == 0) return false;
        if (r.remaining() < count * width) return false;
        seg.asns.reserve(count);
        for (unsigned i = 0; i < count; ++i) {
            uint32_t as = 0;
            uint16_t as16 = 0;
            if (four_octet ? !r.u32(as) : !r.u16(as16)) return false;
            seg.asns.push_back(four_octet ? as : as16);
        }
        out.push_back(std::move(seg));
    }
    return true;
}

// False when malformed: RFC 7606 §7.11 resets the session (the NLRI inside cannot be trusted).
bool decode_mp_reach(std::span<const uint8_t> value, MpReach& out) {
    Reader r(value);
    uint8_t nh_len = 0, reserved = 0;
    std::span<const uint8_t> nh;
    if (!r.u16(out.family.afi) || !r.u8(out.family.safi) || !r.u8(nh_len) || !r.bytes(nh_len, nh) ||
        !r.u8(reserved))
        return false;
    if (out.family.safi != kSafiUnicast ||
        (out.family.afi != kAfiIpv4 && out.family.afi != kAfiIpv6))
        return true;  // a family we never negotiated: nothing to validate, ignored
    if (out.family.afi == kAfiIpv4 && nh_len == 4) {
        out.next_hops.push_back(ip_from_bytes(nh));
    } else if (nh_len == 16 || nh_len == 32) {  // IPv6 (or RFC 8950 IPv6 next hop for IPv4)
        out.next_hops.push_back(ip_from_bytes(nh.subspan(0, 16)));
        if (nh_len == 32) out.next_hops.push_back(ip_from_bytes(nh.subspan(16, 16)));
    } else {
        return false;
    }
    return read_prefixes(r, out.family.afi, out.nlri);
}

bool decode_mp_unreach(std::span<const uint8_t> value, MpUnreach& out) {
    Reader r(value);
    if (!r.u16(out.family.afi) || !r.u8(out.family.safi)) return false;
    if (out.family.safi != kSafiUnicast ||
        (out.family.afi != kAfiIpv4 && out.family.afi != kAfiIpv6))
        return true;
    return read_prefixes(r, out.family.afi, out.withdrawn);
}

bool read_u32(std::span<const uint8_t> value, uint32_t& out) {
    Reader r(value);
    return value.size() == 4 && r.u32(out);
}

// The expected Optional bit of the attributes we know; nullopt for the rest.
std::optional<bool> known_optional_flag(uint8_t type) {
    switch (type) {
        case attr::kOrigin:
        case attr::kAsPath:
        case attr::kNextHop:
        case attr::kLocalPref:
        case attr::kAtomicAggregate:
            return false;
        case attr::kMultiExitDisc:
        case attr::kAggregator:
        case attr::kCommunities:
        case attr::kMpReachNlri:
        case attr::kMpUnreachNlri:
        case attr::kAs4Path:
        case attr::kAs4Aggregator:
            return true;
        default:
            return std::nullopt;
    }
}

void decode_attribute(AttributeContext& ctx, uint8_t flags, uint8_t type,
                      std::span<const uint8_t> value, std::span<const uint8_t> whole) {
    PathAttributes& a = ctx.update.attributes;
    const bool is_mp = type == attr::kMpReachNlri || type == attr::kMpUnreachNlri;
    if (auto optional = known_optional_flag(type)) {
        if (bool(flags & attr::kFlagOptional) != *optional) {
            if (is_mp)
                ctx.error = notification(err::kUpdate, err::kAttributeFlagsError,
                                         {whole.begin(), whole.end()});
            else
                ctx.withdraw("attribute " + std::to_string(type) + " has wrong flags");
            return;
        }
    }
    switch (type) {
        case attr::kOrigin:
            if (value.size() != 1 || value[0] > 2)
                ctx.withdraw("bad ORIGIN");
            else
                a.origin = static_cast<Origin>(value[0]);
            return;
        case attr::kAsPath: {
            AsPath path;
            if (!decode_as_path(value, ctx.options.four_octet_as, path))
                ctx.withdraw("malformed AS_PATH");
            else
                a.as_path = std::move(path);
            return;
        }
        case attr::kNextHop:
            if (value.size() != 4)
                ctx.withdraw("bad NEXT_HOP length");
            else
                a.next_hop = ip_from_bytes(value);
            return;
        case attr::kMultiExitDisc: {
            uint32_t v = 0;
            if (!read_u32(value, v))
                ctx.withdraw("bad MULTI_EXIT_DISC length");
            else
                a.med = v;
            return;
        }
        case attr::kLocalPref: {
            uint32_t v = 0;
            if (!ctx.options.ibgp) return;  // RFC 7606 §7.5: discarded from eBGP peers
            if (!read_u32(value, v))
                ctx.withdraw("bad LOCAL_PREF length");
            else
                a.local_pref = v;
            return;
        }
        case attr::kCommunities: {
            if (value.empty() || value.size() % 4) {
                ctx.withdraw("bad COMMUNITIES length");
                return;
            }
            Reader r(value);
            uint32_t c = 0;
            while (r.u32(c))
                a.communities.push_back(c);
            return;
        }
        case attr::kMpReachNlri: {
            MpReach mp;
            if (!decode_mp_reach(value, mp))
                ctx.error = notification(err::kUpdate, err::kOptionalAttributeError,
                                         {whole.begin(), whole.end()});
            else
                a.mp_reach = std::move(mp);
            return;
        }
        case attr::kMpUnreachNlri: {
            MpUnreach mp;
            if (!decode_mp_unreach(value, mp))
                ctx.error = notification(err::kUpdate, err::kOptionalAttributeError,
                                         {whole.begin(), whole.end()});
            else
                a.mp_unreach = std::move(mp);
            return;
        }
        case attr::kAtomicAggregate:
        case attr::kAggregator:
        case attr::kAs4Path:
        case attr::kAs4Aggregator:
            return;  // informational; a malformed one is discarded (RFC 7606 §7.6-7.8)
        default:
            // An attribute we do not know that claims to be well-known (RFC 4271 §6.3).
            if (!(flags & attr::kFlagOptional))
                ctx.error = notification(err::kUpdate, err::kUnrecognizedWellKnownAttribute,
                                         {whole.begin(), whole.end()});
            return;  // unknown optional attributes are ignored: we do not pass routes on
    }
}

// Walks the path attributes; stops at the first session-resetting error.
void decode_attributes(AttributeContext& ctx, std::span<const uint8_t> attrs) {
    Reader r(attrs);
    std::array<bool, 256> seen{};
    while (!r.empty() && !ctx.error) {
        const auto start = r.rest();
        uint8_t flags = 0, type = 0;
        uint16_t len = 0;
        uint8_t len8 = 0;
        std::span<const uint8_t> value;
        const bool header_ok =
            r.u8(flags) && r.u8(type) &&
            ((flags & attr::kFlagExtendedLength) ? r.u16(len) : (r.u8(len8) && (len = len8, true)));
        if (!header_ok || !r.bytes(len, value)) {
            // RFC 7606 §4: an attribute overrunning the attribute field is a framing error;
            // the NLRI field is still delimited by the Total Path Attribute Length.
            ctx.withdraw("path attribute runs past the attribute field");
            return;
        }
        const auto whole = start.first(start.size() - r.remaining());
        if (seen[type]) {
            // RFC 7606 §3(g): repeated MP_(UN)REACH is fatal, other repeats are dropped.
            if (type == attr::kMpReachNlri || type == attr::kMpUnreachNlri)
                ctx.error = notification(err::kUpdate, err::kMalformedAttributeList);
            continue;
        }
        seen[type] = true;
        decode_attribute(ctx, flags, type, value, whole);
    }
}

void check_mandatory(AttributeContext& ctx) {
    const Update& u = ctx.update;
    const PathAttributes& a = u.attributes;
    const bool body_nlri = !u.nlri.empty();
    const bool mp_nlri = a.mp_reach && !a.mp_reach->nlri.empty();
    if (!body_nlri && !mp_nlri) return;  // withdraw-only or End-of-RIB: nothing is mandatory
    // RFC 7606 §3(d): a missing well-known mandatory attribute is treat-as-withdraw.
    if (!a.origin) ctx.withdraw("missing ORIGIN");
    if (!a.as_path) ctx.withdraw("missing AS_PATH");
    if (body_nlri && !a.next_hop) ctx.withdraw("missing NEXT_HOP");
    if (ctx.options.ibgp && !a.local_pref) ctx.withdraw("missing LOCAL_PREF");
}

Decoded decode_update(Reader r, const SessionOptions& options) {
    Update update;
    uint16_t withdrawn_len = 0, attrs_len = 0;
    std::span<const uint8_t> withdrawn, attrs;
    // RFC 4271 §6.3: lengths that do not fit the message are a Malformed Attribute List.
    if (!r.u16(withdrawn_len) || !r.bytes(withdrawn_len, withdrawn) || !r.u16(attrs_len) ||
        !r.bytes(attrs_len, attrs))
        return update_error(err::kMalformedAttributeList);
    Reader wr(withdrawn);
    if (!read_prefixes(wr, kAfiIpv4, update.withdrawn))
        return update_error(err::kInvalidNetworkField);
    Reader nr(r.rest());
    if (!read_prefixes(nr, kAfiIpv4, update.nlri)) return update_error(err::kInvalidNetworkField);
    AttributeContext ctx{options, update, std::nullopt};
    decode_attributes(ctx, attrs);
    if (ctx.error) return Decoded{std::nullopt, std::move(ctx.error)};
    check_mandatory(ctx);
    return Decoded{Message{std::move(update)}, std::nullopt};
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string describe(uint8_t code, uint8_t subcode) {
    static constexpr const char* kHeaderSub[] = {"Unspecific", "Connection Not Synchronized",
                                                 "Bad Message Length", "Bad Message Type"};
    static constexpr const char* kOpenSub[] = {"Unspecific",
                                               "Unsupported Version Number",
                                               "Bad Peer AS",
                                               "Bad BGP Identifier",
                                               "Unsupported Optional Parameter",
                                               "Authentication Failure",
                                               "Unacceptable Hold Time",
                                               "Unsupported Capability"};
    static constexpr const char* kUpdateSub[] = {"Unspecific",
                                                 "Malformed Attribute List",
                                                 "Unrecognized Well-known Attribute",
                                                 "Missing Well-known Attribute",
                                                 "Attribute Flags Error",
                                                 "Attribute Length Error",
                                                 "Invalid ORIGIN Attribute",
                                                 "AS Routing Loop",
                                                 "Invalid NEXT_HOP Attribute",
                                                 "Optional Attribute Error",
                                                 "Invalid Network Field",
                                                 "Malformed AS_PATH"};
    static constexpr const char* kFsmSub[] = {"Unspecific", "Unexpected Message in OpenSent",
                                              "Unexpected Message in OpenConfirm",
                                              "Unexpected Message in Established"};
    static constexpr const char* kCeaseSub[] = {"Unspecific",
                                                "Maximum Number of Prefixes Reached",
                                                "Administrative Shutdown",
                                                "Peer De-configured",
                                                "Administrative Reset",
                                                "Connection Rejected",
                                                "Other Configuration Change",
                                                "Connection Collision Resolution",
                                                "Out of Resources",
                                                "Hard Reset",
                                                "BFD Down"};
    auto pick = [&](const char* name, std::span<const char* const> subs) {
        std::string s = name;
        s += '/';
        s += subcode < subs.size() ? subs[subcode] : "subcode " + std::to_string(subcode);
        return s;
    };
    switch (code) {
        case err::kHeader:
            return pick("Message Header Error", kHeaderSub);
        case err::kOpen:
            return pick("OPEN Message Error", kOpenSub);
        case err::kUpdate:
            return pick("UPDATE Message Error", kUpdateSub);
        case err::kHoldTimerExpired:
            return "Hold Timer Expired";
        case err::kFsm:
            return pick("Finite State Machine Error", kFsmSub);
        case err::kCease:
            return pick("Cease", kCeaseSub);
        default:
            return "error code " + std::to_string(code) + "/" + std::to_string(subcode);
    }
}

std::vector<uint8_t> encode(const Message& message, const SessionOptions& options) {
    std::vector<uint8_t> out;
    out.reserve(64);
    Writer w(out);
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, Open>) {
                write_header(w, MessageType::open);
                encode_open(w, m);
            } else if constexpr (std::is_same_v<T, Update>) {
                write_header(w, MessageType::update);
                encode_update(w, m, options);
            } else if constexpr (std::is_same_v<T, Notification>) {
                write_header(w, MessageType::notification);
                w.u8(m.code);
                w.u8(m.subcode);
                w.bytes(m.data);
            } else if constexpr (std::is_same_v<T, Keepalive>) {
                write_header(w, MessageType::keepalive);
            } else {
                write_header(w, MessageType::route_refresh);
                w.u16(m.family.afi);
                w.u8(0);
                w.u8(m.family.safi);
            }
        },
        message);
    finish(out);
    return out;
}

Frame check_header(std::span<const uint8_t> buffered) {
    Frame frame;
    if (buffered.size() < kHeaderSize) return frame;
    frame.status = Frame::Status::error;
    if (!std::all_of(buffered.begin(), buffered.begin() + 16,
                     [](uint8_t b) { return b == 0xFF; })) {
        frame.error = notification(err::kHeader, err::kConnectionNotSynchronized);
        return frame;
    }
    const size_t length = size_t{buffered[16]} << 8 | buffered[17];
    const uint8_t type = buffered[18];
    if (type < 1 || type > 5) {
        frame.error = notification(err::kHeader, err::kBadMessageType, {type});
        return frame;
    }
    // Per-type bounds (RFC 4271 §6.1, RFC 2918 §3).
    size_t min = kHeaderSize, max = kMaxMessageSize;
    switch (static_cast<MessageType>(type)) {
        case MessageType::open:
            min = 29;
            break;
        case MessageType::update:
            min = 23;
            break;
        case MessageType::notification:
            min = 21;
            break;
        case MessageType::keepalive:
            max = kHeaderSize;
            break;
        case MessageType::route_refresh:
            min = max = 23;
            break;
    }
    if (length < min || length > max) {
        frame.error = notification(err::kHeader, err::kBadMessageLength,
                                   u16_data(static_cast<uint16_t>(length)));
        return frame;
    }
    if (buffered.size() < length) {
        frame.status = Frame::Status::incomplete;
        return frame;
    }
    frame.status = Frame::Status::complete;
    frame.length = length;
    return frame;
}

Decoded decode(std::span<const uint8_t> message, const SessionOptions& options) {
    const Frame frame = check_header(message);
    if (frame.status == Frame::Status::error) return Decoded{std::nullopt, frame.error};
    if (frame.status != Frame::Status::complete || frame.length != message.size())
        return Decoded{std::nullopt, notification(err::kHeader, err::kBadMessageLength)};
    Reader r(message.subspan(kHeaderSize));
    switch (static_cast<MessageType>(message[18])) {
        case MessageType::open:
            return decode_open(r);
        case MessageType::update:
            return decode_update(r, options);
        case MessageType::notification: {
            Notification n;
            r.u8(n.code);
            r.u8(n.subcode);
            n.data.assign(r.rest().begin(), r.rest().end());
            return Decoded{Message{std::move(n)}, std::nullopt};
        }
        case MessageType::keepalive:
            return Decoded{Message{Keepalive{}}, std::nullopt};
        case MessageType::route_refresh: {
            RouteRefresh rr;
            uint8_t reserved = 0;
            r.u16(rr.family.afi);
            r.u8(reserved);
            r.u8(rr.family.safi);
            return Decoded{Message{rr}, std::nullopt};
        }
    }
    return Decoded{std::nullopt, notification(err::kHeader, err::kBadMessageType, {message[18]})};
}

}  // namespace clb::bgp::wire
