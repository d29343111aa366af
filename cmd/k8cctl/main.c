/*
 * k8cctl - the kubectl-like CLI; everything lives in src/cli (cli.h).
 */
#include "k8c/cli.h"

int main(int argc, char **argv)
{
        return k8c_cli_main(argc, argv);
}
