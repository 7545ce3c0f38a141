// spdlog's default logger, with a sink that hands each line to the log::Writer.
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>

#include "contrail_lb/log/writer.hpp"

namespace clb::log {

namespace {

constexpr char kLoggerName[] = "contrail-lb";
constexpr char kPattern[] = "[%Y-%m-%d %H:%M:%S.%e] [%l] %v";  // as append_prefix writes

class WriterSink final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    explicit WriterSink(Writer& writer) : writer_(writer) {}

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        auto level = spdlog::level::to_string_view(msg.level);
        writer_.submit({level.data(), level.size()}, {msg.payload.data(), msg.payload.size()},
                       msg.level >= spdlog::level::warn);
    }
    void flush_() override {}

  private:
    Writer& writer_;
};

void install(std::shared_ptr<spdlog::logger> logger) {
    auto level = spdlog::default_logger() ? spdlog::default_logger()->level() : spdlog::level::info;
    logger->set_level(level);
    spdlog::drop(kLoggerName);
    spdlog::set_default_logger(std::move(logger));
    spdlog::set_pattern(kPattern);
}

}  // namespace

SpdlogRoute::SpdlogRoute(Writer& writer) {
    install(std::make_shared<spdlog::logger>(kLoggerName, std::make_shared<WriterSink>(writer)));
}

SpdlogRoute::~SpdlogRoute() {
    install(std::make_shared<spdlog::logger>(kLoggerName,
                                             std::make_shared<spdlog::sinks::stderr_sink_mt>()));
}

}  // namespace clb::log
