/*
 * helpers.c - matching rules several plugins share: toleration vs taint
 * (core/v1 Toleration.ToleratesTaint), NodeSelectorTerm vs node (In, NotIn,
 * Exists, DoesNotExist, Gt, Lt; matchFields on metadata.name) and
 * LabelSelector vs labels. Pure functions over JSON.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/labels.h"
#include "scheduler/framework.h"

static const char *str(const json_t *obj, const char *key)
{
        const char *s = json_string_value(json_object_get(obj, key));
        return s != NULL ? s : "";
}

bool k8c_sched_toleration_tolerates(const json_t *tol, const json_t *taint)
{
        const char *teffect = str(tol, "effect");
        if (teffect[0] != '\0' && strcmp(teffect, str(taint, "effect")) != 0)
                return false;
        const char *tkey = str(tol, "key");
        if (tkey[0] != '\0' && strcmp(tkey, str(taint, "key")) != 0)
                return false;
        const char *op = str(tol, "operator");
        if (op[0] == '\0' || strcmp(op, "Equal") == 0)
                return strcmp(str(tol, "value"), str(taint, "value")) == 0;
        return strcmp(op, "Exists") == 0;
}

const json_t *k8c_sched_untolerated_taint(const json_t *taints, const json_t *tolerations,
                                          const char *const *effects)
{
        size_t i, j;
        json_t *taint, *tol;
        json_array_foreach(taints, i, taint)
        {
                if (effects != NULL) {
                        bool want = false;
                        for (const char *const *e = effects; *e != NULL; e++)
                                want = want || strcmp(*e, str(taint, "effect")) == 0;
                        if (!want)
                                continue;
                }
                bool tolerated = false;
                json_array_foreach(tolerations, j, tol)
                {
                        if (k8c_sched_toleration_tolerates(tol, taint)) {
                                tolerated = true;
                                break;
                        }
                }
                if (!tolerated)
                        return taint;
        }
        return NULL;
}

const char *k8c_sched_node_label(const json_t *node, const char *key)
{
        return json_string_value(
                json_object_get(json_object_get(json_object_get(node, "metadata"), "labels"), key));
}

static bool parse_int64(const char *s, int64_t *ret)
{
        if (s == NULL || s[0] == '\0')
                return false;
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0')
                return false;
        *ret = v;
        return true;
}

/* One NodeSelectorRequirement against a value (NULL = key absent). */
static bool requirement_matches(const json_t *req, const char *value)
{
        const char *op = str(req, "operator");
        json_t *values = json_object_get(req, "values");
        if (strcmp(op, "Exists") == 0)
                return value != NULL;
        if (strcmp(op, "DoesNotExist") == 0)
                return value == NULL;
        if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
                bool in = false;
                size_t i;
                json_t *v;
                json_array_foreach(values, i, v)
                {
                        if (value != NULL && json_is_string(v) && strcmp(json_string_value(v), value) == 0)
                                in = true;
                }
                return op[0] == 'I' ? in : !in;
        }
        if (strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) {
                int64_t have, want;
                if (json_array_size(values) != 1 || !parse_int64(value, &have) ||
                    !parse_int64(json_string_value(json_array_get(values, 0)), &want))
                        return false;
                return op[0] == 'G' ? have > want : have < want;
        }
        return false; /* unknown operator: matches nothing, as Kubernetes' parse error does */
}

bool k8c_sched_node_selector_term_matches(const json_t *term, const json_t *node)
{
        json_t *exprs = json_object_get(term, "matchExpressions");
        json_t *fields = json_object_get(term, "matchFields");
        if (json_array_size(exprs) == 0 && json_array_size(fields) == 0)
                return false;
        size_t i;
        json_t *req;
        json_array_foreach(exprs, i, req)
        {
                if (!requirement_matches(req, k8c_sched_node_label(node, str(req, "key"))))
                        return false;
        }
        json_array_foreach(fields, i, req)
        {
                if (strcmp(str(req, "key"), "metadata.name") != 0)
                        return false;
                const char *op = str(req, "operator");
                if (strcmp(op, "In") != 0 && strcmp(op, "NotIn") != 0)
                        return false;
                const char *name =
                        json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
                if (!requirement_matches(req, name))
                        return false;
        }
        return true;
}

static k8c_sched_op_t op_of(const char *op)
{
        static const char *const names[] = { "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(names); i++)
                if (strcmp(op, names[i]) == 0)
                        return (k8c_sched_op_t)i;
        return K8C_SCHED_OP_UNKNOWN;
}

static void req_compile(const json_t *req, bool field, struct k8c_sched_node_req *ret)
{
        json_t *values = json_object_get(req, "values");
        *ret = (struct k8c_sched_node_req){ .key = str(req, "key"), .op = op_of(str(req, "operator")) };
        ret->values = k8c_xcalloc(json_array_size(values) + 1, sizeof(*ret->values));
        size_t i;
        json_t *v;
        json_array_foreach(values, i, v) if (json_is_string(v)) ret->values[ret->nvalues++] =
                json_string_value(v);
        ret->int_ok = json_array_size(values) == 1 &&
                      parse_int64(json_string_value(json_array_get(values, 0)), &ret->int_value);
        ret->field_ok = field && strcmp(ret->key, "metadata.name") == 0 &&
                        (ret->op == K8C_SCHED_OP_IN || ret->op == K8C_SCHED_OP_NOT_IN);
}

void k8c_sched_node_term_compile(const json_t *term, struct k8c_sched_node_term *ret)
{
        json_t *exprs = json_object_get(term, "matchExpressions");
        json_t *fields = json_object_get(term, "matchFields");
        ret->nexprs = json_array_size(exprs);
        ret->nfields = json_array_size(fields);
        ret->reqs = k8c_xcalloc(ret->nexprs + ret->nfields + 1, sizeof(*ret->reqs));
        for (size_t i = 0; i < ret->nexprs; i++)
                req_compile(json_array_get(exprs, i), false, &ret->reqs[i]);
        for (size_t i = 0; i < ret->nfields; i++)
                req_compile(json_array_get(fields, i), true, &ret->reqs[ret->nexprs + i]);
}

void k8c_sched_node_term_free(struct k8c_sched_node_term *t)
{
        for (size_t i = 0; i < t->nexprs + t->nfields; i++)
                free(t->reqs[i].values);
        free(t->reqs);
        memset(t, 0, sizeof(*t));
}

/* requirement_matches() over a compiled requirement. */
static bool req_match(const struct k8c_sched_node_req *r, const char *value)
{
        switch (r->op) {
        case K8C_SCHED_OP_EXISTS: return value != NULL;
        case K8C_SCHED_OP_DOES_NOT_EXIST: return value == NULL;
        case K8C_SCHED_OP_IN:
        case K8C_SCHED_OP_NOT_IN: {
                bool in = false;
                for (size_t i = 0; i < r->nvalues && value != NULL && !in; i++)
                        in = strcmp(r->values[i], value) == 0;
                return r->op == K8C_SCHED_OP_IN ? in : !in;
        }
        case K8C_SCHED_OP_GT:
        case K8C_SCHED_OP_LT: {
                int64_t have;
                if (!r->int_ok || !parse_int64(value, &have))
                        return false;
                return r->op == K8C_SCHED_OP_GT ? have > r->int_value : have < r->int_value;
        }
        default: return false;
        }
}

bool k8c_sched_node_term_match(const struct k8c_sched_node_term *t, const struct k8c_sched_nodeview *v)
{
        if (t->nexprs == 0 && t->nfields == 0)
                return false;
        for (size_t i = 0; i < t->nexprs; i++) {
                const struct k8c_sched_node_req *r = &t->reqs[i];
                if (!req_match(r, json_string_value(json_object_get(v->labels, r->key))))
                        return false;
        }
        for (size_t i = 0; i < t->nfields; i++) {
                const struct k8c_sched_node_req *r = &t->reqs[t->nexprs + i];
                if (!r->field_ok || !req_match(r, v->meta_name))
                        return false;
        }
        return true;
}

bool k8c_sched_pod_term_matches(const struct k8c_sched_pod_term *t, const char *owner_ns,
                                const struct k8c_sched_podinfo *p)
{
        bool ns_ok = false;
        if (t->own_namespace) {
                ns_ok = strcmp(owner_ns, p->namespace_) == 0;
        } else {
                ns_ok = t->all_namespaces;
                for (size_t i = 0; i < t->nnamespaces && !ns_ok; i++)
                        ns_ok = strcmp(t->namespaces[i], p->namespace_) == 0;
        }
        return ns_ok && t->has_selector && k8c_selector_matches(&t->selector, p->labels);
}

bool k8c_sched_label_selector_matches(const json_t *selector, const json_t *labels)
{
        struct k8c_selector sel = { 0 };
        if (k8c_selector_from_json(selector, &sel, NULL) < 0)
                return false;
        bool m = k8c_selector_matches(&sel, labels);
        k8c_selector_free(&sel);
        return m;
}
