/* swarmctl — "service ps SERVICE...": resolve the services, list their tasks. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *one_filter(const char *key, const char *value)
{
    json *f = json_new(JSON_OBJECT);
    json_append(json_set(f, key, json_new(JSON_ARRAY)), json_string(value));
    char *text = json_dump(f, 0);
    json_free(f);
    return text;
}

int service_ps(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"service ps", "swarmctl service ps [OPTIONS] SERVICE [SERVICE...]",
                                      "List the tasks of one or more services", NULL};
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
    if (rc == 0)
        rc = flags_check_args(&info, args.count, 1, -1);
    strlist filters = {0}, notfound = {0};
    for (size_t i = 0; rc == 0 && i < defs[0].list.count; i++)
        sl_add(&filters, defs[0].list.items[i]);
    size_t found = 0;
    /* Exact ID, then exact name, then a unique ID prefix (docker's createFilter). */
    for (size_t i = 0; rc == 0 && i < args.count; i++) {
        const char *ref = args.items[i];
        char *fid = one_filter("id", ref), *fname = one_filter("name", ref);
        json *by_id = fetch_services(c, fid), *by_name = by_id ? fetch_services(c, fname) : NULL;
        free(fid);
        free(fname);
        if (by_id == NULL || by_name == NULL) {
            json_free(by_id);
            rc = report_daemon_error();
            break;
        }
        const char *match = NULL;
        for (json *s = by_id->child; s && !match; s = s->next)
            if (strcmp(json_path_str(s, "ID"), ref) == 0)
                match = json_path_str(s, "ID");
        for (json *s = by_name->child; s && !match; s = s->next)
            if (strcmp(json_path_str(s, "Spec.Name"), ref) == 0)
                match = json_path_str(s, "ID");
        int prefixes = 0;
        for (json *s = by_id->child; s && !match; s = s->next)
            if (strncmp(json_path_str(s, "ID"), ref, strlen(ref)) == 0)
                prefixes++;
        if (!match && prefixes > 1) {
            fprintf(stderr, "multiple services found with provided prefix: %s\n", ref);
            rc = 1;
        } else if (!match && prefixes == 1) {
            for (json *s = by_id->child; s && !match; s = s->next)
                if (strncmp(json_path_str(s, "ID"), ref, strlen(ref)) == 0)
                    match = json_path_str(s, "ID");
        }
        if (rc == 0 && match) {
            strbuf b = {0};
            sb_addf(&b, "service=%s", match);
            sl_add(&filters, b.s);
            sb_free(&b);
            found++;
        } else if (rc == 0) {
            strbuf b = {0};
            sb_addf(&b, "no such service: %s", ref);
            sl_add(&notfound, b.s);
            sb_free(&b);
        }
        json_free(by_id);
        json_free(by_name);
    }
    if (rc == 0 && found == 0) {
        for (size_t i = 0; i < notfound.count; i++)
            fprintf(stderr, "%s\n", notfound.items[i]);
        rc = 1;
    }
    if (rc == 0) {
        char *err = NULL;
        char *fj = filters_json(&filters, &err);
        if (err) {
            fprintf(stderr, "%s\n", err);
            free(err);
            rc = 1;
        } else {
            json *tasks = fetch_tasks(c, fj);
            if (tasks == NULL)
                rc = report_daemon_error();
            else
                rc = print_tasks(c, tasks, defs[3].b, defs[4].b, defs[1].s);
            json_free(tasks);
        }
        free(fj);
        if (rc == 0 && notfound.count) {
            for (size_t i = 0; i < notfound.count; i++)
                fprintf(stderr, "%s\n", notfound.items[i]);
            rc = 1;
        }
    }
    sl_free(&filters);
    sl_free(&notfound);
    sl_free(&args);
    flags_reset(defs);
    return rc == 2 ? 0 : rc;
}
