#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# checks.plugins: external checks through the installed product.
#   install   `cmake --install BUILD --prefix TMP`: posturectl, check.h, posture-check.pc
#   so        checks/examples/so built out of tree with make + pkg-config against TMP only;
#             it exports posture_check_entry and nothing else; installed root-owned (0755) in a
#             plugin dir; list-checks --json shows source .so, its path, version, options;
#             check --only --json runs it on fixture roots (tainted 0 → pass, 4096 → fail, and
#             pass again with [check.example.kernel_taint] allow = 4096)
#   exec      checks/examples/exec in an exec dir: list-checks source exec and path; its
#             verdict matches the mode of the host's /etc/shadow
#   trust     a world-writable file, a world-writable directory, a symlink to a file nobody
#             owns, a file owned by nobody: each refused with one warning naming it, and absent
#   hostile   tests/plugins modules and shell scripts run through posturectl: crash, endless
#             loop, 100 MB of output, invalid JSON, wrong name: posturectl exits 3 with each
#             check an error whose reason says which, and the good check still passes
# Usage: plugins.sh BUILD_DIR SOURCE_DIR LIBDIR TEST_PLUGIN_DIR
set -u

build=$1
src=$2
libdir=$3
modules=$4
name="checks.plugins"

skip() {
    echo "$name: SKIP: $*"
    [ "${CI:-}" = true ] && exit 1
    exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (the trust rule wants root-owned plugins)"
for t in cmake make cc pkg-config jq nm; do
    command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
done
LC_ALL=C.UTF-8
export LC_ALL
unset POSTURE_LOG_LEVEL JOURNAL_STREAM || true
# The example is built without sanitizers: let an ASan posturectl load it quietly.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/checks-plugins.XXXXXX")
chmod 755 "$tmp"
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

failures=0
fail() {
    failures=$((failures + 1))
    echo "$name: FAIL: $*" >&2
}
die() {
    fail "$*"
    exit 1
}
run() { # posturectl ARGS...: $tmp/out, $tmp/err, $rc
    "$pctl" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
expect_rc() { [ "$rc" = "$1" ] || fail "$2: exit $rc, expected $1: $(head -c 400 "$tmp/err")"; }
expect_jq() { # FILTER WHAT: FILTER is true on stdout
    [ "$(jq -r "$1" "$tmp/out" 2>/dev/null)" = true ] ||
        fail "$2: '$1' is not true on: $(head -c 800 "$tmp/out")"
}
expect_err() { grep -qF -- "$1" "$tmp/err" || fail "$2: no '$1' in stderr: $(head -c 600 "$tmp/err")"; }
config() { # FILE PLUGIN_DIR EXEC_DIR [EXTRA]
    printf '[checks]\nplugin_dirs = %s\nexec_dirs = %s\nexec_timeout = 2s\ntimeout = 2s\n%s\n' \
        "$2" "$3" "${4:-}" >"$1"
}

# ---- install ---------------------------------------------------------------------------------
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    die "cmake --install failed: $(tail -n 5 "$tmp/install.log")"
pctl=$prefix/bin/posturectl
[ -x "$pctl" ] || die "no posturectl in the installed tree"
[ -f "$prefix/include/posture/check.h" ] || die "check.h is not installed"
pcdir=$prefix/$libdir/pkgconfig
[ -f "$pcdir/posture-check.pc" ] || die "posture-check.pc is not installed in $pcdir"

# ---- so: the example, out of tree -------------------------------------------------------------
mkdir -p "$tmp/so-src"
cp "$src/checks/examples/so/kernel_taint.c" "$src/checks/examples/so/Makefile" "$tmp/so-src/"
# Only the installed SDK: an empty include path otherwise, and no source tree.
PKG_CONFIG_PATH=$pcdir PKG_CONFIG_LIBDIR=$pcdir make -C "$tmp/so-src" CC=cc >"$tmp/make.log" 2>&1 ||
    die "the example does not build against the installed SDK: $(tail -n 8 "$tmp/make.log")"
grep -q -- "-I$prefix/$libdir/pkgconfig/" "$tmp/make.log" ||
    fail "make did not use pkg-config's include dir: $(head -c 400 "$tmp/make.log")"
so=$tmp/so-src/example.kernel_taint.so
exports=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^_' | sort | tr '\n' ' ')
[ "$exports" = "posture_check_entry " ] || fail "the example exports '$exports'"

plugins=$tmp/plugins
execs=$tmp/exec
install -d -m 0755 "$plugins" "$execs"
install -m 0755 "$so" "$plugins/"
install -m 0755 "$src/checks/examples/exec/example.shadow_perms" "$execs/"
config "$tmp/agent.conf" "$plugins" "$execs"

run list-checks --json --config "$tmp/agent.conf"
expect_rc 0 "list-checks"
expect_jq ".[] | select(.id == \"example.kernel_taint\") | .source == \".so\" and .path == \"$plugins/example.kernel_taint.so\" and .version == \"1.0.0\" and .needs == [] and (.options | map(.key) == [\"allow\"])" \
    "list-checks shows the .so example with its source, path, version and options"
expect_jq ".[] | select(.id == \"example.shadow_perms\") | .source == \"exec\" and .path == \"$execs/example.shadow_perms\"" \
    "list-checks shows the exec example with its source and path"
expect_jq '[.[] | select(.source == "built-in")] | length > 0 and all(.path == null)' \
    "built-ins are still there, without a path"
run list-checks --config "$tmp/agent.conf"
grep -E '^example\.kernel_taint +1\.0\.0 +\.so +- ' "$tmp/out" >/dev/null ||
    fail "the table lacks the .so row: $(grep example "$tmp/out")"
grep -E '^example\.shadow_perms +- +exec +- ' "$tmp/out" >/dev/null ||
    fail "the table lacks the exec row: $(grep example "$tmp/out")"

for taint in 0 4096; do
    mkdir -p "$tmp/root-$taint/proc/sys/kernel"
    echo "$taint" >"$tmp/root-$taint/proc/sys/kernel/tainted"
done
run check --only example.kernel_taint --json --root "$tmp/root-0" --config "$tmp/agent.conf"
expect_rc 0 "kernel_taint on an untainted root"
expect_jq '.checks | length == 1 and .[0].id == "example.kernel_taint" and .[0].status == "pass" and .[0].version == "1.0.0" and .[0].evidence.tainted == 0 and .[0].evidence.reasons == []' \
    "the .so example passes on an untainted kernel"
run check --only example.kernel_taint --json --root "$tmp/root-4096" --config "$tmp/agent.conf"
expect_rc 1 "kernel_taint on a tainted root"
expect_jq '.checks[0].status == "fail" and .checks[0].evidence.reasons == ["out_of_tree_module"] and (.checks[0].remediation | length > 0)' \
    "the .so example fails on a tainted kernel, naming the taint"
config "$tmp/allow.conf" "$plugins" "$execs" "[check.example.kernel_taint]
allow = 4096"
run check --only example.kernel_taint --json --root "$tmp/root-4096" --config "$tmp/allow.conf"
expect_rc 0 "kernel_taint with allow = 4096"
expect_jq '.checks[0].status == "pass"' "[check.example.kernel_taint] allow reaches the plugin"
config "$tmp/bad.conf" "$plugins" "$execs" "[check.example.kernel_taint]
allow = lots"
run check --only example.kernel_taint --config "$tmp/bad.conf"
expect_rc 2 "a bad option value"
expect_err "invalid value 'lots' for [check.example.kernel_taint] allow" "a bad option value"

# ---- exec: the example --------------------------------------------------------------------------
mode=$(stat -c %a /etc/shadow 2>/dev/null || echo none)
case $mode in
none) want=not_applicable ;;
*0) want=pass ;;
*) want=fail ;;
esac
run check --only example.shadow_perms --json --config "$tmp/agent.conf"
expect_jq ".checks[0].id == \"example.shadow_perms\" and .checks[0].status == \"$want\" and .checks[0].version == \"1.0.0\"" \
    "the exec example's verdict matches /etc/shadow's mode $mode"
[ "$mode" = none ] || expect_jq ".checks[0].evidence.mode == \"$mode\" and .checks[0].evidence.path == \"/etc/shadow\"" \
    "the exec example's evidence"

# ---- trust: refused files, one warning each ------------------------------------------------------
bad=$tmp/bad
install -d -m 0755 "$bad/so" "$bad/exec" "$bad/wdir" "$tmp/nobody"
install -m 0757 "$so" "$bad/so/example.kernel_taint.so"
install -m 0755 "$src/checks/examples/exec/example.shadow_perms" "$bad/wdir/"
chmod 0777 "$bad/wdir"
install -m 0755 "$src/checks/examples/exec/example.shadow_perms" "$tmp/nobody/corp.users"
chown 65534 "$tmp/nobody/corp.users"
ln -s "$tmp/nobody/corp.users" "$bad/exec/corp.symlink"
install -m 0755 "$src/checks/examples/exec/example.shadow_perms" "$bad/exec/corp.owner"
chown 65534 "$bad/exec/corp.owner"
config "$tmp/bad-trust.conf" "$bad/so" "$bad/exec $bad/wdir"
run list-checks --json --config "$tmp/bad-trust.conf"
expect_rc 0 "list-checks with refused plugins"
expect_jq '[.[] | select(.source != "built-in")] == []' "nothing untrusted is loaded"
expect_err "$bad/so/example.kernel_taint.so: refused: file $bad/so/example.kernel_taint.so is group- or world-writable (mode 0757)" \
    "world-writable file"
expect_err "$bad/wdir: refusing every check in it: directory $bad/wdir is group- or world-writable (mode 0777)" \
    "world-writable directory"
expect_err "$bad/exec/corp.symlink: refused: symlink $bad/exec/corp.symlink -> $tmp/nobody/corp.users: file $tmp/nobody/corp.users is owned by uid 65534, not root" \
    "symlink to a user-owned file"
expect_err "$bad/exec/corp.owner: refused: file $bad/exec/corp.owner is owned by uid 65534, not root" \
    "non-root owner"
[ "$(grep -c 'refus' "$tmp/err")" = 4 ] || fail "expected 4 refusal lines: $(cat "$tmp/err")"

# ---- hostile: the agent survives and says which ----------------------------------------------------
h=$tmp/hostile
install -d -m 0755 "$h/so" "$h/exec"
for m in t.good t.crash t.loop t.flood; do
    install -m 0755 "$modules/$m.so" "$h/so/" || die "no test plugin $m.so in $modules"
done
printf '#!/bin/sh\necho "this is not JSON"\n' >"$h/exec/x.invalid"
printf '#!/bin/sh\nprintf %s "{\\"posture_check\\":1,\\"name\\":\\"x.other\\",\\"version\\":\\"1\\",\\"status\\":\\"pass\\",\\"reason\\":\\"r\\",\\"evidence\\":{}}"\n' '%s' >"$h/exec/x.wrong_name"
printf '#!/bin/sh\nhead -c 100000000 /dev/zero\n' >"$h/exec/x.flood"
printf '#!/bin/sh\nwhile :; do :; done\n' >"$h/exec/x.loop"
chmod 0755 "$h/exec/"*
config "$tmp/hostile.conf" "$h/so" "$h/exec" "[check.x.loop]
timeout = 1s"
start=$(date +%s)
run check --json --only t.good,t.crash,t.loop,t.flood,x.invalid,x.wrong_name,x.flood,x.loop \
    --config "$tmp/hostile.conf"
took=$(($(date +%s) - start))
expect_rc 3 "a run with hostile checks (errors, nothing failed)"
[ "$took" -lt 30 ] || fail "the hostile run took ${took}s"
expect_jq '[.checks[] | select(.id == "t.good")][0].status == "warn"' "the good plugin still reports"
for pair in "t.crash|t.crash crashed with SIGSEGV" \
    "t.loop|t.loop did not finish within 2s" \
    "t.flood|t.flood: output over 64 KiB" \
    "x.invalid|x.invalid: invalid output: output is not valid JSON" \
    "x.wrong_name|x.wrong_name: invalid output: name 'x.other' differs from the check id 'x.wrong_name'" \
    "x.flood|x.flood: output over 64 KiB" \
    "x.loop|x.loop did not finish within 1s"; do
    id=${pair%%|*}
    reason=${pair#*|}
    expect_jq "[.checks[] | select(.id == \"$id\")][0] | .status == \"error\" and .reason == \"$reason\"" \
        "$id is an error saying '$reason'"
done

[ "$failures" = 0 ] || exit 1
echo "$name: OK"
