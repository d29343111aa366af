/*
 * fake_gateway.h - cases of the etcd suite that run the backend against a fake
 * etcd JSON gateway (libmicrohttpd on loopback) answering canned messages:
 * int64s as numbers or strings, omitted fields, a watch stream cut into tiny
 * pieces and ended so the backend must resume without repeating events.
 */
#ifndef K8C_TESTS_ETCD_FAKE_GATEWAY_H
#define K8C_TESTS_ETCD_FAKE_GATEWAY_H

void test_fake_gateway_range_parsing(void **state);
void test_fake_gateway_watch_pieces_and_resume(void **state);
void test_fake_gateway_watch_canceled_compacted(void **state);
void test_fake_gateway_error_mapping(void **state);

#endif
