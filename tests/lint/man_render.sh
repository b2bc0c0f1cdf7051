#!/bin/sh
# The man pages of packaging/man render without a single warning, the way lintian reads them
# (man --warnings) and with every groff warning on (groff -man -ww -z). Before the pages, a
# page with a broken macro and a bad escape must fail the same checks: a check that cannot
# fail proves nothing.
# Usage: man_render.sh MANDIR
set -u
mandir=$1
for t in man groff; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "man_render.sh: $t is not installed (packages man-db, groff-base)" >&2
        exit 1
    }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/man-render.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# render PAGE: prints the warnings; false when there is one
render() {
    LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$1" \
        >/dev/null 2>"$tmp/man.err"
    groff -man -ww -z "$1" 2>"$tmp/groff.err"
    cat "$tmp/man.err" "$tmp/groff.err"
    [ ! -s "$tmp/man.err" ] && [ ! -s "$tmp/groff.err" ]
}

printf '.TH BROKEN 8\n.SH NAME\nbroken \\- a test\n.SH DESCRIPTION\n.BOGUS x\n\\fXy\n' \
    >"$tmp/broken.8"
if render "$tmp/broken.8" >/dev/null; then
    echo "man_render.sh: a broken page rendered without a warning: the check is blind" >&2
    exit 1
fi

failed=0
n=0
for page in "$mandir"/*.[1-8]; do
    [ -e "$page" ] || continue
    n=$((n + 1))
    if ! out=$(render "$page"); then
        echo "$page:"
        echo "$out" | sed 's/^/  /'
        failed=$((failed + 1))
    fi
done
if [ "$n" -lt 6 ]; then
    echo "man_render.sh: $n pages in $mandir, expected postured.8, posturectl.8," \
        "posture-verifier.8, agent.conf.5, verifier.conf.5, posture-policy.5" >&2
    exit 1
fi
[ "$failed" -eq 0 ] || exit 1
echo "man_render.sh: $n pages render without a warning"
