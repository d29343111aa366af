/*
 * apiserver_harness.c - see apiserver_harness.h. Test support only; no main().
 */
#include "apiserver_harness.h"
#include "k8c/cleanup.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int free_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
                return -1;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(sa);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
                close(fd);
                return -1;
        }
        close(fd);
        return ntohs(sa.sin_port);
}

static char *find_binary(void)
{
        const char *envs[] = { "K8C_ASAN_BINDIR", "K8C_BINDIR" };
        for (size_t i = 0; i < 2; i++) {
                const char *d = getenv(envs[i]);
                if (d == NULL || d[0] == '\0')
                        continue;
                char *p = NULL;
                if (asprintf(&p, "%s/k8c-apiserver", d) < 0)
                        return NULL;
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        const char *fallbacks[] = { "build/asan/bin/k8c-apiserver", "bin/k8c-apiserver" };
        for (size_t i = 0; i < 2; i++)
                if (access(fallbacks[i], X_OK) == 0)
                        return realpath(fallbacks[i], NULL);
        return NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        char **buf = userdata;
        size_t add = size * nmemb, old = *buf != NULL ? strlen(*buf) : 0;
        char *n = realloc(*buf, old + add + 1);
        if (n == NULL)
                return 0;
        memcpy(n + old, ptr, add);
        n[old + add] = '\0';
        *buf = n;
        return add;
}

int k8c_test_http(const struct k8c_test_apiserver *s, const char *method, const char *path,
                  const char *content_type, const char *body, size_t body_len, const char *accept,
                  struct k8c_test_http_reply *ret)
{
        memset(ret, 0, sizeof(*ret));
        CURL *c = curl_easy_init();
        if (c == NULL)
                return -1;
        char *url = NULL;
        if (asprintf(&url, "%s%s", s->url, path) < 0) {
                curl_easy_cleanup(c);
                return -1;
        }
        struct curl_slist *hdrs = NULL;
        char *h = NULL;
        if (content_type != NULL && asprintf(&h, "Content-Type: %s", content_type) >= 0) {
                hdrs = curl_slist_append(hdrs, h);
                free(h);
        }
        if (accept != NULL && asprintf(&h, "Accept: %s", accept) >= 0) {
                hdrs = curl_slist_append(hdrs, h);
                free(h);
        }
        hdrs = curl_slist_append(hdrs, "Expect:");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        if (body != NULL) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        }
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &ret->body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &ret->headers);
        CURLcode rc = curl_easy_perform(c);
        if (rc == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ret->code);
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        free(url);
        if (ret->body == NULL)
                ret->body = strdup("");
        if (ret->headers == NULL)
                ret->headers = strdup("");
        return rc == CURLE_OK ? 0 : -1;
}

void k8c_test_http_reply_free(struct k8c_test_http_reply *r)
{
        free(r->body);
        free(r->headers);
        memset(r, 0, sizeof(*r));
}

static void cleanup_state(struct k8c_test_apiserver *s)
{
        if (s->dir != NULL)
                nftw(s->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(s->dir);
        free(s->url);
        free(s->home);
        free(s->log);
        memset(s, 0, sizeof(*s));
}

/* Starts the binary on s->port with s->dir/data and waits for /readyz. */
static int spawn(struct k8c_test_apiserver *s, const char *const *extra_args)
{
        char *bin = find_binary();
        if (bin == NULL) {
                fprintf(stderr, "harness: k8c-apiserver binary not found\n");
                return -1;
        }
        char portarg[32];
        snprintf(portarg, sizeof(portarg), "--port=%d", s->port);
        char *dataarg = NULL;
        if (asprintf(&dataarg, "--data-dir=%s/data", s->dir) < 0)
                abort();
        const char *argv[32] = { bin, "--bind-address=127.0.0.1", portarg, dataarg };
        size_t n = 4;
        for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && n < 30; i++)
                argv[n++] = extra_args[i];
        argv[n] = NULL;
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid == 0) {
                /* Never outlive the test program, even when it crashes. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                FILE *f = freopen(s->log, "a", stderr);
                (void)f;
                int devnull = open("/dev/null", O_RDONLY);
                dup2(devnull, 0);
                dup2(2, 1);
                execv(bin, (char *const *)argv);
                _exit(127);
        }
        free(bin);
        free(dataarg);
        if (pid < 0)
                return -1;
        s->pid = pid;
        for (int i = 0; i < 200; i++) {
                struct k8c_test_http_reply r;
                int rc = k8c_test_http(s, "GET", "/readyz", NULL, NULL, 0, NULL, &r);
                long code = r.code;
                k8c_test_http_reply_free(&r);
                if (rc == 0 && code == 200)
                        return 0;
                int status;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        s->pid = 0;
                        break;
                }
                struct timespec ts = { 0, 100 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        fprintf(stderr, "harness: k8c-apiserver did not become ready; log %s\n", s->log);
        return -1;
}

int k8c_test_apiserver_start(struct k8c_test_apiserver *s, const char *const *extra_args)
{
        memset(s, 0, sizeof(*s));
        char tmpl[] = "/tmp/k8c-apiserver-test-XXXXXX";
        if (mkdtemp(tmpl) == NULL)
                return -1;
        s->dir = strdup(tmpl);
        if (asprintf(&s->home, "%s/home", s->dir) < 0 || asprintf(&s->log, "%s/apiserver.log", s->dir) < 0)
                abort();
        mkdir(s->home, 0700);
        s->port = free_port();
        if (asprintf(&s->url, "http://127.0.0.1:%d", s->port) < 0)
                abort();
        if (spawn(s, extra_args) < 0) {
                k8c_test_apiserver_stop(s);
                return -1;
        }
        return 0;
}

/* SIGTERM, then SIGKILL after 10 s; returns the wait status (-1 if killed or not running). */
static int terminate(struct k8c_test_apiserver *s)
{
        int status = -1;
        if (s->pid <= 0)
                return -1;
        kill(s->pid, SIGTERM);
        bool done = false;
        for (int i = 0; i < 100; i++) {
                if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
                        done = true;
                        break;
                }
                struct timespec ts = { 0, 100 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        if (!done) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, &status, 0);
                status = -1;
        }
        s->pid = 0;
        return status;
}

int k8c_test_apiserver_restart(struct k8c_test_apiserver *s, const char *const *extra_args)
{
        int status = terminate(s);
        if (!(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0))
                return -1;
        return spawn(s, extra_args);
}

int k8c_test_apiserver_stop(struct k8c_test_apiserver *s)
{
        int status = terminate(s);
        if (s->log != NULL && getenv("K8C_TEST_KEEP_LOG") != NULL) {
                char *cmd = NULL;
                if (asprintf(&cmd, "cat %s >&2", s->log) >= 0 && system(cmd) != 0)
                        fprintf(stderr, "harness: could not show %s\n", s->log);
                free(cmd);
        }
        cleanup_state(s);
        return status;
}

int k8c_test_kubectl(const struct k8c_test_apiserver *s, char **ret_out, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *args = NULL;
        int r = vasprintf(&args, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -1;
        char *cmd = NULL;
        if (asprintf(&cmd, "HOME='%s' KUBECONFIG=/dev/null /usr/bin/kubectl --server %s %s 2>&1", s->home,
                     s->url, args) < 0)
                abort();
        free(args);
        FILE *p = popen(cmd, "r");
        free(cmd);
        if (p == NULL)
                return -1;
        char *out = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&out, &len);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                fwrite(buf, 1, n, mem);
        fclose(mem);
        int status = pclose(p);
        *ret_out = out;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

long long k8c_test_apiserver_revision(const struct k8c_test_apiserver *s)
{
        struct k8c_test_http_reply r;
        long long rev = -1;
        if (k8c_test_http(s, "GET", "/metrics", NULL, NULL, 0, NULL, &r) == 0) {
                const char *p = strstr(r.body, "\nk8c_storage_revision ");
                if (p != NULL)
                        rev = strtoll(p + strlen("\nk8c_storage_revision "), NULL, 10);
        }
        k8c_test_http_reply_free(&r);
        return rev;
}

double k8c_test_cpu_seconds(pid_t pid)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        cleanup_fclose FILE *f = fopen(path, "re");
        if (f == NULL)
                return -1;
        char buf[1024];
        if (fgets(buf, sizeof(buf), f) == NULL)
                return -1;
        const char *p = strrchr(buf, ')');
        unsigned long utime = 0, stime = 0;
        if (p == NULL ||
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
                return -1;
        return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}
