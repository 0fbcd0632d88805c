/* Node keys: generation, CSRs, and proof of possession (sign / verify a nonce, key-certificate match). */
#include "ca/internal.h"

#include <mbedtls/ecp.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_csr.h>

#include <stdlib.h>
#include <string.h>

int swarm__key_new(char **key_pem, const swarm__clock *clk, swarm__err *e)
{
    *key_pem = NULL;
    swarm__ca_rng rng;
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    unsigned char buf[1024];
    int rc = swarm__ca_rng_init(&rng, clk, e);
    if (rc != 0)
        goto done;
    int mrc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (mrc == 0)
        mrc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), swarm__ca_rng_random, &rng);
    if (mrc == 0)
        mrc = mbedtls_pk_write_key_pem(&pk, buf, sizeof buf);
    if (mrc != 0) {
        rc = swarm__ca_mbed_err(e, SWARM_EBACKEND, mrc, "generating a key");
        goto done;
    }
    *key_pem = swarm__ca_strdup((const char *)buf);
    if (*key_pem == NULL)
        rc = swarm__err_set(e, SWARM_ENOMEM, "out of memory");
done:
    mbedtls_platform_zeroize(buf, sizeof buf);
    mbedtls_pk_free(&pk);
    swarm__ca_rng_free(&rng);
    return rc;
}

int swarm__csr_new(char **csr_pem, const char *key_pem, const swarm__clock *clk, swarm__err *e)
{
    *csr_pem = NULL;
    swarm__ca_rng rng;
    mbedtls_pk_context pk;
    mbedtls_x509write_csr w;
    mbedtls_x509write_csr_init(&w);
    int rc = swarm__ca_rng_init(&rng, clk, e);
    if (rc == 0)
        rc = swarm__ca_parse_key(&pk, key_pem, e);
    else
        mbedtls_pk_init(&pk);
    if (rc != 0)
        goto done;
    mbedtls_x509write_csr_set_key(&w, &pk);
    mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
    unsigned char buf[2048];
    int mrc = mbedtls_x509write_csr_set_subject_name(&w, "CN=swarm-node");
    if (mrc == 0)
        mrc = mbedtls_x509write_csr_pem(&w, buf, sizeof buf, swarm__ca_rng_random, &rng);
    if (mrc != 0) {
        rc = swarm__ca_mbed_err(e, SWARM_EBACKEND, mrc, "writing the certificate request");
        goto done;
    }
    *csr_pem = swarm__ca_strdup((const char *)buf);
    if (*csr_pem == NULL)
        rc = swarm__err_set(e, SWARM_ENOMEM, "out of memory");
done:
    mbedtls_x509write_csr_free(&w);
    mbedtls_pk_free(&pk);
    swarm__ca_rng_free(&rng);
    return rc;
}

int swarm__sign(const char *key_pem, const void *data, size_t len, unsigned char **sig, size_t *sig_len,
                const swarm__clock *clk, swarm__err *e)
{
    *sig = NULL;
    *sig_len = 0;
    swarm__ca_rng rng;
    mbedtls_pk_context pk;
    int rc = swarm__ca_rng_init(&rng, clk, e);
    if (rc == 0)
        rc = swarm__ca_parse_key(&pk, key_pem, e);
    else
        mbedtls_pk_init(&pk);
    if (rc != 0)
        goto done;
    unsigned char hash[32], buf[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t n = 0;
    mbedtls_sha256_ret(data, len, hash, 0);
    int mrc = mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, sizeof hash, buf, &n, swarm__ca_rng_random, &rng);
    if (mrc != 0) {
        rc = swarm__ca_mbed_err(e, SWARM_EBACKEND, mrc, "signing");
        goto done;
    }
    *sig = malloc(n);
    if (*sig == NULL) {
        rc = swarm__err_set(e, SWARM_ENOMEM, "out of memory");
        goto done;
    }
    memcpy(*sig, buf, n);
    *sig_len = n;
done:
    mbedtls_pk_free(&pk);
    swarm__ca_rng_free(&rng);
    return rc;
}

int swarm__verify_signature(const char *cert_pem, const void *data, size_t len, const unsigned char *sig,
                            size_t sig_len, swarm__err *e)
{
    mbedtls_x509_crt crt;
    int rc = swarm__ca_parse_certs(&crt, cert_pem, "malformed certificate", e);
    if (rc == 0) {
        unsigned char hash[32];
        mbedtls_sha256_ret(data, len, hash, 0);
        if (sig == NULL || sig_len == 0 ||
            mbedtls_pk_verify(&crt.pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, sig_len) != 0)
            rc = swarm__err_set(e, SWARM_EINVALID, "signature does not match the certificate's key");
    }
    mbedtls_x509_crt_free(&crt);
    return rc;
}

int swarm__key_matches_cert(const char *key_pem, const char *cert_pem, swarm__err *e)
{
    mbedtls_x509_crt crt;
    mbedtls_pk_context pk;
    int rc = swarm__ca_parse_certs(&crt, cert_pem, "malformed certificate", e);
    if (rc == 0)
        rc = swarm__ca_parse_key(&pk, key_pem, e);
    else
        mbedtls_pk_init(&pk);
    if (rc == 0 && mbedtls_pk_check_pair(&crt.pk, &pk) != 0)
        rc = swarm__err_set(e, SWARM_EINVALID, "key does not match the certificate");
    mbedtls_pk_free(&pk);
    mbedtls_x509_crt_free(&crt);
    return rc;
}
