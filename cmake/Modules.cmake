# clb_module(NAME DEPS ...): builds src/NAME/*.cpp into the static library clb_NAME.
# Public headers live in include/contrail_lb/NAME/; the module's private headers stay in src/NAME/.
#
# The boundaries are the compiler's, not a convention: a module's target sees its own
# public headers, its own private ones, and the public headers of what it links (DEPS,
# transitively through PUBLIC linkage), nothing else. Each module gets its own include
# roots in the build tree, holding one symlink each:
#   include-of/NAME/contrail_lb/NAME -> include/contrail_lb/NAME   (PUBLIC)
#   private-of/NAME/NAME             -> src/NAME                   (PRIVATE, "NAME/x.hpp")
# so "contrail_lb/http/parser.hpp" only resolves in a target that links clb_http.
#
# PRIVATE_DEPS: what only the module's own sources use (its public headers do not expose
# it); linked, but its headers stay invisible to the module's dependents.
function(clb_module name)
  cmake_parse_arguments(M "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  set(public_root ${CMAKE_BINARY_DIR}/include-of/${name})
  set(private_root ${CMAKE_BINARY_DIR}/private-of/${name})
  file(MAKE_DIRECTORY ${public_root} ${private_root})
  clb_link_directory(${PROJECT_SOURCE_DIR}/include/contrail_lb/${name} ${public_root}/contrail_lb/${name})
  clb_link_directory(${PROJECT_SOURCE_DIR}/src/${name} ${private_root}/${name})
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  if(sources)
    add_library(clb_${name} STATIC ${sources})
    target_include_directories(clb_${name} PUBLIC ${public_root} PRIVATE ${private_root})
    target_link_libraries(clb_${name} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  else()
    add_library(clb_${name} INTERFACE)
    target_include_directories(clb_${name} INTERFACE ${public_root})
    target_link_libraries(clb_${name} INTERFACE ${M_DEPS})
  endif()
  # For the targets that test the module from inside (tests/unit, tests/fuzz, bench).
  set_property(GLOBAL PROPERTY clb_private_root_${name} ${private_root})
endfunction()

# clb_inside_module(TARGET MODULE): TARGET is built as part of MODULE: it links clb_MODULE
# and also sees the module's private headers ("MODULE/x.hpp").
function(clb_inside_module target module)
  get_property(private_root GLOBAL PROPERTY clb_private_root_${module})
  if(NOT private_root)
    message(FATAL_ERROR "${target}: no module named ${module} (clb_module in CMakeLists.txt)")
  endif()
  target_link_libraries(${target} PRIVATE clb_${module})
  target_include_directories(${target} PRIVATE ${private_root})
endfunction()

# clb_link_directory(TARGET LINK): LINK (in the build tree) becomes a symlink to the
# directory TARGET, replacing whatever was there.
function(clb_link_directory target link)
  if(NOT IS_DIRECTORY ${target})
    return()  # a module without public or without private headers
  endif()
  get_filename_component(parent ${link} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  if(IS_SYMLINK ${link} OR EXISTS ${link})
    file(REMOVE ${link})
  endif()
  file(CREATE_LINK ${target} ${link} SYMBOLIC)
endfunction()
