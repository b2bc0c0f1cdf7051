# Shared helpers of the posturectl integration tests (POSIX sh; sourced, not run).
#
# The scripts take: $1 the posturectl binary, $2 the fixture directory
# (tests/fixtures/roots/os-release). They read posturectl's output only with independent tools
# (python3 -m json.tool, jq, grep), never with our own code, and report every difference with a
# line naming what was expected and what came out. They exit 0 when all passed, 1 otherwise,
# 77 when a tool they need is missing.

set -u

if [ $# -lt 2 ]; then
    echo "usage: $0 POSTURECTL FIXTURE_DIR" >&2
    exit 2
fi
posturectl=$1
# shellcheck disable=SC2034 # used by the scripts that source this file
fixtures=$2
test_name=$(basename "$0" .sh)

for tool in jq python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$test_name: SKIP: $tool is not installed (packaging/install-deps.sh installs it)"
        exit 77
    fi
done
if [ ! -x "$posturectl" ]; then
    echo "$test_name: FAIL: $posturectl is not an executable" >&2
    exit 1
fi

# Deterministic environment: a UTF-8 character set, no colour preference, a known width.
LC_ALL=C.UTF-8
export LC_ALL
unset NO_COLOR COLUMNS POSTURE_LOG_LEVEL JOURNAL_STREAM || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/posturectl-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
out=$tmp/stdout
err=$tmp/stderr
status=0
failures=0
checks=0

# An empty configuration file, so the tests do not depend on /etc/posture of this machine.
empty_conf=$tmp/empty.conf
: >"$empty_conf"

fail() {
    failures=$((failures + 1))
    echo "FAIL: $*" >&2
}

# Show what the last command printed (after a failure).
show_output() {
    echo "  --- command: $last_cmd" >&2
    echo "  --- exit status: $status" >&2
    echo "  --- stdout:" >&2
    sed -n '1,40s/^/  | /p' "$out" >&2
    echo "  --- stderr:" >&2
    sed -n '1,40s/^/  | /p' "$err" >&2
}

# run ARGS...: run posturectl, keeping stdout in $out, stderr in $err, the status in $status.
run() {
    last_cmd="posturectl $*"
    "$posturectl" "$@" </dev/null >"$out" 2>"$err"
    status=$?
}

# run_env VAR=VALUE ARGS...: run with one more environment variable (assignments in front of
# shell functions do not reliably reach the command in every sh).
run_env() {
    run_assignment=$1
    shift
    last_cmd="$run_assignment posturectl $*"
    env "$run_assignment" "$posturectl" "$@" </dev/null >"$out" 2>"$err"
    status=$?
}

# expect_status N WHAT: the last command exited with N.
expect_status() {
    checks=$((checks + 1))
    if [ "$status" -ne "$1" ]; then
        fail "$2: expected exit status $1, got $status"
        show_output
        return 1
    fi
    return 0
}

# expect_stderr_contains TEXT WHAT (fixed string)
expect_stderr_contains() {
    checks=$((checks + 1))
    if ! grep -qF -- "$1" "$err"; then
        fail "$2: expected stderr to contain '$1'"
        show_output
        return 1
    fi
    return 0
}

# expect_stdout_contains TEXT WHAT (fixed string)
expect_stdout_contains() {
    checks=$((checks + 1))
    if ! grep -qF -- "$1" "$out"; then
        fail "$2: expected stdout to contain '$1'"
        show_output
        return 1
    fi
    return 0
}

# expect_stdout_matches ERE WHAT
expect_stdout_matches() {
    checks=$((checks + 1))
    if ! grep -qE -- "$1" "$out"; then
        fail "$2: expected a stdout line matching /$1/"
        show_output
        return 1
    fi
    return 0
}

# expect_empty FILE WHAT
expect_empty() {
    checks=$((checks + 1))
    if [ -s "$1" ]; then
        fail "$2: expected nothing, got:"
        sed -n '1,20s/^/  | /p' "$1" >&2
        return 1
    fi
    return 0
}

# expect_valid_json FILE WHAT: python3's parser accepts the whole file.
expect_valid_json() {
    checks=$((checks + 1))
    if ! python3 -m json.tool "$1" >/dev/null 2>"$tmp/json.err"; then
        fail "$2: output is not valid JSON: $(cat "$tmp/json.err")"
        sed -n '1,40s/^/  | /p' "$1" >&2
        return 1
    fi
    return 0
}

# expect_json FILE FILTER EXPECTED WHAT: jq's FILTER on FILE equals the JSON value EXPECTED
# (e.g. '"pass"', 'null', '3').
expect_json() {
    checks=$((checks + 1))
    if ! jq -e --argjson want "$3" "($2) == \$want" "$1" >/dev/null 2>"$tmp/jq.err"; then
        fail "$4: jq '$2' expected $3, got $(jq -c "$2" "$1" 2>&1 | head -c 400)"
        return 1
    fi
    return 0
}

# expect_jq FILE FILTER WHAT: jq -e FILTER holds (true) on FILE.
expect_jq() {
    checks=$((checks + 1))
    if ! jq -e "$2" "$1" >/dev/null 2>"$tmp/jq.err"; then
        fail "$3: jq -e '$2' does not hold ($(head -c 300 "$tmp/jq.err"))"
        return 1
    fi
    return 0
}

# JSON string literal of a shell string (for expect_json).
json_str() {
    jq -n --arg s "$1" '$s'
}

# The longest line of FILE in characters (not bytes).
max_line_width() {
    python3 -c 'import sys
print(max((len(l.rstrip("\r\n")) for l in open(sys.argv[1], encoding="utf-8")), default=0))' "$1"
}

finish() {
    if [ "$failures" -gt 0 ]; then
        echo "$test_name: $failures of $checks checks FAILED" >&2
        exit 1
    fi
    echo "$test_name: all $checks checks passed"
    exit 0
}
