/*
 * eviction.c - the eviction manager, after the real kubelet's
 * pkg/kubelet/eviction: thresholds on memory.available, nodefs.available and
 * nodefs.inodesFree (hard, or soft with a grace period) are checked after each
 * stats sample; a met threshold sets the node condition MemoryPressure or
 * DiskPressure (kept True for the pressure transition period); a threshold to
 * reclaim evicts ONE pod, chosen in Kubernetes' order (usage above request
 * first, then lower priority, then larger usage above request), and nothing
 * more until that pod's containers are gone and the node was measured again.
 *
 * An evicted pod's containers are stopped by its own pod worker (the hook
 * k8c_kubelet_eviction_sync), which writes phase Failed, reason Evicted and
 * the message, and never runs the pod again. The same hook is the admission
 * check: a new pod is rejected (Failed/Evicted, "The node had condition:
 * [MemoryPressure]. ") under DiskPressure, or under MemoryPressure when it is
 * BestEffort.
 *
 * Owns: the thresholds, the pressure state and the eviction marks. The
 * parsing, evaluation, ranking and message are pure and unit-tested.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8c/cleanup.h"
#include "k8c/events.h"
#include "k8c/flags.h"
#include "k8c/json.h"
#include "k8c/log.h"
#include "k8c/names.h"
#include "k8c/quantity.h"
#include "kubelet/kubelet_int.h"

/* ---- thresholds (pure) ------------------------------------------------------------------------- */

static const char *const signal_names[K8C_SIGNAL_COUNT] = { "memory.available", "nodefs.available",
                                                            "nodefs.inodesFree" };

static int signal_of(const char *name, k8c_eviction_signal_t *ret, k8c_error_t *err)
{
        for (int i = 0; i < K8C_SIGNAL_COUNT; i++)
                if (strcmp(name, signal_names[i]) == 0) {
                        *ret = (k8c_eviction_signal_t)i;
                        return 0;
                }
        /* Without a separate image filesystem, imagefs is nodefs (as in Kubernetes). */
        if (strcmp(name, "imagefs.available") == 0) {
                *ret = K8C_SIGNAL_NODEFS_AVAILABLE;
                return 0;
        }
        if (strcmp(name, "imagefs.inodesFree") == 0) {
                *ret = K8C_SIGNAL_NODEFS_INODES_FREE;
                return 0;
        }
        return k8c_make_error(err, K8C_EINVALID,
                              "unsupported eviction signal %s (memory.available, nodefs.available, "
                              "nodefs.inodesFree, imagefs.available, imagefs.inodesFree)",
                              name);
}

static int parse_list(const char *s, bool hard, struct k8c_eviction_config *c, k8c_error_t *err)
{
        if (s == NULL)
                return 0;
        cleanup_free char *copy = k8c_xstrdup(s);
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
                while (*tok == ' ')
                        tok++;
                if (*tok == '\0')
                        continue;
                char *op = strpbrk(tok, "<>=");
                if (op == NULL || *op != '<')
                        return k8c_make_error(err, K8C_EINVALID,
                                              "eviction threshold %s: expected <signal><<quantity>", tok);
                *op = '\0';
                const char *value = op + 1;
                struct k8c_eviction_threshold t = { .hard = hard };
                int r = signal_of(tok, &t.signal, err);
                if (r < 0)
                        return r;
                size_t n = strlen(value);
                if (n > 1 && value[n - 1] == '%') {
                        char *end = NULL;
                        double pct = strtod(value, &end);
                        if (end != value + n - 1 || pct <= 0 || pct > 100)
                                return k8c_make_error(err, K8C_EINVALID,
                                                      "eviction threshold %s: invalid percentage %s", tok,
                                                      value);
                        t.percentage = pct / 100.0;
                } else {
                        k8c_quantity_t q;
                        if (k8c_quantity_parse(value, &q, err) < 0)
                                return k8c_error_wrap(err, "eviction threshold %s", tok);
                        if (q.milli < 0)
                                return k8c_make_error(err, K8C_EINVALID,
                                                      "eviction threshold %s: must be positive", tok);
                        t.quantity = k8c_quantity_value(&q);
                }
                for (size_t i = 0; i < c->n; i++)
                        if (c->t[i].signal == t.signal && c->t[i].hard == hard)
                                return k8c_make_error(err, K8C_EINVALID, "eviction threshold %s given twice",
                                                      tok);
                t.value = k8c_xstrdup(value);
                c->t = k8c_xrealloc(c->t, (c->n + 1) * sizeof(*c->t));
                c->t[c->n++] = t;
        }
        return 0;
}

static int parse_grace(const char *s, struct k8c_eviction_config *c, k8c_error_t *err)
{
        if (s == NULL)
                return 0;
        cleanup_free char *copy = k8c_xstrdup(s);
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
                while (*tok == ' ')
                        tok++;
                if (*tok == '\0')
                        continue;
                char *eq = strchr(tok, '=');
                if (eq == NULL)
                        return k8c_make_error(err, K8C_EINVALID,
                                              "eviction grace period %s: expected <signal>=<duration>", tok);
                *eq = '\0';
                k8c_eviction_signal_t sig;
                int r = signal_of(tok, &sig, err);
                if (r < 0)
                        return r;
                int64_t ms;
                if ((r = k8c_parse_duration_ms(eq + 1, &ms, err)) < 0)
                        return k8c_error_wrap(err, "eviction grace period %s", tok);
                bool found = false;
                for (size_t i = 0; i < c->n; i++)
                        if (c->t[i].signal == sig && !c->t[i].hard) {
                                c->t[i].grace_ms = ms;
                                found = true;
                        }
                if (!found)
                        return k8c_make_error(err, K8C_EINVALID,
                                              "eviction grace period for %s without a soft threshold", tok);
        }
        return 0;
}

void k8c_eviction_config_free(struct k8c_eviction_config *c)
{
        for (size_t i = 0; i < c->n; i++)
                free(c->t[i].value);
        free(c->t);
        c->t = NULL;
        c->n = 0;
}

int k8c_eviction_parse(const char *hard, const char *soft, const char *soft_grace,
                       struct k8c_eviction_config *ret, k8c_error_t *err)
{
        struct k8c_eviction_config c = { 0 };
        int r = parse_list(hard, true, &c, err);
        if (r >= 0)
                r = parse_list(soft, false, &c, err);
        if (r >= 0)
                r = parse_grace(soft_grace, &c, err);
        for (size_t i = 0; r >= 0 && i < c.n; i++)
                if (!c.t[i].hard && c.t[i].grace_ms <= 0)
                        r = k8c_make_error(err, K8C_EINVALID,
                                           "soft eviction threshold %s needs a grace period",
                                           signal_names[c.t[i].signal]);
        if (r < 0) {
                k8c_eviction_config_free(&c);
                return r;
        }
        *ret = c;
        return 0;
}

int64_t k8c_eviction_threshold_value(const struct k8c_eviction_threshold *t, int64_t capacity)
{
        if (t->percentage > 0)
                return (int64_t)((double)capacity * t->percentage);
        return t->quantity;
}

void k8c_eviction_evaluate(const struct k8c_eviction_config *cfg, const struct k8c_eviction_observation *obs,
                           int64_t now_ms, int64_t *first_met_ms, bool *met, bool *reclaim)
{
        for (size_t i = 0; i < cfg->n; i++) {
                const struct k8c_eviction_threshold *t = &cfg->t[i];
                met[i] =
                        obs->have[t->signal] &&
                        obs->available[t->signal] < k8c_eviction_threshold_value(t, obs->capacity[t->signal]);
                if (!met[i]) {
                        first_met_ms[i] = 0;
                        reclaim[i] = false;
                        continue;
                }
                if (first_met_ms[i] == 0)
                        first_met_ms[i] = now_ms;
                reclaim[i] = t->hard || now_ms - first_met_ms[i] >= t->grace_ms;
        }
}

/* ---- ranking and message (pure) ----------------------------------------------------------------- */

static int compare(const struct k8c_eviction_candidate *a, const struct k8c_eviction_candidate *b)
{
        bool ea = a->usage > a->request, eb = b->usage > b->request;
        if (ea != eb)
                return ea ? -1 : 1;
        if (a->priority != b->priority)
                return a->priority < b->priority ? -1 : 1;
        int64_t oa = a->usage - a->request, ob = b->usage - b->request;
        if (oa != ob)
                return oa > ob ? -1 : 1;
        return 0;
}

void k8c_eviction_rank(struct k8c_eviction_candidate *c, size_t n)
{
        /* Insertion sort: stable, and n is the number of pods on one node. */
        for (size_t i = 1; i < n; i++) {
                struct k8c_eviction_candidate x = c[i];
                size_t j = i;
                while (j > 0 && compare(&x, &c[j - 1]) < 0) {
                        c[j] = c[j - 1];
                        j--;
                }
                c[j] = x;
        }
}

static char *bytes_text(int64_t v)
{
        k8c_quantity_t q = { .milli = v * 1000, .format = K8C_QUANTITY_BINARY_SI };
        return k8c_quantity_format(&q);
}

char *k8c_eviction_message(const char *resource, const char *threshold, int64_t available, const json_t *pod,
                           const char *const *names, const int64_t *usages, size_t n)
{
        cleanup_free char *avail = bytes_text(available);
        char *msg = k8c_xasprintf("The node was low on resource: %s. Threshold quantity: %s, available: %s. ",
                                  resource, threshold, avail);
        const char *req_resource = strcmp(resource, "memory") == 0 ? "memory" : "ephemeral-storage";
        size_t i;
        json_t *c;
        json_array_foreach(k8c_json_get(pod, "spec.containers"), i, c)
        {
                const char *name = json_string_value(json_object_get(c, "name"));
                for (size_t j = 0; name != NULL && j < n; j++) {
                        if (strcmp(names[j], name) != 0)
                                continue;
                        int64_t req = k8c_container_request(c, req_resource);
                        if (usages[j] <= req)
                                continue;
                        cleanup_free char *use = bytes_text(usages[j]);
                        cleanup_free char *reqs = bytes_text(req);
                        char *next = k8c_xasprintf("%sContainer %s was using %s, request is %s, has larger "
                                                   "consumption of %s. ",
                                                   msg, name, use, reqs, resource);
                        free(msg);
                        msg = next;
                }
        }
        return msg;
}

/* ---- the manager ------------------------------------------------------------------------------- */

struct eviction_mark {
        char *message;
        bool done;      /* containers stopped and status written */
        bool admission; /* rejected before it ran, rather than evicted */
};

struct kubelet_eviction {
        pthread_mutex_t lock; /* marks, pressure */
        struct k8c_eviction_config cfg;
        int64_t *first_met_ms;
        bool *met, *reclaim;
        int64_t last_met_ms[2]; /* memory, disk: the last sample that met a threshold */
        bool pressure[2];
        struct k8c_strmap marks;    /* uid → struct eviction_mark */
        char *in_flight;            /* uid of the pod being evicted */
        bool said_nothing_to_evict; /* logged once per episode, not every sample */
        int64_t in_flight_since_ms;
};

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int k8c_kubelet_eviction_init(struct k8c_kubelet *k, k8c_error_t *err)
{
        struct kubelet_eviction *e = k8c_xcalloc(1, sizeof(*e));
        pthread_mutex_init(&e->lock, NULL);
        k8c_strmap_init(&e->marks);
        k->eviction = e;
        /* Kubernetes' defaults (imagefs is nodefs here). */
        const char *hard = k->cfg.eviction_hard != NULL
                                   ? k->cfg.eviction_hard
                                   : "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%";
        int r = k8c_eviction_parse(hard, k->cfg.eviction_soft, k->cfg.eviction_soft_grace_period, &e->cfg,
                                   err);
        /* Parsed; the flag strings are the caller's and are not kept. */
        k->cfg.eviction_hard = k->cfg.eviction_soft = k->cfg.eviction_soft_grace_period = NULL;
        if (r < 0)
                return r;
        e->first_met_ms = k8c_xcalloc(e->cfg.n + 1, sizeof(int64_t));
        e->met = k8c_xcalloc(e->cfg.n + 1, sizeof(bool));
        e->reclaim = k8c_xcalloc(e->cfg.n + 1, sizeof(bool));
        if (k->cfg.eviction_pressure_transition_ms <= 0)
                k->cfg.eviction_pressure_transition_ms = 5 * 60 * 1000;
        return 0;
}

void k8c_kubelet_eviction_free(struct k8c_kubelet *k)
{
        struct kubelet_eviction *e = k->eviction;
        if (e == NULL)
                return;
        const char *key;
        void *v;
        for (size_t i = 0; k8c_strmap_next(&e->marks, &i, &key, &v);) {
                struct eviction_mark *m = v;
                free(m->message);
                free(m);
        }
        k8c_strmap_clear(&e->marks);
        k8c_eviction_config_free(&e->cfg);
        free(e->first_met_ms);
        free(e->met);
        free(e->reclaim);
        free(e->in_flight);
        pthread_mutex_destroy(&e->lock);
        free(e);
        k->eviction = NULL;
}

void k8c_kubelet_eviction_conditions(struct k8c_kubelet *k, json_t *conds)
{
        struct kubelet_eviction *e = k->eviction;
        if (e == NULL)
                return;
        pthread_mutex_lock(&e->lock);
        bool mem = e->pressure[0], disk = e->pressure[1];
        pthread_mutex_unlock(&e->lock);
        size_t i;
        json_t *c;
        json_array_foreach(conds, i, c)
        {
                const char *type = json_string_value(json_object_get(c, "type"));
                if (type == NULL)
                        continue;
                if (strcmp(type, "MemoryPressure") == 0) {
                        json_object_set_new(c, "status", json_string(mem ? "True" : "False"));
                        json_object_set_new(c, "reason",
                                            json_string(mem ? "KubeletHasInsufficientMemory"
                                                            : "KubeletHasSufficientMemory"));
                        json_object_set_new(c, "message",
                                            json_string(mem ? "kubelet has insufficient memory available"
                                                            : "kubelet has sufficient memory available"));
                } else if (strcmp(type, "DiskPressure") == 0) {
                        json_object_set_new(c, "status", json_string(disk ? "True" : "False"));
                        json_object_set_new(
                                c, "reason",
                                json_string(disk ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure"));
                        json_object_set_new(c, "message",
                                            json_string(disk ? "kubelet has disk pressure"
                                                             : "kubelet has no disk pressure"));
                }
        }
}

static __thread int64_t du_total;

static int du_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        if (flag == FTW_F)
                du_total += (int64_t)st->st_blocks * 512;
        return 0;
}

/* Bytes the pod holds on the node's filesystem: its state dir (rootfs, bundles) and its logs. */
static int64_t pod_disk_usage(struct k8c_kubelet *k, const json_t *pod)
{
        const char *uid = k8c_json_get_string(pod, "metadata.uid") ?: "";
        cleanup_free char *dir = k8c_xasprintf("%s/pods/%s", k->cfg.root_dir, uid);
        cleanup_free char *logs =
                k->cfg.log_dir != NULL ? k8c_xasprintf("%s/%s_%s_%s", k->cfg.log_dir,
                                                       k8c_json_get_string(pod, "metadata.namespace") ?: "",
                                                       k8c_json_get_string(pod, "metadata.name") ?: "", uid)
                                       : k8c_xasprintf("%s/logs/%s_%s_%s", k->cfg.root_dir,
                                                       k8c_json_get_string(pod, "metadata.namespace") ?: "",
                                                       k8c_json_get_string(pod, "metadata.name") ?: "", uid);
        du_total = 0;
        nftw(dir, du_cb, 16, FTW_PHYS | FTW_MOUNT);
        nftw(logs, du_cb, 16, FTW_PHYS | FTW_MOUNT);
        return du_total;
}

static void wake_heartbeat(struct k8c_kubelet *k)
{
        pthread_mutex_lock(&k->lock);
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->lock);
}

static void evict(struct k8c_kubelet *k, const struct kubelet_pod_usage *u, const char *message)
{
        struct kubelet_eviction *e = k->eviction;
        const char *uid = k8c_json_get_string(u->pod, "metadata.uid");
        struct eviction_mark *m = k8c_xcalloc(1, sizeof(*m));
        m->message = k8c_xstrdup(message);
        pthread_mutex_lock(&e->lock);
        k8c_strmap_put(&e->marks, uid, m, NULL);
        free(e->in_flight);
        e->in_flight = k8c_xstrdup(uid);
        e->in_flight_since_ms = mono_ms();
        pthread_mutex_unlock(&e->lock);
        k8c_log_info("evicting pod", "pod=%s message=\"%s\"", u->key, message);
        if (k->events != NULL) {
                json_auto_t *ref = json_pack("{s:s, s:s, s:O}", "kind", "Pod", "apiVersion", "v1", "metadata",
                                             json_object_get(u->pod, "metadata"));
                cleanup_error k8c_error_t err = NULL;
                k8c_event_record(k->events, ref, "Warning", "Evicted", &err, "%s", message);
        }
        k8c_workqueue_add(k->queue, u->key);
}

void k8c_kubelet_eviction_step(struct k8c_kubelet *k, const struct k8c_eviction_observation *obs,
                               const struct kubelet_pod_usage *pods, size_t npods)
{
        struct kubelet_eviction *e = k->eviction;
        if (e == NULL)
                return;
        int64_t now = mono_ms();
        k8c_eviction_evaluate(&e->cfg, obs, now, e->first_met_ms, e->met, e->reclaim);
        int reclaim = -1; /* the threshold to act on: memory before disk */
        bool met_now[2] = { false, false };
        for (size_t i = 0; i < e->cfg.n; i++) {
                int kind = e->cfg.t[i].signal == K8C_SIGNAL_MEMORY_AVAILABLE ? 0 : 1;
                if (e->met[i])
                        met_now[kind] = true;
                if (e->reclaim[i] &&
                    (reclaim < 0 || (kind == 0 && e->cfg.t[reclaim].signal != K8C_SIGNAL_MEMORY_AVAILABLE)))
                        reclaim = (int)i;
        }
        bool changed = false;
        pthread_mutex_lock(&e->lock);
        for (int kind = 0; kind < 2; kind++) {
                if (met_now[kind])
                        e->last_met_ms[kind] = now;
                /* A condition stays True for the transition period after the last time it was met,
                 * so a node at the edge does not flap. */
                bool p = e->last_met_ms[kind] != 0 &&
                         now - e->last_met_ms[kind] < k->cfg.eviction_pressure_transition_ms;
                if (p != e->pressure[kind]) {
                        e->pressure[kind] = p;
                        changed = true;
                }
        }
        /* One eviction at a time: the next only after this one's containers are gone (or 30 s). */
        bool waiting = false;
        if (e->in_flight != NULL) {
                struct eviction_mark *m = NULL;
                if (k8c_strmap_get(&e->marks, e->in_flight, (void **)&m) && !m->done &&
                    now - e->in_flight_since_ms < 30000)
                        waiting = true;
                else {
                        free(e->in_flight);
                        e->in_flight = NULL;
                }
        }
        pthread_mutex_unlock(&e->lock);
        if (changed) {
                k8c_log_info("node pressure", "memory=%s disk=%s", e->pressure[0] ? "true" : "false",
                             e->pressure[1] ? "true" : "false");
                wake_heartbeat(k);
        }
        if (reclaim < 0)
                e->said_nothing_to_evict = false;
        if (reclaim < 0 || waiting)
                return;

        const struct k8c_eviction_threshold *t = &e->cfg.t[reclaim];
        bool memory = t->signal == K8C_SIGNAL_MEMORY_AVAILABLE;
        struct k8c_eviction_candidate *cands = k8c_xcalloc(npods + 1, sizeof(*cands));
        size_t n = 0;
        for (size_t i = 0; i < npods; i++) {
                const json_t *pod = pods[i].pod;
                const char *uid = k8c_json_get_string(pod, "metadata.uid");
                const char *phase = k8c_json_get_string(pod, "status.phase") ?: "";
                pthread_mutex_lock(&e->lock);
                bool marked = uid == NULL || k8c_strmap_has(&e->marks, uid);
                pthread_mutex_unlock(&e->lock);
                if (marked || strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0 ||
                    k8c_json_get(pod, "metadata.deletionTimestamp") != NULL)
                        continue;
                cands[n] = (struct k8c_eviction_candidate){
                        .pod = pod,
                        .usage = memory ? pods[i].mem_ws : pod_disk_usage(k, pod),
                        .request = k8c_pod_request(pod, memory ? "memory" : "ephemeral-storage"),
                        .priority = (int32_t)k8c_json_get_int(pod, "spec.priority", 0),
                };
                n++;
        }
        k8c_eviction_rank(cands, n);
        if (n > 0) {
                const struct kubelet_pod_usage *u = NULL;
                for (size_t i = 0; i < npods; i++)
                        if (pods[i].pod == cands[0].pod)
                                u = &pods[i];
                const char *resource = memory ? "memory" : "ephemeral-storage";
                cleanup_free char *threshold = k8c_xstrdup(t->value);
                if (t->signal == K8C_SIGNAL_NODEFS_INODES_FREE)
                        resource = "inodes";
                cleanup_free char *msg =
                        memory ? k8c_eviction_message(resource, threshold, obs->available[t->signal], u->pod,
                                                      (const char *const *)u->names, u->mem, u->ncontainers)
                               : k8c_eviction_message(resource, threshold, obs->available[t->signal], u->pod,
                                                      NULL, NULL, 0);
                evict(k, u, msg);
                e->said_nothing_to_evict = false;
        } else if (!e->said_nothing_to_evict) {
                k8c_log_info("eviction threshold met but no pod to evict", "signal=%s",
                             signal_names[t->signal]);
                e->said_nothing_to_evict = true;
        }
        free(cands);
}

/* ---- the pod worker's side ---------------------------------------------------------------------- */

static void set_condition(json_t *status, const char *type, const char *value, const char *reason,
                          const char *message, const char *now)
{
        json_t *conds = json_object_get(status, "conditions");
        if (!json_is_array(conds)) {
                conds = json_array();
                json_object_set_new(status, "conditions", conds);
        }
        json_t *c = NULL;
        size_t i;
        json_t *it;
        json_array_foreach(conds, i, it)
        {
                if (strcmp(json_string_value(json_object_get(it, "type")) ?: "", type) == 0)
                        c = it;
        }
        if (c == NULL) {
                c = json_pack("{s:s}", "type", type);
                json_array_append_new(conds, c);
        }
        const char *old = json_string_value(json_object_get(c, "status"));
        if (old == NULL || strcmp(old, value) != 0)
                json_object_set_new(c, "lastTransitionTime", json_string(now));
        json_object_set_new(c, "status", json_string(value));
        json_object_set_new(c, "lastProbeTime", json_null());
        if (reason != NULL)
                json_object_set_new(c, "reason", json_string(reason));
        if (message != NULL)
                json_object_set_new(c, "message", json_string(message));
}

/* The eviction manager's admission check, for a pod this kubelet has not started: under
 * DiskPressure no pod is admitted, under MemoryPressure no BestEffort pod. Marks a rejected pod
 * (as an eviction without containers) and returns true. */
static bool reject_admission(struct k8c_kubelet *k, const json_t *pod, const char *uid)
{
        struct kubelet_eviction *e = k->eviction;
        const char *phase = k8c_json_get_string(pod, "status.phase") ?: "";
        if (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)
                return false;
        cleanup_free char *key = k8c_object_key(pod);
        pthread_mutex_lock(&k->lock);
        bool admitted = key == NULL || k8c_strmap_has(&k->pods, key);
        pthread_mutex_unlock(&k->lock);
        if (admitted)
                return false;
        pthread_mutex_lock(&e->lock);
        bool mem = e->pressure[0], disk = e->pressure[1];
        pthread_mutex_unlock(&e->lock);
        const char *cond = disk                                             ? "DiskPressure"
                           : mem && k8c_pod_qos(pod) == K8C_QOS_BEST_EFFORT ? "MemoryPressure"
                                                                            : NULL;
        if (cond == NULL)
                return false;
        /* As the real kubelet words it (nodeConditionMessageFmt). */
        struct eviction_mark *m = k8c_xcalloc(1, sizeof(*m));
        m->message = k8c_xasprintf("The node had condition: [%s]. ", cond);
        m->admission = true;
        pthread_mutex_lock(&e->lock);
        k8c_strmap_put(&e->marks, uid, m, NULL);
        pthread_mutex_unlock(&e->lock);
        k8c_log_info("pod rejected", "pod=%s message=\"%s\"", key, m->message);
        if (k->events != NULL) {
                json_auto_t *ref = json_pack("{s:s, s:s, s:O}", "kind", "Pod", "apiVersion", "v1", "metadata",
                                             json_object_get(pod, "metadata"));
                cleanup_error k8c_error_t err = NULL;
                k8c_event_record(k->events, ref, "Warning", "Evicted", &err, "%s", m->message);
        }
        return true;
}

int k8c_kubelet_eviction_sync(struct k8c_kubelet *k, const json_t *pod, k8c_error_t *err)
{
        struct kubelet_eviction *e = k->eviction;
        const char *uid = k8c_json_get_string(pod, "metadata.uid");
        if (e == NULL || uid == NULL)
                return 0;
        pthread_mutex_lock(&e->lock);
        struct eviction_mark *m = NULL;
        bool marked = k8c_strmap_get(&e->marks, uid, (void **)&m);
        pthread_mutex_unlock(&e->lock);
        if (!marked && !reject_admission(k, pod, uid))
                return 0;
        pthread_mutex_lock(&e->lock);
        k8c_strmap_get(&e->marks, uid, (void **)&m);
        bool done = m->done, admission = m->admission;
        cleanup_free char *message = k8c_xstrdup(m->message);
        pthread_mutex_unlock(&e->lock);
        if (done)
                return 1;
        /* Killed at once, as a hard eviction does (--eviction-max-pod-grace-period 0). */
        static const char *const lists[] = { "spec.initContainers", "spec.containers" };
        for (size_t l = 0; l < 2; l++) {
                size_t i;
                json_t *c;
                json_array_foreach(k8c_json_get(pod, lists[l]), i, c)
                {
                        const char *name = json_string_value(json_object_get(c, "name"));
                        if (name == NULL)
                                continue;
                        int r = k->rt_ops->stop_container(k->rt, pod, name, 0, err);
                        if (r < 0)
                                return k8c_error_wrap(err, "evict: stop container %s", name);
                }
        }
        char now[32];
        k8c_rfc3339(time(NULL), now, sizeof(now));
        json_auto_t *status = json_deep_copy(json_object_get(pod, "status"));
        if (!json_is_object(status)) {
                json_decref(status);
                status = json_object();
        }
        json_object_set_new(status, "phase", json_string("Failed"));
        json_object_set_new(status, "reason", json_string("Evicted"));
        json_object_set_new(status, "message", json_string(message));
        if (!admission) {
                set_condition(status, "DisruptionTarget", "True", "TerminationByKubelet", message, now);
                set_condition(status, "Ready", "False", "PodFailed", NULL, now);
                set_condition(status, "ContainersReady", "False", "PodFailed", NULL, now);
        }
        size_t i;
        json_t *cs;
        json_array_foreach(json_object_get(status, "containerStatuses"), i, cs)
        {
                const char *started = k8c_json_get_string(cs, "state.running.startedAt");
                if (started != NULL) {
                        json_t *term = json_pack("{s:i, s:s, s:s, s:s}", "exitCode", 137, "reason", "Error",
                                                 "startedAt", started, "finishedAt", now);
                        json_t *id = json_object_get(cs, "containerID");
                        if (json_is_string(id))
                                json_object_set(term, "containerID", id);
                        json_object_set_new(cs, "state", json_pack("{s:o}", "terminated", term));
                } else if (json_object_get(json_object_get(cs, "state"), "waiting") != NULL) {
                        json_object_set_new(cs, "state",
                                            json_pack("{s:{s:i, s:s, s:s, s:s}}", "terminated", "exitCode",
                                                      137, "reason", "ContainerStatusUnknown", "startedAt",
                                                      now, "finishedAt", now));
                }
                json_object_set_new(cs, "ready", json_false());
                json_object_set_new(cs, "started", json_false());
        }
        cleanup_free char *path = k8c_xasprintf("/api/v1/namespaces/%s/pods/%s/status",
                                                k8c_json_get_string(pod, "metadata.namespace") ?: "default",
                                                k8c_json_get_string(pod, "metadata.name") ?: "");
        json_auto_t *patch = json_pack("{s:O}", "status", status);
        int r = k8c_client_patch(k->client, path, "application/merge-patch+json", patch, NULL, err);
        if (r < 0)
                return k8c_error_wrap(err, "evict: write status");
        pthread_mutex_lock(&e->lock);
        if (k8c_strmap_get(&e->marks, uid, (void **)&m))
                m->done = true;
        pthread_mutex_unlock(&e->lock);
        return 1;
}
