/*
 * names.c - DNS-1123 name validation with Kubernetes' exact messages,
 * generateName suffixes, UUIDv4, RFC3339 timestamps and kubectl's human ages.
 * Pure functions over strings and numbers: no I/O besides getrandom(), no logging.
 */
#include "k8c/names.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "k8c/cleanup.h"

#define DNS1123_LABEL_FMT "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define DNS1123_SUBDOMAIN_FMT DNS1123_LABEL_FMT "(\\." DNS1123_LABEL_FMT ")*"

static const char label_regex_msg[] =
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
        "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
        "validation is '" DNS1123_LABEL_FMT "')";
static const char subdomain_regex_msg[] =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
        "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        "validation is '" DNS1123_SUBDOMAIN_FMT "')";

static bool is_alnum_lower(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Matches [a-z0-9]([-a-z0-9]*[a-z0-9])? on s[0..n). */
static bool label_matches(const char *s, size_t n)
{
        if (n == 0 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum_lower(s[i]) && s[i] != '-')
                        return false;
        return true;
}

static bool subdomain_matches(const char *s)
{
        const char *p = s;
        for (;;) {
                const char *dot = strchr(p, '.');
                size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
                if (!label_matches(p, n))
                        return false;
                if (dot == NULL)
                        return true;
                p = dot + 1;
        }
}

size_t k8c_dns1123_label_errors(const char *s, char *ret_msgs[2])
{
        size_t n = 0;
        if (strlen(s) > 63)
                ret_msgs[n++] = k8c_xstrdup("must be no more than 63 characters");
        if (!label_matches(s, strlen(s))) {
                /* A valid subdomain that is not a label can only be failing because of dots. */
                if (subdomain_matches(s))
                        ret_msgs[n++] = k8c_xstrdup("must not contain dots");
                else
                        ret_msgs[n++] = k8c_xstrdup(label_regex_msg);
        }
        return n;
}

size_t k8c_dns1123_subdomain_errors(const char *s, char *ret_msgs[2])
{
        size_t n = 0;
        if (strlen(s) > 253)
                ret_msgs[n++] = k8c_xstrdup("must be no more than 253 characters");
        if (!subdomain_matches(s))
                ret_msgs[n++] = k8c_xstrdup(subdomain_regex_msg);
        return n;
}

size_t k8c_dns1035_label_errors(const char *s, char *ret_msgs[2])
{
        static const char msg[] =
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                "'abc-123', "
                "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
        size_t n = 0;
        if (strlen(s) > 63)
                ret_msgs[n++] = k8c_xstrdup("must be no more than 63 characters");
        if (!label_matches(s, strlen(s)) || !(s[0] >= 'a' && s[0] <= 'z'))
                ret_msgs[n++] = k8c_xstrdup(msg);
        return n;
}

static bool join_msgs(char *msgs[2], size_t n, char **msg)
{
        if (n == 0)
                return true;
        if (msg != NULL)
                *msg = n == 1 ? k8c_xstrdup(msgs[0]) : k8c_xasprintf("%s, %s", msgs[0], msgs[1]);
        for (size_t i = 0; i < n; i++)
                free(msgs[i]);
        return false;
}

bool k8c_dns1123_label_valid(const char *s, char **msg)
{
        char *msgs[2];
        return join_msgs(msgs, k8c_dns1123_label_errors(s, msgs), msg);
}

bool k8c_dns1123_subdomain_valid(const char *s, char **msg)
{
        char *msgs[2];
        return join_msgs(msgs, k8c_dns1123_subdomain_errors(s, msgs), msg);
}

static void random_bytes(void *buf, size_t n)
{
        unsigned char *p = buf;
        while (n > 0) {
                ssize_t r = getrandom(p, n, 0);
                if (r < 0)
                        abort(); /* getrandom only fails on EINTR before init or ENOSYS; both fatal here */
                p += r;
                n -= (size_t)r;
        }
}

char *k8c_generate_name(const char *base)
{
        /* apiserver's SimpleNameGenerator: maxNameLength 63, randomLength 5, base cut to 58. */
        static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
        size_t blen = strlen(base);
        if (blen > 58)
                blen = 58;
        char *out = k8c_xmalloc(blen + 6);
        memcpy(out, base, blen);
        unsigned char rnd[5];
        random_bytes(rnd, sizeof(rnd));
        for (size_t i = 0; i < 5; i++)
                out[blen + i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
        out[blen + 5] = '\0';
        return out;
}

void k8c_uuid4(char buf[37])
{
        unsigned char b[16];
        random_bytes(b, sizeof(b));
        b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
        b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
        snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void k8c_rfc3339(time_t t, char *buf, size_t bufsz)
{
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, bufsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int digits(const char *s, int n)
{
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

int k8c_rfc3339_parse(const char *s, time_t *ret)
{
        /* YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM) */
        if (s == NULL || strlen(s) < 20)
                return -1;
        int year = digits(s, 4), mon = digits(s + 5, 2), day = digits(s + 8, 2);
        int hour = digits(s + 11, 2), min = digits(s + 14, 2), sec = digits(s + 17, 2);
        if (year < 0 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || min < 0 ||
            min > 59 || sec < 0 || sec > 60)
                return -1;
        if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
            s[16] != ':')
                return -1;
        const char *p = s + 19;
        if (*p == '.') {
                p++;
                if (*p < '0' || *p > '9')
                        return -1;
                while (*p >= '0' && *p <= '9')
                        p++;
        }
        long offset = 0;
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                int oh = digits(p + 1, 2), om = strlen(p) >= 6 ? digits(p + 4, 2) : -1;
                if (oh < 0 || om < 0 || p[3] != ':' || oh > 23 || om > 59)
                        return -1;
                offset = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
                p += 6;
        } else {
                return -1;
        }
        if (*p != '\0')
                return -1;
        struct tm tm = { .tm_year = year - 1900,
                         .tm_mon = mon - 1,
                         .tm_mday = day,
                         .tm_hour = hour,
                         .tm_min = min,
                         .tm_sec = sec };
        time_t t = timegm(&tm);
        if (t == (time_t)-1 && !(year == 1969 && mon == 12 && day == 31))
                return -1;
        *ret = t - offset;
        return 0;
}

void k8c_human_age(long seconds, char *buf, size_t bufsz)
{
        /* Mirrors apimachinery's duration.HumanDuration: ~2-3 significant figures. */
        if (seconds < -1) {
                snprintf(buf, bufsz, "<invalid>");
                return;
        }
        if (seconds < 0) {
                snprintf(buf, bufsz, "0s");
                return;
        }
        if (seconds < 60 * 2) {
                snprintf(buf, bufsz, "%lds", seconds);
                return;
        }
        long minutes = seconds / 60;
        if (minutes < 10) {
                long s = seconds % 60;
                if (s == 0)
                        snprintf(buf, bufsz, "%ldm", minutes);
                else
                        snprintf(buf, bufsz, "%ldm%lds", minutes, s);
                return;
        }
        if (minutes < 60 * 3) {
                snprintf(buf, bufsz, "%ldm", minutes);
                return;
        }
        long hours = seconds / 3600;
        if (hours < 8) {
                long m = minutes % 60;
                if (m == 0)
                        snprintf(buf, bufsz, "%ldh", hours);
                else
                        snprintf(buf, bufsz, "%ldh%ldm", hours, m);
        } else if (hours < 48) {
                snprintf(buf, bufsz, "%ldh", hours);
        } else if (hours < 24 * 8) {
                long h = hours % 24;
                if (h == 0)
                        snprintf(buf, bufsz, "%ldd", hours / 24);
                else
                        snprintf(buf, bufsz, "%ldd%ldh", hours / 24, h);
        } else if (hours < 24 * 365 * 2) {
                snprintf(buf, bufsz, "%ldd", hours / 24);
        } else if (hours < 24 * 365 * 8) {
                long dy = (hours / 24) % 365;
                if (dy == 0)
                        snprintf(buf, bufsz, "%ldy", hours / 24 / 365);
                else
                        snprintf(buf, bufsz, "%ldy%ldd", hours / 24 / 365, dy);
        } else {
                snprintf(buf, bufsz, "%ldy", hours / 24 / 365);
        }
}
