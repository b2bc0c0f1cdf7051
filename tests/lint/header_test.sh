#!/bin/sh
# The check SDK header must compile alone, as strict C99 and as C11, with no other include.
set -eu
cc=$1
inc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include "posture/check.h"\nint main(void)\n{\n    return POSTURE_STATUS_PASS;\n}\n' > "$tmp/t.c"
for std in c99 c11; do
    "$cc" -std=$std -pedantic -Werror -Wall -Wextra -Wstrict-prototypes -Wundef \
        -I"$inc" -c "$tmp/t.c" -o "$tmp/t.o"
done
# A second translation unit that includes it twice (include guard) and defines a descriptor.
cat > "$tmp/u.c" <<'C'
#include "posture/check.h"
#include "posture/check.h"
static int run(const struct posture_check_ctx *ctx, void *state, struct posture_result *r)
{
    (void) state;
    return ctx->api->set_status(r, POSTURE_STATUS_PASS);
}
static const struct posture_check_desc desc = { POSTURE_CHECK_DESC_HEADER, .name = "x.y",
                                                .version = "1.0.0", .run = run };
const struct posture_check_desc *posture_check_entry(void)
{
    return &desc;
}
C
"$cc" -std=c99 -pedantic -Werror -Wall -Wextra -Wmissing-prototypes -I"$inc" -c "$tmp/u.c" -o "$tmp/u.o"
echo "check.h: compiles alone under -std=c99/-std=c11 -pedantic -Werror"
