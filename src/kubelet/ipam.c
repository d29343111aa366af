/*
 * ipam.c - IPv4 CIDR arithmetic and the per-node pod IP allocator.
 *
 * Owns: which pod owns which address of the node's podCIDR, optionally kept in
 * a file so a restarted kubelet hands the same pods the same addresses. Must
 * not: touch interfaces or routes (that is the network module's job).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k8c/cleanup.h"
#include "k8c/kubelet.h"

int k8c_cidr_parse(const char *cidr, uint32_t *ret_net, int *ret_prefix, k8c_error_t *err)
{
        if (cidr == NULL)
                return k8c_make_error(err, K8C_EINVALID, "no CIDR");
        const char *slash = strchr(cidr, '/');
        if (slash == NULL)
                return k8c_make_error(err, K8C_EINVALID, "invalid CIDR %s: missing prefix length", cidr);
        cleanup_free char *addr = k8c_xstrndup(cidr, (size_t)(slash - cidr));
        struct in_addr in;
        if (inet_pton(AF_INET, addr, &in) != 1)
                return k8c_make_error(err, K8C_EINVALID, "invalid CIDR %s: not an IPv4 address", cidr);
        char *end = NULL;
        long prefix = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || prefix < 8 || prefix > 30)
                return k8c_make_error(err, K8C_EINVALID, "invalid CIDR %s: prefix must be 8..30", cidr);
        uint32_t mask = prefix == 0 ? 0 : ~((1u << (32 - prefix)) - 1);
        *ret_net = ntohl(in.s_addr) & mask;
        *ret_prefix = (int)prefix;
        return 0;
}

void k8c_ip_format(uint32_t ip, char buf[16])
{
        snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

struct k8c_ipam {
        pthread_mutex_t lock;
        uint32_t net;
        uint32_t size; /* addresses in the CIDR */
        char **owners; /* index → owner or NULL */
        char *file;
};

static int ipam_save(struct k8c_ipam *ipam, k8c_error_t *err)
{
        if (ipam->file == NULL)
                return 0;
        /* Write-then-rename so a crash never leaves a half file. */
        cleanup_free char *tmp = k8c_xasprintf("%s.tmp", ipam->file);
        cleanup_fclose FILE *f = fopen(tmp, "we");
        if (f == NULL)
                return k8c_make_errno(err, errno, "open %s", tmp);
        for (uint32_t i = 0; i < ipam->size; i++) {
                if (ipam->owners[i] == NULL)
                        continue;
                char ip[16];
                k8c_ip_format(ipam->net + i, ip);
                fprintf(f, "%s %s\n", ip, ipam->owners[i]);
        }
        if (fflush(f) != 0 || fsync(fileno(f)) != 0)
                return k8c_make_errno(err, errno, "write %s", tmp);
        if (rename(tmp, ipam->file) < 0)
                return k8c_make_errno(err, errno, "rename %s", tmp);
        return 0;
}

static int ipam_load(struct k8c_ipam *ipam, k8c_error_t *err)
{
        cleanup_fclose FILE *f = fopen(ipam->file, "re");
        if (f == NULL) {
                if (errno == ENOENT)
                        return 0;
                return k8c_make_errno(err, errno, "open %s", ipam->file);
        }
        char line[512];
        while (fgets(line, sizeof(line), f) != NULL) {
                char ip[64], owner[400];
                if (sscanf(line, "%63s %399s", ip, owner) != 2)
                        continue;
                struct in_addr in;
                if (inet_pton(AF_INET, ip, &in) != 1)
                        continue;
                uint32_t a = ntohl(in.s_addr);
                /* Addresses outside a changed podCIDR are dropped, not fatal. */
                if (a < ipam->net || a - ipam->net >= ipam->size)
                        continue;
                free(ipam->owners[a - ipam->net]);
                ipam->owners[a - ipam->net] = k8c_xstrdup(owner);
        }
        return 0;
}

int k8c_ipam_new(const char *cidr, const char *file, struct k8c_ipam **ret, k8c_error_t *err)
{
        uint32_t net;
        int prefix;
        int r = k8c_cidr_parse(cidr, &net, &prefix, err);
        if (r < 0)
                return r;
        struct k8c_ipam *ipam = k8c_xcalloc(1, sizeof(*ipam));
        pthread_mutex_init(&ipam->lock, NULL);
        ipam->net = net;
        ipam->size = 1u << (32 - prefix);
        ipam->owners = k8c_xcalloc(ipam->size, sizeof(char *));
        ipam->file = file != NULL ? k8c_xstrdup(file) : NULL;
        if (file != NULL && (r = ipam_load(ipam, err)) < 0) {
                k8c_ipam_free(ipam);
                return r;
        }
        *ret = ipam;
        return 0;
}

void k8c_ipam_free(struct k8c_ipam *ipam)
{
        if (ipam == NULL)
                return;
        for (uint32_t i = 0; i < ipam->size; i++)
                free(ipam->owners[i]);
        free(ipam->owners);
        free(ipam->file);
        pthread_mutex_destroy(&ipam->lock);
        free(ipam);
}

int k8c_ipam_allocate(struct k8c_ipam *ipam, const char *owner, char **ret_ip, k8c_error_t *err)
{
        pthread_mutex_lock(&ipam->lock);
        int64_t found = -1;
        for (uint32_t i = 2; i + 1 < ipam->size; i++)
                if (ipam->owners[i] != NULL && strcmp(ipam->owners[i], owner) == 0) {
                        found = i;
                        break;
                }
        if (found < 0) {
                /* .0 is the network, .1 the gateway on the bridge, the last one broadcast. */
                for (uint32_t i = 2; i + 1 < ipam->size; i++)
                        if (ipam->owners[i] == NULL) {
                                found = i;
                                break;
                        }
                if (found < 0) {
                        pthread_mutex_unlock(&ipam->lock);
                        return k8c_make_error(err, K8C_EUNAVAILABLE, "no free address in the pod CIDR");
                }
                ipam->owners[found] = k8c_xstrdup(owner);
                int r = ipam_save(ipam, err);
                if (r < 0) {
                        free(k8c_steal(&ipam->owners[found]));
                        pthread_mutex_unlock(&ipam->lock);
                        return r;
                }
        }
        char buf[16];
        k8c_ip_format(ipam->net + (uint32_t)found, buf);
        pthread_mutex_unlock(&ipam->lock);
        *ret_ip = k8c_xstrdup(buf);
        return 0;
}

int k8c_ipam_release(struct k8c_ipam *ipam, const char *owner, k8c_error_t *err)
{
        pthread_mutex_lock(&ipam->lock);
        bool changed = false;
        for (uint32_t i = 0; i < ipam->size; i++)
                if (ipam->owners[i] != NULL && strcmp(ipam->owners[i], owner) == 0) {
                        free(k8c_steal(&ipam->owners[i]));
                        changed = true;
                }
        int r = changed ? ipam_save(ipam, err) : 0;
        pthread_mutex_unlock(&ipam->lock);
        return r;
}

void k8c_ipam_gateway(const struct k8c_ipam *ipam, char buf[16])
{
        k8c_ip_format(ipam->net + 1, buf);
}

char **k8c_ipam_owners(struct k8c_ipam *ipam)
{
        pthread_mutex_lock(&ipam->lock);
        size_t n = 0;
        for (uint32_t i = 0; i < ipam->size; i++)
                n += ipam->owners[i] != NULL;
        char **owners = k8c_xcalloc(n + 1, sizeof(char *));
        n = 0;
        for (uint32_t i = 0; i < ipam->size; i++)
                if (ipam->owners[i] != NULL)
                        owners[n++] = k8c_xstrdup(ipam->owners[i]);
        pthread_mutex_unlock(&ipam->lock);
        return owners;
}
