#!/bin/sh
# Install what is missing, build, and run every test. The quick start's first command and what
# CI runs (.ci/run). As root on a fresh Debian 12 machine nothing else is needed.
#
# Stages (each prints its wall time):
#   1. release preset: hardened -O2 build, its tests (among them integration/packaging/deb: the
#      .deb packages built, installed, upgraded and purged on this machine), and the benchmarks
#      (footprint, patch level, attestation appraisal)
#   2. fuzz preset (clang): libFuzzer targets, each fuzzed for POSTURE_FUZZ_SECONDS from its corpus
#   3. asan preset (ASan + UBSan, no recovery): every test; its CTest summary ends the output
#
# Environment: POSTURE_STAGES (default "release fuzz asan"), POSTURE_FUZZ_SECONDS (default 8),
# CI (set by CI: warnings become errors).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

"$top/packaging/install-deps.sh"

if [ -n "${CI:-}" ]; then
    POSTURE_WERROR=ON
fi
export POSTURE_WERROR="${POSTURE_WERROR:-OFF}"
stages=${POSTURE_STAGES:-"release fuzz asan"}
fuzz_seconds=${POSTURE_FUZZ_SECONDS:-8}
jobs=$(nproc 2>/dev/null || echo 2)

now() { date +%s; }
stage_start=0
begin() { stage_start=$(now); echo "==> $*"; }
end() { echo "==> $1 done in $(( $(now) - stage_start )) s"; }

configure_build() {
    # $1: preset; further arguments go to the configure step.
    preset=$1
    shift
    cmake --preset "$preset" "$@" >"build/configure-$preset.log" 2>&1 || {
        cat "build/configure-$preset.log"
        echo "tests/run.sh: configuring preset $preset failed" >&2
        exit 1
    }
    cmake --build --preset "$preset" -j "$jobs" || {
        echo "tests/run.sh: building preset $preset failed" >&2
        exit 1
    }
}

mkdir -p build
t0=$(now)
for stage in $stages; do
    case $stage in
    release)
        begin "release: hardened build and tests"
        configure_build release
        ctest --preset release >build/release-ctest.log 2>&1 || {
            cat build/release-ctest.log
            echo "tests/run.sh: release tests failed" >&2
            exit 1
        }
        tail -n 3 build/release-ctest.log
        "$top/tests/bench/check_footprint.sh" "$top/build/release"
        "$top/tests/bench/patch_level.sh" "$top/build/release"
        # Appraisal crypto per submission against a swtpm quote of a replayed real event log
        # (about 10 s); it reports figures only and never fails the run (its checks are tests).
        "$top/tests/bench/attest_verify.sh" "$top/build/release" ||
            echo "tests/run.sh: attest_verify.sh did not complete (see above)" >&2
        # The gateway decision under wrk, one verifier thread on one core (about 20 s).
        "$top/tests/bench/authz.sh" "$top/build/release" ||
            echo "tests/run.sh: authz.sh did not complete (see above)" >&2
        # Verifier CPU per appraisal of a TPM-enrolled device's submission over HTTP, then the
        # same pipeline in process per stage (appraise_inproc; about 90 s).
        "$top/tests/bench/appraise.sh" "$top/build/release" ||
            echo "tests/run.sh: appraise.sh did not complete (see above)" >&2
        # postured's footprint: binary sizes, idle and outage RSS, CPU per cycle (about 70 s).
        "$top/tests/bench/postured.sh" "$top/build/release" ||
            echo "tests/run.sh: postured.sh did not complete (see above)" >&2
        # postured.service's sandbox (each grant is explained in the unit and docs/agent-daemon.md).
        systemd-analyze security --offline=yes "$top/packaging/systemd/postured.service" 2>&1 |
            tail -n 1 || echo "tests/run.sh: systemd-analyze security did not run" >&2
        end release
        ;;
    fuzz)
        begin "fuzz: libFuzzer targets, ${fuzz_seconds} s each"
        configure_build fuzz "-DPOSTURE_FUZZ_SECONDS=$fuzz_seconds"
        ctest --test-dir build/fuzz -L 'fuzz-run' -j "$jobs" --output-on-failure \
            >build/fuzz-ctest.log 2>&1 || {
            cat build/fuzz-ctest.log
            echo "tests/run.sh: fuzzing found a problem (see above)" >&2
            exit 1
        }
        grep -E 'stat::number_of_executed_units|Test +#' build/fuzz-ctest.log || true
        end fuzz
        ;;
    asan)
        begin "asan: every test under ASan + UBSan"
        configure_build asan
        end "asan build"
        echo "==> total $(( $(now) - t0 )) s before the final test run"
        exec ctest --preset asan
        ;;
    *)
        echo "tests/run.sh: unknown stage '$stage' (release, fuzz, asan)" >&2
        exit 2
        ;;
    esac
done
