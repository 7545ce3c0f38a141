#include "relay.hpp"

#include <ev.h>
#include <sys/socket.h>

#include "io.hpp"

namespace clb::proxy {

namespace {
uint64_t pass(RelayEnd& from, RelayEnd& to) {
    uint64_t moved = 0;
    while (!from.in->empty() && !to.error) {
        ssize_t n = to.stream ? to.stream->write(from.in->data(), from.in->size(), nullptr, 0)
                              : write2(to.fd, from.in->data(), from.in->size(), nullptr, 0);
        if (n == 0) break;
        if (n < 0) {
            to.error = static_cast<int>(-n);
            break;
        }
        from.in->consume(static_cast<size_t>(n));
        moved += static_cast<uint64_t>(n);
    }
    if (from.eof && from.in->empty() && !to.shut && !to.error) {
        if (to.stream)
            to.stream->shutdown_write();
        else
            ::shutdown(to.fd, SHUT_WR);
        to.shut = true;
    }
    return moved;
}
}  // namespace

RelayProgress relay(RelayEnd& a, RelayEnd& b) {
    RelayProgress p;
    p.a_to_b = pass(a, b);
    p.b_to_a = pass(b, a);
    return p;
}

bool relay_done(const RelayEnd& a, const RelayEnd& b) {
    return a.error || b.error || (a.shut && b.shut);
}

int relay_events(const RelayEnd& self, const RelayEnd& other) {
    int events = 0;
    if (!self.eof && !self.in->full()) events |= EV_READ;
    if (!other.in->empty()) events |= EV_WRITE;
    return events;
}

}  // namespace clb::proxy
