/* Issuing node certificates from CSRs. */
#include "ca/internal.h"

#include <mbedtls/asn1write.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_csr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* IDs go into a DN string, so only characters that need no escaping. */
static int valid_name(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
              c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* Parses the CSR and checks its self-signature and key type. */
static int parse_csr(mbedtls_x509_csr *csr, const char *pem, swarm__err *e)
{
    mbedtls_x509_csr_init(csr);
    if (pem == NULL || strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----") == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "invalid certificate request: not a PEM certificate request");
    int rc = mbedtls_x509_csr_parse(csr, (const unsigned char *)pem, strlen(pem) + 1);
    if (rc != 0)
        return swarm__ca_mbed_err(e, SWARM_EINVALID, rc, "invalid certificate request");
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(csr->sig_md);
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    if (md == NULL || mbedtls_md(md, csr->cri.p, csr->cri.len, hash) != 0 ||
        mbedtls_pk_verify_ext(csr->sig_pk, csr->sig_opts, &csr->pk, csr->sig_md, hash, mbedtls_md_get_size(md),
                              csr->sig.p, csr->sig.len) != 0)
        return swarm__err_set(e, SWARM_EINVALID, "invalid certificate request: bad signature");
    if (!mbedtls_pk_can_do(&csr->pk, MBEDTLS_PK_ECKEY) ||
        mbedtls_pk_ec(csr->pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1)
        return swarm__err_set(e, SWARM_EINVALID, "invalid certificate request: the key must be ECDSA P-256");
    return 0;
}

/*
 * The issuer name is the CA's subject, byte for byte (string types
 * included), so that every verifier matches it. mbedtls writes its name
 * list head last, so the parsed subject is linked in reverse. The nodes
 * borrow the CA certificate's buffers; *nodes is freed by the caller after
 * detaching it from w.
 */
static int set_issuer(mbedtls_x509write_cert *w, const mbedtls_x509_name *subject,
                      mbedtls_asn1_named_data **nodes, swarm__err *e)
{
    size_t n = 0;
    for (const mbedtls_x509_name *cur = subject; cur != NULL; cur = cur->next) {
        if (cur->next_merged)
            return swarm__err_set(e, SWARM_EINVALID, "CA subjects with multi-valued RDNs are not supported");
        n++;
    }
    *nodes = calloc(n > 0 ? n : 1, sizeof **nodes);
    if (*nodes == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    mbedtls_asn1_named_data *head = NULL;
    size_t i = 0;
    for (const mbedtls_x509_name *cur = subject; cur != NULL; cur = cur->next, i++) {
        (*nodes)[i].oid = cur->oid;
        (*nodes)[i].val = cur->val;
        (*nodes)[i].next = head;
        head = &(*nodes)[i];
    }
    w->issuer = head;
    return 0;
}

/* Writes a DER element backwards: value, length, tag. Returns its size or a negative mbedtls error. */
static int write_tlv(unsigned char **p, unsigned char *start, unsigned char tag, const void *value, size_t len)
{
    int a = mbedtls_asn1_write_raw_buffer(p, start, value, len);
    if (a < 0)
        return a;
    int b = mbedtls_asn1_write_len(p, start, len);
    if (b < 0)
        return b;
    int c = mbedtls_asn1_write_tag(p, start, tag);
    if (c < 0)
        return c;
    return a + b + c;
}

/* SubjectAltName: SEQUENCE OF dNSName [2] IA5String. */
static int set_san(mbedtls_x509write_cert *w, const char *const *names, size_t n)
{
    unsigned char buf[512], *p = buf + sizeof buf;
    size_t len = 0;
    for (size_t i = n; i-- > 0;) {
        int r = write_tlv(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2, names[i], strlen(names[i]));
        if (r < 0)
            return r;
        len += (size_t)r;
    }
    int r = mbedtls_asn1_write_len(&p, buf, len);
    if (r < 0)
        return r;
    len += (size_t)r;
    r = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    if (r < 0)
        return r;
    len += (size_t)r;
    return mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                               MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, p, len);
}

/* ExtendedKeyUsage: serverAuth, clientAuth. */
static int set_eku(mbedtls_x509write_cert *w)
{
    unsigned char buf[64], *p = buf + sizeof buf;
    size_t len = 0;
    int r = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    if (r < 0)
        return r;
    len += (size_t)r;
    r = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
    if (r < 0)
        return r;
    len += (size_t)r;
    r = mbedtls_asn1_write_len(&p, buf, len);
    if (r < 0)
        return r;
    len += (size_t)r;
    r = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    if (r < 0)
        return r;
    len += (size_t)r;
    return mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                               MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, p, len);
}

int swarm__ca_issue(swarm__ca *ca, const char *csr_pem, const char *node_id, const char *role_ou,
                    const char *cluster_id, int64_t lifetime_ns, const swarm__clock *clk, char **cert_pem,
                    swarm__err *e)
{
    *cert_pem = NULL;
    mbedtls_pk_context *ca_key = swarm__ca_key(ca);
    if (ca_key == NULL)
        return swarm__err_set(e, SWARM_EINVALID, "this CA has no signing key");
    if (!valid_name(node_id))
        return swarm__err_set(e, SWARM_EINVALID, "node ID: must be 1 to 63 characters of [A-Za-z0-9._-]");
    if (!valid_name(cluster_id))
        return swarm__err_set(e, SWARM_EINVALID, "cluster ID: must be 1 to 63 characters of [A-Za-z0-9._-]");
    int manager = role_ou != NULL && strcmp(role_ou, SWARM__CA_OU_MANAGER) == 0;
    if (!manager && (role_ou == NULL || strcmp(role_ou, SWARM__CA_OU_WORKER) != 0))
        return swarm__err_set(e, SWARM_EINVALID, "role: must be \"%s\" or \"%s\"", SWARM__CA_OU_MANAGER,
                              SWARM__CA_OU_WORKER);
    if (lifetime_ns <= 0)
        return swarm__err_set(e, SWARM_EINVALID, "certificate lifetime: must be positive");

    mbedtls_x509_csr csr;
    int rc = parse_csr(&csr, csr_pem, e);
    if (rc != 0) {
        mbedtls_x509_csr_free(&csr);
        return rc;
    }
    swarm__ca_rng rng;
    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    mbedtls_asn1_named_data *issuer_nodes = NULL;
    rc = swarm__ca_rng_init(&rng, clk, e);
    if (rc == 0)
        rc = set_issuer(&w, &swarm__ca_certs(ca)->subject, &issuer_nodes, e);
    if (rc == 0)
        rc = swarm__ca_set_serial(&w, &rng, e);
    if (rc != 0)
        goto done;

    int64_t now = clk->wall_ns(clk->data);
    char from[15], until[15], subject[256];
    swarm__ca_time_x509(from, swarm__ca_add_sat(now, -SWARM__CERT_BACKDATE_NS) / 1000000000);
    swarm__ca_time_x509(until, swarm__ca_add_sat(now, lifetime_ns) / 1000000000);
    snprintf(subject, sizeof subject, "O=%s,OU=%s,CN=%s", cluster_id, role_ou, node_id);
    const char *san_manager[] = {role_ou, node_id, SWARM__CA_CN};
    const char *san_worker[] = {role_ou, node_id};

    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &csr.pk);
    mbedtls_x509write_crt_set_issuer_key(&w, ca_key);
    int mrc = mbedtls_x509write_crt_set_subject_name(&w, subject);
    if (mrc == 0)
        mrc = mbedtls_x509write_crt_set_validity(&w, from, until);
    if (mrc == 0)
        mrc = mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1);
    if (mrc == 0)
        mrc = mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    if (mrc == 0)
        mrc = set_eku(&w);
    if (mrc == 0)
        mrc = manager ? set_san(&w, san_manager, 3) : set_san(&w, san_worker, 2);
    if (mrc == 0)
        mrc = mbedtls_x509write_crt_set_subject_key_identifier(&w);
    if (mrc == 0)
        mrc = mbedtls_x509write_crt_set_authority_key_identifier(&w);
    if (mrc != 0) {
        rc = swarm__ca_mbed_err(e, SWARM_EBACKEND, mrc, "building the certificate");
        goto done;
    }
    rc = swarm__ca_write_cert(&w, &rng, cert_pem, e);
done:
    w.issuer = NULL; /* borrowed nodes, freed below */
    mbedtls_x509write_crt_free(&w);
    free(issuer_nodes);
    swarm__ca_rng_free(&rng);
    mbedtls_x509_csr_free(&csr);
    return rc;
}
