#!/usr/bin/env python3
"""Build a Debian-like root for os.patch_level's oracle tests and benchmark.

The root holds what apt reads when it decides `apt-get -s upgrade`:
  var/lib/dpkg/status                      installed packages (epochs, tildes, a held package,
                                           a foreign-arch i386 package, arch all, config-files)
  var/lib/apt/lists/*_{InRelease,Release}  a security suite that looks like bookworm-security,
                                           bookworm, bookworm-updates and a NotAutomatic
                                           (ButAutomaticUpgrades) bookworm-backports
  var/lib/apt/lists/*_Packages[.lz4|.gz|.xz]  compressed the way apt keeps them
  etc/apt/sources.list                     the sources apt needs to find those lists by name
                                           ([trusted=yes]: nothing is fetched or verified)

usage: gen_apt_root.py [--scenario NAME] [--installed N] [--stanzas N] [--seed N] OUTDIR

Scenarios: mixed, none, security-only, backports, compressed, bench. Output is deterministic
for a given scenario, size and seed (file contents and mtimes).
"""

import argparse
import gzip
import hashlib
import lzma
import os
import random
import shutil
import subprocess
import sys

MIRROR = "deb.debian.org"
# (suite, URI path, release fields, list file name stem)
SUITES = {
    "bookworm": {
        "uri": "debian",
        "release": [
            ("Origin", "Debian"), ("Label", "Debian"), ("Suite", "stable"), ("Version", "12.5"),
            ("Codename", "bookworm"), ("Changelogs", "https://metadata.ftp-master.debian.org/changelogs/@CHANGEPATH@_changelog"),
            ("Date", "Sat, 10 Feb 2024 09:49:31 UTC"), ("Acquire-By-Hash", "yes"),
            ("No-Support-for-Architecture-all", "Packages"),
            ("Architectures", "all amd64 arm64 armel armhf i386 mips64el mipsel ppc64el s390x"),
            ("Components", "main contrib non-free-firmware non-free"),
            ("Description", "Debian 12.5 Released 10 February 2024"),
        ],
        "signed": True,
    },
    "bookworm-updates": {
        "uri": "debian",
        "release": [
            ("Origin", "Debian"), ("Label", "Debian"), ("Suite", "stable-updates"), ("Version", "12-updates"),
            ("Codename", "bookworm-updates"), ("Date", "Mon, 26 Feb 2024 20:13:12 UTC"),
            ("Valid-Until", "Mon, 04 Mar 2024 20:13:12 UTC"), ("Acquire-By-Hash", "yes"),
            ("No-Support-for-Architecture-all", "Packages"),
            ("Architectures", "all amd64 arm64 armel armhf i386 mips64el mipsel ppc64el s390x"),
            ("Components", "main contrib non-free-firmware non-free"),
            ("Description", "Debian 12 - Updates"),
        ],
        "signed": True,
    },
    "bookworm-security": {
        "uri": "debian-security",
        "release": [
            ("Origin", "Debian"), ("Label", "Debian-Security"), ("Suite", "stable-security"), ("Version", "12"),
            ("Codename", "bookworm-security"), ("Date", "Tue, 27 Feb 2024 03:32:41 UTC"),
            ("Valid-Until", "Tue, 05 Mar 2024 03:32:41 UTC"), ("Acquire-By-Hash", "yes"),
            ("Architectures", "amd64 arm64 armhf i386 ppc64el"),
            ("Components", "updates/main updates/contrib updates/non-free-firmware updates/non-free"),
            ("Description", "Debian 12 - Security Updates"),
        ],
        "signed": True,
    },
    "bookworm-backports": {
        "uri": "debian",
        "release": [
            ("Origin", "Debian Backports"), ("Label", "Debian Backports"), ("Suite", "stable-backports"),
            ("Version", "12-backports"), ("Codename", "bookworm-backports"),
            ("Date", "Tue, 27 Feb 2024 08:17:49 UTC"), ("Valid-Until", "Tue, 05 Mar 2024 08:17:49 UTC"),
            ("NotAutomatic", "yes"), ("ButAutomaticUpgrades", "yes"), ("Acquire-By-Hash", "yes"),
            ("No-Support-for-Architecture-all", "Packages"),
            ("Architectures", "all amd64 arm64 armel armhf i386 mips64el mipsel ppc64el s390x"),
            ("Components", "main contrib non-free-firmware non-free"),
            ("Description", "Debian 12 - Backports"),
        ],
        "signed": False,  # an old-style Release (+ Release.gpg) instead of InRelease
    },
}
ARCHES = ("amd64", "i386")
# The epoch every generated file gets as its mtime (2024-02-27 12:00 UTC).
MTIME = 1709035200


def list_stem(suite, arch):
    return "%s_%s_dists_%s_main_binary-%s_Packages" % (MIRROR, SUITES[suite]["uri"], suite, arch)


def release_stem(suite):
    return "%s_%s_dists_%s_" % (MIRROR, SUITES[suite]["uri"], suite)


class Pkg:
    """One installed package or one list entry."""

    def __init__(self, name, arch, version, depends=None, ma=None, status="install ok installed",
                 section="misc", source=None):
        self.name, self.arch, self.version = name, arch, version
        self.depends, self.ma, self.status = depends, ma, status
        self.section, self.source = section, source


class Scenario:
    def __init__(self):
        self.installed = []  # Pkg
        self.offers = {s: [] for s in SUITES}  # suite -> [Pkg]
        self.compression = {}  # (suite, arch) -> "" | "lz4" | "gz" | "xz"

    def inst(self, name, arch, version, **kw):
        self.installed.append(Pkg(name, arch, version, **kw))

    def offer(self, suite, name, arch, version, **kw):
        self.offers[suite].append(Pkg(name, arch, version, **kw))


def words(rng, n):
    syll = ["ka", "lo", "mi", "ne", "pu", "ra", "si", "to", "vu", "xe", "zo", "ba", "de", "fi", "gu"]
    return " ".join("".join(rng.choice(syll) for _ in range(rng.randint(2, 4))) for _ in range(n))


def installed_size(p):
    # apt merges the status entry and a list entry of one version only when the fields it hashes
    # (Installed-Size, Depends, ...) agree, as they do for a real package.
    return 16 + int(hashlib.md5(("%s/%s/%s" % (p.name, p.arch, p.version)).encode()).hexdigest()[:6], 16) % 40000


def stanza_status(p, rng):
    lines = [
        "Package: " + p.name,
        "Status: " + p.status,
        "Priority: optional",
        "Section: " + p.section,
        "Installed-Size: %d" % installed_size(p),
        "Maintainer: Debian Example Maintainers <pkg-example@lists.example.org>",
        "Architecture: " + p.arch,
    ]
    if p.ma:
        lines.append("Multi-Arch: " + p.ma)
    if p.source:
        lines.append("Source: " + p.source)
    lines.append("Version: " + p.version)
    if p.depends:
        lines.append("Depends: " + p.depends)
    if p.status.endswith("config-files") or rng.random() < 0.1:
        lines.append("Conffiles:\n /etc/%s/%s.conf %s" % (p.name, p.name, hashlib.md5(p.name.encode()).hexdigest()))
    lines.append("Description: %s\n %s\n .\n %s" % (words(rng, 4), words(rng, 9), words(rng, 7)))
    lines.append("Homepage: https://%s.example.org/" % p.name)
    return "\n".join(lines) + "\n"


def stanza_packages(p, rng):
    h = hashlib.sha256((p.name + p.arch + p.version).encode()).hexdigest()
    pool = p.name[:4] if p.name.startswith("lib") else p.name[0]
    lines = ["Package: " + p.name]
    if p.source:
        lines.append("Source: " + p.source)
    lines += [
        "Version: " + p.version,
        "Installed-Size: %d" % installed_size(p),
        "Maintainer: Debian Example Maintainers <pkg-example@lists.example.org>",
        "Architecture: " + p.arch,
    ]
    if p.ma:
        lines.append("Multi-Arch: " + p.ma)
    if p.depends:
        lines.append("Depends: " + p.depends)
    if getattr(p, "long", False):
        lines += ["Recommends: " + ", ".join(rng.sample(DEPS, 2)), "Suggests: " + rng.choice(DEPS),
                  "Breaks: %s-old (<< 1.0)" % p.name]
    lines += [
        "Description: " + words(rng, 5),
        "Homepage: https://%s.example.org/" % p.name,
        "Description-md5: " + h[:32],
        "Tag: role::program, implemented-in::c",
        "Section: " + p.section,
        "Priority: optional",
        "Filename: pool/main/%s/%s/%s_%s_%s.deb" % (pool, p.name, p.name, p.version.split(":")[-1], p.arch),
        "Size: %d" % (1000 + int(h[:8], 16) % 5000000),
        "SHA256: " + h,
    ]
    return "\n".join(lines) + "\n"


# ---- Scenarios ----

def base_mixed(s):
    """Hand-written cases; each comment says what apt should make of it."""
    i, o = s.inst, s.offer
    i("base-files", "amd64", "12.4+deb12u4", section="admin")
    o("bookworm", "base-files", "amd64", "12.4+deb12u5")                       # pending
    for a in ARCHES:                                                            # M-A same pair
        i("libc6", a, "2.36-9+deb12u3", ma="same", source="glibc", section="libs")
        o("bookworm", "libc6", a, "2.36-9+deb12u3", ma="same", source="glibc")
        o("bookworm-security", "libc6", a, "2.36-9+deb12u4", ma="same", source="glibc")  # security
    i("libc-bin", "amd64", "2.36-9+deb12u3", ma="foreign", source="glibc")
    o("bookworm-security", "libc-bin", "amd64", "2.36-9+deb12u4", ma="foreign", source="glibc",
      depends="libc6 (>> 2.36), libc6 (<< 2.37)")
    i("openssl", "amd64", "3.0.11-1~deb12u1")
    o("bookworm", "openssl", "amd64", "3.0.11-1~deb12u1")
    o("bookworm-security", "openssl", "amd64", "3.0.11-1~deb12u2")              # tilde, security
    i("libssl3", "amd64", "3.0.11-1~deb12u1", ma="same", source="openssl")
    o("bookworm-security", "libssl3", "amd64", "3.0.11-1~deb12u2", ma="same", source="openssl")
    o("bookworm-security", "libssl3", "i386", "3.0.11-1~deb12u2", ma="same", source="openssl")  # not installed
    i("tzdata", "all", "2024a-0+deb12u1", ma="foreign")
    o("bookworm", "tzdata", "all", "2024a-0+deb12u1", ma="foreign")
    o("bookworm-updates", "tzdata", "all", "2024b-0+deb12u1", ma="foreign")     # arch all, updates
    i("python3-six", "all", "1.16.0-4")
    o("bookworm", "python3-six", "all", "1.16.0-4")                            # same: nothing
    i("epochpkg", "amd64", "1:1.0-1")
    o("bookworm", "epochpkg", "amd64", "2.0-1")                                 # epoch wins: not pending
    i("epochup", "amd64", "1:1.0-1")
    o("bookworm", "epochup", "amd64", "1:1.0-1+b1")                             # binNMU: pending
    i("tildepkg", "amd64", "1.0~rc1-1")
    o("bookworm", "tildepkg", "amd64", "1.0-1")                                 # ~ sorts first: pending
    i("tildeold", "amd64", "1.0-1")
    o("bookworm", "tildeold", "amd64", "1.0~beta1-1")                           # older: not pending
    i("heldpkg", "amd64", "1.0-1", status="hold ok installed")
    o("bookworm", "heldpkg", "amd64", "1.1-1")                                  # held: kept back
    i("kbpkg", "amd64", "1.0-1")
    o("bookworm", "kbpkg", "amd64", "2.0-1", depends="newdep (>= 1.0)")          # new dependency: kept back
    o("bookworm", "newdep", "amd64", "1.0-1")
    i("bpo-installed", "amd64", "1.0-1~bpo12+1")
    o("bookworm-backports", "bpo-installed", "amd64", "1.1-1~bpo12+1")          # ButAutomaticUpgrades: pending
    i("bpo-newer", "amd64", "1.0-1")
    o("bookworm", "bpo-newer", "amd64", "1.0-1")
    o("bookworm-backports", "bpo-newer", "amd64", "2.0-1~bpo12+1")              # priority 100: not pending
    i("localpkg", "amd64", "0.1-1")                                             # in no list: not pending
    i("removed-cfg", "amd64", "1.0-1", status="deinstall ok config-files")
    o("bookworm", "removed-cfg", "amd64", "2.0-1")                              # not installed
    i("libgcrypt20", "amd64", "1.10.1-3", ma="same")
    o("bookworm", "libgcrypt20", "amd64", "1.10.1-3+deb12u1", ma="same")
    o("bookworm-security", "libgcrypt20", "amd64", "1.10.1-3+deb12u1", ma="same")  # both: security
    for n in ("curl", "libcurl4"):
        i(n, "amd64", "7.88.1-10+deb12u4", source="curl")
        o("bookworm-security", n, "amd64", "7.88.1-10+deb12u5", source="curl")
        o("bookworm", n, "amd64", "7.88.1-10+deb12u6", source="curl")           # main newer: not security
    i("sec-multi", "amd64", "2.0-1")
    o("bookworm-security", "sec-multi", "amd64", "2.0-1+deb12u1")
    o("bookworm-security", "sec-multi", "amd64", "2.0-1+deb12u2")               # two versions: newest
    i("libfoo1", "i386", "1.0-1", ma="same")
    o("bookworm", "libfoo1", "i386", "1.1-1", ma="same")                        # foreign only: libfoo1:i386
    i("amd64only", "amd64", "1.0-1")
    o("bookworm", "amd64only", "i386", "2.0-1")                                 # other arch: not pending
    i("dfsgpkg", "amd64", "2.4.1+dfsg-1")
    o("bookworm", "dfsgpkg", "amd64", "2.4.1+dfsg-1+deb12u1")
    i("gitsnap", "amd64", "0.0~git20230101.abc1234-1")
    o("bookworm", "gitsnap", "amd64", "0.0~git20230315.def5678-1")
    i("nativepkg", "all", "3.2")
    o("bookworm", "nativepkg", "all", "3.2.1")                                  # native version
    i("plusplus", "amd64", "1.0+really0.9-1")
    o("bookworm", "plusplus", "amd64", "1.0+really0.9-2")
    i("letters", "amd64", "1.0a-1")
    o("bookworm", "letters", "amd64", "1.0-1")                                  # 1.0a > 1.0: not pending
    i("linux-image-6.1.0-17-amd64", "amd64", "6.1.69-1", section="kernel", source="linux-signed-amd64")
    o("bookworm", "linux-image-6.1.0-17-amd64", "amd64", "6.1.69-1", section="kernel", source="linux-signed-amd64")
    i("linux-image-6.1.0-18-amd64", "amd64", "6.1.76-1", section="kernel", source="linux-signed-amd64")
    o("bookworm-security", "linux-image-6.1.0-18-amd64", "amd64", "6.1.76-1", section="kernel", source="linux-signed-amd64")
    i("linux-image-amd64", "amd64", "6.1.69-1", section="kernel", source="linux-signed-amd64",
      depends="linux-image-6.1.0-17-amd64 (= 6.1.69-1)")
    o("bookworm", "linux-image-amd64", "amd64", "6.1.69-1", section="kernel", source="linux-signed-amd64",
      depends="linux-image-6.1.0-17-amd64 (= 6.1.69-1)")
    o("bookworm-security", "linux-image-amd64", "amd64", "6.1.76-1", section="kernel",
      source="linux-signed-amd64", depends="linux-image-6.1.0-18-amd64 (= 6.1.76-1)")  # security
    i("unattended-upgrades", "all", "2.9.1+nmu3")
    o("bookworm", "unattended-upgrades", "all", "2.9.1+nmu3")
    i("sec-and-bpo", "amd64", "1.0-1")
    o("bookworm-security", "sec-and-bpo", "amd64", "1.0-1+deb12u1")
    o("bookworm-backports", "sec-and-bpo", "amd64", "1.1-1~bpo12+1")            # security, not bpo
    i("keptsec", "amd64", "1.0-1")
    o("bookworm-security", "keptsec", "amd64", "1.0-1+deb12u1", depends="newsecdep")  # security, kept back
    o("bookworm-security", "newsecdep", "amd64", "1.0-1")
    for a in ARCHES:                                                            # M-A same skew
        i("libskew1", a, "1.0-1", ma="same")
    o("bookworm-security", "libskew1", "amd64", "1.0-1+deb12u1", ma="same")     # i386 missing: kept back
    o("bookworm", "libskew1", "i386", "1.0-1", ma="same")


VERSION_FORMS = [
    "{a}.{b}.{c}-{r}", "{a}.{b}-{r}", "{e}:{a}.{b}.{c}-{r}", "{a}.{b}.{c}~rc{r}-1", "{a}.{b}.{c}+dfsg-{r}",
    "{a}.{b}.{c}-{r}+deb12u{u}", "{a}.{b}.{c}-{r}~deb12u{u}", "{a}.{b}", "{a}.{b}.{c}a-{r}",
    "{a}.{b}.{c}-{r}.{u}", "{a}.{b}.{c}+git2023{m:02d}{d:02d}.{h}-{r}", "{a}.{b}.{c}-{r}+b{u}",
]


def random_version(rng):
    form = rng.choice(VERSION_FORMS)
    return form.format(a=rng.randint(0, 12), b=rng.randint(0, 30), c=rng.randint(0, 9),
                       r=rng.randint(1, 9), e=rng.randint(1, 3), u=rng.randint(1, 4),
                       m=rng.randint(1, 12), d=rng.randint(1, 28), h="%07x" % rng.getrandbits(28))


def mutate(rng, v):
    """A version near v: newer, older or equal, through the tricky corners of the ordering."""
    k = rng.randint(0, 11)
    if k == 0:
        return v + "+deb12u1"
    if k == 1:
        return v + "~deb12u1"
    if k == 2:
        return v + "+b1"
    if k == 3:
        return ("1:" + v) if ":" not in v else v.split(":", 1)[1]
    if k == 4:
        return v.replace("-", "~1-", 1) if "-" in v else v + "~1"
    if k == 5:
        return v + "a" if "-" not in v else v.replace("-", "a-", 1)
    if k == 6:
        return v + ".1" if "-" not in v else v.replace("-", ".1-", 1)
    if k == 7:
        return v
    if k == 8:
        return v + "+deb12u2"
    if k == 9:
        return v + "~bpo12+1"
    if k == 10:
        return v + "+really1"
    return random_version(rng)


def add_random(s, rng, n, offers=("bookworm", "bookworm-updates", "bookworm-security", "bookworm-backports"),
               prefix="rnd"):
    for k in range(n):
        name = "%s-%s%d" % (prefix, rng.choice(["lib", "py", "tool", "data", "x"]), k)
        arch = rng.choice(["amd64"] * 6 + ["all"])
        v = random_version(rng)
        s.inst(name, arch, v)
        placed = False
        for suite in offers:
            if rng.random() < (0.9 if suite == "bookworm" else 0.25):
                s.offer(suite, name, arch, mutate(rng, v) if suite != "bookworm" or rng.random() < 0.4 else v)
                placed = True
        if not placed and rng.random() < 0.5:
            s.offer("bookworm", name, arch, v)


DEPS = ["libc6 (>= 2.34)", "libgcc-s1 (>= 3.0)", "libstdc++6 (>= 12)", "zlib1g (>= 1:1.2.0)",
        "libssl3 (>= 3.0.0)", "python3:any", "perl:any", "debconf (>= 0.5) | debconf-2.0",
        "libglib2.0-0 (>= 2.75.3)", "fonts-dejavu-core"]


def add_filler_offers(s, rng, n, suite="bookworm"):
    """List entries for packages that are not installed (a realistic list is mostly those, with
    dependencies and longer descriptions: about 800 bytes a stanza, like Debian's)."""
    for k in range(n):
        p = Pkg("avail-%s%d" % (rng.choice(["lib", "py", "go", "node", "fonts"]), k),
                rng.choice(["amd64"] * 5 + ["all"]), random_version(rng),
                depends=", ".join(rng.sample(DEPS, rng.randint(1, 5))))
        p.long = True
        s.offers[suite].append(p)


def scenario(name, rng, installed_n, stanzas_n):
    s = Scenario()
    plain = {(su, a): "" for su in SUITES for a in ARCHES}
    if name in ("mixed", "compressed"):
        base_mixed(s)
        add_random(s, rng, 150)
        add_filler_offers(s, rng, 300)
        s.compression = dict(plain)
        if name == "mixed":
            s.compression.update({("bookworm", "amd64"): "lz4", ("bookworm-updates", "amd64"): "gz",
                                  ("bookworm-backports", "amd64"): "xz", ("bookworm-security", "i386"): "gz"})
        else:
            s.compression = {(su, a): ("lz4", "gz", "xz")[(k + j) % 3]
                             for k, su in enumerate(SUITES) for j, a in enumerate(ARCHES)}
    elif name == "none":
        for k in range(40):
            v = random_version(rng)
            arch = "all" if k % 7 == 0 else "amd64"
            s.inst("pkg%d" % k, arch, v, status="hold ok installed" if k == 3 else "install ok installed")
            s.offer("bookworm", "pkg%d" % k, arch, v)
            if k % 5 == 0:
                s.offer("bookworm-security", "pkg%d" % k, arch, v)  # the installed version itself
            if k % 6 == 0:
                s.offer("bookworm-updates", "pkg%d" % k, arch, v + "~pre1")  # older
        s.inst("libold1", "i386", "2:1.0-1")
        s.offer("bookworm", "libold1", "i386", "1:9.0-1")
        add_filler_offers(s, rng, 200)
        s.compression = dict(plain)
    elif name == "security-only":
        for k in range(40):
            v = random_version(rng)
            s.inst("pkg%d" % k, "amd64", v)
            s.offer("bookworm", "pkg%d" % k, "amd64", v)
            if k % 5 == 1:
                s.offer("bookworm-security", "pkg%d" % k, "amd64", v + "+deb12u1")
        s.inst("libsec1", "i386", "1.0-1", ma="same")
        s.inst("libsec1", "amd64", "1.0-1", ma="same")
        for a in ARCHES:
            s.offer("bookworm-security", "libsec1", a, "1.0-1+deb12u1", ma="same")
        add_filler_offers(s, rng, 200)
        s.compression = dict(plain)
        s.compression[("bookworm-security", "amd64")] = "xz"
    elif name == "backports":
        for k in range(40):
            v = random_version(rng)
            s.inst("pkg%d" % k, "amd64", v)
            s.offer("bookworm", "pkg%d" % k, "amd64", v)
            if k % 3 == 0:
                s.offer("bookworm-backports", "pkg%d" % k, "amd64", v + "+1~bpo12+1")
        add_filler_offers(s, rng, 200, suite="bookworm-backports")
        s.compression = dict(plain)
    elif name == "bench":
        base_mixed(s)
        add_random(s, rng, max(0, installed_n - len(s.installed)))
        have = sum(len(v) for v in s.offers.values())
        add_filler_offers(s, rng, max(0, stanzas_n - have))
        # Like a machine with Acquire::GzipIndexes: every list kept as .lz4.
        s.compression = {(su, a): "lz4" for su in SUITES for a in ARCHES}
    else:
        raise SystemExit("gen_apt_root.py: unknown scenario %r" % name)
    return s


# ---- Writing ----

def clearsign(body):
    escaped = "".join(("- " + l) if l.startswith("-") else l for l in body.splitlines(True))
    sig = hashlib.sha512(body.encode()).digest()
    b64 = __import__("base64").b64encode(sig * 8).decode()
    sig_lines = "\n".join(b64[k:k + 64] for k in range(0, len(b64), 64))
    return ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + escaped +
            "-----BEGIN PGP SIGNATURE-----\n\n" + sig_lines + "\n=AbCd\n-----END PGP SIGNATURE-----\n")


def compress(path, data, kind):
    if kind == "":
        with open(path, "wb") as f:
            f.write(data)
        return path
    out = path + "." + kind
    if kind == "gz":
        with open(out, "wb") as f:
            f.write(gzip.compress(data, compresslevel=6, mtime=0))
    elif kind == "xz":
        with open(out, "wb") as f:
            f.write(lzma.compress(data, preset=1))
    elif kind == "lz4":
        lz4 = shutil.which("lz4")
        if not lz4:
            raise SystemExit("gen_apt_root.py: the lz4 tool is missing (package lz4)")
        subprocess.run([lz4, "-q", "-z", "-f", "-1", "-", out], input=data, check=True)
    return out


def write_root(s, out, rng):
    lists = os.path.join(out, "var/lib/apt/lists")
    for d in ("var/lib/dpkg/updates", "var/lib/apt/lists/partial", "etc/apt/apt.conf.d",
              "etc/apt/preferences.d", "etc/apt/sources.list.d", "var/cache/apt/archives/partial"):
        os.makedirs(os.path.join(out, d), exist_ok=True)

    with open(os.path.join(out, "var/lib/dpkg/status"), "w") as f:
        for p in sorted(s.installed, key=lambda p: (p.name, p.arch)):
            f.write(stanza_status(p, rng) + "\n")
    # dpkg's native architecture, as `dpkg --add-architecture i386` leaves it.
    with open(os.path.join(out, "var/lib/dpkg/arch"), "w") as f:
        f.write("amd64\ni386\n")

    sources = []
    written = []
    for suite, meta in SUITES.items():
        sources.append("deb [trusted=yes arch=amd64,i386] http://%s/%s %s main" % (MIRROR, meta["uri"], suite))
        hashes = []
        for arch in ARCHES:
            entries = [p for p in s.offers[suite] if p.arch == arch or (p.arch == "all")]
            data = "".join(stanza_packages(p, rng) + "\n"
                           for p in sorted(entries, key=lambda p: (p.name, p.version))).encode()
            path = compress(os.path.join(lists, list_stem(suite, arch)), data,
                            s.compression.get((suite, arch), ""))
            written.append(path)
            hashes.append((hashlib.sha256(data).hexdigest(), len(data), "main/binary-%s/Packages" % arch))
        body = "".join("%s: %s\n" % kv for kv in meta["release"])
        body += "SHA256:\n" + "".join(" %s %16d %s\n" % h for h in hashes)
        stem = os.path.join(lists, release_stem(suite))
        if meta["signed"]:
            with open(stem + "InRelease", "w") as f:
                f.write(clearsign(body))
            written.append(stem + "InRelease")
        else:
            with open(stem + "Release", "w") as f:
                f.write(body)
            with open(stem + "Release.gpg", "w") as f:
                f.write("-----BEGIN PGP SIGNATURE-----\n\niQIzBAABCAAdFiEEfake\n=AbCd\n-----END PGP SIGNATURE-----\n")
            written += [stem + "Release", stem + "Release.gpg"]
    with open(os.path.join(out, "etc/apt/sources.list"), "w") as f:
        f.write("\n".join(sources) + "\n")
    for p in written:
        os.utime(p, (MTIME, MTIME))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="mixed")
    ap.add_argument("--installed", type=int, default=4000, help="installed packages (bench)")
    ap.add_argument("--stanzas", type=int, default=60000, help="list stanzas in all (bench)")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("outdir")
    a = ap.parse_args()
    rng = random.Random("%s/%d" % (a.scenario, a.seed))
    s = scenario(a.scenario, rng, a.installed, a.stanzas)
    os.makedirs(a.outdir, exist_ok=True)
    write_root(s, a.outdir, rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
