/* swarmctl — "service ls": services with REPLICAS counted from their tasks. */
#include "cli.h"
#include "format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t running, desired, completed;
} service_status;

static int node_has_state(json *nodes, const char *id, const char *state, int negate)
{
    for (json *n = nodes ? nodes->child : NULL; n; n = n->next)
        if (strcmp(json_path_str(n, "ID"), id) == 0)
            return (strcmp(json_path_str(n, "Status.State"), state) == 0) != negate;
    return 0;
}

/* What swarmkit's ServiceStatus would say, computed from the task list. */
static service_status count_tasks(json *svc, json *tasks, json *nodes)
{
    service_status st = {0, 0, 0};
    const char *id = json_path_str(svc, "ID");
    json *mode = json_path(svc, "Spec.Mode");
    int global = json_get(mode, "Global") != NULL, rjob = json_get(mode, "ReplicatedJob") != NULL,
        gjob = json_get(mode, "GlobalJob") != NULL;
    json *iteration = json_path(svc, "JobStatus.JobIteration.Index");
    for (json *t = tasks ? tasks->child : NULL; t; t = t->next) {
        if (strcmp(json_path_str(t, "ServiceID"), id) != 0)
            continue;
        if ((rjob || gjob) && iteration && json_unum(json_path(t, "JobIteration.Index")) != json_unum(iteration))
            continue;
        const char *state = json_path_str(t, "Status.State"), *want = json_path_str(t, "DesiredState");
        const char *node = json_path_str(t, "NodeID");
        if (strcmp(state, "running") == 0 && node_has_state(nodes, node, "down", 1))
            st.running++;
        if (global && strcmp(want, "running") == 0 && node_has_state(nodes, node, "ready", 0))
            st.desired++;
        if (gjob && strcmp(want, "complete") == 0 && strcmp(state, "complete") != 0)
            st.desired++;
        if ((rjob || gjob) && strcmp(state, "complete") == 0)
            st.completed++;
    }
    if (json_get(mode, "Replicated"))
        st.desired = json_unum(json_path(mode, "Replicated.Replicas"));
    if (rjob)
        st.desired = json_unum(json_path(mode, "ReplicatedJob.MaxConcurrent"));
    return st;
}

static const char *mode_text(json *svc)
{
    json *mode = json_path(svc, "Spec.Mode");
    if (json_get(mode, "Global"))
        return "global";
    if (json_get(mode, "Replicated"))
        return "replicated";
    if (json_get(mode, "ReplicatedJob"))
        return "replicated job";
    if (json_get(mode, "GlobalJob"))
        return "global job";
    return "";
}

static char *replicas_text(json *svc, service_status st)
{
    strbuf b = {0};
    json *mode = json_path(svc, "Spec.Mode");
    uint64_t max = json_unum(json_path(svc, "Spec.TaskTemplate.Placement.MaxReplicas"));
    if (json_get(mode, "ReplicatedJob"))
        sb_addf(&b, "%" PRIu64 "/%" PRIu64 " (%" PRIu64 "/%" PRIu64 " completed)", st.running, st.desired, st.completed,
                json_unum(json_path(mode, "ReplicatedJob.TotalCompletions")));
    else if (json_get(mode, "GlobalJob"))
        sb_addf(&b, "%" PRIu64 "/%" PRIu64 " (%" PRIu64 "/%" PRIu64 " completed)", st.running, st.desired, st.completed,
                st.desired + st.completed);
    else if (json_get(mode, "Replicated") && max > 0)
        sb_addf(&b, "%" PRIu64 "/%" PRIu64 " (max %" PRIu64 " per node)", st.running, st.desired, max);
    else
        sb_addf(&b, "%" PRIu64 "/%" PRIu64, st.running, st.desired);
    return sb_take(&b);
}

typedef struct {
    uint32_t published, target;
    const char *protocol, *mode;
} port;

static int port_cmp(const void *pa, const void *pb)
{
    const port *a = pa, *b = pb;
    int c = strcmp(a->protocol, b->protocol);
    if (c)
        return c;
    return a->published < b->published ? -1 : a->published > b->published;
}

static void add_range(strbuf *b, uint32_t ps, uint32_t pe, uint32_t ts, uint32_t te, const char *proto)
{
    if (b->len)
        sb_add(b, ", ");
    sb_add(b, "*:");
    if (pe > ps)
        sb_addf(b, "%u-%u", ps, pe);
    else
        sb_addf(b, "%u", ps);
    sb_add(b, "->");
    if (te > ts)
        sb_addf(b, "%u-%u", ts, te);
    else
        sb_addf(b, "%u", ts);
    sb_addf(b, "/%s", proto);
}

/* Published ingress ports, consecutive ones grouped into ranges as docker does. */
static char *ports_text(json *svc)
{
    json *ports = json_path(svc, "Endpoint.Ports");
    size_t n = json_length(ports), i = 0;
    port *list = xcalloc(n, sizeof *list);
    for (json *p = ports ? ports->child : NULL; p; p = p->next, i++) {
        list[i].published = (uint32_t)json_unum(json_get(p, "PublishedPort"));
        list[i].target = (uint32_t)json_unum(json_get(p, "TargetPort"));
        list[i].protocol = json_path_str(p, "Protocol");
        list[i].mode = json_path_str(p, "PublishMode");
    }
    qsort(list, n, sizeof *list, port_cmp);
    strbuf b = {0};
    sb_add(&b, "");
    uint32_t ps = 0, pe = 0, ts = 0, te = 0;
    const char *proto = "";
    for (i = 0; i < n; i++) {
        port *p = &list[i];
        if (strcmp(p->mode, "ingress") != 0)
            continue;
        int is_range = te != ts, overlaps = p->target <= te;
        /* unsigned arithmetic, as docker's uint32 comparisons */
        if (strcmp(p->protocol, proto) != 0 || (uint32_t)(p->published - pe) > 1 || (uint32_t)(p->target - te) > 1 ||
            (is_range && overlaps)) {
            if (ps > 0)
                add_range(&b, ps, pe, ts, te, proto);
            ps = pe = p->published;
            ts = te = p->target;
            proto = p->protocol;
            continue;
        }
        pe = p->published;
        te = p->target;
    }
    if (ps > 0)
        add_range(&b, ps, pe, ts, te, proto);
    free(list);
    return sb_take(&b);
}

static int svc_cmp(const void *a, const void *b)
{
    return natural_compare(json_path_str(*(json *const *)a, "Spec.Name"), json_path_str(*(json *const *)b, "Spec.Name"));
}

int service_ls(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"service ls", "swarmctl service ls [OPTIONS]", "List services", "ls, list"};
    flag_def defs[] = {
        {.name = "filter", .shorthand = 'f', .type = FLAG_LIST, .usage = "Filter output based on conditions provided"},
        {.name = "format", .type = FLAG_STRING, .usage = "Format output using a custom template"},
        {.name = "quiet", .shorthand = 'q', .type = FLAG_BOOL, .usage = "Only display IDs"},
        {0},
    };
    strlist args = {0};
    int rc = flags_parse(&info, defs, argc, argv, 1, &args);
    if (rc == 0)
        rc = flags_check_args(&info, args.count, 0, 0);
    char *err = NULL;
    char *filters = rc == 0 ? filters_json(&defs[0].list, &err) : NULL;
    if (err) {
        fprintf(stderr, "%s\n", err);
        free(err);
        rc = 1;
    }
    json *services = NULL, *tasks = NULL, *nodes = NULL;
    int quiet = defs[2].b;
    if (rc == 0) {
        services = fetch_services(c, filters);
        if (services == NULL)
            rc = report_daemon_error();
    }
    if (rc == 0 && !quiet && services->child) {
        tasks = fetch_tasks(c, NULL);
        nodes = tasks ? fetch_nodes(c, NULL) : NULL;
        if (tasks == NULL || nodes == NULL)
            rc = report_daemon_error();
    }
    if (rc == 0) {
        size_t count = json_length(services), i = 0;
        json **list = xcalloc(count, sizeof *list);
        for (json *s = services->child; s; s = s->next)
            list[i++] = s;
        qsort(list, count, sizeof *list, svc_cmp);
        json **rows = xcalloc(count, sizeof *rows);
        for (i = 0; i < count; i++) {
            json *s = list[i], *o = rows[i] = json_new(JSON_OBJECT);
            char id[32];
            truncate_id(id, sizeof id, json_path_str(s, "ID"));
            json_set(o, "ID", json_string(id));
            char *image = display_image(json_path_str(s, "Spec.TaskTemplate.ContainerSpec.Image"));
            json_set(o, "Image", json_string(image));
            free(image);
            json_set(o, "Mode", json_string(mode_text(s)));
            json_set(o, "Name", json_string(json_path_str(s, "Spec.Name")));
            char *ports = ports_text(s);
            json_set(o, "Ports", json_string(ports));
            free(ports);
            char *replicas = replicas_text(s, count_tasks(s, tasks, nodes));
            json_set(o, "Replicas", json_string(replicas));
            free(replicas);
        }
        const char *format = defs[1].s && *defs[1].s ? defs[1].s : "table";
        if (strcmp(format, "table") == 0)
            format = quiet ? "{{.ID}}" : "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}";
        json *header = json_new(JSON_OBJECT);
        json_set(header, "ID", json_string("ID"));
        json_set(header, "Image", json_string("IMAGE"));
        json_set(header, "Mode", json_string("MODE"));
        json_set(header, "Name", json_string("NAME"));
        json_set(header, "Ports", json_string("PORTS"));
        json_set(header, "Replicas", json_string("REPLICAS"));
        rc = format_write(stdout, format, header, rows, count);
        json_free(header);
        for (i = 0; i < count; i++)
            json_free(rows[i]);
        free(rows);
        free(list);
    }
    json_free(services);
    json_free(tasks);
    json_free(nodes);
    free(filters);
    sl_free(&args);
    flags_reset(defs);
    return rc == 2 ? 0 : rc;
}
