#!/bin/sh
# The man pages say what the programs and the configuration tables say:
#   - every long option that postured, posturectl and posture-verifier print in --help (the
#     program's and each command's) appears in the program's page, and every command and
#     subcommand of a "Usage:" line ("posture-verifier devices revoke") is named in it;
#   - every key of the configuration tables (the ROW(...) lines of agent/core/agent_config.c
#     and verifier/lib/verifier_config.c) is a ".TP" tag "key = ..." under its ".SS [section]"
#     in agent.conf(5) or verifier.conf(5), every option of a check (posturectl list-checks
#     --json) one under "[check.<id>]" in agent.conf(5), and the pages document no key of
#     those sections that the tables do not have;
#   - the programs' pages have EXIT STATUS, ENVIRONMENT and FILES, every page NAME, SYNOPSIS,
#     DESCRIPTION and SEE ALSO.
# Usage: man_consistency.sh MANDIR SOURCE_DIR POSTURED POSTURECTL POSTURE_VERIFIER
#        man_consistency.sh --self-test SOURCE_DIR POSTURED POSTURECTL POSTURE_VERIFIER
# --self-test runs the check on copies of packaging/man with one option, one command, one
# configuration key and one check option taken out, and fails unless each copy fails.
set -u

if [ "$1" = --self-test ]; then
    src=$2
    shift 2
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/man-consistency.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    sh "$0" "$src/packaging/man" "$src" "$@" >"$tmp/good.out" 2>&1 || {
        cat "$tmp/good.out"
        echo "man_consistency.sh --self-test: the pages as they are do not pass" >&2
        exit 1
    }
    failed=0
    # PAGE SED-SCRIPT WHAT: the copy without WHAT must fail, naming it
    try() {
        t_page=$1
        t_edit=$2
        t_what=$3
        shift 3
        rm -rf "$tmp/man" && cp -r "$src/packaging/man" "$tmp/man"
        sed -i "$t_edit" "$tmp/man/$t_page"
        if sh "$0" "$tmp/man" "$src" "$@" >"$tmp/out" 2>&1; then
            echo "NOT CAUGHT: $t_page without $t_what"
            failed=1
        elif ! grep '^FAIL' "$tmp/out" | grep -qF -- "$t_what"; then
            echo "NOT NAMED: $t_page without $t_what; the check said:"
            sed 's/^/  /' "$tmp/out"
            failed=1
        else
            grep '^FAIL' "$tmp/out" | sed 's/^FAIL/caught/'
        fi
    }
    # shellcheck disable=SC2016
    try posturectl.8 '/token\\-file/d' '--token-file' "$@"
    try posture-verifier.8 's/devices revoke/devices/g' 'devices revoke' "$@"
    try postured.8 '/\\-\\-once/d' '--once' "$@"
    try agent.conf.5 '/^\.BI "early_gap = "/d' '[schedule] early_gap' "$@"
    try verifier.conf.5 '/^\.BI "clients_max = "/d' '[enroll] clients_max' "$@"
    try agent.conf.5 '/^\.BI "tool_timeout = "/d' '[check.disk.encryption] tool_timeout' "$@"
    try verifier.conf.5 's/^\.BI "bearer = "/.BI "bearer_token = "/' '[authz] bearer_token' "$@"
    [ "$failed" -eq 0 ] || exit 1
    echo "man_consistency.sh --self-test: every omission caught"
    exit 0
fi

mandir=$1
src=$2
postured=$3
posturectl=$4
verifier=$5
command -v jq >/dev/null 2>&1 || {
    echo "man_consistency.sh: jq is not installed" >&2
    exit 1
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/man-consistency.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0"
failures=0
fail() {
    failures=$((failures + 1))
    echo "FAIL: $*"
}

# plain PAGE: the page's text without font escapes, with "\-" as "-"
plain() {
    sed 's/\\-/-/g; s/\\f[BIRP]//g; s/\\f(..//g; s/\\f\[[^]]*\]//g; s/\\&//g; s/\\(em/--/g' "$1"
}

# helps PROGRAM: its --help and, for each command it lists, that command's --help
helps() {
    "$1" --help
    "$1" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' | while read -r c; do
        "$1" "$c" --help
    done
}

# check_program PROGRAM PAGE
check_program() {
    prog=$(basename "$1")
    page=$mandir/$2
    [ -f "$page" ] || {
        fail "$prog: no page $page"
        return
    }
    plain "$page" >"$tmp/page"
    helps "$1" >"$tmp/help" 2>&1 || {
        fail "$prog: --help failed: $(head -n 3 "$tmp/help")"
        return
    }
    grep -o -- '--[a-z][a-z0-9-]*' "$tmp/help" | sort -u >"$tmp/options"
    [ -s "$tmp/options" ] || fail "$prog: no option found in its --help"
    while read -r opt; do
        grep -qE -- "(^|[^a-z-])$opt([^a-z0-9-]|\$)" "$tmp/page" ||
            fail "$2: option $opt (in '$prog --help') is not documented"
    done <"$tmp/options"
    sed -n "s/^\(Usage: \|  *\)$prog \([a-z][a-z-]*\( [a-z][a-z-]*\)*\).*/\2/p" "$tmp/help" |
        sort -u >"$tmp/commands"
    while read -r c; do
        grep -qF -- "$prog $c" "$tmp/page" ||
            fail "$2: command '$prog $c' (in '$prog --help') is not documented"
    done <"$tmp/commands"
    for s in NAME SYNOPSIS DESCRIPTION '"EXIT STATUS"' ENVIRONMENT FILES '"SEE ALSO"'; do
        grep -q "^\.SH $s\$" "$page" || fail "$2: no .SH $s"
    done
    echo "$2: $(wc -l <"$tmp/options") options and $(wc -l <"$tmp/commands") commands of" \
        "'$prog --help' documented"
}

# keys_of_page PAGE: "section key" for every ".TP" tag "key = ..." under ".SS [section]" or
# under a ".TP" tag "[section]"
keys_of_page() {
    plain "$1" | awk '
        /^\.SS / { s = $0; sub(/^\.SS +/, "", s); gsub(/"/, "", s)
                   section = (s ~ /^\[.*\]$/) ? substr(s, 2, length(s) - 2) : ""; next }
        /^\.TP/ { tag = 1; next }
        tag && /^\.(B|BI|BR|I|IR) / {
            t = $0; sub(/^\.[A-Z]+ +/, "", t); gsub(/"/, "", t)
            if (t ~ /^\[[^]]+\]$/) section = substr(t, 2, length(t) - 2)
            else if (section != "" && t ~ / = /) { split(t, w, /[ =]/); print section " " w[1] }
        }
        { tag = 0 }' | sort -u
}

# check_config TABLE.c PAGE [CHECK-OPTIONS]: the table's keys (and the checks' options) and
# the page's, both ways, for the sections the table knows
check_config() {
    page=$mandir/$2
    [ -f "$page" ] || {
        fail "no page $page"
        return
    }
    sed -n 's/^ *ROW("\([a-z_.]*\)", "\([a-z_]*\)".*/\1 \2/p' "$src/$1" >"$tmp/table"
    [ -n "${3:-}" ] && cat "$3" >>"$tmp/table"
    sort -u -o "$tmp/table" "$tmp/table"
    [ -s "$tmp/table" ] || fail "$1: no ROW(...) line found"
    keys_of_page "$page" >"$tmp/keys"
    while read -r section key; do
        case $section in
        check.*) origin="posturectl list-checks --json" ;;
        *) origin=$1 ;;
        esac
        grep -qx "$section $key" "$tmp/keys" ||
            fail "$2: [$section] $key (in $origin) is not documented"
    done <"$tmp/table"
    cut -d' ' -f1 "$tmp/table" | sort -u >"$tmp/sections"
    while read -r section key; do
        grep -qx "$section" "$tmp/sections" || continue
        grep -qx "$section $key" "$tmp/table" ||
            fail "$2: documents [$section] $key, which the program does not have"
    done <"$tmp/keys"
    echo "$2: $(wc -l <"$tmp/table") keys of $1 documented"
}

check_program "$postured" postured.8
check_program "$posturectl" posturectl.8
check_program "$verifier" posture-verifier.8

: >"$tmp/empty.conf"
"$posturectl" list-checks --json --config "$tmp/empty.conf" 2>"$tmp/lc.err" |
    jq -r '.[] | .id as $id | .options[] | "check.\($id) \(.key)"' >"$tmp/check-options" ||
    fail "posturectl list-checks --json: $(cat "$tmp/lc.err")"
[ -s "$tmp/check-options" ] || fail "no check option from posturectl list-checks --json"
check_config agent/core/agent_config.c agent.conf.5 "$tmp/check-options"
check_config verifier/lib/verifier_config.c verifier.conf.5

for page in "$mandir"/*.[58]; do
    for s in NAME SYNOPSIS DESCRIPTION '"SEE ALSO"'; do
        grep -q "^\.SH $s\$" "$page" || fail "$page: no .SH $s"
    done
done

[ "$failures" -eq 0 ] || exit 1
echo "man_consistency.sh: the pages match the programs and the configuration tables"
