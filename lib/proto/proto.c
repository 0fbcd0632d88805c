#include "proto/proto.h"

#include "core/json.h"
#include "swarm/errors.h"

#include <stdlib.h>
#include <string.h>

static int with_body(const json_t *body, uint32_t type, swarm_transport_msg *msg, char **text)
{
    *text = body ? swarm__json_dump(body) : strdup("{}");
    if (*text == NULL)
        return SWARM_ENOMEM;
    msg->type = type;
    msg->body = *text;
    msg->len = strlen(*text);
    return 0;
}

int swarm__proto_send(struct swarm_transport_backend *t, uint64_t link, uint32_t type, const json_t *body)
{
    swarm_transport_msg msg;
    char *text;
    int rc = with_body(body, type, &msg, &text);
    if (rc == 0)
        rc = t->send(t, link, &msg);
    free(text);
    return rc;
}

int swarm__proto_respond(struct swarm_transport_backend *t, uint64_t link, uint64_t request_id, uint32_t type,
                         const json_t *body)
{
    swarm_transport_msg msg;
    char *text;
    int rc = with_body(body, type, &msg, &text);
    if (rc == 0)
        rc = t->respond(t, link, request_id, &msg);
    free(text);
    return rc;
}

int swarm__proto_respond_error(struct swarm_transport_backend *t, uint64_t link, uint64_t request_id, uint32_t type,
                               int code, const char *message)
{
    json_t *body = json_pack("{s:i, s:s}", "Code", code, "Message", message ? message : swarm_strerror(code));
    int rc = swarm__proto_respond(t, link, request_id, type, body);
    json_decref(body);
    return rc;
}

int swarm__proto_request(struct swarm_transport_backend *t, uint64_t link, uint32_t type, const json_t *body,
                         int64_t timeout_ms, swarm_transport_response_cb cb, void *payload)
{
    swarm_transport_msg msg;
    char *text;
    int rc = with_body(body, type, &msg, &text);
    if (rc == 0)
        rc = t->request(t, link, &msg, timeout_ms, cb, payload);
    free(text);
    return rc;
}

json_t *swarm__proto_body(const swarm_transport_msg *msg)
{
    if (msg == NULL || msg->body == NULL)
        return NULL;
    json_t *v = json_loadb(msg->body, msg->len, 0, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

int swarm__proto_error_of(const json_t *body, const char **message)
{
    json_t *code = json_object_get((json_t *)body, "Code");
    if (message)
        *message = json_string_value(json_object_get((json_t *)body, "Message"));
    if (body == NULL)
        return SWARM_EBACKEND;
    return json_is_integer(code) ? (int)json_integer_value(code) : 0;
}

char *swarm__hex_encode(const unsigned char *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *out = malloc(len * 2 + 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[len * 2] = '\0';
    return out;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int swarm__hex_decode(const char *hex, unsigned char **out, size_t *len)
{
    size_t n = hex ? strlen(hex) : 0;
    if (n == 0 || n % 2 != 0 || n > 8192)
        return SWARM_EINVALID;
    unsigned char *buf = malloc(n / 2);
    if (buf == NULL)
        return SWARM_ENOMEM;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(buf);
            return SWARM_EINVALID;
        }
        buf[i] = (unsigned char)(hi << 4 | lo);
    }
    *out = buf;
    *len = n / 2;
    return 0;
}
