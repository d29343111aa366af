/*
 * node.c - the Node object this kubelet registers: capacity (flag or measured),
 * labels, taints, addresses, node info, and the pressure conditions measured
 * from the machine.
 *
 * Owns: building those JSON pieces. Must not: talk to the apiserver (the
 * heartbeat loop in heartbeat.c does) or log.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/flags.h"
#include "k8c/kubelet.h"
#include "k8c/quantity.h"
#include "kubelet/kubelet_int.h"

/* Splits "a=b,c=d" and calls fn(key, value) for each; value may be NULL ("a,c=d"). */
static int split_pairs(const char *s, int (*fn)(void *, const char *, const char *, k8c_error_t *),
                       void *opaque, k8c_error_t *err)
{
        cleanup_free char *copy = k8c_xstrdup(s);
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
                while (*tok == ' ')
                        tok++;
                if (*tok == '\0')
                        continue;
                char *eq = strchr(tok, '=');
                if (eq != NULL)
                        *eq++ = '\0';
                int r = fn(opaque, tok, eq, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int capacity_pair(void *opaque, const char *key, const char *value, k8c_error_t *err)
{
        if (value == NULL || *value == '\0')
                return k8c_make_error(err, K8C_EINVALID, "capacity %s: missing value", key);
        if (strcmp(key, "cpu") != 0 && strcmp(key, "memory") != 0 && strcmp(key, "pods") != 0 &&
            strcmp(key, "ephemeral-storage") != 0)
                return k8c_make_error(err, K8C_EINVALID,
                                      "capacity %s: unknown resource (cpu, memory, pods, ephemeral-storage)",
                                      key);
        k8c_quantity_t q;
        int r = k8c_quantity_parse(value, &q, err);
        if (r < 0)
                return k8c_error_wrap(err, "capacity %s", key);
        cleanup_free char *canon = k8c_quantity_format(&q);
        json_object_set_new(opaque, key, json_string(canon));
        return 0;
}

int k8c_kubelet_parse_capacity(const char *s, json_t **ret, k8c_error_t *err)
{
        json_auto_t *cap = json_object();
        int r = split_pairs(s, capacity_pair, cap, err);
        if (r < 0)
                return r;
        *ret = k8c_steal(&cap);
        return 0;
}

static int label_pair(void *opaque, const char *key, const char *value, k8c_error_t *err)
{
        if (value == NULL)
                return k8c_make_error(err, K8C_EINVALID, "label %s: expected key=value", key);
        json_object_set_new(opaque, key, json_string(value));
        return 0;
}

int k8c_kubelet_parse_labels(const char *s, json_t **ret, k8c_error_t *err)
{
        json_auto_t *labels = json_object();
        int r = s != NULL ? split_pairs(s, label_pair, labels, err) : 0;
        if (r < 0)
                return r;
        *ret = k8c_steal(&labels);
        return 0;
}

int k8c_kubelet_parse_taints(const char *s, json_t **ret, k8c_error_t *err)
{
        json_auto_t *taints = json_array();
        cleanup_free char *copy = k8c_xstrdup(s != NULL ? s : "");
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
                /* key[=value]:Effect, as --register-with-taints takes them. */
                char *colon = strrchr(tok, ':');
                if (colon == NULL)
                        return k8c_make_error(err, K8C_EINVALID, "taint %s: expected key[=value]:Effect",
                                              tok);
                *colon = '\0';
                const char *effect = colon + 1;
                if (strcmp(effect, "NoSchedule") != 0 && strcmp(effect, "PreferNoSchedule") != 0 &&
                    strcmp(effect, "NoExecute") != 0)
                        return k8c_make_error(
                                err, K8C_EINVALID,
                                "taint %s: effect must be NoSchedule, PreferNoSchedule or NoExecute", tok);
                char *eq = strchr(tok, '=');
                if (eq != NULL)
                        *eq++ = '\0';
                if (*tok == '\0')
                        return k8c_make_error(err, K8C_EINVALID, "taint: empty key");
                json_t *t = json_pack("{s:s}", "key", tok);
                if (eq != NULL && *eq != '\0')
                        json_object_set_new(t, "value", json_string(eq));
                json_object_set_new(t, "effect", json_string(effect));
                json_array_append_new(taints, t);
        }
        *ret = k8c_steal(&taints);
        return 0;
}

/* A /proc/meminfo field in bytes, or -1. */
int64_t k8c_kubelet_meminfo(const char *field)
{
        cleanup_fclose FILE *f = fopen("/proc/meminfo", "re");
        if (f == NULL)
                return -1;
        char line[256];
        size_t n = strlen(field);
        while (fgets(line, sizeof(line), f) != NULL) {
                if (strncmp(line, field, n) == 0 && line[n] == ':')
                        return strtoll(line + n + 1, NULL, 10) * 1024;
        }
        return -1;
}

json_t *k8c_kubelet_measure_capacity(const char *root_dir)
{
        json_t *cap = json_object();
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        json_object_set_new(cap, "cpu", json_sprintf("%ld", cpus > 0 ? cpus : 1));
        int64_t mem = k8c_kubelet_meminfo("MemTotal");
        /* MemTotal is in KiB, so Ki is exact and is what the real kubelet reports. */
        json_object_set_new(cap, "memory", json_sprintf("%lldKi", (long long)(mem > 0 ? mem / 1024 : 0)));
        json_object_set_new(cap, "pods", json_string("110"));
        struct statvfs vfs;
        if (statvfs(root_dir != NULL ? root_dir : "/", &vfs) == 0)
                json_object_set_new(
                        cap, "ephemeral-storage",
                        json_sprintf("%lluKi", (unsigned long long)vfs.f_blocks * vfs.f_frsize / 1024));
        return cap;
}

static json_t *node_info(void)
{
        struct utsname u;
        uname(&u);
        const char *arch = strcmp(u.machine, "x86_64") == 0    ? "amd64"
                           : strcmp(u.machine, "aarch64") == 0 ? "arm64"
                                                               : u.machine;
        char machine_id[64] = "";
        FILE *f = fopen("/etc/machine-id", "re");
        if (f != NULL) {
                if (fgets(machine_id, sizeof(machine_id), f) == NULL)
                        machine_id[0] = '\0';
                machine_id[strcspn(machine_id, "\n")] = '\0';
                fclose(f);
        }
        char os_image[256] = "Linux";
        f = fopen("/etc/os-release", "re");
        if (f != NULL) {
                char line[256];
                while (fgets(line, sizeof(line), f) != NULL)
                        if (strncmp(line, "PRETTY_NAME=", 12) == 0) {
                                char *v = line + 12;
                                v[strcspn(v, "\n")] = '\0';
                                if (*v == '"') {
                                        v++;
                                        v[strcspn(v, "\"")] = '\0';
                                }
                                snprintf(os_image, sizeof(os_image), "%s", v);
                        }
                fclose(f);
        }
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "machineID", machine_id,
                         "systemUUID", machine_id, "bootID", "", "kernelVersion", u.release, "osImage",
                         os_image, "containerRuntimeVersion", "runc://1", "kubeletVersion",
                         "v" K8C_KUBE_VERSION_MAJOR "." K8C_KUBE_VERSION_MINOR ".0-k8c", "kubeProxyVersion",
                         "", "operatingSystem", "linux", "architecture", arch);
}

json_t *k8c_kubelet_node_object(const struct k8c_kubelet_config *cfg, const char *node_name,
                                const json_t *capacity)
{
        json_t *labels = NULL;
        if (k8c_kubelet_parse_labels(cfg->node_labels, &labels, NULL) < 0)
                labels = json_object();
        json_object_set_new(labels, "kubernetes.io/hostname", json_string(node_name));
        json_object_set_new(labels, "kubernetes.io/os", json_string("linux"));
        json_t *info = node_info();
        json_object_set_new(labels, "kubernetes.io/arch", json_incref(json_object_get(info, "architecture")));

        json_t *spec = json_object();
        if (cfg->pod_cidr != NULL) {
                json_object_set_new(spec, "podCIDR", json_string(cfg->pod_cidr));
                json_object_set_new(spec, "podCIDRs", json_pack("[s]", cfg->pod_cidr));
        }
        json_t *taints = NULL;
        if (cfg->taints != NULL && k8c_kubelet_parse_taints(cfg->taints, &taints, NULL) == 0 &&
            json_array_size(taints) > 0)
                json_object_set_new(spec, "taints", taints);
        else
                json_decref(taints);

        json_t *addresses = json_array();
        if (cfg->node_ip != NULL)
                json_array_append_new(addresses,
                                      json_pack("{s:s, s:s}", "type", "InternalIP", "address", cfg->node_ip));
        json_array_append_new(addresses, json_pack("{s:s, s:s}", "type", "Hostname", "address", node_name));

        json_t *status = json_pack("{s:O, s:O, s:o, s:{s:{s:i}}, s:o}", "capacity", capacity, "allocatable",
                                   capacity, "addresses", addresses, "daemonEndpoints", "kubeletEndpoint",
                                   "Port", cfg->port, "nodeInfo", info);
        return json_pack("{s:s, s:s, s:{s:s, s:o}, s:o, s:o}", "apiVersion", "v1", "kind", "Node", "metadata",
                         "name", node_name, "labels", labels, "spec", spec, "status", status);
}

/* One condition as the real kubelet words it. */
static json_t *condition(const char *type, bool value, const char *reason, const char *message)
{
        return json_pack("{s:s, s:s, s:s, s:s}", "type", type, "status", value ? "True" : "False", "reason",
                         reason, "message", message);
}

json_t *k8c_kubelet_node_conditions(const char *root_dir, const char *not_ready)
{
        /* Eviction thresholds of the real kubelet's defaults: memory.available<100Mi,
         * nodefs.available<10%, and PIDs when fewer than 10% of pid_max remain. */
        int64_t avail = k8c_kubelet_meminfo("MemAvailable");
        bool mem_pressure = avail >= 0 && avail < 100ll * 1024 * 1024;
        struct statvfs vfs;
        bool disk_pressure = statvfs(root_dir != NULL ? root_dir : "/", &vfs) == 0 && vfs.f_blocks > 0 &&
                             vfs.f_bavail * 10 < vfs.f_blocks;
        bool pid_pressure = false;
        FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
        long pid_max = 0;
        if (f != NULL) {
                if (fscanf(f, "%ld", &pid_max) != 1)
                        pid_max = 0;
                fclose(f);
        }
        f = fopen("/proc/loadavg", "re");
        if (f != NULL) {
                double a, b, c;
                long running, total;
                if (fscanf(f, "%lf %lf %lf %ld/%ld", &a, &b, &c, &running, &total) == 5 && pid_max > 0)
                        pid_pressure = total * 10 > pid_max * 9;
                fclose(f);
        }
        json_t *conds = json_array();
        json_array_append_new(
                conds, condition("MemoryPressure", mem_pressure,
                                 mem_pressure ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory",
                                 mem_pressure ? "kubelet has insufficient memory available"
                                              : "kubelet has sufficient memory available"));
        json_array_append_new(
                conds,
                condition("DiskPressure", disk_pressure,
                          disk_pressure ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure",
                          disk_pressure ? "kubelet has disk pressure" : "kubelet has no disk pressure"));
        json_array_append_new(
                conds, condition("PIDPressure", pid_pressure,
                                 pid_pressure ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID",
                                 pid_pressure ? "kubelet has insufficient PID available"
                                              : "kubelet has sufficient PID available"));
        if (not_ready != NULL)
                json_array_append_new(conds, condition("Ready", false, "KubeletNotReady", not_ready));
        else
                json_array_append_new(
                        conds, condition("Ready", true, "KubeletReady", "kubelet is posting ready status"));
        return conds;
}

void k8c_kubelet_stamp_conditions(json_t *conds, const json_t *old_conds, const char *now)
{
        size_t i;
        json_t *c;
        json_array_foreach(conds, i, c)
        {
                const char *type = json_string_value(json_object_get(c, "type"));
                const char *transition = now;
                size_t j;
                json_t *o;
                json_array_foreach(old_conds, j, o)
                {
                        if (json_equal(json_object_get(o, "type"), json_object_get(c, "type")) &&
                            json_equal(json_object_get(o, "status"), json_object_get(c, "status")) &&
                            json_is_string(json_object_get(o, "lastTransitionTime"))) {
                                transition = json_string_value(json_object_get(o, "lastTransitionTime"));
                                break;
                        }
                }
                (void)type;
                json_object_set_new(c, "lastHeartbeatTime", json_string(now));
                json_object_set_new(c, "lastTransitionTime", json_string(transition));
        }
}
