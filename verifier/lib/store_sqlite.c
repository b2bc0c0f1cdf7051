/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite backend of the store (store_backend.h), the embedded default.
 *
 * - WAL journal, synchronous=NORMAL (or FULL on request), foreign keys on, defensive mode, no
 *   trusted schema, busy timeout; the file is created 0600 before SQLite opens it, so the -wal
 *   and -shm files inherit that mode.
 * - A fixed pool of connections opened at start (SQLITE_OPEN_NOMUTEX: a connection is used by
 *   one thread at a time, handed out under the pool mutex). Every connection keeps its prepared
 *   statements. Readers run in parallel (WAL); writers of this process queue on a mutex before
 *   BEGIN IMMEDIATE instead of polling SQLite's busy handler; other processes on the same file
 *   still meet the busy timeout.
 * - Every read-modify-write is one BEGIN IMMEDIATE transaction; all SQL is constant text with
 *   bound parameters.
 * - SQLite result codes stop here: map_rc() turns them into errno values and logs the SQLite
 *   message at debug level.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "posture/cleanup.h"
#include "posture/err.h"
#include "posture/log.h"

#include "store.h"
#include "store_backend.h"

/* PRAGMA application_id: "PSTR", so that another program's database is refused. */
#define APPLICATION_ID 0x50535452
/* Rows of expired nonces deleted by each nonce_issue(). */
#define PURGE_BATCH 64

/* Migration i brings the schema from version i to i + 1. Never edit a released entry: add one. */
static const char *const migrations[] = {
    /* 0 → 1 */
    "PRAGMA application_id = 1347638354;\n" /* APPLICATION_ID */
    "CREATE TABLE schema_version (\n"
    "    id INTEGER PRIMARY KEY CHECK (id = 1),\n"
    "    version INTEGER NOT NULL,\n"
    "    updated_at INTEGER NOT NULL);\n"
    "CREATE TABLE tokens (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),\n"
    "    label TEXT NOT NULL,\n"
    "    created_at INTEGER NOT NULL,\n"
    "    expires_at INTEGER NOT NULL,\n"
    "    used_at INTEGER);\n"
    "CREATE TABLE devices (\n"
    "    id TEXT PRIMARY KEY NOT NULL,\n"
    "    tier INTEGER NOT NULL CHECK (tier IN (0, 1)),\n"
    "    status INTEGER NOT NULL CHECK (status IN (0, 1)),\n"
    "    jwk TEXT NOT NULL,\n"
    "    ak_public BLOB,\n"
    "    ak_name BLOB,\n"
    "    ek_cert_sha256 BLOB CHECK (ek_cert_sha256 IS NULL OR length(ek_cert_sha256) = 32),\n"
    "    ek_public_sha256 BLOB CHECK (ek_public_sha256 IS NULL OR length(ek_public_sha256) = 32),\n"
    "    created_at INTEGER NOT NULL,\n"
    "    revoked_at INTEGER NOT NULL DEFAULT 0,\n"
    /* the highest appraisal seq deleted by retention: de-duplication remembers it */
    "    seq_floor INTEGER NOT NULL DEFAULT 0);\n"
    /* ATTESTATION.md §5.2 step 7: an AK or an EK belongs to at most one non-revoked device. */
    "CREATE UNIQUE INDEX devices_ak_name ON devices (ak_name)\n"
    "    WHERE status = 0 AND ak_name IS NOT NULL;\n"
    "CREATE UNIQUE INDEX devices_ek_public ON devices (ek_public_sha256)\n"
    "    WHERE status = 0 AND ek_public_sha256 IS NOT NULL;\n"
    "CREATE UNIQUE INDEX devices_ek_cert ON devices (ek_cert_sha256)\n"
    "    WHERE status = 0 AND ek_cert_sha256 IS NOT NULL;\n"
    "CREATE TABLE activations (\n"
    "    device_id TEXT PRIMARY KEY NOT NULL,\n"
    "    secret_sha256 BLOB NOT NULL CHECK (length(secret_sha256) = 32),\n"
    "    nonce0 BLOB NOT NULL,\n"
    "    payload BLOB,\n"
    "    expires_at INTEGER NOT NULL);\n"
    "CREATE INDEX activations_expiry ON activations (expires_at);\n"
    "CREATE TABLE nonces (\n"
    "    hash BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),\n"
    "    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,\n"
    "    issued_at INTEGER NOT NULL,\n"
    "    expires_at INTEGER NOT NULL,\n"
    "    used_at INTEGER) WITHOUT ROWID;\n"
    "CREATE INDEX nonces_expiry ON nonces (expires_at);\n"
    "CREATE INDEX nonces_device ON nonces (device_id, issued_at);\n"
    "CREATE TABLE appraisals (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,\n"
    "    seq INTEGER NOT NULL,\n"
    "    received_at INTEGER NOT NULL,\n"
    "    verdict INTEGER NOT NULL CHECK (verdict BETWEEN 0 AND 3),\n"
    "    ear TEXT NOT NULL,\n"
    "    policy_id TEXT NOT NULL,\n"
    "    policy_version TEXT NOT NULL,\n"
    "    policy_digest BLOB NOT NULL CHECK (length(policy_digest) = 32),\n"
    "    reason TEXT NOT NULL,\n"
    "    UNIQUE (device_id, seq));\n"
    "CREATE INDEX appraisals_latest ON appraisals (device_id, received_at);\n"
    "CREATE TABLE clockinfo (\n"
    "    device_id TEXT PRIMARY KEY NOT NULL REFERENCES devices (id) ON DELETE CASCADE,\n"
    "    clock INTEGER NOT NULL,\n"
    "    reset_count INTEGER NOT NULL,\n"
    "    restart_count INTEGER NOT NULL,\n"
    "    updated_at INTEGER NOT NULL);\n"
    "CREATE TABLE audit (\n"
    "    seq INTEGER PRIMARY KEY,\n"
    "    at INTEGER NOT NULL,\n"
    "    kind TEXT NOT NULL,\n"
    "    subject TEXT NOT NULL,\n"
    "    detail TEXT NOT NULL,\n"
    "    prev_hash BLOB NOT NULL,\n"
    "    hash BLOB NOT NULL);\n"
    /* Our own code never rewrites history; the hash chain catches anyone else who does. */
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit\n"
    "    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;\n"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit\n"
    "    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;\n",
    /* 1 → 2: a running serve polls for revocations (device_foreach_revoked_since) */
    "CREATE INDEX devices_revoked ON devices (revoked_at) WHERE status = 1;\n",
    /* 2 → 3: every policy's appraisal of a submission, beside the main (default policy's) row
     * in appraisals, so that each policy's decision survives a restart */
    "CREATE TABLE appraisal_policies (\n"
    "    appraisal_id INTEGER NOT NULL REFERENCES appraisals (id) ON DELETE CASCADE,\n"
    "    policy_id TEXT NOT NULL,\n"
    "    policy_version TEXT NOT NULL,\n"
    "    policy_digest BLOB NOT NULL CHECK (length(policy_digest) = 32),\n"
    "    verdict INTEGER NOT NULL CHECK (verdict BETWEEN 0 AND 3),\n"
    "    ear TEXT NOT NULL,\n"
    "    reason TEXT NOT NULL,\n"
    "    PRIMARY KEY (appraisal_id, policy_id)) WITHOUT ROWID;\n",
};

#define SCHEMA_VERSION ((int) POSTURE_ELEMENTSOF(migrations))

#define DEVICE_COLUMNS                                                                          \
    "id, tier, status, jwk, ak_public, ak_name, ek_cert_sha256, ek_public_sha256, created_at, " \
    "revoked_at"

#define APPRAISAL_COLUMNS                                                                  \
    "a.device_id, a.seq, a.received_at, a.verdict, a.ear, a.policy_id, a.policy_version, " \
    "a.policy_digest, a.reason"
/* the id of the latest appraisal of a device: its highest seq, not the last received (a report
 * spooled during an outage may arrive after a newer one); UNIQUE (device_id, seq) serves it */
#define LATEST_OF(device)                                                    \
    "SELECT b.id FROM appraisals b WHERE b.device_id = " device " ORDER BY " \
    "b.seq DESC LIMIT 1"

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_TOKEN_INSERT,
    ST_TOKEN_FIND,
    ST_TOKEN_USE,
    ST_TOKEN_LIST,
    ST_TOKEN_DELETE,
    ST_DEVICE_STATUS,
    ST_DEVICE_DELETE_REVOKED,
    ST_DEVICE_CONFLICT,
    ST_DEVICE_INSERT,
    ST_DEVICE_GET,
    ST_DEVICE_GET_AK,
    ST_DEVICE_REVOKE,
    ST_DEVICE_NONCES_DELETE,
    ST_DEVICE_LIST,
    ST_ACTIVATION_FIND,
    ST_ACTIVATION_DELETE,
    ST_ACTIVATION_INSERT,
    ST_NONCE_PURGE_BATCH,
    ST_NONCE_INSERT,
    ST_NONCE_EVICT,
    ST_NONCE_FIND,
    ST_NONCE_USE,
    ST_PURGE_NONCES,
    ST_PURGE_ACTIVATIONS,
    ST_APPRAISAL_FLOOR,
    ST_APPRAISAL_INSERT,
    ST_APPRAISAL_LATEST,
    ST_APPRAISAL_LATEST_ALL,
    ST_APPRAISAL_PRUNE_FLOOR,
    ST_APPRAISAL_PRUNE,
    ST_CLOCK_GET,
    ST_CLOCK_UPSERT,
    ST_AUDIT_LAST,
    ST_AUDIT_INSERT,
    ST_AUDIT_ALL,
    ST_DEVICE_REVOKED_SINCE,
    ST_NONCE_CONSUME,
    ST_APPRAISAL_POLICY_INSERT,
    ST_APPRAISAL_LATEST_POLICIES,
    ST__MAX,
};

static const char *const stmt_sql[ST__MAX] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_TOKEN_INSERT] = "INSERT INTO tokens (hash, label, created_at, expires_at) "
                        "VALUES (?1, ?2, ?3, ?4)",
    [ST_TOKEN_FIND] = "SELECT id, expires_at, used_at FROM tokens WHERE hash = ?1",
    [ST_TOKEN_USE] = "UPDATE tokens SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL",
    [ST_TOKEN_LIST] = "SELECT id, label, created_at, expires_at, used_at FROM tokens ORDER BY id",
    [ST_TOKEN_DELETE] = "DELETE FROM tokens WHERE id = ?1",
    [ST_DEVICE_STATUS] = "SELECT status FROM devices WHERE id = ?1",
    [ST_DEVICE_DELETE_REVOKED] = "DELETE FROM devices WHERE id = ?1 AND status = 1",
    [ST_DEVICE_CONFLICT] = "SELECT id FROM devices WHERE status = 0 AND (ak_name = ?1 OR "
                           "ek_public_sha256 = ?2 OR ek_cert_sha256 = ?3) LIMIT 1",
    [ST_DEVICE_INSERT] = "INSERT INTO devices (" DEVICE_COLUMNS ") "
                         "VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
    [ST_DEVICE_GET] = "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = ?1",
    [ST_DEVICE_GET_AK] = "SELECT " DEVICE_COLUMNS " FROM devices "
                         "WHERE ak_name = ?1 AND status = 0",
    [ST_DEVICE_REVOKE] = "UPDATE devices SET status = 1, revoked_at = ?2 "
                         "WHERE id = ?1 AND status = 0",
    [ST_DEVICE_NONCES_DELETE] = "DELETE FROM nonces WHERE device_id = ?1",
    [ST_DEVICE_LIST] = "SELECT " DEVICE_COLUMNS " FROM devices ORDER BY id",
    [ST_ACTIVATION_FIND] = "SELECT secret_sha256, nonce0, payload, expires_at "
                           "FROM activations WHERE device_id = ?1",
    [ST_ACTIVATION_DELETE] = "DELETE FROM activations WHERE device_id = ?1",
    [ST_ACTIVATION_INSERT] = "INSERT INTO activations "
                             "(device_id, secret_sha256, nonce0, payload, expires_at) "
                             "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_NONCE_PURGE_BATCH] = "DELETE FROM nonces WHERE hash IN "
                             "(SELECT hash FROM nonces WHERE expires_at <= ?1 LIMIT ?2)",
    /* keep the newest POSTURE_STORE_NONCES_PER_DEVICE of a device, the one just issued first */
    [ST_NONCE_EVICT] = "DELETE FROM nonces WHERE hash IN (SELECT hash FROM nonces "
                       "WHERE device_id = ?1 AND hash <> ?2 ORDER BY issued_at DESC "
                       "LIMIT -1 OFFSET ?3)",
    [ST_NONCE_INSERT] = "INSERT INTO nonces (hash, device_id, issued_at, expires_at) "
                        "VALUES (?1, ?2, ?3, ?4)",
    [ST_NONCE_FIND] = "SELECT device_id, expires_at, used_at FROM nonces WHERE hash = ?1",
    [ST_NONCE_USE] = "UPDATE nonces SET used_at = ?2 WHERE hash = ?1 AND used_at IS NULL",
    [ST_PURGE_NONCES] = "DELETE FROM nonces WHERE expires_at <= ?1",
    [ST_PURGE_ACTIVATIONS] = "DELETE FROM activations WHERE expires_at <= ?1",
    [ST_APPRAISAL_FLOOR] = "SELECT seq_floor FROM devices WHERE id = ?1",
    [ST_APPRAISAL_INSERT] = "INSERT INTO appraisals (device_id, seq, received_at, verdict, ear, "
                            "policy_id, policy_version, policy_digest, reason) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_APPRAISAL_LATEST] = "SELECT " APPRAISAL_COLUMNS " FROM appraisals a "
                            "WHERE device_id = ?1 ORDER BY seq DESC LIMIT 1",
    [ST_APPRAISAL_LATEST_ALL] =
        "SELECT " APPRAISAL_COLUMNS " FROM devices d "
        "JOIN appraisals a ON a.id = (" LATEST_OF("d.id") ") "
                                                          "WHERE d.status = 0 ORDER BY d.id",
    [ST_APPRAISAL_PRUNE_FLOOR] =
        "UPDATE devices SET seq_floor = max(seq_floor, coalesce((SELECT max(a.seq) "
        "FROM appraisals a WHERE a.device_id = devices.id AND a.received_at < ?1 "
        "AND a.id <> (" LATEST_OF(
            "devices.id") ")), 0)) "
                          "WHERE EXISTS (SELECT 1 FROM appraisals a WHERE a.device_id = devices.id "
                          "AND a.received_at < ?1)",
    [ST_APPRAISAL_PRUNE] = "DELETE FROM appraisals WHERE received_at < ?1 "
                           "AND id <> (" LATEST_OF("appraisals.device_id") ")",
    [ST_CLOCK_GET] = "SELECT clock, reset_count, restart_count FROM clockinfo "
                     "WHERE device_id = ?1",
    [ST_CLOCK_UPSERT] = "INSERT INTO clockinfo "
                        "(device_id, clock, reset_count, restart_count, updated_at) "
                        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (device_id) DO UPDATE SET "
                        "clock = excluded.clock, reset_count = excluded.reset_count, "
                        "restart_count = excluded.restart_count, "
                        "updated_at = excluded.updated_at",
    [ST_AUDIT_LAST] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
    [ST_AUDIT_INSERT] = "INSERT INTO audit (seq, at, kind, subject, detail, prev_hash, hash) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_AUDIT_ALL] = "SELECT seq, at, kind, subject, detail, prev_hash, hash FROM audit "
                     "ORDER BY seq",
    /* served by the partial index devices_revoked */
    [ST_DEVICE_REVOKED_SINCE] = "SELECT id, revoked_at FROM devices "
                                "WHERE status = 1 AND revoked_at >= ?1 ORDER BY revoked_at, id",
    /* the common case of nonce_consume in one statement: issued to this device, unused, fresh */
    [ST_NONCE_CONSUME] = "UPDATE nonces SET used_at = ?2 WHERE hash = ?1 AND device_id = ?3 "
                         "AND used_at IS NULL AND expires_at > ?2",
    [ST_APPRAISAL_POLICY_INSERT] = "INSERT INTO appraisal_policies (appraisal_id, policy_id, "
                                   "policy_version, policy_digest, verdict, ear, reason) "
                                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* APPRAISAL_COLUMNS of every policy's row of each active device's latest submission: the
     * main row first (k = 0), then the others by policy id */
    [ST_APPRAISAL_LATEST_POLICIES] =
        "SELECT " APPRAISAL_COLUMNS ", 0 AS k FROM devices d "
        "JOIN appraisals a ON a.id = (" LATEST_OF(
            "d.id") ") WHERE d.status = 0 "
                    "UNION ALL "
                    "SELECT a.device_id, a.seq, a.received_at, p.verdict, p.ear, p.policy_id, "
                    "p.policy_version, p.policy_digest, p.reason, 1 AS k FROM devices d "
                    "JOIN appraisals a ON a.id = (" LATEST_OF(
                        "d.id") ") "
                                "JOIN appraisal_policies p ON p.appraisal_id = a.id WHERE d.status "
                                "= 0 "
                                "ORDER BY 1, 10, 6",
};

struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[ST__MAX];
    bool in_use;
};

struct backend {
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    pthread_mutex_t write_lock; /* writers of this process, before BEGIN IMMEDIATE */
    unsigned n_conns;
    struct conn *conns;
    int version;
};

static struct backend *backend_of(struct posture_store *s)
{
    return s->backend;
}

/* ---- errors ------------------------------------------------------------------------------ */

static int map_rc(sqlite3 *db, int rc, const char *what)
{
    int r;

    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        r = -EBUSY;
        break;
    case SQLITE_NOMEM:
        r = -ENOMEM;
        break;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            r = -EEXIST;
        else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            r = -ENOENT;
        else if (rc == SQLITE_CONSTRAINT_TRIGGER)
            r = -EPERM;
        else
            r = -EINVAL;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
        r = -EBADMSG;
        break;
    case SQLITE_FULL:
        r = -ENOSPC;
        break;
    case SQLITE_READONLY:
        r = -EROFS;
        break;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        r = -EACCES;
        break;
    case SQLITE_TOOBIG:
        r = -E2BIG;
        break;
    case SQLITE_CANTOPEN: {
        int e = db ? sqlite3_system_errno(db) : 0;
        r = e > 0 ? -e : -ENOENT;
        break;
    }
    default:
        r = -EIO;
        break;
    }
    log_debug("store: %s: %s (%d): %s", what, sqlite3_errstr(rc), rc,
              db ? sqlite3_errmsg(db) : "-");
    return r;
}

/* ---- statements and transactions --------------------------------------------------------- */

static void stmt_resetp(sqlite3_stmt **p)
{
    if (*p) {
        (void) sqlite3_reset(*p);
        (void) sqlite3_clear_bindings(*p);
    }
}

#define auto_stmt POSTURE_CLEANUP(stmt_resetp)

static int prepare(struct conn *c, enum stmt_id id, sqlite3_stmt **ret)
{
    int rc;

    if (!c->stmts[id]) {
        rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->stmts[id],
                                NULL);
        if (rc != SQLITE_OK)
            return map_rc(c->db, rc, "prepare");
    }
    *ret = c->stmts[id];
    return 0;
}

/* Step once: 1 for a row, 0 when done, or a negative errno. */
static int step(struct conn *c, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    /* the extended code is on the statement's reset, and on the connection */
    return map_rc(c->db, sqlite3_extended_errcode(c->db), "step");
}

/* Prepare, step to completion, reset: for statements without result rows. Returns the number of
 * rows changed. */
static int exec_stmt(struct conn *c, enum stmt_id id)
{
    auto_stmt sqlite3_stmt *st = NULL;
    int r;

    r = prepare(c, id, &st);
    if (r < 0)
        return r;
    r = step(c, st);
    if (r < 0)
        return r;
    return sqlite3_changes(c->db);
}

/* Bindings: each helper records the first failure in *rc and does nothing after one. */
static void bind_text(int *rc, sqlite3_stmt *st, int i, const char *text)
{
    if (*rc == SQLITE_OK)
        *rc = text ? sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static void bind_blob(int *rc, sqlite3_stmt *st, int i, const void *p, size_t n)
{
    if (*rc != SQLITE_OK)
        return;
    if (!p)
        *rc = sqlite3_bind_null(st, i);
    else if (n > INT_MAX)
        *rc = SQLITE_TOOBIG;
    else /* a zero-length blob is not NULL */
        *rc = n == 0 ? sqlite3_bind_zeroblob(st, i, 0)
                     : sqlite3_bind_blob(st, i, p, (int) n, SQLITE_STATIC);
}

static void bind_i64(int *rc, sqlite3_stmt *st, int i, int64_t v)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(st, i, v);
}

static void bind_u64(int *rc, sqlite3_stmt *st, int i, uint64_t v)
{
    /* bit pattern kept: TPM clocks and times are read back with the same cast */
    bind_i64(rc, st, i, (int64_t) v);
}

static int bind_done(struct conn *c, int rc)
{
    return rc == SQLITE_OK ? 0 : map_rc(c->db, rc, "bind");
}

static uint64_t column_u64(sqlite3_stmt *st, int i)
{
    return (uint64_t) sqlite3_column_int64(st, i);
}

/* Copy a TEXT column into a buffer of size max + 1. -EBADMSG when it does not fit. */
static int column_text_buf(sqlite3_stmt *st, int i, char *buf, size_t max)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);

    if (!t || n < 0 || (size_t) n > max || memchr(t, 0, (size_t) n))
        return -EBADMSG;
    memcpy(buf, t, (size_t) n);
    buf[n] = '\0';
    return 0;
}

static int column_text_dup(sqlite3_stmt *st, int i, size_t max, char **ret)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);
    char *p;

    if (!t || n < 0 || (size_t) n > max || memchr(t, 0, (size_t) n))
        return -EBADMSG;
    p = malloc((size_t) n + 1);
    if (!p)
        return -ENOMEM;
    memcpy(p, t, (size_t) n);
    p[n] = '\0';
    *ret = p;
    return 0;
}

/* A BLOB column of 0..max bytes into buf; NULL gives *ret_len = 0 and *ret_present = false. */
static int column_blob_buf(
    sqlite3_stmt *st, int i, uint8_t *buf, size_t max, size_t *ret_len, bool *ret_present)
{
    const void *p;
    int n;

    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        *ret_len = 0;
        *ret_present = false;
        return 0;
    }
    p = sqlite3_column_blob(st, i);
    n = sqlite3_column_bytes(st, i);
    if (n < 0 || (size_t) n > max || (n > 0 && !p))
        return -EBADMSG;
    if (n > 0)
        memcpy(buf, p, (size_t) n);
    *ret_len = (size_t) n;
    *ret_present = true;
    return 0;
}

/* A BLOB of exactly POSTURE_STORE_DIGEST_SIZE bytes (or NULL, when allowed). */
static int column_digest(sqlite3_stmt *st, int i, uint8_t out[static 32], bool *ret_present)
{
    size_t n = 0;
    bool present = false;
    int r;

    r = column_blob_buf(st, i, out, POSTURE_STORE_DIGEST_SIZE, &n, &present);
    if (r < 0)
        return r;
    if (present && n != POSTURE_STORE_DIGEST_SIZE)
        return -EBADMSG;
    if (!ret_present && !present)
        return -EBADMSG;
    if (ret_present)
        *ret_present = present;
    return 0;
}

/* The connection pool. */
static struct conn *conn_acquire(struct backend *b)
{
    struct conn *c = NULL;

    (void) pthread_mutex_lock(&b->pool_lock);
    for (;;) {
        for (unsigned i = 0; i < b->n_conns; i++)
            if (!b->conns[i].in_use) {
                c = &b->conns[i];
                break;
            }
        if (c)
            break;
        (void) pthread_cond_wait(&b->pool_cond, &b->pool_lock);
    }
    c->in_use = true;
    (void) pthread_mutex_unlock(&b->pool_lock);
    return c;
}

struct lease {
    struct backend *b;
    struct conn *c;
};

static void lease_releasep(struct lease *l)
{
    if (!l->c)
        return;
    (void) pthread_mutex_lock(&l->b->pool_lock);
    l->c->in_use = false;
    (void) pthread_cond_signal(&l->b->pool_cond);
    (void) pthread_mutex_unlock(&l->b->pool_lock);
    l->c = NULL;
}

#define auto_lease POSTURE_CLEANUP(lease_releasep)

static struct lease lease_take(struct posture_store *s)
{
    struct backend *b = backend_of(s);

    return (struct lease){ .b = b, .c = conn_acquire(b) };
}

struct tx {
    struct backend *b;
    struct conn *c;
    bool active;
};

static void tx_endp(struct tx *tx)
{
    if (!tx->active)
        return;
    (void) exec_stmt(tx->c, ST_ROLLBACK);
    (void) pthread_mutex_unlock(&tx->b->write_lock);
    tx->active = false;
}

#define auto_tx POSTURE_CLEANUP(tx_endp)

static int tx_begin(struct lease *l, struct tx *tx)
{
    int r;

    (void) pthread_mutex_lock(&l->b->write_lock);
    r = exec_stmt(l->c, ST_BEGIN);
    if (r < 0) {
        (void) pthread_mutex_unlock(&l->b->write_lock);
        return r;
    }
    *tx = (struct tx){ .b = l->b, .c = l->c, .active = true };
    return 0;
}

static int tx_commit(struct tx *tx)
{
    int r;

    r = exec_stmt(tx->c, ST_COMMIT);
    if (r < 0)
        return r; /* tx_endp() rolls back */
    (void) pthread_mutex_unlock(&tx->b->write_lock);
    tx->active = false;
    return 0;
}

/* ---- open, schema, close ----------------------------------------------------------------- */

static int create_file(const char *path)
{
    posture_autoclose int fd = -1;
    struct stat st;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0)
        return posture_negative_errno();
    if (fstat(fd, &st) < 0)
        return posture_negative_errno();
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
        return posture_negative_errno();
    return 0;
}

static int query_int(struct conn *c, const char *sql, int64_t *ret)
{
    sqlite3_stmt *st = NULL;
    int rc, r;

    rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return map_rc(c->db, rc, sql);
    r = step(c, st);
    if (r > 0)
        *ret = sqlite3_column_int64(st, 0);
    else if (r == 0)
        r = -ENOENT;
    (void) sqlite3_finalize(st);
    return r < 0 ? r : 0;
}

static int exec_sql(struct conn *c, const char *sql)
{
    char *msg = NULL;
    int rc;

    rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_debug("store: exec: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return map_rc(c->db, rc, "exec");
    }
    return 0;
}

static int conn_open(struct conn *c, const char *path, const struct posture_store_options *opts)
{
    int64_t dummy = 0;
    int rc, r;

    rc = sqlite3_open_v2(path, &c->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
                             SQLITE_OPEN_NOFOLLOW,
                         NULL);
    if (rc != SQLITE_OK)
        return map_rc(c->db, rc, "open");
    (void) sqlite3_extended_result_codes(c->db, 1);
    (void) sqlite3_busy_timeout(c->db, (int) opts->busy_timeout_ms);
    /* refuse schema tricks in a file someone else prepared */
    (void) sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *) NULL);
    (void) sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *) NULL);
    (void) sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_FKEY, 1, (int *) NULL);
    (void) sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 1, (int *) NULL);

    /* Several connections opening a fresh file at once: switching it to WAL needs an exclusive
     * lock, and SQLite may answer SQLITE_BUSY there without calling the busy handler (a rare
     * failure of test_concurrent_first_open in CI). Retry for the busy timeout. */
    for (uint64_t waited_ms = 0;; waited_ms += 5) {
        /* Reading the schema is the first access to the file: garbage fails here. */
        r = query_int(c, "PRAGMA schema_version", &dummy);
        if (r >= 0) {
            sqlite3_stmt *st = NULL;
            const unsigned char *mode;

            rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
            if (rc != SQLITE_OK)
                r = map_rc(c->db, rc, "journal_mode");
            else {
                r = step(c, st);
                mode = r > 0 ? sqlite3_column_text(st, 0) : NULL;
                if (r >= 0 && (!mode || strcmp((const char *) mode, "wal") != 0))
                    r = -EIO; /* e.g. a file system without shared memory for the WAL index */
                (void) sqlite3_finalize(st);
            }
        }
        if (r != -EBUSY || waited_ms >= opts->busy_timeout_ms)
            break;
        (void) nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
    }
    if (r < 0)
        return r;
    return exec_sql(c, opts->synchronous_full ? "PRAGMA synchronous = FULL"
                                              : "PRAGMA synchronous = NORMAL");
}

static void conn_close(struct conn *c)
{
    for (size_t i = 0; i < ST__MAX; i++) {
        (void) sqlite3_finalize(c->stmts[i]);
        c->stmts[i] = NULL;
    }
    (void) sqlite3_close_v2(c->db);
    c->db = NULL;
}

static int migrate(struct posture_store *s, struct conn *c)
{
    struct backend *b = backend_of(s);
    struct lease l = { .b = b, .c = c }; /* not released: the caller owns c */
    auto_tx struct tx tx = { 0 };
    int64_t app_id = 0, tables = 0, version = 0;
    char sql[128];
    int r;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    r = query_int(c, "PRAGMA application_id", &app_id);
    if (r < 0)
        return r;
    if (app_id != 0 && app_id != APPLICATION_ID) {
        log_debug("store: application_id %" PRId64 " is not a posture store", app_id);
        return -EBADMSG;
    }
    r = query_int(c,
                  "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                  "name = 'schema_version'",
                  &tables);
    if (r < 0)
        return r;
    if (tables == 0) {
        r = query_int(c, "SELECT count(*) FROM sqlite_schema", &tables);
        if (r < 0)
            return r;
        if (tables > 0 || app_id != 0) {
            log_debug("store: database has other tables and no schema_version");
            return -EBADMSG;
        }
        version = 0;
    } else {
        r = query_int(c, "SELECT version FROM schema_version WHERE id = 1", &version);
        if (r < 0)
            return r == -ENOENT ? -EBADMSG : r;
        if (version < 1)
            return -EBADMSG;
    }
    if (version > SCHEMA_VERSION) {
        log_debug("store: schema version %" PRId64 " is newer than %d", version, SCHEMA_VERSION);
        return -EPROTONOSUPPORT;
    }
    if (version == SCHEMA_VERSION) {
        b->version = SCHEMA_VERSION;
        return 0; /* tx_endp() rolls the read-only transaction back */
    }
    for (int64_t v = version; v < SCHEMA_VERSION; v++) {
        r = exec_sql(c, migrations[v]);
        if (r < 0)
            return r;
    }
    /* constants only: no input reaches this text */
    r = snprintf(sql, sizeof(sql),
                 "INSERT OR REPLACE INTO schema_version (id, version, updated_at) "
                 "VALUES (1, %d, %" PRIu64 ")",
                 SCHEMA_VERSION, posture_store_now(s));
    if (r < 0 || (size_t) r >= sizeof(sql))
        return -EINVAL;
    r = exec_sql(c, sql);
    if (r < 0)
        return r;
    r = tx_commit(&tx);
    if (r < 0)
        return r;
    b->version = SCHEMA_VERSION;
    return 0;
}

static void sqlite_close(struct posture_store *s)
{
    struct backend *b = backend_of(s);

    if (!b)
        return;
    for (unsigned i = 0; i < b->n_conns; i++)
        conn_close(&b->conns[i]);
    free(b->conns);
    (void) pthread_mutex_destroy(&b->pool_lock);
    (void) pthread_cond_destroy(&b->pool_cond);
    (void) pthread_mutex_destroy(&b->write_lock);
    free(b);
    s->backend = NULL;
}

static int sqlite_open(struct posture_store *s, const char *path)
{
    struct backend *b;
    int r;

    if (strnlen(path, PATH_MAX) >= PATH_MAX)
        return -ENAMETOOLONG;
    r = create_file(path);
    if (r < 0)
        return r;

    b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->conns = calloc(s->opts.pool_size, sizeof(*b->conns));
    if (!b->conns) {
        free(b);
        return -ENOMEM;
    }
    b->n_conns = s->opts.pool_size;
    (void) pthread_mutex_init(&b->pool_lock, NULL);
    (void) pthread_cond_init(&b->pool_cond, NULL);
    (void) pthread_mutex_init(&b->write_lock, NULL);
    s->backend = b;

    for (unsigned i = 0; i < b->n_conns; i++) {
        r = conn_open(&b->conns[i], path, &s->opts);
        if (r >= 0 && i == 0)
            r = migrate(s, &b->conns[0]);
        if (r < 0) {
            sqlite_close(s);
            return r;
        }
    }
    return 0;
}

static int sqlite_schema_version(struct posture_store *s)
{
    return backend_of(s)->version;
}

static int sqlite_purge_expired(struct posture_store *s, uint64_t now)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    int n = 0, r, rc = SQLITE_OK;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    for (enum stmt_id id = ST_PURGE_NONCES; id <= ST_PURGE_ACTIVATIONS; id++) {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, id, &st);
        if (r < 0)
            return r;
        bind_u64(&rc, st, 1, now);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
        n += sqlite3_changes(l.c->db);
    }
    r = tx_commit(&tx);
    return r < 0 ? r : n;
}

/* ---- tokens ------------------------------------------------------------------------------ */

static int sqlite_token_create(struct posture_store *s,
                               const uint8_t hash[static POSTURE_STORE_DIGEST_SIZE],
                               const char *label,
                               uint64_t now,
                               uint64_t expires_at,
                               int64_t *ret_id)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    auto_stmt sqlite3_stmt *st = NULL;
    int64_t id;
    int r, rc = SQLITE_OK;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    r = prepare(l.c, ST_TOKEN_INSERT, &st);
    if (r < 0)
        return r;
    bind_blob(&rc, st, 1, hash, POSTURE_STORE_DIGEST_SIZE);
    bind_text(&rc, st, 2, label);
    bind_u64(&rc, st, 3, now);
    bind_u64(&rc, st, 4, expires_at);
    r = bind_done(l.c, rc);
    if (r >= 0)
        r = step(l.c, st);
    if (r < 0)
        return r;
    id = sqlite3_last_insert_rowid(l.c->db);
    r = tx_commit(&tx);
    if (r < 0)
        return r;
    *ret_id = id;
    return 0;
}

static int sqlite_token_consume(struct posture_store *s,
                                const uint8_t hash[static POSTURE_STORE_DIGEST_SIZE],
                                uint64_t now,
                                int64_t *ret_id)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    int64_t id;
    int r, rc = SQLITE_OK;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_TOKEN_FIND, &st);
        if (r < 0)
            return r;
        bind_blob(&rc, st, 1, hash, POSTURE_STORE_DIGEST_SIZE);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
        if (r == 0)
            return -ENOENT;
        id = sqlite3_column_int64(st, 0);
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            return -EALREADY;
        if (column_u64(st, 1) <= now)
            return -ESTALE;
    }
    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_TOKEN_USE, &st);
        if (r < 0)
            return r;
        bind_i64(&rc, st, 1, id);
        bind_u64(&rc, st, 2, now);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
        if (sqlite3_changes(l.c->db) != 1)
            return -EALREADY; /* cannot happen inside the transaction; fail closed anyway */
    }
    r = tx_commit(&tx);
    if (r < 0)
        return r;
    *ret_id = id;
    return 0;
}

static int sqlite_token_foreach(struct posture_store *s, posture_store_token_fn fn, void *userdata)
{
    auto_lease struct lease l = lease_take(s);
    auto_stmt sqlite3_stmt *st = NULL;
    int n = 0, r;

    r = prepare(l.c, ST_TOKEN_LIST, &st);
    if (r < 0)
        return r;
    for (;;) {
        struct posture_store_token t = { 0 };

        r = step(l.c, st);
        if (r <= 0)
            break;
        t.id = sqlite3_column_int64(st, 0);
        r = column_text_buf(st, 1, t.label, POSTURE_STORE_LABEL_MAX);
        if (r < 0)
            return r;
        t.created_at = column_u64(st, 2);
        t.expires_at = column_u64(st, 3);
        t.used_at = sqlite3_column_type(st, 4) == SQLITE_NULL ? 0 : column_u64(st, 4);
        r = fn(&t, userdata);
        if (r < 0)
            return r;
        if (n < INT_MAX)
            n++;
    }
    return r < 0 ? r : n;
}

static int sqlite_token_revoke(struct posture_store *s, int64_t id)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    auto_stmt sqlite3_stmt *st = NULL;
    int r, rc = SQLITE_OK;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    r = prepare(l.c, ST_TOKEN_DELETE, &st);
    if (r < 0)
        return r;
    bind_i64(&rc, st, 1, id);
    r = bind_done(l.c, rc);
    if (r >= 0)
        r = step(l.c, st);
    if (r < 0)
        return r;
    if (sqlite3_changes(l.c->db) == 0)
        return -ENOENT;
    return tx_commit(&tx);
}

/* ---- devices ----------------------------------------------------------------------------- */

static int device_from_row(sqlite3_stmt *st, struct posture_store_device *ret)
{
    struct posture_store_device d = { 0 };
    int64_t tier, status;
    size_t n = 0;
    bool present = false;
    int r;

    r = column_text_buf(st, 0, d.id, POSTURE_STORE_DEVICE_ID_MAX);
    if (r < 0)
        return r;
    tier = sqlite3_column_int64(st, 1);
    status = sqlite3_column_int64(st, 2);
    if (tier < 0 || tier >= POSTURE_STORE_TIER__MAX || status < 0 ||
        status >= POSTURE_STORE_DEVICE_STATUS__MAX)
        return -EBADMSG;
    d.tier = (enum posture_store_tier) tier;
    d.status = (enum posture_store_device_status) status;
    r = column_blob_buf(st, 5, d.ak_name, sizeof(d.ak_name), &d.ak_name_len, &present);
    if (r < 0)
        return r;
    r = column_digest(st, 6, d.ek_cert_sha256, &d.has_ek_cert_sha256);
    if (r < 0)
        return r;
    r = column_digest(st, 7, d.ek_public_sha256, &d.has_ek_public_sha256);
    if (r < 0)
        return r;
    d.created_at = column_u64(st, 8);
    d.revoked_at = column_u64(st, 9);

    if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
        const void *p = sqlite3_column_blob(st, 4);

        n = (size_t) sqlite3_column_bytes(st, 4);
        if (n > POSTURE_STORE_AK_PUBLIC_MAX || (n > 0 && !p))
            return -EBADMSG;
        if (n > 0) {
            d.ak_public = malloc(n);
            if (!d.ak_public)
                return -ENOMEM;
            memcpy(d.ak_public, p, n);
            d.ak_public_len = n;
        }
    }
    r = column_text_dup(st, 3, POSTURE_STORE_JWK_MAX, &d.jwk);
    if (r < 0) {
        posture_store_device_done(&d);
        return r;
    }
    *ret = d;
    return 0;
}

static int
sqlite_device_insert(struct posture_store *s, const struct posture_store_device *d, uint64_t now)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    int r, rc = SQLITE_OK;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_DEVICE_STATUS, &st);
        if (r < 0)
            return r;
        bind_text(&rc, st, 1, d->id);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
        if (r > 0 && sqlite3_column_int64(st, 0) == POSTURE_STORE_DEVICE_ACTIVE)
            return -EEXIST;
    }
    if (r > 0) {
        /* a revoked enrolment of this id: replaced, with what hangs off it */
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_DEVICE_DELETE_REVOKED, &st);
        if (r < 0)
            return r;
        bind_text(&rc, st, 1, d->id);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
    }
    if (d->ak_name_len > 0 || d->has_ek_public_sha256 || d->has_ek_cert_sha256) {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_DEVICE_CONFLICT, &st);
        if (r < 0)
            return r;
        bind_blob(&rc, st, 1, d->ak_name_len > 0 ? d->ak_name : NULL, d->ak_name_len);
        bind_blob(&rc, st, 2, d->has_ek_public_sha256 ? d->ek_public_sha256 : NULL,
                  POSTURE_STORE_DIGEST_SIZE);
        bind_blob(&rc, st, 3, d->has_ek_cert_sha256 ? d->ek_cert_sha256 : NULL,
                  POSTURE_STORE_DIGEST_SIZE);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
        if (r > 0)
            return -EADDRINUSE;
    }
    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_DEVICE_INSERT, &st);
        if (r < 0)
            return r;
        bind_text(&rc, st, 1, d->id);
        bind_i64(&rc, st, 2, d->tier);
        bind_text(&rc, st, 3, d->jwk);
        bind_blob(&rc, st, 4, d->ak_public_len > 0 ? d->ak_public : NULL, d->ak_public_len);
        bind_blob(&rc, st, 5, d->ak_name_len > 0 ? d->ak_name : NULL, d->ak_name_len);
        bind_blob(&rc, st, 6, d->has_ek_cert_sha256 ? d->ek_cert_sha256 : NULL,
                  POSTURE_STORE_DIGEST_SIZE);
        bind_blob(&rc, st, 7, d->has_ek_public_sha256 ? d->ek_public_sha256 : NULL,
                  POSTURE_STORE_DIGEST_SIZE);
        bind_u64(&rc, st, 8, now);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        /* the partial unique indexes back the check above up */
        if (r == -EEXIST)
            return -EADDRINUSE;
        if (r < 0)
            return r;
    }
    return tx_commit(&tx);
}

static int sqlite_device_get(struct posture_store *s,
                             const char *id,
                             const uint8_t *ak_name,
                             size_t ak_name_len,
                             struct posture_store_device *ret)
{
    auto_lease struct lease l = lease_take(s);
    auto_stmt sqlite3_stmt *st = NULL;
    int r, rc = SQLITE_OK;

    r = prepare(l.c, id ? ST_DEVICE_GET : ST_DEVICE_GET_AK, &st);
    if (r < 0)
        return r;
    if (id)
        bind_text(&rc, st, 1, id);
    else
        bind_blob(&rc, st, 1, ak_name, ak_name_len);
    r = bind_done(l.c, rc);
    if (r >= 0)
        r = step(l.c, st);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    return device_from_row(st, ret);
}

static int sqlite_device_revoke(struct posture_store *s, const char *id, uint64_t now)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    int r, rc = SQLITE_OK;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_DEVICE_STATUS, &st);
        if (r < 0)
            return r;
        bind_text(&rc, st, 1, id);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
        if (r == 0)
            return -ENOENT;
        if (sqlite3_column_int64(st, 0) != POSTURE_STORE_DEVICE_ACTIVE)
            return -EALREADY;
    }
    for (enum stmt_id sid = ST_DEVICE_REVOKE; sid <= ST_DEVICE_NONCES_DELETE; sid++) {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, sid, &st);
        if (r < 0)
            return r;
        bind_text(&rc, st, 1, id);
        if (sid == ST_DEVICE_REVOKE)
            bind_u64(&rc, st, 2, now);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
    }
    return tx_commit(&tx);
}

static int
sqlite_device_foreach(struct posture_store *s, posture_store_device_fn fn, void *userdata)
{
    auto_lease struct lease l = lease_take(s);
    auto_stmt sqlite3_stmt *st = NULL;
    int n = 0, r;

    r = prepare(l.c, ST_DEVICE_LIST, &st);
    if (r < 0)
        return r;
    for (;;) {
        struct posture_store_device d;

        r = step(l.c, st);
        if (r <= 0)
            break;
        r = device_from_row(st, &d);
        if (r < 0)
            return r;
        r = fn(&d, userdata);
        posture_store_device_done(&d);
        if (r < 0)
            return r;
        if (n < INT_MAX)
            n++;
    }
    return r < 0 ? r : n;
}

/* ---- pending activations ----------------------------------------------------------------- */

static int activation_delete(struct conn *c, const char *device_id)
{
    auto_stmt sqlite3_stmt *st = NULL;
    int r, rc = SQLITE_OK;

    r = prepare(c, ST_ACTIVATION_DELETE, &st);
    if (r < 0)
        return r;
    bind_text(&rc, st, 1, device_id);
    r = bind_done(c, rc);
    if (r >= 0)
        r = step(c, st);
    return r;
}

static int sqlite_activation_create(struct posture_store *s,
                                    const struct posture_store_activation *a,
                                    uint64_t now)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    int r, rc = SQLITE_OK;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_ACTIVATION_FIND, &st);
        if (r < 0)
            return r;
        bind_text(&rc, st, 1, a->device_id);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
        if (r > 0 && column_u64(st, 3) > now)
            return -EEXIST;
    }
    if (r > 0) {
        r = activation_delete(l.c, a->device_id);
        if (r < 0)
            return r;
    }
    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_ACTIVATION_INSERT, &st);
        if (r < 0)
            return r;
        bind_text(&rc, st, 1, a->device_id);
        bind_blob(&rc, st, 2, a->secret_sha256, POSTURE_STORE_DIGEST_SIZE);
        bind_blob(&rc, st, 3, a->nonce0, a->nonce0_len);
        bind_blob(&rc, st, 4, a->payload_len > 0 ? a->payload : NULL, a->payload_len);
        bind_u64(&rc, st, 5, a->expires_at);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
    }
    return tx_commit(&tx);
}

static int sqlite_activation_take(struct posture_store *s,
                                  const char *device_id,
                                  uint64_t now,
                                  struct posture_store_activation *ret)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    struct posture_store_activation a = { 0 };
    bool present = false;
    int r, rc = SQLITE_OK;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_ACTIVATION_FIND, &st);
        if (r < 0)
            return r;
        bind_text(&rc, st, 1, device_id);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
        if (r == 0)
            return -ENOENT;
        memcpy(a.device_id, device_id, strlen(device_id) + 1);
        r = column_digest(st, 0, a.secret_sha256, NULL);
        if (r >= 0)
            r = column_blob_buf(st, 1, a.nonce0, sizeof(a.nonce0), &a.nonce0_len, &present);
        if (r < 0)
            return r;
        a.expires_at = column_u64(st, 3);
        if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
            const void *p = sqlite3_column_blob(st, 2);
            int n = sqlite3_column_bytes(st, 2);

            if (n < 0 || (size_t) n > POSTURE_STORE_PAYLOAD_MAX || (n > 0 && !p))
                return -EBADMSG;
            if (n > 0) {
                a.payload = malloc((size_t) n);
                if (!a.payload)
                    return -ENOMEM;
                memcpy(a.payload, p, (size_t) n);
                a.payload_len = (size_t) n;
            }
        }
    }
    /* one attempt: gone whatever the caller finds */
    r = activation_delete(l.c, device_id);
    if (r >= 0)
        r = tx_commit(&tx);
    if (r >= 0 && a.expires_at <= now)
        r = -ESTALE;
    if (r < 0) {
        posture_store_activation_done(&a);
        return r;
    }
    *ret = a;
    return 0;
}

/* ---- nonces ------------------------------------------------------------------------------ */

static int sqlite_nonce_issue(struct posture_store *s,
                              const uint8_t hash[static POSTURE_STORE_DIGEST_SIZE],
                              const char *device_id,
                              uint64_t now,
                              uint64_t expires_at)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    int r, rc = SQLITE_OK;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_NONCE_PURGE_BATCH, &st);
        if (r < 0)
            return r;
        bind_u64(&rc, st, 1, now);
        bind_i64(&rc, st, 2, PURGE_BATCH);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
    }
    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_NONCE_INSERT, &st);
        if (r < 0)
            return r;
        bind_blob(&rc, st, 1, hash, POSTURE_STORE_DIGEST_SIZE);
        bind_text(&rc, st, 2, device_id);
        bind_u64(&rc, st, 3, now);
        bind_u64(&rc, st, 4, expires_at);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r; /* -ENOENT: unknown device (foreign key) */
    }
    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_NONCE_EVICT, &st);
        if (r < 0)
            return r;
        bind_text(&rc, st, 1, device_id);
        bind_blob(&rc, st, 2, hash, POSTURE_STORE_DIGEST_SIZE);
        bind_i64(&rc, st, 3, POSTURE_STORE_NONCES_PER_DEVICE - 1);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
    }
    return tx_commit(&tx);
}

/* The common case in one UPDATE (its own transaction): 1 consumed, 0 not (see why), -errno. */
static int nonce_consume_fast(struct lease *l,
                              const uint8_t hash[static POSTURE_STORE_DIGEST_SIZE],
                              const char *device_id,
                              uint64_t now)
{
    auto_stmt sqlite3_stmt *st = NULL;
    int n = 0, r, rc = SQLITE_OK;

    r = prepare(l->c, ST_NONCE_CONSUME, &st);
    if (r < 0)
        return r;
    bind_blob(&rc, st, 1, hash, POSTURE_STORE_DIGEST_SIZE);
    bind_u64(&rc, st, 2, now);
    bind_text(&rc, st, 3, device_id);
    r = bind_done(l->c, rc);
    if (r < 0)
        return r;
    (void) pthread_mutex_lock(&l->b->write_lock);
    r = step(l->c, st);
    if (r >= 0)
        n = sqlite3_changes(l->c->db);
    (void) pthread_mutex_unlock(&l->b->write_lock);
    return r < 0 ? r : n == 1;
}

static int sqlite_nonce_consume(struct posture_store *s,
                                const uint8_t hash[static POSTURE_STORE_DIGEST_SIZE],
                                const char *device_id,
                                uint64_t now)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    int r, rc = SQLITE_OK;

    r = nonce_consume_fast(&l, hash, device_id, now);
    if (r != 0)
        return r < 0 ? r : 0;
    /* Not consumed: find out why, in a transaction (it would still consume a nonce that
     * became valid meanwhile, once). */
    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    {
        auto_stmt sqlite3_stmt *st = NULL;
        const unsigned char *owner;

        r = prepare(l.c, ST_NONCE_FIND, &st);
        if (r < 0)
            return r;
        bind_blob(&rc, st, 1, hash, POSTURE_STORE_DIGEST_SIZE);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
        if (r == 0)
            return -ENOENT;
        owner = sqlite3_column_text(st, 0);
        if (!owner || strcmp((const char *) owner, device_id) != 0)
            return -EPERM; /* not burnt: its device may still use it */
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            return -EALREADY;
        if (column_u64(st, 1) <= now)
            return -ESTALE;
    }
    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, ST_NONCE_USE, &st);
        if (r < 0)
            return r;
        bind_blob(&rc, st, 1, hash, POSTURE_STORE_DIGEST_SIZE);
        bind_u64(&rc, st, 2, now);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
        if (sqlite3_changes(l.c->db) != 1)
            return -EALREADY;
    }
    return tx_commit(&tx);
}

/* ---- appraisals, clock state ------------------------------------------------------------- */

static int
clockinfo_read(struct conn *c, const char *device_id, struct posture_store_clockinfo *ret)
{
    auto_stmt sqlite3_stmt *st = NULL;
    int r, rc = SQLITE_OK;

    r = prepare(c, ST_CLOCK_GET, &st);
    if (r < 0)
        return r;
    bind_text(&rc, st, 1, device_id);
    r = bind_done(c, rc);
    if (r >= 0)
        r = step(c, st);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    *ret = (struct posture_store_clockinfo){
        .clock = column_u64(st, 0),
        .reset_count = (uint32_t) sqlite3_column_int64(st, 1),
        .restart_count = (uint32_t) sqlite3_column_int64(st, 2),
    };
    return 0;
}

/* Inside a write transaction: store info if the current state equals *expected (NULL: nothing
 * stored). -ESTALE otherwise, -ENOENT for an unknown device. */
static int clockinfo_cas(struct conn *c,
                         const char *device_id,
                         const struct posture_store_clockinfo *expected,
                         const struct posture_store_clockinfo *info,
                         uint64_t now)
{
    auto_stmt sqlite3_stmt *st = NULL;
    struct posture_store_clockinfo cur;
    int r, rc = SQLITE_OK;

    r = clockinfo_read(c, device_id, &cur);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == -ENOENT ? expected != NULL
                     : !expected || cur.clock != expected->clock ||
                           cur.reset_count != expected->reset_count ||
                           cur.restart_count != expected->restart_count)
        return -ESTALE;

    r = prepare(c, ST_CLOCK_UPSERT, &st);
    if (r < 0)
        return r;
    bind_text(&rc, st, 1, device_id);
    bind_u64(&rc, st, 2, info->clock);
    bind_i64(&rc, st, 3, info->reset_count);
    bind_i64(&rc, st, 4, info->restart_count);
    bind_u64(&rc, st, 5, now);
    r = bind_done(c, rc);
    if (r >= 0)
        r = step(c, st);
    return r < 0 ? r : 0; /* -ENOENT: unknown device (foreign key) */
}

/* Inside a write transaction: the main row of a submission (de-duplicated); its row id. */
static int
appraisal_insert(struct conn *c, const struct posture_store_appraisal *a, int64_t *ret_id)
{
    auto_stmt sqlite3_stmt *st = NULL;
    int r, rc = SQLITE_OK;

    {
        auto_stmt sqlite3_stmt *fl = NULL;

        r = prepare(c, ST_APPRAISAL_FLOOR, &fl);
        if (r < 0)
            return r;
        bind_text(&rc, fl, 1, a->device_id);
        r = bind_done(c, rc);
        if (r >= 0)
            r = step(c, fl);
        if (r < 0)
            return r;
        if (r == 0)
            return -ENOENT;
        if (a->seq <= column_u64(fl, 0))
            return -EEXIST; /* at or below what retention deleted: seen before */
    }
    r = prepare(c, ST_APPRAISAL_INSERT, &st);
    if (r < 0)
        return r;
    bind_text(&rc, st, 1, a->device_id);
    bind_u64(&rc, st, 2, a->seq);
    bind_u64(&rc, st, 3, a->received_at);
    bind_i64(&rc, st, 4, a->verdict);
    bind_text(&rc, st, 5, a->ear);
    bind_text(&rc, st, 6, a->policy_id);
    bind_text(&rc, st, 7, a->policy_version);
    bind_blob(&rc, st, 8, a->policy_digest, POSTURE_STORE_DIGEST_SIZE);
    bind_text(&rc, st, 9, a->reason);
    r = bind_done(c, rc);
    if (r >= 0)
        r = step(c, st);
    if (r < 0)
        return r; /* -EEXIST (device, seq) seen, -ENOENT unknown device */
    *ret_id = sqlite3_last_insert_rowid(c->db);
    return 0;
}

/* Inside a write transaction: another policy's appraisal of the submission appraisal_id. */
static int appraisal_policy_insert(struct conn *c,
                                   int64_t appraisal_id,
                                   const struct posture_store_appraisal *a)
{
    auto_stmt sqlite3_stmt *st = NULL;
    int r, rc = SQLITE_OK;

    r = prepare(c, ST_APPRAISAL_POLICY_INSERT, &st);
    if (r < 0)
        return r;
    bind_i64(&rc, st, 1, appraisal_id);
    bind_text(&rc, st, 2, a->policy_id);
    bind_text(&rc, st, 3, a->policy_version);
    bind_blob(&rc, st, 4, a->policy_digest, POSTURE_STORE_DIGEST_SIZE);
    bind_i64(&rc, st, 5, a->verdict);
    bind_text(&rc, st, 6, a->ear);
    bind_text(&rc, st, 7, a->reason);
    r = bind_done(c, rc);
    if (r >= 0)
        r = step(c, st);
    return r < 0 ? r : 0; /* -EEXIST: the same policy twice */
}

static int sqlite_appraisal_record(struct posture_store *s,
                                   const struct posture_store_appraisal *a,
                                   const struct posture_store_clockinfo *expected,
                                   const struct posture_store_clockinfo *info,
                                   uint64_t now)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    int64_t id;
    int r;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    r = appraisal_insert(l.c, a, &id);
    if (r < 0)
        return r;
    if (info) {
        r = clockinfo_cas(l.c, a->device_id, expected, info, now);
        if (r < 0)
            return r; /* nothing recorded */
    }
    return tx_commit(&tx);
}

/* The columns of APPRAISAL_COLUMNS, except the EAR (column 4), into *ret. */
static int appraisal_from_row(sqlite3_stmt *st, struct posture_store_appraisal *ret)
{
    struct posture_store_appraisal a = { 0 };
    int64_t verdict;
    int r;

    r = column_text_buf(st, 0, a.device_id, POSTURE_STORE_DEVICE_ID_MAX);
    if (r >= 0)
        r = column_text_buf(st, 5, a.policy_id, POSTURE_STORE_POLICY_ID_MAX);
    if (r >= 0)
        r = column_text_buf(st, 6, a.policy_version, POSTURE_STORE_POLICY_VER_MAX);
    if (r >= 0)
        r = column_text_buf(st, 8, a.reason, POSTURE_STORE_REASON_MAX);
    if (r >= 0)
        r = column_digest(st, 7, a.policy_digest, NULL);
    if (r < 0)
        return r;
    a.seq = column_u64(st, 1);
    a.received_at = column_u64(st, 2);
    verdict = sqlite3_column_int64(st, 3);
    if (verdict < 0 || verdict >= POSTURE_STORE_VERDICT__MAX)
        return -EBADMSG;
    a.verdict = (enum posture_store_verdict) verdict;
    *ret = a;
    return 0;
}

static int sqlite_appraisal_latest(struct posture_store *s,
                                   const char *device_id,
                                   struct posture_store_appraisal *ret)
{
    auto_lease struct lease l = lease_take(s);
    auto_stmt sqlite3_stmt *st = NULL;
    struct posture_store_appraisal a;
    char *ear = NULL;
    int r, rc = SQLITE_OK;

    r = prepare(l.c, ST_APPRAISAL_LATEST, &st);
    if (r < 0)
        return r;
    bind_text(&rc, st, 1, device_id);
    r = bind_done(l.c, rc);
    if (r >= 0)
        r = step(l.c, st);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    r = appraisal_from_row(st, &a);
    if (r < 0)
        return r;
    r = column_text_dup(st, 4, POSTURE_STORE_EAR_MAX, &ear);
    if (r < 0)
        return r;
    a.ear = ear;
    *ret = a;
    return 0;
}

/* Call fn with each row of the appraisal statement id (APPRAISAL_COLUMNS, the EAR borrowed
 * until the next row); the count, or fn's negative return. */
static int foreach_appraisal_row(struct posture_store *s,
                                 enum stmt_id id,
                                 posture_store_appraisal_fn fn,
                                 void *userdata)
{
    auto_lease struct lease l = lease_take(s);
    auto_stmt sqlite3_stmt *st = NULL;
    int n = 0, r;

    r = prepare(l.c, id, &st);
    if (r < 0)
        return r;
    for (;;) {
        struct posture_store_appraisal a;
        const unsigned char *ear;
        int len;

        r = step(l.c, st);
        if (r <= 0)
            break;
        r = appraisal_from_row(st, &a);
        if (r < 0)
            return r;
        ear = sqlite3_column_text(st, 4);
        len = sqlite3_column_bytes(st, 4);
        if (!ear || len < 0 || (size_t) len > POSTURE_STORE_EAR_MAX)
            return -EBADMSG;
        a.ear = (const char *) ear; /* borrowed until the next step */
        r = fn(&a, userdata);
        if (r < 0)
            return r;
        if (n < INT_MAX)
            n++;
    }
    return r < 0 ? r : n;
}

static int sqlite_appraisal_foreach_latest(struct posture_store *s,
                                           posture_store_appraisal_fn fn,
                                           void *userdata)
{
    return foreach_appraisal_row(s, ST_APPRAISAL_LATEST_ALL, fn, userdata);
}

static int sqlite_appraisal_prune(struct posture_store *s, uint64_t received_before)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    int n = 0, r, rc = SQLITE_OK;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    /* the floor first, from the rows about to go */
    for (enum stmt_id id = ST_APPRAISAL_PRUNE_FLOOR; id <= ST_APPRAISAL_PRUNE; id++) {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(l.c, id, &st);
        if (r < 0)
            return r;
        bind_u64(&rc, st, 1, received_before);
        r = bind_done(l.c, rc);
        if (r >= 0)
            r = step(l.c, st);
        if (r < 0)
            return r;
        n = sqlite3_changes(l.c->db);
    }
    r = tx_commit(&tx);
    return r < 0 ? r : n;
}

static int sqlite_clockinfo_get(struct posture_store *s,
                                const char *device_id,
                                struct posture_store_clockinfo *ret)
{
    auto_lease struct lease l = lease_take(s);

    return clockinfo_read(l.c, device_id, ret);
}

static int sqlite_clockinfo_update(struct posture_store *s,
                                   const char *device_id,
                                   const struct posture_store_clockinfo *expected,
                                   const struct posture_store_clockinfo *info,
                                   uint64_t now)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    int r;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    r = clockinfo_cas(l.c, device_id, expected, info, now);
    if (r < 0)
        return r;
    return tx_commit(&tx);
}

/* ---- audit ------------------------------------------------------------------------------- */

/* Inside a write transaction: n rows chained after the last one. */
static int audit_insert(struct conn *c,
                        const struct posture_store_audit_entry *entries,
                        size_t n,
                        uint64_t now,
                        uint64_t *ret_last_seq)
{
    uint8_t prev[POSTURE_STORE_DIGEST_SIZE] = { 0 }, hash[POSTURE_STORE_DIGEST_SIZE];
    uint64_t seq = 1;
    int r;

    {
        auto_stmt sqlite3_stmt *st = NULL;

        r = prepare(c, ST_AUDIT_LAST, &st);
        if (r < 0)
            return r;
        r = step(c, st);
        if (r < 0)
            return r;
        if (r > 0) {
            int64_t last = sqlite3_column_int64(st, 0);

            if (last < 1 || (uint64_t) last > INT64_MAX - n)
                return -EBADMSG;
            seq = (uint64_t) last + 1;
            /* chained to whatever is stored; a tampered row stays visible to _verify */
            r = column_digest(st, 1, prev, NULL);
            if (r < 0)
                return r;
        }
    }
    for (size_t i = 0; i < n; i++, seq++) {
        const struct posture_store_audit_row row = {
            .seq = seq,
            .at = now,
            .kind = entries[i].kind,
            .subject = entries[i].subject,
            .detail = entries[i].detail,
        };
        auto_stmt sqlite3_stmt *st = NULL;
        int rc = SQLITE_OK;

        r = posture_store_audit_hash(prev, &row, hash);
        if (r < 0)
            return r;
        r = prepare(c, ST_AUDIT_INSERT, &st);
        if (r < 0)
            return r;
        bind_u64(&rc, st, 1, row.seq);
        bind_u64(&rc, st, 2, row.at);
        bind_text(&rc, st, 3, row.kind);
        bind_text(&rc, st, 4, row.subject);
        bind_text(&rc, st, 5, row.detail);
        bind_blob(&rc, st, 6, prev, sizeof(prev));
        bind_blob(&rc, st, 7, hash, sizeof(hash));
        r = bind_done(c, rc);
        if (r >= 0)
            r = step(c, st);
        if (r < 0)
            return r;
        memcpy(prev, hash, sizeof(prev));
    }
    *ret_last_seq = seq - 1;
    return 0;
}

static int sqlite_audit_append(struct posture_store *s,
                               const struct posture_store_audit_entry *entries,
                               size_t n,
                               uint64_t now,
                               uint64_t *ret_last_seq)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    uint64_t seq = 0;
    int r;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    r = audit_insert(l.c, entries, n, now, &seq);
    if (r < 0)
        return r;
    r = tx_commit(&tx);
    if (r < 0)
        return r;
    *ret_last_seq = seq;
    return 0;
}

/* Is the row at the cursor a correct link after (prev_seq, prev)? On success *next holds its
 * hash. */
static bool audit_row_ok(sqlite3_stmt *st,
                         uint64_t prev_seq,
                         const uint8_t prev[static POSTURE_STORE_DIGEST_SIZE],
                         uint8_t next[static POSTURE_STORE_DIGEST_SIZE])
{
    uint8_t stored_prev[POSTURE_STORE_DIGEST_SIZE], stored[POSTURE_STORE_DIGEST_SIZE];
    uint8_t computed[POSTURE_STORE_DIGEST_SIZE];
    struct posture_store_audit_row row;
    const char *texts[3];

    if (sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
        (uint64_t) sqlite3_column_int64(st, 0) != prev_seq + 1)
        return false;
    for (int i = 0; i < 3; i++) {
        /* TEXT only: a value turned into a BLOB or a NUL inside would hash differently */
        if (sqlite3_column_type(st, 2 + i) != SQLITE_TEXT)
            return false;
        texts[i] = (const char *) sqlite3_column_text(st, 2 + i);
        if (!texts[i] || strlen(texts[i]) != (size_t) sqlite3_column_bytes(st, 2 + i))
            return false;
    }
    if (column_digest(st, 5, stored_prev, NULL) < 0 || column_digest(st, 6, stored, NULL) < 0)
        return false;
    if (CRYPTO_memcmp(stored_prev, prev, POSTURE_STORE_DIGEST_SIZE) != 0)
        return false;
    row = (struct posture_store_audit_row){
        .seq = prev_seq + 1,
        .at = column_u64(st, 1),
        .kind = texts[0],
        .subject = texts[1],
        .detail = texts[2],
    };
    if (posture_store_audit_hash(prev, &row, computed) < 0 ||
        CRYPTO_memcmp(computed, stored, POSTURE_STORE_DIGEST_SIZE) != 0)
        return false;
    memcpy(next, stored, POSTURE_STORE_DIGEST_SIZE);
    return true;
}

static int sqlite_audit_verify(struct posture_store *s, struct posture_store_audit_result *ret)
{
    auto_lease struct lease l = lease_take(s);
    auto_stmt sqlite3_stmt *st = NULL;
    struct posture_store_audit_result res = { 0 };
    uint8_t prev[POSTURE_STORE_DIGEST_SIZE] = { 0 };
    int r;

    r = prepare(l.c, ST_AUDIT_ALL, &st);
    if (r < 0)
        return r;
    for (;;) {
        r = step(l.c, st);
        if (r < 0)
            return r;
        if (r == 0)
            break;
        if (!audit_row_ok(st, res.rows, prev, prev)) {
            int64_t seq = sqlite3_column_int64(st, 0);

            /* the first row that does not link up; a gap names the row after it */
            res.first_bad_seq = seq > 0 ? (uint64_t) seq : res.rows + 1;
            break;
        }
        res.rows++;
    }
    memcpy(res.head, prev, sizeof(prev));
    *ret = res;
    return 0;
}

/* ---- revocations seen by a running service ---------------------------------------------- */

static int sqlite_device_foreach_revoked_since(struct posture_store *s,
                                               uint64_t since,
                                               posture_store_revoked_fn fn,
                                               void *userdata)
{
    auto_lease struct lease l = lease_take(s);
    auto_stmt sqlite3_stmt *st = NULL;
    int n = 0, r, rc = SQLITE_OK;

    r = prepare(l.c, ST_DEVICE_REVOKED_SINCE, &st);
    if (r < 0)
        return r;
    bind_u64(&rc, st, 1, since);
    r = bind_done(l.c, rc);
    if (r < 0)
        return r;
    for (;;) {
        char id[POSTURE_STORE_DEVICE_ID_MAX + 1];

        r = step(l.c, st);
        if (r <= 0)
            break;
        r = column_text_buf(st, 0, id, POSTURE_STORE_DEVICE_ID_MAX);
        if (r < 0)
            return r;
        r = fn(id, column_u64(st, 1), userdata);
        if (r < 0)
            return r;
        if (n < INT_MAX)
            n++;
    }
    return r < 0 ? r : n;
}

/* ---- a whole submission ------------------------------------------------------------------ */

static int sqlite_submission_record(struct posture_store *s,
                                    const struct posture_store_submission *sub,
                                    uint64_t now)
{
    auto_lease struct lease l = lease_take(s);
    auto_tx struct tx tx = { 0 };
    const struct posture_store_appraisal *a = &sub->appraisals[0];
    uint64_t seq = 0;
    int64_t id;
    int r;

    r = tx_begin(&l, &tx);
    if (r < 0)
        return r;
    r = appraisal_insert(l.c, a, &id);
    if (r < 0)
        return r;
    for (size_t i = 1; i < sub->n_appraisals; i++) {
        r = appraisal_policy_insert(l.c, id, &sub->appraisals[i]);
        if (r < 0)
            return r == -EEXIST ? -EINVAL : r; /* a policy twice: the caller's mistake */
    }
    if (sub->info) {
        r = clockinfo_cas(l.c, a->device_id, sub->expected, sub->info, now);
        if (r < 0)
            return r; /* nothing recorded */
    }
    if (sub->audit) {
        r = audit_insert(l.c, sub->audit, 1, now, &seq);
        if (r < 0)
            return r;
    }
    return tx_commit(&tx);
}

static int sqlite_appraisal_foreach_latest_policies(struct posture_store *s,
                                                    posture_store_appraisal_fn fn,
                                                    void *userdata)
{
    return foreach_appraisal_row(s, ST_APPRAISAL_LATEST_POLICIES, fn, userdata);
}

const struct posture_store_ops posture_store_sqlite_ops = {
    .scheme = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .purge_expired = sqlite_purge_expired,
    .token_create = sqlite_token_create,
    .token_consume = sqlite_token_consume,
    .token_foreach = sqlite_token_foreach,
    .token_revoke = sqlite_token_revoke,
    .device_insert = sqlite_device_insert,
    .device_get = sqlite_device_get,
    .device_revoke = sqlite_device_revoke,
    .device_foreach = sqlite_device_foreach,
    .activation_create = sqlite_activation_create,
    .activation_take = sqlite_activation_take,
    .nonce_issue = sqlite_nonce_issue,
    .nonce_consume = sqlite_nonce_consume,
    .appraisal_record = sqlite_appraisal_record,
    .appraisal_latest = sqlite_appraisal_latest,
    .appraisal_foreach_latest = sqlite_appraisal_foreach_latest,
    .appraisal_prune = sqlite_appraisal_prune,
    .clockinfo_get = sqlite_clockinfo_get,
    .clockinfo_update = sqlite_clockinfo_update,
    .audit_append = sqlite_audit_append,
    .audit_verify = sqlite_audit_verify,
    .device_foreach_revoked_since = sqlite_device_foreach_revoked_since,
    .submission_record = sqlite_submission_record,
    .appraisal_foreach_latest_policies = sqlite_appraisal_foreach_latest_policies,
};
