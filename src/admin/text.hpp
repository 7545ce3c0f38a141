// Text helpers shared by the admin views: escaping for HTML and Prometheus (JSON is
// log::JsonWriter's), and the human-readable forms used on the stats page.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "contrail_lb/log/json.hpp"

namespace clb::admin {

// & < > " ' as entities: safe in element content and in quoted attributes.
std::string html_escape(std::string_view text);
// Prometheus label value: backslash, double quote and newline escaped (exposition 0.0.4).
std::string prometheus_label_escape(std::string_view text);
// Shortest text that reads back as the same double; what Prometheus and JSON expect.
std::string format_number(double value);

using log::json_quote;
using log::JsonWriter;

// "1.5 KiB", "3.2 GiB", "12 B".
std::string human_bytes(uint64_t bytes);
// "45s", "3m12s", "2h05m", "4d03h".
std::string human_duration(double seconds);
// "2026-11-25 12:00:00 UTC"; "-" for 0.
std::string utc_time(double unix_time);

}  // namespace clb::admin
