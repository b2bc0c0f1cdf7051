#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Do the system calls of an strace log pass a unit's SystemCallFilter=?

Usage: syscall_filter.py UNIT TRACE

The filter is rebuilt from the unit's SystemCallFilter= lines in order (a plain line adds its
calls, a "~" line removes them; the first one makes it an allow list), with the groups expanded
recursively from `systemd-analyze syscall-filter` (the systemd the unit will run under). TRACE
is `strace -f -o` output: "PID name(args) = result" lines. Prints the calls used and those the
filter refuses; exits 1 when there is one, 2 on bad input.
"""
import re
import subprocess
import sys


def groups_of_systemd():
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                         check=True).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = line.strip()
            groups[cur] = []
        elif cur and line.startswith("    ") and not line.strip().startswith("#"):
            groups[cur].append(line.strip())
        elif not line.strip():
            cur = None
    return groups


def expand(groups, name, seen=()):
    if not name.startswith("@"):
        return {name}
    if name not in groups:
        raise ValueError(f"unknown group {name}")
    out = set()
    for n in groups[name]:
        if n not in seen:
            out |= expand(groups, n, seen + (name,))
    return out


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    groups = groups_of_systemd()
    allowed, lines = set(), 0
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            m = re.match(r"SystemCallFilter=(~?)(.*)$", line.strip())
            if not m:
                continue
            lines += 1
            names = set()
            for n in m.group(2).split():
                names |= expand(groups, n)
            if m.group(1):
                allowed -= names
            else:
                allowed |= names
    if lines == 0:
        print(f"{sys.argv[1]}: no SystemCallFilter= line", file=sys.stderr)
        return 2
    used = set()
    with open(sys.argv[2], encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"\d+ +([a-z0-9_]+)\(", line)
            if m:
                used.add(m.group(1))
    if not used:
        print(f"{sys.argv[2]}: no system call in the trace", file=sys.stderr)
        return 2
    refused = sorted(used - allowed)
    print(f"{len(used)} system calls used, {len(allowed)} allowed by the filter:")
    print("  " + " ".join(sorted(used)))
    if refused:
        print("refused by the filter: " + " ".join(refused))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
