/*
 * network.c - pod namespaces and the pod network over libnl: persistent
 * net/UTS/IPC namespaces held by bind mounts, the node bridge k8c0 with the
 * podCIDR gateway, one veth pair per pod whose peer is created directly inside
 * the pod's netns (IFLA_NET_NS_FD) as eth0, the pod address, lo up, and the
 * default route via the bridge (inside the pod netns only).
 *
 * Namespaces are entered per thread (setns affects only the calling thread)
 * and always left before returning, so the daemon's own connections stay in
 * its netns. Must not: touch any interface other than the bridge and the pod
 * veths it names; no shelling out to ip(8).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "k8c/cleanup.h"
#include "k8c/kubelet.h"

static int nl_error(k8c_error_t *err, int nlerr, const char *what)
{
        return k8c_make_error(err, K8C_EINTERNAL, "%s: %s", what, nl_geterror(nlerr));
}

/* ---- persistent namespaces ---- */

struct ns_job {
        const char *net, *uts, *ipc, *hostname;
        k8c_error_t *err;
        int r;
};

static int bind_ns(const char *kind, const char *path, k8c_error_t *err)
{
        if (path == NULL)
                return 0;
        int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (fd < 0)
                return k8c_make_errno(err, errno, "create %s", path);
        close(fd);
        cleanup_free char *src = k8c_xasprintf("/proc/thread-self/ns/%s", kind);
        if (mount(src, path, NULL, MS_BIND, NULL) < 0) {
                int e = errno;
                unlink(path);
                return k8c_make_errno(err, e, "bind %s to %s", src, path);
        }
        return 0;
}

static void *ns_thread(void *opaque)
{
        struct ns_job *j = opaque;
        /* unshare in a thread of our own: the new namespaces die with it except for the bind mounts. */
        int flags = (j->net ? CLONE_NEWNET : 0) | (j->uts ? CLONE_NEWUTS : 0) | (j->ipc ? CLONE_NEWIPC : 0);
        if (unshare(flags) < 0) {
                j->r = k8c_make_errno(j->err, errno, "unshare");
                return NULL;
        }
        if (j->uts != NULL && j->hostname != NULL && sethostname(j->hostname, strlen(j->hostname)) < 0) {
                j->r = k8c_make_errno(j->err, errno, "sethostname %s", j->hostname);
                return NULL;
        }
        j->r = bind_ns("net", j->net, j->err);
        if (j->r >= 0)
                j->r = bind_ns("uts", j->uts, j->err);
        if (j->r >= 0)
                j->r = bind_ns("ipc", j->ipc, j->err);
        if (j->r < 0) {
                k8c_ns_remove(j->net, NULL);
                k8c_ns_remove(j->uts, NULL);
                k8c_ns_remove(j->ipc, NULL);
        }
        return NULL;
}

/* As `ip netns add` does before it creates a file in /run/netns: the directory becomes a shared
 * mount point (bound onto itself when it is not one yet). Otherwise the first `ip netns add`
 * after ours binds /run/netns over itself, our namespace mounts end up beneath it and can no
 * longer be removed. */
static int share_netns_dir(const char *dir, k8c_error_t *err)
{
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return k8c_make_errno(err, errno, "mkdir %s", dir);
        if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) == 0)
                return 0;
        if (errno != EINVAL)
                return k8c_make_errno(err, errno, "make %s shared", dir);
        if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0)
                return k8c_make_errno(err, errno, "bind %s onto itself", dir);
        if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) < 0)
                return k8c_make_errno(err, errno, "make %s shared", dir);
        return 0;
}

int k8c_ns_create(const char *net_path, const char *uts_path, const char *ipc_path, const char *hostname,
                  k8c_error_t *err)
{
        if (net_path != NULL && strncmp(net_path, "/run/netns/", 11) == 0) {
                int r = share_netns_dir("/run/netns", err);
                if (r < 0)
                        return r;
        }
        struct ns_job j = {
                .net = net_path, .uts = uts_path, .ipc = ipc_path, .hostname = hostname, .err = err
        };
        pthread_t t;
        if (pthread_create(&t, NULL, ns_thread, &j) != 0)
                return k8c_make_error(err, K8C_EINTERNAL, "cannot start the namespace thread");
        pthread_join(t, NULL);
        return j.r;
}

int k8c_ns_remove(const char *path, k8c_error_t *err)
{
        if (path == NULL)
                return 0;
        if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                return k8c_make_errno(err, errno, "umount %s", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return k8c_make_errno(err, errno, "unlink %s", path);
        return 0;
}

/* ---- running netlink work inside a namespace ---- */

typedef int (*netns_fn)(struct nl_sock *sk, void *arg, k8c_error_t *err);

/* Opens a route socket inside netns (NULL = the current one), runs fn, and returns to the
 * thread's original netns whatever happens. */
static int in_netns(const char *netns, netns_fn fn, void *arg, k8c_error_t *err)
{
        cleanup_close int self = -1;
        if (netns != NULL) {
                cleanup_close int target = open(netns, O_RDONLY | O_CLOEXEC);
                if (target < 0)
                        return k8c_make_errno(err, errno, "open netns %s", netns);
                self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
                if (self < 0)
                        return k8c_make_errno(err, errno, "open own netns");
                if (setns(target, CLONE_NEWNET) < 0)
                        return k8c_make_errno(err, errno, "enter netns %s", netns);
        }
        struct nl_sock *sk = nl_socket_alloc();
        int r = nl_connect(sk, NETLINK_ROUTE);
        /* The socket stays bound to the netns it was created in, so we can leave at once. */
        if (self >= 0 && setns(self, CLONE_NEWNET) < 0)
                abort(); /* a worker stranded in a pod netns would corrupt every later request */
        if (r < 0) {
                nl_socket_free(sk);
                return nl_error(err, r, "netlink connect");
        }
        r = fn(sk, arg, err);
        nl_socket_free(sk);
        return r;
}

static int link_up(struct nl_sock *sk, const char *name, k8c_error_t *err)
{
        struct rtnl_link *link = NULL;
        int r = rtnl_link_get_kernel(sk, 0, name, &link);
        if (r < 0)
                return nl_error(err, r, name);
        struct rtnl_link *change = rtnl_link_alloc();
        rtnl_link_set_flags(change, IFF_UP);
        r = rtnl_link_change(sk, link, change, 0);
        rtnl_link_put(change);
        rtnl_link_put(link);
        if (r < 0)
                return nl_error(err, r, name);
        return 0;
}

static int add_addr(struct nl_sock *sk, const char *ifname, const char *cidr, k8c_error_t *err)
{
        int ifindex = 0;
        struct rtnl_link *link = NULL;
        int r = rtnl_link_get_kernel(sk, 0, ifname, &link);
        if (r < 0)
                return nl_error(err, r, ifname);
        ifindex = rtnl_link_get_ifindex(link);
        rtnl_link_put(link);
        struct nl_addr *local = NULL;
        r = nl_addr_parse(cidr, AF_INET, &local);
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

struct bridge_job {
        const char *name, *gw_cidr;
};

static int bridge_fn(struct nl_sock *sk, void *arg, k8c_error_t *err)
{
        struct bridge_job *j = arg;
        struct rtnl_link *br = rtnl_link_bridge_alloc();
        rtnl_link_set_name(br, j->name);
        int r = rtnl_link_add(sk, br, NLM_F_CREATE | NLM_F_EXCL);
        rtnl_link_put(br);
        if (r < 0 && r != -NLE_EXIST)
                return nl_error(err, r, j->name);
        r = add_addr(sk, j->name, j->gw_cidr, err);
        if (r < 0)
                return r;
        return link_up(sk, j->name, err);
}

int k8c_net_ensure_bridge(const char *node_netns, const char *bridge, const char *gw_cidr, k8c_error_t *err)
{
        struct bridge_job j = { bridge, gw_cidr };
        return in_netns(node_netns, bridge_fn, &j, err);
}

struct attach_job {
        const char *pod_netns, *bridge, *host_if, *ip_cidr, *gw;
};

static int veth_fn(struct nl_sock *sk, void *arg, k8c_error_t *err)
{
        struct attach_job *j = arg;
        struct rtnl_link *br = NULL;
        int r = rtnl_link_get_kernel(sk, 0, j->bridge, &br);
        if (r < 0)
                return nl_error(err, r, j->bridge);
        int br_index = rtnl_link_get_ifindex(br);
        rtnl_link_put(br);
        cleanup_close int podfd = open(j->pod_netns, O_RDONLY | O_CLOEXEC);
        if (podfd < 0)
                return k8c_make_errno(err, errno, "open %s", j->pod_netns);
        struct rtnl_link *veth = rtnl_link_veth_alloc();
        rtnl_link_set_name(veth, j->host_if);
        rtnl_link_set_master(veth, br_index);
        struct rtnl_link *peer = rtnl_link_veth_get_peer(veth);
        rtnl_link_set_name(peer, "eth0");
        rtnl_link_set_ns_fd(peer, podfd);
        r = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
        rtnl_link_put(peer);
        rtnl_link_veth_release(veth);
        if (r < 0 && r != -NLE_EXIST)
                return nl_error(err, r, j->host_if);
        return link_up(sk, j->host_if, err);
}

static int pod_side_fn(struct nl_sock *sk, void *arg, k8c_error_t *err)
{
        struct attach_job *j = arg;
        int r = link_up(sk, "lo", err);
        if (r >= 0)
                r = add_addr(sk, "eth0", j->ip_cidr, err);
        if (r >= 0)
                r = link_up(sk, "eth0", err);
        if (r < 0)
                return r;
        struct rtnl_link *eth0 = NULL;
        r = rtnl_link_get_kernel(sk, 0, "eth0", &eth0);
        if (r < 0)
                return nl_error(err, r, "eth0");
        int ifindex = rtnl_link_get_ifindex(eth0);
        rtnl_link_put(eth0);
        struct nl_addr *dst = NULL, *gw = NULL;
        nl_addr_parse("0.0.0.0/0", AF_INET, &dst);
        r = nl_addr_parse(j->gw, AF_INET, &gw);
        if (r < 0) {
                nl_addr_put(dst);
                return nl_error(err, r, j->gw);
        }
        struct rtnl_route *route = rtnl_route_alloc();
        rtnl_route_set_family(route, AF_INET);
        rtnl_route_set_dst(route, dst);
        struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
        rtnl_route_nh_set_ifindex(nh, ifindex);
        rtnl_route_nh_set_gateway(nh, gw);
        rtnl_route_add_nexthop(route, nh);
        r = rtnl_route_add(sk, route, NLM_F_CREATE | NLM_F_EXCL);
        rtnl_route_put(route);
        nl_addr_put(dst);
        nl_addr_put(gw);
        if (r < 0 && r != -NLE_EXIST)
                return nl_error(err, r, "default route");
        return 0;
}

int k8c_net_attach_pod(const char *node_netns, const char *pod_netns, const char *bridge, const char *host_if,
                       const char *ip_cidr, const char *gw, k8c_error_t *err)
{
        struct attach_job j = { pod_netns, bridge, host_if, ip_cidr, gw };
        int r = in_netns(node_netns, veth_fn, &j, err);
        if (r < 0)
                return r;
        return in_netns(pod_netns, pod_side_fn, &j, err);
}

static int delete_fn(struct nl_sock *sk, void *arg, k8c_error_t *err)
{
        struct rtnl_link *link = rtnl_link_alloc();
        rtnl_link_set_name(link, arg);
        int r = rtnl_link_delete(sk, link);
        rtnl_link_put(link);
        if (r < 0 && r != -NLE_OBJ_NOTFOUND && r != -NLE_NODEV)
                return nl_error(err, r, arg);
        return 0;
}

int k8c_net_delete_link(const char *netns, const char *ifname, k8c_error_t *err)
{
        return in_netns(netns, delete_fn, (void *)ifname, err);
}

struct exists_job {
        const char *name;
        int found;
};

static int exists_fn(struct nl_sock *sk, void *arg, k8c_error_t *err)
{
        struct exists_job *j = arg;
        struct rtnl_link *link = NULL;
        int r = rtnl_link_get_kernel(sk, 0, j->name, &link);
        j->found = r >= 0;
        if (link != NULL)
                rtnl_link_put(link);
        return 0;
}

int k8c_net_link_exists(const char *netns, const char *ifname, k8c_error_t *err)
{
        struct exists_job j = { ifname, 0 };
        int r = in_netns(netns, exists_fn, &j, err);
        return r < 0 ? r : j.found;
}

struct route_job {
        const char *dst, *gw;
};

static int route_fn(struct nl_sock *sk, void *arg, k8c_error_t *err)
{
        struct route_job *j = arg;
        struct nl_addr *dst = NULL, *gw = NULL;
        int r = nl_addr_parse(j->dst, AF_INET, &dst);
        if (r < 0)
                return nl_error(err, r, j->dst);
        r = nl_addr_parse(j->gw, AF_INET, &gw);
        if (r < 0) {
                nl_addr_put(dst);
                return nl_error(err, r, j->gw);
        }
        struct rtnl_route *route = rtnl_route_alloc();
        rtnl_route_set_family(route, AF_INET);
        rtnl_route_set_dst(route, dst);
        /* No interface: the kernel picks the one the gateway is on-link through, and refuses a
         * gateway that is not (a node not on our network). */
        struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
        rtnl_route_nh_set_gateway(nh, gw);
        rtnl_route_add_nexthop(route, nh);
        r = rtnl_route_add(sk, route, NLM_F_CREATE | NLM_F_REPLACE);
        rtnl_route_put(route);
        nl_addr_put(dst);
        nl_addr_put(gw);
        if (r < 0)
                return nl_error(err, r, j->dst);
        return 0;
}

int k8c_net_route_replace(const char *netns, const char *dst_cidr, const char *gw, k8c_error_t *err)
{
        struct route_job j = { dst_cidr, gw };
        return in_netns(netns, route_fn, &j, err);
}
