/*
 * net.c - the lab's links and routes over libnl: the host bridge
 * "<name>-br", one veth per node whose peer is created directly inside the
 * node's netns as eth0 (IFLA_NET_NS_FD), routes inside a node netns (other
 * nodes' podCIDRs, the service CIDR), and link up/down for partitions.
 *
 * Namespaces are entered by a short-lived thread, so the caller never leaves
 * its own netns. Must not: add a default route anywhere, or touch a link
 * whose name it was not given.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "k8c/cleanup.h"
#include "k8c/lab.h"

static int nl_error(k8c_error_t *err, int nlerr, const char *what)
{
        return k8c_make_error(err, K8C_EINTERNAL, "%s: %s", what, nl_geterror(nlerr));
}

typedef int (*nl_fn)(struct nl_sock *sk, void *arg, k8c_error_t *err);

struct ns_call {
        const char *netns;
        nl_fn fn;
        void *arg;
        k8c_error_t *err;
        int r;
};

static void *ns_thread(void *opaque)
{
        struct ns_call *c = opaque;
        if (c->netns != NULL) {
                cleanup_close int fd = open(c->netns, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        c->r = k8c_make_errno(c->err, errno, "open netns %s", c->netns);
                        return NULL;
                }
                /* This thread lives only for this call, so it never has to come back. */
                if (setns(fd, CLONE_NEWNET) < 0) {
                        c->r = k8c_make_errno(c->err, errno, "enter netns %s", c->netns);
                        return NULL;
                }
        }
        struct nl_sock *sk = nl_socket_alloc();
        int r = nl_connect(sk, NETLINK_ROUTE);
        if (r < 0)
                c->r = nl_error(c->err, r, "netlink connect");
        else
                c->r = c->fn(sk, c->arg, c->err);
        nl_socket_free(sk);
        return NULL;
}

static int in_netns(const char *netns, nl_fn fn, void *arg, k8c_error_t *err)
{
        struct ns_call c = { netns, fn, arg, err, 0 };
        pthread_t t;
        if (pthread_create(&t, NULL, ns_thread, &c) != 0)
                return k8c_make_error(err, K8C_EINTERNAL, "cannot start a netns thread");
        pthread_join(t, NULL);
        return c.r;
}

static int ifindex_of(struct nl_sock *sk, const char *name, k8c_error_t *err)
{
        struct rtnl_link *link = NULL;
        int r = rtnl_link_get_kernel(sk, 0, name, &link);
        if (r < 0)
                return nl_error(err, r, name);
        int idx = rtnl_link_get_ifindex(link);
        rtnl_link_put(link);
        return idx;
}

static int set_up(struct nl_sock *sk, const char *name, bool up, k8c_error_t *err)
{
        struct rtnl_link *link = NULL;
        int r = rtnl_link_get_kernel(sk, 0, name, &link);
        if (r < 0)
                return nl_error(err, r, name);
        struct rtnl_link *change = rtnl_link_alloc();
        if (up)
                rtnl_link_set_flags(change, IFF_UP);
        else
                rtnl_link_unset_flags(change, IFF_UP);
        r = rtnl_link_change(sk, link, change, 0);
        rtnl_link_put(change);
        rtnl_link_put(link);
        return r < 0 ? nl_error(err, r, name) : 0;
}

static int add_addr(struct nl_sock *sk, const char *ifname, const char *cidr, k8c_error_t *err)
{
        int ifindex = ifindex_of(sk, ifname, err);
        if (ifindex < 0)
                return ifindex;
        struct nl_addr *local = NULL;
        int r = nl_addr_parse(cidr, AF_INET, &local);
        if (r < 0)
                return nl_error(err, r, cidr);
        struct rtnl_addr *addr = rtnl_addr_alloc();
        rtnl_addr_set_ifindex(addr, ifindex);
        rtnl_addr_set_local(addr, local);
        r = rtnl_addr_add(sk, addr, NLM_F_CREATE | NLM_F_EXCL);
        rtnl_addr_put(addr);
        nl_addr_put(local);
        if (r < 0 && r != -NLE_EXIST)
                return nl_error(err, r, cidr);
        return 0;
}

struct attach_job {
        const char *netns, *bridge, *host_if, *cidr;
};

static int veth_fn(struct nl_sock *sk, void *arg, k8c_error_t *err)
{
        struct attach_job *j = arg;
        int br = ifindex_of(sk, j->bridge, err);
        if (br < 0)
                return br;
        cleanup_close int nsfd = open(j->netns, O_RDONLY | O_CLOEXEC);
        if (nsfd < 0)
                return k8c_make_errno(err, errno, "open %s", j->netns);
        struct rtnl_link *veth = rtnl_link_veth_alloc();
        rtnl_link_set_name(veth, j->host_if);
        rtnl_link_set_master(veth, br);
        struct rtnl_link *peer = rtnl_link_veth_get_peer(veth);
        rtnl_link_set_name(peer, "eth0");
        rtnl_link_set_ns_fd(peer, nsfd);
        int r = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
        rtnl_link_put(peer);
        rtnl_link_veth_release(veth);
        if (r < 0 && r != -NLE_EXIST)
                return nl_error(err, r, j->host_if);
        return set_up(sk, j->host_if, true, err);
}

static int write_sysctl(const char *path, const char *value, k8c_error_t *err)
{
        cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return k8c_make_errno(err, errno, "open %s", path);
        if (write(fd, value, strlen(value)) < 0)
                return k8c_make_errno(err, errno, "write %s", path);
        return 0;
}

static int node_side_fn(struct nl_sock *sk, void *arg, k8c_error_t *err)
{
        struct attach_job *j = arg;
        int r = set_up(sk, "lo", true, err);
        if (r >= 0)
                r = add_addr(sk, "eth0", j->cidr, err);
        if (r >= 0)
                r = set_up(sk, "eth0", true, err);
        /* /proc/sys/net belongs to the netns of the thread that opens it: this one. Pods reach
         * other nodes and ClusterIPs through the node, so it forwards. */
        if (r >= 0)
                r = write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", err);
        return r;
}

int k8c_lab_net_attach_node(const char *netns, const char *bridge, const char *host_if, const char *addr_cidr,
                            k8c_error_t *err)
{
        struct attach_job j = { netns, bridge, host_if, addr_cidr };
        int r = in_netns(NULL, veth_fn, &j, err);
        if (r < 0)
                return r;
        return in_netns(netns, node_side_fn, &j, err);
}

struct route_job {
        const char *dst, *gw, *dev;
};

static int route_fn(struct nl_sock *sk, void *arg, k8c_error_t *err)
{
        struct route_job *j = arg;
        int ifindex = ifindex_of(sk, j->dev, err);
        if (ifindex < 0)
                return ifindex;
        struct nl_addr *dst = NULL, *gw = NULL;
        int r = nl_addr_parse(j->dst, AF_INET, &dst);
        if (r < 0)
                return nl_error(err, r, j->dst);
        if (j->gw != NULL && (r = nl_addr_parse(j->gw, AF_INET, &gw)) < 0) {
                nl_addr_put(dst);
                return nl_error(err, r, j->gw);
        }
        struct rtnl_route *route = rtnl_route_alloc();
        rtnl_route_set_family(route, AF_INET);
        rtnl_route_set_dst(route, dst);
        if (gw == NULL)
                rtnl_route_set_scope(route, RT_SCOPE_LINK);
        struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
        rtnl_route_nh_set_ifindex(nh, ifindex);
        if (gw != NULL)
                rtnl_route_nh_set_gateway(nh, gw);
        rtnl_route_add_nexthop(route, nh);
        r = rtnl_route_add(sk, route, NLM_F_CREATE | NLM_F_REPLACE);
        rtnl_route_put(route);
        nl_addr_put(dst);
        if (gw != NULL)
                nl_addr_put(gw);
        if (r < 0)
                return nl_error(err, r, j->dst);
        return 0;
}

int k8c_lab_net_route(const char *netns, const char *dst, const char *gw, const char *dev, k8c_error_t *err)
{
        struct route_job j = { dst, gw, dev };
        return in_netns(netns, route_fn, &j, err);
}

struct updown_job {
        const char *name;
        bool up;
};

static int updown_fn(struct nl_sock *sk, void *arg, k8c_error_t *err)
{
        struct updown_job *j = arg;
        return set_up(sk, j->name, j->up, err);
}

int k8c_lab_net_link_set_up(const char *ifname, bool up, k8c_error_t *err)
{
        struct updown_job j = { ifname, up };
        return in_netns(NULL, updown_fn, &j, err);
}
