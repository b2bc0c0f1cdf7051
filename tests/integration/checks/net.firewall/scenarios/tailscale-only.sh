# Tailscale's chains alone: ts-input accepts tailscale0 traffic, but nothing drops the rest
# (fail; peers that look for a known chain name get this wrong).
. "$SCENARIO_DIR/tailscale-chains.inc"
