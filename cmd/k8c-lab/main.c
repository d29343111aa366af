/*
 * k8c-lab - flag parsing and wiring only; the lab lives in src/lab.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "k8c/flags.h"
#include "k8c/log.h"

int main(int argc, char **argv)
{
        char *name = "lab";
        int nodes = 2;
        char *node_capacity = "cpu=2,memory=2Gi";
        char *storage = "sqlite";
        char *dir = NULL;
        const struct k8c_flag flags[] = {
                { "name", 0, K8C_FLAG_STRING, &name, "name of the lab (prefix of everything it creates)",
                  NULL },
                { "nodes", 0, K8C_FLAG_INT, &nodes, "number of nodes", NULL },
                { "node-capacity", 0, K8C_FLAG_STRING, &node_capacity, "capacity of each node", NULL },
                { "storage", 0, K8C_FLAG_STRING, &storage, "storage backend: sqlite or etcd", NULL },
                { "dir", 0, K8C_FLAG_STRING, &dir, "lab directory (default /var/lib/k8c-lab/<name>)", NULL },
                { "v", 'v', K8C_FLAG_INT, &k8c_log_v, "log verbosity", NULL },
                { NULL, 0, 0, NULL, NULL, NULL },
        };
        struct k8c_flags_result args;
        k8c_flags_parse_or_exit(flags, argc, argv, "k8c-lab", "up|down|status|kubeconfig [flags]", &args);
        k8c_flags_result_free(&args);
        fprintf(stderr, "k8c-lab: the lab is not implemented yet\n");
        return 1;
}
