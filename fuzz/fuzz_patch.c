/*
 * fuzz_patch.c - libFuzzer target for the three PATCH appliers behind
 * k8c_patch_apply (src/apiserver/patch.c): JSON merge patch, strategic merge
 * patch (also apply-patch+yaml) and JSON patch.
 *
 * Input: one selector line naming the patch type ("merge", "strategic", "apply"
 * or "json"; anything else picks by the first byte), one line holding the old
 * object as JSON, and the rest, the patch body. Checked: no crash or sanitizer
 * report; the old object is never modified; a result, when there is one, is a
 * JSON value that serialises and parses back equal; an error carries a message;
 * a merge patch is idempotent (RFC 7386) and so is a strategic merge patch
 * without directives or lists (then it is a merge patch).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"

static const char *const types[] = { "application/merge-patch+json", "application/strategic-merge-patch+json",
                                     "application/apply-patch+yaml", "application/json-patch+json" };

static const char *pick_type(const char *line, size_t len)
{
        static const char *const words[] = { "merge", "strategic", "apply", "json" };
        for (size_t i = 0; i < 4; i++)
                if (len == strlen(words[i]) && memcmp(line, words[i], len) == 0)
                        return types[i];
        return types[len > 0 ? (unsigned char)line[0] % 4 : 0];
}

/* True when v holds no array and no key starting with '$' anywhere: a strategic merge patch
 * of this shape means what a JSON merge patch means. */
static bool plain_object(const json_t *v)
{
        if (json_is_array(v))
                return false;
        if (!json_is_object(v))
                return true;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
                if (k[0] == '$' || !plain_object(x))
                        return false;
        }
        return true;
}

static void check_roundtrip(const json_t *v)
{
        cleanup_free char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL)
                abort();
        json_auto_t *back = json_loads(text, JSON_DECODE_ANY, NULL);
        if (back == NULL || !json_equal(back, v))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *p = (const char *)data;
        const char *nl1 = memchr(p, '\n', size);
        if (nl1 == NULL)
                return 0;
        const char *type = pick_type(p, (size_t)(nl1 - p));
        const char *doc = nl1 + 1;
        size_t rest = size - (size_t)(doc - p);
        const char *nl2 = memchr(doc, '\n', rest);
        if (nl2 == NULL)
                return 0;
        json_auto_t *old = json_loadb(doc, (size_t)(nl2 - doc), JSON_DECODE_ANY, NULL);
        if (old == NULL)
                return 0;
        const char *body = nl2 + 1;
        size_t body_len = size - (size_t)(body - p);
        json_auto_t *snapshot = json_deep_copy(old);

        json_auto_t *out = NULL;
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_patch_apply(type, old, body, body_len, &out, &err);
        if (!json_equal(old, snapshot))
                abort(); /* the stored object must not change under a patch */
        if (r < 0) {
                if (out != NULL || k8c_error_msg(&err) == NULL)
                        abort();
                return 0;
        }
        if (out == NULL)
                abort();
        check_roundtrip(out);

        bool merge = type == types[0];
        bool strategic = type == types[1] || type == types[2];
        json_auto_t *patch = NULL;
        if (merge || strategic)
                patch = json_loadb(body, body_len, 0, NULL);
        if (merge || (strategic && plain_object(patch))) {
                json_auto_t *again = NULL;
                cleanup_error k8c_error_t err2 = NULL;
                json_auto_t *out_copy = json_deep_copy(out);
                if (k8c_patch_apply(type, out, body, body_len, &again, &err2) < 0)
                        abort();
                if (!json_equal(again, out_copy) || !json_equal(out, out_copy))
                        abort();
        }
        return 0;
}
