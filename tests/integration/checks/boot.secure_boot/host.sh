#!/bin/sh
# shellcheck source-path=SCRIPTDIR
# posturectl check --only boot.secure_boot on this machine and on fixture roots. The machine's
# facts are read independently: the shell for /sys/firmware/efi, od for the SecureBoot and
# SetupMode bytes, sed for the bracketed lockdown mode.
# Arguments: POSTURECTL FIXTURE_DIR (tests/fixtures/roots/boot.secure_boot).
# shellcheck source=../../lib.sh
. "$(dirname "$0")/../../lib.sh"

guid=8be4df61-93ca-11d2-aa0d-00e098032b8c
# The data byte of an efivarfs boolean (after 4 bytes of attributes): "true", "false" or "".
efi_bool() {
    [ -r "$1" ] || return 0
    [ "$(wc -c <"$1")" -eq 5 ] || return 0
    case $(od -An -tu1 -j4 -N1 "$1" | tr -d ' ') in
    0) echo false ;;
    1) echo true ;;
    esac
}

run check --json --only boot.secure_boot --config "$empty_conf"
expect_valid_json "$out" "check --json --only boot.secure_boot"
cp "$out" "$tmp/host.json"
h=$tmp/host.json
expect_json "$h" '.checks[0].id' '"boot.secure_boot"' "the result is boot.secure_boot"

lockdown=/sys/kernel/security/lockdown
if [ -r "$lockdown" ]; then
    want_lockdown=$(json_str "$(sed -n 's/.*\[\([a-z0-9_-]*\)\].*/\1/p' "$lockdown")")
else
    want_lockdown=null
fi
expect_json "$h" '.checks[0].evidence.lockdown' "$want_lockdown" "lockdown as securityfs says"

if [ ! -d /sys/firmware ]; then
    expect_json "$h" '.checks[0].status' '"error"' "no sysfs: cannot decide"
elif [ ! -d /sys/firmware/efi ]; then
    expect_json "$h" '.checks[0].evidence.uefi' false "no /sys/firmware/efi: not UEFI"
    expect_json "$h" '.checks[0].evidence.secure_boot' false "no UEFI: no Secure Boot"
    expect_json "$h" '.checks[0].status' '"fail"' "a machine without UEFI fails"
    expect_status 1 "exit status of a failing check"
else
    expect_json "$h" '.checks[0].evidence.uefi' true "/sys/firmware/efi exists: UEFI"
    sb=$(efi_bool "/sys/firmware/efi/efivars/SecureBoot-$guid")
    setup=$(efi_bool "/sys/firmware/efi/efivars/SetupMode-$guid")
    if [ -n "$sb" ]; then
        expect_json "$h" '.checks[0].evidence.secure_boot' "$sb" "SecureBoot as od reads it"
        if [ "$sb" = false ]; then
            expect_json "$h" '.checks[0].status' '"fail"' "Secure Boot off fails"
        elif [ "$setup" = true ]; then
            expect_json "$h" '.checks[0].status' '"fail"' "Setup Mode fails"
        fi
    else
        echo "SecureBoot is not readable here as a 5-byte variable; only the status is checked"
        expect_jq "$h" '.checks[0].status == "fail" or .checks[0].status == "error"' \
            "no readable SecureBoot variable: fail or error, never pass"
    fi
fi

# Fixture roots: the verdict and posturectl's exit status (0 pass, 1 fail, 3 error).
for row in sb-on:pass:0 sb-off:fail:1 setup-mode:fail:1 legacy-bios:fail:1 \
    unreadable-efivars:error:3 short-file:error:3 legacy-vars-interface:pass:0; do
    name=${row%%:*}
    rest=${row#*:}
    want=${rest%%:*}
    code=${rest#*:}
    run check --json --only boot.secure_boot --config "$empty_conf" --root "$fixtures/$name"
    expect_status "$code" "--root $name"
    expect_json "$out" '.checks[0].status' "\"$want\"" "--root $name"
done
run check --json --only boot.secure_boot --config "$empty_conf" --root "$fixtures/sb-on"
expect_json "$out" '.checks[0].evidence' \
    '{"uefi":true,"efivars":"efivarfs","secure_boot":true,"setup_mode":false,"audit_mode":false,"deployed_mode":false,"shim_validation_disabled":false,"lockdown":"integrity"}' \
    "evidence of sb-on"

finish
