/*
 * Replicated writes end to end through the public API: `service create`
 * calls on a swarm of 1 or 3 managers, each manager an embedded node of this
 * process (its own loop thread, LMDB state, TLS over 127.0.0.1-3), callers
 * sending to the leader or to every manager in turn (followers forward).
 * Prints writes/s and the latency p50/p99 per configuration.
 *
 * Usage: bench_cluster_writes [--managers N] [--threads K] [--seconds S]
 *                             [--via leader|any] [--dir DIR]
 * Defaults: every combination of 1 and 3 managers, 1, 16 and 64 callers,
 * 3 s each, via the leader and via any manager; DIR under /tmp.
 */
#include <swarm/swarm.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int free_port(void)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &len) != 0) {
            close(s);
            continue;
        }
        close(s);
        int port = ntohs(a.sin_port), ok = 1;
        for (int host = 2; host <= 3 && ok; host++) {
            int t = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
            b.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)host);
            ok = bind(t, (struct sockaddr *)&b, sizeof b) == 0;
            close(t);
        }
        if (ok)
            return port;
    }
    return -1;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_cluster_writes: %s: %s\n", what, swarm_error_last()->message);
    exit(1);
}

/* The value of "key":"..." in JSON text (enough for the tokens and the leader's hostname). */
static char *json_field(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    if (p == NULL) {
        snprintf(pat, sizeof pat, "\"%s\": \"", key);
        if ((p = strstr(json, pat)) == NULL)
            return NULL;
    }
    p += strlen(pat);
    const char *q = strchr(p, '"');
    return q ? strndup(p, (size_t)(q - p)) : NULL;
}

typedef struct run {
    swarm_cluster_t **targets;
    int n_targets;
    double until;
    atomic_int next_name;
    int tag;
    pthread_mutex_t lock;
    double *lat;
    size_t n_lat, cap;
    atomic_int errors;
} run;

typedef struct caller {
    run *r;
    int index;
} caller;

static void *call_loop(void *arg)
{
    caller *c = arg;
    run *r = c->r;
    char spec[512];
    for (int i = c->index; now_s() < r->until; i++) {
        int name = atomic_fetch_add(&r->next_name, 1);
        snprintf(spec, sizeof spec,
                 "{\"Name\": \"w%d-%d\", \"Labels\": {\"bench\": \"writes\"}, \"TaskTemplate\": {\"ContainerSpec\": "
                 "{\"Image\": \"busybox:latest\", \"Args\": [\"sleep\", \"3600\"], \"Env\": [\"A=1\"]}}, "
                 "\"Mode\": {\"Replicated\": {\"Replicas\": 0}}}",
                 r->tag, name);
        swarm_cluster_t *to = r->targets[i % r->n_targets];
        double t0 = now_s();
        swarm_service_t *s = NULL;
        int rc = swarm_service_create(to, spec, &s);
        double dt = now_s() - t0;
        swarm_service_free(s);
        if (rc != 0) {
            atomic_fetch_add(&r->errors, 1);
            continue;
        }
        pthread_mutex_lock(&r->lock);
        if (r->n_lat == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 4096;
            r->lat = realloc(r->lat, r->cap * sizeof *r->lat);
        }
        r->lat[r->n_lat++] = dt;
        pthread_mutex_unlock(&r->lock);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct swarm3 {
    swarm_cluster_t *m[3];
    int n;
    int leader; /* index of the leader */
} swarm3;

static void swarm_up(swarm3 *s, int managers, const char *dir)
{
    int port = free_port();
    if (port < 0)
        die("no free port");
    char opts[1024], req[2048];
    s->n = managers;
    for (int i = 0; i < managers; i++) {
        snprintf(opts, sizeof opts,
                 "{\"StateDir\": \"%s/m%d-%d\", \"ListenAddr\": \"127.0.0.%d:%d\", \"AdvertiseAddr\": "
                 "\"127.0.0.%d:%d\", \"Hostname\": \"m%d\", \"Runtime\": \"fake\"}",
                 dir, managers, i + 1, i + 1, port, i + 1, port, i + 1);
        if (swarm_cluster_open(&s->m[i], opts) != 0)
            die("open");
    }
    if (swarm_cluster_init(s->m[0], NULL) != 0)
        die("init");
    char *inspect = NULL;
    if (swarm_cluster_inspect(s->m[0], &inspect) != 0)
        die("inspect");
    char *token = json_field(inspect, "Manager");
    swarm_free(inspect);
    for (int i = 1; i < managers; i++) {
        snprintf(req, sizeof req, "{\"RemoteAddrs\": [\"127.0.0.1:%d\"], \"JoinToken\": \"%s\"}", port, token);
        if (swarm_cluster_join(s->m[i], req) != 0)
            die("join");
    }
    free(token);
    s->leader = 0;
}

static void swarm_down(swarm3 *s)
{
    for (int i = 0; i < s->n; i++)
        swarm_cluster_close(s->m[i]);
}

static void one(swarm3 *s, int threads, double seconds, int via_any, int tag)
{
    run r = {0};
    r.targets = via_any ? s->m : &s->m[s->leader];
    r.n_targets = via_any ? s->n : 1;
    r.tag = tag;
    pthread_mutex_init(&r.lock, NULL);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    caller *cs = calloc((size_t)threads, sizeof *cs);
    double t0 = now_s();
    r.until = t0 + seconds;
    for (int i = 0; i < threads; i++) {
        cs[i].r = &r;
        cs[i].index = i;
        pthread_create(&th[i], NULL, call_loop, &cs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double elapsed = now_s() - t0;
    qsort(r.lat, r.n_lat, sizeof *r.lat, cmp_double);
    double p50 = r.n_lat ? r.lat[r.n_lat / 2] : 0, p99 = r.n_lat ? r.lat[(size_t)((double)r.n_lat * 0.99)] : 0;
    printf("managers %d  callers %3d  via %-6s  %8.0f writes/s  p50 %7.2f ms  p99 %7.2f ms  (%zu ok, %d errors)\n",
           s->n, threads, via_any ? "any" : "leader", (double)r.n_lat / elapsed, p50 * 1e3, p99 * 1e3, r.n_lat,
           atomic_load(&r.errors));
    fflush(stdout);
    free(r.lat);
    free(th);
    free(cs);
    pthread_mutex_destroy(&r.lock);
}

int main(int argc, char **argv)
{
    int managers = 0, threads = 0, via = -1;
    double seconds = 3;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--managers") && i + 1 < argc)
            managers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--via") && i + 1 < argc)
            via = !strcmp(argv[++i], "any");
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_cluster_writes [--managers 1|3] [--threads K] [--seconds S] "
                            "[--via leader|any] [--dir DIR]\n");
            return 2;
        }
    }
    if ((managers != 0 && managers != 1 && managers != 3) || threads < 0 || seconds <= 0) {
        fprintf(stderr, "bench_cluster_writes: --managers is 1 or 3, --threads and --seconds positive\n");
        return 2;
    }
    char tmpl[] = "/tmp/bench-cluster-writes-XXXXXX";
    char *made = NULL;
    if (dir == NULL && (dir = made = mkdtemp(tmpl)) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    int manager_set[] = {1, 3}, thread_set[] = {1, 16, 64};
    int tag = 0;
    for (int mi = 0; mi < 2; mi++) {
        int m = manager_set[mi];
        if (managers && m != managers)
            continue;
        swarm3 s;
        swarm_up(&s, m, dir);
        for (int ti = 0; ti < 3; ti++) {
            int t = threads ? threads : thread_set[ti];
            for (int v = 0; v < 2; v++) {
                if ((via >= 0 && v != via) || (m == 1 && v == 1))
                    continue;
                one(&s, t, seconds, v, tag++);
            }
            if (threads)
                break;
        }
        swarm_down(&s);
    }
    if (made) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", made);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_cluster_writes: could not remove %s\n", made);
    }
    return 0;
}
