#!/bin/sh
# The TPM-resident device key through posturectl ([tpm] enabled, DESIGN.md §5, §7).
#   tpmkey.sh POSTURECTL SRCDIR CASE
# CASE:
#   tpm          swtpm, enabled = yes: `key --pem` makes the key in the TPM; device.key is a
#                TSS2 PRIVATE KEY, mode 0600 (umask 000); `openssl pkey -provider tpm2` reads the
#                same public key from it (independent of posturectl); the report's JWS verifies
#                with python3-jwt and the jwt CLI (ES256, typ posture+jwt, kid = RFC 7638
#                thumbprint); a second run reuses the key; enabled = no refuses the TSS2 key;
#                after TPM2_Clear the key cannot be loaded: exit 2, the file is left alone.
#   unreachable  swtpm stopped, enabled = yes: exit 2 naming the TCTI, with or without a key,
#                and no key file appears; enabled = auto with the TSS2 key: the same.
#   auto-file    enabled = auto, tcti = device:/nonexistent: a key file (PKCS#8 PEM).
#   keep-file    an existing key file with enabled = yes: kept (same key, unchanged file),
#                with a notice; the TPM is not contacted.
#   tss2-kept    a TSS2 key file and no TPM: enabled = no and auto refuse it (exit 2) and never
#                replace it.
set -u

posturectl=$1
SRCDIR=$2
case_name=$3
name=attest.tpmkey/$case_name
py=/usr/bin/python3 # Debian's, which has python3-jwt

LC_ALL=C.UTF-8
export LC_ALL
unset POSTURE_LOG_LEVEL JOURNAL_STREAM TPM2OPENSSL_TCTI || true

skip() {
    echo "$name: SKIP: $*"
    exit 77
}

need_tpm_tools() {
    for tool in openssl jwt "$py"; do
        command -v "$tool" >/dev/null 2>&1 ||
            skip "$tool is not installed (packaging/install-deps.sh installs it)"
    done
    "$py" -c 'import jwt, cryptography' 2>/dev/null ||
        skip "python3-jwt is not installed (packaging/install-deps.sh installs it)"
    moddir=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
    [ -f "${OPENSSL_MODULES:-$moddir}/tpm2.so" ] ||
        skip "the tpm2 OpenSSL provider is not installed (tpm2-openssl)"
    . "$SRCDIR/tests/lib/swtpm.sh"
    swtpm_start
    rc=$?
    trap cleanup EXIT # swtpm_start set its own
    [ $rc = 0 ] || exit $rc
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/posture-tpmkey.XXXXXX")
status=0
cleanup() {
    if command -v swtpm_stop >/dev/null 2>&1; then
        swtpm_stop
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "$name: FAIL: $*" >&2
    status=1
}

state=$tmp/state
key=$state/device.key
root=$SRCDIR/tests/fixtures/roots/os-release/debian-12

# conf FILE ENABLED TCTI
conf() {
    printf '[agent]\nstate_dir = %s\n[tpm]\nenabled = %s\ntcti = %s\n' "$state" "$2" "$3" >"$1"
}

# expect_error WHAT PATTERN CONF: `posturectl key` exits 2, prints nothing on stdout and
# PATTERN on stderr.
expect_error() {
    "$posturectl" key --config "$3" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" = 2 ] || fail "$1: exit status $rc, expected 2 (stderr: $(cat "$tmp/err"))"
    [ -s "$tmp/out" ] && fail "$1: printed to stdout: $(cat "$tmp/out")"
    grep -q -- "$2" "$tmp/err" || fail "$1: stderr lacks '$2': $(cat "$tmp/err")"
}

# The fixed shape of a TSS2 key, for the cases without a TPM (no TPM can load it).
fake_tss2() {
    mkdir -m 0700 "$state"
    cat >"$key" <<'PEM'
-----BEGIN TSS2 PRIVATE KEY-----
MIHwBgZngQUKAQOgAwEBAQIEQAAAAQRYAFYAIwALAAYAcgAAABAAEAADABAAIN71
-----END TSS2 PRIVATE KEY-----
PEM
    chmod 0600 "$key"
}

verify_report() { # TOKEN PUBPEM JWK
    "$py" - "$1" "$2" "$3" >"$tmp/py.out" 2>&1 <<'PY' || fail "python3-jwt: $(cat "$tmp/py.out")"
import base64, hashlib, json, sys
import jwt

tok = open(sys.argv[1]).read().strip()
pem = open(sys.argv[2], "rb").read()
jwk = json.load(open(sys.argv[3]))
errors = []
canon = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"),
                   sort_keys=True)
thumb = base64.urlsafe_b64encode(hashlib.sha256(canon.encode()).digest()).rstrip(b"=").decode()
hdr = jwt.get_unverified_header(tok)
if hdr != {"alg": "ES256", "typ": "posture+jwt", "kid": thumb}:
    errors.append("header %r (thumbprint %s)" % (hdr, thumb))
c = jwt.decode(tok, pem, algorithms=["ES256"], audience="posture-verifier",
               options={"require": ["exp", "iat", "sub"]})
if c["sub"] != thumb:
    errors.append("sub %r" % c["sub"])
jwt.decode(tok, jwt.PyJWK(jwk).key, algorithms=["ES256"], audience="posture-verifier")
sig = base64.urlsafe_b64decode(tok.split(".")[2] + "==")
if len(sig) != 64:
    errors.append("signature of %d bytes" % len(sig))
# A flipped signature bit is refused: the verification is real.
h, p, s = tok.split(".")
bad = bytearray(sig)
bad[10] ^= 1
s2 = base64.urlsafe_b64encode(bytes(bad)).rstrip(b"=").decode()
try:
    jwt.decode(".".join((h, p, s2)), pem, algorithms=["ES256"], audience="posture-verifier")
    errors.append("a tampered signature verified")
except jwt.InvalidSignatureError:
    pass
if errors:
    print("\n".join(errors))
    sys.exit(1)
PY
    if ! jwt -key "$2" -alg ES256 -verify "$1" >"$tmp/cli.out" 2>&1; then
        fail "jwt -verify: $(cat "$tmp/cli.out")"
    fi
}

case $case_name in
tpm)
    need_tpm_tools
    conf "$tmp/yes.conf" yes "$SWTPM_TCTI"
    if ! (umask 000 && "$posturectl" key --pem --config "$tmp/yes.conf" >"$tmp/pub.pem" 2>"$tmp/err"); then
        fail "posturectl key --pem: $(cat "$tmp/err")"
    fi
    grep -q "TPM-resident device key" "$tmp/err" || fail "no info line on the key source: $(cat "$tmp/err")"
    [ "$(head -n 1 "$key" 2>/dev/null)" = "-----BEGIN TSS2 PRIVATE KEY-----" ] ||
        fail "device.key does not start with the TSS2 header: $(head -n 1 "$key" 2>&1)"
    mode=$(stat -c %a "$key" 2>/dev/null)
    [ "$mode" = 600 ] || fail "device.key mode is '$mode', expected 600"
    cp "$key" "$tmp/key.orig"
    openssl ec -pubin -in "$tmp/pub.pem" -text -noout 2>/dev/null | grep -q 'ASN1 OID: prime256v1' ||
        fail "posturectl key --pem is not a P-256 public key"

    # Independent: OpenSSL's tpm2 provider loads the key file itself.
    if ! TPM2OPENSSL_TCTI=$SWTPM_TCTI openssl pkey -provider tpm2 -provider default -in "$key" \
        -pubout >"$tmp/pub-openssl.pem" 2>"$tmp/err"; then
        fail "openssl pkey -provider tpm2: $(cat "$tmp/err")"
    fi
    cmp -s "$tmp/pub.pem" "$tmp/pub-openssl.pem" ||
        fail "posturectl and openssl see different public keys"

    "$posturectl" key --jwk --config "$tmp/yes.conf" >"$tmp/jwk.json" 2>"$tmp/err" ||
        fail "posturectl key --jwk: $(cat "$tmp/err")"
    "$posturectl" report --only os.release --root "$root" --config "$tmp/yes.conf" \
        >"$tmp/r1.jws" 2>"$tmp/err" || fail "posturectl report: $(cat "$tmp/err")"
    verify_report "$tmp/r1.jws" "$tmp/pub.pem" "$tmp/jwk.json"

    # The TPM key and the TPM quote in one run (two users of the TPM in one process).
    nonce=$("$py" -c 'import base64, secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode())')
    "$posturectl" report --only os.release --root "$root" --config "$tmp/yes.conf" \
        --nonce "$nonce" --evidence "$tmp/evidence.json" >"$tmp/r3.jws" 2>"$tmp/err" ||
        fail "posturectl report --evidence: $(cat "$tmp/err")"
    "$py" -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/evidence.json" 2>/dev/null ||
        fail "report --evidence wrote no JSON evidence"
    verify_report "$tmp/r3.jws" "$tmp/pub.pem" "$tmp/jwk.json"

    # A second run reuses the key: same file, same kid, another verifiable report.
    "$posturectl" key --jwk --config "$tmp/yes.conf" >"$tmp/jwk2.json" 2>"$tmp/err" ||
        fail "posturectl key --jwk (again): $(cat "$tmp/err")"
    cmp -s "$tmp/jwk.json" "$tmp/jwk2.json" || fail "the key changed between runs"
    cmp -s "$key" "$tmp/key.orig" || fail "device.key was rewritten"
    "$posturectl" report --only os.release --root "$root" --config "$tmp/yes.conf" \
        >"$tmp/r2.jws" 2>"$tmp/err" || fail "posturectl report (again): $(cat "$tmp/err")"
    verify_report "$tmp/r2.jws" "$tmp/pub.pem" "$tmp/jwk.json"
    # auto finds the same key (a non-device TCTI counts as usable).
    conf "$tmp/auto.conf" auto "$SWTPM_TCTI"
    "$posturectl" key --jwk --config "$tmp/auto.conf" >"$tmp/jwk3.json" 2>"$tmp/err" ||
        fail "posturectl key (auto): $(cat "$tmp/err")"
    cmp -s "$tmp/jwk.json" "$tmp/jwk3.json" || fail "auto opened another key"

    # enabled = no: the TSS2 key is refused, not replaced by a key file.
    conf "$tmp/no.conf" no "$SWTPM_TCTI"
    expect_error "TSS2 key with enabled = no" "enabled = no" "$tmp/no.conf"
    cmp -s "$key" "$tmp/key.orig" || fail "enabled = no touched device.key"

    # TPM2_Clear changes the storage seed: the key is lost, which is an error, not a new key.
    if tpm2_clear -c p >/dev/null 2>&1 || tpm2_clear >/dev/null 2>&1; then
        expect_error "key of a cleared TPM" "cannot load the device key" "$tmp/yes.conf"
        grep -q -- "$SWTPM_TCTI" "$tmp/err" || fail "cleared TPM: the TCTI is not named"
        cmp -s "$key" "$tmp/key.orig" || fail "a cleared TPM replaced device.key"
    else
        fail "tpm2_clear failed"
    fi
    ;;
unreachable)
    need_tpm_tools
    tcti=$SWTPM_TCTI
    conf "$tmp/yes.conf" yes "$tcti"
    "$posturectl" key --config "$tmp/yes.conf" >/dev/null 2>"$tmp/err" ||
        fail "posturectl key: $(cat "$tmp/err")"
    cp "$key" "$tmp/key.orig"
    swtpm_stop
    expect_error "TPM stopped" "$tcti" "$tmp/yes.conf"
    grep -q "cannot reach the TPM" "$tmp/err" || fail "TPM stopped: unclear error: $(cat "$tmp/err")"
    cmp -s "$key" "$tmp/key.orig" || fail "device.key changed while the TPM was away"
    "$posturectl" report --only os.release --root "$root" --config "$tmp/yes.conf" \
        >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" = 2 ] || fail "report with the TPM stopped: exit status $rc, expected 2"
    grep -q -- "$tcti" "$tmp/err" || fail "report: the TCTI is not named: $(cat "$tmp/err")"

    # auto with the TPM's key: still the TPM, so the same error, and never a new key.
    conf "$tmp/auto.conf" auto "$tcti"
    expect_error "auto, TPM stopped" "$tcti" "$tmp/auto.conf"
    cmp -s "$key" "$tmp/key.orig" || fail "auto replaced the TPM's key"

    # No key yet and no TPM: nothing is created.
    rm -f "$key"
    expect_error "no key, TPM stopped" "$tcti" "$tmp/yes.conf"
    [ -e "$key" ] && fail "a key file appeared without a TPM"
    ;;
auto-file)
    command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
    conf "$tmp/auto.conf" auto device:/nonexistent
    "$posturectl" key --pem --config "$tmp/auto.conf" >"$tmp/pub.pem" 2>"$tmp/err" ||
        fail "posturectl key: $(cat "$tmp/err")"
    grep -q "Using the device key file" "$tmp/err" || fail "no info line on the key source: $(cat "$tmp/err")"
    [ "$(head -n 1 "$key" 2>/dev/null)" = "-----BEGIN PRIVATE KEY-----" ] ||
        fail "device.key is not a PKCS#8 key file: $(head -n 1 "$key" 2>&1)"
    openssl pkey -in "$key" -pubout 2>/dev/null | cmp -s - "$tmp/pub.pem" ||
        fail "openssl reads another public key from device.key"
    ;;
keep-file)
    conf "$tmp/no.conf" no device:/nonexistent
    "$posturectl" key --config "$tmp/no.conf" >"$tmp/jwk.json" 2>"$tmp/err" ||
        fail "posturectl key (enabled = no): $(cat "$tmp/err")"
    cp "$key" "$tmp/key.orig"
    # enabled = yes with a TCTI nothing listens on: the key file is used, the TPM never asked.
    conf "$tmp/yes.conf" yes "swtpm:host=127.0.0.1,port=1"
    "$posturectl" key --config "$tmp/yes.conf" >"$tmp/jwk2.json" 2>"$tmp/err" ||
        fail "posturectl key (enabled = yes, key file): $(cat "$tmp/err")"
    grep -q "keeping it although \[tpm\] enabled = yes" "$tmp/err" ||
        fail "no notice about the kept key file: $(cat "$tmp/err")"
    cmp -s "$tmp/jwk.json" "$tmp/jwk2.json" || fail "the key changed"
    cmp -s "$key" "$tmp/key.orig" || fail "device.key was rewritten"
    ;;
tss2-kept)
    fake_tss2
    cp "$key" "$tmp/key.orig"
    conf "$tmp/no.conf" no device:/nonexistent
    expect_error "TSS2 key, enabled = no" "enabled = no" "$tmp/no.conf"
    conf "$tmp/auto.conf" auto device:/nonexistent
    expect_error "TSS2 key, no TPM device" "device:/nonexistent" "$tmp/auto.conf"
    cmp -s "$key" "$tmp/key.orig" || fail "device.key was replaced"
    ;;
*)
    echo "$name: unknown case" >&2
    exit 2
    ;;
esac

if [ "$status" = 0 ]; then
    echo "$name: OK"
fi
exit "$status"
