/*
 * swarmd: runs one libswarm node and serves its API on a local control
 * socket for swarmctl (and any swarm_cluster_connect client). Like dockerd it
 * starts outside any swarm; `swarmctl swarm init` or `swarm join` brings it in.
 * Built only on the public API.
 */
#include <swarm/swarm.h>

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int verbosity = SWARM_LOG_INFO;

static void log_line(int level, const char *module, const char *message, void *payload)
{
    (void)payload;
    static const char *const names[] = {"", "error", "warning", "info", "debug"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "time=\"%s.%03ldZ\" level=%s module=%s msg=\"%s\"\n", when, ts.tv_nsec / 1000000,
            level >= 1 && level <= 4 ? names[level] : "?", module, message);
}

static void usage(FILE *f)
{
    fprintf(f, "Usage:  swarmd --state-dir DIR [OPTIONS]\n\n"
               "Run one swarm node and serve its API on a control socket.\n\n"
               "Options:\n"
               "      --state-dir string        Directory for the node's state (required)\n"
               "      --listen-addr string      Address for node-to-node traffic (default \"0.0.0.0:2377\")\n"
               "      --advertise-addr string   Address other nodes use to reach this one\n"
               "      --control-socket string   Control socket path (default \"STATE-DIR/swarmd.sock\")\n"
               "      --hostname string         Hostname this node reports (default: the host's)\n"
               "      --runtime string          Task runtime: \"process\" (default) or \"fake\"\n"
               "      --leader-wait ms          How long calls wait for a manager leader (default 5000)\n"
               "      --raft-tick ms            Length of a Raft tick: heartbeat 1, election 10 ticks (default 100)\n"
               "      --debug                   Log debug messages\n"
               "  -h, --help                    Print usage\n");
}

/* Appends "key": "value" to a JSON object under construction (values are escaped). */
static void add_option(char *buf, size_t size, const char *key, const char *value)
{
    if (value == NULL)
        return;
    size_t len = strlen(buf);
    len += (size_t)snprintf(buf + len, size - len, "%s\"%s\": \"", len > 1 ? ", " : "", key);
    for (const char *p = value; *p && len + 8 < size; p++) {
        if (*p == '"' || *p == '\\')
            buf[len++] = '\\';
        if ((unsigned char)*p < 0x20)
            continue;
        buf[len++] = *p;
    }
    buf[len++] = '"';
    buf[len] = '\0';
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"state-dir", required_argument, NULL, 's'},    {"listen-addr", required_argument, NULL, 'l'},
        {"advertise-addr", required_argument, NULL, 'a'}, {"control-socket", required_argument, NULL, 'c'},
        {"hostname", required_argument, NULL, 'n'},     {"debug", no_argument, NULL, 'd'},
        {"runtime", required_argument, NULL, 'r'},      {"leader-wait", required_argument, NULL, 'w'},
        {"raft-tick", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},                {NULL, 0, NULL, 0},
    };
    const char *state_dir = NULL, *listen = NULL, *advertise = NULL, *control = NULL, *hostname = NULL,
               *runtime = NULL, *leader_wait = NULL, *raft_tick = NULL;
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 's': state_dir = optarg; break;
        case 'l': listen = optarg; break;
        case 'a': advertise = optarg; break;
        case 'c': control = optarg; break;
        case 'n': hostname = optarg; break;
        case 'd': verbosity = SWARM_LOG_DEBUG; break;
        case 'r': runtime = optarg; break;
        case 'w': leader_wait = optarg; break;
        case 't': raft_tick = optarg; break;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "swarmd: unknown flag: %s\nSee 'swarmd --help'.\n", argv[optind - 1]);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "swarmd: unexpected argument: %s\nSee 'swarmd --help'.\n", argv[optind]);
        return 1;
    }
    if (state_dir == NULL) {
        fprintf(stderr, "swarmd: --state-dir is required\nSee 'swarmd --help'.\n");
        return 1;
    }
    swarm_log_set(log_line, verbosity, NULL);

    /* A daemon's choice (a library never makes it): few malloc arenas and
     * large buffers straight from mmap, so memory freed after a burst (a
     * 1000-task listing) goes back to the system instead of lingering in
     * per-thread arenas. */
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);

    /* SIGTERM/SIGINT are taken synchronously by this thread; block them
     * before any library thread exists so that none of them gets one. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    char options[8192] = "{";
    add_option(options, sizeof options - 2, "StateDir", state_dir);
    add_option(options, sizeof options - 2, "ListenAddr", listen);
    add_option(options, sizeof options - 2, "AdvertiseAddr", advertise);
    add_option(options, sizeof options - 2, "Hostname", hostname);
    add_option(options, sizeof options - 2, "Runtime", runtime);
    /* Milliseconds: digits only, so they go in as JSON numbers (the library checks the range). */
    const char *ms[2][2] = {{"LeaderWait", leader_wait}, {"RaftTick", raft_tick}};
    for (int i = 0; i < 2; i++) {
        if (ms[i][1] == NULL)
            continue;
        if (ms[i][1][0] == '\0' || strspn(ms[i][1], "0123456789") != strlen(ms[i][1]) || strlen(ms[i][1]) > 9) {
            fprintf(stderr, "swarmd: --%s: not a number of milliseconds: %s\n", i ? "raft-tick" : "leader-wait",
                    ms[i][1]);
            return 1;
        }
        size_t len = strlen(options);
        snprintf(options + len, sizeof options - 2 - len, "%s\"%s\": %s", len > 1 ? ", " : "", ms[i][0], ms[i][1]);
    }
    strcat(options, "}");

    swarm_cluster_t *c = NULL;
    if (swarm_cluster_open(&c, options) != 0) {
        fprintf(stderr, "swarmd: %s\n", swarm_error_last()->message);
        return 1;
    }
    char socket_url[4200];
    if (control)
        snprintf(socket_url, sizeof socket_url, "unix://%s", control);
    else
        snprintf(socket_url, sizeof socket_url, "unix://%s/swarmd.sock", state_dir);
    if (socket_url[7] != '/') {
        /* Relative paths are relative to the working directory. */
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd) != NULL) {
            char rel[4200];
            char joined[8400];
            snprintf(rel, sizeof rel, "%s", socket_url + 7);
            snprintf(joined, sizeof joined, "unix://%s/%s", cwd, rel);
            snprintf(socket_url, sizeof socket_url, "%.4199s", joined);
        }
    }
    if (swarm_cluster_serve(c, socket_url) != 0) {
        fprintf(stderr, "swarmd: %s\n", swarm_error_last()->message);
        swarm_cluster_close(c);
        return 1;
    }
    log_line(SWARM_LOG_INFO, "swarmd", "API listening", NULL);
    fprintf(stderr, "swarmd: serving %s\n", socket_url);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    char msg[64];
    snprintf(msg, sizeof msg, "received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    log_line(SWARM_LOG_INFO, "swarmd", msg, NULL);
    swarm_cluster_close(c);
    log_line(SWARM_LOG_INFO, "swarmd", "stopped", NULL);
    return 0;
}
