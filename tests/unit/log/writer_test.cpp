// The log writer (include/contrail_lb/log/writer.hpp): bounded lanes, a writer thread that
// alone touches the output, drops counted, repeats summarised, exit never held by a
// stalled reader.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include "contrail_lb/log/writer.hpp"

namespace clb::log {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Pipe {
    Pipe() {
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
        read_end = fds[0];
        write_end = fds[1];
    }
    ~Pipe() {
        ::close(read_end);
        ::close(write_end);
    }
    // Everything readable within `limit`, until `done` holds.
    std::string read_until(const std::function<bool(const std::string&)>& done,
                           std::chrono::milliseconds limit = 3s) {
        auto deadline = Clock::now() + limit;
        while (!done(text) && Clock::now() < deadline) {
            pollfd p{read_end, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            char buf[65536];
            ssize_t n = ::read(read_end, buf, sizeof buf);
            if (n > 0) text.append(buf, static_cast<size_t>(n));
        }
        return text;
    }
    int read_end = -1;
    int write_end = -1;
    std::string text;
};

size_t count(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

TEST(Lane, KeepsWholeLinesAcrossTheWrapAndDropsWhatDoesNotFit) {
    Lane lane(64);
    std::string out;
    for (int round = 0; round < 10; ++round) {
        EXPECT_TRUE(lane.push("0123456789abcdefghij\n"));  // 21 bytes
        EXPECT_TRUE(lane.push("klmnopqrstuvwxyz0123\n"));
        lane.pop_into(out);
    }
    EXPECT_EQ(count(out, "0123456789abcdefghij\n"), 10u);
    EXPECT_EQ(count(out, "klmnopqrstuvwxyz0123\n"), 10u);
    EXPECT_EQ(out.size(), 420u);
    EXPECT_TRUE(lane.empty());

    EXPECT_TRUE(lane.push(std::string(40, 'a')));
    EXPECT_FALSE(lane.push(std::string(40, 'b')));  // 80 > 64: all or nothing
    EXPECT_TRUE(lane.push(std::string(24, 'c')));
    EXPECT_EQ(lane.dropped(), 1u);
    out.clear();
    lane.pop_into(out);
    EXPECT_EQ(out, std::string(40, 'a') + std::string(24, 'c'));
}

TEST(Writer, WritesLanesAndSubmittedLinesWithThePrefix) {
    Pipe pipe;
    Writer writer(pipe.write_end);
    Lane& lane = writer.add_lane();
    std::string line;
    append_prefix(line, "info");
    line += "access: one\n";
    ASSERT_TRUE(lane.push(line));
    writer.wake();
    writer.submit("warning", "something odd", true);
    std::string text = pipe.read_until([](const std::string& t) {
        return t.find("access: one") != std::string::npos &&
               t.find("something odd") != std::string::npos;
    });
    EXPECT_TRUE(std::regex_search(
        text, std::regex(R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[info\] access: one\n)")));
    EXPECT_TRUE(std::regex_search(text, std::regex(R"(\] \[warning\] something odd\n)")));
    EXPECT_EQ(writer.dropped(), 0u);
}

TEST(Writer, RepeatedWarningIsWrittenOnceThenSummarised) {
    Pipe pipe;
    Writer writer(pipe.write_end);
    for (int i = 0; i < 100; ++i) {
        writer.submit("error", "accept: Too many open files", true);
        writer.submit("info", "routine", false);
    }
    std::string text = pipe.read_until(
        [](const std::string& t) { return t.find("repeated") != std::string::npos; });
    EXPECT_EQ(count(text, "routine\n"), 100u);
    EXPECT_EQ(count(text, "[error] accept: Too many open files\n"), 1u);
    EXPECT_EQ(
        count(text, "[error] accept: Too many open files [repeated 99 times in the last 1s]\n"), 1u)
        << text;
}

TEST(Writer, StalledReaderNeitherBlocksProducersNorHoldsTheExit) {
    Pipe pipe;  // never read until the end
    auto writer = std::make_unique<Writer>(pipe.write_end);
    Lane& lane = writer->add_lane(64 * 1024);
    const std::string line(200, 'x');
    auto began = Clock::now();
    for (int i = 0; i < 20000; ++i) {
        lane.push(line + "\n");
        writer->submit("info", line, false);
        writer->wake();
    }
    // 8 MB of lines against a 64 KiB pipe: producers never waited for the reader.
    EXPECT_LT(Clock::now() - began, 2s);
    EXPECT_GT(writer->dropped(), 10000u);
    began = Clock::now();
    writer.reset();
    EXPECT_LT(Clock::now() - began, Writer::kCloseTimeout + 1s);
}

}  // namespace
}  // namespace clb::log
