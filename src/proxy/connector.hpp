// The one pick/connect/retry path, shared by the http and tcp sessions.
//
// A worker's balancer state (its Pickers) belongs to one snapshot: a pick is an index
// into that snapshot's candidate list. Routing keeps the two together, and a request
// pins a Routing, never a bare snapshot, so an index is only ever applied to the list it
// came from, whatever reloads, health changes or drains land in the middle of a connect.
//
// Each new attempt (the first and every retry) moves to the worker's newest Routing: a
// retry honours what changed meanwhile (a backend gone DOWN or drained gets no retry, a
// removed service ends the request). Backends already tried are remembered by identity
// (runtime::Backend, stable across reloads), not by index, so they stay excluded.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "contrail_lb/runtime/state.hpp"
#include "contrail_lb/runtime/termination.hpp"
#include "upstream.hpp"

namespace clb::proxy {

// A snapshot with this worker's pickers for it (one per service, same order).
struct Routing {
    Routing(std::shared_ptr<const runtime::Snapshot> snapshot, uint64_t seed);
    const std::shared_ptr<const runtime::Snapshot> snapshot;
    std::vector<std::unique_ptr<balance::Picker>> pickers;  // reference snapshot's candidates
};

// Where the Connector finds the worker's newest Routing and reports connect failures.
class ConnectorHost {
  public:
    virtual const std::shared_ptr<Routing>& routing() const = 0;
    virtual UpstreamPool& upstreams() = 0;
    // The service's backend_tls client context; null when it has none (or not yet).
    virtual std::shared_ptr<const tls::ClientContext> backend_tls(
        std::string_view service) const = 0;
    // A connect attempt failed: count it, log it (`detail`, when given, says why better
    // than the errno: a TLS failure), tell passive health when it was the backend's fault
    // (`service` has the timeout and the passive-detection threshold).
    virtual void connect_failed(const std::shared_ptr<runtime::Backend>& backend, int error,
                                std::string_view detail, const config::Service& service) = 0;

  protected:
    ~ConnectorHost() = default;
};

class Connector {
  public:
    Connector(ConnectorHost& host, std::string service, uint64_t client_hash);
    // Serve another client connection (a pooled Connector): releases the request and
    // keeps the name's capacity, so that this allocates nothing once warm.
    void rebind(std::string_view service, uint64_t client_hash);

    // A new request: forgets the previous one's attempts and pins the newest Routing.
    // False when a reload removed the service (cause() says no_backend).
    bool begin();
    // Cookie persistence: the next picks take `backend` while it is UP, not drained and
    // not tried yet, before asking the balancer. Until the next begin().
    void prefer(const runtime::Backend* backend) { preferred_ = backend; }

    // The next connection for the request: a pooled idle one when `allow_pooled`, else a
    // connect in progress (wait for writability, then take_socket_error). It holds a slot
    // of its backend (max_connections): Upstream's owner gives it back. Immediate connect
    // failures are reported and retried here. Null when no attempt is left (cause() and
    // why() say what ended the request) or, with all_full(), when every candidate is at
    // its max_connections: the request waits for a slot and calls connect() again.
    std::unique_ptr<Upstream> connect(bool allow_pooled);
    bool all_full() const { return all_full_; }
    // A fresh connection to the backend of the current attempt, not counted as a retry
    // (a pooled connection was closed by the backend as we reused it). Null when the
    // connect fails at once (reported); then call connect() to go on with the retries.
    std::unique_ptr<Upstream> reconnect();
    // The connection returned by connect() completed its handshake: the backend's run of
    // failures on live traffic ends.
    void connected();
    // The connection returned by connect() failed (error from SO_ERROR, ETIMEDOUT on
    // timeouts.connect, EPROTO for a TLS handshake with `detail` saying why): reported;
    // the next connect() tries another backend.
    void failed(int error, std::string_view detail = {});

    // The request is over: unpins its Routing (an idle keep-alive connection must not
    // hold old snapshots alive).
    void release();

    // The pinned service (null before begin() or once removed) and backend (null before
    // the first pick). Both stay valid until the next begin()/connect().
    const runtime::ServiceEntry* service() const { return service_; }
    const runtime::BackendEntry* backend() const { return backend_; }
    // Meaningful once connect() returned null.
    runtime::Termination cause() const { return cause_; }
    const std::string& why() const { return why_; }
    unsigned attempts() const { return attempts_; }

  private:
    bool refresh();  // pins the newest Routing; false when the service is gone
    bool pick();
    bool pick_preferred();
    bool excluded(const runtime::Backend* backend) const;  // tried, or full this round
    // The service's TLS context into tls_; false when it has backend_tls but no context.
    bool find_tls();
    void record_failure(const std::shared_ptr<runtime::Backend>& backend, int error,
                        std::string_view detail = {});
    std::unique_ptr<Upstream> give_up(runtime::Termination cause, std::string why);

    ConnectorHost& host_;
    std::string service_name_;
    uint64_t client_hash_;
    std::shared_ptr<Routing> routing_;
    size_t service_index_ = 0;
    const runtime::ServiceEntry* service_ = nullptr;
    const runtime::BackendEntry* backend_ = nullptr;
    std::vector<const runtime::Backend*> tried_;
    std::vector<uint32_t> exclude_;  // tried_, as candidate indexes of the pinned Routing
    std::shared_ptr<runtime::Backend> failed_last_;  // its failure ends in a retry if any
    const runtime::Backend* preferred_ = nullptr;
    std::vector<const runtime::Backend*> full_;  // at max_connections in this connect()
    bool all_full_ = false;
    std::shared_ptr<const tls::ClientContext> tls_;  // backend_tls of the service, or null
    unsigned attempts_ = 0;
    int last_error_ = 0;
    runtime::Termination cause_ = runtime::Termination::no_backend;
    std::string why_;
};

}  // namespace clb::proxy
