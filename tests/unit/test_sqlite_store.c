/*
 * Unit tests for the SQLite backend's own promises (beyond the shared
 * conformance suite): persistence across reopen, file modes, refusing a corrupt
 * database without touching it, watchers crossing from the in-memory ring to the
 * log table, lagging watchers hitting compaction, compaction giving file space
 * back, and closing with watches still open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/store.h"

struct fx {
        char root[64];  /* mkdtemp dir, removed at teardown */
        char *data_dir; /* root/data/dir (not created by the test) */
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        remove(path);
        return 0;
}

static int setup(void **state)
{
        struct fx *fx = k8c_xcalloc(1, sizeof(*fx));
        snprintf(fx->root, sizeof(fx->root), "/tmp/k8c-sqlite-unit-XXXXXX");
        if (mkdtemp(fx->root) == NULL) {
                free(fx);
                return -1;
        }
        fx->data_dir = k8c_xasprintf("%s/data/dir", fx->root);
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        struct fx *fx = *state;
        nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(fx->data_dir);
        free(fx);
        return 0;
}

static struct k8c_store *open_store(struct fx *fx, size_t ring, size_t compact_batch)
{
        struct k8c_store_config cfg = { .data_dir = fx->data_dir,
                                        .sqlite_ring_size = ring,
                                        .sqlite_compact_batch = compact_batch };
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store *s = NULL;
        if (k8c_store_open(&cfg, &s, &err) < 0)
                fail_msg("open: %s", k8c_error_msg(&err));
        assert_string_equal(s->ops->name, "sqlite");
        return s;
}

static int64_t put(struct k8c_store *s, const char *key, const char *value, size_t len)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_kv kv = { 0 };
        int r = k8c_store_get(s, key, &kv, &err);
        k8c_kv_free(&kv);
        k8c_error_release(&err);
        if (r == 0)
                r = k8c_store_update(s, key, value, len, 0, &kv, &err);
        else
                r = k8c_store_create(s, key, value, len, &kv, &err);
        if (r < 0)
                fail_msg("put %s: %s", key, k8c_error_msg(&err));
        int64_t rev = kv.mod_revision;
        k8c_kv_free(&kv);
        return rev;
}

static int64_t rev_now(struct k8c_store *s)
{
        int64_t r = -1;
        assert_int_equal(k8c_store_current_revision(s, &r, NULL), 0);
        return r;
}

static void test_persistence_and_modes(void **state)
{
        struct fx *fx = *state;
        struct k8c_store *s = open_store(fx, 0, 0);
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(put(s, "/a", "1", 1), 1);
        assert_int_equal(put(s, "/a", "2", 1), 2);
        assert_int_equal(put(s, "/b", "3", 1), 3);
        assert_int_equal(k8c_store_delete(s, "/b", 0, NULL, &err), 0);
        assert_int_equal(k8c_store_compact(s, 2, &err), 0);

        struct stat st;
        assert_int_equal(stat(fx->data_dir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        cleanup_free char *parent = k8c_xasprintf("%s/data", fx->root);
        assert_int_equal(stat(parent, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        cleanup_free char *db = k8c_xasprintf("%s/k8c.db", fx->data_dir);
        cleanup_free char *wal = k8c_xasprintf("%s/k8c.db-wal", fx->data_dir);
        assert_int_equal(stat(db, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(stat(wal, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        /* the file itself says WAL and incremental auto-vacuum */
        sqlite3 *db3 = NULL;
        assert_int_equal(sqlite3_open_v2(db, &db3, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        const char *pragmas[][2] = { { "PRAGMA journal_mode", "wal" }, { "PRAGMA auto_vacuum", "2" } };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(pragmas); i++) {
                sqlite3_stmt *q = NULL;
                assert_int_equal(sqlite3_prepare_v2(db3, pragmas[i][0], -1, &q, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_step(q), SQLITE_ROW);
                assert_string_equal((const char *)sqlite3_column_text(q, 0), pragmas[i][1]);
                sqlite3_finalize(q);
        }
        sqlite3_close(db3);
        /* a second opener of the same database is refused while the first holds it */
        struct k8c_store_config cfg = { .data_dir = fx->data_dir };
        struct k8c_store *second = NULL;
        assert_int_equal(k8c_store_open(&cfg, &second, &err), -K8C_EUNAVAILABLE);
        assert_null(second);
        assert_non_null(strstr(k8c_error_msg(&err), "in use by another process"));
        k8c_error_release(&err);
        k8c_store_close(s);

        s = open_store(fx, 0, 0);
        assert_int_equal(rev_now(s), 4);
        int64_t compacted = -1;
        assert_int_equal(s->ops->compacted_revision(s, &compacted, &err), 0);
        assert_int_equal(compacted, 2);
        struct k8c_kv kv = { 0 };
        assert_int_equal(k8c_store_get(s, "/a", &kv, &err), 0);
        assert_string_equal(kv.value, "2");
        assert_int_equal(kv.create_revision, 1);
        assert_int_equal(kv.mod_revision, 2);
        assert_int_equal(kv.version, 2);
        k8c_kv_free(&kv);
        assert_int_equal(k8c_store_get(s, "/b", &kv, &err), -K8C_ENOTFOUND);
        k8c_error_release(&err);
        struct k8c_kv_list l = { 0 };
        struct k8c_list_opts o = { .revision = 3 };
        assert_int_equal(k8c_store_list(s, "/", &o, &l, &err), 0);
        assert_int_equal(l.n, 2);
        assert_string_equal(l.items[1].key, "/b");
        k8c_kv_list_free(&l);
        o.revision = 1;
        assert_int_equal(k8c_store_list(s, "/", &o, &l, &err), -K8C_EEXPIRED);
        k8c_error_release(&err);
        /* revisions continue */
        assert_int_equal(put(s, "/c", "4", 1), 5);
        /* keys must be non-empty */
        assert_int_equal(k8c_store_create(s, "", "x", 1, NULL, &err), -K8C_EBADREQUEST);
        k8c_store_close(s);
}

/* An existing, too-open directory and database are tightened to 0700 / 0600. */
static void test_tightens_modes(void **state)
{
        struct fx *fx = *state;
        cleanup_free char *parent = k8c_xasprintf("%s/data", fx->root);
        assert_int_equal(mkdir(parent, 0755), 0);
        assert_int_equal(chmod(parent, 0755), 0); /* whatever the umask */
        assert_int_equal(mkdir(fx->data_dir, 0755), 0);
        assert_int_equal(chmod(fx->data_dir, 0755), 0);
        cleanup_free char *db = k8c_xasprintf("%s/k8c.db", fx->data_dir);
        {
                cleanup_close int fd = open(db, O_WRONLY | O_CREAT, 0644);
                assert_true(fd >= 0);
                assert_int_equal(fchmod(fd, 0644), 0);
        }
        struct k8c_store *s = open_store(fx, 0, 0);
        assert_int_equal(put(s, "/a", "1", 1), 1);
        struct stat st;
        assert_int_equal(stat(fx->data_dir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        assert_int_equal(stat(db, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(stat(parent, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0755); /* only the database directory itself */
        k8c_store_close(s);
}

static void test_refuses_corrupt_database(void **state)
{
        struct fx *fx = *state;
        struct k8c_store *s = open_store(fx, 0, 0);
        for (int i = 0; i < 50; i++)
                put(s, "/k", "some value", 10);
        k8c_store_close(s);

        cleanup_free char *db = k8c_xasprintf("%s/k8c.db", fx->data_dir);
        char garbage[100];
        memset(garbage, 'Z', sizeof(garbage));
        {
                cleanup_close int fd = open(db, O_WRONLY);
                assert_true(fd >= 0);
                assert_int_equal(pwrite(fd, garbage, sizeof(garbage), 0), sizeof(garbage));
        }
        struct stat before;
        assert_int_equal(stat(db, &before), 0);

        struct k8c_store_config cfg = { .data_dir = fx->data_dir };
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store *bad = NULL;
        assert_int_equal(k8c_store_open(&cfg, &bad, &err), -K8C_EINTERNAL);
        assert_null(bad);
        assert_non_null(strstr(k8c_error_msg(&err), "is corrupt"));
        assert_non_null(strstr(k8c_error_msg(&err), "refusing to start"));
        assert_non_null(strstr(k8c_error_msg(&err), db));

        /* the file was left exactly as found */
        struct stat after;
        assert_int_equal(stat(db, &after), 0);
        assert_int_equal(after.st_size, before.st_size);
        char head[100];
        {
                cleanup_close int fd = open(db, O_RDONLY);
                assert_true(fd >= 0);
                assert_int_equal(pread(fd, head, sizeof(head), 0), sizeof(head));
        }
        assert_memory_equal(head, garbage, sizeof(garbage));
}

/* A damaged page inside an otherwise valid file: quick_check reports it and the WAL stays. */
static void test_refuses_damaged_page_keeps_wal(void **state)
{
        struct fx *fx = *state;
        struct k8c_store *s = open_store(fx, 0, 0);
        char big[3000];
        char key[32];
        memset(big, 'v', sizeof(big));
        for (int i = 0; i < 200; i++) {
                snprintf(key, sizeof(key), "/k/%03d", i);
                put(s, key, big, sizeof(big));
        }
        k8c_store_close(s); /* checkpoints everything into the main file */

        cleanup_free char *db = k8c_xasprintf("%s/k8c.db", fx->data_dir);
        cleanup_free char *wal = k8c_xasprintf("%s/k8c.db-wal", fx->data_dir);
        struct stat st;
        assert_int_equal(stat(db, &st), 0);
        assert_true(st.st_size > 20 * 4096);
        /* Scribble over pages 3..12 (b-tree pages of the tables). */
        char junk[4096 * 10];
        memset(junk, 0xA5, sizeof(junk));
        {
                cleanup_close int fd = open(db, O_WRONLY);
                assert_true(fd >= 0);
                assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096 * 2), sizeof(junk));
        }
        /* A WAL the store must not delete. */
        const char walbytes[] = "not a real wal, but it is the operator's";
        {
                cleanup_close int fd = open(wal, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                assert_true(fd >= 0);
                assert_int_equal(write(fd, walbytes, sizeof(walbytes)), sizeof(walbytes));
        }
        struct k8c_store_config cfg = { .data_dir = fx->data_dir };
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store *bad = NULL;
        assert_true(k8c_store_open(&cfg, &bad, &err) < 0);
        assert_null(bad);
        assert_non_null(strstr(k8c_error_msg(&err), "refusing to start"));
        assert_int_equal(stat(wal, &st), 0);
        assert_int_equal(st.st_size, sizeof(walbytes));
}

static void test_watch_crosses_ring_into_log(void **state)
{
        struct fx *fx = *state;
        struct k8c_store *s = open_store(fx, 8, 0);
        cleanup_error k8c_error_t err = NULL;
        char key[32], val[32];
        put(s, "/first", "1", 1); /* so that r0 > 0 (watch from 0 means now) */
        int64_t r0 = rev_now(s);
        for (int i = 0; i < 300; i++) {
                snprintf(key, sizeof(key), "/%s/%d", i % 3 == 0 ? "a" : "b", i % 7);
                snprintf(val, sizeof(val), "v%d", i);
                put(s, key, val, strlen(val));
        }
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/a/", r0, &w, &err), 0);
        int64_t last_rev[7] = { 0 };
        int n = 0;
        for (int i = 0; i < 300; i++) {
                if (i % 3 != 0)
                        continue;
                struct k8c_store_event *ev = NULL;
                assert_int_equal(k8c_store_watch_next(w, 2000, &ev, &err), 1);
                snprintf(key, sizeof(key), "/a/%d", i % 7);
                snprintf(val, sizeof(val), "v%d", i);
                assert_int_equal(ev->revision, r0 + 1 + i);
                assert_string_equal(ev->kv.key, key);
                assert_string_equal(ev->kv.value, val);
                if (last_rev[i % 7] == 0) {
                        assert_int_equal(ev->type, K8C_STORE_CREATE);
                        assert_null(ev->prev.key);
                } else {
                        assert_int_equal(ev->type, K8C_STORE_UPDATE);
                        assert_int_equal(ev->prev.mod_revision, last_rev[i % 7]);
                }
                last_rev[i % 7] = ev->revision;
                k8c_store_event_free(ev);
                n++;
        }
        assert_int_equal(n, 100);
        /* then live, from the ring */
        int64_t r = put(s, "/a/live", "x", 1);
        struct k8c_store_event *ev = NULL;
        assert_int_equal(k8c_store_watch_next(w, 2000, &ev, &err), 1);
        assert_int_equal(ev->revision, r);
        k8c_store_event_free(ev);
        assert_int_equal(k8c_store_watch_next(w, 20, &ev, &err), 0);
        k8c_store_watch_close(w);
        k8c_store_close(s);
}

/* Big values: the ring's byte budget (16 KiB per slot) evicts early; watchers still get everything. */
static void test_ring_byte_budget(void **state)
{
        struct fx *fx = *state;
        struct k8c_store *s = open_store(fx, 8, 0); /* 128 KiB budget */
        cleanup_error k8c_error_t err = NULL;
        int64_t r0 = put(s, "/first", "1", 1);
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/big/", r0, &w, &err), 0);
        size_t len = 100 * 1024;
        cleanup_free char *big = k8c_xmalloc(len);
        char key[32];
        for (int i = 0; i < 12; i++) {
                memset(big, 'a' + i, len);
                snprintf(key, sizeof(key), "/big/%d", i % 2);
                put(s, key, big, len);
        }
        for (int i = 0; i < 12; i++) {
                struct k8c_store_event *ev = NULL;
                assert_int_equal(k8c_store_watch_next(w, 2000, &ev, &err), 1);
                assert_int_equal(ev->revision, r0 + 1 + i);
                assert_int_equal(ev->type, i < 2 ? K8C_STORE_CREATE : K8C_STORE_UPDATE);
                assert_int_equal(ev->kv.value_len, len);
                assert_int_equal(ev->kv.value[0], 'a' + i);
                assert_int_equal(ev->kv.value[len - 1], 'a' + i);
                if (i >= 2) {
                        assert_int_equal(ev->prev.value_len, len);
                        assert_int_equal(ev->prev.value[0], 'a' + i - 2);
                        assert_int_equal(ev->prev.mod_revision, r0 + 1 + i - 2);
                }
                k8c_store_event_free(ev);
        }
        struct k8c_store_event *ev = NULL;
        assert_int_equal(k8c_store_watch_next(w, 20, &ev, &err), 0);
        k8c_store_watch_close(w);
        k8c_store_close(s);
}

static void test_lagging_watch_hits_compaction(void **state)
{
        struct fx *fx = *state;
        struct k8c_store *s = open_store(fx, 8, 0);
        cleanup_error k8c_error_t err = NULL;
        int64_t r0 = put(s, "/x", "0", 1);
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/", 0, &w, &err), 0);
        for (int i = 0; i < 40; i++)
                put(s, "/x", "1", 1);
        assert_int_equal(k8c_store_compact(s, r0 + 20, &err), 0);
        struct k8c_store_event *ev = NULL;
        assert_int_equal(k8c_store_watch_next(w, 2000, &ev, &err), -K8C_EEXPIRED);
        assert_null(ev);
        k8c_store_watch_close(w);
        k8c_store_close(s);
}

static off_t file_size(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_compaction_reclaims_space(void **state)
{
        struct fx *fx = *state;
        struct k8c_store *s = open_store(fx, 16, 50);
        cleanup_error k8c_error_t err = NULL;
        size_t len = 32 * 1024;
        cleanup_free char *big = k8c_xmalloc(len);
        char key[32];
        for (int i = 0; i < 400; i++) {
                memset(big, 'a' + i % 26, len);
                snprintf(key, sizeof(key), "/big/%d", i % 4);
                put(s, key, big, len);
        }
        cleanup_free char *db = k8c_xasprintf("%s/k8c.db", fx->data_dir);
        cleanup_free char *wal = k8c_xasprintf("%s/k8c.db-wal", fx->data_dir);
        assert_true(file_size(db) + file_size(wal) > 8 * 1024 * 1024); /* 400 x 32 KiB of history */
        int64_t rev = rev_now(s);
        assert_int_equal(k8c_store_compact(s, rev, &err), 0);
        /* background work; give it up to 20 s */
        for (int i = 0; i < 200; i++) {
                if (file_size(db) < 2 * 1024 * 1024 && file_size(wal) < 2 * 1024 * 1024)
                        break;
                usleep(100 * 1000);
        }
        assert_true(file_size(db) < 2 * 1024 * 1024);
        assert_true(file_size(wal) < 2 * 1024 * 1024);
        /* the live state is intact */
        struct k8c_kv_list l = { 0 };
        assert_int_equal(k8c_store_list(s, "/big/", NULL, &l, &err), 0);
        assert_int_equal(l.n, 4);
        for (size_t i = 0; i < 4; i++) {
                assert_int_equal(l.items[i].value_len, len);
                assert_int_equal(l.items[i].version, 100);
                assert_int_equal(l.items[i].value[0], 'a' + (int)(396 + i) % 26);
        }
        k8c_kv_list_free(&l);
        assert_int_equal(put(s, "/big/0", "small", 5), rev + 1);
        k8c_store_close(s);
}

/* A COMMIT that fails with an I/O error (here: a file size limit, EFBIG) stops all
 * writes until a restart; nothing acknowledged is lost and revisions stay dense. */
static void test_io_error_stops_writes(void **state)
{
        struct fx *fx = *state;
        struct k8c_store *s = open_store(fx, 0, 0);
        cleanup_error k8c_error_t err = NULL;
        size_t len = 64 * 1024;
        cleanup_free char *big = k8c_xmalloc(len);
        memset(big, 'x', len);
        int64_t acked = put(s, "/io/0", big, len);

        cleanup_free char *wal = k8c_xasprintf("%s/k8c.db-wal", fx->data_dir);
        struct rlimit old;
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        struct rlimit lim = { .rlim_cur = (rlim_t)file_size(wal) + 256 * 1024, .rlim_max = old.rlim_max };
        void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        int failed_at = -1, r = 0;
        char key[32];
        for (int i = 1; i < 200 && failed_at < 0; i++) {
                snprintf(key, sizeof(key), "/io/%d", i);
                struct k8c_kv kv = { 0 };
                r = k8c_store_create(s, key, big, len, &kv, &err);
                if (r < 0)
                        failed_at = i;
                else
                        acked = kv.mod_revision;
                k8c_kv_free(&kv);
        }
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        signal(SIGXFSZ, old_handler);
        assert_true(failed_at > 0);
        assert_int_equal(r, -K8C_EINTERNAL);
        k8c_error_release(&err);
        assert_int_equal(rev_now(s), acked);

        /* the limit is gone, but the store refuses writes until restarted; reads still work */
        assert_int_equal(k8c_store_create(s, "/io/after", "x", 1, NULL, &err), -K8C_EUNAVAILABLE);
        assert_non_null(strstr(k8c_error_msg(&err), "restart"));
        k8c_error_release(&err);
        struct k8c_kv_list l = { 0 };
        assert_int_equal(k8c_store_list(s, "/io/", NULL, &l, &err), 0);
        assert_int_equal(l.n, (size_t)failed_at);
        k8c_kv_list_free(&l);
        k8c_store_close(s);

        s = open_store(fx, 0, 0);
        assert_int_equal(rev_now(s), acked);
        assert_int_equal(k8c_store_list(s, "/io/", NULL, &l, &err), 0);
        assert_int_equal(l.n, (size_t)failed_at);
        assert_int_equal(l.items[l.n - 1].value_len, len);
        k8c_kv_list_free(&l);
        assert_int_equal(put(s, "/io/after", "x", 1), acked + 1);
        k8c_store_close(s);
}

struct waiter {
        struct k8c_store_watch *w;
        int rc;
        k8c_reason_t reason;
};

static void *wait_watch(void *p)
{
        struct waiter *a = p;
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store_event *ev = NULL;
        a->rc = k8c_store_watch_next(a->w, -1, &ev, &err);
        a->reason = k8c_error_reason(&err);
        k8c_store_event_free(ev);
        return NULL;
}

static void test_close_with_open_watches(void **state)
{
        struct fx *fx = *state;
        struct k8c_store *s = open_store(fx, 0, 0);
        cleanup_error k8c_error_t err = NULL;
        struct waiter a = { 0 };
        assert_int_equal(k8c_store_watch(s, "/", 0, &a.w, &err), 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, wait_watch, &a), 0);
        usleep(50 * 1000);
        k8c_store_close(s); /* wakes the blocked watcher */
        pthread_join(th, NULL);
        assert_int_equal(a.rc, -K8C_EUNAVAILABLE);
        assert_int_equal(a.reason, K8C_EUNAVAILABLE);
        k8c_store_watch_close(a.w); /* frees the last reference */
}

#define GC_WRITERS 64
#define GC_WRITES 20

struct gc_arg {
        struct k8c_store *s;
        int id;
        int ok;
};

static void *gc_writer(void *p)
{
        struct gc_arg *a = p;
        char key[32];
        for (int i = 0; i < GC_WRITES; i++) {
                cleanup_error k8c_error_t err = NULL;
                snprintf(key, sizeof(key), "/gc/%d/%d", a->id, i);
                if (k8c_store_create(a->s, key, key, strlen(key), NULL, &err) == 0)
                        a->ok++;
        }
        return NULL;
}

/* 64 writers at once: everything acknowledged is there, revisions dense. */
static void test_many_writers(void **state)
{
        struct fx *fx = *state;
        struct k8c_store *s = open_store(fx, 0, 0);
        cleanup_error k8c_error_t err = NULL;
        pthread_t th[GC_WRITERS];
        struct gc_arg args[GC_WRITERS];
        for (int i = 0; i < GC_WRITERS; i++) {
                args[i] = (struct gc_arg){ .s = s, .id = i };
                assert_int_equal(pthread_create(&th[i], NULL, gc_writer, &args[i]), 0);
        }
        int ok = 0;
        for (int i = 0; i < GC_WRITERS; i++) {
                pthread_join(th[i], NULL);
                ok += args[i].ok;
        }
        assert_int_equal(ok, GC_WRITERS * GC_WRITES);
        assert_int_equal(rev_now(s), GC_WRITERS * GC_WRITES);
        struct k8c_kv_list l = { 0 };
        assert_int_equal(k8c_store_list(s, "/gc/", NULL, &l, &err), 0);
        assert_int_equal(l.n, GC_WRITERS * GC_WRITES);
        k8c_kv_list_free(&l);
        k8c_store_close(s);
}

/* ---- writers, readers, a watcher and compaction all at once ------------------------------ */

#define ST_WRITERS 4
#define ST_KEYS 10   /* per writer */
#define ST_ROUNDS 60 /* updates per key */

struct stress {
        struct k8c_store *s;
        atomic_bool stop;
        atomic_int failures;
        atomic_long list_checks, expired;
};

struct stress_writer {
        struct stress *st;
        int id;
};

static void *stress_write(void *p)
{
        struct stress_writer *a = p;
        char key[64], val[64];
        for (int round = 0; round <= ST_ROUNDS; round++)
                for (int k = 0; k < ST_KEYS; k++) {
                        cleanup_error k8c_error_t err = NULL;
                        snprintf(key, sizeof(key), "/s/%d/%d", a->id, k);
                        int n = snprintf(val, sizeof(val), "%d", round);
                        int r = round == 0 ? k8c_store_create(a->st->s, key, val, (size_t)n, NULL, &err)
                                           : k8c_store_update(a->st->s, key, val, (size_t)n, 0, NULL, &err);
                        if (r < 0)
                                atomic_fetch_add(&a->st->failures, 1);
                }
        return NULL;
}

/* A list at the current revision R and a list at exactly R must agree (or R was compacted). */
static void *stress_read(void *p)
{
        struct stress *st = p;
        while (!atomic_load(&st->stop)) {
                cleanup_error k8c_error_t err = NULL;
                struct k8c_kv_list a = { 0 }, b = { 0 };
                if (k8c_store_list(st->s, "/s/", NULL, &a, &err) < 0) {
                        atomic_fetch_add(&st->failures, 1);
                        continue;
                }
                struct k8c_list_opts o = { .revision = a.revision };
                int r = k8c_store_list(st->s, "/s/", &o, &b, &err);
                if (r == -K8C_EEXPIRED) {
                        atomic_fetch_add(&st->expired, 1);
                } else if (r < 0 || a.n != b.n || b.revision != a.revision) {
                        atomic_fetch_add(&st->failures, 1);
                } else {
                        for (size_t i = 0; i < a.n; i++)
                                if (strcmp(a.items[i].key, b.items[i].key) != 0 ||
                                    a.items[i].mod_revision != b.items[i].mod_revision ||
                                    strcmp(a.items[i].value, b.items[i].value) != 0 ||
                                    a.items[i].mod_revision > a.revision)
                                        atomic_fetch_add(&st->failures, 1);
                        atomic_fetch_add(&st->list_checks, 1);
                }
                k8c_kv_list_free(&a);
                k8c_kv_list_free(&b);
                usleep(200); /* leave CPU to the writers */
        }
        return NULL;
}

static void *stress_compact(void *p)
{
        struct stress *st = p;
        int64_t last = 0;
        while (!atomic_load(&st->stop)) {
                cleanup_error k8c_error_t err = NULL;
                int64_t cur = rev_now(st->s);
                if (cur - 40 > last) {
                        if (k8c_store_compact(st->s, cur - 40, &err) < 0)
                                atomic_fetch_add(&st->failures, 1);
                        last = cur - 40;
                }
                usleep(5000);
        }
        return NULL;
}

static void test_stress_with_compaction(void **state)
{
        struct fx *fx = *state;
        struct stress st = { .s = open_store(fx, 0, 16) };
        cleanup_error k8c_error_t err = NULL;
        int64_t r0 = put(st.s, "/first", "1", 1);
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(st.s, "/s/", r0, &w, &err), 0);

        pthread_t wt[ST_WRITERS], rt[2], ct;
        struct stress_writer wa[ST_WRITERS];
        for (int i = 0; i < ST_WRITERS; i++) {
                wa[i] = (struct stress_writer){ .st = &st, .id = i };
                assert_int_equal(pthread_create(&wt[i], NULL, stress_write, &wa[i]), 0);
        }
        for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&rt[i], NULL, stress_read, &st), 0);
        assert_int_equal(pthread_create(&ct, NULL, stress_compact, &st), 0);

        /* every write is one event, in revision order, with the right previous value */
        const int total = ST_WRITERS * ST_KEYS * (ST_ROUNDS + 1);
        int last_round[ST_WRITERS][ST_KEYS];
        memset(last_round, 0xff, sizeof(last_round));
        for (int i = 0; i < total; i++) {
                struct k8c_store_event *ev = NULL;
                assert_int_equal(k8c_store_watch_next(w, 10000, &ev, &err), 1);
                assert_int_equal(ev->revision, r0 + 1 + i);
                int id = -1, k = -1;
                assert_int_equal(sscanf(ev->kv.key, "/s/%d/%d", &id, &k), 2);
                int round = atoi(ev->kv.value);
                assert_int_equal(round, last_round[id][k] + 1);
                if (round == 0)
                        assert_null(ev->prev.key);
                else
                        assert_int_equal(atoi(ev->prev.value), round - 1);
                last_round[id][k] = round;
                k8c_store_event_free(ev);
        }
        for (int i = 0; i < ST_WRITERS; i++)
                pthread_join(wt[i], NULL);
        atomic_store(&st.stop, true);
        for (int i = 0; i < 2; i++)
                pthread_join(rt[i], NULL);
        pthread_join(ct, NULL);
        k8c_store_watch_close(w);

        assert_int_equal(atomic_load(&st.failures), 0);
        assert_true(atomic_load(&st.list_checks) > 0);
        printf("stress: %d writes, %ld consistent list pairs, %ld lists expired by compaction\n", total,
               atomic_load(&st.list_checks), atomic_load(&st.expired));
        struct k8c_kv_list l = { 0 };
        assert_int_equal(k8c_store_list(st.s, "/s/", NULL, &l, &err), 0);
        assert_int_equal(l.n, ST_WRITERS * ST_KEYS);
        for (size_t i = 0; i < l.n; i++) {
                assert_int_equal(atoi(l.items[i].value), ST_ROUNDS);
                assert_int_equal(l.items[i].version, ST_ROUNDS + 1);
        }
        assert_int_equal(l.revision, r0 + total);
        k8c_kv_list_free(&l);
        k8c_store_close(st.s);

        /* after a restart the compacted history stays compacted and the state is the same */
        struct k8c_store *s = open_store(fx, 0, 0);
        int64_t compacted = 0;
        assert_int_equal(s->ops->compacted_revision(s, &compacted, &err), 0);
        assert_true(compacted > r0);
        assert_int_equal(k8c_store_list(s, "/s/", NULL, &l, &err), 0);
        assert_int_equal(l.n, ST_WRITERS * ST_KEYS);
        k8c_kv_list_free(&l);
        struct k8c_list_opts o = { .revision = compacted - 1 };
        assert_int_equal(k8c_store_list(s, "/s/", &o, &l, &err), -K8C_EEXPIRED);
        k8c_store_close(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_persistence_and_modes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tightens_modes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_corrupt_database, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_damaged_page_keeps_wal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watch_crosses_ring_into_log, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ring_byte_budget, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lagging_watch_hits_compaction, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compaction_reclaims_space, setup, teardown),
                cmocka_unit_test_setup_teardown(test_io_error_stops_writes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_close_with_open_watches, setup, teardown),
                cmocka_unit_test_setup_teardown(test_many_writers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stress_with_compaction, setup, teardown),
        };
        return cmocka_run_group_tests_name("sqlite_store", tests, NULL, NULL);
}
