/*
 * main.c - the storage conformance program: runs the suite against every
 * backend registered in this directory (sqlite_group.c, and any other
 * *_group.c file using CONFORMANCE_BACKEND).
 */
#include "conformance.h"

int main(void)
{
        return conformance_run_all() > 0 ? 1 : 0;
}
