/* The certificate authority: root CA, node certificates, proof of possession, join tokens. */
#include "ca/ca.h"
#include "ca/internal.h"
#include "test.h"

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include <stdlib.h>

#define SEC 1000000000LL
#define HOUR (3600 * SEC)

/* A settable wall clock (2026-11-30T18:05:56Z by default) with the system's random source. */
typedef struct fake_clock {
    int64_t wall;
    int fail_random;
} fake_clock;

static fake_clock fake = {1796061956LL * SEC, 0};

static int64_t fake_wall(void *data)
{
    return ((fake_clock *)data)->wall;
}

static int64_t fake_mono(void *data)
{
    return ((fake_clock *)data)->wall;
}

static int fake_random(void *data, void *buf, size_t len)
{
    if (((fake_clock *)data)->fail_random)
        return SWARM_EIO;
    return swarm__clock_system()->random(swarm__clock_system()->data, buf, len);
}

static const swarm__clock clk = {fake_wall, fake_mono, fake_random, &fake};

static void reset_clock(void)
{
    fake.wall = 1796061956LL * SEC;
    fake.fail_random = 0;
}

/* A node key and a certificate for it. */
typedef struct node {
    char *key;
    char *cert;
} node;

static node issue(swarm__ca *ca, const char *id, const char *role, int64_t lifetime)
{
    node n = {NULL, NULL};
    char *csr = NULL;
    swarm__err e = {0};
    CHECK_INT(swarm__key_new(&n.key, &clk, &e), 0);
    CHECK_INT(swarm__csr_new(&csr, n.key, &clk, &e), 0);
    CHECK_CONTAINS(csr, "-----BEGIN CERTIFICATE REQUEST-----");
    int rc = swarm__ca_issue(ca, csr, id, role, "cluster1", lifetime, &clk, &n.cert, &e);
    free(csr);
    if (rc != 0)
        test__fail(__FILE__, __LINE__, "issue: %s", e.message);
    return n;
}

static void node_free(node *n)
{
    free(n->key);
    free(n->cert);
}

static int is_base36(const char *s, size_t len)
{
    if (strlen(s) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')))
            return 0;
    return 1;
}

static void test_ca__create(void)
{
    reset_clock();
    swarm__ca *ca;
    swarm__err e = {0};
    CHECK_INT(swarm__ca_create(&ca, &clk, &e), 0);
    CHECK_CONTAINS(swarm__ca_cert_pem(ca), "-----BEGIN CERTIFICATE-----");
    CHECK_CONTAINS(swarm__ca_key_pem(ca), "PRIVATE KEY-----");
    CHECK(swarm__ca_has_key(ca));

    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    const char *pem = swarm__ca_cert_pem(ca);
    CHECK_INT(mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1), 0);
    char dn[128];
    CHECK(mbedtls_x509_dn_gets(dn, sizeof dn, &crt.subject) > 0);
    CHECK_STR(dn, "CN=swarm-ca");
    CHECK(mbedtls_x509_dn_gets(dn, sizeof dn, &crt.issuer) > 0);
    CHECK_STR(dn, "CN=swarm-ca");
    CHECK(crt.ca_istrue);
    CHECK_INT(mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_KEY_CERT_SIGN), 0);
    CHECK(mbedtls_pk_can_do(&crt.pk, MBEDTLS_PK_ECKEY));
    CHECK_INT(mbedtls_pk_ec(crt.pk)->grp.id, MBEDTLS_ECP_DP_SECP256R1);
    CHECK_INT(swarm__ca_time_ns(&crt.valid_to), fake.wall + SWARM__CA_LIFETIME_NS);
    CHECK_INT(swarm__ca_time_ns(&crt.valid_from), fake.wall - HOUR);
    mbedtls_x509_crt_free(&crt);

    /* The CA certificate itself is not a node certificate. */
    CHECK_INT(swarm__ca_verify(ca, pem, fake.wall, NULL, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "not a node certificate");
    swarm__ca_free(ca);
    swarm__ca_free(NULL);
}

static void test_ca__issue_and_verify(void)
{
    reset_clock();
    swarm__ca *ca;
    swarm__err e = {0};
    CHECK_INT(swarm__ca_create(&ca, &clk, &e), 0);
    int64_t lifetime = SWARM__CERT_DEFAULT_LIFETIME_NS;
    node m = issue(ca, "k4pr0040c6nt8171ijluq8mpz", SWARM__CA_OU_MANAGER, lifetime);
    node w = issue(ca, "2b3n5rk0oqrx1m4d3mfhggbch", SWARM__CA_OU_WORKER, lifetime);

    swarm__cert_info info;
    CHECK_INT(swarm__ca_verify(ca, m.cert, fake.wall, &info, &e), 0);
    CHECK_STR(info.node_id, "k4pr0040c6nt8171ijluq8mpz");
    CHECK_STR(info.role, "swarm-manager");
    CHECK_STR(info.cluster_id, "cluster1");
    CHECK_INT(info.not_after_ns, fake.wall + lifetime);
    CHECK_INT(info.not_before_ns, fake.wall - HOUR);

    CHECK_INT(swarm__ca_verify(ca, w.cert, fake.wall + lifetime - SEC, &info, &e), 0);
    CHECK_STR(info.node_id, "2b3n5rk0oqrx1m4d3mfhggbch");
    CHECK_STR(info.role, "swarm-worker");
    CHECK_STR(info.cluster_id, "cluster1");

    swarm__cert_info read;
    CHECK_INT(swarm__cert_info_read(w.cert, &read, &e), 0);
    CHECK(memcmp(&read, &info, sizeof read) == 0);

    CHECK_INT(swarm__key_matches_cert(m.key, m.cert, &e), 0);
    CHECK_INT(swarm__key_matches_cert(w.key, w.cert, &e), 0);

    /* Extensions as TLS needs them. */
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    CHECK_INT(mbedtls_x509_crt_parse(&crt, (const unsigned char *)m.cert, strlen(m.cert) + 1), 0);
    CHECK(!crt.ca_istrue);
    CHECK_INT(mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE), 0);
    CHECK_INT(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_SERVER_AUTH,
                                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
              0);
    CHECK_INT(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_CLIENT_AUTH,
                                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
              0);
    const char *want[] = {"swarm-manager", "k4pr0040c6nt8171ijluq8mpz", "swarm-ca"};
    size_t i = 0;
    for (const mbedtls_x509_sequence *s = &crt.subject_alt_names; s != NULL && s->buf.p != NULL; s = s->next, i++) {
        CHECK(i < 3);
        CHECK_INT(s->buf.len, strlen(want[i]));
        CHECK(memcmp(s->buf.p, want[i], s->buf.len) == 0);
    }
    CHECK_INT(i, 3);
    char dn[256];
    CHECK(mbedtls_x509_dn_gets(dn, sizeof dn, &crt.subject) > 0);
    CHECK_STR(dn, "O=cluster1, OU=swarm-manager, CN=k4pr0040c6nt8171ijluq8mpz");
    mbedtls_x509_crt_free(&crt);

    /* Serials are random. */
    mbedtls_x509_crt a, b;
    mbedtls_x509_crt_init(&a);
    mbedtls_x509_crt_init(&b);
    CHECK_INT(mbedtls_x509_crt_parse(&a, (const unsigned char *)m.cert, strlen(m.cert) + 1), 0);
    CHECK_INT(mbedtls_x509_crt_parse(&b, (const unsigned char *)w.cert, strlen(w.cert) + 1), 0);
    CHECK_INT(a.serial.len, 16);
    CHECK(a.serial.len != b.serial.len || memcmp(a.serial.p, b.serial.p, a.serial.len) != 0);
    mbedtls_x509_crt_free(&a);
    mbedtls_x509_crt_free(&b);

    node_free(&m);
    node_free(&w);
    swarm__ca_free(ca);
}

static void test_ca__issue_rejects_bad_input(void)
{
    reset_clock();
    swarm__ca *ca;
    swarm__err e = {0};
    CHECK_INT(swarm__ca_create(&ca, &clk, &e), 0);
    char *key, *csr, *cert = NULL;
    CHECK_INT(swarm__key_new(&key, &clk, &e), 0);
    CHECK_INT(swarm__csr_new(&csr, key, &clk, &e), 0);
    CHECK_INT(swarm__ca_issue(ca, csr, "n1", "swarm-admin", "c1", HOUR, &clk, &cert, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "role");
    CHECK_INT(swarm__ca_issue(ca, csr, "n1,O=evil", "swarm-worker", "c1", HOUR, &clk, &cert, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "node ID");
    CHECK_INT(swarm__ca_issue(ca, csr, "", "swarm-worker", "c1", HOUR, &clk, &cert, &e), SWARM_EINVALID);
    CHECK_INT(swarm__ca_issue(ca, csr, "n1", "swarm-worker", "c 1", HOUR, &clk, &cert, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "cluster ID");
    CHECK_INT(swarm__ca_issue(ca, csr, "n1", "swarm-worker", "c1", 0, &clk, &cert, &e), SWARM_EINVALID);
    CHECK_INT(swarm__ca_issue(ca, "garbage", "n1", "swarm-worker", "c1", HOUR, &clk, &cert, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "certificate request");
    CHECK_INT(swarm__ca_issue(ca, key, "n1", "swarm-worker", "c1", HOUR, &clk, &cert, &e), SWARM_EINVALID);
    CHECK(cert == NULL);

    /* A CSR whose signature does not cover its content: flip one base64 character of the body. */
    char *bad = swarm__ca_strdup(csr);
    char *body = strchr(bad, '\n') + 1;
    size_t mid = strlen(body) / 2;
    while (body[mid] == '\n')
        mid++;
    body[mid] = body[mid] == 'A' ? 'B' : 'A';
    CHECK(swarm__ca_issue(ca, bad, "n1", "swarm-worker", "c1", HOUR, &clk, &cert, &e) < 0);
    CHECK(cert == NULL);
    free(bad);

    CHECK_INT(swarm__csr_new(&bad, "not a key", &clk, &e), SWARM_EINVALID);
    CHECK(bad == NULL);
    free(key);
    free(csr);
    swarm__ca_free(ca);
}

static void test_ca__verify_failures(void)
{
    reset_clock();
    swarm__ca *ca, *other;
    swarm__err e = {0};
    CHECK_INT(swarm__ca_create(&ca, &clk, &e), 0);
    CHECK_INT(swarm__ca_create(&other, &clk, &e), 0);
    node n = issue(ca, "n1", SWARM__CA_OU_WORKER, 24 * HOUR);
    node f = issue(other, "n1", SWARM__CA_OU_WORKER, 24 * HOUR);
    swarm__cert_info info;

    CHECK_INT(swarm__ca_verify(ca, f.cert, fake.wall, &info, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "not signed by the cluster CA");
    CHECK_INT(swarm__ca_verify(other, n.cert, fake.wall, &info, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "not signed by the cluster CA");

    CHECK_INT(swarm__ca_verify(ca, n.cert, fake.wall + 24 * HOUR, &info, &e), 0);
    CHECK_INT(swarm__ca_verify(ca, n.cert, fake.wall + 24 * HOUR + SEC, &info, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "expired");
    CHECK_INT(swarm__ca_verify(ca, n.cert, fake.wall - HOUR, &info, &e), 0);
    CHECK_INT(swarm__ca_verify(ca, n.cert, fake.wall - HOUR - SEC, &info, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "not yet valid");

    /* A certificate outliving an expired CA. */
    node longer = issue(ca, "n2", SWARM__CA_OU_WORKER, SWARM__CA_LIFETIME_NS + 24 * HOUR);
    CHECK_INT(swarm__ca_verify(ca, longer.cert, fake.wall + SWARM__CA_LIFETIME_NS + HOUR, &info, &e),
              SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "CA certificate has expired");

    const char *garbage[] = {
        "",
        "garbage",
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIB",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        CHECK_INT(swarm__ca_verify(ca, garbage[i], fake.wall, &info, &e), SWARM_EINVALID);
        CHECK_CONTAINS(e.message, "malformed certificate");
    }
    CHECK_INT(swarm__ca_verify(ca, NULL, fake.wall, &info, &e), SWARM_EINVALID);
    /* Truncated real certificate. */
    char *cut = swarm__ca_strdup(n.cert);
    cut[strlen(cut) / 2] = '\0';
    CHECK_INT(swarm__ca_verify(ca, cut, fake.wall, &info, &e), SWARM_EINVALID);
    free(cut);
    /* A node key is not a certificate. */
    CHECK_INT(swarm__ca_verify(ca, n.key, fake.wall, &info, &e), SWARM_EINVALID);

    node_free(&n);
    node_free(&f);
    node_free(&longer);
    swarm__ca_free(ca);
    swarm__ca_free(other);
}

static void test_ca__renew_at_range(void)
{
    reset_clock();
    swarm__cert_info info;
    memset(&info, 0, sizeof info);
    info.not_before_ns = fake.wall - HOUR;
    info.not_after_ns = fake.wall + SWARM__CERT_DEFAULT_LIFETIME_NS;
    int64_t life = info.not_after_ns - info.not_before_ns;
    int64_t lo = info.not_before_ns + life / 2, hi = info.not_before_ns + life / 10 * 8;
    int64_t min = INT64_MAX, max = INT64_MIN;
    for (int i = 0; i < 20000; i++) {
        int64_t t = swarm__cert_renew_at(&info, &clk);
        CHECK(t >= lo && t <= hi);
        if (t < min)
            min = t;
        if (t > max)
            max = t;
    }
    /* Spread over the window, not stuck at one point. */
    CHECK(min < lo + life / 100);
    CHECK(max > hi - life / 100);

    /* Without randomness: the middle of the window. */
    fake.fail_random = 1;
    CHECK_INT(swarm__cert_renew_at(&info, &clk), info.not_before_ns + life / 2 + (life / 10 * 3) / 2);
    fake.fail_random = 0;

    /* Degenerate lifetimes do not crash. */
    info.not_after_ns = info.not_before_ns;
    CHECK_INT(swarm__cert_renew_at(&info, &clk), info.not_before_ns);
    info.not_before_ns = INT64_MIN;
    info.not_after_ns = INT64_MAX;
    int64_t t = swarm__cert_renew_at(&info, &clk);
    CHECK(t >= 0);
}

static void test_ca__sign_verify(void)
{
    reset_clock();
    swarm__ca *ca;
    swarm__err e = {0};
    CHECK_INT(swarm__ca_create(&ca, &clk, &e), 0);
    node a = issue(ca, "a", SWARM__CA_OU_WORKER, HOUR);
    node b = issue(ca, "b", SWARM__CA_OU_WORKER, HOUR);
    const char nonce[] = "nonce: 8f1c2a44e0b9";
    unsigned char *sig;
    size_t len;
    CHECK_INT(swarm__sign(a.key, nonce, sizeof nonce, &sig, &len, &clk, &e), 0);
    CHECK(len > 0 && len <= 72);
    CHECK_INT(swarm__verify_signature(a.cert, nonce, sizeof nonce, sig, len, &e), 0);

    /* Tampered data, tampered signature, truncated signature, another node's certificate. */
    char other[sizeof nonce];
    memcpy(other, nonce, sizeof nonce);
    other[0] ^= 1;
    CHECK_INT(swarm__verify_signature(a.cert, other, sizeof other, sig, len, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "signature does not match");
    sig[len / 2] ^= 0x20;
    CHECK_INT(swarm__verify_signature(a.cert, nonce, sizeof nonce, sig, len, &e), SWARM_EINVALID);
    sig[len / 2] ^= 0x20;
    CHECK_INT(swarm__verify_signature(a.cert, nonce, sizeof nonce, sig, len - 1, &e), SWARM_EINVALID);
    CHECK_INT(swarm__verify_signature(a.cert, nonce, sizeof nonce, sig, 0, &e), SWARM_EINVALID);
    CHECK_INT(swarm__verify_signature(b.cert, nonce, sizeof nonce, sig, len, &e), SWARM_EINVALID);
    CHECK_INT(swarm__verify_signature("junk", nonce, sizeof nonce, sig, len, &e), SWARM_EINVALID);
    CHECK_INT(swarm__verify_signature(a.cert, nonce, sizeof nonce, sig, len, &e), 0);
    free(sig);

    /* Signed by b: verifies only against b. Empty data is fine. */
    CHECK_INT(swarm__sign(b.key, "", 0, &sig, &len, &clk, &e), 0);
    CHECK_INT(swarm__verify_signature(b.cert, "", 0, sig, len, &e), 0);
    CHECK_INT(swarm__verify_signature(a.cert, "", 0, sig, len, &e), SWARM_EINVALID);
    free(sig);

    CHECK_INT(swarm__sign("not a key", nonce, sizeof nonce, &sig, &len, &clk, &e), SWARM_EINVALID);
    CHECK(sig == NULL);
    fake.fail_random = 1;
    CHECK_INT(swarm__sign(a.key, nonce, sizeof nonce, &sig, &len, &clk, &e), SWARM_EIO);
    CHECK(sig == NULL);
    fake.fail_random = 0;

    node_free(&a);
    node_free(&b);
    swarm__ca_free(ca);
}

static void test_ca__key_matches_cert(void)
{
    reset_clock();
    swarm__ca *ca;
    swarm__err e = {0};
    CHECK_INT(swarm__ca_create(&ca, &clk, &e), 0);
    node a = issue(ca, "a", SWARM__CA_OU_MANAGER, HOUR);
    node b = issue(ca, "b", SWARM__CA_OU_MANAGER, HOUR);
    CHECK_INT(swarm__key_matches_cert(a.key, a.cert, &e), 0);
    CHECK_INT(swarm__key_matches_cert(a.key, b.cert, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "does not match");
    CHECK_INT(swarm__key_matches_cert(b.key, a.cert, &e), SWARM_EINVALID);
    CHECK_INT(swarm__key_matches_cert("junk", a.cert, &e), SWARM_EINVALID);
    CHECK_INT(swarm__key_matches_cert(a.key, "junk", &e), SWARM_EINVALID);
    CHECK_INT(swarm__key_matches_cert(swarm__ca_key_pem(ca), swarm__ca_cert_pem(ca), &e), 0);
    node_free(&a);
    node_free(&b);
    swarm__ca_free(ca);
}

static void test_ca__load(void)
{
    reset_clock();
    swarm__ca *ca, *full, *verify_only, *other;
    swarm__err e = {0};
    CHECK_INT(swarm__ca_create(&ca, &clk, &e), 0);
    CHECK_INT(swarm__ca_create(&other, &clk, &e), 0);
    char d0[64], d1[64], d2[64];
    swarm__ca_digest(ca, d0);

    CHECK_INT(swarm__ca_load(&full, swarm__ca_cert_pem(ca), swarm__ca_key_pem(ca), &e), 0);
    CHECK_INT(swarm__ca_load(&verify_only, swarm__ca_cert_pem(ca), NULL, &e), 0);
    CHECK_STR(swarm__ca_cert_pem(full), swarm__ca_cert_pem(ca));
    CHECK_STR(swarm__ca_key_pem(full), swarm__ca_key_pem(ca));
    CHECK(swarm__ca_key_pem(verify_only) == NULL);
    CHECK(!swarm__ca_has_key(verify_only));
    swarm__ca_digest(full, d1);
    swarm__ca_digest(verify_only, d2);
    CHECK_STR(d1, d0);
    CHECK_STR(d2, d0);

    /* The loaded CA issues certificates that the original and the verify-only copy accept. */
    node n = issue(full, "n1", SWARM__CA_OU_WORKER, HOUR);
    CHECK_INT(swarm__ca_verify(ca, n.cert, fake.wall, NULL, &e), 0);
    CHECK_INT(swarm__ca_verify(verify_only, n.cert, fake.wall, NULL, &e), 0);
    CHECK_INT(swarm__ca_verify(other, n.cert, fake.wall, NULL, &e), SWARM_EINVALID);

    /* Verify-only cannot issue. */
    char *key, *csr, *cert = NULL;
    CHECK_INT(swarm__key_new(&key, &clk, &e), 0);
    CHECK_INT(swarm__csr_new(&csr, key, &clk, &e), 0);
    CHECK_INT(swarm__ca_issue(verify_only, csr, "n2", SWARM__CA_OU_WORKER, "c1", HOUR, &clk, &cert, &e),
              SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "no signing key");
    CHECK(cert == NULL);

    /* Bad loads. */
    swarm__ca *bad = (swarm__ca *)&e;
    CHECK_INT(swarm__ca_load(&bad, swarm__ca_cert_pem(ca), swarm__ca_key_pem(other), &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "does not match");
    CHECK(bad == NULL);
    CHECK_INT(swarm__ca_load(&bad, swarm__ca_cert_pem(ca), key, &e), SWARM_EINVALID);
    CHECK_INT(swarm__ca_load(&bad, swarm__ca_cert_pem(ca), "junk", &e), SWARM_EINVALID);
    CHECK_INT(swarm__ca_load(&bad, n.cert, NULL, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "not a CA certificate");
    CHECK_INT(swarm__ca_load(&bad, "junk", NULL, &e), SWARM_EINVALID);
    CHECK_INT(swarm__ca_load(&bad, NULL, NULL, &e), SWARM_EINVALID);
    CHECK_INT(swarm__ca_load(&bad, swarm__ca_key_pem(ca), NULL, &e), SWARM_EINVALID);
    CHECK(bad == NULL);

    /* A bundle: this CA followed by another root; the first one issues, both are trusted. */
    size_t la = strlen(swarm__ca_cert_pem(ca)), lb = strlen(swarm__ca_cert_pem(other));
    char *bundle = malloc(la + lb + 1);
    memcpy(bundle, swarm__ca_cert_pem(ca), la);
    memcpy(bundle + la, swarm__ca_cert_pem(other), lb + 1);
    swarm__ca *both;
    CHECK_INT(swarm__ca_load(&both, bundle, swarm__ca_key_pem(ca), &e), 0);
    node m = issue(other, "m1", SWARM__CA_OU_MANAGER, HOUR);
    CHECK_INT(swarm__ca_verify(both, m.cert, fake.wall, NULL, &e), 0);
    CHECK_INT(swarm__ca_verify(both, n.cert, fake.wall, NULL, &e), 0);
    swarm__ca_digest(both, d1);
    CHECK(strcmp(d1, d0) != 0);
    swarm__ca_free(both);
    free(bundle);

    node_free(&m);
    node_free(&n);
    free(key);
    free(csr);
    swarm__ca_free(ca);
    swarm__ca_free(full);
    swarm__ca_free(verify_only);
    swarm__ca_free(other);
}

static void test_ca__digest(void)
{
    reset_clock();
    swarm__ca *ca;
    swarm__err e = {0};
    CHECK_INT(swarm__ca_create(&ca, &clk, &e), 0);
    char d[64], c[64];
    CHECK_INT(swarm__ca_digest(ca, d), 0);
    CHECK(is_base36(d, 50));
    CHECK_INT(swarm__cert_digest(swarm__ca_cert_pem(ca), c, &e), 0);
    CHECK_STR(c, d);
    CHECK_INT(swarm__cert_digest("junk", c, &e), SWARM_EINVALID);

    /* SHA-256 of the PEM text as a zero-padded base36 number (known vector: "abc"). */
    swarm__ca_text_digest("abc", c);
    CHECK_STR(c, "4nb7oofka9ml8nasnokxxc1unhmtpr1wxsuwhpd9km3vt5as31");
    swarm__ca_free(ca);
}

static void test_ca__base36_and_time(void)
{
    unsigned char max[32], back[32];
    char out[64];
    memset(max, 0xff, sizeof max);
    CHECK_INT(swarm__ca_base36_encode(max, sizeof max, out, 50), 0);
    CHECK_STR(out, "6dp5qcb22im238nr3wvp0ic7q99w035jmy2iw7i6n43d37jtof");
    CHECK_INT(swarm__ca_base36_decode(out, 50, back, sizeof back), 0);
    CHECK(memcmp(back, max, sizeof max) == 0);
    CHECK_INT(swarm__ca_base36_decode("6dp5qcb22im238nr3wvp0ic7q99w035jmy2iw7i6n43d37jtog", 50, back, sizeof back), -1);
    CHECK_INT(swarm__ca_base36_decode("00A", 3, back, sizeof back), -1);
    CHECK_INT(swarm__ca_base36_encode(max, sizeof max, out, 49), -1);
    unsigned char small[2] = {0, 35};
    CHECK_INT(swarm__ca_base36_encode(small, 2, out, 4), 0);
    CHECK_STR(out, "000z");

    char t[15];
    swarm__ca_time_x509(t, 0);
    CHECK_STR(t, "19700101000000");
    swarm__ca_time_x509(t, 1796061956);
    CHECK_STR(t, "20261130180556");
    swarm__ca_time_x509(t, -1);
    CHECK_STR(t, "19691231235959");
    swarm__ca_time_x509(t, INT64_MAX / 1000000000);
    CHECK_STR(t, "22620411234716");
    swarm__ca_time_x509(t, INT64_MAX);
    CHECK_STR(t, "99991231235959");
    swarm__ca_time_x509(t, INT64_MIN);
    CHECK_STR(t, "00000101000000");
    mbedtls_x509_time xt = {2026, 11, 30, 18, 5, 56};
    CHECK_INT(swarm__ca_time_ns(&xt), 1796061956LL * SEC);
    mbedtls_x509_time far = {9999, 12, 31, 23, 59, 59};
    CHECK_INT(swarm__ca_time_ns(&far), INT64_MAX);
    CHECK_INT(swarm__ca_add_sat(INT64_MAX - 1, 5), INT64_MAX);
    CHECK_INT(swarm__ca_add_sat(INT64_MIN + 1, -5), INT64_MIN);
}

static void test_token__new_and_parse(void)
{
    reset_clock();
    swarm__ca *ca, *other;
    swarm__err e = {0};
    CHECK_INT(swarm__ca_create(&ca, &clk, &e), 0);
    CHECK_INT(swarm__ca_create(&other, &clk, &e), 0);
    char t1[128], t2[128], digest[64];
    CHECK_INT(swarm__token_new(ca, &clk, t1, &e), 0);
    CHECK_INT(swarm__token_new(ca, &clk, t2, &e), 0);
    CHECK_INT(strlen(t1), SWARM__TOKEN_LEN);
    CHECK(strncmp(t1, "SWMTKN-1-", 9) == 0);
    swarm__ca_digest(ca, digest);

    swarm__token a, b;
    CHECK_INT(swarm__token_parse(&a, t1, &e), 0);
    CHECK_INT(swarm__token_parse(&b, t2, &e), 0);
    CHECK_INT(a.version, 1);
    CHECK_STR(a.digest, digest);
    CHECK_STR(b.digest, digest);
    CHECK(is_base36(a.secret, 25));
    CHECK(strcmp(a.secret, b.secret) != 0);
    CHECK(!swarm__secret_equal(a.secret, b.secret));
    CHECK(swarm__secret_equal(a.secret, a.secret));

    CHECK(swarm__token_pins(&a, swarm__ca_cert_pem(ca)));
    CHECK(!swarm__token_pins(&a, swarm__ca_cert_pem(other)));
    CHECK(!swarm__token_pins(&a, "junk"));
    CHECK(!swarm__token_pins(&a, NULL));

    /* A token from Swarm's documentation parses. */
    CHECK_INT(swarm__token_parse(&a, "SWMTKN-1-1h8aps2yszaiqmz2l3oc5392pgk8e49qhx2aj3nyv0ui0hez2a-6qmn92w6bu3jdvnglku58u11a",
                                 &e),
              0);
    CHECK_STR(a.secret, "6qmn92w6bu3jdvnglku58u11a");

    fake.fail_random = 1;
    CHECK_INT(swarm__token_new(ca, &clk, t1, &e), SWARM_EIO);
    fake.fail_random = 0;
    swarm__ca_free(ca);
    swarm__ca_free(other);
}

static void test_token__malformed(void)
{
    const char *d = "1h8aps2yszaiqmz2l3oc5392pgk8e49qhx2aj3nyv0ui0hez2a";
    const char *s = "6qmn92w6bu3jdvnglku58u11a";
    char buf[256];
    const char *fmts[] = {
        "SWMTKN-1-%s-%s\n",     /* trailing newline */
        " SWMTKN-1-%s-%s",      /* leading space */
        "SWMTKN-1-%s-%s ",      /* trailing space */
        "swmtkn-1-%s-%s",       /* prefix case */
        "SWMTKM-1-%s-%s",       /* wrong prefix */
        "SWMTKN1-%s-%s",        /* missing dash */
        "SWMTKN-2-%s-%s",       /* version 2 */
        "SWMTKN-2-1-%s-%s",     /* FIPS v2 */
        "SWMTKN-0-%s-%s",       /* version 0 */
        "SWMTKN-11-%s-%s",      /* version 11 */
        "SWMTKN--%s-%s",        /* empty version */
        "SWMTKN-1-%s-%s-x",     /* extra part */
        "SWMTKN-1-%s--%s",      /* double dash */
        "SWMTKN-1-%s-%s-",      /* trailing dash */
        "SWMTKN-1--%s-%s",      /* empty part */
        "SWMTKN-1-x%s-%s",      /* long digest */
        "SWMTKN-1-%s-%sx",      /* long secret */
        "SWMTKN-1-%s-",         /* missing secret */
        "SWMTKN-1-%s",          /* missing secret and dash */
        "SWMTKN-1-%s-%s\t",     /* tab */
    };
    swarm__token t;
    swarm__err e = {0};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
        snprintf(buf, sizeof buf, fmts[i], d, s);
#pragma GCC diagnostic pop
        e.message[0] = '\0';
        if (swarm__token_parse(&t, buf, &e) != SWARM_EINVALID)
            test__fail(__FILE__, __LINE__, "accepted \"%s\"", buf);
        CHECK_CONTAINS(e.message, "invalid join token");
        CHECK_INT(t.version, 0);
    }
    const char *literal[] = {
        "",
        "SWMTKN",
        "SWMTKN-",
        "SWMTKN-1",
        "SWMTKN-1-",
        /* short digest, short secret */
        "SWMTKN-1-1h8aps2yszaiqmz2l3oc5392pgk8e49qhx2aj3nyv0ui0hez2-6qmn92w6bu3jdvnglku58u11a",
        "SWMTKN-1-1h8aps2yszaiqmz2l3oc5392pgk8e49qhx2aj3nyv0ui0hez2a-6qmn92w6bu3jdvnglku58u11",
        /* uppercase, punctuation, non-ASCII */
        "SWMTKN-1-1H8aps2yszaiqmz2l3oc5392pgk8e49qhx2aj3nyv0ui0hez2a-6qmn92w6bu3jdvnglku58u11a",
        "SWMTKN-1-1h8aps2yszaiqmz2l3oc5392pgk8e49qhx2aj3nyv0ui0hez2a-6qmn92w6bu3jdvnglku58u11A",
        "SWMTKN-1-1h8aps2yszaiqmz2l3oc5392pgk8e49qhx2aj3nyv0ui0hez2a-6qmn92w6bu3jdvn_lku58u11a",
        "SWMTKN-1-1h8aps2yszaiqmz2l3oc5392pgk8e49qhx2aj3nyv0ui0hez2\xc3\xa9-6qmn92w6bu3jdvnglku58u11a",
        /* digest >= 2^256, secret >= 2^128 */
        "SWMTKN-1-6dp5qcb22im238nr3wvp0ic7q99w035jmy2iw7i6n43d37jtog-6qmn92w6bu3jdvnglku58u11a",
        "SWMTKN-1-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-6qmn92w6bu3jdvnglku58u11a",
        "SWMTKN-1-1h8aps2yszaiqmz2l3oc5392pgk8e49qhx2aj3nyv0ui0hez2a-f5lxx1zz5pnorynqglhzmsp34",
    };
    for (size_t i = 0; i < sizeof literal / sizeof literal[0]; i++) {
        if (swarm__token_parse(&t, literal[i], &e) != SWARM_EINVALID)
            test__fail(__FILE__, __LINE__, "accepted \"%s\"", literal[i]);
        CHECK_CONTAINS(e.message, "invalid join token");
    }
    CHECK_INT(swarm__token_parse(&t, NULL, &e), SWARM_EINVALID);
    /* The largest values still fit. */
    CHECK_INT(swarm__token_parse(&t, "SWMTKN-1-6dp5qcb22im238nr3wvp0ic7q99w035jmy2iw7i6n43d37jtof-f5lxx1zz5pnorynqglhzmsp33",
                                 &e),
              0);
    CHECK_INT(swarm__token_parse(&t, "SWMTKN-1-00000000000000000000000000000000000000000000000000-0000000000000000000000000",
                                 &e),
              0);
    /* Messages say what is wrong. */
    swarm__token_parse(&t, "SWMTKN-2-1h8aps2yszaiqmz2l3oc5392pgk8e49qhx2aj3nyv0ui0hez2a-6qmn92w6bu3jdvnglku58u11a", &e);
    CHECK_CONTAINS(e.message, "version");
}

static void test_token__secret_equal(void)
{
    CHECK(swarm__secret_equal("abc", "abc"));
    CHECK(swarm__secret_equal("", ""));
    CHECK(!swarm__secret_equal("abc", "abd"));
    CHECK(!swarm__secret_equal("abc", "abcd"));
    CHECK(!swarm__secret_equal("abcd", "abc"));
    CHECK(!swarm__secret_equal(NULL, "abc"));
    CHECK(!swarm__secret_equal("abc", NULL));
    CHECK(!swarm__secret_equal(NULL, NULL));
}

static void test_ca__random_failure(void)
{
    reset_clock();
    fake.fail_random = 1;
    swarm__ca *ca = (swarm__ca *)&fake;
    char *key = (char *)&fake;
    swarm__err e = {0};
    CHECK_INT(swarm__ca_create(&ca, &clk, &e), SWARM_EIO);
    CHECK(ca == NULL);
    CHECK_INT(swarm__key_new(&key, &clk, &e), SWARM_EIO);
    CHECK(key == NULL);
    CHECK_CONTAINS(e.message, "random");
    reset_clock();
}

TEST_MAIN(TEST(test_ca__create), TEST(test_ca__issue_and_verify), TEST(test_ca__issue_rejects_bad_input),
          TEST(test_ca__verify_failures), TEST(test_ca__renew_at_range), TEST(test_ca__sign_verify),
          TEST(test_ca__key_matches_cert), TEST(test_ca__load), TEST(test_ca__digest),
          TEST(test_ca__base36_and_time), TEST(test_token__new_and_parse), TEST(test_token__malformed),
          TEST(test_token__secret_equal), TEST(test_ca__random_failure))
