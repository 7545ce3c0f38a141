// A small YAML document model that prints the way an operator writes configuration by
// hand: keys in the order they were added, comments above entries and at line ends,
// short mappings and lists of scalars in flow style.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace clb::import {

class YamlNode {
  public:
    enum class Kind { scalar, map, list };

    static YamlNode raw(std::string text);     // printed as is: 42, true, 5s
    static YamlNode text(const std::string&);  // quoted unless plain is unambiguous
    static YamlNode quoted(const std::string&);
    static YamlNode map();
    static YamlNode list();

    Kind kind() const { return kind_; }
    bool empty() const { return entries_.empty() && items_.empty() && kind_ != Kind::scalar; }

    // map: appends key: value (keys are written once; callers keep them unique).
    YamlNode& set(const std::string& key, YamlNode value);
    YamlNode* find(const std::string& key);
    // list: appends an item.
    YamlNode& add(YamlNode value);

    // Full-line comments printed above this node's entry ("# " added), and one at the
    // end of its line.
    YamlNode& comment(const std::string& line);
    YamlNode& trailing(const std::string& text);
    // Full-line comments printed after the last entry of this map or list.
    YamlNode& footer(const std::string& line);
    // Print a map or list on one line: {a: 1, b: 2} / [1, 2].
    YamlNode& flow(bool on = true);
    const std::vector<std::string>& footer_lines() const { return footer_; }

    // The document: this node must be a map.
    std::string render() const;

  private:
    void render_entry(std::string& out, int indent, const std::string& key) const;
    void render_item(std::string& out, int indent) const;
    void render_block(std::string& out, int indent) const;
    std::string render_flow() const;
    bool prints_inline() const;

    Kind kind_ = Kind::scalar;
    std::string scalar_;
    std::vector<std::pair<std::string, YamlNode>> entries_;
    std::vector<YamlNode> items_;
    std::vector<std::string> comments_;
    std::vector<std::string> footer_;
    std::string trailing_;
    bool flow_ = false;
};

// A YAML double-quoted scalar of any text.
std::string yaml_quote(const std::string& text);

}  // namespace clb::import
