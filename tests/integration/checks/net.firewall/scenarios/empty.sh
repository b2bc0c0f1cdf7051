# No ruleset at all (fail).
nft flush ruleset
