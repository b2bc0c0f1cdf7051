#!/bin/sh
# posturectl key / report against independent verifiers:
#   - openssl: the PEM is an EC prime256v1 public key;
#   - python3 (hashlib): the RFC 7638 thumbprint recomputed from the JWK equals kid;
#   - python3-jwt (PyJWT + cryptography): the JWS verifies with the PEM, ES256 only; header and
#     claims are as DESIGN.md §7 says; a tampered token is refused;
#   - the Debian jwt CLI (golang-jwt): verifies the token with the PEM and ES256.
# Also the key file's mode under umask 000, the persisted seq, and the clear errors for a bad
# nonce, a group-readable key and a key on the wrong curve.
# Arguments: POSTURECTL FIXTURE_ROOT.
set -u

posturectl=$1
root=$2
name=attest.jws/report
# Debian's python3, which has python3-jwt (a python3 earlier in PATH may not).
py=/usr/bin/python3

for tool in openssl jwt "$py"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$name: SKIP: $tool is not installed (packaging/install-deps.sh installs it)"
        exit 77
    fi
done
if ! "$py" -c 'import jwt, cryptography' 2>/dev/null; then
    echo "$name: SKIP: python3-jwt is not installed (packaging/install-deps.sh installs it)"
    exit 77
fi

LC_ALL=C.UTF-8
export LC_ALL
unset POSTURE_LOG_LEVEL JOURNAL_STREAM || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/posture-jws.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
status=0
fail() {
    echo "$name: FAIL: $*" >&2
    status=1
}

state=$tmp/state
conf=$tmp/agent.conf
# A key file (the TPM-resident key is integration/attest.tpmkey's), whatever TPM this machine has.
printf '[agent]\nstate_dir = %s\n[tpm]\nenabled = no\n' "$state" >"$conf"

# 1. The key is created on first use, 0600 in a 0700 directory, whatever the umask.
if ! (umask 000 && "$posturectl" key --pem --config "$conf" >"$tmp/pub.pem" 2>"$tmp/err"); then
    fail "posturectl key --pem: $(cat "$tmp/err")"
fi
mode=$(stat -c %a "$state/device.key" 2>/dev/null)
[ "$mode" = 600 ] || fail "device.key mode is '$mode', expected 600"
mode=$(stat -c %a "$state" 2>/dev/null)
[ "$mode" = 700 ] || fail "state directory mode is '$mode', expected 700"
if ! openssl ec -pubin -in "$tmp/pub.pem" -text -noout 2>/dev/null | grep -q 'ASN1 OID: prime256v1'; then
    fail "openssl does not see a prime256v1 public key in the PEM"
fi
# The private key file is an unencrypted P-256 key that openssl reads.
if ! openssl pkey -in "$state/device.key" -noout 2>/dev/null; then
    fail "openssl cannot read device.key"
fi

"$posturectl" key --config "$conf" >"$tmp/jwk.json" 2>"$tmp/err" || fail "posturectl key: $(cat "$tmp/err")"
"$posturectl" key --jwk --config "$conf" >"$tmp/jwk2.json" 2>"$tmp/err" || fail "posturectl key --jwk"
cmp -s "$tmp/jwk.json" "$tmp/jwk2.json" || fail "key and key --jwk differ (or the key changed)"

# 2. Two reports with a nonce.
nonce=$("$py" -c 'import base64, secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode())')
for i in 1 2; do
    if ! "$posturectl" report --nonce "$nonce" --root "$root" --only os.release --config "$conf" \
        >"$tmp/report$i.jws" 2>"$tmp/err"; then
        fail "posturectl report ($i): $(cat "$tmp/err")"
    fi
done

# 3. python3-jwt verifies them and checks header and claims.
if ! "$py" - "$tmp" "$nonce" >"$tmp/py.out" 2>&1 <<'PY'; then
import base64, hashlib, json, sys
import jwt
from cryptography.hazmat.primitives import serialization

tmp, nonce = sys.argv[1], sys.argv[2]
pem = open(tmp + "/pub.pem", "rb").read()
jwk = json.load(open(tmp + "/jwk.json"))
errors = []

def check(cond, what):
    if not cond:
        errors.append(what)

def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

# RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
canon = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"),
                   sort_keys=True)
thumb = base64.urlsafe_b64encode(hashlib.sha256(canon.encode()).digest()).rstrip(b"=").decode()
check(jwk.get("kid") == thumb, "JWK kid %r is not the RFC 7638 thumbprint %r" % (jwk.get("kid"), thumb))
nums = serialization.load_pem_public_key(pem).public_numbers()
check(b64d(jwk["x"]) == nums.x.to_bytes(32, "big") and b64d(jwk["y"]) == nums.y.to_bytes(32, "big"),
      "JWK x/y differ from the PEM")
check(len(b64d(jwk["x"])) == 32 and "=" not in jwk["x"] + jwk["y"], "JWK coordinates not 32 bytes unpadded")

claims = []
for i in (1, 2):
    tok = open("%s/report%d.jws" % (tmp, i)).read().strip()
    hdr = jwt.get_unverified_header(tok)
    check(hdr == {"alg": "ES256", "typ": "posture+jwt", "kid": thumb}, "header %r" % hdr)
    c = jwt.decode(tok, pem, algorithms=["ES256"], audience="posture-verifier",
                   options={"require": ["exp", "iat", "aud", "iss", "sub", "jti"]})
    # The same through the JWK.
    jwt.decode(tok, jwt.PyJWK(jwk).key, algorithms=["ES256"], audience="posture-verifier")
    claims.append(c)
    check(len(b64d(tok.split(".")[2])) == 64, "signature is not raw r||s of 64 bytes")
    check(c["iss"] == thumb and c["sub"] == thumb, "iss/sub %r/%r" % (c["iss"], c["sub"]))
    check(c["exp"] - c["iat"] == 120, "exp - iat = %d" % (c["exp"] - c["iat"]))
    check(c["eat_nonce"] == nonce, "eat_nonce %r" % c.get("eat_nonce"))
    check(c["eat_profile"] == "tag:posture.dev,2026:report/v1", "eat_profile %r" % c.get("eat_profile"))
    ueid = b64d(c["ueid"])
    check(ueid == b"\x01" + b64d(thumb), "ueid is not 0x01 || thumbprint")
    check(c["swname"] == "posture" and isinstance(c["swversion"], list), "swname/swversion")
    check(len(b64d(c["jti"])) == 16, "jti is not 16 bytes")
    p = c["posture"]
    check(set(p) == {"collected_at", "checks"}, "posture members %r" % sorted(p))
    check([x["id"] for x in p["checks"]] == ["os.release"], "checks %r" % p["checks"])
    check(p["checks"][0]["status"] == "pass", "os.release status %r" % p["checks"][0]["status"])
    # Tampering with the payload breaks the signature.
    h, pl, s = tok.split(".")
    forged = json.loads(b64d(pl))
    forged["posture"]["checks"][0]["status"] = "pass" if p["checks"][0]["status"] != "pass" else "fail"
    pl2 = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    try:
        jwt.decode(".".join((h, pl2, s)), pem, algorithms=["ES256"], audience="posture-verifier")
        errors.append("tampered token verified")
    except jwt.InvalidSignatureError:
        pass
    # Declaring HS256 with the public key as the secret is refused (algorithm confusion).
    try:
        jwt.decode(tok, pem, algorithms=["HS256"], audience="posture-verifier")
        errors.append("HS256 accepted")
    except jwt.InvalidTokenError:
        pass

check(claims[1]["seq"] == claims[0]["seq"] + 1 and claims[0]["seq"] == 1,
      "seq %r, %r" % (claims[0]["seq"], claims[1]["seq"]))
check(claims[0]["jti"] != claims[1]["jti"], "jti repeated")
if errors:
    print("\n".join(errors))
    sys.exit(1)
PY
    fail "python3-jwt: $(cat "$tmp/py.out")"
fi
[ "$(cat "$state/report.seq" 2>/dev/null)" = 2 ] || fail "report.seq is '$(cat "$state/report.seq" 2>/dev/null)', expected 2"

# 4. The Debian jwt CLI (golang-jwt) verifies with the PEM; a tampered signature fails.
if ! jwt -key "$tmp/pub.pem" -alg ES256 -verify "$tmp/report1.jws" >"$tmp/cli.out" 2>&1; then
    fail "jwt -verify: $(cat "$tmp/cli.out")"
elif ! grep -q '"eat_nonce"' "$tmp/cli.out"; then
    fail "jwt -verify printed no claims: $(cat "$tmp/cli.out")"
fi
"$py" - "$tmp/report1.jws" >"$tmp/bad.jws" <<'PY'
import sys
h, p, s = open(sys.argv[1]).read().strip().split(".")
s = ("B" if s[0] == "A" else "A") + s[1:]
print(".".join((h, p, s)))
PY
if jwt -key "$tmp/pub.pem" -alg ES256 -verify "$tmp/bad.jws" >/dev/null 2>&1; then
    fail "jwt -verify accepted a tampered signature"
fi

# 5. Clear errors, exit status 2.
expect_error() { # WHAT PATTERN ARGS...
    what=$1
    pattern=$2
    shift 2
    "$posturectl" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" = 2 ] || fail "$what: exit status $rc, expected 2"
    [ -s "$tmp/out" ] && fail "$what: printed to stdout: $(cat "$tmp/out")"
    grep -q -- "$pattern" "$tmp/err" || fail "$what: stderr lacks '$pattern': $(cat "$tmp/err")"
}
expect_error "padded nonce" "--nonce" report --nonce "AAAAAAAAAAA=" --only os.release --config "$conf"
expect_error "short nonce" "8 to 64 bytes" report --nonce "AAAA" --only os.release --config "$conf"
expect_error "standard base64 nonce" "--nonce" report --nonce "AAAAAAAAAA+/" --only os.release --config "$conf"
expect_error "unknown option" "unknown option" key --evidence x --config "$conf"

chmod 0644 "$state/device.key"
expect_error "group-readable key" "chmod 600" report --only os.release --config "$conf"
expect_error "group-readable key (key)" "chmod 600" key --config "$conf"
chmod 0600 "$state/device.key"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/p384.key" 2>/dev/null
install -m 0600 "$tmp/p384.key" "$state/device.key"
expect_error "P-384 key" "not an EC P-256 key" key --config "$conf"

printf '[agent]\nstate_dir = %s/missing/state\n' "$tmp" >"$tmp/missing.conf"
expect_error "state directory's parent missing" "state_dir" key --config "$tmp/missing.conf"

if [ "$status" = 0 ]; then
    echo "$name: OK"
fi
exit "$status"
