// Cost of one pick per algorithm (client addresses vary, in-flight counts 0..12), and of prepare()
// (the control thread's work per snapshot), on 3, 32 and 1024 backends with equal or uneven (1..9)
// weights.
//
// Each in-flight counter lives in its own heap object of runtime::Backend's size (its
// status counters make it about 4.3 KB), so that leastconn and random2 pay for touching
// one cache line per backend they look at, as they do in the proxy.
#include <benchmark/benchmark.h>

#include <arpa/inet.h>

#include <atomic>
#include <memory>
#include <vector>

#include "contrail_lb/balance/balancer.hpp"

namespace {

using clb::config::Algorithm;
namespace balance = clb::balance;

struct FakeBackend {
    char names_and_address[232];
    std::atomic<int32_t> active{0};
    char counters[4096];
};

struct Fixture {
    Fixture(size_t n, bool uneven) {
        for (size_t i = 0; i < n; ++i) {
            backends.push_back(std::make_unique<FakeBackend>());
            backends[i]->active.store(static_cast<int32_t>((i * 7) % 13));
            uint32_t weight = uneven ? 1 + static_cast<uint32_t>(i % 9) : 1;
            cands.push_back(
                {weight, balance::hash_key("backend-" + std::to_string(i)), &backends[i]->active});
        }
        for (uint32_t c = 0; c < kClients; ++c) {
            in_addr a{};
            a.s_addr = htonl(0x0a000000u + c);
            clients.push_back(balance::hash_client(clb::net::IpAddress::v4(a)));
        }
    }
    static constexpr uint32_t kClients = 4096;  // a power of two: cheap wrap-around
    std::vector<std::unique_ptr<FakeBackend>> backends;
    std::vector<balance::Candidate> cands;
    std::vector<uint64_t> clients;
};

template <Algorithm algo>
void BM_Pick(benchmark::State& state) {
    Fixture f(static_cast<size_t>(state.range(0)), state.range(1) != 0);
    auto prepared = balance::prepare(algo, f.cands);
    auto picker = balance::make_picker(algo, f.cands, prepared, 1);
    uint32_t c = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(picker->pick(f.clients[c++ & (Fixture::kClients - 1)], {}));
    }
}

// Every backend has connections in flight: leastconn scans them all.
template <Algorithm algo>
void BM_PickBusy(benchmark::State& state) {
    Fixture f(static_cast<size_t>(state.range(0)), state.range(1) != 0);
    for (auto& b : f.backends)
        b->active.fetch_add(1);
    auto prepared = balance::prepare(algo, f.cands);
    auto picker = balance::make_picker(algo, f.cands, prepared, 1);
    uint32_t c = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(picker->pick(f.clients[c++ & (Fixture::kClients - 1)], {}));
    }
}

template <Algorithm algo>
void BM_PickRetry(benchmark::State& state) {
    Fixture f(static_cast<size_t>(state.range(0)), state.range(1) != 0);
    auto prepared = balance::prepare(algo, f.cands);
    auto picker = balance::make_picker(algo, f.cands, prepared, 1);
    const uint32_t tried[] = {0, 1};
    uint32_t c = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(picker->pick(f.clients[c++ & (Fixture::kClients - 1)], tried));
    }
}

template <Algorithm algo>
void BM_Prepare(benchmark::State& state) {
    Fixture f(static_cast<size_t>(state.range(0)), state.range(1) != 0);
    for (auto _ : state)
        benchmark::DoNotOptimize(balance::prepare(algo, f.cands));
}

void sizes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"backends", "uneven"});
    for (int uneven : {0, 1})
        for (int n : {3, 32, 1024})
            b->Args({n, uneven});
}

void retry_sizes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"backends", "uneven"});
    for (int n : {3, 32, 1024})
        b->Args({n, 1});
}

}  // namespace

BENCHMARK(BM_Pick<Algorithm::roundrobin>)->Apply(sizes);
BENCHMARK(BM_Pick<Algorithm::leastconn>)->Apply(sizes);
BENCHMARK(BM_Pick<Algorithm::random2>)->Apply(sizes);
BENCHMARK(BM_Pick<Algorithm::source>)->Apply(sizes);
BENCHMARK(BM_Pick<Algorithm::maglev>)->Apply(sizes);

BENCHMARK(BM_PickBusy<Algorithm::leastconn>)->Apply(sizes);
BENCHMARK(BM_PickBusy<Algorithm::random2>)->Apply(sizes);

BENCHMARK(BM_PickRetry<Algorithm::roundrobin>)->Apply(retry_sizes);
BENCHMARK(BM_PickRetry<Algorithm::leastconn>)->Apply(retry_sizes);
BENCHMARK(BM_PickRetry<Algorithm::random2>)->Apply(retry_sizes);
BENCHMARK(BM_PickRetry<Algorithm::source>)->Apply(retry_sizes);
BENCHMARK(BM_PickRetry<Algorithm::maglev>)->Apply(retry_sizes);

BENCHMARK(BM_Prepare<Algorithm::roundrobin>)->Apply(sizes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Prepare<Algorithm::maglev>)->Apply(sizes)->Unit(benchmark::kMicrosecond);
