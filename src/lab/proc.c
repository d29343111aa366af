/*
 * proc.c - the lab's processes and cgroups: daemons are forked, put into
 * their node's cgroups and netns, and exec'd in a session of their own with
 * output appended to a log file; a pid file holds "<pid> <starttime>" so a
 * recycled pid is never signalled. Node cgroups ("k8c-lab-<name>/<leaf>")
 * are made below this process's own cgroup in every hierarchy (v1 or v2),
 * capped at the node's cpu and memory, and frozen/thawed for fault injection.
 *
 * Must not: signal a process it did not start, or touch cgroups outside
 * the lab's own directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/lab.h"
#include "k8c/log.h"

static int write_str(const char *path, const char *s, k8c_error_t *err)
{
        cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return k8c_make_errno(err, errno, "open %s", path);
        if (write(fd, s, strlen(s)) < 0)
                return k8c_make_errno(err, errno, "write %s", path);
        return 0;
}

static int mkdir_p(const char *dir)
{
        cleanup_free char *p = k8c_xstrdup(dir);
        for (char *s = p + 1; *s != '\0'; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* ---- cgroups ---- */

static bool has_ctrl(const char *ctrls, const char *name);

/* Calls fn(base, own, ctrls, v2, pure_v2) for every hierarchy this process is in. */
typedef void (*hier_fn)(const char *base, const char *own, const char *ctrls, bool v2, bool pure_v2,
                        void *arg);

static void each_hierarchy(hier_fn fn, void *arg)
{
        cleanup_fclose FILE *f = fopen("/proc/self/cgroup", "re");
        if (f == NULL)
                return;
        struct stat st;
        bool pure_v2 = stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
        char line[1024];
        while (fgets(line, sizeof(line), f) != NULL) {
                line[strcspn(line, "\n")] = '\0';
                char *c1 = strchr(line, ':');
                char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
                if (c2 == NULL)
                        continue;
                *c2 = '\0';
                const char *ctrls = c1 + 1, *own = c2 + 1;
                if (strcmp(own, "/") == 0)
                        own = "";
                bool v2 = ctrls[0] == '\0';
                cleanup_free char *base = NULL;
                if (v2)
                        base = k8c_xstrdup(pure_v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified");
                else if (strncmp(ctrls, "name=", 5) == 0)
                        base = k8c_xasprintf("/sys/fs/cgroup/%s", ctrls + 5);
                else
                        base = k8c_xasprintf("/sys/fs/cgroup/%s", ctrls);
                if (stat(base, &st) == 0)
                        fn(base, own, ctrls, v2, pure_v2, arg);
        }
}

struct find_job {
        const char *name;
        json_t *found;
};

static void find_fn(const char *base, const char *own, const char *ctrls, bool v2, bool pure_v2, void *arg)
{
        struct find_job *j = arg;
        cleanup_free char *top = k8c_xasprintf("%s%s/k8c-lab-%s", base, own, j->name);
        struct stat st;
        if (stat(top, &st) == 0)
                json_array_append_new(j->found, json_string(top));
}

json_t *k8c_lab_cgroup_find(const char *name)
{
        struct find_job j = { name, json_array() };
        each_hierarchy(find_fn, &j);
        return j.found;
}

int k8c_lab_cgroup_create(const char *name, const char *leaf, int64_t cpu_milli, int64_t memory_bytes,
                          json_t *paths, k8c_error_t *err)
{
        cleanup_fclose FILE *f = fopen("/proc/self/cgroup", "re");
        if (f == NULL)
                return k8c_make_errno(err, errno, "open /proc/self/cgroup");
        struct stat st;
        bool pure_v2 = stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
        char line[1024];
        while (fgets(line, sizeof(line), f) != NULL) {
                line[strcspn(line, "\n")] = '\0';
                char *c1 = strchr(line, ':');
                char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
                if (c2 == NULL)
                        continue;
                *c2 = '\0';
                const char *ctrls = c1 + 1, *own = c2 + 1;
                if (strcmp(own, "/") == 0)
                        own = "";
                cleanup_free char *base = NULL;
                bool v2 = ctrls[0] == '\0';
                if (v2)
                        base = k8c_xstrdup(pure_v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified");
                else if (strncmp(ctrls, "name=", 5) == 0)
                        base = k8c_xasprintf("/sys/fs/cgroup/%s", ctrls + 5);
                else
                        base = k8c_xasprintf("/sys/fs/cgroup/%s", ctrls);
                if (stat(base, &st) < 0)
                        continue;
                cleanup_free char *top = k8c_xasprintf("%s%s/k8c-lab-%s", base, own, name);
                cleanup_free char *dir = k8c_xasprintf("%s/%s", top, leaf);
                if (v2 && pure_v2) {
                        /* Delegate the controllers the node limits use down to the leaf. */
                        cleanup_free char *parent_ctl =
                                k8c_xasprintf("%s%s/cgroup.subtree_control", base, own);
                        write_str(parent_ctl, "+cpu +memory +pids", NULL);
                }
                int r = mkdir_p(dir);
                if (r < 0)
                        return k8c_make_errno(err, -r, "mkdir %s", dir);
                /* Recorded before it is configured, so `down` removes it even if that fails. */
                json_array_append_new(paths, json_string(dir));
                if (v2 && pure_v2) {
                        cleanup_free char *top_ctl = k8c_xasprintf("%s/cgroup.subtree_control", top);
                        write_str(top_ctl, "+cpu +memory +pids", NULL);
                        cleanup_free char *cpu = k8c_xasprintf("%s/cpu.max", dir);
                        cleanup_free char *mem = k8c_xasprintf("%s/memory.max", dir);
                        char buf[64];
                        struct stat cst;
                        /* Delegation can be refused (a non-root cgroup that holds processes): the
                         * node then runs uncapped, which is said rather than fatal. */
                        if (stat(cpu, &cst) < 0 || stat(mem, &cst) < 0) {
                                k8c_log_warn("node cgroup not capped: cpu/memory controllers not delegated",
                                             "cgroup=%s", dir);
                                continue;
                        }
                        snprintf(buf, sizeof(buf), "%lld 100000", (long long)(cpu_milli * 100));
                        if (cpu_milli > 0 && (r = write_str(cpu, buf, err)) < 0)
                                return r;
                        snprintf(buf, sizeof(buf), "%lld", (long long)memory_bytes);
                        if (memory_bytes > 0 && (r = write_str(mem, buf, err)) < 0)
                                return r;
                } else if (!v2 && has_ctrl(ctrls, "memory") && memory_bytes > 0) {
                        cleanup_free char *mem = k8c_xasprintf("%s/memory.limit_in_bytes", dir);
                        char buf[32];
                        snprintf(buf, sizeof(buf), "%lld", (long long)memory_bytes);
                        if ((r = write_str(mem, buf, err)) < 0)
                                return r;
                } else if (!v2 && has_ctrl(ctrls, "cpu") && cpu_milli > 0) {
                        cleanup_free char *quota = k8c_xasprintf("%s/cpu.cfs_quota_us", dir);
                        cleanup_free char *period = k8c_xasprintf("%s/cpu.cfs_period_us", dir);
                        char buf[32];
                        snprintf(buf, sizeof(buf), "%lld", (long long)(cpu_milli * 100));
                        if ((r = write_str(period, "100000", err)) < 0 ||
                            (r = write_str(quota, buf, err)) < 0)
                                return r;
                } else if (!v2 && has_ctrl(ctrls, "cpuset")) {
                        /* A v1 cpuset cgroup takes no tasks until it has cpus and mems. */
                        const char *files[] = { "cpuset.cpus", "cpuset.mems" };
                        for (size_t i = 0; i < 2; i++) {
                                cleanup_free char *from = k8c_xasprintf("%s%s/%s", base, own, files[i]);
                                char val[256] = "";
                                cleanup_fclose FILE *in = fopen(from, "re");
                                if (in != NULL && fgets(val, sizeof(val), in) != NULL) {
                                        cleanup_free char *t = k8c_xasprintf("%s/%s", top, files[i]);
                                        cleanup_free char *d = k8c_xasprintf("%s/%s", dir, files[i]);
                                        write_str(t, val, NULL);
                                        write_str(d, val, NULL);
                                }
                        }
                }
        }
        return 0;
}

static bool has_ctrl(const char *ctrls, const char *name)
{
        size_t n = strlen(name);
        for (const char *p = ctrls; p != NULL && *p != '\0'; p = strchr(p, ','), p = p ? p + 1 : NULL)
                if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
                        return true;
        return false;
}

static bool has_leaf(const char *path, const char *leaf)
{
        const char *slash = strrchr(path, '/');
        return slash != NULL && strcmp(slash + 1, leaf) == 0;
}

int k8c_lab_cgroup_join(const json_t *paths, const char *leaf, pid_t pid, k8c_error_t *err)
{
        size_t i;
        json_t *p;
        char buf[32];
        snprintf(buf, sizeof(buf), "%d", (int)pid);
        json_array_foreach(paths, i, p)
        {
                const char *path = json_string_value(p);
                if (path == NULL || !has_leaf(path, leaf))
                        continue;
                cleanup_free char *procs = k8c_xasprintf("%s/cgroup.procs", path);
                int r = write_str(procs, buf, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int k8c_lab_cgroup_freeze(const json_t *paths, const char *leaf, bool frozen, k8c_error_t *err)
{
        size_t i;
        json_t *p;
        int done = 0;
        json_array_foreach(paths, i, p)
        {
                const char *path = json_string_value(p);
                if (path == NULL || !has_leaf(path, leaf))
                        continue;
                cleanup_free char *v1 = k8c_xasprintf("%s/freezer.state", path);
                cleanup_free char *v2 = k8c_xasprintf("%s/cgroup.freeze", path);
                struct stat st;
                int r = 0;
                if (stat(v1, &st) == 0)
                        r = write_str(v1, frozen ? "FROZEN" : "THAWED", err);
                else if (strstr(path, "/unified/") == NULL && stat(v2, &st) == 0)
                        r = write_str(v2, frozen ? "1" : "0", err);
                else
                        continue;
                if (r < 0)
                        return r;
                done++;
        }
        if (done == 0)
                return k8c_make_error(err, K8C_ENOTFOUND, "no freezer cgroup for %s", leaf);
        return 0;
}

/* Kills what is in dir and below, thaws it first (a frozen task cannot die), removes it. */
static void destroy_dir(const char *dir)
{
        DIR *d = opendir(dir);
        if (d == NULL)
                return;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
                if (e->d_type != DT_DIR || e->d_name[0] == '.')
                        continue;
                cleanup_free char *sub = k8c_xasprintf("%s/%s", dir, e->d_name);
                destroy_dir(sub);
        }
        closedir(d);
        cleanup_free char *fz = k8c_xasprintf("%s/freezer.state", dir);
        write_str(fz, "THAWED", NULL);
        cleanup_free char *fz2 = k8c_xasprintf("%s/cgroup.freeze", dir);
        write_str(fz2, "0", NULL);
        cleanup_free char *procs = k8c_xasprintf("%s/cgroup.procs", dir);
        for (int tries = 0; tries < 50; tries++) {
                cleanup_fclose FILE *f = fopen(procs, "re");
                if (f == NULL)
                        break;
                int n = 0, pid;
                while (fscanf(f, "%d", &pid) == 1) {
                        kill(pid, SIGKILL);
                        n++;
                }
                if (n == 0)
                        break;
                usleep(100 * 1000);
        }
        for (int tries = 0; tries < 20 && rmdir(dir) < 0 && errno == EBUSY; tries++)
                usleep(100 * 1000);
}

void k8c_lab_cgroup_destroy(const json_t *paths)
{
        size_t i;
        json_t *p;
        json_array_foreach(paths, i, p)
        {
                const char *path = json_string_value(p);
                if (path == NULL)
                        continue;
                destroy_dir(path);
                /* ...and the lab's top directory once its last node is gone. */
                cleanup_free char *top = k8c_xstrdup(path);
                char *slash = strrchr(top, '/');
                if (slash != NULL && strstr(top, "/k8c-lab-") != NULL && strstr(slash, "/k8c-lab-") == NULL) {
                        *slash = '\0';
                        rmdir(top);
                }
        }
}

void k8c_lab_mem_kb(pid_t pid, long *ret_rss, long *ret_pss)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
        *ret_rss = *ret_pss = 0;
        cleanup_fclose FILE *f = fopen(path, "re");
        if (f == NULL)
                return;
        char line[256];
        long kb;
        while (fgets(line, sizeof(line), f) != NULL) {
                if (sscanf(line, "Rss: %ld kB", &kb) == 1)
                        *ret_rss = kb;
                else if (sscanf(line, "Pss: %ld kB", &kb) == 1)
                        *ret_pss = kb;
        }
}

/* ---- processes ---- */

static unsigned long long starttime_of(pid_t pid)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        cleanup_fclose FILE *f = fopen(path, "re");
        if (f == NULL)
                return 0;
        char buf[2048];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        /* comm may hold spaces and parentheses: fields restart after the last ')'. */
        char *p = strrchr(buf, ')');
        if (p == NULL)
                return 0;
        unsigned long long start = 0;
        /* state is field 3; starttime field 22. */
        int field = 2;
        for (char *tok = strtok(p + 1, " "); tok != NULL; tok = strtok(NULL, " ")) {
                field++;
                if (field == 22) {
                        start = strtoull(tok, NULL, 10);
                        break;
                }
        }
        return start;
}

int k8c_lab_spawn(char *const *argv, const char *log_path, const char *netns, const json_t *cgroups,
                  const char *leaf, const char *pid_path, pid_t *ret_pid, k8c_error_t *err)
{
        cleanup_close int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (log_fd < 0)
                return k8c_make_errno(err, errno, "open %s", log_path);
        cleanup_close int ns_fd = -1;
        if (netns != NULL && (ns_fd = open(netns, O_RDONLY | O_CLOEXEC)) < 0)
                return k8c_make_errno(err, errno, "open %s", netns);
        /* The child reports a failure before exec through this pipe (closed on exec). */
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return k8c_make_errno(err, errno, "pipe");
        pid_t pid = fork();
        if (pid < 0) {
                close(pfd[0]);
                close(pfd[1]);
                return k8c_make_errno(err, errno, "fork");
        }
        if (pid == 0) {
                close(pfd[0]);
                int e = 0;
                const char *step = "setsid";
                setsid();
                int nul = open("/dev/null", O_RDONLY);
                if (nul >= 0)
                        dup2(nul, 0);
                dup2(log_fd, 1);
                dup2(log_fd, 2);
                if (cgroups != NULL && leaf != NULL &&
                    k8c_lab_cgroup_join(cgroups, leaf, getpid(), NULL) < 0) {
                        e = errno != 0 ? errno : EIO;
                        step = "join cgroup";
                } else if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNET) < 0) {
                        e = errno;
                        step = "setns";
                } else {
                        execv(argv[0], argv);
                        e = errno;
                        step = "exec";
                }
                char msg[256];
                int n = snprintf(msg, sizeof(msg), "%s %s: %s", step, argv[0], strerror(e));
                if (write(pfd[1], msg, (size_t)n) < 0)
                        _exit(126);
                _exit(127);
        }
        close(pfd[1]);
        char msg[256];
        ssize_t n = read(pfd[0], msg, sizeof(msg) - 1);
        close(pfd[0]);
        if (n > 0) {
                msg[n] = '\0';
                waitpid(pid, NULL, 0);
                return k8c_make_error(err, K8C_EINTERNAL, "%s", msg);
        }
        cleanup_free char *line = k8c_xasprintf("%d %llu\n", (int)pid, starttime_of(pid));
        cleanup_free char *tmp = k8c_xasprintf("%s.tmp", pid_path);
        cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, line, strlen(line)) < 0 || rename(tmp, pid_path) < 0) {
                kill(pid, SIGKILL);
                return k8c_make_errno(err, errno, "write %s", pid_path);
        }
        if (ret_pid != NULL)
                *ret_pid = pid;
        return 0;
}

pid_t k8c_lab_pidfile_alive(const char *pid_path)
{
        cleanup_fclose FILE *f = fopen(pid_path, "re");
        if (f == NULL)
                return 0;
        int pid = 0;
        unsigned long long start = 0;
        if (fscanf(f, "%d %llu", &pid, &start) != 2 || pid <= 0)
                return 0;
        if (starttime_of(pid) != start)
                return 0;
        /* A zombie child of ours (only while k8c-lab itself runs) is not alive. */
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
                return 0;
        return pid;
}

void k8c_lab_pidfile_stop(const char *pid_path, int timeout_ms)
{
        pid_t pid = k8c_lab_pidfile_alive(pid_path);
        if (pid > 0) {
                kill(pid, SIGCONT);
                kill(pid, SIGTERM);
                for (int waited = 0; waited < timeout_ms && k8c_lab_pidfile_alive(pid_path) > 0; waited += 50)
                        usleep(50 * 1000);
                if (k8c_lab_pidfile_alive(pid_path) > 0) {
                        kill(pid, SIGKILL);
                        for (int i = 0; i < 40 && k8c_lab_pidfile_alive(pid_path) > 0; i++)
                                usleep(50 * 1000);
                }
        }
        unlink(pid_path);
}
