/* swarmctl — "service rm SERVICE...": tries every argument, reports failures at the end. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

int service_rm(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"service rm", "swarmctl service rm SERVICE [SERVICE...]",
                                      "Remove one or more services", "rm, remove"};
    flag_def defs[] = {{0}};
    strlist args = {0};
    int rc = flags_parse(&info, defs, argc, argv, 1, &args);
    if (rc == 0)
        rc = flags_check_args(&info, args.count, 1, -1);
    strbuf errors = {0};
    for (size_t i = 0; rc == 0 && i < args.count; i++) {
        if (swarm_service_remove(c, args.items[i]) != 0) {
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
    sl_free(&args);
    return rc == 2 ? 0 : rc;
}
