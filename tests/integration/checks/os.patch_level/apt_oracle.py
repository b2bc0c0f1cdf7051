#!/usr/bin/env python3
"""What `apt-get -s upgrade` says: the independent oracle of os.patch_level's tests.

usage: apt_oracle.py [--root ROOT --work DIR]

Without --root it runs plain `apt-get -s upgrade` with the machine's real configuration. With
--root it runs apt-get on the generated root only: its sources.list, lists, dpkg status, no
host configuration (APT_CONFIG points at a file that switches apt.conf.d and apt.conf off).

Prints JSON: {"upgraded": N, "not_upgraded": J, "pending": N + J,
              "security": [sorted names whose candidate comes from a security suite]}
A security candidate is one whose release string names a security suite: on the Inst lines of
`apt-get -s upgrade` (label Debian-Security, or an archive or suite ending in "-security"),
and for packages apt keeps back (they have no Inst line), the candidate's sources in
`apt-cache policy`.
"""

import argparse
import json
import os
import re
import subprocess
import sys


def apt_args(root, work):
    if root is None:
        return [], None
    root = os.path.abspath(root)
    conf = os.path.join(work, "apt-oracle.conf")
    with open(conf, "w") as f:
        f.write('Dir::Etc::parts "/dev/null";\nDir::Etc::main "/dev/null";\n')
    os.makedirs(os.path.join(work, "cache"), exist_ok=True)
    opts = [
        "-o", "Dir=%s/" % root,
        "-o", "Dir::State::status=%s/var/lib/dpkg/status" % root,
        "-o", "Dir::Cache=%s/cache" % work,
        "-o", "Dir::Cache::pkgcache=",
        "-o", "Dir::Cache::srcpkgcache=",
        "-o", "APT::Architecture=amd64",
        "-o", "APT::Architectures::=amd64",
        "-o", "APT::Architectures::=i386",
        "-o", "Debug::NoLocking=1",
    ]
    env = dict(os.environ, APT_CONFIG=conf, LC_ALL="C")
    return opts, env


def run(cmd, env):
    p = subprocess.run(cmd, env=env if env else dict(os.environ, LC_ALL="C"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit("apt_oracle.py: %s exited with %d" % (" ".join(cmd[:2]), p.returncode))
    return p.stdout


def is_security_relstr(rel):
    # "Debian:12.5/stable, Debian-Security:12/stable-security" (label:version/archive, ...)
    for item in rel.split(", "):
        label, _, rest = item.partition(":")
        archive = rest.rsplit("/", 1)[-1]
        if label == "Debian-Security" or archive.endswith("-security"):
            return True
    return False


INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) (.*) \[[^\]]+\]\)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root")
    ap.add_argument("--work", default="/tmp")
    a = ap.parse_args()
    opts, env = apt_args(a.root, a.work)

    out = run(["apt-get", "-s"] + opts + ["upgrade"], env)
    m = re.search(r"^(\d+) upgraded, \d+ newly installed, \d+ to remove and (\d+) not upgraded\.$", out, re.M)
    if not m:
        raise SystemExit("apt_oracle.py: no summary line in apt-get output:\n" + out)
    upgraded, not_upgraded = int(m.group(1)), int(m.group(2))

    security = set()
    inst = 0
    for line in out.splitlines():
        if not line.startswith("Inst "):
            continue
        im = INST.match(line)
        if not im:
            raise SystemExit("apt_oracle.py: unexpected Inst line: " + line)
        inst += 1
        if is_security_relstr(im.group(3)):
            security.add(im.group(1))
    if inst != upgraded:
        raise SystemExit("apt_oracle.py: %d Inst lines for %d upgraded" % (inst, upgraded))

    kept = []
    km = re.search(r"^The following packages have been kept back:\n((?:  .*\n)+)", out, re.M)
    if km:
        kept = km.group(1).split()
    if len(kept) != not_upgraded:
        raise SystemExit("apt_oracle.py: %d kept back for %d not upgraded" % (len(kept), not_upgraded))
    if kept:
        pol = run(["apt-cache"] + opts + ["policy"] + kept, env)
        for block in re.split(r"^(?=\S)", pol, flags=re.M):
            if not block.strip():
                continue
            name = block.split(":\n", 1)[0].strip()
            cand = re.search(r"^  Candidate: (\S+)$", block, re.M).group(1)
            # The version table: "     VER PRIO" (or " *** VER PRIO") then indented sources.
            cur = None
            for l in block.splitlines():
                vm = re.match(r"^ (?:\*\*\*|   ) (\S+) -?\d+$", l)
                if vm:
                    cur = vm.group(1)
                    continue
                sm = re.match(r"^\s+-?\d+ \S+ (\S+)/\S+ \S+ Packages$", l)
                if sm and cur == cand and sm.group(1).endswith("-security"):
                    security.add(name)
    json.dump({"upgraded": upgraded, "not_upgraded": not_upgraded, "pending": upgraded + not_upgraded,
               "security": sorted(security)}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
