#!/usr/bin/env bash
# Builds the Debian packages with CPack (into a directory of its own, so that it can run beside
# deb_test.sh) and runs lintian on them: any error fails (copyright, changelog, shlibs, the
# ldconfig trigger, Depends, descriptions, man pages...). Warnings are printed, not failed.
# Skipped (exit 77) where lintian is not installed (tools/install-deps.sh installs it).
set -euo pipefail
build_dir=$1
command -v lintian >/dev/null || { echo "lintian_test: lintian not installed; skipped"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cpack -G DEB --config "$build_dir/CPackConfig.cmake" -B "$out" >"$out/cpack.log" ||
  { cat "$out/cpack.log"; exit 1; }
debs=("$out"/*.deb)
for want in tailgate_ tailgate-dev_; do
  ls "$out/$want"*.deb >/dev/null || { echo "FAIL: no $want*.deb built"; exit 1; }
done
# Root is what CI runs as; lintian only warns about it.
lintian --fail-on error --tag-display-limit 0 "${debs[@]}" 2>&1 |
  { grep -v "^running with root" || true; }
echo "lintian_test: ${#debs[@]} packages, no lintian errors"
