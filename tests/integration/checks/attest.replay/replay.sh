#!/bin/sh
# Real firmware event logs replayed into swtpm (ATTESTATION.md §4.3), then read, quoted and
# verified end to end:
#   replay.sh SRCDIR TPM_REPLAY QUOTE_TOOL TPM_QUOTE_TOOL CASE
# CASE is one of
#   pcrs FIXTURE   a fresh swtpm (sha1+sha256 banks, no TPM2_Startup), tpm_replay of
#                  tests/fixtures/eventlogs/FIXTURE.bin, then tpm2_pcrread (independent of our
#                  code) must give every PCR value FIXTURE.expected.json states for the banks
#                  swtpm has. Only PCR values are compared: the descriptive parts of an
#                  expected.json are not an oracle (dell-server-gdc-host lists DeployedMode and
#                  AuditMode among its PCR 7 variables, but its log measures them in PCR 1).
#   quote FIXTURE  the replay, then the agent's ESAPI quote (tpm_quote_tool) over
#                  posture_quote_binding(): tpm2_checkquote and `quote_tool verify --eventlog`
#                  accept it with the fixture's log; tampered copies of the log made here (the
#                  fixtures are never written) are rejected with their own reason.
#   tool           tpm_replay's refusals: PCR >= 16, a refused log, a TPM already started; a
#                  locality-3 log rewritten to locality 0 gives another PCR 0 and the same 1-7.
# Exits 77 when swtpm or tpm2-tools are missing.
# shellcheck disable=SC2015,SC2046 # pass/fail always succeed; `set -- $(...)` splits on purpose
set -u
SRCDIR=$1
REPLAY=$2
TOOL=$3
TPMTOOL=$4
CASE=$5
FIXTURE=${6:-}
FX=$SRCDIR/tests/fixtures/eventlogs
EDIT="python3 $SRCDIR/tests/integration/checks/attest.replay/eventlog_edit.py"

. "$SRCDIR/tests/lib/swtpm.sh"
for t in tpm2_pcrread tpm2_checkquote tpm2_getcap; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "replay.sh: $t not installed, skipping"
        exit 77
    }
done
export SWTPM_NO_STARTUP=1
swtpm_start || exit $?
W=$SWTPM_DIR/work
mkdir -p "$W" && cd "$W" || exit 2

fails=0
pass() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}
finish() {
    swtpm_shutdown
    if [ $fails -ne 0 ]; then
        echo "replay.sh $CASE $FIXTURE: $fails failure(s)"
        exit 1
    fi
    echo "replay.sh $CASE $FIXTURE: all passed"
    exit 0
}
hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }

# tpm_replay LOG: replays, and checks the count it prints against eventlog_edit.py's own count.
replay() {
    if ! out=$("$REPLAY" "$SWTPM_TCTI" "$1" 2>"$W/replay.err"); then
        fail "tpm_replay $(basename "$1"): $(cat "$W/replay.err")"
        finish
    fi
    set -- $($EDIT info "$1")
    want="$4 events extended (startup locality $6)"
    [ "$out" = "$want" ] && pass "tpm_replay: $out" || fail "tpm_replay printed '$out', expected '$want'"
}

case_pcrs() {
    log=$FX/$FIXTURE.bin
    $EDIT expected "$FX/$FIXTURE.expected.json" >expected.txt || exit 2
    source=$(sed -n 's/^source //p' expected.txt)
    [ "$source" != none ] || { fail "$FIXTURE.expected.json states no PCR values"; finish; }
    replay "$log"
    checked=0
    for bank in sha1 sha256; do
        list=$(awk -v b=$bank '$1 == b { printf "%s%s", sep, $2; sep = "," }' expected.txt)
        [ -n "$list" ] || continue
        if ! tpm2_pcrread "$bank:$list" -o "pcrs.$bank.bin" >/dev/null 2>"$W/pcrread.err"; then
            fail "tpm2_pcrread $bank:$list: $(cat "$W/pcrread.err")"
            continue
        fi
        got=$(hexof "pcrs.$bank.bin")
        size=$(($(printf %s "$got" | wc -c) / $(echo "$list" | tr ',' '\n' | wc -l)))
        i=0
        for pcr in $(echo "$list" | tr ',' ' '); do
            want=$(awk -v b=$bank -v p="$pcr" '$1 == b && $2 == p { print $3 }' expected.txt)
            have=$(printf %s "$got" | cut -c $((i * size + 1))-$(((i + 1) * size)))
            if [ "$have" = "$want" ]; then
                checked=$((checked + 1))
            else
                fail "$bank PCR $pcr: TPM has $have, $FIXTURE.expected.json ($source) says $want"
            fi
            i=$((i + 1))
        done
    done
    [ $checked -gt 0 ] && pass "$checked PCR values equal the $source values of $FIXTURE.expected.json"
    # Every PCR 0-15 (not only those the file states) against this script's own replay.
    all=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    for bank in sha1 sha256; do
        case ",$($EDIT info "$log" | awk '{ print $8 }')," in *",$bank,"*) ;; *) continue ;; esac
        tpm2_pcrread "$bank:$all" -o "all.$bank.bin" >/dev/null 2>&1 || { fail "tpm2_pcrread $bank"; continue; }
        [ "$(hexof "all.$bank.bin")" = "$($EDIT replay "$log" $bank | head -n 16 | awk '{ printf "%s", $2 }')" ] &&
            pass "$bank PCR 0-15 equal an independent replay of the log" ||
            fail "$bank PCR 0-15 differ from an independent replay of the log"
    done
    # A bank the log has no digests for is never extended: only TPM2_Startup touched it, which
    # puts the startup locality into PCR 0 of every bank (00..03 after a locality-3 start).
    set -- $($EDIT info "$log")
    loc=$6
    for bank in sha1 sha256; do
        case ",$8," in *",$bank,"*) continue ;; esac
        tpm2_pcrread "$bank:0,1,2,3,4,5,6,7" -o "untouched.$bank.bin" >/dev/null 2>&1 || {
            fail "tpm2_pcrread $bank"
            continue
        }
        size=20
        [ $bank = sha256 ] && size=32
        want=$(printf "%0$((size * 2 - 2))d%02x" 0 "$loc")$(printf "%0$((size * 2 * 7))d" 0)
        [ "$(hexof "untouched.$bank.bin")" = "$want" ] &&
            pass "$bank bank (not in the log) untouched, PCR 0 = locality $loc" ||
            fail "$bank bank (not in the log) was changed: $(hexof "untouched.$bank.bin")"
    done
    finish
}

# expect REASON DESCRIPTION -- ARGS FOR quote_tool verify
expect() {
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

case_quote() {
    log=$FX/$FIXTURE.bin
    replay "$log"
    head -c 32 /dev/urandom >nonce.bin
    printf '{"eat_nonce":"replay","posture":{"checks":[]}}' >payload.bin
    BINDING=$("$TOOL" binding nonce.bin payload.bin) || exit 2
    mkdir -p q q14
    SEL=sha256:0,1,2,3,4,5,6,7
    if ! "$TPMTOOL" "$SWTPM_TCTI" "$BINDING" 255 q 2>"$W/esys.err"; then
        fail "tpm_quote_tool: $(cat "$W/esys.err")"
        finish
    fi
    # tpm2-tools' own view of the PCRs: raw values, and serialized for tpm2_checkquote -f (its
    # -l with raw values fails in 5.4: "Failed to hash PCR values related to quote").
    tpm2_pcrread "$SEL" -o pcrs.read.bin >/dev/null 2>&1 || { fail "tpm2_pcrread"; finish; }
    tpm2_pcrread "$SEL" -F serialized -o pcrs.read.tss >/dev/null 2>&1 || { fail "tpm2_pcrread"; finish; }
    cmp -s q/pcrs.bin pcrs.read.bin && pass "the quote's PCR values equal tpm2_pcrread's" ||
        fail "the quote's PCR values differ from tpm2_pcrread's"
    if tpm2_checkquote -u q/ak.pub -m q/quote.attest -s q/quote.sig -f pcrs.read.tss \
        -g sha256 -q "$BINDING" >"$W/cq.out" 2>&1; then
        pass "tpm2_checkquote accepts the quote of the replayed PCRs"
    else
        fail "tpm2_checkquote rejects the quote: $(cat "$W/cq.out")"
    fi
    set -- q/ak.pub q/quote.attest q/quote.sig q/pcrs.bin nonce.bin payload.bin
    expect ok "quote, no event log" -- "$@"
    expect ok "quote + $FIXTURE's own log" -- "$@" --eventlog "$log"

    # PCR 0-9 and 14 (what the fixtures state), quoted and compared the same way.
    mask14=$(((1 << 10) - 1 + (1 << 14)))
    if "$TPMTOOL" "$SWTPM_TCTI" "$BINDING" $mask14 q14 2>"$W/esys.err"; then
        tpm2_pcrread sha256:0,1,2,3,4,5,6,7,8,9,14 -F serialized -o pcrs14.read.tss >/dev/null 2>&1
        tpm2_checkquote -u q14/ak.pub -m q14/quote.attest -s q14/quote.sig -f pcrs14.read.tss \
            -g sha256 -q "$BINDING" >/dev/null 2>&1 &&
            pass "tpm2_checkquote accepts the PCR 0-9,14 quote" ||
            fail "tpm2_checkquote rejects the PCR 0-9,14 quote"
        expect ok "PCR 0-9,14 quote + own log" -- q14/ak.pub q14/quote.attest q14/quote.sig \
            q14/pcrs.bin nonce.bin payload.bin --mask=$mask14 --eventlog "$log"
    else
        fail "tpm_quote_tool PCR 0-9,14: $(cat "$W/esys.err")"
    fi

    # Tampered logs, each made from the fixture here.
    $EDIT flip "$log" 4 t.flip4.bin
    expect quote-pcr-replay-mismatch "a PCR 4 digest byte flipped" -- "$@" --eventlog t.flip4.bin
    $EDIT flip "$log" 7 t.flip7.bin
    expect quote-pcr-replay-mismatch "a PCR 7 digest byte flipped" -- "$@" --eventlog t.flip7.bin
    $EDIT drop-last "$log" 4 t.drop4.bin
    expect quote-pcr-replay-mismatch "the last PCR 4 event dropped" -- "$@" --eventlog t.drop4.bin
    $EDIT append "$log" 4 t.append4.bin
    expect quote-pcr-replay-mismatch "a PCR 4 event appended again" -- "$@" --eventlog t.append4.bin
    # An extra event in a PCR outside the quote changes nothing the quote covers.
    $EDIT add-pcr "$log" 9 t.add9.bin
    expect ok "an extra PCR 9 event, PCR 0-7 quoted" -- "$@" --eventlog t.add9.bin
    expect quote-pcr-replay-mismatch "an extra PCR 9 event, PCR 0-9,14 quoted" -- q14/ak.pub \
        q14/quote.attest q14/quote.sig q14/pcrs.bin nonce.bin payload.bin --mask=$mask14 \
        --eventlog t.add9.bin
    # A stale log: another machine's (or an earlier boot's) log with this quote.
    for other in gce-rhel8-secureboot dell-server-gdc-host; do
        [ "$other" = "$FIXTURE" ] && continue
        expect quote-pcr-replay-mismatch "stale log ($other.bin)" -- "$@" --eventlog "$FX/$other.bin"
    done
    # A SHA-1-only log has no SHA-256 replay to compare the quote with.
    expect eventlog-bank-missing "SHA-1-only log" -- "$@" --eventlog "$FX/gce-debian10-sha1-legacy-secureboot.bin"
    # Refused logs: cut inside the last record's digests, or inside its event data.
    $EDIT cut "$log" digest t.cutdigest.bin
    expect eventlog-truncated "log cut inside a digest" -- "$@" --eventlog t.cutdigest.bin
    $EDIT cut "$log" data t.cutdata.bin
    expect eventlog-event-size "log cut inside the event data" -- "$@" --eventlog t.cutdata.bin
    # StartupLocality rewritten: the log parses (0 and 3 are both valid values), but PCR 0's
    # replay then starts from another value than the TPM's did (00..00 instead of 00..03 or the
    # reverse), so PCR 0 differs: a replay mismatch, not a refusal.
    set -- $($EDIT info "$log")
    loc=$6
    set -- q/ak.pub q/quote.attest q/quote.sig q/pcrs.bin nonce.bin payload.bin
    if $EDIT locality "$log" $((3 - loc)) t.locality.bin 2>/dev/null; then
        expect quote-pcr-replay-mismatch "StartupLocality $loc rewritten as $((3 - loc))" -- "$@" \
            --eventlog t.locality.bin
    else
        echo "note: $FIXTURE has no StartupLocality event to rewrite"
    fi
    # Nothing left behind in the TPM (swtpm has no resource manager).
    [ -z "$(tpm2_getcap handles-transient 2>/dev/null)" ] && pass "no transient handle left" ||
        fail "transient handles left: $(tpm2_getcap handles-transient)"
    finish
}

case_tool() {
    log=$FX/arch-linux-workstation.bin
    "$REPLAY" >/dev/null 2>&1
    [ $? -eq 2 ] && pass "no arguments: usage error" || fail "no arguments: not exit 2"
    for pcr in 16 17 23; do
        $EDIT add-pcr "$log" $pcr t.pcr$pcr.bin
        "$REPLAY" "$SWTPM_TCTI" t.pcr$pcr.bin >/dev/null 2>"$W/replay.err"
        rc=$?
        if [ $rc -eq 1 ] && grep -q "PCR $pcr.*cannot be replayed" "$W/replay.err"; then
            pass "a PCR $pcr event refused: $(cat "$W/replay.err")"
        else
            fail "a PCR $pcr event: exit $rc, $(cat "$W/replay.err")"
        fi
    done
    # Refused before anything was sent: the TPM is still waiting for its TPM2_Startup.
    tpm2_pcrread sha256:0 >/dev/null 2>&1 && fail "the TPM was started by a refused replay" ||
        pass "nothing was sent to the TPM"
    head -c 100 "$log" >t.short.bin
    "$REPLAY" "$SWTPM_TCTI" t.short.bin >/dev/null 2>"$W/replay.err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "log refused" "$W/replay.err" && pass "a truncated log refused" ||
        fail "a truncated log: exit $rc, $(cat "$W/replay.err")"
    "$REPLAY" "$SWTPM_TCTI" /nonexistent/log >/dev/null 2>&1
    [ $? -eq 1 ] && pass "a missing file: exit 1" || fail "a missing file: not exit 1"
    # A locality-3 log with its StartupLocality rewritten as 0: TPM2_Startup at locality 0, so
    # PCR 0 starts at 00..00 and ends at another value than the machine's (00..03); PCR 1-7
    # do not depend on it. The TPM agrees with this script's own replay of the edited log.
    lenovo=$FX/lenovo-laptop-glinux
    $EDIT locality "$lenovo.bin" 0 t.lenovo0.bin
    replay t.lenovo0.bin
    $EDIT expected "$lenovo.expected.json" | awk '$1 == "sha256" { print $2, $3 }' >stated.txt
    $EDIT replay t.lenovo0.bin sha256 | head -n 8 >edited.txt
    tpm2_pcrread sha256:0,1,2,3,4,5,6,7 -o lenovo0.pcrs >/dev/null 2>&1 || fail "tpm2_pcrread"
    tpm=$(hexof lenovo0.pcrs)
    [ "$tpm" = "$(awk '{ printf "%s", $2 }' edited.txt)" ] &&
        pass "the TPM's PCR 0-7 equal an independent replay of the edited log" ||
        fail "the TPM's PCR 0-7 differ from the replay of the edited log"
    [ "$(printf %s "$tpm" | cut -c 1-64)" != "$(awk '$1 == 0 { print $2 }' stated.txt)" ] &&
        pass "PCR 0 differs from the machine's after a locality-0 start" ||
        fail "PCR 0 is the machine's although the TPM started at locality 0"
    [ "$(printf %s "$tpm" | cut -c 65-)" = "$(awk '$1 >= 1 && $1 <= 7 { printf "%s", $2 }' stated.txt)" ] &&
        pass "PCR 1-7 are the machine's" || fail "PCR 1-7 differ from the machine's"
    # A second replay would start from the first one's PCRs: refused.
    "$REPLAY" "$SWTPM_TCTI" "$log" >/dev/null 2>"$W/replay.err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "already started" "$W/replay.err" &&
        pass "a TPM already started refused" || fail "a started TPM: exit $rc, $(cat "$W/replay.err")"
    "$REPLAY" "swtpm:host=127.0.0.1,port=1" "$log" >/dev/null 2>"$W/replay.err"
    [ $? -eq 1 ] && pass "no TPM at the TCTI: exit 1" || fail "no TPM at the TCTI: not exit 1"
    finish
}

case $CASE in
pcrs) case_pcrs ;;
quote) case_quote ;;
tool) case_tool ;;
*)
    echo "replay.sh: unknown case $CASE" >&2
    exit 2
    ;;
esac
