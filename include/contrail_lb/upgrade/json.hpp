// A small JSON reader for the hand-over messages: what the other process sends is input
// like any other, so it is bounded (size, depth) and every malformed document is refused
// with a reason, never half-read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace clb::upgrade {

class Json {
  public:
    enum class Kind { null, boolean, number, string, array, object };

    Kind kind() const { return kind_; }
    bool is(Kind k) const { return kind_ == k; }
    // The member `key` of an object; null when absent or when this is not an object.
    const Json* find(std::string_view key) const;
    const std::vector<Json>& items() const { return items_; }  // array elements
    const std::string& text() const { return text_; }          // string value
    bool boolean() const { return boolean_; }
    double number() const { return number_; }

    // A document of at most `max_bytes`; nullopt and `error` set when it is not valid JSON.
    static std::optional<Json> parse(std::string_view text, std::string& error,
                                     size_t max_bytes = 1 << 20);

  private:
    friend class JsonParser;
    Kind kind_ = Kind::null;
    bool boolean_ = false;
    double number_ = 0;
    std::string text_;
    std::vector<Json> items_;
    std::vector<std::pair<std::string, Json>> members_;
};

}  // namespace clb::upgrade
