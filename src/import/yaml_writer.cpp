#include "import/yaml_writer.hpp"

#include <cstdio>

namespace clb::import {

namespace {

// Plain scalars that a YAML reader takes back as the same string: no indicator at the
// start, nothing that reads as a comment, mapping or flow, and not a boolean, null or
// number look-alike.
bool plain_is_safe(const std::string& s) {
    if (s.empty() || s.size() > 200) return false;
    static const std::string kSpecial = "-?:,[]{}#&*!|>'\"%@`";
    if (kSpecial.find(s.front()) != std::string::npos && s.front() != '-') return false;
    if (s.front() == '-' && (s.size() == 1 || s[1] == ' ')) return false;
    for (unsigned char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == '/' || c == '$';
        if (!ok) return false;
    }
    static const char* kWords[] = {"true",  "false", "yes", "no",  "on",   "off",  "null", "True",
                                   "False", "Yes",   "No",  "On",  "Off",  "Null", "TRUE", "FALSE",
                                   "YES",   "NO",    "ON",  "OFF", "NULL", "~"};
    for (const char* word : kWords)
        if (s == word) return false;
    bool numeric = true;
    for (unsigned char c : s)
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_')) numeric = false;
    return !numeric;
}

void indent_to(std::string& out, int indent) {
    out.append(static_cast<size_t>(indent), ' ');
}

// A comment quotes what an operator wrote: a control character in it (a lone CR is a line
// break to YAML) must not end the comment and turn the rest into configuration.
std::string comment_text(const std::string& text) {
    std::string out = text;
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return out;
}

void put_comments(std::string& out, int indent, const std::vector<std::string>& lines) {
    for (const auto& line : lines) {
        indent_to(out, indent);
        out += line.empty() ? "#" : "# " + comment_text(line);
        out += '\n';
    }
}

}  // namespace

std::string yaml_quote(const std::string& text) {
    std::string out = "\"";
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

YamlNode YamlNode::raw(std::string text) {
    YamlNode n;
    n.scalar_ = std::move(text);
    return n;
}
YamlNode YamlNode::text(const std::string& s) {
    return raw(plain_is_safe(s) ? s : yaml_quote(s));
}
YamlNode YamlNode::quoted(const std::string& s) {
    return raw(yaml_quote(s));
}
YamlNode YamlNode::map() {
    YamlNode n;
    n.kind_ = Kind::map;
    return n;
}
YamlNode YamlNode::list() {
    YamlNode n;
    n.kind_ = Kind::list;
    return n;
}

YamlNode& YamlNode::set(const std::string& key, YamlNode value) {
    entries_.emplace_back(key, std::move(value));
    return entries_.back().second;
}
YamlNode* YamlNode::find(const std::string& key) {
    for (auto& [k, v] : entries_)
        if (k == key) return &v;
    return nullptr;
}
YamlNode& YamlNode::add(YamlNode value) {
    items_.push_back(std::move(value));
    return items_.back();
}
YamlNode& YamlNode::comment(const std::string& line) {
    comments_.push_back(line);
    return *this;
}
YamlNode& YamlNode::trailing(const std::string& text) {
    trailing_ = text;
    return *this;
}
YamlNode& YamlNode::footer(const std::string& line) {
    footer_.push_back(line);
    return *this;
}
YamlNode& YamlNode::flow(bool on) {
    flow_ = on;
    return *this;
}

bool YamlNode::prints_inline() const {
    return kind_ == Kind::scalar || empty() || (flow_ && footer_.empty());
}

std::string YamlNode::render_flow() const {
    if (kind_ == Kind::scalar) return scalar_;
    std::string out = kind_ == Kind::map ? "{" : "[";
    bool first = true;
    for (const auto& [key, value] : entries_) {
        out += (first ? "" : ", ") + key + ": " + value.render_flow();
        first = false;
    }
    for (const auto& item : items_) {
        out += (first ? "" : ", ") + item.render_flow();
        first = false;
    }
    return out + (kind_ == Kind::map ? "}" : "]");
}

void YamlNode::render_entry(std::string& out, int indent, const std::string& key) const {
    put_comments(out, indent, comments_);
    indent_to(out, indent);
    out += key + ":";
    if (prints_inline()) {
        out += " " + render_flow();
        if (!trailing_.empty()) out += "  # " + comment_text(trailing_);
        out += '\n';
        return;
    }
    if (!trailing_.empty()) out += "  # " + comment_text(trailing_);
    out += '\n';
    render_block(out, indent + 2);
}

void YamlNode::render_item(std::string& out, int indent) const {
    put_comments(out, indent, comments_);
    indent_to(out, indent);
    if (prints_inline()) {
        out += "- " + render_flow();
        if (!trailing_.empty()) out += "  # " + comment_text(trailing_);
        out += '\n';
        return;
    }
    if (kind_ == Kind::map) {
        // "- key: value" with the rest of the mapping aligned under the first key.
        // Comments of the first key stay above the "- " line.
        std::string inner;
        render_block(inner, indent + 2);
        size_t at = 0;
        while (at < inner.size() && inner.compare(at + indent + 2, 1, "#") == 0)
            at = inner.find('\n', at) + 1;
        out.resize(out.size() - static_cast<size_t>(indent));  // indent_to above, redone below
        out += inner.substr(0, at);
        indent_to(out, indent);
        out += "- " + inner.substr(at + static_cast<size_t>(indent) + 2);
        return;
    }
    out += "-\n";
    render_block(out, indent + 2);
}

void YamlNode::render_block(std::string& out, int indent) const {
    for (const auto& [key, value] : entries_)
        value.render_entry(out, indent, key);
    for (const auto& item : items_)
        item.render_item(out, indent);
    put_comments(out, indent, footer_);
}

std::string YamlNode::render() const {
    std::string out;
    put_comments(out, 0, comments_);
    if (!comments_.empty()) out += '\n';
    bool first = true;
    for (const auto& [key, value] : entries_) {
        if (!first) out += '\n';  // a blank line between top-level sections
        value.render_entry(out, 0, key);
        first = false;
    }
    if (!footer_.empty()) out += '\n';
    put_comments(out, 0, footer_);
    return out;
}

}  // namespace clb::import
