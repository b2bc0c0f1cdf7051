#!/bin/sh
# Run a test binary with umockdev's preload library (umockdev-wrapper), so libudev reads the
# testbeds the test builds instead of /sys. Usage: run_umockdev.sh UMOCKDEV-WRAPPER BINARY...
#
# Under AddressSanitizer the preload library comes before libasan in the link map, which ASan
# refuses by default; interposition still works (the preload forwards to the next definition,
# libasan's interceptors), so that check is turned off here.
set -eu
wrapper=$1
shift
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export ASAN_OPTIONS
exec "$wrapper" "$@"
