/*
 * zz_stopgap.c - TEMPORARY stand-ins so the apiserver links and can be tested
 * before other branches land: the resource table (registry branch), field
 * selectors (lib-quantity-selectors) and YAML (lib-json-yaml). Delete this
 * file when merging those branches; it must never outlive them.
 */
#include <stdlib.h>
#include <string.h>

#include "apiserver/registry.h"
#include "k8c/cleanup.h"
#include "k8c/fields.h"
#include "k8c/json.h"
#include "k8c/yaml.h"

extern const struct k8c_resource k8c_resource_pods, k8c_resource_services, k8c_resource_namespaces,
        k8c_resource_nodes, k8c_resource_replicasets, k8c_resource_deployments;

const struct k8c_resource *const k8c_resources[] = {
        &k8c_resource_pods,
        &k8c_resource_services,
        &k8c_resource_namespaces,
        &k8c_resource_nodes,
        &k8c_resource_replicasets,
        &k8c_resource_deployments,
        NULL,
};

const struct k8c_resource *k8c_resource_find(const char *group, const char *version, const char *plural)
{
        for (const struct k8c_resource *const *r = k8c_resources; *r != NULL; r++)
                if (strcmp((*r)->group, group) == 0 && strcmp((*r)->version, version) == 0 &&
                    strcmp((*r)->plural, plural) == 0)
                        return *r;
        return NULL;
}

int k8c_field_selector_parse(const char *s, struct k8c_field_selector *ret, k8c_error_t *err)
{
        memset(ret, 0, sizeof(*ret));
        cleanup_free char *copy = k8c_xstrdup(s);
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
                struct k8c_field_req req = { 0 };
                char *op = strstr(tok, "!=");
                size_t oplen = 2;
                if (op != NULL) {
                        req.not_equals = true;
                } else if ((op = strstr(tok, "==")) == NULL) {
                        op = strchr(tok, '=');
                        oplen = 1;
                }
                if (op == NULL || op == tok) {
                        k8c_field_selector_free(ret);
                        return k8c_make_error(err, K8C_EBADREQUEST, "invalid field selector: '%s'", tok);
                }
                req.field = k8c_xstrndup(tok, (size_t)(op - tok));
                req.value = k8c_xstrdup(op + oplen);
                ret->reqs = k8c_xrealloc(ret->reqs, (ret->n + 1) * sizeof(*ret->reqs));
                ret->reqs[ret->n++] = req;
        }
        return 0;
}

static const char *field_value(const json_t *obj, const char *path, char *buf, size_t bufsz)
{
        cleanup_free char *copy = k8c_xstrdup(path);
        const json_t *cur = obj;
        char *save = NULL;
        for (char *tok = strtok_r(copy, ".", &save); tok != NULL && cur != NULL;
             tok = strtok_r(NULL, ".", &save))
                cur = json_object_get(cur, tok);
        if (json_is_string(cur))
                return json_string_value(cur);
        if (json_is_integer(cur)) {
                snprintf(buf, bufsz, "%lld", (long long)json_integer_value(cur));
                return buf;
        }
        if (json_is_boolean(cur))
                return json_is_true(cur) ? "true" : "false";
        return "";
}

bool k8c_field_selector_matches(const struct k8c_field_selector *sel, const json_t *obj)
{
        for (size_t i = 0; i < sel->n; i++) {
                char buf[32];
                bool eq = strcmp(field_value(obj, sel->reqs[i].field, buf, sizeof(buf)),
                                 sel->reqs[i].value) == 0;
                if (eq == sel->reqs[i].not_equals)
                        return false;
        }
        return true;
}

bool k8c_field_selector_allowed(const struct k8c_field_selector *sel, const char *const *allowed,
                                const char **bad_field)
{
        for (size_t i = 0; i < sel->n; i++) {
                bool ok = false;
                for (const char *const *a = allowed; a != NULL && *a != NULL; a++)
                        if (strcmp(*a, sel->reqs[i].field) == 0)
                                ok = true;
                if (!ok) {
                        *bad_field = sel->reqs[i].field;
                        return false;
                }
        }
        return true;
}

void k8c_field_selector_free(struct k8c_field_selector *sel)
{
        for (size_t i = 0; i < sel->n; i++) {
                free(sel->reqs[i].field);
                free(sel->reqs[i].value);
        }
        free(sel->reqs);
        memset(sel, 0, sizeof(*sel));
}

int k8c_yaml_to_json(const char *buf, size_t len, json_t **ret, k8c_error_t *err)
{
        return k8c_make_error(err, K8C_EUNSUPPORTEDMEDIATYPE, "YAML request bodies are not supported yet");
}
