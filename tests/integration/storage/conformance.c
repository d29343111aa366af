/*
 * conformance.c - backend-independent storage cases, modelled on Kubernetes'
 * apiserver pkg/storage/testing (store_tests.go, watcher_tests.go):
 * create/get/update/delete with preconditions, conflicts returning the current
 * object, list at the current and at an exact older revision, paging with
 * continue at the first page's revision, watch from now / from a revision /
 * after compaction, delete events carrying the last value, and concurrent
 * read-modify-write loops that must not lose an update.
 *
 * Every case gets a fresh store from the backend and asserts exact values
 * relative to the revision it started at.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "k8c/cleanup.h"

#define MAX_BACKENDS 8

static const struct conformance_backend *backends[MAX_BACKENDS];
static size_t nbackends;
static const struct conformance_backend *backend; /* the one being run */
static void *group_ctx;

void conformance_register(const struct conformance_backend *b)
{
        if (nbackends < MAX_BACKENDS)
                backends[nbackends++] = b;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        remove(path);
        return 0;
}

void conformance_rm_rf(const char *path)
{
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct fixture {
        struct k8c_store *store;
        void *test_ctx;
};

static int fx_setup(void **state)
{
        struct fixture *fx = k8c_xcalloc(1, sizeof(*fx));
        fx->store = backend->open(group_ctx, &fx->test_ctx);
        if (fx->store == NULL) {
                free(fx);
                return -1;
        }
        *state = fx;
        return 0;
}

static int fx_teardown(void **state)
{
        struct fixture *fx = *state;
        if (fx != NULL) {
                backend->close(group_ctx, fx->test_ctx, fx->store);
                free(fx);
        }
        return 0;
}

static int grp_setup(void **state)
{
        group_ctx = NULL;
        return backend->group_setup != NULL ? backend->group_setup(&group_ctx) : 0;
}

static int grp_teardown(void **state)
{
        if (backend->group_teardown != NULL)
                backend->group_teardown(group_ctx);
        group_ctx = NULL;
        return 0;
}

/* ---- helpers ---------------------------------------------------------------------- */

static struct k8c_store *ST(void **state)
{
        return ((struct fixture *)*state)->store;
}

static int64_t rev_now(struct k8c_store *s)
{
        cleanup_error k8c_error_t err = NULL;
        int64_t rev = -1;
        assert_int_equal(k8c_store_current_revision(s, &rev, &err), 0);
        return rev;
}

static void assert_kv(const struct k8c_kv *kv, const char *key, const char *value, int64_t create_rev,
                      int64_t mod_rev, int64_t version)
{
        assert_non_null(kv->key);
        assert_string_equal(kv->key, key);
        assert_int_equal(kv->value_len, strlen(value));
        assert_memory_equal(kv->value, value, strlen(value) + 1);
        assert_int_equal(kv->create_revision, create_rev);
        assert_int_equal(kv->mod_revision, mod_rev);
        assert_int_equal(kv->version, version);
}

static int64_t put(struct k8c_store *s, const char *key, const char *value)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_kv kv = { 0 };
        int r = k8c_store_create(s, key, value, strlen(value), &kv, &err);
        if (r < 0)
                fail_msg("create %s: %s", key, k8c_error_msg(&err));
        int64_t rev = kv.mod_revision;
        k8c_kv_free(&kv);
        return rev;
}

static int64_t upd(struct k8c_store *s, const char *key, const char *value)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_kv kv = { 0 };
        int r = k8c_store_update(s, key, value, strlen(value), 0, &kv, &err);
        if (r < 0)
                fail_msg("update %s: %s", key, k8c_error_msg(&err));
        int64_t rev = kv.mod_revision;
        k8c_kv_free(&kv);
        return rev;
}

static int64_t del(struct k8c_store *s, const char *key)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_kv kv = { 0 };
        int r = k8c_store_delete(s, key, 0, &kv, &err);
        if (r < 0)
                fail_msg("delete %s: %s", key, k8c_error_msg(&err));
        int64_t rev = kv.mod_revision;
        k8c_kv_free(&kv);
        return rev;
}

static void assert_get(struct k8c_store *s, const char *key, const char *value, int64_t create_rev,
                       int64_t mod_rev, int64_t version)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_kv kv = { 0 };
        int r = k8c_store_get(s, key, &kv, &err);
        if (r < 0)
                fail_msg("get %s: %s", key, k8c_error_msg(&err));
        assert_kv(&kv, key, value, create_rev, mod_rev, version);
        k8c_kv_free(&kv);
}

static void assert_get_missing(struct k8c_store *s, const char *key)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_kv kv = { 0 };
        assert_int_equal(k8c_store_get(s, key, &kv, &err), -K8C_ENOTFOUND);
        assert_int_equal(k8c_error_reason(&err), K8C_ENOTFOUND);
        assert_null(kv.key);
}

/* Next event within 5 s, or fail. */
static struct k8c_store_event *next_event(struct k8c_store_watch *w)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store_event *ev = NULL;
        int r = k8c_store_watch_next(w, 5000, &ev, &err);
        if (r != 1)
                fail_msg("watch_next returned %d: %s", r, k8c_error_msg(&err));
        return ev;
}

static void assert_no_event(struct k8c_store_watch *w, int ms)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store_event *ev = NULL;
        int r = k8c_store_watch_next(w, ms, &ev, &err);
        if (r != 0)
                fail_msg("expected no event, got r=%d rev=%" PRId64 " key=%s", r, ev ? ev->revision : 0,
                         ev ? ev->kv.key : "");
}

static void assert_event(struct k8c_store_watch *w, k8c_store_event_type_t type, const char *key,
                         const char *value, int64_t rev, const char *prev_value, int64_t prev_mod)
{
        struct k8c_store_event *ev = next_event(w);
        assert_int_equal(ev->type, type);
        assert_int_equal(ev->revision, rev);
        assert_string_equal(ev->kv.key, key);
        assert_int_equal(ev->kv.value_len, strlen(value));
        assert_memory_equal(ev->kv.value, value, strlen(value) + 1);
        assert_int_equal(ev->kv.mod_revision, rev);
        if (prev_value == NULL) {
                assert_null(ev->prev.key);
        } else {
                assert_non_null(ev->prev.key);
                assert_string_equal(ev->prev.key, key);
                assert_string_equal(ev->prev.value, prev_value);
                assert_int_equal(ev->prev.mod_revision, prev_mod);
        }
        k8c_store_event_free(ev);
}

/* ---- create / get / update / delete -------------------------------------------------- */

static void test_create_get(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        int64_t r0 = rev_now(s);
        struct k8c_kv kv = { 0 };
        assert_int_equal(k8c_store_create(s, "/t/pods/ns/a", "{\"v\":1}", 7, &kv, &err), 0);
        assert_kv(&kv, "/t/pods/ns/a", "{\"v\":1}", r0 + 1, r0 + 1, 1);
        k8c_kv_free(&kv);
        assert_int_equal(rev_now(s), r0 + 1);
        assert_get(s, "/t/pods/ns/a", "{\"v\":1}", r0 + 1, r0 + 1, 1);
        /* create without ret_kv */
        assert_int_equal(k8c_store_create(s, "/t/pods/ns/b", "x", 1, NULL, &err), 0);
        assert_get(s, "/t/pods/ns/b", "x", r0 + 2, r0 + 2, 1);
        assert_int_equal(rev_now(s), r0 + 2);
}

static void test_create_already_exists(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        int64_t r1 = put(s, "/t/a", "one");
        struct k8c_kv kv = { 0 };
        assert_int_equal(k8c_store_create(s, "/t/a", "two", 3, &kv, &err), -K8C_EALREADYEXISTS);
        assert_int_equal(k8c_error_reason(&err), K8C_EALREADYEXISTS);
        k8c_kv_free(&kv);
        assert_int_equal(rev_now(s), r1);
        assert_get(s, "/t/a", "one", r1, r1, 1);
}

static void test_get_not_found(void **state)
{
        struct k8c_store *s = ST(state);
        assert_get_missing(s, "/t/missing");
        put(s, "/t/present", "v");
        assert_get_missing(s, "/t/presen");
        assert_get_missing(s, "/t/present/x");
}

static void test_binary_and_empty_values(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        const char bin[] = { 'a', '\0', 'b', '\xff', '\n' };
        struct k8c_kv kv = { 0 };
        assert_int_equal(k8c_store_create(s, "/t/bin", bin, sizeof(bin), NULL, &err), 0);
        assert_int_equal(k8c_store_get(s, "/t/bin", &kv, &err), 0);
        assert_int_equal(kv.value_len, sizeof(bin));
        assert_memory_equal(kv.value, bin, sizeof(bin));
        assert_int_equal(kv.value[sizeof(bin)], '\0');
        k8c_kv_free(&kv);
        assert_int_equal(k8c_store_create(s, "/t/empty", "", 0, NULL, &err), 0);
        assert_int_equal(k8c_store_get(s, "/t/empty", &kv, &err), 0);
        assert_int_equal(kv.value_len, 0);
        assert_string_equal(kv.value, "");
        k8c_kv_free(&kv);
}

static void test_update_preconditions(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        int64_t c = put(s, "/t/u", "v1");
        struct k8c_kv kv = { 0 };

        /* unconditional */
        assert_int_equal(k8c_store_update(s, "/t/u", "v2", 2, 0, &kv, &err), 0);
        assert_kv(&kv, "/t/u", "v2", c, c + 1, 2);
        k8c_kv_free(&kv);
        /* matching precondition */
        assert_int_equal(k8c_store_update(s, "/t/u", "v3", 2, c + 1, &kv, &err), 0);
        assert_kv(&kv, "/t/u", "v3", c, c + 2, 3);
        k8c_kv_free(&kv);
        /* stale precondition: Conflict with the current object */
        assert_int_equal(k8c_store_update(s, "/t/u", "v4", 2, c + 1, &kv, &err), -K8C_ECONFLICT);
        assert_int_equal(k8c_error_reason(&err), K8C_ECONFLICT);
        assert_kv(&kv, "/t/u", "v3", c, c + 2, 3);
        k8c_kv_free(&kv);
        k8c_error_release(&err);
        /* conflict without ret_kv */
        assert_int_equal(k8c_store_update(s, "/t/u", "v4", 2, c, NULL, &err), -K8C_ECONFLICT);
        k8c_error_release(&err);
        assert_int_equal(rev_now(s), c + 2);
        assert_get(s, "/t/u", "v3", c, c + 2, 3);
        /* missing key */
        assert_int_equal(k8c_store_update(s, "/t/nope", "x", 1, 0, &kv, &err), -K8C_ENOTFOUND);
        assert_int_equal(k8c_error_reason(&err), K8C_ENOTFOUND);
        assert_null(kv.key);
        k8c_error_release(&err);
        assert_int_equal(k8c_store_update(s, "/t/nope", "x", 1, c, &kv, &err), -K8C_ENOTFOUND);
        assert_int_equal(rev_now(s), c + 2);
}

static void test_delete_preconditions(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        int64_t c = put(s, "/t/d", "v1");
        int64_t u = upd(s, "/t/d", "v2");
        assert_int_equal(u, c + 1);
        struct k8c_kv kv = { 0 };

        assert_int_equal(k8c_store_delete(s, "/t/d", c, &kv, &err), -K8C_ECONFLICT);
        assert_int_equal(k8c_error_reason(&err), K8C_ECONFLICT);
        assert_kv(&kv, "/t/d", "v2", c, u, 2);
        k8c_kv_free(&kv);
        k8c_error_release(&err);
        assert_int_equal(rev_now(s), u);

        assert_int_equal(k8c_store_delete(s, "/t/d", u, &kv, &err), 0);
        assert_kv(&kv, "/t/d", "v2", c, u + 1, 2); /* the last value, at the delete's revision */
        k8c_kv_free(&kv);
        assert_int_equal(rev_now(s), u + 1);
        assert_get_missing(s, "/t/d");

        assert_int_equal(k8c_store_delete(s, "/t/d", 0, &kv, &err), -K8C_ENOTFOUND);
        assert_int_equal(k8c_error_reason(&err), K8C_ENOTFOUND);
        assert_null(kv.key);
        k8c_error_release(&err);
        assert_int_equal(rev_now(s), u + 1);

        /* unconditional delete without ret_kv */
        int64_t o = put(s, "/t/other", "o");
        assert_int_equal(k8c_store_delete(s, "/t/other", 0, NULL, &err), 0);
        assert_int_equal(rev_now(s), o + 1);
        assert_get_missing(s, "/t/other");
}

static void test_recreate_after_delete(void **state)
{
        struct k8c_store *s = ST(state);
        int64_t c1 = put(s, "/t/r", "first");
        upd(s, "/t/r", "second");
        int64_t d = del(s, "/t/r");
        int64_t c2 = put(s, "/t/r", "again");
        assert_int_equal(d, c1 + 2);
        assert_int_equal(c2, c1 + 3);
        assert_get(s, "/t/r", "again", c2, c2, 1);
}

/* ---- list ------------------------------------------------------------------------- */

static void assert_list_keys(const struct k8c_kv_list *l, const char *const *keys, size_t n)
{
        assert_int_equal(l->n, n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(l->items[i].key, keys[i]);
}

static void test_list_current(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        put(s, "/t/a/2", "a2");
        put(s, "/t/ab/1", "ab1");
        int64_t a1 = put(s, "/t/a/1", "a1");
        put(s, "/t/b", "b");
        put(s, "/t/a/3", "a3");
        int64_t up = upd(s, "/t/a/1", "a1'");
        struct k8c_kv_list l = { 0 };

        assert_int_equal(k8c_store_list(s, "/t/a/", NULL, &l, &err), 0);
        const char *want[] = { "/t/a/1", "/t/a/2", "/t/a/3" };
        assert_list_keys(&l, want, 3);
        assert_kv(&l.items[0], "/t/a/1", "a1'", a1, up, 2);
        assert_string_equal(l.items[1].value, "a2");
        assert_int_equal(l.revision, up);
        assert_false(l.more);
        k8c_kv_list_free(&l);

        struct k8c_list_opts o = { 0 };
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), 0);
        const char *all[] = { "/t/a/1", "/t/a/2", "/t/a/3", "/t/ab/1", "/t/b" };
        assert_list_keys(&l, all, 5);
        k8c_kv_list_free(&l);

        assert_int_equal(k8c_store_list(s, "/none/", &o, &l, &err), 0);
        assert_int_equal(l.n, 0);
        assert_int_equal(l.revision, up);
        assert_false(l.more);
        k8c_kv_list_free(&l);

        /* deleted keys disappear */
        del(s, "/t/a/2");
        assert_int_equal(k8c_store_list(s, "/t/a/", &o, &l, &err), 0);
        const char *after[] = { "/t/a/1", "/t/a/3" };
        assert_list_keys(&l, after, 2);
        assert_int_equal(l.revision, up + 1);
        k8c_kv_list_free(&l);
}

static void test_list_exact_revision(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        int64_t r1 = put(s, "/t/a", "a1");
        int64_t r2 = put(s, "/t/b", "b1");
        int64_t r3 = upd(s, "/t/a", "a2");
        int64_t r4 = del(s, "/t/b");
        int64_t r5 = put(s, "/t/c", "c1");
        int64_t r6 = put(s, "/u/x", "outside");
        assert_int_equal(r6, r1 + 5);
        struct k8c_kv_list l = { 0 };
        struct k8c_list_opts o = { 0 };

        o.revision = r1;
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), 0);
        assert_int_equal(l.n, 1);
        assert_kv(&l.items[0], "/t/a", "a1", r1, r1, 1);
        assert_int_equal(l.revision, r1);
        k8c_kv_list_free(&l);

        o.revision = r2;
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), 0);
        assert_int_equal(l.n, 2);
        assert_kv(&l.items[0], "/t/a", "a1", r1, r1, 1);
        assert_kv(&l.items[1], "/t/b", "b1", r2, r2, 1);
        assert_int_equal(l.revision, r2);
        k8c_kv_list_free(&l);

        o.revision = r3;
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), 0);
        assert_int_equal(l.n, 2);
        assert_kv(&l.items[0], "/t/a", "a2", r1, r3, 2);
        assert_kv(&l.items[1], "/t/b", "b1", r2, r2, 1);
        k8c_kv_list_free(&l);

        o.revision = r4;
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), 0);
        assert_int_equal(l.n, 1);
        assert_kv(&l.items[0], "/t/a", "a2", r1, r3, 2);
        assert_int_equal(l.revision, r4);
        k8c_kv_list_free(&l);

        o.revision = r5;
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), 0);
        assert_int_equal(l.n, 2);
        assert_kv(&l.items[0], "/t/a", "a2", r1, r3, 2);
        assert_kv(&l.items[1], "/t/c", "c1", r5, r5, 1);
        assert_int_equal(l.revision, r5);
        k8c_kv_list_free(&l);

        o.revision = r6; /* == current */
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), 0);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.revision, r6);
        k8c_kv_list_free(&l);

        o.revision = r6 + 1;
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), -K8C_ETOOLARGERV);
        assert_int_equal(k8c_error_reason(&err), K8C_ETOOLARGERV);
        assert_int_equal(l.n, 0);
}

static void test_list_paging(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        char key[64];
        for (int i = 0; i < 10; i++) {
                snprintf(key, sizeof(key), "/t/p/k%02d", i);
                put(s, key, key + 5);
        }
        put(s, "/t/q", "not in prefix");
        struct k8c_kv_list l = { 0 };
        struct k8c_list_opts o = { .limit = 3 };
        assert_int_equal(k8c_store_list(s, "/t/p/", &o, &l, &err), 0);
        int64_t rv = l.revision;
        assert_int_equal(rv, rev_now(s));
        const char *p1[] = { "/t/p/k00", "/t/p/k01", "/t/p/k02" };
        assert_list_keys(&l, p1, 3);
        assert_true(l.more);
        char last[64];
        snprintf(last, sizeof(last), "%s", l.items[l.n - 1].key);
        k8c_kv_list_free(&l);

        /* Writes between pages must not show: continue reads at the first page's revision. */
        put(s, "/t/p/k025", "new");
        del(s, "/t/p/k04");
        upd(s, "/t/p/k05", "changed");

        size_t seen = 3;
        int pages = 1;
        bool more = true;
        while (more) {
                o.revision = rv;
                o.start_after = last;
                assert_int_equal(k8c_store_list(s, "/t/p/", &o, &l, &err), 0);
                assert_int_equal(l.revision, rv);
                for (size_t i = 0; i < l.n; i++) {
                        snprintf(key, sizeof(key), "/t/p/k%02zu", seen + i);
                        assert_string_equal(l.items[i].key, key);
                        assert_string_equal(l.items[i].value, key + 5);
                }
                seen += l.n;
                pages++;
                more = l.more;
                if (l.n > 0)
                        snprintf(last, sizeof(last), "%s", l.items[l.n - 1].key);
                k8c_kv_list_free(&l);
        }
        assert_int_equal(seen, 10);
        assert_int_equal(pages, 4);

        /* A limit equal to what remains reports no more. */
        struct k8c_list_opts o2 = { .limit = 5, .start_after = "/t/p/k04" };
        assert_int_equal(k8c_store_list(s, "/t/p/", &o2, &l, &err), 0);
        const char *tail[] = { "/t/p/k05", "/t/p/k06", "/t/p/k07", "/t/p/k08", "/t/p/k09" };
        assert_list_keys(&l, tail, 5);
        assert_string_equal(l.items[0].value, "changed");
        assert_false(l.more);
        k8c_kv_list_free(&l);

        /* start_after before the prefix start behaves like no start_after. */
        struct k8c_list_opts o3 = { .limit = 2, .start_after = "/t/a" };
        assert_int_equal(k8c_store_list(s, "/t/p/", &o3, &l, &err), 0);
        const char *head[] = { "/t/p/k00", "/t/p/k01" };
        assert_list_keys(&l, head, 2);
        assert_true(l.more);
        k8c_kv_list_free(&l);
}

static void test_list_compacted(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        int64_t r1 = put(s, "/t/a", "v1");
        int64_t r2 = upd(s, "/t/a", "v2");
        int64_t r3 = upd(s, "/t/a", "v3");
        int64_t r4 = put(s, "/t/gone", "g");
        int64_t r5 = del(s, "/t/gone");
        assert_int_equal(r5, r1 + 4);
        assert_int_equal(k8c_store_compact(s, r2, &err), 0);
        int64_t compacted = -1;
        assert_int_equal(s->ops->compacted_revision(s, &compacted, &err), 0);
        assert_int_equal(compacted, r2);

        struct k8c_kv_list l = { 0 };
        struct k8c_list_opts o = { .revision = r1 };
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), -K8C_EEXPIRED);
        assert_int_equal(k8c_error_reason(&err), K8C_EEXPIRED);
        assert_int_equal(k8c_reason_http_code(k8c_error_reason(&err)), 410);
        k8c_error_release(&err);

        o.revision = r2;
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), 0);
        assert_int_equal(l.n, 1);
        assert_kv(&l.items[0], "/t/a", "v2", r1, r2, 2);
        k8c_kv_list_free(&l);

        o.revision = r4;
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), 0);
        assert_int_equal(l.n, 2);
        assert_kv(&l.items[0], "/t/a", "v3", r1, r3, 3);
        assert_kv(&l.items[1], "/t/gone", "g", r4, r4, 1);
        k8c_kv_list_free(&l);

        assert_int_equal(k8c_store_compact(s, r5, &err), 0);
        o.revision = r4;
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), -K8C_EEXPIRED);
        k8c_error_release(&err);
        o.revision = r5;
        assert_int_equal(k8c_store_list(s, "/t/", &o, &l, &err), 0);
        assert_int_equal(l.n, 1);
        assert_kv(&l.items[0], "/t/a", "v3", r1, r3, 3);
        k8c_kv_list_free(&l);

        /* compacting again at or below the compacted revision, or in the future, fails */
        assert_int_equal(k8c_store_compact(s, r5, &err), -K8C_EEXPIRED);
        k8c_error_release(&err);
        assert_int_equal(k8c_store_compact(s, r5 + 10, &err), -K8C_ETOOLARGERV);
        k8c_error_release(&err);
        assert_get(s, "/t/a", "v3", r1, r3, 3);
        assert_get_missing(s, "/t/gone");
        assert_int_equal(rev_now(s), r5);
        /* writes continue after compaction */
        int64_t r6 = upd(s, "/t/a", "v4");
        assert_int_equal(r6, r5 + 1);
        assert_get(s, "/t/a", "v4", r1, r6, 4);
}

/* ---- watch -------------------------------------------------------------------------- */

static void test_watch_from_now(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        int64_t before = put(s, "/t/w/old", "old");
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/t/w/", 0, &w, &err), 0);
        int64_t r1 = put(s, "/t/w/a", "v1");
        int64_t r2 = upd(s, "/t/w/a", "v2");
        put(s, "/t/other", "x"); /* not under the prefix */
        put(s, "/t/wx", "x");    /* shares the string prefix without the slash */
        int64_t r5 = del(s, "/t/w/a");
        assert_int_equal(r1, before + 1);
        assert_int_equal(r5, r1 + 4);

        assert_event(w, K8C_STORE_CREATE, "/t/w/a", "v1", r1, NULL, 0);
        assert_event(w, K8C_STORE_UPDATE, "/t/w/a", "v2", r2, "v1", r1);
        struct k8c_store_event *ev = next_event(w);
        assert_int_equal(ev->type, K8C_STORE_DELETE);
        assert_int_equal(ev->revision, r5);
        /* a delete event carries the last value */
        assert_kv(&ev->kv, "/t/w/a", "v2", r1, r5, 2);
        assert_kv(&ev->prev, "/t/w/a", "v2", r1, r2, 2);
        k8c_store_event_free(ev);
        assert_no_event(w, 100);
        k8c_store_watch_close(w);
}

static void test_watch_from_revision(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        put(s, "/u/first", "so that r1 - 1 > 0 (0 means now)");
        int64_t r1 = put(s, "/t/a", "a1");
        int64_t r2 = upd(s, "/t/a", "a2");
        int64_t r3 = put(s, "/t/b", "b1");
        int64_t r4 = del(s, "/t/a");

        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/t/", r1, &w, &err), 0);
        assert_event(w, K8C_STORE_UPDATE, "/t/a", "a2", r2, "a1", r1);
        assert_event(w, K8C_STORE_CREATE, "/t/b", "b1", r3, NULL, 0);
        assert_event(w, K8C_STORE_DELETE, "/t/a", "a2", r4, "a2", r2);
        /* then live events */
        int64_t r5 = upd(s, "/t/b", "b2");
        assert_event(w, K8C_STORE_UPDATE, "/t/b", "b2", r5, "b1", r3);
        assert_no_event(w, 50);
        k8c_store_watch_close(w);

        /* from the current revision = nothing old */
        assert_int_equal(k8c_store_watch(s, "/t/", r5, &w, &err), 0);
        assert_no_event(w, 50);
        int64_t r6 = put(s, "/t/c", "c1");
        assert_event(w, K8C_STORE_CREATE, "/t/c", "c1", r6, NULL, 0);
        k8c_store_watch_close(w);

        /* from r1 - 1 replays the create too */
        assert_int_equal(k8c_store_watch(s, "/t/a", r1 - 1, &w, &err), 0);
        assert_event(w, K8C_STORE_CREATE, "/t/a", "a1", r1, NULL, 0);
        assert_event(w, K8C_STORE_UPDATE, "/t/a", "a2", r2, "a1", r1);
        assert_event(w, K8C_STORE_DELETE, "/t/a", "a2", r4, "a2", r2);
        assert_no_event(w, 50);
        k8c_store_watch_close(w);
}

/* A watch from a revision not reached yet waits for it, as etcd does. */
static void test_watch_from_future_revision(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        int64_t r0 = put(s, "/t/f/0", "0");
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/t/f/", r0 + 2, &w, &err), 0);
        assert_no_event(w, 50);
        assert_int_equal(put(s, "/t/f/1", "1"), r0 + 1);
        assert_int_equal(put(s, "/t/f/2", "2"), r0 + 2);
        int64_t r3 = put(s, "/t/f/3", "3");
        assert_event(w, K8C_STORE_CREATE, "/t/f/3", "3", r3, NULL, 0);
        assert_no_event(w, 50);
        k8c_store_watch_close(w);
}

static void test_watch_after_compaction(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        int64_t r1 = put(s, "/t/a", "a1");
        int64_t r2 = upd(s, "/t/a", "a2");
        int64_t r3 = upd(s, "/t/a", "a3");
        assert_int_equal(k8c_store_compact(s, r2, &err), 0);

        /* below the compacted revision: Expired, at open or at the first next */
        struct k8c_store_watch *w = NULL;
        int r = k8c_store_watch(s, "/t/", r1, &w, &err);
        if (r == 0) {
                struct k8c_store_event *ev = NULL;
                r = k8c_store_watch_next(w, 5000, &ev, &err);
                k8c_store_event_free(ev);
                k8c_store_watch_close(w);
                w = NULL;
        }
        assert_int_equal(r, -K8C_EEXPIRED);
        assert_int_equal(k8c_error_reason(&err), K8C_EEXPIRED);
        k8c_error_release(&err);

        /* at the compacted revision: everything after it */
        assert_int_equal(k8c_store_watch(s, "/t/", r2, &w, &err), 0);
        assert_event(w, K8C_STORE_UPDATE, "/t/a", "a3", r3, "a2", r2);
        int64_t r4 = del(s, "/t/a");
        assert_event(w, K8C_STORE_DELETE, "/t/a", "a3", r4, "a3", r3);
        k8c_store_watch_close(w);
}

static void test_watch_prefix_and_timeout(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store_watch *wa = NULL, *wab = NULL, *wall = NULL;
        assert_int_equal(k8c_store_watch(s, "/t/a/", 0, &wa, &err), 0);
        assert_int_equal(k8c_store_watch(s, "/t/ab/", 0, &wab, &err), 0);
        assert_int_equal(k8c_store_watch(s, "", 0, &wall, &err), 0);
        assert_no_event(wa, 30);
        int64_t r1 = put(s, "/t/ab/x", "1");
        int64_t r2 = put(s, "/t/a/x", "2");
        assert_event(wab, K8C_STORE_CREATE, "/t/ab/x", "1", r1, NULL, 0);
        assert_event(wa, K8C_STORE_CREATE, "/t/a/x", "2", r2, NULL, 0);
        assert_event(wall, K8C_STORE_CREATE, "/t/ab/x", "1", r1, NULL, 0);
        assert_event(wall, K8C_STORE_CREATE, "/t/a/x", "2", r2, NULL, 0);
        assert_no_event(wa, 30);
        assert_no_event(wab, 30);
        assert_no_event(wall, 30);
        k8c_store_watch_close(wa);
        k8c_store_watch_close(wab);
        k8c_store_watch_close(wall);
}

/* ---- concurrency ------------------------------------------------------------------- */

#define WORKERS 8
#define INCREMENTS 40

struct incr_arg {
        struct k8c_store *s;
        int conflicts;
        int failures;
};

/* Read-modify-write with retry on conflict, as GuaranteedUpdate does. */
static void *incr_worker(void *p)
{
        struct incr_arg *a = p;
        for (int i = 0; i < INCREMENTS; i++) {
                cleanup_error k8c_error_t err = NULL;
                struct k8c_kv cur = { 0 };
                if (k8c_store_get(a->s, "/t/counter", &cur, &err) < 0) {
                        a->failures++;
                        return NULL;
                }
                for (;;) {
                        char buf[32];
                        int n = snprintf(buf, sizeof(buf), "%lld", atoll(cur.value) + 1);
                        struct k8c_kv got = { 0 };
                        int r = k8c_store_update(a->s, "/t/counter", buf, (size_t)n, cur.mod_revision, &got,
                                                 &err);
                        k8c_kv_free(&cur);
                        cur = got;
                        if (r == 0)
                                break;
                        if (r != -K8C_ECONFLICT || got.key == NULL) {
                                a->failures++;
                                k8c_kv_free(&cur);
                                return NULL;
                        }
                        a->conflicts++;
                        k8c_error_release(&err);
                }
                k8c_kv_free(&cur);
        }
        return NULL;
}

static void test_concurrent_updaters(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        int64_t c = put(s, "/t/counter", "0");
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/t/counter", c, &w, &err), 0);

        pthread_t th[WORKERS];
        struct incr_arg args[WORKERS];
        for (int i = 0; i < WORKERS; i++) {
                args[i] = (struct incr_arg){ .s = s };
                assert_int_equal(pthread_create(&th[i], NULL, incr_worker, &args[i]), 0);
        }
        int failures = 0;
        for (int i = 0; i < WORKERS; i++) {
                pthread_join(th[i], NULL);
                failures += args[i].failures;
        }
        assert_int_equal(failures, 0);
        const int total = WORKERS * INCREMENTS;
        char want[32];
        snprintf(want, sizeof(want), "%d", total);
        assert_get(s, "/t/counter", want, c, c + total, total + 1);
        assert_int_equal(rev_now(s), c + total);

        /* every increment is one event, values 1..total in revision order */
        for (int i = 1; i <= total; i++) {
                struct k8c_store_event *ev = next_event(w);
                assert_int_equal(ev->type, K8C_STORE_UPDATE);
                assert_int_equal(ev->revision, c + i);
                assert_int_equal(atoll(ev->kv.value), i);
                assert_int_equal(atoll(ev->prev.value), i - 1);
                assert_int_equal(ev->prev.mod_revision, c + i - 1);
                k8c_store_event_free(ev);
        }
        assert_no_event(w, 50);
        k8c_store_watch_close(w);
}

struct create_arg {
        struct k8c_store *s;
        int id;
        int64_t revs[INCREMENTS];
        int failures;
};

static void *create_worker(void *p)
{
        struct create_arg *a = p;
        for (int i = 0; i < INCREMENTS; i++) {
                cleanup_error k8c_error_t err = NULL;
                char key[64];
                snprintf(key, sizeof(key), "/t/c/%d-%02d", a->id, i);
                struct k8c_kv kv = { 0 };
                if (k8c_store_create(a->s, key, key, strlen(key), &kv, &err) < 0) {
                        a->failures++;
                        continue;
                }
                a->revs[i] = kv.mod_revision;
                k8c_kv_free(&kv);
        }
        return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

static void test_concurrent_creates_dense_revisions(void **state)
{
        struct k8c_store *s = ST(state);
        cleanup_error k8c_error_t err = NULL;
        int64_t r0 = rev_now(s);
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "/t/c/", 0, &w, &err), 0);
        pthread_t th[WORKERS];
        static struct create_arg args[WORKERS];
        for (int i = 0; i < WORKERS; i++) {
                memset(&args[i], 0, sizeof(args[i]));
                args[i].s = s;
                args[i].id = i;
                assert_int_equal(pthread_create(&th[i], NULL, create_worker, &args[i]), 0);
        }
        int64_t all[WORKERS * INCREMENTS];
        size_t n = 0;
        for (int i = 0; i < WORKERS; i++) {
                pthread_join(th[i], NULL);
                assert_int_equal(args[i].failures, 0);
                for (int j = 0; j < INCREMENTS; j++) {
                        if (j > 0) /* one writer's revisions increase */
                                assert_true(args[i].revs[j] > args[i].revs[j - 1]);
                        all[n++] = args[i].revs[j];
                }
        }
        qsort(all, n, sizeof(all[0]), cmp_i64);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(all[i], r0 + 1 + (int64_t)i); /* dense and unique */
        struct k8c_kv_list l = { 0 };
        assert_int_equal(k8c_store_list(s, "/t/c/", NULL, &l, &err), 0);
        assert_int_equal(l.n, n);
        assert_int_equal(l.revision, r0 + (int64_t)n);
        k8c_kv_list_free(&l);
        /* the watcher saw every create once, in revision order */
        for (size_t i = 0; i < n; i++) {
                struct k8c_store_event *ev = next_event(w);
                assert_int_equal(ev->type, K8C_STORE_CREATE);
                assert_int_equal(ev->revision, r0 + 1 + (int64_t)i);
                assert_string_equal(ev->kv.value, ev->kv.key);
                k8c_store_event_free(ev);
        }
        assert_no_event(w, 50);
        k8c_store_watch_close(w);
}

static const struct CMUnitTest conformance_tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_create_already_exists, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_get_not_found, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_binary_and_empty_values, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_update_preconditions, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete_preconditions, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_recreate_after_delete, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_list_current, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_list_exact_revision, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_list_paging, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_list_compacted, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_watch_from_now, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_watch_from_revision, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_watch_from_future_revision, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_watch_after_compaction, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_watch_prefix_and_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_updaters, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_creates_dense_revisions, fx_setup, fx_teardown),
};

int conformance_run_all(void)
{
        int failed = 0;
        for (size_t i = 0; i < nbackends; i++) {
                backend = backends[i];
                failed += _cmocka_run_group_tests(backend->name, conformance_tests,
                                                  K8C_ARRAY_SIZE(conformance_tests), grp_setup, grp_teardown);
        }
        backend = NULL;
        return failed;
}
