/*
 * stats.c - resource usage of the node, its pods and their containers, read
 * from cgroups (v1 cpuacct/memory, or v2 where that is what is mounted) and
 * /proc, as cAdvisor feeds the real kubelet: cpu usageNanoCores from the
 * change of the cumulative counter between two samples, memory working set =
 * usage - inactive_file. A housekeeping thread samples every
 * --housekeeping-interval into a Summary (stats/v1alpha1, served at
 * /stats/summary by server.c) and then lets the eviction manager look at the
 * same numbers.
 *
 * A lab node is "sized" (--capacity memory=, or a memory limit on its cgroup
 * parent): its usage is that of its cgroup parent, which holds all its pods,
 * and its capacity the smaller of the two. Otherwise the node is the machine.
 *
 * Owns: the samples and the Summary. Must not: change pods (eviction.c does).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/log.h"
#include "k8c/names.h"
#include "k8c/quantity.h"
#include "kubelet/kubelet_int.h"

/* ---- the host source ---------------------------------------------------------------------------- */

/* /proc/self/cgroup, read once: the kubelet does not move between cgroups. */
static char self_cgroup[4096];
static pthread_once_t self_cgroup_once = PTHREAD_ONCE_INIT;

static void read_self_cgroup(void)
{
        FILE *f = fopen("/proc/self/cgroup", "re");
        if (f == NULL)
                return;
        size_t n = fread(self_cgroup, 1, sizeof(self_cgroup) - 1, f);
        self_cgroup[n] = '\0';
        fclose(f);
}

/* The kubelet's own cgroup path in the hierarchy holding controller ("memory", "cpuacct"), or,
 * with controller "", the v2 one. NULL when absent. */
static char *own_cgroup(const char *controller)
{
        pthread_once(&self_cgroup_once, read_self_cgroup);
        cleanup_free char *copy = k8c_xstrdup(self_cgroup);
        size_t clen = strlen(controller);
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
                char *c1 = strchr(line, ':');
                char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
                if (c2 == NULL)
                        continue;
                *c2 = '\0';
                const char *ctrls = c1 + 1;
                if (clen == 0) {
                        if (ctrls[0] == '\0')
                                return k8c_xstrdup(c2 + 1);
                        continue;
                }
                /* "cpu,cpuacct": one of the comma-separated names. */
                for (const char *p = ctrls; p != NULL && *p != '\0';) {
                        const char *comma = strchr(p, ',');
                        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
                        if (n == clen && strncmp(p, controller, n) == 0)
                                return k8c_xstrdup(c2 + 1);
                        p = comma != NULL ? comma + 1 : NULL;
                }
        }
        return NULL;
}

/* Directory of cgroup rel for a v1 controller, or for v2 with controller NULL. */
static char *cgroup_dir(const char *controller, const char *rel)
{
        cleanup_free char *own = own_cgroup(controller != NULL ? controller : "");
        if (own == NULL)
                return NULL;
        const char *sep = strcmp(own, "/") == 0 ? "" : "/";
        if (controller != NULL)
                return k8c_xasprintf("/sys/fs/cgroup/%s%s%s%s", controller, own, sep, rel);
        /* v2: the unified mount of a hybrid system, else the root of a pure v2 one. */
        if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
                return k8c_xasprintf("/sys/fs/cgroup%s%s%s", own, sep, rel);
        return k8c_xasprintf("/sys/fs/cgroup/unified%s%s%s", own, sep, rel);
}

static bool read_i64(const char *dir, const char *file, int64_t *ret)
{
        cleanup_free char *path = k8c_xasprintf("%s/%s", dir, file);
        cleanup_fclose FILE *f = fopen(path, "re");
        char buf[64];
        if (f == NULL || fgets(buf, sizeof(buf), f) == NULL)
                return false;
        if (strncmp(buf, "max", 3) == 0) {
                *ret = 0;
                return true;
        }
        *ret = strtoll(buf, NULL, 10);
        return true;
}

/* A "key value" line of a stat file (memory.stat, cpu.stat); false when absent. */
static bool read_stat(const char *dir, const char *file, const char *key, int64_t *ret)
{
        cleanup_free char *path = k8c_xasprintf("%s/%s", dir, file);
        cleanup_fclose FILE *f = fopen(path, "re");
        if (f == NULL)
                return false;
        char line[256];
        size_t n = strlen(key);
        while (fgets(line, sizeof(line), f) != NULL)
                if (strncmp(line, key, n) == 0 && line[n] == ' ') {
                        *ret = strtoll(line + n + 1, NULL, 10);
                        return true;
                }
        return false;
}

static int host_cgroup(void *opaque, const char *rel, struct k8c_cgroup_stats *ret)
{
        struct k8c_cgroup_stats st = { 0 };
        cleanup_free char *mem = cgroup_dir("memory", rel);
        cleanup_free char *cpu = cgroup_dir("cpuacct", rel);
        int64_t v;
        if (mem != NULL && read_i64(mem, "memory.usage_in_bytes", &st.memory_usage)) {
                /* v1: hierarchical totals, as the cgroup's own numbers leave out its children. */
                int64_t inactive = 0;
                if (!read_stat(mem, "memory.stat", "total_inactive_file", &inactive))
                        read_stat(mem, "memory.stat", "inactive_file", &inactive);
                if (read_stat(mem, "memory.stat", "total_rss", &v) ||
                    read_stat(mem, "memory.stat", "rss", &v))
                        st.memory_rss = v;
                st.memory_working_set = st.memory_usage > inactive ? st.memory_usage - inactive : 0;
                int64_t limit = 0;
                /* "Unlimited" is a huge page-aligned number in v1. */
                if (read_i64(mem, "memory.limit_in_bytes", &limit) && limit < (INT64_C(1) << 60))
                        st.memory_limit = limit;
                if (cpu == NULL || !read_i64(cpu, "cpuacct.usage", &v))
                        return -ENOENT;
                st.cpu_ns = (uint64_t)v;
                *ret = st;
                return 0;
        }
        cleanup_free char *u = cgroup_dir(NULL, rel);
        if (u == NULL || !read_i64(u, "memory.current", &st.memory_usage))
                return -ENOENT;
        int64_t inactive = 0;
        read_stat(u, "memory.stat", "inactive_file", &inactive);
        if (read_stat(u, "memory.stat", "anon", &v))
                st.memory_rss = v;
        st.memory_working_set = st.memory_usage > inactive ? st.memory_usage - inactive : 0;
        read_i64(u, "memory.max", &st.memory_limit);
        if (read_stat(u, "cpu.stat", "usage_usec", &v))
                st.cpu_ns = (uint64_t)v * 1000;
        *ret = st;
        return 0;
}

static int host_machine(void *opaque, uint64_t *ret_cpu_ns, int64_t *ret_mem_total, int64_t *ret_mem_ws)
{
        cleanup_fclose FILE *f = fopen("/proc/stat", "re");
        if (f == NULL)
                return -errno;
        unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq,
                   &softirq, &steal) != 8)
                return -EINVAL;
        long hz = sysconf(_SC_CLK_TCK);
        unsigned long long busy = user + nice + sys + irq + softirq + steal;
        *ret_cpu_ns = (uint64_t)(busy * (1000000000ull / (unsigned long long)(hz > 0 ? hz : 100)));
        int64_t total = k8c_kubelet_meminfo("MemTotal");
        int64_t avail = k8c_kubelet_meminfo("MemAvailable");
        if (total < 0 || avail < 0)
                return -EINVAL;
        *ret_mem_total = total;
        *ret_mem_ws = total - avail;
        return 0;
}

static int host_fs(void *opaque, const char *path, int64_t *ret_capacity, int64_t *ret_available,
                   int64_t *ret_inodes, int64_t *ret_inodes_free)
{
        struct statvfs vfs;
        if (statvfs(path, &vfs) < 0)
                return -errno;
        *ret_capacity = (int64_t)(vfs.f_blocks * vfs.f_frsize);
        *ret_available = (int64_t)(vfs.f_bavail * vfs.f_frsize);
        *ret_inodes = (int64_t)vfs.f_files;
        *ret_inodes_free = (int64_t)vfs.f_favail;
        return 0;
}

const struct k8c_stats_source k8c_stats_source_host = {
        .cgroup = host_cgroup,
        .machine = host_machine,
        .fs = host_fs,
};

/* ---- sampling ---------------------------------------------------------------------------------- */

struct cpu_prev {
        uint64_t cpu_ns;
        int64_t at_ns;
        bool seen; /* in the current round */
};

struct kubelet_stats {
        pthread_mutex_t lock; /* summary */
        json_t *summary;
        struct k8c_strmap prev; /* cgroup (or "machine") → struct cpu_prev; thread only */
        pthread_t thread;
        bool started;
        time_t start_time;
};

static int64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t k8c_kubelet_memory_capacity(struct k8c_kubelet *k)
{
        json_auto_t *cap = NULL;
        if (k->cfg.capacity != NULL && k8c_kubelet_parse_capacity(k->cfg.capacity, &cap, NULL) == 0) {
                const char *mem = json_string_value(json_object_get(cap, "memory"));
                k8c_quantity_t q;
                if (mem != NULL && k8c_quantity_parse(mem, &q, NULL) == 0)
                        return k8c_quantity_value(&q);
        }
        return k8c_kubelet_meminfo("MemTotal");
}

static bool memory_capacity_flag(struct k8c_kubelet *k)
{
        return k->cfg.capacity != NULL && strstr(k->cfg.capacity, "memory=") != NULL;
}

/* {time, usageNanoCores (when a rate is known), usageCoreNanoSeconds}; the rate from the last
 * sample of the same cgroup. */
static json_t *cpu_json(struct kubelet_stats *s, const char *key, uint64_t cpu_ns, const char *now,
                        int64_t at_ns)
{
        json_t *cpu = json_pack("{s:s, s:I}", "time", now, "usageCoreNanoSeconds", (json_int_t)cpu_ns);
        struct cpu_prev *p = NULL;
        if (k8c_strmap_get(&s->prev, key, (void **)&p)) {
                if (at_ns > p->at_ns && cpu_ns >= p->cpu_ns) {
                        double rate = (double)(cpu_ns - p->cpu_ns) * 1e9 / (double)(at_ns - p->at_ns);
                        json_object_set_new(cpu, "usageNanoCores", json_integer((json_int_t)rate));
                        /* Not in the Summary API: the span the rate covers, for the window of the
                         * resource metrics API. */
                        json_object_set_new(cpu, "usageWindowNanoSeconds", json_integer(at_ns - p->at_ns));
                }
        } else {
                p = k8c_xcalloc(1, sizeof(*p));
                k8c_strmap_put(&s->prev, key, p, NULL);
        }
        p->cpu_ns = cpu_ns;
        p->at_ns = at_ns;
        p->seen = true;
        return cpu;
}

static json_t *memory_json(const char *now, int64_t usage, int64_t ws, int64_t rss, int64_t available)
{
        json_t *m = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "time", now, "usageBytes", (json_int_t)usage,
                              "workingSetBytes", (json_int_t)ws, "rssBytes", (json_int_t)rss, "pageFaults",
                              (json_int_t)0, "majorPageFaults", (json_int_t)0);
        if (available >= 0)
                json_object_set_new(m, "availableBytes", json_integer(available));
        return m;
}

static void usage_free(struct kubelet_pod_usage *u)
{
        json_decref(u->pod);
        free(u->key);
        for (size_t i = 0; i < u->ncontainers; i++)
                free(u->names[i]);
        free(u->names);
        free(u->mem);
}

/* One sample: the Summary, then the eviction manager's look at it. */
static void sample(struct k8c_kubelet *k)
{
        struct kubelet_stats *s = k->stats;
        const struct k8c_stats_source *src = k->cfg.stats_source;
        char now[32];
        k8c_rfc3339(time(NULL), now, sizeof(now));
        char start[32];
        k8c_rfc3339(s->start_time, start, sizeof(start));
        int64_t at = mono_ns();
        const char *key;
        void *v;
        for (size_t i = 0; k8c_strmap_next(&s->prev, &i, &key, &v);)
                ((struct cpu_prev *)v)->seen = false;

        /* The node: its cgroup parent when sized, else the machine. */
        struct k8c_cgroup_stats parent = { 0 };
        bool have_parent = src->cgroup(src->opaque, k->cgroup_parent, &parent) == 0;
        int64_t capacity = k8c_kubelet_memory_capacity(k);
        bool sized = memory_capacity_flag(k) || (have_parent && parent.memory_limit > 0);
        if (have_parent && parent.memory_limit > 0 && (capacity <= 0 || parent.memory_limit < capacity))
                capacity = parent.memory_limit;
        uint64_t node_cpu = 0;
        int64_t node_usage = 0, node_ws = 0, node_rss = 0, mem_total = 0;
        bool have_node = true;
        if (sized) {
                node_cpu = parent.cpu_ns;
                node_usage = parent.memory_usage;
                node_ws = parent.memory_working_set;
                node_rss = parent.memory_rss;
        } else if (src->machine(src->opaque, &node_cpu, &mem_total, &node_ws) == 0) {
                node_usage = node_ws;
        } else {
                have_node = false;
        }
        int64_t mem_available = capacity > node_ws ? capacity - node_ws : 0;
        json_t *node = json_pack("{s:s, s:s}", "nodeName", k->node_name, "startTime", start);
        if (have_node) {
                json_object_set_new(node, "cpu", cpu_json(s, "node", node_cpu, now, at));
                json_object_set_new(node, "memory",
                                    memory_json(now, node_usage, node_ws, node_rss, mem_available));
        }
        struct k8c_eviction_observation obs = { 0 };
        obs.have[K8C_SIGNAL_MEMORY_AVAILABLE] = have_node && capacity > 0;
        obs.available[K8C_SIGNAL_MEMORY_AVAILABLE] = mem_available;
        obs.capacity[K8C_SIGNAL_MEMORY_AVAILABLE] = capacity;
        int64_t fs_cap, fs_avail, inodes, inodes_free;
        if (src->fs(src->opaque, k->cfg.root_dir, &fs_cap, &fs_avail, &inodes, &inodes_free) == 0) {
                json_object_set_new(node, "fs",
                                    json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "time", now,
                                              "availableBytes", (json_int_t)fs_avail, "capacityBytes",
                                              (json_int_t)fs_cap, "usedBytes",
                                              (json_int_t)(fs_cap - fs_avail), "inodesFree",
                                              (json_int_t)inodes_free, "inodes", (json_int_t)inodes,
                                              "inodesUsed", (json_int_t)(inodes - inodes_free)));
                obs.have[K8C_SIGNAL_NODEFS_AVAILABLE] = obs.have[K8C_SIGNAL_NODEFS_INODES_FREE] = true;
                obs.available[K8C_SIGNAL_NODEFS_AVAILABLE] = fs_avail;
                obs.capacity[K8C_SIGNAL_NODEFS_AVAILABLE] = fs_cap;
                obs.available[K8C_SIGNAL_NODEFS_INODES_FREE] = inodes_free;
                obs.capacity[K8C_SIGNAL_NODEFS_INODES_FREE] = inodes;
        }

        /* The pods this kubelet runs: in the cache and held by a worker under the same uid. Fake
         * runtime pods have no cgroups on this machine: not looked for (many fake nodes may share
         * one process). */
        bool pod_cgroups = src != &k8c_stats_source_host || strcmp(k->cfg.runtime, "fake") != 0;
        json_auto_t *all = pod_cgroups ? k8c_informer_list(k->informer) : json_array();
        size_t npods = 0;
        struct kubelet_pod_usage *usage = k8c_xcalloc(json_array_size(all) + 1, sizeof(*usage));
        json_t *pods = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(all, i, p)
        {
                const char *uid = k8c_json_get_string(p, "metadata.uid");
                cleanup_free char *pkey = k8c_object_key(p);
                if (uid == NULL || pkey == NULL)
                        continue;
                struct kubelet_pod *rec = NULL;
                pthread_mutex_lock(&k->lock);
                bool ours = k8c_strmap_get(&k->pods, pkey, (void **)&rec) && strcmp(rec->uid, uid) == 0;
                pthread_mutex_unlock(&k->lock);
                if (!ours)
                        continue;
                cleanup_free char *pod_cg = k8c_xasprintf("%s/pod%s", k->cgroup_parent, uid);
                struct k8c_cgroup_stats pst;
                if (src->cgroup(src->opaque, pod_cg, &pst) < 0)
                        continue;
                struct kubelet_pod_usage *u = &usage[npods++];
                u->pod = json_incref(p);
                u->key = k8c_steal(&pkey);
                u->mem_ws = pst.memory_working_set;
                const json_t *cs = k8c_json_get(p, "spec.containers");
                u->names = k8c_xcalloc(json_array_size(cs) + 1, sizeof(char *));
                u->mem = k8c_xcalloc(json_array_size(cs) + 1, sizeof(int64_t));
                json_t *containers = json_array();
                size_t j;
                json_t *c;
                json_array_foreach(cs, j, c)
                {
                        const char *name = json_string_value(json_object_get(c, "name"));
                        if (name == NULL)
                                continue;
                        cleanup_free char *ccg = k8c_xasprintf("%s/%s", pod_cg, name);
                        struct k8c_cgroup_stats cst;
                        if (src->cgroup(src->opaque, ccg, &cst) < 0)
                                continue;
                        u->names[u->ncontainers] = k8c_xstrdup(name);
                        u->mem[u->ncontainers++] = cst.memory_working_set;
                        const char *started = NULL;
                        size_t m;
                        json_t *st;
                        json_array_foreach(k8c_json_get(p, "status.containerStatuses"), m, st)
                        {
                                if (json_equal(json_object_get(st, "name"), json_object_get(c, "name")))
                                        started = k8c_json_get_string(st, "state.running.startedAt");
                        }
                        json_t *cj = json_pack("{s:s, s:s, s:o, s:o}", "name", name, "startTime",
                                               started != NULL ? started : now, "cpu",
                                               cpu_json(s, ccg, cst.cpu_ns, now, at), "memory",
                                               memory_json(now, cst.memory_usage, cst.memory_working_set,
                                                           cst.memory_rss, -1));
                        json_array_append_new(containers, cj);
                }
                const char *pstart = k8c_json_get_string(p, "status.startTime");
                json_t *pj = json_pack(
                        "{s:{s:s, s:s, s:s}, s:s, s:o, s:o, s:o}", "podRef", "name",
                        k8c_json_get_string(p, "metadata.name") ?: "", "namespace",
                        k8c_json_get_string(p, "metadata.namespace") ?: "", "uid", uid, "startTime",
                        pstart != NULL ? pstart : now, "containers", containers, "cpu",
                        cpu_json(s, pod_cg, pst.cpu_ns, now, at), "memory",
                        memory_json(now, pst.memory_usage, pst.memory_working_set, pst.memory_rss, -1));
                json_array_append_new(pods, pj);
        }
        /* Forget the cgroups that are gone. */
        for (bool again = true; again;) {
                again = false;
                for (size_t it = 0; k8c_strmap_next(&s->prev, &it, &key, &v);)
                        if (!((struct cpu_prev *)v)->seen) {
                                cleanup_free char *gone = k8c_xstrdup(key);
                                void *old = NULL;
                                k8c_strmap_del(&s->prev, gone, &old);
                                free(old);
                                again = true;
                                break;
                        }
        }
        json_t *summary = json_pack("{s:o, s:o}", "node", node, "pods", pods);
        pthread_mutex_lock(&s->lock);
        json_decref(s->summary);
        s->summary = summary;
        pthread_mutex_unlock(&s->lock);

        k8c_kubelet_eviction_step(k, &obs, usage, npods);
        for (size_t n = 0; n < npods; n++)
                usage_free(&usage[n]);
        free(usage);
}

json_t *k8c_kubelet_stats_summary(struct k8c_kubelet *k)
{
        if (k->stats == NULL)
                return NULL;
        pthread_mutex_lock(&k->stats->lock);
        json_t *s = json_incref(k->stats->summary);
        pthread_mutex_unlock(&k->stats->lock);
        return s;
}

static void *stats_main(void *opaque)
{
        struct k8c_kubelet *k = opaque;
        for (;;) {
                pthread_mutex_lock(&k->lock);
                bool have_runtime = k->rt != NULL;
                pthread_mutex_unlock(&k->lock);
                if (have_runtime && k8c_informer_has_synced(k->informer))
                        sample(k);
                pthread_mutex_lock(&k->lock);
                if (!k->stopping) {
                        struct timespec deadline;
                        clock_gettime(CLOCK_REALTIME, &deadline);
                        int64_t ms = k->cfg.housekeeping_interval_ms;
                        deadline.tv_sec += ms / 1000;
                        deadline.tv_nsec += (ms % 1000) * 1000000;
                        if (deadline.tv_nsec >= 1000000000) {
                                deadline.tv_sec++;
                                deadline.tv_nsec -= 1000000000;
                        }
                        pthread_cond_timedwait(&k->cond, &k->lock, &deadline);
                }
                bool stop = k->stopping;
                pthread_mutex_unlock(&k->lock);
                if (stop)
                        return NULL;
        }
}

int k8c_kubelet_stats_start(struct k8c_kubelet *k, k8c_error_t *err)
{
        struct kubelet_stats *s = k8c_xcalloc(1, sizeof(*s));
        pthread_mutex_init(&s->lock, NULL);
        k8c_strmap_init(&s->prev);
        s->start_time = time(NULL);
        if (k->cfg.stats_source == NULL)
                k->cfg.stats_source = &k8c_stats_source_host;
        if (k->cfg.housekeeping_interval_ms <= 0)
                k->cfg.housekeeping_interval_ms = 10000;
        k->stats = s;
        if (pthread_create(&s->thread, NULL, stats_main, k) != 0)
                return k8c_make_error(err, K8C_EINTERNAL, "cannot start the stats thread");
        s->started = true;
        return 0;
}

void k8c_kubelet_stats_stop(struct k8c_kubelet *k)
{
        struct kubelet_stats *s = k->stats;
        if (s == NULL)
                return;
        /* k->stopping is already set and k->cond broadcast by k8c_kubelet_stop. */
        if (s->started)
                pthread_join(s->thread, NULL);
        const char *key;
        void *v;
        for (size_t i = 0; k8c_strmap_next(&s->prev, &i, &key, &v);)
                free(v);
        k8c_strmap_clear(&s->prev);
        json_decref(s->summary);
        pthread_mutex_destroy(&s->lock);
        free(s);
        k->stats = NULL;
}
