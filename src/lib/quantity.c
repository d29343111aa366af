/*
 * quantity.c - Kubernetes resource quantities (apimachinery/pkg/api/resource):
 * parsing with the same scanner, suffix table and error messages, an exact
 * value in integer milli-units (sub-milli amounts round up, away from zero, as
 * Kubernetes' MilliValue does), and the canonical text form of
 * Quantity.CanonicalizeBytes for the remembered suffix family.
 *
 * It must not compute in floating point: quantities are exact or rejected (the one
 * double is a JSON number jansson already holds, turned back into its text).
 * Differences from Kubernetes, all deliberate: precision stops at the milli-unit
 * (Kubernetes keeps nano: "100u" prints there as "100u", here as "1m");
 * magnitudes beyond int64 milli-units (about 9.2e15) are errors instead of being
 * capped or kept in a big decimal; and the text form is always canonical
 * (Kubernetes echoes a parsed string such as "+1" or "1E3" back verbatim when it
 * is canonical apart from the sign or exponent letter).
 */
#include "k8c/quantity.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"

#define ERR_FORMAT                                                                                           \
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
#define ERR_NUMERIC "unable to parse numeric part of quantity"
#define ERR_SUFFIX "unable to parse quantity's suffix"
#define ERR_TOO_LARGE "quantity too large"

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* The pieces parseQuantityString finds. Pointers point into the input. */
struct scan {
        bool negative;
        const char *num; /* integer digits without leading zeros; may be empty (= "0") */
        size_t num_len;
        const char *denom; /* fraction digits */
        size_t denom_len;
        bool any_digit; /* whether the numeric part holds a digit at all */
        const char *suffix;
};

/* A transcription of Kubernetes' parseQuantityString: the numeric part is lenient
 * ("+", ".", "1." are numbers), the suffix is any run of suffix letters, an
 * optional sign and digits; anything after that is a format error. */
static bool scan_quantity(const char *s, struct scan *sc)
{
        size_t end = strlen(s), pos = 0;
        *sc = (struct scan){ .num = "", .denom = "", .suffix = "" };
        if (end > 0 && (s[0] == '-' || s[0] == '+')) {
                sc->negative = s[0] == '-';
                pos++;
        }
        while (pos < end && s[pos] == '0') {
                sc->any_digit = true;
                pos++;
        }
        if (pos >= end) {
                sc->any_digit = true; /* only a sign and zeros: Kubernetes reads the number "0" */
                return true;
        }
        size_t start = pos;
        while (pos < end && is_digit(s[pos]))
                pos++;
        sc->num = s + start;
        sc->num_len = pos - start;
        if (sc->num_len > 0)
                sc->any_digit = true;
        if (pos < end && s[pos] == '.') {
                pos++;
                start = pos;
                while (pos < end && is_digit(s[pos]))
                        pos++;
                sc->denom = s + start;
                sc->denom_len = pos - start;
                if (sc->denom_len > 0)
                        sc->any_digit = true;
        }
        sc->suffix = s + pos;
        while (pos < end && strchr("eEinumkKMGTP", s[pos]) != NULL)
                pos++;
        if (pos < end && (s[pos] == '-' || s[pos] == '+'))
                pos++;
        while (pos < end && is_digit(s[pos]))
                pos++;
        return pos >= end;
}

/* Go's strconv.ParseInt(s, 10, 64). */
static bool parse_exponent(const char *s, int64_t *ret)
{
        bool neg = false;
        if (*s == '+' || *s == '-')
                neg = *s++ == '-';
        if (*s == '\0')
                return false;
        uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (; *s; s++) {
                if (!is_digit(*s))
                        return false;
                uint64_t d = (uint64_t)(*s - '0');
                if (v > (limit - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *ret = neg ? (int64_t)(0 - v) : (int64_t)v;
        return true;
}

/* quantitySuffixer.interpret: base 10 or 2, the exponent, and the format. */
static bool interpret_suffix(const char *s, int *ret_base, int64_t *ret_exp, k8c_quantity_format_t *ret_fmt)
{
        static const struct {
                const char *s;
                int base, exp;
        } table[] = {
                { "", 10, 0 },   { "n", 10, -9 }, { "u", 10, -6 }, { "m", 10, -3 },
                { "k", 10, 3 },  { "M", 10, 6 },  { "G", 10, 9 },  { "T", 10, 12 },
                { "P", 10, 15 }, { "E", 10, 18 }, { "Ki", 2, 10 }, { "Mi", 2, 20 },
                { "Gi", 2, 30 }, { "Ti", 2, 40 }, { "Pi", 2, 50 }, { "Ei", 2, 60 },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(table); i++) {
                if (strcmp(s, table[i].s) == 0) {
                        *ret_base = table[i].base;
                        *ret_exp = table[i].exp;
                        *ret_fmt = table[i].base == 2 ? K8C_QUANTITY_BINARY_SI : K8C_QUANTITY_DECIMAL_SI;
                        return true;
                }
        }
        if (strlen(s) > 1 && (s[0] == 'e' || s[0] == 'E') && parse_exponent(s + 1, ret_exp)) {
                *ret_base = 10;
                *ret_fmt = K8C_QUANTITY_DECIMAL_EXPONENT;
                return true;
        }
        return false;
}

/* Multiplies the decimal digit string d (length *n) by 2 in place; d must have room
 * for one more digit. */
static void digits_double(char *d, size_t *n)
{
        int carry = 0;
        for (size_t i = *n; i-- > 0;) {
                int v = (d[i] - '0') * 2 + carry;
                d[i] = (char)('0' + v % 10);
                carry = v / 10;
        }
        if (carry) {
                memmove(d + 1, d, *n);
                d[0] = (char)('0' + carry);
                (*n)++;
        }
}

int k8c_quantity_parse(const char *s, k8c_quantity_t *ret, k8c_error_t *err)
{
        if (s == NULL || *s == '\0')
                return k8c_make_error(err, K8C_EINVALID, ERR_FORMAT);
        struct scan sc;
        if (!scan_quantity(s, &sc))
                return k8c_make_error(err, K8C_EINVALID, ERR_FORMAT);
        int base;
        int64_t exp;
        k8c_quantity_format_t fmt;
        if (!interpret_suffix(sc.suffix, &base, &exp, &fmt))
                return k8c_make_error(err, K8C_EINVALID, ERR_SUFFIX);

        /* Kubernetes only rejects a digit-less number ("-.", "+") on its big-decimal
         * path, which it takes for exponents below nano and for Pi/Ei. */
        if (!sc.any_digit && ((base == 10 && exp < -9) || (base == 2 && exp >= 50)))
                return k8c_make_error(err, K8C_EINVALID, ERR_NUMERIC);

        /* The digits of num.denom × 2^binexp as one decimal string, and the power of
         * ten that turns it into milli-units. */
        size_t cap = sc.num_len + sc.denom_len + 32;
        cleanup_free char *d = k8c_xmalloc(cap);
        size_t n = 0;
        memcpy(d, sc.num, sc.num_len);
        memcpy(d + sc.num_len, sc.denom, sc.denom_len);
        n = sc.num_len + sc.denom_len;
        size_t lead = 0;
        while (lead < n && d[lead] == '0')
                lead++;
        memmove(d, d + lead, n - lead);
        n -= lead;
        int64_t milli = 0;
        if (n > 0) {
                __int128 shift = (__int128)(base == 10 ? exp : 0) - (__int128)sc.denom_len + 3;
                if (base == 2) {
                        /* 2^60 adds at most 19 digits */
                        for (int64_t i = 0; i < exp; i++)
                                digits_double(d, &n);
                }
                __int128 int_digits = (__int128)n + shift;
                if (int_digits > 19)
                        return k8c_make_error(err, K8C_EINVALID, ERR_TOO_LARGE);
                uint64_t v = 0;
                bool frac = false;
                if (int_digits > 0) {
                        size_t take = int_digits < (__int128)n ? (size_t)int_digits : n;
                        for (size_t i = 0; i < take; i++)
                                v = v * 10 + (uint64_t)(d[i] - '0');
                        for (__int128 i = take; i < int_digits; i++)
                                v *= 10; /* ≤ 19 digits: fits in uint64 */
                        for (size_t i = take; i < n && !frac; i++)
                                frac = d[i] != '0';
                } else {
                        frac = true; /* n > 0 digits without leading zeros: some non-zero fraction */
                }
                if (frac)
                        v++; /* round up, away from zero */
                if (v > (uint64_t)INT64_MAX)
                        return k8c_make_error(err, K8C_EINVALID, ERR_TOO_LARGE);
                milli = sc.negative ? -(int64_t)v : (int64_t)v;
        }
        /* A binary quantity between -1 and 1 (exclusive, non-zero) is decimal, as in Kubernetes. */
        if (fmt == K8C_QUANTITY_BINARY_SI && milli != 0 && milli > -1000 && milli < 1000)
                fmt = K8C_QUANTITY_DECIMAL_SI;
        *ret = (k8c_quantity_t){ .milli = milli, .format = fmt };
        return 0;
}

char *k8c_quantity_format(const k8c_quantity_t *q)
{
        if (q->milli == 0)
                return k8c_xstrdup("0");
        bool neg = q->milli < 0;
        uint64_t mag = neg ? (uint64_t)0 - (uint64_t)q->milli : (uint64_t)q->milli;
        k8c_quantity_format_t fmt = q->format;
        if (fmt != K8C_QUANTITY_DECIMAL_SI && fmt != K8C_QUANTITY_BINARY_SI &&
            fmt != K8C_QUANTITY_DECIMAL_EXPONENT)
                fmt = K8C_QUANTITY_DECIMAL_EXPONENT;
        /* Binary below 1024 or with a fraction would need rounding: print it decimal. */
        if (fmt == K8C_QUANTITY_BINARY_SI && (mag < 1024 * 1000 || mag % 1000 != 0))
                fmt = K8C_QUANTITY_DECIMAL_SI;

        if (fmt == K8C_QUANTITY_BINARY_SI) {
                static const char *const bin[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
                uint64_t v = mag / 1000;
                size_t e = 0;
                while (v >= 1024 && v % 1024 == 0 && e + 1 < K8C_ARRAY_SIZE(bin)) {
                        v /= 1024;
                        e++;
                }
                return k8c_xasprintf("%s%" PRIu64 "%s", neg ? "-" : "", v, bin[e]);
        }

        /* AsCanonicalBytes: move factors of ten into the exponent, then back down to a
         * multiple of three. The result never exceeds the starting magnitude. */
        uint64_t m = mag;
        int exp = -3;
        while (m >= 10 && m % 10 == 0) {
                m /= 10;
                exp++;
        }
        switch (((exp % 3) + 3) % 3) {
        case 1:
                m *= 10;
                exp -= 1;
                break;
        case 2:
                m *= 100;
                exp -= 2;
                break;
        }
        if (fmt == K8C_QUANTITY_DECIMAL_EXPONENT) {
                if (exp == 0)
                        return k8c_xasprintf("%s%" PRIu64, neg ? "-" : "", m);
                return k8c_xasprintf("%s%" PRIu64 "e%d", neg ? "-" : "", m, exp);
        }
        static const char *const dec[] = { "m", "", "k", "M", "G", "T", "P", "E" };
        return k8c_xasprintf("%s%" PRIu64 "%s", neg ? "-" : "", m, dec[(exp + 3) / 3]);
}

int k8c_quantity_cmp(const k8c_quantity_t *a, const k8c_quantity_t *b)
{
        return a->milli < b->milli ? -1 : a->milli > b->milli ? 1 : 0;
}

int64_t k8c_quantity_value(const k8c_quantity_t *q)
{
        /* Kubernetes' Value() rounds away from zero. */
        int64_t whole = q->milli / 1000, rem = q->milli % 1000;
        if (rem > 0)
                whole++;
        else if (rem < 0)
                whole--;
        return whole;
}

int k8c_quantity_from_json(const json_t *v, k8c_quantity_t *ret, k8c_error_t *err)
{
        if (v == NULL || json_is_null(v)) {
                *ret = (k8c_quantity_t){ .milli = 0, .format = K8C_QUANTITY_DECIMAL_SI };
                return 0;
        }
        if (json_is_string(v)) {
                /* Kubernetes trims surrounding whitespace of the JSON string. */
                const char *s = json_string_value(v);
                size_t n = json_string_length(v);
                if (memchr(s, '\0', n) != NULL)
                        return k8c_make_error(err, K8C_EINVALID, ERR_FORMAT);
                while (n > 0 && strchr(" \t\n\v\f\r", s[n - 1]) != NULL)
                        n--;
                while (n > 0 && strchr(" \t\n\v\f\r", s[0]) != NULL) {
                        s++;
                        n--;
                }
                cleanup_free char *t = k8c_xstrndup(s, n);
                return k8c_quantity_parse(t, ret, err);
        }
        if (json_is_integer(v)) {
                cleanup_free char *t = k8c_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return k8c_quantity_parse(t, ret, err);
        }
        if (json_is_real(v)) {
                /* jansson keeps a double, not the text: use the shortest text that reads
                 * back as the same double, which is what the manifest said (0.1, 2.5). */
                double d = json_real_value(v);
                char buf[64];
                if (d > -1e15 && d < 1e15 && d == (double)(int64_t)d) {
                        /* 2.0 or 1000.0: a whole number, read as decimal SI like "1000" */
                        snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)d);
                } else {
                        for (int prec = 1; prec <= 17; prec++) {
                                snprintf(buf, sizeof(buf), "%.*g", prec, d);
                                if (strtod(buf, NULL) == d)
                                        break;
                        }
                }
                return k8c_quantity_parse(buf, ret, err);
        }
        return k8c_make_error(err, K8C_EINVALID, ERR_FORMAT);
}

int k8c_quantity_add(k8c_quantity_t *q, const k8c_quantity_t *y, k8c_error_t *err)
{
        int64_t r;
        if (__builtin_add_overflow(q->milli, y->milli, &r))
                return k8c_make_error(err, K8C_EINVALID, ERR_TOO_LARGE);
        if (q->milli == 0)
                q->format = y->format;
        q->milli = r;
        return 0;
}

int k8c_quantity_sub(k8c_quantity_t *q, const k8c_quantity_t *y, k8c_error_t *err)
{
        int64_t r;
        if (__builtin_sub_overflow(q->milli, y->milli, &r))
                return k8c_make_error(err, K8C_EINVALID, ERR_TOO_LARGE);
        if (q->milli == 0)
                q->format = y->format;
        q->milli = r;
        return 0;
}
