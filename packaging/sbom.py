#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write the SPDX 2.3 JSON SBOM of one posture Debian package (docs/packaging.md).

It lists the Debian packages the package's ELF files link against (readelf -d NEEDED, the
library's path from ldconfig -p, its package from dpkg -S, the version from dpkg-query, the
license from the DEP-5 License: fields of /usr/share/doc/<package>/copyright, else
NOASSERTION), plus the packages of libraries loaded with dlopen() (--dlopen), which NEEDED
cannot show. Deterministic: documentNamespace is derived from the package name, version and
architecture, created is SOURCE_DATE_EPOCH, every list is sorted. Python 3 standard library
only.

Usage: sbom.py --package NAME --version VERSION --arch ARCH --root STAGING_TREE --out FILE
               [--dlopen DEBIAN_PACKAGE]...
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import uuid

NAMESPACE_BASE = "https://posture.example.org/spdx"
# Debian short license names (copyright-format 1.0) and their SPDX identifiers; anything else
# becomes a LicenseRef- with its text pointing at the package's copyright file.
DEBIAN_TO_SPDX = {
    "apache-2.0": "Apache-2.0",
    "artistic": "Artistic-1.0-Perl",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "cc0-1.0": "CC0-1.0",
    "curl": "curl",
    "expat": "MIT",
    "mit": "MIT",
    "isc": "ISC",
    "zlib": "Zlib",
    "openssl": "OpenSSL",
    "public-domain": "LicenseRef-public-domain",
    "gpl-1": "GPL-1.0-only",
    "gpl-1+": "GPL-1.0-or-later",
    "gpl-2": "GPL-2.0-only",
    "gpl-2+": "GPL-2.0-or-later",
    "gpl-2.0": "GPL-2.0-only",
    "gpl-2.0+": "GPL-2.0-or-later",
    "gpl-3": "GPL-3.0-only",
    "gpl-3+": "GPL-3.0-or-later",
    "gpl-3.0+": "GPL-3.0-or-later",
    "lgpl-2": "LGPL-2.0-only",
    "lgpl-2+": "LGPL-2.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only",
    "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgpl-3": "LGPL-3.0-only",
    "lgpl-3+": "LGPL-3.0-or-later",
    "mpl-2.0": "MPL-2.0",
}


# Debian's "with X exception" names and the SPDX exception identifiers
DEBIAN_EXCEPTIONS = {
    "autoconf-data": "Autoconf-exception-generic",
    "libtool": "Libtool-exception",
    "linux-syscall-note": "Linux-syscall-note",
    "gcc-runtime-library": "GCC-exception-3.1",
    "openssl": "OpenSSL-exception",
}


def license_ref(name):
    name = re.sub(r"^LicenseRef-", "", name)
    return "LicenseRef-" + re.sub(r"[^A-Za-z0-9.-]", "-", name).replace("+", "-or-later")


def run(argv):
    """stdout of argv, or "" when it fails (a missing tool or package)."""
    try:
        return subprocess.run(
            argv, check=False, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}
        ).stdout
    except OSError:
        return ""


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def needed_sonames(root):
    """The NEEDED entries of every ELF file under root."""
    sonames = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "DEBIAN")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or not os.path.isfile(path) or not is_elf(path):
                continue
            for m in re.finditer(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                                 run(["readelf", "-d", path])):
                sonames.add(m.group(1))
    return sorted(sonames)


def library_paths():
    """soname -> paths from the dynamic linker's cache (this architecture's first)."""
    paths = {}
    for line in run(["ldconfig", "-p"]).splitlines():
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)$", line)
        if m:
            paths.setdefault(m.group(1), []).append(m.group(3))
    return paths


def usr_variants(path):
    """A path and its merged-/usr twin (dpkg may know either)."""
    real = os.path.realpath(path)
    out = {path, real}
    for p in (path, real):
        if p.startswith("/usr/"):
            out.add(p[4:])
        else:
            out.add("/usr" + p)
    return out


def owning_packages(sonames):
    """soname -> Debian package (with :arch when dpkg prints it), by one dpkg -S."""
    if not sonames:
        return {}
    ldpaths = library_paths()
    owners = {}
    out = run(["dpkg", "-S"] + ["*/" + s for s in sonames])
    for line in out.splitlines():
        if ": /" not in line or line.startswith("diversion"):
            continue
        pkgs, path = line.split(": ", 1)
        soname = os.path.basename(path)
        if soname not in sonames:
            continue
        wanted = set()
        for p in ldpaths.get(soname, []):
            wanted |= usr_variants(p)
        if wanted and path not in wanted:
            continue  # another architecture's copy (lib32, i386)
        owners.setdefault(soname, pkgs.split(", ")[0])
    return owners


def package_version(pkg):
    v = run(["dpkg-query", "-W", "-f=${Version}", pkg]).strip()
    return v or "NOASSERTION"


def spdx_expression(debian_expr, refs):
    """A Debian License: short name expression as an SPDX expression; LicenseRefs into refs.

    "X with Y exception" becomes "X WITH <SPDX exception>" when Y is a known exception, else
    one LicenseRef naming both."""
    out = []
    toks = re.findall(r"\(|\)|[^\s()]+", debian_expr)
    i = 0
    while i < len(toks):
        tok = toks[i].rstrip(",")
        low = tok.lower()
        i += 1
        if tok in ("(", ")"):
            out.append(tok)
        elif low in ("or", "and"):
            out.append(low.upper())
        elif low == "with":
            name = []
            while i < len(toks) and toks[i] not in ("(", ")"):
                t = toks[i]
                i += 1
                if t.lower() == "exception":
                    break
                name.append(t)
            exc = "-".join(name)
            if exc.lower() in DEBIAN_EXCEPTIONS and out and not out[-1].startswith("LicenseRef-"):
                out.append("WITH")
                out.append(DEBIAN_EXCEPTIONS[exc.lower()])
            elif out and out[-1] not in ("(", ")", "AND", "OR"):
                prev = out.pop()
                refs.discard(prev)
                ref = license_ref(f"{prev}-with-{exc}-exception")
                refs.add(ref)
                out.append(ref)
        elif low in DEBIAN_TO_SPDX:
            spdx = DEBIAN_TO_SPDX[low]
            if spdx.startswith("LicenseRef-"):
                refs.add(spdx)
            out.append(spdx)
        else:
            ref = license_ref(tok)
            refs.add(ref)
            out.append(ref)
    return " ".join(out).replace("( ", "(").replace(" )", ")")


def declared_license(pkg, refs):
    """The License: fields of a DEP-5 copyright file as one SPDX expression, else NOASSERTION."""
    name = pkg.split(":")[0]
    try:
        with open(f"/usr/share/doc/{name}/copyright", encoding="utf-8", errors="replace") as f:
            text = f.read(1 << 20)
    except OSError:
        return "NOASSERTION"
    if not re.match(r"(?i)format:\s*\S*copyright-format", text.lstrip()):
        return "NOASSERTION"
    licenses = []
    for para in re.split(r"\n\s*\n", text):
        if not re.search(r"(?im)^files:", para):
            continue
        m = re.search(r"(?im)^license:[ \t]*(\S[^\n]*)", para)
        if m:
            expr = m.group(1).strip()
            if expr not in licenses:
                licenses.append(expr)
    if not licenses:
        return "NOASSERTION"
    parts = sorted({spdx_expression(lic, refs) for lic in licenses})
    if len(parts) == 1:
        return parts[0]
    return " AND ".join(f"({p})" if " " in p else p for p in parts)


def spdx_id(name):
    return "SPDXRef-Package-" + re.sub(r"[^A-Za-z0-9.-]", "-", name)


def purl(name, version, arch):
    base, _, pkg_arch = name.partition(":")
    return f"pkg:deb/debian/{base}@{version}?arch={pkg_arch or arch}"


def main():
    ap = argparse.ArgumentParser(description="SPDX 2.3 SBOM of a posture Debian package")
    ap.add_argument("--package", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--root", required=True, help="the package's staging tree")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dlopen", action="append", default=[], help="a dlopen()ed package")
    args = ap.parse_args()

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    doc_name = f"{args.package}_{args.version}_{args.arch}"
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"{NAMESPACE_BASE}/{doc_name}")
    refs = set()

    top = {
        "name": args.package,
        "SPDXID": spdx_id(args.package),
        "versionInfo": args.version,
        "supplier": "Organization: posture",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "licenseConcluded": "Apache-2.0",
        "licenseDeclared": "Apache-2.0",
        "copyrightText": "2026 The posture authors",
        "primaryPackagePurpose": "APPLICATION",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl(args.package, args.version, args.arch),
        }],
    }
    deps = {}  # package name -> comment
    sonames = needed_sonames(args.root)
    owners = owning_packages(sonames)
    for soname in sonames:
        pkg = owners.get(soname)
        if pkg is None:
            print(f"sbom.py: {soname}: no Debian package owns it", file=sys.stderr)
            return 1
        deps.setdefault(pkg, set()).add(f"linked: {soname}")
    for pkg in args.dlopen:
        deps.setdefault(pkg, set()).add("loaded with dlopen() at run time")

    packages = [top]
    relationships = [{
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": top["SPDXID"],
    }]
    for pkg in sorted(deps):
        version = package_version(pkg)
        lic = declared_license(pkg, refs)
        entry = {
            "name": pkg.split(":")[0],
            "SPDXID": spdx_id(pkg.split(":")[0]),
            "versionInfo": version,
            "supplier": "Organization: Debian",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": lic,
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "LIBRARY",
            "comment": "; ".join(sorted(deps[pkg])),
        }
        if version != "NOASSERTION":
            entry["externalRefs"] = [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl(pkg, version, args.arch),
            }]
        packages.append(entry)
        relationships.append({
            "spdxElementId": top["SPDXID"],
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": entry["SPDXID"],
            "comment": entry["comment"],
        })

    doc = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": doc_name,
        "documentNamespace": f"{NAMESPACE_BASE}/{doc_name}-{namespace}",
        "creationInfo": {
            "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": ["Tool: posture-packaging-sbom.py", "Organization: posture"],
        },
        "documentDescribes": [top["SPDXID"]],
        "packages": packages,
        "relationships": relationships,
    }
    if refs:
        doc["hasExtractedLicensingInfos"] = [{
            "licenseId": ref,
            "name": ref[len("LicenseRef-"):],
            "extractedText": "A license named in a Debian copyright file (copyright-format "
                             "1.0 short name); its text is in that package's "
                             "/usr/share/doc/<package>/copyright.",
        } for ref in sorted(refs)]
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, sort_keys=False)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
