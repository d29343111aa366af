/* Unit tests for the scheduling queue (src/scheduler/queue.c) on a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "scheduler/queue.h"

static int64_t fake_now;

static int64_t clock_fn(void *opaque)
{
        return fake_now;
}

static struct k8c_sched_queue *new_queue(void)
{
        fake_now = 100000;
        struct k8c_sched_queue_opts o = { .now_ms = clock_fn };
        return k8c_sched_queue_new(&o);
}

static json_t *pod(const char *name, int priority)
{
        return json_pack("{s:{s:s, s:s}, s:{s:i, s:[{s:s}]}}", "metadata", "name", name, "namespace",
                         "default", "spec", "priority", priority, "containers", "name", "c");
}

/* Pops without waiting; returns the pod's name (static buffer) or "" if nothing is ready. */
static const char *pop(struct k8c_sched_queue *q, int *ret_attempts)
{
        static char buf[64];
        json_t *p = NULL;
        if (!k8c_sched_queue_pop(q, 0, &p, ret_attempts))
                return "";
        snprintf(buf, sizeof(buf), "%s",
                 json_string_value(json_object_get(json_object_get(p, "metadata"), "name")));
        json_decref(p);
        return buf;
}

static void add(struct k8c_sched_queue *q, const char *name, int prio)
{
        json_auto_t *p = pod(name, prio);
        k8c_sched_queue_add_or_update(q, p);
}

static void test_priority_then_age(void **state)
{
        struct k8c_sched_queue *q = new_queue();
        add(q, "a", 0);
        fake_now += 1;
        add(q, "b", 10);
        fake_now += 1;
        add(q, "c", 0);
        add(q, "d", 10);
        add(q, "a", 0); /* duplicate add is an update */
        struct k8c_sched_queue_stats st;
        k8c_sched_queue_stats(q, &st);
        assert_int_equal(st.active, 4);
        assert_string_equal(pop(q, NULL), "b");
        assert_string_equal(pop(q, NULL), "d");
        assert_string_equal(pop(q, NULL), "a");
        assert_string_equal(pop(q, NULL), "c");
        assert_string_equal(pop(q, NULL), "");
        k8c_sched_queue_stats(q, &st);
        assert_int_equal(st.inflight, 4);
        k8c_sched_queue_done(q, "default/a");
        k8c_sched_queue_done(q, "default/b");
        k8c_sched_queue_done(q, "default/c");
        k8c_sched_queue_done(q, "default/d");
        k8c_sched_queue_stats(q, &st);
        assert_int_equal(st.inflight, 0);
        assert_false(k8c_sched_queue_state(q, "default/a", NULL, NULL));
        k8c_sched_queue_free(q);
}

static void test_backoff(void **state)
{
        struct k8c_sched_queue *q = new_queue();
        assert_int_equal(k8c_sched_queue_backoff_ms(q, 1), 1000);
        assert_int_equal(k8c_sched_queue_backoff_ms(q, 2), 2000);
        assert_int_equal(k8c_sched_queue_backoff_ms(q, 4), 8000);
        assert_int_equal(k8c_sched_queue_backoff_ms(q, 5), 10000);
        assert_int_equal(k8c_sched_queue_backoff_ms(q, 30), 10000);
        add(q, "p", 0);
        int attempts = -1;
        assert_string_equal(pop(q, &attempts), "p");
        for (int i = 1; i <= 6; i++) {
                assert_int_equal(attempts, i - 1);
                k8c_sched_queue_failed(q, "default/p", false, "boom", NULL);
                k8c_sched_qstate_t s;
                int a = -1;
                assert_true(k8c_sched_queue_state(q, "default/p", &s, &a));
                assert_int_equal(s, K8C_SCHED_Q_BACKOFF);
                assert_int_equal(a, i);
                /* ready exactly when 1 s, 2 s, 4 s, 8 s, 10 s, 10 s have passed */
                fake_now += k8c_sched_queue_backoff_ms(q, i) - 1;
                assert_string_equal(pop(q, NULL), "");
                fake_now += 1;
                assert_string_equal(pop(q, &attempts), "p");
        }
        k8c_sched_queue_free(q);
}

static void test_unschedulable_moves(void **state)
{
        struct k8c_sched_queue *q = new_queue();
        add(q, "u", 0);
        assert_string_equal(pop(q, NULL), "u");
        k8c_sched_queue_failed(q, "default/u", true, "0/1 nodes are available: 1 Insufficient cpu.",
                               "node-1: x");
        k8c_sched_qstate_t s;
        assert_true(k8c_sched_queue_state(q, "default/u", &s, NULL));
        assert_int_equal(s, K8C_SCHED_Q_UNSCHEDULABLE);
        fake_now += 30000;
        assert_string_equal(pop(q, NULL), ""); /* backoff long over, but nothing changed */
        /* A node was added: back to active (its 1 s backoff expired). */
        k8c_sched_queue_move_all(q);
        assert_true(k8c_sched_queue_state(q, "default/u", &s, NULL));
        assert_int_equal(s, K8C_SCHED_Q_ACTIVE);
        assert_string_equal(pop(q, NULL), "u");
        k8c_sched_queue_failed(q, "default/u", true, "again", NULL);
        /* A move right after the failure: still backing off (2 s) → backoff queue. */
        k8c_sched_queue_move_all(q);
        assert_true(k8c_sched_queue_state(q, "default/u", &s, NULL));
        assert_int_equal(s, K8C_SCHED_Q_BACKOFF);
        fake_now += 2000;
        assert_string_equal(pop(q, NULL), "u");
        /* A move while in flight sends the failed pod to backoff instead of the unschedulable set. */
        k8c_sched_queue_move_all(q);
        k8c_sched_queue_failed(q, "default/u", true, "again", NULL);
        assert_true(k8c_sched_queue_state(q, "default/u", &s, NULL));
        assert_int_equal(s, K8C_SCHED_Q_BACKOFF);
        fake_now += 4000;
        assert_string_equal(pop(q, NULL), "u");
        k8c_sched_queue_failed(q, "default/u", true, "again", NULL);
        /* Without any event it is retried after the flush interval (60 s). */
        fake_now += 59999;
        assert_string_equal(pop(q, NULL), "");
        fake_now += 1;
        assert_string_equal(pop(q, NULL), "u");
        k8c_sched_queue_failed(q, "default/u", true, "again", NULL);
        /* A spec change moves it back too; a status-only change does not. */
        json_auto_t *same = pod("u", 0);
        json_object_set_new(same, "status", json_pack("{s:s}", "phase", "Pending"));
        fake_now += 20000;
        k8c_sched_queue_add_or_update(q, same);
        assert_true(k8c_sched_queue_state(q, "default/u", &s, NULL));
        assert_int_equal(s, K8C_SCHED_Q_UNSCHEDULABLE);
        json_auto_t *changed = pod("u", 0);
        json_object_set_new(json_object_get(changed, "spec"), "nodeSelector", json_pack("{s:s}", "a", "b"));
        k8c_sched_queue_add_or_update(q, changed);
        assert_true(k8c_sched_queue_state(q, "default/u", &s, NULL));
        assert_int_equal(s, K8C_SCHED_Q_ACTIVE);
        k8c_sched_queue_free(q);
}

static void visit(void *opaque, const char *key, k8c_sched_qstate_t st, int attempts, const char *message,
                  const char *detail)
{
        fprintf(opaque, "%s %s %d %s|%s\n", key, k8c_sched_qstate_string(st), attempts,
                message ? message : "-", detail ? detail : "-");
}

static void test_delete_and_visit(void **state)
{
        struct k8c_sched_queue *q = new_queue();
        add(q, "x", 0);
        add(q, "y", 0);
        add(q, "z", 0);
        k8c_sched_queue_delete(q, "default/y");
        assert_string_equal(pop(q, NULL), "x");
        /* deleted while in flight: dropped when the attempt ends */
        k8c_sched_queue_delete(q, "default/x");
        k8c_sched_queue_failed(q, "default/x", true, "m", NULL);
        assert_false(k8c_sched_queue_state(q, "default/x", NULL, NULL));
        assert_string_equal(pop(q, NULL), "z");
        k8c_sched_queue_failed(q, "default/z", true, "0/2 nodes are available: 2 Insufficient cpu.",
                               "node-1: NodeResourcesFit: Insufficient cpu");
        add(q, "w", 0);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        k8c_sched_queue_visit(q, visit, f);
        fclose(f);
        assert_string_equal(buf,
                            "default/w active 0 -|-\n"
                            "default/z unschedulable 1 0/2 nodes are available: 2 Insufficient cpu.|node-1: "
                            "NodeResourcesFit: Insufficient cpu\n");
        free(buf);
        k8c_sched_queue_free(q);
}

static void test_shutdown_unblocks(void **state)
{
        struct k8c_sched_queue *q = new_queue();
        k8c_sched_queue_shutdown(q);
        json_t *p = NULL;
        assert_false(k8c_sched_queue_pop(q, -1, &p, NULL));
        assert_null(p);
        k8c_sched_queue_free(q);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_priority_then_age),   cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_unschedulable_moves), cmocka_unit_test(test_delete_and_visit),
                cmocka_unit_test(test_shutdown_unblocks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
