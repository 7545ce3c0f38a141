// Helpers shared by the config unit tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "contrail_lb/config/config.hpp"

namespace clb::config::test {

// Raw string literals in the tests start with a newline so the YAML lines up with the source;
// drop it so that the first YAML line is line 1.
inline std::string yaml(std::string_view text) {
    if (!text.empty() && text.front() == '\n') text.remove_prefix(1);
    return std::string(text);
}

// Every error of loading `text` as "t.yaml", formatted "t.yaml:LINE:COL: message".
inline std::vector<std::string> errors_of(std::string_view text) {
    auto result = load_string(yaml(text), "t.yaml");
    std::vector<std::string> out;
    for (const auto& e : result.errors)
        out.push_back(e.to_string());
    EXPECT_EQ(result.ok(), result.config != nullptr);
    return out;
}

inline std::shared_ptr<const Config> load_ok(std::string_view text) {
    auto result = load_string(yaml(text), "t.yaml");
    for (const auto& e : result.errors)
        ADD_FAILURE() << e.to_string();
    return result.config;
}

// A minimal valid service, for tests about other sections (lines 1-5).
inline constexpr std::string_view kOneService = R"(
services:
  - name: api
    listen: "127.0.0.1:8082"
    backends:
      - { name: b1, address: "127.0.0.1:9101" }
)";

}  // namespace clb::config::test
