/* Shared helpers of lib/ca: the clock-seeded DRBG, error mapping, PEM parsing, certificate times, base36. */
#include "ca/internal.h"

#include <mbedtls/asn1.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/pem.h>
#include <mbedtls/sha256.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- DRBG ---------------------------------------------------------------- */

static int entropy_from_clock(void *data, unsigned char *out, size_t len)
{
    const swarm__ca_rng *r = data;
    return r->clk->random(r->clk->data, out, len) == 0 ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

int swarm__ca_rng_init(swarm__ca_rng *r, const swarm__clock *clk, swarm__err *e)
{
    static const unsigned char personal[] = "libswarm ca";
    r->clk = clk;
    mbedtls_ctr_drbg_init(&r->drbg);
    int rc = mbedtls_ctr_drbg_seed(&r->drbg, entropy_from_clock, r, personal, sizeof personal - 1);
    if (rc != 0)
        return swarm__ca_mbed_err(e, SWARM_EIO, rc, "seeding the random generator");
    return 0;
}

void swarm__ca_rng_free(swarm__ca_rng *r)
{
    mbedtls_ctr_drbg_free(&r->drbg);
}

int swarm__ca_rng_random(void *p_rng, unsigned char *out, size_t len)
{
    swarm__ca_rng *r = p_rng;
    return mbedtls_ctr_drbg_random(&r->drbg, out, len);
}

/* ---- Errors -------------------------------------------------------------- */

static int is_alloc_failure(int rc)
{
    int high = -rc & 0xFF80, low = -rc & 0x007F;
    static const int high_codes[] = {-MBEDTLS_ERR_ECP_ALLOC_FAILED, -MBEDTLS_ERR_PK_ALLOC_FAILED,
                                     -MBEDTLS_ERR_X509_ALLOC_FAILED, -MBEDTLS_ERR_PEM_ALLOC_FAILED,
                                     -MBEDTLS_ERR_MD_ALLOC_FAILED};
    for (size_t i = 0; i < sizeof high_codes / sizeof high_codes[0]; i++)
        if (high == high_codes[i])
            return 1;
    return low == -MBEDTLS_ERR_ASN1_ALLOC_FAILED || low == -MBEDTLS_ERR_MPI_ALLOC_FAILED;
}

int swarm__ca_mbed_err(swarm__err *e, int code, int mbed_rc, const char *what)
{
    if (is_alloc_failure(mbed_rc))
        return swarm__err_set(e, SWARM_ENOMEM, "%s: out of memory", what);
    char buf[200];
    mbedtls_strerror(mbed_rc, buf, sizeof buf);
    return swarm__err_set(e, code, "%s: %s (-0x%04x)", what, buf, (unsigned)-mbed_rc);
}

/* ---- Parsing ------------------------------------------------------------- */

int swarm__ca_parse_certs(mbedtls_x509_crt *crt, const char *pem, const char *what, swarm__err *e)
{
    mbedtls_x509_crt_init(crt);
    if (pem == NULL || strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "%s: not a PEM certificate", what);
    /* mbedtls wants the terminating NUL counted for PEM input. */
    int rc = mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, strlen(pem) + 1);
    if (rc < 0)
        return swarm__ca_mbed_err(e, SWARM_EINVALID, rc, what);
    if (rc > 0)
        return swarm__err_set(e, SWARM_EINVALID, "%s: %d certificate(s) in the PEM could not be parsed", what, rc);
    return 0;
}

int swarm__ca_parse_key(mbedtls_pk_context *pk, const char *pem, swarm__err *e)
{
    mbedtls_pk_init(pk);
    if (pem == NULL || strstr(pem, "-----BEGIN ") == NULL || strstr(pem, "PRIVATE KEY-----") == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "invalid private key: not a PEM private key");
    int rc = mbedtls_pk_parse_key(pk, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0);
    if (rc != 0)
        return swarm__ca_mbed_err(e, SWARM_EINVALID, rc, "invalid private key");
    return 0;
}

char *swarm__ca_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}

/* ---- Times --------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Writes v (>= 0) as exactly width decimal digits; returns the end. */
static char *put_digits(char *p, int v, int width)
{
    for (int k = width - 1; k >= 0; k--, v /= 10)
        p[k] = (char)('0' + v % 10);
    return p + width;
}

void swarm__ca_time_x509(char out[15], int64_t unix_s)
{
    const int64_t min_s = days_from_civil(0, 1, 1) * 86400;
    const int64_t max_s = days_from_civil(9999, 12, 31) * 86400 + 86399;
    if (unix_s < min_s)
        unix_s = min_s;
    if (unix_s > max_s)
        unix_s = max_s;
    int64_t days = unix_s / 86400, secs = unix_s % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    char *p = out;
    p = put_digits(p, (int)y, 4);
    p = put_digits(p, m, 2);
    p = put_digits(p, d, 2);
    p = put_digits(p, (int)(secs / 3600), 2);
    p = put_digits(p, (int)(secs / 60 % 60), 2);
    p = put_digits(p, (int)(secs % 60), 2);
    *p = '\0';
}

int64_t swarm__ca_time_ns(const mbedtls_x509_time *t)
{
    int64_t s = days_from_civil(t->year, t->mon, t->day) * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
    if (s > INT64_MAX / 1000000000)
        return INT64_MAX;
    if (s < INT64_MIN / 1000000000)
        return INT64_MIN;
    return s * 1000000000;
}

int64_t swarm__ca_add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* ---- Base36 -------------------------------------------------------------- */

static const char base36_alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";

int swarm__ca_base36_encode(const unsigned char *num, size_t n, char *out, size_t width)
{
    /* Repeated division of a big-endian copy by 36; digits come out least significant first. */
    unsigned char work[64];
    if (n > sizeof work)
        return -1;
    memcpy(work, num, n);
    for (size_t pos = width; pos-- > 0;) {
        unsigned rem = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned cur = rem * 256 + work[i];
            work[i] = (unsigned char)(cur / 36);
            rem = cur % 36;
        }
        out[pos] = base36_alphabet[rem];
    }
    out[width] = '\0';
    for (size_t i = 0; i < n; i++)
        if (work[i] != 0)
            return -1; /* more digits than width */
    return 0;
}

int swarm__ca_base36_decode(const char *s, size_t len, unsigned char *num, size_t n)
{
    memset(num, 0, n);
    for (size_t k = 0; k < len; k++) {
        const char *p = s[k] != '\0' ? strchr(base36_alphabet, s[k]) : NULL;
        if (p == NULL)
            return -1;
        /* num = num * 36 + digit, from the least significant byte up. */
        unsigned carry = (unsigned)(p - base36_alphabet);
        for (size_t i = n; i-- > 0;) {
            unsigned cur = num[i] * 36u + carry;
            num[i] = (unsigned char)(cur & 0xff);
            carry = cur >> 8;
        }
        if (carry != 0)
            return -1;
    }
    return 0;
}

/* ---- Certificate writing ------------------------------------------------- */

int swarm__ca_set_serial(mbedtls_x509write_cert *w, swarm__ca_rng *r, swarm__err *e)
{
    unsigned char bytes[16];
    int rc = swarm__ca_rng_random(r, bytes, sizeof bytes);
    if (rc != 0)
        return swarm__ca_mbed_err(e, SWARM_EIO, rc, "generating a serial number");
    bytes[0] = (unsigned char)((bytes[0] & 0x7f) | 0x40); /* positive, 16 bytes long */
    mbedtls_mpi serial;
    mbedtls_mpi_init(&serial);
    rc = mbedtls_mpi_read_binary(&serial, bytes, sizeof bytes);
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_serial(w, &serial);
    mbedtls_mpi_free(&serial);
    return rc == 0 ? 0 : swarm__ca_mbed_err(e, SWARM_EBACKEND, rc, "setting the serial number");
}

int swarm__ca_write_cert(mbedtls_x509write_cert *w, swarm__ca_rng *r, char **pem, swarm__err *e)
{
    *pem = NULL;
    size_t size = 8192;
    unsigned char *buf = malloc(size);
    if (buf == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    int rc = mbedtls_x509write_crt_pem(w, buf, size, swarm__ca_rng_random, r);
    if (rc != 0) {
        free(buf);
        return swarm__ca_mbed_err(e, SWARM_EBACKEND, rc, "writing the certificate");
    }
    *pem = (char *)buf;
    return 0;
}

void swarm__ca_text_digest(const char *text, char out[64])
{
    unsigned char hash[32];
    mbedtls_sha256_ret((const unsigned char *)text, strlen(text), hash, 0);
    swarm__ca_base36_encode(hash, sizeof hash, out, SWARM__DIGEST_LEN); /* 36^50 > 2^256: always fits */
}
