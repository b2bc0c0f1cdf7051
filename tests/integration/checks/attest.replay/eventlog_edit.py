#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Test helper for attest.replay: reads the fixtures' expected PCRs and makes tampered copies of
a TCG event log (binary_bios_measurements) at run time. The fixtures are never written.

  eventlog_edit.py expected FIXTURE.expected.json
      one line "BANK PCR HEX" per PCR value the file states (expected_pcrs_stated_by_source,
      or computed_replay_pcrs when the source states none), then "source stated|computed"
  eventlog_edit.py info LOG
      "records N extended M locality L banks sha1,sha256"
  eventlog_edit.py replay LOG BANK
      "PCR HEX" for PCR 0-23 of BANK (sha1, sha256, ...): the log replayed here, PCR 0 starting
      at the StartupLocality value
  eventlog_edit.py flip LOG PCR OUT        flip a byte of the SHA-256 digest of PCR's first event
  eventlog_edit.py drop-last LOG PCR OUT   remove PCR's last event
  eventlog_edit.py append LOG PCR OUT      append a copy of PCR's last event at the end
  eventlog_edit.py locality LOG VALUE OUT  rewrite the StartupLocality byte
  eventlog_edit.py add-pcr LOG PCR OUT     append an EV_EFI_ACTION event extending PCR
  eventlog_edit.py cut LOG WHERE OUT       cut the last record inside its digests (WHERE=digest)
                                           or 3 bytes before its end (WHERE=data)

The parser here is deliberately independent of attest/eventlog.c (a second reading of the TCG
PC Client PFP record layout) and only as strict as the edits need.
"""
import hashlib
import json
import struct
import sys

EV_NO_ACTION = 3
EV_EFI_ACTION = 0x80000007
ALG_SIZES = {0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64}
ALG_NAMES = {0x0004: "sha1", 0x000B: "sha256", 0x000C: "sha384", 0x000D: "sha512"}


class Record:
    def __init__(self, start, end, pcr, etype, digests, data_off, data_len):
        self.start, self.end = start, end
        self.pcr, self.type = pcr, etype
        self.digests = digests  # [(alg, offset, size)]
        self.data_off, self.data_len = data_off, data_len


def parse(buf):
    """Returns (records, algs, agile): records[0] is the Spec ID header when agile."""
    records = []
    pcr, etype = struct.unpack_from("<II", buf, 0)
    (size,) = struct.unpack_from("<I", buf, 28)
    header = Record(0, 32 + size, pcr, etype, [(0x0004, 8, 20)], 32, size)
    records.append(header)
    data = buf[32 : 32 + size]
    if etype == EV_NO_ACTION and data[:16] == b"Spec ID Event03\0":
        (n,) = struct.unpack_from("<I", data, 24)
        algs = [struct.unpack_from("<HH", data, 28 + 4 * i) for i in range(n)]
        off = header.end
        while off < len(buf):
            start = off
            pcr, etype, count = struct.unpack_from("<III", buf, off)
            off += 12
            digests = []
            for _ in range(count):
                (alg,) = struct.unpack_from("<H", buf, off)
                dsize = dict(algs)[alg]
                digests.append((alg, off + 2, dsize))
                off += 2 + dsize
            (size,) = struct.unpack_from("<I", buf, off)
            off += 4
            records.append(Record(start, off + size, pcr, etype, digests, off, size))
            off += size
        return records, [a for a, _ in algs], True
    off = header.end  # SHA-1 legacy: every record is a TCG_PCClientPCREvent
    while off < len(buf):
        pcr, etype = struct.unpack_from("<II", buf, off)
        (size,) = struct.unpack_from("<I", buf, off + 28)
        records.append(Record(off, off + 32 + size, pcr, etype, [(0x0004, off + 8, 20)], off + 32, size))
        off += 32 + size
    return records, [0x0004], False


def measured(records, agile, pcr=None):
    return [r for r in records[1 if agile else 0 :]
            if (pcr is None or r.pcr == pcr) and r.type != EV_NO_ACTION]


def startup_locality(buf, records):
    for r in records:
        if r.type == EV_NO_ACTION and buf[r.data_off : r.data_off + 16] == b"StartupLocality\0":
            return r.data_off + 16
    return None


def main(argv):
    cmd = argv[1]
    if cmd == "expected":
        d = json.load(open(argv[2]))
        pcrs, source = d.get("expected_pcrs_stated_by_source"), "stated"
        if not pcrs:
            pcrs, source = d.get("computed_replay_pcrs"), "computed"
        for bank, values in sorted((pcrs or {}).items()):
            for idx, value in sorted(values.items(), key=lambda kv: int(kv[0])):
                print(bank, idx, value.lower())
        print("source", source if pcrs else "none")
        return 0
    buf = bytearray(open(argv[2], "rb").read())
    records, algs, agile = parse(buf)
    if cmd == "info":
        extended = len(measured(records, agile))
        loc = startup_locality(buf, records)
        print("records", len(records), "extended", extended, "locality",
              buf[loc] if loc is not None else 0, "banks", ",".join(ALG_NAMES.get(a, hex(a)) for a in algs))
        return 0
    if cmd == "replay":
        alg = {v: k for k, v in ALG_NAMES.items()}[argv[3]]
        size = ALG_SIZES[alg]
        loc = startup_locality(buf, records)
        pcrs = [bytes(size) for _ in range(24)]
        pcrs[0] = bytes(size - 1) + bytes([buf[loc] if loc is not None else 0])
        for r in measured(records, agile):
            digest = next((buf[o : o + n] for a, o, n in r.digests if a == alg), None)
            if digest is not None:
                pcrs[r.pcr] = hashlib.new(argv[3], pcrs[r.pcr] + digest).digest()
        for i, v in enumerate(pcrs):
            print(i, v.hex())
        return 0
    out = argv[4]
    if cmd == "flip":
        rec = measured(records, agile, int(argv[3]))[0]
        alg, off, size = next((d for d in rec.digests if d[0] == 0x000B), rec.digests[0])
        buf[off + size - 1] ^= 0x01
    elif cmd == "drop-last":
        rec = measured(records, agile, int(argv[3]))[-1]
        del buf[rec.start : rec.end]
    elif cmd == "append":
        rec = measured(records, agile, int(argv[3]))[-1]
        buf += buf[rec.start : rec.end]
    elif cmd == "locality":
        off = startup_locality(buf, records)
        if off is None:
            print("eventlog_edit.py: no StartupLocality event", file=sys.stderr)
            return 1
        buf[off] = int(argv[3])
    elif cmd == "add-pcr":
        data = b"posture test event"
        if not agile:
            rec = struct.pack("<II", int(argv[3]), EV_EFI_ACTION) + hashlib.sha1(data).digest()
        else:
            rec = struct.pack("<III", int(argv[3]), EV_EFI_ACTION, len(algs))
            for a in algs:
                rec += struct.pack("<H", a) + hashlib.new(ALG_NAMES[a], data).digest()
        buf += rec + struct.pack("<I", len(data)) + data
    elif cmd == "cut":
        rec = records[-1]
        if argv[3] == "digest":
            del buf[rec.digests[0][1] + 1 :]
        else:
            del buf[rec.end - 3 :]
    else:
        print("eventlog_edit.py: unknown command", cmd, file=sys.stderr)
        return 2
    open(out, "wb").write(bytes(buf))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
