#include "access_log.hpp"

#include <fmt/format.h>

#include <cmath>

namespace clb::proxy {

namespace {

// Milliseconds, or -1 for a step that never happened.
int64_t millis(double seconds) {
    return seconds < 0 ? -1 : std::llround(seconds * 1000);
}

std::string_view or_dash(std::string_view s) {
    return s.empty() ? std::string_view("-") : s;
}

}  // namespace

void AccessLog::append(const AccessRecord& record) {
    if (!lane_) return;
    scratch_.clear();
    if (writer_->json())
        append_json(record);
    else
        append_text(record);
    scratch_.push_back('\n');
    pending_ |= lane_->push(scratch_);
}

// access: CLIENT SERVICE BACKEND "REQUEST" STATUS BYTES DURATION CAUSE phase=P
// timers=Tq/Tw/Tc/Tr/Ta retries=N conn=new|reused up=BYTES ["REASON"]
void AccessLog::append_text(const AccessRecord& r) {
    log::append_prefix(scratch_, "info");
    auto out = std::back_inserter(scratch_);
    fmt::format_to(out, "access: {} {} {} ", r.client.to_string(), r.service, or_dash(r.backend));
    if (r.tcp)
        fmt::format_to(out, "tcp {} bytes up {} bytes down", r.bytes_up, r.bytes_down);
    else
        fmt::format_to(out, "\"{}\" {} {}", or_dash(r.request_line), r.status, r.bytes_down);
    const Timers& t = r.timers;
    fmt::format_to(out, " {:.3f}s {} phase={} timers={}/{}/{}/{}/{} retries={} conn={}",
                   std::max(t.total, 0.), runtime::name(r.cause), runtime::name(r.phase),
                   millis(t.request), millis(t.queue), millis(t.connect), millis(t.response),
                   millis(t.total), r.retries, r.reused ? "reused" : "new");
    if (!r.tcp) fmt::format_to(out, " up={}", r.bytes_up);
    if (!r.reason.empty()) fmt::format_to(out, " \"{}\"", r.reason);
}

void AccessLog::append_json(const AccessRecord& r) {
    json_.clear();
    log::begin_json_line(json_, "info");
    json_.field("msg", "access");
    json_.field("client", r.client.to_string());
    json_.field("service", r.service);
    json_.key("backend");
    if (r.backend.empty()) {
        json_.null();
    } else {
        json_.value(r.backend);
    }
    json_.field("mode", r.tcp ? "tcp" : "http");
    if (!r.tcp) {
        json_.field("request", r.request_line);
        json_.field("status", r.status);
    }
    json_.field("bytes_up", r.bytes_up);
    json_.field("bytes_down", r.bytes_down);
    json_.key("timers_ms");
    json_.begin_object();
    json_.field("request", millis(r.timers.request));
    json_.field("queue", millis(r.timers.queue));
    json_.field("connect", millis(r.timers.connect));
    json_.field("response", millis(r.timers.response));
    json_.field("total", millis(r.timers.total));
    json_.end_object();
    json_.field("retries", r.retries);
    json_.field("connection", r.reused ? "reused" : "new");
    json_.field("termination", runtime::name(r.cause));
    json_.field("phase", runtime::name(r.phase));
    if (!r.reason.empty()) json_.field("reason", r.reason);
    json_.end_object();
    scratch_.append(json_.str());
}

void AccessLog::flush() {
    if (pending_) writer_->wake();
    pending_ = false;
}

}  // namespace clb::proxy
