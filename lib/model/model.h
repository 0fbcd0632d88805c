/*
 * The object model: typed C structs for what the control plane reasons about,
 * and codecs to and from Docker Engine API JSON.
 *
 * Every struct keeps `raw`, the full Docker-shaped JSON it was decoded from
 * (a reference owned by the struct). Encoding starts from a deep copy of raw
 * and overwrites only the fields the struct interprets, so fields libswarm
 * does not understand round-trip unchanged.
 *
 * Decoders check types only (a field of the wrong JSON type is an error that
 * names the field); swarm__*_validate functions check values and fill
 * Swarm's defaults. Errors go into a swarm__err (never the thread's last
 * error), so the code is safe on any thread. No function here does I/O.
 */
#ifndef SWARM_MODEL_H
#define SWARM_MODEL_H

#include "core/error.h"

#include <jansson.h>
#include <stdint.h>

/* ---------------------------------------------------------------- enums */

typedef enum swarm__mode {
    SWARM__MODE_REPLICATED = 0,
    SWARM__MODE_GLOBAL,
    SWARM__MODE_REPLICATED_JOB,
    SWARM__MODE_GLOBAL_JOB
} swarm__mode;
const char *swarm__mode_name(swarm__mode m); /* "replicated", "global", "replicated-job", "global-job" */

/* Task states with SwarmKit's numeric values, so that "a < b" means "earlier in the life of a task". */
typedef enum swarm__task_state {
    SWARM__TASK_NEW = 0,
    SWARM__TASK_PENDING = 64,
    SWARM__TASK_ASSIGNED = 192,
    SWARM__TASK_ACCEPTED = 256,
    SWARM__TASK_PREPARING = 320,
    SWARM__TASK_READY = 384,
    SWARM__TASK_STARTING = 448,
    SWARM__TASK_RUNNING = 512,
    SWARM__TASK_COMPLETE = 576,
    SWARM__TASK_SHUTDOWN = 640,
    SWARM__TASK_FAILED = 704,
    SWARM__TASK_REJECTED = 768,
    SWARM__TASK_REMOVE = 800,
    SWARM__TASK_ORPHANED = 832
} swarm__task_state;
const char *swarm__task_state_name(swarm__task_state s);        /* "new", "pending", ... */
int swarm__task_state_parse(swarm__task_state *out, const char *name); /* 0 or SWARM_EINVALID */

typedef enum swarm__restart_condition {
    SWARM__RESTART_ANY = 0,
    SWARM__RESTART_ON_FAILURE,
    SWARM__RESTART_NONE
} swarm__restart_condition;
const char *swarm__restart_condition_name(swarm__restart_condition c); /* "any", "on-failure", "none" */

typedef enum swarm__node_role { SWARM__ROLE_WORKER = 0, SWARM__ROLE_MANAGER } swarm__node_role;
typedef enum swarm__availability { SWARM__AVAIL_ACTIVE = 0, SWARM__AVAIL_PAUSE, SWARM__AVAIL_DRAIN } swarm__availability;
typedef enum swarm__node_state {
    SWARM__NODE_UNKNOWN = 0,
    SWARM__NODE_DOWN,
    SWARM__NODE_READY,
    SWARM__NODE_DISCONNECTED
} swarm__node_state;
const char *swarm__node_role_name(swarm__node_role r);
const char *swarm__availability_name(swarm__availability a);
const char *swarm__node_state_name(swarm__node_state s);

/* ---------------------------------------------------------------- service spec */

typedef struct swarm__strv { /* NULL-terminated array of owned strings; n excludes the NULL */
    char **v;
    size_t n;
} swarm__strv;
void swarm__strv_free(swarm__strv *s);

typedef struct swarm__resources {
    int64_t nano_cpus;
    int64_t memory_bytes;
} swarm__resources;

typedef struct swarm__restart_policy {
    swarm__restart_condition condition;
    int64_t delay_ns;      /* default 5s */
    uint64_t max_attempts; /* 0 = unlimited */
    int64_t window_ns;     /* 0 = unbounded */
} swarm__restart_policy;

typedef struct swarm__update_config {
    uint64_t parallelism;   /* default 1; 0 = all at once */
    int64_t delay_ns;
    char failure_action[16]; /* "pause" (default), "continue", "rollback" */
    int64_t monitor_ns;     /* default 5s */
    double max_failure_ratio;
    char order[16];         /* "stop-first" (default), "start-first" */
} swarm__update_config;

typedef struct swarm__port {
    char protocol[8];      /* "tcp" (default), "udp", "sctp" */
    uint32_t target_port;
    uint32_t published_port; /* 0 = allocate */
    char publish_mode[8];  /* "ingress" (default), "host" */
} swarm__port;

/* TaskTemplate: what a task runs. Shared by service specs and tasks (Task.Spec). */
typedef struct swarm__task_spec {
    char *image;           /* ContainerSpec.Image (required in a service spec) */
    swarm__strv command;   /* ContainerSpec.Command */
    swarm__strv args;      /* ContainerSpec.Args */
    swarm__strv env;       /* ContainerSpec.Env, "K=V" */
    char *dir;             /* ContainerSpec.Dir, NULL if unset */
    char *user;            /* ContainerSpec.User */
    char *hostname;        /* ContainerSpec.Hostname */
    char *stop_signal;     /* ContainerSpec.StopSignal, NULL = SIGTERM */
    int64_t stop_grace_period_ns; /* ContainerSpec.StopGracePeriod, default 10s */
    swarm__resources limits;       /* Resources.Limits */
    swarm__resources reservations; /* Resources.Reservations */
    swarm__restart_policy restart; /* RestartPolicy */
    swarm__strv constraints;       /* Placement.Constraints, e.g. "node.role==manager" */
    swarm__strv spread_prefs;      /* Placement.Preferences[].Spread.SpreadDescriptor */
    uint64_t max_replicas;         /* Placement.MaxReplicas, 0 = unlimited */
    uint64_t force_update;         /* ForceUpdate */
} swarm__task_spec;

typedef struct swarm__service_spec {
    char *name;                    /* Name */
    swarm__task_spec task;         /* TaskTemplate */
    swarm__mode mode;              /* Mode */
    uint64_t replicas;             /* Mode.Replicated.Replicas, or ReplicatedJob.TotalCompletions */
    uint64_t max_concurrent;       /* Mode.ReplicatedJob.MaxConcurrent */
    swarm__update_config update;   /* UpdateConfig */
    swarm__update_config rollback; /* RollbackConfig */
    char endpoint_mode[8];         /* EndpointSpec.Mode: "vip" (default) or "dnsrr" */
    swarm__port *ports;            /* EndpointSpec.Ports */
    size_t n_ports;
    json_t *raw;                   /* the whole ServiceSpec */
} swarm__service_spec;

/*
 * Validates a ServiceSpec in place: checks every value, normalises duration
 * and size strings ("5s", "512M") to integers, and fills Swarm's defaults
 * (replicated/1, RestartPolicy any/5s/0, UpdateConfig and RollbackConfig
 * 1/pause/5s/0/stop-first, StopGracePeriod 10s, EndpointSpec.Mode vip, port
 * protocol tcp / mode ingress, Labels {}). On error returns SWARM_EINVALID with
 * e naming the field ("Mode.Replicated.Replicas: must be >= 0") and the spec
 * may be partly modified (callers validate a copy).
 */
int swarm__service_spec_validate(json_t *spec, swarm__err *e);

/* Decodes a ServiceSpec (types only). On error *out is left zeroed. */
int swarm__service_spec_decode(swarm__service_spec *out, const json_t *spec, swarm__err *e);
json_t *swarm__service_spec_encode(const swarm__service_spec *s); /* new reference or NULL (ENOMEM) */
void swarm__service_spec_free(swarm__service_spec *s);            /* frees members, not s */

/* Task template alone (Task.Spec); same rules as within a service spec. */
int swarm__task_spec_decode(swarm__task_spec *out, const json_t *spec, const char *field_prefix, swarm__err *e);
int swarm__task_spec_encode_into(json_t *spec, const swarm__task_spec *t); /* overwrites interpreted fields */
void swarm__task_spec_free(swarm__task_spec *t);

/* ---------------------------------------------------------------- objects */

#define SWARM__IDBUF 64

typedef struct swarm__meta {
    char id[SWARM__IDBUF];
    uint64_t version;   /* Version.Index */
    int64_t created_ns; /* CreatedAt */
    int64_t updated_ns; /* UpdatedAt */
} swarm__meta;

typedef struct swarm__service {
    swarm__meta meta;
    swarm__service_spec spec;
    int has_previous;
    swarm__service_spec previous; /* PreviousSpec */
    json_t *raw;                  /* whole Service object (Endpoint, UpdateStatus... kept as is) */
} swarm__service;

typedef struct swarm__task_status {
    int64_t timestamp_ns;
    swarm__task_state state;
    char *message;     /* Status.Message */
    char *err;         /* Status.Err, NULL if none */
    int has_exit_code;
    int64_t exit_code; /* Status.ContainerStatus.ExitCode */
    int64_t pid;       /* Status.ContainerStatus.PID */
    char *container_id; /* Status.ContainerStatus.ContainerID */
} swarm__task_status;

typedef struct swarm__task {
    swarm__meta meta;
    char *name;            /* Name (may be NULL; docker derives "svc.slot") */
    char service_id[SWARM__IDBUF];
    uint64_t slot;
    char node_id[SWARM__IDBUF]; /* "" when unassigned */
    swarm__task_spec spec;
    char *service_name;    /* ServiceAnnotations.Name */
    uint64_t spec_version; /* SpecVersion.Index */
    swarm__task_state desired_state;
    swarm__task_status status;
    uint64_t job_iteration; /* JobIteration.Index (jobs only) */
    json_t *raw;
} swarm__task;

typedef struct swarm__node {
    swarm__meta meta;
    char *name;            /* Spec.Name, NULL if unset */
    swarm__node_role role; /* Spec.Role */
    swarm__availability availability; /* Spec.Availability */
    json_t *labels;        /* Spec.Labels (borrowed from raw) */
    char *hostname;        /* Description.Hostname */
    char *os, *arch;       /* Description.Platform.OS / Architecture */
    swarm__resources resources; /* Description.Resources */
    char *engine_version;  /* Description.Engine.EngineVersion */
    json_t *engine_labels; /* Description.Engine.Labels (borrowed from raw, may be NULL) */
    swarm__node_state state; /* Status.State */
    char *message;         /* Status.Message */
    char *addr;            /* Status.Addr */
    int is_manager_status; /* ManagerStatus present */
    int leader;            /* ManagerStatus.Leader */
    char *reachability;    /* ManagerStatus.Reachability */
    char *manager_addr;    /* ManagerStatus.Addr */
    json_t *raw;
} swarm__node;

typedef struct swarm__cluster {
    swarm__meta meta;
    char *name;                       /* Spec.Name, default "default" */
    int64_t task_history_limit;       /* Spec.Orchestration.TaskHistoryRetentionLimit, default 5 */
    int64_t heartbeat_period_ns;      /* Spec.Dispatcher.HeartbeatPeriod, default 5s */
    int64_t node_cert_expiry_ns;      /* Spec.CAConfig.NodeCertExpiry, default 90 days */
    uint64_t snapshot_interval;       /* Spec.Raft.SnapshotInterval, default 10000 */
    char *worker_token;               /* JoinTokens.Worker */
    char *manager_token;              /* JoinTokens.Manager */
    json_t *raw;
} swarm__cluster;

/*
 * Decoders take the whole Docker-shaped object; they fail with SWARM_EINVALID
 * naming the field when a field has the wrong type or an unknown enum value.
 * Encoders return a new reference (NULL on ENOMEM). Free functions free the
 * members and leave the struct zeroed; NULL is allowed.
 */
int swarm__service_decode(swarm__service *out, const json_t *obj, swarm__err *e);
json_t *swarm__service_encode(const swarm__service *s);
void swarm__service_free(swarm__service *s);

int swarm__task_decode(swarm__task *out, const json_t *obj, swarm__err *e);
json_t *swarm__task_encode(const swarm__task *t);
void swarm__task_free(swarm__task *t);

int swarm__node_decode(swarm__node *out, const json_t *obj, swarm__err *e);
json_t *swarm__node_encode(const swarm__node *n);
void swarm__node_free(swarm__node *n);

int swarm__cluster_decode(swarm__cluster *out, const json_t *obj, swarm__err *e);
json_t *swarm__cluster_encode(const swarm__cluster *c);
void swarm__cluster_free(swarm__cluster *c);

/* Fills defaults into a Swarm Spec (POST /swarm/init "Spec"), validating values. */
int swarm__cluster_spec_validate(json_t *spec, swarm__err *e);

/* Service names: as SwarmKit's, alphanumeric runs joined by '-' or '_' (^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$), at most 63 characters. */
int swarm__name_valid(const char *name);

#endif
