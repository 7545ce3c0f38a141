// Text helpers shared by the admin views: escaping for HTML, Prometheus and JSON, a small
// JSON writer, and the human-readable forms used on the stats page.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace clb::admin {

// & < > " ' as entities: safe in element content and in quoted attributes.
std::string html_escape(std::string_view text);
// Prometheus label value: backslash, double quote and newline escaped (exposition 0.0.4).
std::string prometheus_label_escape(std::string_view text);
// A JSON string literal with its quotes. Control characters become \uXXXX, and invalid
// UTF-8 becomes U+FFFD, so the output is always valid JSON whatever a reason string holds.
std::string json_quote(std::string_view text);
// Shortest text that reads back as the same double; what Prometheus and JSON expect.
std::string format_number(double value);

// Writes JSON in one pass; commas and nesting are its business, not the caller's.
//   JsonWriter w; w.begin_object(); w.key("a"); w.value(1); w.end_object(); w.str() == {"a":1}
class JsonWriter {
  public:
    void begin_object();
    void end_object();
    void begin_array();
    void end_array();
    void key(std::string_view name);
    void value(std::string_view s);
    void value(const char* s) { value(std::string_view(s)); }
    void value(const std::string& s) { value(std::string_view(s)); }
    void value(bool b);
    void value(double d);  // NaN and infinities become null
    void value(int64_t n);
    void value(uint64_t n);
    void value(int n) { value(static_cast<int64_t>(n)); }
    void value(unsigned n) { value(static_cast<uint64_t>(n)); }
    // "name": value, in one call.
    template <class T>
    void field(std::string_view name, const T& v) {
        key(name);
        value(v);
    }
    void null();
    const std::string& str() const { return out_; }

  private:
    void before_value();
    std::string out_;
    std::vector<bool> first_;  // per open container: nothing written in it yet
    bool after_key_ = false;
};

// "1.5 KiB", "3.2 GiB", "12 B".
std::string human_bytes(uint64_t bytes);
// "45s", "3m12s", "2h05m", "4d03h".
std::string human_duration(double seconds);
// "2026-11-25 12:00:00 UTC"; "-" for 0.
std::string utc_time(double unix_time);

}  // namespace clb::admin
