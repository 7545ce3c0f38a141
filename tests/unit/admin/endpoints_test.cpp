// The endpoints of SPEC "Admin endpoints" over real sockets: what each one answers, and
// that drains and counter changes show up in every view.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <sstream>

#include "fixture.hpp"

namespace clb::admin::testing {
namespace {

// A strict JSON syntax check (RFC 8259), enough to tell a well-formed document apart.
class JsonChecker {
  public:
    explicit JsonChecker(std::string_view text) : s_(text) {}
    bool valid() {
        ws();
        if (!value()) return false;
        ws();
        return i_ == s_.size();
    }

  private:
    void ws() {
        while (i_ < s_.size() && std::strchr(" \t\r\n", s_[i_]))
            ++i_;
    }
    bool eat(char c) {
        if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
        return false;
    }
    bool literal(std::string_view word) {
        if (s_.substr(i_, word.size()) != word) return false;
        i_ += word.size();
        return true;
    }
    bool string() {
        if (!eat('"')) return false;
        while (i_ < s_.size() && s_[i_] != '"') {
            if (static_cast<unsigned char>(s_[i_]) < 0x20) return false;
            if (s_[i_] == '\\') {
                ++i_;
                if (i_ >= s_.size() || !std::strchr("\"\\/bfnrtu", s_[i_])) return false;
            }
            ++i_;
        }
        return eat('"');
    }
    bool number() {
        size_t start = i_;
        eat('-');
        while (i_ < s_.size() && std::strchr("0123456789.eE+-", s_[i_]))
            ++i_;
        return i_ > start;
    }
    bool value() {
        ws();
        if (i_ >= s_.size()) return false;
        char c = s_[i_];
        if (c == '{') return container('}', true);
        if (c == '[') return container(']', false);
        if (c == '"') return string();
        if (c == 't') return literal("true");
        if (c == 'f') return literal("false");
        if (c == 'n') return literal("null");
        return number();
    }
    bool container(char close, bool object) {
        ++i_;
        ws();
        if (eat(close)) return true;
        do {
            ws();
            if (object && !(string() && (ws(), eat(':')))) return false;
            if (!value()) return false;
            ws();
        } while (eat(','));
        return eat(close);
    }
    std::string_view s_;
    size_t i_ = 0;
};

bool has_line(const std::string& text, const std::string& line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

bgp::PeerStatus peer(std::string address, std::string state, std::string last_error = "") {
    bgp::PeerStatus p;
    p.address = std::move(address);
    p.remote_as = 64512;
    p.established = state == "Established";
    p.state = std::move(state);
    p.last_error = std::move(last_error);
    return p;
}

bgp::VipStatus vip(std::string prefix, bool announced, std::string reason = "") {
    bgp::VipStatus v;
    v.prefix = std::move(prefix);
    v.announced = announced;
    v.reason = std::move(reason);
    return v;
}

TEST_F(AdminTest, HealthzAnswersOk) {
    auto r = get("/healthz");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "ok");
    EXPECT_EQ(get("/healthz", "HEAD").header("content-length"), "2");
}

TEST_F(AdminTest, BoundPortIsReported) {
    EXPECT_EQ(server_->address().ip().to_string(), "127.0.0.1");
    EXPECT_NE(server_->address().port(), 0);
}

TEST_F(AdminTest, SecondServerOnSamePortFailsWithClearMessage) {
    try {
        Server second(loop_.raw(), server_->address(), sources_of(&registry_));
        FAIL() << "a second listener on the same port must fail";
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()), "admin: cannot listen on " +
                                             server_->address().to_string() +
                                             ": Address already in use");
    }
}

TEST_F(AdminTest, MetricsHaveEveryRequiredFamilyWithLabelsAndValues) {
    auto& api1 = *entry("contrail-api", "api1").state;
    api1.responses[200 - 100].add(5);
    api1.responses[502 - 100].add(1);
    api1.active_connections = 3;
    api1.bytes_in.add(1000);
    auto& api = *registry_.snapshot()->find("contrail-api")->state;
    api.responses_without_backend[503 - 100].add(2);
    api.active_connections = 7;
    registry_.set_health(*entry("contrail-analytics-api", "an1").state, true, "status 200");
    bgp_ = bgp::SpeakerStatus{"10.0.0.21", 64512, {}, {}, {}, {}};
    bgp_->peers.push_back(peer("127.0.0.2:179", "Established"));
    bgp_->peers.push_back(peer("127.0.0.3:179", "Active"));
    bgp_->peers[0].bfd = bgp::BfdStatus{};
    bgp_->peers[0].bfd->up = true;
    bgp_->peers[0].bfd->detection_time = 0.3;
    bgp_->bfd_dropped = {{"bad_ttl", 2}, {"bad_version", 0}};
    bgp_->vips.push_back(vip("10.0.0.100/32", true));
    bgp_->vips.push_back(vip("2001:db8::1/128", false, "x"));

    auto r = get("/metrics");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const std::string& m = r.body;
    for (const char* family :
         {"contrail_lb_requests_total counter", "contrail_lb_backend_up gauge",
          "contrail_lb_active_connections gauge", "contrail_lb_bgp_session_established gauge",
          "contrail_lb_vip_announced gauge", "contrail_lb_request_duration_seconds histogram"}) {
        EXPECT_TRUE(has_line(m, std::string("# TYPE ") + family)) << family;
    }
    EXPECT_TRUE(has_line(
        m, R"(contrail_lb_requests_total{service="contrail-api",backend="api1",code="200"} 5)"));
    EXPECT_TRUE(has_line(
        m, R"(contrail_lb_requests_total{service="contrail-api",backend="api1",code="502"} 1)"));
    EXPECT_TRUE(has_line(
        m, R"(contrail_lb_requests_total{service="contrail-api",backend="",code="503"} 2)"));
    EXPECT_EQ(m.find(R"(backend="api2",code=)"), std::string::npos) << "zero counts are omitted";
    EXPECT_TRUE(has_line(m, R"(contrail_lb_backend_up{service="contrail-api",backend="api1"} 1)"));
    EXPECT_TRUE(
        has_line(m, R"(contrail_lb_backend_up{service="contrail-analytics-api",backend="an1"} 1)"));
    EXPECT_TRUE(
        has_line(m, R"(contrail_lb_backend_up{service="contrail-analytics-api",backend="an2"} 0)"));
    EXPECT_TRUE(has_line(m, R"(contrail_lb_active_connections{service="contrail-api"} 7)"));
    EXPECT_TRUE(has_line(
        m, R"(contrail_lb_backend_active_connections{service="contrail-api",backend="api1"} 3)"));
    EXPECT_TRUE(has_line(
        m, R"(contrail_lb_backend_bytes_in_total{service="contrail-api",backend="api1"} 1000)"));
    EXPECT_TRUE(has_line(m, R"(contrail_lb_bgp_session_established{peer="127.0.0.2:179"} 1)"));
    EXPECT_TRUE(has_line(m, R"(contrail_lb_bfd_session_up{peer="127.0.0.2:179"} 1)"));
    EXPECT_TRUE(has_line(m, R"(contrail_lb_bfd_detection_time_seconds{peer="127.0.0.2:179"} 0.3)"));
    EXPECT_EQ(m.find(R"(contrail_lb_bfd_session_up{peer="127.0.0.3:179"})"), std::string::npos)
        << "a peer without BFD has no BFD series";
    EXPECT_TRUE(has_line(m, R"(contrail_lb_bfd_packets_dropped_total{reason="bad_ttl"} 2)"));
    EXPECT_TRUE(has_line(m, R"(contrail_lb_bgp_session_established{peer="127.0.0.3:179"} 0)"));
    EXPECT_TRUE(has_line(m, R"(contrail_lb_vip_announced{prefix="10.0.0.100/32"} 1)"));
    EXPECT_TRUE(has_line(m, R"(contrail_lb_vip_announced{prefix="2001:db8::1/128"} 0)"));
    EXPECT_TRUE(has_line(m, R"(contrail_lb_build_info{version="0.1.0"} 1)"));
    EXPECT_TRUE(has_line(m, "contrail_lb_start_time_seconds 1764072000"));
}

TEST_F(AdminTest, MetricsWithoutBgpKeepFamiliesButNoSamples) {
    auto m = get("/metrics").body;
    EXPECT_TRUE(has_line(m, "# TYPE contrail_lb_bgp_session_established gauge"));
    EXPECT_EQ(m.find("contrail_lb_bgp_session_established{"), std::string::npos);
}

TEST_F(AdminTest, DurationHistogramIsCumulative) {
    auto& api = *registry_.snapshot()->find("contrail-api")->state;
    api.duration.observe(0.003);
    api.duration.observe(0.004);
    api.duration.observe(0.2);
    api.duration.observe(20);
    auto m = get("/metrics").body;
    auto bucket = [](const char* le) {
        return std::string(
                   R"(contrail_lb_request_duration_seconds_bucket{service="contrail-api",le=")") +
               le + "\"} ";
    };
    EXPECT_TRUE(has_line(m, bucket("0.001") + "0"));
    EXPECT_TRUE(has_line(m, bucket("0.0025") + "0"));
    EXPECT_TRUE(has_line(m, bucket("0.005") + "2"));
    EXPECT_TRUE(has_line(m, bucket("0.1") + "2"));
    EXPECT_TRUE(has_line(m, bucket("0.25") + "3"));
    EXPECT_TRUE(has_line(m, bucket("10") + "3"));
    EXPECT_TRUE(has_line(m, bucket("+Inf") + "4"));
    EXPECT_TRUE(
        has_line(m, R"(contrail_lb_request_duration_seconds_count{service="contrail-api"} 4)"));
    EXPECT_TRUE(
        has_line(m, R"(contrail_lb_request_duration_seconds_sum{service="contrail-api"} 20.207)"));
    EXPECT_TRUE(has_line(
        m, R"(contrail_lb_request_duration_seconds_count{service="contrail-analytics-api"} 0)"));
}

TEST_F(AdminTest, StatusJsonIsWellFormedAndDescribesBackends) {
    entry("contrail-api", "api2").state->responses[404 - 100].add(4);
    bgp_ = bgp::SpeakerStatus{"10.0.0.21", 64512, {}, {}, {}, {}};
    bgp_->vips.push_back(vip("10.0.0.100/32", false, "contrail-api \"down\"\n"));
    auto r = get("/api/v1/status");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_TRUE(JsonChecker(r.body).valid()) << r.body;
    const std::string& j = r.body;
    EXPECT_NE(j.find(R"("version":"0.1.0")"), std::string::npos);
    EXPECT_NE(j.find(R"("name":"contrail-api","mode":"http","balance":"roundrobin")"),
              std::string::npos);
    EXPECT_NE(j.find(R"("name":"api1","address":"127.0.0.1:18082","state":"UP")"),
              std::string::npos);
    EXPECT_NE(j.find(R"("name":"an2","address":"127.0.0.1:18182","state":"DOWN")"),
              std::string::npos);
    EXPECT_NE(j.find(R"("responses":{"404":4})"), std::string::npos);
    EXPECT_NE(j.find(R"("responses_by_class":{"1xx":0,"2xx":0,"3xx":0,"4xx":4,"5xx":0})"),
              std::string::npos);
    EXPECT_NE(j.find(R"("reason":"contrail-api \"down\"\n")"), std::string::npos);
    EXPECT_NE(j.find(R"("router_id":"10.0.0.21")"), std::string::npos);
}

TEST_F(AdminTest, StatusJsonHasNullBgpWithoutSpeaker) {
    auto j = get("/api/v1/status").body;
    EXPECT_TRUE(JsonChecker(j).valid());
    EXPECT_NE(j.find(R"("bgp":null)"), std::string::npos);
}

TEST_F(AdminTest, DrainAndEnableChangeRegistryAndEveryView) {
    std::ostringstream log;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(log);
    auto previous = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));

    auto r = get("/api/v1/services/contrail-api/backends/api2/drain", "POST");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.body, R"({"service":"contrail-api","backend":"api2","drained":true,"changed":true})"
                      "\n");
    EXPECT_TRUE(entry("contrail-api", "api2").drained);
    EXPECT_NE(log.str().find("admin: drained backend contrail-api/api2 (from 127.0.0.1)"),
              std::string::npos)
        << log.str();
    EXPECT_TRUE(
        has_line(get("/metrics").body,
                 R"(contrail_lb_backend_drained{service="contrail-api",backend="api2"} 1)"));
    EXPECT_NE(
        get("/api/v1/status")
            .body.find(
                R"("name":"api2","address":"127.0.0.1:18083","state":"DRAINED","up":true,"drained":true,"eligible":false)"),
        std::string::npos);
    EXPECT_NE(get("/stats").body.find(R"(<span class="pill DRAINED">DRAINED</span>)"),
              std::string::npos);

    // Draining again is not a change.
    r = get("/api/v1/services/contrail-api/backends/api2/drain", "POST");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find(R"("changed":false)"), std::string::npos);

    r = get("/api/v1/services/contrail-api/backends/api2/enable", "POST");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find(R"("drained":false,"changed":true)"), std::string::npos);
    EXPECT_FALSE(entry("contrail-api", "api2").drained);
    EXPECT_NE(log.str().find("admin: enabled backend contrail-api/api2 (from 127.0.0.1)"),
              std::string::npos);
    EXPECT_TRUE(
        has_line(get("/metrics").body,
                 R"(contrail_lb_backend_drained{service="contrail-api",backend="api2"} 0)"));
    spdlog::set_default_logger(previous);
}

TEST_F(AdminTest, UnknownServiceOrBackendIs404Json) {
    auto r = get("/api/v1/services/contrail-api/backends/nope/drain", "POST");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.body, R"({"error":"service \"contrail-api\" has no backend named \"nope\""})"
                      "\n");
    r = get("/api/v1/services/nope/backends/api1/enable", "POST");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.body, R"({"error":"no service named \"nope\""})"
                      "\n");
    EXPECT_EQ(get("/api/v1/services/contrail-api/backends/api1/reboot", "POST").status, 404);
}

TEST_F(AdminTest, UnknownPathIs404) {
    EXPECT_EQ(get("/nope").status, 404);
    EXPECT_EQ(get("/api/v2/status").status, 404);
    EXPECT_EQ(get("/metrics/").status, 404);
}

TEST_F(AdminTest, WrongMethodIs405WithAllow) {
    auto r = get("/api/v1/services/contrail-api/backends/api1/drain", "GET");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("allow"), "POST");
    EXPECT_FALSE(entry("contrail-api", "api1").drained);
    r = get("/metrics", "POST");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("allow"), "GET, HEAD");
    EXPECT_EQ(get("/stats", "DELETE").status, 405);
}

TEST_F(AdminTest, StatsPageShowsServicesBackendsAndBgp) {
    registry_.set_health(*entry("contrail-analytics-api", "an1").state, true, "status 200");
    bgp_ = bgp::SpeakerStatus{"10.0.0.21", 64512, {}, {}, {}, {}};
    bgp_->peers.push_back(peer("127.0.0.2:179", "Active", "connection refused <x>"));
    bgp_->vips.push_back(vip("10.0.0.100/32", false, "contrail-api has 0 healthy backends"));
    auto r = get("/stats");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
    const std::string& h = r.body;
    EXPECT_TRUE(h.starts_with("<!doctype html>"));
    for (const char* name : {"contrail-api", "contrail-analytics-api", "api1", "api2", "api3",
                             "an1", "an2", "127.0.0.1:18082", "roundrobin", "leastconn"})
        EXPECT_NE(h.find(name), std::string::npos) << name;
    EXPECT_NE(h.find(R"(<span class="pill UP">UP</span>)"), std::string::npos);
    EXPECT_NE(h.find(R"(<span class="pill DOWN">DOWN</span>)"), std::string::npos);
    EXPECT_NE(h.find("status 200"), std::string::npos);
    EXPECT_NE(h.find("connection refused &lt;x&gt;"), std::string::npos);
    EXPECT_EQ(h.find("<x>"), std::string::npos);
    EXPECT_NE(h.find(R"(<span class="pill WITHDRAWN">WITHDRAWN</span>)"), std::string::npos);
    EXPECT_EQ(h.find("http-equiv=\"refresh\""), std::string::npos);
    EXPECT_NE(get("/stats?refresh=5").body.find(R"(<meta http-equiv="refresh" content="5">)"),
              std::string::npos);
    EXPECT_EQ(get("/stats?refresh=abc").body.find("http-equiv"), std::string::npos);
}

TEST_F(AdminTest, RootRedirectsToStats) {
    auto r = get("/");
    EXPECT_EQ(r.status, 302);
    EXPECT_EQ(r.header("location"), "/stats");
}

TEST_F(AdminTest, WorksWithoutConfiguration) {
    runtime::Registry empty;
    Server bare(loop_.raw(), *net::SocketAddress::parse("127.0.0.1:0"), sources_of(&empty));
    Client client(loop_, bare.address());
    auto r = client.request("GET", "/api/v1/status");
    ASSERT_TRUE(r);
    EXPECT_TRUE(JsonChecker(r->body).valid());
    EXPECT_NE(r->body.find(R"("services":[])"), std::string::npos);
    r = client.request("POST", "/api/v1/services/a/backends/b/drain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
}

}  // namespace
}  // namespace clb::admin::testing
