#!/bin/sh
# posturectl check on the machine running the test (no --root), with the default configuration
# file: the JSON document must agree with independent readings of the same facts (the shell
# reading /etc/os-release, uname, /etc/machine-id).
. "$(dirname "$0")/lib.sh"

if [ -r /etc/os-release ]; then
    os_release=/etc/os-release
elif [ -r /usr/lib/os-release ]; then
    os_release=/usr/lib/os-release
else
    echo "$test_name: SKIP: this machine has no os-release file"
    exit 77
fi
# An independent reading: the shell itself parses the file (it is shell-compatible by spec).
# shellcheck disable=SC1090
want_id=$(. "$os_release" && echo "${ID:-linux}")
# shellcheck disable=SC1090
want_version_id=$(. "$os_release" && if [ -n "${VERSION_ID+x}" ]; then json_str "$VERSION_ID"; else echo null; fi)

# Every check: valid JSON, and the exit status agrees with "overall" (DESIGN.md §4).
run check --json
expect_valid_json "$out" "check --json on this machine"
overall=$(jq -r .overall "$out")
case $overall in
pass | warn) want_status=0 ;;
fail) want_status=1 ;;
error) want_status=3 ;;
*) want_status=-1 ;;
esac
expect_status "$want_status" "check on this machine (overall: $overall)"

# os.release alone must pass on any Linux machine with an os-release file. (Today it is the
# only check; checks whose verdict depends on the machine arrive later.)
run check --json --only os.release
expect_status 0 "check --only os.release on this machine"
expect_valid_json "$out" "check --json --only os.release on this machine"
cp "$out" "$tmp/host.json"
h=$tmp/host.json

expect_json "$h" '.overall' '"pass"' "overall on this machine"
expect_json "$h" '.checks | map(.id) | index("os.release") != null' 'true' "os.release ran"
c='.checks[] | select(.id == "os.release")'
expect_json "$h" "$c | .status" '"pass"' "os.release status"
expect_json "$h" "$c | .evidence.id" "$(json_str "$want_id")" "os.release evidence.id vs $os_release"
expect_json "$h" "$c | .evidence.version_id" "$want_version_id" \
    "os.release evidence.version_id vs $os_release"
expect_json "$h" "$c | .evidence.kernel" "$(json_str "$(uname -r)")" "kernel vs uname -r"
expect_json "$h" "$c | .evidence.arch" "$(json_str "$(uname -m)")" "arch vs uname -m"
expect_json "$h" '.host.hostname' "$(json_str "$(uname -n)")" "host.hostname vs uname -n"
if [ -s /etc/machine-id ]; then
    expect_json "$h" '.host.machine_id' "$(json_str "$(head -1 /etc/machine-id)")" \
        "host.machine_id vs /etc/machine-id"
fi
expect_json "$h" '.agent.name' '"posture"' "agent.name"
expect_json "$h" '.collected_at | type' '"number"' "collected_at is a number"
expect_json "$h" "$c | .observed_at | type" '"number"' "observed_at is a number"
expect_json "$h" "$c | .duration_ms | type" '"number"' "duration_ms is a number"
# collected_at is the time of this run (epoch seconds), within a minute of the shell's clock.
now=$(date +%s)
expect_jq "$h" ".collected_at <= $now and .collected_at > $now - 60" "collected_at is now"

# The table on this machine: one PASS row for os.release and the summary.
run check --only os.release
expect_status 0 "check (table) on this machine"
expect_stdout_matches '^PASS +os\.release +[^ ]' "table row of os.release"
expect_stdout_matches '^[0-9]+ checks?: .*overall: pass$' "table summary"

finish
