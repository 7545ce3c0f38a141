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
# libxcrypt (libcrypt-dev): crypt_rn and crypt_checksalt for admin.users_file.
find_path(CRYPT_INCLUDE_DIR crypt.h)
find_library(CRYPT_LIBRARY NAMES crypt)
if(NOT CRYPT_INCLUDE_DIR OR NOT CRYPT_LIBRARY)
  message(FATAL_ERROR "libcrypt not found: run scripts/install-deps.sh (Debian package libcrypt-dev)")
endif()
add_library(PkgCrypt INTERFACE)
target_include_directories(PkgCrypt INTERFACE ${CRYPT_INCLUDE_DIR})
target_link_libraries(PkgCrypt INTERFACE ${CRYPT_LIBRARY})

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
# The parser wrapper (src/http/) is written against llhttp 8's API (Debian 12 ships 8.1);
# another major version changes callbacks and error codes, so it is refused here rather
# than miscompiled or misparsing at run time.
set(CLB_LLHTTP_MAJOR_SUPPORTED 8)
file(STRINGS ${LLHTTP_INCLUDE_DIR}/llhttp.h llhttp_version_lines
     REGEX "^#define LLHTTP_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+")
foreach(part MAJOR MINOR PATCH)
  set(llhttp_${part} "")
  foreach(line ${llhttp_version_lines})
    if(line MATCHES "^#define LLHTTP_VERSION_${part} +([0-9]+)")
      set(llhttp_${part} ${CMAKE_MATCH_1})
    endif()
  endforeach()
endforeach()
if(llhttp_MAJOR STREQUAL "")
  message(FATAL_ERROR "${LLHTTP_INCLUDE_DIR}/llhttp.h has no LLHTTP_VERSION_MAJOR: "
                      "is it llhttp's header? (Debian package node-llhttp)")
endif()
set(LLHTTP_VERSION "${llhttp_MAJOR}.${llhttp_MINOR}.${llhttp_PATCH}")
if(NOT llhttp_MAJOR EQUAL CLB_LLHTTP_MAJOR_SUPPORTED)
  message(FATAL_ERROR "llhttp ${LLHTTP_VERSION} found in ${LLHTTP_INCLUDE_DIR}, but contrail-lb "
                      "supports llhttp ${CLB_LLHTTP_MAJOR_SUPPORTED}.x only (Debian 12's node-llhttp); "
                      "point LLHTTP_SOURCE_DIR and LLHTTP_INCLUDE_DIR at an llhttp "
                      "${CLB_LLHTTP_MAJOR_SUPPORTED}.x")
endif()
message(STATUS "llhttp ${LLHTTP_VERSION}: ${LLHTTP_SOURCE_DIR}")
add_library(llhttp_static STATIC ${LLHTTP_SOURCE_DIR}/api.c ${LLHTTP_SOURCE_DIR}/http.c
                                 ${LLHTTP_SOURCE_DIR}/llhttp.c)
target_include_directories(llhttp_static SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
set_target_properties(llhttp_static PROPERTIES POSITION_INDEPENDENT_CODE ON)
# The generated llhttp.c holds two parsers; the default "loose" one accepts any byte as the
# line terminator after a chunk size and after chunk data. A proxy must read framing
# exactly as strictly as the strictest backend behind it (docs/http-framing.md).
target_compile_definitions(llhttp_static PRIVATE LLHTTP_STRICT_MODE=1)
target_compile_options(llhttp_static PRIVATE -w)
