/*
 * etcd_harness.c - starts and stops a private etcd for tests (see
 * etcd_harness.h). Owns the child process and its temp dir; must not touch any
 * other etcd, address or file, and must not define main().
 */
#include "etcd_harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LIVE 16

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct etcd_harness *live[MAX_LIVE];
static bool atexit_registered;

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static long now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

const char *etcd_harness_binary(void)
{
        const char *b = getenv("K8C_ETCD");
        if (b == NULL || b[0] == '\0')
                b = "/usr/bin/etcd";
        return access(b, X_OK) == 0 ? b : NULL;
}

int etcd_harness_free_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -1;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int port = -1;
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &len) == 0)
                port = ntohs(a.sin_port);
        close(fd);
        return port;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        remove(path);
        return 0;
}

static void live_remove(struct etcd_harness *h)
{
        pthread_mutex_lock(&live_lock);
        for (int i = 0; i < MAX_LIVE; i++)
                if (live[i] == h)
                        live[i] = NULL;
        pthread_mutex_unlock(&live_lock);
}

void etcd_harness_stop(struct etcd_harness *h)
{
        if (h == NULL)
                return;
        live_remove(h);
        if (h->pid > 0) {
                kill(h->pid, SIGTERM);
                long deadline = now_ms() + 5000;
                int st;
                pid_t r;
                while ((r = waitpid(h->pid, &st, WNOHANG)) == 0 && now_ms() < deadline)
                        sleep_ms(20);
                if (r == 0) {
                        kill(h->pid, SIGKILL);
                        while (waitpid(h->pid, &st, 0) < 0 && errno == EINTR)
                                ;
                }
                h->pid = 0;
        }
        if (h->tmp_dir != NULL)
                nftw(h->tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(h->tmp_dir);
        free(h->log_path);
        free(h);
}

static void stop_all_at_exit(void)
{
        for (int i = 0; i < MAX_LIVE; i++) {
                pthread_mutex_lock(&live_lock);
                struct etcd_harness *h = live[i];
                pthread_mutex_unlock(&live_lock);
                etcd_harness_stop(h);
        }
}

struct small_body {
        char buf[256];
        size_t len;
};

/* Keeps the first bytes of /health's answer; the rest is not needed. */
static size_t keep_head(char *p, size_t s, size_t n, void *u)
{
        struct small_body *b = u;
        size_t k = s * n;
        size_t c = k < sizeof(b->buf) - 1 - b->len ? k : sizeof(b->buf) - 1 - b->len;
        memcpy(b->buf + b->len, p, c);
        b->len += c;
        b->buf[b->len] = '\0';
        return k;
}

static bool healthy(const char *url)
{
        struct small_body body = { { 0 }, 0 };
        char u[128];
        snprintf(u, sizeof(u), "%s/health", url);
        CURL *c = curl_easy_init();
        if (c == NULL)
                return false;
        curl_easy_setopt(c, CURLOPT_URL, u);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_head);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        CURLcode cc = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(c);
        return cc == CURLE_OK && code == 200 && strstr(body.buf, "\"true\"") != NULL;
}

static void print_log_tail(const char *path)
{
        FILE *f = fopen(path, "r");
        if (f == NULL)
                return;
        char line[512];
        fprintf(stderr, "---- etcd log (%s)\n", path);
        while (fgets(line, sizeof(line), f) != NULL)
                fputs(line, stderr);
        fprintf(stderr, "----\n");
        fclose(f);
}

/* Picks ports and the URLs of one member (no process yet). */
static int member_prepare(struct etcd_harness *h, int index)
{
        h->client_port = etcd_harness_free_port();
        h->peer_port = etcd_harness_free_port();
        if (h->client_port <= 0 || h->peer_port <= 0 || h->client_port == h->peer_port)
                return -1;
        snprintf(h->url, sizeof(h->url), "http://127.0.0.1:%d", h->client_port);
        snprintf(h->name, sizeof(h->name), "k8c-test-%d-%d", (int)getpid(), index);
        return 0;
}

static int member_spawn(struct etcd_harness *h, const char *bin, const char *cluster, const char *token)
{
        char peer[64], data[512];
        snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", h->peer_port);
        snprintf(data, sizeof(data), "%s/data", h->tmp_dir);
        nftw(data, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                /* Die with the test, whatever way it ends. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                int fd = open(h->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (devnull >= 0)
                        dup2(devnull, 0);
                execl(bin, bin, "--name", h->name, "--data-dir", data, "--listen-client-urls", h->url,
                      "--advertise-client-urls", h->url, "--listen-peer-urls", peer,
                      "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster,
                      "--initial-cluster-state", "new", "--initial-cluster-token", token, "--log-level",
                      "warn", "--logger", "zap", (char *)NULL);
                _exit(127);
        }
        h->pid = pid;
        return 0;
}

/* Waits until every member answers /health with a leader; -1 if one exits or time runs out. */
static int members_wait_healthy(struct etcd_harness **hs, int n)
{
        long deadline = now_ms() + 20000;
        int ready = 0;
        while (now_ms() < deadline && ready < n) {
                ready = 0;
                for (int i = 0; i < n; i++) {
                        int st;
                        if (waitpid(hs[i]->pid, &st, WNOHANG) == hs[i]->pid) {
                                hs[i]->pid = 0;
                                return -1; /* exited: most likely a port race; the caller retries */
                        }
                        if (healthy(hs[i]->url))
                                ready++;
                }
                if (ready < n)
                        sleep_ms(50);
        }
        return ready == n ? 0 : -1;
}

static struct etcd_harness *member_new(void)
{
        struct etcd_harness *h = calloc(1, sizeof(*h));
        if (h == NULL)
                abort();
        char tmpl[] = "/tmp/k8c-etcd-test-XXXXXX";
        if (mkdtemp(tmpl) == NULL) {
                free(h);
                return NULL;
        }
        h->tmp_dir = strdup(tmpl);
        if (h->tmp_dir == NULL || asprintf(&h->log_path, "%s/etcd.log", tmpl) < 0)
                abort();
        pthread_mutex_lock(&live_lock);
        int slot = -1;
        for (int i = 0; i < MAX_LIVE && slot < 0; i++)
                if (live[i] == NULL)
                        slot = i;
        if (slot >= 0)
                live[slot] = h;
        if (!atexit_registered) {
                atexit(stop_all_at_exit);
                atexit_registered = true;
        }
        pthread_mutex_unlock(&live_lock);
        if (slot < 0) {
                fprintf(stderr, "etcd_harness: more than %d etcds at once\n", MAX_LIVE);
                etcd_harness_stop(h);
                return NULL;
        }
        return h;
}

static void member_kill(struct etcd_harness *h)
{
        if (h->pid > 0) {
                kill(h->pid, SIGKILL);
                waitpid(h->pid, NULL, 0);
                h->pid = 0;
        }
}

int etcd_harness_start_cluster(int n, struct etcd_harness **ret)
{
        const char *bin = etcd_harness_binary();
        if (bin == NULL) {
                fprintf(stderr, "etcd_harness: no etcd binary (install etcd-server or set K8C_ETCD)\n");
                return -1;
        }
        if (n < 1 || n > 5)
                return -1;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        struct etcd_harness *hs[5] = { NULL };
        for (int i = 0; i < n; i++) {
                hs[i] = member_new();
                if (hs[i] == NULL) {
                        for (int j = 0; j < i; j++)
                                etcd_harness_stop(hs[j]);
                        return -1;
                }
        }
        static int clusters;
        char token[64];
        snprintf(token, sizeof(token), "k8c-test-%d-%d", (int)getpid(), ++clusters);
        for (int attempt = 0; attempt < 3; attempt++) {
                char cluster[512] = "";
                bool ok = true;
                for (int i = 0; i < n && ok; i++) {
                        ok = member_prepare(hs[i], clusters * 10 + i) == 0;
                        size_t len = strlen(cluster);
                        snprintf(cluster + len, sizeof(cluster) - len, "%s%s=http://127.0.0.1:%d",
                                 i ? "," : "", hs[i]->name, hs[i]->peer_port);
                }
                for (int i = 0; i < n && ok; i++)
                        ok = member_spawn(hs[i], bin, cluster, token) == 0;
                if (ok && members_wait_healthy(hs, n) == 0) {
                        for (int i = 0; i < n; i++)
                                ret[i] = hs[i];
                        return 0;
                }
                for (int i = 0; i < n; i++)
                        member_kill(hs[i]);
        }
        fprintf(stderr, "etcd_harness: etcd (%d member(s)) did not become healthy\n", n);
        for (int i = 0; i < n; i++) {
                print_log_tail(hs[i]->log_path);
                etcd_harness_stop(hs[i]);
        }
        return -1;
}

int etcd_harness_start(struct etcd_harness **ret)
{
        return etcd_harness_start_cluster(1, ret);
}
