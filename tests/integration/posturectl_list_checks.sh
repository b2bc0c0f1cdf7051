#!/bin/sh
# posturectl list-checks: the table and the JSON array, read with grep, python3 and jq.
. "$(dirname "$0")/lib.sh"

run list-checks --json --config "$empty_conf"
expect_status 0 "list-checks --json"
expect_empty "$err" "list-checks --json: stderr"
expect_valid_json "$out" "list-checks --json"
cp "$out" "$tmp/list.json"
j=$tmp/list.json

expect_json "$j" 'type' '"array"' "list-checks --json is an array"
expect_jq "$j" 'length >= 1' "list-checks --json lists at least one check"
expect_json "$j" '[.[] | select(.id == "os.release")] | length' '1' "os.release is listed once"
expect_json "$j" '.[] | select(.id == "os.release") | .source' '"built-in"' "os.release source"
expect_json "$j" '.[] | select(.id == "os.release") | .needs' '[]' \
    "os.release needs nothing (no root, tpm, net, slow)"
expect_jq "$j" '.[] | select(.id == "os.release") | .summary | type == "string" and length > 0' \
    "os.release has a summary"
# Every element has exactly the documented members, with the documented types.
expect_jq "$j" 'all(.[]; keys == ["id", "needs", "options", "path", "source", "summary", "version"])' \
    "every check has id, version, source, path, needs, summary, options"
expect_jq "$j" 'all(.[]; select(.source == "built-in") | .path == null)' "built-ins have no path"
expect_jq "$j" 'all(.[]; .id | test("^[a-z0-9_]+(\\.[a-z0-9_]+)*$"))' "ids are dotted lowercase"
expect_jq "$j" 'all(.[]; .version | test("^[0-9]+\\.[0-9]+\\.[0-9]+"))' "versions are semver"
expect_jq "$j" 'all(.[]; .source == "built-in" or .source == ".so" or .source == "exec")' \
    "sources are built-in, .so or exec"
expect_jq "$j" 'all(.[]; .needs | all(.[]; IN("root", "tpm", "net", "slow")))' \
    "needs are root, tpm, net, slow"
expect_jq "$j" 'all(.[]; .options | type == "array")' "options are arrays"
expect_jq "$j" 'all(.[].options[]; (keys == ["default", "help", "key", "type"]) and
        (.type | IN("string", "bool", "int", "duration", "size", "list")))' \
    "options have key, type, default, help"
expect_jq "$j" '[.[].id] == ([.[].id] | sort)' "checks are sorted by id"

run list-checks --config "$empty_conf"
expect_status 0 "list-checks"
expect_empty "$err" "list-checks: stderr"
expect_stdout_matches '^ID +VERSION +SOURCE +NEEDS +SUMMARY$' "list-checks header"
version=$(jq -r '.[] | select(.id == "os.release") | .version' "$j")
expect_stdout_matches "^os\\.release +$(echo "$version" | sed 's/\./\\./g') +built-in +- +[^ ]" \
    "list-checks row of os.release"
# One row per check, in the same order as the JSON.
checks=$((checks + 1))
table_ids=$(sed 1d "$out" | grep -E '^[a-z0-9_.]+ ' | cut -d' ' -f1 | tr '\n' ' ')
json_ids=$(jq -r '.[].id' "$j" | tr '\n' ' ')
[ "$table_ids" = "$json_ids" ] ||
    fail "list-checks rows '$table_ids' differ from the JSON ids '$json_ids'"
# The columns line up: every data row starts its VERSION column where the header does.
checks=$((checks + 1))
col=$(head -1 "$out" | awk '{ print index($0, "VERSION") }')
bad=$(sed 1d "$out" | grep -E '^[a-z0-9_.]+ ' |
    awk -v c="$col" 'substr($0, c - 1, 1) != " " || substr($0, c, 1) == " " { print }')
[ -z "$bad" ] || fail "list-checks rows not aligned with the VERSION column: $bad"
checks=$((checks + 1))
w=$(max_line_width "$out")
[ "$w" -le 80 ] || fail "list-checks has a line of $w columns (more than 80)"
checks=$((checks + 1))
if grep -q "$(printf '\033')" "$out"; then
    fail "list-checks piped contains escape sequences"
fi

finish
