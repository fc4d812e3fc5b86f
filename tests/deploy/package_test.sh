#!/usr/bin/env bash
# The Debian package as an operator installs it: built with CPack from this
# build tree, then checked for what installing relies on — every binary,
# unit, sample configuration and the service account in its place, the
# configurations marked as conffiles, Depends computed from the binaries,
# maintainer scripts that parse, binaries that run from the unpacked tree,
# and unit files that `systemd-analyze verify` accepts.
#
#   package_test.sh BUILD_DIR VERSION
set -euo pipefail
build="$1"
version="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "package_test: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/out" > "$work/cpack.log" 2>&1) || { cat "$work/cpack.log" >&2; fail "cpack failed"; }
deb="$(ls "$work"/out/cmkwatch_"$version"_*.deb 2>/dev/null | head -n 1)"
[ -n "$deb" ] || fail "no cmkwatch_${version}_*.deb in $work/out"

dpkg-deb -c "$deb" | awk '{print $1, $NF}' > "$work/contents"
want() {  # mode-prefix path
  grep -qE "^$1 \./$2\$" "$work/contents" || fail "package lacks $2 (with mode $1); it has:
$(cat "$work/contents")"
}
want '-rwxr-xr-x' usr/bin/cmkwatch
want '-rwxr-xr-x' usr/bin/cmkwatch-analyzer
want '-rwxr-xr-x' usr/bin/cmkwatch-collector
want '-rw-r-----' etc/cmkwatch/analyzer.yaml
want '-rw-r-----' etc/cmkwatch/collector.yaml
want '-rw-r--r--' usr/lib/systemd/system/cmkwatch-analyzer.service
want '-rw-r--r--' 'usr/lib/systemd/system/cmkwatch-collector@.service'
want '-rw-r--r--' usr/lib/sysusers.d/cmkwatch.conf
want '-rw-r--r--' usr/share/doc/cmkwatch/README.md
# Nothing of the build or test tree leaks in.
if grep -vE '^d' "$work/contents" | grep -vE '\./(etc/cmkwatch|usr/bin|usr/lib/systemd/system|usr/lib/sysusers.d|usr/share/doc/cmkwatch)/' ; then
  fail "unexpected files in the package (above)"
fi

dpkg-deb -f "$deb" Package Version Depends > "$work/control"
grep -q "^Version: $version\$" "$work/control" || fail "Version is not $version: $(cat "$work/control")"
for lib in libzmq5 libsqlite3-0 libcurl4 libzstd1 libyaml-0-2; do
  grep -q "^Depends:.*\b$lib\b" "$work/control" || fail "Depends lacks $lib: $(cat "$work/control")"
done
dpkg-deb -e "$deb" "$work/control.d"
for f in /etc/cmkwatch/analyzer.yaml /etc/cmkwatch/collector.yaml; do
  grep -qx "$f" "$work/control.d/conffiles" || fail "$f is not a conffile (an upgrade would overwrite the operator's edits)"
done
for s in postinst prerm postrm; do
  [ -x "$work/control.d/$s" ] || fail "$s is missing or not executable"
  sh -n "$work/control.d/$s" || fail "$s does not parse"
done
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/sysusers.d/cmkwatch.conf | grep -q '^u cmkwatch ' ||
  fail "sysusers.d does not declare the cmkwatch user"

root="$work/root"
dpkg-deb -x "$deb" "$root"
for b in cmkwatch cmkwatch-analyzer cmkwatch-collector; do
  out="$("$root/usr/bin/$b" --version)" || fail "$b --version failed"
  [ "$out" = "$b $version" ] || fail "$b --version printed '$out', not '$b $version'"
done

# The units as shipped, with ExecStart pointed at the unpacked binaries
# (systemd-analyze checks that the command exists and is executable).
mkdir -p "$work/units"
sed "s|/usr/bin/|$root/usr/bin/|g" "$root/usr/lib/systemd/system/cmkwatch-analyzer.service" \
  > "$work/units/cmkwatch-analyzer.service"
sed "s|/usr/bin/|$root/usr/bin/|g" "$root/usr/lib/systemd/system/cmkwatch-collector@.service" \
  > "$work/units/cmkwatch-collector@.service"
cp "$work/units/cmkwatch-collector@.service" "$work/units/cmkwatch-collector@kv-prod.service"
for u in cmkwatch-analyzer.service cmkwatch-collector@kv-prod.service; do
  if ! (cd "$work/units" && systemd-analyze verify "./$u") > "$work/verify.log" 2>&1 || [ -s "$work/verify.log" ]; then
    cat "$work/verify.log" >&2
    fail "systemd-analyze verify $u is not clean"
  fi
done
echo "package_test: $(basename "$deb") ($(stat -c %s "$deb") bytes): contents, control, conffiles, --version and units ok"
