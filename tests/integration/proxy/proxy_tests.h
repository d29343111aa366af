/* Test functions of the proxy integration suite defined outside test_iptc.c (which has main). */
#ifndef K8C_TEST_PROXY_TESTS_H
#define K8C_TEST_PROXY_TESTS_H

void test_daemon_end_to_end(void **state);
int daemon_teardown(void **state);

#endif
