// A worker's access log: one line per request (http mode) or connection (tcp mode) that
// tells its story: who, where to, what came back, how long each step took, and why it
// ended. Lines go to the worker's own log::Lane (lock-free, never blocking on stderr; a
// full lane drops the line and counts it) and the log writer is woken once per loop
// iteration, not once per line. docs/operations.md lists the fields beside HAProxy's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "contrail_lb/log/json.hpp"
#include "contrail_lb/log/writer.hpp"
#include "contrail_lb/net/address.hpp"
#include "contrail_lb/runtime/termination.hpp"

namespace clb::proxy {

// HAProxy's timers, in seconds; negative for a step that never happened (HAProxy's -1).
struct Timers {
    double request = -1;   // Tq: first byte of the request head to its end
    double queue = -1;     // Tw: waiting for a free backend slot
    double connect = -1;   // Tc: the TCP handshake (0 on a reused connection)
    double response = -1;  // Tr: request on the wire to the response head
    double total = -1;     // Ta: first byte in to last byte out
};

struct AccessRecord {
    net::SocketAddress client;
    std::string_view service;
    std::string_view backend;  // empty: none was reached
    bool tcp = false;          // a tcp-mode connection: no request line, no status
    std::string_view request_line;
    int status = 0;           // 0: no answer started
    uint64_t bytes_up = 0;    // to the backend
    uint64_t bytes_down = 0;  // to the client
    Timers timers;
    unsigned retries = 0;  // connect attempts after the first, on other backends
    bool reused = false;   // the backend connection came from the pool
    runtime::Termination cause = runtime::Termination::completed;
    runtime::Phase phase = runtime::Phase::data;
    std::string_view reason;  // why the proxy answered or cut it, when it did
};

class AccessLog {
  public:
    // Without a writer (tests that run a worker bare) the lines are dropped.
    explicit AccessLog(log::Writer* writer)
        : writer_(writer), lane_(writer ? &writer->add_lane() : nullptr) {}

    void append(const AccessRecord& record);
    void flush();  // once per loop iteration
    bool pending() const { return pending_; }

  private:
    void append_text(const AccessRecord& r);
    void append_json(const AccessRecord& r);

    log::Writer* writer_;
    log::Lane* lane_;
    std::string scratch_;
    log::JsonWriter json_;
    bool pending_ = false;
};

}  // namespace clb::proxy
