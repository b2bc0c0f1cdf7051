#!/bin/sh
# posturectl check (the table for people): layout, summary, remediation lines, wrapping, the
# ASCII fallback, and colour only on a terminal (util-linux `script` provides one).
. "$(dirname "$0")/lib.sh"

esc=$(printf '\033')
pass_root=$fixtures/debian-12
error_root=$fixtures/missing
garbage_root=$fixtures/garbage

expect_no_escapes() {
    checks=$((checks + 1))
    if grep -q "$esc" "$1"; then
        fail "$2: output contains escape sequences"
        od -c "$1" | head -20 | sed 's/^/  | /' >&2
    fi
}

expect_last_line() {
    checks=$((checks + 1))
    got=$(tail -n 1 "$out")
    [ "$got" = "$1" ] || fail "$2: expected last line '$1', got '$got'"
}

expect_max_width() {
    checks=$((checks + 1))
    w=$(max_line_width "$out")
    [ "$w" -le "$1" ] || {
        fail "$2: a line is $w columns wide (more than $1)"
        show_output
    }
}

# Continuation lines start exactly below the text they continue: the reason column, the
# remediation text after "→ ", or (list rows) never anywhere else.
expect_aligned() {
    checks=$((checks + 1))
    bad=$(python3 - "$out" "$1" <<'PY'
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
arrow = sys.argv[2]
row = re.compile(r"^(PASS |WARN |FAIL |N/A  |ERROR)  (\S+)( +)(\S)")
text_col = None
for l in lines:
    m = row.match(l)
    if m:
        text_col = m.start(4)
        continue
    if not l.strip() or not l.startswith(" "):
        continue
    indent = len(l) - len(l.lstrip(" "))
    if l.lstrip(" ").startswith(arrow):
        ok = indent == 7
    else:
        ok = indent in (text_col, 7 + len(arrow))
    if not ok:
        print(repr(l))
PY
    )
    [ -z "$bad" ] || {
        fail "$2: misaligned lines: $bad"
        show_output
    }
}

# A passing check: one PASS row, a blank line and the summary; no escapes in a pipe.
run check --only os.release --config "$empty_conf" --root "$pass_root"
expect_status 0 "table on debian-12"
expect_empty "$err" "table on debian-12: stderr"
expect_no_escapes "$out" "table on debian-12 (piped)"
expect_stdout_matches '^PASS   os\.release  Debian GNU/Linux 12' "table on debian-12: the PASS row"
expect_last_line "1 check: 1 pass · overall: pass" "table on debian-12: summary"
checks=$((checks + 1))
if grep -q '→' "$out"; then
    fail "table on debian-12: a passing check has no remediation line"
fi
expect_max_width 80 "table on debian-12"

# An undecided check: ERROR, its remediation (if it has one) under it, exit status 3.
run check --json --only os.release --config "$empty_conf" --root "$error_root"
remediation=$(jq -r '.checks[0].remediation // empty' "$out")
run check --only os.release --config "$empty_conf" --root "$error_root"
expect_status 3 "table on missing"
expect_no_escapes "$out" "table on missing (piped)"
expect_stdout_matches '^ERROR  os\.release  [^ ]' "table on missing: the ERROR row"
expect_last_line "1 check: 1 error · overall: error" "table on missing: summary"
if [ -n "$remediation" ]; then
    first_word=${remediation%% *}
    expect_stdout_matches "^       → $first_word" "table on missing: the remediation line"
fi
expect_max_width 80 "table on missing"
expect_aligned '→ ' "table on missing"

# Narrow terminals: text wraps below its own column (COLUMNS=60 leaves 41 columns of text).
for root in "$pass_root" "$error_root" "$garbage_root"; do
    run_env COLUMNS=60 check --config "$empty_conf" --root "$root"
    expect_aligned '→ ' "COLUMNS=60 table on $(basename "$root")"
done

# A binary os-release: nothing from it may reach the terminal as a control character.
run check --only os.release --config "$empty_conf" --root "$garbage_root"
expect_status 3 "table on garbage"
checks=$((checks + 1))
if tr -d '\n' <"$out" | LC_ALL=C grep -q '[[:cntrl:]]'; then
    fail "table on garbage: control characters in the output"
    od -c "$out" | head -20 | sed 's/^/  | /' >&2
fi

# Text from the host is sanitised before it reaches a terminal: a PRETTY_NAME with escape
# sequences, BEL, a C1 control (CSI, U+009B) and a bidi override (U+202E) prints as '?'s, while
# the JSON keeps the value (escaped) for the verifier.
hostile=$tmp/hostile-root
mkdir -p "$hostile/etc"
printf 'ID=hostile\nPRETTY_NAME="Evil\033[31m Linux\033]0;title\007 \302\233 bidi\342\200\256x"\n' \
    >"$hostile/etc/os-release"
run check --json --only os.release --config "$empty_conf" --root "$hostile"
expect_status 0 "check --json on a hostile os-release"
expect_json "$out" '.checks[0].evidence.pretty_name' \
    '"Evil\u001b[31m Linux\u001b]0;title\u0007 \u009b bidi\u202ex"' "hostile pretty_name in JSON"
run check --only os.release --config "$empty_conf" --root "$hostile"
expect_status 0 "table on a hostile os-release"
expect_no_escapes "$out" "table on a hostile os-release"
expect_stdout_contains 'PASS   os.release  Evil?[31m Linux?]0;title? ? bidi?x' \
    "table on a hostile os-release: controls shown as '?'"
checks=$((checks + 1))
if python3 -c 'import sys
t = open(sys.argv[1], encoding="utf-8").read()
sys.exit(any(ord(c) < 32 and c != "\n" or 0x7f <= ord(c) < 0xa0 or 0x202a <= ord(c) <= 0x202e
             for c in t))' "$out"; then :; else
    fail "table on a hostile os-release: a control or bidi character reached the output"
    od -c "$out" | head -20 | sed 's/^/  | /' >&2
fi

# A locale that is explicitly not UTF-8 gets ASCII punctuation.
run_env LC_ALL=C check --only os.release --config "$empty_conf" --root "$pass_root"
expect_last_line "1 check: 1 pass; overall: pass" "LC_ALL=C summary"
if [ -n "$remediation" ]; then
    run_env LC_ALL=C check --only os.release --config "$empty_conf" --root "$error_root"
    expect_stdout_matches '^       -> ' "LC_ALL=C remediation arrow"
fi

# Colour only on a terminal, and never with NO_COLOR or TERM=dumb.
if command -v script >/dev/null 2>&1; then
    # tty_run ROOT [VAR=VALUE...]: posturectl check on a pseudo-terminal, with that environment;
    # output in $out, status in $status.
    tty_run() {
        tty_root=$1
        shift
        last_cmd="$* script -qec 'posturectl check --root $tty_root' /dev/null"
        env "$@" script -qec "'$posturectl' check --only os.release --config '$empty_conf' --root '$tty_root'" \
            /dev/null </dev/null >"$out" 2>"$err"
        status=$?
    }
    tty_run "$pass_root" TERM=xterm
    expect_status 0 "table on a terminal"
    expect_stdout_contains "${esc}[32mPASS${esc}[0m" "table on a terminal: green PASS"
    tty_run "$error_root" TERM=xterm
    expect_status 3 "table on a terminal (missing)"
    expect_stdout_contains "${esc}[31mERROR${esc}[0m" "table on a terminal: red ERROR"
    tty_run "$pass_root" NO_COLOR=1 TERM=xterm
    expect_status 0 "NO_COLOR=1 on a terminal"
    expect_stdout_contains "PASS" "NO_COLOR=1 on a terminal"
    expect_no_escapes "$out" "NO_COLOR=1 on a terminal"
    tty_run "$pass_root" TERM=dumb
    expect_status 0 "TERM=dumb on a terminal"
    expect_stdout_contains "PASS" "TERM=dumb on a terminal"
    expect_no_escapes "$out" "TERM=dumb on a terminal"
    # --json is data: never colour, even on a terminal.
    last_cmd="script -qec 'posturectl check --json' /dev/null"
    env TERM=xterm script -qec "'$posturectl' check --json --only os.release --config '$empty_conf' --root '$pass_root'" \
        /dev/null </dev/null >"$out" 2>"$err"
    status=$?
    expect_no_escapes "$out" "check --json on a terminal"
else
    echo "$test_name: util-linux script is not installed; the terminal part is not run"
fi

finish
