/*
 * The cluster certificate authority, node keys and join tokens, as Swarm
 * does them (SwarmKit ca/): an ECDSA P-256 root CA "swarm-ca" valid 20 years,
 * node certificates with CN = node ID, OU = role, O = cluster ID, renewal at a
 * random point between 50 % and 80 % of the lifetime, and join tokens
 * "SWMTKN-1-<CA digest>-<secret>".
 *
 * nng 1.5 cannot show the peer certificate, so a node proves its identity by
 * signing a manager nonce with its node key (swarm__sign), and the manager
 * checks it against the certificate the node presents (swarm__ca_verify +
 * swarm__verify_signature).
 *
 * Conventions:
 * - Keys, CSRs and certificates travel as NUL-terminated PEM text. Returned
 *   `char *` PEM and `unsigned char *` signatures are malloc'd; the caller
 *   frees them with free(). Key PEM should be wiped before freeing when it
 *   matters (it is written as "-----BEGIN EC PRIVATE KEY-----").
 * - Functions return 0 or a negative SWARM_E* code and describe failures in
 *   `e` (NULL allowed). Expected codes: SWARM_EINVALID (malformed input,
 *   failed verification: the message names the reason), SWARM_ENOMEM,
 *   SWARM_EIO (the clock's random source failed), SWARM_EBACKEND (mbedtls
 *   failed on valid input).
 * - Time and randomness come from the swarm__clock (wall_ns, random); mbedtls
 *   is driven by a per-call CTR-DRBG seeded from clk->random. No process-wide
 *   mbedtls state is touched.
 * - Threading: the free functions are reentrant. A swarm__ca handle is not
 *   thread-safe (mbedtls caches curve tables inside the parsed keys, even when
 *   verifying); use it from one thread, or one handle per thread.
 */
#ifndef SWARM_CA_CA_H
#define SWARM_CA_CA_H

#include "core/clock.h"
#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

#define SWARM__CA_CN "swarm-ca"
#define SWARM__CA_OU_MANAGER "swarm-manager"
#define SWARM__CA_OU_WORKER "swarm-worker"

/* Root CA lifetime (Swarm's RootCAExpiration, 630720000 s) and node certificate limits. */
#define SWARM__CA_LIFETIME_NS (630720000LL * 1000000000LL)
#define SWARM__CERT_DEFAULT_LIFETIME_NS (2160LL * 3600 * 1000000000LL) /* 90 days */
#define SWARM__CERT_MIN_LIFETIME_NS (3600LL * 1000000000LL)             /* 1 hour */
#define SWARM__CERT_BACKDATE_NS (3600LL * 1000000000LL)                 /* clock skew allowance */

#define SWARM__DIGEST_LEN 50 /* base36 characters of a SHA-256 digest */
#define SWARM__SECRET_LEN 25 /* base36 characters of a 128-bit secret */
#define SWARM__TOKEN_LEN 85  /* "SWMTKN-1-" + 50 + "-" + 25 */

/* ---- Root CA ------------------------------------------------------------ */

/* A root CA: its certificate (possibly a PEM bundle; the first one issues)
 * and, on managers, its private key. */
typedef struct swarm__ca swarm__ca;

/*
 * Makes a new root CA: ECDSA P-256 key, self-signed certificate with
 * CN "swarm-ca", CA:true, keyCertSign|cRLSign, valid from now - 1 h to
 * now + 20 years. *out is freed with swarm__ca_free.
 * Errors: SWARM_EIO, SWARM_ENOMEM, SWARM_EBACKEND.
 */
int swarm__ca_create(swarm__ca **out, const swarm__clock *clk, swarm__err *e);

/*
 * Loads a CA from PEM. key_pem NULL makes a verify-only CA (what workers
 * keep). The PEM text is kept verbatim, so swarm__ca_cert_pem and the digest
 * are stable across save/load. Every certificate must parse and the first
 * must be a CA certificate; a key must be the first certificate's key.
 * Errors: SWARM_EINVALID ("invalid CA certificate: ...", "CA key does not
 * match..."), SWARM_ENOMEM.
 */
int swarm__ca_load(swarm__ca **out, const char *cert_pem, const char *key_pem, swarm__err *e);

/* Borrowed PEM text, valid for the handle's life. The key is NULL on a verify-only CA. */
const char *swarm__ca_cert_pem(const swarm__ca *ca);
const char *swarm__ca_key_pem(const swarm__ca *ca);
int swarm__ca_has_key(const swarm__ca *ca);

/* NULL-safe; wipes the key. */
void swarm__ca_free(swarm__ca *ca);

/*
 * The CA digest as it appears in join tokens: SHA-256 of the CA certificate
 * PEM text (Swarm hashes the PEM bundle bytes, not the DER), as a base36
 * number zero-padded to 50 characters. out gets 50 chars + NUL.
 * swarm__cert_digest does the same for any PEM text and first checks that it
 * parses as certificates (SWARM_EINVALID otherwise).
 */
int swarm__ca_digest(const swarm__ca *ca, char out[64]); /* always 0 */
int swarm__cert_digest(const char *cert_pem, char out[64], swarm__err *e);

/* ---- Node keys, CSRs, certificates --------------------------------------- */

/* A new ECDSA P-256 private key as PEM. Errors: SWARM_EIO, SWARM_ENOMEM, SWARM_EBACKEND. */
int swarm__key_new(char **key_pem, const swarm__clock *clk, swarm__err *e);

/* A certificate signing request for key_pem (subject CN "swarm-node"; the CA
 * ignores the requested subject). Errors: SWARM_EINVALID (bad key), ... */
int swarm__csr_new(char **csr_pem, const char *key_pem, const swarm__clock *clk, swarm__err *e);

/*
 * Issues a node certificate for the CSR's public key after checking the CSR's
 * self-signature (proof of possession). Subject O = cluster_id,
 * OU = role_ou (SWARM__CA_OU_MANAGER or SWARM__CA_OU_WORKER only),
 * CN = node_id; valid from now - 1 h until now + lifetime_ns; random 128-bit
 * serial; CA:false; keyUsage digitalSignature; extKeyUsage
 * serverAuth+clientAuth; SAN DNS: role_ou, node_id, plus "swarm-ca" for
 * managers (as Swarm). node_id and cluster_id: 1..63 characters of
 * [A-Za-z0-9._-]. lifetime_ns must be > 0 (the 1 h minimum is the caller's
 * policy).
 * Errors: SWARM_EINVALID (bad CSR or arguments, or the CA has no key), SWARM_EIO, SWARM_ENOMEM.
 */
int swarm__ca_issue(swarm__ca *ca, const char *csr_pem, const char *node_id, const char *role_ou,
                    const char *cluster_id, int64_t lifetime_ns, const swarm__clock *clk, char **cert_pem,
                    swarm__err *e);

typedef struct swarm__cert_info {
    char node_id[64];    /* CN */
    char role[32];       /* OU */
    char cluster_id[64]; /* O */
    int64_t not_before_ns, not_after_ns; /* Unix ns; saturated to the int64 range */
} swarm__cert_info;

/*
 * Verifies that cert_pem (a node certificate, optionally followed by
 * intermediates) chains to the CA and that it and its chain are valid at
 * now_ns (the caller's clock, not the system's), that it is not a CA
 * certificate and has CN, OU and O; then fills info (may be NULL).
 * Errors: SWARM_EINVALID with the reason: "malformed certificate: ...",
 * "certificate has expired", "certificate is not yet valid",
 * "certificate is not signed by the cluster CA", "... missing OU", ...
 */
int swarm__ca_verify(const swarm__ca *ca, const char *cert_pem, int64_t now_ns, swarm__cert_info *info,
                     swarm__err *e);

/* Reads the info of a certificate without verifying it (for a node's own certificate). */
int swarm__cert_info_read(const char *cert_pem, swarm__cert_info *info, swarm__err *e);

/*
 * When to renew (Unix ns): not_before + a random fraction in [50 %, 80 %] of
 * the certificate's validity (Swarm's calculateRandomExpiry). If the random
 * source fails, the midpoint of that range.
 */
int64_t swarm__cert_renew_at(const swarm__cert_info *info, const swarm__clock *clk);

/* ---- Proof of possession ------------------------------------------------- */

/* Signs SHA-256(data) with key_pem (ECDSA, DER signature). *sig is malloc'd.
 * Errors: SWARM_EINVALID (bad key), SWARM_EIO, SWARM_ENOMEM. */
int swarm__sign(const char *key_pem, const void *data, size_t len, unsigned char **sig, size_t *sig_len,
                const swarm__clock *clk, swarm__err *e);

/* 0 if sig is a signature of data by the public key of cert_pem's (first)
 * certificate; SWARM_EINVALID otherwise ("signature does not match", "malformed certificate: ..."). */
int swarm__verify_signature(const char *cert_pem, const void *data, size_t len, const unsigned char *sig,
                            size_t sig_len, swarm__err *e);

/* 0 if key_pem is the private key of cert_pem's (first) certificate, SWARM_EINVALID otherwise. */
int swarm__key_matches_cert(const char *key_pem, const char *cert_pem, swarm__err *e);

/* ---- Join tokens --------------------------------------------------------- */

/* A new v1 join token for ca: "SWMTKN-1-" + digest + "-" + 25-char secret
 * from 128 random bits. Errors: SWARM_EIO. */
int swarm__token_new(const swarm__ca *ca, const swarm__clock *clk, char out[128], swarm__err *e);

typedef struct swarm__token {
    int version;     /* 1 */
    char digest[64]; /* 50 base36 chars */
    char secret[64]; /* 25 base36 chars */
} swarm__token;

/*
 * Strict parse of a v1 token: exactly "SWMTKN-1-<50 [0-9a-z]>-<25 [0-9a-z]>",
 * the digest < 2^256 and the secret < 2^128; nothing before or after
 * (no whitespace). Version 2 (Swarm's FIPS tokens) is not supported.
 * Errors: SWARM_EINVALID "invalid join token: <reason>".
 */
int swarm__token_parse(swarm__token *out, const char *text, swarm__err *e);

/* 1 if the token's digest is the digest of ca_cert_pem (which must parse):
 * the joining node pins the CA with this before it sends the secret. */
int swarm__token_pins(const swarm__token *t, const char *ca_cert_pem);

/* 1 if a and b are equal, compared in time independent of where they differ
 * (lengths may leak). NULL never equals. For checking a presented secret or token. */
int swarm__secret_equal(const char *a, const char *b);

#endif
