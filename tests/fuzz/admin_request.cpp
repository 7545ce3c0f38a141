// libFuzzer target for the admin server: any bytes a client sends, split at an arbitrary
// point, must get well-formed HTTP answers (or none) and a closed connection, never a
// crash, a hang or a leak. Runs the real server on 127.0.0.1 with a real socket.
#include <poll.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "contrail_lb/admin/server.hpp"
#include "contrail_lb/net/loop.hpp"
#include "contrail_lb/net/socket.hpp"

using namespace clb;

namespace {

struct World {
    World() {
        auto cfg = std::make_shared<config::Config>();
        config::Service svc;
        svc.name = "contrail-api";
        svc.backends.push_back({"api1", *net::SocketAddress::parse("127.0.0.1:1"), 1, false});
        cfg->services.push_back(svc);
        registry.apply(cfg);
        admin::Limits limits;
        limits.request_timeout = 0.05;  // a truncated request must not stall the fuzzer
        limits.idle_timeout = 0.05;
        admin::Sources sources;
        sources.registry = &registry;
        sources.version = "fuzz";
        server = std::make_unique<admin::Server>(
            loop.raw(), *net::SocketAddress::parse("127.0.0.1:0"), sources, limits);
    }
    net::Loop loop;
    runtime::Registry registry;
    std::unique_ptr<admin::Server> server;
};

// Steps the loop until the client socket reaches EOF; returns what it received.
std::string drain(World& world, int fd) {
    std::string received;
    net::Timer tick(world.loop.raw(), [] {});
    tick.start(0.001, 0.001);
    for (int i = 0; i < 5000; ++i) {
        ev_run(world.loop.raw(), EVRUN_ONCE);
        char buf[65536];
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) received.append(buf, static_cast<size_t>(n));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return received;
    }
    __builtin_trap();  // the server never closed: a hang
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static World world;
    if (size == 0 || size > 256 * 1024) return 0;
    int error = 0;
    net::Fd fd = net::connect_tcp(world.server->address(), error);
    if (!fd) __builtin_trap();
    pollfd p{fd.get(), POLLOUT, 0};
    while (::poll(&p, 1, 0) == 0)
        ev_run(world.loop.raw(), EVRUN_NOWAIT);

    // The first byte picks where to split the rest into two writes.
    size_t split = 1 + data[0] * (size - 1) / 256;
    const char* bytes = reinterpret_cast<const char*>(data);
    for (auto [from, to] : {std::pair{size_t{1}, split}, std::pair{split, size}}) {
        while (from < to) {
            ssize_t n = ::send(fd.get(), bytes + from, to - from, MSG_NOSIGNAL);
            if (n < 0 && errno == EAGAIN) {
                ev_run(world.loop.raw(), EVRUN_NOWAIT);
                continue;
            }
            if (n <= 0) break;  // the server already closed (an error answer)
            from += static_cast<size_t>(n);
        }
        ev_run(world.loop.raw(), EVRUN_NOWAIT);
    }
    ::shutdown(fd.get(), SHUT_WR);
    std::string answer = drain(world, fd.get());
    if (!answer.empty() && answer.rfind("HTTP/1.1 ", 0) != 0) __builtin_trap();
    fd.reset();
    // Both sides closed: the server must have let go of the connection.
    for (int i = 0; i < 5000 && world.server->connection_count() != 0; ++i)
        ev_run(world.loop.raw(), EVRUN_NOWAIT);
    if (world.server->connection_count() != 0) __builtin_trap();
    return 0;
}
