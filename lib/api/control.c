#include "api/control.h"

#include "core/error.h"
#include "core/json.h"
#include "core/log.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Calls in service at once. A call on a manager may wait up to LeaderWait for a
 * leader: enough workers that reads and other clients are not queued behind those. */
#define SERVER_WORKERS 16

/* Synchronous send/receive on a context (nng 1.5 has only the aio forms). */
static int ctx_recv(nng_ctx ctx, nng_aio *aio, nng_msg **msg)
{
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    int rv = nng_aio_result(aio);
    *msg = rv == 0 ? nng_aio_get_msg(aio) : NULL;
    return rv;
}

/* On failure the message is freed. */
static int ctx_send(nng_ctx ctx, nng_aio *aio, nng_msg *msg)
{
    nng_aio_set_msg(aio, msg);
    nng_ctx_send(ctx, aio);
    nng_aio_wait(aio);
    int rv = nng_aio_result(aio);
    if (rv != 0)
        nng_msg_free(msg);
    return rv;
}

/* "unix:///path" -> "ipc:///path"; NULL if the URL is not a unix socket URL. */
static char *ipc_url(const char *url, const char **path)
{
    static const char scheme[] = "unix://";
    if (url == NULL || strncmp(url, scheme, sizeof scheme - 1) != 0 || url[sizeof scheme - 1] != '/')
        return NULL;
    *path = url + sizeof scheme - 1;
    char *out = NULL;
    if (asprintf(&out, "ipc://%s", *path) < 0)
        return NULL;
    return out;
}

/* ------------------------------------------------------------ server */

struct swarm__server {
    swarm__engine *eng;
    nng_socket sock;
    nng_listener listener;
    pthread_t workers[SERVER_WORKERS];
    int n_workers;
    char *path;
};

static void check_peer(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)ev;
    (void)arg;
    uint64_t uid = 0;
    if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) != 0 || (uid != 0 && uid != (uint64_t)getuid())) {
        swarm__log_warn("control", "refusing a control connection from uid %llu", (unsigned long long)uid);
        nng_pipe_close(p);
    }
}

static char *reply_text(int code, const char *message, const char *result)
{
    json_t *r = json_pack("{s:i, s:i, s:s}", "V", SWARM__CONTROL_VERSION, "Code", code, "Message", message);
    if (r == NULL)
        return NULL;
    if (result) {
        json_t *v = json_loads(result, JSON_DECODE_ANY, NULL);
        json_object_set_new(r, "Result", v ? v : json_null());
    }
    char *text = swarm__json_dump(r);
    json_decref(r);
    return text;
}

static char *serve_one(swarm__server *s, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *req = json_loadb(body, len, 0, &jerr);
    const char *method = json_string_value(json_object_get(req, "Method"));
    if (!json_is_object(req) || method == NULL ||
        json_integer_value(json_object_get(req, "V")) != SWARM__CONTROL_VERSION) {
        json_decref(req);
        return reply_text(SWARM_EINVALID, "malformed control request", NULL);
    }
    json_t *params = json_object_get(req, "Params");
    char *params_text = params && !json_is_null(params) ? swarm__json_dump(params) : NULL;
    int timeout = (int)json_integer_value(json_object_get(req, "TimeoutMs"));
    if (timeout <= 0 || timeout > 3600000)
        timeout = 30000;
    char *result = NULL;
    int rc = swarm__engine_rpc(s->eng, method, params_text, &result, timeout);
    char *out = reply_text(rc, rc ? swarm_error_last()->message : "", rc ? NULL : result);
    free(result);
    free(params_text);
    json_decref(req);
    return out;
}

static void *worker_main(void *arg)
{
    swarm__server *s = arg;
    nng_ctx ctx;
    nng_aio *aio;
    if (nng_aio_alloc(&aio, NULL, NULL) != 0)
        return NULL;
    if (nng_ctx_open(&ctx, s->sock) != 0) {
        nng_aio_free(aio);
        return NULL;
    }
    for (;;) {
        nng_msg *msg;
        int rv = ctx_recv(ctx, aio, &msg);
        if (rv == NNG_ECLOSED)
            break;
        if (rv != 0)
            continue;
        char *out = serve_one(s, nng_msg_body(msg), nng_msg_len(msg));
        nng_msg_clear(msg);
        if (out == NULL || nng_msg_append(msg, out, strlen(out)) != 0)
            nng_msg_free(msg);
        else
            ctx_send(ctx, aio, msg);
        free(out);
    }
    nng_ctx_close(ctx);
    nng_aio_free(aio);
    return NULL;
}

/* 1 if a server answers on ipc_addr. */
static int someone_listens(const char *ipc_addr)
{
    nng_socket probe;
    if (nng_req0_open(&probe) != 0)
        return 0;
    int alive = nng_dial(probe, ipc_addr, NULL, 0) == 0;
    nng_close(probe);
    return alive;
}

int swarm__server_start(swarm__server **out, swarm__engine *eng, const char *url)
{
    *out = NULL;
    const char *path = NULL;
    char *addr = ipc_url(url, &path);
    if (addr == NULL)
        return swarm__error_set(SWARM_EINVALID, "control socket URL must be unix:///absolute/path, got \"%s\"",
                                url ? url : "(null)");
    swarm__server *s = calloc(1, sizeof *s);
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        free(addr);
        return swarm__error_nomem();
    }
    s->eng = eng;
    int rc = 0;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            rc = swarm__error_set(SWARM_EBUSY, "%s exists and is not a socket", path);
        else if (someone_listens(addr))
            rc = swarm__error_set(SWARM_EBUSY, "another daemon is already serving %s", path);
        else
            unlink(path); /* left behind by a daemon that died */
    }
    int rv = 0;
    if (rc == 0 && ((rv = nng_rep0_open(&s->sock)) != 0 ||
                    (rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_PRE, check_peer, s)) != 0 ||
                    (rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, SWARM__CONTROL_MAX_MSG)) != 0 ||
                    (rv = nng_listener_create(&s->listener, s->sock, addr)) != 0 ||
                    (rv = nng_listener_set_int(s->listener, NNG_OPT_IPC_PERMISSIONS, 0600)) != 0 ||
                    (rv = nng_listener_start(s->listener, 0)) != 0))
        rc = swarm__error_set(rv == NNG_EADDRINUSE ? SWARM_EBUSY : SWARM_EIO, "cannot listen on %s: %s", url,
                              nng_strerror(rv));
    free(addr);
    if (rc != 0) {
        if (nng_socket_id(s->sock) > 0)
            nng_close(s->sock);
        free(s->path);
        free(s);
        return rc;
    }
    for (int i = 0; i < SERVER_WORKERS; i++)
        if (pthread_create(&s->workers[s->n_workers], NULL, worker_main, s) == 0)
            s->n_workers++;
    *out = s;
    return 0;
}

void swarm__server_stop(swarm__server *s)
{
    if (s == NULL)
        return;
    nng_close(s->sock);
    for (int i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i], NULL);
    unlink(s->path);
    free(s->path);
    free(s);
}

/* ------------------------------------------------------------ client */

struct swarm__client {
    char *url;  /* as given, for messages */
    char *addr; /* ipc://... */
    nng_socket sock;
    pthread_mutex_t lock;
    atomic_int pipes; /* live connections */
    int dialed;
};

static void count_pipes(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p;
    swarm__client *cl = arg;
    if (ev == NNG_PIPE_EV_ADD_POST)
        atomic_fetch_add(&cl->pipes, 1);
    else if (ev == NNG_PIPE_EV_REM_POST)
        atomic_fetch_sub(&cl->pipes, 1);
}

int swarm__client_new(swarm__client **out, const char *url)
{
    *out = NULL;
    const char *path;
    char *addr = ipc_url(url, &path);
    if (addr == NULL)
        return swarm__error_set(SWARM_EINVALID, "daemon URL must be unix:///absolute/path, got \"%s\"",
                                url ? url : "(null)");
    swarm__client *cl = calloc(1, sizeof *cl);
    if (cl == NULL || (cl->url = strdup(url)) == NULL) {
        free(cl);
        free(addr);
        return swarm__error_nomem();
    }
    cl->addr = addr;
    pthread_mutex_init(&cl->lock, NULL);
    int rv;
    if ((rv = nng_req0_open(&cl->sock)) != 0 ||
        (rv = nng_socket_set_ms(cl->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
        (rv = nng_socket_set_size(cl->sock, NNG_OPT_RECVMAXSZ, SWARM__CONTROL_MAX_MSG)) != 0 ||
        (rv = nng_pipe_notify(cl->sock, NNG_PIPE_EV_ADD_POST, count_pipes, cl)) != 0 ||
        (rv = nng_pipe_notify(cl->sock, NNG_PIPE_EV_REM_POST, count_pipes, cl)) != 0) {
        swarm__client_free(cl);
        return swarm__error_set(SWARM_EBACKEND, "cannot make a control socket: %s", nng_strerror(rv));
    }
    *out = cl;
    return 0;
}

void swarm__client_free(swarm__client *cl)
{
    if (cl == NULL)
        return;
    if (nng_socket_id(cl->sock) > 0)
        nng_close(cl->sock);
    pthread_mutex_destroy(&cl->lock);
    free(cl->url);
    free(cl->addr);
    free(cl);
}

/* Makes sure a connection exists (dialing once, synchronously, if none). */
static int ensure_connected(swarm__client *cl)
{
    if (atomic_load(&cl->pipes) > 0)
        return 0;
    pthread_mutex_lock(&cl->lock);
    int rv = 0;
    if (atomic_load(&cl->pipes) == 0) {
        /* A first dial creates a dialer that also redials later; a failed
         * one leaves nothing behind, so each call retries. */
        nng_dialer d;
        rv = nng_dialer_create(&d, cl->sock, cl->addr);
        if (rv == 0) {
            nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, 50);
            nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, 1000);
            rv = nng_dialer_start(d, 0);
            if (rv != 0)
                nng_dialer_close(d);
        }
    }
    pthread_mutex_unlock(&cl->lock);
    if (rv != 0)
        return swarm__error_set(SWARM_EUNAVAILABLE, "Cannot connect to the swarm daemon at %s. Is swarmd running?",
                                cl->url);
    return 0;
}

int swarm__client_rpc(swarm__client *cl, const char *method, const char *params, char **result, int timeout_ms)
{
    int rc = ensure_connected(cl);
    if (rc != 0)
        return rc;
    json_t *params_json = params ? json_loads(params, JSON_DECODE_ANY, NULL) : json_null();
    json_t *req = json_pack("{s:i, s:s, s:o, s:i}", "V", SWARM__CONTROL_VERSION, "Method", method, "Params",
                            params_json ? params_json : json_null(), "TimeoutMs", timeout_ms);
    char *text = req ? swarm__json_dump(req) : NULL;
    json_decref(req);
    if (text == NULL)
        return swarm__error_nomem();
    nng_ctx ctx;
    nng_aio *aio;
    nng_msg *msg = NULL;
    int rv = nng_aio_alloc(&aio, NULL, NULL);
    if (rv == 0 && (rv = nng_ctx_open(&ctx, cl->sock)) != 0)
        nng_aio_free(aio);
    if (rv != 0) {
        free(text);
        return swarm__error_set(SWARM_EBACKEND, "control socket: %s", nng_strerror(rv));
    }
    /* The server enforces the call's own deadline; allow it time to answer. */

    rv = nng_msg_alloc(&msg, 0);
    if (rv == 0)
        rv = nng_msg_append(msg, text, strlen(text));
    free(text);
    if (rv == 0) {
        nng_aio_set_timeout(aio, 5000);
        rv = ctx_send(ctx, aio, msg);
        nng_aio_set_timeout(aio, timeout_ms + 2000);
        if (rv == 0 && (rv = ctx_recv(ctx, aio, &msg)) != 0)
            rc = rv == NNG_ETIMEDOUT ? swarm__error_set(SWARM_ETIMEDOUT, "timed out after %d ms waiting for the daemon", timeout_ms)
                                     : swarm__error_set(SWARM_EUNAVAILABLE, "lost the connection to the swarm daemon at %s: %s",
                                                        cl->url, nng_strerror(rv));
    }
    if (rv != 0 && rc == 0)
        rc = swarm__error_set(SWARM_EUNAVAILABLE, "Cannot connect to the swarm daemon at %s. Is swarmd running?", cl->url);
    nng_ctx_close(ctx);
    nng_aio_free(aio);
    if (rc != 0)
        return rc;
    json_error_t jerr;
    json_t *reply = json_loadb(nng_msg_body(msg), nng_msg_len(msg), 0, &jerr);
    nng_msg_free(msg);
    json_t *code = json_object_get(reply, "Code");
    if (!json_is_integer(code)) {
        json_decref(reply);
        return swarm__error_set(SWARM_EBACKEND, "malformed reply from the swarm daemon");
    }
    rc = (int)json_integer_value(code);
    if (rc != 0) {
        const char *m = json_string_value(json_object_get(reply, "Message"));
        swarm__error_set(rc, "%s", m ? m : swarm_strerror(rc));
    } else if (result) {
        json_t *r = json_object_get(reply, "Result");
        *result = r ? swarm__json_dump(r) : strdup("null");
        if (*result == NULL)
            rc = swarm__error_nomem();
    }
    json_decref(reply);
    return rc;
}
