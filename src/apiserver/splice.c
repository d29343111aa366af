/*
 * splice.c - serving stored objects without decoding and re-encoding them.
 *
 * Every stored value is jansson's compact encoding of an object, written by
 * rest.c without metadata.resourceVersion (the revision lives in the store).
 * A LIST can therefore copy the stored texts straight into one growing reply
 * buffer, adding only `"resourceVersion":"N"` as the first member of metadata:
 * the same object as decoding, setting it and encoding again would give (only
 * the member order differs), without reading past metadata's opening brace
 * unless labels are wanted.
 *
 * This is not a JSON codec: it only finds where the top-level "metadata"
 * member and its "labels" member lie (skipping strings and nested values), so
 * that the caller can splice text and hand the small labels object to jansson.
 * Anything unexpected (not an object, no metadata, a resourceVersion member
 * anywhere, malformed text) makes the scan fail and the caller decodes that
 * value the ordinary way.
 */
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"

void k8c_textbuf_reserve(struct k8c_textbuf *b, size_t more)
{
        if (b->len + more + 1 <= b->cap)
                return;
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + more + 1)
                cap *= 2;
        b->p = k8c_xrealloc(b->p, cap);
        b->cap = cap;
}

void k8c_textbuf_add(struct k8c_textbuf *b, const char *s, size_t n)
{
        k8c_textbuf_reserve(b, n);
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

void k8c_textbuf_adds(struct k8c_textbuf *b, const char *s)
{
        k8c_textbuf_add(b, s, strlen(s));
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
                i++;
        return i;
}

/* s[i] is the opening quote; returns the index after the closing quote, or 0. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
        for (i++; i < n; i++) {
                if (s[i] == '\\')
                        i++;
                else if (s[i] == '"')
                        return i + 1;
        }
        return 0;
}

/* s[i] starts a value; returns the index just after it, or 0. */
static size_t skip_value(const char *s, size_t n, size_t i)
{
        if (i >= n)
                return 0;
        if (s[i] == '"')
                return skip_string(s, n, i);
        if (s[i] == '{' || s[i] == '[') {
                size_t depth = 0;
                while (i < n) {
                        char c = s[i];
                        if (c == '"') {
                                i = skip_string(s, n, i);
                                if (i == 0)
                                        return 0;
                                continue;
                        }
                        if (c == '{' || c == '[')
                                depth++;
                        else if (c == '}' || c == ']') {
                                if (--depth == 0)
                                        return i + 1;
                        }
                        i++;
                }
                return 0;
        }
        /* number, true, false, null */
        size_t start = i;
        while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' &&
               s[i] != '\t' && s[i] != '\r')
                i++;
        return i > start ? i : 0;
}

/* Walks the members of the object starting at s[i] ('{'). For each member calls fn with the
 * key (without quotes, escapes left as they are) and the value's span; fn returning false stops
 * the walk there (returning the index after that value), or with finish set only stops the
 * calls. Returns the index after the closing '}', or 0 when the text is not a well-formed object. */
typedef bool (*member_fn)(void *ud, const char *key, size_t klen, size_t vstart, size_t vend);

static size_t walk_object(const char *s, size_t n, size_t i, member_fn fn, void *ud, bool finish)
{
        if (i >= n || s[i] != '{')
                return 0;
        i = skip_ws(s, n, i + 1);
        if (i < n && s[i] == '}')
                return i + 1;
        for (;;) {
                if (i >= n || s[i] != '"')
                        return 0;
                size_t kend = skip_string(s, n, i);
                if (kend == 0)
                        return 0;
                size_t c = skip_ws(s, n, kend);
                if (c >= n || s[c] != ':')
                        return 0;
                size_t vstart = skip_ws(s, n, c + 1);
                size_t vend = skip_value(s, n, vstart);
                if (vend == 0)
                        return 0;
                if (fn != NULL && !fn(ud, s + i + 1, kend - i - 2, vstart, vend)) {
                        if (!finish)
                                return vend;
                        fn = NULL;
                }
                i = skip_ws(s, n, vend);
                if (i < n && s[i] == ',') {
                        i = skip_ws(s, n, i + 1);
                        continue;
                }
                if (i < n && s[i] == '}')
                        return i + 1;
                return 0;
        }
}

static bool key_is(const char *key, size_t klen, const char *want)
{
        return strlen(want) == klen && memcmp(key, want, klen) == 0;
}

/* The start of the value of member key in the object at s[i], found without skipping that value
 * (only the members before it are skipped); 0 when absent or malformed. */
static size_t member_start(const char *s, size_t n, size_t i, const char *key)
{
        size_t klen = strlen(key);
        if (i >= n || s[i] != '{')
                return 0;
        i = skip_ws(s, n, i + 1);
        while (i < n && s[i] == '"') {
                size_t kend = skip_string(s, n, i);
                if (kend == 0)
                        return 0;
                size_t c = skip_ws(s, n, kend);
                if (c >= n || s[c] != ':')
                        return 0;
                size_t vstart = skip_ws(s, n, c + 1);
                if (kend - i - 2 == klen && memcmp(s + i + 1, key, klen) == 0)
                        return vstart;
                size_t vend = skip_value(s, n, vstart);
                if (vend == 0)
                        return 0;
                i = skip_ws(s, n, vend);
                if (i >= n || s[i] != ',')
                        return 0;
                i = skip_ws(s, n, i + 1);
        }
        return 0;
}

struct meta_scan {
        size_t ls, le;
        bool labels;
};

static bool meta_member(void *ud, const char *key, size_t klen, size_t vstart, size_t vend)
{
        struct meta_scan *m = ud;
        if (key_is(key, klen, "labels")) {
                m->ls = vstart;
                m->le = vend;
                m->labels = true;
                return false; /* nothing after it is needed */
        }
        return true;
}

int k8c_json_meta_scan(const char *s, size_t n, bool want_labels, struct k8c_meta_span *ret)
{
        /* Stored objects never hold a resourceVersion (rest.c strips it before writing); text that
         * has one anywhere (an Event's involvedObject, say) is left to the decoding path rather
         * than risk a duplicate key. */
        static const char rv[] = "\"resourceVersion\":";
        if (memmem(s, n, rv, sizeof(rv) - 1) != NULL)
                return -1;
        /* Only the members before metadata are skipped: metadata itself (managedFields can be most
         * of it), spec and status are not looked at. */
        size_t ms = member_start(s, n, skip_ws(s, n, 0), "metadata");
        if (ms == 0 || ms >= n || s[ms] != '{')
                return -1;
        struct meta_scan m = { 0 };
        if (want_labels && walk_object(s, n, ms, meta_member, &m, false) == 0)
                return -1;
        size_t first = skip_ws(s, n, ms + 1);
        if (first >= n)
                return -1;
        ret->meta_start = ms;
        ret->meta_empty = s[first] == '}';
        ret->labels_start = m.labels ? m.ls : 0;
        ret->labels_end = m.labels ? m.le : 0;
        return 0;
}

void k8c_splice_with_rv(struct k8c_textbuf *b, const char *s, size_t len, const struct k8c_meta_span *span,
                        int64_t rev)
{
        char rv[48];
        int rn = snprintf(rv, sizeof(rv), "\"resourceVersion\":\"%lld\"%s", (long long)rev,
                          span->meta_empty ? "" : ",");
        size_t at = span->meta_start + 1;
        k8c_textbuf_reserve(b, len + (size_t)rn);
        memcpy(b->p + b->len, s, at);
        b->len += at;
        memcpy(b->p + b->len, rv, (size_t)rn);
        b->len += (size_t)rn;
        memcpy(b->p + b->len, s + at, len - at);
        b->len += len - at;
        b->p[b->len] = '\0';
}

struct meta_full {
        const char *s;
        size_t mf_key, mf_end;
        bool mf;
};

static bool meta_full_member(void *ud, const char *key, size_t klen, size_t vstart, size_t vend)
{
        struct meta_full *m = ud;
        if (key_is(key, klen, "managedFields")) {
                m->mf_key = (size_t)(key - m->s) - 1;
                m->mf_end = vend;
                m->mf = true;
        }
        return true;
}

int k8c_json_meta_whole(const char *s, size_t n, struct k8c_meta_whole *ret)
{
        static const char rv[] = "\"resourceVersion\":";
        if (memmem(s, n, rv, sizeof(rv) - 1) != NULL)
                return -1;
        size_t ms = member_start(s, n, skip_ws(s, n, 0), "metadata");
        if (ms == 0 || ms >= n || s[ms] != '{')
                return -1;
        struct meta_full m = { .s = s };
        size_t me = walk_object(s, n, ms, meta_full_member, &m, true);
        if (me == 0)
                return -1;
        *ret = (struct k8c_meta_whole){ .meta_start = ms, .meta_end = me };
        ret->meta_empty = s[skip_ws(s, n, ms + 1)] == '}';
        if (m.mf) {
                /* The member and one comma next to it: the following one, else the preceding one. */
                size_t a = m.mf_key, b = m.mf_end;
                size_t after = skip_ws(s, n, b);
                if (after < n && s[after] == ',') {
                        b = after + 1;
                } else {
                        size_t p = a;
                        while (p > ms + 1 &&
                               (s[p - 1] == ' ' || s[p - 1] == '\n' || s[p - 1] == '\t' || s[p - 1] == '\r'))
                                p--;
                        if (p > ms + 1 && s[p - 1] == ',')
                                a = p - 1;
                }
                ret->mf_cut_start = a;
                ret->mf_cut_end = b;
        }
        return 0;
}

struct labels_build {
        const char *s;
        json_t *o;
        bool ok;
};

static bool label_member(void *ud, const char *key, size_t klen, size_t vstart, size_t vend)
{
        struct labels_build *b = ud;
        char k[512];
        if (klen >= sizeof(k) || b->s[vstart] != '"' || vend < vstart + 2) {
                b->ok = false;
                return false;
        }
        memcpy(k, key, klen);
        k[klen] = '\0';
        json_object_set_new(b->o, k, json_stringn(b->s + vstart + 1, vend - vstart - 2));
        return true;
}

json_t *k8c_json_string_map(const char *s, size_t n)
{
        /* Escapes (never in valid label keys or values) are left to jansson. */
        if (memchr(s, '\\', n) == NULL) {
                struct labels_build b = { .s = s, .o = json_object(), .ok = true };
                if (walk_object(s, n, 0, label_member, &b, true) == n && b.ok)
                        return b.o;
                json_decref(b.o);
        }
        return json_loadb(s, n, 0, NULL);
}
