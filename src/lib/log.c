/*
 * log.c - key=value log lines to stderr (or a chosen FILE). Only daemons'
 * main programs log at info and above; libraries use k8c_logv(4+, ...).
 */
#include "k8c/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int k8c_log_v = 0;
int k8c_log_min_level = K8C_LOG_INFO;

static FILE *log_out;
static const char *log_component;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void k8c_log_set_output(FILE *f)
{
        log_out = f;
}

void k8c_log_set_component(const char *name)
{
        log_component = name;
}

const char *k8c_log_quote(char *buf, size_t bufsz, const char *value)
{
        if (value == NULL)
                value = "";
        if (value[0] != '\0' && strpbrk(value, " \t\"=\n") == NULL) {
                snprintf(buf, bufsz, "%s", value);
                return buf;
        }
        size_t o = 0;
        if (bufsz < 3) {
                if (bufsz > 0)
                        buf[0] = '\0';
                return buf;
        }
        buf[o++] = '"';
        for (const char *p = value; *p != '\0' && o + 3 < bufsz; p++) {
                if (*p == '"' || *p == '\\') {
                        buf[o++] = '\\';
                        buf[o++] = *p;
                } else if (*p == '\n') {
                        buf[o++] = '\\';
                        buf[o++] = 'n';
                } else {
                        buf[o++] = *p;
                }
        }
        buf[o++] = '"';
        buf[o] = '\0';
        return buf;
}

void k8c_log_emit(k8c_log_level_t level, const char *msg, const char *kvfmt, ...)
{
        struct timeval tv;
        struct tm tm;
        char ts[32], qmsg[512];

        gettimeofday(&tv, NULL);
        gmtime_r(&tv.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        FILE *out = log_out != NULL ? log_out : stderr;
        if ((int)level < 0 || level > K8C_LOG_DEBUG)
                level = K8C_LOG_INFO;

        pthread_mutex_lock(&log_lock);
        fprintf(out, "ts=%s.%03dZ level=%s", ts, (int)(tv.tv_usec / 1000), level_names[level]);
        if (log_component != NULL)
                fprintf(out, " component=%s", log_component);
        fprintf(out, " msg=%s", k8c_log_quote(qmsg, sizeof(qmsg), msg));
        if (kvfmt != NULL && kvfmt[0] != '\0') {
                va_list ap;
                va_start(ap, kvfmt);
                fputc(' ', out);
                vfprintf(out, kvfmt, ap);
                va_end(ap);
        }
        fputc('\n', out);
        fflush(out);
        pthread_mutex_unlock(&log_lock);
}
