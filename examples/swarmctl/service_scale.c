/* swarmctl — "service scale SERVICE=N...". */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets the replica count on the stored spec and writes it back; NULL or a malloc'ed error. */
static char *scale_one(swarm_cluster_t *c, const char *ref, uint64_t replicas)
{
    json *svc = fetch_service(c, ref);
    if (svc == NULL)
        return daemon_error_text();
    char *err = NULL;
    json *mode = json_path(svc, "Spec.Mode");
    json *rep = json_get(mode, "Replicated"), *job = json_get(mode, "ReplicatedJob");
    if (rep && rep->type == JSON_OBJECT)
        json_set(rep, "Replicas", json_uint(replicas));
    else if (job && job->type == JSON_OBJECT)
        json_set(job, "TotalCompletions", json_uint(replicas));
    else
        err = xstrdup("scale can only be used with replicated or replicated-job mode");
    if (err == NULL) {
        char *body = json_dump(json_get(svc, "Spec"), 0);
        if (swarm_service_update(c, json_path_str(svc, "ID"), json_unum(json_path(svc, "Version.Index")), body, NULL) != 0)
            err = daemon_error_text();
        free(body);
    }
    json_free(svc);
    return err;
}

int service_scale(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"service scale", "swarmctl service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]",
                                      "Scale one or multiple replicated services", NULL};
    flag_def defs[] = {
        {.name = "detach", .shorthand = 'd', .type = FLAG_BOOL,
         .usage = "Exit immediately instead of waiting for the service to converge"},
        {0},
    };
    strlist args = {0};
    int rc = flags_parse(&info, defs, argc, argv, 1, &args);
    if (rc == 0)
        rc = flags_check_args(&info, args.count, 1, -1);
    for (size_t i = 0; rc == 0 && i < args.count; i++) {
        const char *a = args.items[i];
        const char *eq = strchr(a, '=');
        if (eq == NULL || eq == a || eq[1] == '\0') {
            fprintf(stderr, "invalid scale specifier '%s'.\nSee 'swarmctl service scale --help'.\n\nUsage:  %s\n\n%s\n", a,
                    info.use, info.short_help);
            rc = 1;
        }
    }
    strbuf errors = {0};
    strlist scaled = {0};
    for (size_t i = 0; rc == 0 && i < args.count; i++) {
        const char *a = args.items[i];
        const char *eq = strchr(a, '=');
        char name[512];
        snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
        /* Same rules as strconv.ParseUint(s, 10, 64). */
        const char *p = eq + 1;
        uint64_t n = 0;
        int ok = *p != '\0', range = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9') {
                ok = 0;
                break;
            }
            if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
                range = 1;
            n = n * 10 + (uint64_t)(*p - '0');
        }
        if (!ok || range) {
            sb_addf(&errors, "%s%s: invalid replicas value %s: strconv.ParseUint: parsing \"%s\": %s",
                    errors.len ? "\n" : "", name, eq + 1, eq + 1, ok ? "value out of range" : "invalid syntax");
            continue;
        }
        char *err = scale_one(c, name, n);
        if (err) {
            sb_addf(&errors, "%s%s: %s", errors.len ? "\n" : "", name, err);
            free(err);
            continue;
        }
        printf("%s scaled to %" PRIu64 "\n", name, n);
        fflush(stdout);
        sl_add(&scaled, name);
    }
    if (rc == 0 && !defs[0].b) {
        for (size_t i = 0; i < scaled.count; i++)
            if (wait_on_service(c, scaled.items[i], 0) != 0)
                rc = 1;
    }
    if (errors.len) {
        fprintf(stderr, "%s\n", errors.s);
        rc = 1;
    }
    sb_free(&errors);
    sl_free(&scaled);
    sl_free(&args);
    flags_reset(defs);
    return rc == 2 ? 0 : rc;
}
