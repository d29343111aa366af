/*
 * runtime_runc.c - the runc runtime: a pod is persistent net/UTS/IPC
 * namespaces plus a veth on the node bridge (network.c); each container is a
 * runc container over an OCI bundle (oci.c) joining those namespaces, started
 * with `runc run --detach`, its stdout/stderr appended to a per-restart log.
 *
 * The kubelet is the child subreaper, so a container's init is reparented to
 * it when runc exits and its exit status is collected with waitpid (runc state
 * cannot tell exit codes). Every runc child is held in a cleanup_pid until
 * reaped. Must not: touch containers outside its --runc-root, or pods' files
 * outside root_dir.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/fs.h"
#include "k8c/image.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"
#include "kubelet/kubelet_int.h"

extern char **environ;

struct runc_runtime {
        /* Serialises reaping: the worker and a log follower may both ask for a container's state,
         * and only the first waitpid() sees the exit code. */
        pthread_mutex_t reap_lock;
        pthread_mutex_t template_lock; /* the shared busybox tree is made once */
        struct k8c_runc_config cfg;    /* strings owned */
        struct k8c_ipam *ipam;
        char gw[16];
        int prefix;
        struct k8c_image_store *images; /* with --registry-mirror; NULL = host busybox rootfs */
        int min_oom_score_adj; /* what this process may set: -1000 with CAP_SYS_RESOURCE, else its own */
};

/* The lowest oom_score_adj a child may be given: lowering below our own needs CAP_SYS_RESOURCE. */
static int min_oom_score_adj(void)
{
        cleanup_fclose FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        unsigned long long eff = ~0ull;
        while (f != NULL && fgets(line, sizeof(line), f) != NULL)
                if (strncmp(line, "CapEff:", 7) == 0)
                        eff = strtoull(line + 7, NULL, 16);
        if (eff & (1ull << 24)) /* CAP_SYS_RESOURCE */
                return -1000;
        cleanup_fclose FILE *a = fopen("/proc/self/oom_score_adj", "re");
        int own = 0;
        if (a == NULL || fscanf(a, "%d", &own) != 1)
                own = 0;
        return own;
}

static char *dupn(const char *s)
{
        return s != NULL ? k8c_xstrdup(s) : NULL;
}

static int write_file(const char *path, const char *data, k8c_error_t *err)
{
        cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return k8c_make_errno(err, errno, "open %s", path);
        size_t n = strlen(data);
        if (write(fd, data, n) != (ssize_t)n)
                return k8c_make_errno(err, errno, "write %s", path);
        return 0;
}

static char *read_file(const char *path)
{
        cleanup_fclose FILE *f = fopen(path, "re");
        if (f == NULL)
                return NULL;
        char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return k8c_xstrdup(buf);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        if (flag == FTW_DP)
                rmdir(path);
        else
                unlink(path);
        return 0;
}

static void rm_rf(const char *path)
{
        nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static const char *uid_of(const json_t *pod)
{
        return k8c_json_get_string(pod, "metadata.uid") ?: "none";
}

static char *pod_dir(struct runc_runtime *rt, const char *uid)
{
        return k8c_xasprintf("%s/pods/%s", rt->cfg.root_dir, uid);
}

static char *netns_path(struct runc_runtime *rt, const char *uid)
{
        return k8c_xasprintf("%s/k8c-%.13s", rt->cfg.netns_dir, uid);
}

static char *host_ifname(const char *uid)
{
        /* IFNAMSIZ is 16: "veth" + 11 characters of the uid without dashes. */
        char buf[16] = "veth";
        size_t n = 4;
        for (const char *s = uid; *s != '\0' && n < 15; s++)
                if (*s != '-')
                        buf[n++] = *s;
        buf[n] = '\0';
        return k8c_xstrdup(buf);
}

/* Runs runc with args (NULL-terminated, after "runc --root R"), stdout/stderr to out_fd (or
 * /dev/null), and waits for it. Returns its exit status or a negative error. */
static int run_runc(struct runc_runtime *rt, const char *const *args, int out_fd, k8c_error_t *err)
{
        const char *argv[16];
        size_t n = 0;
        argv[n++] = rt->cfg.runc_binary;
        argv[n++] = "--root";
        argv[n++] = rt->cfg.runc_root;
        for (size_t i = 0; args[i] != NULL && n < 15; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        if (out_fd >= 0) {
                posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
                posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
        } else {
                posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
                posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        }
        cleanup_pid pid_t pid = -1;
        int r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0) {
                pid = -1;
                return k8c_make_errno(err, r, "spawn %s", argv[0]);
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR)
                        return k8c_make_errno(err, errno, "wait for runc");
        }
        pid = -1; /* reaped */
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return k8c_make_error(err, K8C_EINTERNAL, "runc %s killed by signal %d", args[0], WTERMSIG(status));
}

/* Like run_runc but captures stdout (caller frees *ret_out). */
static int run_runc_capture(struct runc_runtime *rt, const char *const *args, char **ret_out,
                            k8c_error_t *err)
{
        char tmpl[] = "/tmp/k8c-runc-XXXXXX";
        cleanup_close int fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd < 0)
                return k8c_make_errno(err, errno, "mkstemp");
        unlink(tmpl);
        int r = run_runc(rt, args, fd, err);
        if (r < 0)
                return r;
        off_t len = lseek(fd, 0, SEEK_END);
        char *buf = k8c_xmalloc((size_t)len + 1);
        ssize_t got = pread(fd, buf, (size_t)len, 0);
        buf[got > 0 ? got : 0] = '\0';
        *ret_out = buf;
        return r;
}

int k8c_runc_runtime_new(const struct k8c_runc_config *cfg, void **ret_rt, k8c_error_t *err)
{
        uint32_t net;
        int prefix;
        int r = k8c_cidr_parse(cfg->pod_cidr, &net, &prefix, err);
        if (r < 0)
                return r;
        struct runc_runtime *rt = k8c_xcalloc(1, sizeof(*rt));
        pthread_mutex_init(&rt->reap_lock, NULL);
        pthread_mutex_init(&rt->template_lock, NULL);
        rt->cfg.root_dir = dupn(cfg->root_dir);
        rt->cfg.log_dir =
                cfg->log_dir != NULL ? k8c_xstrdup(cfg->log_dir) : k8c_xasprintf("%s/logs", cfg->root_dir);
        rt->cfg.runc_root = cfg->runc_root != NULL ? k8c_xstrdup(cfg->runc_root)
                                                   : k8c_xasprintf("%s/runc", cfg->root_dir);
        rt->cfg.runc_binary = k8c_xstrdup(cfg->runc_binary ?: "runc");
        rt->cfg.netns_dir = k8c_xstrdup(cfg->netns_dir ?: "/run/netns");
        rt->cfg.node_netns = dupn(cfg->node_netns);
        rt->cfg.cgroup_parent = k8c_xstrdup(cfg->cgroup_parent ?: "k8c");
        rt->cfg.node_name = dupn(cfg->node_name);
        rt->cfg.pod_cidr = dupn(cfg->pod_cidr);
        rt->cfg.busybox = k8c_xstrdup(cfg->busybox ?: "/bin/busybox");
        rt->cfg.bridge = k8c_xstrdup(cfg->bridge ?: "k8c0");
        rt->cfg.cluster_dns = dupn(cfg->cluster_dns);
        rt->cfg.memory_capacity = cfg->memory_capacity;
        rt->min_oom_score_adj = min_oom_score_adj();
        rt->prefix = prefix;
        *ret_rt = rt;
        if (cfg->registry_mirror != NULL) {
                cleanup_free char *images = k8c_xasprintf("%s/images", rt->cfg.root_dir);
                r = k8c_image_store_new(images, cfg->registry_mirror, &rt->images, err);
                if (r < 0) {
                        *ret_rt = NULL;
                        k8c_runc_runtime_ops.free(rt);
                        return r;
                }
        }
        cleanup_free char *ipam_file = k8c_xasprintf("%s/ipam", rt->cfg.root_dir);
        r = k8c_mkdir_p(rt->cfg.root_dir, 0755, err);
        if (r >= 0)
                r = k8c_mkdir_p(rt->cfg.netns_dir, 0755, err);
        if (r >= 0)
                r = k8c_mkdir_p(rt->cfg.runc_root, 0755, err);
        if (r >= 0)
                r = k8c_ipam_new(cfg->pod_cidr, ipam_file, &rt->ipam, err);
        if (r < 0) {
                *ret_rt = NULL;
                k8c_runc_runtime_ops.free(rt);
                return r;
        }
        k8c_ipam_gateway(rt->ipam, rt->gw);
        cleanup_free char *gw_cidr = k8c_xasprintf("%s/%d", rt->gw, prefix);
        r = k8c_net_ensure_bridge(rt->cfg.node_netns, rt->cfg.bridge, gw_cidr, err);
        if (r < 0) {
                *ret_rt = NULL;
                k8c_runc_runtime_ops.free(rt);
                return k8c_error_wrap(err, "bridge %s", cfg->bridge ?: "k8c0");
        }
        /* Orphaned container inits come to us, so their exit codes can be read. */
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        return 0;
}

static void runc_free(void *opaque)
{
        struct runc_runtime *rt = opaque;
        if (rt == NULL)
                return;
        k8c_ipam_free(rt->ipam);
        k8c_image_store_free(rt->images);
        pthread_mutex_destroy(&rt->reap_lock);
        pthread_mutex_destroy(&rt->template_lock);
        free((char *)rt->cfg.root_dir);
        free((char *)rt->cfg.log_dir);
        free((char *)rt->cfg.runc_root);
        free((char *)rt->cfg.runc_binary);
        free((char *)rt->cfg.netns_dir);
        free((char *)rt->cfg.node_netns);
        free((char *)rt->cfg.cgroup_parent);
        free((char *)rt->cfg.cluster_dns);
        free((char *)rt->cfg.node_name);
        free((char *)rt->cfg.pod_cidr);
        free((char *)rt->cfg.busybox);
        free((char *)rt->cfg.bridge);
        free(rt);
}

static int runc_create_sandbox(void *opaque, const json_t *pod, const char *hint, char **ret_ip,
                               k8c_error_t *err)
{
        struct runc_runtime *rt = opaque;
        const char *uid = uid_of(pod);
        const char *name = k8c_json_get_string(pod, "metadata.name") ?: "pod";
        cleanup_free char *dir = pod_dir(rt, uid);
        cleanup_free char *netns = netns_path(rt, uid);
        cleanup_free char *uts = k8c_xasprintf("%s/uts", dir);
        cleanup_free char *ipc = k8c_xasprintf("%s/ipc", dir);
        cleanup_free char *ip = NULL;
        int r = k8c_mkdir_p(dir, 0755, err);
        if (r < 0)
                return r;
        r = k8c_ipam_allocate(rt->ipam, uid, &ip, err);
        if (r < 0)
                return r;
        struct stat st;
        if (stat(netns, &st) < 0 || stat(uts, &st) < 0 || stat(ipc, &st) < 0) {
                /* A half-made sandbox from an earlier failure is made again from scratch. */
                k8c_ns_remove(netns, NULL);
                k8c_ns_remove(uts, NULL);
                k8c_ns_remove(ipc, NULL);
                r = k8c_ns_create(netns, uts, ipc, name, err);
                if (r < 0)
                        return k8c_error_wrap(err, "pod namespaces");
        }
        cleanup_free char *ifname = host_ifname(uid);
        cleanup_free char *ip_cidr = k8c_xasprintf("%s/%d", ip, rt->prefix);
        r = k8c_net_attach_pod(rt->cfg.node_netns, netns, rt->cfg.bridge, ifname, ip_cidr, rt->gw, err);
        if (r < 0)
                return k8c_error_wrap(err, "pod network");
        cleanup_free char *hosts_path = k8c_xasprintf("%s/hosts", dir);
        cleanup_free char *hosts =
                k8c_xasprintf("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost "
                              "ip6-localhost ip6-loopback\n%s\t%s\n",
                              ip, name);
        cleanup_free char *resolv_path = k8c_xasprintf("%s/resolv.conf", dir);
        const char *ns = k8c_json_get_string(pod, "metadata.namespace") ?: "default";
        /* Without a nameserver line the resolver would try 127.0.0.1, where nothing answers. */
        cleanup_free char *nameserver =
                rt->cfg.cluster_dns ? k8c_xasprintf("nameserver %s\n", rt->cfg.cluster_dns) : k8c_xstrdup("");
        cleanup_free char *resolv = k8c_xasprintf(
                "%ssearch %s.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n",
                nameserver, ns);
        cleanup_free char *hostname_path = k8c_xasprintf("%s/hostname", dir);
        cleanup_free char *hostname = k8c_xasprintf("%s\n", name);
        cleanup_free char *ip_path = k8c_xasprintf("%s/ip", dir);
        if ((r = write_file(hosts_path, hosts, err)) < 0 || (r = write_file(resolv_path, resolv, err)) < 0 ||
            (r = write_file(hostname_path, hostname, err)) < 0 || (r = write_file(ip_path, ip, err)) < 0)
                return r;
        *ret_ip = k8c_steal(&ip);
        return 0;
}

static int copy_file(const char *src, const char *dst, k8c_error_t *err)
{
        cleanup_close int in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return k8c_make_errno(err, errno, "open %s", src);
        cleanup_close int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        if (out < 0)
                return k8c_make_errno(err, errno, "create %s", dst);
        char buf[65536];
        ssize_t n;
        while ((n = read(in, buf, sizeof(buf))) > 0)
                if (write(out, buf, (size_t)n) != n)
                        return k8c_make_errno(err, errno, "write %s", dst);
        if (n < 0)
                return k8c_make_errno(err, errno, "read %s", src);
        return 0;
}

/* Copies an unpacked image tree (files, directories, symlinks; modes and owners) into a container's
 * rootfs. nftw has no context argument, hence the thread-local roots. */
static __thread const char *copy_src, *copy_dst;
static __thread int copy_errno;

static int copy_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        cleanup_free char *to = k8c_xasprintf("%s%s", copy_dst, path + strlen(copy_src));
        int r = 0;
        if (flag == FTW_D) {
                r = mkdir(to, st->st_mode & 07777) < 0 && errno != EEXIST ? -1 : 0;
                if (r == 0)
                        chmod(to, st->st_mode & 07777);
        } else if (flag == FTW_SL) {
                char target[4096];
                ssize_t n = readlink(path, target, sizeof(target) - 1);
                if (n >= 0) {
                        target[n] = '\0';
                        r = symlink(target, to) < 0 && errno != EEXIST ? -1 : 0;
                }
        } else if (flag == FTW_F && S_ISREG(st->st_mode)) {
                cleanup_close int in = open(path, O_RDONLY | O_CLOEXEC);
                cleanup_close int out =
                        open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st->st_mode & 07777);
                if (in < 0 || out < 0)
                        r = -1;
                char buf[65536];
                ssize_t n = 0;
                while (r == 0 && (n = read(in, buf, sizeof(buf))) > 0)
                        if (write(out, buf, (size_t)n) != n)
                                r = -1;
                if (n < 0)
                        r = -1;
                if (r == 0)
                        fchmod(out, st->st_mode & 07777);
        } else {
                return 0; /* fifos, sockets: not part of a rootfs */
        }
        if (r < 0) {
                copy_errno = errno;
                return 1;
        }
        if (lchown(to, st->st_uid, st->st_gid) < 0) {
                /* Ownership is best-effort (e.g. in a user namespace). */
        }
        return 0;
}

static int copy_tree(const char *src, const char *dst, k8c_error_t *err)
{
        copy_src = src;
        copy_dst = dst;
        copy_errno = 0;
        if (nftw(src, copy_cb, 32, FTW_PHYS) != 0)
                return k8c_make_errno(err, copy_errno != 0 ? copy_errno : EIO, "copy image into %s", dst);
        return 0;
}

static bool is_mountpoint(const char *path)
{
        struct stat a, b;
        cleanup_free char *parent = k8c_xasprintf("%s/..", path);
        return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* With an image store: the image pulled per imagePullPolicy and mounted read-write over it with
 * overlayfs (a fresh upper layer per start, as Kubernetes gives a restarted container a new
 * writable layer), or copied when overlayfs is refused; its config goes to *ret_config. The
 * <rootfs>.image file names the image the rootfs holds. */
static int prepare_image_rootfs(struct runc_runtime *rt, const json_t *container, const char *rootfs,
                                json_t **ret_config, k8c_error_t *err)
{
        const char *image = json_string_value(json_object_get(container, "image"));
        const char *policy = json_string_value(json_object_get(container, "imagePullPolicy"));
        /* The kubelet applied imagePullPolicy a moment ago (pull_image): the image present now is
         * the one to run, without asking the registry a second time. */
        if (policy == NULL || strcmp(policy, "Never") != 0)
                policy = "IfNotPresent";
        struct k8c_image img;
        int r = k8c_image_ensure(rt->images, image ?: "", policy, &img, err);
        if (r < 0)
                return r;
        cleanup_free char *done = k8c_xasprintf("%s.image", rootfs);
        cleanup_free char *have = read_file(done);
        if (have == NULL || strcmp(have, img.image_id) != 0) {
                unlink(done);
                if (is_mountpoint(rootfs))
                        umount2(rootfs, MNT_DETACH);
                rm_rf(rootfs);
                cleanup_free char *upper = k8c_xasprintf("%s.upper", rootfs);
                cleanup_free char *work = k8c_xasprintf("%s.work", rootfs);
                rm_rf(upper);
                rm_rf(work);
                if ((r = k8c_mkdir_p(rootfs, 0755, err)) < 0 || (r = k8c_mkdir_p(upper, 0755, err)) < 0 ||
                    (r = k8c_mkdir_p(work, 0755, err)) < 0)
                        goto out;
                cleanup_free char *opts =
                        k8c_xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", img.rootfs, upper, work);
                if (mount("overlay", rootfs, "overlay", 0, opts) < 0) {
                        rmdir(rootfs);
                        cleanup_free char *tmp = k8c_xasprintf("%s.tmp", rootfs);
                        rm_rf(tmp);
                        r = copy_tree(img.rootfs, tmp, err);
                        if (r >= 0 && rename(tmp, rootfs) < 0)
                                r = k8c_make_errno(err, errno, "rename %s", tmp);
                }
                if (r >= 0)
                        r = write_file(done, img.image_id, err);
        }
out:
        if (r >= 0 && img.repo_digest != NULL) {
                /* What the status reports as imageID. */
                cleanup_free char *idfile = k8c_xasprintf("%s.imageid", rootfs);
                r = write_file(idfile, img.repo_digest, err);
        }
        if (r >= 0)
                *ret_config = json_incref(img.config);
        k8c_image_free(&img);
        return r;
}

static int runc_pull_image(void *opaque, const json_t *container, bool *ret_pulled, double *ret_seconds,
                           k8c_error_t *err)
{
        struct runc_runtime *rt = opaque;
        *ret_pulled = false;
        *ret_seconds = 0;
        if (rt->images == NULL)
                return 0; /* the host's busybox: always present */
        const char *image = json_string_value(json_object_get(container, "image"));
        const char *policy = json_string_value(json_object_get(container, "imagePullPolicy"));
        struct k8c_image img;
        int r = k8c_image_ensure(rt->images, image ?: "", policy, &img, err);
        if (r < 0)
                return k8c_error_wrap(err, "image %s", image ?: "");
        *ret_pulled = img.pulled;
        *ret_seconds = img.pull_seconds;
        k8c_image_free(&img);
        return 0;
}

/* Image IDs held by containers (the <rootfs>.image files of mounted rootfs), for the collector. */
static int runc_image_gc(void *opaque, int64_t budget, int64_t min_age_ms, k8c_error_t *err)
{
        struct runc_runtime *rt = opaque;
        if (rt->images == NULL)
                return 0;
        size_t n = 0, cap = 16;
        char **in_use = k8c_xcalloc(cap, sizeof(char *));
        cleanup_free char *pods = k8c_xasprintf("%s/pods", rt->cfg.root_dir);
        DIR *pd = opendir(pods);
        struct dirent *pe;
        while (pd != NULL && (pe = readdir(pd)) != NULL) {
                if (pe->d_name[0] == '.')
                        continue;
                cleanup_free char *cdir = k8c_xasprintf("%s/%s/containers", pods, pe->d_name);
                DIR *cd = opendir(cdir);
                struct dirent *ce;
                while (cd != NULL && (ce = readdir(cd)) != NULL) {
                        if (ce->d_name[0] == '.')
                                continue;
                        cleanup_free char *f = k8c_xasprintf("%s/%s/rootfs.image", cdir, ce->d_name);
                        char *id = read_file(f);
                        if (id == NULL)
                                continue;
                        if (n + 2 > cap)
                                in_use = k8c_xrealloc(in_use, (cap *= 2) * sizeof(char *));
                        in_use[n++] = id;
                }
                if (cd != NULL)
                        closedir(cd);
        }
        if (pd != NULL)
                closedir(pd);
        in_use[n] = NULL;
        int removed = 0;
        int r = k8c_image_store_gc(rt->images, in_use, budget, min_age_ms, &removed, err);
        k8c_strv_free(in_use);
        return r;
}

/* Unmounts an overlay rootfs (after its container is gone) so the next start mounts a fresh one
 * and the pod directory can be removed. */
static void release_rootfs(const char *container_dir)
{
        cleanup_free char *rootfs = k8c_xasprintf("%s/rootfs", container_dir);
        if (!is_mountpoint(rootfs))
                return;
        cleanup_free char *done = k8c_xasprintf("%s.image", rootfs);
        unlink(done);
        umount2(rootfs, MNT_DETACH);
}

/* Without an image store, the rootfs of image "busybox[:tag]": the host's static busybox plus its
 * applet links. */
static int prepare_rootfs(struct runc_runtime *rt, const char *image, const char *rootfs, k8c_error_t *err)
{
        if (image == NULL || (strcmp(image, "busybox") != 0 && strncmp(image, "busybox:", 8) != 0 &&
                              strncmp(image, "docker.io/library/busybox", 25) != 0))
                return k8c_make_error(
                        err, K8C_ENOTFOUND,
                        "image %s: only busybox is available (image pulling is not implemented yet)",
                        image ?: "");
        cleanup_free char *bin = k8c_xasprintf("%s/bin", rootfs);
        cleanup_free char *bb = k8c_xasprintf("%s/bin/busybox", rootfs);
        struct stat st;
        if (stat(bb, &st) == 0)
                return 0;
        int r = k8c_mkdir_p(bin, 0755, err);
        if (r < 0)
                return r;
        static const char *const dirs[] = { "etc", "proc", "dev", "sys", "tmp", "root", "var", "www" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(dirs); i++) {
                cleanup_free char *d = k8c_xasprintf("%s/%s", rootfs, dirs[i]);
                if ((r = k8c_mkdir_p(d, 0755, err)) < 0)
                        return r;
        }
        cleanup_free char *tmp = k8c_xasprintf("%s.tmp", bb);
        if ((r = copy_file(rt->cfg.busybox, tmp, err)) < 0)
                return r;
        static const char *const applets[] = { "sh",       "echo", "sleep", "httpd", "cat", "wget", "ls",
                                               "hostname", "env",  "true",  "false", "ps",  "kill", "id" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(applets); i++) {
                cleanup_free char *l = k8c_xasprintf("%s/%s", bin, applets[i]);
                if (symlink("busybox", l) < 0 && errno != EEXIST)
                        return k8c_make_errno(err, errno, "symlink %s", l);
        }
        if (rename(tmp, bb) < 0)
                return k8c_make_errno(err, errno, "rename %s", tmp);
        return 0;
}

/* Without an image store: one shared busybox tree under root_dir, made once, and per container an
 * overlay over it with a fresh upper layer, as the image path does. Making a ~25-entry tree per
 * container was the largest cost of a pod start (inode allocation on the node's filesystem); an
 * overlay is three directories and a mount. When overlayfs is refused, the tree is copied. */
static int prepare_busybox_rootfs(struct runc_runtime *rt, const char *image, const char *rootfs,
                                  k8c_error_t *err)
{
        cleanup_free char *tmpl = k8c_xasprintf("%s/busybox-rootfs", rt->cfg.root_dir);
        pthread_mutex_lock(&rt->template_lock);
        int r = prepare_rootfs(rt, image, tmpl, err);
        pthread_mutex_unlock(&rt->template_lock);
        if (r < 0)
                return r;
        cleanup_free char *bb = k8c_xasprintf("%s/bin/busybox", rootfs);
        struct stat st;
        if (is_mountpoint(rootfs) || stat(bb, &st) == 0)
                return 0; /* mounted (or copied) already */
        cleanup_free char *upper = k8c_xasprintf("%s.upper", rootfs);
        cleanup_free char *work = k8c_xasprintf("%s.work", rootfs);
        rm_rf(upper);
        rm_rf(work);
        if ((r = k8c_mkdir_p(rootfs, 0755, err)) < 0 || (r = k8c_mkdir_p(upper, 0755, err)) < 0 ||
            (r = k8c_mkdir_p(work, 0755, err)) < 0)
                return r;
        cleanup_free char *opts = k8c_xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", tmpl, upper, work);
        if (mount("overlay", rootfs, "overlay", 0, opts) == 0)
                return 0;
        return prepare_rootfs(rt, image, rootfs, err);
}

static char *container_dir(struct runc_runtime *rt, const char *uid, const char *name)
{
        return k8c_xasprintf("%s/pods/%s/containers/%s", rt->cfg.root_dir, uid, name);
}

static int runc_start_container(void *opaque, const json_t *pod, const json_t *container,
                                const json_t *mounts, int restart_count, k8c_error_t *err)
{
        struct runc_runtime *rt = opaque;
        const char *uid = uid_of(pod);
        const char *name = json_string_value(json_object_get(container, "name"));
        if (name == NULL)
                return k8c_make_error(err, K8C_EINVALID, "container without a name");
        cleanup_free char *dir = container_dir(rt, uid, name);
        cleanup_free char *rootfs = k8c_xasprintf("%s/rootfs", dir);
        int r = k8c_mkdir_p(dir, 0755, err);
        if (r < 0)
                return r;
        json_auto_t *image_config = NULL;
        if (rt->images != NULL)
                r = prepare_image_rootfs(rt, container, rootfs, &image_config, err);
        else
                r = prepare_busybox_rootfs(rt, json_string_value(json_object_get(container, "image")), rootfs,
                                           err);
        if (r < 0)
                return r;
        cleanup_free char *pdir = pod_dir(rt, uid);
        cleanup_free char *ip_path = k8c_xasprintf("%s/ip", pdir);
        cleanup_free char *ip = read_file(ip_path);
        cleanup_free char *netns = netns_path(rt, uid);
        const struct k8c_oci_inputs in = {
                .pod = pod,
                .container = container,
                .pod_ip = ip,
                .node_name = rt->cfg.node_name,
                .netns = netns,
                .pod_dir = pdir,
                .cgroup_parent = rt->cfg.cgroup_parent,
                .image_config = image_config,
                .mounts = mounts,
                .memory_capacity = rt->cfg.memory_capacity,
                .oom_score_adj_limited = rt->min_oom_score_adj > -1000,
                .oom_score_adj_floor = rt->min_oom_score_adj,
        };
        json_auto_t *spec = k8c_oci_spec(&in);
        cleanup_free char *cfg_path = k8c_xasprintf("%s/config.json", dir);
        if (json_dump_file(spec, cfg_path, JSON_INDENT(1)) < 0)
                return k8c_make_error(err, K8C_EINTERNAL, "write %s", cfg_path);

        const char *ns = k8c_json_get_string(pod, "metadata.namespace") ?: "default";
        const char *pname = k8c_json_get_string(pod, "metadata.name") ?: "";
        cleanup_free char *log_dir = k8c_xasprintf("%s/%s_%s_%s/%s", rt->cfg.log_dir, ns, pname, uid, name);
        if ((r = k8c_mkdir_p(log_dir, 0755, err)) < 0)
                return r;
        cleanup_free char *log_path = k8c_xasprintf("%s/%d.log", log_dir, restart_count);
        cleanup_close int log_fd = open(log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (log_fd < 0)
                return k8c_make_errno(err, errno, "open %s", log_path);

        cleanup_free char *id = k8c_xasprintf("%s_%s_%d", uid, name, restart_count);
        cleanup_free char *pid_path = k8c_xasprintf("%s/pid", dir);
        cleanup_free char *exit_path = k8c_xasprintf("%s/exitcode", dir);
        cleanup_free char *id_path = k8c_xasprintf("%s/id", dir);
        cleanup_free char *oom_path = k8c_xasprintf("%s/oomkilled", dir);
        unlink(pid_path);
        unlink(exit_path);
        unlink(oom_path);
        /* A container of the same ID left by a crash is removed before it is made again (runc keeps
         * a state directory per ID: no directory, nothing to delete, and no runc spawn spent). */
        const char *del[] = { "delete", "--force", id, NULL };
        cleanup_free char *state_dir = k8c_xasprintf("%s/%s", rt->cfg.runc_root, id);
        if (access(state_dir, F_OK) == 0)
                run_runc(rt, del, -1, NULL);
        const char *args[] = { "run", "--detach", "--bundle", dir, "--pid-file", pid_path, id, NULL };
        r = run_runc(rt, args, log_fd, err);
        if (r < 0)
                return r;
        if (r != 0) {
                run_runc(rt, del, -1, NULL);
                /* runc reports why on stderr, which went to the log: quote its last line. */
                char tail[512] = "";
                off_t end = lseek(log_fd, 0, SEEK_END);
                off_t from = end > (off_t)sizeof(tail) - 1 ? end - (off_t)sizeof(tail) + 1 : 0;
                ssize_t got = pread(log_fd, tail, sizeof(tail) - 1, from);
                tail[got > 0 ? got : 0] = '\0';
                while (got > 0 && tail[got - 1] == '\n')
                        tail[--got] = '\0';
                char *last = strrchr(tail, '\n');
                return k8c_make_error(err, K8C_EINTERNAL, "runc run %s exited with %d: %s", id, r,
                                      last != NULL ? last + 1 : tail);
        }
        return write_file(id_path, id, err);
}

static time_t mtime_of(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 ? st.st_mtime : 0;
}

static int container_status_locked(struct runc_runtime *rt, const json_t *pod, const char *name,
                                   struct k8c_container_state *ret, k8c_error_t *err);

/* The "oom_kill N" count of a memory.oom_control (v1) or memory.events (v2) file; 0 when absent. */
static long oom_kill_count(const char *path)
{
        cleanup_fclose FILE *f = fopen(path, "re");
        char line[128];
        long n = 0;
        while (f != NULL && fgets(line, sizeof(line), f) != NULL)
                if (strncmp(line, "oom_kill ", 9) == 0)
                        n = strtol(line + 9, NULL, 10);
        return n;
}

/* Whether the kernel's OOM killer killed a process in the container's cgroup (which runc keeps
 * until the container is deleted): the memory hierarchy of v1 or the unified one of v2, under the
 * cgroup this process (and so runc) is in. */
static bool container_oom_killed(struct runc_runtime *rt, const char *uid, const char *name)
{
        cleanup_fclose FILE *f = fopen("/proc/self/cgroup", "re");
        char line[1024];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
                line[strcspn(line, "\n")] = '\0';
                char *c1 = strchr(line, ':');
                char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
                if (c2 == NULL)
                        continue;
                *c2 = '\0';
                const char *ctrls = c1 + 1, *own = c2 + 1;
                if (strcmp(own, "/") == 0)
                        own = "";
                cleanup_free char *path = NULL;
                bool v1 = false;
                for (char *save = NULL, *t = strtok_r((char *)ctrls, ",", &save); t != NULL;
                     t = strtok_r(NULL, ",", &save))
                        v1 = v1 || strcmp(t, "memory") == 0;
                if (v1) {
                        path = k8c_xasprintf("/sys/fs/cgroup/memory%s/%s/pod%s/%s/memory.oom_control", own,
                                             rt->cfg.cgroup_parent, uid, name);
                        if (oom_kill_count(path) > 0)
                                return true;
                } else if (ctrls[0] == '\0') {
                        const char *bases[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
                        for (size_t i = 0; i < 2; i++) {
                                free(path);
                                path = k8c_xasprintf("%s%s/%s/pod%s/%s/memory.events", bases[i], own,
                                                     rt->cfg.cgroup_parent, uid, name);
                                if (oom_kill_count(path) > 0)
                                        return true;
                        }
                }
        }
        return false;
}

static int runc_container_status(void *opaque, const json_t *pod, const char *name,
                                 struct k8c_container_state *ret, k8c_error_t *err)
{
        struct runc_runtime *rt = opaque;
        pthread_mutex_lock(&rt->reap_lock);
        int r = container_status_locked(rt, pod, name, ret, err);
        pthread_mutex_unlock(&rt->reap_lock);
        return r;
}

static int container_status_locked(struct runc_runtime *rt, const json_t *pod, const char *name,
                                   struct k8c_container_state *ret, k8c_error_t *err)
{
        memset(ret, 0, sizeof(*ret));
        cleanup_free char *dir = container_dir(rt, uid_of(pod), name);
        cleanup_free char *id_path = k8c_xasprintf("%s/id", dir);
        cleanup_free char *pid_path = k8c_xasprintf("%s/pid", dir);
        cleanup_free char *exit_path = k8c_xasprintf("%s/exitcode", dir);
        cleanup_free char *oom_path = k8c_xasprintf("%s/oomkilled", dir);
        cleanup_free char *id = read_file(id_path);
        if (id == NULL)
                return 0;
        snprintf(ret->id, sizeof(ret->id), "%s", id);
        ret->started_at = mtime_of(pid_path);
        cleanup_free char *imageid_path = k8c_xasprintf("%s/rootfs.imageid", dir);
        cleanup_free char *imageid = read_file(imageid_path);
        if (imageid != NULL)
                snprintf(ret->image_id, sizeof(ret->image_id), "%s", imageid);
        cleanup_free char *code = read_file(exit_path);
        if (code == NULL) {
                cleanup_free char *pid_s = read_file(pid_path);
                pid_t pid = pid_s != NULL ? (pid_t)atoi(pid_s) : 0;
                int status = 0;
                pid_t w = pid > 0 ? waitpid(pid, &status, WNOHANG) : -1;
                if (w == 0) {
                        ret->phase = K8C_CONTAINER_RUNNING;
                        return 0;
                }
                int exit_code;
                if (w == pid)
                        exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                else {
                        /* Not our child (a restarted kubelet): ask runc whether it still runs. */
                        const char *args[] = { "state", id, NULL };
                        cleanup_free char *out = NULL;
                        if (run_runc_capture(rt, args, &out, err) == 0) {
                                json_auto_t *state = json_loads(out, 0, NULL);
                                const char *s = k8c_json_get_string(state, "status");
                                if (s != NULL && (strcmp(s, "running") == 0 || strcmp(s, "created") == 0)) {
                                        ret->phase = K8C_CONTAINER_RUNNING;
                                        return 0;
                                }
                        }
                        exit_code = 255; /* the status was lost with the kubelet that reaped it */
                }
                /* Read before the container (and so its cgroup) is deleted; kept beside the exit code. */
                if (exit_code != 0 && container_oom_killed(rt, uid_of(pod), name)) {
                        int r = write_file(oom_path, "1", err);
                        if (r < 0)
                                return r;
                }
                char buf[16];
                snprintf(buf, sizeof(buf), "%d", exit_code);
                int r = write_file(exit_path, buf, err);
                if (r < 0)
                        return r;
                code = k8c_xstrdup(buf);
        }
        ret->phase = K8C_CONTAINER_EXITED;
        ret->exit_code = atoi(code);
        ret->finished_at = mtime_of(exit_path);
        ret->oom_killed = access(oom_path, F_OK) == 0;
        return 0;
}

static int runc_stop_container(void *opaque, const json_t *pod, const char *name, int64_t grace_s,
                               k8c_error_t *err)
{
        struct runc_runtime *rt = opaque;
        cleanup_free char *dir = container_dir(rt, uid_of(pod), name);
        cleanup_free char *id_path = k8c_xasprintf("%s/id", dir);
        cleanup_free char *id = read_file(id_path);
        if (id == NULL) {
                release_rootfs(dir);
                return 0;
        }
        struct k8c_container_state st;
        int r = runc_container_status(rt, pod, name, &st, err);
        if (r < 0)
                return r;
        if (st.phase == K8C_CONTAINER_RUNNING) {
                const char *term[] = { "kill", id, "TERM", NULL };
                run_runc(rt, term, -1, NULL);
                for (int64_t waited = 0; waited < grace_s * 10 && st.phase == K8C_CONTAINER_RUNNING;
                     waited++) {
                        usleep(100 * 1000);
                        runc_container_status(rt, pod, name, &st, NULL);
                }
                if (st.phase == K8C_CONTAINER_RUNNING) {
                        const char *kill9[] = { "kill", id, "KILL", NULL };
                        run_runc(rt, kill9, -1, NULL);
                        for (int i = 0; i < 50 && st.phase == K8C_CONTAINER_RUNNING; i++) {
                                usleep(100 * 1000);
                                runc_container_status(rt, pod, name, &st, NULL);
                        }
                }
        }
        const char *del[] = { "delete", "--force", id, NULL };
        r = run_runc(rt, del, -1, err);
        if (r < 0)
                return r;
        unlink(id_path);
        release_rootfs(dir);
        return 0;
}

/* Removes the pod's cgroup directories in every hierarchy this process is in. */
static void remove_pod_cgroups(struct runc_runtime *rt, const char *uid)
{
        cleanup_fclose FILE *f = fopen("/proc/self/cgroup", "re");
        if (f == NULL)
                return;
        char line[1024];
        while (fgets(line, sizeof(line), f) != NULL) {
                line[strcspn(line, "\n")] = '\0';
                char *c1 = strchr(line, ':');
                char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
                if (c2 == NULL)
                        continue;
                *c2 = '\0';
                const char *ctrls = c1 + 1;
                const char *own = c2 + 1;
                if (strncmp(ctrls, "name=", 5) == 0)
                        ctrls += 5;
                /* v1 controllers are mounted by name; v2 at "unified" (hybrid) or the root. */
                cleanup_free char *v1 = k8c_xasprintf("/sys/fs/cgroup/%s", ctrls);
                const char *bases[2] = { ctrls[0] != '\0' ? v1 : "/sys/fs/cgroup/unified",
                                         ctrls[0] != '\0' ? NULL : "/sys/fs/cgroup" };
                for (size_t m = 0; m < 2 && bases[m] != NULL; m++) {
                        cleanup_free char *poddir =
                                k8c_xasprintf("%s%s/%s/pod%s", bases[m], own, rt->cfg.cgroup_parent, uid);
                        DIR *d = opendir(poddir);
                        if (d == NULL)
                                continue;
                        struct dirent *e;
                        while ((e = readdir(d)) != NULL) {
                                if (e->d_type != DT_DIR || e->d_name[0] == '.')
                                        continue;
                                cleanup_free char *sub = k8c_xasprintf("%s/%s", poddir, e->d_name);
                                rmdir(sub);
                        }
                        closedir(d);
                        rmdir(poddir);
                }
        }
}

static int runc_remove_sandbox(void *opaque, const json_t *pod, k8c_error_t *err)
{
        struct runc_runtime *rt = opaque;
        const char *uid = uid_of(pod);
        cleanup_free char *dir = pod_dir(rt, uid);
        cleanup_free char *cdir = k8c_xasprintf("%s/containers", dir);
        DIR *d = opendir(cdir);
        if (d != NULL) {
                struct dirent *e;
                int r = 0;
                while (r >= 0 && (e = readdir(d)) != NULL) {
                        if (e->d_name[0] == '.')
                                continue;
                        r = runc_stop_container(rt, pod, e->d_name, 0, err);
                }
                closedir(d);
                if (r < 0)
                        return r;
        }
        cleanup_free char *ifname = host_ifname(uid);
        int r = k8c_net_delete_link(rt->cfg.node_netns, ifname, err);
        if (r < 0)
                return r;
        cleanup_free char *netns = netns_path(rt, uid);
        cleanup_free char *uts = k8c_xasprintf("%s/uts", dir);
        cleanup_free char *ipc = k8c_xasprintf("%s/ipc", dir);
        if ((r = k8c_ns_remove(netns, err)) < 0 || (r = k8c_ns_remove(uts, err)) < 0 ||
            (r = k8c_ns_remove(ipc, err)) < 0)
                return r;
        remove_pod_cgroups(rt, uid);
        rm_rf(dir);
        /* Logs go with the pod: <ns>_<pod>_<uid> (found by uid, as orphans have nothing else). */
        DIR *ld = opendir(rt->cfg.log_dir);
        if (ld != NULL) {
                size_t ulen = strlen(uid);
                struct dirent *e;
                while ((e = readdir(ld)) != NULL) {
                        size_t n = strlen(e->d_name);
                        if (n > ulen + 1 && e->d_name[n - ulen - 1] == '_' &&
                            strcmp(e->d_name + n - ulen, uid) == 0) {
                                cleanup_free char *p = k8c_xasprintf("%s/%s", rt->cfg.log_dir, e->d_name);
                                rm_rf(p);
                        }
                }
                closedir(ld);
        }
        return k8c_ipam_release(rt->ipam, uid, err);
}

static int runc_list(void *opaque, char ***ret_uids, k8c_error_t *err)
{
        struct runc_runtime *rt = opaque;
        cleanup_free char *pods = k8c_xasprintf("%s/pods", rt->cfg.root_dir);
        size_t n = 0, cap = 8;
        char **uids = k8c_xcalloc(cap, sizeof(char *));
        DIR *d = opendir(pods);
        if (d != NULL) {
                struct dirent *e;
                while ((e = readdir(d)) != NULL) {
                        if (e->d_name[0] == '.')
                                continue;
                        if (n + 2 > cap) {
                                cap *= 2;
                                uids = k8c_xrealloc(uids, cap * sizeof(char *));
                        }
                        uids[n++] = k8c_xstrdup(e->d_name);
                }
                closedir(d);
        }
        uids[n] = NULL;
        *ret_uids = uids;
        return 0;
}

static int runc_exec(void *opaque, const json_t *pod, const char *name, const char *const *argv,
                     int timeout_s, int *ret_exit_code, k8c_error_t *err)
{
        struct runc_runtime *rt = opaque;
        cleanup_free char *dir = container_dir(rt, uid_of(pod), name);
        cleanup_free char *id_path = k8c_xasprintf("%s/id", dir);
        cleanup_free char *id = read_file(id_path);
        if (id == NULL)
                return k8c_make_error(err, K8C_ENOTFOUND, "container %s has not started", name);
        size_t n = 0;
        while (argv[n] != NULL)
                n++;
        const char **args = k8c_xcalloc(n + 8, sizeof(char *));
        size_t a = 0;
        args[a++] = rt->cfg.runc_binary;
        args[a++] = "--root";
        args[a++] = rt->cfg.runc_root;
        args[a++] = "exec";
        args[a++] = id;
        for (size_t i = 0; i < n; i++)
                args[a++] = argv[i];
        args[a] = NULL;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        cleanup_pid pid_t pid = -1;
        int r = posix_spawnp(&pid, args[0], &fa, NULL, (char *const *)args, environ);
        posix_spawn_file_actions_destroy(&fa);
        free(args);
        if (r != 0) {
                pid = -1;
                return k8c_make_errno(err, r, "spawn runc exec");
        }
        /* The probe's timeout: past it the exec is killed (cleanup_pid) and counts as a failure. */
        int status = 0;
        for (int waited = 0; waited <= (timeout_s > 0 ? timeout_s : 1) * 20; waited++) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid) {
                        pid = -1;
                        *ret_exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                        return 0;
                }
                usleep(50 * 1000);
        }
        return k8c_make_error(err, K8C_ETIMEOUT, "probe in %s timed out after %ds", name, timeout_s);
}

/* kubectl exec: `runc exec [--tty] ID argv...` with the caller's stdio. With a tty, runc makes the
 * container's terminal and copies between it and ours, resizing it on SIGWINCH. */
static int runc_exec_start(void *opaque, const json_t *pod, const char *name, const char *const *argv,
                           const int fds[3], const char *tty_path, pid_t *ret_pid, k8c_error_t *err)
{
        struct runc_runtime *rt = opaque;
        cleanup_free char *dir = container_dir(rt, uid_of(pod), name);
        cleanup_free char *id_path = k8c_xasprintf("%s/id", dir);
        cleanup_free char *id = read_file(id_path);
        if (id == NULL)
                return k8c_make_error(err, K8C_ENOTFOUND, "container %s has not started", name);
        size_t n = 0;
        while (argv[n] != NULL)
                n++;
        cleanup_free const char **args = k8c_xcalloc(n + 8, sizeof(char *));
        size_t a = 0;
        args[a++] = rt->cfg.runc_binary;
        args[a++] = "--root";
        args[a++] = rt->cfg.runc_root;
        args[a++] = "exec";
        if (tty_path != NULL)
                args[a++] = "--tty";
        args[a++] = id;
        for (size_t i = 0; i < n; i++)
                args[a++] = argv[i];
        args[a] = NULL;
        return k8c_kubelet_spawn_stdio(args, fds, tty_path, ret_pid, err);
}

static char *runc_pod_netns(void *opaque, const json_t *pod)
{
        return netns_path(opaque, uid_of(pod));
}

const struct k8c_runtime_ops k8c_runc_runtime_ops = {
        .name = "runc",
        .create_sandbox = runc_create_sandbox,
        .start_container = runc_start_container,
        .container_status = runc_container_status,
        .stop_container = runc_stop_container,
        .remove_sandbox = runc_remove_sandbox,
        .exec = runc_exec,
        .list = runc_list,
        .pod_netns = runc_pod_netns,
        .free = runc_free,
        .exec_start = runc_exec_start,
        .pull_image = runc_pull_image,
        .image_gc = runc_image_gc,
};
