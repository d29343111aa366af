/*
 * lab.c - k8c-lab's verbs: up, down, status, kubeconfig, logs, exec, node.
 *
 * A lab is described by <dir>/lab.json (written before anything is made, so
 * a half-made lab can be taken down) and found by name through the symlink
 * /run/k8c-lab/<name> -> <dir>. Layout of <dir>: run/<daemon>.pid, logs/<daemon>.log,
 * kubeconfig (host: loopback server), node.kubeconfig (nodes: bridge
 * address), apiserver/ (SQLite), registry/ (storage and config),
 * nodes/node-<i>/ (kubelet root, runc root, pod netns files, pod logs).
 *
 * Must not: route anything off the lab (nodes get no default route, the host
 * is not asked to forward), or remove anything not named by the lab's state.
 */
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <ifaddrs.h>
#include <libiptc/libiptc.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/fs.h"
#include "k8c/client.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"
#include "k8c/lab.h"
#include "k8c/quantity.h"

extern char **environ;

#define SERVICE_CIDR "10.96.0.0/12"
#define DNS_SERVICE_IP "10.96.0.10"
#define CLUSTER_CIDR "10.244.0.0/16"
#define RUN_INDEX "/run/k8c-lab"

/* ---- names and addresses ---- */

static uint32_t fnv1a(const char *s)
{
        uint32_t h = 2166136261u;
        for (; *s != '\0'; s++) {
                h ^= (uint8_t)*s;
                h *= 16777619u;
        }
        return h;
}

int k8c_lab_net_for(const char *name, struct k8c_lab_net *ret, k8c_error_t *err)
{
        size_t n = name != NULL ? strlen(name) : 0;
        /* "<name>-br" and "<name>-n<i>" (i < 100) must fit IFNAMSIZ-1 = 15. */
        if (n == 0 || n > 10)
                return k8c_make_error(err, K8C_EUSAGE, "lab name must be 1 to 10 characters");
        for (size_t i = 0; i < n; i++)
                if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
                      (name[i] == '-' && i > 0)))
                        return k8c_make_error(err, K8C_EUSAGE,
                                              "lab name %s: only a-z, 0-9 and '-' (not first) are allowed",
                                              name);
        uint32_t h = fnv1a(name);
        memset(ret, 0, sizeof(*ret));
        /* 10.200-239.x: clear of the pod network (10.244.0.0/16) and the services (10.96.0.0/12). */
        ret->a = (uint8_t)(200 + h % 40);
        ret->b = (uint8_t)((h >> 8) & 0xff);
        snprintf(ret->subnet, sizeof(ret->subnet), "10.%u.%u.0/24", ret->a, ret->b);
        snprintf(ret->bridge_ip, sizeof(ret->bridge_ip), "10.%u.%u.1", ret->a, ret->b);
        snprintf(ret->loopback_ip, sizeof(ret->loopback_ip), "127.%u.%u.1", ret->a, ret->b);
        snprintf(ret->bridge, sizeof(ret->bridge), "%s-br", name);
        return 0;
}

void k8c_lab_node_ip(const struct k8c_lab_net *net, int i, char buf[16])
{
        snprintf(buf, 16, "10.%u.%u.%u", net->a, net->b, (unsigned)(uint8_t)(10 + i));
}

/* ---- small file helpers ---- */

static int write_text(const char *path, const char *text, k8c_error_t *err)
{
        cleanup_free char *tmp = k8c_xasprintf("%s.tmp", path);
        cleanup_fclose FILE *f = fopen(tmp, "we");
        if (f == NULL)
                return k8c_make_errno(err, errno, "create %s", tmp);
        fputs(text, f);
        if (fclose(k8c_steal(&f)) != 0 || rename(tmp, path) < 0)
                return k8c_make_errno(err, errno, "write %s", path);
        return 0;
}

static bool exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        if (flag == FTW_DP)
                rmdir(path);
        else
                unlink(path);
        return 0;
}

/* ---- the lab's state ---- */

struct lab {
        char *name, *dir;
        struct k8c_lab_net net;
        json_t *state; /* lab.json */
};

static void lab_free(struct lab *l)
{
        free(l->name);
        free(l->dir);
        json_decref(l->state);
        memset(l, 0, sizeof(*l));
}

static char *index_link(const char *name)
{
        return k8c_xasprintf("%s/%s", RUN_INDEX, name);
}

/* Finds the lab: --dir, else the index link, else the default directory. */
static int lab_open_node(const struct k8c_lab_config *cfg, const char *node, struct lab *l, k8c_error_t *err);

static int lab_open(const struct k8c_lab_config *cfg, struct lab *l, k8c_error_t *err)
{
        return lab_open_node(cfg, NULL, l, err);
}

/* Without --name, a node named "<name>-node-<i>" names its lab. */
static int lab_open_node(const struct k8c_lab_config *cfg, const char *node, struct lab *l, k8c_error_t *err)
{
        memset(l, 0, sizeof(*l));
        const char *name = cfg->name != NULL ? cfg->name : "lab";
        cleanup_free char *from_node = NULL;
        const char *dash = node != NULL ? strstr(node, "-node-") : NULL;
        if (cfg->name == NULL && dash != NULL && dash != node) {
                from_node = k8c_xstrndup(node, (size_t)(dash - node));
                name = from_node;
        }
        int r = k8c_lab_net_for(name, &l->net, err);
        if (r < 0)
                return r;
        l->name = k8c_xstrdup(name);
        if (cfg->dir != NULL) {
                l->dir = realpath(cfg->dir, NULL);
                if (l->dir == NULL)
                        l->dir = k8c_xstrdup(cfg->dir);
        } else {
                cleanup_free char *link = index_link(name);
                l->dir = realpath(link, NULL);
                if (l->dir == NULL)
                        l->dir = k8c_xasprintf("/var/lib/k8c-lab/%s", name);
        }
        cleanup_free char *state = k8c_xasprintf("%s/lab.json", l->dir);
        l->state = json_load_file(state, 0, NULL);
        return 0;
}

static int lab_save(struct lab *l, k8c_error_t *err)
{
        cleanup_free char *path = k8c_xasprintf("%s/lab.json", l->dir);
        cleanup_free char *tmp = k8c_xasprintf("%s.tmp", path);
        if (json_dump_file(l->state, tmp, JSON_INDENT(2)) < 0 || rename(tmp, path) < 0)
                return k8c_make_errno(err, errno, "write %s", path);
        return 0;
}

static char *pid_path(struct lab *l, const char *daemon)
{
        return k8c_xasprintf("%s/run/%s.pid", l->dir, daemon);
}

static char *log_path(struct lab *l, const char *daemon)
{
        return k8c_xasprintf("%s/logs/%s.log", l->dir, daemon);
}

static char *netns_path(struct lab *l, int i)
{
        return k8c_xasprintf("/run/netns/%s-node-%d", l->name, i);
}

/* Node i from "3", "node-3" or "<name>-node-3"; 0 if none. */
static int node_index(struct lab *l, const char *node)
{
        if (node == NULL)
                return 0;
        size_t n = strlen(l->name);
        if (strncmp(node, l->name, n) == 0 && node[n] == '-')
                node += n + 1;
        if (strncmp(node, "node-", 5) == 0)
                node += 5;
        char *end;
        long i = strtol(node, &end, 10);
        int nodes = (int)k8c_json_get_int(l->state, "nodes", 0);
        return *end == '\0' && i >= 1 && i <= nodes ? (int)i : 0;
}

/* ---- talking to the lab's apiserver ---- */

static int lab_client(struct lab *l, struct k8c_client **ret, k8c_error_t *err)
{
        cleanup_free char *url = k8c_xasprintf("http://%s:%d", l->net.loopback_ip, K8C_LAB_API_PORT);
        struct k8c_client_config cc = { .server = url, .max_retries = 1, .timeout_ms = 5000 };
        return k8c_client_new(&cc, ret, err);
}

static int wait_url(const char *what, struct k8c_client *c, const char *path, int timeout_s, k8c_error_t *err)
{
        for (int waited = 0; waited < timeout_s * 10; waited++) {
                json_t *obj = NULL;
                if (k8c_client_get(c, path, &obj, NULL) == 0) {
                        json_decref(obj);
                        return 0;
                }
                usleep(100 * 1000);
        }
        return k8c_make_error(err, K8C_ETIMEOUT, "%s did not answer within %ds", what, timeout_s);
}

/* ---- up ---- */

static char *self_dir(void)
{
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
                return k8c_xstrdup(".");
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL)
                *slash = '\0';
        return k8c_xstrdup(exe);
}

static int find_binary(const char *bindir, const char *name, char **ret, k8c_error_t *err)
{
        cleanup_free char *p = k8c_xasprintf("%s/%s", bindir, name);
        if (access(p, X_OK) == 0) {
                *ret = k8c_steal(&p);
                return 0;
        }
        const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
        cleanup_free char *copy = k8c_xstrdup(path);
        char *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
                cleanup_free char *q = k8c_xasprintf("%s/%s", d, name);
                if (access(q, X_OK) == 0) {
                        *ret = k8c_steal(&q);
                        return 0;
                }
        }
        return k8c_make_error(err, K8C_ENOTFOUND, "%s not found in %s or $PATH", name, bindir);
}

static void progress(const struct k8c_lab_config *cfg, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void progress(const struct k8c_lab_config *cfg, const char *fmt, ...)
{
        if (cfg->quiet)
                return;
        va_list ap;
        va_start(ap, fmt);
        fputs(" • ", stdout);
        vfprintf(stdout, fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
        fflush(stdout);
}

/* Spawns daemon (argv[0] a binary name found in bindir or $PATH) and records its argv in the state,
 * so `node start` can start it again. */
static int start_daemon(struct lab *l, const char *bindir, const char *daemon, const char *netns,
                        const char *leaf, json_t *argv_json, k8c_error_t *err)
{
        cleanup_free char *bin = NULL;
        int r = find_binary(bindir, json_string_value(json_array_get(argv_json, 0)), &bin, err);
        if (r < 0) {
                json_decref(argv_json);
                return r;
        }
        json_array_set_new(argv_json, 0, json_string(bin));
        json_t *daemons = k8c_json_object_ensure(l->state, "daemons");
        json_object_set_new(
                daemons, daemon,
                json_pack("{s:o, s:s?, s:s?}", "argv", argv_json, "netns", netns, "cgroup", leaf));
        if ((r = lab_save(l, err)) < 0)
                return r;
        size_t n = json_array_size(argv_json);
        char **argv = k8c_xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                argv[i] = (char *)json_string_value(json_array_get(argv_json, i));
        cleanup_free char *pidf = pid_path(l, daemon);
        cleanup_free char *logf = log_path(l, daemon);
        r = k8c_lab_spawn(argv, logf, netns, json_object_get(l->state, "cgroups"), leaf, pidf, NULL, err);
        free(argv);
        if (r < 0)
                return k8c_error_wrap(err, "start %s", daemon);
        return 0;
}

static int restart_daemon(struct lab *l, const char *daemon, k8c_error_t *err)
{
        json_t *d = k8c_json_get(l->state, "daemons");
        d = json_object_get(d, daemon);
        if (d == NULL)
                return k8c_make_error(err, K8C_ENOTFOUND, "no daemon %s in this lab", daemon);
        cleanup_free char *pidf = pid_path(l, daemon);
        if (k8c_lab_pidfile_alive(pidf) > 0)
                return 0;
        json_t *argv_json = json_object_get(d, "argv");
        size_t n = json_array_size(argv_json);
        char **argv = k8c_xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                argv[i] = (char *)json_string_value(json_array_get(argv_json, i));
        cleanup_free char *logf = log_path(l, daemon);
        int r = k8c_lab_spawn(argv, logf, json_string_value(json_object_get(d, "netns")),
                              json_object_get(l->state, "cgroups"),
                              json_string_value(json_object_get(d, "cgroup")), pidf, NULL, err);
        free(argv);
        return r;
}

static int write_kubeconfig(const char *path, const char *name, const char *server, k8c_error_t *err)
{
        /* JSON is YAML: kubectl and k8c read it as a kubeconfig. */
        json_auto_t *kc =
                json_pack("{s:s, s:s, s:[{s:s, s:{s:s}}], s:[{s:s, s:{s:s, s:s}}], s:s, s:[{s:s, s:{}}]}",
                          "apiVersion", "v1", "kind", "Config", "clusters", "name", name, "cluster", "server",
                          server, "contexts", "name", name, "context", "cluster", name, "user", name,
                          "current-context", name, "users", "name", name, "user");
        cleanup_free char *text = json_dumps(kc, JSON_INDENT(2));
        cleanup_free char *with_nl = k8c_xasprintf("%s\n", text);
        return write_text(path, with_nl, err);
}

static int wait_http(const char *url, const char *path, int timeout_s, k8c_error_t *err)
{
        struct k8c_client_config cc = { .server = url, .max_retries = 1, .timeout_ms = 2000 };
        struct k8c_client *c = NULL;
        int r = k8c_client_new(&cc, &c, err);
        if (r < 0)
                return r;
        r = -1;
        for (int waited = 0; waited < timeout_s * 10 && r < 0; waited++) {
                struct k8c_response resp = { 0 };
                if (k8c_client_do(c, "GET", path, NULL, NULL, &resp, NULL) >= 0)
                        r = 0;
                k8c_response_free(&resp);
                if (r < 0)
                        usleep(100 * 1000);
        }
        k8c_client_free(c);
        return r == 0 ? 0 : k8c_make_error(err, K8C_ETIMEOUT, "%s did not answer within %ds", url, timeout_s);
}

static int ensure(struct k8c_client *c, const char *path, json_t *obj, k8c_error_t *err)
{
        json_t *ret = NULL;
        cleanup_error k8c_error_t e = NULL;
        int r = k8c_client_post(c, path, obj, &ret, &e);
        json_decref(obj);
        json_decref(ret);
        if (r < 0 && k8c_error_reason(&e) != K8C_EALREADYEXISTS)
                return k8c_make_error(err, k8c_error_reason(&e), "POST %s: %s", path, k8c_error_msg(&e));
        return 0;
}

/* kube-dns: a ClusterIP Service without selector whose Endpoints are every node's proxy DNS. */
static int make_kube_dns(struct lab *l, struct k8c_client *c, int nodes, k8c_error_t *err)
{
        int r = ensure(c, "/api/v1/namespaces",
                       json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
                                 "name", "kube-system"),
                       err);
        if (r < 0)
                return r;
        r = ensure(c, "/api/v1/namespaces/kube-system/services",
                   json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:{s:s, s:[{s:s, s:i, s:s}, {s:s, s:i, "
                             "s:s}]}}",
                             "apiVersion", "v1", "kind", "Service", "metadata", "name", "kube-dns",
                             "namespace", "kube-system", "labels", "k8s-app", "kube-dns",
                             "kubernetes.io/cluster-service", "true", "spec", "clusterIP", DNS_SERVICE_IP,
                             "ports", "name", "dns", "port", 53, "protocol", "UDP", "name", "dns-tcp", "port",
                             53, "protocol", "TCP"),
                   err);
        if (r < 0)
                return r;
        json_t *addrs = json_array();
        for (int i = 1; i <= nodes; i++) {
                char ip[16];
                k8c_lab_node_ip(&l->net, i, ip);
                json_array_append_new(addrs, json_pack("{s:s}", "ip", ip));
        }
        return ensure(c, "/api/v1/namespaces/kube-system/endpoints",
                      json_pack("{s:s, s:s, s:{s:s, s:s}, s:[{s:o, s:[{s:s, s:i, s:s}, {s:s, s:i, s:s}]}]}",
                                "apiVersion", "v1", "kind", "Endpoints", "metadata", "name", "kube-dns",
                                "namespace", "kube-system", "subsets", "addresses", addrs, "ports", "name",
                                "dns", "port", 53, "protocol", "UDP", "name", "dns-tcp", "port", 53,
                                "protocol", "TCP"),
                      err);
}

static bool node_is_ready(const json_t *node)
{
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(node, "status.conditions"), i, c)
        {
                if (strcmp(json_string_value(json_object_get(c, "type")) ?: "", "Ready") == 0)
                        return strcmp(json_string_value(json_object_get(c, "status")) ?: "", "True") == 0;
        }
        return false;
}

/* Each node routes every other node's podCIDR via that node's lab address (host-gw). Returns how
 * many nodes have a podCIDR. */
static int route_pod_cidrs(struct lab *l, struct k8c_client *c, int nodes, k8c_error_t *err)
{
        json_auto_t *list = NULL;
        int r = k8c_client_get(c, "/api/v1/nodes", &list, err);
        if (r < 0)
                return r;
        char *cidrs[100] = { 0 };
        int have = 0;
        size_t i;
        json_t *n;
        json_array_foreach(json_object_get(list, "items"), i, n)
        {
                int idx = node_index(l, k8c_json_get_string(n, "metadata.name"));
                const char *cidr = k8c_json_get_string(n, "spec.podCIDR");
                if (idx > 0 && idx < 100 && cidr != NULL && cidrs[idx] == NULL) {
                        cidrs[idx] = k8c_xstrdup(cidr);
                        have++;
                }
        }
        for (int from = 1; from <= nodes && r >= 0; from++) {
                cleanup_free char *ns = netns_path(l, from);
                for (int to = 1; to <= nodes && r >= 0; to++) {
                        if (to == from || to >= 100 || cidrs[to] == NULL)
                                continue;
                        char gw[16];
                        k8c_lab_node_ip(&l->net, to, gw);
                        r = k8c_lab_net_route(ns, cidrs[to], gw, "eth0", err);
                }
        }
        for (int k = 0; k < 100; k++)
                free(cidrs[k]);
        return r < 0 ? r : have;
}

/* A daemon that exited while the lab comes up (e.g. a kubelet whose registration timed out on a
 * busy machine) is started again, up to 3 times, as a service manager would. */
static void revive_daemons(const struct k8c_lab_config *cfg, struct lab *l, json_t *restarts)
{
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(l->state, "daemons"), key, v)
        {
                cleanup_free char *pidf = pid_path(l, key);
                if (k8c_lab_pidfile_alive(pidf) > 0)
                        continue;
                json_int_t n = json_integer_value(json_object_get(restarts, key));
                if (n >= 3)
                        continue;
                json_object_set_new(restarts, key, json_integer(n + 1));
                cleanup_error k8c_error_t e = NULL;
                if (restart_daemon(l, key, &e) < 0)
                        fprintf(stderr, "\nk8c-lab: cannot restart %s: %s\n", key, k8c_error_msg(&e));
                else if (!cfg->quiet)
                        printf("\n • %s had exited (see %s/logs/%s.log); started again\n", key, l->dir, key);
        }
}

static int wait_nodes(const struct k8c_lab_config *cfg, struct lab *l, struct k8c_client *c, int nodes,
                      int timeout_s, k8c_error_t *err)
{
        bool tty = isatty(1) && !cfg->quiet;
        int ready = 0, last = -1;
        json_auto_t *restarts = json_object();
        for (int waited = 0; waited < timeout_s * 4; waited++) {
                if (waited % 8 == 7)
                        revive_daemons(cfg, l, restarts);
                json_auto_t *list = NULL;
                ready = 0;
                if (k8c_client_get(c, "/api/v1/nodes", &list, NULL) == 0) {
                        size_t i;
                        json_t *n;
                        json_array_foreach(json_object_get(list, "items"), i, n)
                        {
                                if (node_index(l, k8c_json_get_string(n, "metadata.name")) > 0 &&
                                    node_is_ready(n) && k8c_json_get_string(n, "spec.podCIDR") != NULL)
                                        ready++;
                        }
                }
                if (ready != last && !cfg->quiet) {
                        if (tty)
                                printf("\r • nodes Ready: %d/%d", ready, nodes);
                        else
                                printf(" • nodes Ready: %d/%d\n", ready, nodes);
                        fflush(stdout);
                        last = ready;
                }
                if (ready == nodes) {
                        if (tty)
                                putchar('\n');
                        return 0;
                }
                usleep(250 * 1000);
        }
        if (tty)
                putchar('\n');
        return k8c_make_error(err, K8C_ETIMEOUT, "only %d of %d nodes became Ready within %ds (see %s/logs)",
                              ready, nodes, timeout_s, l->dir);
}

static json_t *strv_json(const char *first, ...)
{
        json_t *a = json_array();
        va_list ap;
        va_start(ap, first);
        for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
                json_array_append_new(a, json_string(s));
        va_end(ap);
        return a;
}

static void print_usage_hint(struct lab *l)
{
        printf("\nlab %s is up.\n"
               "  export KUBECONFIG=%s/kubeconfig\n"
               "  kubectl get nodes                       # or: bin/k8cctl --kubeconfig $KUBECONFIG get "
               "nodes\n"
               "  kubectl run demo --image=busybox -- sleep 3600    # busybox comes from the lab registry\n"
               "  k8c-lab exec %s-node-1 -- wget -qO- http://<clusterIP>\n"
               "  k8c-lab status --name %s;  k8c-lab logs %s-node-1 kubelet --name %s\n"
               "  k8c-lab down --name %s\n",
               l->name, l->dir, l->name, l->name, l->name, l->name, l->name);
}

static int parse_capacity(const char *cap, int64_t *ret_cpu_milli, int64_t *ret_mem, k8c_error_t *err)
{
        json_auto_t *c = NULL;
        int r = k8c_kubelet_parse_capacity(cap, &c, err);
        if (r < 0)
                return r;
        k8c_quantity_t q;
        *ret_cpu_milli = 0;
        *ret_mem = 0;
        if (json_object_get(c, "cpu") != NULL) {
                if ((r = k8c_quantity_from_json(json_object_get(c, "cpu"), &q, err)) < 0)
                        return r;
                *ret_cpu_milli = k8c_quantity_milli(&q);
        }
        if (json_object_get(c, "memory") != NULL) {
                if ((r = k8c_quantity_from_json(json_object_get(c, "memory"), &q, err)) < 0)
                        return r;
                *ret_mem = k8c_quantity_value(&q);
        }
        return 0;
}

static int up_node(const struct k8c_lab_config *cfg, struct lab *l, const char *bindir, int i,
                   int64_t cpu_milli, int64_t mem, k8c_error_t *err)
{
        char ip[16];
        k8c_lab_node_ip(&l->net, i, ip);
        cleanup_free char *ns = netns_path(l, i);
        cleanup_free char *node = k8c_xasprintf("%s-node-%d", l->name, i);
        cleanup_free char *leaf = k8c_xasprintf("node-%d", i);
        cleanup_free char *root = k8c_xasprintf("%s/nodes/node-%d", l->dir, i);
        cleanup_free char *host_if = k8c_xasprintf("%s-n%d", l->name, i);
        cleanup_free char *cidr = k8c_xasprintf("%s/24", ip);
        int r = k8c_mkdir_p(root, 0755, err);
        if (r < 0)
                return r;
        if (!exists(ns) && (r = k8c_ns_create(ns, NULL, NULL, NULL, err)) < 0)
                return k8c_error_wrap(err, "node %s netns", node);
        if ((r = k8c_lab_net_attach_node(ns, l->net.bridge, host_if, cidr, err)) < 0)
                return k8c_error_wrap(err, "node %s network", node);
        /* ClusterIPs are DNAT'd by the proxy in OUTPUT, after the route lookup: the service
         * range needs a route, and it stays on the lab link. */
        if ((r = k8c_lab_net_route(ns, SERVICE_CIDR, NULL, "eth0", err)) < 0)
                return k8c_error_wrap(err, "node %s service route", node);
        json_t *cgroups = k8c_json_object_ensure(l->state, "cgroups");
        if (!json_is_array(cgroups)) {
                json_object_set_new(l->state, "cgroups", json_array());
                cgroups = json_object_get(l->state, "cgroups");
        }
        if ((r = k8c_lab_cgroup_create(l->name, leaf, cpu_milli, mem, cgroups, err)) < 0)
                return k8c_error_wrap(err, "node %s cgroup", node);
        if ((r = lab_save(l, err)) < 0)
                return r;
        cleanup_free char *server = k8c_xasprintf("http://%s:%d", l->net.bridge_ip, K8C_LAB_API_PORT);
        cleanup_free char *kc = k8c_xasprintf("%s/node.kubeconfig", l->dir);
        cleanup_free char *capacity = k8c_xasprintf("%s,pods=110", cfg->node_capacity ?: "cpu=2,memory=2Gi");
        cleanup_free char *runc_root = k8c_xasprintf("%s/runc", root);
        cleanup_free char *netns_dir = k8c_xasprintf("%s/netns", root);
        cleanup_free char *logs = k8c_xasprintf("%s/logs", root);
        cleanup_free char *mirror = k8c_xasprintf("http://%s:%d", l->net.bridge_ip, K8C_LAB_REGISTRY_PORT);
        cleanup_free char *kubelet = k8c_xasprintf("kubelet-%d", i);
        json_t *kargv =
                strv_json("k8c-kubelet", "--kubeconfig", kc, "--hostname-override", node, "--node-ip", ip,
                          "--root-dir", root, "--capacity", capacity, "--runc-root", runc_root, "--netns-dir",
                          netns_dir, "--pod-log-dir", logs, "--address", ip, "--registry-mirror", mirror,
                          "--cluster-dns", DNS_SERVICE_IP, "--node-labels",
                          i == 1 ? "node-role.kubernetes.io/control-plane=" : "k8c.io/lab-worker=true", NULL);
        if ((r = start_daemon(l, bindir, kubelet, ns, leaf, kargv, err)) < 0)
                return r;
        cleanup_free char *proxy = k8c_xasprintf("proxy-%d", i);
        cleanup_free char *dns = k8c_xasprintf("%s:53", ip);
        json_t *pargv = strv_json("k8c-proxy", "--kubeconfig", kc, "--hostname-override", node,
                                  "--cluster-cidr", CLUSTER_CIDR, "--dns-bind-address", dns, NULL);
        if ((r = start_daemon(l, bindir, proxy, ns, leaf, pargv, err)) < 0)
                return r;
        progress(cfg, "node %s: netns %s, %s on %s, kubelet and proxy started", node, ns, ip, l->net.bridge);
        return 0;
}

/* The interface holding an address in the lab's /24, other than its own bridge (another lab whose
 * name hashes to the same subnet, or a real network of the host): NULL if none. */
static char *subnet_user(const struct lab *l)
{
        struct ifaddrs *ifs = NULL;
        if (getifaddrs(&ifs) < 0)
                return NULL;
        char *who = NULL;
        uint32_t net = ((uint32_t)10 << 24) | ((uint32_t)l->net.a << 16) | ((uint32_t)l->net.b << 8);
        for (struct ifaddrs *i = ifs; i != NULL && who == NULL; i = i->ifa_next) {
                if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
                        continue;
                uint32_t a = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
                if ((a & 0xffffff00u) == net && strcmp(i->ifa_name, l->net.bridge) != 0)
                        who = k8c_xstrdup(i->ifa_name);
        }
        freeifaddrs(ifs);
        return who;
}

static int apiserver_alive(struct lab *l)
{
        cleanup_free char *p = pid_path(l, "apiserver");
        return k8c_lab_pidfile_alive(p) > 0;
}

int k8c_lab_up(const struct k8c_lab_config *cfg, k8c_error_t *err)
{
        struct lab l;
        int r = lab_open(cfg, &l, err);
        if (r < 0)
                return r;
        int nodes = cfg->nodes > 0 ? cfg->nodes : 2;
        const char *storage = cfg->storage ?: "sqlite";
        if (nodes > 99) {
                lab_free(&l);
                return k8c_make_error(err, K8C_EUSAGE, "at most 99 nodes");
        }
        if (strcmp(storage, "sqlite") != 0 && strcmp(storage, "etcd") != 0) {
                lab_free(&l);
                return k8c_make_error(err, K8C_EUSAGE, "--storage must be sqlite or etcd");
        }
        if (l.state != NULL) {
                if (apiserver_alive(&l)) {
                        printf("lab %s is already up (%d nodes, dir %s)\n", l.name,
                               (int)k8c_json_get_int(l.state, "nodes", 0), l.dir);
                        print_usage_hint(&l);
                        lab_free(&l);
                        return 0;
                }
                r = k8c_make_error(
                        err, K8C_EALREADYEXISTS,
                        "lab %s exists in %s but is not running; run `k8c-lab down --name %s` first", l.name,
                        l.dir, l.name);
                lab_free(&l);
                return r;
        }
        cleanup_free char *taken = subnet_user(&l);
        if (taken != NULL) {
                r = k8c_make_error(
                        err, K8C_EALREADYEXISTS,
                        "subnet %s of lab %s is already used by interface %s; choose another --name",
                        l.net.subnet, l.name, taken);
                lab_free(&l);
                return r;
        }
        int64_t cpu_milli, mem;
        if ((r = parse_capacity(cfg->node_capacity ?: "cpu=2,memory=2Gi", &cpu_milli, &mem, err)) < 0) {
                lab_free(&l);
                return k8c_error_wrap(err, "--node-capacity");
        }
        cleanup_free char *bindir = cfg->bindir != NULL ? k8c_xstrdup(cfg->bindir) : self_dir();
        cleanup_free char *run = k8c_xasprintf("%s/run", l.dir);
        cleanup_free char *logs = k8c_xasprintf("%s/logs", l.dir);
        cleanup_free char *regdir = k8c_xasprintf("%s/registry", l.dir);
        if ((r = k8c_mkdir_p(run, 0755, err)) < 0 || (r = k8c_mkdir_p(logs, 0755, err)) < 0 ||
            (r = k8c_mkdir_p(regdir, 0755, err)) < 0 || (r = k8c_mkdir_p(RUN_INDEX, 0755, err)) < 0 ||
            (r = k8c_mkdir_p("/run/netns", 0755, err)) < 0) {
                lab_free(&l);
                return r;
        }
        l.state = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:[]}", "name", l.name, "dir", l.dir,
                            "nodes", nodes, "nodeCapacity", cfg->node_capacity ?: "cpu=2,memory=2Gi",
                            "storage", storage, "subnet", l.net.subnet, "bridge", l.net.bridge, "bridgeIP",
                            l.net.bridge_ip, "cgroups");
        cleanup_free char *link = index_link(l.name);
        unlink(link);
        if ((r = lab_save(&l, err)) < 0 || (symlink(l.dir, link) < 0 && errno != EEXIST &&
                                            (r = k8c_make_errno(err, errno, "symlink %s", link)) < 0)) {
                lab_free(&l);
                return r;
        }
        printf("Creating lab %s (%d nodes, subnet %s, dir %s)\n", l.name, nodes, l.net.subnet, l.dir);
        fflush(stdout);

        struct k8c_client *client = NULL;
        cleanup_free char *bridge_cidr = NULL, *regcfg = NULL, *regstore = NULL, *regtext = NULL,
                          *regurl = NULL, *api_bind = NULL, *api_port = NULL, *data_dir = NULL, *kc = NULL,
                          *node_kc = NULL, *host_url = NULL, *node_url = NULL, *lb_range = NULL,
                          *digest = NULL;
        bridge_cidr = k8c_xasprintf("%s/24", l.net.bridge_ip);
        r = k8c_net_ensure_bridge(NULL, l.net.bridge, bridge_cidr, err);
        if (r < 0) {
                k8c_error_wrap(err, "bridge %s", l.net.bridge);
                goto out;
        }
        progress(cfg, "bridge %s with %s", l.net.bridge, bridge_cidr);

        /* The registry: storage and config under the lab dir, on the bridge address only. */
        regcfg = k8c_xasprintf("%s/config.yml", regdir);
        regstore = k8c_xasprintf("%s/storage", regdir);
        regtext = k8c_xasprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: "
                                "true\nstorage:\n  filesystem:\n"
                                "    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s:%d\n",
                                regstore, l.net.bridge_ip, K8C_LAB_REGISTRY_PORT);
        if ((r = write_text(regcfg, regtext, err)) < 0)
                goto out;
        if ((r = start_daemon(&l, bindir, "registry", NULL, NULL,
                              strv_json("docker-registry", "serve", regcfg, NULL), err)) < 0)
                goto out;
        regurl = k8c_xasprintf("http://%s:%d", l.net.bridge_ip, K8C_LAB_REGISTRY_PORT);

        api_bind = k8c_xasprintf("%s,%s", l.net.loopback_ip, l.net.bridge_ip);
        api_port = k8c_xasprintf("%d", K8C_LAB_API_PORT);
        data_dir = k8c_xasprintf("%s/apiserver", l.dir);
        /* A lab's few clients need few HTTP threads; the default 64 (sized for write
         * throughput) costs over 1 MB of stacks and malloc arenas. */
        json_t *aargv = strv_json("k8c-apiserver", "--bind-address", api_bind, "--advertise-address",
                                  l.net.bridge_ip, "--port", api_port, "--data-dir", data_dir,
                                  "--service-cluster-ip-range", SERVICE_CIDR, "--http-threads", "4", NULL);
        if (strcmp(storage, "etcd") == 0) {
                cleanup_free char *etcd_dir = k8c_xasprintf("%s/etcd", l.dir);
                cleanup_free char *client_url = k8c_xasprintf("http://%s:2379", l.net.loopback_ip);
                cleanup_free char *peer_url = k8c_xasprintf("http://%s:2380", l.net.loopback_ip);
                cleanup_free char *initial = k8c_xasprintf("%s-etcd=%s", l.name, peer_url);
                cleanup_free char *ename = k8c_xasprintf("%s-etcd", l.name);
                r = start_daemon(&l, bindir, "etcd", NULL, NULL,
                                 strv_json("etcd", "--name", ename, "--data-dir", etcd_dir,
                                           "--listen-client-urls", client_url, "--advertise-client-urls",
                                           client_url, "--listen-peer-urls", peer_url,
                                           "--initial-advertise-peer-urls", peer_url, "--initial-cluster",
                                           initial, NULL),
                                 err);
                if (r < 0) {
                        json_decref(aargv);
                        goto out;
                }
                if ((r = wait_http(client_url, "/health", 60, err)) < 0) {
                        json_decref(aargv);
                        goto out;
                }
                json_array_append_new(aargv, json_string("--storage-backend=etcd"));
                json_array_append_new(aargv, json_sprintf("--etcd-servers=%s", client_url));
                progress(cfg, "etcd on %s", client_url);
        }
        if ((r = start_daemon(&l, bindir, "apiserver", NULL, NULL, aargv, err)) < 0)
                goto out;
        if ((r = lab_client(&l, &client, err)) < 0)
                goto out;
        if ((r = wait_url("the apiserver", client, "/api/v1/namespaces/default", 60, err)) < 0)
                goto out;
        progress(cfg, "apiserver on http://%s:%d (host) and http://%s:%d (nodes)", l.net.loopback_ip,
                 K8C_LAB_API_PORT, l.net.bridge_ip, K8C_LAB_API_PORT);

        kc = k8c_xasprintf("%s/kubeconfig", l.dir);
        node_kc = k8c_xasprintf("%s/node.kubeconfig", l.dir);
        host_url = k8c_xasprintf("http://%s:%d", l.net.loopback_ip, K8C_LAB_API_PORT);
        node_url = k8c_xasprintf("http://%s:%d", l.net.bridge_ip, K8C_LAB_API_PORT);
        if ((r = write_kubeconfig(kc, l.name, host_url, err)) < 0 ||
            (r = write_kubeconfig(node_kc, l.name, node_url, err)) < 0)
                goto out;
        /* LoadBalancer addresses: the top of the lab /24, above every node (.11 up) and the bridge (.1). */
        lb_range = k8c_xasprintf("10.%u.%u.200-10.%u.%u.250", l.net.a, l.net.b, l.net.a, l.net.b);
        if ((r = start_daemon(&l, bindir, "controller-manager", NULL, NULL,
                              strv_json("k8c-controller-manager", "--kubeconfig", kc, "--port=0",
                                        "--cluster-cidr", CLUSTER_CIDR, "--loadbalancer-ip-range", lb_range,
                                        NULL),
                              err)) < 0 ||
            (r = start_daemon(&l, bindir, "scheduler", NULL, NULL,
                              strv_json("k8c-scheduler", "--kubeconfig", kc, "--port=-1", NULL), err)) < 0)
                goto out;
        progress(cfg, "controller-manager and scheduler started (LoadBalancer IPs from %s)", lb_range);

        if ((r = wait_http(regurl, "/v2/", 30, err)) < 0)
                goto out;
        digest = NULL;
        if ((r = k8c_lab_push_busybox(regurl, "/bin/busybox", &digest, err)) < 0)
                goto out;
        progress(cfg, "registry on %s holds busybox:latest (%s)", regurl, digest);

        for (int i = 1; i <= nodes; i++)
                if ((r = up_node(cfg, &l, bindir, i, cpu_milli, mem, err)) < 0)
                        goto out;
        if ((r = make_kube_dns(&l, client, nodes, err)) < 0)
                goto out;
        progress(cfg, "kube-system/kube-dns on %s (answered by every node's proxy)", DNS_SERVICE_IP);
        if ((r = wait_nodes(cfg, &l, client, nodes, 120, err)) < 0)
                goto out;
        if ((r = route_pod_cidrs(&l, client, nodes, err)) < 0)
                goto out;
        progress(cfg, "pod CIDRs routed between nodes");
        print_usage_hint(&l);
        r = 0;
out:
        k8c_client_free(client);
        if (r < 0)
                fprintf(stderr,
                        "k8c-lab: up failed; logs are in %s/logs; `k8c-lab down --name %s` removes it\n",
                        l.dir, l.name);
        lab_free(&l);
        return r;
}

/* ---- down ---- */

static void stop_runc_containers(const char *runc_root)
{
        DIR *d = opendir(runc_root);
        if (d == NULL)
                return;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.' || e->d_type != DT_DIR)
                        continue;
                const char *argv[] = { "runc", "--root", runc_root, "delete", "--force", e->d_name, NULL };
                posix_spawn_file_actions_t fa;
                posix_spawn_file_actions_init(&fa);
                posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
                posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
                pid_t pid;
                if (posix_spawnp(&pid, "runc", &fa, NULL, (char *const *)argv, environ) == 0)
                        waitpid(pid, NULL, 0);
                posix_spawn_file_actions_destroy(&fa);
        }
        closedir(d);
}

/* Mount points below prefix (and the node netns files), deepest first. */
static char **mounts_under(const char *prefix, const char *netns_prefix)
{
        cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
        size_t n = 0, cap = 16;
        char **v = k8c_xcalloc(cap, sizeof(char *));
        char line[4096];
        size_t plen = strlen(prefix), nlen = strlen(netns_prefix);
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
                char mp[4096];
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
                        continue;
                if (!((strncmp(mp, prefix, plen) == 0 && (mp[plen] == '/' || mp[plen] == '\0')) ||
                      strncmp(mp, netns_prefix, nlen) == 0))
                        continue;
                if (n + 2 > cap) {
                        cap *= 2;
                        v = k8c_xrealloc(v, cap * sizeof(char *));
                }
                v[n++] = k8c_xstrdup(mp);
        }
        v[n] = NULL;
        /* Deepest (longest) first. */
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        if (strlen(v[j]) > strlen(v[i])) {
                                char *t = v[i];
                                v[i] = v[j];
                                v[j] = t;
                        }
        return v;
}

static int count_iptables_leftovers(const char *name)
{
        static const char *const tables[] = { "filter", "nat", "mangle", "raw" };
        int left = 0;
        size_t n = strlen(name);
        for (size_t t = 0; t < K8C_ARRAY_SIZE(tables); t++) {
                struct xtc_handle *h = iptc_init(tables[t]);
                if (h == NULL)
                        continue;
                for (const char *c = iptc_first_chain(h); c != NULL; c = iptc_next_chain(h))
                        if (strncasecmp(c, name, n) == 0 && c[n] == '-') {
                                printf("  left: iptables chain %s/%s\n", tables[t], c);
                                left++;
                        }
                iptc_free(h);
        }
        return left;
}

/* Counts (and prints) what still carries the lab's prefix. */
static int leftovers(struct lab *l, const json_t *cgroups)
{
        int left = 0;
        size_t n = strlen(l->name);
        DIR *d = opendir("/run/netns");
        struct dirent *e;
        if (d != NULL) {
                while ((e = readdir(d)) != NULL)
                        if (strncmp(e->d_name, l->name, n) == 0 && strncmp(e->d_name + n, "-node-", 6) == 0) {
                                printf("  left: netns %s\n", e->d_name);
                                left++;
                        }
                closedir(d);
        }
        if ((d = opendir("/sys/class/net")) != NULL) {
                while ((e = readdir(d)) != NULL)
                        if (strncmp(e->d_name, l->name, n) == 0 && e->d_name[n] == '-') {
                                printf("  left: link %s\n", e->d_name);
                                left++;
                        }
                closedir(d);
        }
        left += count_iptables_leftovers(l->name);
        size_t i;
        json_t *p;
        json_array_foreach(cgroups, i, p)
        {
                const char *path = json_string_value(p);
                if (path != NULL && exists(path)) {
                        printf("  left: cgroup %s\n", path);
                        left++;
                }
        }
        json_auto_t *tops = k8c_lab_cgroup_find(l->name);
        json_array_foreach(tops, i, p)
        {
                printf("  left: cgroup %s\n", json_string_value(p));
                left++;
        }
        cleanup_free char *nsprefix = k8c_xasprintf("/run/netns/%s-node-", l->name);
        char **mounts = mounts_under(l->dir, nsprefix);
        for (size_t k = 0; mounts[k] != NULL; k++) {
                printf("  left: mount %s\n", mounts[k]);
                left++;
        }
        k8c_strv_free(mounts);
        /* Every daemon the lab starts names the lab dir on its command line. */
        cleanup_free char *needle = k8c_xasprintf("%s/", l->dir);
        if ((d = opendir("/proc")) != NULL) {
                while ((e = readdir(d)) != NULL) {
                        if (e->d_name[0] < '1' || e->d_name[0] > '9' || atoi(e->d_name) == getpid())
                                continue;
                        cleanup_free char *cmdpath = k8c_xasprintf("/proc/%s/cmdline", e->d_name);
                        cleanup_fclose FILE *f = fopen(cmdpath, "re");
                        if (f == NULL)
                                continue;
                        char buf[8192];
                        size_t got = fread(buf, 1, sizeof(buf) - 1, f);
                        for (size_t k = 0; k < got; k++)
                                if (buf[k] == '\0')
                                        buf[k] = ' ';
                        buf[got] = '\0';
                        if (strstr(buf, needle) != NULL) {
                                printf("  left: process %s (%.60s)\n", e->d_name, buf);
                                left++;
                        }
                }
                closedir(d);
        }
        if (exists(l->dir)) {
                printf("  left: directory %s\n", l->dir);
                left++;
        }
        cleanup_free char *link = index_link(l->name);
        if (exists(link)) {
                printf("  left: %s\n", link);
                left++;
        }
        return left;
}

int k8c_lab_down(const struct k8c_lab_config *cfg, k8c_error_t *err)
{
        struct lab l;
        int r = lab_open(cfg, &l, err);
        if (r < 0)
                return r;
        if (l.state == NULL)
                printf("no state for lab %s in %s; removing whatever carries its name\n", l.name, l.dir);
        int nodes = (int)k8c_json_get_int(l.state, "nodes", 0);
        json_auto_t *cgroups = json_deep_copy(json_object_get(l.state, "cgroups") ?: json_array());
        if (!json_is_array(cgroups)) {
                json_decref(cgroups);
                cgroups = json_array();
        }
        /* A frozen daemon cannot act on SIGTERM. */
        for (int i = 1; i <= nodes; i++) {
                cleanup_free char *leaf = k8c_xasprintf("node-%d", i);
                k8c_lab_cgroup_freeze(cgroups, leaf, false, NULL);
        }
        /* Node daemons first, then the control plane; each group is signalled at once and then
         * waited for, so stopping takes as long as the slowest daemon, not the sum. */
        const char *groups[][4] = { { "kubelet-", "proxy-", NULL },
                                    { "controller-manager", "scheduler", NULL },
                                    { "apiserver", "registry", NULL },
                                    { "etcd", NULL } };
        for (size_t g = 0; g < K8C_ARRAY_SIZE(groups); g++) {
                for (int pass = 0; pass < 2; pass++) {
                        const char *key;
                        json_t *v;
                        json_object_foreach(json_object_get(l.state, "daemons"), key, v)
                        {
                                bool member = false;
                                for (size_t m = 0; groups[g][m] != NULL; m++)
                                        member |= strncmp(key, groups[g][m], strlen(groups[g][m])) == 0;
                                if (!member)
                                        continue;
                                cleanup_free char *pidf = pid_path(&l, key);
                                pid_t pid = k8c_lab_pidfile_alive(pidf);
                                if (pass == 0 && pid > 0)
                                        kill(pid, SIGTERM);
                                else if (pass == 1)
                                        k8c_lab_pidfile_stop(pidf, 10000);
                        }
                }
        }
        for (int i = 1; i <= nodes; i++) {
                cleanup_free char *runc_root = k8c_xasprintf("%s/nodes/node-%d/runc", l.dir, i);
                stop_runc_containers(runc_root);
        }
        k8c_lab_cgroup_destroy(cgroups);
        /* Whatever else carries the lab's cgroup name (e.g. made by a failed `up`). */
        json_auto_t *more = k8c_lab_cgroup_find(l.name);
        k8c_lab_cgroup_destroy(more);
        cleanup_free char *nsprefix = k8c_xasprintf("/run/netns/%s-node-", l.name);
        char **mounts = mounts_under(l.dir, nsprefix);
        for (size_t k = 0; mounts[k] != NULL; k++)
                umount2(mounts[k], MNT_DETACH);
        k8c_strv_free(mounts);
        DIR *d = opendir("/run/netns");
        if (d != NULL) {
                struct dirent *e;
                size_t n = strlen(l.name);
                while ((e = readdir(d)) != NULL)
                        if (strncmp(e->d_name, l.name, n) == 0 && strncmp(e->d_name + n, "-node-", 6) == 0) {
                                cleanup_free char *p = k8c_xasprintf("/run/netns/%s", e->d_name);
                                k8c_ns_remove(p, NULL);
                        }
                closedir(d);
        }
        for (int i = 1; i <= nodes; i++) {
                cleanup_free char *host_if = k8c_xasprintf("%s-n%d", l.name, i);
                k8c_net_delete_link(NULL, host_if, NULL);
        }
        k8c_net_delete_link(NULL, l.net.bridge, NULL);
        if (l.state != NULL || exists(l.dir)) {
                cleanup_free char *state = k8c_xasprintf("%s/lab.json", l.dir);
                /* Only a directory that is a lab's is removed. */
                if (exists(state))
                        nftw(l.dir, rm_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        }
        cleanup_free char *link = index_link(l.name);
        unlink(link);
        int left = leftovers(&l, cgroups);
        if (left == 0)
                printf("lab %s removed; nothing with its prefix remains\n", l.name);
        else
                printf("lab %s removed, but %d thing(s) with its prefix remain (listed above)\n", l.name,
                       left);
        lab_free(&l);
        return left;
}

/* ---- status, kubeconfig, logs, exec, node ---- */

int k8c_lab_status(const struct k8c_lab_config *cfg, k8c_error_t *err)
{
        struct lab l;
        int r = lab_open(cfg, &l, err);
        if (r < 0)
                return r;
        if (l.state == NULL) {
                r = k8c_make_error(err, K8C_ENOTFOUND, "no lab %s (looked in %s)", l.name, l.dir);
                lab_free(&l);
                return r;
        }
        printf("lab %s: dir %s, subnet %s, apiserver http://%s:%d, registry http://%s:%d\n", l.name, l.dir,
               l.net.subnet, l.net.loopback_ip, K8C_LAB_API_PORT, l.net.bridge_ip, K8C_LAB_REGISTRY_PORT);
        struct k8c_client *c = NULL;
        json_auto_t *list = NULL;
        if (lab_client(&l, &c, NULL) == 0 && k8c_client_get(c, "/api/v1/nodes", &list, NULL) == 0) {
                json_auto_t *pods = NULL;
                k8c_client_get(c, "/api/v1/pods", &pods, NULL);
                printf("\n%-20s %-9s %-16s %-16s %s\n", "NODE", "STATUS", "INTERNAL-IP", "POD-CIDR", "PODS");
                size_t i;
                json_t *n;
                json_array_foreach(json_object_get(list, "items"), i, n)
                {
                        const char *name = k8c_json_get_string(n, "metadata.name") ?: "";
                        int npods = 0;
                        size_t k;
                        json_t *p;
                        json_array_foreach(json_object_get(pods, "items"), k, p)
                        {
                                if (strcmp(k8c_json_get_string(p, "spec.nodeName") ?: "", name) == 0)
                                        npods++;
                        }
                        printf("%-20s %-9s %-16s %-16s %d\n", name, node_is_ready(n) ? "Ready" : "NotReady",
                               k8c_json_get_string(n, "status.addresses[0].address") ?: "",
                               k8c_json_get_string(n, "spec.podCIDR") ?: "", npods);
                }
        } else {
                printf("\n(apiserver not answering)\n");
        }
        k8c_client_free(c);
        printf("\n%-20s %-8s %-9s %-9s %s\n", "DAEMON", "PID", "RSS(kB)", "PSS(kB)", "WHERE");
        long total_rss = 0, total_pss = 0;
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(l.state, "daemons"), key, v)
        {
                cleanup_free char *pidf = pid_path(&l, key);
                pid_t pid = k8c_lab_pidfile_alive(pidf);
                long rss = 0, pss = 0;
                if (pid > 0)
                        k8c_lab_mem_kb(pid, &rss, &pss);
                /* The budget covers the control plane, kubelets and proxies, not the registry. */
                if (strcmp(key, "registry") != 0 && strcmp(key, "etcd") != 0) {
                        total_rss += rss;
                        total_pss += pss;
                }
                const char *ns = json_string_value(json_object_get(v, "netns"));
                if (pid > 0)
                        printf("%-20s %-8d %-9ld %-9ld %s\n", key, (int)pid, rss, pss, ns ?: "host");
                else
                        printf("%-20s %-8s %-9s %-9s %s\n", key, "stopped", "-", "-", ns ?: "host");
        }
        printf("\ntotal RSS of control plane + kubelets + proxies: %ld kB (%.1f MB)\n", total_rss,
               total_rss / 1024.0);
        printf("total PSS of control plane + kubelets + proxies: %ld kB (%.1f MB; shared library pages "
               "counted "
               "once)\n",
               total_pss, total_pss / 1024.0);
        lab_free(&l);
        return 0;
}

int k8c_lab_kubeconfig(const struct k8c_lab_config *cfg, k8c_error_t *err)
{
        struct lab l;
        int r = lab_open(cfg, &l, err);
        if (r < 0)
                return r;
        cleanup_free char *kc = k8c_xasprintf("%s/kubeconfig", l.dir);
        if (!exists(kc))
                r = k8c_make_error(err, K8C_ENOTFOUND, "lab %s has no kubeconfig (%s)", l.name, kc);
        else
                printf("%s\n", kc);
        lab_free(&l);
        return r;
}

int k8c_lab_logs(const struct k8c_lab_config *cfg, const char *node, const char *daemon, k8c_error_t *err)
{
        struct lab l;
        int r = lab_open_node(cfg, node, &l, err);
        if (r < 0)
                return r;
        cleanup_free char *key = NULL;
        if (daemon != NULL && (strcmp(daemon, "kubelet") == 0 || strcmp(daemon, "proxy") == 0)) {
                int i = node_index(&l, node);
                if (i == 0) {
                        r = k8c_make_error(err, K8C_ENOTFOUND, "no node %s in lab %s", node ?: "", l.name);
                        lab_free(&l);
                        return r;
                }
                key = k8c_xasprintf("%s-%d", daemon, i);
        } else {
                key = k8c_xstrdup(daemon ?: node ?: "");
        }
        cleanup_free char *path = log_path(&l, key);
        cleanup_fclose FILE *f = fopen(path, "re");
        if (f == NULL) {
                r = k8c_make_errno(err, errno, "no log %s", path);
        } else {
                char buf[65536];
                size_t n;
                while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                        fwrite(buf, 1, n, stdout);
        }
        lab_free(&l);
        return r;
}

int k8c_lab_exec(const struct k8c_lab_config *cfg, const char *node, char *const *argv, k8c_error_t *err)
{
        struct lab l;
        int r = lab_open_node(cfg, node, &l, err);
        if (r < 0)
                return r;
        int i = node_index(&l, node);
        if (i == 0 || argv == NULL || argv[0] == NULL) {
                if (i == 0 && node != NULL)
                        r = k8c_make_error(err, K8C_ENOTFOUND, "no node %s in lab %s", node, l.name);
                else
                        r = k8c_make_error(err, K8C_EUSAGE, "usage: k8c-lab exec <node> -- command [args]");
                lab_free(&l);
                return r;
        }
        cleanup_free char *ns = netns_path(&l, i);
        lab_free(&l);
        cleanup_close int fd = open(ns, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return k8c_make_errno(err, errno, "open %s", ns);
        if (setns(fd, CLONE_NEWNET) < 0)
                return k8c_make_errno(err, errno, "setns %s", ns);
        execvp(argv[0], argv);
        return k8c_make_errno(err, errno, "exec %s", argv[0]);
}

int k8c_lab_node(const struct k8c_lab_config *cfg, const char *action, const char *node, k8c_error_t *err)
{
        struct lab l;
        int r = lab_open_node(cfg, node, &l, err);
        if (r < 0)
                return r;
        int i = node_index(&l, node);
        if (l.state == NULL || i == 0) {
                r = k8c_make_error(err, K8C_ENOTFOUND, "no node %s in lab %s", node ?: "", l.name);
                lab_free(&l);
                return r;
        }
        cleanup_free char *kubelet = k8c_xasprintf("kubelet-%d", i);
        cleanup_free char *leaf = k8c_xasprintf("node-%d", i);
        cleanup_free char *host_if = k8c_xasprintf("%s-n%d", l.name, i);
        const json_t *cgroups = json_object_get(l.state, "cgroups");
        if (action == NULL)
                r = k8c_make_error(err, K8C_EUSAGE, "node: missing action");
        else if (strcmp(action, "stop") == 0) {
                cleanup_free char *pidf = pid_path(&l, kubelet);
                k8c_lab_pidfile_stop(pidf, 10000);
        } else if (strcmp(action, "start") == 0)
                r = restart_daemon(&l, kubelet, err);
        else if (strcmp(action, "freeze") == 0 || strcmp(action, "thaw") == 0)
                r = k8c_lab_cgroup_freeze(cgroups, leaf, strcmp(action, "freeze") == 0, err);
        else if (strcmp(action, "partition") == 0 || strcmp(action, "heal") == 0)
                r = k8c_lab_net_link_set_up(host_if, strcmp(action, "heal") == 0, err);
        else
                r = k8c_make_error(err, K8C_EUSAGE,
                                   "node action %s: want stop|start|freeze|thaw|partition|heal", action);
        if (r >= 0)
                printf("node %s-node-%d: %s done\n", l.name, i, action);
        lab_free(&l);
        return r;
}
