// The hand-over protocol's decoder: what the other process sends is input like any other.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "contrail_lb/upgrade/json.hpp"
#include "contrail_lb/upgrade/messages.hpp"

using namespace clb::upgrade;
using clb::net::SocketAddress;

namespace {

State sample() {
    State s;
    s.pid = 42;
    s.listeners.push_back({"api", *SocketAddress::parse("127.0.0.1:8082"), 2});
    s.listeners.push_back({"web", *SocketAddress::parse("[::1]:8143"), 1});
    s.admin = SocketAddress::parse("127.0.0.1:9090");
    s.backends.push_back(
        {"api", "ctrl1", *SocketAddress::parse("10.0.0.11:8082"), true, true, false, "status 200"});
    s.backends.push_back({"api", "ctrl2", *SocketAddress::parse("10.0.0.12:8082"), false, true,
                          true, "timeout after 1s \"quoted\"\n"});
    return s;
}

std::string refusal(std::string_view text) {
    std::string error;
    auto m = decode(text, error);
    EXPECT_FALSE(m) << text;
    EXPECT_FALSE(error.empty()) << text;
    return error;
}

}  // namespace

TEST(UpgradeMessages, StateRoundTrips) {
    std::string error;
    auto m = decode(encode_state(sample()), error);
    ASSERT_TRUE(m) << error;
    ASSERT_EQ(m->type, MessageType::state);
    const State& s = m->state;
    EXPECT_EQ(s.pid, 42);
    ASSERT_EQ(s.listeners.size(), 2u);
    EXPECT_EQ(s.listeners[1].service, "web");
    EXPECT_EQ(s.listeners[1].address.to_string(), "[::1]:8143");
    EXPECT_EQ(s.listeners[0].fds, 2u);
    EXPECT_EQ(s.admin->to_string(), "127.0.0.1:9090");
    EXPECT_EQ(s.fd_count(), 4u);
    ASSERT_EQ(s.backends.size(), 2u);
    EXPECT_TRUE(s.backends[0].up);
    EXPECT_TRUE(s.backends[1].drained);
    EXPECT_EQ(s.backends[1].reason, "timeout after 1s \"quoted\"\n");
}

TEST(UpgradeMessages, SmallMessagesRoundTrip) {
    std::string error;
    EXPECT_EQ(decode(encode_hello(7), error)->pid, 7);
    EXPECT_EQ(decode(encode_committed(8, clb::bgp::SpeakerHandOver{}), error)->type,
              MessageType::committed);
    EXPECT_EQ(decode(encode_refused("busy"), error)->reason, "busy");
    EXPECT_EQ(decode(encode_abort("port in use"), error)->reason, "port in use");
    EXPECT_EQ(decode(encode_fds(3), error)->fds, 3u);
    EXPECT_EQ(decode(encode_ready(), error)->type, MessageType::ready);
}

TEST(UpgradeMessages, AnotherVersionIsRefusedWithBothVersions) {
    EXPECT_EQ(refusal(R"({"type":"hello","version":2,"pid":1})"),
              "protocol version 2, this process speaks version 1");
    EXPECT_EQ(refusal(R"({"type":"hello","pid":1})"), "a message without a protocol version");
}

TEST(UpgradeMessages, HostileAndPartialDocumentsAreRefused) {
    std::string state = encode_state(sample());
    // Every prefix of a valid state is refused, none crashes.
    for (size_t n = 0; n < state.size(); ++n)
        refusal(std::string_view(state).substr(0, n));
    refusal("");
    refusal("[]");
    refusal(R"({"type":"nope","version":1})");
    refusal(R"({"type":"hello","version":1})");              // no pid
    refusal(R"({"type":"hello","version":1,"pid":-1})");     // out of range
    refusal(R"({"type":"hello","version":1,"pid":1.5})");    // not an integer
    refusal(R"({"type":"fds","version":1,"count":1e300})");  // out of range
    refusal(R"({"type":"hello","version":1,"pid":1} trailing)");
    refusal(std::string(100, '[') + std::string(100, ']'));          // too deep
    refusal(R"({"type":"refused","version":1,"reason":"\ud800"})");  // lone surrogate
    refusal("{\"type\":\"refused\",\"version\":1,\"reason\":\"a\x01\"}");
    // A state whose descriptor count disagrees with its listeners.
    refusal(R"({"type":"state","version":1,"pid":1,"fds":5,"listeners":[{"service":"a",)"
            R"("address":"127.0.0.1:1","fds":1}],"admin":null,"backends":[]})");
    // A listener with an address that is not one.
    refusal(R"({"type":"state","version":1,"pid":1,"fds":1,"listeners":[{"service":"a",)"
            R"("address":"localhost:1","fds":1}],"admin":null,"backends":[]})");
    refusal(R"({"type":"state","version":1,"pid":1,"fds":0,"listeners":[1],"admin":null,)"
            R"("backends":[]})");
}

TEST(UpgradeJson, EscapesAndLimits) {
    std::string error;
    auto j =
        Json::parse(R"({"s":"a\u00e9\ud83d\ude00\n","n":-1.5e2,"b":[true,false,null]})", error);
    ASSERT_TRUE(j) << error;
    EXPECT_EQ(j->find("s")->text(), "a\xc3\xa9\xf0\x9f\x98\x80\n");
    EXPECT_EQ(j->find("n")->number(), -150);
    EXPECT_EQ(j->find("b")->items().size(), 3u);
    EXPECT_FALSE(Json::parse(std::string(64, ' '), error, 10));
    EXPECT_NE(error.find("at most 10"), std::string::npos);
}

TEST(UpgradeMessages, FuzzSeedsDecode) {
    for (const char* name : {"hello", "refused", "state", "committed", "client"}) {
        std::ifstream in(std::string(CLB_SOURCE_DIR) + "/tests/fuzz/corpus/upgrade/" + name +
                         ".json");
        std::stringstream text;
        text << in.rdbuf();
        std::string error;
        EXPECT_TRUE(decode(text.str(), error)) << name << ": " << error;
    }
}

TEST(UpgradeMessages, CommitCarriesBgpAndBfd) {
    std::ifstream in(std::string(CLB_SOURCE_DIR) + "/tests/fuzz/corpus/upgrade/committed.json");
    std::stringstream text;
    text << in.rdbuf();
    std::string error;
    auto m = decode(text.str(), error);
    ASSERT_TRUE(m) << error;
    ASSERT_EQ(m->speaker.sessions.size(), 1u);
    EXPECT_EQ(m->speaker.sessions[0].hold_time, 9);
    ASSERT_EQ(m->speaker.bfd.sessions.size(), 1u);
    EXPECT_EQ(m->speaker.bfd.sessions[0].fsm.state, clb::bfd::State::up);
    EXPECT_EQ(committed_fd_count(*m), 3u);  // BGP socket, BFD socket, IPv4 receiver
    // Round trip through the encoder.
    auto again = decode(encode_committed(7, m->speaker), error);
    ASSERT_TRUE(again) << error;
    EXPECT_EQ(again->speaker.bfd.sessions[0].fsm.remote_discr, 2u);
    EXPECT_EQ(again->speaker.sessions[0].adj_rib_out, m->speaker.sessions[0].adj_rib_out);
    // The counters travel, so /metrics shows no reset across an upgrade.
    EXPECT_EQ(again->speaker.sessions[0].counters.established_since, 12.5);
    EXPECT_EQ(again->speaker.sessions[0].counters.messages_in, 3u);
}
