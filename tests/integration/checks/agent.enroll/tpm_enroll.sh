#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# agent.enroll/tpm_functions: the TPM side of enrolment (posture/tpm_enroll.h) against swtpm:
#   tpm_enroll.sh TPM_ENROLL_TOOL QUOTE_TOOL SRCDIR
# - the EK public is swtpm's RSA EK at 0x81010001 (byte-identical to tpm2_readpublic's) and its
#   certificate is the RSA EK certificate of NV 0x01c00002;
# - the AK public equals tpm2_createprimary's with the AK template of ATTESTATION.md §4.2;
# - ActivateCredential recovers the secret of a tpm2_makecredential -T none blob (the control)
#   and of a posture_makecredential() blob (the verifier's software MakeCredential); a blob for
#   another AK name is refused (EACCES), a truncated one does not unmarshal.
# Exits 77 when swtpm or tpm2-tools are missing.
set -u
TOOL=$1
QTOOL=$2
SRCDIR=$3
. "$SRCDIR/tests/lib/swtpm.sh"
for t in tpm2_createprimary tpm2_readpublic tpm2_makecredential tpm2_nvread tpm2_flushcontext \
    openssl cmp; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "tpm_enroll.sh: $t not installed, skipping"
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
hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }

# 1. The material.
handle=$("$TOOL" material "$SWTPM_TCTI" "$W") || {
    echo "FAIL: material: $handle"
    exit 1
}
[ "$handle" = 0x81010001 ] && pass "EK from persistent 0x81010001" || fail "EK handle $handle"
tpm2_readpublic -c 0x81010001 -o tools-ek.pub >/dev/null 2>&1 || fail "tpm2_readpublic EK"
cmp -s ek.pub tools-ek.pub && pass "EK public = tpm2_readpublic's" || fail "EK public differs"
openssl x509 -inform DER -in ek.crt -noout 2>/dev/null && pass "EK certificate parses" ||
    fail "EK certificate does not parse"
openssl verify -partial_chain -CAfile "$SWTPM_CA_ISSUER" ek.crt >/dev/null 2>&1 ||
    openssl verify -CAfile "$SWTPM_CA_ROOT" -untrusted "$SWTPM_CA_ISSUER" ek.crt >/dev/null 2>&1 ||
    echo "note: openssl cannot verify the EK certificate (TPM-specific extensions); the verifier checks it"
AK_ATTRS='fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign|noda'
tpm2_createprimary -C e -G ecc256:ecdsa-sha256:null -g sha256 -a "$AK_ATTRS" -c ak.ctx \
    >/dev/null 2>&1 || fail "tpm2_createprimary AK"
tpm2_readpublic -c ak.ctx -o tools-ak.pub -n ak.name >/dev/null 2>&1 || fail "tpm2_readpublic AK"
flush
cmp -s ak.pub tools-ak.pub && pass "AK public = tpm2-tools' with the same template" ||
    fail "AK public differs from tpm2-tools'"

# 2. ActivateCredential.
head -c 32 /dev/urandom >secret.bin
tpm2_makecredential -T none -e ek.pub -s secret.bin -n "$(hex ak.name)" -o tools.cred \
    >/dev/null 2>&1 || fail "tpm2_makecredential"
if out=$("$TOOL" activate "$SWTPM_TCTI" ek.pub tools.cred tools.out) && cmp -s tools.out secret.bin; then
    pass "tpm2_makecredential blob activated (control)"
else
    fail "tpm2_makecredential blob: $out"
fi
"$QTOOL" makecredential ek.pub ak.name secret.bin ours.cred || fail "posture_makecredential"
if out=$("$TOOL" activate "$SWTPM_TCTI" ek.pub ours.cred ours.out) && cmp -s ours.out secret.bin; then
    pass "posture_makecredential blob activated"
else
    fail "posture_makecredential blob: $out"
fi
# a credential for another object name: the TPM refuses it (TPM_RC_INTEGRITY)
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex("000b" + "%064x" % 7))' >other.name
"$QTOOL" makecredential ek.pub other.name secret.bin other.cred || fail "makecredential other"
out=$("$TOOL" activate "$SWTPM_TCTI" ek.pub other.cred other.out)
rc=$?
[ $rc = 1 ] && [ "$out" = EACCES ] && pass "credential for another AK refused: $out" ||
    fail "credential for another AK: exit $rc, $out"
# a truncated credential file
head -c 40 ours.cred >short.cred
out=$("$TOOL" activate "$SWTPM_TCTI" ek.pub short.cred short.out)
rc=$?
[ $rc != 0 ] && pass "truncated credential refused" || fail "truncated credential accepted"
# an EK public that is not this TPM's (a flipped modulus byte)
python3 -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-10] ^= 1
open(sys.argv[2], "wb").write(b)' ek.pub bad-ek.pub
out=$("$TOOL" activate "$SWTPM_TCTI" bad-ek.pub ours.cred bad.out)
rc=$?
[ $rc = 1 ] && [ "$out" = EKEYREJECTED ] && pass "foreign EK public refused: $out" ||
    fail "foreign EK public: exit $rc, $out"
# nothing left loaded in swtpm (no resource manager: leaks would show here)
n=$(tpm2_getcap handles-transient 2>/dev/null | grep -c 0x)
s=$(tpm2_getcap handles-loaded-session 2>/dev/null | grep -c 0x)
[ "$n" = 0 ] && [ "$s" = 0 ] && pass "no transient object or session left" ||
    fail "left in the TPM: $n transient objects, $s sessions"

[ $fails -eq 0 ] || exit 1
echo "tpm_enroll.sh: all passed"
