# The Debian packages, `cpack -G DEB` in a build directory (included by the top CMakeLists.txt):
#   tailgate      the agent, tailgate-sink, tailgate-load, libtailgate.so.0 and the Python
#                 module, the config, the systemd unit (and tmpfiles), man pages
#   tailgate-dev  the headers and the unversioned libtailgate.so, for building against it
# Both pass lintian without errors (tests/package/lintian_test.sh); deb_test.sh installs them.
set(tailgate_deb_src ${CMAKE_CURRENT_LIST_DIR})
set(tailgate_deb_gen ${PROJECT_BINARY_DIR}/debian)

# Debian wants the changelog and the man pages gzipped, without a name or timestamp (-n), so
# that two builds of the same sources give the same files.
set(tailgate_man_pages tailgate.1 tailgate-sink.1 tailgate-load.1)
set(tailgate_deb_gz ${tailgate_deb_gen}/changelog.gz)
set(tailgate_deb_gz_commands
    COMMAND ${CMAKE_COMMAND} -E copy ${tailgate_deb_src}/changelog ${tailgate_deb_gen}/changelog
    COMMAND gzip -9nf ${tailgate_deb_gen}/changelog)
foreach(page IN LISTS tailgate_man_pages)
  list(APPEND tailgate_deb_gz ${tailgate_deb_gen}/${page}.gz)
  list(APPEND tailgate_deb_gz_commands
       COMMAND ${CMAKE_COMMAND} -E copy ${PROJECT_SOURCE_DIR}/docs/man/${page}
               ${tailgate_deb_gen}/${page}
       COMMAND gzip -9nf ${tailgate_deb_gen}/${page})
endforeach()
list(TRANSFORM tailgate_man_pages PREPEND ${PROJECT_SOURCE_DIR}/docs/man/ OUTPUT_VARIABLE man_src)
add_custom_command(OUTPUT ${tailgate_deb_gz}
                   COMMAND ${CMAKE_COMMAND} -E make_directory ${tailgate_deb_gen}
                   ${tailgate_deb_gz_commands}
                   DEPENDS ${tailgate_deb_src}/changelog ${man_src} VERBATIM)
add_custom_target(tailgate_deb_files ALL DEPENDS ${tailgate_deb_gz})

list(TRANSFORM tailgate_man_pages PREPEND ${tailgate_deb_gen}/ OUTPUT_VARIABLE man_gz)
list(TRANSFORM man_gz APPEND .gz)
install(FILES ${man_gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
foreach(package tailgate tailgate-dev)
  if(package STREQUAL tailgate)
    set(component runtime)
  else()
    set(component dev)
  endif()
  install(FILES ${tailgate_deb_src}/copyright ${tailgate_deb_gen}/changelog.gz
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package} COMPONENT ${component})
endforeach()
# systemd-tmpfiles entries (systemd/*.conf): the ring directory, made at boot with the agent's
# group and mode whichever side starts first. postinst applies them at once.
file(GLOB tailgate_tmpfiles CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/systemd/*.conf)
if(tailgate_tmpfiles)
  install(FILES ${tailgate_tmpfiles} DESTINATION lib/tmpfiles.d COMPONENT runtime)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tailgate)
set(CPACK_PACKAGE_CONTACT "tailgate maintainers <tailgate@example.org>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_STRIP_FILES ON)
# Depends: the shared libraries' packages (dpkg-shlibdeps), and what the maintainer scripts and
# the Python module run. shlibs: programs built against libtailgate.so.0 depend on tailgate.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME tailgate)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "adduser, python3")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${tailgate_deb_src}/postinst ${tailgate_deb_src}/postrm ${tailgate_deb_src}/conffiles
    ${tailgate_deb_src}/triggers)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "tail-sampling tracing sidecar for trading systems
tailgate receives finished spans from the processes on its host (a lock-free
shared-memory ring written by libtailgate, UDP, Jaeger Thrift, OTLP), holds
each trace until it is complete, keeps the traces worth keeping (errors, slow
ones, chosen operations and a rate of the rest) and exports them as OTLP/gRPC
to Jaeger. Every refusal and loss is counted on its Prometheus endpoint.
.
This package has the agent and its systemd unit, tailgate-sink and
tailgate-load (a test receiver and a load generator), libtailgate.so.0 for
C and C++ producers and the tailgate Python module.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME tailgate-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "tailgate (= ${PROJECT_VERSION})")
set(CPACK_DEBIAN_DEV_DESCRIPTION "tail-sampling tracing sidecar - client development files
The C and C++ headers of libtailgate (tailgate.h, tailgate.hpp and the wire
encoder they inline) and the libtailgate.so link, to build trading processes
that hand their spans to a tailgate agent through its shared-memory ring.")
include(CPack)
