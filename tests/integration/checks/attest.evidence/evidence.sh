#!/bin/sh
# posturectl report --evidence against swtpm, checked by independent tools and by our verifier:
#   - the AK is re-derived with tpm2-tools (same §4.2 template, tpm2_createprimary) and its name
#     (tpm2_readpublic -n) must equal the evidence's ak_name;
#   - python3 recomputes the binding SHA-256("POSTURE-QUOTE-V1" || 0 || nonce || SHA-256(payload))
#     from the JWS it decodes itself, and tpm2_checkquote verifies the quote with it and the PCR
#     values of the evidence;
#   - openssl verifies the EK certificate against the swtpm local CA;
#   - evidence_tool (posture_evidence_verify) accepts it with the tpm2-tools AK, and refuses the
#     tampered cases with their reasons;
#   - with a real firmware log replayed into a fresh swtpm (tpm_replay, ATTESTATION.md §4.3),
#     the evidence carrying that log is accepted and its Secure Boot facts read; a tampered copy
#     of the log is refused.
# Arguments: POSTURECTL EVIDENCE_TOOL SRCDIR [TPM_REPLAY].
set -u

posturectl=$1
tool=$2
SRCDIR=$3
replay=${4:-}
name=attest.evidence
py=/usr/bin/python3

. "$SRCDIR/tests/lib/swtpm.sh"
swtpm_have_tools || exit 77
for t in tpm2_createprimary tpm2_readpublic tpm2_checkquote openssl jq "$py"; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "$name: SKIP: $t is not installed (packaging/install-deps.sh installs it)"
        exit 77
    }
done

LC_ALL=C.UTF-8
export LC_ALL
unset POSTURE_LOG_LEVEL JOURNAL_STREAM || true

W=$(mktemp -d "${TMPDIR:-/tmp}/posture-evidence.XXXXXX")
status=0
cleanup() {
    swtpm_stop
    rm -rf "$W"
}
trap cleanup EXIT INT TERM
pass() { echo "$name: ok: $*"; }
fail() {
    echo "$name: FAIL: $*" >&2
    status=1
}
cd "$W" || exit 2

# b64url -> binary, binary member of the evidence to a file
b64d() { "$py" -c 'import base64,sys; s=sys.stdin.read().strip(); sys.stdout.buffer.write(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))'; }
member() { jq -r ".$2" "$1" | b64d >"$3"; }

# config for the swtpm under test; $1 = event log path
write_conf() {
    cat >agent.conf <<EOC
[agent]
state_dir = $W/state
[tpm]
enabled = yes
tcti = $SWTPM_TCTI
event_log = $1
EOC
}

expect() { # expect WANT WHAT -- ARGS for evidence_tool
    want=$1
    what=$2
    shift 3
    got=$("$tool" "$@" 2>"$W/tool.err" | head -n 1)
    if [ "$got" = "$want" ]; then
        pass "$what -> $got"
    else
        fail "$what: expected $want, got '$got': $(cat "$W/tool.err")"
    fi
}

report() { # report NONCE OUTPREFIX
    if ! "$posturectl" report --config agent.conf --only os.release --nonce "$1" \
        --evidence "$2.ev.json" >"$2.jws" 2>"$2.err"; then
        fail "posturectl report --evidence: $(cat "$2.err")"
        return 1
    fi
}

# --- 1. A quote of an ordinary swtpm, no event log ------------------------------------------
# The device key is made a key file first: with [tpm] enabled = yes a new key would live in
# this swtpm, which is replaced below, and an existing key is always kept (the TPM-resident
# key has its own tests, integration/attest.tpmkey).
printf '[agent]\nstate_dir = %s/state\n[tpm]\nenabled = no\n' "$W" >off.conf
"$posturectl" key --config off.conf >/dev/null 2>&1 || fail "posturectl key (a key file)"
swtpm_start || exit $?
write_conf "$W/no-such-log"
NONCE=$(head -c 32 /dev/urandom | "$py" -c 'import base64,sys; print(base64.urlsafe_b64encode(sys.stdin.buffer.read()).rstrip(b"=").decode())')
report "$NONCE" r1 || exit 1
"$posturectl" key --jwk --config agent.conf >dev.jwk || fail "posturectl key --jwk"
grep -q 'event log .* does not exist' r1.err && pass "a missing event log is said" ||
    fail "no notice for the missing event log: $(cat r1.err)"
[ "$(jq -r '.v, .bank, (.pcr_select|join(","))' r1.ev.json | tr '\n' ' ')" = "1 sha256 0,1,2,3,4,5,6,7 " ] &&
    pass "evidence v1, sha256, PCR 0-7" || fail "evidence header: $(jq -c 'del(.attest,.sig,.ek_cert,.ak_pub,.pcrs)' r1.ev.json)"
jq -e 'has("event_log") | not' r1.ev.json >/dev/null && pass "no event_log member without a log" ||
    fail "event_log present without a log"

# The AK re-derived by tpm2-tools from the §4.2 template: same key, same name.
AK_ATTRS='fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign|noda'
tpm2_createprimary -Q -C e -G ecc256:ecdsa-sha256:null -g sha256 -a "$AK_ATTRS" -c ak.ctx 2>tpm.err &&
    tpm2_readpublic -Q -c ak.ctx -o ak.pub -n ak.name 2>>tpm.err && tpm2_flushcontext -t 2>>tpm.err ||
    fail "tpm2-tools AK: $(cat tpm.err)"
if [ "$(od -An -v -tx1 ak.name | tr -d ' \n')" = "$(jq -r .ak_name r1.ev.json)" ]; then
    pass "ak_name equals tpm2_readpublic's name of the template AK"
else
    fail "ak_name $(jq -r .ak_name r1.ev.json) is not tpm2-tools' $(od -An -v -tx1 ak.name | tr -d ' \n')"
fi

# tpm2_checkquote with the binding computed here, from the JWS payload as python decodes it.
binding() { # binding NONCE JWSFILE
    "$py" - "$1" "$2" <<'PYEOF'
import base64, hashlib, sys
def d(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
nonce = d(sys.argv[1])
payload = d(open(sys.argv[2]).read().strip().split(".")[1])
print(hashlib.sha256(b"POSTURE-QUOTE-V1\0" + nonce + hashlib.sha256(payload).digest()).hexdigest())
PYEOF
}
BINDING=$(binding "$NONCE" r1.jws)
member r1.ev.json attest r1.attest
member r1.ev.json sig r1.sig
# checkquote PREFIX BINDING WHAT: the evidence's PCR values equal tpm2_pcrread's, and
# tpm2_checkquote accepts the quote with tpm2_pcrread's values and the given binding.
checkquote() {
    member "$1.ev.json" attest "$1.attest"
    member "$1.ev.json" sig "$1.sig"
    tpm2_pcrread -Q sha256:0,1,2,3,4,5,6,7 -o "$1.pcrs.raw" 2>tpm.err &&
        tpm2_pcrread -Q sha256:0,1,2,3,4,5,6,7 -F serialized -o "$1.pcrs.tss" 2>>tpm.err ||
        fail "tpm2_pcrread: $(cat tpm.err)"
    if [ "$(od -An -v -tx1 "$1.pcrs.raw" | tr -d ' \n')" = \
        "$(jq -r '[.pcrs["0","1","2","3","4","5","6","7"]] | join("")' "$1.ev.json")" ]; then
        pass "$3: the evidence's PCR values are tpm2_pcrread's"
    else
        fail "$3: the evidence's PCR values differ from tpm2_pcrread's"
    fi
    if tpm2_checkquote -u "$4" -m "$1.attest" -s "$1.sig" -f "$1.pcrs.tss" -g sha256 \
        -q "$2" >cq.out 2>&1; then
        pass "$3: tpm2_checkquote accepts the quote with the independently computed binding"
    else
        fail "$3: tpm2_checkquote: $(cat cq.out)"
    fi
    # ... and refuses a binding one bit off (the check above can fail).
    bad=$(printf '%s' "$2" | "$py" -c 'import sys; b=bytearray.fromhex(sys.stdin.read().strip()); b[0]^=1; print(b.hex())')
    if tpm2_checkquote -u "$4" -m "$1.attest" -s "$1.sig" -f "$1.pcrs.tss" -g sha256 \
        -q "$bad" >/dev/null 2>&1; then
        fail "$3: tpm2_checkquote accepts a wrong binding"
    else
        pass "$3: tpm2_checkquote refuses a binding one bit off"
    fi
}
checkquote r1 "$BINDING" "plain swtpm" ak.pub

# The EK certificate chains to the swtpm local CA.
member r1.ev.json ek_cert ek.der
if openssl x509 -inform der -in ek.der -out ek.pem 2>/dev/null &&
    openssl verify -CAfile "$SWTPM_CA_ROOT" -untrusted "$SWTPM_CA_ISSUER" ek.pem >/dev/null 2>&1; then
    pass "ek_cert verifies against the swtpm local CA (openssl)"
else
    fail "ek_cert does not verify against the swtpm local CA"
fi

# Our verifier, with the tpm2-tools AK as the enrolled one.
expect ok "report + evidence" -- r1.jws r1.ev.json dev.jwk "$NONCE" ak.pub
expect report-nonce-mismatch "another nonce" -- r1.jws r1.ev.json dev.jwk "$BINDING" ak.pub
# A second report under the same nonce: the first evidence does not bind it.
report "$NONCE" r2 || exit 1
expect quote-binding-mismatch "evidence of another report" -- r2.jws r1.ev.json dev.jwk "$NONCE" ak.pub
expect ok "its own evidence" -- r2.jws r2.ev.json dev.jwk "$NONCE" ak.pub
jq '.pcrs["4"] = "ff" + .pcrs["4"][2:]' r1.ev.json >t.pcr.json
expect quote-pcr-digest-mismatch "a PCR value altered" -- r1.jws t.pcr.json dev.jwk "$NONCE" ak.pub
jq '.ak_name = "000b" + ("0" * 64)' r1.ev.json >t.name.json
expect evidence-ak-mismatch "another AK's name" -- r1.jws t.name.json dev.jwk "$NONCE" ak.pub
jq '.extra = 1' r1.ev.json >t.member.json
expect evidence-malformed "an unknown member" -- r1.jws t.member.json dev.jwk "$NONCE" ak.pub
# A firmware log that is not this TPM's (row 27).
write_conf "$SRCDIR/tests/fixtures/eventlogs/gce-rhel8-secureboot.bin"
report "$NONCE" r3 || exit 1
expect quote-pcr-replay-mismatch "a log the PCRs do not come from" -- r3.jws r3.ev.json dev.jwk "$NONCE" ak.pub

# [tpm] enabled = no: a clear refusal, exit 2.
"$posturectl" report --config off.conf --only os.release --evidence off.json >/dev/null 2>off.err
rc=$?
[ $rc -eq 2 ] && grep -q 'TPM is disabled' off.err && pass "enabled = no refuses --evidence" ||
    fail "enabled = no: exit $rc: $(cat off.err)"
swtpm_stop

# No TPM at the TCTI.
"$posturectl" report --config agent.conf --only os.release --evidence none.json >/dev/null 2>none.err
rc=$?
[ $rc -eq 2 ] && grep -q "no TPM at swtpm:" none.err && pass "no TPM: exit 2 naming the TCTI" ||
    fail "no TPM: exit $rc: $(cat none.err)"
[ ! -e none.json ] && pass "no evidence file on failure" || fail "an evidence file was written on failure"

# --- 2. A real firmware log replayed into a fresh swtpm -------------------------------------
if [ -n "$replay" ]; then
    for fx in gce-rhel8-secureboot dell-server-gdc-host; do
        log=$SRCDIR/tests/fixtures/eventlogs/$fx.bin
        SWTPM_NO_STARTUP=1 swtpm_start || exit $?
        if ! "$replay" "$SWTPM_TCTI" "$log" >replay.out 2>&1; then
            fail "$fx: tpm_replay: $(cat replay.out)"
            swtpm_stop
            continue
        fi
        write_conf "$log"
        report "$NONCE" "$fx" || exit 1
        tpm2_createprimary -Q -C e -G ecc256:ecdsa-sha256:null -g sha256 -a "$AK_ATTRS" -c ak2.ctx 2>tpm.err &&
            tpm2_readpublic -Q -c ak2.ctx -o "$fx.ak.pub" 2>>tpm.err && tpm2_flushcontext -t 2>>tpm.err ||
            fail "tpm2-tools AK: $(cat tpm.err)"
        checkquote "$fx" "$(binding "$NONCE" "$fx.jws")" "$fx" "$fx.ak.pub"
        out=$("$tool" "$fx.jws" "$fx.ev.json" dev.jwk "$NONCE" "$fx.ak.pub" 2>tool.err)
        # The Secure Boot state the fixture's notes read from the SecureBoot variable.
        sb=$(jq -r '.secure_boot.SecureBoot_variable_data_hex_in_log' \
            "$SRCDIR/tests/fixtures/eventlogs/$fx.expected.json")
        want="ok
secure-boot=$((0x$sb)) events="
        case "$out" in
        "$want"*)
            pass "$fx: replayed log + quote accepted ($(echo "$out" | tail -n 1))"
            ;;
        *)
            fail "$fx: expected 'ok' and secure-boot=$((0x$sb)), got '$out': $(cat tool.err)"
            ;;
        esac
        # The same evidence with a tampered log: one digest byte of the last PCR 4 event
        # flipped (the log's own digest member recomputed, so only the replay can tell).
        "$py" - "$fx.ev.json" t.log.json <<'PYEOF'
import base64, hashlib, json, struct, sys
ev = json.load(open(sys.argv[1]))
s = ev["event_log"]
log = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
# Walk the crypto-agile records to the last PCR 4 event and flip a byte of its SHA-256 digest
# (the bank that is quoted; the SHA-1 digests are not looked at, rightly).
hdr_size = struct.unpack_from("<I", log, 28)[0]
off = 32 + hdr_size
last4 = None
n_alg = struct.unpack_from("<I", log, 32 + 24)[0]
sizes = {}
for i in range(n_alg):
    alg, size = struct.unpack_from("<HH", log, 32 + 28 + 4 * i)
    sizes[alg] = size
while off < len(log):
    pcr, etype, count = struct.unpack_from("<III", log, off)
    p = off + 12
    sha256_at = None
    for _ in range(count):
        alg = struct.unpack_from("<H", log, p)[0]
        if alg == 0x000B:
            sha256_at = p + 2
        p += 2 + sizes[alg]
    esize = struct.unpack_from("<I", log, p)[0]
    if pcr == 4 and etype != 3:
        last4 = sha256_at
    off = p + 4 + esize
log[last4] ^= 1
ev["event_log"] = base64.urlsafe_b64encode(bytes(log)).rstrip(b"=").decode()
ev["event_log_sha256"] = hashlib.sha256(log).hexdigest()
json.dump(ev, open(sys.argv[2], "w"))
PYEOF
        expect quote-pcr-replay-mismatch "$fx: a PCR 4 digest flipped in the log" -- \
            "$fx.jws" t.log.json dev.jwk "$NONCE" "$fx.ak.pub"
        swtpm_stop
    done
else
    fail "tpm_replay not built: the replay cases did not run"
fi

exit $status
