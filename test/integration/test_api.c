/* The public API end to end on real nodes: arguments, errors, services, reopen, threads. */
#include "swarm/swarm.h"
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char options[512];

static swarm_cluster_t *open_node(const char *dir)
{
    snprintf(options, sizeof options,
             "{\"StateDir\": \"%s\", \"ListenAddr\": \"127.0.0.1:%d\", \"Runtime\": \"fake\"}", dir,
             test_free_port());
    swarm_cluster_t *c = NULL;
    CHECK_INT(swarm_cluster_open(&c, options), 0);
    return c;
}

static swarm_cluster_t *open_manager(void)
{
    swarm_cluster_t *c = open_node(test_tmpdir());
    CHECK_INT(swarm_cluster_init(c, NULL), 0);
    return c;
}

static size_t count_services(swarm_cluster_t *c, const char *filters)
{
    swarm_service_t **list;
    size_t n;
    CHECK_INT(swarm_service_list(c, filters, &list, &n), 0);
    swarm_service_list_free(list, n);
    return n;
}

#define WEB "{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"nginx\"}}}"

static void test_open__bad_arguments(void)
{
    swarm_cluster_t *c = (swarm_cluster_t *)1;
    CHECK_INT(swarm_cluster_open(NULL, "{}"), SWARM_EINVALID);
    CHECK_CONTAINS(swarm_error_last()->message, "out");
    CHECK_INT(swarm_cluster_open(&c, "{\"StateDir\": "), SWARM_EINVALID);
    CHECK(c == NULL);
    CHECK_CONTAINS(swarm_error_last()->message, "invalid JSON in options");
    CHECK_INT(swarm_cluster_open(&c, "[1,2]"), SWARM_EINVALID);
    CHECK_INT(swarm_cluster_open(&c, "{\"StateDir\": \"/tmp/x\", \"Bogus\": 1}"), SWARM_EINVALID);
    CHECK_CONTAINS(swarm_error_last()->message, "unknown key \"Bogus\"");
    CHECK_INT(swarm_cluster_open(&c, "{\"StateDir\": 5}"), SWARM_EINVALID);
    CHECK_CONTAINS(swarm_error_last()->message, "StateDir");
    CHECK_INT(swarm_cluster_open(&c, "{}"), SWARM_EINVALID);
    CHECK_CONTAINS(swarm_error_last()->message, "StateDir");
    CHECK_INT(swarm_cluster_open(&c, NULL), SWARM_EINVALID);
    CHECK_INT(swarm_cluster_open(&c, "{\"Store\": \"nosuch\", \"StateDir\": \"/tmp/swarm-test-nosuch\"}"), SWARM_EINVALID);
    CHECK_CONTAINS(swarm_error_last()->message, "nosuch");
    CHECK(access("/tmp/swarm-test-nosuch", F_OK) != 0); /* nothing created */
    CHECK_INT(swarm_cluster_open(&c, "{\"StateDir\": \"/proc/self/nope\"}"), SWARM_EIO);
    CHECK(c == NULL);
}

static void test_open__same_dir_twice_is_busy(void)
{
    const char *dir = test_tmpdir();
    swarm_cluster_t *a = open_node(dir), *b = NULL;
    CHECK_INT(swarm_cluster_open(&b, options), SWARM_EBUSY);
    CHECK(b == NULL);
    swarm_cluster_close(a);
    b = open_node(dir);
    swarm_cluster_close(b);
}

static void test_open__memory_store(void)
{
    swarm_cluster_t *c = NULL;
    char opts[256];
    snprintf(opts, sizeof opts,
             "{\"Store\": \"memory\", \"Hostname\": \"mem1\", \"Runtime\": \"fake\", \"ListenAddr\": \"127.0.0.1:%d\"}",
             test_free_port());
    CHECK_INT(swarm_cluster_open(&c, opts), 0);
    CHECK_INT(swarm_cluster_init(c, NULL), 0);
    CHECK_INT(swarm_service_create(c, WEB, NULL), 0);
    CHECK_INT(count_services(c, NULL), 1);
    swarm_node_t *n;
    CHECK_INT(swarm_node_get(c, "self", &n), 0);
    CHECK_STR(swarm_node_hostname(n), "mem1");
    swarm_node_free(n);
    swarm_cluster_close(c);
}

static void test_swarm__not_a_manager_before_init(void)
{
    swarm_cluster_t *c = open_node(test_tmpdir());
    swarm_service_t *s = (swarm_service_t *)1;
    CHECK_INT(swarm_service_create(c, WEB, &s), SWARM_EUNAVAILABLE);
    CHECK(s == NULL);
    CHECK_CONTAINS(swarm_error_last()->message, "This node is not a swarm manager.");
    char *json;
    CHECK_INT(swarm_cluster_inspect(c, &json), SWARM_EUNAVAILABLE);
    CHECK_INT(swarm_cluster_info(c, &json), 0);
    CHECK_CONTAINS(json, "\"LocalNodeState\": \"inactive\"");
    swarm_free(json);
    swarm_cluster_close(c);
}

static void test_swarm__init_once(void)
{
    swarm_cluster_t *c = open_node(test_tmpdir());
    CHECK_INT(swarm_cluster_init(c, "{\"Bogus\": true}"), SWARM_EINVALID);
    CHECK_CONTAINS(swarm_error_last()->message, "Bogus");
    CHECK_INT(swarm_cluster_init(c, "not json"), SWARM_EINVALID);
    CHECK_INT(swarm_cluster_init(c, "{\"Availability\": \"sideways\"}"), SWARM_EINVALID);
    CHECK_CONTAINS(swarm_error_last()->message, "Availability");
    CHECK_INT(swarm_cluster_init(c, "{\"AdvertiseAddr\": \"127.0.0.1\", \"Spec\": "
                                    "{\"Orchestration\": {\"TaskHistoryRetentionLimit\": 7}}}"),
              0);
    CHECK_INT(swarm_cluster_init(c, NULL), SWARM_EUNAVAILABLE);
    CHECK_CONTAINS(swarm_error_last()->message, "already part of a swarm");
    char *json;
    CHECK_INT(swarm_cluster_inspect(c, &json), 0);
    CHECK_CONTAINS(json, "\"TaskHistoryRetentionLimit\": 7");
    CHECK_CONTAINS(json, "\"Name\": \"default\"");
    swarm_free(json);
    CHECK_INT(swarm_cluster_info(c, &json), 0);
    CHECK_CONTAINS(json, "\"LocalNodeState\": \"active\"");
    CHECK_CONTAINS(json, "\"ControlAvailable\": true");
    swarm_free(json);
    swarm_node_t **nodes;
    size_t n;
    CHECK_INT(swarm_node_list(c, NULL, &nodes, &n), 0);
    CHECK_INT(n, 1);
    CHECK_STR(swarm_node_role(nodes[0]), "manager");
    CHECK_STR(swarm_node_state(nodes[0]), "ready");
    CHECK_STR(swarm_node_availability(nodes[0]), "active");
    CHECK(swarm_node_is_leader(nodes[0]));
    json = swarm_node_json(nodes[0]);
    CHECK_CONTAINS(json, "\"Addr\": \"127.0.0.1:"); /* the listen port */
    swarm_free(json);
    swarm_node_list_free(nodes, n);
    swarm_cluster_close(c);
}

static void test_service__create_get_list(void)
{
    swarm_cluster_t *c = open_manager();
    swarm_service_t *s;
    CHECK_INT(swarm_service_create(c, WEB, &s), 0);
    CHECK_INT(strlen(swarm_service_id(s)), 25);
    CHECK_STR(swarm_service_name(s), "web");
    CHECK_STR(swarm_service_image(s), "nginx");
    CHECK_STR(swarm_service_mode(s), "replicated");
    CHECK_INT(swarm_service_replicas(s), 1);
    CHECK(swarm_service_version(s) > 0);
    CHECK_STR(swarm_service_created_at(s), swarm_service_updated_at(s));
    char *json = swarm_service_json(s);
    CHECK_CONTAINS(json, "\"Condition\": \"any\"");
    CHECK_CONTAINS(json, "\"StopGracePeriod\": 10000000000");
    swarm_free(json);

    swarm_service_t *g;
    CHECK_INT(swarm_service_get(c, "web", &g), 0);
    CHECK_STR(swarm_service_id(g), swarm_service_id(s));
    swarm_service_free(g);
    CHECK_INT(swarm_service_get(c, swarm_service_id(s), &g), 0);
    swarm_service_free(g);
    char prefix[8];
    snprintf(prefix, sizeof prefix, "%.6s", swarm_service_id(s));
    CHECK_INT(swarm_service_get(c, prefix, &g), 0);
    swarm_service_free(g);
    CHECK_INT(swarm_service_get(c, "nosuch", &g), SWARM_ENOTFOUND);
    CHECK_STR(swarm_error_last()->message, "service nosuch not found");
    CHECK_INT(swarm_service_get(c, "", &g), SWARM_EINVALID);
    CHECK_INT(swarm_service_get(c, NULL, &g), SWARM_EINVALID);
    CHECK_INT(swarm_service_get(NULL, "web", &g), SWARM_EINVALID);
    CHECK_INT(swarm_service_get(c, "web", NULL), SWARM_EINVALID);

    CHECK_INT(swarm_service_create(c, "{\"Name\":\"api\",\"Labels\":{\"tier\":\"back\"},\"TaskTemplate\":"
                                      "{\"ContainerSpec\":{\"Image\":\"redis\"}},\"Mode\":{\"Global\":{}}}",
                                   NULL),
              0);
    CHECK_INT(count_services(c, NULL), 2);
    swarm_service_t **list;
    size_t n;
    CHECK_INT(swarm_service_list(c, NULL, &list, &n), 0);
    CHECK_STR(swarm_service_name(list[0]), "api"); /* sorted by name */
    CHECK_STR(swarm_service_mode(list[0]), "global");
    CHECK_INT(swarm_service_replicas(list[0]), 0);
    swarm_service_list_free(list, n);
    CHECK_INT(count_services(c, "{\"name\":{\"we\":true}}"), 1);
    CHECK_INT(count_services(c, "{\"mode\":[\"global\"]}"), 1);
    CHECK_INT(count_services(c, "{\"label\":[\"tier=back\"]}"), 1);
    CHECK_INT(count_services(c, "{\"label\":[\"tier\"],\"mode\":[\"replicated\"]}"), 0);
    CHECK_INT(swarm_service_list(c, "{\"bogus\":[\"x\"]}", &list, &n), SWARM_EINVALID);
    CHECK_STR(swarm_error_last()->message, "Invalid filter 'bogus'");
    CHECK_INT(swarm_service_list(c, "{bad", &list, &n), SWARM_EINVALID);
    swarm_service_free(s);
    swarm_cluster_close(c);
}

static void test_service__bad_specs_write_nothing(void)
{
    swarm_cluster_t *c = open_manager();
    static const struct {
        const char *spec;
        const char *msg;
    } bad[] = {
        {"{\"Name\":\"web\"}", "TaskTemplate.ContainerSpec.Image"},
        {"{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"nginx\"}},"
         "\"Mode\":{\"Replicated\":{\"Replicas\":-1}}}",
         "Mode.Replicated.Replicas"},
        {"{\"Name\":\"bad name!\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"nginx\"}}}", "Name"},
        {"{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"nginx\"},"
         "\"RestartPolicy\":{\"Delay\":\"abc\"}}}",
         "TaskTemplate.RestartPolicy.Delay"},
        {"{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"nginx\"}},\"Mode\":{\"Sideways\":{}}}",
         "Mode"},
        {"[]", "spec"},
        {"{\"Name\":", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        swarm_service_t *s = (swarm_service_t *)1;
        CHECK_INT(swarm_service_create(c, bad[i].spec, &s), SWARM_EINVALID);
        CHECK(s == NULL);
        CHECK_CONTAINS(swarm_error_last()->message, bad[i].msg);
    }
    CHECK_INT(swarm_service_create(c, NULL, NULL), SWARM_EINVALID);
    CHECK_INT(count_services(c, NULL), 0);
    CHECK_INT(swarm_service_create(c, WEB, NULL), 0);
    CHECK_INT(swarm_service_create(c, WEB, NULL), SWARM_EEXISTS);
    CHECK_CONTAINS(swarm_error_last()->message, "web");
    CHECK_INT(count_services(c, NULL), 1);
    swarm_cluster_close(c);
}

static void test_service__update_and_remove(void)
{
    swarm_cluster_t *c = open_manager();
    swarm_service_t *s, *u;
    CHECK_INT(swarm_service_create(c, WEB, &s), 0);
    uint64_t v1 = swarm_service_version(s);
    const char *scaled = "{\"Name\":\"web\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"nginx:2\"}},"
                         "\"Mode\":{\"Replicated\":{\"Replicas\":5}}}";
    CHECK_INT(swarm_service_update(c, "web", v1 + 100, scaled, &u), SWARM_ECONFLICT);
    CHECK_CONTAINS(swarm_error_last()->message, "out of sequence");
    CHECK_INT(swarm_service_update(c, "web", 0, scaled, &u), SWARM_EINVALID);
    CHECK_INT(swarm_service_update(c, "web", v1, "{\"Name\":\"other\",\"TaskTemplate\":{\"ContainerSpec\":"
                                                 "{\"Image\":\"x\"}}}",
                                   &u),
              SWARM_EINVALID);
    CHECK_CONTAINS(swarm_error_last()->message, "renaming");
    CHECK_INT(swarm_service_update(c, "web", v1, "{\"Name\":\"web\"}", &u), SWARM_EINVALID);
    CHECK_INT(swarm_service_update(c, "nosuch", v1, scaled, &u), SWARM_ENOTFOUND);
    CHECK_INT(swarm_service_update(c, "web", v1, scaled, &u), 0);
    CHECK(swarm_service_version(u) > v1);
    CHECK_INT(swarm_service_replicas(u), 5);
    CHECK_STR(swarm_service_image(u), "nginx:2");
    CHECK_STR(swarm_service_created_at(u), swarm_service_created_at(s));
    char *json = swarm_service_json(u);
    CHECK_CONTAINS(json, "\"PreviousSpec\"");
    swarm_free(json);
    /* The old version is stale now. */
    CHECK_INT(swarm_service_update(c, "web", v1, scaled, NULL), SWARM_ECONFLICT);
    swarm_service_free(u);
    CHECK_INT(swarm_service_remove(c, "web"), 0);
    CHECK_INT(swarm_service_remove(c, "web"), SWARM_ENOTFOUND);
    CHECK_STR(swarm_error_last()->message, "service web not found");
    CHECK_INT(count_services(c, NULL), 0);
    /* The name is free again. */
    CHECK_INT(swarm_service_create(c, WEB, NULL), 0);
    swarm_service_free(s);
    swarm_cluster_close(c);
}

static void test_service__survives_reopen(void)
{
    const char *dir = test_tmpdir();
    swarm_cluster_t *c = open_node(dir);
    CHECK_INT(swarm_cluster_init(c, NULL), 0);
    swarm_service_t *s;
    CHECK_INT(swarm_service_create(c, WEB, &s), 0);
    char *before = swarm_service_json(s);
    swarm_cluster_close(c);
    c = open_node(dir);
    swarm_service_t *g;
    CHECK_INT(swarm_service_get(c, "web", &g), 0);
    char *after = swarm_service_json(g);
    CHECK_STR(after, before);
    CHECK_INT(swarm_cluster_init(c, NULL), SWARM_EUNAVAILABLE);
    swarm_free(before);
    swarm_free(after);
    swarm_service_free(s);
    swarm_service_free(g);
    swarm_cluster_close(c);
}

typedef struct worker {
    swarm_cluster_t *c;
    int id;
    int ok;
} worker;

static void *create_many(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 25; i++) {
        char spec[256];
        snprintf(spec, sizeof spec,
                 "{\"Name\":\"svc-%d-%d\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"busybox\"}}}", w->id, i);
        if (swarm_service_create(w->c, spec, NULL) == 0)
            w->ok++;
        /* Everyone also races for one shared name; exactly one wins. */
        if (i == 0 && swarm_service_create(w->c, WEB, NULL) == 0)
            w->ok += 1000;
    }
    return NULL;
}

static void test_service__concurrent_callers(void)
{
    swarm_cluster_t *c = open_manager();
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){c, i, 0};
        pthread_create(&th[i], NULL, create_many, &w[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += w[i].ok;
    }
    CHECK_INT(total, 1000 + 100);
    CHECK_INT(count_services(c, NULL), 101);
    swarm_cluster_close(c);
}

static void test_api__getters_and_frees_accept_null(void)
{
    CHECK_STR(swarm_service_id(NULL), "");
    CHECK_INT(swarm_service_version(NULL), 0);
    CHECK(swarm_service_json(NULL) == NULL);
    CHECK_STR(swarm_node_role(NULL), "");
    CHECK_STR(swarm_task_state(NULL), "");
    swarm_service_free(NULL);
    swarm_node_free(NULL);
    swarm_task_free(NULL);
    swarm_service_list_free(NULL, 0);
    swarm_free(NULL);
    swarm_cluster_close(NULL);
    CHECK_INT(swarm_cluster_set_call_timeout(NULL, 5), SWARM_EINVALID);
    CHECK_STR(swarm_version(), "0.1.0");
}

static void test_api__timeout_setting(void)
{
    swarm_cluster_t *c = open_manager();
    CHECK_INT(swarm_cluster_set_call_timeout(c, 0), SWARM_EINVALID);
    CHECK_INT(swarm_cluster_set_call_timeout(c, 60000), 0);
    swarm_task_t **tasks;
    size_t n;
    CHECK_INT(swarm_task_list(c, "{\"desired-state\":[\"running\"]}", &tasks, &n), 0);
    CHECK_INT(n, 0);
    swarm_task_list_free(tasks, n);
    swarm_task_t *t;
    CHECK_INT(swarm_task_get(c, "nosuch", &t), SWARM_ENOTFOUND);
    CHECK_STR(swarm_error_last()->message, "task nosuch not found");
    swarm_cluster_close(c);
}

TEST_MAIN(TEST(test_open__bad_arguments), TEST(test_open__same_dir_twice_is_busy), TEST(test_open__memory_store),
          TEST(test_swarm__not_a_manager_before_init), TEST(test_swarm__init_once),
          TEST(test_service__create_get_list), TEST(test_service__bad_specs_write_nothing),
          TEST(test_service__update_and_remove), TEST(test_service__survives_reopen),
          TEST(test_service__concurrent_callers), TEST(test_api__getters_and_frees_accept_null),
          TEST(test_api__timeout_setting))
