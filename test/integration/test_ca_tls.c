/*
 * The CA's PEM output works for nng's mutual TLS (mbedTLS engine): a
 * handshake between two pair1 sockets on 127.0.0.1 with certificates from
 * the cluster CA succeeds, carries a nonce signed with the node key, and a
 * certificate from a foreign CA is refused on either side.
 */
#include "ca/ca.h"
#include "test.h"

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/supplemental/tls/tls.h>

#include <stdlib.h>

typedef struct node {
    char *key;
    char *cert;
} node;

static node make_node(swarm__ca *ca, const char *id, const char *role)
{
    node n = {NULL, NULL};
    char *csr = NULL;
    swarm__err e = {0};
    const swarm__clock *clk = swarm__clock_system();
    CHECK_INT(swarm__key_new(&n.key, clk, &e), 0);
    CHECK_INT(swarm__csr_new(&csr, n.key, clk, &e), 0);
    int rc = swarm__ca_issue(ca, csr, id, role, "cluster1", SWARM__CERT_DEFAULT_LIFETIME_NS, clk, &n.cert, &e);
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

static nng_tls_config *tls_config(nng_tls_mode mode, const swarm__ca *ca, const node *n)
{
    nng_tls_config *c = NULL;
    CHECK_INT(nng_tls_config_alloc(&c, mode), 0);
    CHECK_INT(nng_tls_config_ca_chain(c, swarm__ca_cert_pem(ca), NULL), 0);
    CHECK_INT(nng_tls_config_own_cert(c, n->cert, n->key, NULL), 0);
    CHECK_INT(nng_tls_config_auth_mode(c, NNG_TLS_AUTH_MODE_REQUIRED), 0);
    return c;
}

/* A listening pair1 socket on an ephemeral loopback port; returns the URL to dial. */
static void listen_on(nng_socket *s, nng_listener *l, nng_tls_config *cfg, char url[64])
{
    CHECK_INT(nng_pair1_open(s), 0);
    CHECK_INT(nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, 2000), 0);
    CHECK_INT(nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, 2000), 0);
    CHECK_INT(nng_listener_create(l, *s, "tls+tcp://127.0.0.1:0"), 0);
    CHECK_INT(nng_listener_set_ptr(*l, NNG_OPT_TLS_CONFIG, cfg), 0);
    CHECK_INT(nng_listener_start(*l, 0), 0);
    int port = 0;
    CHECK_INT(nng_listener_get_int(*l, NNG_OPT_TCP_BOUND_PORT, &port), 0);
    CHECK(port > 0);
    snprintf(url, 64, "tls+tcp://127.0.0.1:%d", port);
}

/* Dials url with cfg; returns nng_dialer_start's result. */
static int dial(nng_socket *s, const char *url, nng_tls_config *cfg)
{
    nng_dialer d;
    CHECK_INT(nng_pair1_open(s), 0);
    CHECK_INT(nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, 2000), 0);
    CHECK_INT(nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, 2000), 0);
    CHECK_INT(nng_dialer_create(&d, *s, url), 0);
    CHECK_INT(nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg), 0);
    return nng_dialer_start(d, 0);
}

static void test_ca_tls__mutual_handshake_and_nonce(void)
{
    swarm__ca *ca;
    swarm__err e = {0};
    CHECK_INT(swarm__ca_create(&ca, swarm__clock_system(), &e), 0);
    node manager = make_node(ca, "manager1", SWARM__CA_OU_MANAGER);
    node worker = make_node(ca, "worker1", SWARM__CA_OU_WORKER);
    nng_tls_config *scfg = tls_config(NNG_TLS_MODE_SERVER, ca, &manager);
    nng_tls_config *ccfg = tls_config(NNG_TLS_MODE_CLIENT, ca, &worker);

    long long t0 = test_now_ms();
    nng_socket server, client;
    nng_listener l;
    char url[64];
    listen_on(&server, &l, scfg, url);
    CHECK_INT(dial(&client, url, ccfg), 0);

    /* The manager sends a nonce; the worker answers with its certificate and a signature over it. */
    static const char nonce[] = "0123456789abcdef0123456789abcdef";
    CHECK_INT(nng_send(server, (void *)nonce, sizeof nonce, 0), 0);
    char *got = NULL;
    size_t got_len = 0;
    CHECK_INT(nng_recv(client, &got, &got_len, NNG_FLAG_ALLOC), 0);
    CHECK_INT(got_len, sizeof nonce);
    unsigned char *sig;
    size_t sig_len;
    CHECK_INT(swarm__sign(worker.key, got, got_len, &sig, &sig_len, swarm__clock_system(), &e), 0);
    nng_free(got, got_len);
    size_t cert_len = strlen(worker.cert) + 1;
    size_t hello_len = cert_len + sig_len;
    char *hello = malloc(hello_len);
    memcpy(hello, worker.cert, cert_len);
    memcpy(hello + cert_len, sig, sig_len);
    free(sig);
    CHECK_INT(nng_send(client, hello, hello_len, 0), 0);
    free(hello);

    CHECK_INT(nng_recv(server, &got, &got_len, NNG_FLAG_ALLOC), 0);
    const char *peer_cert = got;
    size_t peer_cert_len = strnlen(got, got_len) + 1;
    CHECK(peer_cert_len < got_len);
    swarm__cert_info info;
    CHECK_INT(swarm__ca_verify(ca, peer_cert, swarm__clock_system()->wall_ns(swarm__clock_system()->data), &info, &e), 0);
    CHECK_STR(info.node_id, "worker1");
    CHECK_STR(info.role, "swarm-worker");
    CHECK_INT(swarm__verify_signature(peer_cert, nonce, sizeof nonce, (unsigned char *)got + peer_cert_len,
                                      got_len - peer_cert_len, &e),
              0);
    /* Someone replaying this hello against a different nonce fails. */
    CHECK_INT(swarm__verify_signature(peer_cert, "other", 6, (unsigned char *)got + peer_cert_len,
                                      got_len - peer_cert_len, &e),
              SWARM_EINVALID);
    nng_free(got, got_len);

    nng_close(client);
    nng_close(server);
    nng_tls_config_free(scfg);
    nng_tls_config_free(ccfg);
    node_free(&manager);
    node_free(&worker);
    swarm__ca_free(ca);
    CHECK(test_now_ms() - t0 < 5000);
}

static void test_ca_tls__foreign_ca_refused(void)
{
    swarm__ca *ca, *other;
    swarm__err e = {0};
    CHECK_INT(swarm__ca_create(&ca, swarm__clock_system(), &e), 0);
    CHECK_INT(swarm__ca_create(&other, swarm__clock_system(), &e), 0);
    node manager = make_node(ca, "manager1", SWARM__CA_OU_MANAGER);
    node intruder = make_node(other, "worker9", SWARM__CA_OU_WORKER);
    node worker = make_node(ca, "worker1", SWARM__CA_OU_WORKER);

    /* A client with a foreign certificate (trusting our CA) is refused by the server. */
    nng_tls_config *scfg = tls_config(NNG_TLS_MODE_SERVER, ca, &manager);
    nng_tls_config *bad_client = tls_config(NNG_TLS_MODE_CLIENT, ca, &intruder);
    nng_socket server, client;
    nng_listener l;
    char url[64];
    listen_on(&server, &l, scfg, url);
    int rc = dial(&client, url, bad_client);
    CHECK(rc != 0);
    nng_close(client);

    /* A client of our cluster refuses a server whose certificate comes from another CA. */
    nng_tls_config *bad_server = tls_config(NNG_TLS_MODE_SERVER, other, &intruder);
    nng_tls_config *good_client = tls_config(NNG_TLS_MODE_CLIENT, ca, &worker);
    nng_socket server2, client2;
    nng_listener l2;
    char url2[64];
    listen_on(&server2, &l2, bad_server, url2);
    rc = dial(&client2, url2, good_client);
    CHECK(rc != 0);
    nng_close(client2);
    nng_close(server2);

    /* And the good pair still connects to the first server. */
    CHECK_INT(dial(&client2, url, good_client), 0);
    nng_close(client2);
    nng_close(server);

    nng_tls_config_free(scfg);
    nng_tls_config_free(bad_client);
    nng_tls_config_free(bad_server);
    nng_tls_config_free(good_client);
    node_free(&manager);
    node_free(&intruder);
    node_free(&worker);
    swarm__ca_free(ca);
    swarm__ca_free(other);
}

TEST_MAIN(TEST(test_ca_tls__mutual_handshake_and_nonce), TEST(test_ca_tls__foreign_ca_refused))
