/*
 * status.c - meta/v1 Status bodies for errors and the small helpers every
 * handler uses to read the request (query, headers) and set its reply.
 * Knows no resource.
 */
#include <string.h>

#include "apiserver/apiserver_int.h"
#include "k8c/cleanup.h"

json_t *k8c_status_new(k8c_reason_t reason, const char *message, const char *name, const char *group,
                       const char *kind, json_t *causes)
{
        json_t *st = json_object();
        json_object_set_new(st, "kind", json_string("Status"));
        json_object_set_new(st, "apiVersion", json_string("v1"));
        json_object_set_new(st, "metadata", json_object());
        json_object_set_new(st, "status", json_string("Failure"));
        json_object_set_new(st, "message", json_string(message != NULL ? message : ""));
        json_object_set_new(st, "reason", json_string(k8c_reason_string(reason)));
        if (name != NULL || group != NULL || kind != NULL || causes != NULL) {
                json_t *d = json_object();
                if (name != NULL)
                        json_object_set_new(d, "name", json_string(name));
                if (group != NULL && group[0] != '\0')
                        json_object_set_new(d, "group", json_string(group));
                if (kind != NULL)
                        json_object_set_new(d, "kind", json_string(kind));
                if (causes != NULL)
                        json_object_set(d, "causes", causes);
                json_object_set_new(st, "details", d);
        }
        json_object_set_new(st, "code", json_integer(k8c_reason_http_code(reason)));
        return st;
}

void k8c_req_reply(struct k8c_req *req, int code, json_t *reply)
{
        json_decref(req->reply);
        req->reply = reply;
        req->code = code;
}

void k8c_req_reply_parts(struct k8c_req *req, int code, char *head, size_t head_len, char *body,
                         size_t body_len, const char *tail)
{
        json_decref(req->reply);
        req->reply = NULL;
        free(req->reply_head);
        free(req->reply_body);
        req->reply_head = head;
        req->reply_head_len = head_len;
        req->reply_body = body;
        req->reply_body_len = body_len;
        req->reply_tail = tail;
        req->code = code;
}

void k8c_req_fail(struct k8c_req *req, k8c_error_t *err, const char *name, const char *group,
                  const char *kind, json_t *causes)
{
        k8c_reason_t reason = k8c_error_reason(err);
        if (reason == K8C_OK)
                reason = K8C_EINTERNAL;
        k8c_req_reply(req, k8c_reason_http_code(reason),
                      k8c_status_new(reason, k8c_error_msg(err), name, group, kind, causes));
}

void k8c_req_fail_msg(struct k8c_req *req, k8c_reason_t reason, const char *message)
{
        k8c_req_reply(req, k8c_reason_http_code(reason),
                      k8c_status_new(reason, message, NULL, NULL, NULL, NULL));
}

const char *k8c_req_query(struct k8c_req *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *k8c_req_header(struct k8c_req *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}
