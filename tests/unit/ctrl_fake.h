/*
 * ctrl_fake.h - a fake struct k8c_object_control for the controller unit tests:
 * records every call as {verb, path, type, body} in a JSON array, answers
 * get() from a path → object map, and fails chosen calls. Header-only so each
 * test_ctrl_* program includes it; no server, no threads.
 */
#ifndef K8C_TEST_CTRL_FAKE_H
#define K8C_TEST_CTRL_FAKE_H

#include <jansson.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/controllers.h"
#include "k8c/informer.h"

struct fake {
        json_t *calls;      /* [{verb, path, type?, body?}] */
        json_t *objects;    /* path → object answered by get(); absent = NotFound */
        int fail_create_at; /* 1-based index of the create call that fails (0 = none) */
        int creates;
        k8c_reason_t fail_reason; /* for updates/patches when non-zero */
};

static int fake_record(struct fake *f, const char *verb, const char *path, const char *type,
                       const json_t *body)
{
        json_t *c = json_pack("{s:s, s:s}", "verb", verb, "path", path);
        if (type != NULL)
                json_object_set_new(c, "type", json_string(type));
        if (body != NULL)
                json_object_set_new(c, "body", json_deep_copy(body));
        json_array_append_new(f->calls, c);
        return 0;
}

static int fake_create(void *o, const char *path, const json_t *obj, k8c_error_t *err)
{
        struct fake *f = o;
        fake_record(f, "create", path, NULL, obj);
        if (++f->creates == f->fail_create_at)
                return k8c_make_error(err, K8C_EINVALID, "pods \"x\" is invalid");
        return 0;
}

static int fake_update(void *o, const char *path, const json_t *obj, k8c_error_t *err)
{
        struct fake *f = o;
        fake_record(f, "update", path, NULL, obj);
        if (f->fail_reason != 0)
                return k8c_make_error(err, f->fail_reason, "failed");
        return 0;
}

static int fake_patch(void *o, const char *path, const char *type, const json_t *patch, k8c_error_t *err)
{
        struct fake *f = o;
        fake_record(f, "patch", path, type, patch);
        if (f->fail_reason != 0)
                return k8c_make_error(err, f->fail_reason, "failed");
        return 0;
}

static int fake_delete(void *o, const char *path, const json_t *options, k8c_error_t *err)
{
        struct fake *f = o;
        fake_record(f, "delete", path, NULL, options);
        return 0;
}

static int fake_get(void *o, const char *path, json_t **ret, k8c_error_t *err)
{
        struct fake *f = o;
        fake_record(f, "get", path, NULL, NULL);
        json_t *obj = json_object_get(f->objects, path);
        if (obj == NULL)
                return k8c_make_error(err, K8C_ENOTFOUND, "not found");
        *ret = json_deep_copy(obj);
        return 0;
}

static inline void fake_init(struct fake *f, struct k8c_object_control *ctl)
{
        memset(f, 0, sizeof(*f));
        f->calls = json_array();
        f->objects = json_object();
        *ctl = (struct k8c_object_control){ .create = fake_create,
                                            .update = fake_update,
                                            .patch = fake_patch,
                                            .delete = fake_delete,
                                            .get = fake_get,
                                            .opaque = f };
}

static inline void fake_free(struct fake *f)
{
        json_decref(f->calls);
        json_decref(f->objects);
}

/* Calls of one verb, in order (new reference). */
static inline json_t *fake_calls(struct fake *f, const char *verb)
{
        json_t *out = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(f->calls, i, c)
        {
                if (strcmp(json_string_value(json_object_get(c, "verb")), verb) == 0)
                        json_array_append(out, c);
        }
        return out;
}

static inline void fake_reset(struct fake *f)
{
        json_array_clear(f->calls);
}

/* An informer that is never started: tests fill it with k8c_informer_apply_event. */
static inline struct k8c_informer *test_informer(const char *path)
{
        struct k8c_informer_config cfg = { .client = NULL, .path = path };
        struct k8c_informer *inf = k8c_informer_new(&cfg);
        k8c_ctrl_add_indexes(inf);
        return inf;
}

#endif
