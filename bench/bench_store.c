/*
 * Store throughput: writes (task creates, with their indexes) in batches of
 * 1, 100 and 1000 actions on lmdb (durable: fsync per write) and memory, then
 * reads (get by ID, list a service's tasks). Every measure is bounded by a
 * count and by time, so the whole run takes a few seconds.
 *
 * Usage: bench_store [DIR]   (DIR: where the lmdb store goes; default /tmp)
 */
#include "store/store.h"

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WRITE_SECONDS 1.5
#define READ_SECONDS 1.0
#define MAX_ACTIONS 300000
#define TASKS_PER_SERVICE 100

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static swarm__store *open_store(const char *kind, const char *dir)
{
    struct swarm_store_backend *b;
    swarm__store *s;
    swarm__err e;
    int rc = strcmp(kind, "lmdb") == 0 ? swarm_store_lmdb_new(&b, dir) : swarm_store_memory_new(&b);
    if (rc != 0 || swarm__store_open(&s, b, &e) != 0) {
        fprintf(stderr, "cannot open the %s store: %s\n", kind, swarm_error_last_message());
        exit(1);
    }
    return s;
}

static void task_id(char out[32], uint64_t n)
{
    snprintf(out, 32, "task%020" PRIu64, n);
}

static void service_id(char out[32], uint64_t n)
{
    snprintf(out, 32, "svc%08" PRIu64, n / TASKS_PER_SERVICE);
}

/* Writes batches of `batch` task creates; returns the number of tasks written. */
static uint64_t bench_writes(swarm__store *s, size_t batch, double *writes_per_s, double *actions_per_s)
{
    swarm__action *a = calloc(batch, sizeof *a);
    uint64_t tasks = 0, writes = 0;
    double start = now(), elapsed = 0;
    swarm__err e;
    while (tasks + batch <= MAX_ACTIONS && elapsed < WRITE_SECONDS) {
        for (size_t i = 0; i < batch; i++) {
            char id[32], svc[32], node[16];
            task_id(id, tasks + i);
            service_id(svc, tasks + i);
            snprintf(node, sizeof node, "node%" PRIu64, (tasks + i) % 7);
            a[i] = (swarm__action){SWARM__OP_CREATE, SWARM__KIND_TASK,
                                   json_pack("{s:s,s:s,s:s,s:s,s:I,s:{s:s,s:{s:s}}}", "ID", id, "ServiceID", svc,
                                             "NodeID", node, "DesiredState", "running", "Slot",
                                             (json_int_t)(tasks + i), "Spec", "Runtime", "container",
                                             "ContainerSpec", "Image", "nginx:latest"),
                                   0};
        }
        int rc = swarm__store_apply(s, swarm__store_index(s) + 1, a, batch, &e);
        for (size_t i = 0; i < batch; i++)
            json_decref(a[i].object);
        if (rc != 0) {
            fprintf(stderr, "apply failed: %s\n", e.message);
            exit(1);
        }
        tasks += batch;
        writes++;
        elapsed = now() - start;
    }
    free(a);
    *writes_per_s = (double)writes / elapsed;
    *actions_per_s = (double)tasks / elapsed;
    return tasks;
}

static void bench_reads(swarm__store *s, uint64_t tasks, double *gets_per_s, double *lists_per_s)
{
    swarm__snap *v;
    swarm__err e;
    uint64_t gets = 0, lists = 0, seed = 88172645463325252ull;
    double start = now(), elapsed = 0;
    if (swarm__snap_begin(s, &v, &e) != 0)
        exit(1);
    while (elapsed < READ_SECONDS && gets < 5000000) {
        for (int i = 0; i < 1000; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            char id[32];
            task_id(id, seed % tasks);
            json_t *obj = swarm__snap_get(v, SWARM__KIND_TASK, id);
            if (obj == NULL)
                exit(1);
            json_decref(obj);
            gets++;
        }
        elapsed = now() - start;
    }
    *gets_per_s = (double)gets / elapsed;
    start = now();
    elapsed = 0;
    uint64_t services = (tasks + TASKS_PER_SERVICE - 1) / TASKS_PER_SERVICE;
    while (elapsed < READ_SECONDS && lists < 1000000) {
        for (int i = 0; i < 10; i++) {
            char svc[32];
            service_id(svc, (lists % services) * TASKS_PER_SERVICE);
            json_t *list = NULL;
            if (swarm__snap_list(v, SWARM__KIND_TASK, "service", svc, &list, &e) != 0)
                exit(1);
            json_decref(list);
            lists++;
        }
        elapsed = now() - start;
    }
    *lists_per_s = (double)lists / elapsed;
    swarm__snap_end(v);
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : "/tmp";
    static const char *const kinds[] = {"lmdb", "memory"};
    static const size_t batches[] = {1, 100, 1000};
    printf("%-8s %6s %12s %12s %10s\n", "backend", "batch", "writes/s", "actions/s", "actions");
    for (size_t k = 0; k < 2; k++) {
        for (size_t bi = 0; bi < 3; bi++) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/bench-store-XXXXXX", base);
            if (mkdtemp(dir) == NULL) {
                perror(dir);
                return 1;
            }
            swarm__store *s = open_store(kinds[k], dir);
            double wps, aps;
            uint64_t n = bench_writes(s, batches[bi], &wps, &aps);
            printf("%-8s %6zu %12.0f %12.0f %10" PRIu64 "\n", kinds[k], batches[bi], wps, aps, n);
            swarm__store_close(s);
            nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
    }
    printf("\n%-8s %10s %12s %22s\n", "backend", "tasks", "gets/s", "lists/s (100 tasks)");
    for (size_t k = 0; k < 2; k++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/bench-store-XXXXXX", base);
        if (mkdtemp(dir) == NULL) {
            perror(dir);
            return 1;
        }
        swarm__store *s = open_store(kinds[k], dir);
        double wps, aps, gps, lps;
        uint64_t n = bench_writes(s, 1000, &wps, &aps);
        bench_reads(s, n, &gps, &lps);
        printf("%-8s %10" PRIu64 " %12.0f %22.0f\n", kinds[k], n, gps, lps);
        swarm__store_close(s);
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    return 0;
}
