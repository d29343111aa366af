/*
 * SIGTERM while creates are in flight. Pod creates are queued to storage with
 * their HTTP connection suspended (rest.c queue_create); the apiserver must still
 * stop cleanly (exit 0: libmicrohttpd aborts if a connection is still suspended
 * when its daemon stops) and every create it acknowledged with 201 must be there
 * after it starts again on the same data dir. Sixteen client threads post pods
 * on keep-alive connections across the restart. Only 127.0.0.1 is contacted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "../../common/apiserver_harness.h"
#include "k8c/cleanup.h"

#define CLIENTS 16
#define MAX_ACKED 200000

struct shared {
        const char *url;
        atomic_bool stop;
        atomic_long seq;
        atomic_long acked_n;
        long *acked; /* sequence numbers answered 201 */
        atomic_long refused;
};

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
        return size * nmemb;
}

static void *client(void *arg)
{
        struct shared *sh = arg;
        CURL *h = curl_easy_init();
        cleanup_free char *url = k8c_xasprintf("%s/api/v1/namespaces/default/pods", sh->url);
        struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
        while (!atomic_load(&sh->stop)) {
                long n = atomic_fetch_add(&sh->seq, 1);
                char body[512];
                snprintf(body, sizeof(body),
                         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p-%ld\"},"
                         "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}",
                         n);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
                long code = 0;
                if (curl_easy_perform(h) == CURLE_OK)
                        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
                if (code == 201) {
                        long i = atomic_fetch_add(&sh->acked_n, 1);
                        if (i < MAX_ACKED)
                                sh->acked[i] = n;
                } else {
                        atomic_fetch_add(&sh->refused, 1);
                        struct timespec ts = { 0, 5 * 1000 * 1000 };
                        nanosleep(&ts, NULL);
                }
        }
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        return NULL;
}

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000 * 1000 };
        nanosleep(&ts, NULL);
}

static void test_sigterm_with_creates_in_flight(void **state)
{
        struct k8c_test_apiserver s;
        assert_int_equal(k8c_test_apiserver_start(&s, NULL), 0);
        struct shared sh = { .url = s.url };
        sh.acked = k8c_xcalloc(MAX_ACKED, sizeof(*sh.acked));
        pthread_t th[CLIENTS];
        for (int i = 0; i < CLIENTS; i++)
                assert_int_equal(pthread_create(&th[i], NULL, client, &sh), 0);
        /* Three stops under load; each must be clean (the harness requires exit status 0). */
        for (int round = 0; round < 3; round++) {
                long before = atomic_load(&sh.acked_n);
                for (int i = 0; i < 400 && atomic_load(&sh.acked_n) < before + 300; i++)
                        sleep_ms(10);
                assert_true(atomic_load(&sh.acked_n) > before);
                assert_int_equal(k8c_test_apiserver_restart(&s, NULL), 0);
        }
        long before = atomic_load(&sh.acked_n);
        for (int i = 0; i < 400 && atomic_load(&sh.acked_n) < before + 100; i++)
                sleep_ms(10);
        atomic_store(&sh.stop, true);
        for (int i = 0; i < CLIENTS; i++)
                pthread_join(th[i], NULL);

        long n = atomic_load(&sh.acked_n);
        if (n > MAX_ACKED)
                n = MAX_ACKED;
        printf("acknowledged creates: %ld (refused or failed while restarting: %ld)\n", n,
               atomic_load(&sh.refused));
        for (long i = 0; i < n; i++) {
                char path[96];
                snprintf(path, sizeof(path), "/api/v1/namespaces/default/pods/p-%ld", sh.acked[i]);
                struct k8c_test_http_reply r = { 0 };
                assert_int_equal(k8c_test_http(&s, "GET", path, NULL, NULL, 0, NULL, &r), 0);
                if (r.code != 200)
                        fail_msg("acknowledged create p-%ld is missing after the restarts (GET %ld)",
                                 sh.acked[i], r.code);
                k8c_test_http_reply_free(&r);
        }
        free(sh.acked);
        int status = k8c_test_apiserver_stop(&s);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sigterm_with_creates_in_flight),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return r;
}
