/*
 * runtime_fake.c - a container runtime that runs nothing: sandboxes get an IP
 * from the node's podCIDR and containers are "running" from the moment they
 * are started, so one machine can simulate many nodes.
 *
 * Owns: the in-memory table of fake sandboxes and containers. Must not: start
 * processes or touch the network, except that a streaming exec (kubectl exec)
 * runs its command on the host so the exec path is testable without root.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"
#include "k8c/names.h"
#include "k8c/strmap.h"
#include "kubelet/kubelet_int.h"

struct fake_container {
        struct k8c_container_state st;
        int exec_code; /* what probes get */
};

struct fake_sandbox {
        struct k8c_strmap containers; /* name → struct fake_container */
};

struct fake_runtime {
        pthread_mutex_t lock;
        struct k8c_ipam *ipam;
        struct k8c_strmap sandboxes; /* pod uid → struct fake_sandbox */
};

static const char *pod_uid(const json_t *pod)
{
        const char *uid = k8c_json_get_string(pod, "metadata.uid");
        return uid != NULL ? uid : "";
}

int k8c_fake_runtime_new(const char *pod_cidr, const char *ipam_file, void **ret_rt, k8c_error_t *err)
{
        struct k8c_ipam *ipam = NULL;
        int r = k8c_ipam_new(pod_cidr, ipam_file, &ipam, err);
        if (r < 0)
                return r;
        struct fake_runtime *rt = k8c_xcalloc(1, sizeof(*rt));
        pthread_mutex_init(&rt->lock, NULL);
        rt->ipam = ipam;
        k8c_strmap_init(&rt->sandboxes);
        *ret_rt = rt;
        return 0;
}

static void sandbox_free(struct fake_sandbox *sb)
{
        const char *k;
        void *v;
        for (size_t i = 0; k8c_strmap_next(&sb->containers, &i, &k, &v);)
                free(v);
        k8c_strmap_clear(&sb->containers);
        free(sb);
}

static void fake_free(void *opaque)
{
        struct fake_runtime *rt = opaque;
        if (rt == NULL)
                return;
        const char *k;
        void *v;
        for (size_t i = 0; k8c_strmap_next(&rt->sandboxes, &i, &k, &v);)
                sandbox_free(v);
        k8c_strmap_clear(&rt->sandboxes);
        k8c_ipam_free(rt->ipam);
        pthread_mutex_destroy(&rt->lock);
        free(rt);
}

static int fake_create_sandbox(void *opaque, const json_t *pod, const char *hint, char **ret_ip,
                               k8c_error_t *err)
{
        struct fake_runtime *rt = opaque;
        const char *uid = pod_uid(pod);
        int r = k8c_ipam_allocate(rt->ipam, uid, ret_ip, err);
        if (r < 0)
                return r;
        pthread_mutex_lock(&rt->lock);
        if (!k8c_strmap_has(&rt->sandboxes, uid)) {
                struct fake_sandbox *sb = k8c_xcalloc(1, sizeof(*sb));
                k8c_strmap_init(&sb->containers);
                k8c_strmap_put(&rt->sandboxes, uid, sb, NULL);
        }
        pthread_mutex_unlock(&rt->lock);
        return 0;
}

static int fake_start_container(void *opaque, const json_t *pod, const json_t *container,
                                const json_t *mounts, int restart_count, k8c_error_t *err)
{
        struct fake_runtime *rt = opaque;
        const char *name = json_string_value(json_object_get(container, "name"));
        if (name == NULL)
                return k8c_make_error(err, K8C_EINVALID, "container without a name");
        pthread_mutex_lock(&rt->lock);
        struct fake_sandbox *sb = NULL;
        if (!k8c_strmap_get(&rt->sandboxes, pod_uid(pod), (void **)&sb)) {
                pthread_mutex_unlock(&rt->lock);
                return k8c_make_error(err, K8C_ENOTFOUND, "no sandbox for pod %s", pod_uid(pod));
        }
        struct fake_container *c = NULL;
        if (!k8c_strmap_get(&sb->containers, name, (void **)&c)) {
                c = k8c_xcalloc(1, sizeof(*c));
                k8c_strmap_put(&sb->containers, name, c, NULL);
        }
        c->st.phase = K8C_CONTAINER_RUNNING;
        c->st.started_at = time(NULL);
        c->st.finished_at = 0;
        c->st.exit_code = 0;
        /* A new ID per start, as a real runtime makes a new container each restart. */
        snprintf(c->st.id, sizeof(c->st.id), "%.8s-%s-%d", pod_uid(pod), name, restart_count);
        pthread_mutex_unlock(&rt->lock);
        return 0;
}

static int fake_container_status(void *opaque, const json_t *pod, const char *name,
                                 struct k8c_container_state *ret, k8c_error_t *err)
{
        struct fake_runtime *rt = opaque;
        memset(ret, 0, sizeof(*ret));
        pthread_mutex_lock(&rt->lock);
        struct fake_sandbox *sb = NULL;
        struct fake_container *c = NULL;
        if (k8c_strmap_get(&rt->sandboxes, pod_uid(pod), (void **)&sb) &&
            k8c_strmap_get(&sb->containers, name, (void **)&c))
                *ret = c->st;
        pthread_mutex_unlock(&rt->lock);
        return 0;
}

static int fake_stop_container(void *opaque, const json_t *pod, const char *name, int64_t grace_s,
                               k8c_error_t *err)
{
        struct fake_runtime *rt = opaque;
        pthread_mutex_lock(&rt->lock);
        struct fake_sandbox *sb = NULL;
        void *c = NULL;
        if (k8c_strmap_get(&rt->sandboxes, pod_uid(pod), (void **)&sb) &&
            k8c_strmap_del(&sb->containers, name, &c))
                free(c);
        pthread_mutex_unlock(&rt->lock);
        return 0;
}

static int fake_remove_sandbox(void *opaque, const json_t *pod, k8c_error_t *err)
{
        struct fake_runtime *rt = opaque;
        const char *uid = pod_uid(pod);
        pthread_mutex_lock(&rt->lock);
        struct fake_sandbox *sb = NULL;
        if (k8c_strmap_del(&rt->sandboxes, uid, (void **)&sb))
                sandbox_free(sb);
        pthread_mutex_unlock(&rt->lock);
        return k8c_ipam_release(rt->ipam, uid, err);
}

static int fake_list(void *opaque, char ***ret_uids, k8c_error_t *err)
{
        struct fake_runtime *rt = opaque;
        /* Sandboxes live in memory, but their addresses persist in the IPAM file: a pod deleted
         * while the kubelet was down still holds one, so IPAM owners count as sandboxes too. */
        char **owners = k8c_ipam_owners(rt->ipam);
        pthread_mutex_lock(&rt->lock);
        size_t nowners = k8c_strv_len(owners);
        char **uids = k8c_xcalloc(k8c_strmap_len(&rt->sandboxes) + nowners + 1, sizeof(char *));
        size_t n = 0;
        const char *k;
        void *v;
        for (size_t i = 0; k8c_strmap_next(&rt->sandboxes, &i, &k, &v);)
                uids[n++] = k8c_xstrdup(k);
        for (size_t i = 0; i < nowners; i++)
                if (!k8c_strmap_has(&rt->sandboxes, owners[i]))
                        uids[n++] = k8c_steal(&owners[i]);
        pthread_mutex_unlock(&rt->lock);
        k8c_strv_free(owners);
        *ret_uids = uids;
        return 0;
}

int k8c_fake_runtime_exit(void *opaque, const char *uid, const char *name, int code)
{
        struct fake_runtime *rt = opaque;
        int r = -1;
        pthread_mutex_lock(&rt->lock);
        struct fake_sandbox *sb = NULL;
        struct fake_container *c = NULL;
        if (k8c_strmap_get(&rt->sandboxes, uid, (void **)&sb) &&
            k8c_strmap_get(&sb->containers, name, (void **)&c) && c->st.phase == K8C_CONTAINER_RUNNING) {
                c->st.phase = K8C_CONTAINER_EXITED;
                c->st.exit_code = code;
                c->st.finished_at = time(NULL);
                r = 0;
        }
        pthread_mutex_unlock(&rt->lock);
        return r;
}

static int fake_exec(void *opaque, const json_t *pod, const char *name, const char *const *argv,
                     int timeout_s, int *ret_exit_code, k8c_error_t *err)
{
        struct fake_runtime *rt = opaque;
        int r = 0;
        pthread_mutex_lock(&rt->lock);
        struct fake_sandbox *sb = NULL;
        struct fake_container *c = NULL;
        if (k8c_strmap_get(&rt->sandboxes, pod_uid(pod), (void **)&sb) &&
            k8c_strmap_get(&sb->containers, name, (void **)&c) && c->st.phase == K8C_CONTAINER_RUNNING)
                *ret_exit_code = c->exec_code;
        else
                r = k8c_make_error(err, K8C_ENOTFOUND, "container %s is not running", name);
        pthread_mutex_unlock(&rt->lock);
        return r;
}

int k8c_fake_runtime_set_exec_result(void *opaque, const char *uid, const char *name, int code)
{
        struct fake_runtime *rt = opaque;
        int r = -1;
        pthread_mutex_lock(&rt->lock);
        struct fake_sandbox *sb = NULL;
        struct fake_container *c = NULL;
        if (k8c_strmap_get(&rt->sandboxes, uid, (void **)&sb) &&
            k8c_strmap_get(&sb->containers, name, (void **)&c)) {
                c->exec_code = code;
                r = 0;
        }
        pthread_mutex_unlock(&rt->lock);
        return r;
}

/* Streaming exec in a fake container runs argv on the host (tests of the exec path without root). */
static int fake_exec_start(void *opaque, const json_t *pod, const char *name, const char *const *argv,
                           const int fds[3], const char *tty_path, pid_t *ret_pid, k8c_error_t *err)
{
        struct fake_runtime *rt = opaque;
        bool running = false;
        pthread_mutex_lock(&rt->lock);
        struct fake_sandbox *sb = NULL;
        struct fake_container *c = NULL;
        if (k8c_strmap_get(&rt->sandboxes, pod_uid(pod), (void **)&sb) &&
            k8c_strmap_get(&sb->containers, name, (void **)&c) && c->st.phase == K8C_CONTAINER_RUNNING)
                running = true;
        pthread_mutex_unlock(&rt->lock);
        if (!running)
                return k8c_make_error(err, K8C_ENOTFOUND, "container %s is not running", name);
        return k8c_kubelet_spawn_stdio(argv, fds, tty_path, ret_pid, err);
}

/* Fake pods share the kubelet's network: port-forward reaches the host's loopback. */
static char *fake_pod_netns(void *opaque, const json_t *pod)
{
        return NULL;
}

const struct k8c_runtime_ops k8c_fake_runtime_ops = {
        .name = "fake",
        .create_sandbox = fake_create_sandbox,
        .start_container = fake_start_container,
        .container_status = fake_container_status,
        .stop_container = fake_stop_container,
        .remove_sandbox = fake_remove_sandbox,
        .exec = fake_exec,
        .list = fake_list,
        .free = fake_free,
        .exec_start = fake_exec_start,
        .pod_netns = fake_pod_netns,
};
