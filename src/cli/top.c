/*
 * top.c - `k8cctl top pods|nodes [NAME]`: resource usage from the
 * metrics.k8s.io/v1beta1 API, printed as kubectl top prints it
 * (NAME CPU(cores) MEMORY(bytes); nodes also CPU(%) and MEMORY(%) of their
 * allocatable): cpu in millicores ("12m"), memory in MiB ("5Mi").
 * -A adds the NAMESPACE column, -l filters by labels.
 *
 * Must not: compute usage itself; it only shows what the API answers.
 */
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/cli.h"
#include "k8c/json.h"
#include "k8c/quantity.h"

#define GV_PATH "/apis/metrics.k8s.io/v1beta1"

/* Milli-units of a quantity field: millicores for cpu ("123456n" → 1, rounded up as kubectl's
 * MilliValue does), bytes × 1000 for memory. */
static int64_t milli(const json_t *v)
{
        k8c_quantity_t q;
        if (v == NULL || k8c_quantity_from_json(v, &q, NULL) < 0)
                return 0;
        return q.milli;
}

static char *cpu_text(int64_t m)
{
        return k8c_xasprintf("%lldm", (long long)m);
}

static char *mem_text(int64_t bytes)
{
        return k8c_xasprintf("%lldMi", (long long)(bytes / (1024 * 1024)));
}

static char **row(const char *const *cells, size_t n)
{
        char **r = k8c_xcalloc(n + 2, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                r[i] = k8c_xstrdup(cells[i]);
        /* kubectl's tabwriter lines end in a tab: the last column is padded too. */
        r[n] = k8c_xstrdup("");
        return r;
}

static void grid_push(struct k8c_cli_grid *g, char **r)
{
        if (g->n == g->cap) {
                g->cap = g->cap == 0 ? 16 : g->cap * 2;
                g->rows = k8c_xrealloc(g->rows, sizeof(*g->rows) * g->cap);
        }
        g->rows[g->n++] = r;
}

static char *with_selector(struct k8c_cli *cli, const char *path)
{
        if (cli->selector == NULL)
                return k8c_xstrdup(path);
        cleanup_free char *sel = k8c_url_escape(cli->selector);
        return k8c_xasprintf("%s?labelSelector=%s", path, sel);
}

static int top_pods(struct k8c_cli *cli, const char *name, k8c_error_t *err)
{
        cleanup_free char *path = NULL;
        if (name != NULL)
                path = k8c_xasprintf(GV_PATH "/namespaces/%s/pods/%s", cli->ns, name);
        else if (cli->all_namespaces)
                path = with_selector(cli, GV_PATH "/pods");
        else {
                cleanup_free char *base = k8c_xasprintf(GV_PATH "/namespaces/%s/pods", cli->ns);
                path = with_selector(cli, base);
        }
        json_auto_t *body = NULL;
        int r = k8c_cli_request(cli, "GET", path, NULL, NULL, &body, err);
        if (r < 0)
                return r;
        json_auto_t *items =
                name != NULL ? json_pack("[O]", body) : json_incref(json_object_get(body, "items"));
        if (json_array_size(items) == 0) {
                if (cli->all_namespaces)
                        return k8c_make_error(err, K8C_ENOTFOUND, "No resources found");
                return k8c_make_error(err, K8C_ENOTFOUND, "No resources found in %s namespace.", cli->ns);
        }
        struct k8c_cli_grid g = { 0 };
        bool ns_col = cli->all_namespaces && name == NULL;
        if (!cli->no_headers) {
                const char *h[] = { "NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)" };
                grid_push(&g, ns_col ? row(h, 4) : row(h + 1, 3));
        }
        size_t i;
        json_t *pm;
        json_array_foreach(items, i, pm)
        {
                int64_t cpu = 0, mem = 0;
                size_t j;
                json_t *c;
                json_array_foreach(json_object_get(pm, "containers"), j, c)
                {
                        cpu += milli(k8c_json_get(c, "usage.cpu"));
                        mem += milli(k8c_json_get(c, "usage.memory")) / 1000;
                }
                cleanup_free char *cs = cpu_text(cpu);
                cleanup_free char *ms = mem_text(mem);
                const char *cells[] = { k8c_json_get_string(pm, "metadata.namespace") ?: "",
                                        k8c_json_get_string(pm, "metadata.name") ?: "", cs, ms };
                grid_push(&g, ns_col ? row(cells, 4) : row(cells + 1, 3));
        }
        k8c_cli_grid_print(cli->out, &g);
        k8c_cli_grid_free(&g);
        return 0;
}

static int top_nodes(struct k8c_cli *cli, const char *name, k8c_error_t *err)
{
        cleanup_free char *mpath = name != NULL ? k8c_xasprintf(GV_PATH "/nodes/%s", name)
                                                : with_selector(cli, GV_PATH "/nodes");
        cleanup_free char *npath =
                name != NULL ? k8c_xasprintf("/api/v1/nodes/%s", name) : with_selector(cli, "/api/v1/nodes");
        json_auto_t *metrics = NULL, *nodes = NULL;
        int r = k8c_cli_request(cli, "GET", mpath, NULL, NULL, &metrics, err);
        if (r < 0)
                return r;
        if ((r = k8c_cli_request(cli, "GET", npath, NULL, NULL, &nodes, err)) < 0)
                return r;
        json_auto_t *mitems =
                name != NULL ? json_pack("[O]", metrics) : json_incref(json_object_get(metrics, "items"));
        json_auto_t *nitems =
                name != NULL ? json_pack("[O]", nodes) : json_incref(json_object_get(nodes, "items"));
        if (json_array_size(mitems) == 0)
                return k8c_make_error(err, K8C_ENOTFOUND, "error: metrics not available yet");
        struct k8c_cli_grid g = { 0 };
        if (!cli->no_headers) {
                const char *h[] = { "NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)" };
                grid_push(&g, row(h, 5));
        }
        size_t i;
        json_t *n;
        json_array_foreach(nitems, i, n)
        {
                const char *nname = k8c_json_get_string(n, "metadata.name") ?: "";
                const json_t *m = NULL;
                size_t j;
                json_t *it;
                json_array_foreach(mitems, j, it)
                {
                        if (strcmp(k8c_json_get_string(it, "metadata.name") ?: "", nname) == 0)
                                m = it;
                }
                if (m == NULL) {
                        const char *cells[] = { nname, "<unknown>", "<unknown>", "<unknown>", "<unknown>" };
                        grid_push(&g, row(cells, 5));
                        continue;
                }
                int64_t cpu = milli(k8c_json_get(m, "usage.cpu"));
                int64_t mem = milli(k8c_json_get(m, "usage.memory")) / 1000;
                int64_t cpu_alloc = milli(k8c_json_get(n, "status.allocatable.cpu"));
                int64_t mem_alloc = milli(k8c_json_get(n, "status.allocatable.memory")) / 1000;
                cleanup_free char *cs = cpu_text(cpu);
                cleanup_free char *ms = mem_text(mem);
                cleanup_free char *cp =
                        k8c_xasprintf("%lld%%", (long long)(cpu_alloc > 0 ? cpu * 100 / cpu_alloc : 0));
                cleanup_free char *mp =
                        k8c_xasprintf("%lld%%", (long long)(mem_alloc > 0 ? mem * 100 / mem_alloc : 0));
                const char *cells[] = { nname, cs, cp, ms, mp };
                grid_push(&g, row(cells, 5));
        }
        k8c_cli_grid_print(cli->out, &g);
        k8c_cli_grid_free(&g);
        return 0;
}

int k8c_cli_top(struct k8c_cli *cli, char **args, int nargs, k8c_error_t *err)
{
        if (nargs < 1 || nargs > 2)
                return k8c_make_error(err, K8C_EBADREQUEST,
                                      "error: you must specify a resource: top pod|node [NAME]");
        int r = k8c_cli_connect(cli, err);
        if (r < 0)
                return r;
        const char *what = args[0];
        const char *name = nargs == 2 ? args[1] : NULL;
        if (strcmp(what, "pod") == 0 || strcmp(what, "pods") == 0 || strcmp(what, "po") == 0)
                return top_pods(cli, name, err);
        if (strcmp(what, "node") == 0 || strcmp(what, "nodes") == 0 || strcmp(what, "no") == 0)
                return top_nodes(cli, name, err);
        return k8c_make_error(err, K8C_EBADREQUEST, "error: unknown command \"%s\" for \"k8cctl top\"", what);
}
