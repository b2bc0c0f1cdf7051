#!/bin/sh
# The quick start's second command, the whole loop on one machine:
#   1. build (release preset, incremental) and run the checks on this machine, as a person
#      sees them and as a script reads them;
#   2. start a verifier (posture-verifier serve) in a temporary directory, with two policies:
#      "demo" (the OS is identified, the device is enrolled with a TPM and its TPM-measured boot
#      shows Secure Boot on) for the site, and the shipped "payments-admin" (every check passes,
#      and the same hardware requirements) for /payments/;
#   3. when this machine has no TPM (/dev/tpmrm0), a software TPM (swtpm) stands in, and the
#      firmware event log of a real Secure Boot machine (tests/fixtures/eventlogs, a Google
#      Cloud RHEL 8 VM) is replayed into it so that the verifier has a measured boot to check;
#   4. enrol the machine with a one-time token (posturectl enroll: TPM credential activation)
#      and report (posturectl submit: checks, TPM quote bound to the report, event log);
#   5. put nginx (the shipped packaging/gateways/nginx.conf) in front of a tiny web app and
#      request / and /payments/ as this device: allowed or denied, and why.
#
# Works from any directory, as root (swtpm, nginx, the TPM event log). Exits 0 when the demo
# ran, whatever the checks found (it says so); non-zero when something could not run.
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

step "Building posturectl and posture-verifier (release preset, incremental)"
mkdir -p "$top/build"
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake --preset release >"$top/build/demo-configure.log" 2>&1 || {
        cat "$top/build/demo-configure.log" >&2
        echo "demo.sh: configuring the release preset failed" >&2
        exit 1
    }
fi
cmake --build --preset release --target posturectl posture-verifier tpm_replay
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

exec sh "$top/packaging/demo-loop.sh" "$top" "$build"
