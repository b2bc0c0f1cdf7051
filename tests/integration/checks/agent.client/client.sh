#!/bin/sh
# posture_client against an independent HTTPS server (python3's ssl + http.server) with
# certificates made by the openssl CLI. Arguments: CLIENT_TOOL SRCDIR [POSTURECTL]; with
# POSTURECTL (a build with TPM support) mutual TLS is also done with the device key held in a
# swtpm through the tpm2-openssl provider.
set -u
tool=$1
SRCDIR=$2
posturectl=${3:-}
name=agent.client
py=/usr/bin/python3
for t in openssl "$py"; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "$name: SKIP: $t is not installed"
        exit 77
    }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/posture-client.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT INT TERM
status=0
pass() { echo "$name: ok: $*"; }
fail() {
    echo "$name: FAIL: $*" >&2
    status=1
}
cd "$W" || exit 2

# A CA for the server, another CA, a server certificate for 127.0.0.1/localhost, one for
# another host name, and a device certificate (P-256) from a device CA.
ca() { # ca NAME
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
        -out "$1.pem" -days 2 -subj "/CN=$1" >/dev/null 2>&1
}
leaf() { # leaf NAME CA SAN EKU
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
        -out "$1.csr" -subj "/CN=$1" >/dev/null 2>&1 &&
        printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$3" "$4" >"$1.ext" &&
        openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
            -days 2 -extfile "$1.ext" -out "$1.pem" >/dev/null 2>&1
}
ca verifier-ca && ca other-ca && ca device-ca || exit 2
leaf server verifier-ca "IP:127.0.0.1,DNS:localhost" serverAuth || exit 2
leaf wronghost verifier-ca "DNS:verifier.example" serverAuth || exit 2
leaf device device-ca "URI:spiffe://corp.example/device/test" clientAuth || exit 2
leaf intruder other-ca "URI:spiffe://corp.example/device/intruder" clientAuth || exit 2
chmod 600 ./*.key

start() { # start CERT KEY [CLIENT_CA] -> $PORT
    rm -f port.txt # the redirection below happens in the child, after this shell looks
    "$py" "$SRCDIR/tests/lib/https_server.py" "$@" >port.txt 2>server.err &
    PIDS="$PIDS $!"
    i=0
    while [ ! -s port.txt ] && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    PORT=$(head -n 1 port.txt)
    [ -n "$PORT" ] || {
        echo "$name: the test server did not start: $(cat server.err)" >&2
        exit 2
    }
}

expect() { # expect WANT-FIRST-LINE-PREFIX WHAT -- ARGS
    want=$1
    what=$2
    shift 3
    got=$("$tool" "$@" 2>tool.err | head -n 1)
    case "$got" in
    "$want"*) pass "$what -> $got" ;;
    *) fail "$what: expected '$want…', got '$got' ($(cat tool.err))" ;;
    esac
}

start server.pem server.key
U=https://127.0.0.1:$PORT
printf '{"hello":"world"}' >body.json
expect "status=200 type=application/json retry=-1 len=17" "POST echo with the pinned CA" -- \
    "$U" /echo --ca verifier-ca.pem --post body.json
expect "status=200 type=text/plain" "GET without client certificate" -- "$U" /whoami --ca verifier-ca.pem
expect "error=EPERM" "a server certificate from another CA" -- "$U" /echo --ca other-ca.pem
expect "error=EPERM" "the system trust store is not used" -- "$U" /echo --ca device-ca.pem
expect "status=503 type=application/problem+json retry=7" "503 with Retry-After: 7" -- \
    "$U" "/status/503?retry=7" --ca verifier-ca.pem
expect "status=429 type=application/problem+json retry=0" "Retry-After as a past HTTP date" -- \
    "$U" "/status/429?retry=Wed,%2021%20Oct%202015%2007:28:00%20GMT" --ca verifier-ca.pem
expect "status=500 type=application/problem+json retry=-1" "500 without Retry-After" -- \
    "$U" /status/500 --ca verifier-ca.pem
expect "status=200 type=text/html retry=-1" "a captive portal's HTML is reported as such" -- \
    "$U" /html --ca verifier-ca.pem
expect "status=302" "redirects are not followed" -- "$U" /redirect --ca verifier-ca.pem
expect "error=EMSGSIZE" "a 300 KiB body is over the cap" -- "$U" /big --ca verifier-ca.pem
expect "error=ETIMEDOUT" "a stalled server hits the total timeout" -- \
    "$U" /stall --ca verifier-ca.pem --timeout-ms 1500
expect "error=EINVAL" "plain http is refused" -- "http://127.0.0.1:$PORT" /echo
expect "error=ECONNREFUSED" "nobody listening" -- "https://127.0.0.1:1" /echo --ca verifier-ca.pem

# Host name verification: the same CA, a certificate for another name.
start wronghost.pem wronghost.key
expect "error=EPERM" "a certificate for another host name" -- \
    "https://127.0.0.1:$PORT" /echo --ca verifier-ca.pem

# Mutual TLS: the server requires a certificate from the device CA.
start server.pem server.key device-ca.pem
U=https://127.0.0.1:$PORT
expect "status=200 type=text/plain" "mTLS with the device certificate and key" -- \
    "$U" /whoami --ca verifier-ca.pem --cert device.pem --key device.key
got=$("$tool" "$U" /whoami --ca verifier-ca.pem --cert device.pem --key device.key 2>/dev/null | sed -n 2p)
[ "$got" = device ] && pass "the server saw the device certificate (CN=$got)" ||
    fail "the server saw '$got', expected 'device'"
expect "error=" "no client certificate: refused" -- "$U" /whoami --ca verifier-ca.pem
expect "error=" "a client certificate from another CA: refused" -- \
    "$U" /whoami --ca verifier-ca.pem --cert intruder.pem --key intruder.key
expect "error=EPERM" "a certificate with a key that is not its own" -- \
    "$U" /whoami --ca verifier-ca.pem --cert device.pem --key intruder.key

# Mutual TLS with the TPM-resident device key (tpm2-openssl): the TPM signs the handshake.
if [ -n "$posturectl" ]; then
    . "$SRCDIR/tests/lib/swtpm.sh"
    swtpm_have_tools || exit 77
    cleanup() {
        for p in $PIDS; do kill "$p" 2>/dev/null; done
        swtpm_stop
        rm -rf "$W"
    }
    swtpm_start || exit $?
    trap cleanup EXIT INT TERM # swtpm_start set its own EXIT trap; ours calls swtpm_stop too
    mkdir -p state
    printf '[agent]\nstate_dir = %s/state\n[tpm]\nenabled = yes\ntcti = %s\n' "$W" "$SWTPM_TCTI" >agent.conf
    if "$posturectl" key --pem --config agent.conf >tpm-pub.pem 2>key.err &&
        head -n 1 state/device.key | grep -q 'TSS2 PRIVATE KEY'; then
        printf 'extendedKeyUsage=clientAuth\n' >tpm.ext
        openssl x509 -new -subj /CN=tpmdevice -force_pubkey tpm-pub.pem -CA device-ca.pem \
            -CAkey device-ca.key -days 2 -extfile tpm.ext -out tpm.pem 2>/dev/null ||
            fail "openssl could not certify the TPM key"
        expect "status=200 type=text/plain" "mTLS with the TPM-resident key" -- \
            "$U" /whoami --ca verifier-ca.pem --cert tpm.pem --tpm-key state/device.key --tcti "$SWTPM_TCTI"
        got=$("$tool" "$U" /whoami --ca verifier-ca.pem --cert tpm.pem --tpm-key state/device.key \
            --tcti "$SWTPM_TCTI" 2>/dev/null | sed -n 2p)
        [ "$got" = tpmdevice ] && pass "the server saw the TPM key's certificate (CN=$got)" ||
            fail "the server saw '$got', expected 'tpmdevice'"
        # The TPM key with another key's certificate is refused before any handshake.
        expect "error=EPERM" "the TPM key with the file key's certificate" -- \
            "$U" /whoami --ca verifier-ca.pem --cert device.pem --tpm-key state/device.key --tcti "$SWTPM_TCTI"
    else
        fail "posturectl could not make a TPM key: $(cat key.err)"
    fi
fi

exit $status
