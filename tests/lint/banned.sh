#!/bin/sh
# Banned functions (STYLE.md G5): use snprintf with a truncation check, posture_parse_*, and
# spawn helpers instead. Comments and strings are not exempt: write around them.
set -eu
top=$1
cd "$top"
banned='strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atof|strtok|system|popen|alloca'
files=$(find agent checks attest verifier tests -name '*.[ch]' -not -path 'tests/fixtures/*' | sort)
[ -n "$files" ] || { echo "banned.sh: no sources found under $top" >&2; exit 1; }
# A call is the name, not preceded by an identifier character or '_' or '.'/'>' (members), then '('.
hits=$(grep -nE "(^|[^A-Za-z0-9_.>])($banned)[[:space:]]*\\(" $files || true)
if [ -n "$hits" ]; then
    echo "banned functions used (STYLE.md G5):"
    echo "$hits"
    exit 1
fi
echo "banned.sh: $(echo "$files" | wc -l) files clean"
