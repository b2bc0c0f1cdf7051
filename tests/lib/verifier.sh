# SPDX-License-Identifier: Apache-2.0
# Sourced by integration tests and benchmarks that need a real `posture-verifier serve` and
# devices enrolled into it with `posturectl enroll` (software tier). POSIX sh.
#
# The caller sets PV (posture-verifier), CTL (posturectl) and W (its work directory, the
# current directory) and keeps the process ids it must kill in PIDS; it defines its own
# pass/fail. Functions:
#   vt_free_port                  a free TCP port on 127.0.0.1
#   vt_wait_http URL [CURL ARGS]  until the URL answers at all (10 s); 1 if it never does
#   vt_verifier_conf DEFAULT      writes $W/verifier.conf: agents on $AP (TLS), gateways on $GP
#                                 (127.0.0.1 trusted), policies from $W/policies, DEFAULT policy
#   vt_verifier_start             serve in the background (VPID), then verifier-ca.pem and
#                                 device-ca.pem in $W
#   vt_enrol DIR [TCTI]           a device in $W/DIR (DIR.conf): token, enroll; with a TCTI its
#                                 key and evidence are in that TPM (the hardware tier, when
#                                 EK_ROOTS named the verifier's EK trust store); 1 on failure
#                                 with the reason in DIR.err
# EK_ROOTS (optional, before vt_verifier_conf): a directory of EK CA certificates.

vt_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

vt_wait_http() {
    _vt_url=$1
    shift
    _vt_i=0
    while [ $_vt_i -lt 100 ]; do
        curl -s -o /dev/null "$@" "$_vt_url" && return 0
        sleep 0.1
        _vt_i=$((_vt_i + 1))
    done
    return 1
}

vt_verifier_conf() {
    AP=${AP:-$(vt_free_port)}
    GP=${GP:-$(vt_free_port)}
    mkdir -p "$W/state" "$W/policies"
    cat >"$W/verifier.conf" <<EOC
[verifier]
state_dir = $W/state
trust_domain = test.example
[listen]
agents = 127.0.0.1:$AP
gateways = 127.0.0.1:$GP
trusted_gateways = 127.0.0.1/32
threads = 2
[tls]
cert = $W/state/tls.crt
key = $W/state/tls.key
[policy]
dir = $W/policies
default = $1
EOC
    if [ -n "${EK_ROOTS:-}" ]; then
        printf '[enroll]\nek_roots = %s\n' "$EK_ROOTS" >>"$W/verifier.conf"
    fi
}

vt_verifier_start() {
    "$PV" serve --config "$W/verifier.conf" >>"$W/verifier.log" 2>&1 &
    VPID=$!
    PIDS="$PIDS $VPID"
    vt_wait_http "http://127.0.0.1:$GP/healthz" || {
        echo "the verifier did not start: $(tail -n 20 "$W/verifier.log")" >&2
        return 1
    }
    "$PV" ca --config "$W/verifier.conf" >"$W/verifier-ca.pem" 2>"$W/ca.err" &&
        "$PV" ca --device --config "$W/verifier.conf" >"$W/device-ca.pem" 2>>"$W/ca.err" || {
        echo "posture-verifier ca: $(cat "$W/ca.err")" >&2
        return 1
    }
}

vt_enrol() {
    mkdir -p "$W/$1"
    cat >"$W/$1.conf" <<EOC
[agent]
state_dir = $W/$1
[server]
url = https://127.0.0.1:$AP
ca = $W/verifier-ca.pem
EOC
    if [ -n "${2:-}" ]; then
        printf '[tpm]\nenabled = yes\ntcti = %s\nevent_log = %s/no-event-log\n' "$2" "$W" >>"$W/$1.conf"
    else
        printf '[tpm]\nenabled = no\n' >>"$W/$1.conf"
    fi
    _vt_token=$("$PV" token create --config "$W/verifier.conf" 2>"$W/$1.err") || return 1
    "$CTL" enroll --config "$W/$1.conf" --server "https://127.0.0.1:$AP" --token "$_vt_token" \
        --ca "$W/verifier-ca.pem" >"$W/$1.out" 2>"$W/$1.err"
}
