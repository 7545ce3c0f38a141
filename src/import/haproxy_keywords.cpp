// The directives of frontend, backend, listen and defaults sections, one handler each.
#include <array>
#include <charconv>

#include "import/drafts.hpp"

namespace clb::import {

namespace {

// What a handler did with its directive.
struct Verdict {
    enum Kind { translated, dropped, untranslated } kind = translated;
    std::string why;
};
Verdict done() {
    return {};
}
Verdict drop(std::string why) {
    return {Verdict::dropped, std::move(why)};
}
Verdict refuse(std::string why) {
    return {Verdict::untranslated, std::move(why)};
}
Verdict not_yet(std::string_view directive) {
    return refuse("not supported yet (" + std::string(pending_feature(directive).key) + ")");
}

using Handler = Verdict (*)(DirectiveContext&);
const std::vector<std::string>& words(DirectiveContext& c) {
    return c.directive.words;
}

std::optional<unsigned> number(const std::string& text, unsigned max) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value > max) return std::nullopt;
    return value;
}

Verdict on_mode(DirectiveContext& c) {
    if (words(c).size() != 2 || (words(c)[1] != "http" && words(c)[1] != "tcp"))
        return refuse("contrail-lb has mode http and tcp");
    c.service.mode = words(c)[1];
    return done();
}

Verdict on_balance(DirectiveContext& c) {
    static const std::array<std::pair<std::string_view, std::string_view>, 4> kAlgorithms = {
        {{"roundrobin", "roundrobin"},
         {"leastconn", "leastconn"},
         {"source", "source"},
         {"random", "random2"}}};
    if (words(c).size() < 2) return refuse("no algorithm");
    std::string algorithm = words(c)[1];
    if (algorithm.starts_with("random(")) algorithm = algorithm == "random(2)" ? "random" : "";
    for (auto [haproxy, ours] : kAlgorithms) {
        if (algorithm == haproxy && words(c).size() == 2) {
            c.service.balance = std::string(ours);
            c.service.balance_origin = c.origin;
            return done();
        }
    }
    return refuse("contrail-lb balances with roundrobin, leastconn, random2, source, maglev");
}

Verdict on_hash_type(DirectiveContext& c) {
    if (words(c).size() < 2 || (words(c)[1] != "consistent" && words(c)[1] != "map-based"))
        return refuse("only map-based and consistent have an equivalent");
    if (words(c).size() > 2) return refuse("contrail-lb chooses its own hash function");
    c.service.hash_type = words(c)[1];
    return done();
}

Verdict on_timeout(DirectiveContext& c) {
    static const std::array<std::pair<std::string_view, std::string_view>, 8> kKeys = {
        {{"connect", "connect"},
         {"client", "client"},
         {"server", "server"},
         {"http-request", "http_request"},
         {"http-keep-alive", "keep_alive"},
         {"queue", "queue"},
         {"check", ""},
         {"tunnel", ""}}};
    if (words(c).size() != 3) return refuse("expected timeout NAME TIME");
    auto ms = parse_haproxy_time_ms(words(c)[2]);
    if (!ms) return refuse("not a time contrail-lb accepts (at most 24h)");
    const std::string& name = words(c)[1];
    if (name == "check") {
        if (*ms == 0) return refuse("contrail-lb's check timeout is above 0");
        c.service.check_timeout_ms = *ms;
        return done();
    }
    if (name == "queue") {
        if (!pending_feature("timeout queue").supported) return not_yet("timeout queue");
        c.service.set_timeout("queue", *ms);
        return done();
    }
    for (auto [haproxy, ours] : kKeys) {
        if (name != haproxy || ours.empty()) continue;
        bool zero_ok = name == "client" || name == "server";
        if (*ms == 0 && !zero_ok) return refuse("contrail-lb needs a time above 0 here");
        c.service.set_timeout(std::string(ours), *ms);
        return done();
    }
    return refuse("contrail-lb has no such timeout");
}

// contimeout/clitimeout/srvtimeout: HAProxy 1.4's spelling.
Verdict on_old_timeout(DirectiveContext& c) {
    if (words(c).size() != 2) return refuse("expected one time");
    auto ms = parse_haproxy_time_ms(words(c)[1]);
    if (!ms) return refuse("not a time contrail-lb accepts (at most 24h)");
    const std::string& w = words(c)[0];
    c.service.set_timeout(w == "contimeout"   ? "connect"
                          : w == "clitimeout" ? "client"
                                              : "server",
                          *ms);
    return done();
}

Verdict on_retries(DirectiveContext& c) {
    auto n = words(c).size() == 2 ? number(words(c)[1], 10) : std::nullopt;
    if (!n) return refuse("contrail-lb retries 0..10 times");
    c.service.retries = *n;
    return done();
}

Verdict on_httpchk(DirectiveContext& c) {
    const auto& w = words(c);
    std::string method = "OPTIONS";
    std::string uri = "/";
    if (w.size() == 3) uri = w[2];
    if (w.size() >= 4) method = w[2], uri = w[3];
    if (uri.empty() || uri[0] != '/' || uri.find_first_of(" \t\r\n") != std::string::npos)
        return refuse("the check path must start with '/'");
    c.service.httpchk = true;
    c.service.check_path = uri;
    c.service.check_note.clear();
    if (method != "GET")
        c.service.check_note = "HAProxy's check sent " + method + "; contrail-lb's sends GET";
    if (w.size() > 4)
        c.service.check_note = "the HTTP version and headers of the check are contrail-lb's";
    return done();
}

Verdict on_http_check(DirectiveContext& c) {
    const auto& w = words(c);
    if (w.size() == 4 && w[1] == "expect" && w[2] == "status") {
        auto code = number(w[3], 599);
        if (!code || *code < 100) return refuse("a status 100..599");
        c.service.expect_status = std::vector<int>{static_cast<int>(*code)};
        return done();
    }
    return refuse("contrail-lb's HTTP check expects a list of statuses, nothing else");
}

Verdict on_option(DirectiveContext& c) {
    const auto& w = words(c);
    const std::string& name = w[1];
    if (name == "httpchk") return on_httpchk(c);
    if (name == "tcp-check" && w.size() == 2) {
        c.service.tcp_check = true;
        return done();
    }
    if (name == "forwardfor")
        return w.size() == 2 ? drop("contrail-lb always adds X-Forwarded-For")
                             : refuse("contrail-lb always adds X-Forwarded-For, for every client");
    if (name == "redispatch")
        return drop("contrail-lb retries a failed connect on another backend");
    if (name == "httplog" || name == "tcplog" || name == "dontlognull" ||
        name == "log-health-checks")
        return drop("the access log is contrail-lb's own (global.access_log)");
    return refuse("no contrail-lb setting");
}

bool is_https_only_condition(const std::vector<std::string>& w, size_t from) {
    std::string condition = join_words(w, from);
    return condition.empty() || condition == "if !{ ssl_fc }" || condition == "if { !ssl_fc }" ||
           condition == "unless { ssl_fc }";
}

// redirect scheme https [code C] [if !{ ssl_fc }], also as http-request redirect.
Verdict on_redirect(DirectiveContext& c, size_t at) {
    const auto& w = words(c);
    if (w.size() < at + 2 || w[at] != "scheme" || (w[at + 1] != "https" && w[at + 1] != "http"))
        return refuse("only redirect scheme http|https has an equivalent");
    int code = 302;
    size_t next = at + 2;
    if (w.size() > next + 1 && w[next] == "code") {
        auto n = number(w[next + 1], 308);
        if (!n || (*n != 301 && *n != 302 && *n != 303 && *n != 307 && *n != 308))
            return refuse("contrail-lb redirects with 301, 302, 303, 307 or 308");
        code = static_cast<int>(*n);
        next += 2;
    }
    if (!is_https_only_condition(w, next)) return refuse("a conditional redirect");
    c.service.redirect = std::make_pair(w[at + 1], code);
    return done();
}

Verdict on_http_request(DirectiveContext& c) {
    const auto& w = words(c);
    if (w.size() > 1 && w[1] == "redirect") return on_redirect(c, 2);
    std::string rest = join_words(w, 1);
    if (rest == "set-header X-Forwarded-Port %[dst_port]")
        return drop("contrail-lb always sets X-Forwarded-Port");
    if (rest.starts_with("set-header X-Forwarded-Proto") ||
        rest.starts_with("add-header X-Forwarded-Proto"))
        return drop("contrail-lb always sets X-Forwarded-Proto");
    return refuse("contrail-lb has no HTTP rewriting rules");
}

Verdict on_errorfile(DirectiveContext& c) {
    static const std::array<int, 8> kCodes = {400, 403, 408, 431, 500, 502, 503, 504};
    const auto& w = words(c);
    auto code = w.size() == 3 ? number(w[1], 599) : std::nullopt;
    if (!code) return refuse("expected errorfile CODE FILE");
    for (int allowed : kCodes) {
        if (static_cast<int>(*code) == allowed) {
            c.service.error_pages[allowed] = w[2];
            return done();
        }
    }
    return refuse("contrail-lb has no answer with this status to replace");
}

Verdict on_backend_choice(DirectiveContext& c) {
    const auto& w = words(c);
    if (w.size() != 2)
        return refuse("a conditional backend: contrail-lb has one backend list per service");
    if (c.service.backend_name && *c.service.backend_name != w[1])
        return refuse("a second backend: contrail-lb has one backend list per service");
    c.service.backend_name = w[1];
    c.service.backend_origin = c.origin;
    return done();
}

Verdict on_stats(DirectiveContext& c) {
    const auto& w = words(c);
    c.service.stats = true;
    c.service.stats_origin = c.origin;
    c.service.stats_directives.emplace_back(c.origin, c.directive.text);
    if (w.size() < 2) return refuse("incomplete");
    if (w[1] == "enable") return done();
    if (w[1] == "auth" && w.size() == 3) {
        auto colon = w[2].find(':');
        if (colon == std::string::npos || colon == 0) return refuse("expected USER:PASSWORD");
        c.service.stats_users.emplace_back(w[2].substr(0, colon), w[2].substr(colon + 1));
        c.service.stats_auth_origin = c.origin;
        return done();
    }
    if (w[1] == "uri" && w.size() == 3 && w[2] == "/stats") return done();
    if (w[1] == "uri")
        return refuse("contrail-lb serves its stats page at /stats (and JSON at /api/v1/status)");
    return refuse("contrail-lb's stats page has no such setting");
}

Verdict on_cookie(DirectiveContext& c) {
    if (!pending_feature("cookie").supported) return not_yet("cookie");
    auto sticky = YamlNode::map().flow();
    sticky.set("cookie", YamlNode::text(words(c).size() > 1 ? words(c)[1] : "SERVERID"));
    c.service.extra.emplace_back("sticky", std::move(sticky));
    return done();
}

Verdict on_log(DirectiveContext&) {
    return drop("contrail-lb logs to stderr, the container's log");
}
Verdict on_description(DirectiveContext&) {
    return drop("a comment for people");
}
Verdict on_maxconn(DirectiveContext&) {
    return refuse("contrail-lb limits client connections process-wide (global.max_connections)");
}
Verdict on_default_server(DirectiveContext& c) {
    auto& inherited = c.service.default_server;
    inherited.insert(inherited.end(), words(c).begin() + 1, words(c).end());
    return done();
}
// bind and server note their own options (haproxy_lines.cpp).
Verdict on_bind(DirectiveContext& c) {
    apply_bind(c);
    return done();
}
Verdict on_server(DirectiveContext& c) {
    apply_server(c);
    return done();
}

struct Keyword {
    std::string_view first;
    Side side;
    Handler handler;
};

constexpr Verdict (*kRedirect)(DirectiveContext&) = [](DirectiveContext& c) {
    return on_redirect(c, 1);
};

const std::array<Keyword, 24> kKeywords = {{
    {"mode", Side::both, on_mode},
    {"balance", Side::backend, on_balance},
    {"hash-type", Side::backend, on_hash_type},
    {"timeout", Side::both, on_timeout},
    {"contimeout", Side::backend, on_old_timeout},
    {"clitimeout", Side::frontend, on_old_timeout},
    {"srvtimeout", Side::backend, on_old_timeout},
    {"retries", Side::backend, on_retries},
    {"option", Side::both, on_option},
    {"http-check", Side::backend, on_http_check},
    {"redirect", Side::frontend, kRedirect},
    {"http-request", Side::frontend, on_http_request},
    {"errorfile", Side::both, on_errorfile},
    {"default_backend", Side::frontend, on_backend_choice},
    {"use_backend", Side::frontend, on_backend_choice},
    {"stats", Side::frontend, on_stats},
    {"cookie", Side::backend, on_cookie},
    {"log", Side::both, on_log},
    {"description", Side::both, on_description},
    {"maxconn", Side::frontend, on_maxconn},
    {"default-server", Side::backend, on_default_server},
    {"bind", Side::frontend, on_bind},
    {"server", Side::backend, on_server},
    {"", Side::both, nullptr},
}};

// Which half a timeout belongs to (a defaults section serves both halves).
Side timeout_side(const std::vector<std::string>& w) {
    if (w.size() < 2) return Side::both;
    const std::string& name = w[1];
    if (name == "client" || name == "http-request" || name == "http-keep-alive")
        return Side::frontend;
    return Side::backend;
}

}  // namespace

bool apply_proxy_directive(DirectiveContext& c) {
    const auto& w = words(c);
    const Keyword* keyword = nullptr;
    for (const auto& k : kKeywords)
        if (k.handler && k.first == w[0]) keyword = &k;
    std::vector<std::string>& comments = c.service.notes;
    if (!keyword) {  // a defaults line reaches here twice: Notes prints it once
        c.notes.untranslated(c.origin, c.directive.text, "no contrail-lb setting", comments);
        return true;
    }
    Side side = keyword->first == "timeout" ? timeout_side(w) : keyword->side;
    if (w[0] == "option" && w.size() > 1 &&
        (w[1] == "httpchk" || w[1] == "tcp-check" || w[1] == "redispatch"))
        side = Side::backend;
    if (w[0] == "option" && w.size() < 2) side = Side::both;
    if ((static_cast<int>(side) & static_cast<int>(c.side)) == 0) return false;
    if (w[0] == "option" && w.size() < 2) {
        c.notes.untranslated(c.origin, c.directive.text, "incomplete", comments);
        return true;
    }
    Verdict verdict = keyword->handler(c);
    if (verdict.kind == Verdict::dropped)
        c.notes.dropped(c.origin, c.directive.text, verdict.why, comments);
    if (verdict.kind == Verdict::untranslated)
        c.notes.untranslated(c.origin, c.directive.text, verdict.why, comments);
    return true;
}

}  // namespace clb::import
