/* One node runs services end to end (orchestrators, scheduler, dispatcher, agent) on the fake runtime. */
#include "swarm/swarm.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>

static swarm_cluster_t *manager(void)
{
    swarm_cluster_t *c = NULL;
    char opts[256];
    snprintf(opts, sizeof opts,
             "{\"Store\": \"memory\", \"Runtime\": \"fake\", \"Hostname\": \"h1\", \"ListenAddr\": \"127.0.0.1:%d\"}",
             test_free_port());
    CHECK_INT(swarm_cluster_open(&c, opts), 0);
    CHECK_INT(swarm_cluster_init(c, NULL), 0);
    return c;
}

/* Counts the service's tasks with the given desired and observed states (NULL = any). */
static size_t count_tasks(swarm_cluster_t *c, const char *service, const char *desired, const char *state)
{
    char filters[256];
    snprintf(filters, sizeof filters, "{\"service\": [\"%s\"]}", service);
    swarm_task_t **tasks;
    size_t n, hits = 0;
    CHECK_INT(swarm_task_list(c, filters, &tasks, &n), 0);
    for (size_t i = 0; i < n; i++)
        if ((!desired || strcmp(swarm_task_desired_state(tasks[i]), desired) == 0) &&
            (!state || strcmp(swarm_task_state(tasks[i]), state) == 0))
            hits++;
    swarm_task_list_free(tasks, n);
    return hits;
}

#define WAIT_FOR(cond)                                                                                   \
    do {                                                                                                 \
        long long deadline_ = test_now_ms() + 20000;                                                     \
        while (!(cond) && test_now_ms() < deadline_)                                                     \
            usleep(5000);                                                                                \
        CHECK(cond);                                                                                     \
    } while (0)

#include <unistd.h>

static void create(swarm_cluster_t *c, const char *name, const char *args, const char *mode, const char *restart)
{
    char spec[1024];
    snprintf(spec, sizeof spec,
             "{\"Name\": \"%s\", \"TaskTemplate\": {\"ContainerSpec\": {\"Image\": \"busybox\", \"Args\": %s},"
             " \"RestartPolicy\": %s}, \"Mode\": %s}",
             name, args, restart ? restart : "{\"Condition\": \"any\", \"Delay\": 0}", mode);
    CHECK_INT(swarm_service_create(c, spec, NULL), 0);
}

static void test_orchestration__replicas_converge_and_scale(void)
{
    swarm_cluster_t *c = manager();
    create(c, "web", "[\"serve\"]", "{\"Replicated\": {\"Replicas\": 3}}", NULL);
    WAIT_FOR(count_tasks(c, "web", "running", "running") == 3);
    swarm_task_t **tasks;
    size_t n;
    CHECK_INT(swarm_task_list(c, "{\"service\": [\"web\"]}", &tasks, &n), 0);
    CHECK_INT(n, 3);
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(swarm_task_slot(tasks[i]), i + 1);
        CHECK(strlen(swarm_task_node_id(tasks[i])) == 25);
    }
    swarm_task_list_free(tasks, n);

    swarm_service_t *s;
    CHECK_INT(swarm_service_get(c, "web", &s), 0);
    const char *five = "{\"Name\": \"web\", \"TaskTemplate\": {\"ContainerSpec\": {\"Image\": \"busybox\", \"Args\":"
                       " [\"serve\"]}, \"RestartPolicy\": {\"Condition\": \"any\", \"Delay\": 0}},"
                       " \"Mode\": {\"Replicated\": {\"Replicas\": 5}}}";
    CHECK_INT(swarm_service_update(c, "web", swarm_service_version(s), five, NULL), 0);
    swarm_service_free(s);
    WAIT_FOR(count_tasks(c, "web", "running", "running") == 5);

    CHECK_INT(swarm_service_get(c, "web", &s), 0);
    const char *one = "{\"Name\": \"web\", \"TaskTemplate\": {\"ContainerSpec\": {\"Image\": \"busybox\", \"Args\":"
                      " [\"serve\"]}, \"RestartPolicy\": {\"Condition\": \"any\", \"Delay\": 0}},"
                      " \"Mode\": {\"Replicated\": {\"Replicas\": 1}}}";
    CHECK_INT(swarm_service_update(c, "web", swarm_service_version(s), one, NULL), 0);
    swarm_service_free(s);
    /* Scaled-down tasks stop and are deleted. */
    WAIT_FOR(count_tasks(c, "web", NULL, NULL) == 1);
    CHECK_INT(count_tasks(c, "web", "running", "running"), 1);
    CHECK_INT(swarm_service_remove(c, "web"), 0);
    WAIT_FOR(count_tasks(c, "", NULL, NULL) == 0);
    swarm_cluster_close(c);
}

static void test_orchestration__restart_policy(void)
{
    swarm_cluster_t *c = manager();
    /* "exit 1 after 10 ms", restarted on failure at most twice. */
    create(c, "flaky", "[\"exit\", \"1\", \"10\"]", "{\"Replicated\": {\"Replicas\": 1}}",
           "{\"Condition\": \"on-failure\", \"Delay\": 0, \"MaxAttempts\": 2}");
    WAIT_FOR(count_tasks(c, "flaky", NULL, "failed") == 3);
    CHECK_INT(count_tasks(c, "flaky", "running", NULL), 0);
    /* A task that completes is not restarted under on-failure. */
    create(c, "once", "[\"exit\", \"0\", \"10\"]", "{\"Replicated\": {\"Replicas\": 1}}",
           "{\"Condition\": \"on-failure\", \"Delay\": 0}");
    WAIT_FOR(count_tasks(c, "once", NULL, "complete") == 1);
    CHECK_INT(count_tasks(c, "once", NULL, NULL), 1);
    /* Condition none: never. */
    create(c, "never", "[\"exit\", \"3\", \"10\"]", "{\"Replicated\": {\"Replicas\": 1}}",
           "{\"Condition\": \"none\"}");
    WAIT_FOR(count_tasks(c, "never", NULL, "failed") == 1);
    CHECK_INT(count_tasks(c, "never", NULL, NULL), 1);
    swarm_task_t **tasks;
    size_t n;
    CHECK_INT(swarm_task_list(c, "{\"service\": [\"never\"]}", &tasks, &n), 0);
    char *json = swarm_task_json(tasks[0]);
    CHECK_CONTAINS(json, "\"ExitCode\": 3");
    swarm_free(json);
    swarm_task_list_free(tasks, n);
    swarm_cluster_close(c);
}

static void test_orchestration__history_is_bounded(void)
{
    swarm_cluster_t *c = manager();
    /* Always fails, always restarted: the reaper keeps 5 dead tasks plus the live one. */
    create(c, "crashy", "[\"exit\", \"1\", \"5\"]", "{\"Replicated\": {\"Replicas\": 1}}", NULL);
    WAIT_FOR(count_tasks(c, "crashy", NULL, "failed") >= 5);
    long long deadline = test_now_ms() + 300;
    while (test_now_ms() < deadline) {
        CHECK(count_tasks(c, "crashy", NULL, NULL) <= 7);
        usleep(10000);
    }
    swarm_cluster_close(c);
}

static void test_orchestration__global_and_jobs(void)
{
    swarm_cluster_t *c = manager();
    create(c, "agent", "[\"serve\"]", "{\"Global\": {}}", NULL);
    WAIT_FOR(count_tasks(c, "agent", "running", "running") == 1);
    create(c, "batch", "[\"exit\", \"0\", \"5\"]",
           "{\"ReplicatedJob\": {\"MaxConcurrent\": 2, \"TotalCompletions\": 5}}", NULL);
    WAIT_FOR(count_tasks(c, "batch", NULL, "complete") == 5);
    CHECK_INT(count_tasks(c, "batch", NULL, NULL), 5);
    create(c, "once-per-node", "[\"exit\", \"0\", \"5\"]", "{\"GlobalJob\": {}}", NULL);
    WAIT_FOR(count_tasks(c, "once-per-node", NULL, "complete") == 1);
    swarm_cluster_close(c);
}

static void test_orchestration__unschedulable_task_stays_pending(void)
{
    swarm_cluster_t *c = manager();
    CHECK_INT(swarm_service_create(c, "{\"Name\": \"big\", \"TaskTemplate\": {\"ContainerSpec\": {\"Image\": \"x\"},"
                                      " \"Resources\": {\"Reservations\": {\"MemoryBytes\": 1125899906842624}}}}",
                                   NULL),
              0);
    WAIT_FOR(count_tasks(c, "big", "running", "pending") == 1);
    swarm_task_t **tasks;
    size_t n;
    /* The scheduler's reason arrives in Status.Err. */
    long long deadline = test_now_ms() + 20000;
    char *json = NULL;
    while (test_now_ms() < deadline) {
        CHECK_INT(swarm_task_list(c, "{\"service\": [\"big\"]}", &tasks, &n), 0);
        json = swarm_task_json(tasks[0]);
        swarm_task_list_free(tasks, n);
        if (strstr(json, "insufficient resources on 1 node"))
            break;
        swarm_free(json);
        json = NULL;
        usleep(5000);
    }
    CHECK_CONTAINS(json, "no suitable node (insufficient resources on 1 node)");
    swarm_free(json);
    swarm_cluster_close(c);
}

TEST_MAIN(TEST(test_orchestration__replicas_converge_and_scale), TEST(test_orchestration__restart_policy),
          TEST(test_orchestration__history_is_bounded), TEST(test_orchestration__global_and_jobs),
          TEST(test_orchestration__unschedulable_task_stays_pending))
