/* Join tokens in Swarm's v1 format: "SWMTKN-1-<CA digest, 50 base36>-<secret, 25 base36>". */
#include "ca/internal.h"

#include <stdio.h>
#include <string.h>

#define TOKEN_PREFIX "SWMTKN-"

int swarm__token_new(const swarm__ca *ca, const swarm__clock *clk, char out[128], swarm__err *e)
{
    unsigned char secret_bytes[16];
    char digest[64], secret[SWARM__SECRET_LEN + 1];
    out[0] = '\0';
    if (clk->random(clk->data, secret_bytes, sizeof secret_bytes) != 0)
        return swarm__err_set(e, SWARM_EIO, "join token: the random source failed");
    swarm__ca_base36_encode(secret_bytes, sizeof secret_bytes, secret, SWARM__SECRET_LEN); /* 36^25 > 2^128 */
    swarm__ca_digest(ca, digest);
    snprintf(out, 128, TOKEN_PREFIX "1-%s-%s", digest, secret);
    return 0;
}

static int invalid(swarm__err *e, const char *why)
{
    return swarm__err_set(e, SWARM_EINVALID, "invalid join token: %s", why);
}

/* Length of the run of [0-9a-z] at s. */
static size_t base36_run(const char *s)
{
    size_t n = 0;
    while ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'z'))
        n++;
    return n;
}

int swarm__token_parse(swarm__token *out, const char *text, swarm__err *e)
{
    memset(out, 0, sizeof *out);
    if (text == NULL)
        return invalid(e, "empty");
    if (strncmp(text, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0)
        return invalid(e, "must start with \"SWMTKN-\"");
    const char *p = text + strlen(TOKEN_PREFIX);
    if (p[0] != '1' || p[1] != '-') {
        if (p[0] >= '2' && p[0] <= '9' && p[1] == '-')
            return invalid(e, "unsupported version (only version 1 is supported)");
        return invalid(e, "bad version");
    }
    p += 2;
    size_t n = base36_run(p);
    if (n != SWARM__DIGEST_LEN || p[n] != '-')
        return invalid(e, p[n] == '-' || p[n] == '\0' ? "the CA digest must be 50 characters of [0-9a-z]"
                                                      : "bad character in the CA digest");
    unsigned char digest_bytes[32], secret_bytes[16];
    if (swarm__ca_base36_decode(p, n, digest_bytes, sizeof digest_bytes) != 0)
        return invalid(e, "the CA digest is out of range");
    memcpy(out->digest, p, n);
    out->digest[n] = '\0';
    p += n + 1;
    n = base36_run(p);
    if (p[n] != '\0') {
        memset(out, 0, sizeof *out);
        return invalid(e, p[n] == '-' ? "too many parts" : "bad character in the secret");
    }
    if (n != SWARM__SECRET_LEN) {
        memset(out, 0, sizeof *out);
        return invalid(e, "the secret must be 25 characters of [0-9a-z]");
    }
    if (swarm__ca_base36_decode(p, n, secret_bytes, sizeof secret_bytes) != 0) {
        memset(out, 0, sizeof *out);
        return invalid(e, "the secret is out of range");
    }
    memcpy(out->secret, p, n);
    out->secret[n] = '\0';
    out->version = 1;
    return 0;
}

int swarm__token_pins(const swarm__token *t, const char *ca_cert_pem)
{
    char digest[64];
    if (t == NULL || swarm__cert_digest(ca_cert_pem, digest, NULL) != 0)
        return 0;
    return swarm__secret_equal(t->digest, digest);
}

int swarm__secret_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return 0;
    size_t n = strlen(a);
    if (strlen(b) != n)
        return 0;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}
