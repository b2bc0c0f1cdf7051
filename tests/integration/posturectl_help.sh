#!/bin/sh
# posturectl --help, --version, `help [COMMAND]`, COMMAND --help and the usage errors of the
# dispatcher. $3 is the project version from CMake (an independent source of the number).
. "$(dirname "$0")/lib.sh"
version=${3:?usage: $0 POSTURECTL FIXTURE_DIR VERSION}

commands="check list-checks report key enroll submit status token help"

for opt in --help -h; do
    run "$opt"
    expect_status 0 "posturectl $opt"
    expect_stdout_matches '^Usage: posturectl ' "posturectl $opt"
    for c in $commands; do
        expect_stdout_matches "^  $c " "posturectl $opt lists '$c'"
    done
    expect_empty "$err" "posturectl $opt stderr"
done
cp "$out" "$tmp/usage"

for opt in --version -V; do
    run "$opt"
    expect_status 0 "posturectl $opt"
    checks=$((checks + 1))
    if [ "$(cat "$out")" != "posturectl $version" ]; then
        fail "posturectl $opt: expected 'posturectl $version', got '$(cat "$out")'"
    fi
done

run help
expect_status 0 "posturectl help"
checks=$((checks + 1))
cmp -s "$out" "$tmp/usage" || fail "posturectl help differs from posturectl --help"

for c in $commands; do
    for opt in --help -h; do
        run "$c" "$opt"
        expect_status 0 "posturectl $c $opt"
        expect_stdout_matches "^Usage: posturectl $c" "posturectl $c $opt"
        expect_empty "$err" "posturectl $c $opt stderr"
    done
    cp "$out" "$tmp/help-$c"
    run help "$c"
    expect_status 0 "posturectl help $c"
    checks=$((checks + 1))
    cmp -s "$out" "$tmp/help-$c" || fail "posturectl help $c differs from posturectl $c --help"
    # Help must be readable in an 80-column terminal.
    checks=$((checks + 1))
    w=$(max_line_width "$out")
    [ "$w" -le 80 ] || fail "posturectl $c --help has a line of $w columns (more than 80)"
done
checks=$((checks + 1))
w=$(max_line_width "$tmp/usage")
[ "$w" -le 80 ] || fail "posturectl --help has a line of $w columns (more than 80)"

for c in check list-checks; do
    checks=$((checks + 1))
    grep -qF -- '--config FILE' "$tmp/help-$c" || fail "posturectl $c --help does not mention --config FILE"
done

# Usage errors: exit 2, message on stderr, nothing on stdout.
run
expect_status 2 "posturectl without a command"
expect_stderr_contains "posturectl: error: no command given" "posturectl without a command"
expect_stderr_contains "Usage: posturectl" "posturectl without a command prints the usage"
expect_empty "$out" "posturectl without a command stdout"

run frobnicate
expect_status 2 "posturectl frobnicate"
expect_stderr_contains "posturectl: error: unknown command 'frobnicate'" "posturectl frobnicate"
expect_empty "$out" "posturectl frobnicate stdout"

run --frobnicate
expect_status 2 "posturectl --frobnicate"
expect_stderr_contains "unknown option '--frobnicate'" "posturectl --frobnicate"

run help frobnicate
expect_status 2 "posturectl help frobnicate"
expect_stderr_contains "unknown command 'frobnicate'" "posturectl help frobnicate"

run help check extra
expect_status 2 "posturectl help check extra"
expect_stderr_contains "unexpected argument 'extra'" "posturectl help check extra"

for c in check list-checks status token; do
    run "$c" --frobnicate
    expect_status 2 "posturectl $c --frobnicate"
    expect_stderr_contains "unknown option '--frobnicate' (see 'posturectl $c --help')" \
        "posturectl $c --frobnicate"
    expect_empty "$out" "posturectl $c --frobnicate stdout"

    run "$c" -x
    expect_status 2 "posturectl $c -x"
    expect_stderr_contains "unknown option '-x'" "posturectl $c -x"

    run "$c" --config
    expect_status 2 "posturectl $c --config (no argument)"
    expect_stderr_contains "option '--config' needs an argument" "posturectl $c --config"

    run "$c" --config "$empty_conf" stray
    expect_status 2 "posturectl $c stray"
    expect_stderr_contains "unexpected argument 'stray'" "posturectl $c stray"
done

finish
