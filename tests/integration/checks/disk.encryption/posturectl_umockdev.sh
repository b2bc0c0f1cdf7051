#!/bin/sh
# posturectl check --only disk.encryption --json on fixture roots, with each scenario's device
# tree loaded by umockdev-run; the JSON is read with jq, the exit status compared with
# DESIGN.md §4 (0 pass, 1 fail, 3 could not decide).
# Usage: posturectl_umockdev.sh UMOCKDEV-RUN POSTURECTL FIXTURES-DIR
set -u
umockdev_run=$1
posturectl=$2
fixtures=$3

if ! command -v jq >/dev/null 2>&1; then
    echo "jq is not installed"
    [ -n "${CI:-}" ] && exit 1
    exit 77
fi
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export ASAN_OPTIONS

out=$(mktemp)
trap 'rm -f "$out"' EXIT
failed=0

# run SCENARIO EXPECTED-EXIT JQ-EXPRESSION (must print true)
run() {
    scenario=$1 want_exit=$2 expr=$3
    root="$fixtures/$scenario"
    if [ -f "$root/devices.umockdev" ]; then
        "$umockdev_run" --device "$root/devices.umockdev" -- \
            "$posturectl" check --only disk.encryption --json --root "$root" >"$out"
    else
        "$umockdev_run" -- "$posturectl" check --only disk.encryption --json --root "$root" >"$out"
    fi
    rc=$?
    if [ "$rc" -ne "$want_exit" ]; then
        echo "FAIL $scenario: exit status $rc, expected $want_exit"
        cat "$out"
        failed=1
        return
    fi
    if [ "$(jq -r "$expr" "$out")" != true ]; then
        echo "FAIL $scenario: $expr"
        jq . "$out"
        failed=1
        return
    fi
    echo "ok   $scenario"
}

run lvm-on-luks 0 '
  .overall == "pass" and (.checks | length) == 1 and
  (.checks[0] | .id == "disk.encryption" and .status == "pass" and
   .reason == "/, /home and swap /dev/dm-2 are encrypted (crypt:luks2)" and
   (.remediation == null) and
   ([.evidence.mounts[].mountpoint] == ["/", "/home"]) and
   ([.evidence.mounts[].layers] | all(. == ["part", "crypt:luks2", "lvm"])) and
   (.evidence.swap[0] | .device == "/dev/dm-2" and .encrypted == true) and
   ([.evidence.excluded[].mountpoint] == ["/boot", "/boot/efi"]) and
   .evidence.unencrypted == [] and .evidence.root_is_host == false)'

run raid1-luks-plain 1 '
  .overall == "fail" and
  (.checks[0] | .status == "fail" and .reason == "/ is not encrypted" and
   (.remediation | startswith("Reinstall with full-disk encryption")) and
   .evidence.mounts[0].encrypted == false and
   .evidence.mounts[0].layers == ["part", "raid1"] and
   .evidence.mounts[0].unencrypted_devices == ["/dev/sdb1"] and
   .evidence.unencrypted == ["/"])'

run luks-root-plain-swap 1 '
  .checks[0] | .status == "fail" and .reason == "swap /dev/sda3 is not encrypted" and
  .evidence.unencrypted == ["swap:/dev/sda3"] and .evidence.mounts[0].encrypted == true'

run btrfs-luks 0 '
  .checks[0] | .status == "pass" and
  ([.evidence.mounts[] | select(.fstype == "btrfs" and .encrypted)] | length) == 3'

run missing-sysfs 3 '
  .overall == "error" and
  (.checks[0] | .status == "error" and .evidence.errno == "ENODEV" and
   (.reason | contains("sysfs is not mounted")) and .evidence.mounts[0].encrypted == null)'

run nfs-root 0 '.checks[0] | .status == "not_applicable" and .evidence.mounts == []'

exit $failed
