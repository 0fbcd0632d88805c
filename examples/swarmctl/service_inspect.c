/* swarmctl — "service inspect": JSON, a template per service, or docker's --pretty text. */
#include "cli.h"
#include "humanize.h"
#include "inspect.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void duration_text(char *out, size_t size, json *v)
{
    char tmp[64];
    swarm_format_duration(tmp, sizeof tmp, json_num(v));
    snprintf(out, size, "%s", tmp);
}

/* Go prints a float64 with %v: shortest representation ("0.5", "2"). */
static void float_text(char *out, size_t size, double v)
{
    snprintf(out, size, "%.17g", v);
    for (int prec = 1; prec <= 17; prec++) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) {
            snprintf(out, size, "%s", tmp);
            return;
        }
    }
}

static void print_update_config(const char *title, const char *order_label, json *cfg)
{
    char buf[64];
    printf("%s:\n Parallelism:\t%" PRIu64 "\n", title, json_unum(json_get(cfg, "Parallelism")));
    if (json_num(json_get(cfg, "Delay")) != 0) {
        duration_text(buf, sizeof buf, json_get(cfg, "Delay"));
        printf(" Delay:\t\t%s\n", buf);
    }
    printf(" On failure:\t%s\n", json_path_str(cfg, "FailureAction"));
    if (json_num(json_get(cfg, "Monitor")) != 0) {
        duration_text(buf, sizeof buf, json_get(cfg, "Monitor"));
        printf(" Monitoring Period: %s\n", buf);
    }
    json *ratio = json_get(cfg, "MaxFailureRatio");
    float_text(buf, sizeof buf, ratio ? strtod(ratio->text ? ratio->text : "0", NULL) : 0);
    printf(" Max failure ratio: %s\n", buf);
    printf(" %s    %s\n", order_label, json_path_str(cfg, "Order"));
}

static void print_words(const char *label, json *list)
{
    if (list == NULL || list->child == NULL)
        return;
    printf("\n %s\t\t", label);
    for (json *a = list->child; a; a = a->next)
        printf("%s ", json_str(a));
}

/* docker's service inspect --pretty template, written out (output starts with a blank line). */
static void print_service_pretty(json *s)
{
    char buf[128];
    printf("\nID:\t\t%s\nName:\t\t%s\n", json_path_str(s, "ID"), json_path_str(s, "Spec.Name"));
    json *labels = json_path(s, "Spec.Labels");
    if (labels && labels->child) {
        printf("Labels:\n");
        for (json *l = labels->child; l; l = l->next)
            printf(*json_str(l) ? " %s=%s\n" : " %s%s\n", l->key, json_str(l));
    }
    json *mode = json_path(s, "Spec.Mode");
    printf("Service Mode:");
    if (json_get(mode, "Global")) {
        printf("\tGlobal");
    } else if (json_get(mode, "Replicated")) {
        printf("\tReplicated");
        if (json_path(mode, "Replicated.Replicas"))
            printf("\n Replicas:\t%" PRIu64, json_unum(json_path(mode, "Replicated.Replicas")));
    }
    printf("\n");
    json *us = json_get(s, "UpdateStatus");
    if (us && *json_path_str(us, "State")) {
        printf("UpdateStatus:\n State:\t\t%s\n", json_path_str(us, "State"));
        int64_t t;
        if (parse_rfc3339(&t, json_path_str(us, "StartedAt")) == 0) {
            human_duration(buf, sizeof buf, now_nanoseconds() - t);
            printf(" Started:\t%s ago\n", buf);
        }
        if (strcmp(json_path_str(us, "State"), "completed") == 0 && parse_rfc3339(&t, json_path_str(us, "CompletedAt")) == 0) {
            human_duration(buf, sizeof buf, now_nanoseconds() - t);
            printf(" Completed:\t%s ago\n", buf);
        }
        printf(" Message:\t%s\n", json_path_str(us, "Message"));
    }
    printf("Placement:\n");
    json *pl = json_path(s, "Spec.TaskTemplate.Placement");
    json *cons = json_get(pl, "Constraints");
    if (cons && cons->child) {
        printf(" Constraints:\t[");
        for (json *c = cons->child; c; c = c->next)
            printf("%s%s", c == cons->child ? "" : " ", json_str(c));
        printf("]\n");
    }
    json *prefs = json_get(pl, "Preferences");
    if (prefs && prefs->child) {
        printf(" Preferences:   [");
        for (json *p = prefs->child; p; p = p->next)
            printf("%sspread=%s", p == prefs->child ? "" : " ", json_path_str(p, "Spread.SpreadDescriptor"));
        printf("]\n");
    }
    if (json_unum(json_get(pl, "MaxReplicas")))
        printf(" Max Replicas Per Node:   %" PRIu64 "\n", json_unum(json_get(pl, "MaxReplicas")));
    json *uc = json_path(s, "Spec.UpdateConfig");
    if (uc && uc->type == JSON_OBJECT)
        print_update_config("UpdateConfig", "Update order:  ", uc);
    json *rc = json_path(s, "Spec.RollbackConfig");
    if (rc && rc->type == JSON_OBJECT)
        print_update_config("RollbackConfig", "Rollback order:", rc);
    json *cs = json_path(s, "Spec.TaskTemplate.ContainerSpec");
    printf("ContainerSpec:\n Image:\t\t%s", json_path_str(cs, "Image"));
    print_words("Args:", json_get(cs, "Args"));
    print_words("Env:", json_get(cs, "Env"));
    if (*json_path_str(cs, "Dir"))
        printf("\n Dir:\t\t%s", json_path_str(cs, "Dir"));
    json *init = json_get(cs, "Init");
    if (init && (init->type == JSON_TRUE || init->type == JSON_FALSE))
        printf("\n Init:\t\t%s", init->type == JSON_TRUE ? "true" : "false");
    if (*json_path_str(cs, "User"))
        printf("\n User: %s", json_path_str(cs, "User"));
    json *res = json_path(s, "Spec.TaskTemplate.Resources");
    if (res && res->type == JSON_OBJECT) {
        printf("\nResources:");
        int64_t rcpu = json_num(json_path(res, "Reservations.NanoCPUs")), rmem = json_num(json_path(res, "Reservations.MemoryBytes"));
        if (rcpu > 0 || rmem > 0) {
            printf("\n Reservations:");
            if (rcpu > 0) {
                float_text(buf, sizeof buf, (double)rcpu / 1e9);
                printf("\n  CPU:\t\t%s", buf);
            }
            if (rmem) {
                bytes_size(buf, sizeof buf, (double)rmem);
                printf("\n  Memory:\t%s", buf);
            }
        }
        int64_t lcpu = json_num(json_path(res, "Limits.NanoCPUs")), lmem = json_num(json_path(res, "Limits.MemoryBytes")),
                pids = json_num(json_path(res, "Limits.Pids"));
        if (lcpu > 0 || lmem > 0 || pids > 0) {
            printf("\n Limits:");
            if (lcpu > 0) {
                float_text(buf, sizeof buf, (double)lcpu / 1e9);
                printf("\n  CPU:\t\t%s", buf);
            }
            if (lmem) {
                bytes_size(buf, sizeof buf, (double)lmem);
                printf("\n  Memory:\t%s", buf);
            }
        }
        if (pids > 0)
            printf("\n  PIDs:\t\t%lld", (long long)pids);
    }
    printf("\nEndpoint Mode:\t%s", json_path_str(s, "Spec.EndpointSpec.Mode"));
    json *ports = json_path(s, "Endpoint.Ports");
    if (ports && ports->child) {
        printf("\nPorts:");
        for (json *p = ports->child; p; p = p->next)
            printf("\n PublishedPort = %" PRIu64 "\n  Protocol = %s\n  TargetPort = %" PRIu64 "\n  PublishMode = %s",
                   json_unum(json_get(p, "PublishedPort")), json_path_str(p, "Protocol"),
                   json_unum(json_get(p, "TargetPort")), json_path_str(p, "PublishMode"));
        printf(" ");
    }
    printf("\n\n");
}

int service_inspect(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"service inspect", "swarmctl service inspect [OPTIONS] SERVICE [SERVICE...]",
                                      "Display detailed information on one or more services", NULL};
    flag_def defs[] = {
        {.name = "format", .shorthand = 'f', .type = FLAG_STRING,
         .usage = "Format output using a custom template:\n'json':             Print in JSON format\n"
                  "'TEMPLATE':         Print output using the given Go template."},
        {.name = "pretty", .type = FLAG_BOOL, .usage = "Print the information in a human friendly format"},
        {0},
    };
    strlist args = {0};
    int rc = flags_parse(&info, defs, argc, argv, 1, &args);
    if (rc == 0)
        rc = flags_check_args(&info, args.count, 1, -1);
    const char *format = defs[0].s;
    if (rc == 0 && defs[1].b && format && *format) {
        fprintf(stderr, "--format is incompatible with human friendly format\n");
        rc = 1;
    }
    if (rc == 0 && defs[1].b) {
        for (size_t i = 0; i < args.count; i++) {
            json *s = fetch_service(c, args.items[i]);
            if (s == NULL) {
                if (swarm_error_last_code() == SWARM_ENOTFOUND)
                    fprintf(stderr, "Error: no such service: %s\n", args.items[i]);
                else
                    report_daemon_error();
                rc = 1;
                break;
            }
            print_service_pretty(s);
            json_free(s);
        }
    } else if (rc == 0) {
        inspector in;
        inspector_init(&in, format);
        strbuf errors = {0};
        for (size_t i = 0; i < args.count; i++) {
            json *s = fetch_service(c, args.items[i]);
            if (s == NULL) {
                char *text = swarm_error_last_code() == SWARM_ENOTFOUND ? NULL : daemon_error_text();
                if (text)
                    sb_addf(&errors, "%s%s", errors.len ? "\n" : "", text);
                else
                    sb_addf(&errors, "%sError: no such service: %s", errors.len ? "\n" : "", args.items[i]);
                free(text);
                continue;
            }
            if (inspector_add(&in, s) != 0)
                rc = 1;
        }
        inspector_flush(&in);
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
