/*
 * Scheduler throughput: N ready nodes and M pending tasks, built as JSON up
 * front; the timed region is one swarm__scheduler_place call (filters,
 * strategy, result array). The shapes follow SwarmKit's BenchmarkScheduler*
 * (tasks without a service, so nothing is shared between them; with
 * "constraints", only every third node qualifies), and SwarmKit's figures,
 * measured on a comparable 2-vCPU machine, are printed beside ours. A few
 * extra shapes cover binpack and placement preferences.
 *
 * Usage: bench_scheduler [--quick]   (--quick skips the 100k-task and 100k-node shapes)
 */
#include "manager/scheduler/scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct shape {
    const char *label;
    int nodes, tasks;
    int constraints; /* every third node labelled; every task requires the label */
    int zones;       /* >0: tasks spread over node.labels.zone, 1 service */
    const char *strategy;
    const char *swarmkit; /* SwarmKit v2.1.1 time per op, or NULL */
    int big;
} shape;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *make_nodes(const shape *sh)
{
    json_t *list = json_array();
    for (int i = 0; i < sh->nodes; i++) {
        char id[32], host[32];
        snprintf(id, sizeof id, "node%07d", i);
        snprintf(host, sizeof host, "host%d", i);
        json_t *labels = json_object();
        if (sh->constraints && i % 3 == 0)
            json_object_set_new(labels, "network", json_string("yes"));
        if (sh->zones > 0) {
            char zone[16];
            snprintf(zone, sizeof zone, "z%d", i % sh->zones);
            json_object_set_new(labels, "zone", json_string(zone));
        }
        json_t *n = json_pack("{s:s, s:{s:s, s:s, s:o}, s:{s:s, s:{s:s, s:s}, s:{s:I, s:I}, s:{}},"
                              " s:{s:s}}",
                              "ID", id, "Spec", "Role", "worker", "Availability", "active", "Labels", labels,
                              "Description", "Hostname", host, "Platform", "OS", "linux", "Architecture", "amd64",
                              "Resources", "NanoCPUs", (json_int_t)16000000000LL, "MemoryBytes",
                              (json_int_t)(64LL << 30), "Engine", "Status", "State", "ready");
        json_array_append_new(list, n);
    }
    return list;
}

static json_t *make_tasks(const shape *sh)
{
    json_t *list = json_array();
    for (int i = 0; i < sh->tasks; i++) {
        char id[32];
        snprintf(id, sizeof id, "task%08d", i);
        json_t *t = json_pack("{s:s, s:{}, s:s, s:{s:s}}", "ID", id, "Spec", "DesiredState", "running", "Status",
                              "State", "pending");
        if (sh->zones > 0) {
            json_object_set_new(t, "ServiceID", json_string("service1"));
            swarm__json_set(t, "Spec.Placement.Preferences",
                            json_pack("[{s:{s:s}}]", "Spread", "SpreadDescriptor", "node.labels.zone"));
        }
        if (sh->constraints)
            swarm__json_set(t, "Spec.Placement.Constraints", json_pack("[s]", "node.labels.network==yes"));
        if (strcmp(sh->strategy, "binpack") == 0)
            swarm__json_set(t, "Spec.Resources.Reservations",
                            json_pack("{s:I, s:I}", "NanoCPUs", (json_int_t)100000000, "MemoryBytes",
                                      (json_int_t)(64LL << 20)));
        json_array_append_new(list, t);
    }
    return list;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    static const shape shapes[] = {
        {"100 nodes x 1k tasks", 100, 1000, 0, 0, "spread", NULL, 0},
        {"1k nodes x 1k tasks", 1000, 1000, 0, 0, "spread", "0.26-0.56 s", 0},
        {"1k nodes x 10k tasks", 1000, 10000, 0, 0, "spread", "1.52 s", 0},
        {"1k nodes x 100k tasks", 1000, 100000, 0, 0, "spread", "29.2 s", 1},
        {"100k nodes x 1k tasks", 100000, 1000, 0, 0, "spread", "9.1 s", 1},
        {"constraints, 1k nodes x 1k tasks", 1000, 1000, 1, 0, "spread", "0.64 s", 0},
        {"constraints, 1k nodes x 10k tasks", 1000, 10000, 1, 0, "spread", "2.22 s", 0},
        {"constraints, 1k nodes x 100k tasks", 1000, 100000, 1, 0, "spread", "19.3 s", 1},
        {"binpack, 1k nodes x 10k tasks (reservations)", 1000, 10000, 0, 0, "binpack", NULL, 0},
        {"spread over 10 zones, 1k nodes x 10k tasks", 1000, 10000, 0, 10, "spread", NULL, 0},
    };
    printf("%-46s %12s %14s %16s\n", "shape", "libswarm", "tasks/s", "SwarmKit");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *sh = &shapes[i];
        if (quick && sh->big)
            continue;
        json_t *nodes = make_nodes(sh), *pending = make_tasks(sh), *load = json_array(), *out = NULL;
        swarm__scheduler *s = NULL;
        swarm__err e = {0};
        if (swarm__scheduler_new(&s, sh->strategy, &e) != 0) {
            fprintf(stderr, "scheduler: %s\n", e.message);
            return 1;
        }
        double t0 = now();
        int rc = swarm__scheduler_place(s, nodes, load, pending, &out, &e);
        double dt = now() - t0;
        if (rc != 0) {
            fprintf(stderr, "place: %s\n", e.message);
            return 1;
        }
        size_t placed = 0;
        for (size_t k = 0; k < json_array_size(out); k++)
            placed += json_object_get(json_array_get(out, k), "NodeID") != NULL;
        char took[32];
        snprintf(took, sizeof took, "%.3f s", dt);
        printf("%-46s %12s %14.0f %16s%s\n", sh->label, took, (double)sh->tasks / dt,
               sh->swarmkit != NULL ? sh->swarmkit : "-", placed == (size_t)sh->tasks ? "" : "  (not all placed!)");
        json_decref(out);
        json_decref(nodes);
        json_decref(pending);
        json_decref(load);
        swarm__scheduler_free(s);
    }
    printf("SwarmKit: v2.1.1 BenchmarkScheduler* time per op (includes its store commit and watch fan-out).\n");
    return 0;
}
