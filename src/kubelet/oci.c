/*
 * oci.c - the OCI runtime-spec config.json of one container, built with
 * jansson: process (args from command/args, env incl. fieldRef values, cwd),
 * the pod's net/UTS/IPC namespaces joined by path, its own pid and mount
 * namespaces, the per-pod /etc/hosts, /etc/resolv.conf and /etc/hostname,
 * cgroupsPath and cpu/memory from requests and limits, oomScoreAdj by QoS class.
 *
 * Pure: no files, no processes.
 */
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/image.h"
#include "k8c/json.h"
#include "k8c/kubelet.h"
#include "k8c/quantity.h"

static const char *field_value(const struct k8c_oci_inputs *in, const char *path)
{
        if (strcmp(path, "status.podIP") == 0)
                return in->pod_ip;
        if (strcmp(path, "spec.nodeName") == 0)
                return in->node_name;
        /* metadata.name, metadata.namespace, metadata.uid, spec.serviceAccountName, ... */
        return k8c_json_get_string(in->pod, path);
}

static json_t *env_of(const struct k8c_oci_inputs *in)
{
        const char *pod_name = k8c_json_get_string(in->pod, "metadata.name") ?: "";
        json_t *env = json_array();
        bool image_path = false;
        size_t k;
        json_t *ie;
        json_array_foreach(json_object_get(in->image_config, "Env"), k, ie)
        {
                if (strncmp(json_string_value(ie) ?: "", "PATH=", 5) == 0)
                        image_path = true;
        }
        if (!image_path)
                json_array_append_new(
                        env,
                        json_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
        json_array_append_new(env, json_sprintf("HOSTNAME=%s", pod_name));
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(in->container, "env"), i, e)
        {
                const char *name = json_string_value(json_object_get(e, "name"));
                if (name == NULL)
                        continue;
                const char *value = json_string_value(json_object_get(e, "value"));
                const char *path = k8c_json_get_string(e, "valueFrom.fieldRef.fieldPath");
                if (path != NULL)
                        value = field_value(in, path);
                json_array_append_new(env, json_sprintf("%s=%s", name, value ?: ""));
        }
        /* The image's Env first, overridden by name by ours. */
        if (in->image_config != NULL)
                return k8c_image_container_env(in->image_config, env);
        return env;
}

static json_t *args_of(const json_t *c, const json_t *image_config)
{
        /* Kubernetes' rules over the image's Entrypoint and Cmd (none without an image config). */
        json_t *args = k8c_image_container_args(c, image_config);
        /* busybox's image default command. */
        if (json_array_size(args) == 0)
                json_array_append_new(args, json_string("sh"));
        return args;
}

static json_t *caps(void)
{
        /* Docker's and containerd's default set. */
        static const char *const names[] = {
                "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
                "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
                "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
                "CAP_KILL",    "CAP_AUDIT_WRITE"
        };
        json_t *a = json_array();
        for (size_t i = 0; i < K8C_ARRAY_SIZE(names); i++)
                json_array_append_new(a, json_string(names[i]));
        return a;
}

static json_t *bind(const char *dst, const char *src, bool ro)
{
        return json_pack("{s:s, s:s, s:s, s:[s, s]}", "destination", dst, "type", "bind", "source", src,
                         "options", "rbind", ro ? "ro" : "rw");
}

static json_t *resources(const json_t *c)
{
        json_t *res = json_object();
        json_t *cpu = json_object();
        k8c_quantity_t q;
        const json_t *v = k8c_json_get(c, "resources.requests.cpu");
        if (v != NULL && k8c_quantity_from_json(v, &q, NULL) == 0) {
                /* MilliCPUToShares: 1024 per CPU, at least 2. */
                int64_t shares = q.milli * 1024 / 1000;
                json_object_set_new(cpu, "shares", json_integer(shares < 2 ? 2 : shares));
        }
        v = k8c_json_get(c, "resources.limits.cpu");
        if (v != NULL && k8c_quantity_from_json(v, &q, NULL) == 0) {
                /* MilliCPUToQuota over a 100 ms period, at least 1 ms. */
                int64_t quota = q.milli * 100;
                json_object_set_new(cpu, "quota", json_integer(quota < 1000 ? 1000 : quota));
                json_object_set_new(cpu, "period", json_integer(100000));
        }
        if (json_object_size(cpu) > 0)
                json_object_set_new(res, "cpu", cpu);
        else
                json_decref(cpu);
        v = k8c_json_get(c, "resources.limits.memory");
        if (v != NULL && k8c_quantity_from_json(v, &q, NULL) == 0)
                json_object_set_new(res, "memory",
                                    json_pack("{s:I}", "limit", (json_int_t)k8c_quantity_value(&q)));
        json_object_set_new(res, "devices", json_pack("[{s:b, s:s}]", "allow", false, "access", "rwm"));
        return res;
}

json_t *k8c_oci_spec(const struct k8c_oci_inputs *in)
{
        const char *uid = k8c_json_get_string(in->pod, "metadata.uid") ?: "none";
        const char *cname = json_string_value(json_object_get(in->container, "name")) ?: "c";
        const char *cwd = k8c_image_working_dir(in->container, in->image_config);
        cleanup_free char *uts = k8c_xasprintf("%s/uts", in->pod_dir);
        cleanup_free char *ipc = k8c_xasprintf("%s/ipc", in->pod_dir);
        cleanup_free char *hosts = k8c_xasprintf("%s/hosts", in->pod_dir);
        cleanup_free char *resolv = k8c_xasprintf("%s/resolv.conf", in->pod_dir);
        cleanup_free char *hostname = k8c_xasprintf("%s/hostname", in->pod_dir);
        cleanup_free char *cgroups = k8c_xasprintf("%s/pod%s/%s", in->cgroup_parent, uid, cname);

        json_t *c = caps();
        json_t *process =
                json_pack("{s:b, s:{s:i, s:i}, s:o, s:o, s:s, s:{s:O, s:O, s:O, s:O}, s:b}", "terminal",
                          false, "user", "uid", 0, "gid", 0, "args", args_of(in->container, in->image_config),
                          "env", env_of(in), "cwd", cwd, "capabilities", "bounding", c, "effective", c,
                          "permitted", c, "ambient", c, "noNewPrivileges", true);
        /* No rlimits: the kubelet's own are inherited (raising them may be refused, as in CI sandboxes). */
        json_decref(c);
        /* By QoS class, so the kernel's OOM killer picks BestEffort before Burstable before Guaranteed. */
        int adj = k8c_oom_score_adj(in->pod, in->container, in->memory_capacity);
        /* A kubelet that may not lower scores (no CAP_SYS_RESOURCE) keeps the order as far as it can. */
        json_object_set_new(process, "oomScoreAdj",
                            json_integer(in->oom_score_adj_limited && adj < in->oom_score_adj_floor
                                                 ? in->oom_score_adj_floor
                                                 : adj));

        json_t *mounts = json_array();
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:s}", "destination", "/proc", "type", "proc",
                                                "source", "proc"));
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:[s, s, s, s]}", "destination", "/dev",
                                                "type", "tmpfs", "source", "tmpfs", "options", "nosuid",
                                                "strictatime", "mode=755", "size=65536k"));
        json_array_append_new(mounts,
                              json_pack("{s:s, s:s, s:s, s:[s, s, s, s, s, s]}", "destination", "/dev/pts",
                                        "type", "devpts", "source", "devpts", "options", "nosuid", "noexec",
                                        "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"));
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:[s, s, s, s, s]}", "destination",
                                                "/dev/shm", "type", "tmpfs", "source", "shm", "options",
                                                "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"));
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:[s, s, s, s]}", "destination", "/sys",
                                                "type", "sysfs", "source", "sysfs", "options", "nosuid",
                                                "noexec", "nodev", "ro"));
        json_array_append_new(mounts, bind("/etc/hosts", hosts, false));
        json_array_append_new(mounts, bind("/etc/resolv.conf", resolv, false));
        json_array_append_new(mounts, bind("/etc/hostname", hostname, false));
        /* Volumes, after the defaults so a volume may cover one of them. */
        size_t i;
        json_t *m;
        json_array_foreach(in->mounts, i, m)
        {
                const char *dst = json_string_value(json_object_get(m, "destination"));
                const char *src = json_string_value(json_object_get(m, "source"));
                if (dst != NULL && src != NULL)
                        json_array_append_new(mounts,
                                              bind(dst, src, json_is_true(json_object_get(m, "readOnly"))));
        }

        json_t *namespaces = json_pack("[{s:s}, {s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "type", "pid",
                                       "type", "mount", "type", "network", "path", in->netns, "type", "uts",
                                       "path", uts, "type", "ipc", "path", ipc);
        json_t *linux_ = json_pack("{s:o, s:s, s:o, s:[s, s, s, s, s, s, s, s, s], s:[s, s, s, s, s, s]}",
                                   "namespaces", namespaces, "cgroupsPath", cgroups, "resources",
                                   resources(in->container), "maskedPaths", "/proc/acpi", "/proc/asound",
                                   "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                                   "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "readonlyPaths",
                                   "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
                                   "/proc/scsi");
        return json_pack("{s:s, s:o, s:{s:s, s:b}, s:o, s:o, s:{s:s, s:s}}", "ociVersion", "1.0.2", "process",
                         process, "root", "path", "rootfs", "readonly", false, "mounts", mounts, "linux",
                         linux_, "annotations", "io.kubernetes.pod.uid", uid, "io.kubernetes.container.name",
                         cname);
}
