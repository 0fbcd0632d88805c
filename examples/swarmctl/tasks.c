/* swarmctl — the task table shared by "service ps" and "node ps". */
#include "cli.h"
#include "format.h"
#include "humanize.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    json *task;
    char *name;
    int64_t created;
    size_t index;
} task_row;

static int row_cmp(const void *pa, const void *pb)
{
    const task_row *a = pa, *b = pb;
    int cmp = natural_compare(a->name, b->name);
    if (cmp)
        return cmp;
    if (a->created != b->created)
        return a->created > b->created ? -1 : 1; /* newest first */
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Name shown for a node: Spec.Name, else hostname, else the ID (docker's idresolver). */
static const char *node_display(json *nodes, const char *id)
{
    for (json *n = nodes ? nodes->child : NULL; n; n = n->next) {
        if (strcmp(json_path_str(n, "ID"), id) != 0)
            continue;
        if (*json_path_str(n, "Spec.Name"))
            return json_path_str(n, "Spec.Name");
        if (*json_path_str(n, "Description.Hostname"))
            return json_path_str(n, "Description.Hostname");
        break;
    }
    return id;
}

static const char *service_display(swarm_cluster_t *c, json *cache, const char *id)
{
    json *hit = json_get(cache, id);
    if (hit == NULL) {
        json *svc = fetch_service(c, id);
        const char *name = json_path_str(svc, "Spec.Name");
        hit = json_set(cache, id, json_string(name[0] ? name : id));
        json_free(svc);
    }
    return hit->text;
}

static char *task_ports(json *task)
{
    strbuf b = {0};
    sb_add(&b, "");
    json *ports = json_path(task, "Status.PortStatus.Ports");
    for (json *p = ports ? ports->child : NULL; p; p = p->next) {
        if (b.len)
            sb_addc(&b, ',');
        sb_addf(&b, "*:%" PRIu64 "->%" PRIu64 "/%s", json_unum(json_get(p, "PublishedPort")),
                json_unum(json_get(p, "TargetPort")), json_path_str(p, "Protocol"));
    }
    return sb_take(&b);
}

int print_tasks(swarm_cluster_t *c, json *tasks, int no_trunc, int quiet, const char *format)
{
    if (format == NULL || *format == '\0')
        format = quiet ? "{{.ID}}" : "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}";
    else if (strcmp(format, "table") == 0)
        format = quiet ? "{{.ID}}" : "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}";
    if (quiet)
        no_trunc = 1;
    int trunc = !no_trunc;
    size_t count = json_length(tasks);
    task_row *rows = xcalloc(count, sizeof *rows);
    json *cache = json_new(JSON_OBJECT);
    json *nodes = count ? fetch_nodes(c, NULL) : NULL;
    size_t i = 0;
    for (json *t = tasks->child; t; t = t->next, i++) {
        strbuf name = {0};
        const char *svc = service_display(c, cache, json_path_str(t, "ServiceID"));
        uint64_t slot = json_unum(json_get(t, "Slot"));
        if (slot)
            sb_addf(&name, "%s.%" PRIu64, svc, slot);
        else
            sb_addf(&name, "%s.%s", svc, json_path_str(t, "NodeID"));
        rows[i].task = t;
        rows[i].name = sb_take(&name);
        rows[i].index = i;
        if (parse_rfc3339(&rows[i].created, json_path_str(t, "CreatedAt")) != 0)
            rows[i].created = 0;
    }
    qsort(rows, count, sizeof *rows, row_cmp);

    int table = format_is_table(format);
    json **objs = xcalloc(count, sizeof *objs);
    const char *prev = "";
    for (i = 0; i < count; i++) {
        json *t = rows[i].task;
        json *o = objs[i] = json_new(JSON_OBJECT);
        char buf[256];
        /* keys in sorted order: {{json .}} prints them that way */
        task_current_state(buf, sizeof buf, json_path_str(t, "Status.State"), json_path_str(t, "Status.Timestamp"));
        json_set(o, "CurrentState", json_string(buf));
        capitalize_first(buf, sizeof buf, json_path_str(t, "DesiredState"));
        json_set(o, "DesiredState", json_string(buf));
        const char *err = json_path_str(t, "Status.Err");
        char *cut = trunc ? ellipsis(err, 30) : xstrdup(err);
        strbuf eb = {0};
        sb_add(&eb, "");
        if (*cut)
            sb_addf(&eb, "\"%s\"", cut);
        free(cut);
        char *quoted = sb_take(&eb);
        json_set(o, "Error", json_string(quoted));
        free(quoted);
        if (trunc)
            truncate_id(buf, sizeof buf, json_path_str(t, "ID"));
        else
            snprintf(buf, sizeof buf, "%s", json_path_str(t, "ID"));
        json_set(o, "ID", json_string(buf));
        const char *image = json_path_str(t, "Spec.ContainerSpec.Image");
        char *shown = trunc ? display_image(image) : xstrdup(image);
        json_set(o, "Image", json_string(shown));
        free(shown);
        if (table && strcmp(rows[i].name, prev) == 0) {
            strbuf nb = {0};
            sb_addf(&nb, " \\_ %s", rows[i].name);
            char *indented = sb_take(&nb);
            json_set(o, "Name", json_string(indented));
            free(indented);
        } else {
            json_set(o, "Name", json_string(rows[i].name));
        }
        prev = rows[i].name;
        const char *node_id = json_path_str(t, "NodeID");
        json_set(o, "Node", json_string(node_id[0] ? node_display(nodes, node_id) : ""));
        char *ports = task_ports(t);
        json_set(o, "Ports", json_string(ports));
        free(ports);
    }
    json *header = json_new(JSON_OBJECT);
    json_set(header, "CurrentState", json_string("CURRENT STATE"));
    json_set(header, "DesiredState", json_string("DESIRED STATE"));
    json_set(header, "Error", json_string("ERROR"));
    json_set(header, "ID", json_string("ID"));
    json_set(header, "Image", json_string("IMAGE"));
    json_set(header, "Name", json_string("NAME"));
    json_set(header, "Node", json_string("NODE"));
    json_set(header, "Ports", json_string("PORTS"));
    int rc = format_write(stdout, format, header, objs, count);
    json_free(header);
    for (i = 0; i < count; i++) {
        json_free(objs[i]);
        free(rows[i].name);
    }
    free(objs);
    free(rows);
    json_free(cache);
    json_free(nodes);
    return rc;
}
