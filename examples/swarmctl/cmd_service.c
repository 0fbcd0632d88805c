/* swarmctl — the "service" command group: dispatch to its subcommands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void group_help(void)
{
    printf("\nUsage:  swarmctl service COMMAND\n\nManage Swarm services\n\nCommands:\n"
           "  create      Create a new service\n"
           "  inspect     Display detailed information on one or more services\n"
           "  ls          List services\n"
           "  ps          List the tasks of one or more services\n"
           "  rm          Remove one or more services\n"
           "  scale       Scale one or multiple replicated services\n"
           "  update      Update a service\n\n"
           "Run 'swarmctl service COMMAND --help' for more information on a command.\n");
}

int cmd_service(swarm_cluster_t *c, int argc, char **argv)
{
    static const struct {
        const char *name, *alias;
        int (*run)(swarm_cluster_t *, int, char **);
    } subs[] = {
        {"create", NULL, service_create}, {"inspect", NULL, service_inspect}, {"ls", "list", service_ls},
        {"ps", NULL, service_ps},         {"rm", "remove", service_rm},      {"scale", NULL, service_scale},
        {"update", NULL, service_update},
    };
    if (argc == 0 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        group_help();
        return 0;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(argv[0], subs[i].name) == 0 || (subs[i].alias && strcmp(argv[0], subs[i].alias) == 0))
            return subs[i].run(c, argc - 1, argv + 1);
    fprintf(stderr, "swarmctl: 'service %s' is not a swarmctl command.\nSee 'swarmctl service --help'\n", argv[0]);
    return 1;
}
