#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Build the Debian packages posture-agent and posture-verifier from an existing build directory
# (docs/packaging.md). Nothing is compiled here: the binaries come from `cmake --install` of
# BUILD_DIR into a staging tree, so CI packages the release build it has already tested.
#
# Usage: packaging/build-packages.sh BUILD_DIR OUT_DIR
# Writes OUT_DIR/posture-agent_<version>_<arch>.deb and OUT_DIR/posture-verifier_<version>_<arch>.deb.
#
# Environment:
#   SOURCE_DATE_EPOCH     timestamp of every file and of the changelog and SBOM (default: the
#                         last commit's time), so the same commit gives the same packages
#   POSTURE_DEB_VERSION   the Debian version (default: CMake's project version + "-1")
#   POSTURE_DEB_AGENT_CONF  another default agent.conf to ship (the upgrade test's "new default")
#   POSTURE_DEB_PACKAGES  which packages to build (default "posture-agent posture-verifier")
#   POSTURE_PACKAGE_FORMATS  "deb" (default), "rpm" or "deb rpm": the .rpm packages are made
#                         with rpmbuild from the same staged trees (units under
#                         /usr/lib/systemd/system, packaging/rpm/ scriptlets, %config(noreplace)
#                         for /etc), named <package>-<version>-1.<arch>.rpm
#
# Runtime dependencies: dpkg-shlibdeps on the ELF files, plus what postured dlopen()s
# (libcurl4: agent/client/curl_dl.c; libnftables1: checks/builtin/net_firewall/nft_dl.c) and, as
# Recommends, the tpm2-openssl provider of the optional TPM-resident device key.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR OUT_DIR" >&2
    exit 2
fi
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)

for t in dpkg-deb dpkg-shlibdeps cmake strip gzip python3 readelf; do
    command -v "$t" >/dev/null 2>&1 || {
        echo "$0: $t is missing (packaging/install-deps.sh installs it)" >&2
        exit 1
    }
done

upstream=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[ -n "$upstream" ] || {
    echo "$0: no CMAKE_PROJECT_VERSION in $build/CMakeCache.txt" >&2
    exit 1
}
version=${POSTURE_DEB_VERSION:-$upstream-1}
arch=$(dpkg --print-architecture)
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$src" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
packages=${POSTURE_DEB_PACKAGES:-"posture-agent posture-verifier posture-check-dev"}
formats=${POSTURE_PACKAGE_FORMATS:-deb}
case " $formats " in
*" rpm "*)
    command -v rpmbuild >/dev/null 2>&1 || {
        echo "$0: rpmbuild is missing (package rpm; packaging/install-deps.sh installs it)" >&2
        exit 1
    }
    ;;
esac
maintainer="Posture maintainers <posture@lists.example.org>"
# Files and directories get fixed modes whatever the caller's umask.
umask 022
export LC_ALL=C

work=$(mktemp -d "${TMPDIR:-/tmp}/posture-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
DESTDIR=$work/install cmake --install "$build" --prefix /usr >"$work/install.log" 2>&1 || {
    cat "$work/install.log" >&2
    echo "$0: cmake --install $build failed" >&2
    exit 1
}
inst=$work/install

# put ROOT SRC DEST MODE: copy one file into a package tree
put() {
    install -D -m "$4" "$2" "$1/$3"
}
# put_bin ROOT SRC DEST: an ELF executable, stripped as dh_strip would (the debug info stays
# in the build directory)
put_bin() {
    put "$1" "$2" "$3" 0755
    strip --remove-section=.comment --remove-section=.note --strip-unneeded "$1/$3"
}
# put_man ROOT NAME.SECTION
put_man() {
    sect=${2##*.}
    mkdir -p "$1/usr/share/man/man$sect"
    gzip -9n <"$src/packaging/man/$2" >"$1/usr/share/man/man$sect/$2.gz"
    chmod 0644 "$1/usr/share/man/man$sect/$2.gz"
}

write_copyright() { # FILE
    cat >"$1" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: posture
Comment: The Debian packages are built from the same tree by packaging/build-packages.sh.

Files: *
Copyright: 2026 The posture authors
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License");
 you may not use this file except in compliance with the License.
 You may obtain a copy of the License at
 .
 https://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS,
 WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 See the License for the specific language governing permissions and
 limitations under the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0
 can be found in "/usr/share/common-licenses/Apache-2.0".
EOF
}

write_changelog() { # FILE PACKAGE
    {
        printf '%s (%s) unstable; urgency=medium\n\n' "$2" "$version"
        printf '  * Built from the posture tree by packaging/build-packages.sh.\n\n'
        printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
    } | gzip -9n >"$1"
}

# stage_agent ROOT
stage_agent() {
    r=$1
    put_bin "$r" "$inst/usr/sbin/postured" usr/sbin/postured
    put_bin "$r" "$inst/usr/bin/posturectl" usr/bin/posturectl
    put "$r" "$src/packaging/systemd/postured.service" lib/systemd/system/postured.service 0644
    put "$r" "$src/packaging/systemd/posture.sysusers" usr/lib/sysusers.d/posture.conf 0644
    put "$r" "$src/packaging/debian/posture-agent.tmpfiles" usr/lib/tmpfiles.d/posture.conf 0644
    put "$r" "${POSTURE_DEB_AGENT_CONF:-$src/packaging/config/agent.conf}" etc/posture/agent.conf 0644
    # .so and exec checks, when the tree installs any (checks/examples)
    for d in usr/lib/posture usr/libexec/posture; do
        if [ -d "$inst/$d" ]; then
            mkdir -p "$r/$d"
            cp -R "$inst/$d/." "$r/$d/"
        fi
    done
    # example exec checks that the tree has but does not install
    if [ -d "$src/checks/examples/exec" ] && [ ! -d "$inst/usr/libexec/posture" ]; then
        mkdir -p "$r/usr/share/doc/posture-agent/examples/exec"
        for f in "$src/checks/examples/exec"/*; do
            case $f in */CMakeLists.txt | *'*') continue ;; esac
            [ -f "$f" ] && install -m 0644 "$f" "$r/usr/share/doc/posture-agent/examples/exec/"
        done
    fi
    for m in postured.8 posturectl.8 agent.conf.5; do
        put_man "$r" "$m"
    done
    # the documents the unit and the man pages point to (file:///usr/share/doc/posture/)
    for f in agent-daemon.md cli.md checks.md; do
        put "$r" "$src/docs/$f" "usr/share/doc/posture/$f" 0644
    done
}

# stage_verifier ROOT
stage_verifier() {
    r=$1
    put_bin "$r" "$inst/usr/bin/posture-verifier" usr/bin/posture-verifier
    put "$r" "$src/packaging/systemd/posture-verifier.service" \
        lib/systemd/system/posture-verifier.service 0644
    put "$r" "$src/packaging/systemd/posture-verifier.sysusers" \
        usr/lib/sysusers.d/posture-verifier.conf 0644
    put "$r" "$src/packaging/debian/posture-verifier.tmpfiles" \
        usr/lib/tmpfiles.d/posture-verifier.conf 0644
    put "$r" "$src/packaging/config/verifier.conf" etc/posture/verifier.conf 0644
    for f in "$src/packaging/policies"/*.json; do
        put "$r" "$f" "etc/posture/policies/$(basename "$f")" 0644
    done
    for f in "$src/packaging/gateways"/*; do
        put "$r" "$f" "usr/share/doc/posture-verifier/examples/$(basename "$f")" 0644
    done
    for m in posture-verifier.8 verifier.conf.5 posture-policy.5; do
        put_man "$r" "$m"
    done
    for f in verifier-operations.md verifier-api.md verifier-store.md policy.md; do
        put "$r" "$src/docs/$f" "usr/share/doc/posture/$f" 0644
    done
}

# stage_dev ROOT: the check SDK for out-of-tree plugins (docs/writing-checks.md)
stage_dev() {
    r=$1
    put "$r" "$inst/usr/include/posture/check.h" usr/include/posture/check.h 0644
    # architecture-independent (Cflags only): /usr/share/pkgconfig, as Debian policy wants for
    # an "all" package
    put "$r" "$inst/usr/lib/pkgconfig/posture-check.pc" usr/share/pkgconfig/posture-check.pc 0644
    for f in "$src/checks/examples/so"/* "$src/checks/examples/exec"/*; do
        [ -f "$f" ] || continue
        case $f in */CMakeLists.txt) continue ;; esac
        k=$(basename "$(dirname "$f")")
        put "$r" "$f" "usr/share/doc/posture-check-dev/examples/$k/$(basename "$f")" 0644
    done
    put "$r" "$src/docs/writing-checks.md" usr/share/doc/posture-check-dev/writing-checks.md 0644
}

# build_one PACKAGE
build_one() {
    p=$1
    r=$work/$p
    mkdir -p "$r/DEBIAN" "$r/usr/share/doc/$p"
    case $p in
    posture-agent)
        stage_agent "$r"
        summary="device posture agent with TPM attestation"
        desc=" postured runs security posture checks (disk encryption, secure boot, firewall,
 patch level, screen lock and more) on a schedule and on change, signs each
 report with a device key (held in the TPM when there is one), and submits it
 over mutual TLS to a posture verifier; posturectl runs the checks once,
 enrols the device and shows the last verdict.
 .
 With a server URL drop-in and /etc/posture/enroll.token (or
 POSTURE_ENROLL_TOKEN in the package manager's environment) the agent enrols by
 itself at its first start."
        # what postured dlopen()s: libcurl (submission), libnftables (net.firewall)
        extra_depends="libcurl4, libnftables1"
        # the TPM-resident device key ([tpm] enabled = auto uses the TPM when it has one)
        recommends="tpm2-openssl"
        dlopen="libcurl4 libnftables1"
        ;;
    posture-verifier)
        stage_verifier "$r"
        summary="device posture verifier for access gateways"
        desc=" posture-verifier enrols devices, appraises their signed posture reports and
 TPM quotes against policies, and answers the forward-auth requests of access
 gateways (nginx, Caddy, HAProxy, Envoy, Traefik) with an allow or deny
 decision. Gateway configuration examples are in
 /usr/share/doc/posture-verifier/examples/."
        extra_depends=""
        recommends=""
        dlopen=""
        ;;
    posture-check-dev)
        stage_dev "$r"
        summary="posture check SDK: write .so and exec checks"
        desc=" The header posture/check.h and the pkg-config file posture-check.pc that a
 posture check plugin builds against (pkg-config --cflags posture-check; plugins
 link nothing of the agent), with a shared-object and an exec example and the
 guide writing-checks.md in /usr/share/doc/posture-check-dev/."
        extra_depends=""
        recommends="pkg-config"
        dlopen=""
        ;;
    *)
        echo "$0: unknown package $p" >&2
        exit 2
        ;;
    esac
    write_copyright "$r/usr/share/doc/$p/copyright"
    write_changelog "$r/usr/share/doc/$p/changelog.Debian.gz" "$p"
    for s in postinst prerm postrm; do
        [ -f "$src/packaging/debian/$p.$s" ] || continue
        install -m 0755 "$src/packaging/debian/$p.$s" "$r/DEBIAN/$s"
    done
    if [ -f "$src/packaging/debian/$p.lintian-overrides" ]; then
        put "$r" "$src/packaging/debian/$p.lintian-overrides" "usr/share/lintian/overrides/$p" 0644
    fi
    if [ -d "$r/etc" ]; then
        (cd "$r" && find etc -type f | sed 's|^|/|' | sort) >"$r/DEBIAN/conffiles"
        chmod 0644 "$r/DEBIAN/conffiles"
    fi
    # a package without ELF files (the SDK) is architecture-independent
    pkg_arch=$arch
    [ "$p" = posture-check-dev ] && pkg_arch=all

    # Depends: dpkg-shlibdeps over the ELF files (it wants a debian/control beside it)
    elves=$(cd "$r" && find usr -type f | sort | while read -r f; do
        if [ "$(od -An -N4 -tx1 "$r/$f" | tr -d ' ')" = 7f454c46 ]; then
            echo "$r/$f"
        fi
    done)
    mkdir -p "$work/shlibs-$p/debian"
    printf 'Source: posture\n\nPackage: %s\nArchitecture: any\n' "$p" >"$work/shlibs-$p/debian/control"
    shlibs=""
    if [ -n "$elves" ]; then
        # shellcheck disable=SC2086
        shlibs=$(cd "$work/shlibs-$p" && dpkg-shlibdeps -O $elves 2>"$work/shlibdeps.log" |
            sed -n 's/^shlibs:Depends=//p') || {
            cat "$work/shlibdeps.log" >&2
            exit 1
        }
    fi
    depends=$shlibs
    [ -n "$extra_depends" ] && depends="$depends, $extra_depends"
    depends=$(printf '%s\n' "$depends" | tr ',' '\n' | sed 's/^ *//; s/ *$//' | sed '/^$/d' |
        sort -u | paste -sd, - | sed 's/,/, /g')

    # the SBOM of what the ELF files link against and dlopen()
    dl_args=""
    for d in $dlopen; do
        dl_args="$dl_args --dlopen $d"
    done
    # shellcheck disable=SC2086
    python3 "$src/packaging/sbom.py" --package "$p" --version "$version" --arch "$arch" \
        --root "$r" --out "$r/usr/share/doc/$p/sbom.spdx.json" $dl_args
    chmod 0644 "$r/usr/share/doc/$p/sbom.spdx.json"

    # md5sums (sorted), the installed size in KiB (apparent sizes), the control file
    (cd "$r" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
        xargs -d '\n' md5sum) >"$r/DEBIAN/md5sums"
    size=$(cd "$r" && find . -path ./DEBIAN -prune -o \( -type f -o -type l \) -print0 |
        du -k --apparent-size -c --files0-from=- | tail -n 1 | cut -f1)
    {
        printf 'Package: %s\nVersion: %s\nArchitecture: %s\n' "$p" "$version" "$pkg_arch"
        printf 'Maintainer: %s\nInstalled-Size: %s\n' "$maintainer" "$size"
        [ -n "$depends" ] && printf 'Depends: %s\n' "$depends"
        [ -n "$recommends" ] && printf 'Recommends: %s\n' "$recommends"
        printf 'Section: admin\nPriority: optional\n'
        printf 'Homepage: https://posture.example.org/\n'
        printf 'Description: %s\n%s\n' "$summary" "$desc"
    } >"$r/DEBIAN/control"
    chmod 0644 "$r/DEBIAN/control" "$r/DEBIAN/md5sums"

    # deterministic: directories 0755, every timestamp SOURCE_DATE_EPOCH; dpkg-deb sorts the
    # members and --root-owner-group makes them root's
    find "$r" -type d -exec chmod 0755 {} +
    find "$r" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    case " $formats " in
    *" deb "*)
        deb=$out/${p}_${version}_${pkg_arch}.deb
        dpkg-deb --root-owner-group -Zxz --build "$r" "$deb" >/dev/null
        echo "$deb"
        ;;
    esac
    case " $formats " in
    *" rpm "*) build_rpm "$p" "$r" "$summary" "$desc" "$dlopen" "$recommends" ;;
    esac
}

# build_rpm PACKAGE TREE SUMMARY DESCRIPTION DLOPEN-DEBS RECOMMENDS: the same files as the .deb
# (less its DEBIAN/ and lintian's directory), requirements from rpm's own ELF dependency
# generator plus the sonames of what postured dlopen()s
build_rpm() {
    p=$1 tree=$2
    # RPM distributions name development packages -devel
    [ "$p" = posture-check-dev ] && p=posture-check-devel
    rr=$work/rpm-$p
    rroot=$rr/root
    mkdir -p "$rr/rpms" "$rroot"
    (cd "$tree" && tar --exclude=./DEBIAN --exclude=./usr/share/lintian -cf - .) |
        (cd "$rroot" && tar -xf -)
    if [ -d "$rroot/lib/systemd" ]; then
        mkdir -p "$rroot/usr/lib"
        mv "$rroot/lib/systemd" "$rroot/usr/lib/systemd"
        rmdir "$rroot/lib"
    fi
    find "$rroot" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    rpm_version=${version%-*}
    case $p in
    posture-agent) state=/var/lib/posture owner=posture ;;
    posture-verifier) state=/var/lib/posture-verifier owner=posture-verifier ;;
    *) state="" owner="" ;;
    esac
    spec=$rr/$p.spec
    {
        printf 'Name: %s\nVersion: %s\nRelease: 1\n' "$p" "$rpm_version"
        # RPM summaries start with a capital
        printf 'Summary: %s%s\n' "$(printf '%s' "$3" | cut -c1 | tr '[:lower:]' '[:upper:]')" \
            "$(printf '%s' "$3" | cut -c2-)"
        printf 'License: Apache-2.0\nURL: https://posture.example.org/\n'
        if [ -n "$state" ]; then
            printf 'Group: System Environment/Daemons\n'
        else
            printf 'Group: Development/Libraries\nBuildArch: noarch\n'
        fi
        printf 'Packager: %s\n' "$maintainer"
        for d in $5; do
            case $d in
            libcurl4) printf 'Requires: libcurl.so.4()(64bit)\n' ;;
            libnftables1) printf 'Requires: libnftables.so.1()(64bit)\n' ;;
            esac
        done
        # Debian package names mean nothing to RPM distributions, except tpm2-openssl
        [ "$6" = tpm2-openssl ] && printf 'Recommends: %s\n' "$6"
        [ -n "$state" ] && printf 'Requires(pre): shadow-utils\n'
        printf '\n%%description\n%s\n' "$(printf '%s\n' "$4" | sed 's/^ //; s/^\.$//')"
        printf '\n%%install\ncp -a %s/. %%{buildroot}/\nmkdir -p %%{buildroot}%s\n' "$rroot" "$state"
        for s in pre post preun postun; do
            [ -f "$src/packaging/rpm/$p.$s" ] || continue
            printf '\n%%%s\n' "$s"
            cat "$src/packaging/rpm/$p.$s"
        done
        printf '\n%%changelog\n* %s %s - %s-1\n- Built from the posture tree by packaging/build-packages.sh.\n' \
            "$(LC_ALL=C date -u -d "@$SOURCE_DATE_EPOCH" '+%a %b %d %Y')" "$maintainer" "$rpm_version"
        printf '\n%%files\n'
        if [ -n "$state" ]; then
            printf '%%dir %%attr(0700,%s,%s) %s\n' "$owner" "$owner" "$state"
            printf '%%dir /etc/posture\n'
        fi
        (cd "$rroot" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort) | while read -r f; do
            case $f in
            /etc/*) printf '%%config(noreplace) %s\n' "$f" ;;
            *) printf '%s\n' "$f" ;;
            esac
        done
        (cd "$rroot" && find . -mindepth 1 -type d | sed 's|^\.||' | sort) | while read -r d; do
            case $d in
            /etc/posture/* | /usr/lib/posture* | /usr/libexec/posture* | /usr/share/doc/posture* | /usr/include/posture)
                printf '%%dir %s\n' "$d" ;;
            esac
        done
    } >"$spec"
    rpmbuild -bb --quiet \
        --define "_topdir $rr" --define "_rpmdir $rr/rpms" --define "_build_id_links none" \
        --define "__os_install_post %{nil}" --define "debug_package %{nil}" \
        --define "_buildhost posture-build" --define "use_source_date_epoch_as_buildtime 1" \
        --define "clamp_mtime_to_source_date_epoch 1" --define "_binary_filedigest_algorithm 8" \
        --define "_source_filedigest_algorithm 8" --define "_binary_payload w9.xzdio" \
        --define "_rpmfilename %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
        "$spec" >"$rr/rpmbuild.log" 2>&1 || {
        cat "$rr/rpmbuild.log" >&2
        echo "$0: rpmbuild of $p failed" >&2
        exit 1
    }
    for f in "$rr/rpms"/*.rpm; do
        cp "$f" "$out/"
        echo "$out/$(basename "$f")"
    done
}

for p in $packages; do
    build_one "$p"
done
