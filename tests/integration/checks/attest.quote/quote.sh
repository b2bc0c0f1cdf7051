#!/bin/sh
# Quote verification against real TPM output (swtpm 0.7.1 + tpm2-tools 5.4):
#   quote.sh QUOTE_TOOL SRCDIR [--tpm-tool TPM_QUOTE_TOOL] [--capture DIR]
# Creates the AK of ATTESTATION.md §4.2 (ECC P-256 restricted signing primary in the
# endorsement hierarchy), quotes sha256:0-7 with qualifyingData = posture_quote_binding(nonce,
# payload), and checks that both our library (quote_tool) and tpm2_checkquote accept it; then
# that each attack of ATTESTATION.md §6 that concerns the quote is rejected by our library with
# its own reason. With --tpm-tool, the agent's ESAPI quote (posture_tpm_quote) must produce the
# same AK as tpm2-tools and a quote that both verifiers accept. With --capture, the artefacts
# are copied to DIR (tests/fixtures/quote).
set -u
TOOL=$1
SRCDIR=$2
shift 2
CAPTURE=
TPMTOOL=
while [ $# -gt 0 ]; do
    case $1 in
    --capture) CAPTURE=${2:?--capture needs a directory} ;;
    --tpm-tool) TPMTOOL=${2:?--tpm-tool needs a program} ;;
    *) echo "quote.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift 2
done

. "$SRCDIR/tests/lib/swtpm.sh"
for t in tpm2_createprimary tpm2_createek tpm2_createak tpm2_quote tpm2_checkquote \
    tpm2_pcrread tpm2_pcrextend tpm2_certify tpm2_readpublic tpm2_flushcontext; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "quote.sh: $t not installed, skipping"
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
# swtpm has no resource manager: flush every transient object and session after each tool
# (the .ctx files are saved contexts, loaded again by the next tool).
flush() {
    tpm2_flushcontext -t >/dev/null 2>&1 || :
    tpm2_flushcontext -s >/dev/null 2>&1 || :
}
run() { # run a tpm2 tool quietly, failing the test on error
    if ! "$@" >"$W/tool.out" 2>&1; then
        echo "quote.sh: $* failed:" >&2
        cat "$W/tool.out" >&2
        exit 2
    fi
    flush
}

AK_ATTRS='fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign|noda'
SEL=sha256:0,1,2,3,4,5,6,7

# Make the PCRs non-trivial, like a boot would.
for i in 0 1 2 3 4 5 6 7; do
    run tpm2_pcrextend "$i:sha256=$(printf '%064x' $((i * 7919 + 1)))"
done

# The enrolled AK.
run tpm2_createprimary -C e -G ecc256:ecdsa-sha256:null -g sha256 -a "$AK_ATTRS" -c ak.ctx
run tpm2_readpublic -c ak.ctx -o ak.pub -n ak.name -q ak.qname

# The evidence: nonce, report payload, quote over the binding, PCR values.
head -c 32 /dev/urandom >nonce.bin
printf '{"eat_nonce":"test","posture":{"checks":[]}}' >payload.bin
BINDING=$("$TOOL" binding nonce.bin payload.bin) || exit 2
quote() { # quote AKCTX SELECTION QUALIFYING PREFIX
    run tpm2_quote -c "$1" -l "$2" -q "$3" -g sha256 -m "$4.attest" -s "$4.sig" -o "$4.pcrs.tss"
}

quote ak.ctx "$SEL" "$BINDING" quote
run tpm2_pcrread "$SEL" -o pcrs.bin
[ "$(wc -c <pcrs.bin)" -eq 256 ] || fail "tpm2_pcrread gave $(wc -c <pcrs.bin) bytes"

expect() { # expect REASON DESCRIPTION -- ARGS FOR quote_tool verify
    want=$1
    what=$2
    shift 3
    got=$("$TOOL" verify "$@" 2>"$W/verify.err")
    rc=$?
    got=$(printf '%s\n' "$got" | head -n 1)
    want_rc=1
    [ "$want" = ok ] && want_rc=0
    if [ "$got" = "$want" ] && [ $rc -eq $want_rc ]; then
        pass "$what -> $got"
    else
        fail "$what: expected $want, got '$got' (exit $rc): $(cat "$W/verify.err")"
    fi
}

# 1. Positive controls: ours and tpm2_checkquote (independent) accept the same quote.
expect ok "fresh quote" -- ak.pub quote.attest quote.sig pcrs.bin nonce.bin payload.bin
if tpm2_checkquote -u ak.pub -m quote.attest -s quote.sig -f quote.pcrs.tss -g sha256 \
    -q "$BINDING" >"$W/cq.out" 2>&1; then
    pass "tpm2_checkquote accepts the quote"
else
    fail "tpm2_checkquote rejects the quote: $(cat "$W/cq.out")"
fi
# tpm2_checkquote's view of the PCRs equals the values our library verified.
if cq_pcrs=$(grep -E '^ +[0-7] *: 0x' "$W/cq.out" | sed 's/.*0x//' | tr -d '\n' | tr 'A-F' 'a-f') &&
    [ "$cq_pcrs" = "$(od -An -v -tx1 pcrs.bin | tr -d ' \n')" ]; then
    pass "tpm2_checkquote's PCR values equal tpm2_pcrread's"
else
    fail "PCR values differ between tpm2_checkquote and tpm2_pcrread"
fi

# 4. Binding: another nonce, a flipped payload byte, an empty payload.
head -c 32 /dev/urandom >nonce2.bin
printf '{"eat_nonce":"test","posture":{"checks":[]]' >payload2.bin
expect quote-binding-mismatch "wrong nonce" -- ak.pub quote.attest quote.sig pcrs.bin nonce2.bin payload.bin
expect quote-binding-mismatch "report byte flipped" -- ak.pub quote.attest quote.sig pcrs.bin nonce.bin payload2.bin
: >empty.bin
expect quote-binding-mismatch "report swapped" -- ak.pub quote.attest quote.sig pcrs.bin nonce.bin empty.bin

# byte surgery helpers (python3 is a harness dependency already)
flip() { # flip FILE OFFSET OUT  (OFFSET may be negative: from the end)
    python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); o=int(sys.argv[2]); b[o]^=0x01; open(sys.argv[3],"wb").write(b)' "$@"
}
append() { # append FILE OUT
    python3 -c 'import sys; open(sys.argv[2],"wb").write(open(sys.argv[1],"rb").read()+b"\0")' "$@"
}

# 1/3/10. Attest and signature tampering.
flip quote.attest 0 t.magic.attest
expect quote-attest-magic-invalid "magic not TPM_GENERATED" -- ak.pub t.magic.attest quote.sig pcrs.bin nonce.bin payload.bin
flip quote.attest 40 t.flip.attest
expect quote-signature-invalid "byte flipped in attest" -- ak.pub t.flip.attest quote.sig pcrs.bin nonce.bin payload.bin
flip quote.sig -1 t.flip.sig
expect quote-signature-invalid "byte flipped in signature" -- ak.pub quote.attest t.flip.sig pcrs.bin nonce.bin payload.bin
append quote.attest t.trail.attest
expect quote-attest-malformed "trailing byte after TPMS_ATTEST" -- ak.pub t.trail.attest quote.sig pcrs.bin nonce.bin payload.bin
append quote.sig t.trail.sig
expect quote-signature-malformed "trailing byte after TPMT_SIGNATURE" -- ak.pub quote.attest t.trail.sig pcrs.bin nonce.bin payload.bin
head -c 100 quote.attest >t.trunc.attest
expect quote-attest-malformed "truncated TPMS_ATTEST" -- ak.pub t.trunc.attest quote.sig pcrs.bin nonce.bin payload.bin

# 3/8. Signed by another AK: a child of the EK (tpm2_createak), same binding and PCRs.
run tpm2_createek -c ek.ctx -G ecc -u ek.pub
run tpm2_readpublic -c ek.ctx -q ek.qname
run tpm2_createak -C ek.ctx -c ak2.ctx -G ecc -g sha256 -s ecdsa -u ak2.pub -n ak2.name -q ak2.qname
flush
quote ak2.ctx "$SEL" "$BINDING" other
flush
expect quote-signature-invalid "quote by another AK" -- ak.pub other.attest other.sig pcrs.bin nonce.bin payload.bin
# ... which our library accepts with that AK and its parent (the EK) given; tpm2_checkquote too.
expect ok "EK-child AK with the EK's qualified name" -- ak2.pub other.attest other.sig pcrs.bin nonce.bin payload.bin --parent-qname=ek.qname
if tpm2_checkquote -u ak2.pub -m other.attest -s other.sig -f other.pcrs.tss -g sha256 -q "$BINDING" >/dev/null 2>&1; then
    pass "tpm2_checkquote accepts the EK-child AK's quote"
else
    fail "tpm2_checkquote rejects the EK-child AK's quote"
fi
# Right key, wrong hierarchy: the EK-child AK verified as if it were an endorsement primary.
expect quote-signer-mismatch "qualifiedSigner of another hierarchy" -- ak2.pub other.attest other.sig pcrs.bin nonce.bin payload.bin

# 3. RSA signature where ECDSA is pinned (an RSA AK's quote).
run tpm2_createprimary -C e -G rsa2048:rsassa-sha256:null -g sha256 -a "$AK_ATTRS" -c rsa.ctx
quote rsa.ctx "$SEL" "$BINDING" rsa
flush
expect quote-signature-scheme-not-pinned "RSASSA signature" -- ak.pub rsa.attest rsa.sig pcrs.bin nonce.bin payload.bin

# 2. A non-quote attestation signed by the same AK (tpm2_certify of the AK by itself).
run tpm2_certify -c ak.ctx -C ak.ctx -g sha256 -o certify.attest -s certify.sig
flush
expect quote-attest-not-quote "TPM_ST_ATTEST_CERTIFY" -- ak.pub certify.attest certify.sig pcrs.bin nonce.bin payload.bin

# 6. PCR selection differing from the policy: PCR 0-6 quoted; SHA-1 bank; extra PCR 8.
quote ak.ctx sha256:0,1,2,3,4,5,6 "$BINDING" sel06
expect quote-pcr-selection-mismatch "PCR 7 missing" -- ak.pub sel06.attest sel06.sig pcrs.bin nonce.bin payload.bin
quote ak.ctx sha1:0,1,2,3,4,5,6,7 "$BINDING" sha1
expect quote-pcr-selection-mismatch "SHA-1 bank" -- ak.pub sha1.attest sha1.sig pcrs.bin nonce.bin payload.bin
quote ak.ctx sha256:0,1,2,3,4,5,6,7+sha1:0 "$BINDING" twobanks
expect quote-pcr-selection-mismatch "extra bank" -- ak.pub twobanks.attest twobanks.sig pcrs.bin nonce.bin payload.bin
quote ak.ctx sha256:0,1,2,3,4,5,6,7,8 "$BINDING" sel08
run tpm2_pcrread sha256:0,1,2,3,4,5,6,7,8 -o pcrs08.bin
expect quote-pcr-selection-mismatch "extra PCR 8" -- ak.pub sel08.attest sel08.sig pcrs08.bin nonce.bin payload.bin
expect ok "PCR 0-8 when the policy says so" -- ak.pub sel08.attest sel08.sig pcrs08.bin nonce.bin payload.bin --mask=511
flush

# 7. Supplied PCR values that do not match pcrDigest; missing values.
flip pcrs.bin 225 t.pcrs.bin
expect quote-pcr-digest-mismatch "PCR 7 value altered" -- ak.pub quote.attest quote.sig t.pcrs.bin nonce.bin payload.bin
head -c 224 pcrs.bin >t.short.bin
expect quote-pcr-values-invalid "PCR 7 value missing" -- ak.pub quote.attest quote.sig t.short.bin nonce.bin payload.bin
# A PCR changed after the quote: the quote no longer matches the current values.
run tpm2_pcrextend "7:sha256=$(printf '%064x' 42)"
run tpm2_pcrread "$SEL" -o pcrs.after.bin
expect quote-pcr-digest-mismatch "PCR 7 extended after the quote" -- ak.pub quote.attest quote.sig pcrs.after.bin nonce.bin payload.bin

# 9. Clock: counters against the last accepted values.
quote ak.ctx "$SEL" "$BINDING" late
run tpm2_pcrread "$SEL" -o pcrs.late.bin
flush
set -- $("$TOOL" verify ak.pub quote.attest quote.sig pcrs.bin nonce.bin payload.bin --print-clock | sed -n 2p)
CLOCK=$1 RESET=$2 RESTART=$3
expect ok "later quote after the earlier one" -- ak.pub late.attest late.sig pcrs.late.bin nonce.bin payload.bin --previous="$CLOCK:$RESET:$RESTART"
set -- $("$TOOL" verify ak.pub late.attest late.sig pcrs.late.bin nonce.bin payload.bin --print-clock | sed -n 2p)
expect quote-clock-not-increasing "earlier quote after the later one" -- ak.pub quote.attest quote.sig pcrs.bin nonce.bin payload.bin --previous="$1:$2:$3"
expect quote-clock-not-increasing "the same quote twice" -- ak.pub quote.attest quote.sig pcrs.bin nonce.bin payload.bin --previous="$CLOCK:$RESET:$RESTART"
expect quote-reset-count-backwards "resetCount went backwards" -- ak.pub quote.attest quote.sig pcrs.bin nonce.bin payload.bin --previous="0:$((RESET + 1)):0"
expect quote-restart-count-backwards "restartCount went backwards" -- ak.pub quote.attest quote.sig pcrs.bin nonce.bin payload.bin --previous="0:$RESET:$((RESTART + 1))"

# The same TPM after a restart (TPM2_Shutdown(STATE) + Startup(STATE)): restartCount grows and
# both verifiers still accept.
run tpm2_shutdown
run swtpm_ioctl --tcp "127.0.0.1:$SWTPM_CTRL_PORT" -i
run tpm2_startup
run tpm2_createprimary -C e -G ecc256:ecdsa-sha256:null -g sha256 -a "$AK_ATTRS" -c ak.ctx
quote ak.ctx "$SEL" "$BINDING" restart
run tpm2_pcrread "$SEL" -o pcrs.restart.bin
flush
expect ok "quote after a TPM restart" -- ak.pub restart.attest restart.sig pcrs.restart.bin nonce.bin payload.bin --previous="$CLOCK:$RESET:$RESTART"
set -- $("$TOOL" verify ak.pub restart.attest restart.sig pcrs.restart.bin nonce.bin payload.bin --print-clock | sed -n 2p)
[ "$2" -eq "$RESET" ] && [ "$3" -gt "$RESTART" ] && pass "restartCount grew" || fail "restartCount: $RESTART -> $3"

# A reboot (orderly shutdown, TPM Reset): resetCount grows, restartCount starts again, accepted.
swtpm_restart || exit 2
reboot() { # the AK again (same template, same key) and a fresh quote
    run tpm2_createprimary -C e -G ecc256:ecdsa-sha256:null -g sha256 -a "$AK_ATTRS" -c ak.ctx
    quote ak.ctx "$SEL" "$BINDING" "$1"
    run tpm2_pcrread "$SEL" -o "pcrs.$1.bin"
}
reboot reboot
expect ok "quote after a reboot" -- ak.pub reboot.attest reboot.sig pcrs.reboot.bin nonce.bin payload.bin --previous="$CLOCK:$RESET:$RESTART"
set -- $("$TOOL" verify ak.pub reboot.attest reboot.sig pcrs.reboot.bin nonce.bin payload.bin --print-clock | sed -n 2p)
[ "$2" -gt "$RESET" ] && pass "resetCount grew" || fail "resetCount: $RESET -> $2"
expect quote-reset-count-backwards "pre-reboot quote after the reboot" -- ak.pub late.attest late.sig pcrs.late.bin nonce.bin payload.bin --previous="$1:$2:$3"

# The agent's quote (ESAPI, attest/tpm): same AK as tpm2-tools' from the same template, and a
# quote over the binding that our library and tpm2_checkquote accept.
if [ -n "$TPMTOOL" ]; then
    reboot tools
    mkdir -p esys
    if "$TPMTOOL" "$SWTPM_TCTI" "$BINDING" 255 esys 2>"$W/esys.err"; then
        pass "posture_tpm_quote produced evidence"
        cmp -s esys/ak.pub ak.pub && pass "ESAPI AK equals tpm2_createprimary's AK" ||
            fail "ESAPI AK differs from tpm2_createprimary's"
        cmp -s esys/pcrs.bin pcrs.tools.bin && pass "ESAPI PCR values equal tpm2_pcrread's" ||
            fail "ESAPI PCR values differ from tpm2_pcrread's"
        expect ok "the agent's quote" -- esys/ak.pub esys/quote.attest esys/quote.sig esys/pcrs.bin nonce.bin payload.bin
        if tpm2_checkquote -u esys/ak.pub -m esys/quote.attest -s esys/quote.sig -f tools.pcrs.tss \
            -g sha256 -q "$BINDING" >"$W/cq.out" 2>&1; then
            pass "tpm2_checkquote accepts the agent's quote"
        else
            fail "tpm2_checkquote rejects the agent's quote: $(cat "$W/cq.out")"
        fi
        expect quote-binding-mismatch "the agent's quote, other nonce" -- esys/ak.pub esys/quote.attest esys/quote.sig esys/pcrs.bin nonce2.bin payload.bin
        # No handle left behind (swtpm has no resource manager).
        if [ -z "$(tpm2_getcap handles-transient 2>/dev/null)" ]; then
            pass "no transient handle left"
        else
            fail "transient handles left: $(tpm2_getcap handles-transient)"
        fi
    else
        fail "posture_tpm_quote failed: $(cat "$W/esys.err")"
    fi
fi

# 9. A disorderly shutdown (swtpm killed): clockInfo.safe is NO.
swtpm_restart --crash || exit 2
reboot unsafe
# libtpms sets safe back to YES at its next NV clock update (every 2^12 ms of TPM clock), which
# a loaded machine can reach before the quote: read the byte itself (offset 92: magic, type,
# qualifiedSigner, extraData, clock, resetCount, restartCount) to know what to expect.
safe=$(od -An -j92 -N1 -tu1 unsafe.attest | tr -d ' ')
if [ "$safe" = 0 ]; then
    expect quote-clock-unsafe "quote after a disorderly shutdown" -- ak.pub unsafe.attest unsafe.sig pcrs.unsafe.bin nonce.bin payload.bin
else
    echo "note: safe was already YES again after the disorderly shutdown (slow run); the unit test covers safe = NO"
    expect ok "quote after a disorderly shutdown, safe again" -- ak.pub unsafe.attest unsafe.sig pcrs.unsafe.bin nonce.bin payload.bin
fi

if [ -n "$CAPTURE" ]; then
    mkdir -p "$CAPTURE"
    for f in ak.pub ak.name ak.qname nonce.bin payload.bin pcrs.bin quote.attest quote.sig \
        quote.pcrs.tss ak2.pub ek.qname other.attest other.sig rsa.attest rsa.sig \
        certify.attest certify.sig sel06.attest sel06.sig sha1.attest sha1.sig \
        twobanks.attest twobanks.sig late.attest late.sig pcrs.late.bin \
        unsafe.attest unsafe.sig pcrs.unsafe.bin; do
        cp "$f" "$CAPTURE/$f" || exit 2
    done
    echo "captured into $CAPTURE"
fi

swtpm_shutdown
if [ $fails -ne 0 ]; then
    echo "quote.sh: $fails failure(s)"
    exit 1
fi
echo "quote.sh: all passed"
