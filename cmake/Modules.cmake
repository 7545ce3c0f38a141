# clb_module(NAME DEPS ...): builds src/NAME/*.cpp into the static library clb_NAME.
# Public headers live in include/contrail_lb/NAME/; the module's private headers stay in src/NAME/.
function(clb_module name)
  cmake_parse_arguments(M "" "" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  if(sources)
    add_library(clb_${name} STATIC ${sources})
    target_include_directories(clb_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                           PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(clb_${name} PUBLIC ${M_DEPS})
  else()
    add_library(clb_${name} INTERFACE)
    target_include_directories(clb_${name} INTERFACE ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(clb_${name} INTERFACE ${M_DEPS})
  endif()
endfunction()
