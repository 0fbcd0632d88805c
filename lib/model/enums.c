/* Names of the model's enumerations, string vectors, and the object name rule. */
#include "model/model.h"

#include <stdlib.h>
#include <string.h>

const char *swarm__mode_name(swarm__mode m)
{
    switch (m) {
    case SWARM__MODE_REPLICATED: return "replicated";
    case SWARM__MODE_GLOBAL: return "global";
    case SWARM__MODE_REPLICATED_JOB: return "replicated-job";
    case SWARM__MODE_GLOBAL_JOB: return "global-job";
    }
    return "unknown";
}

static const struct {
    swarm__task_state state;
    const char *name;
} task_states[] = {
    {SWARM__TASK_NEW, "new"},
    {SWARM__TASK_PENDING, "pending"},
    {SWARM__TASK_ASSIGNED, "assigned"},
    {SWARM__TASK_ACCEPTED, "accepted"},
    {SWARM__TASK_PREPARING, "preparing"},
    {SWARM__TASK_READY, "ready"},
    {SWARM__TASK_STARTING, "starting"},
    {SWARM__TASK_RUNNING, "running"},
    {SWARM__TASK_COMPLETE, "complete"},
    {SWARM__TASK_SHUTDOWN, "shutdown"},
    {SWARM__TASK_FAILED, "failed"},
    {SWARM__TASK_REJECTED, "rejected"},
    {SWARM__TASK_REMOVE, "remove"},
    {SWARM__TASK_ORPHANED, "orphaned"},
};

const char *swarm__task_state_name(swarm__task_state s)
{
    for (size_t i = 0; i < sizeof task_states / sizeof task_states[0]; i++)
        if (task_states[i].state == s)
            return task_states[i].name;
    return "unknown";
}

int swarm__task_state_parse(swarm__task_state *out, const char *name)
{
    if (name == NULL)
        return SWARM_EINVALID;
    for (size_t i = 0; i < sizeof task_states / sizeof task_states[0]; i++) {
        if (strcmp(task_states[i].name, name) == 0) {
            if (out != NULL)
                *out = task_states[i].state;
            return 0;
        }
    }
    /* Docker has shown "allocated" (between new and pending); SwarmKit folds it into pending. */
    if (strcmp(name, "allocated") == 0) {
        if (out != NULL)
            *out = SWARM__TASK_PENDING;
        return 0;
    }
    return SWARM_EINVALID;
}

const char *swarm__restart_condition_name(swarm__restart_condition c)
{
    switch (c) {
    case SWARM__RESTART_ANY: return "any";
    case SWARM__RESTART_ON_FAILURE: return "on-failure";
    case SWARM__RESTART_NONE: return "none";
    }
    return "unknown";
}

const char *swarm__node_role_name(swarm__node_role r)
{
    switch (r) {
    case SWARM__ROLE_WORKER: return "worker";
    case SWARM__ROLE_MANAGER: return "manager";
    }
    return "unknown";
}

const char *swarm__availability_name(swarm__availability a)
{
    switch (a) {
    case SWARM__AVAIL_ACTIVE: return "active";
    case SWARM__AVAIL_PAUSE: return "pause";
    case SWARM__AVAIL_DRAIN: return "drain";
    }
    return "unknown";
}

const char *swarm__node_state_name(swarm__node_state s)
{
    switch (s) {
    case SWARM__NODE_UNKNOWN: return "unknown";
    case SWARM__NODE_DOWN: return "down";
    case SWARM__NODE_READY: return "ready";
    case SWARM__NODE_DISCONNECTED: return "disconnected";
    }
    return "unknown";
}

void swarm__strv_free(swarm__strv *s)
{
    if (s == NULL)
        return;
    if (s->v != NULL) {
        for (size_t i = 0; i < s->n; i++)
            free(s->v[i]);
        free(s->v);
    }
    s->v = NULL;
    s->n = 0;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int swarm__name_valid(const char *name)
{
    /* SwarmKit's rule: alphanumeric runs joined by '-' or '_', at most 63 characters. */
    if (name == NULL || !name_char(name[0]))
        return 0;
    size_t n = strlen(name);
    if (n > 63 || !name_char(name[n - 1]))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!name_char(name[i]) && name[i] != '_' && name[i] != '-')
            return 0;
    return 1;
}
