/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * A bounded reader of GVDB files, the binary format of dconf databases (~/.config/dconf/user,
 * /etc/dconf/db/<name>), written from the format's description (GLib's gvdb-format.h), not
 * from its code. Read only what screen.lock needs: look a key up in a hash table and decode a
 * boolean or uint32 value. The file is user-writable and we run as root: every offset, size,
 * count and parent chain is checked against the buffer, and nothing is trusted to be aligned
 * or terminated.
 *
 * Layout: a 24-byte header ("GVariant" in the file's byte order, version 0, options, a pointer
 * to the root hash table). A hash table is a header (bloom words, buckets), the bloom filter,
 * the buckets and then 24-byte items {hash, parent, key_start, key_size, type, pad, value
 * pointer}. An item's full key is its parent's full key followed by its own segment. Types: 'v'
 * a serialised GVariant of type "v" (the value, a NUL, its type string), 'H' a nested hash
 * table (dconf's ".locks"), 'L' a list of child items (directories).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POSTURE_GVDB_KEY_DEPTH_MAX 64u /* parents followed for one key */

/* A hash table inside a file; borrows the file's bytes. */
struct posture_gvdb_table {
    const uint8_t *file;
    size_t file_size;
    bool swap;    /* the file is in the other byte order */
    size_t items; /* offset of the first item */
    uint32_t n_items;
};

/* The file's root table. -EBADMSG when the data is not a GVDB file (bad signature, version,
 * pointer or table), -EINVAL for NULL arguments. */
int posture_gvdb_open(const void *data, size_t size, struct posture_gvdb_table *ret_root);

/* The nested table stored under key (type 'H'). -ENOENT when there is no such key, -EMEDIUMTYPE
 * when it is not a table, -EBADMSG when the file is corrupt. */
int posture_gvdb_get_table(const struct posture_gvdb_table *t,
                           const char *key,
                           struct posture_gvdb_table *ret);

/* 1 when key is in the table (any type), 0 when not, -EBADMSG when corrupt. */
int posture_gvdb_has_key(const struct posture_gvdb_table *t, const char *key);

/* The value of key, a GVariant of type "b" / "u". -ENOENT: no such key; -EMEDIUMTYPE: another
 * type (the GVariant type string is in type_buf when not NULL, truncated to its size); -EBADMSG:
 * corrupt. */
int posture_gvdb_get_bool(const struct posture_gvdb_table *t,
                          const char *key,
                          bool *ret,
                          char *type_buf,
                          size_t type_len);
int posture_gvdb_get_u32(const struct posture_gvdb_table *t,
                         const char *key,
                         uint32_t *ret,
                         char *type_buf,
                         size_t type_len);
