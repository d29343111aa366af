/*
 * durability.c - crash tests of the SQLite store.
 *
 * Crash rounds: a child process (this program re-executed as "writer") opens
 * the store and writes from several threads as fast as it can, reporting each
 * acknowledged write on stdout (a pipe). The parent SIGKILLs it at a random
 * moment, reopens the store and checks that every acknowledged write is there
 * and that revisions continue strictly increasing. 20 rounds on one database,
 * with compaction running in the child all along.
 *
 * Watch resume: a child ("watcher") writes from two threads and watches every
 * key, reporting each event; the parent kills it, restarts it watching from the
 * last revision it reported, and so on. The reported revisions must form one
 * dense sequence (no missed and no duplicated event), matching the history.
 *
 * The children write only inside the test's temporary directory; the parent
 * kills and reaps them by pid on every path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/store.h"

#define CRASH_ROUNDS 20
#define WRITER_THREADS 4
#define RESUME_ROUNDS 6

/* ---- child side ----------------------------------------------------------------------- */

static struct k8c_store *child_open(const char *dir)
{
        struct k8c_store_config cfg = { .data_dir = dir, .sqlite_ring_size = 256 };
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store *s = NULL;
        if (k8c_store_open(&cfg, &s, &err) < 0) {
                fprintf(stderr, "child: open %s: %s\n", dir, k8c_error_msg(&err));
                _exit(3);
        }
        return s;
}

/* One line per write(2): below PIPE_BUF, so lines from threads never interleave. */
static void emit(const char *fmt, ...)
{
        char line[512];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (write(STDOUT_FILENO, line, (size_t)n) != n)
                _exit(4);
}

struct child_writer {
        struct k8c_store *s;
        int id;
};

static void *crash_writer_main(void *p)
{
        struct child_writer *a = p;
        char key[128], ctr[128], val[64];
        snprintf(ctr, sizeof(ctr), "/dur/ctr/%d/%d", (int)getpid(), a->id);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_kv kv = { 0 };
        if (k8c_store_create(a->s, ctr, "0", 1, &kv, &err) < 0)
                _exit(5);
        emit("U %s %" PRId64 " 0\n", ctr, kv.mod_revision);
        k8c_kv_free(&kv);
        for (long i = 1;; i++) {
                if (i % 4 == 0) {
                        int n = snprintf(val, sizeof(val), "%ld", i);
                        if (k8c_store_update(a->s, ctr, val, (size_t)n, 0, &kv, &err) < 0)
                                _exit(6);
                        emit("U %s %" PRId64 " %ld\n", ctr, kv.mod_revision, i);
                } else {
                        snprintf(key, sizeof(key), "/dur/k/%d/%d/%ld", (int)getpid(), a->id, i);
                        if (k8c_store_create(a->s, key, key, strlen(key), &kv, &err) < 0)
                                _exit(7);
                        emit("C %s %" PRId64 "\n", key, kv.mod_revision);
                }
                k8c_kv_free(&kv);
        }
        return NULL;
}

/* Compaction runs during the crash rounds too: a kill in the middle of it must not lose
 * or resurrect anything. */
static void *crash_compactor_main(void *p)
{
        struct k8c_store *s = p;
        for (;;) {
                int64_t cur = 0, done = 0;
                k8c_store_current_revision(s, &cur, NULL);
                s->ops->compacted_revision(s, &done, NULL);
                if (cur - 50 > done) {
                        cleanup_error k8c_error_t err = NULL;
                        if (k8c_store_compact(s, cur - 50, &err) < 0)
                                _exit(11);
                }
                usleep(10 * 1000);
        }
        return NULL;
}

static __attribute__((noreturn)) int child_crash_writer(const char *dir)
{
        struct k8c_store *s = child_open(dir);
        int64_t rev = 0;
        k8c_store_current_revision(s, &rev, NULL);
        emit("R %" PRId64 "\n", rev);
        pthread_t th[WRITER_THREADS];
        struct child_writer args[WRITER_THREADS];
        for (int i = 0; i < WRITER_THREADS; i++) {
                args[i] = (struct child_writer){ .s = s, .id = i };
                pthread_create(&th[i], NULL, crash_writer_main, &args[i]);
        }
        pthread_t ct;
        pthread_create(&ct, NULL, crash_compactor_main, s);
        for (;;)
                pause(); /* until SIGKILL */
}

static void *resume_writer_main(void *p)
{
        struct child_writer *a = p;
        char key[128];
        for (long i = 0;; i++) {
                cleanup_error k8c_error_t err = NULL;
                snprintf(key, sizeof(key), "/wr/%d/%d/%ld", (int)getpid(), a->id, i % 10);
                int r = i < 10        ? k8c_store_create(a->s, key, key, strlen(key), NULL, &err)
                        : i % 10 == 9 ? k8c_store_delete(a->s, key, 0, NULL, &err)
                                      : k8c_store_update(a->s, key, key, strlen(key), 0, NULL, &err);
                if (r == -K8C_ENOTFOUND) /* deleted last time round */
                        r = k8c_store_create(a->s, key, key, strlen(key), NULL, &err);
                if (r < 0)
                        _exit(8);
                usleep(200);
        }
        return NULL;
}

static __attribute__((noreturn)) int child_watcher(const char *dir, int64_t from)
{
        struct k8c_store *s = child_open(dir);
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store_watch *w = NULL;
        if (k8c_store_watch(s, "", from, &w, &err) < 0) {
                fprintf(stderr, "child: watch from %" PRId64 ": %s\n", from, k8c_error_msg(&err));
                _exit(9);
        }
        pthread_t th[2];
        struct child_writer args[2];
        for (int i = 0; i < 2; i++) {
                args[i] = (struct child_writer){ .s = s, .id = i };
                pthread_create(&th[i], NULL, resume_writer_main, &args[i]);
        }
        for (;;) {
                struct k8c_store_event *ev = NULL;
                int r = k8c_store_watch_next(w, -1, &ev, &err);
                if (r < 0) {
                        fprintf(stderr, "child: watch: %s\n", k8c_error_msg(&err));
                        _exit(10);
                }
                emit("E %" PRId64 " %d %s\n", ev->revision, (int)ev->type, ev->kv.key);
                k8c_store_event_free(ev);
        }
}

/* ---- parent side ------------------------------------------------------------------------ */

static char tmpdir[64];
static char *data_dir;
/* The running child, killed by teardown if a failed assertion jumped past run_and_kill. */
static pid_t child_pid = -1;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        remove(path);
        return 0;
}

static int setup(void **state)
{
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/k8c-durability-XXXXXX");
        if (mkdtemp(tmpdir) == NULL)
                return -1;
        data_dir = k8c_xasprintf("%s/data", tmpdir);
        return 0;
}

static int teardown(void **state)
{
        k8c_cleanup_pidp(&child_pid);
        child_pid = -1;
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(data_dir);
        data_dir = NULL;
        return 0;
}

static pid_t spawn_child(const char *mode, const char *arg, int *ret_fd)
{
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                dup2(p[1], STDOUT_FILENO);
                execl("/proc/self/exe", "test_durability", mode, data_dir, arg, (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        *ret_fd = p[0];
        child_pid = pid;
        return pid;
}

static int64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct buf {
        char *data;
        size_t len, cap;
};

/* Reads whatever is available until deadline_ms; returns false at EOF. */
static bool read_until(int fd, struct buf *b, int64_t deadline_ms)
{
        for (;;) {
                int64_t left = deadline_ms - mono_ms();
                if (left <= 0)
                        return true;
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int r = poll(&pfd, 1, (int)left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return true;
                if (b->cap - b->len < 65536) {
                        b->cap = b->cap * 2 + 65536;
                        b->data = k8c_xrealloc(b->data, b->cap + 1);
                }
                ssize_t n = read(fd, b->data + b->len, b->cap - b->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return false;
                b->len += (size_t)n;
                b->data[b->len] = '\0';
        }
}

static size_t count_lines(const struct buf *b, char kind)
{
        size_t n = 0;
        for (size_t i = 0; i < b->len; i++)
                if ((i == 0 || b->data[i - 1] == '\n') && b->data[i] == kind)
                        n++;
        return n;
}

/* Kills the child at a random moment after it has reported at least min_lines of kind. */
static void run_and_kill(pid_t *pid, int fd, struct buf *b, char kind, size_t min_lines, int max_extra_ms)
{
        int64_t give_up = mono_ms() + 30000;
        while (count_lines(b, kind) < min_lines && mono_ms() < give_up)
                if (!read_until(fd, b, mono_ms() + 20))
                        break;
        if (count_lines(b, kind) < min_lines)
                fail_msg("child reported only %zu '%c' lines: %.*s", count_lines(b, kind), kind,
                         (int)(b->len > 300 ? 300 : b->len), b->data ? b->data : "");
        read_until(fd, b, mono_ms() + rand() % (max_extra_ms + 1));
        kill(*pid, SIGKILL);
        int status = 0;
        while (waitpid(*pid, &status, 0) < 0 && errno == EINTR)
                ;
        *pid = -1;
        child_pid = -1;
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while (read_until(fd, b, mono_ms() + 1000))
                ; /* drain to EOF */
}

static struct k8c_store *parent_open(void)
{
        struct k8c_store_config cfg = { .data_dir = data_dir };
        cleanup_error k8c_error_t err = NULL;
        struct k8c_store *s = NULL;
        if (k8c_store_open(&cfg, &s, &err) < 0)
                fail_msg("reopen after kill: %s", k8c_error_msg(&err));
        return s;
}

struct ctr {
        char key[128];
        int64_t rev;
        long n;
};

static void test_crash_rounds(void **state)
{
        int64_t prev_max = 0; /* highest acknowledged revision so far */
        size_t total_acked = 0;
        int64_t last_compacted = 0;
        srand((unsigned)time(NULL) ^ (unsigned)getpid());
        for (int round = 0; round < CRASH_ROUNDS; round++) {
                cleanup_close int fd = -1;
                cleanup_pid pid_t pid = spawn_child("writer", "", &fd);
                struct buf b = { 0 };
                run_and_kill(&pid, fd, &b, 'C', 5, 150);

                struct k8c_store *s = parent_open();
                cleanup_error k8c_error_t err = NULL;
                struct ctr ctrs[WRITER_THREADS * 2] = { 0 };
                size_t nctr = 0, acked = 0;
                int64_t max_rev = 0, start_rev = -1;
                char *save = NULL;
                for (char *line = strtok_r(b.data, "\n", &save); line != NULL;
                     line = strtok_r(NULL, "\n", &save)) {
                        if (line + strlen(line) == b.data + b.len)
                                break; /* cut by the kill: no newline, not acknowledged in full */
                        char key[128];
                        int64_t rev = 0;
                        long n = 0;
                        if (sscanf(line, "R %" SCNd64, &rev) == 1) {
                                start_rev = rev;
                        } else if (sscanf(line, "C %127s %" SCNd64, key, &rev) == 2) {
                                struct k8c_kv kv = { 0 };
                                if (k8c_store_get(s, key, &kv, &err) < 0)
                                        fail_msg("round %d: acknowledged create %s at %" PRId64 " lost: %s",
                                                 round, key, rev, k8c_error_msg(&err));
                                assert_int_equal(kv.create_revision, rev);
                                assert_int_equal(kv.mod_revision, rev);
                                assert_string_equal(kv.value, key);
                                k8c_kv_free(&kv);
                                acked++;
                        } else if (sscanf(line, "U %127s %" SCNd64 " %ld", key, &rev, &n) == 3) {
                                size_t i = 0;
                                while (i < nctr && strcmp(ctrs[i].key, key) != 0)
                                        i++;
                                if (i == nctr) {
                                        assert_true(nctr < K8C_ARRAY_SIZE(ctrs));
                                        snprintf(ctrs[nctr++].key, sizeof(ctrs[0].key), "%s", key);
                                }
                                assert_true(rev > ctrs[i].rev); /* one thread's writes increase */
                                ctrs[i].rev = rev;
                                ctrs[i].n = n;
                                acked++;
                        } else {
                                fail_msg("round %d: bad line from child: %s", round, line);
                        }
                        if (rev > max_rev && line[0] != 'R')
                                max_rev = rev;
                }
                /* revisions continue across restarts */
                assert_int_equal(start_rev, prev_max);
                for (size_t i = 0; i < nctr; i++) {
                        struct k8c_kv kv = { 0 };
                        if (k8c_store_get(s, ctrs[i].key, &kv, &err) < 0)
                                fail_msg("round %d: counter %s lost: %s", round, ctrs[i].key,
                                         k8c_error_msg(&err));
                        /* later, unreported writes may have committed too; never fewer */
                        assert_true(kv.mod_revision >= ctrs[i].rev);
                        assert_true(atol(kv.value) >= ctrs[i].n);
                        if (kv.mod_revision == ctrs[i].rev)
                                assert_int_equal(atol(kv.value), ctrs[i].n);
                        k8c_kv_free(&kv);
                }
                int64_t cur = 0, compacted = 0;
                assert_int_equal(k8c_store_current_revision(s, &cur, &err), 0);
                assert_true(cur >= max_rev);
                assert_int_equal(s->ops->compacted_revision(s, &compacted, &err), 0);
                assert_true(compacted <= cur);
                assert_true(compacted >= last_compacted);
                last_compacted = compacted;
                if (compacted > 0) {
                        /* the state at the compacted revision is still whole: every create acknowledged
                         * at or below it is in a list at it */
                        struct k8c_kv_list l = { 0 };
                        struct k8c_list_opts o = { .revision = compacted };
                        assert_int_equal(k8c_store_list(s, "/dur/k/", &o, &l, &err), 0);
                        assert_int_equal(l.revision, compacted);
                        for (size_t i = 0; i < l.n; i++)
                                assert_true(l.items[i].mod_revision <= compacted);
                        k8c_kv_list_free(&l);
                        o.revision = compacted - 1;
                        assert_int_equal(k8c_store_list(s, "/dur/k/", &o, &l, &err), -K8C_EEXPIRED);
                        k8c_error_release(&err);
                }
                struct k8c_kv kv = { 0 };
                char key[64];
                snprintf(key, sizeof(key), "/dur/parent/%d", round);
                assert_int_equal(k8c_store_create(s, key, "p", 1, &kv, &err), 0);
                assert_int_equal(kv.mod_revision, cur + 1);
                k8c_kv_free(&kv);
                prev_max = cur + 1;
                k8c_store_close(s);
                total_acked += acked;
                free(b.data);
        }
        printf("crash rounds: %d, acknowledged writes checked: %zu, lost: 0, compacted up to %" PRId64 "\n",
               CRASH_ROUNDS, total_acked, last_compacted);
        assert_true(last_compacted > 0);
}

struct seen {
        int64_t rev;
        int type;
        char *key;
};

static void test_watch_resume(void **state)
{
        /* A first write so that the first watch can start from a real revision (0 = now). */
        struct k8c_store *s = parent_open();
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_store_create(s, "/wr/sentinel", "s", 1, NULL, &err), 0);
        int64_t first;
        assert_int_equal(k8c_store_current_revision(s, &first, &err), 0);
        k8c_store_close(s);

        struct seen *seen = NULL;
        size_t nseen = 0, cap = 0;
        int64_t last = first;
        for (int round = 0; round < RESUME_ROUNDS; round++) {
                char from[32];
                snprintf(from, sizeof(from), "%" PRId64, last);
                cleanup_close int fd = -1;
                cleanup_pid pid_t pid = spawn_child("watcher", from, &fd);
                struct buf b = { 0 };
                run_and_kill(&pid, fd, &b, 'E', 20, 200);
                char *save = NULL;
                for (char *line = strtok_r(b.data, "\n", &save); line != NULL;
                     line = strtok_r(NULL, "\n", &save)) {
                        if (line + strlen(line) == b.data + b.len)
                                break;
                        int64_t rev;
                        int type;
                        char key[128];
                        if (sscanf(line, "E %" SCNd64 " %d %127s", &rev, &type, key) != 3)
                                fail_msg("round %d: bad line: %s", round, line);
                        if (nseen == cap) {
                                cap = cap * 2 + 256;
                                seen = k8c_xrealloc(seen, cap * sizeof(*seen));
                        }
                        seen[nseen++] = (struct seen){ .rev = rev, .type = type, .key = k8c_xstrdup(key) };
                        last = rev;
                }
                free(b.data);
        }
        /* one dense sequence: every revision after the sentinel exactly once, in order */
        assert_true(nseen > RESUME_ROUNDS * 20);
        for (size_t i = 0; i < nseen; i++)
                if (seen[i].rev != first + 1 + (int64_t)i)
                        fail_msg("event %zu has revision %" PRId64 ", want %" PRId64
                                 " (missed or duplicated)",
                                 i, seen[i].rev, first + 1 + (int64_t)i);

        /* and it matches the stored history */
        s = parent_open();
        struct k8c_store_watch *w = NULL;
        assert_int_equal(k8c_store_watch(s, "", first, &w, &err), 0);
        for (size_t i = 0; i < nseen; i++) {
                struct k8c_store_event *ev = NULL;
                assert_int_equal(k8c_store_watch_next(w, 5000, &ev, &err), 1);
                assert_int_equal(ev->revision, seen[i].rev);
                assert_int_equal((int)ev->type, seen[i].type);
                assert_string_equal(ev->kv.key, seen[i].key);
                k8c_store_event_free(ev);
                free(seen[i].key);
        }
        free(seen);
        k8c_store_watch_close(w);
        k8c_store_close(s);
        printf("watch resume: %d kills, %zu events, none missed or duplicated\n", RESUME_ROUNDS, nseen);
}

int main(int argc, char **argv)
{
        if (argc >= 3 && strcmp(argv[1], "writer") == 0)
                return child_crash_writer(argv[2]);
        if (argc >= 4 && strcmp(argv[1], "watcher") == 0)
                return child_watcher(argv[2], strtoll(argv[3], NULL, 10));
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_crash_rounds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watch_resume, setup, teardown),
        };
        return cmocka_run_group_tests_name("durability", tests, NULL, NULL);
}
