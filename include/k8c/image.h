/*
 * image.h - the kubelet's image store: image references resolved against a
 * registry mirror (docker.io/library names) or their own registry, manifests
 * (OCI and Docker v2 schema 2, with index / manifest list → linux/amd64),
 * config and layers fetched over the distribution API with libcurl, sha256
 * digests verified, layers unpacked with libarchive (whiteouts honoured) into
 * a content-addressed store, imagePullPolicy, and pull back-off.
 *
 * The parsing pieces are pure and exposed for unit tests.
 */
#ifndef K8C_IMAGE_H
#define K8C_IMAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "k8c/error.h"

struct k8c_image_ref {
        char *registry;   /* "docker.io", "10.200.3.1:5000", ... */
        char *repository; /* "library/busybox" */
        char *tag;        /* "latest" when neither tag nor digest was given; NULL with a digest only */
        char *digest;     /* "sha256:<hex>" or NULL */
};
/* Docker's normalisation: "busybox" → docker.io/library/busybox:latest; a first component with
 * '.' or ':' or equal to "localhost" is a registry. */
int k8c_image_ref_parse(const char *image, struct k8c_image_ref *ret, k8c_error_t *err);
void k8c_image_ref_free(struct k8c_image_ref *r);

struct k8c_image_manifest {
        bool is_index; /* an OCI index or Docker manifest list: platform_digest is set */
        char *platform_digest;
        char *config_digest;
        size_t nlayers;
        char **layer_digests;
        char **layer_media_types;
};
/* Parses a manifest body (whatever Content-Type the registry gave; mediaType in the body wins);
 * an index yields the linux/amd64 entry. */
int k8c_image_manifest_parse(const char *body, size_t len, struct k8c_image_manifest *ret, k8c_error_t *err);
void k8c_image_manifest_free(struct k8c_image_manifest *m);

/* "sha256:<hex>" of data (caller frees). */
char *k8c_image_sha256(const void *data, size_t len);

/* The process args, env (KEY=VALUE strings) and working directory of a container from its spec
 * and the image config's "config" object (may be NULL), by Kubernetes' rules: command replaces
 * Entrypoint and drops Cmd, args replaces Cmd; container env overrides image Env by name. */
json_t *k8c_image_container_args(const json_t *container, const json_t *image_config);
json_t *k8c_image_container_env(const json_t *image_config, json_t *container_env /* stolen */);
const char *k8c_image_working_dir(const json_t *container, const json_t *image_config);

struct k8c_image_store;
/* dir holds blobs/, images/<manifest hex>/{rootfs,config.json} and refs/. mirror (may be NULL):
 * "http://host:port", used for docker.io images. Registries other than docker.io are reached
 * over plain HTTP when they are the mirror's host or a loopback address, else over HTTPS. */
int k8c_image_store_new(const char *dir, const char *mirror, struct k8c_image_store **ret, k8c_error_t *err);
void k8c_image_store_free(struct k8c_image_store *s);

struct k8c_image {
        char *rootfs;      /* unpacked, read-only by convention */
        json_t *config;    /* the image config's "config" object (Entrypoint, Cmd, Env, WorkingDir) */
        char *image_id;    /* "sha256:<manifest hex>" */
        char *repo_digest; /* "<registry>/<repository>@sha256:<manifest hex>" (status imageID) */
        bool pulled;       /* this call fetched the image from its registry */
        double pull_seconds;
};
void k8c_image_free(struct k8c_image *img);
/* Makes image available per policy ("Always", "IfNotPresent", "Never"; NULL = Kubernetes'
 * default from the tag). Errors: K8C_ENOTFOUND for a failed pull (ErrImagePull) or an absent
 * image under Never, K8C_ETOOMANYREQUESTS while the image is in pull back-off (ImagePullBackOff). */
int k8c_image_ensure(struct k8c_image_store *s, const char *image, const char *policy, struct k8c_image *ret,
                     k8c_error_t *err);

/* Image garbage collection: when the store (unpacked images and blobs) holds more than budget
 * bytes, removes images not in in_use (NULL-terminated image IDs, "sha256:<hex>"), least recently
 * used first, with their references and the blobs no remaining image needs, until it fits. An
 * image used (k8c_image_ensure) less than min_age_ms ago is kept: a container may be about to
 * start on it. *ret_removed (optional) gets how many images went. */
int k8c_image_store_gc(struct k8c_image_store *s, char *const *in_use, int64_t budget, int64_t min_age_ms,
                       int *ret_removed, k8c_error_t *err);
/* Bytes the store holds now (unpacked images and blobs). */
int64_t k8c_image_store_size(struct k8c_image_store *s);

#endif
