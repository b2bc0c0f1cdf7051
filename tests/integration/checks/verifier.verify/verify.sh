#!/bin/sh
# posture-verifier verify end to end, read with independent tools (jq, python3-jwt, the Debian
# jwt CLI, openssl):
#   fixtures   baseline.json on real `posturectl report` output from every fixture root the
#              checks can reach with --root (disk.encryption under umockdev-run; a scenario's
#              options in <scenario>.conf beside it): the policy's recomputed status must equal
#              the check's own, scenario by scenario;
#   ear        the EAR (--ear-key) verifies with python3-jwt and with `jwt` against the public
#              key, typ eat+jwt, exp = iat + 300, cnf.jkt = the device's kid, <= 4 KB;
#   exits      exit status and JSON: 0 affirming, 1 not (failing evidence, nonce mismatch,
#              tampered or unverified report), 2 usage (with messages naming the problem);
#   swtpm      real firmware event logs replayed into swtpm, quoted by posturectl report
#              --evidence: Secure Boot comes from the TPM log (gce-rhel8 on, dell off), and
#              payments-admin.json decides on it.
# Usage: verify.sh CASE POSTURECTL POSTURE-VERIFIER SRCDIR [TPM_REPLAY]
set -u

case_=$1
posturectl=$2
verifier=$3
SRCDIR=$4
replay=${5:-}
name=verifier.verify/$case_
py=/usr/bin/python3
F=$SRCDIR/tests/fixtures/roots
baseline=$SRCDIR/packaging/policies/baseline.json
payments=$SRCDIR/packaging/policies/payments-admin.json

for t in jq openssl jwt "$py"; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "$name: SKIP: $t is not installed (packaging/install-deps.sh installs it)"
        exit 77
    }
done
"$py" -c 'import jwt, cryptography' 2>/dev/null || {
    echo "$name: SKIP: python3-jwt is not installed"
    exit 77
}

LC_ALL=C.UTF-8
export LC_ALL
unset POSTURE_LOG_LEVEL JOURNAL_STREAM || true
# umockdev preloads its library before the sanitizer runtime.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export ASAN_OPTIONS

W=$(mktemp -d "${TMPDIR:-/tmp}/posture-verify.XXXXXX")
status=0
cleanup() {
    if command -v swtpm_stop >/dev/null 2>&1; then swtpm_stop; fi
    rm -rf "$W"
}
trap cleanup EXIT INT TERM
pass() { echo "$name: ok: $*"; }
fail() {
    echo "$name: FAIL: $*" >&2
    status=1
}
cd "$W" || exit 2

printf '[agent]\nstate_dir = %s/state\n[tpm]\nenabled = no\n' "$W" >agent.conf
"$posturectl" key --jwk --config agent.conf >dev.jwk 2>key.err || {
    echo "$name: posturectl key: $(cat key.err)" >&2
    exit 1
}
# The RFC 7638 thumbprint, computed here (not by posture).
KID=$("$py" -c 'import base64,hashlib,json,sys; k=json.load(open("dev.jwk")); m=json.dumps({"crv":k["crv"],"kty":k["kty"],"x":k["x"],"y":k["y"]},separators=(",",":"),sort_keys=True); print(base64.urlsafe_b64encode(hashlib.sha256(m.encode()).digest()).rstrip(b"=").decode())')

# report OUT [posturectl report args...]
report() {
    out=$1
    shift
    "$posturectl" report --config agent.conf "$@" >"$out" 2>"$out.err"
}

# ---- fixtures ---------------------------------------------------------------------------------
case_fixtures() {
    n=0
    disagree=0
    have_umockdev=0
    command -v umockdev-run >/dev/null 2>&1 && have_umockdev=1
    for pair in os-release:os.release os.patch_level:os.patch_level \
        boot.secure_boot:boot.secure_boot time.sync:time.sync disk.encryption:disk.encryption \
        process.running:process.running file.present:file.present mac.enforcing:mac.enforcing \
        ssh.server:ssh.server screen.lock:screen.lock; do
        dir=${pair%%:*}
        id=${pair##*:}
        for root in "$F/$dir"/*/; do
            s=$(basename "$root")
            if [ "$id" = disk.encryption ]; then
                [ "$have_umockdev" = 1 ] || continue
                if [ -f "$root/devices.umockdev" ]; then
                    umockdev-run --device "$root/devices.umockdev" -- \
                        "$posturectl" report --config agent.conf --only "$id" --root "$root" \
                        >r.jws 2>r.err
                else
                    umockdev-run -- "$posturectl" report --config agent.conf --only "$id" \
                        --root "$root" >r.jws 2>r.err
                fi
            elif [ -f "${root%/}.conf" ]; then
                # The scenario's check options (process.running, file.present) sit beside it.
                cat agent.conf "${root%/}.conf" >scenario.conf
                "$posturectl" report --config scenario.conf --only "$id" --root "$root" \
                    >r.jws 2>r.err
            else
                report r.jws --only "$id" --root "$root"
            fi || {
                fail "$id/$s: posturectl report: $(cat r.err)"
                continue
            }
            "$verifier" verify --policy "$baseline" --jwk dev.jwk --json r.jws >a.json 2>v.err
            rc=$?
            [ "$rc" = 0 ] || [ "$rc" = 1 ] || {
                fail "$id/$s: verify exited $rc: $(cat v.err)"
                continue
            }
            # The agent's own verdict, read from the signed report's payload (not from verify).
            agent=$(cut -d. -f2 r.jws | "$py" -c 'import base64,json,sys; s=sys.stdin.read().strip(); print([c["status"] for c in json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))["posture"]["checks"] if c["id"]=="'"$id"'"][0])')
            policy=$(jq -r --arg id "$id" '.checks[] | select(.id == $id) | .status' a.json)
            n=$((n + 1))
            if [ "$agent" != "$policy" ]; then
                disagree=$((disagree + 1))
                fail "$id/$s: the check says $agent, baseline.json recomputes $policy: $(jq -r --arg id "$id" '.checks[] | select(.id == $id) | .reason' a.json)"
            fi
        done
    done
    [ "$n" -ge 50 ] || fail "only $n scenarios were compared"
    [ "$disagree" = 0 ] && pass "baseline.json recomputes the check's own status in all $n fixture scenarios"
    [ "$have_umockdev" = 1 ] || echo "$name: note: umockdev-run missing, disk.encryption scenarios not compared"
}

# ---- ear --------------------------------------------------------------------------------------
case_ear() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ear.key 2>/dev/null &&
        chmod 600 ear.key && openssl pkey -in ear.key -pubout -out ear.pub 2>/dev/null || {
        fail "openssl could not make the EAR key"
        return
    }
    report r.jws --only os.release --root "$F/os-release/debian-12" --nonce q3x8Jm1v0bq7yQvYV4f0yA ||
        fail "posturectl report: $(cat r.jws.err)"
    printf '{"id":"osr","version":"3","checks":{"os.release":{"evidence":[{"path":"/id","op":"in","value":["debian","ubuntu"]}]}}}' >osr.json
    "$verifier" verify --policy osr.json --jwk dev.jwk --nonce q3x8Jm1v0bq7yQvYV4f0yA \
        --ear-key ear.key --trust-domain corp.example --json r.jws >a.json 2>v.err
    rc=$?
    [ "$rc" = 0 ] && pass "affirming report: exit 0" || fail "exit $rc: $(cat v.err) $(cat a.json)"
    jq -r .ear a.json >ear.jwt
    size=$(tr -d '\n' <ear.jwt | wc -c)
    [ "$size" -gt 100 ] && [ "$size" -le 4096 ] && pass "EAR is $size bytes" || fail "EAR size $size"

    # python3-jwt: ES256 only, signature with the public key, typ, lifetime, cnf, sub, status.
    if "$py" - ear.jwt ear.pub "$KID" <<'PYEOF'; then
import jwt, sys
tok = open(sys.argv[1]).read().strip()
pub = open(sys.argv[2]).read()
kid = sys.argv[3]
h = jwt.get_unverified_header(tok)
assert h["typ"] == "eat+jwt" and h["alg"] == "ES256", h
c = jwt.decode(tok, pub, algorithms=["ES256"], options={"verify_aud": False})
assert c["exp"] - c["iat"] == 300, c
assert c["nbf"] == c["iat"]
assert c["eat_profile"] == "tag:github.com,2023:veraison/ear"
assert c["sub"] == "spiffe://corp.example/device/" + kid, c["sub"]
assert c["cnf"]["jkt"] == kid
assert c["eat_nonce"] == "q3x8Jm1v0bq7yQvYV4f0yA"
d = c["submods"]["device"]
assert d["ear.status"] == "affirming", d
assert d["ear.trustworthiness-vector"]["instance-identity"] == 2
assert d["tag:posture.dev,2026:policy"]["id"] == "osr"
assert d["tag:posture.dev,2026:checks"]["os.release"]["status"] == "pass"
assert d["ear.appraisal-policy-id"].endswith("/policies/osr/3")
# A wrong key or a wrong algorithm list is refused.
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
for key, algs in ((other, ["ES256"]), (pub, ["HS256"])):
    try:
        jwt.decode(tok, key, algorithms=algs, options={"verify_aud": False})
    except Exception:
        continue
    raise SystemExit("accepted with the wrong key or algorithm")
PYEOF
        pass "python3-jwt verifies the EAR (ES256, typ eat+jwt, 300 s, cnf.jkt, sub, status)"
    else
        fail "python3-jwt refused the EAR or its claims"
    fi
    # The Debian jwt CLI (golang-jwt).
    if jwt -key ear.pub -alg ES256 -verify ear.jwt >jwt.out 2>jwt.err &&
        [ "$(jq -r '.submods.device."ear.status"' jwt.out)" = affirming ]; then
        pass "the jwt CLI verifies the EAR"
    else
        fail "jwt CLI: $(cat jwt.err)"
    fi
    # A byte of the signature flipped: both refuse.
    "$py" -c 'import sys; t=open("ear.jwt").read().strip(); i=len(t)-5; print(t[:i]+("A" if t[i]!="A" else "B")+t[i+1:])' >bad.jwt
    if jwt -key ear.pub -alg ES256 -verify bad.jwt >/dev/null 2>&1; then
        fail "the jwt CLI accepted a tampered EAR"
    else
        pass "the jwt CLI refuses a tampered EAR"
    fi

    # Many failing checks: the EAR stays <= 4 KB and keeps the verdict.
    report big.jws --root "$F/os-release/debian-12" || fail "posturectl report: $(cat big.jws.err)"
    "$py" - <<'PYEOF' >many.json
import json
checks = {}
for i in range(120):
    checks["x.check_%03d" % i] = {"remediation": "Do the thing number %d " % i + "x" * 200,
                                  "evidence": [{"path": "/nope", "op": "true"}]}
checks["os.release"] = {"evidence": [{"path": "/id", "op": "eq", "value": "plan9"}]}
print(json.dumps({"id": "many", "version": "1", "checks": checks}))
PYEOF
    "$verifier" verify --policy many.json --jwk dev.jwk --ear-key ear.key --json big.jws >m.json 2>m.err
    rc=$?
    jq -r .ear m.json >m.jwt
    size=$(tr -d '\n' <m.jwt | wc -c)
    if [ "$rc" = 1 ] && [ "$size" -le 4096 ] &&
        "$py" - m.jwt ear.pub <<'PYEOF'; then
import jwt, sys
c = jwt.decode(open(sys.argv[1]).read().strip(), open(sys.argv[2]).read(), algorithms=["ES256"],
               options={"verify_aud": False})
d = c["submods"]["device"]
assert d["ear.status"] == "contraindicated"
assert d["ear.trustworthiness-vector"]["configuration"] == 96
assert d["tag:posture.dev,2026:detail"]["truncated"] is True
shown = len(d.get("tag:posture.dev,2026:checks", {}))
assert shown + d["tag:posture.dev,2026:detail"]["omitted_checks"] == 121, d
PYEOF
        pass "121 failing checks: EAR of $size bytes, verdict kept, detail truncated"
    else
        fail "many failing checks: exit $rc, size $size: $(cat m.err)"
    fi
}

# ---- exits ------------------------------------------------------------------------------------
expect_exit() { # WANT WHAT -- verify args
    want=$1
    what=$2
    shift 3
    "$verifier" verify "$@" >out.txt 2>err.txt
    rc=$?
    if [ "$rc" = "$want" ]; then
        pass "$what: exit $rc"
    else
        fail "$what: expected exit $want, got $rc: $(cat err.txt) $(head -c 300 out.txt)"
    fi
}

case_exits() {
    printf '{"id":"osr","version":"1","checks":{"os.release":{"evidence":[{"path":"/id","op":"eq","value":"debian"}]}}}' >osr.json
    printf '{"id":"fedora","version":"1","checks":{"os.release":{"evidence":[{"path":"/id","op":"eq","value":"fedora"}]}}}' >fed.json
    report r.jws --only os.release --root "$F/os-release/debian-12" --nonce q3x8Jm1v0bq7yQvYV4f0yA ||
        fail "posturectl report: $(cat r.jws.err)"

    expect_exit 0 "affirming" -- --policy osr.json --jwk dev.jwk --nonce q3x8Jm1v0bq7yQvYV4f0yA r.jws
    grep -q '^affirming: device' out.txt && pass "text output starts with the verdict" ||
        fail "text output: $(cat out.txt)"
    expect_exit 0 "report on stdin" -- --policy osr.json --jwk dev.jwk - <r.jws

    # The agent passes os.release; the policy requires Fedora: the evidence decides.
    expect_exit 1 "evidence fails the policy" -- --policy fed.json --jwk dev.jwk --json r.jws
    [ "$(jq -r '.checks[0].status + "/" + .checks[0].agent_status + "/" + ."ear.status"' out.txt)" = "fail/pass/contraindicated" ] &&
        pass "JSON: recomputed fail, agent pass, contraindicated" || fail "JSON: $(cat out.txt)"
    jq -e '.checks[0].reason | test("/id is \"debian\"; the policy requires eq \"fedora\"")' out.txt >/dev/null &&
        pass "the reason names the evidence and the rule" || fail "reason: $(jq .checks[0].reason out.txt)"

    expect_exit 1 "nonce mismatch" -- --policy osr.json --jwk dev.jwk --nonce AAAAAAAAAAAAAAAAAAAAAA --json r.jws
    jq -e '.findings[] | select(.code == "nonce-mismatch")' out.txt >/dev/null &&
        pass "nonce-mismatch finding" || fail "no nonce-mismatch finding: $(cat out.txt)"

    # Tampered payload: the signature fails, instance-identity 99.
    "$py" -c '
import base64,json,sys
h,p,s=open("r.jws").read().strip().split(".")
c=json.loads(base64.urlsafe_b64decode(p+"="*(-len(p)%4)))
c["posture"]["checks"][0]["evidence"]["id"]="fedora"
p=base64.urlsafe_b64encode(json.dumps(c,separators=(",",":")).encode()).rstrip(b"=").decode()
print(h+"."+p+"."+s)' >tampered.jws
    expect_exit 1 "tampered report" -- --policy fed.json --jwk dev.jwk --json tampered.jws
    [ "$(jq -r '."ear.trustworthiness-vector"."instance-identity"' out.txt)" = 99 ] &&
        jq -e '.findings[] | select(.code == "jws-signature-invalid")' out.txt >/dev/null &&
        pass "tampered: instance-identity 99, jws-signature-invalid" || fail "tampered: $(cat out.txt)"
    # Without a key the claims are read but not trusted.
    expect_exit 1 "no --jwk" -- --policy osr.json --json r.jws
    [ "$(jq -r '."ear.trustworthiness-vector"."instance-identity"' out.txt)" = 97 ] &&
        pass "unverified: instance-identity 97" || fail "unverified: $(cat out.txt)"
    # A software device under payments-admin: the hardware tier is missing.
    expect_exit 1 "payments-admin, software tier" -- --policy "$payments" --jwk dev.jwk --json r.jws
    jq -e '.findings[] | select(.code == "tier-software")' out.txt >/dev/null &&
        pass "tier-software finding" || fail "tier: $(cat out.txt)"
    # An old report, appraised now: refused by the JWS lifetime.
    expect_exit 1 "appraised 10 minutes later" -- --policy osr.json --jwk dev.jwk --now $(($(date +%s) + 600)) --json r.jws
    jq -e '.findings[] | select(.code == "jws-expired")' out.txt >/dev/null &&
        pass "jws-expired finding" || fail "expired: $(cat out.txt)"

    # Usage errors: exit 2, naming the problem.
    expect_exit 2 "no --policy" -- r.jws
    grep -q -- '--policy FILE is required' err.txt || fail "message: $(cat err.txt)"
    expect_exit 2 "no REPORT" -- --policy osr.json
    expect_exit 2 "unknown option" -- --policy osr.json --frobnicate r.jws
    expect_exit 2 "bad nonce" -- --policy osr.json --nonce 'a+b=' r.jws
    expect_exit 2 "missing report file" -- --policy osr.json "$W/nope.jws"
    expect_exit 2 "--evidence without --ak-pub" -- --policy osr.json --evidence x.json r.jws
    printf '{"id":"osr","version":"1","checks":{"os.release":{"evidence":[{"path":"/id","op":"equals","value":1}]}}}' >bad.json
    expect_exit 2 "bad policy" -- --policy bad.json r.jws
    grep -q "bad.json: /checks/os.release/evidence/0/op: unknown operator 'equals'" err.txt &&
        pass "the policy error names file, member and problem" || fail "message: $(cat err.txt)"
    expect_exit 2 "bad JWK" -- --policy osr.json --jwk osr.json r.jws
    "$verifier" help verify >/dev/null 2>&1 && pass "help verify" || fail "help verify"
    "$verifier" --help | grep -q '^  verify ' && pass "verify is listed" || fail "verify not in --help"
}

# ---- swtpm ------------------------------------------------------------------------------------
case_swtpm() {
    . "$SRCDIR/tests/lib/swtpm.sh"
    swtpm_have_tools || exit 77
    [ -n "$replay" ] || {
        echo "$name: SKIP: tpm_replay was not built"
        exit 77
    }
    b64d() { "$py" -c 'import base64,sys; s=sys.stdin.read().strip(); sys.stdout.buffer.write(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))'; }
    NONCE=$(head -c 32 /dev/urandom | "$py" -c 'import base64,sys; print(base64.urlsafe_b64encode(sys.stdin.buffer.read()).rstrip(b"=").decode())')
    for fx in gce-rhel8-secureboot dell-server-gdc-host; do
        log=$SRCDIR/tests/fixtures/eventlogs/$fx.bin
        SWTPM_NO_STARTUP=1 swtpm_start || exit $?
        if ! "$replay" "$SWTPM_TCTI" "$log" >replay.out 2>&1; then
            fail "$fx: tpm_replay: $(cat replay.out)"
            swtpm_stop
            continue
        fi
        cat >tpm.conf <<EOC
[agent]
state_dir = $W/state
[tpm]
enabled = yes
tcti = $SWTPM_TCTI
event_log = $log
EOC
        if ! "$posturectl" report --config tpm.conf --only os.release --root "$F/os-release/debian-12" \
            --nonce "$NONCE" --evidence "$fx.ev.json" >"$fx.jws" 2>"$fx.err"; then
            fail "$fx: posturectl report --evidence: $(cat "$fx.err")"
            swtpm_stop
            continue
        fi
        # The AK as tpm2-tools derives it from the same TPM (the "enrolled" AK).
        tpm2_createprimary -Q -C e -G ecc256:ecdsa-sha256:null -g sha256 \
            -a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign|noda' -c ak.ctx 2>tpm.err &&
            tpm2_readpublic -Q -c ak.ctx -o "$fx.ak.pub" 2>>tpm.err && tpm2_flushcontext -t 2>>tpm.err ||
            fail "$fx: tpm2-tools AK: $(cat tpm.err)"
        swtpm_stop
        sb=$((0x$(jq -r '.secure_boot.SecureBoot_variable_data_hex_in_log' "$SRCDIR/tests/fixtures/eventlogs/$fx.expected.json")))

        printf '{"id":"hw","version":"1","device":{"trust_tier":"hardware","pcr_quote":true,"secure_boot":true},"checks":{"os.release":{"evidence":[{"path":"/id","op":"eq","value":"debian"}]}}}' >hw.json
        "$verifier" verify --policy hw.json --jwk dev.jwk --nonce "$NONCE" --evidence "$fx.ev.json" \
            --ak-pub "$fx.ak.pub" --json "$fx.jws" >"$fx.a.json" 2>"$fx.v.err"
        rc=$?
        got=$(jq -r '[."ear.status", (.secure_boot|tostring), (."ear.trustworthiness-vector".hardware|tostring), (."ear.trustworthiness-vector".executables|tostring)] | join(" ")' "$fx.a.json")
        if [ "$sb" = 1 ]; then
            want="affirming true 2 3"
            wrc=0
        else
            want="contraindicated false 2 96"
            wrc=1
        fi
        if [ "$rc" = "$wrc" ] && [ "$got" = "$want" ]; then
            pass "$fx (SecureBoot=$sb in the log): $got, exit $rc"
        else
            fail "$fx: expected '$want' exit $wrc, got '$got' exit $rc: $(cat "$fx.v.err") $(jq -c .findings "$fx.a.json")"
        fi
        # The evidence's ak_pub decoded and given as base64url text works the same way.
        jq -r .ak_pub "$fx.ev.json" >"$fx.ak.b64"
        "$verifier" verify --policy hw.json --jwk dev.jwk --nonce "$NONCE" --evidence "$fx.ev.json" \
            --ak-pub "$fx.ak.b64" --json "$fx.jws" >b.json 2>/dev/null
        [ "$(jq -r '."ear.trustworthiness-vector".hardware' b.json)" = 2 ] &&
            pass "$fx: --ak-pub as base64url text" || fail "$fx: ak-pub b64: $(cat b.json)"
        # Another nonce: the report check and the quote binding both refuse.
        "$verifier" verify --policy hw.json --jwk dev.jwk --nonce AAAAAAAAAAAAAAAAAAAAAA \
            --evidence "$fx.ev.json" --ak-pub "$fx.ak.pub" --json "$fx.jws" >n.json 2>/dev/null
        [ "$(jq -r '."ear.trustworthiness-vector".hardware' n.json)" = 99 ] &&
            jq -e '.findings[] | select(.code == "nonce-mismatch")' n.json >/dev/null &&
            pass "$fx: another nonce: nonce-mismatch and hardware 99 (binding)" ||
            fail "$fx: other nonce: $(cat n.json)"
        # The shipped payments-admin policy on the same evidence.
        "$verifier" verify --policy "$payments" --jwk dev.jwk --nonce "$NONCE" --evidence "$fx.ev.json" \
            --ak-pub "$fx.ak.pub" --json "$fx.jws" >p.json 2>/dev/null
        if [ "$sb" = 1 ]; then
            jq -e '[.findings[].code] | index("secure-boot-off") == null' p.json >/dev/null &&
                pass "$fx: payments-admin sees Secure Boot on" || fail "$fx: payments-admin: $(jq -c .findings p.json)"
        else
            jq -e '.findings[] | select(.code == "secure-boot-off")' p.json >/dev/null &&
                pass "$fx: payments-admin refuses Secure Boot off" || fail "$fx: payments-admin: $(jq -c .findings p.json)"
        fi
    done
}

case "$case_" in
fixtures) case_fixtures ;;
ear) case_ear ;;
exits) case_exits ;;
swtpm) case_swtpm ;;
*)
    echo "unknown case $case_" >&2
    exit 2
    ;;
esac
exit $status
