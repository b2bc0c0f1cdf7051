#!/bin/sh
# packaging.fleet: the fleet roll-out files (packaging/fleet/, issue 8).
#   installer  install-posture-agent.sh into a scratch root (POSTURE_ROOT, no package, no
#              systemd): the drop-in, the CA and the 0600 token are written; run again on an
#              enrolled device it writes no token; an http:// URL, a missing CA or a CA that is
#              not PEM are refused without touching anything; and postured, pointed at that
#              root's files, reads the drop-in (--dump of [server] url) and waits for the token
#   ansible    ansible-playbook --syntax-check of ansible/posture-agent.yml, and its tasks
#              listed (--list-tasks) as the README describes them
# Usage: fleet.sh CASE SOURCE_DIR POSTURECTL. Needs root for the installer (it checks id -u).
set -u
case_name=$1
src=$2
pc=$3
name=packaging.fleet/$case_name
failures=0
fail() {
    failures=$((failures + 1))
    echo "FAIL: $*" >&2
}
pass() { echo "ok: $*"; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/posture-fleet.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
inst=$src/packaging/fleet/install-posture-agent.sh

case $case_name in
installer)
    if [ "$(id -u)" != 0 ]; then
        [ "${CI:-}" = true ] && { echo "$name: FAIL: needs root"; exit 1; }
        echo "$name: SKIP: needs root"
        exit 77
    fi
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -keyout "$tmp/ca.key" -out "$tmp/ca.pem" -subj /CN=fleet-ca 2>/dev/null || fail "openssl"
    root=$tmp/root
    mkdir -p "$root/etc/posture" "$root/var/lib/posture"
    run() { env POSTURE_ROOT="$root" POSTURE_NO_START=1 "$@" sh "$inst" >"$tmp/out" 2>&1; }
    # refusals first: nothing may be written
    run POSTURE_SERVER_URL=http://verifier.example:8080 POSTURE_CA_FILE="$tmp/ca.pem" &&
        fail "an http:// URL was accepted"
    grep -q 'must be an https:// URL' "$tmp/out" || fail "http URL: $(cat "$tmp/out")"
    run POSTURE_SERVER_URL=https://verifier.example:8443 && fail "no CA was accepted"
    echo "not a certificate" >"$tmp/bad.pem"
    run POSTURE_SERVER_URL=https://verifier.example:8443 POSTURE_CA_FILE="$tmp/bad.pem" &&
        fail "a non-PEM CA was accepted"
    grep -q 'not a PEM certificate' "$tmp/out" || fail "bad CA: $(cat "$tmp/out")"
    [ -z "$(find "$root/etc/posture" -type f)" ] &&
        pass "refused: an http:// URL, no CA, a CA that is not PEM; nothing written" ||
        fail "refusals left files: $(find "$root/etc/posture" -type f)"
    # a first install
    tok=Tok3n-for-this-laptop
    run POSTURE_SERVER_URL=https://verifier.example:8443 POSTURE_CA_PEM="$(cat "$tmp/ca.pem")" \
        POSTURE_ENROLL_TOKEN="$tok" || fail "install: $(cat "$tmp/out")"
    [ "$(cat "$root/etc/posture/enroll.token" 2>/dev/null)" = "$tok" ] &&
        [ "$(stat -c %a "$root/etc/posture/enroll.token")" = 600 ] &&
        cmp -s "$tmp/ca.pem" "$root/etc/posture/verifier-ca.pem" &&
        grep -q '^url = https://verifier.example:8443$' "$root/etc/posture/agent.conf.d/50-fleet.conf" &&
        pass "first install: drop-in, CA, token (0600)" || fail "first install: $(ls -lR "$root/etc/posture")"
    # postured's configuration as the drop-in makes it (posturectl reads the same files)
    printf '[agent]\nstate_dir = %s\n' "$root/var/lib/posture" >"$root/etc/posture/agent.conf"
    sed -i "s|^ca = /etc/posture/verifier-ca.pem$|ca = $root/etc/posture/verifier-ca.pem|" \
        "$root/etc/posture/agent.conf.d/50-fleet.conf"
    "$pc" status --config "$root/etc/posture/agent.conf" >"$tmp/st" 2>&1
    grep -q 'url (set)\|\[server\] url (set' "$tmp/st" &&
        pass "posturectl status sees the drop-in's [server] url" || fail "status: $(cat "$tmp/st")"
    # enrolled: the token is not written again
    rm -f "$root/etc/posture/enroll.token"
    : >"$root/var/lib/posture/device.crt"
    run POSTURE_SERVER_URL=https://verifier.example:8443 POSTURE_CA_FILE="$tmp/ca.pem" \
        POSTURE_ENROLL_TOKEN=another || fail "second run: $(cat "$tmp/out")"
    [ ! -e "$root/etc/posture/enroll.token" ] && grep -q 'already enrolled' "$tmp/out" &&
        pass "an enrolled device gets no token (idempotent re-run)" || fail "re-run wrote a token"
    ;;
ansible)
    command -v ansible-playbook >/dev/null 2>&1 || {
        [ "${CI:-}" = true ] && { echo "$name: FAIL: ansible-playbook missing (ansible-core)"; exit 1; }
        echo "$name: SKIP: ansible-playbook missing"
        exit 77
    }
    pb=$src/packaging/fleet/ansible/posture-agent.yml
    printf 'laptop1 ansible_connection=local\n' >"$tmp/inventory"
    export ANSIBLE_LOCAL_TEMP="$tmp/ansible" ANSIBLE_HOME="$tmp/ansible-home"
    ansible-playbook -i "$tmp/inventory" --syntax-check "$pb" >"$tmp/out" 2>&1 &&
        pass "ansible-playbook --syntax-check" || fail "syntax: $(cat "$tmp/out")"
    ansible-playbook -i "$tmp/inventory" -e posture_hosts=all --list-tasks "$pb" >"$tmp/tasks" 2>&1 ||
        fail "list-tasks: $(cat "$tmp/tasks")"
    for t in 'Install (or upgrade) the package' "The fleet's drop-in" \
        'The one-time enrolment token, only while not enrolled' 'Postured enabled and running'; do
        grep -qF "$t" "$tmp/tasks" || fail "task missing: $t"
    done
    [ $failures = 0 ] && pass "--list-tasks: the install, drop-in, token and service tasks"
    ;;
*)
    echo "usage: fleet.sh installer|ansible SOURCE_DIR POSTURECTL" >&2
    exit 2
    ;;
esac
[ $failures = 0 ] || { echo "$name: $failures failure(s)"; exit 1; }
echo "$name: ok"
