#include "take_over.hpp"

#include <unistd.h>

#include "contrail_lb/net/socket.hpp"

namespace clb::app {

std::optional<upgrade::Message> TakeOver::next(std::string& error) {
    auto frame = reader_.wait_frame(fd_.get(), error);
    if (!frame) return std::nullopt;
    auto message = upgrade::decode(frame->json, error);
    if (message && message->type == upgrade::MessageType::refused) {
        error = "refused: " + message->reason;
        return std::nullopt;
    }
    return message;
}

bool TakeOver::receive_fds(size_t count, std::string& error) {
    size_t announced = 0;
    while (announced < count) {
        auto batch = next(error);
        if (!batch) return false;
        if (batch->type != upgrade::MessageType::fds) {
            error = "expected descriptors, got another message";
            return false;
        }
        announced += batch->fds;
    }
    auto fds = reader_.take_fds(count);
    if (announced != count || !fds || reader_.fds_waiting() != 0) {
        error = "the descriptors received do not match the state";
        return false;
    }
    fds_ = std::move(*fds);
    return true;
}

bool TakeOver::receive(const std::string& socket, std::string& error) {
    socket_ = socket;
    int err = 0;
    fd_ = upgrade::connect_unix(socket, kTimeout, err);
    if (!fd_) {
        error = "cannot connect: " + net::error_text(err);
        return false;
    }
    if (!upgrade::send_frame(fd_.get(), upgrade::encode_hello(::getpid()), {}, error)) return false;
    auto message = next(error);
    if (!message) return false;
    if (message->type != upgrade::MessageType::state) {
        error = "expected the state, got another message";
        return false;
    }
    state_ = std::move(message->state);
    return receive_fds(state_.fd_count(), error);
}

bool TakeOver::ready(std::string& error) {
    if (!upgrade::send_frame(fd_.get(), upgrade::encode_ready(), {}, error)) return false;
    auto message = next(error);
    if (!message) return false;
    if (message->type != upgrade::MessageType::committed) {
        error = "expected the commit, got another message";
        return false;
    }
    // Committed: from here on this process serves, whatever else goes wrong.
    if (receive_fds(upgrade::committed_fd_count(*message), error) &&
        upgrade::attach_fds(*message, fds_)) {
        speaker_ = std::move(message->speaker);
    } else {
        bgp_error_ = error.empty() ? "descriptors missing" : error;  // new sessions then
        error.clear();
    }
    fds_.clear();
    net::set_nonblocking(fd_.get());  // from now on read on the control loop
    return true;
}

bool TakeOver::read_clients(const OnClient& on_client) {
    std::string error;
    auto status = reader_.read_some(fd_.get(), error);
    if (status == upgrade::FrameReader::Status::again) return true;
    bool open = status == upgrade::FrameReader::Status::frame;
    for (;;) {
        bool bad = false;
        auto frame = reader_.next(error, bad);
        if (!frame) break;
        auto message = upgrade::decode(frame->json, error);
        if (!message || message->type != upgrade::MessageType::client) continue;
        auto fds = reader_.take_fds(1);
        if (fds) on_client(std::move(message->client), std::move(fds->front()));
    }
    if (!open) fd_.reset();
    return open;
}

void TakeOver::abort(const std::string& reason) {
    if (!fd_) return;
    std::string ignored;
    upgrade::send_frame(fd_.get(), upgrade::encode_abort(reason), {}, ignored);
    fd_.reset();
}

}  // namespace clb::app
