/* swarmctl — "swarm init". */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void group_help(void)
{
    printf("\nUsage:  swarmctl swarm COMMAND\n\nManage Swarm\n\nCommands:\n"
           "  init        Initialize a swarm\n\n"
           "Run 'swarmctl swarm COMMAND --help' for more information on a command.\n");
}

/* Prints the join command lines when the cluster has join tokens and the node a manager address. */
static void print_join_command(swarm_cluster_t *c, const char *node_id)
{
    json *sw = fetch_swarm(c);
    const char *token = json_path_str(sw, "JoinTokens.Worker");
    json *node = token[0] ? fetch_node(c, node_id) : NULL;
    const char *addr = json_path_str(node, "ManagerStatus.Addr");
    if (token[0] && addr[0]) {
        printf("To add a worker to this swarm, run the following command:\n\n"
               "    swarmctl swarm join --token %s %s\n\n",
               token, addr);
        printf("To add a manager to this swarm, run 'swarmctl swarm join-token manager' and follow the instructions.\n");
    }
    json_free(node);
    json_free(sw);
}

static int swarm_init(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"swarm init", "swarmctl swarm init [OPTIONS]", "Initialize a swarm", NULL};
    flag_def defs[] = {
        {.name = "advertise-addr", .type = FLAG_STRING, .usage = "Advertised address (format: \"<ip|interface>[:port]\")"},
        {.name = "listen-addr", .type = FLAG_STRING, .usage = "Listen address (format: \"<ip|interface>[:port]\")",
         .default_text = "0.0.0.0:2377"},
        {.name = "force-new-cluster", .type = FLAG_BOOL, .usage = "Force create a new cluster from current state"},
        {0},
    };
    strlist args = {0};
    int rc = flags_parse(&info, defs, argc, argv, 1, &args);
    if (rc != 0) {
        flags_reset(defs);
        return rc == 2 ? 0 : 1;
    }
    if (args.count > 0) {
        fprintf(stderr, "\"swarmctl swarm init\" accepts no arguments.\nSee 'swarmctl swarm init --help'.\n\n"
                        "Usage:  %s\n\n%s\n", info.use, info.short_help);
        sl_free(&args);
        flags_reset(defs);
        return 1;
    }
    json *req = json_new(JSON_OBJECT);
    json_set(req, "ListenAddr", json_string(defs[1].changed ? defs[1].s : "0.0.0.0:2377"));
    if (defs[0].changed)
        json_set(req, "AdvertiseAddr", json_string(defs[0].s));
    if (defs[2].changed)
        json_set(req, "ForceNewCluster", json_bool(defs[2].b));
    char *body = json_dump(req, 0);
    json_free(req);
    rc = swarm_cluster_init(c, body);
    free(body);
    flags_reset(defs);
    if (rc != 0) {
        const char *msg = swarm_error_last_message();
        if (strstr(msg, "could not choose an IP address to advertise") ||
            strstr(msg, "could not find the system's IP address")) {
            char *text = daemon_error_text();
            fprintf(stderr, "%s - specify one with --advertise-addr\n", text);
            free(text);
            return 1;
        }
        return report_daemon_error();
    }
    json *inf = fetch_info(c);
    const char *node_id = json_path_str(inf, "NodeID");
    printf("Swarm initialized: current node (%s) is now a manager.\n\n", node_id);
    print_join_command(c, node_id);
    json_free(inf);
    return 0;
}

int cmd_swarm(swarm_cluster_t *c, int argc, char **argv)
{
    if (argc == 0 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        group_help();
        return 0;
    }
    if (strcmp(argv[0], "init") == 0)
        return swarm_init(c, argc - 1, argv + 1);
    fprintf(stderr, "swarmctl: 'swarm %s' is not a swarmctl command.\nSee 'swarmctl swarm --help'\n", argv[0]);
    return 1;
}
