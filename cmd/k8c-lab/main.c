/*
 * k8c-lab - flag parsing and wiring only; the lab lives in src/lab.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8c/cleanup.h"
#include "k8c/flags.h"
#include "k8c/lab.h"
#include "k8c/log.h"

static const char synopsis[] = "up|down|status|kubeconfig [flags]\n"
                               "       k8c-lab logs <node> kubelet|proxy | logs "
                               "apiserver|controller-manager|scheduler|registry|etcd\n"
                               "       k8c-lab exec <node> -- command [args...]\n"
                               "       k8c-lab node stop|start|freeze|thaw|partition|heal <node>";

int main(int argc, char **argv)
{
        char *name = "lab";
        bool name_set = false;
        int nodes = 2;
        char *node_capacity = "cpu=2,memory=2Gi";
        char *storage = "sqlite";
        char *dir = NULL;
        char *bindir = NULL;
        bool quiet = false;
        const struct k8c_flag flags[] = {
                { "name", 0, K8C_FLAG_STRING, &name,
                  "name of the lab (prefix of everything it creates); logs/exec/node take it from "
                  "a node named <name>-node-<i> when not given",
                  &name_set },
                { "nodes", 0, K8C_FLAG_INT, &nodes, "number of nodes", NULL },
                { "node-capacity", 0, K8C_FLAG_STRING, &node_capacity, "capacity of each node", NULL },
                { "storage", 0, K8C_FLAG_STRING, &storage, "storage backend: sqlite or etcd", NULL },
                { "dir", 0, K8C_FLAG_STRING, &dir, "lab directory (default /var/lib/k8c-lab/<name>)", NULL },
                { "bindir", 0, K8C_FLAG_STRING, &bindir,
                  "directory of the k8c binaries (default: the directory of k8c-lab)", NULL },
                { "quiet", 'q', K8C_FLAG_BOOL, &quiet, "no progress lines", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result args;
        k8c_flags_parse_or_exit(flags, argc, argv, "k8c-lab", synopsis, &args);
        const struct k8c_lab_config cfg = {
                /* NULL: "lab", or the prefix of the node named on the command line. */
                .name = name_set ? name : NULL,
                .nodes = nodes,
                .node_capacity = node_capacity,
                .storage = storage,
                .dir = dir,
                .bindir = bindir,
                .quiet = quiet,
        };
        const char *verb = args.nargs > 0 ? args.args[0] : NULL;
        const char *a1 = args.nargs > 1 ? args.args[1] : NULL;
        const char *a2 = args.nargs > 2 ? args.args[2] : NULL;
        cleanup_error k8c_error_t err = NULL;
        int r;
        if (verb == NULL) {
                k8c_flags_usage(stderr, "k8c-lab", synopsis, flags);
                k8c_flags_result_free(&args);
                return 2;
        } else if (strcmp(verb, "up") == 0) {
                r = k8c_lab_up(&cfg, &err);
        } else if (strcmp(verb, "down") == 0) {
                r = k8c_lab_down(&cfg, &err);
        } else if (strcmp(verb, "status") == 0) {
                r = k8c_lab_status(&cfg, &err);
        } else if (strcmp(verb, "kubeconfig") == 0) {
                r = k8c_lab_kubeconfig(&cfg, &err);
        } else if (strcmp(verb, "logs") == 0) {
                r = k8c_lab_logs(&cfg, a1, a2, &err);
        } else if (strcmp(verb, "exec") == 0) {
                r = k8c_lab_exec(&cfg, a1, args.dash_args, &err);
        } else if (strcmp(verb, "node") == 0) {
                r = k8c_lab_node(&cfg, a1, a2, &err);
        } else {
                r = k8c_make_error(&err, K8C_EUSAGE, "unknown command %s", verb);
        }
        k8c_flags_result_free(&args);
        if (r < 0) {
                fprintf(stderr, "k8c-lab: %s\n", k8c_error_msg(&err));
                return k8c_error_reason(&err) == K8C_EUSAGE ? 2 : 1;
        }
        /* down: the number of leftovers. */
        return r > 0 ? 1 : 0;
}
