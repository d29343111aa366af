/*
 * kubelet_runc.c - see kubelet_runc.h. Test support only; no main().
 */
#include "kubelet_runc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"

double k8c_test_mono_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cleanup_node(struct k8c_test_node *n)
{
        /* Whatever the test left: containers in its runc root, mounts under its root (namespace
         * files, tmpfs volumes), its cgroups. Only paths and names this test made. */
        if (n->runc_root != NULL) {
                cleanup_free char *kill_all =
                        k8c_xasprintf("for c in $(runc --root '%s' list -q 2>/dev/null); do runc --root '%s' "
                                      "delete -f $c; done",
                                      n->runc_root, n->runc_root);
                if (system(kill_all) != 0)
                        fprintf(stderr, "runc cleanup failed\n");
        }
        cleanup_free char *umounts = k8c_xasprintf("for m in $(awk '{print $5}' /proc/self/mountinfo | grep "
                                                   "'^%s/' | sort -r); do umount -l $m; done",
                                                   n->root);
        if (system(umounts) != 0)
                fprintf(stderr, "umount cleanup failed\n");
        if (n->cgroup_parent != NULL) {
                cleanup_free char *cg =
                        k8c_xasprintf("find /sys/fs/cgroup -maxdepth 8 -depth -type d -path '*/%s*' "
                                      "-exec rmdir {} + 2>/dev/null; true",
                                      n->cgroup_parent);
                if (system(cg) != 0)
                        fprintf(stderr, "cgroup cleanup failed\n");
        }
}

int k8c_test_node_setup(void **state)
{
        struct k8c_test_node *n = k8c_xcalloc(1, sizeof(*n));
        if (k8c_test_apiserver_start(&n->srv, NULL) < 0) {
                free(n);
                return -1;
        }
        struct k8c_client_config cc = { .server = n->srv.url, .max_retries = 2 };
        if (k8c_client_new(&cc, &n->client, NULL) < 0)
                return -1;
        snprintf(n->root, sizeof(n->root), "/tmp/k8ct%d-kvol-XXXXXX", (int)getpid());
        if (mkdtemp(n->root) == NULL)
                return -1;
        n->node_name = "node-t";
        n->node_netns = k8c_xasprintf("%s/node.net", n->root);
        n->netns_dir = k8c_xasprintf("%s/netns", n->root);
        n->runc_root = k8c_xasprintf("%s/runc", n->root);
        n->cgroup_parent = k8c_xasprintf("k8ct%d-%s", (int)getpid(), strrchr(n->root, '-') + 1);
        *state = n;
        cleanup_error k8c_error_t err = NULL;
        if (k8c_ns_create(n->node_netns, NULL, NULL, NULL, &err) < 0) {
                fprintf(stderr, "node netns: %s\n", k8c_error_msg(&err));
                return -1;
        }
        const char *subnet = getenv("K8C_TEST_SUBNET");
        n->pod_cidr = k8c_xasprintf("10.244.%s.0/24", subnet != NULL ? subnet : "77");
        return k8c_test_node_restart_kubelet(n);
}

int k8c_test_node_restart_kubelet(struct k8c_test_node *n)
{
        k8c_kubelet_stop(n->k);
        n->k = NULL;
        const struct k8c_kubelet_config cfg = {
                .client = n->client,
                .node_name = n->node_name,
                .node_ip = "10.99.0.9",
                .root_dir = n->root,
                .capacity = "cpu=4,memory=8Gi,pods=110",
                .pod_cidr = n->pod_cidr,
                .runtime = "runc",
                .runc_root = n->runc_root,
                .netns_dir = n->netns_dir,
                .node_netns = n->node_netns,
                .cgroup_parent = n->cgroup_parent,
                .lease_interval_ms = 1000,
                .pod_resync_ms = 500,
        };
        cleanup_error k8c_error_t err = NULL;
        if (k8c_kubelet_start(&cfg, &n->k, &err) < 0) {
                fprintf(stderr, "kubelet: %s\n", k8c_error_msg(&err));
                return -1;
        }
        return 0;
}

int k8c_test_node_teardown(void **state)
{
        struct k8c_test_node *n = *state;
        if (n == NULL)
                return 0;
        k8c_kubelet_stop(n->k);
        cleanup_node(n);
        k8c_client_free(n->client);
        k8c_test_apiserver_stop(&n->srv);
        if (n->root[0] != '\0') {
                cleanup_free char *cmd = k8c_xasprintf("rm -rf --one-file-system '%s'", n->root);
                if (system(cmd) != 0)
                        fprintf(stderr, "cannot remove %s\n", n->root);
        }
        free(n->node_netns);
        free(n->netns_dir);
        free(n->runc_root);
        free(n->cgroup_parent);
        free(n->pod_cidr);
        free(n);
        return 0;
}

json_t *k8c_test_node_get(struct k8c_test_node *n, const char *path)
{
        json_t *obj = NULL;
        if (k8c_client_get(n->client, path, &obj, NULL) < 0)
                return NULL;
        return obj;
}

json_t *k8c_test_node_wait_pod(struct k8c_test_node *n, const char *name, bool (*pred)(const json_t *),
                               int timeout_ms)
{
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/default/pods/%s", name);
        for (int waited = 0; waited <= timeout_ms; waited += 100) {
                json_t *obj = k8c_test_node_get(n, path);
                if (obj != NULL && pred(obj))
                        return obj;
                json_decref(obj);
                usleep(100 * 1000);
        }
        return NULL;
}

int k8c_test_node_create(struct k8c_test_node *n, const char *kind_path, json_t *obj)
{
        if (strcmp(kind_path, "pods") == 0)
                k8c_json_set_new(obj, "spec.nodeName", json_string(n->node_name));
        cleanup_free char *path = kind_path[0] == '/'
                                          ? k8c_xstrdup(kind_path)
                                          : k8c_xasprintf("/api/v1/namespaces/default/%s", kind_path);
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_client_post(n->client, path, obj, NULL, &err);
        if (r < 0)
                fprintf(stderr, "create %s: %s\n", path, k8c_error_msg(&err));
        return r;
}

bool k8c_test_node_delete_pod(struct k8c_test_node *n, const char *name, const char *uid, int timeout_ms)
{
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/default/pods/%s", name);
        cleanup_error k8c_error_t err = NULL;
        if (k8c_client_delete(n->client, path, NULL, NULL, &err) < 0)
                return false;
        cleanup_free char *dir = k8c_xasprintf("%s/pods/%s", n->root, uid);
        for (int waited = 0; waited <= timeout_ms; waited += 100) {
                json_auto_t *cur = NULL;
                cleanup_error k8c_error_t ge = NULL;
                bool gone = k8c_client_get(n->client, path, &cur, &ge) == -(int)K8C_ENOTFOUND;
                struct stat st;
                if (gone && stat(dir, &st) < 0)
                        return true;
                usleep(100 * 1000);
        }
        return false;
}

const json_t *k8c_test_container_status(const json_t *pod, const char *container)
{
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(pod, "status.containerStatuses"), i, c)
        {
                const char *name = json_string_value(json_object_get(c, "name"));
                if (name != NULL && strcmp(name, container) == 0)
                        return c;
        }
        return NULL;
}

const char *k8c_test_pod_condition(const json_t *pod, const char *type)
{
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(pod, "status.conditions"), i, c)
        {
                const char *t = json_string_value(json_object_get(c, "type"));
                if (t != NULL && strcmp(t, type) == 0)
                        return json_string_value(json_object_get(c, "status")) ?: "";
        }
        return "";
}

int k8c_test_node_exec(struct k8c_test_node *n, const json_t *pod, const char *container, const char *script)
{
        const char *cid = k8c_json_get_string(k8c_test_container_status(pod, container), "containerID");
        if (cid == NULL || strncmp(cid, "runc://", 7) != 0)
                return -1;
        /* The script goes through a file: no quoting games with the shell. */
        cleanup_free char *file = k8c_xasprintf("%s/exec-script", n->root);
        FILE *fp = fopen(file, "we");
        if (fp == NULL)
                return -1;
        fputs(script, fp);
        fclose(fp);
        cleanup_free char *cmd = k8c_xasprintf("runc --root '%s' exec %s sh -c \"$(cat '%s')\" </dev/null",
                                               n->runc_root, cid + 7, file);
        int st = system(cmd);
        return st < 0 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

bool k8c_test_pod_has_event(struct k8c_test_node *n, const char *pod_name, const char *reason,
                            const char *needle)
{
        json_auto_t *list = k8c_test_node_get(n, "/api/v1/namespaces/default/events");
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(list, "items"), i, e)
        {
                const char *name = k8c_json_get_string(e, "involvedObject.name");
                const char *r = json_string_value(json_object_get(e, "reason"));
                const char *msg = json_string_value(json_object_get(e, "message"));
                if (name != NULL && strcmp(name, pod_name) == 0 && r != NULL && strcmp(r, reason) == 0 &&
                    msg != NULL && strstr(msg, needle) != NULL)
                        return true;
        }
        return false;
}

char *k8c_test_container_log(struct k8c_test_node *n, const json_t *pod, const char *container, int restart)
{
        cleanup_free char *path = k8c_xasprintf("%s/logs/default_%s_%s/%s/%d.log", n->root,
                                                k8c_json_get_string(pod, "metadata.name"),
                                                k8c_json_get_string(pod, "metadata.uid"), container, restart);
        cleanup_fclose FILE *fp = fopen(path, "re");
        if (fp == NULL)
                return NULL;
        char buf[16384];
        size_t got = fread(buf, 1, sizeof(buf) - 1, fp);
        buf[got] = '\0';
        return k8c_xstrdup(buf);
}

bool k8c_test_wait_log(struct k8c_test_node *n, const json_t *pod, const char *container, int restart,
                       const char *needle, int timeout_ms)
{
        for (int waited = 0; waited <= timeout_ms; waited += 100) {
                cleanup_free char *log = k8c_test_container_log(n, pod, container, restart);
                if (log != NULL && strstr(log, needle) != NULL)
                        return true;
                usleep(100 * 1000);
        }
        return false;
}
