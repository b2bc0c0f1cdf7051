#!/bin/sh
# posture-verifier devices / audit: admin.sh POSTURE_VERIFIER ENROLL_TOOL POSTURECTL
set -u
PV=$1
TOOL=$2
CTL=$3
name=verifier.admin
command -v sqlite3 >/dev/null 2>&1 && command -v jq >/dev/null 2>&1 || {
    echo "$name: SKIP: sqlite3 or jq is not installed (packaging/install-deps.sh installs them)"
    exit 77
}
W=$(mktemp -d "${TMPDIR:-/tmp}/posture-admin.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
status=0
pass() { echo "$name: ok: $*"; }
fail() {
    echo "$name: FAIL: $*" >&2
    status=1
}
S=$W/state
TD=test.example
printf '[verifier]\nstate_dir = %s\ntrust_domain = %s\n' "$S" "$TD" >"$W/verifier.conf"
C="--config $W/verifier.conf"

"$TOOL" init "$S" "$TD" >/dev/null 2>"$W/err" || {
    echo "$name: enroll_tool init: $(cat "$W/err")" >&2
    exit 2
}
# Two software devices enrolled through the real enrolment code.
for dev in a b; do
    printf '[agent]\nstate_dir = %s/agent-%s\n[tpm]\nenabled = no\n' "$W" "$dev" >"$W/agent-$dev.conf"
    "$CTL" key --jwk --config "$W/agent-$dev.conf" >"$W/$dev.jwk" 2>/dev/null || fail "posturectl key"
    tok=$("$PV" token create $C 2>"$W/err") || fail "token create: $(cat "$W/err")"
    jq -n --arg t "$tok" --slurpfile k "$W/$dev.jwk" '{token: $t, jwk: ($k[0] | {kty, crv, x, y})}' >"$W/$dev.unsigned"
    # the proof of possession ("pop"), signed with the device key as posturectl does
    "$TOOL" pop "$W/agent-$dev/device.key" "$W/$dev.unsigned" >"$W/$dev.req" 2>"$W/err" || fail "pop $dev: $(cat "$W/err")"
    "$TOOL" enroll "$S" "$TD" - "$W/$dev.req" >"$W/$dev.resp" 2>"$W/err" || fail "enrol $dev: $(cat "$W/err") $(cat "$W/$dev.resp")"
done
A=$(jq -r .kid "$W/a.jwk")
B=$(jq -r .kid "$W/b.jwk")

# devices list: both, active, software; as JSON and as a table.
"$PV" devices list $C --json >"$W/list.json" 2>"$W/err" || fail "devices list: $(cat "$W/err")"
[ "$(jq -r "[.[] | select(.status == \"active\" and .tier == \"software\") | .id] | sort | join(\",\")" "$W/list.json")" = \
    "$(printf '%s\n%s\n' "$A" "$B" | sort | paste -sd,)" ] && pass "devices list --json: both active, software" ||
    fail "devices list --json: $(cat "$W/list.json")"
"$PV" devices list $C | grep -q "^$A " && pass "devices list: table row" || fail "devices list table"
# Independent: the store itself (sqlite3) has the same devices.
n=$(sqlite3 "$S/store.db" "select count(*) from devices" 2>/dev/null)
[ "$n" = 2 ] && pass "sqlite3 sees 2 devices" || fail "sqlite3 sees '$n' devices"

# devices show
"$PV" devices show "$A" $C >"$W/show.json" 2>"$W/err" || fail "devices show: $(cat "$W/err")"
[ "$(jq -r '.id + " " + .status' "$W/show.json")" = "$A active" ] && pass "devices show" ||
    fail "devices show: $(cat "$W/show.json")"
"$PV" devices show nosuchdevice $C >/dev/null 2>"$W/err"
[ $? -eq 1 ] && grep -q "no device 'nosuchdevice'" "$W/err" && pass "devices show: unknown id, exit 1" ||
    fail "devices show unknown: $(cat "$W/err")"

# devices revoke: revoked, idempotent, audited; the other device untouched.
"$PV" devices revoke "$A" $C >"$W/out" 2>"$W/err" && grep -q "revoked $A" "$W/out" &&
    pass "devices revoke" || fail "devices revoke: $(cat "$W/err")"
"$PV" devices revoke "$A" $C >/dev/null 2>"$W/err" && grep -q 'revoked already' "$W/err" &&
    pass "devices revoke again: a notice, exit 0" || fail "revoke twice: $(cat "$W/err")"
[ "$(sqlite3 "$S/store.db" "select count(*) from devices where revoked_at is not null and revoked_at > 0")" = 1 ] &&
    pass "sqlite3: one device revoked" || fail "sqlite3 revoked count"
"$PV" devices show "$A" $C | jq -e '.status == "revoked" and (.revoked_at > 0)' >/dev/null &&
    pass "devices show: revoked with its time" || fail "show after revoke"
[ "$(sqlite3 "$S/store.db" "select count(*) from audit where kind = 'revoke' and subject = '$A'")" = 1 ] &&
    pass "the revocation is in the audit log" || fail "no audit row for the revocation"

# audit verify: intact, then a row altered behind the verifier's back.
"$PV" audit verify $C >"$W/out" 2>"$W/err" && grep -q '^audit log intact' "$W/out" &&
    pass "audit verify: $(cat "$W/out")" || fail "audit verify: $(cat "$W/out") $(cat "$W/err")"
"$PV" audit verify $C --json | jq -e '.intact == true and .rows >= 3' >/dev/null &&
    pass "audit verify --json" || fail "audit verify --json"
# The audit table refuses UPDATE (triggers): drop them as an attacker with file access would.
sqlite3 "$S/store.db" "select name from sqlite_master where type = 'trigger' and tbl_name = 'audit'" |
    while read -r t; do sqlite3 "$S/store.db" "drop trigger $t"; done
sqlite3 "$S/store.db" "update audit set subject = 'someone-else' where seq = 2" 2>"$W/err" ||
    fail "sqlite3 tamper: $(cat "$W/err")"
"$PV" audit verify $C >"$W/out" 2>"$W/err"
rc=$?
[ $rc -eq 1 ] && grep -q 'BROKEN at row 2' "$W/out" && pass "audit verify finds the altered row 2 (exit 1)" ||
    fail "audit verify after tampering: exit $rc: $(cat "$W/out") $(cat "$W/err")"

# Usage errors.
"$PV" devices frobnicate $C >/dev/null 2>&1
[ $? -eq 2 ] && pass "devices: unknown action, exit 2" || fail "unknown action"
"$PV" devices revoke $C >/dev/null 2>"$W/err"
[ $? -eq 2 ] && grep -q 'which device' "$W/err" && pass "devices revoke without an id, exit 2" ||
    fail "revoke without id: $(cat "$W/err")"
exit $status
