# `cmake --install` layout and the Debian package (CPack), the same layout
# the container image uses (deploy/Containerfile):
#
#   <prefix>/bin/                      cmkwatch, cmkwatch-analyzer, cmkwatch-collector
#   /etc/cmkwatch/                     analyzer.yaml, collector.yaml (commented samples; conffiles)
#   <prefix>/lib/systemd/system/       cmkwatch-analyzer.service, cmkwatch-collector@.service
#   <prefix>/lib/sysusers.d/           cmkwatch.conf (the service account)
#   <prefix>/share/doc/cmkwatch/       README.md
#   /var/lib/cmkwatch                  state (made by systemd's StateDirectory=, not shipped)
#
# Build the package from a release build:
#   cmake --preset release && cmake --build --preset release
#   (cd build/release && cpack -G DEB)      → build/release/cmkwatch_<version>_<arch>.deb
include(GNUInstallDirs)

install(FILES deploy/config/analyzer.yaml deploy/config/collector.yaml
        DESTINATION /etc/cmkwatch PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES deploy/systemd/cmkwatch-analyzer.service deploy/systemd/cmkwatch-collector@.service
        DESTINATION lib/systemd/system)
install(FILES deploy/systemd/cmkwatch.sysusers DESTINATION lib/sysusers.d RENAME cmkwatch.conf)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_PACKAGE_NAME cmkwatch)
set(CPACK_PACKAGE_VENDOR "cmkwatch")
set(CPACK_PACKAGE_CONTACT "cmkwatch maintainers <cmkwatch@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "watches the customer-managed keys of Azure AI Foundry resources")
set(CPACK_PACKAGE_DESCRIPTION
    "Collectors read Azure Activity Log, Key Vault AuditEvent and Event Grid events and send them to an analyzer that keeps a tamper-evident timeline per resource and raises alerts when a key, vault or identity change breaks an AI resource's encryption.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from the binaries' libraries (dpkg-shlibdeps)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
# The sample configurations are the operator's once installed: upgrades
# keep their edits (dpkg asks), and postinst makes the account and state.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/conffiles
    ${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/postinst
    ${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_CURRENT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
