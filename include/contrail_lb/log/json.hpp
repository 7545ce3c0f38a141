// JSON text in one pass: the admin API's documents and the JSON log lines.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace clb::log {

// A JSON string literal with its quotes. Control characters become \uXXXX, and invalid
// UTF-8 becomes U+FFFD, so the output is always valid JSON whatever a reason string holds.
std::string json_quote(std::string_view text);

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
    // Starts a new document, keeping the capacity (a writer reused per log line).
    void clear();

  private:
    void before_value();
    std::string out_;
    std::vector<bool> first_;  // per open container: nothing written in it yet
    bool after_key_ = false;
};

}  // namespace clb::log
