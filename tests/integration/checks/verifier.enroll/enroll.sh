#!/bin/sh
# verifier.enroll: enroll.sh CASE ENROLL_TOOL POSTURE_VERIFIER SRCDIR
#   keys    the verifier's keys: modes, `ca --device`, a device certificate checked by
#           `openssl verify` and `openssl x509 -text`, the JWKS verifying an ES256 token with
#           python3-jwt (ECAlgorithm.from_jwk), `token create` and its errors.
#   ekcert  swtpm's EK certificate chain (RSA and ECC P-384): accepted with the swtpm root in the
#           trust directory; refused with the intermediate alone, with another root only (the
#           "swtpm root in production" case: a production trust directory lacks it), and when
#           the EK public key is another key (CVE-2021-3406). ATTESTATION.md §6 row 12.
#   enrol   enrolment end to end against swtpm for the RSA and the ECC EK: our MakeCredential
#           activated by tpm2_activatecredential, the proof computed by python3 (hmac), the
#           device certificate checked by openssl; rows 13 (AK attributes), 14 (client AK name
#           ignored), 15 (wrong proof, second attempt, replay), 16 (same device, same AK on two
#           devices, concurrent activations: exactly one wins), token reuse and expiry; the
#           proof of possession ("pop", signed by python3-jwt): a request or activation signed
#           by another key, or unsigned, is refused and leaves the token / the attempt for the
#           rightful device; a signed wrong proof spends the attempt; enroll_tool's C signer
#           checked by python3-jwt.
#   ratelimit  `posture-verifier serve` and curl: an old unsigned request (400 naming "pop"), a
#           forged one (401, token kept), 429 with Retry-After after the burst and allowed
#           after it, the refused-attempts bucket, /metrics.
set -u
CASE=$1
TOOL=$2
PV=$3
SRCDIR=$4
PY=/usr/bin/python3 # Debian's python3, which has python3-jwt (a python3 earlier in PATH may not)
TD=test.example

"$PY" -c 'import jwt, cryptography' 2>/dev/null || {
    echo "enroll.sh: python3-jwt/cryptography not installed, skipping"
    exit 77
}
command -v openssl >/dev/null 2>&1 || {
    echo "enroll.sh: openssl not installed, skipping"
    exit 77
}

fails=0
pass() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}
finish() {
    if [ $fails -ne 0 ]; then
        echo "enroll.sh $CASE: $fails failure(s)"
        exit 1
    fi
    echo "enroll.sh $CASE: all passed"
    exit 0
}
# expect WANT CMD...: the first line CMD prints must be WANT.
expect() {
    want=$1
    shift
    got=$("$@" 2>"$W/err" | head -n 1)
    if [ "$got" = "$want" ]; then
        pass "$want"
    else
        fail "expected '$want', got '$got' ($(cat "$W/err"))"
    fi
}

# A P-256 device key: PEM files and its public JWK (from the key's numbers, by python).
device_key() { # device_key NAME
    openssl ecparam -name prime256v1 -genkey -noout -out "$W/$1.key" 2>/dev/null &&
        openssl pkey -in "$W/$1.key" -pubout -out "$W/$1.pub" 2>/dev/null &&
        "$PY" - "$W/$1.pub" >"$W/$1.jwk" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
n = load_pem_public_key(open(sys.argv[1], "rb").read()).public_numbers()
b = lambda i: base64.urlsafe_b64encode(i.to_bytes(32, "big")).rstrip(b"=").decode()
print(json.dumps({"kty": "EC", "crv": "P-256", "x": b(n.x), "y": b(n.y)}))
PY
}

# RFC 7638 thumbprint of a JWK file, computed by python.
thumbprint() {
    "$PY" - "$1" <<'PY'
import base64, hashlib, json, sys
j = json.load(open(sys.argv[1]))
s = json.dumps({k: j[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
print(base64.urlsafe_b64encode(hashlib.sha256(s.encode()).digest()).rstrip(b"=").decode())
PY
}

# The proof of possession ("pop", enroll.h), signed by python3-jwt: an independent JOSE
# implementation. POP=none leaves it out; POP=key:FILE signs with another key (kid of the JWK
# sent: the attacker names the victim's key but does not hold it); POP=jwk:FILE also sends
# FILE's JWK (activation: the attacker's own key for the victim's device id).
POP_PY='
import base64, hashlib, json, os, time, jwt
from cryptography.hazmat.primitives import serialization
e = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def thumb(j):
    c = json.dumps({k: j[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return e(hashlib.sha256(c.encode()).digest())
def jwk_of(key):
    n = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": e(n.x.to_bytes(32, "big")), "y": e(n.y.to_bytes(32, "big"))}
def add_pop(o, keyfile, typ, claims):
    mode = os.environ.get("POP", "")
    if mode == "none":
        return
    if mode.startswith(("key:", "jwk:")):
        keyfile = mode[4:]
    key = serialization.load_pem_private_key(open(keyfile, "rb").read(), None)
    if mode.startswith("jwk:"):
        o["jwk"] = jwk_of(key)
    now = int(time.time())
    claims.update({"aud": "https://verifier.test", "iat": now, "exp": now + 60})
    o["pop"] = jwt.encode(claims, key, algorithm="ES256", headers={"typ": typ, "kid": thumb(o["jwk"])})
'

# request TOKEN JWK [EK_CERT EK_PUB AK_PUB [AK_NAME]] > body (signed by JWK's .key, see POP)
request() {
    "$PY" - "$@" <<PY
$POP_PY
import sys
b = lambda p: base64.urlsafe_b64encode(open(p, "rb").read()).rstrip(b"=").decode()
a = sys.argv[1:]
o = {"token": a[0], "jwk": json.load(open(a[1]))}
t = base64.urlsafe_b64decode(a[0] + "=" * (-len(a[0]) % 4))
claims = {"token_sha256": e(hashlib.sha256(t).digest())}
if len(a) > 2:
    o["tpm"] = {"ek_cert": b(a[2]), "ek_pub": b(a[3]), "ak_pub": b(a[4])}
    claims["ak_sha256"] = e(hashlib.sha256(open(a[4], "rb").read()).digest())
    if len(a) > 5:
        o["tpm"]["ak_name"] = b(a[5])
add_pop(o, a[1][:-4] + ".key", "posture-enroll+jwt", claims)
print(json.dumps(o))
PY
}

# credential RESPONSE OUT: tpm2-tools' credential file (magic 0xBADCC0DE, version 1,
# TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET) from the enrol response.
credential() {
    "$PY" - "$1" "$2" <<'PY'
import base64, json, sys
r = json.load(open(sys.argv[1]))
d = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
open(sys.argv[2], "wb").write(bytes.fromhex("badcc0de00000001") + d(r["credential_blob"]) +
                              d(r["encrypted_secret"]))
PY
}

# activation DEV.resp SECRET DEVICE_ID [flip] > body: the proof computed by python's hmac,
# signed by DEV.key with DEV.jwk (see POP).
activation() {
    "$PY" - "$@" <<PY
$POP_PY
import hmac, sys
r = json.load(open(sys.argv[1]))
secret = open(sys.argv[2], "rb").read()
d = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
proof = bytearray(hmac.new(secret, b"POSTURE-ENROLL-V1" + sys.argv[3].encode() +
                           d(r["nonce0"]), hashlib.sha256).digest())
if len(sys.argv) > 4:
    proof[0] ^= 1
dev = sys.argv[1][:-5]
o = {"device_id": sys.argv[3], "proof": e(bytes(proof)), "jwk": json.load(open(dev + ".jwk"))}
add_pop(o, dev + ".key", "posture-activate+jwt",
        {"device_id": sys.argv[3], "proof_sha256": e(hashlib.sha256(bytes(proof)).digest()),
         "nonce0": r["nonce0"]})
print(json.dumps(o))
PY
}

json_get() { # json_get FILE KEY
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

case_keys() {
    W=$(mktemp -d) || exit 2
    trap 'rm -rf "$W"' EXIT
    S=$W/state
    kid=$("$TOOL" init "$S" "$TD") || {
        fail "enroll_tool init"
        finish
    }
    # Modes: 0700 directory, 0600 files.
    for f in signing.key device-ca.key device-ca.pem; do
        m=$(stat -c %a "$S/$f")
        [ "$m" = 600 ] && pass "$f is 0600" || fail "$f mode $m"
    done
    m=$(stat -c %a "$S")
    [ "$m" = 700 ] && pass "state dir is 0700" || fail "state dir mode $m"
    # The keys are never rewritten.
    cp "$S/device-ca.pem" "$W/ca-before.pem"
    kid2=$("$TOOL" init "$S" "$TD")
    [ "$kid" = "$kid2" ] && cmp -s "$S/device-ca.pem" "$W/ca-before.pem" &&
        pass "second start keeps the keys" || fail "second start changed the keys"

    # ca --device prints the device CA.
    "$PV" ca --device --state-dir "$S" >"$W/ca.pem" && cmp -s "$W/ca.pem" "$S/device-ca.pem" &&
        pass "ca --device prints the device CA" || fail "ca --device"
    "$PV" ca --device --state-dir "$W/nothing" >/dev/null 2>"$W/err"
    [ $? -eq 2 ] && grep -q "does not exist yet" "$W/err" &&
        pass "ca --device without a CA: exit 2 and what to do" || fail "ca --device (missing)"
    openssl x509 -in "$W/ca.pem" -noout -text >"$W/ca.txt" 2>&1
    grep -q "Subject: CN = posture device CA $TD" "$W/ca.txt" &&
        grep -A1 "Basic Constraints: critical" "$W/ca.txt" | grep -q "CA:TRUE, pathlen:0" &&
        grep -A1 "Key Usage: critical" "$W/ca.txt" | grep -q "Certificate Sign, CRL Sign" &&
        pass "openssl: CA basicConstraints/keyUsage" || fail "CA extensions: $(cat "$W/ca.txt")"

    # A device certificate: openssl verify against the CA, and its extensions.
    device_key dev || fail "device key"
    "$TOOL" issue "$S" "$TD" "$W/dev.pub" >"$W/dev.crt" || fail "issue"
    openssl verify -CAfile "$S/device-ca.pem" -purpose sslclient "$W/dev.crt" >"$W/v.out" 2>&1 &&
        pass "openssl verify -CAfile: $(cat "$W/v.out")" || fail "openssl verify: $(cat "$W/v.out")"
    dkid=$(thumbprint "$W/dev.jwk")
    openssl x509 -in "$W/dev.crt" -noout -text >"$W/dev.txt" 2>&1
    grep -q "URI:spiffe://$TD/device/$dkid" "$W/dev.txt" && pass "SAN spiffe://$TD/device/<kid>" ||
        fail "SAN: $(grep -A1 'Alternative' "$W/dev.txt")"
    grep -A1 "X509v3 Key Usage: critical" "$W/dev.txt" | grep -q "Digital Signature" &&
        pass "keyUsage digitalSignature, critical" || fail "keyUsage"
    grep -A1 "Extended Key Usage" "$W/dev.txt" | grep -q "TLS Web Client Authentication" &&
        pass "EKU clientAuth" || fail "EKU"
    grep -q "Authority Key Identifier" "$W/dev.txt" && grep -q "Subject Key Identifier" "$W/dev.txt" &&
        pass "AKI/SKI" || fail "AKI/SKI"
    # Another CA does not verify it.
    "$TOOL" init "$W/other" "$TD" >/dev/null
    if openssl verify -CAfile "$W/other/device-ca.pem" "$W/dev.crt" >/dev/null 2>&1; then
        fail "another CA verified the device certificate"
    else
        pass "another CA does not verify it"
    fi

    # The JWKS verifies an ES256 token signed with the signing key (python3-jwt).
    "$TOOL" jwks "$S" "$TD" >"$W/jwks.json" || fail "jwks"
    printf '{"iss":"posture-verifier","sub":"%s","iat":%s,"exp":%s}' "$dkid" "$(date +%s)" \
        "$(($(date +%s) + 300))" >"$W/claims.json"
    "$TOOL" sign "$S" "$TD" "$W/claims.json" >"$W/ear.jwt" || fail "sign"
    if "$PY" - "$W/jwks.json" "$W/ear.jwt" "$kid" "$dkid" <<'PY'; then
import json, sys
import jwt
from jwt.algorithms import ECAlgorithm
jwks = json.load(open(sys.argv[1]))
assert len(jwks["keys"]) == 1
k = jwks["keys"][0]
assert k["kid"] == sys.argv[3] and k["alg"] == "ES256" and k["use"] == "sig" and "d" not in k
key = ECAlgorithm.from_jwk(json.dumps(k))
tok = open(sys.argv[2]).read().strip()
assert jwt.get_unverified_header(tok)["kid"] == k["kid"]
claims = jwt.decode(tok, key, algorithms=["ES256"])
assert claims["sub"] == sys.argv[4]
# One flipped signature byte must fail.
h, p, s = tok.split(".")
bad = h + "." + p + "." + ("A" if s[0] != "A" else "B") + s[1:]
try:
    jwt.decode(bad, key, algorithms=["ES256"])
    sys.exit(1)
except jwt.InvalidSignatureError:
    pass
PY
        pass "python3-jwt verifies an ES256 token with the JWKS key, and refuses a forged one"
    else
        fail "python3-jwt and the JWKS"
    fi

    # token create: printed once, stored hashed; errors.
    tok=$("$PV" token create --state-dir "$S" --ttl 10m --label "laptop 7")
    case $tok in
    ???????????????????????????????????????????) pass "token create prints 43 base64url chars" ;;
    *) fail "token create printed '$tok'" ;;
    esac
    if command -v sqlite3 >/dev/null 2>&1; then
        hex=$("$PY" -c 'import base64,sys; t=sys.argv[1]; print(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)).hex())' "$tok")
        if sqlite3 "$S/store.db" .dump | grep -qi -e "$tok" -e "$hex"; then
            fail "the token is stored in clear"
        else
            pass "the token is not in the store, as text or bytes (sqlite3 .dump)"
        fi
    fi
    [ "$(stat -c %a "$S/store.db")" = 600 ] && pass "store.db is 0600" || fail "store.db mode"
    "$PV" token create --state-dir "$S" --json --label x >"$W/tok.json" &&
        "$PY" -c 'import json,sys; o=json.load(open(sys.argv[1])); assert len(o["token"])==43 and o["label"]=="x" and o["id"]>0' \
            "$W/tok.json" && pass "token create --json" || fail "token create --json"
    for bad in "--ttl 0" "--ttl 400d" "--ttl soon" "--state-dir relative" "--bogus"; do
        # shellcheck disable=SC2086
        "$PV" token create $bad --state-dir "$S" >/dev/null 2>&1
        rc=$?
        [ $rc -eq 2 ] && pass "token create $bad: exit 2" || fail "token create $bad: exit $rc"
    done
    "$PV" token >/dev/null 2>&1
    [ $? -eq 2 ] && pass "token without subcommand: exit 2" || fail "token without subcommand"

    # --config: verifier.conf names the state directory, the store and the TLS certificate.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/tls.key" \
        -subj "/CN=verifier.test" -days 30 -out "$W/tls.crt" >/dev/null 2>&1
    cat >"$W/verifier.conf" <<CONF
[verifier]
state_dir = $S
trust_domain = $TD
store = sqlite:$W/other.db
[tls]
cert = $W/tls.crt
key = $W/tls.key
CONF
    "$PV" ca --device --config "$W/verifier.conf" >"$W/ca2.pem" &&
        cmp -s "$W/ca2.pem" "$S/device-ca.pem" && pass "ca --device --config" ||
        fail "ca --device --config"
    "$PV" ca --config "$W/verifier.conf" >"$W/tls2.pem" &&
        [ "$(openssl x509 -in "$W/tls2.pem" -noout -fingerprint -sha256)" = \
            "$(openssl x509 -in "$W/tls.crt" -noout -fingerprint -sha256)" ] &&
        pass "ca --config prints [tls] cert" || fail "ca --config"
    "$PV" token create --config "$W/verifier.conf" >/dev/null && [ -s "$W/other.db" ] &&
        pass "token create --config uses [verifier] store" || fail "token create --config"
    printf '[verifier]\nstate_dir = relative\n' >"$W/bad.conf"
    "$PV" token create --config "$W/bad.conf" >/dev/null 2>"$W/err"
    [ $? -eq 2 ] && grep -q "bad.conf:2" "$W/err" && pass "a bad verifier.conf: exit 2 with file:line" ||
        fail "bad config: $(cat "$W/err")"
    "$PV" ca --config "$W/missing.conf" >/dev/null 2>&1
    [ $? -eq 2 ] && pass "ca --config with a missing file: exit 2" || fail "ca --config missing"
    finish
}

# Common TPM set-up: swtpm, its EK certificates and public keys, a trust directory.
tpm_setup() {
    . "$SRCDIR/tests/lib/swtpm.sh"
    for t in tpm2_createprimary tpm2_readpublic tpm2_nvread tpm2_activatecredential \
        tpm2_startauthsession tpm2_policysecret tpm2_flushcontext; do
        command -v "$t" >/dev/null 2>&1 || {
            echo "enroll.sh: $t not installed, skipping"
            exit 77
        }
    done
    swtpm_start || exit $?
    W=$SWTPM_DIR/work
    mkdir -p "$W" && cd "$W" || exit 2
    tpm2_nvread 0x01c00002 -o ek-rsa.der >/dev/null 2>&1 &&
        tpm2_nvread 0x01c00016 -o ek-ecc.der >/dev/null 2>&1 &&
        tpm2_readpublic -c 0x81010001 -o ek-rsa.pub >/dev/null 2>&1 &&
        tpm2_readpublic -c 0x81010016 -o ek-ecc.pub >/dev/null 2>&1 || {
        echo "enroll.sh: reading swtpm's EK certificates failed" >&2
        exit 2
    }
    flush
    mkdir -p roots && cp "$SWTPM_CA_ROOT" roots/root.pem && cp "$SWTPM_CA_ISSUER" roots/issuer.pem
}

flush() {
    tpm2_flushcontext -t >/dev/null 2>&1 || :
    tpm2_flushcontext -s >/dev/null 2>&1 || :
}

case_ekcert() {
    tpm_setup
    openssl x509 -inform DER -in ek-rsa.der -out ek-rsa.pem 2>/dev/null
    openssl verify -CAfile "$SWTPM_CA_ROOT" -untrusted "$SWTPM_CA_ISSUER" ek-rsa.pem >/dev/null 2>&1 &&
        pass "control: openssl verifies the swtpm RSA EK chain" || fail "openssl control"
    expect ok "$TOOL" ekcert roots ek-rsa.der ek-rsa.pub
    expect ok "$TOOL" ekcert roots ek-ecc.der ek-ecc.pub
    # The intermediate alone: no partial chains.
    mkdir -p only-issuer && cp "$SWTPM_CA_ISSUER" only-issuer/
    expect ek-cert-untrusted "$TOOL" ekcert only-issuer ek-rsa.der ek-rsa.pub
    # A production trust directory (some other vendor root): the swtpm root is not in it.
    mkdir -p production
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout prod.key \
        -subj "/CN=Some TPM Vendor Root" -days 30 -out production/vendor.pem >/dev/null 2>&1
    cp "$SWTPM_CA_ISSUER" production/
    expect ek-cert-untrusted "$TOOL" ekcert production ek-rsa.der ek-rsa.pub
    expect ek-cert-untrusted "$TOOL" ekcert production ek-ecc.der ek-ecc.pub
    # CVE-2021-3406: another key presented as the EK (the owner's storage key; the ECC EK
    # under the RSA certificate).
    tpm2_createprimary -C o -G rsa2048:aes128cfb -c srk.ctx >/dev/null 2>&1 &&
        tpm2_readpublic -c srk.ctx -o srk.pub >/dev/null 2>&1 || fail "storage key"
    flush
    expect ek-key-mismatch "$TOOL" ekcert roots ek-rsa.der srk.pub
    expect ek-key-mismatch "$TOOL" ekcert roots ek-rsa.der ek-ecc.pub
    expect ek-key-mismatch "$TOOL" ekcert roots ek-ecc.der ek-rsa.pub
    # A truncated certificate and a TPM2B_PUBLIC with a trailing byte.
    head -c 200 ek-rsa.der >short.der
    expect ek-cert-malformed "$TOOL" ekcert roots short.der ek-rsa.pub
    cat ek-rsa.pub >long.pub && printf '\0' >>long.pub
    expect ek-public-malformed "$TOOL" ekcert roots ek-rsa.der long.pub
    swtpm_shutdown
    finish
}

AK_ATTRS='fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign|noda'

# make_ak NAME [ATTRS [ALG]]: an ECC P-256 primary in the endorsement hierarchy. (Primaries
# with the same template are the same key: distinct AKs differ in attributes the AK pin allows,
# noDA and userWithAuth; ActivateCredential uses the AK's ADMIN role, so a password works.)
make_ak() {
    set -- "$1" "${2:-$AK_ATTRS}" "${3:-ecc256:ecdsa-sha256:null}"
    tpm2_createprimary -C e -G "$3" -g sha256 -a "$2" -c "$1.ctx" >"$1.out" 2>&1 || {
        fail "tpm2_createprimary $1: $(cat "$1.out")"
        return 1
    }
    tpm2_readpublic -c "$1.ctx" -o "$1.pub" -n "$1.name" >/dev/null 2>&1
    flush
}

# activate_tpm AK EK-HANDLE POLICY(yes|no) CRED OUT
activate_tpm() {
    if [ "$3" = yes ]; then
        tpm2_startauthsession --policy-session -S session.ctx >/dev/null 2>&1 &&
            tpm2_policysecret -S session.ctx -c e >/dev/null 2>&1 &&
            tpm2_activatecredential -c "$1.ctx" -C "$2" -i "$4" -o "$5" \
                -P session:session.ctx >act.out 2>&1
        rc=$?
        tpm2_flushcontext session.ctx >/dev/null 2>&1 || :
    else
        tpm2_activatecredential -c "$1.ctx" -C "$2" -i "$4" -o "$5" >act.out 2>&1
        rc=$?
    fi
    flush
    return $rc
}

token() {
    "$PV" token create --state-dir "$S" "$@"
}

# enrol_full DEV AK EK(rsa|ecc) HANDLE POLICY: enrol + activate; prints "ok" or the reason.
enrol_full() {
    tok=$(token)
    request "$tok" "$1.jwk" "ek-$3.der" "ek-$3.pub" "$2.pub" >"$1.req"
    if ! "$TOOL" enroll "$S" "$TD" roots "$1.req" >"$1.resp" 2>&1; then
        head -n 1 "$1.resp"
        return
    fi
    credential "$1.resp" "$1.cred"
    if ! activate_tpm "$2" "$4" "$5" "$1.cred" "$1.secret"; then
        echo "activatecredential-failed: $(cat act.out)"
        return
    fi
    activation "$1.resp" "$1.secret" "$(thumbprint "$1.jwk")" >"$1.act"
    if "$TOOL" activate "$S" "$TD" "$1.act" >"$1.done" 2>&1; then
        echo ok
    else
        head -n 1 "$1.done"
    fi
}

case_enrol() {
    tpm_setup
    S=$W/state
    "$TOOL" init "$S" "$TD" >/dev/null || fail "init"
    make_ak ak1
    for d in devA devB devC devD devE devF devS devP devQ; do
        device_key $d || fail "device key $d"
    done

    # Software tier: the token alone.
    tok=$(token)
    request "$tok" devS.jwk >devS.req
    if "$TOOL" enroll "$S" "$TD" - devS.req >devS.resp 2>&1 &&
        [ "$(json_get devS.resp tier)" = software ]; then
        json_get devS.resp certificate >devS.crt
        openssl verify -CAfile "$S/device-ca.pem" devS.crt >/dev/null 2>&1 &&
            pass "software tier: certificate verified by openssl" || fail "software certificate"
    else
        fail "software tier: $(cat devS.resp)"
    fi
    # Token reuse; an expired token.
    expect enroll-token-used "$TOOL" enroll "$S" "$TD" - devS.req

    # Proof of possession: a request naming devP's key but signed by devQ's, and one without
    # "pop", are refused and leave the token: devP then enrols with it.
    tok=$(token)
    POP=key:devQ.key request "$tok" devP.jwk >devP.forged
    expect enroll-pop-invalid "$TOOL" enroll "$S" "$TD" - devP.forged
    POP=none request "$tok" devP.jwk >devP.unsigned
    expect enroll-pop-missing "$TOOL" enroll "$S" "$TD" - devP.unsigned
    request "$tok" devP.jwk >devP.req
    if "$TOOL" enroll "$S" "$TD" - devP.req >devP.resp 2>&1 &&
        [ "$(json_get devP.resp device_id)" = "$(thumbprint devP.jwk)" ]; then
        pass "the token refused to a forged pop still enrols its rightful device"
    else
        fail "devP after forged requests: $(cat devP.resp)"
    fi
    # The C signer (what posturectl uses) checked by python3-jwt, and accepted by the verifier.
    tok=$(token)
    POP=none request "$tok" devQ.jwk >devQ.unsigned
    "$TOOL" pop devQ.key devQ.unsigned >devQ.req 2>"$W/err" || fail "enroll_tool pop: $(cat "$W/err")"
    if "$PY" - devQ.req devQ.jwk <<'PY'; then
import json, sys, jwt
o = json.load(open(sys.argv[1]))
k = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(json.load(open(sys.argv[2]))))
h = jwt.get_unverified_header(o["pop"])
assert h["typ"] == "posture-enroll+jwt" and h["alg"] == "ES256", h
c = jwt.decode(o["pop"], k, algorithms=["ES256"], options={"verify_aud": False})
assert c["exp"] - c["iat"] <= 60 and "token_sha256" in c, c
PY
        pass "python3-jwt verifies our pop"
    else
        fail "python3-jwt does not verify our pop"
    fi
    "$TOOL" enroll "$S" "$TD" - devQ.req >devQ.resp 2>&1 && pass "our pop accepted" ||
        fail "our pop: $(cat devQ.resp)"
    tok=$(token --ttl 1s)
    request "$tok" devF.jwk >devF.req
    sleep 2
    expect enroll-token-expired "$TOOL" enroll "$S" "$TD" - devF.req

    # RSA EK, device A. Row 15 first: a wrong proof, then the right one (second attempt).
    tok=$(token)
    request "$tok" devA.jwk ek-rsa.der ek-rsa.pub ak1.pub >devA.req
    "$TOOL" enroll "$S" "$TD" roots devA.req >devA.resp 2>&1 || fail "enrol A: $(cat devA.resp)"
    [ "$(json_get devA.resp status)" = activation-required ] && pass "challenge for the RSA EK" ||
        fail "no challenge: $(cat devA.resp)"
    credential devA.resp devA.cred
    activate_tpm ak1 0x81010001 yes devA.cred devA.secret &&
        pass "tpm2_activatecredential recovers our secret (RSA EK)" ||
        fail "activatecredential: $(cat act.out)"
    kidA=$(thumbprint devA.jwk)
    activation devA.resp devA.secret "$kidA" flip >devA.bad
    activation devA.resp devA.secret "$kidA" >devA.act
    # Signed by the device key, wrong proof: the one attempt is spent (row 15).
    expect enroll-proof-invalid "$TOOL" activate "$S" "$TD" devA.bad
    grep -q "$(sed -n 's/.*"proof": "\([^"]*\)".*/\1/p' devA.act)" devA.resp "$W/err" 2>/dev/null &&
        fail "the expected proof leaked" || pass "nothing about the expected proof is printed"
    expect enroll-activation-unknown "$TOOL" activate "$S" "$TD" devA.act
    # A new token, a new challenge, the right proof.
    r=$(enrol_full devA ak1 rsa 0x81010001 yes)
    [ "$r" = ok ] && pass "RSA EK: enrolled after activation" || fail "RSA EK enrolment: $r"
    json_get devA.done certificate >devA.crt
    [ "$(json_get devA.done tier)" = hardware ] && pass "tier hardware" || fail "tier"
    openssl verify -CAfile "$S/device-ca.pem" -purpose sslclient devA.crt >/dev/null 2>&1 &&
        pass "openssl verifies the device certificate" || fail "openssl verify devA"
    openssl x509 -in devA.crt -noout -text | grep -q "URI:spiffe://$TD/device/$kidA" &&
        pass "device certificate SAN" || fail "device certificate SAN"
    # Replayed proof after success.
    expect enroll-activation-unknown "$TOOL" activate "$S" "$TD" devA.act

    # Row 16: device B with A's AK; device A again.
    tok=$(token)
    request "$tok" devB.jwk ek-rsa.der ek-rsa.pub ak1.pub >devB.req
    expect enroll-identity-in-use "$TOOL" enroll "$S" "$TD" roots devB.req
    tok=$(token)
    request "$tok" devA.jwk ek-ecc.der ek-ecc.pub ak1.pub >devA2.req
    expect enroll-device-exists "$TOOL" enroll "$S" "$TD" roots devA2.req

    # Row 13: AK attributes wrong (not restricted; sign + decrypt).
    make_ak akbad1 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|noda'
    make_ak akbad2 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|decrypt|noda' \
        ecc256:null:null
    make_ak akbad3 'sensitivedataorigin|userwithauth|restricted|sign|noda'
    for a in akbad1 akbad2 akbad3; do
        tok=$(token)
        request "$tok" devC.jwk ek-ecc.der ek-ecc.pub $a.pub >devC.req
        expect enroll-ak-rejected "$TOOL" enroll "$S" "$TD" roots devC.req
    done

    # ECC (P-384) EK, device C with its own AK, and row 14: the client's AK name (of another
    # key) is ignored: activation works because we computed the name of the AK sent.
    make_ak ak2 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign'
    if cmp -s ak1.name ak2.name; then
        fail "ak2 is ak1"
    fi
    tok=$(token)
    request "$tok" devC.jwk ek-ecc.der ek-ecc.pub ak2.pub ak1.name >devC.req
    "$TOOL" enroll "$S" "$TD" roots devC.req >devC.resp 2>&1 || fail "enrol C: $(cat devC.resp)"
    credential devC.resp devC.cred
    activate_tpm ak2 0x81010016 no devC.cred devC.secret &&
        pass "tpm2_activatecredential recovers our secret (ECC P-384 EK)" ||
        fail "activatecredential (ECC): $(cat act.out)"
    activation devC.resp devC.secret "$(thumbprint devC.jwk)" >devC.act
    # Whoever knows the pending kid cannot burn the attempt: the right proof signed by another
    # key (with C's JWK, or with its own), or unsigned, is refused and leaves the attempt.
    POP=key:devB.key activation devC.resp devC.secret "$(thumbprint devC.jwk)" >devC.forged1
    expect enroll-pop-invalid "$TOOL" activate "$S" "$TD" devC.forged1
    POP=jwk:devB.key activation devC.resp devC.secret "$(thumbprint devC.jwk)" >devC.forged2
    expect enroll-pop-invalid "$TOOL" activate "$S" "$TD" devC.forged2
    POP=none activation devC.resp devC.secret "$(thumbprint devC.jwk)" >devC.unsigned
    expect enroll-pop-missing "$TOOL" activate "$S" "$TD" devC.unsigned
    expect "{" "$TOOL" activate "$S" "$TD" devC.act

    # Row 16: two devices with the same new AK, both pending, activated at once: one wins.
    # (Every EK of this TPM is enrolled by now: the admin revokes device C first, which frees
    # the ECC EK; its AK is then free too.)
    "$TOOL" revoke "$S" "$TD" "$(thumbprint devC.jwk)" || fail "revoke C"
    make_ak ak3 'fixedtpm|fixedparent|sensitivedataorigin|restricted|sign|noda'
    for d in devD devE; do
        tok=$(token)
        request "$tok" $d.jwk ek-ecc.der ek-ecc.pub ak3.pub >$d.req
        "$TOOL" enroll "$S" "$TD" roots $d.req >$d.resp 2>&1 || fail "enrol $d: $(cat $d.resp)"
    done
    for d in devD devE; do
        credential $d.resp $d.cred
        activate_tpm ak3 0x81010016 no $d.cred $d.secret || fail "activate $d: $(cat act.out)"
        activation $d.resp $d.secret "$(thumbprint $d.jwk)" >$d.act
    done
    "$TOOL" activate "$S" "$TD" devD.act >devD.done 2>&1 &
    p1=$!
    "$TOOL" activate "$S" "$TD" devE.act >devE.done 2>&1 &
    p2=$!
    wait $p1
    wait $p2
    wins=0
    for d in devD devE; do
        [ "$(head -c 1 $d.done)" = "{" ] && wins=$((wins + 1))
    done
    losers=$(cat devD.done devE.done | grep -c '^enroll-identity-in-use$')
    [ $wins -eq 1 ] && [ "$losers" -eq 1 ] && pass "concurrent activations with one AK: one wins" ||
        fail "concurrent: $(head -n 1 devD.done) / $(head -n 1 devE.done)"

    # Every enrolment step is in the audit log (sqlite3 reads the store independently).
    if command -v sqlite3 >/dev/null 2>&1; then
        n=$(sqlite3 "$S/store.db" "select count(*) from audit where kind = 'enroll'" 2>/dev/null)
        [ "${n:-0}" -ge 10 ] && pass "audit rows: $n" || fail "audit rows: '${n:-}'"
    fi
    swtpm_shutdown
    finish
}

# ratelimit: `posture-verifier serve` with small [enroll] buckets, driven by curl: an unsigned
# (old agent's) request answered 400 naming "pop"; a forged one 401 and the token still good;
# 429 with Retry-After after the burst, allowed again after it; the failure bucket; /metrics.
case_ratelimit() {
    command -v curl >/dev/null 2>&1 || {
        echo "enroll.sh: curl not installed"
        [ "${CI:-}" = true ] && exit 1
        exit 77
    }
    W=$(mktemp -d) || exit 2
    pid=
    trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$W"' EXIT
    cd "$W" || exit 2
    ap=$(free_port)
    gp=$(free_port)
    mkdir -p state policies
    cat >v.conf <<CONF
[verifier]
state_dir = $W/state
trust_domain = $TD
[listen]
agents = 127.0.0.1:$ap
gateways = 127.0.0.1:$gp
threads = 2
[tls]
cert = $W/tls.crt
key = $W/tls.key
[enroll]
ek_roots = $W/ek-roots
rate_per_ip = 30
burst_per_ip = 3
failures_per_ip = 60
failure_burst_per_ip = 2
clients_max = 64
[policy]
dir = $W/policies
CONF
    "$PV" serve --config v.conf >log 2>&1 &
    pid=$!
    i=0
    until curl -s -o /dev/null "http://127.0.0.1:$gp/healthz"; do
        i=$((i + 1))
        if [ $i -ge 100 ] || ! kill -0 "$pid" 2>/dev/null; then
            fail "serve did not start: $(cat log)"
            finish
        fi
        sleep 0.1
    done
    device_key devR
    device_key devX
    device_key devY
    tok=$("$PV" token create --config v.conf)
    POP=none request "$tok" devR.jwk >unsigned.json
    POP=key:devX.key request "$tok" devR.jwk >forged.json
    request "$tok" devR.jwk >good.json

    # 1: an old agent's request: 400, the problem names the missing "pop"
    c=$(post unsigned.json)
    if [ "$c" = 400 ] && [ "$(ptype)" = urn:posture:problem:enroll-pop-missing ] &&
        grep -q '\\"pop\\"' out; then
        pass "unsigned request: 400 enroll-pop-missing, the detail names \"pop\""
    else
        fail "unsigned request: $c $(cat out)"
    fi
    # 2: signed by another key: 401, and the token is not spent
    c=$(post forged.json)
    [ "$c" = 401 ] && [ "$(ptype)" = urn:posture:problem:enroll-pop-invalid ] &&
        pass "forged pop: 401 enroll-pop-invalid" || fail "forged pop: $c $(cat out)"
    # 3: the rightful device, same token
    c=$(post good.json)
    [ "$c" = 201 ] && [ "$(json_get out device_id)" = "$(thumbprint devR.jwk)" ] &&
        pass "the rightful device enrols with the token after the forged attempt" ||
        fail "rightful device: $c $(cat out)"
    # 4: the burst (3) is used up: 429 with Retry-After (30/min: 2 s)
    c=$(post good.json)
    ra=$(retry_after)
    if [ "$c" = 429 ] && [ "$(ptype)" = urn:posture:problem:rate-limited ] &&
        [ "${ra:-0}" -ge 1 ] && [ "${ra:-0}" -le 2 ]; then
        pass "429 after the burst, Retry-After: $ra"
    else
        fail "after the burst: $c retry-after '$ra' $(cat out)"
    fi
    [ "$(metric 'posture_enroll_rate_limited_total{scope="ip"}')" = 1 ] &&
        pass "/metrics counts the refusal (scope ip)" || fail "metrics: $(metric rate_limited)"
    # 5: after Retry-After: allowed again (the token is used by now: 401, not 429)
    sleep "${ra:-2}"
    c=$(post good.json)
    [ "$c" = 401 ] && [ "$(ptype)" = urn:posture:problem:enroll-token-used ] &&
        pass "allowed again after Retry-After" || fail "after Retry-After: $c $(cat out)"
    # 6: that was the second refused attempt (burst 2): the address is refused for about a
    # minute now, even a good request
    sleep 2
    tok=$("$PV" token create --config v.conf)
    request "$tok" devY.jwk >good2.json
    c=$(post good2.json)
    ra=$(retry_after)
    if [ "$c" = 429 ] && [ "${ra:-0}" -gt 2 ] && [ "${ra:-0}" -le 60 ]; then
        pass "refused attempts: 429 for the address, Retry-After: $ra"
    else
        fail "failure bucket: $c retry-after '$ra' $(cat out)"
    fi
    [ "$(metric 'posture_enroll_rate_limited_total{scope="failures"}')" = 1 ] &&
        pass "/metrics counts the refusal (scope failures)" || fail "metrics: $(metric rate_limited)"
    kill -TERM "$pid"
    wait "$pid" || fail "serve exited with $? (ASan?): $(tail -n 20 log)"
    pid=
    finish
}
free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
post() { # BODY-FILE: the status; the body in out, the headers in hdr
    curl -sS --max-time 20 --cacert tls.crt -o out -D hdr -w '%{http_code}' \
        -H 'Content-Type: application/json' --data-binary @"$1" "https://127.0.0.1:$ap/v1/enroll"
}
ptype() { json_get out type 2>/dev/null; }
retry_after() { tr -d '\r' <hdr | sed -n 's/^[Rr]etry-[Aa]fter: //p'; }
metric() { curl -s "http://127.0.0.1:$gp/metrics" | grep -F "$1" | sed 's/.* //'; }

case "$CASE" in
keys) case_keys ;;
ratelimit) case_ratelimit ;;
ekcert) case_ekcert ;;
enrol) case_enrol ;;
*)
    echo "enroll.sh: unknown case $CASE" >&2
    exit 2
    ;;
esac
