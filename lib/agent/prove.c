/* Proof of identity on a dialed link: NONCE, then AUTH with a signature over it. See prove.h. */
#include "agent/prove.h"

#include "ca/ca.h"
#include "core/json.h"
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

typedef struct proof {
    struct swarm_transport_backend *t;
    uint64_t link;
    char *cert, *key;
    const swarm__clock *clock;
    int64_t timeout_ms;
    swarm__prove_cb cb;
    void *payload;
} proof;

static void proof_end(proof *p, int status, int rc, const char *why)
{
    p->cb(p->payload, status, rc, why);
    free(p->cert);
    free(p->key);
    free(p);
}

static void authed(void *arg, int status, const swarm_transport_msg *msg)
{
    proof *p = arg;
    json_t *body = status == 0 ? swarm__proto_body(msg) : NULL;
    const char *why = NULL;
    int rc = status == 0 ? (body ? swarm__proto_error_of(body, &why) : SWARM_EBACKEND) : 0;
    proof_end(p, status, rc, why);
    json_decref(body);
}

static void nonce_received(void *arg, int status, const swarm_transport_msg *msg)
{
    proof *p = arg;
    if (status != 0)
        return proof_end(p, status, 0, NULL);
    json_t *body = swarm__proto_body(msg);
    unsigned char *nonce = NULL, *sig = NULL;
    size_t nonce_len = 0, sig_len = 0;
    swarm__err e;
    if (body == NULL || swarm__hex_decode(swarm__json_str(body, "Nonce"), &nonce, &nonce_len) != 0 ||
        swarm__sign(p->key, nonce, nonce_len, &sig, &sig_len, p->clock, &e) != 0) {
        json_decref(body);
        free(nonce);
        return proof_end(p, 0, SWARM_EINVALID, "cannot sign the manager's nonce");
    }
    char *hex = swarm__hex_encode(sig, sig_len);
    json_t *req = json_pack("{s:s, s:s}", "Cert", p->cert, "Signature", hex ? hex : "");
    int rc = swarm__proto_request(p->t, p->link, SWARM__MSG_AUTH, req, p->timeout_ms, authed, p);
    json_decref(req);
    json_decref(body);
    free(hex);
    free(nonce);
    free(sig);
    if (rc != 0)
        proof_end(p, rc, 0, NULL);
}

int swarm__prove(struct swarm_transport_backend *t, uint64_t link, const char *cert, const char *key,
                 const swarm__clock *clock, int64_t timeout_ms, swarm__prove_cb cb, void *payload)
{
    proof *p = calloc(1, sizeof *p);
    if (p == NULL || (p->cert = strdup(cert)) == NULL || (p->key = strdup(key)) == NULL) {
        if (p)
            free(p->cert);
        free(p);
        return SWARM_ENOMEM;
    }
    p->t = t;
    p->link = link;
    p->clock = clock;
    p->timeout_ms = timeout_ms;
    p->cb = cb;
    p->payload = payload;
    json_t *req = json_object();
    int rc = swarm__proto_request(t, link, SWARM__MSG_NONCE, req, timeout_ms, nonce_received, p);
    json_decref(req);
    if (rc != 0) {
        free(p->cert);
        free(p->key);
        free(p);
    }
    return rc;
}
