// tcp mode: connect to a backend picked for the connection (with retries), then relay
// bytes unchanged in both directions, half-closes included.
#include <ev.h>

#include <spdlog/spdlog.h>

#include "contrail_lb/net/clock.hpp"
#include "contrail_lb/net/socket.hpp"
#include "io.hpp"
#include "relay.hpp"
#include "sessions.hpp"

namespace clb::proxy {

namespace {

using runtime::Termination;

double seconds(config::Duration d) {
    return static_cast<double>(d.count()) / 1000.;
}

class TcpSession final : public Session, private UpstreamOwner, private SlotWaiter {
  public:
    TcpSession(Worker::Impl& worker, net::Fd fd, const net::SocketAddress& peer,
               const std::string& service)
        : worker_(worker),
          client_(std::move(fd), std::shared_ptr<const tls::ServerContext>()),
          peer_(peer),
          service_name_(service),
          connector_(worker, service, balance::hash_client(peer.ip())),
          in_(worker.buffers().get()) {
        connector_.begin();  // the worker just found the service: it is there
        service_state_ = connector_.service()->state;
        timeouts_ = connector_.service()->config->timeouts;
        service_state_->active_connections.fetch_add(1, std::memory_order_relaxed);
        service_state_->connections_total.add();
        ev_io_init(&io_, &TcpSession::on_client_io, client_.fd(), 0);
        io_.data = this;
        ev_init(&timer_, &TcpSession::on_timer);
        timer_.data = this;
        started_ = client_seen_ = server_seen_ = now();
    }

    void start() override {
        connect_next();
        if (!closed_) update();
    }

    ~TcpSession() override {
        if (!closed_) log_end(Termination::shutdown);  // the grace period ended under it
        ev_io_stop(worker_.loop(), &io_);
        ev_timer_stop(worker_.loop(), &timer_);
        worker_.stop_waiting(*this);
        if (up_) up_->backend()->give_slot();
        worker_.buffers().put(in_.detach());
        service_state_->active_connections.fetch_sub(1, std::memory_order_relaxed);
    }

    // A relayed stream has no request boundary to stop at: it ends with the grace period.
    void drain() override {}

  private:
    double now() const { return worker_.now(); }

    // The connection holds its backend's slot (max_connections) until it ends; with every
    // backend at its limit it waits in the service's queue for timeouts.queue.
    void connect_next() {
        up_ = connector_.connect(false);
        if (!up_ && connector_.all_full()) {
            if (!queued_since_) queued_since_ = now();
            worker_.wait_for_slot(*this, *service_state_);
            return;
        }
        if (!up_) {
            spdlog::warn("{}: {}: {}", service_name_, peer_.to_string(), connector_.why());
            end(connector_.cause());
            return;
        }
        up_->set_owner(this);
        connect_started_ = now();
    }

    bool retry_connect() override {
        connect_next();
        if (!up_ && !closed_) return false;
        worker_.stop_waiting(*this);
        dequeued_ = now();
        service_state_->queue_wait.observe(dequeued_ - queued_since_);
        if (!closed_) update();
        return true;
    }

    bool queued() const { return !up_ && queued_since_ && !closed_; }

    void connect_failed(int err, std::string detail = {}) {
        up_->backend()->give_slot();
        up_.reset();
        connector_.failed(err, detail);
        connect_next();
    }

    static void on_client_io(struct ev_loop*, ev_io* w, int revents) {
        auto* self = static_cast<TcpSession*>(w->data);
        if (revents & EV_READ)
            self->read(self->client_, self->in_, self->client_eof_, self->client_error_,
                       self->client_seen_);
        self->update();
    }

    void on_upstream_event(int revents) override {
        if (!up_->connected) {
            // TCP, then TLS with backend_tls (origination): both within timeouts.connect.
            switch (up_->advance_connect()) {
                case Upstream::Progress::waiting:
                    update();
                    return;
                case Upstream::Progress::failed:
                    connect_failed(up_->error(), up_->connect_error());
                    if (!closed_) update();
                    return;
                case Upstream::Progress::done:
                    break;
            }
            up_->connected = true;
            connector_.connected();
            up_->backend()->connections_total.add();
            server_seen_ = connected_at_ = now();
            up_->backend()->connect_time.observe(connected_at_ - connect_started_);
        }
        // TLS may need a write to make a read progress: try on any event.
        if ((revents & EV_READ) || up_->secure())
            read(up_->stream(), up_->in, up_eof_, up_error_, server_seen_);
        update();
    }

    void read(Stream& from, IoBuffer& buf, bool& eof, int& error, double& seen) {
        if (eof || buf.full()) return;
        ReadResult r = from.read(buf);
        if (r.n > 0) seen = now();
        if (r.eof) eof = true;
        if (r.n < 0) error = static_cast<int>(-r.n);
    }

    // Relays what can move, then sets socket interest and the idle deadline.
    void update() {
        if (closed_) return;
        if (queued()) {
            watch_client(0);
            arm(queued_since_ + seconds(timeouts_.queue));
            return;
        }
        if (!up_ || !up_->connected) {
            watch_client(0);  // read nothing until a backend is there
            if (up_) up_->watch(up_->connect_events());
            arm(connect_started_ + seconds(timeouts_.connect));
            return;
        }
        RelayEnd client{client_.fd(), &in_, client_eof_, client_shut_, client_error_};
        RelayEnd server{up_->fd(), &up_->in, up_eof_, server_shut_, up_error_, &up_->stream()};
        RelayProgress p = relay(client, server);
        client_shut_ = client.shut;
        server_shut_ = server.shut;
        client_error_ = client.error;
        up_error_ = server.error;
        bytes_up_ += p.a_to_b;
        bytes_down_ += p.b_to_a;
        if (relay_done(client, server)) {
            end(client_error_ ? Termination::client_abort
                : up_error_   ? Termination::backend_reset
                              : Termination::completed);
            return;
        }
        watch_client(relay_events(client, server));
        int server_events = relay_events(server, client);
        up_->want(server_events & EV_READ, server_events & EV_WRITE);
        arm(idle_deadline());
    }

    double idle_deadline() const {
        double d = 0;
        if (timeouts_.client.count() > 0) d = client_seen_ + seconds(timeouts_.client);
        if (timeouts_.server.count() > 0) {
            double s = server_seen_ + seconds(timeouts_.server);
            d = d == 0 ? s : std::min(d, s);
        }
        return d;
    }

    static void on_timer(struct ev_loop*, ev_timer* w, int) {
        auto* self = static_cast<TcpSession*>(w->data);
        double t = self->now();
        if (self->queued()) {
            if (t < self->queued_since_ + seconds(self->timeouts_.queue)) return self->update();
            self->worker_.stop_waiting(*self);
            self->service_state_->queue_timeouts.add();
            self->end(Termination::queue_timeout);
            return;
        }
        if (!self->up_ || !self->up_->connected) {
            if (t >= self->connect_started_ + seconds(self->timeouts_.connect)) {
                self->connect_failed(ETIMEDOUT);
                self->update();
                return;
            }
        } else if (double d = self->idle_deadline(); d > 0 && t >= d) {
            spdlog::debug("{}: {}: idle timeout", self->service_name_, self->peer_.to_string());
            bool client_idle = self->timeouts_.client.count() > 0 &&
                               t >= self->client_seen_ + seconds(self->timeouts_.client);
            self->end(client_idle ? Termination::client_timeout : Termination::server_timeout);
            return;
        }
        self->update();
    }

    void arm(double deadline) {
        ev_timer_stop(worker_.loop(), &timer_);
        if (deadline <= 0) return;
        ev_timer_set(&timer_, std::max(0.001, deadline - now()), 0.);
        ev_timer_start(worker_.loop(), &timer_);
    }

    void watch_client(int events) { watch(worker_.loop(), io_, client_.fd(), events); }

    // The connection ends for `cause`: counted, logged, closed.
    void end(Termination cause) {
        log_end(cause);
        close();
    }

    void log_end(Termination cause) {
        service_state_->count(cause);
        if (!worker_.context().access_log.load(std::memory_order_relaxed)) return;
        AccessRecord r;
        r.client = peer_;
        r.service = service_name_;
        if (up_) r.backend = up_->backend()->name;
        r.tcp = true;
        r.bytes_up = bytes_up_;
        r.bytes_down = bytes_down_;
        r.timers.total = now() - started_;
        if (up_ || queued_since_)
            r.timers.queue = queued_since_ ? (dequeued_ ? dequeued_ : now()) - queued_since_ : 0.;
        if (connected_at_) r.timers.connect = connected_at_ - connect_started_;
        r.retries = connector_.attempts() > 1 ? connector_.attempts() - 1 : 0;
        r.cause = cause;
        r.phase = connected_at_ ? runtime::Phase::tunnel
                  : queued()    ? runtime::Phase::queue
                                : runtime::Phase::connect;
        worker_.access_log().append(r);
    }

    void close() {
        if (closed_) return;
        closed_ = true;
        ev_io_stop(worker_.loop(), &io_);
        ev_timer_stop(worker_.loop(), &timer_);
        worker_.stop_waiting(*this);
        worker_.close(*this);
    }

    Worker::Impl& worker_;
    Stream client_;  // plain: tcp mode does not terminate TLS
    net::SocketAddress peer_;
    std::string service_name_;
    Connector connector_;
    IoBuffer in_;
    std::shared_ptr<runtime::Service> service_state_;
    config::Timeouts timeouts_;
    std::unique_ptr<Upstream> up_;
    ev_io io_{};
    ev_timer timer_{};
    bool client_eof_ = false, up_eof_ = false, client_shut_ = false, server_shut_ = false;
    int client_error_ = 0, up_error_ = 0;
    bool closed_ = false;
    double started_ = 0, client_seen_ = 0, server_seen_ = 0, connect_started_ = 0;
    double connected_at_ = 0;  // 0 until a backend accepted
    double queued_since_ = 0;  // 0 unless it waited for a backend slot
    double dequeued_ = 0;
    uint64_t bytes_up_ = 0, bytes_down_ = 0;
};

}  // namespace

std::unique_ptr<Session> make_tcp_session(Worker::Impl& worker, net::Fd fd,
                                          const net::SocketAddress& peer,
                                          const std::string& service) {
    return std::make_unique<TcpSession>(worker, std::move(fd), peer, service);
}

}  // namespace clb::proxy
