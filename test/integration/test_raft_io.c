/*
 * The raft_io's durable storage on real timers (lib/raft/io.c): the writer
 * thread groups writes into few transactions, completes them in raft's
 * order, leaves data durable once the completion is reported, and finishes
 * everything in flight at close. The loop here is a libevent base run by the
 * test's own thread.
 */
#include "test.h"

#include "core/timers.h"
#include "raft/io.h"
#include "transport/transport.h"

#include <event2/event.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------ a node's loop in this thread */

typedef struct env {
    struct event_base *base;
    swarm__timers *timers;
    swarm__mem_network *net;
    struct swarm_transport_backend *t;
    struct raft_io *io;
    const char *dir;
} env;

static void env_open_io(env *v)
{
    swarm__err e = {0, ""};
    int rc = swarm__raft_io_new(&v->io, v->timers, swarm__timers_clock(v->timers), v->t, v->dir, &e);
    if (rc != 0)
        test__fail(__FILE__, __LINE__, "raft_io_new: %s", e.message);
}

static void env_new(env *v, const char *dir)
{
    memset(v, 0, sizeof *v);
    v->dir = dir;
    v->base = event_base_new();
    CHECK(v->base != NULL);
    v->timers = swarm__timers_libevent(v->base);
    CHECK(v->timers != NULL);
    CHECK(swarm__mem_network_new(&v->net) == 0);
    CHECK(swarm__transport_mem_new(&v->t, v->net, "n1") == 0);
    env_open_io(v);
}

static void env_free(env *v)
{
    swarm__raft_io_free(v->io);
    v->t->free(v->t);
    swarm__mem_network_free(v->net);
    swarm__timers_free(v->timers);
    event_base_free(v->base);
}

static void on_tick(struct raft_io *io)
{
    (void)io;
}

static void on_recv(struct raft_io *io, struct raft_message *m)
{
    (void)io;
    (void)m;
}

/* init + load + start, as raft_start does; returns what load found. */
static void io_start(env *v, raft_term *term, raft_id *vote, struct raft_snapshot **snap, raft_index *start,
                     struct raft_entry **entries, size_t *n)
{
    CHECK_INT(v->io->init(v->io, 1, "n1"), 0);
    CHECK_INT(v->io->load(v->io, term, vote, snap, start, entries, n), 0);
    CHECK_INT(v->io->start(v->io, 100, on_tick, on_recv), 0);
}

static void entries_free(struct raft_entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++)
        raft_free(entries[i].batch);
    raft_free(entries);
}

static void snapshot_free(struct raft_snapshot *s)
{
    if (s == NULL)
        return;
    raft_configuration_close(&s->configuration);
    raft_free(s->bufs[0].base);
    raft_free(s->bufs);
    raft_free(s);
}

/* ------------------------------------------------------------ completions, recorded in order */

#define MAX_EVENTS 4096

typedef struct record {
    int events[MAX_EVENTS]; /* tag of each completion, in order */
    int status[MAX_EVENTS];
    int n;
    int closed;
} record;

static record rec;

typedef struct tagged_append {
    struct raft_io_append req;
    int tag;
} tagged_append;

typedef struct tagged_put {
    struct raft_io_snapshot_put req;
    int tag;
} tagged_put;

static void note(int tag, int status)
{
    CHECK(rec.n < MAX_EVENTS);
    rec.events[rec.n] = tag;
    rec.status[rec.n++] = status;
}

static void append_cb(struct raft_io_append *req, int status)
{
    note(((tagged_append *)req)->tag, status);
}

static void put_cb(struct raft_io_snapshot_put *req, int status)
{
    note(((tagged_put *)req)->tag, status);
}

static void close_cb(struct raft_io *io)
{
    (void)io;
    rec.closed = 1;
}

/* Entries with distinct payloads: term `term`, payload "e<first+i>". Freed with batch_free. */
static struct raft_entry *batch_new(unsigned n, raft_term term, raft_index first)
{
    struct raft_entry *es = calloc(n, sizeof *es);
    CHECK(es != NULL);
    for (unsigned i = 0; i < n; i++) {
        char *p = malloc(32);
        CHECK(p != NULL);
        es[i].term = term;
        es[i].type = RAFT_COMMAND;
        es[i].buf.base = p;
        es[i].buf.len = (size_t)snprintf(p, 32, "e%llu", (unsigned long long)(first + i));
    }
    return es;
}

static void batch_free(struct raft_entry *es, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        free(es[i].buf.base);
    free(es);
}

static void check_entry(const struct raft_entry *e, raft_term term, raft_index index)
{
    char want[32];
    int len = snprintf(want, sizeof want, "e%llu", (unsigned long long)index);
    CHECK_INT(e->term, term);
    CHECK_INT(e->buf.len, len);
    CHECK(memcmp(e->buf.base, want, (size_t)len) == 0);
}

/* A one-buffer snapshot of `len` bytes (byte i = i * 7 + index). */
static void snapshot_make(struct raft_snapshot *s, struct raft_buffer *buf, raft_index index, size_t len)
{
    memset(s, 0, sizeof *s);
    s->index = index;
    s->term = 2;
    s->configuration_index = 1;
    raft_configuration_init(&s->configuration);
    CHECK_INT(raft_configuration_add(&s->configuration, 1, "n1", RAFT_VOTER), 0);
    unsigned char *p = malloc(len ? len : 1);
    CHECK(p != NULL);
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i * 7 + index);
    buf->base = p;
    buf->len = len;
    s->bufs = buf;
    s->n_bufs = 1;
}

static void snapshot_unmake(struct raft_snapshot *s)
{
    raft_configuration_close(&s->configuration);
    free(s->bufs[0].base);
}

/* ------------------------------------------------------------ grouping through libraft */

typedef struct counter_fsm {
    unsigned applied;
} counter_fsm;

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    (void)buf;
    ((counter_fsm *)fsm->data)->applied++;
    *result = NULL;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    (void)fsm;
    *bufs = raft_calloc(1, sizeof **bufs);
    CHECK(*bufs != NULL);
    (*bufs)[0].base = raft_malloc(8);
    CHECK((*bufs)[0].base != NULL);
    memset((*bufs)[0].base, 0, 8);
    (*bufs)[0].len = 8;
    *n = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    (void)fsm;
    raft_free(buf->base);
    return 0;
}

#define APPLIES 300

static int applies_done;
static int applies_failed;

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    (void)result;
    if (status != 0)
        applies_failed++;
    applies_done++;
    free(req);
}

static int raft_closed;

static void on_raft_closed(struct raft *r)
{
    (void)r;
    raft_closed = 1;
}

static int leading;

static void check_leader(struct raft *r)
{
    leading = raft_state(r) == RAFT_LEADER;
}

static void test_raft_io__applies_share_commits(void)
{
    env v;
    env_new(&v, test_tmpdir());
    counter_fsm st = {0};
    struct raft_fsm fsm = {0};
    fsm.version = 1;
    fsm.data = &st;
    fsm.apply = fsm_apply;
    fsm.snapshot = fsm_snapshot;
    fsm.restore = fsm_restore;
    struct raft *r = calloc(1, sizeof *r);
    CHECK(r != NULL);
    CHECK_INT(raft_init(r, v.io, &fsm, 1, "n1"), 0);
    raft_set_election_timeout(r, 50);
    raft_set_heartbeat_timeout(r, 10);
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    CHECK_INT(raft_configuration_add(&conf, 1, "n1", RAFT_VOTER), 0);
    CHECK_INT(raft_bootstrap(r, &conf), 0);
    raft_configuration_close(&conf);
    CHECK_INT(raft_start(r), 0);
    long long end = test_now_ms() + 10000;
    while (!leading && test_now_ms() < end) {
        event_base_loop(v.base, EVLOOP_ONCE);
        check_leader(r);
    }
    CHECK(leading);
    swarm__raft_io_stats before;
    swarm__raft_io_get_stats(&before, v.io);
    /* Many raft_apply calls in one loop turn, then a few more turns of them while the first commit runs. */
    int submitted = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < APPLIES / 3; i++) {
            struct raft_apply *req = calloc(1, sizeof *req);
            struct raft_buffer buf = {raft_malloc(16), 16};
            CHECK(req != NULL && buf.base != NULL);
            memset(buf.base, 'x', 16);
            CHECK_INT(raft_apply(r, req, &buf, 1, apply_cb), 0);
            submitted++;
        }
        event_base_loop(v.base, EVLOOP_NONBLOCK);
    }
    end = test_now_ms() + 20000;
    while (applies_done < submitted && test_now_ms() < end)
        event_base_loop(v.base, EVLOOP_ONCE);
    CHECK_INT(applies_done, APPLIES);
    CHECK_INT(applies_failed, 0);
    CHECK_INT(st.applied, APPLIES);
    swarm__raft_io_stats after;
    swarm__raft_io_get_stats(&after, v.io);
    uint64_t writes = after.writes - before.writes, commits = after.commits - before.commits;
    printf("# %d raft_apply calls: %llu writes in %llu commits; %llu synchronous writes in all\n", APPLIES,
           (unsigned long long)writes, (unsigned long long)commits, (unsigned long long)after.sync_writes);
    CHECK(writes >= APPLIES);       /* one append each */
    CHECK(commits >= 1);
    CHECK(commits <= APPLIES / 10); /* grouped: one per loop turn or commit time, not one per apply */
    raft_close(r, on_raft_closed);
    end = test_now_ms() + 5000;
    while (!raft_closed && test_now_ms() < end)
        event_base_loop(v.base, EVLOOP_NONBLOCK);
    CHECK(raft_closed);
    free(r);
    env_free(&v);
}

/* ------------------------------------------------------------ order of completions */

static void test_raft_io__completions_in_order(void)
{
    const char *dir = test_tmpdir();
    env v;
    env_new(&v, dir);
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snap;
    raft_index start;
    struct raft_entry *entries;
    size_t n;
    io_start(&v, &term, &vote, &snap, &start, &entries, &n);
    CHECK_INT(start, 1);
    CHECK_INT(n, 0);
    memset(&rec, 0, sizeof rec);
    /* 1-3 (term 1), 4-5 (term 1), truncate 4, 4-6 (term 2), snapshot at 5 keeping 2, 7 (term 2). */
    struct raft_entry *a = batch_new(3, 1, 1), *b = batch_new(2, 1, 4), *c = batch_new(3, 2, 4),
                      *d = batch_new(1, 2, 7);
    tagged_append ra = {.tag = 1}, rb = {.tag = 2}, rc = {.tag = 3}, rd = {.tag = 5};
    tagged_put rp = {.tag = 4};
    struct raft_snapshot s;
    struct raft_buffer sb;
    snapshot_make(&s, &sb, 5, 100000);
    CHECK_INT(v.io->append(v.io, &ra.req, a, 3, append_cb), 0);
    CHECK_INT(v.io->append(v.io, &rb.req, b, 2, append_cb), 0);
    CHECK_INT(v.io->truncate(v.io, 4), 0);
    CHECK_INT(v.io->append(v.io, &rc.req, c, 3, append_cb), 0);
    CHECK_INT(v.io->snapshot_put(v.io, 2, &rp.req, &s, put_cb), 0);
    CHECK_INT(v.io->append(v.io, &rd.req, d, 1, append_cb), 0);
    CHECK_INT(rec.n, 0); /* never inside the call */
    /* The term is durable when set_term returns, behind the writes queued before it. */
    CHECK_INT(v.io->set_term(v.io, 2), 0);
    CHECK_INT(v.io->set_vote(v.io, 1), 0);
    CHECK_INT(rec.n, 0);
    long long end = test_now_ms() + 10000;
    while (rec.n < 5 && test_now_ms() < end)
        event_base_loop(v.base, EVLOOP_ONCE);
    CHECK_INT(rec.n, 5);
    for (int i = 0; i < 5; i++) {
        CHECK_INT(rec.events[i], i + 1);
        CHECK_INT(rec.status[i], 0);
    }
    rec.closed = 0;
    v.io->close(v.io, close_cb);
    CHECK(rec.closed);
    snapshot_unmake(&s);
    batch_free(a, 3);
    batch_free(b, 2);
    batch_free(c, 3);
    batch_free(d, 1);
    swarm__raft_io_free(v.io);

    /* Back from disk: the snapshot at 5, entries 4-7 (1-3 dropped by the snapshot, 4-6 rewritten). */
    env_open_io(&v);
    io_start(&v, &term, &vote, &snap, &start, &entries, &n);
    CHECK_INT(term, 2);
    CHECK_INT(vote, 1);
    CHECK(snap != NULL);
    CHECK_INT(snap->index, 5);
    CHECK_INT(snap->bufs[0].len, 100000);
    CHECK(((unsigned char *)snap->bufs[0].base)[99999] == (unsigned char)(99999 * 7 + 5));
    CHECK_INT(start, 4);
    CHECK_INT(n, 4);
    for (size_t i = 0; i < n; i++)
        check_entry(&entries[i], 2, 4 + i);
    entries_free(entries, n);
    snapshot_free(snap);
    rec.closed = 0;
    v.io->close(v.io, close_cb);
    CHECK(rec.closed);
    env_free(&v);
}

/* ------------------------------------------------------------ durability */

#define KILL_APPENDS 200

/* The child: appends, and dies by SIGKILL from inside the last completion (nothing closed, nothing freed). */
static void kill_child_append_cb(struct raft_io_append *req, int status)
{
    tagged_append *t = (tagged_append *)req;
    if (status != 0)
        _exit(2);
    if (t->tag == KILL_APPENDS)
        raise(SIGKILL);
}

static void kill_child(const char *dir)
{
    env v;
    env_new(&v, dir);
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snap;
    raft_index start;
    struct raft_entry *entries;
    size_t n;
    io_start(&v, &term, &vote, &snap, &start, &entries, &n);
    static tagged_append reqs[KILL_APPENDS];
    for (int i = 0; i < KILL_APPENDS; i++) {
        struct raft_entry *e = batch_new(1, 3, (raft_index)i + 1); /* alive until the process dies */
        reqs[i].tag = i + 1;
        if (v.io->append(v.io, &reqs[i].req, e, 1, kill_child_append_cb) != 0)
            _exit(3);
        if (i % 16 == 0)
            event_base_loop(v.base, EVLOOP_NONBLOCK);
    }
    long long end = test_now_ms() + 20000;
    while (test_now_ms() < end)
        event_base_loop(v.base, EVLOOP_ONCE);
    _exit(4); /* the last completion never came */
}

static void test_raft_io__durable_once_completed(void)
{
    const char *dir = test_tmpdir();
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        kill_child(dir);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
        test__fail(__FILE__, __LINE__, "the child did not die at its last completion (status %d)", st);
    env v;
    env_new(&v, dir);
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snap;
    raft_index start;
    struct raft_entry *entries;
    size_t n;
    io_start(&v, &term, &vote, &snap, &start, &entries, &n);
    CHECK(snap == NULL);
    CHECK_INT(start, 1);
    CHECK_INT(n, KILL_APPENDS);
    for (size_t i = 0; i < n; i++)
        check_entry(&entries[i], 3, 1 + i);
    entries_free(entries, n);
    rec.closed = 0;
    v.io->close(v.io, close_cb);
    CHECK(rec.closed);
    env_free(&v);
}

/* ------------------------------------------------------------ close and large snapshots */

static int ticks;

static void count_tick(void *arg)
{
    swarm__timer *t = *(swarm__timer **)arg;
    ticks++;
    swarm__timer_start(t, 1);
}

static void test_raft_io__close_with_writes_in_flight(void)
{
    const char *dir = test_tmpdir();
    env v;
    env_new(&v, dir);
    raft_term term;
    raft_id vote;
    struct raft_snapshot *snap;
    raft_index start;
    struct raft_entry *entries;
    size_t n;
    io_start(&v, &term, &vote, &snap, &start, &entries, &n);
    memset(&rec, 0, sizeof rec);
    /* A large snapshot (written off the loop: a 1 ms timer keeps firing meanwhile), then appends behind it. */
    struct raft_snapshot s;
    struct raft_buffer sb;
    size_t big = (size_t)96 << 20;
    snapshot_make(&s, &sb, 10, big);
    struct raft_entry *a = batch_new(10, 1, 1);
    tagged_append ra = {.tag = 1};
    CHECK_INT(v.io->append(v.io, &ra.req, a, 10, append_cb), 0);
    tagged_put rp = {.tag = 2};
    long long t0 = test_now_ms();
    CHECK_INT(v.io->snapshot_put(v.io, 3, &rp.req, &s, put_cb), 0);
    long long put_ms = test_now_ms() - t0;
    swarm__timer *tick = NULL;
    tick = swarm__timer_new(v.timers, count_tick, &tick);
    CHECK(tick != NULL);
    swarm__timer_start(tick, 1);
    long long end = test_now_ms() + 30000;
    while (rec.n < 2 && test_now_ms() < end)
        event_base_loop(v.base, EVLOOP_ONCE);
    CHECK_INT(rec.n, 2);
    CHECK_INT(rec.events[0], 1);
    CHECK_INT(rec.events[1], 2);
    CHECK_INT(rec.status[1], 0);
    long long write_ms = test_now_ms() - t0;
    printf("# a %zu MiB snapshot_put returned in %lld ms, completed in %lld ms; the loop ticked %d times meanwhile\n",
           big >> 20, put_ms, write_ms, ticks);
    CHECK(ticks >= 2);
    swarm__timer_free(tick);

    /* Appends in flight at close: close waits for them, and they complete with their real status. */
    struct raft_entry *b = batch_new(64, 1, 11);
    static tagged_append rb[64];
    for (int i = 0; i < 64; i++) {
        rb[i].tag = 10 + i;
        CHECK_INT(v.io->append(v.io, &rb[i].req, b + i, 1, append_cb), 0);
    }
    tagged_put rp2 = {.tag = 100};
    struct raft_snapshot s2;
    struct raft_buffer sb2;
    snapshot_make(&s2, &sb2, 70, 4096);
    CHECK_INT(v.io->snapshot_put(v.io, 5, &rp2.req, &s2, put_cb), 0);
    int before = rec.n;
    rec.closed = 0;
    v.io->close(v.io, close_cb);
    CHECK(rec.closed);
    CHECK_INT(rec.n, before + 65);
    /* Finished newest first, the put cancelled (as every non-append at close), the appends done. */
    CHECK_INT(rec.events[before], 100);
    CHECK_INT(rec.status[before], RAFT_CANCELED);
    for (int i = 1; i <= 64; i++) {
        CHECK_INT(rec.events[before + i], 10 + 64 - i);
        CHECK_INT(rec.status[before + i], 0);
    }
    snapshot_unmake(&s);
    snapshot_unmake(&s2);
    batch_free(a, 10);
    batch_free(b, 64);
    swarm__raft_io_free(v.io);

    /* All of it on disk: the snapshot at 70, entries 66-74 (trailing 5 kept). */
    env_open_io(&v);
    io_start(&v, &term, &vote, &snap, &start, &entries, &n);
    CHECK(snap != NULL);
    CHECK_INT(snap->index, 70);
    CHECK_INT(start, 66);
    CHECK_INT(n, 74 - 66 + 1);
    for (size_t i = 0; i < n; i++)
        check_entry(&entries[i], 1, 66 + i);
    entries_free(entries, n);
    snapshot_free(snap);
    rec.closed = 0;
    v.io->close(v.io, close_cb);
    CHECK(rec.closed);
    env_free(&v);
}

TEST_MAIN(TEST(test_raft_io__applies_share_commits), TEST(test_raft_io__completions_in_order),
          TEST(test_raft_io__durable_once_completed), TEST(test_raft_io__close_with_writes_in_flight))
