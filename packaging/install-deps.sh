#!/bin/sh
# Install every Debian 12 package that building, testing and the demo of posture need.
#
# Idempotent: when everything is present it prints nothing and exits 0. It runs
# `apt-get update` only when a package is missing. Later capabilities add their
# packages to the lists below, with the reason beside them.
set -eu

# Build toolchain.
BUILD="build-essential cmake pkg-config ninja-build git"
# Libraries linked by posture (DESIGN.md §3). cJSON: reports, evidence, exec-check output;
# lz4/zlib/xz: apt lists kept compressed (os.patch_level); libudev: the block-device graph
# (disk.encryption); libnftables: the kernel ruleset as JSON (net.firewall); OpenSSL: hashes
# now, keys, JWS and TLS later.
LIBS="libcjson-dev libssl-dev liblz4-dev zlib1g-dev liblzma-dev libudev-dev libnftables-dev"
# TPM2-TSS (ESAPI, marshalling, return codes, TCTI loader) and the tpm2-openssl provider that
# keeps the device key in the TPM (attest/).
LIBS="$LIBS libtss2-dev tpm2-openssl"
# The verifier: libmicrohttpd (HTTP server, native TLS with client certificates), SQLite (the
# embedded store, WAL). The daemon: libcurl with OpenSSL (submission over mTLS).
LIBS="$LIBS libmicrohttpd-dev libsqlite3-dev libcurl4-openssl-dev"
# Tests: cmocka unit tests, clang for libFuzzer and sanitizers, clang-format for the lint
# test, jq and python3 as independent JSON parsers, GNU time for footprint figures.
TESTS="libcmocka-dev clang libclang-rt-14-dev clang-format jq python3 time"
# Real components the check tests run against: apt/dpkg (oracle for pending updates),
# umockdev (libudev on recorded device trees), nftables + iproute2 + iptables (rulesets in
# private network namespaces; iptables-legacy-save), util-linux (unshare), lz4/xz-utils/gzip
# (compressed fixture lists).
# swtpm (a software TPM with an EK chain), tpm2-tools (tpm2_checkquote as the independent quote
# verifier), python3-jwt and the jwt CLI (independent JWS verification); python3-cryptography
# (only recommended by python3-jwt, and recommends are not installed): ES256 with PyJWT, and the
# keys and certificates the attack tests forge (verifier.attacks).
TESTS="$TESTS swtpm swtpm-tools tpm2-tools python3-jwt python3-cryptography jwt"
# nginx-light: the real gateway in the forward-auth tests; sqlite3: reads the verifier's store
# independently of our code.
TESTS="$TESTS nginx-light sqlite3"
# caddy: the second real gateway (forward_auth; tests/integration/checks/gateway.caddy). Its
# package enables caddy.service where systemd runs; the test starts its own instance.
TESTS="$TESTS caddy"
# haproxy: the third (built with Lua; packaging/gateways/posture-auth.lua uses its httpclient).
TESTS="$TESTS haproxy"
# curl and openssl CLIs: the independent HTTP client and the certificate/key tool of the tests.
TESTS="$TESTS curl openssl"
# wrk: the HTTP load generator of the verifier benchmarks (tests/bench/authz.sh).
TESTS="$TESTS wrk"
# systemd: systemd-analyze verify and security --offline=yes for packaging/systemd/postured.service
# (tests/integration/checks/agent.postured).
TESTS="$TESTS systemd"
# openssh-server: the real `sshd -T` that ssh.server's parser is compared with
# (tests/unit/checks/test_ssh_server.c; the test starts no sshd service).
TESTS="$TESTS openssh-server"
# dconf-cli: `dconf compile` builds the GVDB databases of the screen.lock fixtures from their
# keyfiles (tests/fixtures/roots/screen.lock/compile.sh); the unit test checks they match.
TESTS="$TESTS dconf-cli"
# strace: the verifier's system calls traced against posture-verifier.service's
# SystemCallFilter= (tests/integration/checks/verifier.unit).
TESTS="$TESTS strace"
# man-db and groff-base: the man pages render without a warning (tests/lint/man_render.sh).
TESTS="$TESTS man-db groff-base"
# ansible-core: ansible-playbook --syntax-check and --list-tasks of the fleet playbook
# (packaging/fleet/ansible; tests/integration/checks/packaging.fleet).
TESTS="$TESTS ansible-core"
# rpm (rpmbuild) and rpmlint: the .rpm packages made from the same trees as the .debs, and their
# lint (packaging/build-packages.sh with POSTURE_PACKAGE_FORMATS; integration/packaging/rpm).
TESTS="$TESTS rpm rpmlint"
# lintian: the .deb packages must be lintian clean (tests/integration/checks/packaging.deb);
# dpkg-dev (dpkg-shlibdeps) comes with build-essential.
TESTS="$TESTS lintian"
TESTS="$TESTS apt dpkg umockdev libumockdev-dev nftables iproute2 iptables util-linux lz4 xz-utils gzip"

missing=""
for p in $BUILD $LIBS $TESTS; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: missing packages:$missing; run this script as root to install them" >&2
    exit 1
fi

echo "install-deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
