/*
 * flags.h - Kubernetes-style command-line flags (--name=value, --name value,
 * -x value, --bool, --bool=false), table-driven.
 *
 * Parsing fills the variables the table points at and collects positional
 * arguments (flags and positionals may interleave, as with kubectl; "--" ends
 * flag parsing). It never exits: --help and --version are reported through the
 * return value so callers (and tests) decide what to print.
 */
#ifndef K8C_FLAGS_H
#define K8C_FLAGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "k8c/error.h"

typedef enum {
        K8C_FLAG_BOOL,
        K8C_FLAG_STRING,       /* char ** (previous value freed if it was set by a flag) */
        K8C_FLAG_INT,          /* int * */
        K8C_FLAG_INT64,        /* int64_t * */
        K8C_FLAG_DURATION,     /* int64_t * milliseconds; accepts 100ms, 30s, 5m, 1h, 1h30m, bare seconds */
        K8C_FLAG_STRING_ARRAY, /* char *** NULL-terminated; repeated flags append */
} k8c_flag_type_t;

struct k8c_flag {
        const char *name; /* long name without dashes, e.g. "bind-address" */
        char shorthand;   /* single letter or 0 */
        k8c_flag_type_t type;
        void *ptr;
        const char *usage;
        bool *set; /* optional: set to true when the flag appears */
};

enum {
        K8C_FLAGS_OK = 0,
        K8C_FLAGS_HELP = 1,    /* --help / -h was given */
        K8C_FLAGS_VERSION = 2, /* --version was given */
};

struct k8c_flags_result {
        char **args; /* positional arguments, NULL-terminated; owned */
        int nargs;
        char **dash_args; /* arguments after "--", NULL-terminated; owned (may be NULL) */
        int ndash_args;
};

/* Parses argv[1..argc). The table ends with an entry whose name is NULL.
 * --help/-h and --version are always recognised. Returns K8C_FLAGS_OK, _HELP or
 * _VERSION, or a negative K8C_EUSAGE error naming the offending flag. */
int k8c_flags_parse(const struct k8c_flag *flags, int argc, char **argv, struct k8c_flags_result *ret,
                    k8c_error_t *err);
void k8c_flags_result_free(struct k8c_flags_result *r);

/* Prints "Usage: ..." with every flag, its type and usage line, its default. */
void k8c_flags_usage(FILE *out, const char *prog, const char *synopsis, const struct k8c_flag *flags);

/* Parses a Go-style duration ("1h30m", "250ms", "10s") or bare seconds. */
int k8c_parse_duration_ms(const char *s, int64_t *ret_ms, k8c_error_t *err);

/* Common glue for the binaries: parse, handle --help/--version (exit 0) and
 * usage errors (one line to stderr, exit 2). Returns only on success. */
void k8c_flags_parse_or_exit(const struct k8c_flag *flags, int argc, char **argv, const char *prog,
                             const char *synopsis, struct k8c_flags_result *ret);

#define K8C_VERSION "v0.1.0"
#define K8C_KUBE_VERSION_MAJOR "1"
#define K8C_KUBE_VERSION_MINOR "32"

#endif
