/*
 * names.h - object names (DNS-1123 label/subdomain), generateName suffixes,
 * UUIDv4, RFC3339 timestamps and human ages as kubectl prints them.
 */
#ifndef K8C_NAMES_H
#define K8C_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* true if valid; else false and *msg (if non-NULL, caller frees) in Kubernetes' words, e.g.
 * "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or
 * '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used
 * for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')" */
bool k8c_dns1123_subdomain_valid(const char *s, char **msg); /* ≤253 */
bool k8c_dns1123_label_valid(const char *s, char **msg);     /* ≤63 */
/* Several messages are joined with ", " in *msg. Validators that report one field error per
 * message (as ValidateObjectMeta does) use these instead: they fill ret_msgs with 0..2
 * messages (caller frees each) and return how many. */
size_t k8c_dns1123_label_errors(const char *s, char *ret_msgs[2]);
size_t k8c_dns1123_subdomain_errors(const char *s, char *ret_msgs[2]);
/* DNS-1035 label (Service names): [a-z]([-a-z0-9]*[a-z0-9])?, ≤63. */
size_t k8c_dns1035_label_errors(const char *s, char *ret_msgs[2]);

/* base (truncated to 58 chars) + 5 random chars from "bcdfghjklmnpqrstvwxz2456789". Caller frees. */
char *k8c_generate_name(const char *base);

/* Random UUIDv4 "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" into buf (37 bytes). */
void k8c_uuid4(char buf[37]);

/* "2026-11-24T15:32:18Z" into buf (≥ 21 bytes). */
void k8c_rfc3339(time_t t, char *buf, size_t bufsz);
/* Parses RFC3339 (Z or ±hh:mm offsets, optional fractional seconds). -1 on error. */
int k8c_rfc3339_parse(const char *s, time_t *ret);

/* kubectl's HumanDuration: "0s".."119s" → "Ns"; "2m".."9m59s" → "Nm" or "NmSs"; hours "Nh",
 * "NhMm"; days "Nd", "NdHh"; years "Ny", "NyDd". Writes into buf. */
void k8c_human_age(long seconds, char *buf, size_t bufsz);

#endif
