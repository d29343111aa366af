/*
 * bench_apiserver - request throughput and list latency of the release
 * k8c-apiserver on loopback (SQLite storage). Figures are printed, never
 * asserted: they depend on the machine.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../tests/common/apiserver_harness.h"

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
        const char *bindir = getenv("BINDIR");
        char *abs = realpath(bindir != NULL ? bindir : "bin", NULL);
        if (abs != NULL)
                setenv("K8C_BINDIR", abs, 1);
        free(abs);
        unsetenv("K8C_ASAN_BINDIR");
        struct k8c_test_apiserver s;
        if (k8c_test_apiserver_start(&s, NULL) < 0) {
                fprintf(stderr, "bench_apiserver: cannot start k8c-apiserver\n");
                return 1;
        }
        const int n = 1000;
        int failures = 0;
        double t0 = now_s();
        for (int i = 0; i < n; i++) {
                char body[256];
                snprintf(body, sizeof(body),
                         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm-%d\","
                         "\"labels\":{"
                         "\"i\":\"%d\"}},\"data\":{\"k\":\"v\"}}",
                         i, i % 10);
                struct k8c_test_http_reply r;
                if (k8c_test_http(&s, "POST", "/api/v1/namespaces/default/configmaps", "application/json",
                                  body, strlen(body), NULL, &r) < 0 ||
                    r.code != 201)
                        failures++;
                k8c_test_http_reply_free(&r);
        }
        double t1 = now_s();
        printf("create: %d objects in %.3f s (%.0f/s, new connection each)\n", n, t1 - t0, n / (t1 - t0));

        t0 = now_s();
        for (int i = 0; i < n; i++) {
                char path[128];
                snprintf(path, sizeof(path), "/api/v1/namespaces/default/configmaps/cm-%d", i);
                struct k8c_test_http_reply r;
                if (k8c_test_http(&s, "GET", path, NULL, NULL, 0, NULL, &r) < 0 || r.code != 200)
                        failures++;
                k8c_test_http_reply_free(&r);
        }
        t1 = now_s();
        printf("get: %d objects in %.3f s (%.0f/s)\n", n, t1 - t0, n / (t1 - t0));

        const char *lists[][2] = {
                { "/api/v1/namespaces/default/configmaps", NULL },
                { "/api/v1/namespaces/default/configmaps?labelSelector=i%3D3", NULL },
                { "/api/v1/namespaces/default/configmaps", "application/json;as=Table;v=v1;g=meta.k8s.io" },
        };
        const char *names[] = { "list all (JSON)", "list labelSelector i=3", "list all (Table)" };
        for (size_t k = 0; k < 3; k++) {
                const int reps = 20;
                t0 = now_s();
                for (int i = 0; i < reps; i++) {
                        struct k8c_test_http_reply r;
                        if (k8c_test_http(&s, "GET", lists[k][0], NULL, NULL, 0, lists[k][1], &r) < 0 ||
                            r.code != 200)
                                failures++;
                        k8c_test_http_reply_free(&r);
                }
                t1 = now_s();
                printf("%s of %d: %.2f ms each\n", names[k], n, (t1 - t0) * 1000 / reps);
        }
        k8c_test_apiserver_stop(&s);
        printf("failed requests: %d\n", failures);
        return failures == 0 ? 0 : 1;
}
