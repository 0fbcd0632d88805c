/*
 * A 100-node cluster in one process on a virtual clock (the cluster
 * fixture): joining, spreading, node failure and return, network blips and
 * partitions, drain, global services, and determinism for a seed.
 */
#include "core/json.h"
#include "fixture.h"
#include "swarm/errors.h"
#include "test.h"

#include <stdlib.h>

#define WORKERS 100
#define SEED 42

static size_t count_nodes(fixture *f, const char *state)
{
    json_t *nodes = fixture_nodes(f);
    size_t i, n = 0;
    json_t *node;
    json_array_foreach(nodes, i, node) {
        const char *role = swarm__json_str(node, "Spec.Role");
        if (role && strcmp(role, "worker") == 0 && strcmp(swarm__json_str(node, "Status.State"), state) == 0)
            n++;
    }
    json_decref(nodes);
    return n;
}

static int all_ready(fixture *f, void *arg)
{
    return count_nodes(f, "ready") == (size_t)(uintptr_t)arg;
}

/* Running tasks of a service wanted running, and how many sit on a given node. */
static size_t running(fixture *f, const char *service, const char *on_node, size_t *on_count)
{
    json_t *tasks = fixture_tasks(f, service);
    size_t i, n = 0, on = 0;
    json_t *t;
    json_array_foreach(tasks, i, t) {
        if (strcmp(swarm__json_str(t, "DesiredState"), "running") || strcmp(swarm__json_str(t, "Status.State"), "running"))
            continue;
        n++;
        if (on_node && strcmp(swarm__json_str(t, "NodeID"), on_node) == 0)
            on++;
    }
    json_decref(tasks);
    if (on_count)
        *on_count = on;
    return n;
}

typedef struct want {
    const char *service;
    size_t n;
    const char *not_on[16];
} want;

static int converged(fixture *f, void *arg)
{
    want *w = arg;
    if (running(f, w->service, NULL, NULL) != w->n)
        return 0;
    for (int i = 0; i < 16 && w->not_on[i]; i++) {
        size_t on;
        running(f, w->service, w->not_on[i], &on);
        if (on)
            return 0;
    }
    return 1;
}

static fixture *cluster(void)
{
    fixture *f = fixture_new(WORKERS, SEED);
    CHECK(f != NULL);
    CHECK(fixture_run_until(f, all_ready, (void *)(uintptr_t)WORKERS, 30000) >= 0);
    return f;
}

static void create(fixture *f, const char *name, const char *mode)
{
    char spec[512];
    snprintf(spec, sizeof spec,
             "{\"Name\": \"%s\", \"TaskTemplate\": {\"ContainerSpec\": {\"Image\": \"busybox\", \"Args\": "
             "[\"serve\"]}}, \"Mode\": %s}",
             name, mode);
    json_t *req = json_pack("{s:o}", "Spec", json_loads(spec, 0, NULL));
    CHECK_INT(fixture_call(f, "ServiceCreate", req, NULL), 0);
    json_decref(req);
}

static void test_fixture__spread_over_100_nodes(void)
{
    fixture *f = cluster();
    create(f, "web", "{\"Replicated\": {\"Replicas\": 300}}");
    want w = {"web", 300, {NULL}};
    int64_t took = fixture_run_until(f, converged, &w, 60000);
    CHECK(took >= 0);
    printf("  300 tasks on 100 nodes running after %lld ms of cluster time\n", (long long)took);
    for (unsigned i = 0; i < WORKERS; i++) {
        size_t on;
        running(f, "web", fixture_node_id(f, i), &on);
        CHECK_INT(on, 3);
    }
    fixture_free(f);
}

static void test_fixture__killed_nodes_are_replaced_then_return(void)
{
    fixture *f = cluster();
    create(f, "web", "{\"Replicated\": {\"Replicas\": 200}}");
    want w = {"web", 200, {NULL}};
    CHECK(fixture_run_until(f, converged, &w, 60000) >= 0);
    for (unsigned i = 0; i < 10; i++) {
        fixture_kill(f, i);
        w.not_on[i] = fixture_node_id(f, i);
    }
    /* Down within the link-loss grace (2 s) plus a liveness tick; replacements run soon after. */
    int64_t took = fixture_run_until(f, converged, &w, 30000);
    CHECK(took >= 0);
    printf("  10 of 100 nodes killed: tasks replaced after %lld ms of cluster time\n", (long long)took);
    CHECK(took <= 3000);
    CHECK_INT(count_nodes(f, "down"), 10);
    /* They come back: ready again, nothing of theirs runs twice. */
    for (unsigned i = 0; i < 10; i++)
        fixture_revive(f, i);
    CHECK(fixture_run_until(f, all_ready, (void *)(uintptr_t)WORKERS, 30000) >= 0);
    fixture_run(f, 5000);
    CHECK_INT(running(f, "web", NULL, NULL), 200);
    fixture_free(f);
}

static void test_fixture__blip_vs_partition(void)
{
    fixture *f = cluster();
    create(f, "web", "{\"Replicated\": {\"Replicas\": 100}}");
    want w = {"web", 100, {NULL}};
    CHECK(fixture_run_until(f, converged, &w, 60000) >= 0);
    /* A short blip: the link comes back within the grace, nothing moves. */
    fixture_partition(f, 5);
    fixture_run(f, 500);
    fixture_heal(f, 5);
    fixture_run(f, 10000);
    CHECK_INT(count_nodes(f, "down"), 0);
    size_t on;
    running(f, "web", fixture_node_id(f, 5), &on);
    CHECK_INT(on, 1);
    /* A long partition: down, replaced; after healing it rejoins and its stale task is stopped. */
    fixture_partition(f, 6);
    w.not_on[0] = fixture_node_id(f, 6);
    CHECK(fixture_run_until(f, converged, &w, 30000) >= 0);
    CHECK_INT(count_nodes(f, "down"), 1);
    fixture_heal(f, 6);
    CHECK(fixture_run_until(f, all_ready, (void *)(uintptr_t)WORKERS, 30000) >= 0);
    fixture_run(f, 5000);
    running(f, "web", fixture_node_id(f, 6), &on);
    CHECK_INT(on, 0);
    CHECK_INT(running(f, "web", NULL, NULL), 100);
    fixture_free(f);
}

static void test_fixture__drain_and_global(void)
{
    fixture *f = cluster();
    create(f, "agent", "{\"Global\": {}}");
    want w = {"agent", WORKERS, {NULL}};
    CHECK(fixture_run_until(f, converged, &w, 60000) >= 0);
    for (unsigned i = 0; i < 5; i++) {
        json_t *nodes = fixture_nodes(f), *node = NULL;
        size_t k;
        json_t *n;
        json_array_foreach(nodes, k, n) if (strcmp(swarm__json_str(n, "ID"), fixture_node_id(f, i)) == 0) node = n;
        json_t *req = json_pack("{s:s, s:I, s:{s:s}}", "Ref", fixture_node_id(f, i), "Version",
                                swarm__json_int(node, "Version.Index", 0), "Spec", "Availability", "drain");
        CHECK_INT(fixture_call(f, "NodeUpdate", req, NULL), 0);
        json_decref(req);
        json_decref(nodes);
        w.not_on[i] = fixture_node_id(f, i);
    }
    w.n = WORKERS - 5;
    CHECK(fixture_run_until(f, converged, &w, 30000) >= 0);
    fixture_free(f);
}

/* The same seed gives the same cluster: placements, IDs and timings. */
static char *scenario(void)
{
    fixture *f = fixture_new(20, 7);
    CHECK(f != NULL);
    CHECK(fixture_run_until(f, all_ready, (void *)(uintptr_t)20, 30000) >= 0);
    create(f, "web", "{\"Replicated\": {\"Replicas\": 30}}");
    want w = {"web", 30, {NULL}};
    int64_t t1 = fixture_run_until(f, converged, &w, 60000);
    fixture_kill(f, 3);
    w.not_on[0] = fixture_node_id(f, 3);
    int64_t t2 = fixture_run_until(f, converged, &w, 60000);
    json_t *tasks = fixture_tasks(f, "web");
    size_t i;
    json_t *t;
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    fprintf(m, "%lld %lld\n", (long long)t1, (long long)t2);
    json_array_foreach(tasks, i, t) fprintf(m, "%s %lld %s %s\n", swarm__json_str(t, "ID"),
                                            (long long)swarm__json_int(t, "Slot", 0), swarm__json_str(t, "NodeID"),
                                            swarm__json_str(t, "Status.State"));
    fclose(m);
    json_decref(tasks);
    fixture_free(f);
    return out;
}

static void test_fixture__deterministic(void)
{
    char *a = scenario(), *b = scenario();
    CHECK_STR(a, b);
    free(a);
    free(b);
}

static void test_fixture__impostors_are_refused(void)
{
    fixture *f = fixture_new(3, SEED);
    CHECK(f != NULL);
    CHECK(fixture_run_until(f, all_ready, (void *)(uintptr_t)3, 30000) >= 0);
    int foreign = fixture_add_rogue(f, ROGUE_FOREIGN);
    int forged = fixture_add_rogue(f, ROGUE_FORGED);
    CHECK(foreign >= 0 && forged >= 0);
    fixture_run(f, 10000);
    /* Neither gets a session, and the real w0 is untouched by its impostor. */
    CHECK(!fixture_connected(f, (unsigned)foreign));
    CHECK(!fixture_connected(f, (unsigned)forged));
    CHECK(fixture_connected(f, 0));
    CHECK_INT(count_nodes(f, "ready"), 3);
    /* A genuine worker may use the dispatcher but not control. */
    char why[256];
    json_t *body = json_pack("{s:s, s:n}", "Method", "ServiceList", "Params");
    CHECK_INT(fixture_worker_request(f, 1, 20 /* CONTROL */, body, why, sizeof why), SWARM_EUNAVAILABLE);
    CHECK_CONTAINS(why, "Worker nodes can't be used");
    json_decref(body);
    /* Removed for good: its certificate still verifies, the manager refuses it. */
    json_t *req = json_pack("{s:s, s:b}", "Ref", fixture_node_id(f, 2), "Force", 1);
    CHECK_INT(fixture_call(f, "NodeRemove", req, NULL), 0);
    json_decref(req);
    fixture_kill(f, 2);
    fixture_revive(f, 2);
    fixture_run(f, 10000);
    CHECK(!fixture_connected(f, 2));
    fixture_free(f);
}

TEST_MAIN(TEST(test_fixture__impostors_are_refused), TEST(test_fixture__spread_over_100_nodes), TEST(test_fixture__killed_nodes_are_replaced_then_return),
          TEST(test_fixture__blip_vs_partition), TEST(test_fixture__drain_and_global),
          TEST(test_fixture__deterministic))
