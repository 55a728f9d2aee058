# Packaging: Debian and RPM packages through CPack, and the files only packages install (service
# unit, configuration, man pages, Debian copyright and changelog). Included from the top-level
# CMakeLists.txt. Build with:
#   cmake -S . -B build-pkg -DONSIDE_TESTS=OFF && cmake --build build-pkg && (cd build-pkg && cpack)
# The version is project(VERSION) in the top-level CMakeLists.txt; -DCPACK_PACKAGE_VERSION=X
# overrides it for the packages only (the upgrade test uses that).

set(ONSIDE_PKG_DIR ${CMAKE_CURRENT_LIST_DIR})
set(ONSIDE_PKG_OUT ${CMAKE_BINARY_DIR}/packaging)
set(ONSIDE_PACKAGE_MAINTAINER "Onside agent maintainers <agent@onside.io>" CACHE STRING
  "Maintainer of the packages: \"Name <address>\"")
if(NOT DEFINED CPACK_PACKAGE_VERSION)
  set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
endif()

# ---- files that only the packages install ----

# Three components: files common to both packages (CMake's default component), and the ones whose
# place differs between Debian and RPM. packaging/cpack-generator.cmake.in picks the components
# per generator; a plain `cmake --install` installs only the common ones.
set(ONSIDE_PKG_COMMON Unspecified)

install(FILES ${CMAKE_SOURCE_DIR}/config/agent.yaml DESTINATION /etc/onside-agent
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ COMPONENT ${ONSIDE_PKG_COMMON})

# Man pages, compressed as Debian policy wants (rpmbuild leaves .gz pages as they are). -n keeps
# the name and time out of the gzip header, so the result is reproducible.
find_program(ONSIDE_GZIP gzip REQUIRED)
set(ONSIDE_PKG_GENERATED)
foreach(page onside-agent.8 onside-agent.yaml.5)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
  set(out ${ONSIDE_PKG_OUT}/man/${page}.gz)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${ONSIDE_PKG_OUT}/man
    COMMAND sh -c "'${ONSIDE_GZIP}' -9nc '${ONSIDE_PKG_DIR}/man/${page}' > '${out}'"
    DEPENDS ${ONSIDE_PKG_DIR}/man/${page} VERBATIM)
  list(APPEND ONSIDE_PKG_GENERATED ${out})
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section} COMPONENT ${ONSIDE_PKG_COMMON})
endforeach()

# Bash completion, where bash-completion loads it on demand (the directory is bash-completion's).
install(FILES ${ONSIDE_PKG_DIR}/completion/onside-agent.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
  RENAME onside-agent COMPONENT ${ONSIDE_PKG_COMMON})

# Changelogs carry the package version, so they are generated from it. The date honours
# SOURCE_DATE_EPOCH for reproducible builds.
string(TIMESTAMP ONSIDE_PKG_DATE_DEB "%a, %d %b %Y %H:%M:%S +0000" UTC)
string(TIMESTAMP ONSIDE_PKG_DATE_RPM "%a %b %d %Y" UTC)
configure_file(${ONSIDE_PKG_DIR}/deb/changelog.in ${ONSIDE_PKG_OUT}/deb/changelog @ONLY)
configure_file(${ONSIDE_PKG_DIR}/rpm/changelog.in ${ONSIDE_PKG_OUT}/rpm/changelog @ONLY)
add_custom_command(OUTPUT ${ONSIDE_PKG_OUT}/deb/changelog.gz
  COMMAND sh -c "'${ONSIDE_GZIP}' -9nc '${ONSIDE_PKG_OUT}/deb/changelog' > '${ONSIDE_PKG_OUT}/deb/changelog.gz'"
  DEPENDS ${ONSIDE_PKG_OUT}/deb/changelog VERBATIM)
list(APPEND ONSIDE_PKG_GENERATED ${ONSIDE_PKG_OUT}/deb/changelog.gz)
add_custom_target(onside-packaging-files ALL DEPENDS ${ONSIDE_PKG_GENERATED})

# Debian: the unit in /lib/systemd/system, copyright and changelog in the doc directory.
install(FILES ${ONSIDE_PKG_DIR}/onside-agent.service DESTINATION /lib/systemd/system
  COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${ONSIDE_PKG_DIR}/deb/copyright ${ONSIDE_PKG_OUT}/deb/changelog.gz
  DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${ONSIDE_PKG_DIR}/deb/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides
  RENAME onside-agent COMPONENT deb EXCLUDE_FROM_ALL)
# RPM: the unit in /usr/lib/systemd/system and the state directory as a packaged %dir. Both are
# given without an absolute DESTINATION on purpose: CPackRPM marks every file installed to an
# absolute path as %config.
install(FILES ${ONSIDE_PKG_DIR}/onside-agent.service DESTINATION lib/systemd/system
  COMPONENT rpm EXCLUDE_FROM_ALL)
install(CODE "file(MAKE_DIRECTORY \"\$ENV{DESTDIR}/var/lib/onside-agent\")" COMPONENT rpm EXCLUDE_FROM_ALL)

# ---- CPack ----

set(CPACK_PACKAGE_NAME onside-agent)
set(CPACK_PACKAGE_VENDOR "Onside")
set(CPACK_PACKAGE_CONTACT "${ONSIDE_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Forwards purchase log events to the Onside attribution API")
set(CPACK_PACKAGE_DESCRIPTION
"onside-agent follows the purchase log files an application writes, turns
each line into an Onside attribution event and delivers the events in
batches to the Onside API over HTTPS. Every event carries a deterministic
id, so lines read twice are sent with the same id and the server keeps one
copy. A checkpoint in /var/lib/onside-agent records what has been
delivered; undeliverable lines go to a dead-letter file. It runs as a
sandboxed systemd service under its own user.")
set(CPACK_PACKAGE_HOMEPAGE_URL "https://onside.io/")
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "__pycache__")
if(NOT DEFINED CPACK_GENERATOR)
  set(CPACK_GENERATOR DEB)
  find_program(ONSIDE_RPMBUILD rpmbuild)
  if(ONSIDE_RPMBUILD)
    list(APPEND CPACK_GENERATOR RPM)
  endif()
endif()

# Debian
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
if(ONSIDE_STATIC)
  # The portable package (scripts/build-portable.sh): a static binary needs no shared library, so
  # the package depends only on what its maintainer scripts run (adduser; /bin/sh and dpkg are
  # essential). The CA bundle is looked for at run time (agent/cabundle.c): recommended, not required.
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "ca-certificates")
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  # adduser for the maintainer scripts; the default endpoint is HTTPS with the system's CA bundle.
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, ca-certificates")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${ONSIDE_PKG_DIR}/deb/conffiles ${ONSIDE_PKG_DIR}/deb/postinst ${ONSIDE_PKG_DIR}/deb/prerm
  ${ONSIDE_PKG_DIR}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# RPM
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE 1)
set(CPACK_RPM_PACKAGE_LICENSE "Proprietary")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_PACKAGE_URL "${CPACK_PACKAGE_HOMEPAGE_URL}")
set(CPACK_RPM_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_PACKAGE_RELOCATABLE OFF)
if(ONSIDE_STATIC)
  # The portable package: rpmbuild's automatic requires would add nothing but rpmlib() features for a
  # static binary; %pre needs useradd and groupadd, named by path because the package holding them is
  # shadow-utils on RHEL, CentOS, Amazon Linux and Fedora but shadow on SUSE. The scriptlets' /bin/sh
  # is added by rpmbuild. RHEL 7's rpm ignores the weak dependency (ca-certificates is always there).
  set(CPACK_RPM_PACKAGE_AUTOREQ no)
  set(CPACK_RPM_PACKAGE_REQUIRES_PRE "/usr/sbin/useradd, /usr/sbin/groupadd")
  set(ONSIDE_RPM_WEAK_DEPS "Recommends: ca-certificates")
else()
  set(CPACK_RPM_PACKAGE_AUTOREQPROV yes)
  set(CPACK_RPM_PACKAGE_REQUIRES "ca-certificates")
  set(CPACK_RPM_PACKAGE_REQUIRES_PRE "shadow-utils")
  set(ONSIDE_RPM_WEAK_DEPS "")
endif()
# A gzip payload and SHA-256 file digests: what RHEL 7's rpm 4.11 reads (it has no zstd). The spec's
# preamble also takes the weak dependency (CPackRPM has no variable for Recommends).
set(CPACK_RPM_COMPRESSION_TYPE gzip)
set(CPACK_RPM_SPEC_MORE_DEFINE "%define packager ${CPACK_PACKAGE_CONTACT}
%define _binary_filedigest_algorithm 8
${ONSIDE_RPM_WEAK_DEPS}")
set(CPACK_RPM_PACKAGE_REQUIRES_POST "systemd")
set(CPACK_RPM_PACKAGE_REQUIRES_PREUN "systemd")
set(CPACK_RPM_PACKAGE_REQUIRES_POSTUN "systemd")
set(CPACK_RPM_CHANGELOG_FILE ${ONSIDE_PKG_OUT}/rpm/changelog)
set(CPACK_RPM_PRE_INSTALL_SCRIPT_FILE ${ONSIDE_PKG_DIR}/rpm/pre.sh)
set(CPACK_RPM_POST_INSTALL_SCRIPT_FILE ${ONSIDE_PKG_DIR}/rpm/post.sh)
set(CPACK_RPM_PRE_UNINSTALL_SCRIPT_FILE ${ONSIDE_PKG_DIR}/rpm/preun.sh)
set(CPACK_RPM_POST_UNINSTALL_SCRIPT_FILE ${ONSIDE_PKG_DIR}/rpm/postun.sh)
# The user exists when the files are laid down: %pre creates it.
set(CPACK_RPM_USER_FILELIST
  "%config(noreplace) %attr(0640,root,onside-agent) /etc/onside-agent/agent.yaml"
  "%dir %attr(0750,onside-agent,onside-agent) /var/lib/onside-agent")
# Directories other packages own: not listed as ours.
list(APPEND CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
  /usr/lib/systemd /usr/lib/systemd/system /usr/share/man /usr/share/man/man5 /usr/share/man/man8
  /usr/share/bash-completion /usr/share/bash-completion/completions /var /var/lib)

# Per-generator choice of components (see above).
configure_file(${ONSIDE_PKG_DIR}/cpack-generator.cmake.in ${ONSIDE_PKG_OUT}/cpack-generator.cmake @ONLY)
set(CPACK_PROJECT_CONFIG_FILE ${ONSIDE_PKG_OUT}/cpack-generator.cmake)

include(CPack)
