/* Helpers shared by the files of lib/ca: the DRBG, mbedtls error mapping, PEM parsing, times, base36. */
#ifndef SWARM_CA_INTERNAL_H
#define SWARM_CA_INTERNAL_H

#include "ca/ca.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>

/* A CTR-DRBG seeded from a swarm__clock. Must not move once initialised. */
typedef struct swarm__ca_rng {
    mbedtls_ctr_drbg_context drbg;
    const swarm__clock *clk;
} swarm__ca_rng;

/* 0, or SWARM_EIO if the clock's random source fails. Always call swarm__ca_rng_free. */
int swarm__ca_rng_init(swarm__ca_rng *r, const swarm__clock *clk, swarm__err *e);
void swarm__ca_rng_free(swarm__ca_rng *r);
/* Callback for mbedtls f_rng parameters; p_rng is a swarm__ca_rng. */
int swarm__ca_rng_random(void *p_rng, unsigned char *out, size_t len);

/* Sets e to "<what>: <mbedtls description> (-0x....)" and returns the code:
 * SWARM_ENOMEM for mbedtls allocation failures, else `code`. */
int swarm__ca_mbed_err(swarm__err *e, int code, int mbed_rc, const char *what);

/* Parses PEM text (must contain "-----BEGIN CERTIFICATE-----"; every certificate
 * must parse). crt is initialised here; free it even on failure. SWARM_EINVALID "<what>: ...". */
int swarm__ca_parse_certs(mbedtls_x509_crt *crt, const char *pem, const char *what, swarm__err *e);

/* Parses an unencrypted private key PEM. pk is initialised here; free it even on failure. */
int swarm__ca_parse_key(mbedtls_pk_context *pk, const char *pem, swarm__err *e);

/* The CA's trust chain and, if it has one, its key (NULL otherwise). */
mbedtls_x509_crt *swarm__ca_certs(const swarm__ca *ca);
mbedtls_pk_context *swarm__ca_key(swarm__ca *ca);

/* malloc'd copy of a NUL-terminated buffer, or NULL. */
char *swarm__ca_strdup(const char *s);

/* Unix seconds as the "YYYYMMDDhhmmss" mbedtls x509write wants; clamped to years 0000..9999. */
void swarm__ca_time_x509(char out[15], int64_t unix_s);
/* A parsed certificate time as Unix ns, saturated to the int64 range. */
int64_t swarm__ca_time_ns(const mbedtls_x509_time *t);
/* Adds without overflowing int64. */
int64_t swarm__ca_add_sat(int64_t a, int64_t b);

/* Sets a random positive 128-bit serial on w. */
int swarm__ca_set_serial(mbedtls_x509write_cert *w, swarm__ca_rng *r, swarm__err *e);
/* Signs w and returns the certificate as malloc'd PEM in *pem. */
int swarm__ca_write_cert(mbedtls_x509write_cert *w, swarm__ca_rng *r, char **pem, swarm__err *e);
/* SHA-256 of text as 50 base36 chars + NUL. */
void swarm__ca_text_digest(const char *text, char out[64]);

/* Big-endian number -> base36, zero-padded to width (out gets width + NUL).
 * -1 if it does not fit in width digits. */
int swarm__ca_base36_encode(const unsigned char *num, size_t n, char *out, size_t width);
/* len chars of [0-9a-z] -> big-endian number in n bytes. -1 on a bad char or overflow. */
int swarm__ca_base36_decode(const char *s, size_t len, unsigned char *num, size_t n);

#endif
