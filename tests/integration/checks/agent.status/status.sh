#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# agent.status: `posturectl status [--json]` and `posturectl token` (docs/cli.md) read the
# state directory only. Cases, in order:
#   empty     no state directory, then an empty one: "not enrolled" with the enrol command and
#             the fleet token file, exit 1; --json enrolled false, verdict null, problem
#             not-enrolled; token exits 1 and prints nothing
#   enrolled  `posturectl enroll` against a real `posture-verifier serve`: enrolled, no result
#             yet (problem no-result), token exits 1
#   affirming `posturectl submit` (debian-12 root): status exit 0, text and --json compared field
#             by field with the EAR's claims (python3-jwt after verifying it with the JWKS) and
#             with status.json; `token` prints exactly ear.jwt, which verifies
#   failing   submit with the fedora-40 root: contraindicated, exit 1, the failing check with its
#             reason and the policy's remediation in text and JSON
#   daemon    a hand-written status.json (spool depth, bytes, drops, last_error, next_cycle,
#             unknown members): every number in the text and in --json
#   malformed status.json not JSON, the wrong version, a negative count, 100 KiB: exit 2 with a
#             message naming the file, no crash (ASan)
#   expired   an EAR whose exp has passed: status says expired, exit 1; token exits 1 naming
#             --allow-expired, which prints it
#   unreadable (as root, run as nobody) a 0700 state directory: exit 2 saying to run as root
# Usage: status.sh POSTURE_VERIFIER POSTURECTL SOURCE_DIR.
set -u

pv=$1
pctl=$2
src=$3
name="agent.status"
py=/usr/bin/python3

skip() {
    echo "$name: SKIP: $*"
    [ -n "${CI:-}" ] && exit 1
    exit 77
}
for t in curl openssl "$py"; do
    command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
done
"$py" -c 'import jwt, cryptography' 2>/dev/null || skip "python3-jwt is not installed"
LC_ALL=C.UTF-8
export LC_ALL
unset POSTURE_LOG_LEVEL JOURNAL_STREAM || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agent-status.XXXXXX")
chmod 755 "$tmp"
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

failures=0
fail() {
    failures=$((failures + 1))
    echo "$name: FAIL: $*" >&2
}
die() {
    fail "$*"
    [ -f "$tmp/log" ] && sed -n '1,60s/^/  | /p' "$tmp/log" >&2
    exit 1
}
free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# run posturectl ARGS...: $out (stdout), $err (stderr), $rc
run() {
    "$pctl" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
expect_rc() { # RC WHAT
    [ "$rc" = "$1" ] || fail "$2: exit $rc, expected $1: $(head -c 300 "$tmp/err")"
}
expect_out() { # TEXT WHAT: stdout contains TEXT
    grep -qF -- "$1" "$tmp/out" || fail "$2: no '$1' in: $(head -c 600 "$tmp/out")"
}
expect_err() { # TEXT WHAT: stderr contains TEXT
    grep -qF -- "$1" "$tmp/err" || fail "$2: no '$1' in stderr: $(head -c 400 "$tmp/err")"
}
# pycheck WHAT SCRIPT ARGS...: the script gets the --json output as j (and sys.argv)
pycheck() {
    what=$1
    script=$2
    shift 2
    cp "$tmp/out" "$tmp/status.json.out"
    if ! "$py" - "$tmp/status.json.out" "$@" >"$tmp/py.out" 2>&1 <<PY; then
import json, sys, time
j = json.load(open(sys.argv[1]))
args = sys.argv[2:]
$script
PY
        fail "$what: $(tail -n 3 "$tmp/py.out")"
    fi
}

# ---- the verifier ---------------------------------------------------------------------------
ap=$(free_port)
gp=$(free_port)
conf=$tmp/verifier.conf
mkdir -p "$tmp/vstate" "$tmp/policies"
cat >"$conf" <<EOF
[verifier]
state_dir = $tmp/vstate
trust_domain = test.example
[listen]
agents = 127.0.0.1:$ap
gateways = 127.0.0.1:$gp
trusted_gateways = 127.0.0.1/32
threads = 2
[tls]
cert = $tmp/tls.crt
key = $tmp/tls.key
[enroll]
ek_roots = $tmp/ek-roots
[policy]
dir = $tmp/policies
default = debian-only
EOF
cat >"$tmp/policies/debian-only.json" <<'EOF'
{
  "id": "debian-only",
  "version": "7",
  "description": "agent.status test: Debian passes, anything else fails",
  "allow_warning": true,
  "checks": {
    "os.release": {
      "required": true,
      "remediation": "Install Debian (status test)",
      "decidable": [{"path": "/errno", "op": "absent"}],
      "evidence": [{"path": "/id", "op": "eq", "value": "debian"}]
    }
  }
}
EOF
"$pv" serve --config "$conf" >>"$tmp/log" 2>&1 &
pid=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$gp/healthz" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || die "serve exited at start"
    i=$((i + 1))
    [ $i -lt 150 ] || die "serve did not start"
    sleep 0.1
done

state=$tmp/agent
aconf=$tmp/agent.conf
cat >"$aconf" <<EOF
[agent]
state_dir = $state
[server]
url = https://127.0.0.1:$ap
ca = $tmp/tls.crt
[tpm]
enabled = no
EOF

# ---- empty ----------------------------------------------------------------------------------
for variant in missing empty; do
    [ $variant = empty ] && mkdir -m 700 "$state"
    run status --config "$aconf"
    expect_rc 1 "status ($variant state dir)"
    expect_out "not enrolled" "status ($variant)"
    expect_out "posturectl enroll --server https://127.0.0.1:$ap --token TOKEN" "status ($variant)"
    expect_out "/etc/posture/enroll.token" "status ($variant)"
    run status --json --config "$aconf"
    expect_rc 1 "status --json ($variant)"
    pycheck "status --json ($variant)" '
assert j["version"] == 1 and j["enrolled"] is False, j
assert j["verdict"] is None and j["daemon"] is None and j["spool"] is None, j
assert [p["code"] for p in j["problems"]] == ["not-enrolled"], j["problems"]
assert "posturectl enroll --server URL --token TOKEN" in j["problems"][0]["message"]
assert j["state_dir"] == args[0], j["state_dir"]' "$state"
    run token --config "$aconf"
    expect_rc 1 "token ($variant)"
    [ -s "$tmp/out" ] && fail "token ($variant) printed something"
    expect_err "no EAR in $state/ear.jwt" "token ($variant)"
done

# ---- enrolled -------------------------------------------------------------------------------
token=$("$pv" token create --config "$conf" --label status-test 2>"$tmp/err") ||
    die "token create: $(cat "$tmp/err")"
"$pctl" enroll --token "$token" --config "$aconf" >"$tmp/enroll.out" 2>&1 ||
    die "posturectl enroll: $(cat "$tmp/enroll.out")"
[ -s "$state/device.crt" ] || die "posturectl enroll: no device.crt"
run status --config "$aconf"
expect_rc 1 "status (enrolled, nothing submitted)"
expect_out "Enrolment: enrolled with https://127.0.0.1:$ap (software tier)" "status (enrolled)"
expect_out "Verdict: none yet" "status (enrolled)"
run status --json --config "$aconf"
pycheck "status --json (enrolled)" '
assert j["enrolled"] is True and j["verdict"] is None, j
assert j["enrollment"]["tier"] == "software" and j["enrollment"]["device_id"], j["enrollment"]
assert [p["code"] for p in j["problems"]] == ["no-result"], j["problems"]'
run token --config "$aconf"
expect_rc 1 "token (enrolled, nothing submitted)"
expect_err "posturectl submit" "token (enrolled)"

# ---- affirming ------------------------------------------------------------------------------
# verify_ear FILE: python3-jwt against the JWKS; prints the claims as JSON to $tmp/claims.json
verify_ear() {
    curl -sS -o "$tmp/jwks.json" "http://127.0.0.1:$gp/.well-known/jwks.json" ||
        fail "GET /.well-known/jwks.json"
    "$py" - "$tmp/jwks.json" "$1" >"$tmp/claims.json" 2>"$tmp/py.out" <<'PY' ||
import json, sys, jwt
keys = json.load(open(sys.argv[1]))["keys"]
token = open(sys.argv[2]).read().strip()
header = jwt.get_unverified_header(token)
assert header["typ"] == "eat+jwt", header
k = [k for k in keys if k["kid"] == header["kid"]]
assert len(k) == 1, (header, keys)
c = jwt.decode(token, jwt.PyJWK(k[0]).key, algorithms=["ES256"], options={"verify_aud": False})
json.dump(c, sys.stdout)
PY
        fail "python3-jwt does not accept the EAR in $1: $(tail -n 3 "$tmp/py.out")"
}

root=$src/tests/fixtures/roots/os-release
"$pctl" submit --only os.release --root "$root/debian-12" --config "$aconf" >"$tmp/submit.out" 2>&1
[ $? = 0 ] || die "posturectl submit (debian-12): $(cat "$tmp/submit.out")"
run status --config "$aconf"
expect_rc 0 "status (affirming)"
expect_out "Verdict: affirming (policy debian-only@7), access allowed" "status (affirming)"
expect_out "Valid until: " "status (affirming)"
grep -Eq '^Valid until: .* \(in [45] min\)$' "$tmp/out" || fail "status (affirming): expiry: $(grep Valid "$tmp/out")"
expect_out "Last successful submission: " "status (affirming)"
expect_out "Spool: 0 reports waiting (0 bytes), 0 dropped" "status (affirming)"
grep -q "Checks to fix" "$tmp/out" && fail "status (affirming) lists checks to fix"

run token --config "$aconf"
expect_rc 0 "token (affirming)"
cmp -s "$tmp/out" "$state/ear.jwt" || {
    printf '\n' >>"$tmp/out.nl"
    tr -d '\n' <"$tmp/out" >"$tmp/out.tok"
    tr -d '\n' <"$state/ear.jwt" >"$tmp/ear.tok"
    cmp -s "$tmp/out.tok" "$tmp/ear.tok" || fail "token does not print ear.jwt"
}
cp "$tmp/out" "$tmp/token.jwt"
verify_ear "$tmp/token.jwt"

run status --json --config "$aconf"
expect_rc 0 "status --json (affirming)"
pycheck "status --json (affirming) against the EAR" '
c = json.load(open(args[0]))
st = json.load(open(args[1]))
v = j["verdict"]
dev = c["submods"]["device"]
assert v["status"] == dev["ear.status"] == "affirming", v
assert v["from_ear"] is True
assert v["submods"] == {k: s["ear.status"] for k, s in c["submods"].items()}, v["submods"]
assert v["policy"] == "debian-only@7", v["policy"]
assert v["allow"] is True, v
assert v["issued_at"] == c["iat"] and v["expires_at"] == c["exp"], (v, c)
now = int(time.time())
assert now - 5 <= c["exp"] - v["expires_in"] <= now + 1, (v["expires_in"], c["exp"], now)
assert v["expired"] is False and v["truncated"] is False
assert v["failing_checks"] == [] and v["findings"] == {}, v
d = j["daemon"]
assert d["last_success"] == st["last_success"] > 0 and d["last_attempt"] == st["last_attempt"], (d, st)
assert d["seq"] == st["seq"] and d["last_error"] == "" and d["next_cycle"] == st.get("next_cycle", 0), (d, st)
assert j["spool"] == {"entries": 0, "bytes": 0, "dropped": st.get("dropped", 0)}, j["spool"]
assert j["problems"] == [], j["problems"]' "$tmp/claims.json" "$state/status.json"

# ---- failing --------------------------------------------------------------------------------
"$pctl" submit --only os.release --root "$root/fedora-40" --config "$aconf" >"$tmp/submit.out" 2>&1
[ $? = 1 ] || fail "posturectl submit (fedora-40): not exit 1: $(cat "$tmp/submit.out")"
cp "$state/ear.jwt" "$tmp/fail.jwt"
verify_ear "$tmp/fail.jwt"
run status --config "$aconf"
expect_rc 1 "status (contraindicated)"
expect_out "Verdict: contraindicated (policy debian-only@7), access denied" "status (failing)"
expect_out "Checks to fix:" "status (failing)"
expect_out "  os.release: fail" "status (failing)"
expect_out "    fix: Install Debian (status test)" "status (failing)"
run status --json --config "$aconf"
expect_rc 1 "status --json (contraindicated)"
pycheck "status --json (failing) against the EAR" '
c = json.load(open(args[0]))
v = j["verdict"]
checks = c["submods"]["device"]["tag:posture.dev,2026:checks"]
failing = [{"id": k, "status": e["status"], "reason": e.get("reason"), "remediation": e.get("remediation")}
           for k, e in checks.items() if e["status"] not in ("pass", "not_applicable")]
assert v["status"] == "contraindicated" and v["allow"] is False, v
assert v["failing_checks"] == failing, (v["failing_checks"], failing)
assert failing[0]["id"] == "os.release" and failing[0]["remediation"] == "Install Debian (status test)", failing' \
    "$tmp/claims.json"

# ---- daemon (a hand-written status.json) -----------------------------------------------------
now=$(date +%s)
cat >"$state/status.json" <<EOF
{"version":1,"last_attempt":$((now - 30)),"last_success":$((now - 7200)),
 "last_error":"the verifier at https://127.0.0.1:$ap cannot be reached: Connection refused",
 "next_cycle":$((now + 270)),"spool_entries":3,"spool_bytes":12345,"dropped":2,"seq":41,
 "verdict":null,"future_member":{"x":[1,2,3]}}
EOF
run status --config "$aconf"
expect_rc 1 "status (hand-written status.json)"
expect_out "Spool: 3 reports waiting (12345 bytes), 2 dropped" "status (daemon)"
expect_out "Last error: the verifier at https://127.0.0.1:$ap cannot be reached: Connection refused" "status (daemon)"
expect_out "Last successful submission: " "status (daemon)"
expect_out "(2 h ago)" "status (daemon)"
expect_out "(30 s ago)" "status (daemon)"
expect_out "Next cycle: " "status (daemon)"
expect_out "(in 4 min)" "status (daemon)"
run status --json --config "$aconf"
pycheck "status --json (hand-written status.json)" '
now = int(args[0])
d = j["daemon"]
assert d == {"last_attempt": now - 30, "last_success": now - 7200, "last_error": d["last_error"],
             "next_cycle": now + 270, "seq": 41}, d
assert "cannot be reached" in d["last_error"]
assert j["spool"] == {"entries": 3, "bytes": 12345, "dropped": 2}, j["spool"]
assert "last-error" in [p["code"] for p in j["problems"]], j["problems"]
assert j["verdict"]["status"] == "contraindicated"' "$now"

# ---- malformed status.json ------------------------------------------------------------------
i=0
for doc in 'not json' '{"version":2}' '{"version":1,"spool_entries":-1}' '[1,2]' ''; do
    i=$((i + 1))
    printf '%s' "$doc" >"$state/status.json"
    for fmt in "" --json; do
        run status $fmt --config "$aconf"
        expect_rc 2 "status $fmt (malformed status.json #$i: $doc)"
        expect_err "$state/status.json is malformed" "status $fmt (malformed #$i)"
        [ -s "$tmp/out" ] && fail "status $fmt (malformed #$i) printed to stdout"
    done
done
"$py" -c 'import sys; sys.stdout.write("{\"version\":1,\"last_error\":\"" + "x" * 100000 + "\"}")' \
    >"$state/status.json"
run status --config "$aconf"
expect_rc 2 "status (100 KiB status.json)"
rm -f "$state/status.json"

# ---- expired --------------------------------------------------------------------------------
cp "$state/ear.jwt" "$tmp/good.jwt"
"$py" - "$tmp/claims.json" >"$state/ear.jwt" <<'PY' || fail "making an expired EAR"
import json, sys, time, jwt
from cryptography.hazmat.primitives.asymmetric import ec
c = json.load(open(sys.argv[1]))
c["iat"] = c["nbf"] = int(time.time()) - 1000
c["exp"] = int(time.time()) - 700
k = ec.generate_private_key(ec.SECP256R1())
print(jwt.encode(c, k, algorithm="ES256", headers={"typ": "eat+jwt"}))
PY
run status --config "$aconf"
expect_rc 1 "status (expired)"
expect_out "Expired: " "status (expired)"
expect_out "(11 min ago)" "status (expired)"
run status --json --config "$aconf"
pycheck "status --json (expired)" '
v = j["verdict"]
assert v["expired"] is True and -705 <= v["expires_in"] <= -695, v
assert "expired" in [p["code"] for p in j["problems"]], j["problems"]'
run token --config "$aconf"
expect_rc 1 "token (expired)"
[ -s "$tmp/out" ] && fail "token (expired) printed the EAR"
expect_err "--allow-expired" "token (expired)"
run token --allow-expired --config "$aconf"
expect_rc 0 "token --allow-expired"
tr -d '\n' <"$tmp/out" >"$tmp/out.tok"
tr -d '\n' <"$state/ear.jwt" >"$tmp/ear.tok"
cmp -s "$tmp/out.tok" "$tmp/ear.tok" || fail "token --allow-expired does not print ear.jwt"

# a broken ear.jwt: exit 2, named
printf 'garbage\n' >"$state/ear.jwt"
run status --config "$aconf"
expect_rc 2 "status (garbage ear.jwt)"
expect_err "$state/ear.jwt is not an EAR" "status (garbage ear.jwt)"
run token --config "$aconf"
expect_rc 2 "token (garbage ear.jwt)"
cp "$tmp/good.jwt" "$state/ear.jwt"

# usage errors
run status --bogus --config "$aconf"
expect_rc 2 "status --bogus"
run token extra --config "$aconf"
expect_rc 2 "token extra"

# ---- unreadable (root only: as nobody) ------------------------------------------------------
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    chmod 700 "$state"
    chmod 644 "$aconf"
    setpriv --reuid nobody --regid nogroup --clear-groups "$pctl" status --config "$aconf" \
        >"$tmp/out" 2>"$tmp/err"
    rc=$?
    expect_rc 2 "status as nobody (0700 state dir)"
    expect_err "run this command as root" "status as nobody"
    setpriv --reuid nobody --regid nogroup --clear-groups "$pctl" token --config "$aconf" \
        >"$tmp/out" 2>"$tmp/err"
    rc=$?
    expect_rc 2 "token as nobody"
    expect_err "Permission denied" "token as nobody"
fi

if [ $failures -gt 0 ]; then
    echo "$name: $failures failure(s)" >&2
    exit 1
fi
echo "$name: all cases passed"
exit 0
