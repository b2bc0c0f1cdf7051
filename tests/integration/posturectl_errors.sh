#!/bin/sh
# posturectl check: usage and configuration errors exit 2 with a message naming the input on
# stderr and nothing on stdout; unknown configuration keys only warn.
. "$(dirname "$0")/lib.sh"

good_root=$fixtures/debian-12

# Errors: exit 2, the message on stderr, stdout empty.
expect_usage_error() {
    what=$1
    message=$2
    expect_status 2 "$what"
    expect_stderr_contains "$message" "$what"
    expect_empty "$out" "$what: stdout"
}

run check --config "$empty_conf" --root /nonexistent/posture-root
expect_usage_error "check --root on a missing directory" \
    "posturectl: error: --root /nonexistent/posture-root: No such file or directory"

run check --config "$empty_conf" --root "$empty_conf"
expect_usage_error "check --root on a regular file" \
    "posturectl: error: --root $empty_conf: Not a directory"

run check --config "$empty_conf" --root ""
expect_usage_error "check --root ''" "posturectl: error: --root needs a directory"

run check --config "$empty_conf" --root
expect_usage_error "check --root without an argument" "option '--root' needs an argument"

run check --config "$empty_conf" --root "$good_root" --only frobnicate
expect_usage_error "check --only frobnicate" \
    "posturectl: error: unknown check 'frobnicate' (see 'posturectl list-checks')"

run check --config "$empty_conf" --root "$good_root" --only os.release,frobnicate
expect_usage_error "check --only os.release,frobnicate" "unknown check 'frobnicate'"

run check --config "$empty_conf" --root "$good_root" --only os.release --only Bad.Id
expect_usage_error "check --only Bad.Id (second --only)" "unknown check 'Bad.Id'"

run check --config "$empty_conf" --root "$good_root" --only ,
expect_usage_error "check --only ," "--only needs at least one check id"

# --only with a known id, repeated and comma-separated, runs that check once.
run check --json --config "$empty_conf" --root "$good_root" --only os.release, --only os.release
expect_status 0 "check --only os.release, --only os.release"
expect_json "$out" '.checks | map(.id)' '["os.release"]' "check --only os.release (twice)"

# A missing explicit --config is an error; both commands read the configuration.
for c in "check --root $good_root" list-checks; do
    # shellcheck disable=SC2086
    run $c --config "$tmp/no-such.conf"
    expect_usage_error "$c --config (missing file)" "$tmp/no-such.conf"
    expect_stderr_contains "No such file or directory" "$c --config (missing file)"
done

# A bad value stops with file:line.
cat >"$tmp/bad-value.conf" <<'EOF'
# posture agent configuration with a bad value on line 3
[schedule]
interval = whenever
EOF
for c in "check --root $good_root" list-checks; do
    # shellcheck disable=SC2086
    run $c --config "$tmp/bad-value.conf"
    expect_usage_error "$c with a bad value" "$tmp/bad-value.conf:3"
    expect_stderr_contains "posturectl: error:" "$c with a bad value"
done

# A syntax error names file:line too.
printf '[agent]\nstate_dir = /var/lib/posture\nthis line has no equals sign\n' >"$tmp/syntax.conf"
run check --root "$good_root" --config "$tmp/syntax.conf"
expect_usage_error "check with a syntax error" "$tmp/syntax.conf:3"

# Drop-ins are read after the main file: a bad value in one names the drop-in.
mkdir "$tmp/dropin.conf.d"
: >"$tmp/dropin.conf"
printf '[spool]\n\nmax_bytes = lots\n' >"$tmp/dropin.conf.d/50-bad.conf"
printf 'not a conf file, never read\n' >"$tmp/dropin.conf.d/README"
run check --root "$good_root" --config "$tmp/dropin.conf"
expect_usage_error "check with a bad drop-in" "$tmp/dropin.conf.d/50-bad.conf:3"

# A bad value of a check option (from the check's option table) is an error as well; this needs
# a check with options. An option the check does not have only warns (below).

# Unknown keys and sections warn, name file:line, and the run goes on.
cat >"$tmp/unknown.conf" <<'EOF'
[agent]
frobnicate = yes
[frobnicate]
key = value
[check.os.release]
no_such_option = 1
[check.no.such.check]
x = 1
EOF
run check --json --only os.release --root "$good_root" --config "$tmp/unknown.conf"
expect_status 0 "check with unknown keys"
expect_stderr_contains "posturectl: warning: $tmp/unknown.conf:2:" "unknown key [agent] frobnicate"
expect_stderr_contains "ignoring" "unknown key warning says ', ignoring'"
expect_stderr_contains "$tmp/unknown.conf:6" "unknown option of check os.release"
expect_stderr_contains "$tmp/unknown.conf:8" "unknown check section [check.no.such.check]"
expect_valid_json "$out" "check with unknown keys: stdout is still the JSON document"
checks=$((checks + 1))
if grep -q 'posturectl: error' "$err"; then
    fail "unknown keys must only warn, stderr has an error line"
    show_output
fi

# Output that cannot be written (a full disk) is an error, not a silent success.
if [ -w /dev/full ]; then
    for args in "check --only os.release --config $empty_conf --root $good_root" \
        "check --json --only os.release --config $empty_conf --root $good_root" "list-checks --config $empty_conf" \
        "list-checks --json --config $empty_conf" --help --version "check --help"; do
        last_cmd="posturectl $args >/dev/full"
        # shellcheck disable=SC2086
        "$posturectl" $args </dev/null >/dev/full 2>"$err"
        status=$?
        : >"$out"
        expect_usage_error "posturectl $args >/dev/full" \
            "posturectl: error: Failed to write to standard output: No space left on device"
    done
fi

# The default configuration file may be missing (this machine may not have /etc/posture).
if [ ! -e /etc/posture/agent.conf ]; then
    run check --only os.release --root "$good_root"
    expect_status 0 "check without /etc/posture/agent.conf"
    expect_empty "$err" "check without /etc/posture/agent.conf: stderr"
else
    echo "$test_name: /etc/posture/agent.conf exists; the missing-default case is not run"
fi

finish
