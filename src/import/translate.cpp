// --import-haproxy: parse both files, collect, print the document.
#include "contrail_lb/import/translate.hpp"

#include <crypt.h>

#include "contrail_lb/import/bird.hpp"
#include "contrail_lb/import/haproxy.hpp"
#include "import/emit.hpp"

namespace clb::import {

namespace {

YamlNode header(const ImportInput& input) {
    YamlNode doc = YamlNode::map();
    std::string sources = input.haproxy_file + (input.bird_file ? " and " + *input.bird_file : "");
    doc.comment("contrail-lb configuration translated from " + sources);
    doc.comment(
        "by contrail-lb --import-haproxy. Every key is in docs/configuration.md; check with");
    doc.comment("  contrail-lb -c FILE --check");
    doc.comment("\"not translated\" lines name what HAProxy/BIRD did that this file does not do.");
    return doc;
}

}  // namespace

std::string hash_password(const std::string& password) {
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    crypt_data data{};
    for (const char* prefix : {"$y$", "$6$"}) {
        if (!crypt_gensalt_rn(prefix, 0, nullptr, 0, setting, sizeof setting)) continue;
        const char* hash = crypt_r(password.c_str(), setting, &data);
        if (hash && hash[0] == '$') return hash;
    }
    return "";
}

ImportResult translate(const ImportInput& input) {
    ImportResult result;
    auto haproxy = parse_haproxy(input.haproxy_text, input.haproxy_file);
    if (haproxy.error) return ImportResult{haproxy.error, "", {}, ""};
    std::optional<BirdConfig> bird;
    if (input.bird_file) {
        auto parsed = parse_bird(input.bird_text, *input.bird_file);
        if (parsed.error) return ImportResult{parsed.error, "", {}, ""};
        bird = std::move(parsed.config);
    }
    Notes notes;
    HaproxyDrafts drafts = collect_haproxy(*haproxy.config, notes);
    YamlNode doc = header(input);
    YamlNode global = emit_global(drafts.global);
    if (drafts.admin) {
        std::string users_file = input.users_file;
        for (const auto& [user, password] : drafts.admin->users) {
            std::string hash = users_file.empty() ? "" : hash_password(password);
            if (!users_file.empty() && hash.empty()) {
                notes.untranslated(drafts.admin->auth_origin, "stats auth " + user,
                                   "crypt(3) failed", drafts.admin->notes);
                continue;
            }
            result.users_file_text += user + ":" + hash + "\n";
        }
        if (result.users_file_text.empty()) users_file.clear();
        if (users_file.empty()) result.users_file_text.clear();
        doc.set("global", std::move(global));
        doc.set("admin", emit_admin(*drafts.admin, users_file, notes));
    } else {
        doc.set("global", std::move(global));
    }
    YamlNode services = YamlNode::list();
    std::vector<std::string> names;
    for (auto& service : drafts.services) {
        names.push_back(service.name);
        services.add(emit_service(service, drafts.global, notes));
    }
    doc.set("services", std::move(services));
    if (bird) {
        YamlNode bgp = translate_bird(*bird, names, notes);
        if (bgp.find("router_id"))
            doc.set("bgp", std::move(bgp));
        else
            for (const auto& line : bgp.footer_lines())
                doc.footer(line);
    }
    result.untranslated = notes.take();
    result.yaml = doc.render();
    return result;
}

}  // namespace clb::import
