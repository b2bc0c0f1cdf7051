#!/bin/sh
# The quick start's second command: build posturectl (release preset) if needed and run the
# checks on this machine, as a person would see them and as a script would read them.
#
# Works from any directory. Exits 0 when the demo ran, even when a check failed or could not
# decide (it says so); exits non-zero only when it could not build or run posturectl.
#
# Later this demo also enrols the machine against a local verifier behind nginx (swtpm standing
# in for a missing TPM) and shows the gateway's decision; those parts do not exist yet.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=$top/build/release
posturectl=$build/agent/cli/posturectl

step() {
    printf '\n==> %s\n' "$*"
}

step "Installing missing build dependencies (packaging/install-deps.sh)"
"$top/packaging/install-deps.sh"

step "Building posturectl (release preset, incremental)"
mkdir -p "$top/build"
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake --preset release >"$top/build/demo-configure.log" 2>&1 || {
        cat "$top/build/demo-configure.log" >&2
        echo "demo.sh: configuring the release preset failed" >&2
        exit 1
    }
fi
cmake --build --preset release --target posturectl
echo "built: $posturectl"

step "posturectl --version"
"$posturectl" --version

step "posturectl list-checks"
"$posturectl" list-checks

step "posturectl check (this machine)"
# The exit status carries the verdict (0 pass, 1 fail, 3 undecided); the demo reports it.
status=0
"$posturectl" check || status=$?

step "posturectl check --json | jq .overall"
"$posturectl" check --json | jq .overall || true

echo
case $status in
0) echo "demo.sh: no check failed on this machine (exit status 0)." ;;
1) echo "demo.sh: a check failed on this machine (exit status 1); the indented line under it says what to do." ;;
3) echo "demo.sh: a check could not decide on this machine (exit status 3); see its ERROR line." ;;
*)
    echo "demo.sh: posturectl check could not run (exit status $status)" >&2
    exit "$status"
    ;;
esac
echo "See docs/cli.md for the commands and docs/checks.md for what each check reads."
exit 0
