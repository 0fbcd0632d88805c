/*
 * Fuzz target for what a joining or connecting peer hands the CA: join tokens
 * and PEM text (certificates, CSRs, keys). Besides "no crash, no leak" it
 * checks that an accepted token prints back to the same text and that every
 * failure is reported as SWARM_EINVALID (or SWARM_ENOMEM). The input is also
 * tried as DER, base64-wrapped into a certificate PEM.
 */
#include "ca/ca.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void require(int cond)
{
    if (!cond)
        abort();
}

static void require_failure(int rc, const swarm__err *e)
{
    require(rc == 0 || ((rc == SWARM_EINVALID || rc == SWARM_ENOMEM) && e->code == rc));
}

/* A CA and a node certificate made once per process. */
static swarm__ca *ca;
static char *node_key, *node_cert;

static void setup(void)
{
    if (ca != NULL)
        return;
    const swarm__clock *clk = swarm__clock_system();
    swarm__err e;
    char *csr = NULL;
    require(swarm__ca_create(&ca, clk, &e) == 0);
    require(swarm__key_new(&node_key, clk, &e) == 0);
    require(swarm__csr_new(&csr, node_key, clk, &e) == 0);
    require(swarm__ca_issue(ca, csr, "node1", SWARM__CA_OU_WORKER, "cluster1", SWARM__CERT_DEFAULT_LIFETIME_NS, clk,
                            &node_cert, &e) == 0);
    free(csr);
}

static void check_token(const char *text)
{
    swarm__token t;
    swarm__err e = {0};
    int rc = swarm__token_parse(&t, text, &e);
    if (rc == 0) {
        char again[256];
        snprintf(again, sizeof again, "SWMTKN-%d-%s-%s", t.version, t.digest, t.secret);
        require(strcmp(again, text) == 0 && t.version == 1);
        require(strlen(t.digest) == SWARM__DIGEST_LEN && strlen(t.secret) == SWARM__SECRET_LEN);
        require(!swarm__token_pins(&t, text));
        require(swarm__secret_equal(t.secret, t.secret));
    } else {
        require(rc == SWARM_EINVALID && e.code == rc);
    }
}

static void check_pem(const char *pem)
{
    const swarm__clock *clk = swarm__clock_system();
    swarm__err e = {0};
    swarm__ca *loaded = NULL;
    int rc = swarm__ca_load(&loaded, pem, NULL, &e);
    require_failure(rc, &e);
    if (rc == 0) {
        char a[64], b[64];
        swarm__ca_digest(loaded, a);
        require(swarm__cert_digest(pem, b, &e) == 0 && strcmp(a, b) == 0);
        swarm__ca_verify(loaded, node_cert, clk->wall_ns(clk->data), NULL, &e);
        swarm__ca_free(loaded);
    }
    loaded = NULL;
    require_failure(swarm__ca_load(&loaded, pem, pem, &e), &e);
    swarm__ca_free(loaded);

    char digest[64];
    require_failure(swarm__cert_digest(pem, digest, &e), &e);
    swarm__cert_info info;
    rc = swarm__ca_verify(ca, pem, clk->wall_ns(clk->data), &info, &e);
    require_failure(rc, &e);
    if (rc == 0)
        require(info.node_id[0] != '\0' && info.role[0] != '\0' && info.cluster_id[0] != '\0');
    require_failure(swarm__cert_info_read(pem, &info, &e), &e);
    require_failure(swarm__key_matches_cert(pem, node_cert, &e), &e);
    require_failure(swarm__key_matches_cert(node_key, pem, &e), &e);
    static const char nonce[] = "nonce";
    require_failure(swarm__verify_signature(pem, nonce, sizeof nonce, (const unsigned char *)pem, strlen(pem), &e),
                    &e);

    char *cert = NULL;
    rc = swarm__ca_issue(ca, pem, "node2", SWARM__CA_OU_MANAGER, "cluster1", SWARM__CERT_MIN_LIFETIME_NS, clk,
                         &cert, &e);
    require_failure(rc, &e);
    if (rc == 0)
        require(swarm__ca_verify(ca, cert, clk->wall_ns(clk->data), NULL, &e) == 0);
    free(cert);

    unsigned char *sig = NULL;
    size_t sig_len = 0;
    rc = swarm__sign(pem, nonce, sizeof nonce, &sig, &sig_len, clk, &e);
    require_failure(rc, &e);
    free(sig);
}

/* Wraps bytes as a base64 certificate PEM so that the DER parser sees them. */
static char *wrap_der(const uint8_t *data, size_t size)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t cap = 64 + size / 3 * 4 + 4 + size / 48 + 2 + 64;
    char *out = malloc(cap), *p = out;
    require(out != NULL);
    p += sprintf(p, "-----BEGIN CERTIFICATE-----\n");
    for (size_t i = 0; i < size; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < size)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < size)
            v |= data[i + 2];
        *p++ = b64[(v >> 18) & 63];
        *p++ = b64[(v >> 12) & 63];
        *p++ = i + 1 < size ? b64[(v >> 6) & 63] : '=';
        *p++ = i + 2 < size ? b64[v & 63] : '=';
        if ((i / 3) % 16 == 15)
            *p++ = '\n';
    }
    sprintf(p, "\n-----END CERTIFICATE-----\n");
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    char *text = malloc(size + 1);
    require(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    check_token(text);
    check_pem(text);
    free(text);
    if (size > 0 && size < 8192) {
        char *pem = wrap_der(data, size);
        check_pem(pem);
        free(pem);
    }
    return 0;
}
