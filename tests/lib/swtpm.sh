# shellcheck shell=sh
# swtpm test harness (ATTESTATION.md §4.1), sourced by integration scripts:
#
#     . "$SRCDIR/tests/lib/swtpm.sh"
#     swtpm_start || exit $?      # 77 when swtpm or tpm2-tools are missing
#     tpm2_createek ...           # TPM2TOOLS_TCTI points at the running swtpm
#
# swtpm_start creates a temporary directory ($SWTPM_DIR) holding a local CA, the TPM state and
# the logs; runs swtpm_setup with an EK certificate chain (RSA EK 0x81010001 + cert NV
# 0x01c00002, ECC P-384 EK 0x81010016 + cert NV 0x01c00016, platform cert 0x01c08000) and the
# sha1+sha256 PCR banks; starts `swtpm socket` on free loopback ports; exports
#     SWTPM_DIR, SWTPM_PORT, SWTPM_CTRL_PORT, SWTPM_TCTI, TPM2TOOLS_TCTI,
#     SWTPM_CA_ROOT (the local root CA certificate) and SWTPM_CA_ISSUER (its intermediate);
# and sends TPM2_Startup(CLEAR). An EXIT trap stops swtpm and removes the directory; a caller
# that needs its own EXIT trap calls swtpm_stop from it. Works as root and as a normal user.
# Nothing here writes outside $SWTPM_DIR (the system /var/lib/swtpm-localca is never used).
#
# SWTPM_NO_STARTUP=1 (set by the caller before swtpm_start): no TPM2_Startup is sent, the TPM
# waits for the caller's own (e.g. at locality 3 to replay an event log, ATTESTATION.md §4.3,
# tests/lib/tpm_replay.c). Unset or any other value: the default above.

swtpm_have_tools() {
    for t in swtpm swtpm_setup swtpm_localca swtpm_ioctl tpm2_startup python3; do
        command -v "$t" >/dev/null 2>&1 || {
            echo "swtpm.sh: $t not installed, skipping" >&2
            return 77
        }
    done
    return 0
}

# Two adjacent free TCP ports on 127.0.0.1, printed as "PORT CTRLPORT" (the swtpm TCTI talks to
# the control channel on PORT+1). Checked by binding; a race with another process is caught by
# swtpm_start's retry.
swtpm_free_ports() {
    python3 -c '
import random, socket
for _ in range(200):
    port = random.randint(20000, 60000)
    socks = []
    try:
        for p in (port, port + 1):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(port, port + 1)
    break
'
}

swtpm_stop() {
    if [ -n "${SWTPM_PID:-}" ]; then
        # Orderly stop first (keeps clockInfo.safe = 1 in a reused state), then make sure.
        swtpm_ioctl --tcp "127.0.0.1:$SWTPM_CTRL_PORT" -s >/dev/null 2>&1 || :
        i=0
        while kill -0 "$SWTPM_PID" 2>/dev/null && [ $i -lt 20 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill "$SWTPM_PID" 2>/dev/null || :
        wait "$SWTPM_PID" 2>/dev/null || :
        SWTPM_PID=
    fi
    if [ -n "${SWTPM_DIR:-}" ] && [ -d "$SWTPM_DIR" ]; then
        rm -rf "$SWTPM_DIR"
    fi
    SWTPM_DIR=
}

# swtpm_setup with a temporary local CA (the recipe of ATTESTATION.md §4.1).
swtpm_manufacture() {
    ca="$SWTPM_DIR/ca"
    st="$SWTPM_DIR/state"
    mkdir -p "$ca" "$st" || return 1
    cat >"$ca/localca.conf" <<CONF || return 1
statedir = $ca
signingkey = $ca/signkey.pem
issuercert = $ca/issuercert.pem
certserial = $ca/certserial
CONF
    cat >"$ca/localca.options" <<CONF || return 1
--platform-manufacturer posture-test
--platform-version 2.1
--platform-model swtpm
CONF
    cat >"$ca/setup.conf" <<CONF || return 1
create_certs_tool = $(command -v swtpm_localca)
create_certs_tool_config = $ca/localca.conf
create_certs_tool_options = $ca/localca.options
active_pcr_banks = sha1,sha256
CONF
    if ! swtpm_setup --tpm2 --tpmstate "$st" --config "$ca/setup.conf" \
        --create-ek-cert --create-platform-cert --lock-nvram --pcr-banks sha1,sha256 \
        --overwrite --logfile "$SWTPM_DIR/setup.log" >/dev/null 2>&1; then
        echo "swtpm.sh: swtpm_setup failed:" >&2
        cat "$SWTPM_DIR/setup.log" >&2
        return 1
    fi
    SWTPM_CA_ROOT="$ca/swtpm-localca-rootca-cert.pem"
    SWTPM_CA_ISSUER="$ca/issuercert.pem"
    export SWTPM_CA_ROOT SWTPM_CA_ISSUER
}

# Start `swtpm socket` on the state in $SWTPM_DIR/state, on fresh free ports.
swtpm_launch() {
    attempt=0
    while :; do
        attempt=$((attempt + 1))
        # shellcheck disable=SC2046
        set -- $(swtpm_free_ports)
        SWTPM_PORT=$1
        SWTPM_CTRL_PORT=$2
        swtpm socket --tpm2 --tpmstate dir="$SWTPM_DIR/state" \
            --server type=tcp,port="$SWTPM_PORT",bindaddr=127.0.0.1 \
            --ctrl type=tcp,port="$SWTPM_CTRL_PORT",bindaddr=127.0.0.1 \
            --flags not-need-init --log file="$SWTPM_DIR/swtpm.log" &
        SWTPM_PID=$!
        # Ready when the control channel answers; a lost port race makes swtpm exit.
        i=0
        while [ $i -lt 50 ]; do
            if ! kill -0 "$SWTPM_PID" 2>/dev/null; then
                break
            fi
            if swtpm_ioctl --tcp "127.0.0.1:$SWTPM_CTRL_PORT" -g >/dev/null 2>&1; then
                break
            fi
            sleep 0.1
            i=$((i + 1))
        done
        if kill -0 "$SWTPM_PID" 2>/dev/null &&
            swtpm_ioctl --tcp "127.0.0.1:$SWTPM_CTRL_PORT" -g >/dev/null 2>&1; then
            break
        fi
        wait "$SWTPM_PID" 2>/dev/null || :
        SWTPM_PID=
        if [ $attempt -ge 5 ]; then
            echo "swtpm.sh: swtpm did not start:" >&2
            cat "$SWTPM_DIR/swtpm.log" >&2 2>/dev/null
            return 1
        fi
    done
}

swtpm_start() {
    swtpm_have_tools || return $?
    SWTPM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/posture-swtpm.XXXXXX") || return 1
    export SWTPM_DIR
    trap swtpm_stop EXIT
    trap 'exit 130' INT TERM
    swtpm_manufacture || return 1

    swtpm_launch || return 1
    SWTPM_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT"
    TPM2TOOLS_TCTI=$SWTPM_TCTI
    export SWTPM_PORT SWTPM_CTRL_PORT SWTPM_TCTI TPM2TOOLS_TCTI SWTPM_PID
    if [ "${SWTPM_NO_STARTUP:-}" = 1 ]; then
        return 0
    fi
    tpm2_startup -c || {
        echo "swtpm.sh: TPM2_Startup failed" >&2
        return 1
    }
}

# Stop swtpm and start it again on the same state (new ports, TPM2TOOLS_TCTI updated), then
# TPM2_Startup(CLEAR): a TPM Reset, resetCount + 1. With --crash, swtpm is killed without a
# TPM2_Shutdown first (a disorderly shutdown: clockInfo.safe is NO afterwards).
swtpm_restart() {
    if [ "${1:-}" = --crash ]; then
        kill -9 "$SWTPM_PID" 2>/dev/null || :
    else
        tpm2_shutdown -c >/dev/null 2>&1 || :
        swtpm_ioctl --tcp "127.0.0.1:$SWTPM_CTRL_PORT" -s >/dev/null 2>&1 || :
    fi
    wait "$SWTPM_PID" 2>/dev/null || :
    SWTPM_PID=
    swtpm_launch || return 1
    SWTPM_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT"
    TPM2TOOLS_TCTI=$SWTPM_TCTI
    export SWTPM_PORT SWTPM_CTRL_PORT SWTPM_TCTI TPM2TOOLS_TCTI SWTPM_PID
    tpm2_startup -c >/dev/null 2>&1 || {
        echo "swtpm.sh: TPM2_Startup failed after restart" >&2
        return 1
    }
}

# Orderly TPM shutdown (clockInfo.safe stays 1 on the next start of the same state).
swtpm_shutdown() {
    tpm2_shutdown -c >/dev/null 2>&1 || :
}
