#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# integration/packaging/reproducible: the same sources built again, in another directory, give
# byte-identical packages (issue 8, docs/packaging.md "Reproducible binaries").
#   1. the project's tracked and untracked-but-not-ignored files (what the build under test was
#      made from) copied to a scratch directory
#   2. configured there with the release preset (the same cache values that change code
#      generation: POSTURE_WERROR is recorded in the debug info's producer string) and the
#      products built again (tests off: they are not packaged)
#   3. both build directories packaged with the same SOURCE_DATE_EPOCH (.deb and .rpm): every
#      package byte for byte the same
# Usage: reproducible.sh BUILD_DIR SOURCE_DIR (the build under test must be up to date).
set -u

build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
name=packaging/reproducible
tmp=$(mktemp -d "${TMPDIR:-/tmp}/posture-repro.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for t in git cmake rpmbuild dpkg-deb; do
    command -v "$t" >/dev/null 2>&1 && continue
    [ "${CI:-}" = true ] && { echo "$name: FAIL: $t missing"; exit 1; }
    echo "$name: SKIP: $t missing"
    exit 77
done
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || {
    [ "${CI:-}" = true ] && { echo "$name: FAIL: $src is not a git checkout"; exit 1; }
    echo "$name: SKIP: $src is not a git checkout"
    exit 77
}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$src" log -1 --format=%ct)}

mkdir -p "$tmp/src"
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
    tar --null -T - --no-recursion -cf -) | (cd "$tmp/src" && tar -xf -) ||
    { echo "$name: FAIL: copying the sources"; exit 1; }
werror=$(sed -n 's/^POSTURE_WERROR:BOOL=//p' "$build/CMakeCache.txt")
t0=$(date +%s)
(cd "$tmp/src" && cmake --preset release -DPOSTURE_BUILD_TESTS=OFF "-DPOSTURE_WERROR=${werror:-OFF}" \
    >"$tmp/configure.log" 2>&1 && cmake --build build/release -j "$(nproc)" >"$tmp/build.log" 2>&1) || {
    tail -n 30 "$tmp/configure.log" "$tmp/build.log"
    echo "$name: FAIL: the second build"
    exit 1
}
t1=$(date +%s)
for b in "$build" "$tmp/src/build/release"; do
    n=$([ "$b" = "$build" ] && echo a || echo b)
    POSTURE_PACKAGE_FORMATS="deb rpm" sh "$src/packaging/build-packages.sh" "$b" "$tmp/out-$n" \
        >"$tmp/pkg-$n.log" 2>&1 || { cat "$tmp/pkg-$n.log"; echo "$name: FAIL: packaging $b"; exit 1; }
done
failures=0 total=0
for f in "$tmp"/out-a/*; do
    total=$((total + 1))
    if ! cmp -s "$f" "$tmp/out-b/$(basename "$f")"; then
        failures=$((failures + 1))
        echo "FAIL: $(basename "$f") differs between the two builds" >&2
    fi
done
[ $total -ge 4 ] || { echo "$name: FAIL: only $total packages"; exit 1; }
[ $failures = 0 ] || { echo "$name: $failures of $total packages differ"; exit 1; }
echo "ok: rebuilt from a copy of the sources in another directory ($((t1 - t0)) s): the $total packages are byte for byte the same"
echo "$name: ok"
