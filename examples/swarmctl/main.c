/*
 * swarmctl — the docker CLI's swarm commands (swarm, node, service) for a
 * swarmd reached through libswarm's public API.
 *
 * This file: global options (-H / SWARM_HOST) and dispatch to the groups.
 */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "\nUsage:  swarmctl [OPTIONS] COMMAND\n\n"
               "Manage a swarm through swarmd, like the docker CLI\n\n"
               "Options:\n"
               "  -H, --host string   Daemon socket to connect to (default \"unix:///var/run/swarmd.sock\")\n"
               "  -h, --help          Print usage\n"
               "  -v, --version       Print version information and quit\n\n"
               "Commands:\n"
               "  info        Display system-wide information\n"
               "  node        Manage Swarm nodes\n"
               "  service     Manage Swarm services\n"
               "  swarm       Manage Swarm\n\n"
               "Run 'swarmctl COMMAND --help' for more information on a command.\n");
}

int main(int argc, char **argv)
{
    const char *host = getenv("SWARM_HOST");
    if (host == NULL || *host == '\0')
        host = "unix:///var/run/swarmd.sock";
    signal(SIGPIPE, SIG_IGN);

    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-H") == 0 || strcmp(a, "--host") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "flag needs an argument: %s\nSee 'swarmctl --help'.\n",
                        a[1] == 'H' ? "'H' in -H" : "--host");
                return 1;
            }
            host = argv[++i];
        } else if (strncmp(a, "--host=", 7) == 0) {
            host = a + 7;
        } else if (strncmp(a, "-H", 2) == 0) {
            host = a[2] == '=' ? a + 3 : a + 2;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            printf("swarmctl version %s\n", swarm_version());
            return 0;
        } else {
            if (a[1] == '-')
                fprintf(stderr, "unknown flag: %s\nSee 'swarmctl --help'.\n", a);
            else
                fprintf(stderr, "unknown shorthand flag: '%c' in %s\nSee 'swarmctl --help'.\n", a[1], a);
            return 1;
        }
    }
    if (i >= argc) {
        usage(stdout);
        return 0;
    }
    const char *group = argv[i];
    int (*run)(swarm_cluster_t *, int, char **) = NULL;
    if (strcmp(group, "swarm") == 0)
        run = cmd_swarm;
    else if (strcmp(group, "node") == 0)
        run = cmd_node;
    else if (strcmp(group, "service") == 0)
        run = cmd_service;
    else if (strcmp(group, "info") == 0)
        run = cmd_info;
    else if (strcmp(group, "help") == 0) {
        usage(stdout);
        return 0;
    } else {
        fprintf(stderr, "swarmctl: '%s' is not a swarmctl command.\nSee 'swarmctl --help'\n", group);
        return 1;
    }

    swarm_cluster_t *c = NULL;
    if (swarm_cluster_connect(&c, host) != 0) {
        fprintf(stderr, "%s\n", swarm_error_last_message());
        return 1;
    }
    int rc = run(c, argc - i - 1, argv + i + 1);
    swarm_cluster_close(c);
    fflush(stdout);
    return rc;
}
