/* swarmctl — "info": the docker CLI's "docker info" text, limited to what a swarmd knows (its Swarm block). */
#include "cli.h"
#include "humanize.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* docker's printSwarmInfo. */
static void print_swarm(json *sw)
{
    const char *state = json_path_str(sw, "LocalNodeState");
    printf(" Swarm: %s\n", state);
    if (strcmp(state, "inactive") == 0 || strcmp(state, "locked") == 0)
        return;
    printf("  NodeID: %s\n", json_path_str(sw, "NodeID"));
    const char *error = json_path_str(sw, "Error");
    if (*error)
        printf("  Error: %s\n", error);
    int control = json_truthy(json_get(sw, "ControlAvailable"));
    printf("  Is Manager: %s\n", control ? "true" : "false");
    json *cl = json_get(sw, "Cluster");
    if (cl && cl->type == JSON_OBJECT && control && !*error && strcmp(state, "error") != 0) {
        char buf[128];
        printf("  ClusterID: %s\n", json_path_str(cl, "ID"));
        printf("  Managers: %" PRId64 "\n", json_num(json_get(sw, "Managers")));
        printf("  Nodes: %" PRId64 "\n", json_num(json_get(sw, "Nodes")));
        json *pools = json_get(cl, "DefaultAddrPool");
        if (pools && pools->type == JSON_ARRAY) {
            printf("  Default Address Pool: ");
            for (json *p = pools->child; p; p = p->next)
                printf("%s  ", json_str(p));
            printf("\n  SubnetSize: %" PRIu64 "\n", json_unum(json_get(cl, "SubnetSize")));
        }
        if (json_unum(json_get(cl, "DataPathPort")) > 0)
            printf("  Data Path Port: %" PRIu64 "\n", json_unum(json_get(cl, "DataPathPort")));
        printf("  Orchestration:\n   Task History Retention Limit: %" PRId64 "\n",
               json_num(json_path(cl, "Spec.Orchestration.TaskHistoryRetentionLimit")));
        printf("  Raft:\n   Snapshot Interval: %" PRIu64 "\n", json_unum(json_path(cl, "Spec.Raft.SnapshotInterval")));
        json *keep = json_path(cl, "Spec.Raft.KeepOldSnapshots");
        if (keep && keep->type == JSON_NUMBER)
            printf("   Number of Old Snapshots to Retain: %" PRIu64 "\n", json_unum(keep));
        printf("   Heartbeat Tick: %" PRId64 "\n", json_num(json_path(cl, "Spec.Raft.HeartbeatTick")));
        printf("   Election Tick: %" PRId64 "\n", json_num(json_path(cl, "Spec.Raft.ElectionTick")));
        human_duration(buf, sizeof buf, json_num(json_path(cl, "Spec.Dispatcher.HeartbeatPeriod")));
        printf("  Dispatcher:\n   Heartbeat Period: %s\n", buf);
        human_duration(buf, sizeof buf, json_num(json_path(cl, "Spec.CAConfig.NodeCertExpiry")));
        printf("  CA Configuration:\n   Expiry Duration: %s\n", buf);
        printf("   Force Rotate: %" PRIu64 "\n", json_unum(json_path(cl, "Spec.CAConfig.ForceRotate")));
        printf("  Autolock Managers: %s\n",
               json_truthy(json_path(cl, "Spec.EncryptionConfig.AutoLockManagers")) ? "true" : "false");
        printf("  Root Rotation In Progress: %s\n", json_truthy(json_get(cl, "RootRotationInProgress")) ? "true" : "false");
    }
    printf("  Node Address: %s\n", json_path_str(sw, "NodeAddr"));
    json *managers = json_get(sw, "RemoteManagers");
    size_t count = json_length(managers);
    if (managers && managers->type == JSON_ARRAY && count > 0) {
        const char **addrs = xcalloc(count, sizeof *addrs);
        size_t i = 0;
        for (json *m = managers->child; m; m = m->next)
            addrs[i++] = json_path_str(m, "Addr");
        qsort(addrs, count, sizeof *addrs, str_cmp);
        printf("  Manager Addresses:\n");
        for (i = 0; i < count; i++)
            printf("   %s\n", addrs[i]);
        free(addrs);
    }
}

int cmd_info(swarm_cluster_t *c, int argc, char **argv)
{
    static const command_info info = {"info", "swarmctl info [OPTIONS]", "Display system-wide information", NULL};
    flag_def defs[] = {{0}};
    strlist args = {0};
    int rc = flags_parse(&info, defs, argc, argv, 1, &args);
    if (rc == 0)
        rc = flags_check_args(&info, args.count, 0, 0);
    sl_free(&args);
    if (rc != 0)
        return rc == 2 ? 0 : 1;
    printf("Client:\n Version:    %s\n Context:    default\n Debug Mode: false\n\nServer:\n", swarm_version());
    json *sw = fetch_info(c);
    if (sw == NULL) {
        fflush(stdout);
        return report_daemon_error();
    }
    print_swarm(sw);
    json_free(sw);
    return 0;
}
