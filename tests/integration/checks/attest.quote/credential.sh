#!/bin/sh
# Software MakeCredential (posture_makecredential) against swtpm's ActivateCredential:
#   credential.sh QUOTE_TOOL SRCDIR
# For the RSA-2048 EK and the ECC P-256 EK (tpm2_createek, low-range templates, policy session
# with PolicySecret(endorsement)) and swtpm's own ECC P-384 EK at 0x81010016 (high range,
# userWithAuth: a password session), our blob for the AK's name must activate to the secret;
# for another name it must fail (TPM_RC_INTEGRITY). tpm2_makecredential -T none is the
# positive control of the same flow.
set -u
TOOL=$1
SRCDIR=$2
. "$SRCDIR/tests/lib/swtpm.sh"
for t in tpm2_createprimary tpm2_createek tpm2_readpublic tpm2_makecredential \
    tpm2_activatecredential tpm2_startauthsession tpm2_policysecret tpm2_flushcontext; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "credential.sh: $t not installed, skipping"
        exit 77
    }
done
swtpm_start || exit $?
W=$SWTPM_DIR/work
mkdir -p "$W" && cd "$W" || exit 2

fails=0
pass() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}
flush() {
    tpm2_flushcontext -t >/dev/null 2>&1 || :
    tpm2_flushcontext -s >/dev/null 2>&1 || :
}
run() {
    if ! "$@" >"$W/tool.out" 2>&1; then
        echo "credential.sh: $* failed:" >&2
        cat "$W/tool.out" >&2
        exit 2
    fi
    flush
}

AK_ATTRS='fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign|noda'
run tpm2_createprimary -C e -G ecc256:ecdsa-sha256:null -g sha256 -a "$AK_ATTRS" -c ak.ctx
run tpm2_readpublic -c ak.ctx -o ak.pub -n ak.name
run tpm2_createek -c ek-rsa.ctx -G rsa -u ek-rsa.pub
run tpm2_createek -c ek-ecc.ctx -G ecc -u ek-ecc.pub
run tpm2_readpublic -c 0x81010016 -o ek-p384.pub
head -c 32 /dev/urandom >secret.bin
printf '000b%064x' 7 | xxd -r -p >other.name 2>/dev/null ||
    python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex("000b" + "%064x" % 7))' >other.name

activate() { # activate EK-CONTEXT-OR-HANDLE POLICY(yes|no) CREDFILE OUT
    if [ "$2" = yes ]; then
        tpm2_startauthsession --policy-session -S session.ctx >/dev/null 2>&1 &&
            tpm2_policysecret -S session.ctx -c e >/dev/null 2>&1 &&
            tpm2_activatecredential -c ak.ctx -C "$1" -i "$3" -o "$4" -P session:session.ctx \
                >"$W/act.out" 2>&1
        rc=$?
        tpm2_flushcontext session.ctx >/dev/null 2>&1 || :
    else
        tpm2_activatecredential -c ak.ctx -C "$1" -i "$3" -o "$4" >"$W/act.out" 2>&1
        rc=$?
    fi
    flush
    return $rc
}

check() { # check LABEL EK-PUB EK-CONTEXT POLICY
    rm -f ours.out tools.out other.out
    if tpm2_makecredential -T none -e "$2" -s secret.bin -n "$(od -An -v -tx1 ak.name | tr -d ' \n')" \
        -o tools.cred >/dev/null 2>&1 && activate "$3" "$4" tools.cred tools.out &&
        cmp -s tools.out secret.bin; then
        pass "$1: tpm2_makecredential blob activates (control)"
    else
        fail "$1: tpm2_makecredential control failed: $(cat "$W/act.out")"
    fi
    if ! "$TOOL" makecredential "$2" ak.name secret.bin ours.cred; then
        fail "$1: posture_makecredential failed"
        return
    fi
    if activate "$3" "$4" ours.cred ours.out && cmp -s ours.out secret.bin; then
        pass "$1: our blob activates to the secret"
    else
        fail "$1: our blob does not activate: $(cat "$W/act.out")"
    fi
    "$TOOL" makecredential "$2" other.name secret.bin other.cred || fail "$1: makecredential (other name)"
    if activate "$3" "$4" other.cred other.out; then
        fail "$1: a blob for another name activated"
    elif grep -q "0x1df\|integrity" "$W/act.out"; then
        pass "$1: a blob for another name fails with TPM_RC_INTEGRITY"
    else
        fail "$1: a blob for another name failed oddly: $(cat "$W/act.out")"
    fi
}

check "RSA-2048 EK" ek-rsa.pub ek-rsa.ctx yes
check "ECC P-256 EK" ek-ecc.pub ek-ecc.ctx yes
check "ECC P-384 EK (swtpm, SHA-384)" ek-p384.pub 0x81010016 no

swtpm_shutdown
if [ $fails -ne 0 ]; then
    echo "credential.sh: $fails failure(s)"
    exit 1
fi
echo "credential.sh: all passed"
