/* swarmctl — "service update": read the service, change its spec, write it back at the version read. */
#include "service_opts.h"

#include <stdio.h>
#include <stdlib.h>

int service_update(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"service update", "swarmctl service update [OPTIONS] SERVICE", "Update a service",
                                      NULL};
    flag_def *defs = service_update_flags();
    strlist args = {0};
    int rc = flags_parse(&info, defs, argc, argv, 1, &args);
    if (rc == 0)
        rc = flags_check_args(&info, args.count, 1, 1);
    json *svc = NULL;
    if (rc == 0) {
        svc = fetch_service(c, args.items[0]);
        if (svc == NULL)
            rc = report_daemon_error();
    }
    if (rc == 0) {
        json *spec = json_object_at(svc, "Spec");
        char *err = NULL;
        if (service_spec_update(spec, defs, &err) != 0) {
            fprintf(stderr, "%s\n", err);
            free(err);
            rc = 1;
        }
    }
    if (rc == 0) {
        char *body = json_dump(json_get(svc, "Spec"), 0);
        uint64_t version = json_unum(json_path(svc, "Version.Index"));
        if (swarm_service_update(c, json_path_str(svc, "ID"), version, body, NULL) != 0) {
            rc = report_daemon_error();
        } else {
            printf("%s\n", args.items[0]);
            fflush(stdout);
            if (!flag_find(defs, "detach")->b)
                rc = wait_on_service(c, args.items[0], flag_find(defs, "quiet")->b);
        }
        free(body);
    }
    json_free(svc);
    sl_free(&args);
    service_flags_free(defs);
    return rc == 2 ? 0 : rc;
}
