#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# integration/packaging/deb: the .deb packages on this machine (docs/packaging.md).
#   1. packaging/build-packages.sh from the build directory under test; lintian --pedantic has
#      nothing to say (the overrides are in packaging/debian/*.lintian-overrides); the SBOMs are
#      SPDX 2.3 (required fields, DESCRIBES and DEPENDS_ON, the dlopen()ed libraries)
#   2. dpkg -i posture-verifier, then posture-agent with POSTURE_ENROLL_TOKEN in dpkg's
#      environment: files, owners and modes, the system users and groups, the state
#      directories, the conffiles dpkg lists, the unit enabled (deb-systemd-helper) and nothing
#      started; posturectl check --only os.release runs
#   3. the fleet first start: a drop-in with [server] url and ca of a `posture-verifier serve`
#      run from the installed binary (as posture-verifier, a temporary configuration and state)
#      and the token postinst wrote; the unit's ExecStartPre= token move run by hand, then the
#      installed postured as the posture user (no systemd here): enrolled, a report in the
#      verifier's store (sqlite3), the token gone
#   4. an upgrade to a rebuilt posture-agent (a higher version, a changed default agent.conf)
#      with the installed agent.conf changed: dpkg --force-confold keeps the admin's file and
#      puts the new default beside it as agent.conf.dpkg-dist; the enrolment survives
#   5. dpkg --purge of both: none of their files, no /etc/posture, /var/lib/posture,
#      /var/lib/posture-verifier, users, groups or unit enablement left
# The machine is left as it was, also on failure (trap). It refuses to run where posture is
# already installed or its users, directories or configuration exist.
# Usage: deb.sh BUILD_DIR SOURCE_DIR. Root only; exits 77 (skipped) when not root or a tool is
# missing, outside CI (CI=true: a failure).
set -u

build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
name=packaging/deb
py=/usr/bin/python3

skip() {
    if [ "${CI:-}" = true ]; then
        echo "$name: FAIL: $1"
        exit 1
    fi
    echo "$name: SKIP: $1"
    exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (dpkg -i)"
for t in dpkg dpkg-deb dpkg-shlibdeps lintian sqlite3 curl runuser "$py"; do
    command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
done
for p in posture-agent posture-verifier; do
    if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qv '^not-installed$'; then
        skip "$p is installed on this machine: not touching it"
    fi
done
for u in posture posture-verifier; do
    getent passwd "$u" >/dev/null && skip "the user $u exists on this machine: not touching it"
    getent group "$u" >/dev/null && skip "the group $u exists on this machine: not touching it"
done
for d in /etc/posture /var/lib/posture /var/lib/posture-verifier; do
    [ -e "$d" ] && skip "$d exists on this machine: not touching it"
done
unset POSTURE_LOG_LEVEL JOURNAL_STREAM NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/packaging-deb.XXXXXX")
chmod 0755 "$tmp" # the verifier runs as posture-verifier under it
vpid=
installed=0
units="postured.service posture-verifier.service"

cleanup() {
    # the processes this test started (the users are ours: nothing else runs as them)
    [ -n "$vpid" ] && kill -TERM "$vpid" 2>/dev/null && wait "$vpid" 2>/dev/null
    for u in posture posture-verifier; do
        getent passwd "$u" >/dev/null && pkill -TERM -u "$u" 2>/dev/null
    done
    if [ "$installed" = 1 ]; then
        sleep 0.5
        dpkg --purge posture-agent posture-verifier >/dev/null 2>&1
        # whatever a failed purge left
        rm -rf /etc/posture /var/lib/posture /var/lib/posture-verifier
        for u in posture posture-verifier; do
            getent passwd "$u" >/dev/null && userdel "$u" 2>/dev/null
            getent group "$u" >/dev/null && groupdel "$u" 2>/dev/null
        done
        for unit in $units; do
            rm -f "/etc/systemd/system/multi-user.target.wants/$unit" \
                "/var/lib/systemd/deb-systemd-helper-enabled/$unit.dsh-also" \
                "/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/$unit" \
                "/var/lib/systemd/deb-systemd-helper-masked/$unit"
        done
    fi
    [ -n "${POSTURE_TEST_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_start=$(date +%s)
failures=0
fail() {
    failures=$((failures + 1))
    echo "FAIL: $*" >&2
}
pass() { echo "ok: $*"; }
show() { # FILE
    echo "  --- $1:" >&2
    sed -n '1,60s/^/  | /p' "$1" >&2
}
free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# wait_for SECONDS COMMAND...: poll every 0.2 s until COMMAND succeeds
wait_for() {
    limit=$(($1 * 5))
    shift
    i=0
    while [ $i -lt $limit ]; do
        "$@" && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}
# expect_stat PATH MODE OWNER:GROUP
expect_stat() {
    got=$(stat -c '%a %U:%G' "$1" 2>&1)
    [ "$got" = "$2 $3" ] && pass "$1: $got" || fail "$1: '$got', expected '$2 $3'"
}

# ---- 1. build, lintian, SBOM ------------------------------------------------------------------
"$src/packaging/build-packages.sh" "$build" "$tmp/out" >"$tmp/build.log" 2>&1 ||
    { show "$tmp/build.log"; fail "build-packages.sh"; exit 1; }
agent_deb=$(ls "$tmp"/out/posture-agent_*.deb)
verifier_deb=$(ls "$tmp"/out/posture-verifier_*.deb)
version=$(dpkg-deb -f "$agent_deb" Version)
pass "built $(basename "$agent_deb") ($(stat -c %s "$agent_deb") bytes, Installed-Size $(dpkg-deb -f "$agent_deb" Installed-Size) KiB), $(basename "$verifier_deb") ($(stat -c %s "$verifier_deb") bytes, Installed-Size $(dpkg-deb -f "$verifier_deb" Installed-Size) KiB)"
dpkg-deb -f "$agent_deb" Depends | grep -q 'libcurl4' && dpkg-deb -f "$agent_deb" Depends | grep -q 'libnftables1' &&
    dpkg-deb -f "$agent_deb" Depends | grep -q 'libssl3 (>=' &&
    pass "posture-agent Depends: shlibs and the dlopen()ed libcurl4, libnftables1" ||
    fail "posture-agent Depends: $(dpkg-deb -f "$agent_deb" Depends)"

# the check SDK too (posture-check-dev: the header, the .pc, the examples)
dev_deb=$(ls "$tmp"/out/posture-check-dev_*.deb)
lintian --pedantic --fail-on error,warning,info,pedantic "$agent_deb" "$verifier_deb" "$dev_deb" \
    >"$tmp/lintian.log" 2>&1
rc=$?
grep -v 'running with root privileges' "$tmp/lintian.log" >"$tmp/lintian.tags"
if [ $rc = 0 ] && [ ! -s "$tmp/lintian.tags" ]; then
    pass "lintian --pedantic: clean"
else
    fail "lintian (exit $rc)"
    show "$tmp/lintian.tags"
fi

mkdir -p "$tmp/x"
for deb in "$agent_deb" "$verifier_deb"; do
    p=$(dpkg-deb -f "$deb" Package)
    dpkg-deb -x "$deb" "$tmp/x/$p"
    # the SPDX 2.3 structure: required fields, DESCRIBES the package, DEPENDS_ON every library
    if "$py" - "$tmp/x/$p/usr/share/doc/$p/sbom.spdx.json" "$p" "$version" >"$tmp/sbom.out" 2>&1 <<'EOF'; then
import json, re, sys
path, pkg, version = sys.argv[1:4]
d = json.load(open(path))
errs = []
def need(obj, keys, where):
    for k in keys:
        if k not in obj:
            errs.append(f"{where}: no {k}")
need(d, ["spdxVersion", "dataLicense", "SPDXID", "name", "documentNamespace", "creationInfo",
         "packages", "relationships"], "document")
if d.get("spdxVersion") != "SPDX-2.3": errs.append("spdxVersion")
if d.get("dataLicense") != "CC0-1.0": errs.append("dataLicense")
if d.get("SPDXID") != "SPDXRef-DOCUMENT": errs.append("SPDXID")
if not re.match(r"^https?://\S+$", d.get("documentNamespace", "")) or "#" in d["documentNamespace"]:
    errs.append("documentNamespace")
ci = d.get("creationInfo", {})
need(ci, ["created", "creators"], "creationInfo")
if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", ci.get("created", "")): errs.append("created")
if not all(re.match(r"^(Tool|Organization|Person): .+", c) for c in ci.get("creators", [])) or not ci.get("creators"):
    errs.append("creators")
ids = set()
for p in d["packages"]:
    need(p, ["name", "SPDXID", "downloadLocation", "versionInfo", "licenseDeclared", "copyrightText"], p.get("name", "?"))
    if not re.match(r"^SPDXRef-[A-Za-z0-9.-]+$", p.get("SPDXID", "")): errs.append(f"SPDXID {p.get('SPDXID')}")
    if p.get("SPDXID") in ids: errs.append(f"duplicate {p.get('SPDXID')}")
    ids.add(p.get("SPDXID"))
    for ref in re.findall(r"LicenseRef-[A-Za-z0-9.-]+", p.get("licenseDeclared", "")):
        if ref not in {e["licenseId"] for e in d.get("hasExtractedLicensingInfos", [])}:
            errs.append(f"{ref} not in hasExtractedLicensingInfos")
top = [p for p in d["packages"] if p["name"] == pkg]
if len(top) != 1 or top[0]["versionInfo"] != version: errs.append("the package itself")
rels = d["relationships"]
for r in rels:
    need(r, ["spdxElementId", "relationshipType", "relatedSpdxElement"], "relationship")
    if r.get("relatedSpdxElement") not in ids: errs.append(f"dangling {r}")
describes = [r for r in rels if r["relationshipType"] == "DESCRIBES"]
if [(r["spdxElementId"], r["relatedSpdxElement"]) for r in describes] != [("SPDXRef-DOCUMENT", top[0]["SPDXID"] if top else "")]:
    errs.append("DESCRIBES")
deps = {r["relatedSpdxElement"] for r in rels if r["relationshipType"] == "DEPENDS_ON" and r["spdxElementId"] == (top[0]["SPDXID"] if top else "")}
names = {p["SPDXID"]: p["name"] for p in d["packages"]}
dep_names = sorted(names[i] for i in deps)
if len(deps) != len(d["packages"]) - 1: errs.append("not every library is DEPENDS_ON")
want = {"libc6", "libssl3", "libcjson1"} | ({"libcurl4", "libnftables1"} if pkg == "posture-agent" else {"libsqlite3-0", "libmicrohttpd12"})
if not want <= set(dep_names): errs.append(f"missing {sorted(want - set(dep_names))}")
for p in d["packages"]:
    if p["name"] in ("libssl3", "zlib1g") and p["licenseDeclared"] == "NOASSERTION":
        errs.append(f"{p['name']}: no license from its DEP-5 copyright")
if errs:
    print("; ".join(errs)); sys.exit(1)
print(f"{len(d['packages']) - 1} packages: " + ", ".join(f"{names[i]}" for i in sorted(deps, key=names.get)))
EOF
        pass "$p SBOM (SPDX 2.3): $(cat "$tmp/sbom.out")"
    else
        fail "$p SBOM: $(cat "$tmp/sbom.out")"
    fi
done

# ---- 2. install -------------------------------------------------------------------------------
installed=1
if dpkg -i "$verifier_deb" >"$tmp/dpkg.log" 2>&1; then
    pass "dpkg -i posture-verifier"
else
    show "$tmp/dpkg.log"
    fail "dpkg -i posture-verifier"
    exit 1
fi

# the verifier of the fleet (installed binary, as its user, temporary configuration and state)
pv=/usr/bin/posture-verifier
agents_port=$(free_port)
gw_port=$(free_port)
url="https://127.0.0.1:$agents_port"
install -d -o posture-verifier -g posture-verifier -m 0700 "$tmp/vstate"
cat >"$tmp/verifier.conf" <<EOF
[verifier]
state_dir = $tmp/vstate
trust_domain = packaging.test
[listen]
agents = 127.0.0.1:$agents_port
gateways = 127.0.0.1:$gw_port
trusted_gateways = 127.0.0.1/32
threads = 2
[tls]
cert = $tmp/vstate/tls.crt
key = $tmp/vstate/tls.key
EOF
chmod 0644 "$tmp/verifier.conf"
runuser -u posture-verifier -- "$pv" serve --config "$tmp/verifier.conf" >"$tmp/vlog" 2>&1 &
vpid=$!
wait_for 20 curl -fsS -o /dev/null "http://127.0.0.1:$gw_port/healthz" 2>/dev/null ||
    { show "$tmp/vlog"; fail "the installed posture-verifier did not start"; exit 1; }
token=$(runuser -u posture-verifier -- "$pv" token create --config "$tmp/verifier.conf" 2>"$tmp/token.err")
[ -n "$token" ] || { show "$tmp/token.err"; fail "posture-verifier token create"; exit 1; }

if POSTURE_ENROLL_TOKEN=$token dpkg -i "$agent_deb" >"$tmp/dpkg.log" 2>&1; then
    pass "POSTURE_ENROLL_TOKEN=… dpkg -i posture-agent"
else
    show "$tmp/dpkg.log"
    fail "dpkg -i posture-agent"
    exit 1
fi

for f in /usr/sbin/postured /usr/bin/posturectl /usr/bin/posture-verifier; do
    expect_stat "$f" 755 root:root
done
for f in /etc/posture/agent.conf /etc/posture/verifier.conf /etc/posture/policies/baseline.json \
    /lib/systemd/system/postured.service /lib/systemd/system/posture-verifier.service \
    /usr/lib/sysusers.d/posture.conf /usr/lib/sysusers.d/posture-verifier.conf \
    /usr/share/man/man8/postured.8.gz /usr/share/man/man5/agent.conf.5.gz \
    /usr/share/man/man8/posture-verifier.8.gz /usr/share/doc/posture-agent/copyright \
    /usr/share/doc/posture-verifier/examples/nginx.conf /usr/share/doc/posture-agent/sbom.spdx.json; do
    expect_stat "$f" 644 root:root
done
expect_stat /var/lib/posture 700 posture:posture
expect_stat /var/lib/posture-verifier 700 posture-verifier:posture-verifier
expect_stat /etc/posture/enroll.token 600 root:root
[ "$(cat /etc/posture/enroll.token)" = "$token" ] && pass "postinst wrote POSTURE_ENROLL_TOKEN to /etc/posture/enroll.token" ||
    fail "enroll.token: $(cat /etc/posture/enroll.token 2>&1)"
for u in "posture:/var/lib/posture:Posture agent" "posture-verifier:/var/lib/posture-verifier:Posture verifier"; do
    user=${u%%:*}
    ent=$(getent passwd "$user")
    uid=$(echo "$ent" | cut -d: -f3)
    if [ -n "$ent" ] && [ "$uid" -lt 1000 ] && [ "$(echo "$ent" | cut -d: -f5,6)" = "${u##*:}:$(echo "$u" | cut -d: -f2)" ] &&
        getent group "$user" >/dev/null && [ "$(id -gn "$user")" = "$user" ] &&
        echo "$ent" | cut -d: -f7 | grep -q 'nologin$'; then
        pass "system user and group: $ent"
    else
        fail "user $user: '$ent'"
    fi
done
conff=$(dpkg-query -W -f='${Conffiles}' posture-agent | awk '{print $1}' | paste -sd' ' -)
[ "$conff" = /etc/posture/agent.conf ] && pass "posture-agent conffiles: $conff" || fail "posture-agent conffiles: '$conff'"
conff=$(dpkg-query -W -f='${Conffiles}' posture-verifier | awk '{print $1}' | sort | paste -sd' ' -)
expected=$({
    for f in "$src"/packaging/policies/*.json; do
        echo "/etc/posture/policies/${f##*/}"
    done
    echo /etc/posture/verifier.conf
} | sort | paste -sd' ' -)
[ "$conff" = "$expected" ] && pass "posture-verifier conffiles: $conff" || fail "posture-verifier conffiles: '$conff' (expected '$expected')"
for unit in $units; do
    [ -L "/etc/systemd/system/multi-user.target.wants/$unit" ] &&
        [ -e "/var/lib/systemd/deb-systemd-helper-enabled/$unit.dsh-also" ] &&
        pass "$unit enabled (deb-systemd-helper)" || fail "$unit not enabled"
done
# postinst as if systemd were PID 1: /run/systemd/system in a private mount namespace, and
# deb-systemd-invoke and systemctl replaced by stand-ins that record their arguments
mkdir -p "$tmp/shims"
for c in deb-systemd-invoke systemctl; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$c" "$tmp" >"$tmp/shims/$c"
    chmod 0755 "$tmp/shims/$c"
done
sim_postinst() { # PACKAGE → $tmp/calls
    : >"$tmp/calls"
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare -m sh -c 'mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system &&
        PATH="$1:$PATH" exec /var/lib/dpkg/info/$2.postinst configure "$3"' \
        sh "$tmp/shims" "$1" "$version" >"$tmp/sim.log" 2>&1 || { show "$tmp/sim.log"; fail "$1 postinst under systemd"; }
}
for p in posture-agent posture-verifier; do
    sim_postinst "$p"
    grep -q '^systemctl --system daemon-reload' "$tmp/calls" && ! grep -q 'deb-systemd-invoke start' "$tmp/calls" &&
        pass "$p postinst under systemd, unconfigured: daemon-reload, not started" ||
        { fail "$p postinst unconfigured: $(tr '\n' ';' <"$tmp/calls")"; }
done
# nothing started by the packages (no systemd here, and an unconfigured unit is never started)
# (the one posture-verifier running is this test's)
if pgrep -u posture -x postured >/dev/null || [ "$(pgrep -c -u posture-verifier)" != 1 ]; then
    fail "a posture process was started by the packages"
else
    pass "nothing started by postinst"
fi
if posturectl check --only os.release >"$tmp/check.out" 2>&1 && grep -q 'os.release' "$tmp/check.out"; then
    pass "posturectl check --only os.release: $(grep 'os.release' "$tmp/check.out" | head -n 1 | tr -s ' ' | cut -c1-90)"
else
    fail "posturectl check --only os.release"
    show "$tmp/check.out"
fi

# ---- 3. the fleet first start -----------------------------------------------------------------
"$pv" ca --config "$tmp/verifier.conf" >/etc/posture/verifier-ca.pem 2>"$tmp/ca.err" ||
    { show "$tmp/ca.err"; fail "posture-verifier ca"; }
chmod 0644 /etc/posture/verifier-ca.pem
mkdir -p /etc/posture/agent.conf.d
printf '[server]\nurl = %s\nca = /etc/posture/verifier-ca.pem\n' "$url" >/etc/posture/agent.conf.d/50-fleet.conf
sim_postinst posture-agent
grep -q '^deb-systemd-invoke start postured.service$' "$tmp/calls" &&
    pass "posture-agent postinst under systemd, [server] url in a drop-in: started" ||
    fail "posture-agent postinst configured: $(tr '\n' ';' <"$tmp/calls")"
# the unit's root ExecStartPre= that moves the token into the state directory, as systemd runs it
move=$(sed -n 's/^ExecStartPre=+-\(.*enroll\.token.*\)$/\1/p' /lib/systemd/system/postured.service)
[ -n "$move" ] || fail "no token move in postured.service"
eval "$move"
[ ! -e /etc/posture/enroll.token ] && [ "$(stat -c '%a %U' /var/lib/posture/enroll.token 2>&1)" = "600 posture" ] &&
    pass "ExecStartPre=: the token moved to /var/lib/posture (0600 posture)" ||
    fail "token move: $(ls -l /etc/posture/enroll.token /var/lib/posture/enroll.token 2>&1)"
(cd / && exec runuser -u posture -- /usr/sbin/postured) >"$tmp/pd.log" 2>&1 &
if wait_for 40 sh -c "[ \"\$(sqlite3 '$tmp/vstate/store.db' 'SELECT count(*) FROM appraisals' 2>/dev/null)\" -ge 1 ]"; then
    [ -s /var/lib/posture/device.crt ] && [ ! -e /var/lib/posture/enroll.token ] &&
        [ "$(stat -c %U /var/lib/posture/device.crt)" = posture ] &&
        pass "first start: enrolled ($(grep -o 'Enrolled device.*' "$tmp/pd.log" | head -n 1 | cut -c1-80)), a report appraised, the token gone" ||
        { fail "first start: $(ls -l /var/lib/posture 2>&1)"; show "$tmp/pd.log"; }
else
    fail "first start: no report in the verifier's store"
    show "$tmp/pd.log"
    show "$tmp/vlog"
fi
pkill -TERM -u posture -x postured
wait_for 10 sh -c '! pgrep -u posture -x postured >/dev/null' || fail "postured did not stop at SIGTERM"

# ---- 4. upgrade with a changed conffile -------------------------------------------------------
upstream=${version%-*}
new_version=$upstream-$((${version##*-} + 1))
cp "$src/packaging/config/agent.conf" "$tmp/agent.conf.new"
printf '\n# a new default of %s\n' "$new_version" >>"$tmp/agent.conf.new"
POSTURE_DEB_VERSION=$new_version POSTURE_DEB_AGENT_CONF=$tmp/agent.conf.new \
    POSTURE_DEB_PACKAGES=posture-agent "$src/packaging/build-packages.sh" "$build" "$tmp/out2" \
    >"$tmp/build2.log" 2>&1 || { show "$tmp/build2.log"; fail "rebuild for the upgrade"; }
printf '\n# changed by the admin\n' >>/etc/posture/agent.conf
if POSTURE_ENROLL_TOKEN=unused dpkg -i --force-confold "$tmp/out2/posture-agent_${new_version}_"*.deb >"$tmp/dpkg.log" 2>&1; then
    [ "$(dpkg-query -W -f='${Version}' posture-agent)" = "$new_version" ] &&
        grep -q '^# changed by the admin$' /etc/posture/agent.conf &&
        ! grep -q "new default" /etc/posture/agent.conf &&
        grep -q "^# a new default of $new_version\$" /etc/posture/agent.conf.dpkg-dist &&
        pass "upgrade to $new_version: the admin's agent.conf kept, the new default as agent.conf.dpkg-dist" ||
        fail "upgrade: $(dpkg-query -W -f='${Version}' posture-agent), $(ls /etc/posture)"
    [ -s /var/lib/posture/device.crt ] && [ -e /etc/posture/agent.conf.d/50-fleet.conf ] &&
        [ "$(stat -c '%a %U' /var/lib/posture)" = "700 posture" ] &&
        [ ! -e /etc/posture/enroll.token ] &&
        pass "upgrade: the enrolment, the drop-in and the state directory kept; no token written on an enrolled device" ||
        fail "upgrade lost state: $(ls -la /var/lib/posture 2>&1)"
else
    show "$tmp/dpkg.log"
    fail "dpkg -i (upgrade)"
fi

# ---- 5. purge ---------------------------------------------------------------------------------
kill -TERM "$vpid" 2>/dev/null
wait "$vpid" 2>/dev/null
vpid=
files=$(dpkg -L posture-agent posture-verifier | while read -r f; do [ -d "$f" ] || echo "$f"; done)
if dpkg --purge posture-agent posture-verifier >"$tmp/dpkg.log" 2>&1; then
    left=""
    for f in $files /etc/posture /var/lib/posture /var/lib/posture-verifier /usr/share/doc/posture \
        /usr/share/doc/posture-agent /usr/share/doc/posture-verifier; do
        [ -e "$f" ] && left="$left $f"
    done
    for unit in $units; do
        [ -e "/etc/systemd/system/multi-user.target.wants/$unit" ] && left="$left wants/$unit"
        find /var/lib/systemd/deb-systemd-helper-* -name "$unit*" 2>/dev/null | grep -q . && left="$left dsh:$unit"
    done
    for u in posture posture-verifier; do
        getent passwd "$u" >/dev/null && left="$left user:$u"
        getent group "$u" >/dev/null && left="$left group:$u"
    done
    dpkg-query -W -f='${db:Status-Status}\n' posture-agent posture-verifier 2>/dev/null |
        grep -qv '^not-installed$' && left="$left dpkg-status"
    [ -z "$left" ] && pass "dpkg --purge: nothing left ($(echo "$files" | wc -l) files, users, groups, directories, enablement)" ||
        fail "dpkg --purge left:$left"
    installed=0
else
    show "$tmp/dpkg.log"
    fail "dpkg --purge"
fi

echo "$name: $(($(date +%s) - t_start)) s"
if [ $failures -gt 0 ]; then
    echo "$name: $failures failure(s)"
    exit 1
fi
echo "$name: all passed"
