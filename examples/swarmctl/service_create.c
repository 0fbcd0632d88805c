/* swarmctl — "service create". */
#include "service_opts.h"

#include <stdio.h>
#include <stdlib.h>

int service_create(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"service create", "swarmctl service create [OPTIONS] IMAGE [COMMAND] [ARG...]",
                                      "Create a new service", NULL};
    flag_def *defs = service_create_flags();
    strlist args = {0};
    /* Flags end at IMAGE: what follows belongs to the command. */
    int rc = flags_parse(&info, defs, argc, argv, 0, &args);
    if (rc == 0)
        rc = flags_check_args(&info, args.count, 1, -1);
    json *spec = NULL;
    if (rc == 0) {
        strlist cmd = {0};
        for (size_t i = 1; i < args.count; i++)
            sl_add(&cmd, args.items[i]);
        char *err = NULL;
        spec = service_spec_from_flags(defs, args.items[0], &cmd, &err);
        sl_free(&cmd);
        if (spec == NULL) {
            fprintf(stderr, "%s\n", err);
            free(err);
            rc = 1;
        }
    }
    if (rc == 0) {
        char *body = json_dump(spec, 0);
        swarm_service_t *svc = NULL;
        if (swarm_service_create(c, body, &svc) != 0) {
            rc = report_daemon_error();
        } else {
            printf("%s\n", swarm_service_id(svc));
            fflush(stdout);
            if (!flag_find(defs, "detach")->b)
                rc = wait_on_service(c, swarm_service_id(svc), flag_find(defs, "quiet")->b);
            swarm_service_free(svc);
        }
        free(body);
    }
    json_free(spec);
    sl_free(&args);
    service_flags_free(defs);
    return rc == 2 ? 0 : rc;
}
