/*
 * fields.c - field selectors as apimachinery's fields.ParseSelector reads them
 * ("metadata.name=x,status.phase!=Running", backslash escapes in values) and
 * their matching against a JSON object by dotted path, an absent field being "".
 *
 * It owns the grammar and the canonical text; which fields a resource supports is
 * the caller's business (k8c_field_selector_allowed), and it must not depend on
 * json.c: path lookup uses jansson directly.
 */
#include "k8c/fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"

/* Length of a valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
        unsigned char c = s[0];
        size_t n;
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4;
        else
                return 0;
        for (size_t i = 1; i < n; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
            (c == 0xf4 && s[1] > 0x8f))
                return 0;
        return n;
}

/* fields.UnescapeValue. On error returns NULL and sets *ret_msg. */
static char *unescape_value(const char *s, char **ret_msg)
{
        size_t n = strlen(s);
        char *out = k8c_xmalloc(n + 1), *o = out;
        bool in_slash = false;
        for (const char *p = s; *p;) {
                char c = *p;
                if (in_slash) {
                        if (c == '\\' || c == ',' || c == '=') {
                                *o++ = c;
                                p++;
                                in_slash = false;
                                continue;
                        }
                        /* Go prints the offending rune; an invalid byte is U+FFFD there */
                        size_t len = utf8_len((const unsigned char *)p);
                        if (len == 0)
                                *ret_msg = k8c_xstrdup(
                                        "invalid field selector: invalid escape sequence: \\\xef\xbf\xbd");
                        else
                                *ret_msg = k8c_xasprintf(
                                        "invalid field selector: invalid escape sequence: \\%.*s", (int)len,
                                        p);
                        free(out);
                        return NULL;
                }
                if (c == '\\') {
                        in_slash = true;
                } else if (c == ',' || c == '=') {
                        /* Go formats the rune with %v: its code point */
                        *ret_msg =
                                k8c_xasprintf("invalid field selector: unescaped character in value: %d", c);
                        free(out);
                        return NULL;
                } else {
                        *o++ = c;
                }
                p++;
        }
        if (in_slash) {
                *ret_msg = k8c_xstrdup("invalid field selector: invalid escape sequence: \\");
                free(out);
                return NULL;
        }
        *o = '\0';
        return out;
}

/* fields.EscapeValue */
static void escape_value(FILE *f, const char *v)
{
        for (; *v; v++) {
                if (*v == '\\' || *v == ',' || *v == '=')
                        fputc('\\', f);
                fputc(*v, f);
        }
}

static char *req_string(const struct k8c_field_req *r)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (f == NULL)
                abort();
        fputs(r->field, f);
        fputs(r->not_equals ? "!=" : "=", f);
        escape_value(f, r->value);
        if (fclose(f) != 0)
                abort();
        return buf;
}

struct keyed {
        struct k8c_field_req req;
        char *text;
};

static int cmp_keyed(const void *a, const void *b)
{
        return strcmp(((const struct keyed *)a)->text, ((const struct keyed *)b)->text);
}

void k8c_field_selector_free(struct k8c_field_selector *sel)
{
        if (sel == NULL)
                return;
        for (size_t i = 0; i < sel->n; i++) {
                free(sel->reqs[i].field);
                free(sel->reqs[i].value);
        }
        free(sel->reqs);
        *sel = (struct k8c_field_selector){ 0 };
}

static int cmp_strp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int k8c_field_selector_parse(const char *s, struct k8c_field_selector *ret, k8c_error_t *err)
{
        if (s == NULL)
                s = "";
        size_t len = strlen(s);

        /* splitTerms: commas not preceded by a backslash separate terms; empty terms
         * are skipped. Kubernetes then sorts the raw terms and reports the first bad
         * one in that order. */
        cleanup_strv char **parts = k8c_xcalloc(len / 2 + 2, sizeof(char *));
        size_t nparts = 0, start = 0;
        bool in_slash = false;
        for (size_t i = 0; i <= len; i++) {
                if (i < len) {
                        if (in_slash) {
                                in_slash = false;
                                continue;
                        }
                        if (s[i] == '\\') {
                                in_slash = true;
                                continue;
                        }
                        if (s[i] != ',')
                                continue;
                }
                if (i > start)
                        parts[nparts++] = k8c_xstrndup(s + start, i - start);
                start = i + 1;
        }
        qsort(parts, nparts, sizeof(char *), cmp_strp);

        struct keyed *terms = k8c_xcalloc(nparts + 1, sizeof(*terms));
        size_t nterms = 0;
        char *msg = NULL;
        for (size_t i = 0; i < nparts && msg == NULL; i++) {
                const char *part = parts[i];
                /* splitTerm: the first operator, "!=" before "==" before "=" */
                const char *op = NULL;
                size_t oplen = 0;
                for (const char *p = part; *p && op == NULL; p++) {
                        if (strncmp(p, "!=", 2) == 0 || strncmp(p, "==", 2) == 0)
                                op = p, oplen = 2;
                        else if (*p == '=')
                                op = p, oplen = 1;
                }
                if (op == NULL) {
                        msg = k8c_xasprintf("invalid selector: '%s'; can't understand '%s'", s, part);
                        break;
                }
                char *value = unescape_value(op + oplen, &msg);
                if (value == NULL)
                        break;
                size_t flen = (size_t)(op - part);
                if (flen == 0 && *value == '\0') {
                        free(value); /* "=" selects everything: dropped */
                        continue;
                }
                struct keyed *k = &terms[nterms++];
                k->req.field = k8c_xstrndup(part, flen);
                k->req.not_equals = op[0] == '!';
                k->req.value = value;
                k->text = req_string(&k->req);
        }
        struct k8c_field_selector sel = { 0 };
        if (msg == NULL) {
                /* Sorting the canonical terms gives Kubernetes' order for canonical input
                 * and makes the printed form a fixed point ("a==x" prints as "a=x"). */
                qsort(terms, nterms, sizeof(*terms), cmp_keyed);
                sel.reqs = k8c_xcalloc(nterms, sizeof(*sel.reqs));
                for (size_t i = 0; i < nterms; i++)
                        sel.reqs[i] = terms[i].req;
                sel.n = nterms;
        } else {
                for (size_t i = 0; i < nterms; i++) {
                        free(terms[i].req.field);
                        free(terms[i].req.value);
                }
        }
        for (size_t i = 0; i < nterms; i++)
                free(terms[i].text);
        free(terms);
        if (msg != NULL) {
                cleanup_free char *m = msg;
                return k8c_make_error(err, K8C_EBADREQUEST, "%s", m);
        }
        *ret = sel;
        return 0;
}

char *k8c_field_value(const json_t *obj, const char *path)
{
        const json_t *cur = obj;
        const char *p = path;
        for (;;) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t)(dot - p) : strlen(p);
                cleanup_free char *seg = k8c_xstrndup(p, n);
                cur = json_is_object(cur) ? json_object_get(cur, seg) : NULL;
                if (cur == NULL || dot == NULL)
                        break;
                p = dot + 1;
        }
        if (cur == NULL || json_is_null(cur))
                return k8c_xstrdup("");
        if (json_is_string(cur))
                return k8c_xstrndup(json_string_value(cur), json_string_length(cur));
        char *txt = json_dumps(cur, JSON_ENCODE_ANY | JSON_COMPACT);
        if (txt == NULL)
                abort();
        return txt;
}

bool k8c_field_selector_matches(const struct k8c_field_selector *sel, const json_t *obj)
{
        for (size_t i = 0; i < sel->n; i++) {
                cleanup_free char *v = k8c_field_value(obj, sel->reqs[i].field);
                bool eq = strcmp(v, sel->reqs[i].value) == 0;
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
                for (size_t j = 0; allowed != NULL && allowed[j] != NULL && !ok; j++)
                        ok = strcmp(allowed[j], sel->reqs[i].field) == 0;
                if (!ok) {
                        if (bad_field != NULL)
                                *bad_field = sel->reqs[i].field;
                        return false;
                }
        }
        return true;
}

bool k8c_field_selector_empty(const struct k8c_field_selector *sel)
{
        return sel->n == 0;
}

bool k8c_field_selector_requires_exact_match(const struct k8c_field_selector *sel, const char *field,
                                             const char **ret_value)
{
        for (size_t i = 0; i < sel->n; i++) {
                if (!sel->reqs[i].not_equals && strcmp(sel->reqs[i].field, field) == 0) {
                        if (ret_value != NULL)
                                *ret_value = sel->reqs[i].value;
                        return true;
                }
        }
        return false;
}

char *k8c_field_selector_string(const struct k8c_field_selector *sel)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (f == NULL)
                abort();
        for (size_t i = 0; i < sel->n; i++) {
                cleanup_free char *t = req_string(&sel->reqs[i]);
                if (i > 0)
                        fputc(',', f);
                fputs(t, f);
        }
        if (fclose(f) != 0)
                abort();
        return buf;
}
