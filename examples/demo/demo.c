/*
 * libswarm demo: open a node in a temporary state dir, make it the first
 * manager of a swarm, create a service from JSON, list services, close the
 * node, reopen it and show that the service survived. Uses only the public API.
 */
#include <swarm/swarm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check(int rc, const char *what)
{
    if (rc != 0)
        fprintf(stderr, "demo: %s failed: %s (%s)\n", what, swarm_error_last()->message, swarm_strerror(rc));
    return rc;
}

/* Waits (up to 20 s) until n tasks of the service run, then prints them like `service ps`. */
static int show_tasks(swarm_cluster_t *c, size_t n)
{
    for (int i = 0; i < 400; i++) {
        swarm_task_t **tasks;
        size_t count, running = 0;
        if (check(swarm_task_list(c, "{\"service\": [\"web\"], \"desired-state\": [\"running\"]}", &tasks, &count),
                  "task list"))
            return 1;
        for (size_t k = 0; k < count; k++)
            running += strcmp(swarm_task_state(tasks[k]), "running") == 0;
        if (running == n || i == 399) {
            printf("%-27s %-8s %-10s %s\n", "TASK", "SLOT", "DESIRED", "CURRENT");
            for (size_t k = 0; k < count; k++)
                printf("%-27s web.%-4llu %-10s %s\n", swarm_task_id(tasks[k]),
                       (unsigned long long)swarm_task_slot(tasks[k]), swarm_task_desired_state(tasks[k]),
                       swarm_task_state(tasks[k]));
            swarm_task_list_free(tasks, count);
            return running == n ? 0 : 1;
        }
        swarm_task_list_free(tasks, count);
        usleep(50000);
    }
    return 1;
}

static void list_services(swarm_cluster_t *c)
{
    swarm_service_t **list;
    size_t n;
    if (check(swarm_service_list(c, NULL, &list, &n), "service list"))
        return;
    printf("%-27s %-10s %-12s %-9s %s\n", "ID", "NAME", "MODE", "REPLICAS", "IMAGE");
    for (size_t i = 0; i < n; i++)
        printf("%-27s %-10s %-12s %-9llu %s\n", swarm_service_id(list[i]), swarm_service_name(list[i]),
               swarm_service_mode(list[i]), (unsigned long long)swarm_service_replicas(list[i]),
               swarm_service_image(list[i]));
    swarm_service_list_free(list, n);
}

int main(void)
{
    char dir[] = "/tmp/swarm-demo-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char options[256];
    snprintf(options, sizeof options, "{\"StateDir\": \"%s/node\", \"ListenAddr\": \"127.0.0.1:2377\"}", dir);
    printf("libswarm %s, state dir %s/node\n\n", swarm_version(), dir);

    int status = 1;
    swarm_cluster_t *c = NULL;
    swarm_service_t *svc = NULL;
    if (check(swarm_cluster_open(&c, options), "open"))
        goto out;
    if (check(swarm_cluster_init(c, NULL), "swarm init"))
        goto out;
    char *info = NULL;
    if (check(swarm_cluster_info(c, &info), "info"))
        goto out;
    printf("swarm initialized:\n%s\n\n", info);
    swarm_free(info);

    /* The process runtime runs the command as host processes; the image is recorded as given. */
    const char *spec = "{\"Name\": \"web\", \"Labels\": {\"tier\": \"front\"},"
                       " \"TaskTemplate\": {\"ContainerSpec\": {\"Image\": \"busybox\","
                       " \"Args\": [\"sleep\", \"600\"]}},"
                       " \"Mode\": {\"Replicated\": {\"Replicas\": 3}}}";
    if (check(swarm_service_create(c, spec, &svc), "service create"))
        goto out;
    printf("created service %s (version %llu)\n\n", swarm_service_id(svc),
           (unsigned long long)swarm_service_version(svc));
    list_services(c);
    printf("\n");
    if (show_tasks(c, 3))
        goto out;

    printf("\nclosing the node and opening it again...\n\n");
    swarm_cluster_close(c);
    c = NULL;
    if (check(swarm_cluster_open(&c, options), "reopen"))
        goto out;
    swarm_service_t *again = NULL;
    if (check(swarm_service_get(c, "web", &again), "service get"))
        goto out;
    list_services(c);
    printf("\nthe same tasks, re-adopted (their processes kept running):\n");
    if (show_tasks(c, 3))
        goto out;
    char *json = swarm_service_json(again);
    printf("\nservice inspect web:\n%s\n", json);
    swarm_free(json);
    status = strcmp(swarm_service_id(again), swarm_service_id(svc)) == 0 ? 0 : 1;
    printf("\n%s\n", status == 0 ? "the service survived the restart" : "the service did NOT survive the restart");
    swarm_service_free(again);
    /* Removing the service stops its processes. */
    if (check(swarm_service_remove(c, "web"), "service rm") == 0) {
        for (int i = 0; i < 400; i++) {
            swarm_task_t **tasks;
            size_t count;
            if (swarm_task_list(c, NULL, &tasks, &count) != 0)
                break;
            swarm_task_list_free(tasks, count);
            if (count == 0)
                break;
            usleep(50000);
        }
        printf("service removed; its tasks are gone\n");
    }
out:
    swarm_service_free(svc);
    swarm_cluster_close(c);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "demo: could not remove %s\n", dir);
    return status;
}
