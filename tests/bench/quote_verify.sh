#!/bin/sh
# Quote verification throughput (issue 4 benchmark, DESIGN.md §10): posture_quote_verify() in
# process (quote_tool --repeat: AK parsed once, then N full verifications of the same quote:
# unmarshal, ECDSA P-256, qualifiedSigner, binding, clock, PCR selection and digest) next to the
# wall time of one tpm2_checkquote process on the same quote (tests/fixtures/quote). No TPM is
# needed. Prints figures; asserts only that both verifiers accept the quote. Use a release
# build for figures (an asan build is several times slower).
#
# usage: quote_verify.sh BUILD_DIR [N] [CHECKQUOTE_RUNS]
set -eu
build=$1
n=${2:-20000}
runs=${3:-20}
here=$(cd "$(dirname "$0")" && pwd)
fx="$here/../fixtures/quote"
tool="$build/tests/integration/checks/attest.quote/quote_tool"
[ -x "$tool" ] || { echo "quote_verify.sh: $tool not built" >&2; exit 1; }
command -v tpm2_checkquote >/dev/null 2>&1 || { echo "quote_verify.sh: tpm2_checkquote missing" >&2; exit 1; }

binding=$("$tool" binding "$fx/nonce.bin" "$fx/payload.bin")
set -- "$fx/ak.pub" "$fx/quote.attest" "$fx/quote.sig" "$fx/pcrs.bin" "$fx/nonce.bin" "$fx/payload.bin"
echo "posture_quote_verify, $n verifications on one core:"
taskset -c 0 "$tool" verify "$@" --repeat="$n" 2>/dev/null || "$tool" verify "$@" --repeat="$n"

tpm2_checkquote -u "$fx/ak.pub" -m "$fx/quote.attest" -s "$fx/quote.sig" -f "$fx/quote.pcrs.tss" \
    -g sha256 -q "$binding" >/dev/null
start=$(date +%s%N)
i=0
while [ $i -lt "$runs" ]; do
    tpm2_checkquote -u "$fx/ak.pub" -m "$fx/quote.attest" -s "$fx/quote.sig" \
        -f "$fx/quote.pcrs.tss" -g sha256 -q "$binding" >/dev/null
    i=$((i + 1))
done
end=$(date +%s%N)
awk -v ns=$((end - start)) -v runs="$runs" 'BEGIN {
    ms = ns / runs / 1e6
    printf "tpm2_checkquote: %.2f ms wall per run (mean of %d), i.e. %.0f quotes/s\n", ms, runs, 1000 / ms
}'
