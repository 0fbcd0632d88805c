/* Orchestration decisions: replicated, global, jobs, restart policy, rolling replacement, reaping. */
#include "core/clock.h"
#include "core/json.h"
#include "manager/orchestrator/orchestrator.h"
#include "test.h"

#define NOW 1796061956000000000LL /* 2026-11-30T18:05:56Z */
#define SEC 1000000000LL

static json_t *service(const char *mode_json, const char *restart_json)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"ID\":\"svc1\",\"Version\":{\"Index\":10},\"Spec\":{\"Name\":\"web\",\"TaskTemplate\":"
             "{\"ContainerSpec\":{\"Image\":\"busybox\"},\"RestartPolicy\":%s},\"Mode\":%s,"
             "\"UpdateConfig\":{\"Parallelism\":1}}}",
             restart_json ? restart_json : "{\"Condition\":\"any\",\"Delay\":5000000000,\"MaxAttempts\":0}",
             mode_json ? mode_json : "{\"Replicated\":{\"Replicas\":3}}");
    json_t *s = json_loads(text, 0, NULL);
    CHECK(s != NULL);
    return s;
}

/* A task of svc1 created `age` seconds ago. */
static json_t *task(const char *id, int slot, const char *node, const char *desired, const char *state, int age,
                    const json_t *svc)
{
    char ts[SWARM__TIME_LEN];
    swarm__time_format(ts, NOW - (int64_t)age * SEC);
    json_t *t = json_pack("{s:s, s:{s:i}, s:s, s:s, s:i, s:s, s:s, s:{s:s}, s:o, s:{s:i}}", "ID", id, "Version",
                          "Index", 5, "CreatedAt", ts, "ServiceID", "svc1", "Slot", slot, "NodeID", node ? node : "",
                          "DesiredState", desired, "Status", "State", state, "Spec",
                          json_deep_copy(swarm__json_get(svc, "Spec.TaskTemplate")), "SpecVersion", "Index", 10);
    CHECK(t != NULL);
    return t;
}

static json_t *nodes3(void)
{
    return json_loads("[{\"ID\":\"n1\",\"Spec\":{\"Availability\":\"active\",\"Role\":\"manager\"},"
                      "\"Status\":{\"State\":\"ready\"}},"
                      "{\"ID\":\"n2\",\"Spec\":{\"Availability\":\"drain\",\"Role\":\"worker\"},"
                      "\"Status\":{\"State\":\"ready\"}},"
                      "{\"ID\":\"n3\",\"Spec\":{\"Availability\":\"active\",\"Role\":\"worker\"},"
                      "\"Status\":{\"State\":\"down\"}}]",
                      0, NULL);
}

static swarm__orch_plan plan_for(const json_t *svc, const json_t *tasks, const json_t *nodes)
{
    swarm__orch_input in = {svc, tasks, nodes, NOW, 5, swarm__clock_system(), NULL, NULL};
    swarm__orch_plan plan = {0};
    swarm__err e;
    CHECK_INT(swarm__orchestrate(&in, &plan, &e), 0);
    return plan;
}

static size_t count(const swarm__orch_plan *p, swarm__op op, const char *field, const char *value)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->actions[i].op != op)
            continue;
        const char *v = field ? swarm__json_str(p->actions[i].object, field) : NULL;
        if (field == NULL || (v && strcmp(v, value) == 0))
            n++;
    }
    return n;
}

static void test_replicated__creates_slots(void)
{
    json_t *svc = service(NULL, NULL), *tasks = json_array(), *nodes = nodes3();
    swarm__orch_plan p = plan_for(svc, tasks, nodes);
    CHECK_INT(p.n, 3);
    for (int i = 0; i < 3; i++) {
        const json_t *t = p.actions[i].object;
        CHECK_INT(p.actions[i].op, SWARM__OP_CREATE);
        CHECK_INT(swarm__json_int(t, "Slot", 0), i + 1);
        CHECK_STR(swarm__json_str(t, "DesiredState"), "running");
        CHECK_STR(swarm__json_str(t, "Status.State"), "pending");
        CHECK_STR(swarm__json_str(t, "ServiceID"), "svc1");
        CHECK_STR(swarm__json_str(t, "Spec.ContainerSpec.Image"), "busybox");
        CHECK_INT(strlen(swarm__json_str(t, "ID")), 25);
    }
    swarm__orch_plan_free(&p);
    json_decref(svc);
    json_decref(tasks);
    json_decref(nodes);
}

static void test_replicated__steady_state_does_nothing(void)
{
    json_t *svc = service(NULL, NULL), *nodes = nodes3();
    json_t *tasks = json_pack("[o,o,o]", task("a", 1, "n1", "running", "running", 60, svc),
                              task("b", 2, "n1", "running", "running", 60, svc),
                              task("c", 3, "n1", "running", "starting", 1, svc));
    swarm__orch_plan p = plan_for(svc, tasks, nodes);
    CHECK_INT(p.n, 0);
    CHECK_INT(p.wake_at_ns, 0);
    swarm__orch_plan_free(&p);
    json_decref(svc);
    json_decref(tasks);
    json_decref(nodes);
}

static void test_replicated__scale_down_removes_highest_slots(void)
{
    json_t *svc = service("{\"Replicated\":{\"Replicas\":1}}", NULL), *nodes = nodes3();
    json_t *tasks = json_pack("[o,o,o]", task("a", 1, "n1", "running", "running", 60, svc),
                              task("b", 2, "n1", "running", "running", 60, svc),
                              task("c", 3, "n1", "running", "running", 60, svc));
    swarm__orch_plan p = plan_for(svc, tasks, nodes);
    CHECK_INT(p.n, 2);
    CHECK_INT(count(&p, SWARM__OP_PATCH, "DesiredState", "remove"), 2);
    CHECK_INT(count(&p, SWARM__OP_PATCH, "ID", "a"), 0);
    swarm__orch_plan_free(&p);
    json_decref(svc);
    json_decref(tasks);
    json_decref(nodes);
}

static void test_restart__failed_task_is_replaced_after_the_delay(void)
{
    json_t *svc = service("{\"Replicated\":{\"Replicas\":1}}", NULL), *nodes = nodes3();
    json_t *tasks = json_pack("[o]", task("a", 1, "n1", "running", "failed", 60, svc));
    swarm__orch_plan p = plan_for(svc, tasks, nodes);
    CHECK_INT(count(&p, SWARM__OP_PATCH, "DesiredState", "shutdown"), 1);
    CHECK_INT(count(&p, SWARM__OP_CREATE, "DesiredState", "ready"), 1);
    swarm__orch_plan_free(&p);

    /* The replacement waits as "ready" until CreatedAt + Delay. */
    json_array_append_new(tasks, task("b", 1, "n1", "ready", "assigned", 2, svc));
    json_object_set_new(json_array_get(tasks, 0), "DesiredState", json_string("shutdown"));
    p = plan_for(svc, tasks, nodes);
    CHECK_INT(p.n, 0);
    CHECK_INT(p.wake_at_ns, NOW + 3 * SEC);
    swarm__orch_plan_free(&p);
    json_object_set_new(json_array_get(tasks, 1), "CreatedAt", json_string("2026-11-30T18:05:50Z"));
    p = plan_for(svc, tasks, nodes);
    CHECK_INT(count(&p, SWARM__OP_PATCH, "DesiredState", "running"), 1);
    swarm__orch_plan_free(&p);
    json_decref(svc);
    json_decref(tasks);
    json_decref(nodes);
}

static void test_restart__conditions(void)
{
    static const struct {
        const char *policy, *end;
        int restarts;
    } cases[] = {
        {"{\"Condition\":\"on-failure\",\"Delay\":0}", "complete", 0},
        {"{\"Condition\":\"on-failure\",\"Delay\":0}", "failed", 1},
        {"{\"Condition\":\"on-failure\",\"Delay\":0}", "rejected", 1},
        {"{\"Condition\":\"none\",\"Delay\":0}", "failed", 0},
        {"{\"Condition\":\"any\",\"Delay\":0}", "complete", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *svc = service("{\"Replicated\":{\"Replicas\":1}}", cases[i].policy), *nodes = nodes3();
        json_t *tasks = json_pack("[o]", task("a", 1, "n1", "shutdown", cases[i].end, 60, svc));
        swarm__orch_plan p = plan_for(svc, tasks, nodes);
        CHECK_INT(count(&p, SWARM__OP_CREATE, "DesiredState", "running"), cases[i].restarts);
        swarm__orch_plan_free(&p);
        json_decref(svc);
        json_decref(tasks);
        json_decref(nodes);
    }
}

static void test_restart__max_attempts(void)
{
    json_t *svc = service("{\"Replicated\":{\"Replicas\":1}}",
                          "{\"Condition\":\"on-failure\",\"Delay\":0,\"MaxAttempts\":2}"),
           *nodes = nodes3();
    json_t *tasks = json_pack("[o,o]", task("a", 1, "n1", "shutdown", "failed", 60, svc),
                              task("b", 1, "n1", "shutdown", "failed", 50, svc));
    swarm__orch_plan p = plan_for(svc, tasks, nodes);
    CHECK_INT(count(&p, SWARM__OP_CREATE, NULL, NULL), 1); /* second restart allowed */
    swarm__orch_plan_free(&p);
    json_array_append_new(tasks, task("c", 1, "n1", "shutdown", "failed", 40, svc));
    p = plan_for(svc, tasks, nodes);
    CHECK_INT(count(&p, SWARM__OP_CREATE, NULL, NULL), 0); /* two restarts used */
    swarm__orch_plan_free(&p);
    json_decref(svc);
    json_decref(tasks);
    json_decref(nodes);
}

static void test_reaper__keeps_history_limit(void)
{
    json_t *svc = service("{\"Replicated\":{\"Replicas\":1}}", NULL), *nodes = nodes3();
    json_t *tasks = json_array();
    json_array_append_new(tasks, task("live", 1, "n1", "running", "running", 1, svc));
    for (int i = 0; i < 8; i++) {
        char id[8];
        snprintf(id, sizeof id, "old%d", i);
        json_array_append_new(tasks, task(id, 1, "n1", "shutdown", "failed", 100 + i * 10, svc));
    }
    swarm__orch_plan p = plan_for(svc, tasks, nodes);
    CHECK_INT(count(&p, SWARM__OP_DELETE, NULL, NULL), 3);
    CHECK_INT(count(&p, SWARM__OP_DELETE, "ID", "old7"), 1); /* the oldest go */
    CHECK_INT(count(&p, SWARM__OP_DELETE, "ID", "old0"), 0);
    swarm__orch_plan_free(&p);
    json_decref(svc);
    json_decref(tasks);
    json_decref(nodes);
}

static void test_removed_service__stops_then_deletes(void)
{
    json_t *svc = service(NULL, NULL), *nodes = nodes3();
    json_t *tasks = json_pack("[o,o,o]", task("a", 1, "n1", "running", "running", 10, svc),
                              task("b", 2, NULL, "running", "pending", 10, svc),
                              task("c", 3, "n1", "remove", "shutdown", 10, svc));
    swarm__orch_input in = {NULL, tasks, nodes, NOW, 5, swarm__clock_system(), NULL, NULL};
    swarm__orch_plan p = {0};
    swarm__err e;
    CHECK_INT(swarm__orchestrate(&in, &p, &e), 0);
    CHECK_INT(count(&p, SWARM__OP_PATCH, "ID", "a"), 1);
    CHECK_INT(count(&p, SWARM__OP_PATCH, "DesiredState", "remove"), 2);
    CHECK_INT(count(&p, SWARM__OP_DELETE, "ID", "c"), 1);
    swarm__orch_plan_free(&p);
    json_decref(svc);
    json_decref(tasks);
    json_decref(nodes);
}

static void test_global__one_task_per_eligible_node(void)
{
    json_t *svc = service("{\"Global\":{}}", NULL), *nodes = nodes3();
    json_t *tasks = json_pack("[o]", task("d", 0, "n2", "running", "running", 10, svc));
    swarm__orch_plan p = plan_for(svc, tasks, nodes);
    CHECK_INT(count(&p, SWARM__OP_CREATE, "NodeID", "n1"), 1);  /* ready, active */
    CHECK_INT(count(&p, SWARM__OP_CREATE, "NodeID", "n3"), 0);  /* down */
    CHECK_INT(count(&p, SWARM__OP_PATCH, "DesiredState", "shutdown"), 1); /* drained n2 */
    swarm__orch_plan_free(&p);
    json_decref(svc);
    json_decref(tasks);
    json_decref(nodes);
}

static void test_jobs__run_to_completion(void)
{
    json_t *svc = service("{\"ReplicatedJob\":{\"MaxConcurrent\":2,\"TotalCompletions\":3}}",
                          "{\"Condition\":\"any\",\"Delay\":0}"),
           *nodes = nodes3();
    json_t *tasks = json_array();
    swarm__orch_plan p = plan_for(svc, tasks, nodes);
    CHECK_INT(count(&p, SWARM__OP_CREATE, NULL, NULL), 2);
    CHECK_INT(swarm__json_int(p.actions[0].object, "Slot", -1), 0);
    CHECK_INT(swarm__json_int(p.actions[1].object, "Slot", -1), 1);
    CHECK_INT(swarm__json_int(p.actions[0].object, "JobIteration.Index", -1), 10);
    swarm__orch_plan_free(&p);

    json_t *a = task("a", 0, "n1", "complete", "complete", 20, svc), *b = task("b", 1, "n1", "complete", "complete", 20, svc);
    swarm__json_set(a, "JobIteration.Index", json_integer(10));
    swarm__json_set(b, "JobIteration.Index", json_integer(10));
    json_array_append_new(tasks, a);
    json_array_append_new(tasks, b);
    p = plan_for(svc, tasks, nodes);
    CHECK_INT(count(&p, SWARM__OP_CREATE, "Slot", NULL), 0);
    CHECK_INT(count(&p, SWARM__OP_CREATE, NULL, NULL), 1); /* slot 2, the last completion */
    CHECK_INT(count(&p, SWARM__OP_DELETE, NULL, NULL), 0); /* completions are kept */
    swarm__orch_plan_free(&p);

    json_t *c = task("c", 2, "n1", "complete", "complete", 5, svc);
    swarm__json_set(c, "JobIteration.Index", json_integer(10));
    json_array_append_new(tasks, c);
    p = plan_for(svc, tasks, nodes);
    CHECK_INT(p.n, 0);
    swarm__orch_plan_free(&p);
    json_decref(svc);
    json_decref(tasks);
    json_decref(nodes);
}

static void test_update__rolls_parallelism_at_a_time(void)
{
    json_t *svc = service(NULL, NULL), *nodes = nodes3();
    json_t *tasks = json_array();
    for (int i = 1; i <= 3; i++) {
        char id[8];
        snprintf(id, sizeof id, "t%d", i);
        json_t *t = task(id, i, "n1", "running", "running", 60, svc);
        swarm__json_set(t, "Spec.ContainerSpec.Image", json_string("busybox:old"));
        swarm__json_set(t, "SpecVersion.Index", json_integer(3));
        json_array_append_new(tasks, t);
    }
    swarm__orch_plan p = plan_for(svc, tasks, nodes);
    CHECK_INT(count(&p, SWARM__OP_PATCH, "DesiredState", "shutdown"), 1);
    CHECK_INT(count(&p, SWARM__OP_CREATE, "Spec.ContainerSpec.Image", "busybox"), 1);
    swarm__orch_plan_free(&p);
    swarm__json_set(svc, "Spec.UpdateConfig.Parallelism", json_integer(0));
    p = plan_for(svc, tasks, nodes);
    CHECK_INT(count(&p, SWARM__OP_CREATE, NULL, NULL), 3);
    swarm__orch_plan_free(&p);
    json_decref(svc);
    json_decref(tasks);
    json_decref(nodes);
}

static void test_replicated__tasks_on_lost_or_drained_nodes_move_at_once(void)
{
    json_t *svc = service(NULL, NULL), *nodes = nodes3();
    /* n2 is drained, n3 is down, n9 was removed: all three tasks are replaced with no delay. */
    json_t *tasks = json_pack("[o,o,o]", task("a", 1, "n2", "running", "running", 60, svc),
                              task("b", 2, "n3", "running", "running", 60, svc),
                              task("c", 3, "n9", "running", "running", 60, svc));
    swarm__orch_plan p = plan_for(svc, tasks, nodes);
    CHECK_INT(count(&p, SWARM__OP_PATCH, "DesiredState", "shutdown"), 3);
    CHECK_INT(count(&p, SWARM__OP_CREATE, "DesiredState", "running"), 3);
    CHECK_INT(p.wake_at_ns, 0);
    swarm__orch_plan_free(&p);
    /* Next pass: replacements exist; the old tasks stay as history until their nodes report or go. */
    for (size_t i = 0; i < 3; i++)
        json_object_set_new(json_array_get(tasks, i), "DesiredState", json_string("shutdown"));
    json_array_append_new(tasks, task("a2", 1, NULL, "running", "pending", 0, svc));
    json_array_append_new(tasks, task("b2", 2, NULL, "running", "pending", 0, svc));
    json_array_append_new(tasks, task("c2", 3, NULL, "running", "pending", 0, svc));
    p = plan_for(svc, tasks, nodes);
    CHECK_INT(count(&p, SWARM__OP_CREATE, NULL, NULL), 0);
    swarm__orch_plan_free(&p);
    json_decref(svc);
    json_decref(tasks);
    json_decref(nodes);
}

TEST_MAIN(TEST(test_replicated__tasks_on_lost_or_drained_nodes_move_at_once), TEST(test_replicated__creates_slots), TEST(test_replicated__steady_state_does_nothing),
          TEST(test_replicated__scale_down_removes_highest_slots),
          TEST(test_restart__failed_task_is_replaced_after_the_delay), TEST(test_restart__conditions),
          TEST(test_restart__max_attempts), TEST(test_reaper__keeps_history_limit),
          TEST(test_removed_service__stops_then_deletes), TEST(test_global__one_task_per_eligible_node),
          TEST(test_jobs__run_to_completion), TEST(test_update__rolls_parallelism_at_a_time))
