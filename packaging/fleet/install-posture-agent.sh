#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Install and enrol the posture agent on one laptop: what an MDM that pushes shell scripts
# (Intune, Jamf, Fleet, Kandji, Workspace ONE) runs as root. Idempotent: running it again
# upgrades the package and leaves an enrolled device enrolled.
#
#   POSTURE_DEB=/path/or/https/url/posture-agent_X_amd64.deb \
#   POSTURE_SERVER_URL=https://verifier.example:8443 \
#   POSTURE_CA_PEM="$(cat verifier-ca.pem)" \
#   POSTURE_ENROLL_TOKEN=<from 'posture-verifier token create'> \
#   sh install-posture-agent.sh
#
# POSTURE_CA_PEM may instead be POSTURE_CA_FILE (a path). The token is written to
# /etc/posture/enroll.token (0600) only while the device is not enrolled; postured enrols with it
# at its next start and deletes it (docs/agent-daemon.md, "Enrolment at first start").
# POSTURE_ROOT (default /) and POSTURE_NO_START=1 exist for tests and image builds.
set -eu

die() {
    echo "install-posture-agent: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "run as root"
: "${POSTURE_SERVER_URL:?set POSTURE_SERVER_URL (https://verifier:8443)}"
case $POSTURE_SERVER_URL in https://*) ;; *) die "POSTURE_SERVER_URL must be an https:// URL" ;; esac
root=${POSTURE_ROOT:-/}
root=${root%/}
etc=$root/etc/posture
state=$root/var/lib/posture

# 1. the package (a file, or a URL fetched over HTTPS)
if [ -n "${POSTURE_DEB:-}" ]; then
    deb=$POSTURE_DEB
    case $deb in
    https://*)
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        curl -fsSL --proto '=https' -o "$tmp/posture-agent.deb" "$deb" || die "cannot fetch $deb"
        deb=$tmp/posture-agent.deb
        ;;
    esac
    [ -f "$deb" ] || die "no package at $deb"
    if [ -z "$root" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$(realpath "$deb")" >/dev/null ||
            die "apt-get could not install $deb"
    else
        dpkg --root="$root" -i "$deb" >/dev/null || die "dpkg could not install $deb"
    fi
fi

# 2. the verifier's CA and URL, as a drop-in: the package's agent.conf stays untouched
umask 022
mkdir -p "$etc/agent.conf.d"
if [ -n "${POSTURE_CA_PEM:-}" ]; then
    printf '%s\n' "$POSTURE_CA_PEM" >"$etc/verifier-ca.pem.new"
elif [ -n "${POSTURE_CA_FILE:-}" ]; then
    cp "$POSTURE_CA_FILE" "$etc/verifier-ca.pem.new"
else
    die "set POSTURE_CA_PEM or POSTURE_CA_FILE (what 'posture-verifier ca' prints)"
fi
grep -q -- '-----BEGIN CERTIFICATE-----' "$etc/verifier-ca.pem.new" ||
    { rm -f "$etc/verifier-ca.pem.new"; die "the CA is not a PEM certificate"; }
mv "$etc/verifier-ca.pem.new" "$etc/verifier-ca.pem"
cat >"$etc/agent.conf.d/50-fleet.conf.new" <<EOF
# Written by install-posture-agent.sh: the fleet's verifier.
[server]
url = $POSTURE_SERVER_URL
ca = /etc/posture/verifier-ca.pem
EOF
mv "$etc/agent.conf.d/50-fleet.conf.new" "$etc/agent.conf.d/50-fleet.conf"

# 3. the one-time token, only while not enrolled
if [ -e "$state/device.crt" ]; then
    echo "install-posture-agent: already enrolled; the token is not needed"
elif [ -n "${POSTURE_ENROLL_TOKEN:-}" ]; then
    (umask 077 && printf '%s\n' "$POSTURE_ENROLL_TOKEN" >"$etc/enroll.token")
else
    echo "install-posture-agent: no POSTURE_ENROLL_TOKEN: postured waits for $etc/enroll.token" >&2
fi

# 4. (re)start: postured enrols at start and reports; without systemd, say what to run
if [ -z "${POSTURE_NO_START:-}" ] && [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl enable postured.service >/dev/null 2>&1 || true
    systemctl restart postured.service || die "postured did not start: journalctl -u postured"
    echo "install-posture-agent: postured (re)started; 'posturectl status' shows the result"
else
    echo "install-posture-agent: configured; start postured (systemctl restart postured)"
fi
