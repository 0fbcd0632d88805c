/* Verifying node certificates against the CA at a given time, reading their identity, and renewal timing. */
#include "ca/internal.h"

#include <mbedtls/oid.h>

#include <stdio.h>
#include <string.h>

/* Copies one subject attribute; 0 if present and it fits, else -1. */
static int subject_attr(const mbedtls_x509_name *name, const char *oid, size_t oid_len, char *out, size_t size)
{
    for (; name != NULL; name = name->next) {
        if (name->oid.len != oid_len || memcmp(name->oid.p, oid, oid_len) != 0)
            continue;
        if (name->val.len == 0 || name->val.len >= size || memchr(name->val.p, '\0', name->val.len) != NULL)
            return -1;
        memcpy(out, name->val.p, name->val.len);
        out[name->val.len] = '\0';
        return 0;
    }
    return -1;
}

#define OID_ARGS(oid) oid, MBEDTLS_OID_SIZE(oid)

static int fill_info(const mbedtls_x509_crt *crt, swarm__cert_info *info, swarm__err *e)
{
    swarm__cert_info tmp;
    memset(&tmp, 0, sizeof tmp);
    if (subject_attr(&crt->subject, OID_ARGS(MBEDTLS_OID_AT_CN), tmp.node_id, sizeof tmp.node_id) != 0)
        return swarm__err_set(e, SWARM_EINVALID, "certificate subject: missing or invalid CN (node ID)");
    if (subject_attr(&crt->subject, OID_ARGS(MBEDTLS_OID_AT_ORG_UNIT), tmp.role, sizeof tmp.role) != 0)
        return swarm__err_set(e, SWARM_EINVALID, "certificate subject: missing or invalid OU (role)");
    if (subject_attr(&crt->subject, OID_ARGS(MBEDTLS_OID_AT_ORGANIZATION), tmp.cluster_id, sizeof tmp.cluster_id) !=
        0)
        return swarm__err_set(e, SWARM_EINVALID, "certificate subject: missing or invalid O (cluster ID)");
    tmp.not_before_ns = swarm__ca_time_ns(&crt->valid_from);
    tmp.not_after_ns = swarm__ca_time_ns(&crt->valid_to);
    if (info != NULL)
        *info = tmp;
    return 0;
}

int swarm__cert_info_read(const char *cert_pem, swarm__cert_info *info, swarm__err *e)
{
    mbedtls_x509_crt crt;
    int rc = swarm__ca_parse_certs(&crt, cert_pem, "malformed certificate", e);
    if (rc == 0)
        rc = fill_info(&crt, info, e);
    mbedtls_x509_crt_free(&crt);
    return rc;
}

/*
 * mbedtls checks validity periods against the system clock; the cluster's
 * clock may be virtual, so this callback replaces those two flags with the
 * answer at now_ns for every certificate of the chain. The CA's own expiry
 * is reported separately.
 */
typedef struct verify_ctx {
    int64_t now_ns;
    int ca_expired;
} verify_ctx;

static int check_time(void *data, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    verify_ctx *v = data;
    *flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
    if (v->now_ns > swarm__ca_time_ns(&crt->valid_to)) {
        *flags |= MBEDTLS_X509_BADCERT_EXPIRED;
        if (depth > 0)
            v->ca_expired = 1;
    }
    if (v->now_ns < swarm__ca_time_ns(&crt->valid_from))
        *flags |= MBEDTLS_X509_BADCERT_FUTURE;
    return 0;
}

static int explain(uint32_t flags, const verify_ctx *v, swarm__err *e)
{
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
        return swarm__err_set(e, SWARM_EINVALID, "certificate is not signed by the cluster CA");
    if (v->ca_expired)
        return swarm__err_set(e, SWARM_EINVALID, "the CA certificate has expired");
    if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
        return swarm__err_set(e, SWARM_EINVALID, "certificate has expired");
    if (flags & MBEDTLS_X509_BADCERT_FUTURE)
        return swarm__err_set(e, SWARM_EINVALID, "certificate is not yet valid");
    char buf[256];
    int n = mbedtls_x509_crt_verify_info(buf, sizeof buf, "", flags);
    if (n > 0 && buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    return swarm__err_set(e, SWARM_EINVALID, "certificate verification failed: %s", n > 0 ? buf : "unknown reason");
}

int swarm__ca_verify(const swarm__ca *ca, const char *cert_pem, int64_t now_ns, swarm__cert_info *info,
                     swarm__err *e)
{
    mbedtls_x509_crt crt;
    int rc = swarm__ca_parse_certs(&crt, cert_pem, "malformed certificate", e);
    if (rc != 0)
        goto done;
    verify_ctx v = {now_ns, 0};
    uint32_t flags = 0;
    int mrc = mbedtls_x509_crt_verify_with_profile(&crt, swarm__ca_certs(ca), NULL, &mbedtls_x509_crt_profile_default,
                                                   NULL, &flags, check_time, &v);
    if (mrc != 0) {
        rc = flags != 0 ? explain(flags, &v, e)
                        : swarm__ca_mbed_err(e, SWARM_EINVALID, mrc, "certificate verification failed");
        goto done;
    }
    if (crt.ca_istrue) {
        rc = swarm__err_set(e, SWARM_EINVALID, "a CA certificate is not a node certificate");
        goto done;
    }
    rc = fill_info(&crt, info, e);
done:
    mbedtls_x509_crt_free(&crt);
    return rc;
}

int64_t swarm__cert_renew_at(const swarm__cert_info *info, const swarm__clock *clk)
{
    if (info->not_after_ns <= info->not_before_ns)
        return info->not_before_ns;
    uint64_t lifetime = (uint64_t)info->not_after_ns - (uint64_t)info->not_before_ns;
    uint64_t lo = lifetime / 2, hi = lifetime / 5 * 4 + lifetime % 5 * 4 / 5; /* 50 %, 80 % */
    uint64_t r;
    uint64_t offset;
    if (clk->random(clk->data, &r, sizeof r) == 0)
        offset = lo + r % (hi - lo + 1);
    else
        offset = lo + (hi - lo) / 2;
    return (int64_t)((uint64_t)info->not_before_ns + offset);
}
