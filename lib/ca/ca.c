/* The root CA handle: creating a new root, loading one from PEM, its digest. */
#include "ca/internal.h"

#include <mbedtls/ecp.h>
#include <mbedtls/platform_util.h>

#include <stdlib.h>
#include <string.h>

struct swarm__ca {
    char *cert_pem; /* verbatim, as created or loaded */
    char *key_pem;  /* NULL on a verify-only CA */
    char digest[64];
    mbedtls_x509_crt certs; /* the first one issues */
    mbedtls_pk_context key;
};

static void free_secret_text(char *s)
{
    if (s != NULL) {
        mbedtls_platform_zeroize(s, strlen(s));
        free(s);
    }
}

void swarm__ca_free(swarm__ca *ca)
{
    if (ca == NULL)
        return;
    mbedtls_x509_crt_free(&ca->certs);
    mbedtls_pk_free(&ca->key);
    free(ca->cert_pem);
    free_secret_text(ca->key_pem);
    free(ca);
}

int swarm__ca_load(swarm__ca **out, const char *cert_pem, const char *key_pem, swarm__err *e)
{
    *out = NULL;
    swarm__ca *ca = calloc(1, sizeof *ca);
    if (ca == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    mbedtls_pk_init(&ca->key);
    int rc = swarm__ca_parse_certs(&ca->certs, cert_pem, "invalid CA certificate", e);
    if (rc != 0)
        goto fail;
    if (!ca->certs.ca_istrue) {
        rc = swarm__err_set(e, SWARM_EINVALID, "invalid CA certificate: not a CA certificate (CA:false)");
        goto fail;
    }
    if (key_pem != NULL) {
        rc = swarm__ca_parse_key(&ca->key, key_pem, e);
        if (rc != 0)
            goto fail;
        if (mbedtls_pk_check_pair(&ca->certs.pk, &ca->key) != 0) {
            rc = swarm__err_set(e, SWARM_EINVALID, "CA key does not match the CA certificate");
            goto fail;
        }
    }
    ca->cert_pem = swarm__ca_strdup(cert_pem);
    ca->key_pem = key_pem != NULL ? swarm__ca_strdup(key_pem) : NULL;
    if (ca->cert_pem == NULL || (key_pem != NULL && ca->key_pem == NULL)) {
        rc = swarm__err_set(e, SWARM_ENOMEM, "out of memory");
        goto fail;
    }
    swarm__ca_text_digest(ca->cert_pem, ca->digest);
    *out = ca;
    return 0;
fail:
    swarm__ca_free(ca);
    return rc;
}

/* Writes a self-signed root certificate for key. */
static int write_root(mbedtls_pk_context *key, swarm__ca_rng *rng, const swarm__clock *clk, char **cert_pem,
                      swarm__err *e)
{
    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    int64_t now = clk->wall_ns(clk->data);
    char from[15], until[15];
    swarm__ca_time_x509(from, swarm__ca_add_sat(now, -SWARM__CERT_BACKDATE_NS) / 1000000000);
    swarm__ca_time_x509(until, swarm__ca_add_sat(now, SWARM__CA_LIFETIME_NS) / 1000000000);

    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, key);
    mbedtls_x509write_crt_set_issuer_key(&w, key);
    int rc = mbedtls_x509write_crt_set_subject_name(&w, "CN=" SWARM__CA_CN);
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_issuer_name(&w, "CN=" SWARM__CA_CN);
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_validity(&w, from, until);
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_basic_constraints(&w, 1, -1);
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_subject_key_identifier(&w);
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_authority_key_identifier(&w);
    if (rc != 0) {
        rc = swarm__ca_mbed_err(e, SWARM_EBACKEND, rc, "building the CA certificate");
        goto done;
    }
    rc = swarm__ca_set_serial(&w, rng, e);
    if (rc == 0)
        rc = swarm__ca_write_cert(&w, rng, cert_pem, e);
done:
    mbedtls_x509write_crt_free(&w);
    return rc;
}

int swarm__ca_create(swarm__ca **out, const swarm__clock *clk, swarm__err *e)
{
    *out = NULL;
    char *key_pem = NULL, *cert_pem = NULL;
    int rc = swarm__key_new(&key_pem, clk, e);
    if (rc != 0)
        return rc;
    swarm__ca_rng rng;
    mbedtls_pk_context key;
    rc = swarm__ca_rng_init(&rng, clk, e);
    if (rc == 0)
        rc = swarm__ca_parse_key(&key, key_pem, e);
    else
        mbedtls_pk_init(&key);
    if (rc == 0)
        rc = write_root(&key, &rng, clk, &cert_pem, e);
    swarm__ca_rng_free(&rng);
    mbedtls_pk_free(&key);
    if (rc == 0)
        rc = swarm__ca_load(out, cert_pem, key_pem, e);
    free(cert_pem);
    free_secret_text(key_pem);
    return rc;
}

const char *swarm__ca_cert_pem(const swarm__ca *ca)
{
    return ca->cert_pem;
}

const char *swarm__ca_key_pem(const swarm__ca *ca)
{
    return ca->key_pem;
}

int swarm__ca_has_key(const swarm__ca *ca)
{
    return ca->key_pem != NULL;
}

int swarm__ca_digest(const swarm__ca *ca, char out[64])
{
    memcpy(out, ca->digest, sizeof ca->digest);
    return 0;
}

int swarm__cert_digest(const char *cert_pem, char out[64], swarm__err *e)
{
    mbedtls_x509_crt crt;
    int rc = swarm__ca_parse_certs(&crt, cert_pem, "invalid certificate", e);
    mbedtls_x509_crt_free(&crt);
    if (rc != 0)
        return rc;
    swarm__ca_text_digest(cert_pem, out);
    return 0;
}

/* Accessors for the other files of lib/ca. */
mbedtls_x509_crt *swarm__ca_certs(const swarm__ca *ca)
{
    /* mbedtls takes the trust chain as non-const although it only caches curve tables in it. */
    return (mbedtls_x509_crt *)&ca->certs;
}

mbedtls_pk_context *swarm__ca_key(swarm__ca *ca)
{
    return ca->key_pem != NULL ? &ca->key : NULL;
}
