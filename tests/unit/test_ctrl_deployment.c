/* Unit tests of the Deployment controller against a fake object control:
 * pod-template-hash, the first ReplicaSet, RollingUpdate surge and
 * availability bounds, Recreate, rollback revision, revisionHistoryLimit,
 * status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_fake.h"
#include "k8c/json.h"

#define D_UID "dep-uid-1"

struct env {
        struct fake f;
        struct k8c_object_control ctl;
        struct k8c_informer *d, *rs;
        struct k8c_deployment_controller *c;
};

static int setup(void **state)
{
        struct env *e = calloc(1, sizeof(*e));
        fake_init(&e->f, &e->ctl);
        e->d = test_informer("/apis/apps/v1/deployments");
        e->rs = test_informer("/apis/apps/v1/replicasets");
        e->c = k8c_deployment_controller_new(e->d, e->rs, NULL, &e->ctl, NULL);
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        k8c_deployment_controller_free(e->c);
        k8c_informer_free(e->d);
        k8c_informer_free(e->rs);
        fake_free(&e->f);
        free(e);
        return 0;
}

static json_t *make_template(const char *image)
{
        return json_pack("{s:{s:{s:s}}, s:{s:[{s:s, s:s}]}}", "metadata", "labels", "app", "web", "spec",
                         "containers", "name", "c", "image", image);
}

static json_t *make_deploy(const char *image, int replicas, const char *strategy)
{
        json_t *d = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:i}, s:{s:i, s:{s:{s:s}}, s:o, s:{s:s}}}",
                              "apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name", "web",
                              "namespace", "default", "uid", D_UID, "resourceVersion", "5", "generation", 2,
                              "spec", "replicas", replicas, "selector", "matchLabels", "app", "web",
                              "template", make_template(image), "strategy", "type", strategy);
        json_object_set_new(json_object_get(d, "spec"), "progressDeadlineSeconds", json_integer(600));
        return d;
}

/* An owned ReplicaSet for image with spec replicas and available pods, at revision rev. */
static json_t *make_rs(const char *image, int spec, int avail, int rev)
{
        json_auto_t *t = make_template(image);
        char *hash = k8c_pod_template_hash(t, 0);
        char name[64], revs[16];
        snprintf(name, sizeof(name), "web-%s", hash);
        snprintf(revs, sizeof(revs), "%d", rev);
        json_t *rs = json_pack(
                "{s:{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s}, s:[{s:s, s:s, s:s, s:s, s:b}]}, s:{s:i}, "
                "s:{s:i, s:i, s:i}}",
                "metadata", "name", name, "namespace", "default", "uid", name, "resourceVersion", "7",
                "labels", "app", "web", "pod-template-hash", hash, "annotations",
                "deployment.kubernetes.io/revision", revs, "ownerReferences", "apiVersion", "apps/v1", "kind",
                "Deployment", "name", "web", "uid", D_UID, "controller", 1, "spec", "replicas", spec,
                "status", "replicas", spec, "readyReplicas", avail, "availableReplicas", avail);
        json_object_set_new(json_object_get(rs, "spec"), "template", make_template(image));
        json_object_set_new(k8c_json_get(rs, "spec.template.metadata.labels"), "pod-template-hash",
                            json_string(hash));
        /* Older revisions were created earlier. */
        char ts[32];
        snprintf(ts, sizeof(ts), "2024-01-01T00:00:%02dZ", rev % 60);
        json_object_set_new(json_object_get(rs, "metadata"), "creationTimestamp", json_string(ts));
        free(hash);
        return rs;
}

static void add(struct k8c_informer *inf, json_t *obj)
{
        k8c_informer_apply_event(inf, "ADDED", obj);
        json_decref(obj);
}

static void sync_ok(struct env *e)
{
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_deployment_controller_sync(e->c, "default/web", &err), 0);
}

/* The replicas of the spec patches sent to the ReplicaSet of image (-1 = none). */
static json_int_t scaled_to(struct env *e, const char *image)
{
        json_auto_t *t = make_template(image);
        char *hash = k8c_pod_template_hash(t, 0);
        char path[128];
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/default/replicasets/web-%s", hash);
        free(hash);
        json_int_t v = -1;
        size_t i;
        json_t *c;
        json_array_foreach(e->f.calls, i, c)
        {
                if (strcmp(json_string_value(json_object_get(c, "verb")), "patch") == 0 &&
                    strcmp(json_string_value(json_object_get(c, "path")), path) == 0 &&
                    k8c_json_get(json_object_get(c, "body"), "spec.replicas") != NULL)
                        v = k8c_json_get_int(json_object_get(c, "body"), "spec.replicas", -1);
        }
        return v;
}

static void test_hash(void **state)
{
        json_auto_t *a = make_template("busybox:1");
        json_auto_t *a2 = make_template("busybox:1");
        json_auto_t *b = make_template("busybox:2");
        char *ha = k8c_pod_template_hash(a, 0), *ha2 = k8c_pod_template_hash(a2, 0);
        char *hb = k8c_pod_template_hash(b, 0), *hc = k8c_pod_template_hash(a, 1);
        assert_string_equal(ha, ha2);
        assert_string_not_equal(ha, hb);
        assert_string_not_equal(ha, hc);
        assert_true(strlen(ha) >= 1 && strlen(ha) <= 10);
        assert_int_equal(strspn(ha, "bcdfghjklmnpqrstvwxz2456789"), strlen(ha));
        free(ha);
        free(ha2);
        free(hb);
        free(hc);
}

static void test_first_replicaset(void **state)
{
        struct env *e = *state;
        add(e->d, make_deploy("busybox:1", 3, "RollingUpdate"));
        sync_ok(e);
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 1);
        json_t *c = json_array_get(creates, 0);
        assert_string_equal(json_string_value(json_object_get(c, "path")),
                            "/apis/apps/v1/namespaces/default/replicasets");
        json_t *rs = json_object_get(c, "body");
        json_auto_t *t = make_template("busybox:1");
        char *hash = k8c_pod_template_hash(t, 0);
        char name[64];
        snprintf(name, sizeof(name), "web-%s", hash);
        assert_string_equal(k8c_json_get_string(rs, "metadata.name"), name);
        assert_string_equal(k8c_json_get_string(rs, "metadata.labels[\"pod-template-hash\"]"), hash);
        assert_string_equal(k8c_json_get_string(rs, "spec.selector.matchLabels[\"pod-template-hash\"]"),
                            hash);
        assert_string_equal(k8c_json_get_string(rs, "spec.selector.matchLabels.app"), "web");
        assert_string_equal(k8c_json_get_string(rs, "spec.template.metadata.labels[\"pod-template-hash\"]"),
                            hash);
        assert_string_equal(k8c_json_get_string(rs, "spec.template.spec.containers[0].image"), "busybox:1");
        assert_string_equal(
                k8c_json_get_string(rs, "metadata.annotations[\"deployment.kubernetes.io/revision\"]"), "1");
        assert_int_equal(k8c_json_get_int(rs, "spec.replicas", -1), 3);
        assert_string_equal(k8c_json_get_string(rs, "metadata.ownerReferences[0].kind"), "Deployment");
        assert_string_equal(k8c_json_get_string(rs, "metadata.ownerReferences[0].uid"), D_UID);
        assert_true(json_is_true(k8c_json_get(rs, "metadata.ownerReferences[0].controller")));
        free(hash);
        /* The Deployment gets the revision annotation. */
        json_auto_t *patches = fake_calls(&e->f, "patch");
        assert_int_equal(json_array_size(patches), 1);
        json_t *p = json_array_get(patches, 0);
        assert_string_equal(json_string_value(json_object_get(p, "path")),
                            "/apis/apps/v1/namespaces/default/deployments/web");
        assert_string_equal(
                k8c_json_get_string(json_object_get(p, "body"),
                                    "metadata.annotations[\"deployment.kubernetes.io/revision\"]"),
                "1");
}

static void test_rolling_update_starts_within_surge(void **state)
{
        struct env *e = *state;
        json_t *d = make_deploy("busybox:2", 3, "RollingUpdate");
        json_object_set_new(k8c_json_get(d, "spec.strategy"), "rollingUpdate",
                            json_pack("{s:i, s:i}", "maxSurge", 1, "maxUnavailable", 0));
        add(e->d, d);
        add(e->rs, make_rs("busybox:1", 3, 3, 1));
        sync_ok(e);
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 1);
        json_t *rs = json_object_get(json_array_get(creates, 0), "body");
        assert_int_equal(k8c_json_get_int(rs, "spec.replicas", -1), 1);
        assert_string_equal(
                k8c_json_get_string(rs, "metadata.annotations[\"deployment.kubernetes.io/revision\"]"), "2");
}

static void test_rolling_update_availability_bounds(void **state)
{
        struct env *e = *state;
        json_t *d = make_deploy("busybox:2", 3, "RollingUpdate");
        json_object_set_new(k8c_json_get(d, "spec.strategy"), "rollingUpdate",
                            json_pack("{s:i, s:i}", "maxSurge", 1, "maxUnavailable", 0));
        add(e->d, d);
        add(e->rs, make_rs("busybox:1", 3, 3, 1));
        add(e->rs, make_rs("busybox:2", 1, 0, 2));
        sync_ok(e);
        /* The new pod is not available yet: nothing moves. */
        assert_int_equal(scaled_to(e, "busybox:1"), -1);
        assert_int_equal(scaled_to(e, "busybox:2"), -1);
        /* It becomes available: one old pod goes. */
        add(e->rs, make_rs("busybox:2", 1, 1, 2));
        fake_reset(&e->f);
        sync_ok(e);
        assert_int_equal(scaled_to(e, "busybox:1"), 2);
        assert_int_equal(scaled_to(e, "busybox:2"), -1);
        /* Old at 2: the new one grows by one. */
        add(e->rs, make_rs("busybox:1", 2, 2, 1));
        fake_reset(&e->f);
        sync_ok(e);
        assert_int_equal(scaled_to(e, "busybox:2"), 2);
}

static void test_recreate(void **state)
{
        struct env *e = *state;
        add(e->d, make_deploy("busybox:2", 3, "Recreate"));
        add(e->rs, make_rs("busybox:1", 3, 3, 1));
        sync_ok(e);
        /* rolloutRecreate: old pods go first; no new ReplicaSet while any old one runs. */
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 0);
        assert_int_equal(scaled_to(e, "busybox:1"), 0);
        /* Scaled to 0 but its pods are still there: still nothing new. */
        json_t *going = make_rs("busybox:1", 0, 0, 1);
        json_object_set_new(json_object_get(going, "status"), "replicas", json_integer(3));
        add(e->rs, going);
        fake_reset(&e->f);
        sync_ok(e);
        json_auto_t *creates2 = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates2), 0);
        /* Old pods gone: the new ReplicaSet is created at full size. */
        json_t *old = make_rs("busybox:1", 0, 0, 1);
        json_object_set_new(json_object_get(old, "status"), "replicas", json_integer(0));
        add(e->rs, old);
        fake_reset(&e->f);
        sync_ok(e);
        json_auto_t *creates3 = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates3), 1);
        json_t *rs = json_object_get(json_array_get(creates3, 0), "body");
        assert_int_equal(k8c_json_get_int(rs, "spec.replicas", -1), 3);
        assert_string_equal(
                k8c_json_get_string(rs, "metadata.annotations[\"deployment.kubernetes.io/revision\"]"), "2");
        assert_string_equal(
                k8c_json_get_string(rs, "metadata.annotations[\"deployment.kubernetes.io/max-replicas\"]"),
                "3");
}

static void test_rollback_revives_old_replicaset(void **state)
{
        struct env *e = *state;
        add(e->d, make_deploy("busybox:1", 3, "RollingUpdate"));
        add(e->rs, make_rs("busybox:1", 0, 0, 1));
        add(e->rs, make_rs("busybox:2", 3, 3, 2));
        sync_ok(e);
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 0);
        json_auto_t *t = make_template("busybox:1");
        char *hash = k8c_pod_template_hash(t, 0);
        char path[128];
        snprintf(path, sizeof(path), "/apis/apps/v1/namespaces/default/replicasets/web-%s", hash);
        free(hash);
        bool revived = false;
        size_t i;
        json_t *c;
        json_array_foreach(e->f.calls, i, c)
        {
                if (strcmp(json_string_value(json_object_get(c, "path")), path) == 0 &&
                    k8c_json_get_string(json_object_get(c, "body"),
                                        "metadata.annotations[\"deployment.kubernetes.io/revision\"]") !=
                            NULL) {
                        assert_string_equal(
                                k8c_json_get_string(json_object_get(c, "body"),
                                                    "metadata.annotations[\"deployment.kubernetes.io/"
                                                    "revision\"]"),
                                "3");
                        revived = true;
                }
        }
        assert_true(revived);
        assert_int_equal(scaled_to(e, "busybox:1"), 1); /* surge 25% of 3 → 1 */
}

static void test_revision_history_limit(void **state)
{
        struct env *e = *state;
        json_t *d = make_deploy("busybox:4", 1, "RollingUpdate");
        json_object_set_new(json_object_get(d, "spec"), "revisionHistoryLimit", json_integer(1));
        /* cleanupDeployment runs once the rollout is complete. */
        json_object_set_new(d, "status",
                            json_pack("{s:i, s:i, s:i, s:i}", "observedGeneration", 2, "replicas", 1,
                                      "updatedReplicas", 1, "availableReplicas", 1));
        add(e->d, d);
        add(e->rs, make_rs("busybox:1", 0, 0, 1));
        add(e->rs, make_rs("busybox:2", 0, 0, 2));
        add(e->rs, make_rs("busybox:3", 0, 0, 3));
        add(e->rs, make_rs("busybox:4", 1, 1, 4));
        sync_ok(e);
        json_auto_t *dels = fake_calls(&e->f, "delete");
        assert_int_equal(json_array_size(dels), 2);
        json_auto_t *t1 = make_template("busybox:1"), *t2 = make_template("busybox:2");
        char *h1 = k8c_pod_template_hash(t1, 0), *h2 = k8c_pod_template_hash(t2, 0);
        char p1[128], p2[128];
        snprintf(p1, sizeof(p1), "/apis/apps/v1/namespaces/default/replicasets/web-%s", h1);
        snprintf(p2, sizeof(p2), "/apis/apps/v1/namespaces/default/replicasets/web-%s", h2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(dels, 0), "path")), p1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(dels, 1), "path")), p2);
        free(h1);
        free(h2);
}

static void test_status(void **state)
{
        struct env *e = *state;
        add(e->d, make_deploy("busybox:2", 3, "RollingUpdate"));
        add(e->rs, make_rs("busybox:1", 1, 1, 1));
        add(e->rs, make_rs("busybox:2", 3, 2, 2));
        sync_ok(e);
        json_auto_t *updates = fake_calls(&e->f, "update");
        assert_int_equal(json_array_size(updates), 1);
        json_t *u = json_array_get(updates, 0);
        assert_string_equal(json_string_value(json_object_get(u, "path")),
                            "/apis/apps/v1/namespaces/default/deployments/web/status");
        json_t *st = k8c_json_get(json_object_get(u, "body"), "status");
        /* calculateStatus: unavailable = sum of spec replicas (4) - available (3). */
        json_auto_t *want = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "observedGeneration", 2, "replicas",
                                      4, "updatedReplicas", 3, "readyReplicas", 3, "availableReplicas", 3,
                                      "unavailableReplicas", 1);
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v) assert_true(json_equal(json_object_get(st, k), v));
        /* Available: 3 >= 3 - maxUnavailable (25% of 3 rounds down to 0). */
        assert_string_equal(k8c_json_get_string(st, "conditions[0].type"), "Available");
        assert_string_equal(k8c_json_get_string(st, "conditions[0].status"), "True");
        assert_string_equal(k8c_json_get_string(st, "conditions[0].reason"), "MinimumReplicasAvailable");
        /* Progress since the (empty) last status: ReplicaSetUpdated. */
        assert_string_equal(k8c_json_get_string(st, "conditions[1].type"), "Progressing");
        assert_string_equal(k8c_json_get_string(st, "conditions[1].status"), "True");
        assert_string_equal(k8c_json_get_string(st, "conditions[1].reason"), "ReplicaSetUpdated");
}

static const char *cond_field(const json_t *st, const char *type, const char *field)
{
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(st, "conditions"), i, x)
        {
                if (strcmp(json_string_value(json_object_get(x, "type")), type) == 0)
                        return json_string_value(json_object_get(x, field));
        }
        return NULL;
}

static json_t *last_status(struct env *e)
{
        json_auto_t *updates = fake_calls(&e->f, "update");
        if (json_array_size(updates) == 0)
                return NULL;
        return json_incref(k8c_json_get(
                json_object_get(json_array_get(updates, json_array_size(updates) - 1), "body"), "status"));
}

static void test_percent_rounding(void **state)
{
        json_auto_t *p25 = json_string("25%"), *p10 = json_string("10%"), *n2 = json_integer(2);
        /* 25% of 10: surge rounds up (3), unavailable down (2). */
        assert_int_equal(k8c_scaled_int_or_percent(p25, 10, true, -1), 3);
        assert_int_equal(k8c_scaled_int_or_percent(p25, 10, false, -1), 2);
        assert_int_equal(k8c_scaled_int_or_percent(p10, 5, true, -1), 1);
        assert_int_equal(k8c_scaled_int_or_percent(p10, 5, false, -1), 0);
        assert_int_equal(k8c_scaled_int_or_percent(n2, 5, false, -1), 2);
        assert_int_equal(k8c_scaled_int_or_percent(NULL, 5, false, 7), 7);
}

static void test_percent_surge_first_replicaset(void **state)
{
        /* 10 replicas, maxSurge 25% (3), maxUnavailable 25% (2), old RS at 10: the new one starts at 3. */
        struct env *e = *state;
        json_t *d = make_deploy("busybox:2", 10, "RollingUpdate");
        json_object_set_new(k8c_json_get(d, "spec.strategy"), "rollingUpdate",
                            json_pack("{s:s, s:s}", "maxSurge", "25%", "maxUnavailable", "25%"));
        json_object_set_new(d, "status",
                            json_pack("{s:i, s:i, s:i, s:i, s:i}", "observedGeneration", 1, "replicas", 10,
                                      "updatedReplicas", 0, "readyReplicas", 10, "availableReplicas", 10));
        add(e->d, d);
        add(e->rs, make_rs("busybox:1", 10, 10, 1));
        sync_ok(e);
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 1);
        json_t *rs = json_object_get(json_array_get(creates, 0), "body");
        assert_int_equal(k8c_json_get_int(rs, "spec.replicas", -1), 3);
        assert_string_equal(
                k8c_json_get_string(rs, "metadata.annotations[\"deployment.kubernetes.io/max-replicas\"]"),
                "13");
        json_auto_t *st = last_status(e);
        assert_string_equal(cond_field(st, "Progressing", "reason"), "NewReplicaSetCreated");
        assert_string_equal(cond_field(st, "Progressing", "status"), "True");
        /* Then with the new one at 3 (none available): old goes down to 10 - 2 unavailable = 8. */
        add(e->rs, make_rs("busybox:2", 3, 0, 2));
        fake_reset(&e->f);
        sync_ok(e);
        assert_int_equal(scaled_to(e, "busybox:1"), 8);
}

static void test_progress_deadline_exceeded(void **state)
{
        struct env *e = *state;
        json_t *d = make_deploy("busybox:2", 3, "RollingUpdate");
        json_object_set_new(json_object_get(d, "spec"), "progressDeadlineSeconds", json_integer(10));
        json_object_set_new(d, "status",
                            json_pack("{s:i, s:i, s:i, s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}",
                                      "observedGeneration", 2, "replicas", 3, "updatedReplicas", 3,
                                      "conditions", "type", "Progressing", "status", "True", "reason",
                                      "ReplicaSetUpdated", "message", "x", "lastUpdateTime",
                                      "2024-01-01T00:00:00Z", "lastTransitionTime", "2024-01-01T00:00:00Z"));
        add(e->d, d);
        add(e->rs, make_rs("busybox:2", 3, 0, 1));
        sync_ok(e);
        json_auto_t *st = last_status(e);
        assert_non_null(st);
        json_t *c = NULL;
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(st, "conditions"), i, x)
        {
                if (strcmp(json_string_value(json_object_get(x, "type")), "Progressing") == 0)
                        c = x;
        }
        assert_non_null(c);
        assert_string_equal(json_string_value(json_object_get(c, "status")), "False");
        assert_string_equal(json_string_value(json_object_get(c, "reason")), "ProgressDeadlineExceeded");
        assert_non_null(
                strstr(json_string_value(json_object_get(c, "message")), "has timed out progressing"));
}

static void test_complete_new_replicaset_available(void **state)
{
        struct env *e = *state;
        json_t *d = make_deploy("busybox:2", 3, "RollingUpdate");
        json_object_set_new(d, "status",
                            json_pack("{s:i, s:i, s:i, s:i, s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}",
                                      "observedGeneration", 2, "replicas", 3, "updatedReplicas", 3,
                                      "availableReplicas", 2, "conditions", "type", "Progressing", "status",
                                      "True", "reason", "ReplicaSetUpdated", "message", "x", "lastUpdateTime",
                                      "2024-01-01T00:00:00Z", "lastTransitionTime", "2024-01-01T00:00:00Z"));
        add(e->d, d);
        add(e->rs, make_rs("busybox:2", 3, 3, 1));
        sync_ok(e);
        json_auto_t *st = last_status(e);
        json_t *c = json_array_get(json_object_get(st, "conditions"), 1);
        assert_string_equal(json_string_value(json_object_get(c, "type")), "Progressing");
        assert_string_equal(json_string_value(json_object_get(c, "reason")), "NewReplicaSetAvailable");
        /* Same status True: the transition time is kept. */
        assert_string_equal(json_string_value(json_object_get(c, "lastTransitionTime")),
                            "2024-01-01T00:00:00Z");
}

static void test_paused_creates_nothing(void **state)
{
        struct env *e = *state;
        json_t *d = make_deploy("busybox:2", 3, "RollingUpdate");
        json_object_set_new(json_object_get(d, "spec"), "paused", json_true());
        add(e->d, d);
        add(e->rs, make_rs("busybox:1", 3, 3, 1));
        sync_ok(e);
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 0);
        json_auto_t *st = last_status(e);
        json_t *c = NULL;
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(st, "conditions"), i, x)
        {
                if (strcmp(json_string_value(json_object_get(x, "type")), "Progressing") == 0)
                        c = x;
        }
        assert_non_null(c);
        assert_string_equal(json_string_value(json_object_get(c, "status")), "Unknown");
        assert_string_equal(json_string_value(json_object_get(c, "reason")), "DeploymentPaused");
}

static void test_proportional_scaling(void **state)
{
        /* Mid-rollout (old 8, new 5 of 10 with surge 3), the user scales to 20: 10 more within
         * 20 + 5 surge = 25 split by size, the larger getting the leftover. */
        struct env *e = *state;
        json_t *d = make_deploy("busybox:2", 20, "RollingUpdate");
        json_object_set_new(k8c_json_get(d, "spec.strategy"), "rollingUpdate",
                            json_pack("{s:s, s:s}", "maxSurge", "25%", "maxUnavailable", "25%"));
        add(e->d, d);
        json_t *o = make_rs("busybox:1", 8, 8, 1), *n = make_rs("busybox:2", 5, 0, 2);
        json_t *objs[2] = { o, n };
        for (int i = 0; i < 2; i++) {
                json_t *ann = k8c_json_get(objs[i], "metadata.annotations");
                json_object_set_new(ann, "deployment.kubernetes.io/desired-replicas", json_string("10"));
                json_object_set_new(ann, "deployment.kubernetes.io/max-replicas", json_string("13"));
        }
        add(e->rs, o);
        add(e->rs, n);
        sync_ok(e);
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 0);
        /* 8 * 25/13 = 15.4 → 15 (+7), 5 * 25/13 = 9.6 → 10 (+5) capped by what is left (12 - 7 = 5). */
        json_int_t a = scaled_to(e, "busybox:1"), b = scaled_to(e, "busybox:2");
        assert_int_equal(a + b, 25);
        assert_int_equal(a, 15);
        assert_int_equal(b, 10);
}

static void test_rollback_keeps_revision_history(void **state)
{
        struct env *e = *state;
        add(e->d, make_deploy("busybox:1", 3, "RollingUpdate"));
        add(e->rs, make_rs("busybox:1", 0, 0, 1));
        add(e->rs, make_rs("busybox:2", 3, 3, 2));
        sync_ok(e);
        json_auto_t *patches = fake_calls(&e->f, "patch");
        bool seen = false;
        size_t i;
        json_t *c;
        json_array_foreach(patches, i, c)
        {
                const char *h = k8c_json_get_string(
                        json_object_get(c, "body"),
                        "metadata.annotations[\"deployment.kubernetes.io/revision-history\"]");
                if (h != NULL) {
                        assert_string_equal(h, "1");
                        seen = true;
                }
        }
        assert_true(seen);
}

static void test_adopts_orphan_releases_mismatch(void **state)
{
        struct env *e = *state;
        add(e->d, make_deploy("busybox:1", 1, "RollingUpdate"));
        /* An orphan with matching labels... */
        json_t *orphan = make_rs("busybox:1", 1, 1, 0);
        json_object_del(json_object_get(orphan, "metadata"), "ownerReferences");
        add(e->rs, orphan);
        /* ...and one of ours whose labels no longer match. */
        json_t *stray = make_rs("busybox:9", 0, 0, 1);
        json_object_set_new(k8c_json_get(stray, "metadata.labels"), "app", json_string("other"));
        add(e->rs, stray);
        sync_ok(e);
        json_auto_t *patches = fake_calls(&e->f, "patch");
        bool adopted = false, released = false;
        size_t i;
        json_t *c;
        json_array_foreach(patches, i, c)
        {
                const char *path = json_string_value(json_object_get(c, "path"));
                json_t *body = json_object_get(c, "body");
                if (strstr(path, "/replicasets/") != NULL &&
                    json_is_string(k8c_json_get(body, "metadata.ownerReferences[0].uid")) &&
                    strcmp(k8c_json_get_string(body, "metadata.ownerReferences[0].uid"), D_UID) == 0 &&
                    k8c_json_get(body, "metadata.resourceVersion") != NULL)
                        adopted = true;
                if (strstr(path, "/replicasets/") != NULL && k8c_json_get(body, "metadata") != NULL &&
                    json_object_get(json_object_get(body, "metadata"), "ownerReferences") != NULL &&
                    (json_is_null(k8c_json_get(body, "metadata.ownerReferences")) ||
                     k8c_json_get(body, "$deleteFromPrimitiveList/ownerReferences") != NULL ||
                     json_array_size(k8c_json_get(body, "metadata.ownerReferences")) == 0 ||
                     k8c_json_get(body, "metadata.ownerReferences[0].$patch") != NULL))
                        released = true;
        }
        assert_true(adopted);
        assert_true(released);
        /* The adopted one is the new ReplicaSet (same template): nothing is created. */
        json_auto_t *creates = fake_calls(&e->f, "create");
        assert_int_equal(json_array_size(creates), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hash),
                cmocka_unit_test_setup_teardown(test_adopts_orphan_releases_mismatch, setup, teardown),
                cmocka_unit_test(test_percent_rounding),
                cmocka_unit_test_setup_teardown(test_percent_surge_first_replicaset, setup, teardown),
                cmocka_unit_test_setup_teardown(test_progress_deadline_exceeded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_complete_new_replicaset_available, setup, teardown),
                cmocka_unit_test_setup_teardown(test_paused_creates_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_proportional_scaling, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rollback_keeps_revision_history, setup, teardown),
                cmocka_unit_test_setup_teardown(test_first_replicaset, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rolling_update_starts_within_surge, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rolling_update_availability_bounds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_recreate, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rollback_revives_old_replicaset, setup, teardown),
                cmocka_unit_test_setup_teardown(test_revision_history_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_status, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
