/*
 * rest.c - the generic REST layer: get, list, create, update, delete (and the
 * status subresource) for every resource in registry.h, written once.
 *
 * It owns object semantics (uid, creationTimestamp, resourceVersion from the
 * storage mod_revision, generation, generateName, namespace existence,
 * optimistic concurrency, finalizers, dryRun) and list semantics (selectors,
 * limit/continue, Tables), PATCH, the status/scale subresources and DeleteOptions.
 * Resource-specific behaviour comes through the registry hooks; the exceptions
 * are what needs storage and so cannot be a hook: Service IP/port allocation
 * (alloc.c), namespace lifecycle (no new content in a terminating namespace,
 * spec.finalizers and /finalize), pods/binding and pods/eviction.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "apiserver/apiserver_int.h"
#include "apiserver/protobuf.h"
#include "k8c/cleanup.h"
#include "k8c/fields.h"
#include "k8c/json.h"
#include "k8c/labels.h"
#include "k8c/names.h"
#include "k8c/yaml.h"

static const struct k8c_resource *storage_res(const struct k8c_resource *res)
{
        return res->storage_of != NULL ? res->storage_of : res;
}

char *k8c_rest_key(const struct k8c_resource *res, const char *ns, const char *name)
{
        const struct k8c_resource *s = storage_res(res);
        const char *g = s->group[0] != '\0' ? s->group : "core";
        if (s->namespaced && ns != NULL)
                return k8c_xasprintf("/registry/%s/%s/%s/%s", g, s->plural, ns, name != NULL ? name : "");
        return k8c_xasprintf("/registry/%s/%s/%s", g, s->plural, name != NULL ? name : "");
}

static char *api_version_of(const struct k8c_resource *res)
{
        if (res->group[0] == '\0')
                return k8c_xstrdup(res->version);
        return k8c_xasprintf("%s/%s", res->group, res->version);
}

static void set_rv(json_t *obj, int64_t rev)
{
        char buf[32];
        snprintf(buf, sizeof(buf), "%" PRId64, rev);
        json_t *md = json_object_get(obj, "metadata");
        if (!json_is_object(md)) {
                md = json_object();
                json_object_set_new(obj, "metadata", md);
        }
        json_object_set_new(md, "resourceVersion", json_string(buf));
}

int k8c_rest_decode(const struct k8c_kv *kv, json_t **ret, k8c_error_t *err)
{
        json_error_t jerr;
        json_t *obj = json_loadb(kv->value, kv->value_len, 0, &jerr);
        if (obj == NULL || !json_is_object(obj)) {
                json_decref(obj);
                return k8c_make_error(err, K8C_EINTERNAL, "stored object %s is not valid JSON", kv->key);
        }
        set_rv(obj, kv->mod_revision);
        *ret = obj;
        return 0;
}

void k8c_registry_ctx_init(struct k8c_apiserver *srv, struct k8c_registry_ctx *ctx)
{
        ctx->now = time(NULL);
        ctx->service_cluster_ip_range = srv->cfg.service_cluster_ip_range;
        ctx->service_node_port_range = srv->cfg.service_node_port_range;
}

static const char *meta_str(const json_t *obj, const char *key)
{
        return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static json_t *meta_ensure(json_t *obj)
{
        json_t *md = json_object_get(obj, "metadata");
        if (!json_is_object(md)) {
                md = json_object();
                json_object_set_new(obj, "metadata", md);
        }
        return md;
}

/* Parses a resourceVersion query/field: "" → 0. */
static int parse_rv(const char *s, int64_t *ret, k8c_error_t *err)
{
        if (s == NULL || s[0] == '\0') {
                *ret = 0;
                return 0;
        }
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || v < 0 || !isdigit((unsigned char)s[0]))
                return k8c_make_error(err, K8C_EBADREQUEST, "invalid resource version: \"%s\"", s);
        *ret = v;
        return 0;
}

/* ---- Tables ---------------------------------------------------------------- */

bool k8c_req_wants_table(struct k8c_req *req)
{
        const char *accept = k8c_req_header(req, "Accept");
        return accept != NULL && strstr(accept, "as=Table") != NULL;
}

static const struct k8c_table_column default_columns[] = {
        { "Name", "string", "name", 0, "Name must be unique within a namespace." },
        { "Created At", "date", "", 0, "CreationTimestamp is a timestamp representing the server time." },
        { NULL, NULL, NULL, 0, NULL },
};

json_t *k8c_table_columns(const struct k8c_resource *res)
{
        const struct k8c_table_column *cols = res->columns != NULL ? res->columns : default_columns;
        json_t *arr = json_array();
        for (const struct k8c_table_column *c = cols; c->name != NULL; c++) {
                json_t *o = json_object();
                json_object_set_new(o, "name", json_string(c->name));
                json_object_set_new(o, "type", json_string(c->type != NULL ? c->type : "string"));
                json_object_set_new(o, "format", json_string(c->format != NULL ? c->format : ""));
                json_object_set_new(o, "description",
                                    json_string(c->description != NULL ? c->description : ""));
                json_object_set_new(o, "priority", json_integer(c->priority));
                json_array_append_new(arr, o);
        }
        return arr;
}

json_t *k8c_table_row(const struct k8c_resource *res, const json_t *obj, const char *include_object,
                      const struct k8c_registry_ctx *ctx)
{
        json_t *row = json_object();
        json_t *cells = json_array();
        if (res->table_row != NULL) {
                res->table_row(obj, ctx, cells);
        } else {
                const char *name = meta_str(obj, "name");
                const char *ts = meta_str(obj, "creationTimestamp");
                json_array_append_new(cells, json_string(name != NULL ? name : ""));
                json_array_append_new(cells, json_string(ts != NULL ? ts : ""));
        }
        json_object_set_new(row, "cells", cells);
        if (include_object == NULL || strcmp(include_object, "Metadata") == 0 || include_object[0] == '\0') {
                json_t *pom = json_object();
                json_object_set_new(pom, "kind", json_string("PartialObjectMetadata"));
                json_object_set_new(pom, "apiVersion", json_string("meta.k8s.io/v1"));
                json_t *md = json_object_get(obj, "metadata");
                json_object_set_new(pom, "metadata", md != NULL ? json_deep_copy(md) : json_object());
                json_object_set_new(row, "object", pom);
        } else if (strcmp(include_object, "Object") == 0) {
                json_object_set_new(row, "object", json_deep_copy(obj));
        }
        return row;
}

static json_t *table_new(const struct k8c_resource *res, int64_t rev, const char *cont)
{
        json_t *t = json_object();
        json_object_set_new(t, "kind", json_string("Table"));
        json_object_set_new(t, "apiVersion", json_string("meta.k8s.io/v1"));
        json_t *md = json_object();
        char buf[32];
        snprintf(buf, sizeof(buf), "%" PRId64, rev);
        json_object_set_new(md, "resourceVersion", json_string(buf));
        if (cont != NULL)
                json_object_set_new(md, "continue", json_string(cont));
        json_object_set_new(t, "metadata", md);
        json_object_set_new(t, "columnDefinitions", k8c_table_columns(res));
        json_object_set_new(t, "rows", json_array());
        return t;
}

/* ---- request body ----------------------------------------------------------- */

static bool is_yaml(struct k8c_req *req)
{
        const char *ct = k8c_req_header(req, "Content-Type");
        return ct != NULL && strstr(ct, "yaml") != NULL;
}

static int decode_body(struct k8c_req *req, json_t **ret, k8c_error_t *err)
{
        const char *ct = k8c_req_header(req, "Content-Type");
        if (req->body_len == 0 || req->body == NULL)
                return k8c_make_error(err, K8C_EBADREQUEST, "the request body is empty");
        json_t *obj = NULL;
        /* kubectl's typed clients (create namespace|deployment|service..., expose) send protobuf. */
        if (ct != NULL && strstr(ct, "application/vnd.kubernetes.protobuf") != NULL)
                return k8c_protobuf_to_json(req->body, req->body_len, ret, err);
        size_t i = 0;
        while (i < req->body_len && (req->body[i] == ' ' || req->body[i] == '\n' || req->body[i] == '\t'))
                i++;
        /* JSON is YAML: a YAML-typed body that is plainly JSON (kubectl apply --server-side) is read as JSON.
         */
        if (is_yaml(req) && !(i < req->body_len && req->body[i] == '{')) {
                int r = k8c_yaml_to_json(req->body, req->body_len, &obj, err);
                if (r < 0)
                        return r;
        } else {
                json_error_t jerr;
                const char *fv = k8c_req_query(req, "fieldValidation");
                bool strict = fv != NULL && strcmp(fv, "Strict") == 0;
                obj = json_loadb(req->body, req->body_len, strict ? JSON_REJECT_DUPLICATES : 0, &jerr);
                if (obj == NULL && strict && strstr(jerr.text, "duplicate object key") != NULL) {
                        /* jansson says: duplicate object key near '"name"' */
                        const char *q = strchr(jerr.text, '"');
                        const char *e = q != NULL ? strchr(q + 1, '"') : NULL;
                        if (q != NULL && e != NULL)
                                return k8c_make_error(err, K8C_EBADREQUEST,
                                                      "strict decoding error: duplicate field \"%.*s\"",
                                                      (int)(e - q - 1), q + 1);
                        return k8c_make_error(err, K8C_EBADREQUEST, "strict decoding error: %s", jerr.text);
                }
                if (obj == NULL)
                        return k8c_make_error(err, K8C_EBADREQUEST,
                                              "json parse error: line %d, column %d: %s", jerr.line,
                                              jerr.column, jerr.text);
        }
        if (!json_is_object(obj)) {
                json_decref(obj);
                return k8c_make_error(err, K8C_EBADREQUEST, "the request body is not a JSON object");
        }
        *ret = obj;
        return 0;
}

/* Checks apiVersion/kind of a body against the URL's resource (filling them when absent). */
static int check_kind(const struct k8c_resource *res, json_t *obj, k8c_error_t *err)
{
        cleanup_free char *want_av = api_version_of(res);
        const char *kind = json_string_value(json_object_get(obj, "kind"));
        const char *av = json_string_value(json_object_get(obj, "apiVersion"));
        if (kind != NULL && strcmp(kind, res->kind) != 0)
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "the kind in the data (%s) does not match the expected kind (%s)", kind,
                                      res->kind);
        if (av != NULL && strcmp(av, want_av) != 0)
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "the API version in the data (%s) does not match the expected API "
                                      "version (%s)",
                                      av, want_av);
        json_object_set_new(obj, "kind", json_string(res->kind));
        json_object_set_new(obj, "apiVersion", json_string(want_av));
        return 0;
}

static bool dry_run(struct k8c_req *req)
{
        const char *d = k8c_req_query(req, "dryRun");
        return d != NULL && strcmp(d, "All") == 0;
}

/* Applies fieldValidation to unknown fields: Strict → error, Warn → Warning header. */
static int unknown_fields(struct k8c_req *req, const struct k8c_resource *res, json_t *obj, k8c_error_t *err)
{
        const char *mode = k8c_req_query(req, "fieldValidation");
        cleanup_strv char **unknown = NULL;
        k8c_known_fields_prune(res->kind, obj, &unknown);
        if (unknown == NULL || unknown[0] == NULL)
                return 0;
        if (mode != NULL && strcmp(mode, "Strict") == 0) {
                if (unknown[1] == NULL)
                        return k8c_make_error(err, K8C_EBADREQUEST,
                                              "strict decoding error: unknown field \"%s\"", unknown[0]);
                cleanup_free char *list = NULL;
                for (size_t i = 0; unknown[i] != NULL; i++) {
                        char *n = k8c_xasprintf("%s%sunknown field \"%s\"", list != NULL ? list : "",
                                                list != NULL ? ", " : "", unknown[i]);
                        free(list);
                        list = n;
                }
                return k8c_make_error(err, K8C_EBADREQUEST, "strict decoding error: %s", list);
        }
        if (mode != NULL && strcmp(mode, "Ignore") == 0)
                return 0;
        cleanup_free char *w = NULL;
        for (size_t i = 0; unknown[i] != NULL; i++) {
                char *n = k8c_xasprintf("%s%s299 - \"unknown field \\\"%s\\\"\"", w != NULL ? w : "",
                                        w != NULL ? "\n" : "", unknown[i]);
                free(w);
                w = n;
        }
        free(req->warning);
        req->warning = k8c_steal(&w);
        return 0;
}

/* ---- namespaces -------------------------------------------------------------- */

/* Namespace lifecycle: objects are only created in a namespace that exists and is not being
 * terminated (the check Kubernetes' NamespaceLifecycle admission makes). */
/* Namespaces live under one key prefix whatever the resource table says about storage. */
#define NS_KEY_PREFIX "/registry/core/namespaces/"

static bool ns_text_terminating(const char *text, size_t len)
{
        /* Decoding is only needed when the text could say it is terminating. */
        if (text == NULL ||
            (strstr(text, "Terminating") == NULL && strstr(text, "deletionTimestamp") == NULL))
                return false;
        json_auto_t *obj = json_loadb(text, len, 0, NULL);
        const char *phase = k8c_json_get_string(obj, "status.phase");
        return (phase != NULL && strcmp(phase, "Terminating") == 0) ||
               k8c_json_get(obj, "metadata.deletionTimestamp") != NULL;
}

void k8c_ns_cache_note(struct k8c_apiserver *srv, const char *ns, int64_t rev, bool active)
{
        /* Value: revision << 1 | active; never NULL since revisions start at 1. */
        pthread_mutex_lock(&srv->ns_lock);
        void *v = NULL;
        if (!k8c_strmap_get(&srv->ns_active, ns, &v) || ((intptr_t)v >> 1) <= rev)
                k8c_strmap_put(&srv->ns_active, ns, (void *)(((intptr_t)rev << 1) | (active ? 1 : 0)), NULL);
        pthread_mutex_unlock(&srv->ns_lock);
}

void k8c_ns_cache_note_event(struct k8c_apiserver *srv, const char *key, const char *text, int64_t rev,
                             bool deleted)
{
        if (key == NULL || strncmp(key, NS_KEY_PREFIX, strlen(NS_KEY_PREFIX)) != 0)
                return;
        const char *ns = key + strlen(NS_KEY_PREFIX);
        if (ns[0] == '\0' || strchr(ns, '/') != NULL)
                return;
        k8c_ns_cache_note(srv, ns, rev,
                          !deleted && !ns_text_terminating(text, text != NULL ? strlen(text) : 0));
}

bool k8c_ns_cache_active(struct k8c_apiserver *srv, const char *ns)
{
        pthread_mutex_lock(&srv->ns_lock);
        void *v = NULL;
        bool active = k8c_strmap_get(&srv->ns_active, ns, &v) && ((intptr_t)v & 1);
        pthread_mutex_unlock(&srv->ns_lock);
        return active;
}

void k8c_ns_cache_reset(struct k8c_apiserver *srv)
{
        pthread_mutex_lock(&srv->ns_lock);
        k8c_strmap_clear(&srv->ns_active);
        k8c_strmap_init(&srv->ns_active);
        pthread_mutex_unlock(&srv->ns_lock);
}

static int namespace_exists(struct k8c_apiserver *srv, const char *ns, k8c_error_t *err)
{
        const struct k8c_resource *nsres = k8c_resource_find("", "v1", "namespaces");
        if (nsres == NULL)
                return 0;
        if (k8c_ns_cache_active(srv, ns))
                return 0;
        cleanup_free char *key = k8c_rest_key(nsres, NULL, ns);
        struct k8c_kv kv = { 0 };
        int r = k8c_store_get(srv->store, key, &kv, err);
        if (r < 0) {
                k8c_kv_free(&kv);
                if (k8c_error_reason(err) == K8C_ENOTFOUND)
                        return k8c_make_error(err, K8C_ENOTFOUND, "namespaces \"%s\" not found", ns);
                return r;
        }
        bool terminating = ns_text_terminating(kv.value, kv.value_len);
        k8c_ns_cache_note(srv, ns, kv.mod_revision, !terminating);
        k8c_kv_free(&kv);
        if (terminating)
                return k8c_make_error(
                        err, K8C_EFORBIDDEN,
                        "unable to create new content in namespace %s because it is being terminated", ns);
        return 0;
}

static bool is_namespaces(const struct k8c_resource *res)
{
        return res->group[0] == '\0' && strcmp(res->plural, "namespaces") == 0;
}

/* Finalizers that hold an object being deleted: metadata.finalizers, and for Namespaces also
 * spec.finalizers (emptied by the namespace controller through /finalize). */
static bool held_by_finalizers(const struct k8c_resource *res, const json_t *obj)
{
        if (json_array_size(k8c_json_get(obj, "metadata.finalizers")) > 0)
                return true;
        return is_namespaces(res) && json_array_size(k8c_json_get(obj, "spec.finalizers")) > 0;
}

/* Whether storing obj removes it instead: it is being deleted, no grace period is pending and its
 * last finalizer went away. */
static bool removed_on_write(const struct k8c_resource *res, const json_t *obj)
{
        json_t *md = json_object_get(obj, "metadata");
        json_t *dgp = json_object_get(md, "deletionGracePeriodSeconds");
        return json_object_get(md, "deletionTimestamp") != NULL &&
               (!json_is_integer(dgp) || json_integer_value(dgp) == 0) && !held_by_finalizers(res, obj);
}

/* ---- field managers ------------------------------------------------------------ */

/* The writer of a request for managedFields: fieldManager, else the User-Agent's product name
 * ("kubectl/v1.32 (...)" -> "kubectl"), as Kubernetes does. bufs hold the strings. */
struct writer_bufs {
        char manager[129];
        char api_version[128];
};

static void writer_of(struct k8c_req *req, const struct k8c_target *t, struct k8c_mf_writer *w,
                      struct writer_bufs *b)
{
        const char *fm = k8c_req_query(req, "fieldManager");
        if (fm != NULL && fm[0] != '\0') {
                snprintf(b->manager, sizeof(b->manager), "%s", fm);
        } else {
                const char *ua = k8c_req_header(req, "User-Agent");
                size_t n = ua != NULL ? strcspn(ua, "/") : 0;
                snprintf(b->manager, sizeof(b->manager), "%.*s", (int)(n > 128 ? 128 : n),
                         ua != NULL ? ua : "");
                if (b->manager[0] == '\0')
                        snprintf(b->manager, sizeof(b->manager), "unknown");
        }
        if (t->res->group[0] == '\0')
                snprintf(b->api_version, sizeof(b->api_version), "%s", t->res->version);
        else
                snprintf(b->api_version, sizeof(b->api_version), "%s/%s", t->res->group, t->res->version);
        const char *force = k8c_req_query(req, "force");
        /* Scale writes reach update_object as writes of the main resource. */
        size_t ul = strlen(req->url);
        bool scale = ul > 6 && strcmp(req->url + ul - 6, "/scale") == 0;
        *w = (struct k8c_mf_writer){
                .kind = t->res->kind,
                .manager = b->manager,
                .api_version = b->api_version,
                .subresource = t->sub != NULL ? t->sub
                               : scale        ? "scale"
                                              : NULL,
                .force = force != NULL && strcmp(force, "true") == 0,
        };
}

/* ---- create ---------------------------------------------------------------- */

static bool is_services(const struct k8c_resource *res)
{
        return res->group[0] == '\0' && strcmp(res->plural, "services") == 0;
}

static void strip_server_fields(json_t *md)
{
        json_object_del(md, "resourceVersion");
        json_object_del(md, "selfLink");
        json_object_del(md, "deletionTimestamp");
        json_object_del(md, "deletionGracePeriodSeconds");
}

static int not_found_err(const struct k8c_resource *res, const char *name, k8c_error_t *err)
{
        return k8c_make_error(err, K8C_ENOTFOUND, "%s%s%s \"%s\" not found", res->plural,
                              res->group[0] ? "." : "", res->group, name);
}

/* Creates obj (already kind-checked) in ns. On validation failure fills *ret_causes. With ret_text
 * (may be NULL) the stored text comes back too (not for dry runs). w (NULL for the server's own
 * objects) is recorded in managedFields, as an Apply of apply_config when that is not NULL.
 * Without ret_obj (not for dry runs) the caller answers from *ret_text and *ret_rev alone: obj's
 * members are then freed before the write is queued, while they are still in this CPU's cache
 * rather than after the wait for the commit (where freeing them was ~15% of a create's CPU), and
 * put back from the text only if the write fails. */
/* Storage's answer to a queued create (its writer thread): record it and resume the connection.
 * req may be answered and freed by an HTTP thread as soon as the resume is requested. */
static void create_done(void *arg, int rc, const struct k8c_kv *kv, k8c_error_t *err)
{
        struct k8c_req *req = arg;
        struct k8c_apiserver *srv = req->srv;
        req->async_rc = rc;
        if (rc >= 0)
                req->async_rev = kv->mod_revision;
        else
                k8c_make_error(&req->async_err, k8c_error_reason(err), "%s", k8c_error_msg(err));
        req->async_state = ASYNC_DONE;
        MHD_resume_connection(req->conn);
        atomic_fetch_sub(&srv->async_pending, 1);
}

/* Queues the create of key (text) to storage and suspends req's connection: returns 1 when queued
 * (key and text are then req's), 0 when the caller is to write synchronously (storage without a
 * queue, the server stopping), <0 on error. */
static int queue_create(struct k8c_req *req, const struct k8c_resource *res, char **key, char **text,
                        const char *name, k8c_error_t *err)
{
        struct k8c_apiserver *srv = req->srv;
        if (!k8c_store_can_create_async(srv->store))
                return 0;
        atomic_fetch_add(&srv->async_pending, 1);
        atomic_thread_fence(memory_order_seq_cst); /* pairs with the fence after srv->stopping = 1 */
        if (srv->stopping) {
                atomic_fetch_sub(&srv->async_pending, 1);
                return 0;
        }
        req->async_res = res;
        req->async_name = k8c_xstrdup(name);
        req->async_key = k8c_steal(key);
        req->async_text = k8c_steal(text);
        req->async_state = ASYNC_QUEUED;
        MHD_suspend_connection(req->conn);
        int r = k8c_store_create_async(srv->store, req->async_key, req->async_text, strlen(req->async_text),
                                       create_done, req, err);
        if (r < 0) {
                req->async_state = ASYNC_NONE;
                MHD_resume_connection(req->conn);
                atomic_fetch_sub(&srv->async_pending, 1);
                *key = k8c_steal(&req->async_key);
                *text = k8c_steal(&req->async_text);
                return r;
        }
        return 1;
}

static int create_object(struct k8c_apiserver *srv, const struct k8c_resource *res, const char *ns,
                         json_t *obj, bool dry, const struct k8c_mf_writer *w, const json_t *apply_config,
                         json_t **ret_obj, char **ret_text, int64_t *ret_rev, struct k8c_req *async_req,
                         json_t **ret_causes, k8c_error_t *err)
{
        struct k8c_registry_ctx ctx;
        cleanup_free char *key = NULL;
        k8c_registry_ctx_init(srv, &ctx);
        json_t *md = meta_ensure(obj);
        if (res->namespaced) {
                const char *bns = json_string_value(json_object_get(md, "namespace"));
                if (bns != NULL && bns[0] != '\0' && ns != NULL && strcmp(bns, ns) != 0)
                        return k8c_make_error(err, K8C_EBADREQUEST,
                                              "the namespace of the provided object does not match the "
                                              "namespace sent on the request");
                if (ns != NULL)
                        json_object_set_new(md, "namespace", json_string(ns));
        } else {
                json_object_del(md, "namespace");
        }
        strip_server_fields(md);
        char uid[37], ts[32];
        k8c_uuid4(uid);
        k8c_rfc3339(ctx.now, ts, sizeof(ts));
        json_object_set_new(md, "uid", json_string(uid));
        json_object_set_new(md, "creationTimestamp", json_string(ts));
        json_object_set_new(md, "generation", json_integer(1));

        const char *gen = json_string_value(json_object_get(md, "generateName"));
        const char *name0 = json_string_value(json_object_get(md, "name"));
        bool generate = (name0 == NULL || name0[0] == '\0') && gen != NULL && gen[0] != '\0';
        if (generate) {
                cleanup_free char *n = k8c_generate_name(gen);
                json_object_set_new(md, "name", json_string(n));
        }
        if (res->set_defaults != NULL)
                res->set_defaults(obj);
        if (res->prepare_create != NULL)
                res->prepare_create(obj, &ctx);

        struct k8c_field_errors errs = { .causes = json_array() };
        if (res->validate != NULL)
                res->validate(obj, &ctx, &errs);
        const char *name = meta_str(obj, "name");
        if ((name == NULL || name[0] == '\0') && k8c_field_errors_count(&errs) == 0)
                k8c_field_error(&errs, "FieldValueRequired", "metadata.name",
                                "Required value: name or generateName is required");
        int r = 0;
        bool reserved = false;
        if (k8c_field_errors_count(&errs) == 0 && is_services(res)) {
                /* Reserves the address and ports until k8c_service_alloc_done() below. */
                r = k8c_service_allocate(srv, obj, NULL, &errs, err);
                reserved = r >= 0 && k8c_field_errors_count(&errs) == 0;
        }
        if (r < 0)
                goto out_unlock;
        if (k8c_field_errors_count(&errs) > 0) {
                r = k8c_field_errors_to_error(&errs, res->kind, name != NULL ? name : "", err);
                *ret_causes = json_incref(errs.causes);
                goto out_unlock;
        }
        if (res->namespaced && ns != NULL) {
                r = namespace_exists(srv, ns, err);
                if (r < 0)
                        goto out_unlock;
        }
        json_object_del(md, "managedFields");
        if (w != NULL && apply_config != NULL)
                r = k8c_managed_fields_apply(obj, NULL, apply_config, w, ctx.now, ret_causes, err);
        else if (w != NULL)
                k8c_managed_fields_update(obj, NULL, w, ctx.now);
        if (r < 0)
                goto out_unlock;
        key = k8c_rest_key(res, ns, name);
        if (res->storage_of != NULL && res->to_storage != NULL)
                res->to_storage(obj);
        if (dry) {
                set_rv(obj, 0);
                json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
                if (ret_obj != NULL)
                        *ret_obj = json_incref(obj);
                goto out_unlock;
        }
        for (int attempt = 0;; attempt++) {
                cleanup_free char *text = json_dumps(obj, JSON_COMPACT);
                bool early = ret_obj == NULL && ret_text != NULL;
                /* name points into obj's members. */
                cleanup_free char *name_copy = k8c_xstrdup(name);
                if (early)
                        json_object_clear(obj);
                /* Without a name to regenerate or a Service allocation to settle (done below),
                 * nothing here needs the answer: the connection waits, not this thread. */
                if (early && async_req != NULL && !generate && !reserved) {
                        r = queue_create(async_req, res, &key, &text, name_copy, err);
                        if (r > 0)
                                break;
                        if (r < 0) {
                                json_auto_t *back = json_loads(text, 0, NULL);
                                json_object_update(obj, back);
                                break;
                        }
                }
                struct k8c_kv kv = { 0 };
                r = k8c_store_create(srv->store, key, text, strlen(text), &kv, err);
                if (r >= 0) {
                        if (ret_rev != NULL)
                                *ret_rev = kv.mod_revision;
                        if (ret_obj != NULL) {
                                set_rv(obj, kv.mod_revision);
                                *ret_obj = json_incref(obj);
                        }
                        k8c_kv_free(&kv);
                        if (ret_text != NULL)
                                *ret_text = k8c_steal(&text);
                        break;
                }
                k8c_kv_free(&kv);
                if (early) {
                        json_auto_t *back = json_loads(text, 0, NULL);
                        json_object_update(obj, back);
                        /* md, name and gen pointed into the members just freed. */
                        md = meta_ensure(obj);
                        name = meta_str(obj, "name");
                        gen = json_string_value(json_object_get(md, "generateName"));
                }
                if (k8c_error_reason(err) != K8C_EALREADYEXISTS)
                        break;
                if (!generate || attempt >= 5) {
                        r = k8c_make_error(err, K8C_EALREADYEXISTS, "%s%s%s \"%s\" already exists",
                                           res->plural, res->group[0] ? "." : "", res->group, name);
                        break;
                }
                cleanup_free char *n = k8c_generate_name(gen);
                json_object_set_new(md, "name", json_string(n));
                name = meta_str(obj, "name");
                free(key);
                key = k8c_rest_key(res, ns, name);
        }
out_unlock:
        if (reserved)
                k8c_service_alloc_done(srv, NULL, obj, dry ? -1 : r, err, false);
        k8c_field_errors_free(&errs);
        return r;
}

/* The address pods reach this apiserver on, for the kubernetes Service's Endpoints: the
 * --advertise-address, else the first --bind-address unless it is a wildcard or loopback. */
static char *advertise_address(const struct k8c_apiserver *srv)
{
        if (srv->cfg.advertise_address != NULL && srv->cfg.advertise_address[0] != '\0')
                return k8c_xstrdup(srv->cfg.advertise_address);
        const char *b = srv->cfg.bind_address != NULL ? srv->cfg.bind_address : "";
        size_t n = strcspn(b, ",");
        cleanup_free char *first = k8c_xstrndup(b, n);
        if (first[0] == '\0' || strcmp(first, "0.0.0.0") == 0 || strncmp(first, "127.", 4) == 0)
                return NULL;
        return k8c_steal(&first);
}

/* Endpoints default/kubernetes name this apiserver (as Kubernetes' endpoint reconciler does), so
 * the kubernetes Service routes to it. An existing one with another address is replaced. */
static int bootstrap_kubernetes_endpoints(struct k8c_apiserver *srv, k8c_error_t *err)
{
        const struct k8c_resource *eps = k8c_resource_find("", "v1", "endpoints");
        cleanup_free char *addr = advertise_address(srv);
        if (eps == NULL || addr == NULL)
                return 0;
        json_auto_t *obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:[{s:[{s:s}], s:[{s:s, s:i, s:s}]}]}", "kind",
                                     "Endpoints", "apiVersion", "v1", "metadata", "name", "kubernetes",
                                     "namespace", "default", "subsets", "addresses", "ip", addr, "ports",
                                     "name", "https", "port", srv->cfg.port, "protocol", "TCP");
        cleanup_free char *key = k8c_rest_key(eps, "default", "kubernetes");
        struct k8c_kv kv = { 0 };
        if (k8c_store_get(srv->store, key, &kv, NULL) == 0) {
                json_auto_t *cur = json_loadb(kv.value, kv.value_len, 0, NULL);
                bool same = cur != NULL &&
                            json_equal(json_object_get(cur, "subsets"), json_object_get(obj, "subsets"));
                int64_t rev = kv.mod_revision;
                k8c_kv_free(&kv);
                if (same)
                        return 0;
                cleanup_error k8c_error_t e = NULL;
                if (k8c_store_delete(srv->store, key, rev, NULL, &e) < 0 &&
                    k8c_error_reason(&e) != K8C_ENOTFOUND)
                        return k8c_make_error(err, k8c_error_reason(&e), "replacing endpoints kubernetes: %s",
                                              k8c_error_msg(&e));
        }
        json_auto_t *out = NULL, *causes = NULL;
        cleanup_error k8c_error_t e = NULL;
        int r = create_object(srv, eps, "default", obj, false, NULL, NULL, &out, NULL, NULL, NULL, &causes,
                              &e);
        if (r < 0 && k8c_error_reason(&e) != K8C_EALREADYEXISTS)
                return k8c_make_error(err, k8c_error_reason(&e), "creating endpoints kubernetes: %s",
                                      k8c_error_msg(&e));
        return 0;
}

int k8c_rest_bootstrap(struct k8c_apiserver *srv, k8c_error_t *err)
{
        static const char *const namespaces[] = { "default", "kube-system", "kube-public",
                                                  "kube-node-lease" };
        const struct k8c_resource *nsres = k8c_resource_find("", "v1", "namespaces");
        if (nsres != NULL) {
                for (size_t i = 0; i < K8C_ARRAY_SIZE(namespaces); i++) {
                        json_auto_t *obj = json_pack("{s:s, s:s, s:{s:s}}", "kind", "Namespace", "apiVersion",
                                                     "v1", "metadata", "name", namespaces[i]);
                        json_auto_t *out = NULL, *causes = NULL;
                        cleanup_error k8c_error_t e = NULL;
                        int r = create_object(srv, nsres, NULL, obj, false, NULL, NULL, &out, NULL, NULL,
                                              NULL, &causes, &e);
                        if (r < 0 && k8c_error_reason(&e) != K8C_EALREADYEXISTS)
                                return k8c_make_error(err, k8c_error_reason(&e), "creating namespace %s: %s",
                                                      namespaces[i], k8c_error_msg(&e));
                }
        }
        const struct k8c_resource *svc = k8c_resource_find("", "v1", "services");
        if (svc != NULL) {
                json_auto_t *obj =
                        json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:{s:s, s:[{s:s, s:s, s:i, s:i}]}}",
                                  "kind", "Service", "apiVersion", "v1", "metadata", "name", "kubernetes",
                                  "namespace", "default", "labels", "component", "apiserver", "provider",
                                  "kubernetes", "spec", "type", "ClusterIP", "ports", "name", "https",
                                  "protocol", "TCP", "port", 443, "targetPort", srv->cfg.port);
                json_auto_t *out = NULL, *causes = NULL;
                cleanup_error k8c_error_t e = NULL;
                int r = create_object(srv, svc, "default", obj, false, NULL, NULL, &out, NULL, NULL, NULL,
                                      &causes, &e);
                if (r < 0 && k8c_error_reason(&e) != K8C_EALREADYEXISTS)
                        return k8c_make_error(err, k8c_error_reason(&e), "creating service kubernetes: %s",
                                              k8c_error_msg(&e));
        }
        return bootstrap_kubernetes_endpoints(srv, err);
}

/* ---- handlers ------------------------------------------------------------- */

static void fail(struct k8c_req *req, const struct k8c_target *t, k8c_error_t *err, const char *name,
                 json_t *causes)
{
        /* Kubernetes names the Kind in Invalid details (kubectl prints "The Pod "x" is invalid")
         * and the resource in the others. */
        bool invalid = k8c_error_reason(err) == K8C_EINVALID;
        k8c_req_fail(req, err, name, t->res->group, invalid ? t->res->kind : t->res->plural, causes);
}

static void reply_object(struct k8c_req *req, const struct k8c_target *t, int code, json_t *obj)
{
        if (k8c_req_wants_table(req)) {
                struct k8c_registry_ctx ctx;
                k8c_registry_ctx_init(req->srv, &ctx);
                int64_t rv = 0;
                parse_rv(meta_str(obj, "resourceVersion"), &rv, NULL);
                json_t *tbl = table_new(t->res, rv, NULL);
                json_array_append_new(json_object_get(tbl, "rows"),
                                      k8c_table_row(t->res, obj, k8c_req_query(req, "includeObject"), &ctx));
                json_decref(obj);
                k8c_req_reply(req, code, tbl);
                return;
        }
        k8c_req_reply(req, code, obj);
}

/* Answers with the text just stored (plus its resourceVersion) instead of encoding the object
 * again, when the reply is that object as stored. Returns false when it did not. */
static bool reply_stored(struct k8c_req *req, const struct k8c_target *t, int code, const char *text,
                         const char *rv)
{
        int64_t rev = 0;
        struct k8c_meta_span sp;
        if (text == NULL || rv == NULL || t->res->storage_of != NULL || k8c_req_wants_table(req) ||
            parse_rv(rv, &rev, NULL) < 0 || rev <= 0)
                return false;
        size_t len = strlen(text);
        if (k8c_json_meta_scan(text, len, false, &sp) < 0)
                return false;
        struct k8c_textbuf b = { 0 };
        k8c_splice_with_rv(&b, text, len, &sp, rev);
        json_decref(req->reply);
        req->reply = NULL;
        free(req->reply_text);
        req->reply_text = b.p;
        req->reply_len = b.len;
        req->code = code;
        return true;
}

void k8c_rest_async_finish(struct k8c_req *req)
{
        const struct k8c_target t = { .res = req->async_res };
        req->async_state = ASYNC_NONE;
        if (req->async_rc < 0) {
                cleanup_error k8c_error_t err = k8c_steal(&req->async_err);
                if (k8c_error_reason(&err) == K8C_EALREADYEXISTS) {
                        k8c_error_release(&err);
                        k8c_make_error(&err, K8C_EALREADYEXISTS, "%s%s%s \"%s\" already exists",
                                       t.res->plural, t.res->group[0] ? "." : "", t.res->group,
                                       req->async_name);
                }
                fail(req, &t, &err, req->async_name, NULL);
                return;
        }
        char rvs[24];
        snprintf(rvs, sizeof(rvs), "%" PRId64, req->async_rev);
        if (reply_stored(req, &t, 201, req->async_text, rvs))
                return;
        json_t *out = json_loads(req->async_text, 0, NULL);
        if (out == NULL) {
                k8c_req_fail_msg(req, K8C_EINTERNAL, "the stored object could not be decoded");
                return;
        }
        set_rv(out, req->async_rev);
        reply_object(req, &t, 201, out);
}

static void fix_kind(const struct k8c_resource *res, json_t *obj)
{
        /* Resources sharing another's storage (other versions) answer in their own shape and GVK. */
        if (res->storage_of != NULL && res->from_storage != NULL) {
                res->from_storage(obj);
        } else if (res->storage_of != NULL) {
                cleanup_free char *av = api_version_of(res);
                json_object_set_new(obj, "apiVersion", json_string(av));
                json_object_set_new(obj, "kind", json_string(res->kind));
        }
}

static int load(struct k8c_apiserver *srv, const struct k8c_target *t, json_t **ret, struct k8c_kv *ret_kv,
                k8c_error_t *err)
{
        cleanup_free char *key = k8c_rest_key(t->res, t->ns, t->name);
        struct k8c_kv kv = { 0 };
        int r = k8c_store_get(srv->store, key, &kv, err);
        if (r < 0) {
                k8c_kv_free(&kv);
                if (k8c_error_reason(err) == K8C_ENOTFOUND)
                        return not_found_err(t->res, t->name, err);
                return r;
        }
        r = k8c_rest_decode(&kv, ret, err);
        if (r >= 0)
                fix_kind(t->res, *ret);
        if (ret_kv != NULL && r >= 0)
                *ret_kv = kv;
        else
                k8c_kv_free(&kv);
        return r;
}

static json_t *scale_of(const struct k8c_resource *res, const json_t *obj);

static void handle_get(struct k8c_req *req, const struct k8c_target *t)
{
        cleanup_error k8c_error_t err = NULL;
        json_t *obj = NULL;
        if (t->sub == NULL && t->res->storage_of == NULL && !k8c_req_wants_table(req)) {
                /* The object as stored, with its resourceVersion spliced in: no decode, no encode. */
                cleanup_free char *key = k8c_rest_key(t->res, t->ns, t->name);
                struct k8c_kv kv = { 0 };
                int r = k8c_store_get(req->srv->store, key, &kv, &err);
                if (r < 0) {
                        k8c_kv_free(&kv);
                        if (k8c_error_reason(&err) == K8C_ENOTFOUND)
                                not_found_err(t->res, t->name, &err);
                        fail(req, t, &err, t->name, NULL);
                        return;
                }
                char rv[32];
                snprintf(rv, sizeof(rv), "%" PRId64, kv.mod_revision);
                bool done = kv.value != NULL && reply_stored(req, t, 200, kv.value, rv);
                k8c_kv_free(&kv);
                if (done)
                        return;
        }
        if (load(req->srv, t, &obj, NULL, &err) < 0) {
                fail(req, t, &err, t->name, NULL);
                return;
        }
        if (t->sub != NULL && strcmp(t->sub, "scale") == 0 && t->res->has_scale) {
                k8c_req_reply(req, 200, scale_of(t->res, obj));
                json_decref(obj);
                return;
        }
        if (t->sub != NULL && strcmp(t->sub, "status") != 0) {
                json_decref(obj);
                k8c_req_fail_msg(req, K8C_ENOTFOUND, "the server could not find the requested resource");
                return;
        }
        reply_object(req, t, 200, obj);
}

/* The continue token: hex of {"rv":R,"start":"key"} (opaque to clients). */
static char *encode_continue(int64_t rv, const char *key)
{
        json_auto_t *o = json_pack("{s:I, s:s}", "rv", (json_int_t)rv, "start", key);
        cleanup_free char *s = json_dumps(o, JSON_COMPACT);
        size_t n = strlen(s);
        char *hex = k8c_xmalloc(n * 2 + 1);
        for (size_t i = 0; i < n; i++)
                snprintf(hex + 2 * i, 3, "%02x", (unsigned char)s[i]);
        return hex;
}

static int decode_continue(const char *tok, int64_t *ret_rv, char **ret_key, k8c_error_t *err)
{
        json_auto_t *o = NULL;
        cleanup_free char *s = NULL;
        size_t n = strlen(tok);
        if (n == 0 || n % 2 != 0)
                goto bad;
        s = k8c_xmalloc(n / 2 + 1);
        for (size_t i = 0; i < n / 2; i++) {
                unsigned v;
                if (!isxdigit((unsigned char)tok[2 * i]) || !isxdigit((unsigned char)tok[2 * i + 1]) ||
                    sscanf(tok + 2 * i, "%2x", &v) != 1)
                        goto bad;
                s[i] = (char)v;
        }
        s[n / 2] = '\0';
        o = json_loads(s, 0, NULL);
        json_int_t rv;
        const char *key;
        if (o == NULL || json_unpack(o, "{s:I, s:s}", "rv", &rv, "start", &key) != 0 || rv <= 0)
                goto bad;
        *ret_rv = rv;
        *ret_key = k8c_xstrdup(key);
        return 0;
bad:
        return k8c_make_error(err, K8C_EBADREQUEST,
                              "continue key is not valid: incorrect encoded start "
                              "resourceVersion (version meta.k8s.io/v1)");
}

/* Parses labelSelector and fieldSelector of a list or watch. */
static int parse_selectors(struct k8c_req *req, const struct k8c_resource *res, struct k8c_selector *lsel,
                           struct k8c_field_selector *fsel, k8c_error_t *err)
{
        const char *ls = k8c_req_query(req, "labelSelector");
        const char *fs = k8c_req_query(req, "fieldSelector");
        int r = k8c_selector_parse(ls != NULL ? ls : "", lsel, err);
        if (r < 0)
                return r;
        r = k8c_field_selector_parse(fs != NULL ? fs : "", fsel, err);
        if (r < 0)
                return r;
        const char *allowed[64];
        size_t na = 0;
        allowed[na++] = "metadata.name";
        allowed[na++] = "metadata.namespace";
        for (const char *const *f = res->field_selectors; f != NULL && *f != NULL && na < 63; f++)
                allowed[na++] = *f;
        allowed[na] = NULL;
        const char *bad = NULL;
        if (!k8c_field_selector_allowed(fsel, allowed, &bad))
                return k8c_make_error(err, K8C_EBADREQUEST, "field label not supported: %s", bad);
        return 0;
}

/* A list item that matches the selectors is appended to text as JSON (comma-separated after the
 * first). Stored objects are spliced as they are, with only their resourceVersion added: no
 * decode and re-encode (splice.c). Objects the scan does not understand, and lists with a field
 * selector, are decoded as before. Returns whether the item was appended. */
static bool list_append_text(struct k8c_textbuf *text, size_t nitems, const struct k8c_kv *kv,
                             const struct k8c_selector *lsel, const struct k8c_field_selector *fsel)
{
        struct k8c_meta_span sp;
        bool scanned = k8c_json_meta_scan(kv->value, kv->value_len, !k8c_selector_empty(lsel), &sp) == 0;
        json_auto_t *obj = NULL;
        if (!scanned || fsel->n > 0) {
                if (k8c_rest_decode(kv, &obj, NULL) < 0)
                        return false;
                if (!k8c_selector_matches(lsel,
                                          json_object_get(json_object_get(obj, "metadata"), "labels")) ||
                    !k8c_field_selector_matches(fsel, obj))
                        return false;
        } else if (!k8c_selector_empty(lsel)) {
                /* Only the labels object is decoded. */
                json_auto_t *labels = NULL;
                if (sp.labels_end > sp.labels_start)
                        labels = k8c_json_string_map(kv->value + sp.labels_start,
                                                     sp.labels_end - sp.labels_start);
                if (!k8c_selector_matches(lsel, labels))
                        return false;
        }
        if (nitems > 0)
                k8c_textbuf_add(text, ",", 1);
        if (scanned) {
                k8c_splice_with_rv(text, kv->value, kv->value_len, &sp, kv->mod_revision);
        } else {
                cleanup_free char *s = json_dumps(obj, JSON_COMPACT);
                if (s != NULL)
                        k8c_textbuf_adds(text, s);
        }
        return true;
}

/* A Table row for a list item that matches, appended to text as JSON: the object is decoded
 * without its managedFields (all the cells need), and the row's object (PartialObjectMetadata or
 * the whole object) is spliced from the stored text. Returns whether a row was appended. */
static bool table_append_text(struct k8c_textbuf *text, size_t nitems, const struct k8c_resource *res,
                              const struct k8c_kv *kv, const struct k8c_selector *lsel,
                              const struct k8c_field_selector *fsel, const char *incl,
                              const struct k8c_registry_ctx *ctx)
{
        struct k8c_meta_whole mw;
        json_auto_t *obj = NULL;
        bool scanned = k8c_json_meta_whole(kv->value, kv->value_len, &mw) == 0;
        if (scanned && mw.mf_cut_end > mw.mf_cut_start) {
                struct k8c_textbuf lean = { 0 };
                k8c_textbuf_add(&lean, kv->value, mw.mf_cut_start);
                k8c_textbuf_add(&lean, kv->value + mw.mf_cut_end, kv->value_len - mw.mf_cut_end);
                struct k8c_kv k = *kv;
                k.value = lean.p;
                k.value_len = lean.len;
                int r = k8c_rest_decode(&k, &obj, NULL);
                free(lean.p);
                if (r < 0)
                        return false;
        } else if (k8c_rest_decode(kv, &obj, NULL) < 0) {
                return false;
        }
        if (!k8c_selector_matches(lsel, json_object_get(json_object_get(obj, "metadata"), "labels")) ||
            !k8c_field_selector_matches(fsel, obj))
                return false;
        if (nitems > 0)
                k8c_textbuf_add(text, ",", 1);
        bool meta = incl == NULL || incl[0] == '\0' || strcmp(incl, "Metadata") == 0;
        bool whole = incl != NULL && strcmp(incl, "Object") == 0;
        if (!scanned) {
                json_auto_t *row = k8c_table_row(res, obj, incl, ctx);
                cleanup_free char *rs = json_dumps(row, JSON_COMPACT);
                if (rs != NULL)
                        k8c_textbuf_adds(text, rs);
                return true;
        }
        json_auto_t *cells = json_array();
        if (res->table_row != NULL) {
                res->table_row(obj, ctx, cells);
        } else {
                const char *name = meta_str(obj, "name");
                const char *ts = meta_str(obj, "creationTimestamp");
                json_array_append_new(cells, json_string(name != NULL ? name : ""));
                json_array_append_new(cells, json_string(ts != NULL ? ts : ""));
        }
        cleanup_free char *cs = json_dumps(cells, JSON_COMPACT);
        k8c_textbuf_adds(text, "{\"cells\":");
        k8c_textbuf_adds(text, cs != NULL ? cs : "[]");
        char rv[48];
        snprintf(rv, sizeof(rv), "\"resourceVersion\":\"%" PRId64 "\"%s", kv->mod_revision,
                 mw.meta_empty ? "" : ",");
        if (meta) {
                k8c_textbuf_adds(text, ",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":"
                                       "\"meta.k8s.io/v1\",\"metadata\":{");
                k8c_textbuf_adds(text, rv);
                k8c_textbuf_add(text, kv->value + mw.meta_start + 1, mw.meta_end - mw.meta_start - 1);
                k8c_textbuf_add(text, "}", 1);
        } else if (whole) {
                struct k8c_meta_span sp = { .meta_start = mw.meta_start, .meta_empty = mw.meta_empty };
                k8c_textbuf_adds(text, ",\"object\":");
                k8c_splice_with_rv(text, kv->value, kv->value_len, &sp, kv->mod_revision);
        }
        k8c_textbuf_add(text, "}", 1);
        return true;
}

static void handle_list(struct k8c_req *req, const struct k8c_target *t)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_selector lsel = { 0 };
        struct k8c_field_selector fsel = { 0 };
        json_auto_t *items = NULL;
        cleanup_free char *start = NULL, *last_key = NULL, *prefix = NULL, *token = NULL;
        struct k8c_textbuf text = { 0 };
        int64_t rv_q = 0;
        const char *w = k8c_req_query(req, "watch");
        bool watch = w != NULL && (strcmp(w, "true") == 0 || strcmp(w, "1") == 0);
        int r = parse_rv(k8c_req_query(req, "resourceVersion"), &rv_q, &err);
        if (r >= 0)
                r = parse_selectors(req, t->res, &lsel, &fsel, &err);
        if (r < 0) {
                fail(req, t, &err, NULL, NULL);
                goto out;
        }
        if (watch) {
                req->verb = "WATCH";
                k8c_watch_serve(req, t, &lsel, &fsel);
                goto out;
        }

        const char *lim_s = k8c_req_query(req, "limit");
        long long limit = 0;
        if (lim_s != NULL && lim_s[0] != '\0') {
                char *end;
                limit = strtoll(lim_s, &end, 10);
                if (*end != '\0' || limit < 0)
                        limit = 0;
        }
        /* resourceVersion "" / "0" / N (NotOlderThan) are all served from the latest state, which
         * is never older than N; resourceVersionMatch=Exact reads the store at exactly N. */
        int64_t list_rev = 0;
        const char *match = k8c_req_query(req, "resourceVersionMatch");
        if (match != NULL && strcmp(match, "Exact") == 0)
                list_rev = rv_q;
        const char *cont = k8c_req_query(req, "continue");
        if (cont != NULL && cont[0] != '\0') {
                if (decode_continue(cont, &list_rev, &start, &err) < 0) {
                        fail(req, t, &err, NULL, NULL);
                        goto out;
                }
        }
        prefix = k8c_rest_key(t->res, t->ns, NULL);
        bool table = k8c_req_wants_table(req);
        struct k8c_registry_ctx ctx;
        k8c_registry_ctx_init(req->srv, &ctx);
        const char *incl = k8c_req_query(req, "includeObject");
        /* Lists (and Tables) of a resource stored in its own shape are written as text straight away. */
        bool splice = t->res->storage_of == NULL;
        items = json_array();
        size_t nitems = 0;
        bool more = false;
        for (;;) {
                struct k8c_list_opts opts = { .revision = list_rev,
                                              .limit = limit > 0 ? (size_t)limit : 0,
                                              .start_after = start };
                struct k8c_kv_list l = { 0 };
                r = k8c_store_list(req->srv->store, prefix, &opts, &l, &err);
                if (r < 0) {
                        k8c_kv_list_free(&l);
                        if (k8c_error_reason(&err) == K8C_EEXPIRED && cont != NULL)
                                k8c_make_error(
                                        &err, K8C_EEXPIRED,
                                        "The provided continue parameter is too old to display a "
                                        "consistent list result. You can start a new list without "
                                        "the continue parameter, or use the continue token in this "
                                        "response to retrieve the remainder of the results. Continuing "
                                        "with the provided token results in an inconsistent list - "
                                        "objects that were created, modified, or deleted between the "
                                        "time the first chunk was returned and now may show up in the "
                                        "list.");
                        fail(req, t, &err, NULL, NULL);
                        goto out;
                }
                list_rev = l.revision;
                size_t i;
                for (i = 0; i < l.n; i++) {
                        if (splice && table) {
                                if (table_append_text(&text, nitems, t->res, &l.items[i], &lsel, &fsel, incl,
                                                      &ctx))
                                        nitems++;
                        } else if (splice) {
                                if (list_append_text(&text, nitems, &l.items[i], &lsel, &fsel))
                                        nitems++;
                        } else {
                                json_t *obj = NULL;
                                if (k8c_rest_decode(&l.items[i], &obj, &err) < 0)
                                        continue;
                                fix_kind(t->res, obj);
                                if (k8c_selector_matches(
                                            &lsel,
                                            json_object_get(json_object_get(obj, "metadata"), "labels")) &&
                                    k8c_field_selector_matches(&fsel, obj)) {
                                        nitems++;
                                        if (table) {
                                                json_array_append_new(items,
                                                                      k8c_table_row(t->res, obj, incl, &ctx));
                                                json_decref(obj);
                                        } else {
                                                json_array_append_new(items, obj);
                                        }
                                } else {
                                        json_decref(obj);
                                }
                        }
                        if (limit > 0 && (long long)nitems >= limit) {
                                i++;
                                break;
                        }
                }
                if (i > 0) {
                        free(last_key);
                        last_key = k8c_xstrdup(l.items[i - 1].key);
                }
                bool store_more = l.more || i < l.n;
                k8c_kv_list_free(&l);
                if (limit > 0 && (long long)nitems >= limit) {
                        more = store_more;
                        break;
                }
                if (!store_more)
                        break;
                free(start);
                start = k8c_xstrdup(last_key);
        }
        token = more ? encode_continue(list_rev, last_key) : NULL;
        json_t *reply;
        if (table) {
                reply = table_new(t->res, list_rev, token);
                json_object_set(reply, "rows", items);
        } else {
                cleanup_free char *av = api_version_of(t->res);
                char rvbuf[32];
                snprintf(rvbuf, sizeof(rvbuf), "%" PRId64, list_rev);
                reply = json_pack("{s:s, s:s, s:{s:s}, s:O}", "kind", t->res->list_kind, "apiVersion", av,
                                  "metadata", "resourceVersion", rvbuf, "items", items);
                if (token != NULL)
                        json_object_set_new(json_object_get(reply, "metadata"), "continue",
                                            json_string(token));
        }
        if (splice) {
                /* The envelope is encoded by jansson with an empty items (or rows) array, its last
                 * member; the items' text goes between the brackets. */
                cleanup_free char *env = json_dumps(reply, JSON_COMPACT);
                json_decref(reply);
                size_t elen = env != NULL ? strlen(env) : 0;
                if (elen < 3 || strcmp(env + elen - 3, "[]}") != 0) {
                        k8c_req_fail_msg(req, K8C_EINTERNAL, "cannot encode the list");
                        goto out;
                }
                /* Sent as envelope head + items + "]}" without joining them. */
                k8c_req_reply_parts(req, 200, k8c_steal(&env), elen - 2, text.p, text.len, "]}");
                text = (struct k8c_textbuf){ 0 };
                goto out;
        }
        k8c_req_reply(req, 200, reply);
out:
        free(text.p);
        k8c_selector_free(&lsel);
        k8c_field_selector_free(&fsel);
}

static void handle_create(struct k8c_req *req, const struct k8c_target *t)
{
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *obj = NULL, *out = NULL, *causes = NULL;
        cleanup_free char *text = NULL;
        if (t->res->namespaced && t->ns == NULL) {
                k8c_req_fail_msg(req, K8C_EMETHODNOTALLOWED,
                                 "the server does not allow this method on the requested resource");
                return;
        }
        int r = decode_body(req, &obj, &err);
        if (r >= 0)
                r = check_kind(t->res, obj, &err);
        if (r >= 0)
                r = unknown_fields(req, t->res, obj, &err);
        struct k8c_mf_writer w;
        struct writer_bufs wb;
        writer_of(req, t, &w, &wb);
        /* A server-side apply that creates records the configuration as applied. */
        const char *ct = k8c_req_header(req, "Content-Type");
        bool apply = strcmp(req->method, "PATCH") == 0 && ct != NULL &&
                     strncmp(ct, "application/apply-patch", 23) == 0;
        json_auto_t *config = r >= 0 && apply ? json_deep_copy(obj) : NULL;
        /* The usual answer is the stored text with its resourceVersion spliced in: then the decoded
         * object is not needed once stored (see create_object). */
        bool from_text = !dry_run(req) && t->res->storage_of == NULL && !k8c_req_wants_table(req);
        int64_t rev = 0;
        if (r >= 0)
                r = create_object(req->srv, t->res, t->ns, obj, dry_run(req), &w, config,
                                  from_text ? NULL : &out, &text, &rev, req, &causes, &err);
        if (r > 0) /* queued: answered by k8c_rest_async_finish */
                return;
        if (r < 0) {
                fail(req, t, &err, obj != NULL ? meta_str(obj, "name") : NULL, causes);
                return;
        }
        char rvs[24];
        snprintf(rvs, sizeof(rvs), "%" PRId64, rev);
        if (from_text && reply_stored(req, t, 201, text, rvs))
                return;
        if (out == NULL) {
                out = text != NULL ? json_loads(text, 0, NULL) : NULL;
                if (out == NULL) {
                        k8c_req_fail_msg(req, K8C_EINTERNAL, "the stored object could not be decoded");
                        return;
                }
                set_rv(out, rev);
        } else if (reply_stored(req, t, 201, text, meta_str(out, "resourceVersion"))) {
                return;
        }
        fix_kind(t->res, out);
        reply_object(req, t, 201, json_incref(out));
}

/* Everything but metadata and status, for the generation rule. */
static json_t *spec_part(const json_t *obj)
{
        json_t *c = json_copy((json_t *)obj);
        json_object_del(c, "metadata");
        json_object_del(c, "status");
        json_object_del(c, "kind");
        json_object_del(c, "apiVersion");
        return c;
}

static int write_update(struct k8c_req *req, const struct k8c_target *t, json_t *obj, int64_t expect,
                        json_t **ret_causes, k8c_error_t *err);

/* Whether a and b are the same object apart from metadata.resourceVersion. */
static bool same_but_rv(json_t *a, json_t *b)
{
        json_t *ma = json_object_get(a, "metadata"), *mb = json_object_get(b, "metadata");
        json_t *ra = json_incref(json_object_get(ma, "resourceVersion"));
        json_t *rb = json_incref(json_object_get(mb, "resourceVersion"));
        json_object_del(ma, "resourceVersion");
        json_object_del(mb, "resourceVersion");
        bool eq = json_equal(a, b);
        if (ra != NULL)
                json_object_set_new(ma, "resourceVersion", ra);
        if (rb != NULL)
                json_object_set_new(mb, "resourceVersion", rb);
        return eq;
}

/* Update with obj (stolen) as the new state; decode errors arrive as r < 0 in err. With
 * scale_reply the answer is the object's Scale. */
/* Validates and stores obj_in (stolen) as the new state of t; r < 0 means the caller already failed
 * with *errp. Returns 0 with *ret_obj, or the error in *errp and the Invalid causes in *ret_causes. */
static int update_object(struct k8c_req *req, const struct k8c_target *t, json_t *obj_in, int r,
                         k8c_error_t *errp, json_t **ret_obj, json_t **ret_causes)
{
        cleanup_error k8c_error_t err = k8c_steal(errp);
        json_auto_t *obj = obj_in, *old = NULL, *causes = NULL;
        struct k8c_registry_ctx ctx;
        k8c_registry_ctx_init(req->srv, &ctx);
        bool status = t->sub != NULL && strcmp(t->sub, "status") == 0;
        bool finalize = t->sub != NULL && strcmp(t->sub, "finalize") == 0;
        bool reserved = false;
        if (r >= 0)
                r = check_kind(t->res, obj, &err);
        if (r < 0)
                goto fail;
        json_t *md = meta_ensure(obj);
        const char *bname = json_string_value(json_object_get(md, "name"));
        if (bname != NULL && strcmp(bname, t->name) != 0) {
                r = k8c_make_error(&err, K8C_EBADREQUEST,
                                   "the name of the object (%s) does not match the name on the URL (%s)",
                                   bname, t->name);
                goto fail;
        }
        const char *bns = json_string_value(json_object_get(md, "namespace"));
        if (t->res->namespaced && bns != NULL && bns[0] != '\0' && strcmp(bns, t->ns) != 0) {
                r = k8c_make_error(&err, K8C_EBADREQUEST,
                                   "the namespace of the provided object does not match the namespace sent "
                                   "on the request");
                goto fail;
        }
        r = unknown_fields(req, t->res, obj, &err);
        if (r < 0)
                goto fail;
        int64_t expect = 0;
        r = parse_rv(json_string_value(json_object_get(md, "resourceVersion")), &expect, &err);
        if (r < 0)
                goto fail;
        r = load(req->srv, t, &old, NULL, &err);
        if (r < 0)
                goto fail;
        int64_t cur = 0;
        parse_rv(meta_str(old, "resourceVersion"), &cur, NULL);
        if (expect != 0 && expect != cur) {
                r = k8c_make_error(&err, K8C_ECONFLICT,
                                   "Operation cannot be fulfilled on %s%s%s \"%s\": the object has been "
                                   "modified; please apply your changes to the latest version and try again",
                                   t->res->plural, t->res->group[0] ? "." : "", t->res->group, t->name);
                goto fail;
        }
        struct k8c_mf_writer w;
        struct writer_bufs wb;
        writer_of(req, t, &w, &wb);
        json_t *newobj;
        if (finalize) {
                /* Namespaces' /finalize changes only spec.finalizers. */
                newobj = json_deep_copy(old);
                json_t *fin = k8c_json_get(obj, "spec.finalizers");
                json_object_set_new(k8c_json_object_ensure(newobj, "spec"), "finalizers",
                                    json_is_array(fin) ? json_deep_copy(fin) : json_array());
        } else if (status) {
                /* Writes to /status change only status. */
                newobj = json_deep_copy(old);
                json_t *st = json_object_get(obj, "status");
                if (st != NULL)
                        json_object_set(newobj, "status", st);
                else
                        json_object_del(newobj, "status");
        } else {
                newobj = json_incref(obj);
                json_t *nmd = meta_ensure(newobj);
                json_t *omd = json_object_get(old, "metadata");
                const char *keep[] = { "uid", "creationTimestamp", "deletionTimestamp",
                                       "deletionGracePeriodSeconds", "generation" };
                for (size_t i = 0; i < K8C_ARRAY_SIZE(keep); i++) {
                        json_t *v = json_object_get(omd, keep[i]);
                        if (v != NULL)
                                json_object_set(nmd, keep[i], v);
                        else
                                json_object_del(nmd, keep[i]);
                }
                if (t->ns != NULL)
                        json_object_set_new(nmd, "namespace", json_string(t->ns));
                json_object_set_new(nmd, "name", json_string(t->name));
                if (req->apply_config != NULL) {
                        /* Before defaulting, so fields the apply removes get their defaults back. */
                        r = k8c_managed_fields_apply(newobj, old, req->apply_config, &w, ctx.now, &causes,
                                                     &err);
                        if (r < 0) {
                                json_decref(newobj);
                                req->apply_conflict = k8c_error_reason(&err) == K8C_ECONFLICT;
                                goto fail;
                        }
                }
                if (t->res->set_defaults != NULL)
                        t->res->set_defaults(newobj);
                if (t->res->prepare_update != NULL)
                        t->res->prepare_update(newobj, old, &ctx);
                json_auto_t *a = spec_part(newobj), *b = spec_part(old);
                if (!json_equal(a, b)) {
                        json_int_t g = json_integer_value(json_object_get(omd, "generation"));
                        json_object_set_new(nmd, "generation", json_integer(g + 1));
                }
        }
        json_decref(obj);
        obj = newobj;
        if (req->apply_config == NULL || status || finalize)
                k8c_managed_fields_update(obj, old, &w, ctx.now);
        struct k8c_field_errors errs = { .causes = json_array() };
        if (t->res->validate != NULL)
                t->res->validate(obj, &ctx, &errs);
        if (t->res->validate_update != NULL)
                t->res->validate_update(obj, old, &ctx, &errs);
        if (k8c_field_errors_count(&errs) == 0 && is_services(t->res) && !status) {
                /* Reserves new addresses and ports until k8c_service_alloc_done() below. */
                r = k8c_service_allocate(req->srv, obj, old, &errs, &err);
                if (r < 0) {
                        k8c_field_errors_free(&errs);
                        goto fail;
                }
                reserved = k8c_field_errors_count(&errs) == 0;
        }
        if (k8c_field_errors_count(&errs) > 0) {
                r = k8c_field_errors_to_error(&errs, t->res->kind, t->name, &err);
                causes = json_incref(errs.causes);
                k8c_field_errors_free(&errs);
                goto fail;
        }
        k8c_field_errors_free(&errs);
        if (same_but_rv(obj, old)) {
                /* A write that changes nothing is not stored and gets no new resourceVersion, as in
                 * Kubernetes (no event either). */
                set_rv(obj, cur);
                r = 0;
        } else {
                r = write_update(req, t, obj, cur, &causes, &err);
        }
        if (reserved) {
                k8c_service_alloc_done(req->srv, old, obj, dry_run(req) ? -1 : r, &err,
                                       r >= 0 && removed_on_write(t->res, obj));
                reserved = false;
        }
        if (r < 0)
                goto fail;
        fix_kind(t->res, obj);
        *ret_obj = json_incref(obj);
        return 0;
fail:
        if (reserved)
                k8c_service_alloc_done(req->srv, old, obj, -1, NULL, false);
        *ret_causes = k8c_steal(&causes);
        *errp = k8c_steal(&err);
        return r;
}

static void do_update(struct k8c_req *req, const struct k8c_target *t, json_t *obj_in, int r,
                      k8c_error_t *errp, bool scale_reply)
{
        cleanup_error k8c_error_t err = k8c_steal(errp);
        json_auto_t *out = NULL, *causes = NULL;
        r = update_object(req, t, obj_in, r, &err, &out, &causes);
        if (r < 0) {
                fail(req, t, &err, t->name, causes);
                return;
        }
        if (scale_reply)
                k8c_req_reply(req, 200, scale_of(t->res, out));
        else if (!reply_stored(req, t, 200, req->stored_text, meta_str(out, "resourceVersion")))
                reply_object(req, t, 200, json_incref(out));
}

/* ---- scale subresource (autoscaling/v1 Scale over spec.replicas) ---- */

static json_t *scale_of(const struct k8c_resource *res, const json_t *obj)
{
        json_t *md = json_object_get(obj, "metadata");
        json_t *smd = json_object();
        const char *keep[] = { "name", "namespace", "uid", "resourceVersion", "creationTimestamp" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(keep); i++) {
                json_t *v = json_object_get(md, keep[i]);
                if (v != NULL)
                        json_object_set(smd, keep[i], v);
        }
        json_int_t want = k8c_json_get_int(obj, "spec.replicas", 1);
        json_int_t have = k8c_json_get_int(obj, "status.replicas", 0);
        json_t *st = json_pack("{s:I}", "replicas", (json_int_t)have);
        struct k8c_selector sel = { 0 };
        json_t *js = k8c_json_get(obj, "spec.selector");
        if (json_is_object(js) && json_object_get(js, "matchLabels") == NULL &&
            json_object_get(js, "matchExpressions") == NULL) {
                /* ReplicationController style map selector. */
                json_t *wrapped = json_pack("{s:O}", "matchLabels", js);
                if (k8c_selector_from_json(wrapped, &sel, NULL) >= 0) {
                        cleanup_free char *str = k8c_selector_string(&sel);
                        json_object_set_new(st, "selector", json_string(str));
                }
                json_decref(wrapped);
        } else if (js != NULL && k8c_selector_from_json(js, &sel, NULL) >= 0) {
                cleanup_free char *str = k8c_selector_string(&sel);
                json_object_set_new(st, "selector", json_string(str));
        }
        k8c_selector_free(&sel);
        return json_pack("{s:s, s:s, s:o, s:{s:I}, s:o}", "kind", "Scale", "apiVersion", "autoscaling/v1",
                         "metadata", smd, "spec", "replicas", (json_int_t)want, "status", st);
}

/* New state of the object after a (PUT or patched) Scale: only spec.replicas changes. */
static int apply_scale(const struct k8c_target *t, const json_t *old, const json_t *scale, json_t **ret,
                       k8c_error_t *err)
{
        json_t *rep = k8c_json_get(scale, "spec.replicas");
        if (rep != NULL && !json_is_integer(rep))
                return k8c_make_error(err, K8C_EBADREQUEST, "spec.replicas must be an integer");
        json_t *obj = json_deep_copy(old);
        json_t *spec = k8c_json_object_ensure(obj, "spec");
        json_object_set_new(spec, "replicas", json_integer(rep != NULL ? json_integer_value(rep) : 0));
        const char *rv = k8c_json_get_string(scale, "metadata.resourceVersion");
        if (rv != NULL && rv[0] != '\0')
                json_object_set_new(meta_ensure(obj), "resourceVersion", json_string(rv));
        *ret = obj;
        return 0;
}

static void handle_update(struct k8c_req *req, const struct k8c_target *t)
{
        cleanup_error k8c_error_t err = NULL;
        json_t *obj = NULL;
        bool scale = t->sub != NULL && strcmp(t->sub, "scale") == 0 && t->res->has_scale;
        bool finalize = t->sub != NULL && strcmp(t->sub, "finalize") == 0 && is_namespaces(t->res);
        if (t->sub != NULL && strcmp(t->sub, "status") != 0 && !scale && !finalize) {
                k8c_req_fail_msg(req, K8C_ENOTFOUND, "the server could not find the requested resource");
                return;
        }
        int r = decode_body(req, &obj, &err);
        if (r >= 0 && scale) {
                json_auto_t *old = NULL, *sc = obj;
                obj = NULL;
                r = load(req->srv, t, &old, NULL, &err);
                if (r >= 0)
                        r = apply_scale(t, old, sc, &obj, &err);
                struct k8c_target main = *t;
                main.sub = NULL;
                do_update(req, &main, obj, r, &err, true);
                return;
        }
        do_update(req, t, obj, r, &err, false);
}

static void handle_patch(struct k8c_req *req, const struct k8c_target *t)
{
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *old = NULL;
        json_t *obj = NULL;
        const char *ct = k8c_req_header(req, "Content-Type");
        bool scale = t->sub != NULL && strcmp(t->sub, "scale") == 0 && t->res->has_scale;
        bool apply = ct != NULL && strncmp(ct, "application/apply-patch", 23) == 0;
        if (t->sub != NULL && strcmp(t->sub, "status") != 0 && !scale) {
                k8c_req_fail_msg(req, K8C_ENOTFOUND, "the server could not find the requested resource");
                return;
        }
        if (ct == NULL) {
                k8c_req_fail_msg(req, K8C_EUNSUPPORTEDMEDIATYPE,
                                 "the body of the request was in an unknown format");
                return;
        }
        const char *fm = k8c_req_query(req, "fieldManager");
        if (apply && (fm == NULL || fm[0] == '\0')) {
                k8c_req_fail_msg(req, K8C_EBADREQUEST,
                                 "PATCH requests with apply content type require fieldManager");
                return;
        }
        struct k8c_target main = *t;
        if (scale)
                main.sub = NULL;
        json_auto_t *out = NULL, *causes = NULL;
        int r = 0;
        /* As Kubernetes' GuaranteedUpdate: a patch is applied to the latest object, and a write that
         * lost a race with another writer is redone on the new latest object — unless the patch itself
         * carried a resourceVersion, which is then a precondition. */
        for (int attempt = 0;; attempt++) {
                json_decref(old);
                old = NULL;
                r = load(req->srv, t, &old, NULL, &err);
                if (r < 0 && apply && k8c_error_reason(&err) == K8C_ENOTFOUND && t->sub == NULL) {
                        /* Server-side apply of an absent object creates it. */
                        k8c_error_release(&err);
                        handle_create(req, &(struct k8c_target){ .res = t->res, .ns = t->ns });
                        return;
                }
                if (r < 0) {
                        fail(req, t, &err, t->name, NULL);
                        return;
                }
                /* Writes through the main resource ignore status unless patching /status. */
                json_auto_t *base = scale ? scale_of(t->res, old) : json_incref(old);
                obj = NULL;
                r = k8c_patch_apply(ct, base, req->body != NULL ? req->body : "{}", req->body_len, &obj,
                                    &err);
                json_auto_t *config = NULL;
                if (r >= 0 && apply) {
                        config = json_loadb(req->body != NULL ? req->body : "{}", req->body_len, 0, NULL);
                        req->apply_config = config;
                }
                if (r >= 0 && scale) {
                        json_auto_t *sc = obj;
                        obj = NULL;
                        r = apply_scale(t, old, sc, &obj, &err);
                }
                const char *want_rv = r >= 0 ? k8c_json_get_string(obj, "metadata.resourceVersion") : NULL;
                const char *have_rv = meta_str(old, "resourceVersion");
                bool precondition = want_rv != NULL && (have_rv == NULL || strcmp(want_rv, have_rv) != 0);
                r = update_object(req, &main, obj, r, &err, &out, &causes);
                req->apply_config = NULL;
                if (r < 0 && k8c_error_reason(&err) == K8C_ECONFLICT && !precondition &&
                    !req->apply_conflict && attempt < 100) {
                        k8c_error_release(&err);
                        json_decref(causes);
                        causes = NULL;
                        /* Under heavy contention, step aside briefly so the retries do not collide. */
                        if (attempt >= 3)
                                usleep((useconds_t)(rand() % 2000));
                        continue;
                }
                break;
        }
        if (r < 0) {
                fail(req, &main, &err, t->name, causes);
                return;
        }
        if (scale)
                k8c_req_reply(req, 200, scale_of(t->res, out));
        else if (!reply_stored(req, t, 200, req->stored_text, meta_str(out, "resourceVersion")))
                reply_object(req, t, 200, json_incref(out));
}

/* Stores obj over the version cur (CAS); removes it instead when it is being deleted, its last
 * finalizer went away and no grace period is pending (a pod marked with grace > 0 stays until its
 * kubelet deletes it with grace 0, however often its status is written meanwhile). */
static int write_update(struct k8c_req *req, const struct k8c_target *t, json_t *obj, int64_t cur,
                        json_t **ret_causes, k8c_error_t *err)
{
        cleanup_free char *key = k8c_rest_key(t->res, t->ns, t->name);
        json_t *md = meta_ensure(obj);
        bool removing = removed_on_write(t->res, obj);
        if (t->res->storage_of != NULL && t->res->to_storage != NULL)
                t->res->to_storage(obj);
        if (dry_run(req))
                return 0;
        struct k8c_kv kv = { 0 };
        int r;
        if (removing) {
                r = k8c_store_delete(req->srv->store, key, cur, &kv, err);
        } else {
                json_object_del(md, "resourceVersion");
                cleanup_free char *text = json_dumps(obj, JSON_COMPACT);
                r = k8c_store_update(req->srv->store, key, text, strlen(text), cur, &kv, err);
                if (r >= 0) {
                        free(req->stored_text);
                        req->stored_text = k8c_steal(&text);
                }
        }
        if (r >= 0) {
                set_rv(obj, kv.mod_revision);
                /* Seen at once by creates that follow this reply, not only once the watch delivers it. */
                if (is_namespaces(t->res))
                        k8c_ns_cache_note(req->srv, t->name, kv.mod_revision,
                                          !removing && json_object_get(md, "deletionTimestamp") == NULL);
        }
        k8c_kv_free(&kv);
        if (r < 0 && k8c_error_reason(err) == K8C_ECONFLICT)
                return k8c_make_error(
                        err, K8C_ECONFLICT,
                        "Operation cannot be fulfilled on %s%s%s \"%s\": the object has been "
                        "modified; please apply your changes to the latest version and try again",
                        t->res->plural, t->res->group[0] ? "." : "", t->res->group, t->name);
        if (r < 0 && k8c_error_reason(err) == K8C_ENOTFOUND)
                return not_found_err(t->res, t->name, err);
        return r;
}

static bool add_finalizer(json_t *md, const char *f)
{
        json_t *fin = json_object_get(md, "finalizers");
        if (!json_is_array(fin)) {
                fin = json_array();
                json_object_set_new(md, "finalizers", fin);
        }
        size_t i;
        json_t *v;
        json_array_foreach(fin, i, v)
        {
                if (json_is_string(v) && strcmp(json_string_value(v), f) == 0)
                        return false;
        }
        json_array_append_new(fin, json_string(f));
        return true;
}

/* Deletes (or, with finalizers or a grace period, marks) the object t names, per DeleteOptions
 * opts (may be NULL). *ret_obj gets the object as last stored. */
static int delete_object(struct k8c_req *req, const struct k8c_target *t, const json_t *opts,
                         json_t **ret_obj, k8c_error_t *err)
{
        json_auto_t *old = NULL;
        struct k8c_kv kv = { 0 };
        int r = load(req->srv, t, &old, NULL, err);
        if (r < 0)
                return r;
        int64_t cur = 0;
        parse_rv(meta_str(old, "resourceVersion"), &cur, NULL);
        json_t *pre = json_object_get(opts, "preconditions");
        const char *puid = json_string_value(json_object_get(pre, "uid"));
        const char *prv = json_string_value(json_object_get(pre, "resourceVersion"));
        const char *uid = meta_str(old, "uid");
        if (puid != NULL && (uid == NULL || strcmp(puid, uid) != 0))
                return k8c_make_error(
                        err, K8C_ECONFLICT,
                        "Operation cannot be fulfilled on %s%s%s \"%s\": Precondition failed: UID in "
                        "precondition: %s, UID in object meta: %s",
                        t->res->plural, t->res->group[0] ? "." : "", t->res->group, t->name, puid,
                        uid != NULL ? uid : "");
        if (prv != NULL && strcmp(prv, meta_str(old, "resourceVersion")) != 0)
                return k8c_make_error(
                        err, K8C_ECONFLICT,
                        "Operation cannot be fulfilled on %s%s%s \"%s\": Precondition failed: "
                        "ResourceVersion in precondition: %s, ResourceVersion in object meta: %s",
                        t->res->plural, t->res->group[0] ? "." : "", t->res->group, t->name, prv,
                        meta_str(old, "resourceVersion"));
        json_t *md = meta_ensure(old);
        bool changed = false;
        const char *policy = json_string_value(json_object_get(opts, "propagationPolicy"));
        if (json_is_true(json_object_get(opts, "orphanDependents")))
                policy = "Orphan";
        if (policy != NULL && strcmp(policy, "Orphan") == 0)
                changed |= add_finalizer(md, "orphan");
        else if (policy != NULL && strcmp(policy, "Foreground") == 0)
                changed |= add_finalizer(md, "foregroundDeletion");

        /* Graceful deletion: the resource decides how long the owner of the object gets. */
        json_t *gp = json_object_get(opts, "gracePeriodSeconds");
        long requested = json_is_integer(gp) ? (long)json_integer_value(gp) : -1;
        long grace = t->res->delete_grace_seconds != NULL ? t->res->delete_grace_seconds(old, requested) : 0;
        time_t now = time(NULL);
        json_t *cur_grace = json_object_get(md, "deletionGracePeriodSeconds");
        bool marked = json_object_get(md, "deletionTimestamp") != NULL;
        bool has_fin = held_by_finalizers(t->res, old);
        if (has_fin && is_namespaces(t->res)) {
                json_t *st = k8c_json_object_ensure(old, "status");
                const char *phase = json_string_value(json_object_get(st, "phase"));
                if (phase == NULL || strcmp(phase, "Terminating") != 0) {
                        json_object_set_new(st, "phase", json_string("Terminating"));
                        changed = true;
                }
        }
        if (grace > 0 || has_fin) {
                /* A later delete may only shorten the grace period. */
                if (!marked || (json_is_integer(cur_grace) && grace < json_integer_value(cur_grace))) {
                        char ts[32];
                        k8c_rfc3339(now + grace, ts, sizeof(ts));
                        json_object_set_new(md, "deletionTimestamp", json_string(ts));
                        json_object_set_new(md, "deletionGracePeriodSeconds", json_integer(grace));
                        changed = true;
                }
                if (grace > 0 || has_fin) {
                        if (changed) {
                                r = write_update(req, t, old, cur, NULL, err);
                                if (r < 0)
                                        return r;
                        }
                        *ret_obj = json_incref(old);
                        return 0;
                }
        }
        if (!dry_run(req)) {
                cleanup_free char *key = k8c_rest_key(t->res, t->ns, t->name);
                /* A Service's address and ports are free once its delete is stored. */
                bool svc = is_services(t->res);
                if (svc)
                        k8c_service_alloc_begin(req->srv);
                r = k8c_store_delete(req->srv->store, key, cur, &kv, err);
                if (svc)
                        k8c_service_alloc_done(req->srv, old, NULL, r, err, true);
                if (r < 0) {
                        k8c_kv_free(&kv);
                        if (k8c_error_reason(err) == K8C_ENOTFOUND)
                                return not_found_err(t->res, t->name, err);
                        if (k8c_error_reason(err) == K8C_ECONFLICT)
                                return k8c_make_error(
                                        err, K8C_ECONFLICT,
                                        "Operation cannot be fulfilled on %s%s%s \"%s\": the object "
                                        "has been modified; please apply your changes to the latest "
                                        "version and try again",
                                        t->res->plural, t->res->group[0] ? "." : "", t->res->group, t->name);
                        return r;
                }
                set_rv(old, kv.mod_revision);
                if (is_namespaces(t->res))
                        k8c_ns_cache_note(req->srv, t->name, kv.mod_revision, false);
                k8c_kv_free(&kv);
        }
        *ret_obj = json_incref(old);
        return 0;
}

static int delete_options(struct k8c_req *req, json_t **ret, k8c_error_t *err)
{
        *ret = NULL;
        if (req->body_len == 0) {
                /* kubectl and clients may pass the options as query parameters instead. */
                const char *gp = k8c_req_query(req, "gracePeriodSeconds");
                const char *pp = k8c_req_query(req, "propagationPolicy");
                if (gp == NULL && pp == NULL)
                        return 0;
                *ret = json_object();
                if (gp != NULL)
                        json_object_set_new(*ret, "gracePeriodSeconds", json_integer(strtoll(gp, NULL, 10)));
                if (pp != NULL)
                        json_object_set_new(*ret, "propagationPolicy", json_string(pp));
                return 0;
        }
        json_error_t jerr;
        json_t *opts = json_loadb(req->body, req->body_len, 0, &jerr);
        if (opts == NULL || !json_is_object(opts)) {
                json_decref(opts);
                return k8c_make_error(err, K8C_EBADREQUEST, "invalid DeleteOptions: %s",
                                      opts == NULL ? jerr.text : "not an object");
        }
        *ret = opts;
        return 0;
}

static void handle_delete(struct k8c_req *req, const struct k8c_target *t)
{
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *opts = NULL;
        json_t *obj = NULL;
        if (t->sub != NULL) {
                k8c_req_fail_msg(req, K8C_EMETHODNOTALLOWED,
                                 "the server does not allow this method on the requested resource");
                return;
        }
        if (delete_options(req, &opts, &err) < 0 || delete_object(req, t, opts, &obj, &err) < 0) {
                fail(req, t, &err, t->name, NULL);
                return;
        }
        reply_object(req, t, 200, obj);
}

/* DELETE on a collection: every object matching the selectors, answered with their list. */
static void handle_delete_collection(struct k8c_req *req, const struct k8c_target *t)
{
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *opts = NULL;
        struct k8c_selector lsel = { 0 };
        struct k8c_field_selector fsel = { 0 };
        struct k8c_kv_list l = { 0 };
        cleanup_free char *prefix = k8c_rest_key(t->res, t->ns, NULL);
        json_t *items = json_array();
        int r = delete_options(req, &opts, &err);
        if (r >= 0)
                r = parse_selectors(req, t->res, &lsel, &fsel, &err);
        if (r >= 0)
                r = k8c_store_list(req->srv->store, prefix, &(struct k8c_list_opts){ 0 }, &l, &err);
        for (size_t i = 0; r >= 0 && i < l.n; i++) {
                json_auto_t *obj = NULL;
                if (k8c_rest_decode(&l.items[i], &obj, NULL) < 0 ||
                    !k8c_selector_matches(&lsel,
                                          json_object_get(json_object_get(obj, "metadata"), "labels")) ||
                    !k8c_field_selector_matches(&fsel, obj))
                        continue;
                struct k8c_target one = { .res = t->res,
                                          .ns = meta_str(obj, "namespace"),
                                          .name = meta_str(obj, "name") };
                json_t *gone = NULL;
                cleanup_error k8c_error_t e = NULL;
                if (delete_object(req, &one, opts, &gone, &e) >= 0)
                        json_array_append_new(items, gone);
                else if (k8c_error_reason(&e) != K8C_ENOTFOUND)
                        r = k8c_make_error(&err, k8c_error_reason(&e), "%s", k8c_error_msg(&e));
        }
        if (r < 0) {
                json_decref(items);
                fail(req, t, &err, NULL, NULL);
        } else {
                cleanup_free char *av = api_version_of(t->res);
                char rvbuf[32];
                snprintf(rvbuf, sizeof(rvbuf), "%" PRId64, l.revision);
                k8c_req_reply(req, 200,
                              json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", t->res->list_kind, "apiVersion",
                                        av, "metadata", "resourceVersion", rvbuf, "items", items));
        }
        k8c_kv_list_free(&l);
        k8c_selector_free(&lsel);
        k8c_field_selector_free(&fsel);
}

/* POST pods/<name>/binding: the scheduler's decision. Sets spec.nodeName and the PodScheduled
 * condition in one guarded write; a pod already bound or being deleted is a 409. */
static void handle_binding(struct k8c_req *req, const struct k8c_target *t)
{
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *b = NULL, *pod = NULL;
        struct k8c_target main = *t;
        main.sub = NULL;
        int r = decode_body(req, &b, &err);
        if (r < 0)
                goto fail;
        const char *kind = json_string_value(json_object_get(b, "kind"));
        const char *node = k8c_json_get_string(b, "target.name");
        if ((kind != NULL && strcmp(kind, "Binding") != 0) || node == NULL || node[0] == '\0') {
                r = k8c_make_error(&err, K8C_EINVALID,
                                   "Binding \"%s\" is invalid: target.name: Required value", t->name);
                goto fail;
        }
        r = load(req->srv, &main, &pod, NULL, &err);
        if (r < 0)
                goto fail;
        const char *cur_node = k8c_json_get_string(pod, "spec.nodeName");
        if (k8c_json_get(pod, "metadata.deletionTimestamp") != NULL) {
                r = k8c_make_error(
                        &err, K8C_ECONFLICT,
                        "Operation cannot be fulfilled on pods/binding \"%s\": pod %s is being deleted, "
                        "cannot be assigned to a host",
                        t->name, t->name);
                goto fail;
        }
        if (cur_node != NULL && cur_node[0] != '\0') {
                r = k8c_make_error(
                        &err, K8C_ECONFLICT,
                        "Operation cannot be fulfilled on pods/binding \"%s\": pod %s is already assigned "
                        "to node \"%s\"",
                        t->name, t->name, cur_node);
                goto fail;
        }
        int64_t cur = 0;
        parse_rv(meta_str(pod, "resourceVersion"), &cur, NULL);
        json_object_set_new(k8c_json_object_ensure(pod, "spec"), "nodeName", json_string(node));
        json_t *status = k8c_json_object_ensure(pod, "status");
        json_t *conds = json_object_get(status, "conditions");
        if (!json_is_array(conds)) {
                conds = json_array();
                json_object_set_new(status, "conditions", conds);
        }
        char ts[32];
        k8c_rfc3339(time(NULL), ts, sizeof(ts));
        json_t *cond = json_pack("{s:s, s:s, s:n, s:s}", "type", "PodScheduled", "status", "True",
                                 "lastProbeTime", "lastTransitionTime", ts);
        size_t i;
        json_t *c;
        bool replaced = false;
        json_array_foreach(conds, i, c)
        {
                const char *ty = json_string_value(json_object_get(c, "type"));
                if (ty != NULL && strcmp(ty, "PodScheduled") == 0) {
                        json_array_set(conds, i, cond);
                        replaced = true;
                        break;
                }
        }
        if (!replaced)
                json_array_append(conds, cond);
        json_decref(cond);
        r = write_update(req, &main, pod, cur, NULL, &err);
        if (r < 0)
                goto fail;
        k8c_req_reply(req, 201,
                      json_pack("{s:s, s:s, s:{}, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
                                "metadata", "status", "Success", "code", 201));
        return;
fail:
        k8c_req_fail(req, &err, t->name, "", "pods/binding", NULL);
}

/* POST pods/<name>/eviction: a policy/v1 Eviction is a graceful delete of the pod with the
 * Eviction's deleteOptions (there are no PodDisruptionBudgets here to refuse it). 201 Status
 * Success, as kube-apiserver answers; a missing pod is the pod's 404. */
static void handle_eviction(struct k8c_req *req, const struct k8c_target *t)
{
        cleanup_error k8c_error_t err = NULL;
        json_auto_t *ev = NULL, *gone = NULL;
        struct k8c_target main = *t;
        main.sub = NULL;
        int r = decode_body(req, &ev, &err);
        if (r < 0) {
                k8c_req_fail(req, &err, t->name, "policy", "Eviction", NULL);
                return;
        }
        const char *kind = json_string_value(json_object_get(ev, "kind"));
        const char *ename = k8c_json_get_string(ev, "metadata.name");
        json_t *opts = json_object_get(ev, "deleteOptions");
        if (kind != NULL && strcmp(kind, "Eviction") != 0) {
                k8c_make_error(&err, K8C_EBADREQUEST, "expected kind Eviction, got %s", kind);
                k8c_req_fail(req, &err, t->name, "policy", "Eviction", NULL);
                return;
        }
        if (ename != NULL && strcmp(ename, t->name) != 0) {
                k8c_make_error(&err, K8C_EBADREQUEST, "name in URL does not match name in Eviction object");
                k8c_req_fail(req, &err, t->name, "policy", "Eviction", NULL);
                return;
        }
        if (opts != NULL && !json_is_object(opts) && !json_is_null(opts)) {
                k8c_make_error(&err, K8C_EBADREQUEST, "deleteOptions: must be an object");
                k8c_req_fail(req, &err, t->name, "policy", "Eviction", NULL);
                return;
        }
        if (delete_object(req, &main, json_is_object(opts) ? opts : NULL, &gone, &err) < 0) {
                fail(req, &main, &err, t->name, NULL);
                return;
        }
        k8c_req_reply(req, 201,
                      json_pack("{s:s, s:s, s:{}, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
                                "metadata", "status", "Success", "code", 201));
}

/* GET .../<name>?watch=true: a watch of the collection narrowed to that name. */
static void watch_one(struct k8c_req *req, const struct k8c_target *t)
{
        cleanup_error k8c_error_t err = NULL;
        struct k8c_selector lsel = { 0 };
        struct k8c_field_selector fsel = { 0 };
        struct k8c_target coll = { .res = t->res, .ns = t->ns };
        int r = parse_selectors(req, t->res, &lsel, &fsel, &err);
        if (r >= 0) {
                struct k8c_field_req fr = { .field = k8c_xstrdup("metadata.name"),
                                            .value = k8c_xstrdup(t->name) };
                fsel.reqs = k8c_xrealloc(fsel.reqs, (fsel.n + 1) * sizeof(*fsel.reqs));
                fsel.reqs[fsel.n++] = fr;
                k8c_watch_serve(req, &coll, &lsel, &fsel);
        } else {
                fail(req, t, &err, NULL, NULL);
        }
        k8c_selector_free(&lsel);
        k8c_field_selector_free(&fsel);
}

void k8c_rest_handle(struct k8c_req *req, const struct k8c_target *t)
{
        const char *m = req->method;
        bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
        if (t->name == NULL) {
                if (get) {
                        req->verb = "LIST";
                        handle_list(req, t);
                        return;
                }
                if (strcmp(m, "POST") == 0) {
                        req->verb = "POST";
                        handle_create(req, t);
                        return;
                }
                if (strcmp(m, "DELETE") == 0) {
                        req->verb = "DELETECOLLECTION";
                        handle_delete_collection(req, t);
                        return;
                }
        } else {
                if (k8c_proxy_handles(t)) {
                        k8c_proxy_handle(req, t);
                        return;
                }
                if (get) {
                        const char *w = k8c_req_query(req, "watch");
                        if (w != NULL && (strcmp(w, "true") == 0 || strcmp(w, "1") == 0) && t->sub == NULL) {
                                req->verb = "WATCH";
                                watch_one(req, t);
                                return;
                        }
                        req->verb = "GET";
                        handle_get(req, t);
                        return;
                }
                if (strcmp(m, "POST") == 0 && t->sub != NULL && strcmp(t->sub, "binding") == 0 &&
                    t->res->group[0] == '\0' && strcmp(t->res->plural, "pods") == 0) {
                        req->verb = "POST";
                        handle_binding(req, t);
                        return;
                }
                if (strcmp(m, "POST") == 0 && t->sub != NULL && strcmp(t->sub, "eviction") == 0 &&
                    t->res->group[0] == '\0' && strcmp(t->res->plural, "pods") == 0) {
                        req->verb = "POST";
                        handle_eviction(req, t);
                        return;
                }
                if (strcmp(m, "PUT") == 0) {
                        req->verb = "PUT";
                        handle_update(req, t);
                        return;
                }
                if (strcmp(m, "DELETE") == 0) {
                        req->verb = "DELETE";
                        handle_delete(req, t);
                        return;
                }
                if (strcmp(m, "PATCH") == 0) {
                        req->verb = "PATCH";
                        handle_patch(req, t);
                        return;
                }
        }
        k8c_req_fail_msg(req, K8C_EMETHODNOTALLOWED,
                         "the server does not allow this method on the requested "
                         "resource");
}
