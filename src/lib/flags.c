/*
 * flags.c - table-driven Kubernetes-style flag parsing. Never exits and never
 * prints except in k8c_flags_parse_or_exit(), the glue for cmd/ binaries.
 */
#include "k8c/flags.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"

static const struct k8c_flag *find_long(const struct k8c_flag *flags, const char *name, size_t len)
{
        for (const struct k8c_flag *f = flags; f->name != NULL; f++)
                if (strlen(f->name) == len && strncmp(f->name, name, len) == 0)
                        return f;
        return NULL;
}

static const struct k8c_flag *find_short(const struct k8c_flag *flags, char c)
{
        for (const struct k8c_flag *f = flags; f->name != NULL; f++)
                if (f->shorthand != 0 && f->shorthand == c)
                        return f;
        return NULL;
}

int k8c_parse_duration_ms(const char *s, int64_t *ret_ms, k8c_error_t *err)
{
        if (s == NULL || *s == '\0')
                return k8c_make_error(err, K8C_EUSAGE, "invalid duration \"\"");
        /* Bare integer: seconds. */
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno == 0 && *end == '\0' && s[0] != '-' && s[0] != '+') {
                if (v > INT64_MAX / 1000)
                        return k8c_make_error(err, K8C_EUSAGE, "invalid duration \"%s\": too large", s);
                *ret_ms = v * 1000;
                return 0;
        }
        const char *p = s;
        double total = 0;
        bool any = false;
        while (*p != '\0') {
                if (!isdigit((unsigned char)*p) && *p != '.')
                        return k8c_make_error(err, K8C_EUSAGE, "invalid duration \"%s\"", s);
                errno = 0;
                double num = strtod(p, &end);
                if (end == p || errno != 0)
                        return k8c_make_error(err, K8C_EUSAGE, "invalid duration \"%s\"", s);
                p = end;
                double mult;
                if (strncmp(p, "ms", 2) == 0) {
                        mult = 1;
                        p += 2;
                } else if (*p == 'h') {
                        mult = 3600000;
                        p++;
                } else if (*p == 'm') {
                        mult = 60000;
                        p++;
                } else if (*p == 's') {
                        mult = 1000;
                        p++;
                } else {
                        return k8c_make_error(err, K8C_EUSAGE,
                                              "invalid duration \"%s\": missing unit (ms, s, m, h)", s);
                }
                total += num * mult;
                any = true;
        }
        if (!any || total > 9.2e18)
                return k8c_make_error(err, K8C_EUSAGE, "invalid duration \"%s\"", s);
        *ret_ms = (int64_t)total;
        return 0;
}

static int parse_bool(const char *v, bool *out)
{
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "t") == 0 || strcmp(v, "True") == 0 ||
            strcmp(v, "TRUE") == 0) {
                *out = true;
                return 0;
        }
        if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "f") == 0 ||
            strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0) {
                *out = false;
                return 0;
        }
        return -1;
}

static void strv_append(char ***strv, int *n, const char *s)
{
        *strv = k8c_xrealloc(*strv, sizeof(char *) * (size_t)(*n + 2));
        (*strv)[(*n)++] = k8c_xstrdup(s);
        (*strv)[*n] = NULL;
}

static int set_value(const struct k8c_flag *f, const char *shown, const char *v, k8c_error_t *err)
{
        char *end = NULL;
        switch (f->type) {
        case K8C_FLAG_BOOL: {
                bool b;
                if (parse_bool(v, &b) < 0)
                        return k8c_make_error(err, K8C_EUSAGE,
                                              "invalid argument \"%s\" for \"%s\" flag: not a boolean", v,
                                              shown);
                *(bool *)f->ptr = b;
                break;
        }
        case K8C_FLAG_STRING:
                /* The previous value may be a static default: only replace, never free. Values
                 * from flags live as long as the process, like argv itself. */
                *(char **)f->ptr = (char *)v;
                break;
        case K8C_FLAG_INT: {
                errno = 0;
                long l = strtol(v, &end, 10);
                if (*v == '\0' || *end != '\0' || errno != 0 || l < INT_MIN || l > INT_MAX)
                        return k8c_make_error(err, K8C_EUSAGE,
                                              "invalid argument \"%s\" for \"%s\" flag: not an integer", v,
                                              shown);
                *(int *)f->ptr = (int)l;
                break;
        }
        case K8C_FLAG_INT64: {
                errno = 0;
                long long l = strtoll(v, &end, 10);
                if (*v == '\0' || *end != '\0' || errno != 0)
                        return k8c_make_error(err, K8C_EUSAGE,
                                              "invalid argument \"%s\" for \"%s\" flag: not an integer", v,
                                              shown);
                *(int64_t *)f->ptr = l;
                break;
        }
        case K8C_FLAG_DURATION: {
                int64_t ms;
                cleanup_error k8c_error_t derr = NULL;
                if (k8c_parse_duration_ms(v, &ms, &derr) < 0)
                        return k8c_make_error(err, K8C_EUSAGE, "invalid argument \"%s\" for \"%s\" flag: %s",
                                              v, shown, k8c_error_msg(&derr));
                *(int64_t *)f->ptr = ms;
                break;
        }
        case K8C_FLAG_STRING_ARRAY: {
                char ***arr = f->ptr;
                int n = (int)k8c_strv_len(*arr);
                strv_append(arr, &n, v);
                break;
        }
        }
        if (f->set != NULL)
                *f->set = true;
        return 0;
}

void k8c_flags_result_free(struct k8c_flags_result *r)
{
        if (r == NULL)
                return;
        k8c_strv_free(r->args);
        k8c_strv_free(r->dash_args);
        r->args = r->dash_args = NULL;
        r->nargs = r->ndash_args = 0;
}

int k8c_flags_parse(const struct k8c_flag *flags, int argc, char **argv, struct k8c_flags_result *ret,
                    k8c_error_t *err)
{
        struct k8c_flags_result res = { 0 };
        int status = K8C_FLAGS_OK;

        res.args = k8c_xcalloc(1, sizeof(char *));
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--") == 0) {
                        res.dash_args = k8c_xcalloc(1, sizeof(char *));
                        for (int j = i + 1; j < argc; j++)
                                strv_append(&res.dash_args, &res.ndash_args, argv[j]);
                        break;
                }
                if (a[0] != '-' || a[1] == '\0') {
                        strv_append(&res.args, &res.nargs, a);
                        continue;
                }
                const struct k8c_flag *f = NULL;
                const char *value = NULL;
                char shown[128];
                if (a[1] == '-') {
                        const char *name = a + 2;
                        const char *eq = strchr(name, '=');
                        size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
                        snprintf(shown, sizeof(shown), "--%.*s", (int)len, name);
                        f = find_long(flags, name, len);
                        if (f == NULL && len == 4 && strncmp(name, "help", 4) == 0) {
                                status = K8C_FLAGS_HELP;
                                continue;
                        }
                        if (f == NULL && len == 7 && strncmp(name, "version", 7) == 0) {
                                if (status == K8C_FLAGS_OK)
                                        status = K8C_FLAGS_VERSION;
                                continue;
                        }
                        if (f == NULL) {
                                k8c_flags_result_free(&res);
                                return k8c_make_error(err, K8C_EUSAGE, "unknown flag: %s", shown);
                        }
                        if (eq != NULL)
                                value = eq + 1;
                } else {
                        snprintf(shown, sizeof(shown), "-%c", a[1]);
                        f = find_short(flags, a[1]);
                        if (f == NULL && a[1] == 'h' && a[2] == '\0') {
                                status = K8C_FLAGS_HELP;
                                continue;
                        }
                        if (f == NULL) {
                                k8c_flags_result_free(&res);
                                return k8c_make_error(err, K8C_EUSAGE, "unknown shorthand flag: '%c' in %s",
                                                      a[1], a);
                        }
                        if (a[2] == '=')
                                value = a + 3;
                        else if (a[2] != '\0')
                                value = a + 2;
                }
                if (value == NULL) {
                        if (f->type == K8C_FLAG_BOOL) {
                                value = "true";
                        } else if (i + 1 < argc) {
                                value = argv[++i];
                        } else {
                                k8c_flags_result_free(&res);
                                return k8c_make_error(err, K8C_EUSAGE, "flag needs an argument: %s", shown);
                        }
                }
                int r = set_value(f, shown, value, err);
                if (r < 0) {
                        k8c_flags_result_free(&res);
                        return r;
                }
        }
        *ret = res;
        return status;
}

static const char *type_name(k8c_flag_type_t t)
{
        switch (t) {
        case K8C_FLAG_BOOL: return "";
        case K8C_FLAG_STRING: return "string";
        case K8C_FLAG_INT: return "int";
        case K8C_FLAG_INT64: return "int";
        case K8C_FLAG_DURATION: return "duration";
        case K8C_FLAG_STRING_ARRAY: return "stringArray";
        }
        return "";
}

static void print_default(FILE *out, const struct k8c_flag *f)
{
        switch (f->type) {
        case K8C_FLAG_BOOL:
                if (*(bool *)f->ptr)
                        fprintf(out, " (default true)");
                break;
        case K8C_FLAG_STRING:
                if (*(char **)f->ptr != NULL && **(char **)f->ptr != '\0')
                        fprintf(out, " (default \"%s\")", *(char **)f->ptr);
                break;
        case K8C_FLAG_INT:
                if (*(int *)f->ptr != 0)
                        fprintf(out, " (default %d)", *(int *)f->ptr);
                break;
        case K8C_FLAG_INT64:
                if (*(int64_t *)f->ptr != 0)
                        fprintf(out, " (default %" PRId64 ")", *(int64_t *)f->ptr);
                break;
        case K8C_FLAG_DURATION: {
                int64_t ms = *(int64_t *)f->ptr;
                if (ms != 0) {
                        if (ms % 1000 == 0)
                                fprintf(out, " (default %" PRId64 "s)", ms / 1000);
                        else
                                fprintf(out, " (default %" PRId64 "ms)", ms);
                }
                break;
        }
        case K8C_FLAG_STRING_ARRAY: break;
        }
}

void k8c_flags_usage(FILE *out, const char *prog, const char *synopsis, const struct k8c_flag *flags)
{
        fprintf(out, "Usage:\n  %s %s\n\nFlags:\n", prog, synopsis != NULL ? synopsis : "[flags]");
        for (const struct k8c_flag *f = flags; f->name != NULL; f++) {
                char left[96];
                if (f->shorthand != 0)
                        snprintf(left, sizeof(left), "  -%c, --%s %s", f->shorthand, f->name,
                                 type_name(f->type));
                else
                        snprintf(left, sizeof(left), "      --%s %s", f->name, type_name(f->type));
                fprintf(out, "%-40s %s", left, f->usage != NULL ? f->usage : "");
                print_default(out, f);
                fputc('\n', out);
        }
        fprintf(out, "%-40s %s\n", "  -h, --help", "help for this command");
        fprintf(out, "%-40s %s\n", "      --version", "print version information and exit");
}

void k8c_flags_parse_or_exit(const struct k8c_flag *flags, int argc, char **argv, const char *prog,
                             const char *synopsis, struct k8c_flags_result *ret)
{
        cleanup_error k8c_error_t err = NULL;
        int r = k8c_flags_parse(flags, argc, argv, ret, &err);
        if (r < 0) {
                fprintf(stderr, "%s: %s (see '%s --help')\n", prog, k8c_error_msg(&err), prog);
                exit(2);
        }
        if (r == K8C_FLAGS_HELP) {
                k8c_flags_usage(stdout, prog, synopsis, flags);
                exit(0);
        }
        if (r == K8C_FLAGS_VERSION) {
                printf("%s version %s (Kubernetes API v%s.%s)\n", prog, K8C_VERSION, K8C_KUBE_VERSION_MAJOR,
                       K8C_KUBE_VERSION_MINOR);
                exit(0);
        }
}
