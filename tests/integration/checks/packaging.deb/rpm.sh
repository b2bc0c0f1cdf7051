#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# integration/packaging/rpm: the .rpm packages (docs/packaging.md), built with rpmbuild from the
# same staged trees as the .debs (POSTURE_PACKAGE_FORMATS="deb rpm" packaging/build-packages.sh).
#   1. rpmlint has nothing to say beyond packaging/rpm/rpmlintrc's filters (each with its reason)
#   2. metadata: the sonames rpm's ELF generator found plus the dlopen()ed libcurl.so.4 and
#      libnftables.so.1, Recommends tpm2-openssl, /etc files %config(noreplace), the
#      scriptlets (the user in %pre, disable on removal in %preun)
#   3. unpacked into a scratch root with its own rpm database (rpm --root, --nodeps
#      --noscripts: this is Debian): the files, modes, the 0700 state directory
#   4. reproducible: a second build from the same build directory is byte for byte the same,
#      for the .rpm and the .deb packages
# Nothing outside a temporary directory is touched. Usage: rpm.sh BUILD_DIR SOURCE_DIR.
set -u

build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
name=packaging/rpm
failures=0
fail() {
    failures=$((failures + 1))
    echo "FAIL: $*" >&2
}
pass() { echo "ok: $*"; }
for t in rpmbuild rpm rpmlint; do
    command -v "$t" >/dev/null 2>&1 && continue
    [ "${CI:-}" = true ] && { echo "$name: FAIL: $t missing (packages rpm, rpmlint)"; exit 1; }
    echo "$name: SKIP: $t missing"
    exit 77
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/posture-rpm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$src" log -1 --format=%ct 2>/dev/null || echo 1700000000)}

for n in 1 2; do
    POSTURE_PACKAGE_FORMATS="deb rpm" sh "$src/packaging/build-packages.sh" "$build" "$tmp/out$n" \
        >"$tmp/build$n.log" 2>&1 || { cat "$tmp/build$n.log"; echo "$name: the build failed"; exit 1; }
done
agent=$(ls "$tmp"/out1/posture-agent-*.rpm)
verifier=$(ls "$tmp"/out1/posture-verifier-*.rpm)
dev=$(ls "$tmp"/out1/posture-check-devel-*.noarch.rpm)
pass "built $(basename "$agent") ($(stat -c %s "$agent") bytes), $(basename "$verifier") ($(stat -c %s "$verifier") bytes)"

# 1. rpmlint
rpmlint -r "$src/packaging/rpm/rpmlintrc" "$agent" "$verifier" "$dev" >"$tmp/rpmlint" 2>&1
grep -q '0 errors, 0 warnings' "$tmp/rpmlint" && pass "rpmlint: 0 errors, 0 warnings" ||
    fail "rpmlint: $(grep -E ': (E|W): |errors' "$tmp/rpmlint")"

# 2. metadata
rpm -qp --requires "$agent" >"$tmp/req" 2>/dev/null
for r in 'libcurl.so.4()(64bit)' 'libnftables.so.1()(64bit)' 'libcrypto.so.3()(64bit)' \
    'libtss2-esys.so.0()(64bit)' 'libcjson.so.1()(64bit)'; do
    grep -qxF "$r" "$tmp/req" || fail "posture-agent does not require $r"
done
grep -q 'libnftables.so.1()(64bit)' "$tmp/req" && pass "posture-agent requires the dlopen()ed libcurl.so.4 and libnftables.so.1 besides its links"
[ "$(rpm -qp --recommends "$agent" 2>/dev/null)" = tpm2-openssl ] && pass "Recommends: tpm2-openssl" ||
    fail "recommends: $(rpm -qp --recommends "$agent" 2>&1)"
rpm -qp --requires "$verifier" 2>/dev/null | grep -qxF 'libmicrohttpd.so.12()(64bit)' ||
    fail "posture-verifier does not require libmicrohttpd"
cfg=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$agent" "$verifier" 2>/dev/null | grep '^cn ' | cut -d' ' -f2 | sort | tr '\n' ' ')
[ "$cfg" = "/etc/posture/agent.conf /etc/posture/policies/baseline.json /etc/posture/policies/payments-admin.json /etc/posture/verifier.conf " ] &&
    pass "%config(noreplace): $cfg" || fail "config files: '$cfg'"
rpm -qp --scripts "$agent" >"$tmp/scripts" 2>/dev/null
grep -q 'useradd -r -g posture' "$tmp/scripts" && grep -q 'disable --now postured.service' "$tmp/scripts" &&
    pass "scriptlets: the user in %pre, disabled on removal" || fail "scriptlets: $(cat "$tmp/scripts")"

rpm -qpl "$dev" 2>/dev/null | grep -qx /usr/include/posture/check.h &&
    rpm -qpl "$dev" 2>/dev/null | grep -qx /usr/share/pkgconfig/posture-check.pc &&
    pass "posture-check-devel (noarch): check.h, posture-check.pc, the examples" ||
    fail "posture-check-devel files: $(rpm -qpl "$dev" 2>&1)"

# 3. unpacked into a scratch root
root=$tmp/root
mkdir -p "$root"
rpm --root "$root" --initdb 2>/dev/null
if rpm --root "$root" -i --nodeps --noscripts --nosignature "$agent" "$verifier" >"$tmp/inst" 2>&1; then
    ok=1
    for f in usr/sbin/postured:755 usr/bin/posturectl:755 usr/bin/posture-verifier:755 \
        etc/posture/agent.conf:644 usr/lib/systemd/system/postured.service:644 \
        usr/lib/systemd/system/posture-verifier.service:644 usr/lib/sysusers.d/posture.conf:644 \
        var/lib/posture:700 var/lib/posture-verifier:700; do
        [ "$(stat -c %a "$root/${f%:*}" 2>/dev/null)" = "${f#*:}" ] || { ok=0; fail "$root/${f%:*}: mode $(stat -c %a "$root/${f%:*}" 2>&1)"; }
    done
    "$root/usr/bin/posturectl" --version >/dev/null 2>&1 || { ok=0; fail "the unpacked posturectl does not run"; }
    [ $ok = 1 ] && pass "unpacked with rpm --root: binaries, units, sysusers, 0700 state directories"
    rpm --root "$root" -q posture-agent posture-verifier >/dev/null 2>&1 || fail "rpm -q after install"
else
    fail "rpm -i: $(cat "$tmp/inst")"
fi

# 4. reproducible
same=0 total=0
for f in "$tmp"/out1/*; do
    total=$((total + 1))
    cmp -s "$f" "$tmp/out2/$(basename "$f")" && same=$((same + 1)) || fail "$(basename "$f") differs between two builds"
done
[ $same = $total ] && pass "reproducible: two builds give the same $total packages byte for byte"

[ $failures = 0 ] || { echo "$name: $failures failure(s)"; exit 1; }
echo "$name: ok"
