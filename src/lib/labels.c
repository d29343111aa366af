/*
 * labels.c - label selectors and label/annotation validation, following
 * apimachinery's labels.Parse, metav1.LabelSelectorAsSelector,
 * validation.IsQualifiedName/IsValidLabelValue and ValidateLabelSelector,
 * including their error wording (callers show these messages to kubectl users).
 *
 * It owns the selector grammar and its canonical string; it must not know about
 * objects or HTTP: callers hand it a labels object and get a yes/no, or a causes
 * array they put into a Status themselves.
 */
#include "k8c/labels.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"

/* ---- small helpers ------------------------------------------------------------ */

/* A growable list of owned strings. */
struct strlist {
        char **v;
        size_t n, cap;
};

static void strlist_push(struct strlist *l, char *s)
{
        if (l->n + 1 >= l->cap) {
                l->cap = l->cap ? l->cap * 2 : 4;
                l->v = k8c_xrealloc(l->v, l->cap * sizeof(char *));
        }
        l->v[l->n++] = s;
        l->v[l->n] = NULL;
}

static void strlist_clear(struct strlist *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        *l = (struct strlist){ 0 };
}

static int cmp_strp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Joins with sep; an empty list gives "". */
static char *strlist_join(const struct strlist *l, const char *sep)
{
        size_t len = 1, seplen = strlen(sep);
        for (size_t i = 0; i < l->n; i++)
                len += strlen(l->v[i]) + (i ? seplen : 0);
        char *out = k8c_xmalloc(len), *p = out;
        for (size_t i = 0; i < l->n; i++) {
                if (i) {
                        memcpy(p, sep, seplen);
                        p += seplen;
                }
                size_t n = strlen(l->v[i]);
                memcpy(p, l->v[i], n);
                p += n;
        }
        *p = '\0';
        return out;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
        unsigned char c = s[0];
        size_t n;
        uint32_t cp;
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf) {
                n = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                cp = c & 0x07;
        } else {
                return 0;
        }
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return n;
}

char *k8c_go_quote(const char *s)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (f == NULL)
                abort();
        fputc('"', f);
        const unsigned char *p = (const unsigned char *)s;
        while (*p) {
                unsigned char c = *p;
                if (c >= 0x80) {
                        size_t n = utf8_len(p);
                        if (n == 0) {
                                fprintf(f, "\\x%02x", c);
                                p++;
                        } else {
                                fwrite(p, 1, n, f);
                                p += n;
                        }
                        continue;
                }
                switch (c) {
                case '"': fputs("\\\"", f); break;
                case '\\': fputs("\\\\", f); break;
                case '\a': fputs("\\a", f); break;
                case '\b': fputs("\\b", f); break;
                case '\f': fputs("\\f", f); break;
                case '\n': fputs("\\n", f); break;
                case '\r': fputs("\\r", f); break;
                case '\t': fputs("\\t", f); break;
                case '\v': fputs("\\v", f); break;
                default:
                        if (c < 0x20 || c == 0x7f)
                                fprintf(f, "\\x%02x", c);
                        else
                                fputc(c, f);
                }
                p++;
        }
        fputc('"', f);
        if (fclose(f) != 0)
                abort();
        return buf;
}

/* Go's strconv.ParseInt(s, 10, 64): optional sign, at least one digit, no overflow. */
static bool parse_int64(const char *s, int64_t *ret)
{
        bool neg = false;
        if (*s == '+' || *s == '-') {
                neg = *s == '-';
                s++;
        }
        if (*s == '\0')
                return false;
        uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return false;
                uint64_t d = (uint64_t)(*s - '0');
                if (v > (limit - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        if (neg)
                *ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
        else
                *ret = (int64_t)v;
        return true;
}

/* ---- validation (apimachinery/pkg/util/validation) ------------------------------ */

#define QNAME_FMT "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define QNAME_ERR                                                                                            \
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "          \
        "alphanumeric character"
#define QNAME_EXAMPLES "(e.g. 'MyName',  or 'my.name',  or '123-abc', "
#define LABEL_VALUE_FMT "(" QNAME_FMT ")?"
#define LABEL_VALUE_ERR                                                                                      \
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and " \
        "must start and end with an alphanumeric character"
#define DNS1123_LABEL_FMT "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define DNS1123_SUBDOMAIN_FMT DNS1123_LABEL_FMT "(\\." DNS1123_LABEL_FMT ")*"
#define DNS1123_SUBDOMAIN_ERR                                                                                \
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "    \
        "and "                                                                                               \
        "must start and end with an alphanumeric character"

#define QNAME_MAX 63
#define LABEL_VALUE_MAX 63
#define DNS1123_SUBDOMAIN_MAX 253
#define ANNOTATIONS_MAX_BYTES (256 * 1024)

static bool is_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$ on s[0..n) */
static bool match_qname(const char *s, size_t n)
{
        if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
                return false;
        for (size_t i = 1; i + 1 < n; i++)
                if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
                        return false;
        return true;
}

/* ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ */
static bool match_dns1123_subdomain(const char *s, size_t n)
{
        size_t start = 0;
        for (size_t i = 0; i <= n; i++) {
                if (i < n && s[i] != '.')
                        continue;
                /* label s[start..i) */
                if (i == start)
                        return false;
                for (size_t j = start; j < i; j++) {
                        char c = s[j];
                        bool lower_alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                        if (!lower_alnum && !(c == '-' && j != start && j != i - 1))
                                return false;
                }
                start = i + 1;
        }
        return true;
}

/* validation.IsQualifiedName: one message per problem. */
static void qualified_name_errors(const char *value, struct strlist *errs)
{
        const char *slash = strchr(value, '/');
        const char *name = value;
        if (slash != NULL && strchr(slash + 1, '/') != NULL) {
                strlist_push(errs, k8c_xstrdup("a qualified name " QNAME_ERR " " QNAME_EXAMPLES
                                               "regex used for validation is '" QNAME_FMT
                                               "') with an optional DNS subdomain prefix and '/' (e.g. "
                                               "'example.com/MyName')"));
                return;
        }
        if (slash != NULL) {
                size_t plen = (size_t)(slash - value);
                name = slash + 1;
                if (plen == 0) {
                        strlist_push(errs, k8c_xstrdup("prefix part must be non-empty"));
                } else {
                        if (plen > DNS1123_SUBDOMAIN_MAX)
                                strlist_push(errs,
                                             k8c_xasprintf("prefix part must be no more than %d characters",
                                                           DNS1123_SUBDOMAIN_MAX));
                        if (!match_dns1123_subdomain(value, plen))
                                strlist_push(errs, k8c_xstrdup("prefix part " DNS1123_SUBDOMAIN_ERR
                                                               " (e.g. 'example.com', regex used for "
                                                               "validation is '" DNS1123_SUBDOMAIN_FMT "')"));
                }
        }
        size_t nlen = strlen(name);
        if (nlen == 0)
                strlist_push(errs, k8c_xstrdup("name part must be non-empty"));
        else if (nlen > QNAME_MAX)
                strlist_push(errs, k8c_xasprintf("name part must be no more than %d characters", QNAME_MAX));
        if (!match_qname(name, nlen))
                strlist_push(errs, k8c_xstrdup("name part " QNAME_ERR " " QNAME_EXAMPLES
                                               "regex used for validation is '" QNAME_FMT "')"));
}

/* validation.IsValidLabelValue */
static void label_value_errors(const char *value, struct strlist *errs)
{
        size_t n = strlen(value);
        if (n > LABEL_VALUE_MAX)
                strlist_push(errs, k8c_xasprintf("must be no more than %d characters", LABEL_VALUE_MAX));
        if (n > 0 && !match_qname(value, n))
                strlist_push(errs, k8c_xstrdup(LABEL_VALUE_ERR
                                               " (e.g. 'MyValue',  or 'my_value',  or '12345', "
                                               "regex used for validation is '" LABEL_VALUE_FMT "')"));
}

static bool report(struct strlist *errs, char **msg)
{
        bool ok = errs->n == 0;
        if (msg != NULL)
                *msg = ok ? NULL : strlist_join(errs, "; ");
        strlist_clear(errs);
        return ok;
}

bool k8c_label_key_valid(const char *key, char **msg)
{
        struct strlist errs = { 0 };
        qualified_name_errors(key, &errs);
        return report(&errs, msg);
}

bool k8c_label_value_valid(const char *value, char **msg)
{
        struct strlist errs = { 0 };
        label_value_errors(value, &errs);
        return report(&errs, msg);
}

/* Appends {reason, message, field} as metav1.StatusCause. */
static void add_cause(json_t *causes, const char *reason, const char *field, const char *message)
{
        if (causes == NULL)
                return;
        json_t *c = json_pack("{s:s, s:s, s:s}", "reason", reason, "message", message, "field", field);
        if (c == NULL || json_array_append_new(causes, c) < 0)
                abort();
}

/* field.Invalid(path, value, detail) with a string value. */
static void add_invalid(json_t *causes, const char *field, const char *value, const char *detail)
{
        cleanup_free char *q = k8c_go_quote(value);
        cleanup_free char *m = k8c_xasprintf("Invalid value: %s: %s", q, detail);
        add_cause(causes, "FieldValueInvalid", field, m);
}

static char *path_child(const char *base, const char *name)
{
        if (base == NULL || *base == '\0')
                return k8c_xstrdup(name);
        return k8c_xasprintf("%s.%s", base, name);
}

static char *path_index(const char *base, size_t i)
{
        return k8c_xasprintf("%s[%zu]", base ? base : "", i);
}

/* Keys of an object, sorted, so messages come out in a stable order. */
static const char **sorted_keys(const json_t *obj, size_t *ret_n)
{
        size_t n = json_object_size(obj), i = 0;
        const char **keys = k8c_xcalloc(n + 1, sizeof(char *));
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)obj, k, v) keys[i++] = k;
        qsort(keys, n, sizeof(char *), cmp_strp);
        *ret_n = n;
        return keys;
}

static int type_error(json_t *causes, const char *field, const json_t *v, const char *detail)
{
        cleanup_free char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        cleanup_free char *m = k8c_xasprintf("Invalid value: %s: %s", txt ? txt : "null", detail);
        add_cause(causes, "FieldValueTypeInvalid", field, m);
        return 1;
}

int k8c_labels_validate(const json_t *labels, const char *field, json_t *causes)
{
        if (labels == NULL || json_is_null(labels))
                return 0;
        if (!json_is_object(labels))
                return type_error(causes, field, labels, "must be an object of strings");
        int nerr = 0;
        size_t n;
        cleanup_free const char **keys = sorted_keys(labels, &n);
        for (size_t i = 0; i < n; i++) {
                struct strlist errs = { 0 };
                qualified_name_errors(keys[i], &errs);
                for (size_t j = 0; j < errs.n; j++, nerr++)
                        add_invalid(causes, field, keys[i], errs.v[j]);
                strlist_clear(&errs);
                const json_t *v = json_object_get(labels, keys[i]);
                if (!json_is_string(v)) {
                        nerr += type_error(causes, field, v, "label values must be strings");
                        continue;
                }
                label_value_errors(json_string_value(v), &errs);
                for (size_t j = 0; j < errs.n; j++, nerr++)
                        add_invalid(causes, field, json_string_value(v), errs.v[j]);
                strlist_clear(&errs);
        }
        return nerr;
}

static void ascii_lower(char *s)
{
        for (; *s; s++)
                if (*s >= 'A' && *s <= 'Z')
                        *s = (char)(*s - 'A' + 'a');
}

int k8c_annotations_validate(const json_t *annotations, const char *field, json_t *causes)
{
        if (annotations == NULL || json_is_null(annotations))
                return 0;
        if (!json_is_object(annotations))
                return type_error(causes, field, annotations, "must be an object of strings");
        int nerr = 0;
        size_t n;
        uint64_t total = 0;
        cleanup_free const char **keys = sorted_keys(annotations, &n);
        for (size_t i = 0; i < n; i++) {
                /* Kubernetes checks the lower-cased key: case does not matter for annotations. */
                cleanup_free char *lower = k8c_xstrdup(keys[i]);
                ascii_lower(lower);
                struct strlist errs = { 0 };
                qualified_name_errors(lower, &errs);
                for (size_t j = 0; j < errs.n; j++, nerr++)
                        add_invalid(causes, field, keys[i], errs.v[j]);
                strlist_clear(&errs);
                const json_t *v = json_object_get(annotations, keys[i]);
                if (!json_is_string(v)) {
                        nerr += type_error(causes, field, v, "annotation values must be strings");
                        continue;
                }
                total += strlen(keys[i]) + json_string_length(v);
        }
        if (total > ANNOTATIONS_MAX_BYTES) {
                cleanup_free char *m =
                        k8c_xasprintf("Too long: must have at most %d bytes", ANNOTATIONS_MAX_BYTES);
                add_cause(causes, "FieldValueTooLong", field, m);
                nerr++;
        }
        return nerr;
}

int k8c_label_selector_validate(const json_t *ls, const char *field, json_t *causes)
{
        if (ls == NULL || json_is_null(ls))
                return 0;
        if (!json_is_object(ls))
                return type_error(causes, field, ls, "must be an object");
        int nerr = 0;
        cleanup_free char *ml_path = path_child(field, "matchLabels");
        nerr += k8c_labels_validate(json_object_get(ls, "matchLabels"), ml_path, causes);

        const json_t *exprs = json_object_get(ls, "matchExpressions");
        if (exprs == NULL || json_is_null(exprs))
                return nerr;
        cleanup_free char *me_path = path_child(field, "matchExpressions");
        if (!json_is_array(exprs))
                return nerr + type_error(causes, me_path, exprs, "must be an array");
        size_t i;
        const json_t *e;
        json_array_foreach(exprs, i, e)
        {
                cleanup_free char *ep = path_index(me_path, i);
                if (!json_is_object(e)) {
                        nerr += type_error(causes, ep, e, "must be an object");
                        continue;
                }
                cleanup_free char *op_path = path_child(ep, "operator");
                cleanup_free char *key_path = path_child(ep, "key");
                cleanup_free char *values_path = path_child(ep, "values");
                const json_t *op = json_object_get(e, "operator");
                const json_t *key = json_object_get(e, "key");
                const json_t *values = json_object_get(e, "values");
                if (values != NULL && !json_is_null(values) && !json_is_array(values)) {
                        nerr += type_error(causes, values_path, values, "must be an array of strings");
                        values = NULL;
                }
                size_t nvalues = values ? json_array_size(values) : 0;
                const char *ops = json_is_string(op) ? json_string_value(op) : NULL;
                if (op != NULL && !json_is_null(op) && ops == NULL) {
                        nerr += type_error(causes, op_path, op, "must be a string");
                } else if (ops != NULL && (strcmp(ops, "In") == 0 || strcmp(ops, "NotIn") == 0)) {
                        if (nvalues == 0) {
                                add_cause(causes, "FieldValueRequired", values_path,
                                          "Required value: must be specified when `operator` is 'In' or "
                                          "'NotIn'");
                                nerr++;
                        }
                } else if (ops != NULL && (strcmp(ops, "Exists") == 0 || strcmp(ops, "DoesNotExist") == 0)) {
                        if (nvalues > 0) {
                                add_cause(causes, "FieldValueForbidden", values_path,
                                          "Forbidden: may not be specified when `operator` is 'Exists' or "
                                          "'DoesNotExist'");
                                nerr++;
                        }
                } else {
                        add_invalid(causes, op_path, ops ? ops : "", "not a valid selector operator");
                        nerr++;
                }
                if (key != NULL && !json_is_null(key) && !json_is_string(key)) {
                        nerr += type_error(causes, key_path, key, "must be a string");
                } else {
                        const char *ks = key ? json_string_value(key) : "";
                        struct strlist errs = { 0 };
                        qualified_name_errors(ks ? ks : "", &errs);
                        for (size_t j = 0; j < errs.n; j++, nerr++)
                                add_invalid(causes, key_path, ks ? ks : "", errs.v[j]);
                        strlist_clear(&errs);
                }
                for (size_t j = 0; j < nvalues; j++) {
                        const json_t *v = json_array_get(values, j);
                        cleanup_free char *vp = path_index(values_path, j);
                        if (!json_is_string(v)) {
                                nerr += type_error(causes, vp, v, "must be a string");
                                continue;
                        }
                        struct strlist errs = { 0 };
                        label_value_errors(json_string_value(v), &errs);
                        for (size_t k = 0; k < errs.n; k++, nerr++)
                                add_invalid(causes, vp, json_string_value(v), errs.v[k]);
                        strlist_clear(&errs);
                }
        }
        return nerr;
}

/* ---- requirements ------------------------------------------------------------------ */

static void req_clear(struct k8c_sel_req *r)
{
        free(r->key);
        k8c_strv_free(r->values);
        *r = (struct k8c_sel_req){ 0 };
}

void k8c_selector_free(struct k8c_selector *sel)
{
        if (sel == NULL)
                return;
        for (size_t i = 0; i < sel->n; i++)
                req_clear(&sel->reqs[i]);
        free(sel->reqs);
        *sel = (struct k8c_selector){ 0 };
}

/* utilerrors.NewAggregate(...).Error(): one message as is, several as "[a, b]", duplicates dropped. */
static char *aggregate(struct strlist *errs)
{
        struct strlist uniq = { 0 };
        for (size_t i = 0; i < errs->n; i++) {
                bool seen = false;
                for (size_t j = 0; j < uniq.n && !seen; j++)
                        seen = strcmp(uniq.v[j], errs->v[i]) == 0;
                if (!seen)
                        strlist_push(&uniq, k8c_xstrdup(errs->v[i]));
        }
        char *out;
        if (uniq.n == 1) {
                out = k8c_xstrdup(uniq.v[0]);
        } else {
                cleanup_free char *joined = strlist_join(&uniq, ", ");
                out = k8c_xasprintf("[%s]", joined);
        }
        strlist_clear(&uniq);
        return out;
}

/* field.Error.Error() for an Invalid string value: "<path>: Invalid value: "v": detail". */
static char *field_invalid(const char *path, const char *value, const char *detail)
{
        cleanup_free char *q = k8c_go_quote(value);
        return k8c_xasprintf("%s: Invalid value: %s: %s", path, q, detail);
}

/* Go's %#v of a []string, as field errors print a bad value list. */
static char *go_string_slice(char **values, size_t n)
{
        if (n == 0)
                return k8c_xstrdup("[]string(nil)");
        struct strlist q = { 0 };
        for (size_t i = 0; i < n; i++)
                strlist_push(&q, k8c_go_quote(values[i]));
        cleanup_free char *j = strlist_join(&q, ", ");
        strlist_clear(&q);
        return k8c_xasprintf("[]string{%s}", j);
}

/* labels.NewRequirement: validates and takes ownership of key and values (a
 * NULL-terminated vector of n strings); on error returns the aggregated message. */
static char *new_requirement(char *key, k8c_sel_op_t op, char **values, size_t n, struct k8c_sel_req *ret)
{
        struct strlist errs = { 0 }, msgs = { 0 };
        qualified_name_errors(key, &msgs);
        if (msgs.n > 0) {
                cleanup_free char *j = strlist_join(&msgs, "; ");
                strlist_push(&errs, field_invalid("key", key, j));
        }
        strlist_clear(&msgs);
        /* The value-count rules cannot fail for what the parser and the (validated)
         * LabelSelector conversion hand in; kept for callers yet to come. */
        const char *count_msg = NULL;
        switch (op) {
        case K8C_SEL_IN:
        case K8C_SEL_NOT_IN:
                if (n == 0)
                        count_msg = "for 'in', 'notin' operators, values set can't be empty";
                break;
        case K8C_SEL_EQUALS:
        case K8C_SEL_NOT_EQUALS:
                if (n != 1)
                        count_msg = "exact-match compatibility requires one single value";
                break;
        case K8C_SEL_EXISTS:
        case K8C_SEL_DOES_NOT_EXIST:
                if (n != 0)
                        count_msg = "values set must be empty for exists and does not exist";
                break;
        case K8C_SEL_GREATER_THAN:
        case K8C_SEL_LESS_THAN:
                if (n != 1) {
                        cleanup_free char *v = go_string_slice(values, n);
                        strlist_push(&errs,
                                     k8c_xasprintf("values: Invalid value: %s: for 'Gt', 'Lt' operators, "
                                                   "exactly one value is required",
                                                   v));
                }
                for (size_t i = 0; i < n; i++) {
                        int64_t dummy;
                        if (!parse_int64(values[i], &dummy)) {
                                cleanup_free char *p = k8c_xasprintf("values[%zu]", i);
                                strlist_push(&errs, field_invalid(p, values[i],
                                                                  "for 'Gt', 'Lt' operators, the "
                                                                  "value must be an integer"));
                        }
                }
                break;
        }
        if (count_msg != NULL) {
                cleanup_free char *v = go_string_slice(values, n);
                strlist_push(&errs, k8c_xasprintf("values: Invalid value: %s: %s", v, count_msg));
        }
        for (size_t i = 0; i < n; i++) {
                label_value_errors(values[i], &msgs);
                if (msgs.n > 0) {
                        cleanup_free char *j = strlist_join(&msgs, "; ");
                        cleanup_free char *p = k8c_xasprintf("values[%zu][%s]", i, key);
                        strlist_push(&errs, field_invalid(p, values[i], j));
                }
                strlist_clear(&msgs);
        }
        if (errs.n > 0) {
                char *m = aggregate(&errs);
                strlist_clear(&errs);
                free(key);
                k8c_strv_free(values);
                return m;
        }
        qsort(values, n, sizeof(char *), cmp_strp);
        *ret = (struct k8c_sel_req){ .key = key, .op = op, .values = values, .nvalues = n };
        return NULL;
}

/* Stable sort by key (Kubernetes sorts with sort.Sort, which keeps the order of
 * equal keys for the short slices selectors are). */
static void sort_reqs(struct k8c_sel_req *reqs, size_t n)
{
        for (size_t i = 1; i < n; i++) {
                struct k8c_sel_req r = reqs[i];
                size_t j = i;
                while (j > 0 && strcmp(reqs[j - 1].key, r.key) > 0) {
                        reqs[j] = reqs[j - 1];
                        j--;
                }
                reqs[j] = r;
        }
}

static void sel_append(struct k8c_selector *sel, size_t *cap, struct k8c_sel_req *r)
{
        if (sel->n == *cap) {
                *cap = *cap ? *cap * 2 : 4;
                sel->reqs = k8c_xrealloc(sel->reqs, *cap * sizeof(*sel->reqs));
        }
        sel->reqs[sel->n++] = *r;
}

/* ---- lexer and parser (labels.Lexer / labels.Parser) --------------------------------- */

enum tok {
        TOK_ERROR,
        TOK_EOS,
        TOK_CLOSEPAR,
        TOK_COMMA,
        TOK_NOT,
        TOK_DOUBLE_EQUALS,
        TOK_EQUALS,
        TOK_GT,
        TOK_IDENT,
        TOK_IN,
        TOK_LT,
        TOK_NOT_EQUALS,
        TOK_NOTIN,
        TOK_OPENPAR,
};

struct item {
        enum tok tok;
        const char *lit; /* points into the input */
        size_t len;
};

static bool is_ws(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
        return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

static enum tok special_token(const char *s, size_t n)
{
        if (n == 2 && s[0] == '=' && s[1] == '=')
                return TOK_DOUBLE_EQUALS;
        if (n == 2 && s[0] == '!' && s[1] == '=')
                return TOK_NOT_EQUALS;
        if (n != 1)
                return TOK_ERROR;
        switch (s[0]) {
        case '=': return TOK_EQUALS;
        case '!': return TOK_NOT;
        case '(': return TOK_OPENPAR;
        case ')': return TOK_CLOSEPAR;
        case ',': return TOK_COMMA;
        case '>': return TOK_GT;
        case '<': return TOK_LT;
        default: return TOK_ERROR;
        }
}

/* Tokenizes all of s; the last item is TOK_EOS. */
static struct item *lex(const char *s, size_t *ret_n)
{
        size_t n = 0, cap = 8, pos = 0;
        struct item *items = k8c_xmalloc(cap * sizeof(*items));
        for (;;) {
                while (is_ws(s[pos]))
                        pos++;
                struct item it = { .tok = TOK_EOS, .lit = s + pos, .len = 0 };
                if (s[pos] == '\0') {
                        /* end */
                } else if (is_special(s[pos])) {
                        /* Longest operator: every special character is a token on its own,
                         * and "==" / "!=" are the only two-character ones. */
                        size_t len = is_special(s[pos + 1]) && special_token(s + pos, 2) != TOK_ERROR ? 2 : 1;
                        it.tok = special_token(s + pos, len);
                        it.len = len;
                        pos += len;
                } else {
                        size_t start = pos;
                        while (s[pos] != '\0' && !is_special(s[pos]) && !is_ws(s[pos]))
                                pos++;
                        it.len = pos - start;
                        it.tok = TOK_IDENT;
                        if (it.len == 2 && memcmp(it.lit, "in", 2) == 0)
                                it.tok = TOK_IN;
                        else if (it.len == 5 && memcmp(it.lit, "notin", 5) == 0)
                                it.tok = TOK_NOTIN;
                }
                if (n == cap) {
                        cap *= 2;
                        items = k8c_xrealloc(items, cap * sizeof(*items));
                }
                items[n++] = it;
                if (it.tok == TOK_EOS)
                        break;
        }
        *ret_n = n;
        return items;
}

struct parser {
        struct item *items;
        size_t n, pos;
};

enum ctx { CTX_KEY_AND_OPERATOR, CTX_VALUES };

static struct item ctx_item(struct item it, enum ctx ctx)
{
        /* In a values position "in" and "notin" are plain identifiers. */
        if (ctx == CTX_VALUES && (it.tok == TOK_IN || it.tok == TOK_NOTIN))
                it.tok = TOK_IDENT;
        return it;
}

static struct item lookahead(struct parser *p, enum ctx ctx)
{
        return ctx_item(p->items[p->pos < p->n ? p->pos : p->n - 1], ctx);
}

static struct item consume(struct parser *p, enum ctx ctx)
{
        struct item it = lookahead(p, ctx);
        if (p->pos < p->n - 1)
                p->pos++;
        return it;
}

static char *found(const struct item *it, const char *expected)
{
        return k8c_xasprintf("found '%.*s'%s", (int)it->len, it->lit, expected);
}

static char *lit_dup(const struct item *it)
{
        return k8c_xstrndup(it->lit, it->len);
}

/* Insert into a sorted set of values. */
static void set_insert(struct strlist *set, const char *s, size_t len)
{
        for (size_t i = 0; i < set->n; i++)
                if (strlen(set->v[i]) == len && memcmp(set->v[i], s, len) == 0)
                        return;
        strlist_push(set, k8c_xstrndup(s, len));
}

static char *parse_identifiers_list(struct parser *p, struct strlist *set)
{
        for (;;) {
                struct item it = consume(p, CTX_VALUES);
                if (it.tok == TOK_IDENT) {
                        set_insert(set, it.lit, it.len);
                        struct item next = lookahead(p, CTX_VALUES);
                        if (next.tok == TOK_COMMA)
                                continue;
                        if (next.tok == TOK_CLOSEPAR)
                                return NULL;
                        return found(&next, ", expected: ',' or ')'");
                } else if (it.tok == TOK_COMMA) {
                        if (set->n == 0)
                                set_insert(set, "", 0); /* "(," */
                        struct item next = lookahead(p, CTX_VALUES);
                        if (next.tok == TOK_CLOSEPAR) {
                                set_insert(set, "", 0); /* ",)" */
                                return NULL;
                        }
                        if (next.tok == TOK_COMMA)
                                set_insert(set, "", 0); /* ",," */
                } else {
                        return found(&it, ", expected: ',', or identifier");
                }
        }
}

static char *parse_values(struct parser *p, struct strlist *set)
{
        struct item it = consume(p, CTX_VALUES);
        if (it.tok != TOK_OPENPAR)
                return found(&it, " expected: '('");
        struct item next = lookahead(p, CTX_VALUES);
        switch (next.tok) {
        case TOK_IDENT:
        case TOK_COMMA: {
                char *e = parse_identifiers_list(p, set);
                if (e != NULL)
                        return e;
                if (consume(p, CTX_VALUES).tok != TOK_CLOSEPAR)
                        return found(&next, ", expected: ')'");
                return NULL;
        }
        case TOK_CLOSEPAR: /* "()" is the empty value */
                consume(p, CTX_VALUES);
                set_insert(set, "", 0);
                return NULL;
        default: return found(&next, ", expected: ',', ')' or identifier");
        }
}

static char *parse_requirement(struct parser *p, struct k8c_sel_req *ret)
{
        /* parseKeyAndInferOperator */
        bool not = false;
        struct item it = consume(p, CTX_VALUES);
        if (it.tok == TOK_NOT) {
                not = true;
                it = consume(p, CTX_VALUES);
        }
        if (it.tok != TOK_IDENT)
                return found(&it, ", expected: identifier");
        cleanup_free char *key = lit_dup(&it);
        char *kmsg = NULL;
        if (!k8c_label_key_valid(key, &kmsg)) {
                cleanup_free char *m = kmsg;
                return field_invalid("<nil>", key, m);
        }
        struct item next = lookahead(p, CTX_VALUES);
        if (not || next.tok == TOK_EOS || next.tok == TOK_COMMA) {
                char **none = k8c_xcalloc(1, sizeof(char *));
                return new_requirement(k8c_steal(&key), not ? K8C_SEL_DOES_NOT_EXIST : K8C_SEL_EXISTS, none,
                                       0, ret);
        }

        /* parseOperator */
        k8c_sel_op_t op;
        it = consume(p, CTX_KEY_AND_OPERATOR);
        switch (it.tok) {
        case TOK_IN: op = K8C_SEL_IN; break;
        case TOK_NOTIN: op = K8C_SEL_NOT_IN; break;
        case TOK_EQUALS:
        case TOK_DOUBLE_EQUALS: op = K8C_SEL_EQUALS; break;
        case TOK_NOT_EQUALS: op = K8C_SEL_NOT_EQUALS; break;
        case TOK_GT: op = K8C_SEL_GREATER_THAN; break;
        case TOK_LT: op = K8C_SEL_LESS_THAN; break;
        default: return found(&it, ", expected: in, notin, =, ==, !=, gt, lt");
        }

        struct strlist set = { 0 };
        char *e = NULL;
        if (op == K8C_SEL_IN || op == K8C_SEL_NOT_IN) {
                e = parse_values(p, &set);
        } else {
                /* parseExactValue: a missing value is the empty value */
                next = lookahead(p, CTX_VALUES);
                if (next.tok == TOK_EOS || next.tok == TOK_COMMA) {
                        set_insert(&set, "", 0);
                } else {
                        it = consume(p, CTX_VALUES);
                        if (it.tok == TOK_IDENT)
                                set_insert(&set, it.lit, it.len);
                        else
                                e = found(&it, ", expected: identifier");
                }
        }
        if (e != NULL) {
                strlist_clear(&set);
                return e;
        }
        if (set.v == NULL)
                set.v = k8c_xcalloc(1, sizeof(char *));
        /* sets.String.List() is sorted */
        qsort(set.v, set.n, sizeof(char *), cmp_strp);
        return new_requirement(k8c_steal(&key), op, set.v, set.n, ret);
}

int k8c_selector_parse(const char *s, struct k8c_selector *ret, k8c_error_t *err)
{
        struct parser p = { 0 };
        p.items = lex(s ? s : "", &p.n);
        cleanup_free struct item *items = p.items;
        struct k8c_selector sel = { 0 };
        size_t cap = 0;
        char *msg = NULL;
        for (;;) {
                struct item it = lookahead(&p, CTX_VALUES);
                if (it.tok == TOK_EOS)
                        break;
                if (it.tok != TOK_IDENT && it.tok != TOK_NOT) {
                        msg = found(&it, ", expected: !, identifier, or 'end of string'");
                        break;
                }
                struct k8c_sel_req r = { 0 };
                char *e = parse_requirement(&p, &r);
                if (e != NULL) {
                        msg = k8c_xasprintf("unable to parse requirement: %s", e);
                        free(e);
                        break;
                }
                sel_append(&sel, &cap, &r);
                struct item t = consume(&p, CTX_VALUES);
                if (t.tok == TOK_EOS)
                        break;
                if (t.tok == TOK_COMMA) {
                        struct item t2 = lookahead(&p, CTX_VALUES);
                        if (t2.tok != TOK_IDENT && t2.tok != TOK_NOT) {
                                msg = found(&t2, ", expected: identifier after ','");
                                break;
                        }
                } else {
                        msg = found(&t, ", expected: ',' or 'end of string'");
                        break;
                }
        }
        if (msg != NULL) {
                cleanup_free char *m = msg;
                k8c_selector_free(&sel);
                return k8c_make_error(err, K8C_EBADREQUEST, "%s", m);
        }
        sort_reqs(sel.reqs, sel.n);
        *ret = sel;
        return 0;
}

/* ---- metav1.LabelSelector -------------------------------------------------------------- */

int k8c_selector_from_json(const json_t *ls, struct k8c_selector *ret, k8c_error_t *err)
{
        if (ls == NULL || json_is_null(ls)) {
                *ret = (struct k8c_selector){ .nothing = true };
                return 0;
        }
        json_auto_t *causes = json_array();
        if (causes == NULL)
                abort();
        if (k8c_label_selector_validate(ls, "", causes) > 0) {
                struct strlist errs = { 0 };
                size_t i;
                json_t *c;
                json_array_foreach(causes, i, c) strlist_push(
                        &errs, k8c_xasprintf("%s: %s", json_string_value(json_object_get(c, "field")),
                                             json_string_value(json_object_get(c, "message"))));
                cleanup_free char *m = aggregate(&errs);
                strlist_clear(&errs);
                return k8c_make_error(err, K8C_EINVALID, "%s", m);
        }
        struct k8c_selector sel = { 0 };
        size_t cap = 0;
        const json_t *ml = json_object_get(ls, "matchLabels");
        if (json_is_object(ml)) {
                const char *k;
                json_t *v;
                json_object_foreach((json_t *)ml, k, v)
                {
                        char **vals = k8c_xcalloc(2, sizeof(char *));
                        vals[0] = k8c_xstrdup(json_string_value(v));
                        struct k8c_sel_req r = { 0 };
                        char *e = new_requirement(k8c_xstrdup(k), K8C_SEL_EQUALS, vals, 1, &r);
                        if (e != NULL) { /* validated above; kept for safety */
                                cleanup_free char *m = e;
                                k8c_selector_free(&sel);
                                return k8c_make_error(err, K8C_EINVALID, "%s", m);
                        }
                        sel_append(&sel, &cap, &r);
                }
        }
        const json_t *exprs = json_object_get(ls, "matchExpressions");
        size_t i;
        const json_t *e;
        json_array_foreach(exprs, i, e)
        {
                const char *ops = json_string_value(json_object_get(e, "operator"));
                k8c_sel_op_t op = strcmp(ops, "In") == 0       ? K8C_SEL_IN
                                  : strcmp(ops, "NotIn") == 0  ? K8C_SEL_NOT_IN
                                  : strcmp(ops, "Exists") == 0 ? K8C_SEL_EXISTS
                                                               : K8C_SEL_DOES_NOT_EXIST;
                const json_t *values = json_object_get(e, "values");
                size_t nv = json_is_array(values) ? json_array_size(values) : 0;
                char **vals = k8c_xcalloc(nv + 1, sizeof(char *));
                for (size_t j = 0; j < nv; j++)
                        vals[j] = k8c_xstrdup(json_string_value(json_array_get(values, j)));
                const char *key = json_string_value(json_object_get(e, "key"));
                struct k8c_sel_req r = { 0 };
                char *m = new_requirement(k8c_xstrdup(key ? key : ""), op, vals, nv, &r);
                if (m != NULL) {
                        cleanup_free char *mm = m;
                        k8c_selector_free(&sel);
                        return k8c_make_error(err, K8C_EINVALID, "%s", mm);
                }
                sel_append(&sel, &cap, &r);
        }
        sort_reqs(sel.reqs, sel.n);
        *ret = sel;
        return 0;
}

int k8c_selector_from_set(const json_t *set, struct k8c_selector *ret, k8c_error_t *err)
{
        if (set == NULL || json_is_null(set)) {
                *ret = (struct k8c_selector){ 0 };
                return 0;
        }
        if (!json_is_object(set))
                return k8c_make_error(err, K8C_EINVALID, "label set must be an object of strings");
        struct k8c_selector sel = { 0 };
        size_t cap = 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)set, k, v)
        {
                if (!json_is_string(v)) {
                        k8c_selector_free(&sel);
                        return k8c_make_error(err, K8C_EINVALID, "label set value for %s must be a string",
                                              k);
                }
                /* SelectorFromSet does not validate: the object was validated when stored */
                char **vals = k8c_xcalloc(2, sizeof(char *));
                vals[0] = k8c_xstrdup(json_string_value(v));
                struct k8c_sel_req r = {
                        .key = k8c_xstrdup(k), .op = K8C_SEL_EQUALS, .values = vals, .nvalues = 1
                };
                sel_append(&sel, &cap, &r);
        }
        sort_reqs(sel.reqs, sel.n);
        *ret = sel;
        return 0;
}

/* ---- matching and printing -------------------------------------------------------------- */

static bool has_value(const struct k8c_sel_req *r, const char *v)
{
        for (size_t i = 0; i < r->nvalues; i++)
                if (strcmp(r->values[i], v) == 0)
                        return true;
        return false;
}

static bool req_matches(const struct k8c_sel_req *r, const json_t *labels)
{
        const json_t *jv = labels ? json_object_get(labels, r->key) : NULL;
        const char *v = json_is_string(jv) ? json_string_value(jv) : NULL;
        switch (r->op) {
        case K8C_SEL_EQUALS:
        case K8C_SEL_IN: return v != NULL && has_value(r, v);
        case K8C_SEL_NOT_EQUALS:
        case K8C_SEL_NOT_IN: return v == NULL || !has_value(r, v);
        case K8C_SEL_EXISTS: return v != NULL;
        case K8C_SEL_DOES_NOT_EXIST: return v == NULL;
        case K8C_SEL_GREATER_THAN:
        case K8C_SEL_LESS_THAN: {
                int64_t have, want;
                if (v == NULL || r->nvalues != 1 || !parse_int64(v, &have) ||
                    !parse_int64(r->values[0], &want))
                        return false;
                return r->op == K8C_SEL_GREATER_THAN ? have > want : have < want;
        }
        }
        return false;
}

bool k8c_selector_matches(const struct k8c_selector *sel, const json_t *labels)
{
        if (sel->nothing)
                return false;
        for (size_t i = 0; i < sel->n; i++)
                if (!req_matches(&sel->reqs[i], labels))
                        return false;
        return true;
}

bool k8c_selector_empty(const struct k8c_selector *sel)
{
        return !sel->nothing && sel->n == 0;
}

bool k8c_selector_requires_exact_match(const struct k8c_selector *sel, const char *key,
                                       const char **ret_value)
{
        for (size_t i = 0; i < sel->n; i++) {
                const struct k8c_sel_req *r = &sel->reqs[i];
                if (strcmp(r->key, key) != 0)
                        continue;
                if ((r->op == K8C_SEL_EQUALS || r->op == K8C_SEL_IN) && r->nvalues == 1) {
                        if (ret_value != NULL)
                                *ret_value = r->values[0];
                        return true;
                }
                return false;
        }
        return false;
}

char *k8c_selector_string(const struct k8c_selector *sel)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (f == NULL)
                abort();
        for (size_t i = 0; !sel->nothing && i < sel->n; i++) {
                const struct k8c_sel_req *r = &sel->reqs[i];
                if (i > 0)
                        fputc(',', f);
                if (r->op == K8C_SEL_DOES_NOT_EXIST)
                        fputc('!', f);
                fputs(r->key, f);
                const char *op = NULL;
                switch (r->op) {
                case K8C_SEL_EQUALS: op = "="; break;
                case K8C_SEL_NOT_EQUALS: op = "!="; break;
                case K8C_SEL_IN: op = " in ("; break;
                case K8C_SEL_NOT_IN: op = " notin ("; break;
                case K8C_SEL_GREATER_THAN: op = ">"; break;
                case K8C_SEL_LESS_THAN: op = "<"; break;
                case K8C_SEL_EXISTS:
                case K8C_SEL_DOES_NOT_EXIST: continue;
                }
                fputs(op, f);
                /* values are kept sorted, which is the order Kubernetes prints them in */
                for (size_t j = 0; j < r->nvalues; j++) {
                        if (j > 0)
                                fputc(',', f);
                        fputs(r->values[j], f);
                }
                if (r->op == K8C_SEL_IN || r->op == K8C_SEL_NOT_IN)
                        fputc(')', f);
        }
        if (fclose(f) != 0)
                abort();
        return buf;
}
