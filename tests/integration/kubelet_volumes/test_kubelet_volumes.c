/*
 * Root integration tests of the kubelet's volumes with real runc pods
 * (busybox sh) in a node network namespace made by the test, against the real
 * apiserver on loopback: two containers share an emptyDir at different paths
 * (one writes, the other reads; readOnly and subPath; a tmpfs emptyDir with a
 * size limit), removed with the pod; hostPath volumes see host files, type
 * checks make a mismatching pod wait with a FailedMount event; a PVC bound to
 * a hostPath PersistentVolume keeps a file across pod deletion and
 * recreation; configMap, secret and downwardAPI files appear with the right
 * content and modes, and a pod waiting for a missing configMap starts once it
 * exists. Every host path used lives in the test's temp dir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/kubelet_runc.h"
#include "k8c/cleanup.h"
#include "k8c/json.h"

static json_t *obj_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *obj_json(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        cleanup_free char *text = NULL;
        assert_true(vasprintf(&text, fmt, ap) >= 0);
        va_end(ap);
        json_error_t je;
        json_t *p = json_loads(text, 0, &je);
        if (p == NULL)
                fprintf(stderr, "bad json: %s at %d\n", je.text, je.position);
        assert_non_null(p);
        return p;
}

static bool running(const json_t *p)
{
        const char *phase = k8c_json_get_string(p, "status.phase");
        return phase != NULL && strcmp(phase, "Running") == 0;
}

static bool running_ready(const json_t *p)
{
        const json_t *c = k8c_json_get(p, "status.conditions");
        size_t i;
        json_t *cond;
        json_array_foreach(c, i, cond)
        {
                if (strcmp(json_string_value(json_object_get(cond, "type")) ?: "", "Ready") == 0)
                        return running(p) &&
                               strcmp(json_string_value(json_object_get(cond, "status")) ?: "", "True") == 0;
        }
        return false;
}

static bool waiting_on_mount(const json_t *p)
{
        const char *reason = k8c_json_get_string(p, "status.containerStatuses[0].state.waiting.reason");
        return reason != NULL && strcmp(reason, "ContainerCreating") == 0 &&
               k8c_json_get_string(p, "status.containerStatuses[0].state.waiting.message") != NULL;
}

static char *read_text(const char *path)
{
        cleanup_fclose FILE *fp = fopen(path, "re");
        if (fp == NULL)
                return NULL;
        char buf[4096];
        size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
        buf[n] = '\0';
        return k8c_xstrdup(buf);
}

static void write_text(const char *path, const char *text)
{
        FILE *fp = fopen(path, "we");
        assert_non_null(fp);
        fputs(text, fp);
        fclose(fp);
}

/* The mount options of the mount at path in this process's namespace (NULL when not a mount). */
static char *mount_line(const char *path)
{
        cleanup_fclose FILE *fp = fopen("/proc/self/mountinfo", "re");
        char line[4096];
        while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
                char mnt[1024];
                if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1 && strcmp(mnt, path) == 0)
                        return k8c_xstrdup(line);
        }
        return NULL;
}

/* ---- emptyDir ---- */

static void test_emptydir_shared(void **state)
{
        struct k8c_test_node *n = *state;
        json_auto_t *p = obj_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"shared\"},"
                "\"spec\":{\"terminationGracePeriodSeconds\":0,"
                "\"volumes\":[{\"name\":\"shared\",\"emptyDir\":{}},"
                "{\"name\":\"mem\",\"emptyDir\":{\"medium\":\"Memory\",\"sizeLimit\":\"1Mi\"}}],"
                "\"containers\":["
                "{\"name\":\"writer\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\","
                "\"echo hello-from-writer > /out/msg; echo in-sub > /sub/f; exec sleep 3600\"],"
                "\"volumeMounts\":[{\"name\":\"shared\",\"mountPath\":\"/out\"},"
                "{\"name\":\"shared\",\"mountPath\":\"/sub\",\"subPath\":\"sub/dir\"},"
                "{\"name\":\"mem\",\"mountPath\":\"/mem\"}]},"
                "{\"name\":\"reader\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\","
                "\"while [ ! -e /in/msg ]; do sleep 0.2; done; cat /in/msg; exec sleep 3600\"],"
                "\"readinessProbe\":{\"exec\":{\"command\":[\"cat\",\"/in/msg\"]},\"periodSeconds\":1},"
                "\"volumeMounts\":[{\"name\":\"shared\",\"mountPath\":\"/in\",\"readOnly\":true}]}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p), 0);
        json_auto_t *up = k8c_test_node_wait_pod(n, "shared", running, 30000);
        assert_non_null(up);
        const char *uid = k8c_json_get_string(up, "metadata.uid");

        /* One writes, the other reads the same directory at another path. */
        assert_true(k8c_test_wait_log(n, up, "reader", 0, "hello-from-writer", 10000));
        /* On the host: under the pod's directory; the subPath is a directory inside the volume. */
        cleanup_free char *vol =
                k8c_xasprintf("%s/pods/%s/volumes/kubernetes.io~empty-dir/shared", n->root, uid);
        cleanup_free char *msg_path = k8c_xasprintf("%s/msg", vol);
        cleanup_free char *sub_path = k8c_xasprintf("%s/sub/dir/f", vol);
        cleanup_free char *msg = read_text(msg_path);
        cleanup_free char *sub = read_text(sub_path);
        assert_non_null(msg);
        assert_string_equal(msg, "hello-from-writer\n");
        assert_non_null(sub);
        assert_string_equal(sub, "in-sub\n");
        /* readOnly holds in the reader, not in the writer. */
        assert_int_not_equal(k8c_test_node_exec(n, up, "reader", "echo x > /in/other"), 0);
        assert_int_equal(k8c_test_node_exec(n, up, "writer", "echo x > /out/other"), 0);

        /* medium Memory: a tmpfs of the size limit. */
        cleanup_free char *mem =
                k8c_xasprintf("%s/pods/%s/volumes/kubernetes.io~empty-dir/mem", n->root, uid);
        cleanup_free char *line = mount_line(mem);
        assert_non_null(line);
        assert_non_null(strstr(line, " - tmpfs "));
        assert_non_null(strstr(line, "size=1024k"));
        assert_int_equal(
                k8c_test_node_exec(n, up, "writer", "busybox dd if=/dev/zero of=/mem/a bs=1024 count=512"),
                0);
        assert_int_not_equal(
                k8c_test_node_exec(n, up, "writer",
                                   "busybox dd if=/dev/zero of=/mem/b bs=1024 count=2048 2>/dev/null"),
                0);

        /* A restarted kubelet adopts the pod as it is: same containers, the tmpfs and its data kept
         * (not mounted over), the readiness probe passing again. */
        const char *writer_id = k8c_json_get_string(k8c_test_container_status(up, "writer"), "containerID");
        assert_int_equal(k8c_test_node_exec(n, up, "writer", "busybox rm -f /mem/b; echo kept > /mem/kept"),
                         0);
        assert_int_equal(k8c_test_node_restart_kubelet(n), 0);
        sleep(2);
        json_auto_t *adopted = k8c_test_node_wait_pod(n, "shared", running_ready, 20000);
        assert_non_null(adopted);
        assert_string_equal(k8c_json_get_string(k8c_test_container_status(adopted, "writer"), "containerID"),
                            writer_id);
        assert_int_equal(k8c_json_get_int(k8c_test_container_status(adopted, "writer"), "restartCount", -1),
                         0);
        assert_int_equal(k8c_test_node_exec(n, adopted, "writer", "test \"$(cat /mem/kept)\" = kept"), 0);
        cleanup_free char *kept_path = k8c_xasprintf("%s/kept", mem);
        cleanup_free char *kept = read_text(kept_path);
        assert_non_null(kept);
        assert_string_equal(kept, "kept\n");

        /* Deleting the pod removes its emptyDirs, tmpfs included. */
        assert_true(k8c_test_node_delete_pod(n, "shared", uid, 20000));
        struct stat st;
        assert_int_equal(stat(vol, &st), -1);
        assert_int_equal(stat(mem, &st), -1);
        cleanup_free char *gone = mount_line(mem);
        assert_null(gone);
}

/* ---- hostPath ---- */

static void test_hostpath(void **state)
{
        struct k8c_test_node *n = *state;
        cleanup_free char *host = k8c_xasprintf("%s/host", n->root);
        cleanup_free char *hello = k8c_xasprintf("%s/hello.txt", host);
        cleanup_free char *created = k8c_xasprintf("%s/created/dir", n->root);
        assert_int_equal(mkdir(host, 0755), 0);
        write_text(hello, "from-host\n");
        json_auto_t *p = obj_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"hostpath\"},"
                "\"spec\":{\"terminationGracePeriodSeconds\":0,"
                "\"volumes\":[{\"name\":\"hp\",\"hostPath\":{\"path\":\"%s\",\"type\":\"Directory\"}},"
                "{\"name\":\"hf\",\"hostPath\":{\"path\":\"%s\",\"type\":\"File\"}},"
                "{\"name\":\"hc\",\"hostPath\":{\"path\":\"%s\",\"type\":\"DirectoryOrCreate\"}}],"
                "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\","
                "\"cat /host/hello.txt; cat /greeting; echo from-pod > /host/from-pod.txt; "
                "echo made > /made/x; exec sleep 3600\"],"
                "\"volumeMounts\":[{\"name\":\"hp\",\"mountPath\":\"/host\"},"
                "{\"name\":\"hf\",\"mountPath\":\"/greeting\",\"readOnly\":true},"
                "{\"name\":\"hc\",\"mountPath\":\"/made\"}]}]}}",
                host, hello, created);
        assert_int_equal(k8c_test_node_create(n, "pods", p), 0);
        json_auto_t *up = k8c_test_node_wait_pod(n, "hostpath", running, 30000);
        assert_non_null(up);
        const char *uid = k8c_json_get_string(up, "metadata.uid");
        assert_true(k8c_test_wait_log(n, up, "c", 0, "from-host\nfrom-host\n", 10000));
        cleanup_free char *from_pod = k8c_xasprintf("%s/from-pod.txt", host);
        cleanup_free char *made = k8c_xasprintf("%s/x", created);
        bool seen = false;
        for (int i = 0; i < 50 && !seen; i++) {
                cleanup_free char *t = read_text(made);
                seen = t != NULL && strcmp(t, "made\n") == 0;
                if (!seen)
                        usleep(100 * 1000);
        }
        assert_true(seen);
        cleanup_free char *fp_text = read_text(from_pod);
        assert_non_null(fp_text);
        assert_string_equal(fp_text, "from-pod\n");
        /* A read-only file mount. */
        assert_int_not_equal(k8c_test_node_exec(n, up, "c", "echo x > /greeting"), 0);

        /* A type that does not match: the pod waits, says why, and no container starts. */
        json_auto_t *bad = obj_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"bad-hostpath\"},"
                "\"spec\":{\"terminationGracePeriodSeconds\":0,"
                "\"volumes\":[{\"name\":\"hp\",\"hostPath\":{\"path\":\"%s\",\"type\":\"Directory\"}}],"
                "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"command\":[\"sleep\",\"3600\"],"
                "\"volumeMounts\":[{\"name\":\"hp\",\"mountPath\":\"/host\"}]}]}}",
                hello);
        assert_int_equal(k8c_test_node_create(n, "pods", bad), 0);
        json_auto_t *waiting = k8c_test_node_wait_pod(n, "bad-hostpath", waiting_on_mount, 20000);
        assert_non_null(waiting);
        assert_string_equal(k8c_json_get_string(waiting, "status.phase"), "Pending");
        cleanup_free char *want =
                k8c_xasprintf("MountVolume.SetUp failed for volume \"hp\": hostPath type check "
                              "failed: %s is not a directory",
                              hello);
        assert_string_equal(k8c_json_get_string(waiting, "status.containerStatuses[0].state.waiting.message"),
                            want);
        assert_true(k8c_test_pod_has_event(n, "bad-hostpath", "FailedMount", want));
        cleanup_free char *bad_containers =
                k8c_xasprintf("%s/pods/%s/containers", n->root, k8c_json_get_string(waiting, "metadata.uid"));
        struct stat st;
        assert_int_equal(stat(bad_containers, &st), -1);

        /* Host data stays when the pod goes. */
        assert_true(k8c_test_node_delete_pod(n, "hostpath", uid, 20000));
        assert_int_equal(stat(hello, &st), 0);
        assert_int_equal(stat(from_pod, &st), 0);
        assert_int_equal(stat(made, &st), 0);
}

/* ---- persistentVolumeClaim ---- */

static void test_pvc_survives_pod(void **state)
{
        struct k8c_test_node *n = *state;
        cleanup_free char *data = k8c_xasprintf("%s/pv-data", n->root);
        json_auto_t *pv =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":"
                         "\"pv-k8ct\"},\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"accessModes\":["
                         "\"ReadWriteOnce\"],\"hostPath\":{\"path\":\"%s\",\"type\":\"DirectoryOrCreate\"}}}",
                         data);
        assert_int_equal(k8c_test_node_create(n, "/api/v1/persistentvolumes", pv), 0);
        json_auto_t *pvc =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":"
                         "\"data\"},\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{"
                         "\"requests\":{\"storage\":\"1Gi\"}},\"volumeName\":\"pv-k8ct\"}}");
        assert_int_equal(k8c_test_node_create(n, "persistentvolumeclaims", pvc), 0);
        /* The binder is another controller's job: the test marks the claim Bound itself. */
        json_auto_t *bound = obj_json("{\"status\":{\"phase\":\"Bound\"}}");
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_client_patch(n->client,
                                          "/api/v1/namespaces/default/persistentvolumeclaims/data/status",
                                          "application/merge-patch+json", bound, NULL, &err),
                         0);

        const char *pod_fmt =
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"},"
                "\"spec\":{\"terminationGracePeriodSeconds\":0,"
                "\"volumes\":[{\"name\":\"d\",\"persistentVolumeClaim\":{\"claimName\":\"%s\"}}],"
                "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\","
                "\"%s\"],\"volumeMounts\":[{\"name\":\"d\",\"mountPath\":\"/data\"}]}]}}";
        json_auto_t *p1 =
                obj_json(pod_fmt, "pvc-1", "data", "echo written-by-pvc-1 >> /data/file; exec sleep 3600");
        assert_int_equal(k8c_test_node_create(n, "pods", p1), 0);
        json_auto_t *up1 = k8c_test_node_wait_pod(n, "pvc-1", running, 30000);
        assert_non_null(up1);
        cleanup_free char *file = k8c_xasprintf("%s/file", data);
        bool written = false;
        for (int i = 0; i < 100 && !written; i++) {
                cleanup_free char *t = read_text(file);
                written = t != NULL && strcmp(t, "written-by-pvc-1\n") == 0;
                if (!written)
                        usleep(100 * 1000);
        }
        assert_true(written);
        assert_true(k8c_test_node_delete_pod(n, "pvc-1", k8c_json_get_string(up1, "metadata.uid"), 20000));
        cleanup_free char *kept = read_text(file);
        assert_non_null(kept);
        assert_string_equal(kept, "written-by-pvc-1\n");

        /* The next pod claiming it sees the file. */
        json_auto_t *p2 = obj_json(pod_fmt, "pvc-2", "data", "cat /data/file; exec sleep 3600");
        assert_int_equal(k8c_test_node_create(n, "pods", p2), 0);
        json_auto_t *up2 = k8c_test_node_wait_pod(n, "pvc-2", running, 30000);
        assert_non_null(up2);
        assert_true(k8c_test_wait_log(n, up2, "c", 0, "written-by-pvc-1\n", 10000));

        /* A local PersistentVolume (an existing directory), mounted read-only as the claim asks. */
        cleanup_free char *local = k8c_xasprintf("%s/local-disk", n->root);
        assert_int_equal(mkdir(local, 0755), 0);
        cleanup_free char *local_file = k8c_xasprintf("%s/seed", local);
        write_text(local_file, "on-local-disk\n");
        json_auto_t *lpv = obj_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":\"pv-local-"
                "k8ct\"},"
                "\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"accessModes\":[\"ReadWriteOnce\"],"
                "\"local\":{\"path\":\"%s\"},\"nodeAffinity\":{\"required\":{\"nodeSelectorTerms\":[{"
                "\"matchExpressions\":[{\"key\":\"kubernetes.io/hostname\",\"operator\":\"In\","
                "\"values\":[\"node-t\"]}]}]}}}}",
                local);
        assert_int_equal(k8c_test_node_create(n, "/api/v1/persistentvolumes", lpv), 0);
        json_auto_t *lpvc =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":"
                         "\"local\"},\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{"
                         "\"requests\":{\"storage\":\"1Gi\"}},\"volumeName\":\"pv-local-k8ct\"}}");
        assert_int_equal(k8c_test_node_create(n, "persistentvolumeclaims", lpvc), 0);
        assert_int_equal(k8c_client_patch(n->client,
                                          "/api/v1/namespaces/default/persistentvolumeclaims/local/status",
                                          "application/merge-patch+json", bound, NULL, &err),
                         0);
        json_auto_t *p4 =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"pvc-local\"},"
                         "\"spec\":{\"terminationGracePeriodSeconds\":0,"
                         "\"volumes\":[{\"name\":\"d\",\"persistentVolumeClaim\":{\"claimName\":\"local\","
                         "\"readOnly\":true}}],"
                         "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\","
                         "\"cat /data/seed; exec sleep "
                         "3600\"],\"volumeMounts\":[{\"name\":\"d\",\"mountPath\":\"/data\"}]}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p4), 0);
        json_auto_t *up4 = k8c_test_node_wait_pod(n, "pvc-local", running, 30000);
        assert_non_null(up4);
        assert_true(k8c_test_wait_log(n, up4, "c", 0, "on-local-disk\n", 10000));
        assert_int_not_equal(k8c_test_node_exec(n, up4, "c", "echo x > /data/other"), 0);

        /* A claim that is not bound keeps its pod waiting. */
        json_auto_t *pvc2 =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":"
                         "\"unbound\"},\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{"
                         "\"requests\":{\"storage\":\"1Gi\"}}}}");
        assert_int_equal(k8c_test_node_create(n, "persistentvolumeclaims", pvc2), 0);
        json_auto_t *p3 = obj_json(pod_fmt, "pvc-wait", "unbound", "exec sleep 3600");
        assert_int_equal(k8c_test_node_create(n, "pods", p3), 0);
        json_auto_t *waiting = k8c_test_node_wait_pod(n, "pvc-wait", waiting_on_mount, 20000);
        assert_non_null(waiting);
        assert_string_equal(
                k8c_json_get_string(waiting, "status.containerStatuses[0].state.waiting.message"),
                "MountVolume.SetUp failed for volume \"d\": persistentvolumeclaim \"unbound\" is not bound");
        assert_true(k8c_test_pod_has_event(n, "pvc-wait", "FailedMount", "is not bound"));
}

/* ---- configMap, secret, downwardAPI ---- */

static void test_projected_files(void **state)
{
        struct k8c_test_node *n = *state;
        json_auto_t *cm = obj_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"app-config\"},"
                "\"data\":{\"app.conf\":\"port=8080\\n\",\"mode\":\"debug\"}}");
        assert_int_equal(k8c_test_node_create(n, "configmaps", cm), 0);
        /* "s3cr3t", base64 as the API stores it. */
        json_auto_t *sec =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"creds\"},"
                         "\"type\":\"Opaque\",\"data\":{\"password\":\"czNjcjN0\"}}");
        assert_int_equal(k8c_test_node_create(n, "secrets", sec), 0);
        json_auto_t *p = obj_json(
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"projected\","
                "\"labels\":{\"app\":\"web\",\"tier\":\"front\"},\"annotations\":{\"note\":\"hi\"}},"
                "\"spec\":{\"terminationGracePeriodSeconds\":0,\"volumes\":["
                "{\"name\":\"cfg\",\"configMap\":{\"name\":\"app-config\",\"defaultMode\":416}},"
                "{\"name\":\"items\",\"configMap\":{\"name\":\"app-config\",\"items\":[{\"key\":\"mode\","
                "\"path\":\"sub/mode.txt\",\"mode\":384}]}},"
                "{\"name\":\"sec\",\"secret\":{\"secretName\":\"creds\",\"defaultMode\":256}},"
                "{\"name\":\"opt\",\"configMap\":{\"name\":\"absent\",\"optional\":true}},"
                "{\"name\":\"all\",\"projected\":{\"sources\":[{\"configMap\":{\"name\":\"app-config\","
                "\"items\":[{\"key\":\"mode\",\"path\":\"mode\"}]}},{\"secret\":{\"name\":\"creds\"}},"
                "{\"downwardAPI\":{\"items\":[{\"path\":\"pod\",\"fieldRef\":{\"fieldPath\":\"metadata."
                "name\"}}]}}]}},"
                "{\"name\":\"info\",\"downwardAPI\":{\"items\":["
                "{\"path\":\"labels\",\"fieldRef\":{\"fieldPath\":\"metadata.labels\"}},"
                "{\"path\":\"annotations\",\"fieldRef\":{\"fieldPath\":\"metadata.annotations\"}},"
                "{\"path\":\"name\",\"fieldRef\":{\"fieldPath\":\"metadata.name\"}},"
                "{\"path\":\"ns\",\"fieldRef\":{\"fieldPath\":\"metadata.namespace\"}}]}}],"
                "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\","
                "\"cat /etc/app/app.conf; echo mode=$(cat /etc/app/mode); echo item=$(cat "
                "/etc/items/sub/mode.txt); "
                "echo password=$(cat /etc/creds/password); echo name=$(cat /etc/podinfo/name); "
                "echo ns=$(cat /etc/podinfo/ns); cat /etc/podinfo/labels; echo; cat "
                "/etc/podinfo/annotations; echo; "
                "busybox stat -L -c perm=%%a /etc/creds/password /etc/app/app.conf /etc/items/sub/mode.txt; "
                "echo opt=$(ls /etc/opt); echo all=$(cat /etc/all/mode)/$(cat /etc/all/password)/$(cat "
                "/etc/all/pod); "
                "echo done; exec sleep 3600\"],"
                "\"volumeMounts\":[{\"name\":\"cfg\",\"mountPath\":\"/etc/app\"},"
                "{\"name\":\"items\",\"mountPath\":\"/etc/items\"},"
                "{\"name\":\"sec\",\"mountPath\":\"/etc/creds\"},"
                "{\"name\":\"opt\",\"mountPath\":\"/etc/opt\"},"
                "{\"name\":\"all\",\"mountPath\":\"/etc/all\"},"
                "{\"name\":\"info\",\"mountPath\":\"/etc/podinfo\"}]}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", p), 0);
        json_auto_t *up = k8c_test_node_wait_pod(n, "projected", running, 30000);
        assert_non_null(up);
        assert_true(k8c_test_wait_log(n, up, "c", 0, "done\n", 10000));
        cleanup_free char *log = k8c_test_container_log(n, up, "c", 0);
        assert_string_equal(log, "port=8080\n"
                                 "mode=debug\n"
                                 "item=debug\n"
                                 "password=s3cr3t\n"
                                 "name=projected\n"
                                 "ns=default\n"
                                 "app=\"web\"\n"
                                 "tier=\"front\"\n"
                                 "note=\"hi\"\n"
                                 "perm=400\n"
                                 "perm=640\n"
                                 "perm=600\n"
                                 "opt=\n"
                                 "all=debug/s3cr3t/projected\n"
                                 "done\n");
        /* configMap and secret volumes are read-only in the container. */
        assert_int_not_equal(k8c_test_node_exec(n, up, "c", "echo x > /etc/app/mode"), 0);
        const char *uid = k8c_json_get_string(up, "metadata.uid");
        cleanup_free char *sec_dir =
                k8c_xasprintf("%s/pods/%s/volumes/kubernetes.io~secret/sec", n->root, uid);
        struct stat st;
        assert_int_equal(stat(sec_dir, &st), 0);
        /* Secrets live on a tmpfs, never on the node's disk. */
        cleanup_free char *sec_mount = mount_line(sec_dir);
        assert_non_null(sec_mount);
        assert_non_null(strstr(sec_mount, " - tmpfs "));
        cleanup_free char *sec_file = k8c_xasprintf("%s/password", sec_dir);
        cleanup_free char *sec_text = read_text(sec_file);
        assert_non_null(sec_text);
        assert_string_equal(sec_text, "s3cr3t");

        /* An update of the configMap reaches the running container, all files at once (the atomic
         * writer's ..data switch). */
        json_auto_t *patch = obj_json("{\"data\":{\"mode\":\"release\",\"extra\":\"new-key\"}}");
        cleanup_error k8c_error_t err = NULL;
        assert_int_equal(k8c_client_patch(n->client, "/api/v1/namespaces/default/configmaps/app-config",
                                          "application/merge-patch+json", patch, NULL, &err),
                         0);
        bool updated = false;
        for (int i = 0; i < 300 && !updated; i++) {
                updated = k8c_test_node_exec(
                                  n, up, "c",
                                  "test \"$(cat /etc/app/mode)$(cat /etc/app/extra)\" = releasenew-key") == 0;
                if (!updated)
                        usleep(100 * 1000);
        }
        assert_true(updated);
        assert_int_equal(
                k8c_test_node_exec(
                        n, up, "c",
                        "test -L /etc/app/..data && test \"$(cat /etc/items/sub/mode.txt)\" = release"),
                0);

        /* A configMap that does not exist yet (not optional): the pod waits, then starts once it is made. */
        json_auto_t *late =
                obj_json("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"late\"},"
                         "\"spec\":{\"terminationGracePeriodSeconds\":0,\"volumes\":["
                         "{\"name\":\"cfg\",\"configMap\":{\"name\":\"late-config\"}}],"
                         "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"command\":[\"sh\",\"-c\","
                         "\"cat /cfg/k; exec sleep "
                         "3600\"],\"volumeMounts\":[{\"name\":\"cfg\",\"mountPath\":\"/cfg\"}]}]}}");
        assert_int_equal(k8c_test_node_create(n, "pods", late), 0);
        json_auto_t *waiting = k8c_test_node_wait_pod(n, "late", waiting_on_mount, 20000);
        assert_non_null(waiting);
        assert_string_equal(
                k8c_json_get_string(waiting, "status.containerStatuses[0].state.waiting.message"),
                "MountVolume.SetUp failed for volume \"cfg\": configmap \"late-config\" not found");
        assert_true(k8c_test_pod_has_event(n, "late", "FailedMount", "configmap \"late-config\" not found"));
        json_auto_t *cm2 = obj_json("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
                                    "\"late-config\"},\"data\":{\"k\":\"arrived\"}}");
        assert_int_equal(k8c_test_node_create(n, "configmaps", cm2), 0);
        json_auto_t *started = k8c_test_node_wait_pod(n, "late", running, 45000);
        assert_non_null(started);
        assert_true(k8c_test_wait_log(n, started, "c", 0, "arrived", 10000));

        /* The projected files go with the pod. */
        assert_true(k8c_test_node_delete_pod(n, "projected", uid, 20000));
        assert_int_equal(stat(sec_dir, &st), -1);
        cleanup_free char *sec_gone = mount_line(sec_dir);
        assert_null(sec_gone);
}

int main(void)
{
        if (geteuid() != 0) {
                printf("[  SKIPPED ] 4 test(s): needs root for runc, mounts and network namespaces\n");
                return 0;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_emptydir_shared, k8c_test_node_setup,
                                                k8c_test_node_teardown),
                cmocka_unit_test_setup_teardown(test_hostpath, k8c_test_node_setup, k8c_test_node_teardown),
                cmocka_unit_test_setup_teardown(test_pvc_survives_pod, k8c_test_node_setup,
                                                k8c_test_node_teardown),
                cmocka_unit_test_setup_teardown(test_projected_files, k8c_test_node_setup,
                                                k8c_test_node_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
