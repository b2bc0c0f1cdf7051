/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the deb822 stanza parser of the apt engine (dpkg status, Packages, Release and
 * InRelease files) on arbitrary bytes, through the decompressing reader.
 *
 * The first byte selects the mode, the rest is the file:
 *   bit 0: armored (InRelease)   bit 1: '#' comments
 *   bits 2-3: compression (plain, lz4, gzip, xz)
 *   bits 4-6: the reader's max_fill (buffer boundaries)
 * Every input is parsed twice: handing over every stanza, and skipping those whose key starts
 * with an odd byte (the fast skip path). When the first parse succeeds, the second must too,
 * with the same count and the same kept stanzas; a violation traps.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "posture/strbuf.h"

#include "os_patch_level/deb822.h"
#include "os_patch_level/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fields[] = { "Package", "Version", "Architecture",
                                      "Status",  "Suite",   "Description" };
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

struct run {
    bool skip_odd;
    struct posture_strbuf out;
};

static int on_key(const char *value, size_t len, void *userdata)
{
    const struct run *r = userdata;
    if (strlen(value) != len)
        __builtin_trap(); /* values are NUL-terminated and hold no NUL */
    if (r->skip_odd && len > 0 && ((unsigned char) value[0] & 1))
        return POSTURE_DEB822_SKIP;
    return 0;
}

static int on_stanza(const struct posture_deb822_value *v, void *userdata)
{
    struct run *r = userdata;
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (v[i].str && strlen(v[i].str) != v[i].len)
            __builtin_trap();
        if (r->skip_odd && i == 0 && v[0].str && v[0].len > 0 && ((unsigned char) v[0].str[0] & 1))
            __builtin_trap(); /* should have been skipped */
        /* Record what the kept stanzas of both runs are compared on; the separators 0x1e
         * (stanza) and 0x1f (field) are replaced inside values by bytes of the same parity,
         * which kept() looks at. */
        for (size_t k = 0; v[i].str && k < v[i].len; k++) {
            char c = v[i].str[k];
            (void) posture_strbuf_putc(&r->out, c == '\x1e' ? '\x1c' : (c == '\x1f' ? '\x1d' : c));
        }
        (void) posture_strbuf_putc(&r->out, '\x1f');
    }
    (void) posture_strbuf_putc(&r->out, '\x1e');
    return 0;
}

/* A stanza record of a run without skipping that the skipping run keeps too. */
static bool kept(const char *rec)
{
    return !((unsigned char) rec[0] & 1) || rec[0] == '\x1f';
}

static int parse(const uint8_t *data, size_t size, unsigned flags, struct run *r)
{
    static const size_t fills[] = { 0, 1, 2, 3, 7, 16, 64, 4096 };
    struct posture_stream *s = NULL;

    int e = posture_stream_open_mem(data, size, (enum posture_stream_compression)((flags >> 2) & 3),
                                    &s);
    if (e < 0)
        return e;
    /* Keep decompression bombs cheap. */
    posture_stream_set_limits(s, 4u * 1024 * 1024, 64u * 1024);
    posture_stream_set_max_fill(s, fills[(flags >> 4) & 7]);
    const struct posture_deb822_opts o = {
        .fields = fields,
        .n_fields = N_FIELDS,
        .on_stanza = on_stanza,
        .on_key = on_key,
        .userdata = r,
        .armored = flags & 1,
        .comments = flags & 2,
    };
    e = posture_deb822_parse(s, &o);
    (void) posture_stream_free(s);
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    data++;
    size--;

    struct run all = { .out = POSTURE_STRBUF_INIT(64u * 1024 * 1024) };
    struct run some = { .skip_odd = true, .out = POSTURE_STRBUF_INIT(64u * 1024 * 1024) };
    int n_all = parse(data, size, flags, &all);
    int n_some = parse(data, size, flags, &some);

    if (n_all >= 0) {
        /* Skipping never finds more errors and never changes what is kept. */
        if (n_some != n_all)
            __builtin_trap();
        struct posture_strbuf expected = POSTURE_STRBUF_INIT(64u * 1024 * 1024);
        const char *p = all.out.buf ? all.out.buf : "";
        while (*p) {
            const char *end = strchr(p, '\x1e');
            if (!end)
                __builtin_trap();
            if (kept(p))
                (void) posture_strbuf_append(&expected, p, (size_t) (end - p) + 1);
            p = end + 1;
        }
        const char *got = some.out.buf ? some.out.buf : "";
        const char *want = expected.buf ? expected.buf : "";
        if (strcmp(got, want) != 0)
            __builtin_trap();
        posture_strbuf_done(&expected);
    }
    posture_strbuf_done(&all.out);
    posture_strbuf_done(&some.out);
    return 0;
}
