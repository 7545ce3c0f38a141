# Every dependency comes from a Debian package (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)

find_path(LIBEV_INCLUDE_DIR ev.h)
find_library(LIBEV_LIBRARY NAMES ev)
if(NOT LIBEV_INCLUDE_DIR OR NOT LIBEV_LIBRARY)
  message(FATAL_ERROR "libev not found: run scripts/install-deps.sh (Debian package libev-dev)")
endif()
add_library(PkgLibev INTERFACE)
target_include_directories(PkgLibev INTERFACE ${LIBEV_INCLUDE_DIR})
target_link_libraries(PkgLibev INTERFACE ${LIBEV_LIBRARY})

# llhttp: Debian's node-llhttp ships the generated C sources, not a library; build them here.
set(LLHTTP_SOURCE_DIR /usr/share/llhttp CACHE PATH "llhttp C sources (Debian node-llhttp)")
set(LLHTTP_INCLUDE_DIR /usr/share/include/llhttp CACHE PATH "llhttp header (Debian node-llhttp)")
foreach(f api.c http.c llhttp.c)
  if(NOT EXISTS ${LLHTTP_SOURCE_DIR}/${f})
    message(FATAL_ERROR "llhttp source ${LLHTTP_SOURCE_DIR}/${f} is missing: "
                        "run scripts/install-deps.sh (Debian package node-llhttp)")
  endif()
endforeach()
if(NOT EXISTS ${LLHTTP_INCLUDE_DIR}/llhttp.h)
  message(FATAL_ERROR "llhttp header ${LLHTTP_INCLUDE_DIR}/llhttp.h is missing: "
                      "run scripts/install-deps.sh (Debian package node-llhttp)")
endif()
add_library(llhttp_static STATIC ${LLHTTP_SOURCE_DIR}/api.c ${LLHTTP_SOURCE_DIR}/http.c
                                 ${LLHTTP_SOURCE_DIR}/llhttp.c)
target_include_directories(llhttp_static SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
set_target_properties(llhttp_static PROPERTIES POSITION_INDEPENDENT_CODE ON)
# The generated llhttp.c holds two parsers; the default "loose" one accepts any byte as the
# line terminator after a chunk size and after chunk data. A proxy must read framing
# exactly as strictly as the strictest backend behind it (docs/http-framing.md).
target_compile_definitions(llhttp_static PRIVATE LLHTTP_STRICT_MODE=1)
target_compile_options(llhttp_static PRIVATE -w)
