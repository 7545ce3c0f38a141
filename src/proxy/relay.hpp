// A byte relay between two sockets with half-close: what one side sends goes to the other
// unchanged; one side's EOF becomes a shutdown(SHUT_WR) towards the other once its bytes
// are through. Used by tcp mode and by HTTP after a 101 Switching Protocols.
#pragma once

#include "buffer.hpp"
#include "stream.hpp"

namespace clb::proxy {

struct RelayEnd {
    int fd = -1;
    IoBuffer* in = nullptr;    // bytes read from this end, to be written to the other
    bool eof = false;          // this end sent FIN
    bool shut = false;         // we sent FIN to this end
    int error = 0;             // errno of a failed read or write on this end
    Stream* stream = nullptr;  // writes go through it (TLS to a client or a backend)
};

struct RelayProgress {
    uint64_t a_to_b = 0;
    uint64_t b_to_a = 0;
};

// Moves what is buffered in each direction as far as the sockets take it.
RelayProgress relay(RelayEnd& a, RelayEnd& b);
bool relay_done(const RelayEnd& a, const RelayEnd& b);
// Interest for one end: EV_READ while its buffer has room and it has not sent FIN,
// EV_WRITE while the other end's bytes wait for it.
int relay_events(const RelayEnd& self, const RelayEnd& other);

}  // namespace clb::proxy
