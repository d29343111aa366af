/*
 * sqlite.c - the embedded SQLite storage backend (the default).
 *
 * Owns one database file (<data_dir>/k8c.db, WAL, synchronous=FULL, incremental
 * auto-vacuum) holding an append-only revision log and a current-state index:
 *
 *   log(rev PK, key, op, create_rev, prev_rev, version, value)  one row per change
 *   cur(key PK → rev)                                           live keys only
 *   meta(name PK → value)                                       'rev', 'compact_rev'
 *
 * A DELETE row keeps the last value (delete events carry it). prev_rev is the
 * rev of the key's previous live row (0 for a create), which is what a watch
 * event's prev needs.
 *
 * Threads: one writer thread owns the only write connection. Callers queue
 * writes and sleep; the writer takes everything queued, applies it inside one
 * transaction and commits once (group commit: one fsync for many writes). Only
 * after COMMIT succeeds are the writes acknowledged and their events published
 * to an in-memory ring that watchers read (no polling). A watcher that fell
 * behind the ring reads the log table instead. Reads use a pool of read-only
 * connections; every read runs inside one snapshot. Compaction runs on the
 * writer thread in bounded batches between write groups, then frees pages
 * (incremental vacuum) and truncates the WAL. WAL checkpoints run on a third
 * thread with its own connection, so no COMMIT waits for the database fsync.
 * One process owns a database at a time (flock on <data_dir>/k8c.lock); a COMMIT
 * that fails with an I/O error stops all writes until restart.
 *
 * This file must not: write from any connection but the writer's, acknowledge
 * a write before its COMMIT, delete or rewrite the WAL by hand, or log above debug.
 */
#include "k8c/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/log.h"

#define DEFAULT_RING_SIZE 4096
#define RING_BYTES_PER_SLOT (16 * 1024) /* memory budget of the ring: slots x this */
#define DEFAULT_COMPACT_BATCH 1000
#define DEFAULT_READ_CONNS 4
#define MAX_GROUP 1024         /* writes per transaction */
#define LOG_FETCH 256          /* events per log-table read of a lagging watcher */
#define VACUUM_MAX_PAGES 4096  /* pages one incremental vacuum step frees, at most */
#define MAINT_STEP_MS 4        /* target duration of one compaction or vacuum step */
#define CHECKPOINT_FRAMES 1000 /* WAL frames that trigger a background checkpoint */

enum { OP_CREATE = 1, OP_UPDATE = 2, OP_DELETE = 3 };
enum wop { WOP_CREATE = 1, WOP_UPDATE, WOP_DELETE, WOP_COMPACT };

/* One queued write; lives on the caller's stack until done. */
struct wreq {
        enum wop op;
        const char *key;
        const char *value;
        size_t len;
        int64_t expected; /* mod revision precondition, or the compaction revision */
        bool want_kv;

        int rc;
        k8c_error_t err;
        struct k8c_kv kv; /* stored kv, or the current kv on conflict */
        bool done;
        pthread_cond_t cond;
        /* An asynchronous write (heap-allocated, freed by the writer after done_fn). */
        k8c_store_done_fn done_fn;
        void *done_arg;
        struct wreq *next;
};

struct rconn {
        sqlite3 *db;
        sqlite3_stmt *get, *meta, *list_cur, *list_rev, *events, *begin, *commit;
        struct rconn *next;
};

struct sqlite_store {
        struct k8c_store base;
        char *path;
        size_t compact_batch;     /* the most revisions one compaction step examines */
        size_t compact_step;      /* the current step size (adapts to how long steps take) */
        size_t vacuum_step;       /* pages per incremental vacuum step (adapts too) */
        int64_t maint_not_before; /* monotonic ms: next maintenance step while writes wait */

        /* writer thread state (touched only by the writer once started) */
        sqlite3 *wdb;
        sqlite3_stmt *w_begin, *w_commit, *w_rollback, *w_lookup, *w_insert, *w_upsert_cur, *w_delete_cur,
                *w_set_meta, *w_compact;
        int64_t wrev;           /* last committed revision */
        int64_t compact_target; /* compaction revision still being applied physically */
        int64_t compact_done;   /* rows at or below this are done */
        int64_t group_compact;  /* compaction revision set by the group being applied */
        bool vacuum_pending;
        bool compact_paused; /* a step failed: wait for the next compaction request */
        char *broken;        /* set when a COMMIT hit an I/O error: writes are refused */
        int lock_fd;         /* flock on <data_dir>/k8c.lock: one process per database */
        pthread_t writer;
        bool writer_started;

        /* checkpointer: copies the WAL back into the database off the write path */
        sqlite3 *cdb;
        pthread_t ckpt;
        bool ckpt_started;
        pthread_mutex_t clock;
        pthread_cond_t ccond;
        bool ckpt_wanted, ckpt_stop;

        /* write queue */
        pthread_mutex_t qlock;
        pthread_cond_t qcond;
        struct wreq *qhead, **qtail;
        bool stopping;

        /* read pool */
        pthread_mutex_t plock;
        pthread_cond_t pcond;
        struct rconn *conns; /* all, for close */
        size_t nconns;
        size_t nopen; /* opened so far (all of them once open succeeded) */
        struct rconn *free_conns;
        bool pool_closed;

        /* hub: published revision, ring of recent events, lifetime */
        pthread_mutex_t hlock;
        pthread_cond_t hcond;
        int64_t rev;         /* last committed and published revision */
        int64_t compact_rev; /* reads/watches below are expired */
        struct k8c_store_event **ring;
        size_t ring_cap;
        int64_t ring_first; /* oldest revision in the ring; ring holds [ring_first, rev] */
        size_t ring_bytes, ring_max_bytes;
        bool closed;
        int refs; /* the owner + open watches; the struct is freed at 0 */
};

struct sqlite_watch {
        struct k8c_store_watch base;
        struct sqlite_store *s;
        char *prefix;
        size_t plen;
        int64_t next_rev;             /* next revision to look at */
        struct k8c_store_event **buf; /* events read from the log table */
        size_t nbuf, ibuf;
};

static const struct k8c_store_ops sqlite_ops;

/* ---- helpers ---------------------------------------------------------------- */

static int sql_error(k8c_error_t *err, sqlite3 *db, int rc, const char *what)
{
        const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return k8c_make_error(err, K8C_EUNAVAILABLE, "sqlite: %s: %s", what, msg);
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return k8c_make_error(err, K8C_EINTERNAL, "sqlite: %s: database is corrupt: %s", what, msg);
        default: return k8c_make_error(err, K8C_EINTERNAL, "sqlite: %s: %s (code %d)", what, msg, rc);
        }
}

static void finalize_stmt(sqlite3_stmt **st)
{
        sqlite3_finalize(*st);
        *st = NULL;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret, k8c_error_t *err)
{
        int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL);
        if (rc != SQLITE_OK)
                return sql_error(err, db, rc, "prepare");
        return 0;
}

/* Runs a statement that returns no rows we need, then resets it. */
static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, k8c_error_t *err)
{
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                ;
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return sql_error(err, db, rc, what);
        return 0;
}

static int exec_sql(sqlite3 *db, const char *sql, k8c_error_t *err)
{
        char *msg = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
                int r = k8c_make_error(err, (rc & 0xff) == SQLITE_BUSY ? K8C_EUNAVAILABLE : K8C_EINTERNAL,
                                       "sqlite: %s: %s", sql, msg != NULL ? msg : sqlite3_errstr(rc));
                sqlite3_free(msg);
                return r;
        }
        return 0;
}

static bool has_prefix(const char *key, const char *prefix, size_t plen)
{
        return strncmp(key, prefix, plen) == 0;
}

/* Binds the [lower, upper) key range of a prefix to ?lo and ?hi. When no string
 * is above every key with the prefix (empty prefix, or all 0xff bytes), ?hi gets
 * an empty BLOB: SQLite orders every TEXT value before every BLOB. */
static void bind_prefix_range(sqlite3_stmt *st, int lo, int hi, const char *prefix)
{
        size_t n = strlen(prefix);
        sqlite3_bind_text(st, lo, prefix, (int)n, SQLITE_TRANSIENT);
        char *end = k8c_xstrndup(prefix, n);
        while (n > 0 && (unsigned char)end[n - 1] == 0xff)
                n--;
        if (n == 0) {
                sqlite3_bind_zeroblob(st, hi, 0);
        } else {
                end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
                sqlite3_bind_text(st, hi, end, (int)n, SQLITE_TRANSIENT);
        }
        free(end);
}

static void kv_fill(struct k8c_kv *kv, const char *key, const void *value, size_t len, int64_t create_rev,
                    int64_t mod_rev, int64_t version)
{
        kv->key = k8c_xstrdup(key);
        kv->value = k8c_xmalloc(len + 1);
        if (len > 0)
                memcpy(kv->value, value, len);
        kv->value[len] = '\0';
        kv->value_len = len;
        kv->create_revision = create_rev;
        kv->mod_revision = mod_rev;
        kv->version = version;
}

static void kv_copy(struct k8c_kv *dst, const struct k8c_kv *src)
{
        memset(dst, 0, sizeof(*dst));
        if (src->key == NULL)
                return;
        kv_fill(dst, src->key, src->value, src->value_len, src->create_revision, src->mod_revision,
                src->version);
}

static struct k8c_store_event *event_copy(const struct k8c_store_event *ev)
{
        struct k8c_store_event *c = k8c_xcalloc(1, sizeof(*c));
        c->type = ev->type;
        c->revision = ev->revision;
        kv_copy(&c->kv, &ev->kv);
        kv_copy(&c->prev, &ev->prev);
        return c;
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pthread_cond_timedwait on CLOCK_MONOTONIC needs a condattr; use it for every cond. */
static void cond_init(pthread_cond_t *c)
{
        pthread_condattr_t a;
        pthread_condattr_init(&a);
        pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        pthread_cond_init(c, &a);
        pthread_condattr_destroy(&a);
}

static void abs_deadline(struct timespec *ts, int64_t deadline_ms)
{
        ts->tv_sec = deadline_ms / 1000;
        ts->tv_nsec = (deadline_ms % 1000) * 1000000;
}

/* ---- the writer thread ---------------------------------------------------------- */

/* Looks up the live row of key through the writer connection (sees this group's
 * uncommitted writes). Returns 1 found, 0 absent, <0 error. */
static int w_lookup(struct sqlite_store *s, const char *key, struct k8c_kv *ret_kv, k8c_error_t *err)
{
        sqlite3_stmt *st = s->w_lookup;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                kv_fill(ret_kv, key, sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3),
                        sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 0),
                        sqlite3_column_int64(st, 2));
                sqlite3_reset(st);
                return 1;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return sql_error(err, s->wdb, rc, "lookup");
        return 0;
}

static int w_insert_log(struct sqlite_store *s, int64_t rev, const char *key, int op, int64_t create_rev,
                        int64_t prev_rev, int64_t version, const void *value, size_t len, k8c_error_t *err)
{
        sqlite3_stmt *st = s->w_insert;
        sqlite3_bind_int64(st, 1, rev);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, op);
        sqlite3_bind_int64(st, 4, create_rev);
        sqlite3_bind_int64(st, 5, prev_rev);
        sqlite3_bind_int64(st, 6, version);
        sqlite3_bind_blob64(st, 7, len > 0 ? value : "", len, SQLITE_STATIC);
        int r = step_done(s->wdb, st, "insert log", err);
        sqlite3_clear_bindings(st);
        return r;
}

static int w_set_meta(struct sqlite_store *s, const char *name, int64_t value, k8c_error_t *err)
{
        sqlite3_bind_text(s->w_set_meta, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->w_set_meta, 2, value);
        return step_done(s->wdb, s->w_set_meta, "set meta", err);
}

/*
 * Applies one request inside the open transaction. A refused request (exists,
 * not found, conflict, bad compaction revision) sets req->rc and returns 0; only
 * database failures return <0 (the whole group is then rolled back).
 * On success *ret_ev receives the event and *next is advanced.
 */
static int w_apply(struct sqlite_store *s, struct wreq *req, int64_t *next, struct k8c_store_event **ret_ev,
                   k8c_error_t *err)
{
        int64_t rev = *next;
        if (req->op == WOP_COMPACT) {
                if (req->expected > *next - 1) {
                        req->rc = k8c_make_error(&req->err, K8C_ETOOLARGERV,
                                                 "compaction revision %lld is in the future (current %lld)",
                                                 (long long)req->expected, (long long)(*next - 1));
                        return 0;
                }
                int64_t compacted =
                        s->compact_target > s->group_compact ? s->compact_target : s->group_compact;
                if (req->expected <= compacted) {
                        req->rc = k8c_make_error(&req->err, K8C_EEXPIRED,
                                                 "revision %lld has already been compacted (compacted %lld)",
                                                 (long long)req->expected, (long long)compacted);
                        return 0;
                }
                int r = w_set_meta(s, "compact_rev", req->expected, err);
                if (r < 0)
                        return r;
                s->group_compact = req->expected;
                req->rc = 0;
                return 0;
        }

        struct k8c_kv cur = { 0 };
        int found = w_lookup(s, req->key, &cur, err);
        if (found < 0)
                return found;
        struct k8c_store_event *ev = NULL;
        int r = 0;
        switch (req->op) {
        case WOP_CREATE:
                if (found) {
                        req->rc = k8c_make_error(&req->err, K8C_EALREADYEXISTS, "key %s already exists",
                                                 req->key);
                        goto out;
                }
                r = w_insert_log(s, rev, req->key, OP_CREATE, rev, 0, 1, req->value, req->len, err);
                if (r < 0)
                        goto out;
                ev = k8c_xcalloc(1, sizeof(*ev));
                ev->type = K8C_STORE_CREATE;
                kv_fill(&ev->kv, req->key, req->value, req->len, rev, rev, 1);
                break;
        case WOP_UPDATE:
        case WOP_DELETE:
                if (!found) {
                        req->rc = k8c_make_error(&req->err, K8C_ENOTFOUND, "key %s not found", req->key);
                        goto out;
                }
                if (req->expected != 0 && req->expected != cur.mod_revision) {
                        req->rc = k8c_make_error(&req->err, K8C_ECONFLICT,
                                                 "key %s: expected mod revision %lld, current is %lld",
                                                 req->key, (long long)req->expected,
                                                 (long long)cur.mod_revision);
                        if (req->want_kv)
                                req->kv = cur, memset(&cur, 0, sizeof(cur));
                        goto out;
                }
                ev = k8c_xcalloc(1, sizeof(*ev));
                if (req->op == WOP_UPDATE) {
                        r = w_insert_log(s, rev, req->key, OP_UPDATE, cur.create_revision, cur.mod_revision,
                                         cur.version + 1, req->value, req->len, err);
                        ev->type = K8C_STORE_UPDATE;
                        kv_fill(&ev->kv, req->key, req->value, req->len, cur.create_revision, rev,
                                cur.version + 1);
                } else {
                        r = w_insert_log(s, rev, req->key, OP_DELETE, cur.create_revision, cur.mod_revision,
                                         cur.version, cur.value, cur.value_len, err);
                        ev->type = K8C_STORE_DELETE;
                        kv_fill(&ev->kv, req->key, cur.value, cur.value_len, cur.create_revision, rev,
                                cur.version);
                }
                ev->prev = cur;
                memset(&cur, 0, sizeof(cur));
                if (r < 0)
                        goto out;
                break;
        default: abort();
        }

        if (req->op == WOP_DELETE) {
                sqlite3_bind_text(s->w_delete_cur, 1, req->key, -1, SQLITE_STATIC);
                r = step_done(s->wdb, s->w_delete_cur, "delete cur", err);
        } else {
                sqlite3_bind_text(s->w_upsert_cur, 1, req->key, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s->w_upsert_cur, 2, rev);
                r = step_done(s->wdb, s->w_upsert_cur, "upsert cur", err);
        }
        if (r < 0)
                goto out;
        ev->revision = rev;
        *next = rev + 1;
        req->rc = 0;
        if (req->want_kv)
                kv_copy(&req->kv, &ev->kv);
        *ret_ev = k8c_steal(&ev);
out:
        k8c_kv_free(&cur);
        k8c_store_event_free(ev);
        return r;
}

static void complete(struct sqlite_store *s, struct wreq *batch)
{
        struct wreq *async = NULL;
        pthread_mutex_lock(&s->qlock);
        while (batch != NULL) {
                struct wreq *next = batch->next;
                if (batch->done_fn != NULL) {
                        batch->next = async;
                        async = batch;
                } else {
                        batch->done = true;
                        pthread_cond_signal(&batch->cond);
                }
                batch = next; /* a waited-for batch may be gone now: its caller owns it again */
        }
        pthread_mutex_unlock(&s->qlock);
        while (async != NULL) {
                struct wreq *next = async->next;
                async->done_fn(async->done_arg, async->rc, &async->kv, &async->err);
                k8c_kv_free(&async->kv);
                k8c_error_release(&async->err);
                free(async);
                async = next;
        }
}

static size_t event_bytes(const struct k8c_store_event *ev)
{
        size_t n = sizeof(*ev) + ev->kv.value_len + (ev->kv.key != NULL ? strlen(ev->kv.key) : 0);
        if (ev->prev.key != NULL)
                n += ev->prev.value_len + strlen(ev->prev.key);
        return n;
}

/* Called with hlock held. */
static void ring_evict_oldest(struct sqlite_store *s)
{
        size_t old = (size_t)(s->ring_first % (int64_t)s->ring_cap);
        s->ring_bytes -= event_bytes(s->ring[old]);
        k8c_store_event_free(s->ring[old]);
        s->ring[old] = NULL;
        s->ring_first++;
}

/* Appends committed events to the ring and wakes watchers. */
static void publish(struct sqlite_store *s, struct k8c_store_event **evs, size_t n, int64_t rev,
                    int64_t compact_rev)
{
        pthread_mutex_lock(&s->hlock);
        for (size_t i = 0; i < n; i++) {
                struct k8c_store_event *ev = evs[i];
                if (ev->revision - s->ring_first >= (int64_t)s->ring_cap)
                        ring_evict_oldest(s);
                s->ring[ev->revision % (int64_t)s->ring_cap] = ev;
                s->ring_bytes += event_bytes(ev);
                /* Big values must not make the ring hold gigabytes: past the byte budget the
                 * oldest events go (their watchers read them from the log table). */
                while (s->ring_bytes > s->ring_max_bytes && s->ring_first < ev->revision)
                        ring_evict_oldest(s);
        }
        s->rev = rev;
        if (compact_rev > s->compact_rev)
                s->compact_rev = compact_rev;
        pthread_cond_broadcast(&s->hcond);
        pthread_mutex_unlock(&s->hlock);
}

static void w_rollback(struct sqlite_store *s)
{
        if (!sqlite3_get_autocommit(s->wdb)) {
                sqlite3_step(s->w_rollback);
                sqlite3_reset(s->w_rollback);
        }
}

/* One group: BEGIN, apply every request, COMMIT, then acknowledge and publish. */
static void w_run_group(struct sqlite_store *s, struct wreq *batch, size_t n)
{
        cleanup_error k8c_error_t err = NULL;
        cleanup_free struct k8c_store_event **evs = k8c_xcalloc(n, sizeof(*evs));
        size_t nev = 0;
        int64_t next = s->wrev + 1;
        s->group_compact = 0;

        int r = 0;
        if (s->broken != NULL)
                r = k8c_make_error(&err, K8C_EUNAVAILABLE, "%s", s->broken);
        if (r >= 0)
                r = step_done(s->wdb, s->w_begin, "begin", &err);
        for (struct wreq *q = batch; r >= 0 && q != NULL; q = q->next) {
                struct k8c_store_event *ev = NULL;
                r = w_apply(s, q, &next, &ev, &err);
                if (ev != NULL)
                        evs[nev++] = ev;
        }
        if (r >= 0 && next - 1 > s->wrev)
                r = w_set_meta(s, "rev", next - 1, &err);
        if (r >= 0) {
                r = step_done(s->wdb, s->w_commit, "commit", &err);
                /* After a failed write or fsync the kernel's view of the file can no longer be
                 * trusted (the page cache may be dropped or kept): stop writing until a restart
                 * recovers from what is really on disk. */
                if (r < 0 && (sqlite3_extended_errcode(s->wdb) & 0xff) == SQLITE_IOERR)
                        s->broken = k8c_xasprintf("sqlite store: a commit failed (%s); restart to recover",
                                                  k8c_error_msg(&err));
        }
        if (r < 0) {
                w_rollback(s);
                for (size_t i = 0; i < nev; i++)
                        k8c_store_event_free(evs[i]);
                for (struct wreq *q = batch; q != NULL; q = q->next) {
                        k8c_kv_free(&q->kv);
                        q->rc = k8c_make_error(&q->err, k8c_error_reason(&err), "%s", k8c_error_msg(&err));
                }
                complete(s, batch);
                return;
        }
        s->wrev = next - 1;
        if (s->group_compact > s->compact_target) {
                s->compact_target = s->group_compact;
                s->compact_paused = false;
        }
        publish(s, evs, nev, s->wrev, s->group_compact);
        complete(s, batch);
}

/* One bounded compaction or vacuum step. Returns true while work remains. */
static bool w_maintenance_step(struct sqlite_store *s)
{
        cleanup_error k8c_error_t err = NULL;
        if (s->compact_done < s->compact_target) {
                int64_t hi = s->compact_done + (int64_t)s->compact_step;
                if (hi > s->compact_target)
                        hi = s->compact_target;
                sqlite3_bind_int64(s->w_compact, 1, s->compact_done);
                sqlite3_bind_int64(s->w_compact, 2, hi);
                sqlite3_bind_int64(s->w_compact, 3, s->compact_target);
                if (step_done(s->wdb, s->w_compact, "compact", &err) < 0) {
                        k8c_logv(4, "sqlite compaction step failed", "err=\"%s\"", k8c_error_msg(&err));
                        s->compact_paused = true; /* resumed by the next compaction request or restart */
                        return false;
                }
                s->compact_done = hi;
                if (s->compact_done >= s->compact_target)
                        s->vacuum_pending = true;
                return true;
        }
        if (s->vacuum_pending) {
                sqlite3_stmt *st = NULL;
                cleanup_free char *sql = k8c_xasprintf("PRAGMA incremental_vacuum(%zu)", s->vacuum_step);
                if (sqlite3_prepare_v2(s->wdb, "PRAGMA freelist_count", -1, &st, NULL) == SQLITE_OK &&
                    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0) {
                        sqlite3_finalize(st);
                        if (exec_sql(s->wdb, sql, &err) < 0) {
                                s->vacuum_pending = false;
                                return false;
                        }
                        return true;
                }
                sqlite3_finalize(st);
                s->vacuum_pending = false;
                /* Give the WAL's space back too; readers still in it just make this partial. */
                sqlite3_wal_checkpoint_v2(s->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        }
        return false;
}

/*
 * Checkpoints run on their own thread and connection so that the fsync of the
 * database file never lands inside a writer's COMMIT. A PASSIVE checkpoint
 * takes no write lock; once it has copied everything, the writer restarts the
 * WAL from its start (truncated to journal_size_limit), which bounds the file.
 */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
        struct sqlite_store *s = arg;
        if (frames >= CHECKPOINT_FRAMES) {
                pthread_mutex_lock(&s->clock);
                s->ckpt_wanted = true;
                pthread_cond_signal(&s->ccond);
                pthread_mutex_unlock(&s->clock);
        }
        return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
        struct sqlite_store *s = arg;
        pthread_mutex_lock(&s->clock);
        for (;;) {
                while (!s->ckpt_wanted && !s->ckpt_stop)
                        pthread_cond_wait(&s->ccond, &s->clock);
                if (s->ckpt_stop)
                        break;
                s->ckpt_wanted = false;
                pthread_mutex_unlock(&s->clock);
                /* Repeat while writers appended during the pass: only a checkpoint that copied
                 * every frame lets the writer restart the WAL at its start, so the file stops
                 * growing and its fsyncs stay cheap (overwriting, not extending). */
                for (int pass = 0; pass < 8; pass++) {
                        int log = 0, done = 0;
                        int rc = sqlite3_wal_checkpoint_v2(s->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                                           &done);
                        if (rc != SQLITE_OK) {
                                k8c_logv(4, "sqlite checkpoint", "rc=%d msg=\"%s\"", rc,
                                         sqlite3_errmsg(s->cdb));
                                break;
                        }
                        if (done >= log)
                                break;
                }
                pthread_mutex_lock(&s->clock);
        }
        pthread_mutex_unlock(&s->clock);
        return NULL;
}

/* Writes queue behind a maintenance step: keep each near MAINT_STEP_MS by resizing
 * it, and while writes wait give maintenance at most a quarter of the writer's time. */
static void w_maintenance(struct sqlite_store *s)
{
        int64_t start = now_ms();
        bool compacting = s->compact_done < s->compact_target;
        w_maintenance_step(s);
        int64_t took = now_ms() - start;
        size_t *step = compacting ? &s->compact_step : &s->vacuum_step;
        size_t max = compacting ? s->compact_batch : VACUUM_MAX_PAGES;
        if (took > MAINT_STEP_MS && *step > 16)
                *step /= 2;
        else if (took < MAINT_STEP_MS / 2 && *step < max)
                *step = *step * 2 > max ? max : *step * 2;
        s->maint_not_before = now_ms() + 3 * took;
}

static void *writer_main(void *arg)
{
        struct sqlite_store *s = arg;
        pthread_mutex_lock(&s->qlock);
        for (;;) {
                bool maintenance =
                        !s->compact_paused && (s->compact_done < s->compact_target || s->vacuum_pending);
                while (s->qhead == NULL && !s->stopping && !maintenance)
                        pthread_cond_wait(&s->qcond, &s->qlock);
                /* Idle: maintain at full speed. Busy: only when its time share allows. */
                maintenance = maintenance && (s->qhead == NULL || now_ms() >= s->maint_not_before);
                bool stopping = s->stopping;
                if (s->qhead == NULL && stopping)
                        break;
                struct wreq *batch = s->qhead, *last = NULL;
                size_t n = 0;
                for (struct wreq *q = s->qhead; q != NULL && n < MAX_GROUP; q = q->next) {
                        last = q;
                        n++;
                }
                if (last != NULL) {
                        s->qhead = last->next;
                        if (s->qhead == NULL)
                                s->qtail = &s->qhead;
                        last->next = NULL;
                }
                pthread_mutex_unlock(&s->qlock);
                if (n > 0)
                        w_run_group(s, batch, n);
                /* At most one bounded maintenance step between groups, so it never stalls writes. */
                if (maintenance && !stopping)
                        w_maintenance(s);
                pthread_mutex_lock(&s->qlock);
        }
        pthread_mutex_unlock(&s->qlock);
        return NULL;
}

/* Appends req to the writer's queue; called with qlock held. */
static void enqueue_locked(struct sqlite_store *s, struct wreq *req)
{
        req->next = NULL;
        *s->qtail = req;
        s->qtail = &req->next;
        pthread_cond_signal(&s->qcond);
}

/* Queues a write and waits for its acknowledgement (after COMMIT). */
static int submit(struct sqlite_store *s, struct wreq *req, struct k8c_kv *ret_kv, k8c_error_t *err)
{
        req->want_kv = ret_kv != NULL;
        cond_init(&req->cond);
        pthread_mutex_lock(&s->qlock);
        if (s->stopping) {
                pthread_mutex_unlock(&s->qlock);
                pthread_cond_destroy(&req->cond);
                return k8c_make_error(err, K8C_EUNAVAILABLE, "sqlite store is closing");
        }
        enqueue_locked(s, req);
        while (!req->done)
                pthread_cond_wait(&req->cond, &s->qlock);
        pthread_mutex_unlock(&s->qlock);
        pthread_cond_destroy(&req->cond);

        if (req->rc < 0) {
                int r = k8c_make_error(err, k8c_error_reason(&req->err), "%s", k8c_error_msg(&req->err));
                k8c_error_release(&req->err);
                if (ret_kv != NULL && req->kv.key != NULL)
                        *ret_kv = req->kv;
                else
                        k8c_kv_free(&req->kv);
                return r;
        }
        if (ret_kv != NULL)
                *ret_kv = req->kv;
        return 0;
}

/* ---- read pool -------------------------------------------------------------------- */

static struct rconn *pool_get(struct sqlite_store *s, k8c_error_t *err)
{
        pthread_mutex_lock(&s->plock);
        while (s->free_conns == NULL && !s->pool_closed)
                pthread_cond_wait(&s->pcond, &s->plock);
        struct rconn *c = NULL;
        if (!s->pool_closed) {
                c = s->free_conns;
                s->free_conns = c->next;
        }
        pthread_mutex_unlock(&s->plock);
        if (c == NULL)
                k8c_make_error(err, K8C_EUNAVAILABLE, "sqlite store is closed");
        return c;
}

static void pool_put(struct sqlite_store *s, struct rconn *c)
{
        pthread_mutex_lock(&s->plock);
        c->next = s->free_conns;
        s->free_conns = c;
        pthread_cond_signal(&s->pcond);
        pthread_mutex_unlock(&s->plock);
}

static void rconn_close(struct rconn *c)
{
        finalize_stmt(&c->get);
        finalize_stmt(&c->meta);
        finalize_stmt(&c->list_cur);
        finalize_stmt(&c->list_rev);
        finalize_stmt(&c->events);
        finalize_stmt(&c->begin);
        finalize_stmt(&c->commit);
        sqlite3_close_v2(c->db);
        c->db = NULL;
}

static int rconn_open(struct rconn *c, const char *path, k8c_error_t *err)
{
        int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK)
                return sql_error(err, c->db, rc, "open read connection");
        sqlite3_busy_timeout(c->db, 5000);
        int r = exec_sql(c->db, "PRAGMA query_only = ON", err);
        if (r >= 0)
                r = prepare(c->db,
                            "SELECT l.rev, l.create_rev, l.version, l.value FROM cur c JOIN log l ON l.rev = "
                            "c.rev"
                            " WHERE c.key = ?1",
                            &c->get, err);
        if (r >= 0)
                r = prepare(c->db,
                            "SELECT (SELECT value FROM meta WHERE name = 'rev'),"
                            " (SELECT value FROM meta WHERE name = 'compact_rev')",
                            &c->meta, err);
        if (r >= 0)
                r = prepare(c->db,
                            "SELECT c.key, l.rev, l.create_rev, l.version, l.value FROM cur c"
                            " JOIN log l ON l.rev = c.rev WHERE c.key >= ?1 AND c.key < ?2 AND c.key > ?3"
                            " ORDER BY c.key LIMIT ?4",
                            &c->list_cur, err);
        /* SQLite takes the bare columns of a max() aggregate from the row holding the max:
         * for each key, its newest row at or below the revision (dropped when a delete).
         * Grouping walks log_key_rev in key order, so LIMIT stops the scan early. */
        if (r >= 0)
                r = prepare(c->db,
                            "SELECT key, max(rev) AS rev, create_rev, version, value, op AS last_op FROM log"
                            " WHERE key >= ?1 AND key < ?2 AND key > ?3 AND rev <= ?5"
                            " GROUP BY key HAVING last_op != 3 ORDER BY key LIMIT ?4",
                            &c->list_rev, err);
        if (r >= 0)
                r = prepare(c->db,
                            "SELECT l.rev, l.key, l.op, l.create_rev, l.version, l.value,"
                            " p.rev, p.create_rev, p.version, p.value FROM log l"
                            " LEFT JOIN log p ON p.rev = l.prev_rev AND l.prev_rev != 0"
                            " WHERE l.rev >= ?3 AND l.rev < ?4 AND l.key >= ?1 AND l.key < ?2"
                            " ORDER BY l.rev LIMIT ?5",
                            &c->events, err);
        if (r >= 0)
                r = prepare(c->db, "BEGIN", &c->begin, err);
        if (r >= 0)
                r = prepare(c->db, "COMMIT", &c->commit, err);
        return r;
}

/* BEGIN + read of (rev, compact_rev): the snapshot starts here. */
static int read_begin(struct rconn *c, int64_t *ret_rev, int64_t *ret_compact, k8c_error_t *err)
{
        int r = step_done(c->db, c->begin, "begin", err);
        if (r < 0)
                return r;
        int rc = sqlite3_step(c->meta);
        if (rc != SQLITE_ROW) {
                sqlite3_reset(c->meta);
                return sql_error(err, c->db, rc, "read meta");
        }
        *ret_rev = sqlite3_column_int64(c->meta, 0);
        *ret_compact = sqlite3_column_int64(c->meta, 1);
        sqlite3_reset(c->meta);
        return 0;
}

static void read_end(struct rconn *c)
{
        if (!sqlite3_get_autocommit(c->db)) {
                sqlite3_step(c->commit);
                sqlite3_reset(c->commit);
        }
}

/* ---- operations ------------------------------------------------------------------- */

static struct sqlite_store *S(struct k8c_store *s)
{
        return (struct sqlite_store *)s;
}

static int sq_get(struct k8c_store *base, const char *key, struct k8c_kv *ret_kv, k8c_error_t *err)
{
        struct sqlite_store *s = S(base);
        struct rconn *c = pool_get(s, err);
        if (c == NULL)
                return -K8C_EUNAVAILABLE;
        sqlite3_bind_text(c->get, 1, key, -1, SQLITE_STATIC);
        int rc = sqlite3_step(c->get);
        int r = 0;
        if (rc == SQLITE_ROW)
                kv_fill(ret_kv, key, sqlite3_column_blob(c->get, 3), (size_t)sqlite3_column_bytes(c->get, 3),
                        sqlite3_column_int64(c->get, 1), sqlite3_column_int64(c->get, 0),
                        sqlite3_column_int64(c->get, 2));
        else if (rc == SQLITE_DONE)
                r = k8c_make_error(err, K8C_ENOTFOUND, "key %s not found", key);
        else
                r = sql_error(err, c->db, rc, "get");
        sqlite3_reset(c->get);
        pool_put(s, c);
        return r;
}

static int sq_list(struct k8c_store *base, const char *prefix, const struct k8c_list_opts *opts,
                   struct k8c_kv_list *ret_list, k8c_error_t *err)
{
        struct sqlite_store *s = S(base);
        static const struct k8c_list_opts none = { 0 };
        if (opts == NULL)
                opts = &none;
        struct rconn *c = pool_get(s, err);
        if (c == NULL)
                return -K8C_EUNAVAILABLE;
        int64_t rev = 0, compact = 0;
        struct k8c_kv_list l = { 0 };
        sqlite3_stmt *st = NULL;
        int r = read_begin(c, &rev, &compact, err);
        if (r < 0)
                goto out;
        if (opts->revision > rev) {
                r = k8c_make_error(err, K8C_ETOOLARGERV, "revision %lld is in the future (current %lld)",
                                   (long long)opts->revision, (long long)rev);
                goto out;
        }
        if (opts->revision > 0 && opts->revision < compact) {
                r = k8c_make_error(err, K8C_EEXPIRED, "revision %lld has been compacted (compacted %lld)",
                                   (long long)opts->revision, (long long)compact);
                goto out;
        }
        st = opts->revision > 0 && opts->revision < rev ? c->list_rev : c->list_cur;
        bind_prefix_range(st, 1, 2, prefix);
        sqlite3_bind_text(st, 3, opts->start_after != NULL ? opts->start_after : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, opts->limit > 0 ? (int64_t)opts->limit + 1 : -1);
        if (st == c->list_rev)
                sqlite3_bind_int64(st, 5, opts->revision);
        size_t cap = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (opts->limit > 0 && l.n == opts->limit) {
                        l.more = true;
                        break;
                }
                if (l.n == cap) {
                        cap = cap == 0 ? 16 : cap * 2;
                        l.items = k8c_xrealloc(l.items, cap * sizeof(*l.items));
                }
                kv_fill(&l.items[l.n++], (const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 4),
                        (size_t)sqlite3_column_bytes(st, 4), sqlite3_column_int64(st, 2),
                        sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 3));
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                r = sql_error(err, c->db, rc, "list");
out:
        if (st != NULL) {
                sqlite3_reset(st);
                sqlite3_clear_bindings(st);
        }
        read_end(c);
        pool_put(s, c);
        if (r < 0) {
                k8c_kv_list_free(&l);
                return r;
        }
        l.revision = opts->revision > 0 ? opts->revision : rev;
        *ret_list = l;
        return 0;
}

static int check_key(const char *key, k8c_error_t *err)
{
        if (key == NULL || *key == '\0')
                return k8c_make_error(err, K8C_EBADREQUEST, "empty storage key");
        return 0;
}

static int sq_create(struct k8c_store *base, const char *key, const char *value, size_t len,
                     struct k8c_kv *ret_kv, k8c_error_t *err)
{
        int r = check_key(key, err);
        if (r < 0)
                return r;
        struct wreq req = { .op = WOP_CREATE, .key = key, .value = value, .len = len };
        return submit(S(base), &req, ret_kv, err);
}

static int sq_create_async(struct k8c_store *base, const char *key, const char *value, size_t len,
                           k8c_store_done_fn done, void *arg, k8c_error_t *err)
{
        int r = check_key(key, err);
        if (r < 0)
                return r;
        struct sqlite_store *s = S(base);
        struct wreq *req = k8c_xcalloc(1, sizeof(*req));
        *req = (struct wreq){ .op = WOP_CREATE,
                              .key = key,
                              .value = value,
                              .len = len,
                              .want_kv = true,
                              .done_fn = done,
                              .done_arg = arg };
        pthread_mutex_lock(&s->qlock);
        if (s->stopping) {
                pthread_mutex_unlock(&s->qlock);
                free(req);
                return k8c_make_error(err, K8C_EUNAVAILABLE, "sqlite store is closing");
        }
        enqueue_locked(s, req);
        pthread_mutex_unlock(&s->qlock);
        return 0;
}

static int sq_update(struct k8c_store *base, const char *key, const char *value, size_t len, int64_t expected,
                     struct k8c_kv *ret_kv, k8c_error_t *err)
{
        int r = check_key(key, err);
        if (r < 0)
                return r;
        struct wreq req = { .op = WOP_UPDATE, .key = key, .value = value, .len = len, .expected = expected };
        return submit(S(base), &req, ret_kv, err);
}

static int sq_delete(struct k8c_store *base, const char *key, int64_t expected, struct k8c_kv *ret_kv,
                     k8c_error_t *err)
{
        int r = check_key(key, err);
        if (r < 0)
                return r;
        struct wreq req = { .op = WOP_DELETE, .key = key, .expected = expected };
        return submit(S(base), &req, ret_kv, err);
}

static int sq_compact(struct k8c_store *base, int64_t revision, k8c_error_t *err)
{
        if (revision <= 0)
                return k8c_make_error(err, K8C_EBADREQUEST, "compaction revision must be positive");
        struct wreq req = { .op = WOP_COMPACT, .expected = revision };
        return submit(S(base), &req, NULL, err);
}

static int sq_current_revision(struct k8c_store *base, int64_t *ret_rev, k8c_error_t *err)
{
        struct sqlite_store *s = S(base);
        pthread_mutex_lock(&s->hlock);
        *ret_rev = s->rev;
        pthread_mutex_unlock(&s->hlock);
        return 0;
}

static int sq_compacted_revision(struct k8c_store *base, int64_t *ret_rev, k8c_error_t *err)
{
        struct sqlite_store *s = S(base);
        pthread_mutex_lock(&s->hlock);
        *ret_rev = s->compact_rev;
        pthread_mutex_unlock(&s->hlock);
        return 0;
}

/* ---- watch -------------------------------------------------------------------------- */

static void store_unref(struct sqlite_store *s);

static int sq_watch(struct k8c_store *base, const char *prefix, int64_t from,
                    struct k8c_store_watch **ret_watch, k8c_error_t *err)
{
        struct sqlite_store *s = S(base);
        if (from < 0)
                return k8c_make_error(err, K8C_EBADREQUEST, "negative watch revision");
        pthread_mutex_lock(&s->hlock);
        if (s->closed) {
                pthread_mutex_unlock(&s->hlock);
                return k8c_make_error(err, K8C_EUNAVAILABLE, "sqlite store is closed");
        }
        if (from > 0 && from < s->compact_rev) {
                int64_t c = s->compact_rev;
                pthread_mutex_unlock(&s->hlock);
                return k8c_make_error(err, K8C_EEXPIRED,
                                      "watch from revision %lld: compacted (compacted %lld)", (long long)from,
                                      (long long)c);
        }
        struct sqlite_watch *w = k8c_xcalloc(1, sizeof(*w));
        w->base.store = base;
        w->s = s;
        w->prefix = k8c_xstrdup(prefix != NULL ? prefix : "");
        w->plen = strlen(w->prefix);
        w->next_rev = (from == 0 ? s->rev : from) + 1;
        s->refs++;
        pthread_mutex_unlock(&s->hlock);
        *ret_watch = &w->base;
        return 0;
}

/* Reads events [w->next_rev, upto) under the watch prefix from the log table into w->buf. */
static int watch_fill_from_log(struct sqlite_watch *w, int64_t upto, k8c_error_t *err)
{
        struct sqlite_store *s = w->s;
        struct rconn *c = pool_get(s, err);
        if (c == NULL)
                return -K8C_EUNAVAILABLE;
        int64_t rev = 0, compact = 0;
        sqlite3_stmt *st = c->events;
        int r = read_begin(c, &rev, &compact, err);
        if (r < 0)
                goto out;
        /* The compaction mark commits before any row goes, so in this snapshot every
         * row above compact is still there. */
        if (w->next_rev - 1 < compact) {
                r = k8c_make_error(err, K8C_EEXPIRED, "watch at revision %lld: compacted (compacted %lld)",
                                   (long long)(w->next_rev - 1), (long long)compact);
                goto out;
        }
        bind_prefix_range(st, 1, 2, w->prefix);
        sqlite3_bind_int64(st, 3, w->next_rev);
        sqlite3_bind_int64(st, 4, upto);
        sqlite3_bind_int(st, 5, LOG_FETCH);
        w->buf = k8c_xcalloc(LOG_FETCH, sizeof(*w->buf));
        w->nbuf = w->ibuf = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct k8c_store_event *ev = k8c_xcalloc(1, sizeof(*ev));
                int64_t erev = sqlite3_column_int64(st, 0);
                const char *key = (const char *)sqlite3_column_text(st, 1);
                int op = sqlite3_column_int(st, 2);
                ev->revision = erev;
                ev->type = op == OP_CREATE   ? K8C_STORE_CREATE
                           : op == OP_UPDATE ? K8C_STORE_UPDATE
                                             : K8C_STORE_DELETE;
                kv_fill(&ev->kv, key, sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5),
                        sqlite3_column_int64(st, 3), erev, sqlite3_column_int64(st, 4));
                if (sqlite3_column_type(st, 6) != SQLITE_NULL)
                        kv_fill(&ev->prev, key, sqlite3_column_blob(st, 9),
                                (size_t)sqlite3_column_bytes(st, 9), sqlite3_column_int64(st, 7),
                                sqlite3_column_int64(st, 6), sqlite3_column_int64(st, 8));
                w->buf[w->nbuf++] = ev;
                w->next_rev = erev + 1;
        }
        if (rc != SQLITE_DONE) {
                r = sql_error(err, c->db, rc, "read events");
        } else if (w->nbuf < LOG_FETCH) {
                w->next_rev = upto; /* nothing else under the prefix below upto */
        }
out:
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        read_end(c);
        pool_put(s, c);
        return r;
}

static void watch_buf_clear(struct sqlite_watch *w)
{
        for (size_t i = w->ibuf; i < w->nbuf; i++)
                k8c_store_event_free(w->buf[i]);
        free(w->buf);
        w->buf = NULL;
        w->nbuf = w->ibuf = 0;
}

static int sq_watch_next(struct k8c_store_watch *base, int timeout_ms, struct k8c_store_event **ret_ev,
                         k8c_error_t *err)
{
        struct sqlite_watch *w = (struct sqlite_watch *)base;
        struct sqlite_store *s = w->s;
        int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;

        for (;;) {
                if (w->ibuf < w->nbuf) {
                        *ret_ev = w->buf[w->ibuf++];
                        return 1;
                }
                watch_buf_clear(w);

                pthread_mutex_lock(&s->hlock);
                for (;;) {
                        if (s->closed) {
                                pthread_mutex_unlock(&s->hlock);
                                return k8c_make_error(err, K8C_EUNAVAILABLE, "sqlite store is closed");
                        }
                        if (w->next_rev < s->ring_first)
                                break; /* rotated out of the ring: read the log table */
                        while (w->next_rev <= s->rev) {
                                struct k8c_store_event *ev = s->ring[w->next_rev % (int64_t)s->ring_cap];
                                w->next_rev++;
                                if (has_prefix(ev->kv.key, w->prefix, w->plen)) {
                                        *ret_ev = event_copy(ev);
                                        pthread_mutex_unlock(&s->hlock);
                                        return 1;
                                }
                        }
                        if (timeout_ms < 0) {
                                pthread_cond_wait(&s->hcond, &s->hlock);
                        } else {
                                struct timespec ts;
                                abs_deadline(&ts, deadline);
                                if (pthread_cond_timedwait(&s->hcond, &s->hlock, &ts) == ETIMEDOUT &&
                                    w->next_rev > s->rev && !s->closed) {
                                        pthread_mutex_unlock(&s->hlock);
                                        return 0;
                                }
                        }
                }
                int64_t upto = s->ring_first;
                pthread_mutex_unlock(&s->hlock);
                int r = watch_fill_from_log(w, upto, err);
                if (r < 0)
                        return r;
        }
}

static void sq_watch_close(struct k8c_store_watch *base)
{
        struct sqlite_watch *w = (struct sqlite_watch *)base;
        struct sqlite_store *s = w->s;
        watch_buf_clear(w);
        free(w->prefix);
        free(w);
        store_unref(s);
}

/* ---- open / close --------------------------------------------------------------------- */

static void store_free(struct sqlite_store *s)
{
        if (s->ring != NULL)
                for (size_t i = 0; i < s->ring_cap; i++)
                        k8c_store_event_free(s->ring[i]);
        free(s->ring);
        free(s->conns);
        free(s->path);
        free(s->broken);
        pthread_mutex_destroy(&s->qlock);
        pthread_cond_destroy(&s->qcond);
        pthread_mutex_destroy(&s->plock);
        pthread_cond_destroy(&s->pcond);
        pthread_mutex_destroy(&s->hlock);
        pthread_cond_destroy(&s->hcond);
        pthread_mutex_destroy(&s->clock);
        pthread_cond_destroy(&s->ccond);
        free(s);
}

static void store_unref(struct sqlite_store *s)
{
        pthread_mutex_lock(&s->hlock);
        bool last = --s->refs == 0;
        pthread_mutex_unlock(&s->hlock);
        if (last)
                store_free(s);
}

/* Stops the writer (after draining the queue), closes every connection, wakes watchers. */
static void store_shutdown(struct sqlite_store *s)
{
        pthread_mutex_lock(&s->qlock);
        s->stopping = true;
        pthread_cond_signal(&s->qcond);
        pthread_mutex_unlock(&s->qlock);
        if (s->writer_started)
                pthread_join(s->writer, NULL);
        s->writer_started = false;

        pthread_mutex_lock(&s->clock);
        s->ckpt_stop = true;
        pthread_cond_signal(&s->ccond);
        pthread_mutex_unlock(&s->clock);
        if (s->ckpt_started)
                pthread_join(s->ckpt, NULL);
        s->ckpt_started = false;
        if (s->cdb != NULL)
                sqlite3_close_v2(s->cdb);
        s->cdb = NULL;

        pthread_mutex_lock(&s->hlock);
        s->closed = true;
        pthread_cond_broadcast(&s->hcond);
        pthread_mutex_unlock(&s->hlock);

        /* Wait for borrowed read connections to come back before closing them. */
        pthread_mutex_lock(&s->plock);
        for (;;) {
                size_t nfree = 0;
                for (struct rconn *c = s->free_conns; c != NULL; c = c->next)
                        nfree++;
                if (nfree == s->nopen)
                        break;
                pthread_cond_wait(&s->pcond, &s->plock);
        }
        s->pool_closed = true;
        pthread_cond_broadcast(&s->pcond);
        pthread_mutex_unlock(&s->plock);
        for (size_t i = 0; i < s->nconns; i++)
                rconn_close(&s->conns[i]);

        sqlite3_stmt **wst[] = { &s->w_begin,      &s->w_commit,   &s->w_rollback,
                                 &s->w_lookup,     &s->w_insert,   &s->w_upsert_cur,
                                 &s->w_delete_cur, &s->w_set_meta, &s->w_compact };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(wst); i++)
                finalize_stmt(wst[i]);
        if (s->wdb != NULL)
                sqlite3_close_v2(s->wdb);
        s->wdb = NULL;
        k8c_cleanup_closep(&s->lock_fd); /* releases the flock, after the last connection */
        s->lock_fd = -1;
}

static void sq_close(struct k8c_store *base)
{
        struct sqlite_store *s = S(base);
        store_shutdown(s);
        store_unref(s);
}

static int mkdir_p(const char *dir, k8c_error_t *err)
{
        cleanup_free char *p = k8c_xstrdup(dir);
        for (char *c = p + 1;; c++) {
                if (*c != '/' && *c != '\0')
                        continue;
                char saved = *c;
                *c = '\0';
                if (mkdir(p, 0700) < 0 && errno != EEXIST)
                        return k8c_make_errno(err, errno, "create directory %s", p);
                *c = saved;
                if (saved == '\0')
                        break;
        }
        struct stat st;
        if (stat(dir, &st) < 0)
                return k8c_make_errno(err, errno, "stat %s", dir);
        if (!S_ISDIR(st.st_mode))
                return k8c_make_error(err, K8C_EINTERNAL, "%s is not a directory", dir);
        /* The database holds every Secret: nobody but the owner may read it. */
        if ((st.st_mode & 077) != 0 && chmod(dir, 0700) < 0)
                return k8c_make_errno(err, errno, "chmod 0700 %s", dir);
        return 0;
}

static int corrupt_error(k8c_error_t *err, const char *path, const char *detail)
{
        return k8c_make_error(
                err, K8C_EINTERNAL,
                "database %s is corrupt (%s); refusing to start. The database and its WAL "
                "(%s-wal) were left untouched: restore from a backup or inspect them with sqlite3",
                path, detail, path);
}

static int quick_check(struct sqlite_store *s, k8c_error_t *err)
{
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->wdb, "PRAGMA quick_check", -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        int r = 0;
        if (rc == SQLITE_ROW) {
                const char *res = (const char *)sqlite3_column_text(st, 0);
                if (res == NULL || strcmp(res, "ok") != 0)
                        r = corrupt_error(err, s->path, res != NULL ? res : "quick_check failed");
        } else {
                int code = rc & 0xff;
                if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
                        r = corrupt_error(err, s->path, sqlite3_errmsg(s->wdb));
                else
                        r = sql_error(err, s->wdb, rc, "quick_check");
        }
        sqlite3_finalize(st);
        /* Closing the last connection would checkpoint the WAL into the damaged file and
         * delete it: keep both exactly as found. */
        if (r < 0)
                sqlite3_db_config(s->wdb, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        return r;
}

static int read_meta(struct sqlite_store *s, const char *name, int64_t *ret, k8c_error_t *err)
{
        sqlite3_stmt *st = NULL;
        int r = prepare(s->wdb, "SELECT value FROM meta WHERE name = ?1", &st, err);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret = sqlite3_column_int64(st, 0);
        else
                r = sql_error(err, s->wdb, rc, "read meta");
        sqlite3_finalize(st);
        return r;
}

static int open_writer(struct sqlite_store *s, k8c_error_t *err)
{
        int rc = sqlite3_open_v2(s->path, &s->wdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK)
                return sql_error(err, s->wdb, rc, "open");
        sqlite3_busy_timeout(s->wdb, 10000);
        int r = quick_check(s, err);
        if (r < 0)
                return r;
        /* auto_vacuum only takes effect before the first table exists (a new file). */
        r = exec_sql(s->wdb, "PRAGMA auto_vacuum = INCREMENTAL", err);
        if (r < 0)
                return r;
        sqlite3_stmt *st = NULL;
        r = prepare(s->wdb, "PRAGMA journal_mode = WAL", &st, err);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        bool wal = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
        sqlite3_finalize(st);
        if (!wal)
                return k8c_make_error(err, K8C_EINTERNAL, "sqlite: %s: cannot switch to WAL mode", s->path);
        r = exec_sql(
                s->wdb,
                "PRAGMA synchronous = FULL;"
                "PRAGMA journal_size_limit = 67108864;"
                "CREATE TABLE IF NOT EXISTS log("
                " rev INTEGER PRIMARY KEY, key TEXT NOT NULL, op INTEGER NOT NULL,"
                " create_rev INTEGER NOT NULL, prev_rev INTEGER NOT NULL, version INTEGER NOT NULL,"
                " value BLOB NOT NULL);"
                "CREATE INDEX IF NOT EXISTS log_key_rev ON log(key, rev);"
                "CREATE TABLE IF NOT EXISTS cur(key TEXT PRIMARY KEY, rev INTEGER NOT NULL) WITHOUT ROWID;"
                "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT "
                "ROWID;"
                "INSERT OR IGNORE INTO meta(name, value) VALUES('rev', 0), ('compact_rev', 0);",
                err);
        if (r < 0)
                return r;
        r = read_meta(s, "rev", &s->wrev, err);
        if (r >= 0)
                r = read_meta(s, "compact_rev", &s->compact_target, err);
        if (r < 0)
                return r;
        /* An interrupted compaction resumes from the oldest row still in the log. */
        r = prepare(s->wdb, "SELECT coalesce(min(rev), 0) FROM log", &st, err);
        if (r < 0)
                return r;
        if (sqlite3_step(st) == SQLITE_ROW)
                s->compact_done = sqlite3_column_int64(st, 0) - 1;
        sqlite3_finalize(st);
        if (s->compact_done < 0)
                s->compact_done = s->compact_target;

        struct {
                sqlite3_stmt **st;
                const char *sql;
        } stmts[] = {
                { &s->w_begin, "BEGIN IMMEDIATE" },
                { &s->w_commit, "COMMIT" },
                { &s->w_rollback, "ROLLBACK" },
                { &s->w_lookup,
                  "SELECT l.rev, l.create_rev, l.version, l.value FROM cur c JOIN log l ON l.rev = c.rev"
                  " WHERE c.key = ?1" },
                { &s->w_insert, "INSERT INTO log(rev, key, op, create_rev, prev_rev, version, value) "
                                "VALUES(?1, ?2, ?3, ?4, ?5, "
                                "?6, ?7)" },
                { &s->w_upsert_cur, "INSERT INTO cur(key, rev) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET "
                                    "rev = excluded.rev" },
                { &s->w_delete_cur, "DELETE FROM cur WHERE key = ?1" },
                { &s->w_set_meta,
                  "INSERT INTO meta(name, value) VALUES(?1, ?2) ON CONFLICT(name) DO UPDATE SET value = "
                  "excluded.value" },
                /* A row at or below the compaction revision goes when it is a delete or a newer
                 * row of its key exists at or below that revision. */
                { &s->w_compact,
                  "DELETE FROM log WHERE rev > ?1 AND rev <= ?2 AND (op = 3 OR EXISTS (SELECT 1 FROM log n"
                  " WHERE n.key = log.key AND n.rev > log.rev AND n.rev <= ?3))" },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(stmts); i++) {
                r = prepare(s->wdb, stmts[i].sql, stmts[i].st, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int k8c_store_sqlite_open(const struct k8c_store_config *cfg, struct k8c_store **ret, k8c_error_t *err)
{
        if (cfg->data_dir == NULL || *cfg->data_dir == '\0')
                return k8c_make_error(err, K8C_EBADREQUEST, "sqlite store: no data directory configured");
        int r = mkdir_p(cfg->data_dir, err);
        if (r < 0)
                return k8c_error_wrap(err, "sqlite store");

        struct sqlite_store *s = k8c_xcalloc(1, sizeof(*s));
        s->base.ops = &sqlite_ops;
        s->path = k8c_xasprintf("%s/k8c.db", cfg->data_dir);
        s->compact_batch = cfg->sqlite_compact_batch > 0 ? cfg->sqlite_compact_batch : DEFAULT_COMPACT_BATCH;
        s->compact_step = s->compact_batch;
        s->vacuum_step = 256;
        s->ring_cap = cfg->sqlite_ring_size > 0 ? cfg->sqlite_ring_size : DEFAULT_RING_SIZE;
        s->ring = k8c_xcalloc(s->ring_cap, sizeof(*s->ring));
        s->ring_max_bytes = s->ring_cap * RING_BYTES_PER_SLOT;
        s->nconns = cfg->sqlite_read_conns > 0 ? cfg->sqlite_read_conns : DEFAULT_READ_CONNS;
        s->conns = k8c_xcalloc(s->nconns, sizeof(*s->conns));
        s->refs = 1;
        s->lock_fd = -1;
        s->qtail = &s->qhead;
        pthread_mutex_init(&s->qlock, NULL);
        cond_init(&s->qcond);
        pthread_mutex_init(&s->plock, NULL);
        cond_init(&s->pcond);
        pthread_mutex_init(&s->hlock, NULL);
        cond_init(&s->hcond);
        pthread_mutex_init(&s->clock, NULL);
        cond_init(&s->ccond);

        /* Create the file ourselves so it is 0600 from the start; SQLite gives the WAL
         * and shm files the database file's mode. */
        {
                cleanup_free char *lock_path = k8c_xasprintf("%s/k8c.lock", cfg->data_dir);
                s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
                if (s->lock_fd < 0) {
                        r = k8c_make_errno(err, errno, "sqlite store: create %s", lock_path);
                        goto fail;
                }
                /* Revisions and the watch ring live in this process: a second one on the
                 * same file would hand out the same revisions. */
                if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                        r = errno == EWOULDBLOCK
                                    ? k8c_make_error(err, K8C_EUNAVAILABLE,
                                                     "sqlite store: %s is in use by another process", s->path)
                                    : k8c_make_errno(err, errno, "sqlite store: lock %s", lock_path);
                        goto fail;
                }
                cleanup_close int fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
                if (fd < 0) {
                        r = k8c_make_errno(err, errno, "sqlite store: create %s", s->path);
                        goto fail;
                }
                struct stat st;
                if (fstat(fd, &st) < 0 || ((st.st_mode & 077) != 0 && fchmod(fd, 0600) < 0)) {
                        r = k8c_make_errno(err, errno, "sqlite store: chmod 0600 %s", s->path);
                        goto fail;
                }
                /* An existing WAL or shm file gets the same treatment. */
                const char *suffixes[] = { "-wal", "-shm" };
                for (size_t i = 0; i < K8C_ARRAY_SIZE(suffixes); i++) {
                        cleanup_free char *side = k8c_xasprintf("%s%s", s->path, suffixes[i]);
                        if (stat(side, &st) == 0 && (st.st_mode & 077) != 0 && chmod(side, 0600) < 0) {
                                r = k8c_make_errno(err, errno, "sqlite store: chmod 0600 %s", side);
                                goto fail;
                        }
                }
                /* Make the new file's directory entry durable before anything is acknowledged. */
                cleanup_close int dfd = open(cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0 || fsync(fd) < 0 || fsync(dfd) < 0) {
                        r = k8c_make_errno(err, errno, "sqlite store: sync %s", s->path);
                        goto fail;
                }
        }
        r = open_writer(s, err);
        if (r < 0)
                goto fail;
        s->rev = s->wrev;
        s->compact_rev = s->compact_target;
        s->ring_first = s->rev + 1;

        for (size_t i = 0; i < s->nconns; i++) {
                r = rconn_open(&s->conns[i], s->path, err);
                if (r < 0)
                        goto fail;
                s->conns[i].next = s->free_conns;
                s->free_conns = &s->conns[i];
                s->nopen++;
        }
        int rc = sqlite3_open_v2(s->path, &s->cdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
                r = sql_error(err, s->cdb, rc, "open checkpoint connection");
                goto fail;
        }
        if (pthread_create(&s->ckpt, NULL, checkpointer_main, s) != 0) {
                r = k8c_make_errno(err, errno, "sqlite store: start checkpoint thread");
                goto fail;
        }
        s->ckpt_started = true;
        /* Replaces SQLite's automatic checkpoint, which would run inside the writer's COMMIT. */
        sqlite3_wal_hook(s->wdb, wal_hook, s);
        if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
                r = k8c_make_errno(err, errno, "sqlite store: start writer thread");
                goto fail;
        }
        s->writer_started = true;
        k8c_logv(4, "sqlite store open", "path=%s rev=%lld compacted=%lld", s->path, (long long)s->rev,
                 (long long)s->compact_rev);
        *ret = &s->base;
        return 0;
fail:
        store_shutdown(s);
        store_unref(s);
        return k8c_error_wrap(err, "sqlite store %s", cfg->data_dir);
}

static const struct k8c_store_ops sqlite_ops = {
        .name = "sqlite",
        .get = sq_get,
        .list = sq_list,
        .create = sq_create,
        .create_async = sq_create_async,
        .update = sq_update,
        .delete = sq_delete,
        .watch = sq_watch,
        .watch_next = sq_watch_next,
        .watch_close = sq_watch_close,
        .compact = sq_compact,
        .current_revision = sq_current_revision,
        .compacted_revision = sq_compacted_revision,
        .close = sq_close,
};
