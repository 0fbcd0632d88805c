/* swarmctl — "node ls", "node inspect", "node ps", "node update", "node rm", "node promote", "node demote". */
#include "cli.h"
#include "format.h"
#include "humanize.h"
#include "inspect.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void group_help(void)
{
    printf("\nUsage:  swarmctl node COMMAND\n\nManage Swarm nodes\n\nCommands:\n"
           "  demote      Demote one or more nodes from manager in the swarm\n"
           "  inspect     Display detailed information on one or more nodes\n"
           "  ls          List nodes in the swarm\n"
           "  promote     Promote one or more nodes to manager in the swarm\n"
           "  ps          List tasks running on one or more nodes, defaults to current node\n"
           "  rm          Remove one or more nodes from the swarm\n"
           "  update      Update a node\n\n"
           "Run 'swarmctl node COMMAND --help' for more information on a command.\n");
}

static int no_args_error(const command_info *info)
{
    fprintf(stderr, "\"swarmctl %s\" accepts no arguments.\nSee 'swarmctl %s --help'.\n\nUsage:  %s\n\n%s\n",
            info->path, info->path, info->use, info->short_help);
    return 1;
}

static int min_args_error(const command_info *info, int n)
{
    fprintf(stderr, "\"swarmctl %s\" requires at least %d argument%s.\nSee 'swarmctl %s --help'.\n\nUsage:  %s\n\n%s\n",
            info->path, n, n == 1 ? "" : "s", info->path, info->use, info->short_help);
    return 1;
}

static int node_cmp(const void *a, const void *b)
{
    return natural_compare(json_path_str(*(json *const *)a, "Description.Hostname"),
                           json_path_str(*(json *const *)b, "Description.Hostname"));
}

static int node_ls(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"node ls", "swarmctl node ls [OPTIONS]", "List nodes in the swarm", "ls, list"};
    flag_def defs[] = {
        {.name = "filter", .shorthand = 'f', .type = FLAG_LIST, .usage = "Filter output based on conditions provided"},
        {.name = "format", .type = FLAG_STRING, .usage = "Format output using a custom template"},
        {.name = "quiet", .shorthand = 'q', .type = FLAG_BOOL, .usage = "Only display IDs"},
        {0},
    };
    strlist args = {0};
    int rc = flags_parse(&info, defs, argc, argv, 1, &args);
    if (rc == 0 && args.count)
        rc = no_args_error(&info);
    char *err = NULL;
    char *filters = rc == 0 ? filters_json(&defs[0].list, &err) : NULL;
    if (err) {
        fprintf(stderr, "%s\n", err);
        free(err);
        rc = 1;
    }
    json *nodes = NULL, *inf = NULL;
    if (rc == 0) {
        nodes = fetch_nodes(c, filters);
        if (nodes == NULL)
            rc = report_daemon_error();
    }
    int quiet = defs[2].b;
    if (rc == 0 && nodes->child && !quiet) {
        inf = fetch_info(c);
        if (inf == NULL)
            rc = report_daemon_error();
    }
    if (rc == 0) {
        size_t count = json_length(nodes), i = 0;
        json **list = xcalloc(count, sizeof *list);
        for (json *n = nodes->child; n; n = n->next)
            list[i++] = n;
        qsort(list, count, sizeof *list, node_cmp);
        const char *self = json_path_str(inf, "NodeID");
        json **rows = xcalloc(count, sizeof *rows);
        for (i = 0; i < count; i++) {
            json *n = list[i], *o = rows[i] = json_new(JSON_OBJECT);
            char buf[256];
            capitalize_first(buf, sizeof buf, json_path_str(n, "Spec.Availability"));
            json_set(o, "Availability", json_string(buf));
            json_set(o, "EngineVersion", json_string(json_path_str(n, "Description.Engine.EngineVersion")));
            json_set(o, "Hostname", json_string(json_path_str(n, "Description.Hostname")));
            json_set(o, "ID", json_string(json_path_str(n, "ID")));
            json *ms = json_get(n, "ManagerStatus");
            const char *reach = "";
            if (ms && ms->type == JSON_OBJECT)
                reach = json_truthy(json_get(ms, "Leader")) ? "Leader" : json_path_str(ms, "Reachability");
            capitalize_first(buf, sizeof buf, reach);
            json_set(o, "ManagerStatus", json_string(buf));
            json_set(o, "Self", json_bool(strcmp(json_path_str(n, "ID"), self) == 0));
            capitalize_first(buf, sizeof buf, json_path_str(n, "Status.State"));
            json_set(o, "Status", json_string(buf));
            json_set(o, "TLSStatus", json_string("Unknown"));
        }
        const char *format = defs[1].s && *defs[1].s ? defs[1].s : "table";
        if (strcmp(format, "table") == 0)
            format = quiet ? "{{.ID}}"
                           : "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t"
                             "{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}";
        json *header = json_new(JSON_OBJECT);
        json_set(header, "Availability", json_string("AVAILABILITY"));
        json_set(header, "EngineVersion", json_string("ENGINE VERSION"));
        json_set(header, "Hostname", json_string("HOSTNAME"));
        json_set(header, "ID", json_string("ID"));
        json_set(header, "ManagerStatus", json_string("MANAGER STATUS"));
        json_set(header, "Self", json_string(""));
        json_set(header, "Status", json_string("STATUS"));
        json_set(header, "TLSStatus", json_string("TLS STATUS"));
        rc = format_write(stdout, format, header, rows, count);
        json_free(header);
        for (i = 0; i < count; i++)
            json_free(rows[i]);
        free(rows);
        free(list);
    }
    json_free(nodes);
    json_free(inf);
    free(filters);
    sl_free(&args);
    flags_reset(defs);
    return rc == 2 ? 0 : rc;
}

static void print_labels(const char *title, json *labels)
{
    if (labels == NULL || labels->child == NULL)
        return;
    printf("%s:\n", title);
    for (json *l = labels->child; l; l = l->next) {
        if (*json_str(l))
            printf(" - %s=%s\n", l->key, json_str(l));
        else
            printf(" - %s\n", l->key);
    }
}

/* docker's node inspect --pretty template, written out. */
static void print_node_pretty(json *n)
{
    char buf[256];
    printf("ID:\t\t\t%s\n", json_path_str(n, "ID"));
    if (*json_path_str(n, "Spec.Name"))
        printf("Name:\t\t\t%s\n", json_path_str(n, "Spec.Name"));
    print_labels("Labels", json_path(n, "Spec.Labels"));
    printf("Hostname:              \t%s\n", json_path_str(n, "Description.Hostname"));
    char when[128];
    go_time_string(when, sizeof when, json_path_str(n, "CreatedAt"));
    capitalize_first(buf, sizeof buf, when);
    printf("Joined at:             \t%s\n", buf);
    printf("Status:\n");
    capitalize_first(buf, sizeof buf, json_path_str(n, "Status.State"));
    printf(" State:\t\t\t%s\n", buf);
    if (*json_path_str(n, "Status.Message")) {
        capitalize_first(buf, sizeof buf, json_path_str(n, "Status.Message"));
        printf(" Message:              \t%s\n", buf);
    }
    capitalize_first(buf, sizeof buf, json_path_str(n, "Spec.Availability"));
    printf(" Availability:         \t%s\n", buf);
    if (*json_path_str(n, "Status.Addr"))
        printf(" Address:\t\t%s\n", json_path_str(n, "Status.Addr"));
    json *ms = json_get(n, "ManagerStatus");
    if (ms && ms->type == JSON_OBJECT) {
        printf("Manager Status:\n Address:\t\t%s\n", json_path_str(ms, "Addr"));
        capitalize_first(buf, sizeof buf, json_path_str(ms, "Reachability"));
        printf(" Raft Status:\t\t%s\n", buf);
        printf(" Leader:\t\t%s\n", json_truthy(json_get(ms, "Leader")) ? "Yes" : "No");
    }
    printf("Platform:\n Operating System:\t%s\n Architecture:\t\t%s\n", json_path_str(n, "Description.Platform.OS"),
           json_path_str(n, "Description.Platform.Architecture"));
    int64_t nano = json_num(json_path(n, "Description.Resources.NanoCPUs"));
    int64_t mem = json_num(json_path(n, "Description.Resources.MemoryBytes"));
    buf[0] = '\0';
    if (mem)
        bytes_size(buf, sizeof buf, (double)mem);
    printf("Resources:\n CPUs:\t\t\t%lld\n Memory:\t\t%s\n", (long long)(nano / 1000000000LL), buf);
    json *plugins = json_path(n, "Description.Engine.Plugins");
    if (plugins && plugins->child) {
        /* Grouped by type, types in sorted order as Go ranges over a map. */
        json *by_type = json_new(JSON_OBJECT);
        for (json *p = plugins->child; p; p = p->next) {
            const char *type = json_path_str(p, "Type");
            json *names = json_get(by_type, type);
            if (names == NULL)
                names = json_set(by_type, type, json_new(JSON_ARRAY));
            json_append(names, json_string(json_path_str(p, "Name")));
        }
        size_t count = json_length(by_type), i = 0;
        json **types = xcalloc(count, sizeof *types);
        for (json *t = by_type->child; t; t = t->next)
            types[i++] = t;
        for (size_t a = 0; a < count; a++)
            for (size_t b = a + 1; b < count; b++)
                if (strcmp(types[b]->key, types[a]->key) < 0) {
                    json *tmp = types[a];
                    types[a] = types[b];
                    types[b] = tmp;
                }
        printf("Plugins:\n");
        for (i = 0; i < count; i++) {
            printf(" %s:\t\t", types[i]->key);
            for (json *nm = types[i]->child; nm; nm = nm->next)
                printf("%s%s", nm == types[i]->child ? "" : ", ", json_str(nm));
            printf("\n");
        }
        free(types);
        json_free(by_type);
    }
    printf("Engine Version:\t\t%s\n", json_path_str(n, "Description.Engine.EngineVersion"));
    print_labels("Engine Labels", json_path(n, "Description.Engine.Labels"));
    json *tls = json_path(n, "Description.TLSInfo");
    if (tls && (*json_path_str(tls, "TrustRoot") || *json_path_str(tls, "CertIssuerSubject"))) {
        printf("TLS Info:\n TrustRoot:\n%s\n Issuer Subject:\t%s\n Issuer Public Key:\t%s\n",
               json_path_str(tls, "TrustRoot"), json_path_str(tls, "CertIssuerSubject"),
               json_path_str(tls, "CertIssuerPublicKey"));
    }
}

static int node_inspect(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"node inspect", "swarmctl node inspect [OPTIONS] self|NODE [NODE...]",
                                      "Display detailed information on one or more nodes", NULL};
    flag_def defs[] = {
        {.name = "format", .shorthand = 'f', .type = FLAG_STRING,
         .usage = "Format output using a custom template:\n'json':             Print in JSON format\n"
                  "'TEMPLATE':         Print output using the given Go template."},
        {.name = "pretty", .type = FLAG_BOOL, .usage = "Print the information in a human friendly format"},
        {0},
    };
    strlist args = {0};
    int rc = flags_parse(&info, defs, argc, argv, 1, &args);
    if (rc == 0 && args.count < 1)
        rc = min_args_error(&info, 1);
    if (rc == 0 && defs[1].b && defs[0].s && *defs[0].s) {
        fprintf(stderr, "--format is incompatible with human friendly format\n");
        rc = 1;
    }
    if (rc == 0 && defs[1].b) {
        for (size_t i = 0; i < args.count && rc == 0; i++) {
            json *n = fetch_node(c, args.items[i]);
            if (n == NULL) {
                rc = report_daemon_error();
                break;
            }
            print_node_pretty(n);
            printf("\n");
            json_free(n);
        }
    } else if (rc == 0) {
        inspector in;
        inspector_init(&in, defs[0].s);
        strbuf errors = {0};
        for (size_t i = 0; i < args.count; i++) {
            json *n = fetch_node(c, args.items[i]);
            if (n == NULL) {
                char *text = daemon_error_text();
                sb_addf(&errors, "%s%s", errors.len ? "\n" : "", text);
                free(text);
                continue;
            }
            if (inspector_add(&in, n) != 0)
                rc = 1;
        }
        inspector_flush(&in);
        if (errors.len) {
            fprintf(stderr, "%s\n", errors.s);
            rc = 1;
        }
        sb_free(&errors);
    }
    sl_free(&args);
    flags_reset(defs);
    return rc == 2 ? 0 : rc;
}

static int node_ps(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"node ps", "swarmctl node ps [OPTIONS] [NODE...]",
                                      "List tasks running on one or more nodes, defaults to current node", NULL};
    flag_def defs[] = {
        {.name = "filter", .shorthand = 'f', .type = FLAG_LIST, .usage = "Filter output based on conditions provided"},
        {.name = "format", .type = FLAG_STRING, .usage = "Pretty-print tasks using a Go template"},
        {.name = "no-resolve", .type = FLAG_BOOL, .usage = "Do not map IDs to Names"},
        {.name = "no-trunc", .type = FLAG_BOOL, .usage = "Do not truncate output"},
        {.name = "quiet", .shorthand = 'q', .type = FLAG_BOOL, .usage = "Only display task IDs"},
        {0},
    };
    strlist args = {0};
    int rc = flags_parse(&info, defs, argc, argv, 1, &args);
    if (rc == 0 && args.count == 0)
        sl_add(&args, "self");
    strbuf errors = {0};
    json *all = json_new(JSON_ARRAY);
    for (size_t i = 0; rc == 0 && i < args.count; i++) {
        json *n = fetch_node(c, args.items[i]);
        if (n == NULL) {
            char *text = daemon_error_text();
            sb_addf(&errors, "%s%s", errors.len ? "\n" : "", text);
            free(text);
            continue;
        }
        strlist filters = {0};
        for (size_t k = 0; k < defs[0].list.count; k++)
            sl_add(&filters, defs[0].list.items[k]);
        strbuf nf = {0};
        sb_addf(&nf, "node=%s", json_path_str(n, "ID"));
        sl_add(&filters, nf.s);
        sb_free(&nf);
        char *err = NULL;
        char *fj = filters_json(&filters, &err);
        sl_free(&filters);
        json_free(n);
        if (err) {
            fprintf(stderr, "%s\n", err);
            free(err);
            rc = 1;
            break;
        }
        json *tasks = fetch_tasks(c, fj);
        free(fj);
        if (tasks == NULL) {
            char *text = daemon_error_text();
            sb_addf(&errors, "%s%s", errors.len ? "\n" : "", text);
            free(text);
            continue;
        }
        while (tasks->child) {
            json *t = tasks->child;
            tasks->child = t->next;
            json_append(all, t);
        }
        json_free(tasks);
    }
    if (rc == 0 && (all->child || errors.len == 0))
        rc = print_tasks(c, all, defs[3].b, defs[4].b, defs[1].s);
    if (errors.len) {
        fprintf(stderr, "%s\n", errors.s);
        rc = 1;
    }
    sb_free(&errors);
    json_free(all);
    sl_free(&args);
    flags_reset(defs);
    return rc == 2 ? 0 : rc;
}

/* ------------------------------------------------------------ update, promote, demote */

static int member_cmp(const void *a, const void *b)
{
    return strcmp((*(json *const *)a)->key, (*(json *const *)b)->key);
}

/* Orders an object's members by key, as Go marshals a map (the labels docker sends). */
static void sort_members(json *obj)
{
    size_t n = json_length(obj), i = 0;
    if (n < 2)
        return;
    json **m = xcalloc(n, sizeof *m);
    for (json *v = obj->child; v; v = v->next)
        m[i++] = v;
    qsort(m, n, sizeof *m, member_cmp);
    for (i = 0; i + 1 < n; i++)
        m[i]->next = m[i + 1];
    m[n - 1]->next = NULL;
    obj->child = m[0];
    free(m);
}

typedef struct node_change {
    flag_def *defs;        /* node update's flags, or NULL */
    const char *role;      /* promote/demote: the target role */
} node_change;

/*
 * docker's mergeNodeUpdate / promote / demote on one node's Spec. Returns 0,
 * 1 after printing an error, or -1 when nothing is to be done (role already set).
 */
static int merge_node(json *node, const node_change *ch)
{
    json *spec = json_object_at(node, "Spec");
    if (ch->role) {
        int manager = strcmp(ch->role, "manager") == 0;
        if (strcmp(json_path_str(spec, "Role"), ch->role) == 0) {
            printf("Node %s is already a %s.\n", json_path_str(node, "ID"), manager ? "manager" : "worker");
            return -1;
        }
        json_set(spec, "Role", json_string(ch->role));
        return 0;
    }
    flag_def *defs = ch->defs;
    flag_def *d;
    if ((d = flag_find(defs, "role")) && d->changed)
        json_set(spec, "Role", json_string(d->s));
    if ((d = flag_find(defs, "availability")) && d->changed)
        json_set(spec, "Availability", json_string(d->s));
    json *labels = json_get(spec, "Labels");
    if (labels == NULL || labels->type != JSON_OBJECT)
        labels = json_set(spec, "Labels", json_new(JSON_OBJECT));
    if ((d = flag_find(defs, "label-add")) && d->changed)
        for (size_t i = 0; i < d->list.count; i++) {
            const char *kv = d->list.items[i];
            const char *eq = strchr(kv, '=');
            strbuf key = {0};
            sb_addn(&key, kv, eq ? (size_t)(eq - kv) : strlen(kv));
            json_set(labels, key.s, json_string(eq ? eq + 1 : ""));
            sb_free(&key);
        }
    if ((d = flag_find(defs, "label-rm")) && d->changed)
        for (size_t i = 0; i < d->list.count; i++) {
            if (json_get(labels, d->list.items[i]) == NULL) {
                fprintf(stderr, "key %s doesn't exist in node's labels\n", d->list.items[i]);
                return 1;
            }
            json_remove(labels, d->list.items[i]);
        }
    sort_members(labels);
    return 0;
}

/* docker's updateNodes: stops at the first error. `done` prints the success line for an argument. */
static int update_nodes(swarm_cluster_t *c, const strlist *refs, const node_change *ch,
                        void (*done)(const char *ref))
{
    for (size_t i = 0; i < refs->count; i++) {
        json *node = fetch_node(c, refs->items[i]);
        if (node == NULL)
            return report_daemon_error();
        int rc = merge_node(node, ch);
        if (rc != 0) {
            json_free(node);
            if (rc < 0)
                continue;
            return rc;
        }
        char *spec = json_dump(json_get(node, "Spec"), 0);
        rc = swarm_node_update(c, json_path_str(node, "ID"), json_unum(json_path(node, "Version.Index")), spec);
        free(spec);
        json_free(node);
        if (rc != 0)
            return report_daemon_error();
        done(refs->items[i]);
    }
    return 0;
}

static void print_ref(const char *ref)
{
    printf("%s\n", ref);
}

static void print_promoted(const char *ref)
{
    printf("Node %s promoted to a manager in the swarm.\n", ref);
}

static void print_demoted(const char *ref)
{
    printf("Manager %s demoted in the swarm.\n", ref);
}

static int node_update(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"node update", "swarmctl node update [OPTIONS] NODE", "Update a node", NULL};
    flag_def defs[] = {
        {.name = "availability", .type = FLAG_STRING, .usage = "Availability of the node (\"active\", \"pause\", \"drain\")"},
        {.name = "label-add", .type = FLAG_LIST, .usage = "Add or update a node label (\"key=value\")"},
        {.name = "label-rm", .type = FLAG_LIST, .usage = "Remove a node label if exists"},
        {.name = "role", .type = FLAG_STRING, .usage = "Role of the node (\"worker\", \"manager\")"},
        {0},
    };
    strlist args = {0};
    int rc = flags_parse(&info, defs, argc, argv, 1, &args);
    if (rc == 0)
        rc = flags_check_args(&info, args.count, 1, 1);
    if (rc == 0) {
        node_change ch = {defs, NULL};
        rc = update_nodes(c, &args, &ch, print_ref);
    }
    sl_free(&args);
    flags_reset(defs);
    return rc == 2 ? 0 : rc;
}

static int node_role(swarm_cluster_t *c, int argc, char **argv, int promote)
{
    static const command_info pinfo = {"node promote", "swarmctl node promote NODE [NODE...]",
                                       "Promote one or more nodes to manager in the swarm", NULL};
    static const command_info dinfo = {"node demote", "swarmctl node demote NODE [NODE...]",
                                       "Demote one or more nodes from manager in the swarm", NULL};
    const command_info *info = promote ? &pinfo : &dinfo;
    flag_def defs[] = {{0}};
    strlist args = {0};
    int rc = flags_parse(info, defs, argc, argv, 1, &args);
    if (rc == 0)
        rc = flags_check_args(info, args.count, 1, -1);
    if (rc == 0) {
        node_change ch = {NULL, promote ? "manager" : "worker"};
        rc = update_nodes(c, &args, &ch, promote ? print_promoted : print_demoted);
    }
    sl_free(&args);
    return rc == 2 ? 0 : rc;
}

/* ------------------------------------------------------------ rm */

static int node_rm(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"node rm", "swarmctl node rm [OPTIONS] NODE [NODE...]",
                                      "Remove one or more nodes from the swarm", "rm, remove"};
    flag_def defs[] = {
        {.name = "force", .shorthand = 'f', .type = FLAG_BOOL, .usage = "Force remove a node from the swarm"},
        {0},
    };
    strlist args = {0};
    int rc = flags_parse(&info, defs, argc, argv, 1, &args);
    if (rc == 0)
        rc = flags_check_args(&info, args.count, 1, -1);
    if (rc == 0) {
        /* Every node is tried; the errors follow, one a line (errors.Join). */
        strbuf errors = {0};
        for (size_t i = 0; i < args.count; i++) {
            if (swarm_node_remove(c, args.items[i], defs[0].b) != 0) {
                char *text = daemon_error_text();
                sb_addf(&errors, "%s%s", errors.len ? "\n" : "", text);
                free(text);
                continue;
            }
            printf("%s\n", args.items[i]);
        }
        if (errors.len) {
            fflush(stdout);
            fprintf(stderr, "%s\n", errors.s);
            rc = 1;
        }
        sb_free(&errors);
    }
    sl_free(&args);
    flags_reset(defs);
    return rc == 2 ? 0 : rc;
}

int cmd_node(swarm_cluster_t *c, int argc, char **argv)
{
    if (argc == 0 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        group_help();
        return 0;
    }
    const char *sub = argv[0];
    if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0)
        return node_ls(c, argc - 1, argv + 1);
    if (strcmp(sub, "inspect") == 0)
        return node_inspect(c, argc - 1, argv + 1);
    if (strcmp(sub, "ps") == 0)
        return node_ps(c, argc - 1, argv + 1);
    if (strcmp(sub, "update") == 0)
        return node_update(c, argc - 1, argv + 1);
    if (strcmp(sub, "rm") == 0 || strcmp(sub, "remove") == 0)
        return node_rm(c, argc - 1, argv + 1);
    if (strcmp(sub, "promote") == 0)
        return node_role(c, argc - 1, argv + 1, 1);
    if (strcmp(sub, "demote") == 0)
        return node_role(c, argc - 1, argv + 1, 0);
    fprintf(stderr, "swarmctl: 'node %s' is not a swarmctl command.\nSee 'swarmctl node --help'\n", sub);
    return 1;
}
