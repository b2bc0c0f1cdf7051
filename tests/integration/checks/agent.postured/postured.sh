#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# agent.postured/<case>: the daemon against the real `posture-verifier serve` (software tier,
# enrolled with posturectl) or a stub (docs/agent-daemon.md):
#   once     postured --once delivers one report: exit 0, status.json (version 1, last_success,
#            the verdict, an empty spool) and ear.jwt (0600), one appraisal in the store; with
#            the verifier down exit 1 and the report spooled; back up, both delivered (the new
#            one first); a delivered report put back in the spool is re-sent and acknowledged
#            as a duplicate, stored once; posturectl submit updates status.json; a revoked
#            device: no report made or spooled
#   daemon   postured with [schedule] interval = 10s: several cycles delivered; SIGHUP reloads
#            (the changed key logged) and a bad configuration keeps the old one; READY=1,
#            STATUS=, WATCHDOG=1 (WATCHDOG_USEC), RELOADING=1 and STOPPING=1 arrive on a test
#            NOTIFY_SOCKET (an abstract one too); SIGTERM exits 0 within 5 s
#   outage   the verifier down for 3 cycles, then up: every spooled report is delivered, none
#            twice in the store (sqlite3, by seq), the spooled ones newest first, the spool empty
#   retry-after  a stub answering 503 Retry-After: 7: the next attempt comes ≥ 7 s later, and a
#            captive portal's 200 HTML is never taken for a delivery (the report stays spooled)
#   wrong-server  a server certificate from another CA: never accepted, the report stays spooled
#   stall    a verifier that never answers: [server] timeout (4 s here) ends the request, the
#            report spooled; a SIGTERM during a stalled request ends the daemon within 2 s
#            (exit 0), the report still spooled
#   nospace  the spool on a full tmpfs, then read-only (root, private mount namespace): counted
#            as dropped with a clear log line; delivered again once there is room
#   crash    kill -9 at random points of 200 --once runs: no stray or torn spool file, a clean
#            start, every report delivered once
#   trigger  in a private network namespace (root): a network change (a veth link and address)
#            brings an early cycle no sooner than [schedule] early_gap (8 s here) after the
#            previous one; a burst of
#            changes one cycle only
#   clock    wall clock +1 day, -1 day, and a 2 h resume, simulated by libclockshift.so
#            (LD_PRELOAD) on postured's clocks: one early cycle each, no burst
#   clockset the machine's wall clock really set (root: clock_settime to its own value, a
#            step of a microsecond): the kernel cancels postured's TFD_TIMER_CANCEL_ON_SET
#            timerfd, and that alone (no jump to see) brings one early cycle
#   fleet    enrolment at first start: without [server] url and a token postured waits, says
#            what is missing (log, status.json, posturectl status); with a drop-in and a token
#            and a SIGHUP it enrols, deletes the token and reports; a refused token is not
#            sent again until it changes
#   unit     packaging/systemd/postured.service passes systemd-analyze verify; the exposure of
#            systemd-analyze security --offline=yes is printed and must not grow
# Usage: postured.sh CASE POSTURED POSTURECTL POSTURE_VERIFIER SOURCE_DIR. Exits 77 when curl,
# openssl, sqlite3 or python3 is missing (outside CI; in CI that is a failure).
set -u

case_name=$1
pd=$(cd "$(dirname "$2")" && pwd)/$(basename "$2") # absolute: the unit's ExecStart= needs it
pc=$3
pv=$4
src=$5
name="agent.postured/$case_name"
py=/usr/bin/python3

missing() {
    if [ "${CI:-}" = true ]; then
        echo "$name: FAIL: $1 is not installed"
        exit 1
    fi
    echo "$name: SKIP: $1 is not installed"
    exit 77
}
for t in curl openssl sqlite3 "$py"; do
    command -v "$t" >/dev/null 2>&1 || missing "$t"
done
unset POSTURE_LOG_LEVEL JOURNAL_STREAM NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agent-postured.XXXXXX")
pid=
dpid=
npid=
spid=
stop_pid() { # PID
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
stop_all() {
    stop_pid "$dpid"
    stop_pid "$pid"
    stop_pid "$npid"
    stop_pid "$spid"
    [ -n "${POSTURED_TEST_KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

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
roots=$src/tests/fixtures/roots/boot.secure_boot
state=$tmp/agent/state
aconf=$tmp/agent.conf
mkdir -p "$tmp/vstate" "$tmp/policies" "$tmp/agent"

# ---- the verifier (as agent.enroll does) ----------------------------------------------------
agents_port=$(free_port)
gw_port=$(free_port)
url="https://127.0.0.1:$agents_port"
"$py" - "$src/packaging/policies/baseline.json" "$tmp/policies/t-sb.json" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p = {"id": "t-sb", "version": "1", "description": "agent.postured test",
     "checks": {"boot.secure_boot": p["checks"]["boot.secure_boot"]}}
json.dump(p, open(sys.argv[2], "w"))
EOF
vconf=$tmp/verifier.conf
cat >"$vconf" <<EOF
[verifier]
state_dir = $tmp/vstate
trust_domain = test.example
[listen]
agents = 127.0.0.1:$agents_port
gateways = 127.0.0.1:$gw_port
trusted_gateways = 127.0.0.1/32
threads = 2
[tls]
cert = $tmp/vstate/tls.crt
key = $tmp/vstate/tls.key
[policy]
dir = $tmp/policies
default = t-sb
EOF
start_verifier() {
    "$pv" serve --config "$vconf" >>"$tmp/vlog" 2>&1 &
    pid=$!
    wait_for 20 curl -fsS -o /dev/null "http://127.0.0.1:$gw_port/healthz" 2>/dev/null && return 0
    fail "the verifier did not start"
    show "$tmp/vlog"
    exit 1
}
stop_verifier() {
    stop_pid "$pid"
    pid=
}
store_count() { # [WHERE]
    sqlite3 "$tmp/vstate/store.db" "SELECT count(*) FROM appraisals ${1:-}" 2>/dev/null || echo 0
}

write_agent_conf() { # URL CA [EXTRA]
    cat >"$aconf" <<EOF
[agent]
state_dir = $state
[server]
url = $1
ca = $2
[tpm]
enabled = no
[schedule]
interval = 10s
${3:-}
EOF
}

enroll() {
    start_verifier
    "$pv" ca --config "$vconf" >"$tmp/verifier-ca.pem" || fail "posture-verifier ca"
    write_agent_conf "$url" "$state/verifier-ca.pem"
    tok=$("$pv" token create --config "$vconf" 2>>"$tmp/token.err")
    if "$pc" enroll --server "$url" --token "$tok" --ca "$tmp/verifier-ca.pem" --config "$aconf" \
        >"$tmp/enroll.out" 2>&1; then
        pass "enrolled (software tier)"
    else
        fail "enroll: $(cat "$tmp/enroll.out")"
        show "$tmp/vlog"
        exit 1
    fi
}

run_daemon() { # [ENV...]: postured in the background, log in $tmp/pd.log
    env "$@" "$pd" --config "$aconf" --only boot.secure_boot --root "$roots/sb-on" \
        >>"$tmp/pd.log" 2>&1 &
    dpid=$!
}
stop_daemon() { # → $stop_rc, $stop_secs
    t0=$(date +%s.%N)
    kill -TERM "$dpid" 2>/dev/null
    wait "$dpid"
    stop_rc=$?
    t1=$(date +%s.%N)
    stop_secs=$("$py" -c "print(round($t1 - $t0, 2))")
    dpid=
}
spool_count() {
    ls "$state/spool" 2>/dev/null | grep -c '\.sub$'
}
json_get() { # FILE EXPR (python, d = the document)
    "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null
}

case "$case_name" in
once)
    enroll
    "$pd" --once --config "$aconf" --only boot.secure_boot --root "$roots/sb-on" \
        >"$tmp/pd.log" 2>&1
    rc=$?
    [ $rc = 0 ] && grep -q 'Report 1 delivered: affirming' "$tmp/pd.log" &&
        pass "postured --once: exit 0, $(grep 'delivered' "$tmp/pd.log")" ||
        { fail "postured --once: exit $rc"; show "$tmp/pd.log"; }
    st=$state/status.json
    if [ "$(json_get "$st" 'd["version"], d["seq"], d["verdict"]["status"], d["spool_entries"], d["last_error"], d["last_success"] > 0, d["next_cycle"] > 0, "ear" in d["verdict"]')" = \
        "1 1 affirming 0  True True False" ]; then
        pass "status.json: $(tr -d '\n' <"$st" | cut -c1-160)"
    else
        fail "status.json: $(cat "$st" 2>&1)"
    fi
    [ "$(stat -c %a "$state/ear.jwt" 2>/dev/null)" = 600 ] && grep -q '^ey' "$state/ear.jwt" &&
        pass "ear.jwt stored (0600)" || fail "ear.jwt: $(ls -l "$state/ear.jwt" 2>&1)"
    [ "$(store_count)" = 1 ] && pass "one appraisal in the store" ||
        fail "$(store_count) appraisals in the store"
    [ "$(spool_count)" = 0 ] && pass "the spool is empty" || fail "spool: $(ls "$state/spool")"
    # The verifier is down: --once spools the report and exits 1.
    stop_verifier
    "$pd" --once --config "$aconf" --only boot.secure_boot --root "$roots/sb-on" \
        >"$tmp/pd2.log" 2>&1
    rc=$?
    [ $rc = 1 ] && [ "$(spool_count)" = 1 ] && grep -q 'cannot reach the verifier' "$tmp/pd2.log" &&
        [ "$(json_get "$st" 'd["spool_entries"], d["last_error"] != "", d["verdict"]["status"]')" = "1 True affirming" ] &&
        pass "verifier down: exit 1, the report spooled, status.json says why and keeps the verdict" ||
        { fail "verifier down: exit $rc, spool $(spool_count)"; show "$tmp/pd2.log"; cat "$st" >&2; }
    cp "$state"/spool/*.sub "$tmp/" 2>/dev/null || fail "no spool file to keep"
    # Up again: the next --once delivers both, the new one first.
    start_verifier
    "$pd" --once --config "$aconf" --only boot.secure_boot --root "$roots/sb-on" \
        >"$tmp/pd3.log" 2>&1
    rc=$?
    order=$(sqlite3 "$tmp/vstate/store.db" "SELECT group_concat(seq, ' ') FROM (SELECT seq FROM appraisals ORDER BY id)")
    [ $rc = 0 ] && [ "$(spool_count)" = 0 ] && [ "$order" = "1 3 2" ] &&
        pass "back up: the new report and the spooled one delivered (store order: $order)" ||
        { fail "back up: exit $rc, spool $(spool_count), store order '$order'"; show "$tmp/pd3.log"; }
    # At-least-once: report 2 delivered but still spooled (its acknowledgement lost) is sent
    # again, resealed; the verifier answers that it has it, and the store keeps one row.
    cp "$tmp"/*.sub "$state/spool/"
    "$pd" --once --config "$aconf" --only boot.secure_boot --root "$roots/sb-on" \
        >"$tmp/pd4.log" 2>&1
    rc=$?
    [ $rc = 0 ] && [ "$(spool_count)" = 0 ] && [ "$(store_count 'WHERE seq = 2')" = 1 ] &&
        grep -q 'Delivered spooled report 2' "$tmp/pd4.log" &&
        pass "a re-sent report: acknowledged as a duplicate, stored once" ||
        { fail "re-send: exit $rc, spool $(spool_count), seq 2 stored $(store_count 'WHERE seq = 2') times"; show "$tmp/pd4.log"; }
    # posturectl submit runs the same cycle without the spool and updates status.json too.
    "$pc" submit --only boot.secure_boot --root "$roots/sb-on" --config "$aconf" \
        >"$tmp/submit.out" 2>&1
    rc=$?
    seq=$(cat "$state/report.seq")
    [ $rc = 0 ] && [ "$(json_get "$state/status.json" 'd["seq"], d["verdict"]["status"], d["last_error"]')" = "$seq affirming " ] &&
        [ "$(store_count "WHERE seq = $seq")" = 1 ] &&
        pass "posturectl submit: report $seq delivered, status.json updated" ||
        { fail "posturectl submit: exit $rc"; cat "$tmp/submit.out" "$state/status.json" >&2; }
    # A revoked device: the verifier refuses the challenge for good; no report is made or
    # spooled, the log says why and what to do.
    kid=$("$pc" key --jwk --config "$aconf" 2>/dev/null | "$py" -c 'import json,sys; print(json.load(sys.stdin)["kid"])')
    "$pv" devices revoke "$kid" --config "$vconf" >"$tmp/revoke.out" 2>&1 || fail "revoke: $(cat "$tmp/revoke.out")"
    before=$(cat "$state/report.seq" 2>/dev/null)
    "$pd" --once --config "$aconf" --only boot.secure_boot --root "$roots/sb-on" \
        >"$tmp/pd5.log" 2>&1
    rc=$?
    [ $rc = 1 ] && [ "$(spool_count)" = 0 ] && [ "$(cat "$state/report.seq")" = "$before" ] &&
        grep -q 'refused the challenge: HTTP 403 device-revoked' "$tmp/pd5.log" &&
        pass "revoked: exit 1, nothing spooled, '$(grep -o 'refused the challenge.*' "$tmp/pd5.log" | cut -c1-70)…'" ||
        { fail "revoked: exit $rc, spool $(spool_count)"; show "$tmp/pd5.log"; }
    ;;
daemon)
    enroll
    # sd_notify receivers: a file-system socket and an abstract one.
    "$py" - "$tmp/notify.sock" "$tmp/notify.log" "@postured-test-$$" "$tmp/notify2.log" <<'EOF' &
import socket, sys, time, selectors
sel = selectors.DefaultSelector()
for path, log in ((sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + path[1:] if path.startswith("@") else path)
    sel.register(s, selectors.EVENT_READ, open(log, "a", buffering=1))
open(sys.argv[2] + ".ready", "w").close()
while True:
    for key, _ in sel.select():
        msg = key.fileobj.recv(4096).decode()
        for line in msg.split("\n"):
            key.data.write("%.3f %s\n" % (time.time(), line))
EOF
    npid=$!
    wait_for 10 test -e "$tmp/notify.log.ready" || fail "the notify receiver did not start"
    run_daemon NOTIFY_SOCKET="$tmp/notify.sock" WATCHDOG_USEC=2000000
    if wait_for 45 sh -c "[ \$(sqlite3 '$tmp/vstate/store.db' 'SELECT count(*) FROM appraisals') -ge 3 ]"; then
        pass "several cycles delivered ($(store_count) appraisals)"
    else
        fail "only $(store_count) appraisals after 45 s"
        show "$tmp/pd.log"
    fi
    # between cycles libcurl (and the libraries only it needs) is not mapped
    wait_for 12 sh -c "! grep -q 'libcurl' /proc/$dpid/maps" &&
        pass "idle between cycles: libcurl unloaded (VmRSS $(sed -n 's/^VmRSS:[[:space:]]*//p' /proc/$dpid/status))" ||
        fail "libcurl stays mapped between cycles"
    grep -q '^[0-9.]* READY=1$' "$tmp/notify.log" && pass "READY=1" || fail "no READY=1"
    grep -q '^[0-9.]* WATCHDOG=1$' "$tmp/notify.log" && pass "WATCHDOG=1 ($(grep -c WATCHDOG=1 "$tmp/notify.log") pings)" ||
        fail "no WATCHDOG=1"
    grep -q 'STATUS=Verdict affirming' "$tmp/notify.log" && pass "STATUS=$(grep -o 'STATUS=Verdict.*' "$tmp/notify.log" | tail -n 1 | cut -c8-)" ||
        fail "no STATUS= with the verdict"
    # SIGHUP: a changed setting is logged.
    write_agent_conf "$url" "$state/verifier-ca.pem" "[spool]
max_bytes = 4M"
    kill -HUP "$dpid"
    wait_for 10 grep -q 'Reload: \[spool\] max_bytes changed' "$tmp/pd.log" &&
        pass "SIGHUP: $(grep -o 'Reload: \[spool\] max_bytes.*' "$tmp/pd.log")" ||
        { fail "SIGHUP: no reload line"; show "$tmp/pd.log"; }
    grep -q 'RELOADING=1' "$tmp/notify.log" && pass "RELOADING=1" || fail "no RELOADING=1"
    # A bad configuration keeps the old one.
    printf '[schedule]\ninterval = soon\n' >>"$aconf"
    kill -HUP "$dpid"
    wait_for 10 grep -q 'keeping the previous one' "$tmp/pd.log" && kill -0 "$dpid" 2>/dev/null &&
        pass "SIGHUP with a bad configuration: kept the previous one, still running" ||
        { fail "bad reload"; show "$tmp/pd.log"; }
    n=$(store_count)
    wait_for 20 sh -c "[ \$(sqlite3 '$tmp/vstate/store.db' 'SELECT count(*) FROM appraisals') -gt $n ]" &&
        pass "cycles go on after the reloads" || fail "no cycle after the reloads"
    stop_daemon
    [ "$stop_rc" = 0 ] && "$py" -c "import sys; sys.exit(0 if $stop_secs < 5 else 1)" &&
        pass "SIGTERM: exit 0 in $stop_secs s" || fail "SIGTERM: exit $stop_rc after $stop_secs s"
    grep -q 'STOPPING=1' "$tmp/notify.log" && pass "STOPPING=1" || fail "no STOPPING=1"
    # The abstract socket.
    write_agent_conf "$url" "$state/verifier-ca.pem"
    run_daemon NOTIFY_SOCKET="@postured-test-$$"
    wait_for 10 grep -q 'READY=1' "$tmp/notify2.log" && pass "READY=1 on an abstract socket" ||
        fail "nothing on the abstract socket"
    stop_daemon
    # No secrets in the log: neither the EAR nor a report.
    if grep -q 'eyJ' "$tmp/pd.log"; then fail "a token in the log"; else pass "no token in the log"; fi
    ;;
outage)
    enroll
    stop_verifier
    run_daemon
    if wait_for 60 sh -c "[ \$(ls '$state/spool' 2>/dev/null | grep -c '\.sub\$') -ge 3 ]"; then
        pass "verifier down: $(spool_count) reports spooled"
    else
        fail "verifier down: $(spool_count) reports spooled after 60 s"
        show "$tmp/pd.log"
    fi
    spooled=$(ls "$state/spool" | sed -n 's/^0*\([0-9][0-9]*\)\.sub$/\1/p' | sort -n | tr '\n' ' ')
    start_verifier
    if wait_for 60 sh -c "[ \$(ls '$state/spool' 2>/dev/null | grep -c '\.sub\$') = 0 ]"; then
        pass "verifier up: the spool drained"
    else
        fail "the spool did not drain: $(ls "$state/spool")"
        show "$tmp/pd.log"
    fi
    # After the backlog (newest first) a fresh report follows, so the verifier's latest
    # appraisal is of the newest report again.
    wait_for 20 sh -c "[ \$(sqlite3 '$tmp/vstate/store.db' 'SELECT seq FROM appraisals ORDER BY id DESC LIMIT 1') = \$(sqlite3 '$tmp/vstate/store.db' 'SELECT max(seq) FROM appraisals') ]" &&
        grep -q 'Spooled reports delivered; a fresh report follows' "$tmp/pd.log" &&
        pass "after the backlog the latest appraisal is of the newest report" ||
        fail "the last appraisal is not the newest report: $(sqlite3 "$tmp/vstate/store.db" 'SELECT group_concat(seq, " ") FROM (SELECT seq FROM appraisals ORDER BY id)')"
    stop_daemon
    [ "$stop_rc" = 0 ] || { fail "SIGTERM after the outage: exit $stop_rc"; show "$tmp/pd.log"; }
    dups=$(sqlite3 "$tmp/vstate/store.db" "SELECT group_concat(seq) FROM (SELECT seq FROM appraisals GROUP BY device_id, seq HAVING count(*) > 1)")
    [ -z "$dups" ] && pass "no report twice in the store" || fail "stored twice: $dups"
    missing_seqs=
    for s in $spooled; do
        [ "$(store_count "WHERE seq = $s")" = 1 ] || missing_seqs="$missing_seqs $s"
    done
    [ -z "$missing_seqs" ] && pass "every spooled report delivered ($spooled)" ||
        fail "not delivered:$missing_seqs"
    # The spooled ones arrived newest first.
    order=$(sqlite3 "$tmp/vstate/store.db" "SELECT group_concat(seq, ' ') FROM (SELECT seq FROM appraisals ORDER BY id)")
    got=
    for s in $order; do
        case " $spooled " in *" $s "*) got="$got $s" ;; esac
    done
    want=$(printf '%s\n' $spooled | sort -rn | tr '\n' ' ')
    [ "$(echo $got)" = "$(echo $want)" ] && pass "spooled reports delivered newest first ($got)" ||
        fail "delivery order:$got, wanted $want (store: $order)"
    ;;
retry-after)
    # A stub verifier: /v1/challenge answers 503 Retry-After: 7 (twice), then a captive portal's
    # 200 HTML. Every request's time is logged.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -keyout "$tmp/srv.key" -out "$tmp/srv.pem" -subj /CN=stub \
        -addext subjectAltName=IP:127.0.0.1 2>/dev/null || fail "openssl req"
    "$py" - "$tmp/srv.pem" "$tmp/srv.key" "$tmp/port" "$tmp/requests" <<'EOF' &
import http.server, ssl, sys, time
cert, key, portfile, logfile = sys.argv[1:5]
n = {"c": 0}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(logfile, "a") as f:
            f.write("%.3f %s\n" % (time.time(), self.path))
        n["c"] += 1
        if n["c"] <= 2:
            body, status, ctype, extra = b'{"title":"busy"}', 503, "application/problem+json", [("Retry-After", "7")]
        else:
            body, status, ctype, extra = b"<html>Please log in</html>", 200, "text/html", []
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(portfile + ".tmp", "w").write(str(srv.server_address[1]))
import os; os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
EOF
    spid=$!
    wait_for 10 test -s "$tmp/port" || fail "the stub did not start"
    mkdir -p "$state"
    write_agent_conf "https://127.0.0.1:$(cat "$tmp/port")" "$tmp/srv.pem"
    "$pc" key --config "$aconf" >/dev/null 2>&1 || fail "posturectl key"
    openssl req -new -x509 -key "$state/device.key" -subj /CN=dev -days 1 \
        -out "$state/device.crt" 2>/dev/null || fail "device certificate"
    run_daemon
    wait_for 30 sh -c "[ \$(wc -l <'$tmp/requests' 2>/dev/null || echo 0) -ge 3 ]" ||
        fail "fewer than 3 attempts in 30 s: $(cat "$tmp/requests" 2>&1)"
    gaps=$("$py" -c '
import sys
t = [float(l.split()[0]) for l in open(sys.argv[1])][:3]
print(" ".join("%.2f" % (b - a) for a, b in zip(t, t[1:])))' "$tmp/requests")
    "$py" -c "import sys; g=[float(x) for x in '$gaps'.split()]; sys.exit(0 if len(g) == 2 and min(g) >= 7.0 and max(g) < 12 else 1)" &&
        pass "503 Retry-After: 7: the next attempts came after $gaps s" ||
        { fail "503 Retry-After: 7: gaps $gaps"; show "$tmp/pd.log"; }
    grep -q "Next attempt in 7.000 s (the verifier's Retry-After)" "$tmp/pd.log" &&
        pass "the log says so" || fail "no Retry-After log line"
    wait_for 10 grep -q 'captive portal' "$tmp/pd.log" &&
        pass "a captive portal's 200: $(grep -o 'did not take.*' "$tmp/pd.log" | tail -n 1 | cut -c1-100)" ||
        fail "the captive portal answer was not named"
    [ ! -e "$state/ear.jwt" ] && [ "$(spool_count)" -ge 1 ] &&
        pass "nothing taken for a delivery: no ear.jwt, $(spool_count) report(s) spooled" ||
        fail "ear.jwt exists or the spool is empty"
    stop_daemon
    [ "$stop_rc" = 0 ] || fail "SIGTERM: exit $stop_rc"
    ;;
wrong-server)
    # A server whose certificate is not from the pinned CA (another CA; the same host): the
    # agent never talks to it, keeps the report spooled and backs off.
    for n in pinned other; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
            -keyout "$tmp/$n.key" -out "$tmp/$n.pem" -subj "/CN=$n" \
            -addext subjectAltName=IP:127.0.0.1 2>/dev/null || fail "openssl req $n"
    done
    "$py" "$src/tests/lib/https_server.py" "$tmp/other.pem" "$tmp/other.key" >"$tmp/port" &
    spid=$!
    wait_for 10 test -s "$tmp/port" || fail "the stub did not start"
    mkdir -p "$state"
    write_agent_conf "https://127.0.0.1:$(head -n 1 "$tmp/port")" "$tmp/pinned.pem"
    "$pc" key --config "$aconf" >/dev/null 2>&1 || fail "posturectl key"
    openssl req -new -x509 -key "$state/device.key" -subj /CN=dev -days 1 \
        -out "$state/device.crt" 2>/dev/null || fail "device certificate"
    "$pd" --once --config "$aconf" --only boot.secure_boot --root "$roots/sb-on" \
        >"$tmp/pd.log" 2>&1
    rc=$?
    [ $rc = 1 ] && grep -q "TLS failed: the server's certificate is not the pinned" "$tmp/pd.log" &&
        [ "$(spool_count)" = 1 ] && [ ! -e "$state/ear.jwt" ] &&
        grep -q '"last_error": ".*TLS failed' "$state/status.json" &&
        pass "a server certificate from another CA: never accepted, the report spooled, status.json says why" ||
        { fail "wrong server: exit $rc, spool $(spool_count)"; show "$tmp/pd.log"; }
    ;;
stall)
    # A verifier that accepts the connection and never answers: the request ends at
    # [server] timeout, the report stays spooled; a SIGTERM during such a request aborts it
    # (libcurl's progress callback sees the signal within a second) and the daemon exits 0.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -keyout "$tmp/srv.key" -out "$tmp/srv.pem" -subj /CN=stub \
        -addext subjectAltName=IP:127.0.0.1 2>/dev/null || fail "openssl req"
    "$py" - "$tmp/srv.pem" "$tmp/srv.key" "$tmp/port" <<'EOF' &
import http.server, os, ssl, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_POST(self):
        with open(sys.argv[3] + ".requests", "a") as f:
            f.write(self.path + "\n")
        time.sleep(120)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(sys.argv[3] + ".tmp", "w").write(str(srv.server_address[1]))
os.rename(sys.argv[3] + ".tmp", sys.argv[3])
srv.serve_forever()
EOF
    spid=$!
    wait_for 10 test -s "$tmp/port" || fail "the stub did not start"
    mkdir -p "$state"
    write_agent_conf "https://127.0.0.1:$(cat "$tmp/port")" "$tmp/srv.pem"
    "$pc" key --config "$aconf" >/dev/null 2>&1 || fail "posturectl key"
    openssl req -new -x509 -key "$state/device.key" -subj /CN=dev -days 1 \
        -out "$state/device.crt" 2>/dev/null || fail "device certificate"
    # 1. [server] timeout = 4s: the stalled request ends after about 4 s
    printf '[server]\ntimeout = 4s\n' >>"$aconf"
    t0=$(date +%s.%N)
    run_daemon
    if wait_for 20 grep -q 'no answer in time' "$tmp/pd.log"; then
        t1=$(date +%s.%N)
        took=$("$py" -c "print(round($t1 - $t0, 1))")
        "$py" -c "import sys; sys.exit(0 if 3.5 <= $took <= 12 else 1)" && [ "$(spool_count)" = 1 ] &&
            [ ! -e "$state/ear.jwt" ] &&
            pass "a stalled verifier: the request ended by [server] timeout (4 s; $took s after start), the report spooled" ||
            { fail "stall: timed out after $took s, spool $(spool_count)"; show "$tmp/pd.log"; }
    else
        fail "stall: no timeout within 20 s"
        show "$tmp/pd.log"
    fi
    stop_daemon
    # 2. the default 30 s timeout, and a SIGTERM 1 s into the stalled request
    sed -i '/^timeout = 4s$/d' "$aconf"
    : >"$tmp/port.requests"
    run_daemon
    wait_for 20 test -s "$tmp/port.requests" || fail "stall: no request reached the stub"
    sleep 1
    stop_daemon
    [ "$stop_rc" = 0 ] && "$py" -c "import sys; sys.exit(0 if $stop_secs < 2.5 else 1)" &&
        grep -q 'SIGTERM: stopping (the current report stays spooled)' "$tmp/pd.log" &&
        [ "$(spool_count)" -ge 1 ] &&
        pass "SIGTERM during a stalled request: exit 0 after $stop_secs s, the report spooled" ||
        { fail "stall: SIGTERM: exit $stop_rc after $stop_secs s, spool $(spool_count)"; show "$tmp/pd.log"; }
    ;;
nospace)
    # The spool on a full file system, then a read-only one: each report is counted as dropped
    # with a clear log line, and the daemon keeps running. Needs root (a tmpfs in a private
    # mount namespace).
    if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null 2>&1; then
        [ "${CI:-}" = true ] && { echo "$name: FAIL: needs root and unshare"; exit 1; }
        echo "$name: SKIP: needs root and unshare"
        exit 77
    fi
    enroll
    stop_verifier
    mkdir -p "$state/spool"
    # A 64 KiB tmpfs over the spool, filled up; postured in the same mount namespace.
    {
        echo "mount -t tmpfs -o size=64k,mode=0700 posture-test '$state/spool' || exit 90"
        echo "mkdir -p -m 0700 '$state/spool/corrupt'"
        echo "dd if=/dev/zero of='$state/spool/filler' bs=4k count=64 2>/dev/null"
        echo "'$pd' --once --config '$aconf' --only boot.secure_boot --root '$roots/sb-on' >'$tmp/pd.log' 2>&1"
        echo "echo \$? >'$tmp/rc1'"
        echo "mount -o remount,ro '$state/spool' || exit 91"
        echo "'$pd' --once --config '$aconf' --only boot.secure_boot --root '$roots/sb-on' >'$tmp/pd2.log' 2>&1"
        echo "echo \$? >'$tmp/rc2'"
    } >"$tmp/inner.sh"
    unshare -m --propagation private sh "$tmp/inner.sh"
    rc=$?
    [ $rc = 0 ] || fail "the tmpfs set-up failed ($rc)"
    [ "$(cat "$tmp/rc1" 2>/dev/null)" = 1 ] &&
        grep -q 'Cannot spool report 1: No space left on device (the state directory is full)' "$tmp/pd.log" &&
        [ "$(json_get "$state/status.json" 'd["dropped"]')" = 1 ] &&
        pass "spool full: exit 1, '$(grep -o 'Cannot spool.*' "$tmp/pd.log" | cut -c1-90)…', counted as dropped" ||
        { fail "spool full: exit $(cat "$tmp/rc1" 2>/dev/null)"; show "$tmp/pd.log"; cat "$state/status.json" >&2; }
    grep -q 'Cannot spool report 2: .*(the state directory is read-only)' "$tmp/pd2.log" &&
        [ "$(cat "$tmp/rc2" 2>/dev/null)" = 1 ] &&
        pass "spool read-only: exit 1, '$(grep -o 'Cannot spool.*' "$tmp/pd2.log" | cut -c1-90)…'" ||
        { fail "spool read-only: exit $(cat "$tmp/rc2" 2>/dev/null)"; show "$tmp/pd2.log"; }
    # With room again the agent goes on.
    start_verifier
    "$pd" --once --config "$aconf" --only boot.secure_boot --root "$roots/sb-on" >"$tmp/pd3.log" 2>&1 &&
        [ "$(json_get "$state/status.json" 'd["verdict"]["status"]')" = affirming ] &&
        pass "room again: delivered" || { fail "after the fault: not delivered"; show "$tmp/pd3.log"; }
    ;;
crash)
    # kill -9 at random points of 200 cycles (checks, spool writes, requests): no stray or torn
    # spool file, a clean start, and once the daemon has run every report is delivered once.
    enroll
    i=0
    while [ $i -lt 200 ]; do
        "$pd" --once --config "$aconf" --only boot.secure_boot --root "$roots/sb-on" \
            >>"$tmp/pd.log" 2>&1 &
        victim=$!
        sleep "$("$py" -c 'import random; print(random.uniform(0, 0.25))')"
        kill -KILL "$victim" 2>/dev/null
        wait "$victim" 2>/dev/null
        i=$((i + 1))
    done
    stray=$(ls -a "$state/spool" | grep -v -e '^\.\.*$' -e '\.sub$' -e '^corrupt$' -e '^dropped$')
    [ -z "$stray" ] && pass "200 kill -9: no stray file in the spool ($(spool_count) spooled)" ||
        fail "stray files: $stray"
    corrupt=$(ls "$state/spool/corrupt" 2>/dev/null | wc -l)
    [ "$corrupt" = 0 ] && pass "no spool file was torn" || fail "$corrupt torn spool file(s)"
    # Run until the spool is empty (at most 8 drained per cycle).
    j=0
    while [ "$(spool_count)" != 0 ] && [ $j -lt 8 ]; do
        "$pd" --once --config "$aconf" --only boot.secure_boot --root "$roots/sb-on" \
            >"$tmp/pd-final.log" 2>&1 || fail "a clean run after the kills: exit $?"
        j=$((j + 1))
    done
    [ "$(spool_count)" = 0 ] && pass "the spool drained after the kills" ||
        { fail "the spool kept $(spool_count) entries"; show "$tmp/pd-final.log"; }
    dups=$(sqlite3 "$tmp/vstate/store.db" "SELECT group_concat(seq) FROM (SELECT seq FROM appraisals GROUP BY device_id, seq HAVING count(*) > 1)")
    [ -z "$dups" ] && pass "no report twice in the store ($(store_count) stored)" || fail "stored twice: $dups"
    ;;
trigger)
    # In a private network namespace (root): the verifier, the enrolment and postured with a
    # 10 min interval; a network change (a veth link with an address) brings an early cycle,
    # no sooner than early_gap (8 s; 30 s by default) after the previous one, and a burst of
    # changes brings one more only.
    if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1; then
        [ "${CI:-}" = true ] && { echo "$name: FAIL: needs root, unshare and ip"; exit 1; }
        echo "$name: SKIP: needs root, unshare and ip"
        exit 77
    fi
    unshare -n sh "$0" trigger-inner "$2" "$pc" "$pv" "$src"
    exit $?
    ;;
trigger-inner)
    ip link set lo up || fail "lo up"
    enroll
    write_agent_conf "$url" "$state/verifier-ca.pem"
    sed -i 's/^interval = 10s$/interval = 10m\nearly_gap = 8s/' "$aconf"
    run_daemon
    wait_for 20 sh -c "[ \$(sqlite3 '$tmp/vstate/store.db' 'SELECT count(*) FROM appraisals') -ge 1 ]" ||
        { fail "no first cycle"; show "$tmp/pd.log"; }
    ip link add d0 type veth peer name d1 && ip link set d1 up && ip link set d0 up &&
        ip addr add 10.99.0.1/24 dev d0 || fail "the veth link"
    if wait_for 45 sh -c "[ \$(sqlite3 '$tmp/vstate/store.db' 'SELECT count(*) FROM appraisals') -ge 2 ]"; then
        gap=$(sqlite3 "$tmp/vstate/store.db" "SELECT (max(received_at) - min(received_at)) / 1000000 FROM appraisals")
        grep -q 'Early cycle requested: network' "$tmp/pd.log" && [ "$gap" -ge 7 ] &&
            pass "a network change: an early cycle, $gap s after the first (early_gap 8 s)" ||
            { fail "early cycle: gap $gap s"; show "$tmp/pd.log"; }
    else
        fail "no early cycle after a network change"
        show "$tmp/pd.log"
    fi
    for a in 2 3 4 5 6; do
        ip addr add "10.99.0.$a/24" dev d0
    done
    ip addr del 10.99.0.2/24 dev d0
    wait_for 45 sh -c "[ \$(sqlite3 '$tmp/vstate/store.db' 'SELECT count(*) FROM appraisals') -ge 3 ]" ||
        fail "no cycle after a burst of changes"
    sleep 9
    [ "$(store_count)" = 3 ] && pass "a burst of 6 changes: one cycle" ||
        fail "a burst of changes: $(store_count) appraisals, expected 3"
    stop_daemon
    [ "$stop_rc" = 0 ] || fail "SIGTERM: exit $stop_rc"
    ;;
clock)
    # A wall-clock jump of +1 day and of -1 day, then a simulated resume (2 h asleep), without
    # touching the machine's clock: libclockshift.so (LD_PRELOAD, tests/lib/clockshift.c) adds
    # offsets from a file to postured's CLOCK_REALTIME and CLOCK_BOOTTIME. postured runs with a
    # 1 h interval and a 1 s watchdog, so it looks at its clocks every second. Each event must
    # bring exactly one early cycle (a jump: no sooner than early_gap, 8 s here, after the previous cycle; the
    # resume: at once, its slot has passed) and no burst after it.
    shim=$(dirname "$2")/../../tests/lib/libclockshift.so
    [ -f "$shim" ] || { fail "libclockshift.so not built at $shim"; exit 1; }
    enroll
    write_agent_conf "$url" "$state/verifier-ca.pem"
    sed -i 's/^interval = 10s$/interval = 1h\nearly_gap = 8s/' "$aconf"
    echo "0 0" >"$tmp/shift"
    cycles() { grep -c 'Cycle (' "$tmp/pd.log"; }
    run_daemon LD_PRELOAD="$shim" CLOCKSHIFT_FILE="$tmp/shift" POSTURE_LOG_LEVEL=debug \
        WATCHDOG_USEC=2000000 NOTIFY_SOCKET=@posture-test-clock-$$ \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
    wait_for 20 sh -c "[ \$(grep -c 'Cycle (' '$tmp/pd.log') -ge 1 ]" ||
        { fail "no first cycle"; show "$tmp/pd.log"; exit 1; }
    t_first=$(date +%s)
    # +1 day, then -1 day (back to the real clock): one cycle each, ≥ early_gap after the previous
    n=1
    for jump in "86400 0:+1 day" "0 0:-1 day"; do
        echo "${jump%%:*}" >"$tmp/shift"
        n=$((n + 1))
        if wait_for 45 sh -c "[ \$(grep -c 'Cycle (' '$tmp/pd.log') -ge $n ]"; then
            gap=$(($(date +%s) - t_first))
            t_first=$(date +%s)
            # a second cycle for the same event would come early_gap (8 s) after this one
            sleep 9
            if [ "$(cycles)" = "$n" ] && [ "$gap" -ge 7 ] &&
                grep -q 'Early cycle requested: clock set' "$tmp/pd.log"; then
                pass "wall clock ${jump#*:}: one early cycle (${gap} s after the previous), no burst"
            else
                fail "wall clock ${jump#*:}: $(cycles) cycles, expected $n"
                show "$tmp/pd.log"
            fi
        else
            fail "wall clock ${jump#*:}: no early cycle"
            show "$tmp/pd.log"
        fi
    done
    # 2 h asleep: boottime and the wall clock ran, CLOCK_MONOTONIC did not
    echo "7200 7200" >"$tmp/shift"
    n=$((n + 1))
    if wait_for 10 sh -c "[ \$(grep -c 'Cycle (' '$tmp/pd.log') -ge $n ]"; then
        sleep 9
        if [ "$(cycles)" = "$n" ] && grep -q 'Early cycle requested:.* resume' "$tmp/pd.log"; then
            pass "a simulated resume (2 h): one cycle at once, no burst"
        else
            fail "resume: $(cycles) cycles, expected $n"
            show "$tmp/pd.log"
        fi
    else
        fail "resume: no cycle within 10 s"
        show "$tmp/pd.log"
    fi
    stop_daemon
    [ "$stop_rc" = 0 ] || fail "SIGTERM: exit $stop_rc"
    ;;
fleet)
    start_verifier
    "$pv" ca --config "$vconf" >"$tmp/verifier-ca.pem" || fail "posture-verifier ca"
    mkdir -p "$tmp/etc/agent.conf.d"
    aconf=$tmp/etc/agent.conf
    printf '[agent]\nstate_dir = %s\n[server]\nca = %s\nenroll_token = %s\n[tpm]\nenabled = no\n[schedule]\ninterval = 10s\n' \
        "$state" "$tmp/verifier-ca.pem" "$tmp/etc/enroll.token" >"$aconf"
    # 1. nothing yet: postured waits quietly and says what is missing
    run_daemon
    if wait_for 10 grep -q 'Not enrolled: no enrolment token' "$tmp/pd.log"; then
        pass "no token, no URL: waiting: $(grep -o 'Not enrolled:.*' "$tmp/pd.log" | cut -c1-110)…"
    else
        fail "no waiting line"
        show "$tmp/pd.log"
    fi
    "$pc" status --config "$aconf" >"$tmp/st.out" 2>&1
    grep -qi 'not enrolled' "$tmp/st.out" && grep -q 'enroll.token' "$tmp/st.out" &&
        pass "posturectl status: $(grep -i 'not enrolled' "$tmp/st.out" | head -n 1 | cut -c1-100)" ||
        { fail "posturectl status while waiting"; show "$tmp/st.out"; }
    kill -0 "$dpid" 2>/dev/null && pass "still running while it waits" || fail "postured exited while waiting"
    # 2. a refused token (well formed, unknown to the verifier): one attempt, not sent again
    "$py" -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))' \
        >"$tmp/etc/enroll.token"
    printf '[server]\nurl = %s\n' "$url" >"$tmp/etc/agent.conf.d/50-fleet.conf"
    kill -HUP "$dpid"
    wait_for 15 grep -q 'refused the enrolment' "$tmp/pd.log" || { fail "no refusal"; show "$tmp/pd.log"; }
    kill -HUP "$dpid"
    sleep 2
    [ "$(grep -c 'Enrolling with' "$tmp/pd.log")" = 1 ] && [ -e "$tmp/etc/enroll.token" ] &&
        grep -q '"last_error": "not enrolled: the verifier refused the token' "$state/status.json" &&
        pass "a refused token: one attempt, the file kept, status.json says so" ||
        { fail "refused token: $(grep -c 'Enrolling with' "$tmp/pd.log") attempts"; show "$tmp/pd.log"; cat "$state/status.json" >&2; }
    # 3. a real token: enrolled at the next look (SIGHUP), the token deleted, reports flow
    "$pv" token create --config "$vconf" >"$tmp/etc/enroll.token" 2>>"$tmp/token.err" || fail "token create"
    kill -HUP "$dpid"
    if wait_for 20 sh -c "[ \$(sqlite3 '$tmp/vstate/store.db' 'SELECT count(*) FROM appraisals') -ge 1 ]"; then
        grep -q 'Enrolled device .* at trust tier software' "$tmp/pd.log" && [ ! -e "$tmp/etc/enroll.token" ] &&
            [ -s "$state/device.crt" ] &&
            pass "with a drop-in and a token: enrolled, the token deleted, a report appraised" ||
            { fail "enrolment: token $(ls "$tmp/etc/enroll.token" 2>&1)"; show "$tmp/pd.log"; }
    else
        fail "no report after the enrolment"
        show "$tmp/pd.log"
    fi
    stop_daemon
    [ "$stop_rc" = 0 ] || fail "SIGTERM: exit $stop_rc"
    ;;
clockset)
    if [ "$(id -u)" != 0 ]; then
        [ "${CI:-}" = true ] && { echo "$name: FAIL: needs root (CAP_SYS_TIME)"; exit 1; }
        echo "$name: SKIP: needs root (CAP_SYS_TIME)"
        exit 77
    fi
    enroll
    write_agent_conf "$url" "$state/verifier-ca.pem"
    sed -i 's/^interval = 10s$/interval = 1h\nearly_gap = 2s/' "$aconf"
    cycles() { grep -c 'Cycle (' "$tmp/pd.log"; }
    run_daemon POSTURE_LOG_LEVEL=debug
    wait_for 20 sh -c "[ \$(grep -c 'Cycle (' '$tmp/pd.log') -ge 1 ]" ||
        { fail "no first cycle"; show "$tmp/pd.log"; exit 1; }
    sleep 3
    # the wall clock set to the value it has (nanoseconds read and written back at once)
    "$py" -c 'import time; time.clock_settime_ns(time.CLOCK_REALTIME, time.clock_gettime_ns(time.CLOCK_REALTIME))' ||
        fail "clock_settime"
    if wait_for 15 sh -c "[ \$(grep -c 'Cycle (' '$tmp/pd.log') -ge 2 ]"; then
        sleep 4
        [ "$(cycles)" = 2 ] && grep -q 'Early cycle requested: clock set\.' "$tmp/pd.log" &&
            pass "the wall clock set (no jump): the timerfd's cancellation brought one early cycle" ||
            { fail "clock set: $(cycles) cycles"; show "$tmp/pd.log"; }
    else
        fail "clock set: no early cycle"
        show "$tmp/pd.log"
    fi
    stop_daemon
    [ "$stop_rc" = 0 ] || fail "SIGTERM: exit $stop_rc"
    ;;
unit)
    # packaging/systemd/postured.service: systemd-analyze verify (ExecStart pointed at the built
    # binary, which verify requires to exist) and the exposure of security --offline=yes.
    command -v systemd-analyze >/dev/null 2>&1 || missing systemd-analyze
    mkdir -p "$tmp/unit"
    sed "s|^ExecStart=/usr/sbin/postured|ExecStart=$pd|" "$src/packaging/systemd/postured.service" \
        >"$tmp/unit/postured.service"
    grep -q "^ExecStart=$pd\$" "$tmp/unit/postured.service" || fail "ExecStart not found"
    # verify runs man(1) for every Documentation=man: page: the ones of packaging/man
    mkdir -p "$tmp/man/man5" "$tmp/man/man8"
    cp "$src"/packaging/man/*.5 "$tmp/man/man5/" && cp "$src"/packaging/man/*.8 "$tmp/man/man8/"
    if MANPATH=$tmp/man systemd-analyze verify "$tmp/unit/postured.service" >"$tmp/verify.out" 2>&1 &&
        [ ! -s "$tmp/verify.out" ]; then
        pass "systemd-analyze verify: clean"
    else
        fail "systemd-analyze verify: $(cat "$tmp/verify.out")"
    fi
    systemd-analyze security --offline=yes "$tmp/unit/postured.service" >"$tmp/security.out" 2>&1
    exposure=$(sed -n 's/.*Overall exposure level for postured.service: \([0-9.]*\).*/\1/p' "$tmp/security.out")
    echo "systemd-analyze security --offline=yes: exposure $exposure; not granted away:"
    grep '✗' "$tmp/security.out" | sed 's/  */ /g; s/^/  /'
    # The grants the checks need, and nothing more (RELIABILITY.md §5.3; docs/agent-daemon.md).
    [ -n "$exposure" ] && "$py" -c "import sys; sys.exit(0 if $exposure <= 2.6 else 1)" &&
        pass "exposure $exposure (≤ 2.6: the grants of docs/agent-daemon.md and no more)" ||
        fail "exposure '$exposure' is above 2.6: a grant crept in"
    for want in 'CapabilityBoundingSet=CAP_NET_ADMIN' 'Type=notify' 'WatchdogSec=' \
        'Restart=on-failure' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'User=posture'; do
        grep -q "^$want" "$tmp/unit/postured.service" || fail "the unit lacks $want"
    done
    ;;
*)
    echo "$name: unknown case" >&2
    exit 2
    ;;
esac

[ $failures -eq 0 ] || exit 1
echo "$name: all passed"
