#!/bin/sh
# clang-format dry run over every C source and header of ours: fails listing what would change.
set -eu
fmt=$1
top=$2
cd "$top"
files=$(find agent checks attest verifier tests -name '*.[ch]' -not -path 'tests/fixtures/*' | sort)
"$fmt" --dry-run -Werror --style=file $files
echo "format.sh: $(echo "$files" | wc -l) files formatted"
