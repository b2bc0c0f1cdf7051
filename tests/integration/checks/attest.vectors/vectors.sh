#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The GCE Windows Shielded VM quote vector (tests/fixtures/eventlogs/gce-windows-shielded-vm-
# quote.json), ATTESTATION.md §6 row 33: its signature and pcrDigest verify with independent
# tools (python3's standard library to take the JSON and the TPM structures apart, the openssl
# CLI for the cryptography), while our library replays its log and rejects it for the reasons
# policy demands (vector_tool).
#   vectors.sh CASE VECTOR_TOOL SRCDIR
# CASE: windows-signature | windows-pcr-digest | windows-replay | windows-policy
set -u
case_=$1
tool=$2
src=$3
vector=$src/tests/fixtures/eventlogs/gce-windows-shielded-vm-quote.json

for t in python3 openssl; do
    command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t is missing"; exit 77; }
done
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Decode the vector into $tmp: ak.tpmt (TPMT_PUBLIC), quote.attest (TPMS_ATTEST), quote.sig
# (TPMT_SIGNATURE), sig.raw (the RSASSA signature bytes), log.bin (Log.Raw), pcrs.bin (the 24
# SHA-1 PCRs of Log.PCRs by index), rsa.conf (the AK's modulus and exponent for openssl
# asn1parse -genconf), pcrdigest.bin and facts (what TPMS_ATTEST says, parsed here).
python3 - "$vector" "$tmp" <<'PY' || exit 2
import base64, json, struct, sys

doc = json.load(open(sys.argv[1]))
out = sys.argv[2]
def put(name, data):
    with open(out + "/" + name, "wb") as f:
        f.write(data)

ak = base64.b64decode(doc["AK"]["Public"], validate=True)
attest = base64.b64decode(doc["Quote"]["Quote"], validate=True)
sig = base64.b64decode(doc["Quote"]["Signature"], validate=True)
put("ak.tpmt", ak)
put("quote.attest", attest)
put("quote.sig", sig)
put("log.bin", base64.b64decode(doc["Log"]["Raw"], validate=True))

pcrs = {p["Index"]: base64.b64decode(p["Digest"]) for p in doc["Log"]["PCRs"]}
assert sorted(pcrs) == list(range(24)) and all(len(v) == 20 for v in pcrs.values())
assert all(p["DigestAlg"] == 3 for p in doc["Log"]["PCRs"])  # Go crypto.SHA1
put("pcrs.bin", b"".join(pcrs[i] for i in range(24)))

# TPMT_PUBLIC (big-endian): type, nameAlg, attributes, authPolicy, RSA parameters, unique.
o = 0
typ, name_alg, attrs, pol = struct.unpack_from(">HHIH", ak, o); o += 10 + pol
sym, = struct.unpack_from(">H", ak, o); o += 2
assert typ == 0x0001 and sym == 0x0010  # RSA, no symmetric
scheme, hash_, bits, exp = struct.unpack_from(">HHHI", ak, o); o += 10
n_len, = struct.unpack_from(">H", ak, o); o += 2
modulus = ak[o:o + n_len]; o += n_len
assert o == len(ak) and len(modulus) * 8 == bits
with open(out + "/rsa.conf", "w") as f:
    f.write("asn1=SEQUENCE:pk\n[pk]\nn=INTEGER:0x%s\ne=INTEGER:%d\n"
            % (modulus.hex(), exp or 65537))

# TPMT_SIGNATURE: sigAlg, hash, TPM2B signature.
alg, h, n = struct.unpack_from(">HHH", sig, 0)
assert 6 + n == len(sig)
put("sig.raw", sig[6:])

# TPMS_ATTEST: magic, type, qualifiedSigner, extraData, clockInfo, firmwareVersion, quote.
o = 0
magic, atype, qs = struct.unpack_from(">IHH", attest, o); o += 8 + qs
ed, = struct.unpack_from(">H", attest, o); o += 2 + ed
o += 17 + 8
count, = struct.unpack_from(">I", attest, o); o += 4
sels = []
for _ in range(count):
    halg, size = struct.unpack_from(">HB", attest, o); o += 3
    bitmap = attest[o:o + size]; o += size
    sels.append((halg, [i for i in range(8 * size) if bitmap[i // 8] >> (i % 8) & 1]))
dl, = struct.unpack_from(">H", attest, o); o += 2
put("pcrdigest.bin", attest[o:o + dl]); o += dl
assert o == len(attest)
with open(out + "/facts", "w") as f:
    f.write("magic=%08x type=%04x extra_data=%d sig_alg=%04x sig_hash=%04x banks=%s key=%d/%04x/%04x\n"
            % (magic, atype, ed, alg, h,
               ",".join("%04x:%s" % (b, "-".join(map(str, p))) for b, p in sels),
               bits, scheme, hash_))
PY

case $case_ in
windows-signature)
    # RSASSA-PKCS1-v1_5 with SHA-1 over the TPMS_ATTEST bytes, by the AK in the vector.
    grep -q 'sig_alg=0014 sig_hash=0004' "$tmp/facts" && grep -q 'key=2048/0014/0004' "$tmp/facts" &&
        ok "RSASSA/SHA-1 signature by an RSA-2048 RSASSA/SHA-1 AK ($(cat "$tmp/facts"))" ||
        fail "unexpected structure: $(cat "$tmp/facts")"
    openssl asn1parse -genconf "$tmp/rsa.conf" -out "$tmp/ak.der" -noout >/dev/null &&
        openssl rsa -RSAPublicKey_in -inform DER -in "$tmp/ak.der" -pubout -out "$tmp/ak.pem" \
            2>/dev/null || { echo "cannot build the AK public key"; exit 2; }
    if openssl dgst -sha1 -verify "$tmp/ak.pem" -signature "$tmp/sig.raw" "$tmp/quote.attest" \
        >"$tmp/out" 2>&1 && grep -q '^Verified OK' "$tmp/out"; then
        ok "openssl dgst -sha1 -verify: the quote's signature verifies"
    else
        fail "signature: $(cat "$tmp/out")"
    fi
    # The same check must fail on one flipped byte (so it can fail at all).
    cp "$tmp/quote.attest" "$tmp/flipped.attest"
    printf '\001' | dd of="$tmp/flipped.attest" bs=1 seek=40 conv=notrunc 2>/dev/null
    if openssl dgst -sha1 -verify "$tmp/ak.pem" -signature "$tmp/sig.raw" "$tmp/flipped.attest" \
        >"$tmp/out" 2>&1; then
        fail "a flipped attest byte still verifies"
    else
        ok "a flipped attest byte does not verify"
    fi
    ;;
windows-pcr-digest)
    # pcrDigest = SHA-1(PCR 0 || ... || PCR 23) of the stated PCRs, in selection order.
    grep -q 'magic=ff544347 type=8018 extra_data=0 ' "$tmp/facts" &&
        grep -q 'banks=0004:0-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16-17-18-19-20-21-22-23 ' \
            "$tmp/facts" && ok "a quote, empty extraData, selection sha1:0-23" ||
        fail "unexpected quote: $(cat "$tmp/facts")"
    openssl dgst -sha1 -binary "$tmp/pcrs.bin" >"$tmp/digest.bin"
    cmp -s "$tmp/digest.bin" "$tmp/pcrdigest.bin" &&
        ok "pcrDigest $(od -An -tx1 "$tmp/pcrdigest.bin" | tr -d ' \n') = SHA-1 of the stated PCRs" ||
        fail "pcrDigest differs from SHA-1 of the stated PCRs"
    printf '\001' | dd of="$tmp/pcrs.bin" bs=1 seek=140 conv=notrunc 2>/dev/null
    openssl dgst -sha1 -binary "$tmp/pcrs.bin" >"$tmp/digest.bin"
    cmp -s "$tmp/digest.bin" "$tmp/pcrdigest.bin" && fail "a changed PCR 7 gives the same digest" ||
        ok "a changed PCR 7 gives another digest"
    ;;
windows-replay)
    "$tool" replay "$tmp" || fails=$((fails + 1))
    ;;
windows-policy)
    "$tool" policy "$tmp" "$src/tests/fixtures/quote" || fails=$((fails + 1))
    ;;
*)
    echo "vectors.sh: unknown case $case_" >&2
    exit 2
    ;;
esac
[ "$fails" -eq 0 ]
