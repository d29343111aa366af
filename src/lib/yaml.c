/*
 * yaml.c - YAML to JSON and JSON to YAML over libyaml, with the semantics
 * Kubernetes gets from sigs.k8s.io/yaml on top of go-yaml v2 (YAML 1.1):
 * plain scalars are typed (80 -> number, yes/on -> true, ~ -> null, 0x1F,
 * 017, 1_000, 1e3), quoted and block scalars stay strings, non-string keys
 * become strings, anchors/aliases and merge keys (<<) are expanded.
 *
 * libyaml does all lexing, parsing and emitting; this file only builds a
 * small node tree from parser events (so aliases can be resolved and errors
 * point at the right node) and types scalars. It must not hand-parse YAML
 * syntax, and it logs nothing.
 */
#include "k8c/yaml.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "k8c/cleanup.h"
#include "k8c/json.h"

/* Nesting limit: deeper documents are rejected before any recursion. */
#define YAML_MAX_DEPTH 1000

/* go-yaml v2.4 alias expansion limits (billion laughs protection). */
#define ALIAS_RATIO_RANGE_LOW 400000.0
#define ALIAS_RATIO_RANGE_HIGH 4000000.0

#define TAG_PREFIX "tag:yaml.org,2002:"

/* ---- errors --------------------------------------------------------------- */

static int __attribute__((format(printf, 3, 4)))
yerr_at(k8c_error_t *err, yaml_mark_t m, const char *fmt, ...)
{
        cleanup_free char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        /* libyaml marks are 0-based; people count from 1. */
        return k8c_make_error(err, K8C_EBADREQUEST, "yaml: line %zu, column %zu: %s", m.line + 1,
                              m.column + 1, msg);
}

/* Reader errors (bad UTF-8, control characters) carry only a byte offset. */
static yaml_mark_t mark_from_offset(const char *buf, size_t len, size_t offset)
{
        yaml_mark_t m = { .index = offset };
        size_t start = 0;
        for (size_t i = 0; i < offset && i < len; i++) {
                if (buf[i] == '\n') {
                        m.line++;
                        start = i + 1;
                }
        }
        m.column = offset - start;
        return m;
}

static int parser_error(yaml_parser_t *p, const char *buf, size_t len, k8c_error_t *err)
{
        if (p->error == YAML_MEMORY_ERROR)
                abort(); /* as everywhere in k8c: OOM is not recoverable */
        const char *problem = p->problem != NULL ? p->problem : "unknown problem parsing YAML content";
        if (p->error == YAML_READER_ERROR) {
                yaml_mark_t m = mark_from_offset(buf, len, p->problem_offset);
                if (p->problem_value != -1)
                        return yerr_at(err, m, "%s: #%X", problem, (unsigned)p->problem_value);
                return yerr_at(err, m, "%s", problem);
        }
        if (p->context != NULL && p->context_mark.index == p->problem_mark.index)
                return yerr_at(err, p->problem_mark, "%s (%s)", problem, p->context);
        if (p->context != NULL)
                return yerr_at(err, p->problem_mark, "%s (%s at line %zu, column %zu)", problem, p->context,
                               p->context_mark.line + 1, p->context_mark.column + 1);
        return yerr_at(err, p->problem_mark, "%s", problem);
}

/* ---- node tree built from events ------------------------------------------- */

enum ykind { Y_SCALAR, Y_SEQ, Y_MAP, Y_ALIAS };

struct ynode {
        enum ykind kind;
        yaml_mark_t mark;
        char *tag;   /* NULL when the node has no explicit tag */
        char *value; /* scalar text, or the anchor name of an alias */
        size_t len;
        bool plain_implicit; /* plain scalar without tag: subject to typing */
        struct ynode **kids; /* sequence items; mapping keys and values interleaved */
        size_t n, cap;
        struct ynode *target; /* alias */
        bool visiting;        /* being converted: an alias to it is a cycle */
};

struct anchor {
        char *name;
        struct ynode *node;
};

struct doc {
        struct ynode **all; /* every node of the document, freed together */
        size_t n, cap;
        struct anchor *anchors;
        size_t nanchors, capanchors;
};

static struct ynode *doc_node(struct doc *d, enum ykind kind, yaml_mark_t mark)
{
        if (d->n == d->cap) {
                d->cap = d->cap ? d->cap * 2 : 64;
                d->all = k8c_xrealloc(d->all, d->cap * sizeof(*d->all));
        }
        struct ynode *node = k8c_xcalloc(1, sizeof(*node));
        node->kind = kind;
        node->mark = mark;
        d->all[d->n++] = node;
        return node;
}

static void doc_clear(struct doc *d)
{
        for (size_t i = 0; i < d->n; i++) {
                free(d->all[i]->tag);
                free(d->all[i]->value);
                free(d->all[i]->kids);
                free(d->all[i]);
        }
        for (size_t i = 0; i < d->nanchors; i++)
                free(d->anchors[i].name);
        free(d->all);
        free(d->anchors);
        memset(d, 0, sizeof(*d));
}

static void doc_anchor(struct doc *d, const yaml_char_t *name, struct ynode *node)
{
        if (name == NULL)
                return;
        if (d->nanchors == d->capanchors) {
                d->capanchors = d->capanchors ? d->capanchors * 2 : 8;
                d->anchors = k8c_xrealloc(d->anchors, d->capanchors * sizeof(*d->anchors));
        }
        d->anchors[d->nanchors++] = (struct anchor){ k8c_xstrdup((const char *)name), node };
}

/* The most recent definition wins, as YAML (and go-yaml) specify. */
static struct ynode *doc_lookup(struct doc *d, const char *name)
{
        for (size_t i = d->nanchors; i > 0; i--)
                if (strcmp(d->anchors[i - 1].name, name) == 0)
                        return d->anchors[i - 1].node;
        return NULL;
}

static void node_add(struct ynode *parent, struct ynode *kid)
{
        if (parent->n == parent->cap) {
                parent->cap = parent->cap ? parent->cap * 2 : 8;
                parent->kids = k8c_xrealloc(parent->kids, parent->cap * sizeof(*parent->kids));
        }
        parent->kids[parent->n++] = kid;
}

/* ---- scalar typing (go-yaml v2 resolve) -------------------------------------- */

enum rkind { R_NULL, R_BOOL, R_INT, R_UINT, R_FLOAT, R_STR };

struct resolved {
        enum rkind kind;
        bool b;
        int64_t i;
        uint64_t u;
        double f;
};

static const struct {
        const char *s;
        enum rkind kind;
        int v; /* bool value, or sign of an infinity, or 0 for NaN */
} resolve_table[] = {
        { "y", R_BOOL, 1 },       { "Y", R_BOOL, 1 },       { "yes", R_BOOL, 1 },     { "Yes", R_BOOL, 1 },
        { "YES", R_BOOL, 1 },     { "true", R_BOOL, 1 },    { "True", R_BOOL, 1 },    { "TRUE", R_BOOL, 1 },
        { "on", R_BOOL, 1 },      { "On", R_BOOL, 1 },      { "ON", R_BOOL, 1 },      { "n", R_BOOL, 0 },
        { "N", R_BOOL, 0 },       { "no", R_BOOL, 0 },      { "No", R_BOOL, 0 },      { "NO", R_BOOL, 0 },
        { "false", R_BOOL, 0 },   { "False", R_BOOL, 0 },   { "FALSE", R_BOOL, 0 },   { "off", R_BOOL, 0 },
        { "Off", R_BOOL, 0 },     { "OFF", R_BOOL, 0 },     { "", R_NULL, 0 },        { "~", R_NULL, 0 },
        { "null", R_NULL, 0 },    { "Null", R_NULL, 0 },    { "NULL", R_NULL, 0 },    { ".nan", R_FLOAT, 0 },
        { ".NaN", R_FLOAT, 0 },   { ".NAN", R_FLOAT, 0 },   { ".inf", R_FLOAT, 1 },   { ".Inf", R_FLOAT, 1 },
        { ".INF", R_FLOAT, 1 },   { "+.inf", R_FLOAT, 1 },  { "+.Inf", R_FLOAT, 1 },  { "+.INF", R_FLOAT, 1 },
        { "-.inf", R_FLOAT, -1 }, { "-.Inf", R_FLOAT, -1 }, { "-.INF", R_FLOAT, -1 },
};

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* Go's strconv.ParseUint(s, 0, 64) on a string without sign or underscores:
 * 0x/0o/0b prefixes, a leading 0 means octal. Returns false on syntax or range error. */
static bool go_parse_uint0(const char *s, uint64_t *ret)
{
        int base = 10;
        if (*s == '\0')
                return false;
        if (s[0] == '0') {
                size_t l = strlen(s);
                char c1 = (char)(s[1] | 0x20);
                if (l >= 3 && c1 == 'b') {
                        base = 2;
                        s += 2;
                } else if (l >= 3 && c1 == 'o') {
                        base = 8;
                        s += 2;
                } else if (l >= 3 && c1 == 'x') {
                        base = 16;
                        s += 2;
                } else {
                        base = 8;
                        s += 1;
                }
        }
        uint64_t n = 0;
        for (; *s != '\0'; s++) {
                int d;
                char c = *s;
                if (is_digit(c))
                        d = c - '0';
                else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
                        d = (c | 0x20) - 'a' + 10;
                else
                        return false;
                if (d >= base)
                        return false;
                if (n > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
                        return false;
                n = n * (uint64_t)base + (uint64_t)d;
        }
        *ret = n;
        return true;
}

/* Go's strconv.ParseInt(s, 0, 64). */
static bool go_parse_int0(const char *s, int64_t *ret)
{
        bool neg = false;
        if (*s == '+' || *s == '-') {
                neg = *s == '-';
                s++;
        }
        uint64_t u;
        if (!go_parse_uint0(s, &u))
                return false;
        if (!neg && u > (uint64_t)INT64_MAX)
                return false;
        if (neg && u > (uint64_t)INT64_MAX + 1)
                return false;
        *ret = neg ? (int64_t)(0 - u) : (int64_t)u;
        return true;
}

/* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ (go-yaml's yamlStyleFloat) */
static bool yaml_style_float(const char *s)
{
        if (*s == '+' || *s == '-')
                s++;
        if (*s == '.') {
                s++;
                if (!is_digit(*s))
                        return false;
                while (is_digit(*s))
                        s++;
        } else {
                if (!is_digit(*s))
                        return false;
                while (is_digit(*s))
                        s++;
                if (*s == '.') {
                        s++;
                        while (is_digit(*s))
                                s++;
                }
        }
        if (*s == 'e' || *s == 'E') {
                s++;
                if (*s == '+' || *s == '-')
                        s++;
                if (!is_digit(*s))
                        return false;
                while (is_digit(*s))
                        s++;
        }
        return *s == '\0';
}

/* strtod for text already known to be decimal float syntax. Go's ParseFloat
 * fails on overflow (the scalar then stays a string) but accepts underflow. */
static bool parse_float(const char *s, double *ret)
{
        errno = 0;
        double d = strtod(s, NULL);
        if (isinf(d))
                return false;
        *ret = d;
        return true;
}

/* Go's underscoreOK for a decimal number: each '_' sits between digits. */
static bool underscores_ok(const char *s)
{
        char saw = '^';
        if (*s == '+' || *s == '-')
                s++;
        for (; *s != '\0'; s++) {
                if (is_digit(*s)) {
                        saw = '0';
                        continue;
                }
                if (*s == '_') {
                        if (saw != '0')
                                return false;
                        saw = '_';
                        continue;
                }
                if (saw == '_')
                        return false;
                saw = '!';
        }
        return saw != '_';
}

static char *strip_underscores(const char *s)
{
        char *out = k8c_xstrdup(s);
        char *w = out;
        for (const char *r = s; *r != '\0'; r++)
                if (*r != '_')
                        *w++ = *r;
        *w = '\0';
        return out;
}

/* Types an untagged plain scalar exactly as go-yaml v2 does. Timestamps are
 * left out: go-yaml returns them as strings when decoding into interface{}. */
static void resolve_plain(const char *s, size_t len, struct resolved *r)
{
        memset(r, 0, sizeof(*r));
        r->kind = R_STR;
        if (strlen(s) != len) /* embedded NUL: only possible in tagged quoted text */
                return;
        char hint = 'N';
        if (len > 0) {
                char c = s[0];
                if (c == '+' || c == '-')
                        hint = 'S';
                else if (is_digit(c))
                        hint = 'D';
                else if (strchr("yYnNtTfFoO~", c) != NULL)
                        hint = 'M';
                else if (c == '.')
                        hint = '.';
                else
                        return;
        }
        for (size_t i = 0; i < K8C_ARRAY_SIZE(resolve_table); i++) {
                if (strcmp(resolve_table[i].s, s) != 0)
                        continue;
                r->kind = resolve_table[i].kind;
                r->b = resolve_table[i].v != 0;
                if (r->kind == R_FLOAT)
                        r->f = resolve_table[i].v == 0 ? NAN : resolve_table[i].v * INFINITY;
                return;
        }
        if (hint == '.') {
                if (!underscores_ok(s))
                        return;
                cleanup_free char *plain = strip_underscores(s);
                if (yaml_style_float(plain) && parse_float(plain, &r->f))
                        r->kind = R_FLOAT;
                return;
        }
        if (hint != 'D' && hint != 'S')
                return;
        cleanup_free char *plain = strip_underscores(s);
        const char *digits = plain[0] == '+' || plain[0] == '-' ? plain + 1 : plain;
        if (*digits == '+' || *digits == '-')
                return;
        if (go_parse_int0(plain, &r->i)) {
                r->kind = R_INT;
                return;
        }
        if (plain[0] != '+' && plain[0] != '-' && go_parse_uint0(plain, &r->u)) {
                r->kind = R_UINT;
                return;
        }
        if (yaml_style_float(plain) && parse_float(plain, &r->f)) {
                r->kind = R_FLOAT;
                return;
        }
}

/* Shortest %e digits that read back as d (as float when f32). */
static int shortest_digits(double d, bool f32)
{
        char tmp[48];
        int max = f32 ? 9 : 17;
        for (int p = 1; p < max; p++) {
                snprintf(tmp, sizeof(tmp), "%.*e", p - 1, d);
                if (f32 ? strtof(tmp, NULL) == (float)d : strtod(tmp, NULL) == d)
                        return p;
        }
        return max;
}

/* strconv.FormatFloat(d, 'g', -1, f32 ? 32 : 64), with go-yaml's names for
 * the non-finite values. */
static char *go_format_float(double d, bool f32)
{
        if (isnan(d))
                return k8c_xstrdup(".nan");
        if (isinf(d))
                return k8c_xstrdup(d > 0 ? ".inf" : "-.inf");
        if (f32) {
                /* float32(d) in Go overflows to an infinity; in C it is undefined */
                if (fabs(d) > FLT_MAX)
                        return k8c_xstrdup(d > 0 ? ".inf" : "-.inf");
                d = (float)d;
        }
        if (d == 0)
                return k8c_xstrdup(signbit(d) ? "-0" : "0");
        int p = shortest_digits(d, f32);
        char e[64];
        snprintf(e, sizeof(e), "%.*e", p - 1, d);
        const char *ep = strchr(e, 'e');
        int exp = ep != NULL ? atoi(ep + 1) : 0;
        /* Go: exponent form when exp < -4 || exp >= 6 for shortest formatting */
        if (exp < -4 || exp >= 6)
                return k8c_xstrdup(e);
        int decimals = p - 1 - exp;
        return k8c_xasprintf("%.*f", decimals > 0 ? decimals : 0, d);
}

/* ---- conversion to JSON ------------------------------------------------------- */

struct conv {
        double decode_count;
        double alias_count;
        int alias_depth;
        k8c_error_t *err;
};

static double allowed_alias_ratio(double decode_count)
{
        if (decode_count <= ALIAS_RATIO_RANGE_LOW)
                return 0.99;
        if (decode_count >= ALIAS_RATIO_RANGE_HIGH)
                return 0.10;
        return 0.99 - 0.89 * ((decode_count - ALIAS_RATIO_RANGE_LOW) /
                              (ALIAS_RATIO_RANGE_HIGH - ALIAS_RATIO_RANGE_LOW));
}

static const char *short_tag(const char *tag)
{
        static __thread char buf[128];
        if (tag != NULL && strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0) {
                snprintf(buf, sizeof(buf), "!!%s", tag + strlen(TAG_PREFIX));
                return buf;
        }
        return tag;
}

static const char *rkind_tag(enum rkind k)
{
        switch (k) {
        case R_NULL: return "!!null";
        case R_BOOL: return "!!bool";
        case R_INT:
        case R_UINT: return "!!int";
        case R_FLOAT: return "!!float";
        case R_STR: break;
        }
        return "!!str";
}

/* Types a scalar node: untagged plain scalars by resolve_plain, untagged
 * quoted/block scalars are strings, tagged ones must match their tag. */
static int resolve_scalar(struct ynode *n, struct resolved *r, k8c_error_t *err)
{
        memset(r, 0, sizeof(*r));
        r->kind = R_STR;
        if (n->tag == NULL) {
                if (n->plain_implicit)
                        resolve_plain(n->value, n->len, r);
                return 0;
        }
        const char *t = short_tag(n->tag);
        enum rkind want;
        if (strcmp(t, "!!null") == 0)
                want = R_NULL;
        else if (strcmp(t, "!!bool") == 0)
                want = R_BOOL;
        else if (strcmp(t, "!!int") == 0)
                want = R_INT;
        else if (strcmp(t, "!!float") == 0)
                want = R_FLOAT;
        else
                return 0; /* !!str, !!binary, !!timestamp, local tags: the text itself */
        resolve_plain(n->value, n->len, r);
        if (r->kind == want || (want == R_INT && r->kind == R_UINT))
                return 0;
        if (want == R_FLOAT && r->kind == R_INT) {
                r->kind = R_FLOAT;
                r->f = (double)r->i;
                return 0;
        }
        if (want == R_FLOAT && r->kind == R_UINT) {
                r->kind = R_FLOAT;
                r->f = (double)r->u;
                return 0;
        }
        return yerr_at(err, n->mark, "cannot decode %s `%s` as a %s", rkind_tag(r->kind), n->value,
                       rkind_tag(want));
}

static int scalar_to_json(struct ynode *n, json_t **ret, k8c_error_t *err)
{
        struct resolved r;
        int ret_r = resolve_scalar(n, &r, err);
        if (ret_r < 0)
                return ret_r;
        switch (r.kind) {
        case R_NULL: *ret = json_null(); return 0;
        case R_BOOL: *ret = json_boolean(r.b); return 0;
        case R_INT: *ret = json_integer(r.i); return 0;
        case R_UINT:
                /* jansson integers are int64: larger values become reals. */
                *ret = json_real((double)r.u);
                return 0;
        case R_FLOAT:
                if (!isfinite(r.f))
                        return yerr_at(err, n->mark, "unsupported value: %s (JSON has no %s)",
                                       isnan(r.f) ? "NaN"
                                       : r.f > 0  ? "+Inf"
                                                  : "-Inf",
                                       isnan(r.f) ? "NaN" : "infinities");
                /* Go's json.Marshal prints integral floats without a fraction
                 * (1e3 -> 1000), which every reader then takes as an integer. */
                if (r.f == trunc(r.f) && r.f >= -9223372036854775808.0 && r.f < 9223372036854775808.0) {
                        *ret = json_integer((json_int_t)r.f);
                        return 0;
                }
                *ret = json_real(r.f);
                return 0;
        case R_STR: break;
        }
        json_t *s = json_stringn(n->value, n->len);
        if (s == NULL) /* libyaml validates UTF-8, so this is not expected */
                return yerr_at(err, n->mark, "invalid UTF-8 in scalar");
        *ret = s;
        return 0;
}

static int convert(struct conv *c, struct ynode *n, int depth, json_t **ret);

static struct ynode *deref(struct ynode *n)
{
        return n->kind == Y_ALIAS ? n->target : n;
}

/* The key of a mapping entry as a string (sigs.k8s.io/yaml rules). */
static int key_string(struct ynode *k, char **ret, k8c_error_t *err)
{
        struct ynode *n = deref(k);
        if (n->kind != Y_SCALAR)
                return yerr_at(err, k->mark, "invalid map key: a %s cannot be a key",
                               n->kind == Y_MAP ? "mapping" : "sequence");
        struct resolved r;
        int rr = resolve_scalar(n, &r, err);
        if (rr < 0)
                return rr;
        switch (r.kind) {
        case R_NULL: return yerr_at(err, k->mark, "unsupported map key: null");
        case R_BOOL: *ret = k8c_xstrdup(r.b ? "true" : "false"); return 0;
        case R_INT: *ret = k8c_xasprintf("%" PRId64, r.i); return 0;
        case R_UINT: *ret = k8c_xasprintf("%" PRIu64, r.u); return 0;
        case R_FLOAT: *ret = go_format_float(r.f, true); return 0;
        case R_STR: break;
        }
        if (strlen(n->value) != n->len)
                return yerr_at(err, k->mark, "unsupported map key: contains a NUL character");
        *ret = k8c_xstrdup(n->value);
        return 0;
}

static bool is_merge_key(struct ynode *k)
{
        return k->kind == Y_SCALAR && strcmp(k->value, "<<") == 0 &&
               (k->plain_implicit || (k->tag != NULL && strcmp(k->tag, TAG_PREFIX "merge") == 0));
}

static void object_update(json_t *dst, json_t *src)
{
        const char *key;
        json_t *v;
        json_object_foreach(src, key, v) json_object_set(dst, key, v);
}

/* go-yaml v2 merge: a mapping, an alias of one, or a sequence of those
 * (earlier entries win). Merged keys overwrite keys set before the <<. */
static int merge_into(struct conv *c, json_t *obj, struct ynode *v, int depth)
{
        struct ynode **items = &v;
        size_t n = 1;
        if (v->kind == Y_SEQ) {
                items = v->kids;
                n = v->n;
        }
        for (size_t i = n; i > 0; i--) {
                struct ynode *item = items[i - 1];
                if (deref(item)->kind != Y_MAP)
                        return yerr_at(c->err, item->mark,
                                       "map merge requires map or sequence of maps as the value");
                json_auto_t *src = NULL;
                int r = convert(c, item, depth + 1, &src);
                if (r < 0)
                        return r;
                object_update(obj, src);
        }
        return 0;
}

static int convert(struct conv *c, struct ynode *n, int depth, json_t **ret)
{
        int r;
        c->decode_count++;
        if (c->alias_depth > 0)
                c->alias_count++;
        if (c->alias_count > 100 && c->decode_count > 1000 &&
            c->alias_count / c->decode_count > allowed_alias_ratio(c->decode_count))
                return yerr_at(c->err, n->mark, "document contains excessive aliasing");
        if (depth > YAML_MAX_DEPTH)
                return yerr_at(c->err, n->mark, "exceeded max depth of %d", YAML_MAX_DEPTH);

        switch (n->kind) {
        case Y_SCALAR: return scalar_to_json(n, ret, c->err);
        case Y_ALIAS:
                if (n->target->visiting)
                        return yerr_at(c->err, n->mark, "anchor '%s' value contains itself", n->value);
                c->alias_depth++;
                r = convert(c, n->target, depth, ret);
                c->alias_depth--;
                return r;
        case Y_SEQ: {
                json_auto_t *arr = json_array();
                n->visiting = true;
                for (size_t i = 0; i < n->n; i++) {
                        json_t *item = NULL;
                        r = convert(c, n->kids[i], depth + 1, &item);
                        if (r < 0) {
                                n->visiting = false;
                                return r;
                        }
                        json_array_append_new(arr, item);
                }
                n->visiting = false;
                *ret = k8c_steal(&arr);
                return 0;
        }
        case Y_MAP: {
                json_auto_t *obj = json_object();
                n->visiting = true;
                r = 0;
                for (size_t i = 0; i + 1 < n->n && r >= 0; i += 2) {
                        struct ynode *k = n->kids[i], *v = n->kids[i + 1];
                        if (is_merge_key(k)) {
                                r = merge_into(c, obj, v, depth);
                                continue;
                        }
                        cleanup_free char *key = NULL;
                        r = key_string(k, &key, c->err);
                        if (r < 0)
                                break;
                        json_t *val = NULL;
                        r = convert(c, v, depth + 1, &val);
                        if (r < 0)
                                break;
                        /* Duplicate keys: the last one wins (go-yaml v2, non-strict). */
                        json_object_set_new(obj, key, val);
                }
                n->visiting = false;
                if (r < 0)
                        return r;
                *ret = k8c_steal(&obj);
                return 0;
        }
        }
        return yerr_at(c->err, n->mark, "unknown node");
}

static bool is_empty_document(const struct ynode *root)
{
        return root == NULL ||
               (root->kind == Y_SCALAR && root->tag == NULL && root->plain_implicit && root->len == 0);
}

static char *dup_tag(const yaml_char_t *tag)
{
        return tag != NULL ? k8c_xstrdup((const char *)tag) : NULL;
}

int k8c_yaml_to_json_docs(const char *buf, size_t len, json_t **ret_array, k8c_error_t *err)
{
        yaml_parser_t parser;
        struct doc d = { 0 };
        struct ynode *stack[YAML_MAX_DEPTH + 1];
        size_t depth = 0;
        struct ynode *root = NULL;
        json_auto_t *docs = json_array();
        bool done = false;
        int r = 0;

        if (!yaml_parser_initialize(&parser))
                abort();
        yaml_parser_set_input_string(&parser, (const unsigned char *)(buf != NULL ? buf : ""),
                                     buf != NULL ? len : 0);
        while (!done && r >= 0) {
                yaml_event_t ev;
                if (!yaml_parser_parse(&parser, &ev)) {
                        r = parser_error(&parser, buf, len, err);
                        break;
                }
                struct ynode *node = NULL;
                bool push = false;
                switch (ev.type) {
                case YAML_STREAM_END_EVENT: done = true; break;
                case YAML_DOCUMENT_START_EVENT:
                        doc_clear(&d);
                        root = NULL;
                        depth = 0;
                        break;
                case YAML_DOCUMENT_END_EVENT:
                        if (!is_empty_document(root)) {
                                struct conv c = { .err = err };
                                json_t *v = NULL;
                                r = convert(&c, root, 0, &v);
                                if (r >= 0)
                                        json_array_append_new(docs, v);
                        }
                        doc_clear(&d);
                        root = NULL;
                        break;
                case YAML_SCALAR_EVENT:
                        node = doc_node(&d, Y_SCALAR, ev.start_mark);
                        node->tag = dup_tag(ev.data.scalar.tag);
                        node->value = k8c_xmalloc(ev.data.scalar.length + 1);
                        memcpy(node->value, ev.data.scalar.value, ev.data.scalar.length);
                        node->value[ev.data.scalar.length] = '\0';
                        node->len = ev.data.scalar.length;
                        node->plain_implicit = ev.data.scalar.plain_implicit && ev.data.scalar.tag == NULL;
                        doc_anchor(&d, ev.data.scalar.anchor, node);
                        break;
                case YAML_SEQUENCE_START_EVENT:
                        node = doc_node(&d, Y_SEQ, ev.start_mark);
                        node->tag = dup_tag(ev.data.sequence_start.tag);
                        doc_anchor(&d, ev.data.sequence_start.anchor, node);
                        push = true;
                        break;
                case YAML_MAPPING_START_EVENT:
                        node = doc_node(&d, Y_MAP, ev.start_mark);
                        node->tag = dup_tag(ev.data.mapping_start.tag);
                        doc_anchor(&d, ev.data.mapping_start.anchor, node);
                        push = true;
                        break;
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        if (depth > 0)
                                depth--;
                        break;
                case YAML_ALIAS_EVENT: {
                        const char *name = (const char *)ev.data.alias.anchor;
                        struct ynode *target = doc_lookup(&d, name);
                        if (target == NULL) {
                                r = yerr_at(err, ev.start_mark, "unknown anchor '%s' referenced", name);
                                break;
                        }
                        node = doc_node(&d, Y_ALIAS, ev.start_mark);
                        node->value = k8c_xstrdup(name);
                        node->target = target;
                        break;
                }
                default: break;
                }
                if (node != NULL && r >= 0) {
                        if (depth == 0)
                                root = node;
                        else
                                node_add(stack[depth - 1], node);
                        if (push) {
                                if (depth >= YAML_MAX_DEPTH)
                                        r = yerr_at(err, ev.start_mark, "exceeded max depth of %d",
                                                    YAML_MAX_DEPTH);
                                else
                                        stack[depth++] = node;
                        }
                }
                yaml_event_delete(&ev);
        }
        doc_clear(&d);
        yaml_parser_delete(&parser);
        if (r < 0)
                return r;
        *ret_array = k8c_steal(&docs);
        return 0;
}

int k8c_yaml_to_json(const char *buf, size_t len, json_t **ret, k8c_error_t *err)
{
        json_auto_t *docs = NULL;
        int r = k8c_yaml_to_json_docs(buf, len, &docs, err);
        if (r < 0)
                return r;
        if (json_array_size(docs) != 1)
                return k8c_make_error(err, K8C_EBADREQUEST, "yaml: expected exactly one document, found %zu",
                                      json_array_size(docs));
        *ret = json_incref(json_array_get(docs, 0));
        return 0;
}

/* ---- JSON to YAML --------------------------------------------------------------- */

struct outbuf {
        char *data;
        size_t len, cap;
};

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
        struct outbuf *o = data;
        if (o->len + size + 1 > o->cap) {
                o->cap = (o->len + size + 1) * 2;
                o->data = k8c_xrealloc(o->data, o->cap);
        }
        memcpy(o->data + o->len, buffer, size);
        o->len += size;
        o->data[o->len] = '\0';
        return 1;
}

/* go-yaml's isBase60Float: ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
 * Such strings are quoted because YAML 1.1 readers take them as numbers. */
static bool is_base60_float(const char *s)
{
        if (*s == '+' || *s == '-')
                s++;
        if (!is_digit(*s))
                return false;
        while (is_digit(*s) || *s == '_')
                s++;
        int groups = 0;
        while (*s == ':') {
                s++;
                if (*s >= '0' && *s <= '5' && is_digit(s[1]))
                        s += 2;
                else if (is_digit(*s))
                        s++;
                else
                        return false;
                groups++;
        }
        if (groups == 0)
                return false;
        if (*s == '.') {
                s++;
                while (is_digit(*s) || *s == '_')
                        s++;
        }
        return *s == '\0';
}

static bool emit_scalar(yaml_emitter_t *e, const char *s, size_t len, yaml_scalar_style_t style)
{
        yaml_event_t ev;
        if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)len, 1, 1, style))
                return false;
        return yaml_emitter_emit(e, &ev) != 0;
}

/* YAML 1.1 timestamps (2006-01-02, 2006-01-02T15:04:05Z, ...): go-yaml v2 resolves these, so
 * kubectl quotes such strings (creationTimestamp: "2026-11-24T15:00:00Z"); so do we. */
static bool looks_like_timestamp(const char *s, size_t len)
{
        size_t i = 0;
        for (; i < 4; i++)
                if (i >= len || !isdigit((unsigned char)s[i]))
                        return false;
        for (int part = 0; part < 2; part++) {
                if (i >= len || s[i] != '-')
                        return false;
                i++;
                size_t d = 0;
                while (i < len && isdigit((unsigned char)s[i]) && d < 2) {
                        i++;
                        d++;
                }
                if (d == 0)
                        return false;
        }
        return i == len || s[i] == 'T' || s[i] == 't' || s[i] == ' ' || s[i] == '\t';
}

static bool emit_string(yaml_emitter_t *e, const char *s, size_t len)
{
        yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
        if (memchr(s, '\n', len) != NULL) {
                style = YAML_LITERAL_SCALAR_STYLE;
        } else {
                struct resolved r;
                resolve_plain(s, len, &r);
                /* Quote what a reader would type as something else, and "<<"
                 * which would read back as a merge key. The emitter itself
                 * switches to quotes for text plain style cannot hold (": ",
                 * leading "- ", "#", ...). */
                if (r.kind != R_STR || is_base60_float(s) || strcmp(s, "<<") == 0 ||
                    looks_like_timestamp(s, len))
                        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        }
        return emit_scalar(e, s, len, style);
}

static bool emit_value(yaml_emitter_t *e, const json_t *v)
{
        yaml_event_t ev;
        char tmp[32];
        switch (json_typeof(v)) {
        case JSON_OBJECT: {
                if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
                    !yaml_emitter_emit(e, &ev))
                        return false;
                const char *key;
                json_t *val;
                json_object_foreach((json_t *)v, key, val)
                {
                        if (!emit_string(e, key, strlen(key)) || !emit_value(e, val))
                                return false;
                }
                return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev);
        }
        case JSON_ARRAY: {
                if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
                    !yaml_emitter_emit(e, &ev))
                        return false;
                size_t i;
                json_t *item;
                json_array_foreach(v, i, item)
                {
                        if (!emit_value(e, item))
                                return false;
                }
                return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev);
        }
        case JSON_STRING: return emit_string(e, json_string_value(v), json_string_length(v));
        case JSON_INTEGER:
                snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return emit_scalar(e, tmp, strlen(tmp), YAML_PLAIN_SCALAR_STYLE);
        case JSON_REAL: {
                cleanup_free char *f = go_format_float(json_real_value(v), false);
                return emit_scalar(e, f, strlen(f), YAML_PLAIN_SCALAR_STYLE);
        }
        case JSON_TRUE: return emit_scalar(e, "true", 4, YAML_PLAIN_SCALAR_STYLE);
        case JSON_FALSE: return emit_scalar(e, "false", 5, YAML_PLAIN_SCALAR_STYLE);
        case JSON_NULL: break;
        }
        return emit_scalar(e, "null", 4, YAML_PLAIN_SCALAR_STYLE);
}

char *k8c_json_to_yaml(const json_t *v)
{
        yaml_emitter_t e;
        yaml_event_t ev;
        struct outbuf o = { 0 };
        json_auto_t *null = NULL;

        if (v == NULL)
                v = null = json_null();
        if (!yaml_emitter_initialize(&e))
                abort();
        yaml_emitter_set_output(&e, write_handler, &o);
        yaml_emitter_set_unicode(&e, 1); /* UTF-8 text as is, like go-yaml */
        yaml_emitter_set_indent(&e, 2);
        bool ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(&e, &ev) &&
                  yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
                  yaml_emitter_emit(&e, &ev) && emit_value(&e, v) &&
                  yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&e, &ev) &&
                  yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&e, &ev) &&
                  yaml_emitter_flush(&e);
        yaml_emitter_delete(&e);
        if (!ok || o.data == NULL) {
                /* Not expected for jansson values (always valid UTF-8). JSON is
                 * valid YAML, so the compact JSON still honours the contract. */
                free(o.data);
                char *j = k8c_json_dumps(v);
                char *s = k8c_xasprintf("%s\n", j);
                free(j);
                return s;
        }
        return o.data;
}
