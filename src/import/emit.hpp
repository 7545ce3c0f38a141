// Drafts -> the YAML nodes of a contrail-lb configuration.
#pragma once

#include "import/drafts.hpp"
#include "import/yaml_writer.hpp"

namespace clb::import {

YamlNode emit_service(ServiceDraft& service, const GlobalDraft& global, Notes& notes);
YamlNode emit_global(const GlobalDraft& global);
// users_file: the name the YAML gives the hashed users file; empty = none can be written.
YamlNode emit_admin(AdminDraft& admin, const std::string& users_file, Notes& notes);

struct BirdConfig;
// bird.conf -> the bgp section (null node: nothing to translate); service names for the
// commented require suggestion.
YamlNode translate_bird(const BirdConfig& bird, const std::vector<std::string>& services,
                        Notes& notes);

}  // namespace clb::import
