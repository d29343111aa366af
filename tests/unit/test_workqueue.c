/* Unit tests for workqueue.c and strmap.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/strmap.h"
#include "k8c/workqueue.h"

static void test_strmap(void **state)
{
        struct k8c_strmap m;
        k8c_strmap_init(&m);
        char key[32];
        for (int i = 0; i < 1000; i++) {
                snprintf(key, sizeof(key), "ns/pod-%d", i);
                k8c_strmap_put(&m, key, (void *)(intptr_t)(i + 1), NULL);
        }
        assert_int_equal(k8c_strmap_len(&m), 1000);
        for (int i = 0; i < 1000; i += 2) {
                snprintf(key, sizeof(key), "ns/pod-%d", i);
                void *v = NULL;
                assert_true(k8c_strmap_del(&m, key, &v));
                assert_int_equal((intptr_t)v, i + 1);
        }
        assert_int_equal(k8c_strmap_len(&m), 500);
        for (int i = 0; i < 1000; i++) {
                snprintf(key, sizeof(key), "ns/pod-%d", i);
                void *v = NULL;
                bool found = k8c_strmap_get(&m, key, &v);
                assert_int_equal(found, i % 2 == 1);
                if (found)
                        assert_int_equal((intptr_t)v, i + 1);
        }
        void *old = NULL;
        k8c_strmap_put(&m, "ns/pod-1", (void *)7, &old);
        assert_int_equal((intptr_t)old, 2);
        assert_int_equal(k8c_strmap_len(&m), 500);
        size_t it = 0, n = 0;
        const char *k;
        while (k8c_strmap_next(&m, &it, &k, NULL))
                n++;
        assert_int_equal(n, 500);
        assert_false(k8c_strmap_del(&m, "absent", NULL));
        /* churn through tombstones */
        for (int round = 0; round < 20; round++) {
                for (int i = 0; i < 100; i++) {
                        snprintf(key, sizeof(key), "tmp-%d-%d", round, i);
                        k8c_strmap_put(&m, key, NULL, NULL);
                }
                for (int i = 0; i < 100; i++) {
                        snprintf(key, sizeof(key), "tmp-%d-%d", round, i);
                        assert_true(k8c_strmap_del(&m, key, NULL));
                }
        }
        assert_int_equal(k8c_strmap_len(&m), 500);
        k8c_strmap_clear(&m);
}

static void test_dedup_and_fifo(void **state)
{
        struct k8c_workqueue *q = k8c_workqueue_new(NULL);
        k8c_workqueue_add(q, "a");
        k8c_workqueue_add(q, "b");
        k8c_workqueue_add(q, "a");
        k8c_workqueue_add(q, "c");
        assert_int_equal(k8c_workqueue_len(q), 3);
        char *k = NULL;
        assert_true(k8c_workqueue_get(q, &k));
        assert_string_equal(k, "a");
        /* re-added while processing: not handed out again until done */
        k8c_workqueue_add(q, "a");
        assert_int_equal(k8c_workqueue_len(q), 2);
        char *k2 = NULL, *k3 = NULL, *k4 = NULL;
        assert_true(k8c_workqueue_get(q, &k2));
        assert_string_equal(k2, "b");
        assert_true(k8c_workqueue_get(q, &k3));
        assert_string_equal(k3, "c");
        assert_false(k8c_workqueue_get_timeout(q, 50, &k4));
        assert_null(k4);
        k8c_workqueue_done(q, "a");
        assert_int_equal(k8c_workqueue_len(q), 1);
        assert_true(k8c_workqueue_get(q, &k4));
        assert_string_equal(k4, "a");
        k8c_workqueue_done(q, k4);
        k8c_workqueue_done(q, k2);
        k8c_workqueue_done(q, k3);
        free(k);
        free(k2);
        free(k3);
        free(k4);
        k8c_workqueue_free(q);
}

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_delayed_and_rate_limited(void **state)
{
        struct k8c_workqueue_opts o = { .base_delay_ms = 20, .max_delay_ms = 80 };
        struct k8c_workqueue *q = k8c_workqueue_new(&o);
        int64_t t0 = mono_ms();
        k8c_workqueue_add_after(q, "later", 100);
        k8c_workqueue_add_after(q, "later", 300); /* keeps the earlier time */
        assert_int_equal(k8c_workqueue_len(q), 0);
        char *k = NULL;
        assert_true(k8c_workqueue_get_timeout(q, 2000, &k));
        assert_string_equal(k, "later");
        assert_true(mono_ms() - t0 >= 100);
        k8c_workqueue_done(q, k);
        free(k);
        /* the second, later add of the same key was dropped */
        assert_false(k8c_workqueue_get_timeout(q, 400, &k));

        assert_int_equal(k8c_workqueue_num_requeues(q, "x"), 0);
        for (int i = 1; i <= 4; i++) {
                k8c_workqueue_add_rate_limited(q, "x");
                assert_int_equal(k8c_workqueue_num_requeues(q, "x"), i);
                assert_true(k8c_workqueue_get_timeout(q, 2000, &k));
                assert_string_equal(k, "x");
                k8c_workqueue_done(q, k);
                free(k);
        }
        k8c_workqueue_forget(q, "x");
        assert_int_equal(k8c_workqueue_num_requeues(q, "x"), 0);
        k8c_workqueue_free(q);
}

static void test_shutdown(void **state)
{
        struct k8c_workqueue *q = k8c_workqueue_new(NULL);
        k8c_workqueue_add(q, "a");
        k8c_workqueue_add(q, "b");
        char *k = NULL;
        assert_true(k8c_workqueue_get(q, &k));
        k8c_workqueue_shutdown(q);
        assert_true(k8c_workqueue_shutting_down(q));
        k8c_workqueue_add(q, "c"); /* ignored */
        char *k2 = NULL;
        assert_true(k8c_workqueue_get(q, &k2)); /* remaining items are still handed out */
        assert_string_equal(k2, "b");
        char *k3 = NULL;
        assert_false(k8c_workqueue_get(q, &k3)); /* does not block after shutdown */
        k8c_workqueue_done(q, k);
        k8c_workqueue_done(q, k2);
        free(k);
        free(k2);
        k8c_workqueue_free(q);
}

struct stress {
        struct k8c_workqueue *q;
        atomic_int in_flight[64];
        atomic_int violations;
        atomic_int processed;
};

static void *worker(void *arg)
{
        struct stress *s = arg;
        char *key;
        while (k8c_workqueue_get(s->q, &key)) {
                int idx = atoi(key + 1);
                if (atomic_fetch_add(&s->in_flight[idx], 1) != 0)
                        atomic_fetch_add(&s->violations, 1);
                usleep(50);
                atomic_fetch_sub(&s->in_flight[idx], 1);
                atomic_fetch_add(&s->processed, 1);
                k8c_workqueue_done(s->q, key);
                free(key);
        }
        return NULL;
}

static void test_stress_no_key_in_two_workers(void **state)
{
        struct stress s = { 0 };
        s.q = k8c_workqueue_new(NULL);
        pthread_t th[8];
        for (int i = 0; i < 8; i++)
                pthread_create(&th[i], NULL, worker, &s);
        char key[16];
        for (int i = 0; i < 20000; i++) {
                snprintf(key, sizeof(key), "k%d", i % 64);
                k8c_workqueue_add(s.q, key);
        }
        k8c_workqueue_shutdown_with_drain(s.q);
        for (int i = 0; i < 8; i++)
                pthread_join(th[i], NULL);
        assert_int_equal(atomic_load(&s.violations), 0);
        assert_true(atomic_load(&s.processed) >= 64);
        assert_true(atomic_load(&s.processed) <= 20000);
        for (int i = 0; i < 64; i++)
                assert_int_equal(atomic_load(&s.in_flight[i]), 0);
        k8c_workqueue_free(s.q);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_strmap),
                cmocka_unit_test(test_dedup_and_fifo),
                cmocka_unit_test(test_delayed_and_rate_limited),
                cmocka_unit_test(test_shutdown),
                cmocka_unit_test(test_stress_no_key_in_two_workers),
        };
        return cmocka_run_group_tests_name("workqueue", tests, NULL, NULL);
}
