// haproxy.cfg's sections -> service drafts: defaults inherited as HAProxy does (each
// proxy takes the last defaults section above it), a frontend joined with its backend.
#include <map>

#include "import/drafts.hpp"

namespace clb::import {

namespace {

class Collector {
  public:
    Collector(const HaproxyConfig& config, Notes& notes) : config_(config), notes_(notes) {}

    HaproxyDrafts run() {
        const HaproxySection* defaults = nullptr;
        for (const auto& section : config_.sections) {  // backends may follow their frontend
            if (section.kind == "defaults") {
                defaults = &section;
                named_defaults_[section.name] = &section;
            } else if (section.kind == "backend") {
                backends_[section.name] = &section;
                backend_defaults_[section.name] = defaults_of(section, defaults);
            }
        }
        defaults = nullptr;
        for (const auto& section : config_.sections) {
            if (section.kind == "defaults") {
                defaults = &section;
                note_header_args(section);
            } else if (section.kind == "global") {
                for (const auto& d : section.directives)
                    apply_global_directive(d, config_.file, notes_, drafts_.global);
            } else if (section.kind == "frontend" || section.kind == "listen") {
                proxy(section, defaults_of(section, defaults));
            } else if (section.kind == "backend") {
                continue;  // translated with the frontend that uses it
            } else {
                notes_.untranslated(origin(section.line), section.kind + " " + section.name,
                                    "this section has no contrail-lb equivalent",
                                    drafts_.global.notes);
            }
        }
        for (const auto& [name, section] : backends_) {
            if (!used_backends_.contains(name))
                notes_.untranslated(origin(section->line), "backend " + name, "no frontend uses it",
                                    drafts_.global.notes);
        }
        return std::move(drafts_);
    }

  private:
    Origin origin(int line) const { return Origin{config_.file, line}; }
    std::string from(const HaproxySection& s) const {
        return "from " + origin(s.line).where() + " " + s.kind + " " + s.name;
    }

    // "frontend NAME from DEFAULTS" (HAProxy 2.4): a named defaults section.
    const HaproxySection* defaults_of(const HaproxySection& section, const HaproxySection* last) {
        const auto& args = section.header_args;
        if (args.size() == 2 && args[0] == "from" && named_defaults_.contains(args[1]))
            return named_defaults_[args[1]];
        return last;
    }
    void note_header_args(const HaproxySection& section) {
        if (!section.header_args.empty())
            notes_.untranslated(origin(section.line),
                                section.kind + " " + join_words(section.header_args),
                                "no contrail-lb setting", drafts_.global.notes);
    }

    void apply_all(ServiceDraft& s, const HaproxySection* section, Side side, bool own) {
        if (!section) return;
        for (const auto& d : section->directives) {
            DirectiveContext ctx{s, d, origin(d.line), side, notes_, drafts_.global};
            if (!apply_proxy_directive(ctx) && own)
                notes_.untranslated(ctx.origin, d.text, "not valid in a " + section->kind, s.notes);
        }
    }

    void proxy(const HaproxySection& section, const HaproxySection* defaults) {
        ServiceDraft s;
        s.name = safe_name(section.name);
        s.origins.push_back(from(section));
        const auto& args = section.header_args;
        bool old_bind = !args.empty() && args[0] != "from";
        if (old_bind) {  // "listen NAME ADDR:PORT": the bind on the header line
            HaproxyDirective bind{section.line, {"bind"}, "bind " + join_words(args)};
            bind.words.insert(bind.words.end(), args.begin(), args.end());
            DirectiveContext ctx{s,      bind,          origin(section.line), Side::frontend,
                                 notes_, drafts_.global};
            apply_proxy_directive(ctx);
        }
        Side side = section.kind == "listen" ? Side::both : Side::frontend;
        apply_all(s, defaults, side, false);
        apply_all(s, &section, side, true);
        if (section.kind == "frontend" && s.backend_name) join_backend(s);
        if (s.stats && s.servers.empty() && !s.redirect) return admin(std::move(s));
        for (const auto& [where, text] : s.stats_directives)
            notes_.untranslated(where, text,
                                "contrail-lb serves its stats on admin.listen, not on a service",
                                s.notes);
        if (s.servers.empty() && !s.redirect) {
            notes_.untranslated(origin(section.line), section.kind + " " + section.name,
                                "no servers and no redirect: nothing to translate",
                                drafts_.global.notes);
            return;
        }
        drafts_.services.push_back(std::move(s));
    }

    void join_backend(ServiceDraft& s) {
        auto found = backends_.find(*s.backend_name);
        if (found == backends_.end()) {
            notes_.untranslated(s.backend_origin, "default_backend " + *s.backend_name,
                                "no backend of that name", s.notes);
            return;
        }
        used_backends_.insert(found->first);
        const HaproxySection& backend = *found->second;
        s.origins.push_back(from(backend));
        apply_all(s, backend_defaults_[backend.name], Side::backend, false);
        apply_all(s, &backend, Side::backend, true);
    }

    void admin(ServiceDraft s) {
        if (drafts_.admin) {
            notes_.untranslated(s.stats_origin, "stats on " + s.name,
                                "a second stats listener: contrail-lb has one admin.listen",
                                drafts_.global.notes);
            return;
        }
        AdminDraft admin{s.origins, s.listen.empty() ? "" : s.listen.front(), s.stats_users,
                         s.notes, s.stats_auth_origin};
        if (s.listen.size() > 1)
            notes_.untranslated(s.stats_origin, "bind " + s.listen[1],
                                "admin.listen is one address", admin.notes);
        drafts_.admin = std::move(admin);
    }

    const HaproxyConfig& config_;
    Notes& notes_;
    HaproxyDrafts drafts_;
    std::map<std::string, const HaproxySection*> backends_;
    std::map<std::string, const HaproxySection*> backend_defaults_;
    std::map<std::string, const HaproxySection*> named_defaults_;
    std::set<std::string> used_backends_;
};

}  // namespace

HaproxyDrafts collect_haproxy(const HaproxyConfig& config, Notes& notes) {
    return Collector(config, notes).run();
}

}  // namespace clb::import
