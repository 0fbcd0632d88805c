#include "agent/session.h"

#include "agent/prove.h"
#include "ca/ca.h"
#include "core/json.h"
#include "core/log.h"
#include "model/model.h"
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

#define REQUEST_TIMEOUT_MS 10000

static void schedule_renewal(struct swarm__worker_session *w);

struct swarm__worker_session {
    swarm__timers *timers;
    const swarm__clock *clock;
    struct swarm_transport_backend *t;
    uint64_t link;       /* the dialed link (fixed id across reconnects) */
    int link_live;
    unsigned generation; /* bumps at every link change: stale replies are ignored */
    char *cert, *key, *hostname;
    swarm__agent *agent;
    char session_id[64];
    int64_t period_ms;
    swarm__timer *beat;
    swarm__refused_fn refused;
    swarm__renewed_fn renewed;
    void *refused_payload;
    swarm__timer *renew;
    char *new_key; /* key of a renewal in flight */
    int stopped;
    unsigned pending;   /* requests whose callback has not run yet (they hold w) */
    char *addr;         /* the manager dialed now */
    json_t *managers;   /* every manager's address, as the managers last said */
    swarm__timer *failover, *retry;
    void (*promoted)(void *payload);
};

static void session_free(swarm__worker_session *w);
static void switch_to(swarm__worker_session *w, const char *addr);

/* Replies carry the generation they were asked in. */
typedef struct pending {
    swarm__worker_session *w;
    unsigned generation;
} pending;

static pending *track(swarm__worker_session *w)
{
    pending *p = calloc(1, sizeof *p);
    if (p) {
        p->w = w;
        p->generation = w->generation;
        w->pending++;
    }
    return p;
}

/* Takes the pending; returns the session if the reply is still current. */
static swarm__worker_session *current(pending *p)
{
    swarm__worker_session *w = p->w;
    int ok = !w->stopped && p->generation == w->generation && w->link_live;
    free(p);
    w->pending--;
    if (w->stopped && w->pending == 0)
        session_free(w);
    return ok ? w : NULL;
}

/* The link is gone (or left): no session on it, replies to it are stale, the agent reports nowhere. */
static void forget_link(swarm__worker_session *w)
{
    w->link_live = 0;
    w->generation++;
    w->session_id[0] = '\0';
    swarm__timer_stop(w->beat);
    swarm__timer_stop(w->renew);
    swarm__agent_set_uplink(w->agent, NULL, NULL);
}

/* A request that was never sent: its callback will not run. */
static void untrack(pending *p)
{
    current(p);
}

/* Remembers the managers a manager told about. */
static void learn_managers(swarm__worker_session *w, const json_t *body)
{
    json_t *m = json_object_get((json_t *)body, "Managers");
    if (json_is_array(m) && json_array_size(m) > 0) {
        json_decref(w->managers);
        w->managers = json_deep_copy(m);
    }
}

/*
 * A manager that does not lead answered: go to the leader it names, or, while
 * there is none, ask again shortly (an election takes about a second).
 */
static int follow_leader(swarm__worker_session *w, const json_t *body, int rc)
{
    if (rc != SWARM_ENOTLEADER)
        return 0;
    learn_managers(w, body);
    const char *leader = swarm__json_str(body, "Leader");
    if (leader && leader[0] && strcmp(leader, w->addr) != 0) {
        swarm__log_info("worker", "the leader is at %s", leader);
        switch_to(w, leader);
    } else {
        swarm__timer_start(w->retry, 250);
    }
    return 1;
}

static void send_status(void *payload, const json_t *updates)
{
    swarm__worker_session *w = payload;
    if (!w->link_live || w->session_id[0] == '\0')
        return;
    json_t *body = json_pack("{s:s, s:O}", "SessionID", w->session_id, "Updates", updates);
    if (swarm__proto_send(w->t, w->link, SWARM__MSG_STATUS, body) != 0)
        swarm__log_debug("worker", "status update not sent (link down); it is re-sent at the next session");
    json_decref(body);
}

static void beat_replied(void *payload, int status, const swarm_transport_msg *msg)
{
    swarm__worker_session *w = current(payload);
    if (w == NULL)
        return;
    json_t *body = status == 0 ? swarm__proto_body(msg) : NULL;
    int rc = body ? swarm__proto_error_of(body, NULL) : status;
    if (follow_leader(w, body, rc)) {
        w->session_id[0] = '\0';
        swarm__agent_set_uplink(w->agent, NULL, NULL);
    } else if (rc == SWARM_ENOTFOUND) {
        /* The manager forgot the session (it marked us down): open a new one. */
        w->session_id[0] = '\0';
        swarm__agent_set_uplink(w->agent, NULL, NULL);
        swarm__worker_session_link_up(w, w->link);
    } else if (rc == 0) {
        int64_t p = swarm__json_int(body, "HeartbeatPeriod", 0) / 1000000;
        if (p > 0)
            w->period_ms = p;
        const char *role = swarm__json_str(body, "Role");
        if (role && strcmp(role, "manager") == 0 && w->promoted && !w->stopped) {
            json_decref(body);
            w->promoted(w->refused_payload); /* may stop this session */
            return;
        }
    }
    json_decref(body);
}

static void beat(void *arg)
{
    swarm__worker_session *w = arg;
    if (!w->link_live || w->session_id[0] == '\0')
        return;
    json_t *body = json_pack("{s:s}", "SessionID", w->session_id);
    pending *p = track(w);
    if (p && swarm__proto_request(w->t, w->link, SWARM__MSG_HEARTBEAT, body, w->period_ms, beat_replied, p) != 0)
        untrack(p);
    json_decref(body);
    swarm__timer_start(w->beat, w->period_ms);
}

static void session_opened(void *payload, int status, const swarm_transport_msg *msg)
{
    swarm__worker_session *w = current(payload);
    if (w == NULL)
        return;
    json_t *body = status == 0 ? swarm__proto_body(msg) : NULL;
    const char *why = NULL;
    int rc = body ? swarm__proto_error_of(body, &why) : status;
    const char *sid = swarm__json_str(body, "SessionID");
    if (follow_leader(w, body, rc)) {
        json_decref(body);
        return;
    }
    if (rc != 0 || sid == NULL) {
        swarm__log_warn("worker", "dispatcher session refused: %s", why ? why : swarm_strerror(rc));
        json_decref(body);
        return;
    }
    snprintf(w->session_id, sizeof w->session_id, "%s", sid);
    learn_managers(w, body);
    int64_t p = swarm__json_int(body, "HeartbeatPeriod", 5000000000LL) / 1000000;
    w->period_ms = p > 0 ? p : 5000;
    json_decref(body);
    swarm__log_info("worker", "session open with the manager (heartbeat every %lld ms)", (long long)w->period_ms);
    swarm__agent_set_uplink(w->agent, send_status, w);
    beat(w);
    schedule_renewal(w);
}

static void renewed_reply(void *payload, int status, const swarm_transport_msg *msg)
{
    swarm__worker_session *w = current(payload);
    if (w == NULL)
        return;
    json_t *body = status == 0 ? swarm__proto_body(msg) : NULL;
    const char *why = NULL;
    int rc = body ? swarm__proto_error_of(body, &why) : status;
    const char *cert = swarm__json_str(body, "Cert");
    swarm__err e;
    if (rc == 0 && cert && w->new_key && swarm__key_matches_cert(w->new_key, cert, &e) == 0) {
        free(w->cert);
        free(w->key);
        w->cert = strdup(cert);
        w->key = w->new_key;
        w->new_key = NULL;
        if (w->renewed)
            w->renewed(w->refused_payload, w->cert, w->key);
        swarm__log_info("worker", "node certificate renewed");
    } else {
        swarm__log_warn("worker", "certificate renewal failed: %s", why ? why : swarm_strerror(rc ? rc : SWARM_EINVALID));
    }
    free(w->new_key);
    w->new_key = NULL;
    json_decref(body);
    schedule_renewal(w);
}

static void renew_now(void *arg)
{
    swarm__worker_session *w = arg;
    if (!w->link_live || w->session_id[0] == '\0' || w->new_key)
        return; /* the next session schedules it again */
    swarm__err e;
    char *csr = NULL;
    if (swarm__key_new(&w->new_key, w->clock, &e) != 0 || swarm__csr_new(&csr, w->new_key, w->clock, &e) != 0) {
        swarm__log_warn("worker", "cannot prepare a certificate renewal: %s", e.message);
        free(w->new_key);
        w->new_key = NULL;
        return;
    }
    json_t *req = json_pack("{s:s}", "CSR", csr);
    pending *p = track(w);
    if (p && swarm__proto_request(w->t, w->link, SWARM__MSG_CERT_RENEW, req, REQUEST_TIMEOUT_MS, renewed_reply, p) != 0) {
        untrack(p);
        free(w->new_key);
        w->new_key = NULL;
    }
    json_decref(req);
    free(csr);
}

/* At a random point between 50% and 80% of the certificate's lifetime. */
static void schedule_renewal(swarm__worker_session *w)
{
    swarm__cert_info info;
    swarm__err e;
    int64_t delay_ms;
    const char *test = getenv("LIBSWARM_TEST_CERT_RENEW_MS");
    if (test && atoll(test) > 0) {
        delay_ms = atoll(test);
    } else if (swarm__cert_info_read(w->cert, &info, &e) == 0) {
        delay_ms = (swarm__cert_renew_at(&info, w->clock) - w->clock->wall_ns(w->clock->data)) / 1000000;
    } else {
        return;
    }
    if (delay_ms < 1000 && !(test && atoll(test) > 0))
        delay_ms = 1000;
    if (delay_ms > 86400000LL * 365)
        delay_ms = 86400000LL * 365;
    swarm__timer_start(w->renew, delay_ms);
}

static void authed(void *payload, int status, int rc, const char *why)
{
    swarm__worker_session *w = current(payload);
    if (w == NULL || status != 0)
        return; /* a lost link: the next one proves itself again */
    if (rc != 0) {
        char reason[512];
        snprintf(reason, sizeof reason, "%s", why ? why : swarm_strerror(rc));
        swarm__log_error("worker", "the manager refused this node: %s", reason);
        if (w->refused) {
            /* A refusal (not a lost link) is final: stop trying. */
            w->t->close_link(w->t, w->link);
            w->link_live = 0;
            w->refused(w->refused_payload, reason);
        }
        return;
    }
    json_t *desc = swarm__agent_describe(w->hostname);
    json_t *req = json_pack("{s:o}", "Description", desc ? desc : json_object());
    pending *p = track(w);
    if (p && swarm__proto_request(w->t, w->link, SWARM__MSG_SESSION, req, REQUEST_TIMEOUT_MS, session_opened, p) != 0)
        untrack(p);
    json_decref(req);
}

void swarm__worker_session_link_up(swarm__worker_session *w, uint64_t link)
{
    if (link != w->link || w->stopped)
        return;
    w->link_live = 1;
    w->generation++;
    w->session_id[0] = '\0';
    swarm__timer_stop(w->failover);
    pending *p = track(w);
    if (p && swarm__prove(w->t, w->link, w->cert, w->key, w->clock, REQUEST_TIMEOUT_MS, authed, p) != 0)
        untrack(p);
}

void swarm__worker_session_link_down(swarm__worker_session *w, uint64_t link)
{
    if (link != w->link)
        return;
    forget_link(w);
    swarm__log_info("worker", "lost the link to the manager at %s; tasks keep running, reconnecting", w->addr);
    /* The link redials on its own; if it stays down, another manager may lead by now. */
    if (json_array_size(w->managers) > 1)
        swarm__timer_start(w->failover, 500);
}

void swarm__worker_session_receive(swarm__worker_session *w, uint64_t link, uint64_t request_id,
                                   const swarm_transport_msg *msg)
{
    if (link != w->link || msg->type != SWARM__MSG_ASSIGN || w->session_id[0] == '\0') {
        if (request_id)
            swarm__proto_respond_error(w->t, link, request_id, msg->type, SWARM_ENOTSUPPORTED,
                                       "workers answer no requests");
        return;
    }
    json_t *body = swarm__proto_body(msg);
    if (body)
        swarm__agent_assignments(w->agent, body);
    json_decref(body);
}

/* Dials another manager instead of the current one. */
static void switch_to(swarm__worker_session *w, const char *addr)
{
    char *copy = strdup(addr);
    uint64_t link;
    if (copy == NULL || w->t->dial(w->t, addr, &link) != 0) {
        swarm__log_warn("worker", "cannot dial the manager at %s", addr);
        free(copy);
        return;
    }
    w->t->close_link(w->t, w->link);
    forget_link(w);
    swarm__timer_stop(w->failover);
    w->link = link;
    free(w->addr);
    w->addr = copy;
}

static void retry_now(void *arg)
{
    swarm__worker_session *w = arg;
    if (w->link_live && w->session_id[0] == '\0')
        swarm__worker_session_link_up(w, w->link);
}

/* The link stayed down: try the next manager in the list. */
static void failover_now(void *arg)
{
    swarm__worker_session *w = arg;
    size_t n = json_array_size(w->managers), i, at = n;
    if (w->link_live || n < 2)
        return;
    for (i = 0; i < n; i++)
    {
        const char *a = json_string_value(json_array_get(w->managers, i));
        if (a && strcmp(a, w->addr) == 0)
            at = i;
    }
    const char *next = json_string_value(json_array_get(w->managers, at == n ? 0 : (at + 1) % n));
    if (next) {
        swarm__log_info("worker", "trying the manager at %s", next);
        switch_to(w, next);
        swarm__timer_start(w->failover, 1000); /* and on, if that one does not answer either */
    }
}

uint64_t swarm__worker_session_link(const swarm__worker_session *w)
{
    return w->link;
}

int swarm__worker_session_connected(const swarm__worker_session *w)
{
    return w->link_live && w->session_id[0] != '\0';
}

int swarm__worker_session_start(swarm__worker_session **out, swarm__timers *timers, const swarm__clock *clock,
                                struct swarm_transport_backend *transport, const char *manager_addr,
                                const char *cert_pem, const char *key_pem, swarm__agent *agent,
                                const char *hostname, swarm__refused_fn refused, swarm__renewed_fn renewed,
                                void *payload, swarm__err *e)
{
    swarm__worker_session *w = calloc(1, sizeof *w);
    if (w == NULL)
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    w->timers = timers;
    w->clock = clock;
    w->t = transport;
    w->agent = agent;
    w->refused = refused;
    w->renewed = renewed;
    w->refused_payload = payload;
    w->period_ms = 5000;
    w->cert = strdup(cert_pem);
    w->key = strdup(key_pem);
    w->hostname = strdup(hostname);
    w->beat = swarm__timer_new(timers, beat, w);
    w->renew = swarm__timer_new(timers, renew_now, w);
    w->failover = swarm__timer_new(timers, failover_now, w);
    w->retry = swarm__timer_new(timers, retry_now, w);
    w->addr = strdup(manager_addr);
    w->managers = json_pack("[s]", manager_addr);
    if (!w->cert || !w->key || !w->hostname || !w->beat || !w->renew || !w->failover || !w->retry || !w->addr ||
        !w->managers) {
        swarm__worker_session_stop(w);
        return swarm__err_set(e, SWARM_ENOMEM, "out of memory");
    }
    int rc = transport->dial(transport, manager_addr, &w->link);
    if (rc != 0) {
        swarm__worker_session_stop(w);
        return swarm__err_set(e, rc, "cannot dial the manager at %s: %s", manager_addr, swarm_error_last()->message);
    }
    *out = w;
    return 0;
}

void swarm__worker_session_stop(swarm__worker_session *w)
{
    if (w == NULL)
        return;
    w->stopped = 1;
    if (w->agent)
        swarm__agent_set_uplink(w->agent, NULL, NULL);
    swarm__timer_free(w->beat);
    swarm__timer_free(w->renew);
    swarm__timer_free(w->failover);
    swarm__timer_free(w->retry);
    w->beat = w->renew = w->failover = w->retry = NULL;
    if (w->link)
        w->t->close_link(w->t, w->link);
    /* Requests in flight hold w: the last of their callbacks frees it. */
    if (w->pending == 0)
        session_free(w);
}

static void session_free(swarm__worker_session *w)
{
    free(w->new_key);
    free(w->cert);
    free(w->key);
    free(w->hostname);
    free(w->addr);
    json_decref(w->managers);
    free(w);
}

void swarm__worker_session_on_promotion(swarm__worker_session *w, void (*promoted)(void *payload))
{
    w->promoted = promoted;
}

void swarm__worker_session_set_managers(swarm__worker_session *w, const json_t *managers)
{
    json_t *body = json_pack("{s:O}", "Managers", managers);
    learn_managers(w, body);
    json_decref(body);
}
