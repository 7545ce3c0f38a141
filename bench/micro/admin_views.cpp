// What one admin request costs the control loop (which also runs health checks and the
// BGP speaker): /metrics, /api/v1/status and /stats over a real keep-alive connection,
// for a cluster-sized configuration (2 services x N backends).
#include <benchmark/benchmark.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "contrail_lb/admin/server.hpp"
#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/net/socket.hpp"

using namespace clb;

namespace {

std::shared_ptr<const config::Config> make_config(int backends) {
    auto cfg = std::make_shared<config::Config>();
    for (const char* name : {"contrail-api", "contrail-analytics-api"}) {
        config::Service svc;
        svc.name = name;
        for (int i = 0; i < backends; ++i) {
            auto address = *net::SocketAddress::parse("10.0.0." + std::to_string(i + 1) + ":8082");
            svc.backends.push_back({"ctrl" + std::to_string(i + 1), address, 1, false});
        }
        cfg->services.push_back(svc);
    }
    return cfg;
}

void serve(benchmark::State& state, const char* path) {
    net::Loop loop;
    runtime::Registry registry;
    registry.apply(make_config(static_cast<int>(state.range(0))));
    for (const auto& svc : registry.snapshot()->services)
        for (const auto& b : svc.backends)
            for (int code : {200, 201, 204, 404, 500, 502})
                b.state->responses[code - 100].add(7);
    admin::Sources sources;
    sources.registry = &registry;
    sources.version = "bench";
    admin::Server server(loop.raw(), *net::SocketAddress::parse("127.0.0.1:0"), sources);
    int error = 0;
    net::Fd fd = net::connect_tcp(server.address(), error);
    const std::string request = std::string("GET ") + path + " HTTP/1.1\r\nHost: b\r\n\r\n";
    std::string buffer;
    size_t bytes = 0;
    for (auto _ : state) {
        while (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) < 0)
            ev_run(loop.raw(), EVRUN_NOWAIT);  // connect still in progress
        // Step the server until the whole response (head + Content-Length body) is here.
        buffer.clear();
        size_t want = std::string::npos;
        while (buffer.size() < want) {
            ev_run(loop.raw(), EVRUN_NOWAIT);
            char chunk[65536];
            ssize_t n = ::recv(fd.get(), chunk, sizeof chunk, MSG_DONTWAIT);
            if (n > 0) buffer.append(chunk, static_cast<size_t>(n));
            size_t end = buffer.find("\r\n\r\n");
            if (want == std::string::npos && end != std::string::npos) {
                size_t at = buffer.find("Content-Length: ") + 16;
                want = end + 4 + std::stoul(buffer.substr(at));
            }
        }
        bytes += buffer.size();
    }
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
    state.counters["response_bytes"] = static_cast<double>(buffer.size());
}

void BM_Metrics(benchmark::State& state) {
    serve(state, "/metrics");
}
void BM_StatusJson(benchmark::State& state) {
    serve(state, "/api/v1/status");
}
void BM_StatsHtml(benchmark::State& state) {
    serve(state, "/stats");
}
void BM_Healthz(benchmark::State& state) {
    serve(state, "/healthz");
}

}  // namespace

BENCHMARK(BM_Healthz)->Arg(3);
BENCHMARK(BM_Metrics)->Arg(3)->Arg(50);
BENCHMARK(BM_StatusJson)->Arg(3)->Arg(50);
BENCHMARK(BM_StatsHtml)->Arg(3)->Arg(50);
