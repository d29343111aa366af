/* Unit tests for flags.c and log.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/flags.h"
#include "k8c/log.h"

struct cfg {
        char *addr;
        int port;
        bool verbose;
        int64_t period;
        char *ns;
        char **labels;
        bool port_set;
};

static int parse(struct cfg *c, struct k8c_flags_result *res, k8c_error_t *err, int argc, char **argv)
{
        const struct k8c_flag flags[] = {
                { "bind-address", 0, K8C_FLAG_STRING, &c->addr, "address", NULL },
                { "port", 'p', K8C_FLAG_INT, &c->port, "port", &c->port_set },
                { "verbose", 0, K8C_FLAG_BOOL, &c->verbose, "verbose", NULL },
                { "sync-period", 0, K8C_FLAG_DURATION, &c->period, "period", NULL },
                { "namespace", 'n', K8C_FLAG_STRING, &c->ns, "namespace", NULL },
                { "label", 'l', K8C_FLAG_STRING_ARRAY, &c->labels, "label", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        return k8c_flags_parse(flags, argc, argv, res, err);
}

static void test_forms(void **state)
{
        struct cfg c = { .addr = "127.0.0.1", .port = 6443 };
        struct k8c_flags_result res;
        cleanup_error k8c_error_t err = NULL;
        char *argv[] = { "prog",
                         "get",
                         "--bind-address=0.0.0.0",
                         "--port",
                         "8080",
                         "pods",
                         "--verbose",
                         "-n",
                         "kube-system",
                         "-lapp=web",
                         "--label",
                         "x=y",
                         "--sync-period=1m30s",
                         "--",
                         "echo",
                         "-n",
                         "hi" };
        int r = parse(&c, &res, &err, (int)K8C_ARRAY_SIZE(argv), argv);
        assert_int_equal(r, K8C_FLAGS_OK);
        assert_string_equal(c.addr, "0.0.0.0");
        assert_int_equal(c.port, 8080);
        assert_true(c.port_set);
        assert_true(c.verbose);
        assert_string_equal(c.ns, "kube-system");
        assert_int_equal(c.period, 90000);
        assert_int_equal(k8c_strv_len(c.labels), 2);
        assert_string_equal(c.labels[0], "app=web");
        assert_string_equal(c.labels[1], "x=y");
        assert_int_equal(res.nargs, 2);
        assert_string_equal(res.args[0], "get");
        assert_string_equal(res.args[1], "pods");
        assert_int_equal(res.ndash_args, 3);
        assert_string_equal(res.dash_args[1], "-n");
        k8c_flags_result_free(&res);
        k8c_strv_free(c.labels);
}

static void test_bool_forms(void **state)
{
        struct cfg c = { .verbose = true };
        struct k8c_flags_result res;
        cleanup_error k8c_error_t err = NULL;
        char *argv[] = { "prog", "--verbose=false" };
        assert_int_equal(parse(&c, &res, &err, 2, argv), 0);
        assert_false(c.verbose);
        k8c_flags_result_free(&res);
        char *argv2[] = { "prog", "--verbose=maybe" };
        assert_true(parse(&c, &res, &err, 2, argv2) < 0);
        assert_string_equal(k8c_error_msg(&err),
                            "invalid argument \"maybe\" for \"--verbose\" flag: not a boolean");
}

static void test_errors(void **state)
{
        static const struct {
                const char *arg1, *arg2, *msg;
        } cases[] = {
                { "--bogus", NULL, "unknown flag: --bogus" },
                { "--bogus=1", NULL, "unknown flag: --bogus" },
                { "-z", NULL, "unknown shorthand flag: 'z' in -z" },
                { "--port", NULL, "flag needs an argument: --port" },
                { "--port=abc", NULL, "invalid argument \"abc\" for \"--port\" flag: not an integer" },
                { "-p", "12x", "invalid argument \"12x\" for \"-p\" flag: not an integer" },
                { "--sync-period=5", NULL, NULL },
                { "--sync-period=5x", NULL,
                  "invalid argument \"5x\" for \"--sync-period\" flag: invalid duration \"5x\": missing unit "
                  "(ms, s, m, h)" },
        };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(cases); i++) {
                struct cfg c = { 0 };
                struct k8c_flags_result res = { 0 };
                cleanup_error k8c_error_t err = NULL;
                char *argv[3] = { "prog", (char *)cases[i].arg1, (char *)cases[i].arg2 };
                int r = parse(&c, &res, &err, cases[i].arg2 ? 3 : 2, argv);
                if (cases[i].msg == NULL) {
                        assert_int_equal(r, 0);
                        k8c_flags_result_free(&res);
                        continue;
                }
                assert_int_equal(r, -(int)K8C_EUSAGE);
                assert_string_equal(k8c_error_msg(&err), cases[i].msg);
                assert_null(res.args);
        }
}

static void test_help_version(void **state)
{
        struct cfg c = { 0 };
        struct k8c_flags_result res;
        cleanup_error k8c_error_t err = NULL;
        char *argv[] = { "prog", "--help" };
        assert_int_equal(parse(&c, &res, &err, 2, argv), K8C_FLAGS_HELP);
        k8c_flags_result_free(&res);
        char *argv2[] = { "prog", "-h" };
        assert_int_equal(parse(&c, &res, &err, 2, argv2), K8C_FLAGS_HELP);
        k8c_flags_result_free(&res);
        char *argv3[] = { "prog", "--version" };
        assert_int_equal(parse(&c, &res, &err, 2, argv3), K8C_FLAGS_VERSION);
        k8c_flags_result_free(&res);
}

static void test_usage(void **state)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        char *addr = "127.0.0.1";
        int port = 6443;
        const struct k8c_flag flags[] = {
                { "bind-address", 0, K8C_FLAG_STRING, &addr, "IP address to listen on", NULL },
                { "port", 0, K8C_FLAG_INT, &port, "port", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        k8c_flags_usage(f, "k8c-apiserver", "[flags]", flags);
        fclose(f);
        assert_non_null(strstr(buf, "Usage:\n  k8c-apiserver [flags]"));
        assert_non_null(strstr(buf, "--bind-address string"));
        assert_non_null(strstr(buf, "(default \"127.0.0.1\")"));
        assert_non_null(strstr(buf, "(default 6443)"));
        assert_non_null(strstr(buf, "--help"));
        free(buf);
}

static void test_durations(void **state)
{
        static const struct {
                const char *s;
                int64_t ms;
        } ok[] = { { "10s", 10000 }, { "100ms", 100 }, { "1h30m", 5400000 },
                   { "2m", 120000 }, { "1.5s", 1500 }, { "30", 30000 },
                   { "0", 0 } };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(ok); i++) {
                int64_t ms = -1;
                assert_int_equal(k8c_parse_duration_ms(ok[i].s, &ms, NULL), 0);
                assert_int_equal(ms, ok[i].ms);
        }
        const char *bad[] = { "", "s", "-1s", "1d", "1s2", "abc" };
        for (size_t i = 0; i < K8C_ARRAY_SIZE(bad); i++) {
                int64_t ms;
                assert_true(k8c_parse_duration_ms(bad[i], &ms, NULL) < 0);
        }
}

static int evaluated;
static const char *side_effect(void)
{
        evaluated++;
        return "x";
}

static void test_log_levels_and_format(void **state)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        k8c_log_set_output(f);
        k8c_log_min_level = K8C_LOG_INFO;
        k8c_log_v = 0;
        evaluated = 0;
        k8c_log(K8C_LOG_DEBUG, "hidden", "v=%s", side_effect());
        k8c_logv(3, "hidden too", "v=%s", side_effect());
        assert_int_equal(evaluated, 0);
        k8c_log_info("pod created", "name=%s ns=%s", "web", "default");
        k8c_log_error("boom", NULL);
        fflush(f);
        assert_non_null(strstr(buf, " level=info msg=\"pod created\" name=web ns=default\n"));
        assert_non_null(strstr(buf, " level=error msg=boom\n"));
        assert_null(strstr(buf, "hidden"));
        assert_true(strncmp(buf, "ts=", 3) == 0);
        k8c_log_set_output(NULL);
        fclose(f);
        free(buf);
        char q[64];
        assert_string_equal(k8c_log_quote(q, sizeof(q), "plain"), "plain");
        assert_string_equal(k8c_log_quote(q, sizeof(q), "a b"), "\"a b\"");
        assert_string_equal(k8c_log_quote(q, sizeof(q), "say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_string_equal(k8c_log_quote(q, sizeof(q), ""), "\"\"");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_forms),
                cmocka_unit_test(test_bool_forms),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_help_version),
                cmocka_unit_test(test_usage),
                cmocka_unit_test(test_durations),
                cmocka_unit_test(test_log_levels_and_format),
        };
        return cmocka_run_group_tests_name("flags", tests, NULL, NULL);
}
