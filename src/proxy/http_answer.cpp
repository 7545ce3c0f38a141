// The answers an HttpSession gives itself: an error (the operator's page or the built-in
// one), a redirect, and the abort of an exchange that cannot be answered any more.
#include <spdlog/spdlog.h>

#include "contrail_lb/http/responses.hpp"
#include "contrail_lb/net/socket.hpp"
#include "http_session.hpp"

namespace clb::proxy {

using runtime::Termination;

// The usual cause of an answer from the proxy itself; callers that know better say so.
Termination HttpSession::default_cause(int status) {
    switch (status) {
        case 408:
            return Termination::request_timeout;
        case 502:
            return Termination::backend_reset;
        case 503:
            return Termination::no_backend;
        case 504:
            return Termination::server_timeout;
        default:
            return Termination::bad_request;
    }
}

void HttpSession::fail(int status, std::string why) {
    fail(status, default_cause(status), std::move(why));
}

void HttpSession::fail(int status, Termination cause, std::string why) {
    exchange();  // a request head that never completed has none yet
    if (x_->response_started) {
        abort(cause, why);
        return;
    }
    close_after_ = true;
    answer(status, cause, std::move(why), error_answer(status));
}

// The operator's page for `status` (error_pages), else the built-in answer. A page is
// copied: a reload may free the configuration it belongs to while it is being sent.
std::string_view HttpSession::error_answer(int status) {
    if (const auto* svc = worker_.snapshot()->find(service_name())) {
        const auto& pages = svc->config->error_pages;
        if (auto page = pages.find(status); page != pages.end()) {
            x_->answer.assign(page->second);
            return x_->answer;
        }
    }
    return http::error_response(status);
}

// A redirect service answers every request itself, keep-alive honoured. A request body is
// never read: the connection closes after the answer (linger() discards what comes).
void HttpSession::answer_redirect(const config::Redirect& to, size_t head_len) {
    x_->client_http10 = x_->request.http_minor() == 0;
    bool has_body = !x_->request.message_complete();
    close_after_ = close_after_ || has_body || !x_->request.keep_alive() || closes_for_drain();
    const http::Header* host = x_->head.find("host");
    // No Host (HTTP/1.0): the address the client reached, as the best name it knows us by.
    std::string reached;
    if (!host || host->value.empty()) reached = net::local_address(client_.fd()).to_string();
    std::string_view connection =
        close_after_ ? "close" : (x_->client_http10 ? "keep-alive" : std::string_view());
    x_->answer.clear();
    http::append_redirect(x_->answer, to.code, to.scheme, to.port,
                          reached.empty() ? host->value : std::string_view(reached),
                          x_->head.second(), connection);
    in_.consume(head_len);  // after the last use of the head's views into it
    answer(to.code, Termination::redirect, {}, x_->answer);
}

// The proxy answers the request itself with `response`, sent whole by flush_answer().
void HttpSession::answer(int status, Termination cause, std::string why,
                         std::string_view response) {
    x_->termination = cause;
    x_->status = status;
    x_->reason = std::move(why);
    if (x_->started == 0) x_->started = head_first_byte_ ? head_first_byte_ : now();
    release_upstream(false);
    const auto* backend = x_->connector->backend();
    if (backend && (status == 502 || status == 504))
        runtime::count_status(backend->state->responses, status);
    else
        runtime::count_status(service_state_->responses_without_backend, status);
    if (x_->connector->service()) service_state_->duration.observe(now() - x_->started);
    log_request();
    x_->answer_out = response;
    x_->answer_sent = 0;
    phase_ = Phase::answer;
    phase_since_ = now();
}

void HttpSession::flush_answer() {
    while (x_->answer_sent < x_->answer_out.size()) {
        ssize_t n = client_.write(x_->answer_out.data() + x_->answer_sent,
                                  x_->answer_out.size() - x_->answer_sent, nullptr, 0);
        if (n == 0) return;
        if (n < 0) {
            close();
            return;
        }
        x_->answer_sent += static_cast<size_t>(n);
    }
    if (close_after_)
        linger();
    else
        await_next_request();  // a redirect on a kept-alive connection
}

void HttpSession::abort(Termination cause, std::string_view why) {
    exchange().termination = cause;
    spdlog::debug("{}: {} {}: closing: {}", service_name(), client_ip_.to_string(),
                  x_->request_line, why);
    // A request cut short is logged once, with status 0 when no answer had started.
    if (x_->status == 0) x_->reason = why;
    if (x_->started != 0) log_request();
    close();
}

}  // namespace clb::proxy
