#!/bin/sh
# posturectl check --json --root <fixture> for every os-release scenario: the exit status and the
# JSON document, validated by python3 and read by jq, against values written here by hand from
# the fixture files.
. "$(dirname "$0")/lib.sh"

# scenario exit status id version_id kernel arch hostname machine_id
# (JSON literals; "-" skips a field that the scenario does not define)
while read -r scenario want_exit want_status want_id want_version_id want_kernel want_arch \
    want_host want_mid; do
    case $scenario in '#'* | '') continue ;; esac
    root=$fixtures/$scenario
    what="--root $scenario"
    if [ ! -d "$root" ]; then
        fail "$what: fixture directory $root is missing"
        continue
    fi

    run check --json --only os.release --config "$empty_conf" --root "$root"
    expect_status "$want_exit" "check $what"
    expect_valid_json "$out" "check --json $what" || continue
    cp "$out" "$tmp/$scenario.json"
    j=$tmp/$scenario.json

    expect_json "$j" 'keys' '["agent","checks","collected_at","host","overall"]' "$what: members"
    expect_json "$j" '.agent | keys' '["name","version"]' "$what: agent members"
    expect_json "$j" '.overall' "$want_status" "$what: overall"
    expect_json "$j" '.checks | length' '1' "$what: one check ran"
    expect_json "$j" '.checks[0].id' '"os.release"' "$what: checks[0].id"
    expect_json "$j" '.checks[0].status' "$want_status" "$what: checks[0].status"
    expect_json "$j" '.checks[0] | keys' \
        '["duration_ms","evidence","id","observed_at","reason","remediation","status","version"]' \
        "$what: result members"
    expect_json "$j" '.checks[0].version | type' '"string"' "$what: version is a string"
    expect_json "$j" '.checks[0].reason | type' '"string"' "$what: reason is a string"
    expect_json "$j" '.checks[0].evidence | type' '"object"' "$what: evidence is an object"
    expect_json "$j" '.checks[0].observed_at | type' '"number"' "$what: observed_at type"
    expect_json "$j" '.checks[0].duration_ms | type' '"number"' "$what: duration_ms type"
    expect_json "$j" '.collected_at | type' '"number"' "$what: collected_at type"
    expect_jq "$j" '.checks[0].duration_ms >= 0 and .checks[0].observed_at > 1600000000' \
        "$what: duration_ms and observed_at are plausible"
    [ "$want_id" = - ] || expect_json "$j" '.checks[0].evidence.id' "$want_id" "$what: evidence.id"
    [ "$want_version_id" = - ] ||
        expect_json "$j" '.checks[0].evidence.version_id' "$want_version_id" "$what: evidence.version_id"
    [ "$want_kernel" = - ] ||
        expect_json "$j" '.checks[0].evidence.kernel' "$want_kernel" "$what: evidence.kernel"
    [ "$want_arch" = - ] ||
        expect_json "$j" '.checks[0].evidence.arch' "$want_arch" "$what: evidence.arch"
    expect_json "$j" '.host.hostname' "$want_host" "$what: host.hostname"
    expect_json "$j" '.host.machine_id' "$want_mid" "$what: host.machine_id"
    case $want_status in
    '"pass"')
        expect_json "$j" '.checks[0].remediation' 'null' "$what: no remediation on pass"
        expect_json "$j" '.checks[0].evidence | [.id, .pretty_name, .kernel] | map(type)' \
            '["string","string","string"]' "$what: evidence id, pretty_name, kernel"
        ;;
    '"error"')
        expect_jq "$j" '.checks[0].reason | length > 0' "$what: an error says why"
        ;;
    esac
done <<'EOF'
debian-12    0 "pass"  "debian"        "12"    "6.1.0-18-amd64"            "x86_64" "bookworm-host" "3f1c9a4e7b2d4c8e9a0b1c2d3e4f5a6b"
ubuntu-24.04 0 "pass"  "ubuntu"        "24.04" "6.8.0-31-generic"          "x86_64" "noble-laptop"  "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
fedora-40    0 "pass"  "fedora"        "40"    "6.8.5-301.fc40.x86_64"     "x86_64" "fedora"        "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a49"
arch         0 "pass"  "arch"          null    "6.9.7-arch1-1"             "x86_64" "archbox"       "5d41402abc4b2a76b9719d911017c592"
usr-lib-only 0 "pass"  "opensuse-leap" "15.5"  "5.14.21-150500.53-default" null     "leap-server"   "7e2f1c0d9b8a4f3e2d1c0b9a8f7e6d5c"
missing      3 "error" -               -       -                           -        "empty-root"    "11111111111111111111111111111111"
garbage      3 "error" -               -       -                           -        "garbage-root"  "22222222222222222222222222222222"
EOF

# Exact evidence of one scenario, member by member.
j=$tmp/debian-12.json
if [ -f "$j" ]; then
    expect_json "$j" '.checks[0].evidence.pretty_name' '"Debian GNU/Linux 12 (bookworm)"' \
        "debian-12: evidence.pretty_name"
fi
# The garbage root has a readable usr/lib/os-release that must not be used: /etc/os-release
# exists, so it is the only file that counts.
j=$tmp/garbage.json
[ -f "$j" ] && expect_jq "$j" '[.. | strings | select(test("should-not-be-read"))] | length == 0' \
    "garbage: usr/lib/os-release was not read"

# Symbolic links that point out of the root are resolved inside it: whatever the verdict, no
# value may come from this machine's own /etc/os-release or from outside the fixture.
for scenario in symlink-escape symlink-escape-absolute symlink-escape-relative; do
    root=$fixtures/$scenario
    [ -d "$root" ] || continue
    run check --json --only os.release --config "$empty_conf" --root "$root"
    expect_valid_json "$out" "check --json --root $scenario" || continue
    checks=$((checks + 1))
    case $status in
    0 | 3) ;;
    *) fail "--root $scenario: expected exit status 0 or 3, got $status" ;;
    esac
    expect_jq "$out" '.checks[0].evidence.id == null or .checks[0].evidence.id == "contained"' \
        "--root $scenario: evidence.id comes from inside the root (or there is none)"
    expect_json "$out" '.host.hostname' '"escape-root"' "--root $scenario: host.hostname"
done

finish
