/* The object model: enum names, codecs (round trips keep unknown fields), spec validation and defaults. */
#include "core/clock.h"
#include "core/json.h"
#include "model/model.h"
#include "test.h"

/* ---------------------------------------------------------------- helpers */

/* Parses JSON written with ' for " (easier to read in C); fails the case on a syntax error. */
static json_t *parse(const char *file, int line, const char *text)
{
    char *s = strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t err;
    json_t *v = json_loads(s, JSON_REJECT_DUPLICATES, &err);
    free(s);
    if (v == NULL)
        test__fail(file, line, "bad test JSON: %s (column %d)", err.text, err.column);
    return v;
}
#define J(text) parse(__FILE__, __LINE__, text)

/* Fails unless a and b are equal JSON with the same key order. */
static void same_json(const char *file, int line, const json_t *a, const json_t *b)
{
    char *da = swarm__json_dump(a), *db = swarm__json_dump(b);
    int same = da != NULL && db != NULL && strcmp(da, db) == 0 && json_equal(a, b);
    if (!same) {
        fprintf(stderr, "  got:      %s\n  expected: %s\n", da ? da : "(null)", db ? db : "(null)");
        free(da);
        free(db);
        test__fail(file, line, "JSON differs");
    }
    free(da);
    free(db);
}
#define CHECK_JSON(a, b) same_json(__FILE__, __LINE__, a, b)

static int64_t ts(const char *text)
{
    int64_t ns = 0;
    if (swarm__time_parse(&ns, text) != 0)
        abort();
    return ns;
}

/* Validates spec text: expects SWARM_EINVALID with a message that starts with `start`. */
static void expect_invalid(const char *file, int line, const char *text, const char *start)
{
    json_t *spec = parse(file, line, text);
    swarm__err e = {0, ""};
    int rc = swarm__service_spec_validate(spec, &e);
    json_decref(spec);
    if (rc != SWARM_EINVALID || e.code != SWARM_EINVALID)
        test__fail(file, line, "validate returned %d (message \"%s\"), expected SWARM_EINVALID", rc, e.message);
    if (strncmp(e.message, start, strlen(start)) != 0)
        test__fail(file, line, "message \"%s\" does not start with \"%s\"", e.message, start);
}
#define INVALID(text, start) expect_invalid(__FILE__, __LINE__, text, start)

/* A minimal spec with one extra member spliced into the TaskTemplate / top level. */
#define TT(extra) "{'Name':'web','TaskTemplate':{'ContainerSpec':{'Image':'nginx'}" extra "}}"
#define TOP(extra) "{'Name':'web','TaskTemplate':{'ContainerSpec':{'Image':'nginx'}}" extra "}"

/* ---------------------------------------------------------------- fixtures */

#define UPDATE_DEFAULTS                                                                                          \
    "{'Parallelism':1,'FailureAction':'pause','Monitor':5000000000,'MaxFailureRatio':0,'Order':'stop-first'}"

/* `docker service inspect` of a real service (svc_inspect.txt), plus fields libswarm does not know. */
static const char service_text[] =
    "{'ID':'k4pr0040c6nt8171ijluq8mpz','Version':{'Index':33},"
    "'CreatedAt':'2026-11-29T18:05:56.905776105Z','UpdatedAt':'2026-11-29T18:05:56.9087752Z',"
    "'Spec':{'Name':'web','Labels':{'tier':'front'},"
    "'TaskTemplate':{'ContainerSpec':{'Image':'busybox:local','Args':['sleep','3600'],'Init':false,"
    "'Mounts':[{'Type':'volume','Source':'data','Target':'/data'}],"
    "'StopGracePeriod':10000000000,'DNSConfig':{},'Isolation':'default'},"
    "'Resources':{'Limits':{'NanoCPUs':500000000,'MemoryBytes':67108864},'Reservations':{}},"
    "'RestartPolicy':{'Condition':'on-failure','Delay':5000000000,'MaxAttempts':3},"
    "'Placement':{'Constraints':['node.role==manager'],'Preferences':[{'Spread':{'SpreadDescriptor':'node.labels.dc'}}]},"
    "'ForceUpdate':0,'Runtime':'container'},"
    "'Mode':{'Replicated':{'Replicas':2}},"
    "'UpdateConfig':{'Parallelism':2,'Delay':3000000000,'FailureAction':'rollback','Monitor':5000000000,"
    "'MaxFailureRatio':0.25,'Order':'start-first'},"
    "'RollbackConfig':" UPDATE_DEFAULTS ","
    "'EndpointSpec':{'Mode':'vip','Ports':[{'Protocol':'tcp','TargetPort':80,'PublishedPort':1234,"
    "'PublishMode':'ingress'}]},"
    "'Foo':{'Bar':[1,2,{'Baz':null}]}},"
    "'PreviousSpec':{'Name':'web','TaskTemplate':{'ContainerSpec':{'Image':'busybox:old'}},"
    "'Mode':{'Replicated':{'Replicas':1}}},"
    "'Endpoint':{'Spec':{'Mode':'vip','Ports':[{'Protocol':'tcp','TargetPort':80,'PublishedPort':1234,"
    "'PublishMode':'ingress'}]},'Ports':[{'Protocol':'tcp','TargetPort':80,'PublishedPort':1234,"
    "'PublishMode':'ingress'}],'VirtualIPs':[{'NetworkID':'jumehw1hn098106jrh77iynrv','Addr':'10.0.0.4/24'}]},"
    "'UpdateStatus':{'State':'completed','StartedAt':'2026-11-29T18:06:00Z','CompletedAt':'0001-01-01T00:00:00Z',"
    "'Message':'update completed'},"
    "'Zzz':true}";

static const char task_text[] =
    "{'ID':'jjor6cvo4n8a1b2c3d4e5f6g7','Version':{'Index':40},"
    "'CreatedAt':'2026-11-29T18:05:56.91Z','UpdatedAt':'2026-11-29T18:05:58.123456789+01:00',"
    "'Labels':{},'Spec':{'ContainerSpec':{'Image':'busybox:local','Args':['sleep','3600'],'Init':false,"
    "'DNSConfig':{},'Isolation':'default'},'Resources':{'Limits':{},'Reservations':{}},'Placement':{},"
    "'ForceUpdate':0},'ServiceID':'k4pr0040c6nt8171ijluq8mpz','Slot':1,'NodeID':'h4c91b2c7n4ob9eo6kdcz3z50',"
    "'Status':{'Timestamp':'2026-11-29T18:05:58.0987Z','State':'running','Message':'started',"
    "'ContainerStatus':{'ContainerID':'abc123','PID':4242,'ExitCode':0},'PortStatus':{}},"
    "'DesiredState':'running','NetworksAttachments':[{'Network':{'ID':'n1'},'Addresses':['10.0.0.5/24']}],"
    "'SpecVersion':{'Index':33},'ServiceAnnotations':{'Name':'web'},'JobIteration':{'Index':0}}";

/* `docker node inspect` (node_inspect.txt), plugins cut short. */
static const char node_text[] =
    "{'ID':'h4c91b2c7n4ob9eo6kdcz3z50','Version':{'Index':9},"
    "'CreatedAt':'2026-11-29T18:05:24.348322774Z','UpdatedAt':'2026-11-29T18:05:24.871161383Z',"
    "'Spec':{'Labels':{},'Role':'manager','Availability':'active'},"
    "'Description':{'Hostname':'vm','Platform':{'Architecture':'x86_64','OS':'linux'},"
    "'Resources':{'NanoCPUs':2000000000,'MemoryBytes':25276510208},"
    "'Engine':{'EngineVersion':'20.10.24+dfsg1','Plugins':[{'Type':'Log','Name':'awslogs'},"
    "{'Type':'Network','Name':'overlay'},{'Type':'Volume','Name':'local'}]},"
    "'TLSInfo':{'TrustRoot':'-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n',"
    "'CertIssuerSubject':'MBMxETAPBgNVBAMTCHN3YXJtLWNh','CertIssuerPublicKey':'MFkwEwYHKoZIzj0CAQYI'}},"
    "'Status':{'State':'ready','Addr':'10.99.0.2'},"
    "'ManagerStatus':{'Leader':true,'Reachability':'reachable','Addr':'10.99.0.2:2377'}}";

static const char worker_text[] =
    "{'ID':'yovq3s0mbzm2uf6p0wdwsmh2s','Version':{'Index':21},"
    "'CreatedAt':'2026-11-29T18:06:24Z','UpdatedAt':'2026-11-29T18:06:25Z',"
    "'Spec':{'Name':'w1','Labels':{'zone':'a'},'Role':'worker','Availability':'drain'},"
    "'Description':{'Hostname':'vm2','Platform':{'Architecture':'aarch64','OS':'linux'},"
    "'Resources':{'NanoCPUs':4000000000,'MemoryBytes':8000000000},"
    "'Engine':{'EngineVersion':'libswarm 0.1.0','Labels':{'ssd':'true'}}},"
    "'Status':{'State':'down','Message':'heartbeat failure','Addr':'10.99.0.3'}}";

static const char cluster_text[] =
    "{'ID':'wgzrh5ojmbs6o6ix78rcbk5l9','Version':{'Index':10},"
    "'CreatedAt':'2026-11-29T18:05:24.3Z','UpdatedAt':'2026-11-29T18:05:24.9Z',"
    "'Spec':{'Name':'default','Labels':{},'Orchestration':{'TaskHistoryRetentionLimit':5},"
    "'Raft':{'SnapshotInterval':10000,'KeepOldSnapshots':0,'LogEntriesForSlowFollowers':500,'ElectionTick':10,"
    "'HeartbeatTick':1},'Dispatcher':{'HeartbeatPeriod':5000000000},"
    "'CAConfig':{'NodeCertExpiry':7776000000000000},'TaskDefaults':{},'EncryptionConfig':{'AutoLockManagers':false}},"
    "'TLSInfo':{'TrustRoot':'pem','CertIssuerSubject':'s','CertIssuerPublicKey':'k'},"
    "'RootRotationInProgress':false,'DefaultAddrPool':['10.0.0.0/8'],'SubnetSize':24,'DataPathPort':4789,"
    "'JoinTokens':{'Worker':'SWMTKN-1-digest-worker','Manager':'SWMTKN-1-digest-manager'}}";

/* ---------------------------------------------------------------- enums and names */

static void test_model__task_states(void)
{
    static const char *const names[] = {"new",     "pending",  "assigned", "accepted", "preparing",
                                        "ready",   "starting", "running",  "complete", "shutdown",
                                        "failed",  "rejected", "remove",   "orphaned"};
    swarm__task_state prev = SWARM__TASK_NEW;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        swarm__task_state s;
        CHECK_INT(swarm__task_state_parse(&s, names[i]), 0);
        CHECK_STR(swarm__task_state_name(s), names[i]);
        if (i > 0)
            CHECK(s > prev);
        prev = s;
    }
    swarm__task_state s;
    CHECK_INT(swarm__task_state_parse(&s, "running"), 0);
    CHECK_INT(s, SWARM__TASK_RUNNING);
    CHECK_INT(swarm__task_state_parse(&s, "Running"), SWARM_EINVALID);
    CHECK_INT(swarm__task_state_parse(&s, "bogus"), SWARM_EINVALID);
    CHECK_INT(swarm__task_state_parse(&s, NULL), SWARM_EINVALID);
    CHECK(SWARM__TASK_PENDING < SWARM__TASK_RUNNING && SWARM__TASK_RUNNING < SWARM__TASK_SHUTDOWN);
}

static void test_model__enum_names(void)
{
    CHECK_STR(swarm__mode_name(SWARM__MODE_REPLICATED), "replicated");
    CHECK_STR(swarm__mode_name(SWARM__MODE_GLOBAL), "global");
    CHECK_STR(swarm__mode_name(SWARM__MODE_REPLICATED_JOB), "replicated-job");
    CHECK_STR(swarm__mode_name(SWARM__MODE_GLOBAL_JOB), "global-job");
    CHECK_STR(swarm__restart_condition_name(SWARM__RESTART_ANY), "any");
    CHECK_STR(swarm__restart_condition_name(SWARM__RESTART_ON_FAILURE), "on-failure");
    CHECK_STR(swarm__restart_condition_name(SWARM__RESTART_NONE), "none");
    CHECK_STR(swarm__node_role_name(SWARM__ROLE_WORKER), "worker");
    CHECK_STR(swarm__node_role_name(SWARM__ROLE_MANAGER), "manager");
    CHECK_STR(swarm__availability_name(SWARM__AVAIL_ACTIVE), "active");
    CHECK_STR(swarm__availability_name(SWARM__AVAIL_PAUSE), "pause");
    CHECK_STR(swarm__availability_name(SWARM__AVAIL_DRAIN), "drain");
    CHECK_STR(swarm__node_state_name(SWARM__NODE_UNKNOWN), "unknown");
    CHECK_STR(swarm__node_state_name(SWARM__NODE_DOWN), "down");
    CHECK_STR(swarm__node_state_name(SWARM__NODE_READY), "ready");
    CHECK_STR(swarm__node_state_name(SWARM__NODE_DISCONNECTED), "disconnected");
}

static void test_model__name_valid(void)
{
    CHECK(swarm__name_valid("web"));
    CHECK(swarm__name_valid("st_web"));
    CHECK(swarm__name_valid("a-b-c_d9"));
    CHECK(!swarm__name_valid("a.b")); /* SwarmKit allows no dots */
    CHECK(!swarm__name_valid("web-"));
    CHECK(swarm__name_valid("0"));
    CHECK(swarm__name_valid("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123")); /* 63 */
    CHECK(!swarm__name_valid("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"));
    CHECK(!swarm__name_valid(""));
    CHECK(!swarm__name_valid(NULL));
    CHECK(!swarm__name_valid("bad name!"));
    CHECK(!swarm__name_valid("-web"));
    CHECK(!swarm__name_valid("_web"));
    CHECK(!swarm__name_valid(".web"));
    CHECK(!swarm__name_valid("web/1"));
    CHECK(!swarm__name_valid("wéb"));
}

/* ---------------------------------------------------------------- service codec */

static void test_model__service_decode(void)
{
    json_t *in = J(service_text);
    swarm__service s;
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_decode(&s, in, &e), 0);
    CHECK_STR(s.meta.id, "k4pr0040c6nt8171ijluq8mpz");
    CHECK_INT(s.meta.version, 33);
    CHECK_INT(s.meta.created_ns, ts("2026-11-29T18:05:56.905776105Z"));
    CHECK_INT(s.meta.updated_ns, ts("2026-11-29T18:05:56.9087752Z"));
    const swarm__service_spec *sp = &s.spec;
    CHECK_STR(sp->name, "web");
    CHECK_STR(sp->task.image, "busybox:local");
    CHECK_INT(sp->task.args.n, 2);
    CHECK_STR(sp->task.args.v[0], "sleep");
    CHECK_STR(sp->task.args.v[1], "3600");
    CHECK(sp->task.args.v[2] == NULL);
    CHECK_INT(sp->task.command.n, 0);
    CHECK(sp->task.dir == NULL);
    CHECK_INT(sp->task.stop_grace_period_ns, 10000000000LL);
    CHECK_INT(sp->task.limits.nano_cpus, 500000000);
    CHECK_INT(sp->task.limits.memory_bytes, 67108864);
    CHECK_INT(sp->task.reservations.memory_bytes, 0);
    CHECK_INT(sp->task.restart.condition, SWARM__RESTART_ON_FAILURE);
    CHECK_INT(sp->task.restart.delay_ns, 5000000000LL);
    CHECK_INT(sp->task.restart.max_attempts, 3);
    CHECK_INT(sp->task.constraints.n, 1);
    CHECK_STR(sp->task.constraints.v[0], "node.role==manager");
    CHECK_INT(sp->task.spread_prefs.n, 1);
    CHECK_STR(sp->task.spread_prefs.v[0], "node.labels.dc");
    CHECK_INT(sp->mode, SWARM__MODE_REPLICATED);
    CHECK_INT(sp->replicas, 2);
    CHECK_INT(sp->update.parallelism, 2);
    CHECK_INT(sp->update.delay_ns, 3000000000LL);
    CHECK_STR(sp->update.failure_action, "rollback");
    CHECK(sp->update.max_failure_ratio == 0.25);
    CHECK_STR(sp->update.order, "start-first");
    CHECK_INT(sp->rollback.parallelism, 1);
    CHECK_STR(sp->rollback.failure_action, "pause");
    CHECK_INT(sp->rollback.monitor_ns, 5000000000LL);
    CHECK_STR(sp->endpoint_mode, "vip");
    CHECK_INT(sp->n_ports, 1);
    CHECK_STR(sp->ports[0].protocol, "tcp");
    CHECK_INT(sp->ports[0].target_port, 80);
    CHECK_INT(sp->ports[0].published_port, 1234);
    CHECK_STR(sp->ports[0].publish_mode, "ingress");
    CHECK(json_is_object(sp->raw));
    CHECK(s.has_previous);
    CHECK_STR(s.previous.task.image, "busybox:old");
    CHECK_INT(s.previous.replicas, 1);
    swarm__service_free(&s);
    CHECK(s.raw == NULL && s.spec.name == NULL);
    swarm__service_free(&s); /* twice is harmless */
    swarm__service_free(NULL);
    json_decref(in);
}

static void test_model__service_roundtrip(void)
{
    json_t *in = J(service_text);
    swarm__service s;
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_decode(&s, in, &e), 0);
    json_t *out = swarm__service_encode(&s);
    CHECK(out != NULL);
    CHECK_JSON(out, in);
    CHECK(out != s.raw);
    json_decref(out);
    /* The spec alone round-trips too. */
    json_t *spec = swarm__service_spec_encode(&s.spec);
    CHECK_JSON(spec, json_object_get(in, "Spec"));
    json_decref(spec);
    swarm__service_free(&s);
    json_decref(in);
}

static void test_model__service_modify(void)
{
    json_t *in = J(service_text);
    swarm__service s;
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_decode(&s, in, &e), 0);
    s.meta.version = 34;
    s.meta.updated_ns += 1;
    s.spec.replicas = 5;
    free(s.spec.task.image);
    s.spec.task.image = strdup("nginx:1.25");
    s.spec.task.restart.condition = SWARM__RESTART_NONE;
    s.spec.ports[0].published_port = 8080;
    s.has_previous = 0;
    json_t *out = swarm__service_encode(&s);
    json_t *want = json_deep_copy(in);
    CHECK_INT(swarm__json_set(want, "Version.Index", json_integer(34)), 0);
    CHECK_INT(swarm__json_set(want, "UpdatedAt", json_string("2026-11-29T18:05:56.908775201Z")), 0);
    CHECK_INT(swarm__json_set(want, "Spec.Mode.Replicated.Replicas", json_integer(5)), 0);
    CHECK_INT(swarm__json_set(want, "Spec.TaskTemplate.ContainerSpec.Image", json_string("nginx:1.25")), 0);
    CHECK_INT(swarm__json_set(want, "Spec.TaskTemplate.RestartPolicy.Condition", json_string("none")), 0);
    json_integer_set(json_object_get(json_array_get(swarm__json_get(want, "Spec.EndpointSpec.Ports"), 0),
                                     "PublishedPort"),
                     8080);
    json_object_del(want, "PreviousSpec");
    CHECK_JSON(out, want);
    json_decref(out);
    json_decref(want);
    swarm__service_free(&s);
    json_decref(in);
}

static void test_model__service_no_additions(void)
{
    /* Decoding fills defaults in the struct, but encoding never invents fields. */
    json_t *in = J("{'ID':'x','Spec':{'Name':'a','TaskTemplate':{'ContainerSpec':{'Image':'i'}}}}");
    swarm__service s;
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_decode(&s, in, &e), 0);
    CHECK_INT(s.spec.replicas, 1);
    CHECK_INT(s.spec.task.restart.delay_ns, 5000000000LL);
    CHECK_INT(s.spec.task.stop_grace_period_ns, 10000000000LL);
    CHECK_STR(s.spec.update.order, "stop-first");
    CHECK_STR(s.spec.endpoint_mode, "vip");
    CHECK(!s.has_previous);
    json_t *out = swarm__service_encode(&s);
    CHECK_JSON(out, in);
    json_decref(out);
    /* Setting fields writes exactly those. */
    s.spec.task.dir = strdup("/srv");
    s.spec.mode = SWARM__MODE_GLOBAL;
    s.spec.replicas = 0;
    s.spec.n_ports = 1;
    s.spec.ports = calloc(1, sizeof *s.spec.ports);
    strcpy(s.spec.ports[0].protocol, "udp");
    strcpy(s.spec.ports[0].publish_mode, "host");
    s.spec.ports[0].target_port = 53;
    out = swarm__service_encode(&s);
    json_t *want = J("{'ID':'x','Spec':{'Name':'a','TaskTemplate':{'ContainerSpec':{'Image':'i','Dir':'/srv'}},"
                     "'Mode':{'Global':{}},"
                     "'EndpointSpec':{'Ports':[{'Protocol':'udp','TargetPort':53,'PublishMode':'host'}]}}}");
    CHECK_JSON(out, want);
    json_decref(want);
    json_decref(out);
    swarm__service_free(&s);
    json_decref(in);
}

static void test_model__service_spec_codec(void)
{
    json_t *in = J("{'Name':'job','TaskTemplate':{'ContainerSpec':{'Image':'busybox','Command':['true'],"
                   "'Env':['A=1','B=2'],'User':'nobody','Hostname':'h','StopSignal':'SIGINT',"
                   "'StopGracePeriod':'30s'},'Resources':{'Reservations':{'MemoryBytes':'16M'}},"
                   "'Placement':{'MaxReplicas':2}},"
                   "'Mode':{'ReplicatedJob':{'MaxConcurrent':2,'TotalCompletions':6}}}");
    swarm__service_spec s;
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_spec_decode(&s, in, &e), 0);
    CHECK_INT(s.mode, SWARM__MODE_REPLICATED_JOB);
    CHECK_INT(s.replicas, 6);
    CHECK_INT(s.max_concurrent, 2);
    CHECK_STR(s.task.command.v[0], "true");
    CHECK_INT(s.task.env.n, 2);
    CHECK_STR(s.task.user, "nobody");
    CHECK_STR(s.task.hostname, "h");
    CHECK_STR(s.task.stop_signal, "SIGINT");
    CHECK_INT(s.task.stop_grace_period_ns, 30000000000LL); /* strings decode before validation too */
    CHECK_INT(s.task.reservations.memory_bytes, 16 * 1024 * 1024);
    CHECK_INT(s.task.max_replicas, 2);
    json_t *out = swarm__service_spec_encode(&s);
    CHECK_JSON(out, in); /* "30s" is kept as written: the value did not change */
    json_decref(out);
    s.replicas = 8;
    s.mode = SWARM__MODE_REPLICATED_JOB;
    out = swarm__service_spec_encode(&s);
    CHECK_INT(swarm__json_int(out, "Mode.ReplicatedJob.TotalCompletions", 0), 8);
    CHECK_INT(swarm__json_int(out, "Mode.ReplicatedJob.MaxConcurrent", 0), 2);
    json_decref(out);
    swarm__service_spec_free(&s);
    json_decref(in);

    /* Not an object. */
    json_t *arr = J("[1]");
    CHECK_INT(swarm__service_spec_decode(&s, arr, &e), SWARM_EINVALID);
    CHECK_CONTAINS(e.message, "spec: must be a JSON object");
    CHECK(s.raw == NULL && s.name == NULL);
    json_decref(arr);
}

static void test_model__task_spec_encode_into(void)
{
    json_t *tt = J("{'ContainerSpec':{'Image':'a','Labels':{'x':'y'}},'Networks':[{'Target':'n'}]}");
    swarm__task_spec t;
    swarm__err e = {0, ""};
    CHECK_INT(swarm__task_spec_decode(&t, tt, "Spec", &e), 0);
    CHECK_STR(t.image, "a");
    free(t.image);
    t.image = strdup("b");
    t.force_update = 3;
    t.constraints.v = calloc(2, sizeof(char *));
    t.constraints.v[0] = strdup("node.hostname!=x");
    t.constraints.n = 1;
    CHECK_INT(swarm__task_spec_encode_into(tt, &t), 0);
    json_t *want = J("{'ContainerSpec':{'Image':'b','Labels':{'x':'y'}},'Networks':[{'Target':'n'}],"
                     "'Placement':{'Constraints':['node.hostname!=x']},'ForceUpdate':3}");
    CHECK_JSON(tt, want);
    json_decref(want);
    swarm__task_spec_free(&t);
    swarm__task_spec_free(&t);
    json_decref(tt);

    json_t *bad = J("{'ContainerSpec':{'Image':5}}");
    CHECK_INT(swarm__task_spec_decode(&t, bad, "Spec", &e), SWARM_EINVALID);
    CHECK_STR(e.message, "Spec.ContainerSpec.Image: must be a string");
    CHECK(t.image == NULL);
    json_decref(bad);
}

/* ---------------------------------------------------------------- task, node, cluster codecs */

static void test_model__task_roundtrip(void)
{
    json_t *in = J(task_text);
    swarm__task t;
    swarm__err e = {0, ""};
    CHECK_INT(swarm__task_decode(&t, in, &e), 0);
    CHECK_STR(t.meta.id, "jjor6cvo4n8a1b2c3d4e5f6g7");
    CHECK_INT(t.meta.version, 40);
    CHECK_INT(t.meta.updated_ns, ts("2026-11-29T17:05:58.123456789Z"));
    CHECK(t.name == NULL);
    CHECK_STR(t.service_id, "k4pr0040c6nt8171ijluq8mpz");
    CHECK_INT(t.slot, 1);
    CHECK_STR(t.node_id, "h4c91b2c7n4ob9eo6kdcz3z50");
    CHECK_STR(t.spec.image, "busybox:local");
    CHECK_STR(t.service_name, "web");
    CHECK_INT(t.spec_version, 33);
    CHECK_INT(t.desired_state, SWARM__TASK_RUNNING);
    CHECK_INT(t.status.state, SWARM__TASK_RUNNING);
    CHECK_INT(t.status.timestamp_ns, ts("2026-11-29T18:05:58.0987Z"));
    CHECK_STR(t.status.message, "started");
    CHECK(t.status.err == NULL);
    CHECK(t.status.has_exit_code);
    CHECK_INT(t.status.exit_code, 0);
    CHECK_INT(t.status.pid, 4242);
    CHECK_STR(t.status.container_id, "abc123");
    CHECK_INT(t.job_iteration, 0);
    json_t *out = swarm__task_encode(&t);
    CHECK_JSON(out, in); /* including the +01:00 time, kept as written */
    json_decref(out);

    /* The worker reports a failure. */
    t.status.state = SWARM__TASK_FAILED;
    t.status.err = strdup("task: non-zero exit (1)");
    t.status.exit_code = 1;
    t.status.pid = 0;
    t.desired_state = SWARM__TASK_SHUTDOWN;
    t.meta.version = 41;
    out = swarm__task_encode(&t);
    CHECK_STR(swarm__json_str(out, "Status.State"), "failed");
    CHECK_STR(swarm__json_str(out, "Status.Err"), "task: non-zero exit (1)");
    CHECK_INT(swarm__json_int(out, "Status.ContainerStatus.ExitCode", -1), 1);
    CHECK_INT(swarm__json_int(out, "Status.ContainerStatus.PID", -1), 0);
    CHECK_STR(swarm__json_str(out, "DesiredState"), "shutdown");
    CHECK_STR(swarm__json_str(out, "UpdatedAt"), "2026-11-29T18:05:58.123456789+01:00");
    json_decref(out);
    t.status.has_exit_code = 0;
    out = swarm__task_encode(&t);
    CHECK(swarm__json_get(out, "Status.ContainerStatus.ExitCode") == NULL);
    CHECK(swarm__json_get(out, "Status.ContainerStatus.ContainerID") != NULL);
    json_decref(out);
    swarm__task_free(&t);
    swarm__task_free(NULL);
    json_decref(in);
}

static void test_model__task_fresh(void)
{
    /* A task built in C from nothing: only set fields appear. */
    swarm__task t;
    memset(&t, 0, sizeof t);
    strcpy(t.meta.id, "t1");
    t.meta.version = 7;
    t.meta.created_ns = ts("2026-01-02T03:04:05.5Z");
    t.meta.updated_ns = t.meta.created_ns;
    strcpy(t.service_id, "s1");
    t.slot = 3;
    t.spec.image = strdup("nginx");
    t.spec.stop_grace_period_ns = 10000000000LL;
    t.spec.restart.delay_ns = 5000000000LL;
    t.desired_state = SWARM__TASK_RUNNING;
    t.status.state = SWARM__TASK_PENDING;
    t.status.timestamp_ns = t.meta.created_ns;
    t.status.message = strdup("pending task scheduling");
    json_t *out = swarm__task_encode(&t);
    json_t *want = J("{'ID':'t1','Version':{'Index':7},'CreatedAt':'2026-01-02T03:04:05.5Z',"
                     "'UpdatedAt':'2026-01-02T03:04:05.5Z','Spec':{'ContainerSpec':{'Image':'nginx'}},"
                     "'ServiceID':'s1','Slot':3,'DesiredState':'running',"
                     "'Status':{'Timestamp':'2026-01-02T03:04:05.5Z','State':'pending',"
                     "'Message':'pending task scheduling'}}");
    CHECK_JSON(out, want);
    /* And it decodes back to the same values. */
    swarm__task back;
    swarm__err e = {0, ""};
    CHECK_INT(swarm__task_decode(&back, out, &e), 0);
    CHECK_INT(back.slot, 3);
    CHECK_INT(back.status.state, SWARM__TASK_PENDING);
    CHECK_INT(back.meta.created_ns, t.meta.created_ns);
    swarm__task_free(&back);
    json_decref(want);
    json_decref(out);
    swarm__task_free(&t);
}

static void test_model__node_roundtrip(void)
{
    json_t *in = J(node_text);
    swarm__node n;
    swarm__err e = {0, ""};
    CHECK_INT(swarm__node_decode(&n, in, &e), 0);
    CHECK_STR(n.meta.id, "h4c91b2c7n4ob9eo6kdcz3z50");
    CHECK(n.name == NULL);
    CHECK_INT(n.role, SWARM__ROLE_MANAGER);
    CHECK_INT(n.availability, SWARM__AVAIL_ACTIVE);
    CHECK(json_is_object(n.labels) && json_object_size(n.labels) == 0);
    CHECK_STR(n.hostname, "vm");
    CHECK_STR(n.os, "linux");
    CHECK_STR(n.arch, "x86_64");
    CHECK_INT(n.resources.nano_cpus, 2000000000);
    CHECK_INT(n.resources.memory_bytes, 25276510208LL);
    CHECK_STR(n.engine_version, "20.10.24+dfsg1");
    CHECK(n.engine_labels == NULL);
    CHECK_INT(n.state, SWARM__NODE_READY);
    CHECK(n.message == NULL);
    CHECK_STR(n.addr, "10.99.0.2");
    CHECK(n.is_manager_status);
    CHECK(n.leader);
    CHECK_STR(n.reachability, "reachable");
    CHECK_STR(n.manager_addr, "10.99.0.2:2377");
    json_t *out = swarm__node_encode(&n);
    CHECK_JSON(out, in);
    json_decref(out);

    /* Demote: the ManagerStatus goes away; drain; a label. */
    n.role = SWARM__ROLE_WORKER;
    n.is_manager_status = 0;
    n.availability = SWARM__AVAIL_DRAIN;
    json_object_set_new(n.labels, "k", json_string("v"));
    out = swarm__node_encode(&n);
    json_t *want = json_deep_copy(in);
    json_object_del(want, "ManagerStatus");
    swarm__json_set(want, "Spec.Role", json_string("worker"));
    swarm__json_set(want, "Spec.Availability", json_string("drain"));
    swarm__json_set(want, "Spec.Labels.k", json_string("v"));
    CHECK_JSON(out, want);
    json_decref(want);
    json_decref(out);
    swarm__node_free(&n);
    json_decref(in);
}

static void test_model__node_worker(void)
{
    json_t *in = J(worker_text);
    swarm__node n;
    swarm__err e = {0, ""};
    CHECK_INT(swarm__node_decode(&n, in, &e), 0);
    CHECK_STR(n.name, "w1");
    CHECK_INT(n.role, SWARM__ROLE_WORKER);
    CHECK_INT(n.availability, SWARM__AVAIL_DRAIN);
    CHECK_STR(json_string_value(json_object_get(n.labels, "zone")), "a");
    CHECK_STR(json_string_value(json_object_get(n.engine_labels, "ssd")), "true");
    CHECK_INT(n.state, SWARM__NODE_DOWN);
    CHECK_STR(n.message, "heartbeat failure");
    CHECK(!n.is_manager_status);
    CHECK(n.reachability == NULL);
    json_t *out = swarm__node_encode(&n);
    CHECK_JSON(out, in);
    CHECK(json_object_get(out, "ManagerStatus") == NULL);
    json_decref(out);

    /* Promote. */
    n.role = SWARM__ROLE_MANAGER;
    n.is_manager_status = 1;
    n.reachability = strdup("reachable");
    n.manager_addr = strdup("10.99.0.3:2377");
    n.state = SWARM__NODE_READY;
    free(n.message);
    n.message = NULL;
    out = swarm__node_encode(&n);
    json_t *ms = J("{'Leader':false,'Reachability':'reachable','Addr':'10.99.0.3:2377'}");
    CHECK_JSON(json_object_get(out, "ManagerStatus"), ms);
    CHECK_STR(swarm__json_str(out, "Spec.Role"), "manager");
    CHECK_STR(swarm__json_str(out, "Status.State"), "ready");
    CHECK(swarm__json_get(out, "Status.Message") == NULL);
    json_decref(ms);
    json_decref(out);
    swarm__node_free(&n);
    json_decref(in);
}

static void test_model__cluster_roundtrip(void)
{
    json_t *in = J(cluster_text);
    swarm__cluster c;
    swarm__err e = {0, ""};
    CHECK_INT(swarm__cluster_decode(&c, in, &e), 0);
    CHECK_STR(c.meta.id, "wgzrh5ojmbs6o6ix78rcbk5l9");
    CHECK_INT(c.meta.version, 10);
    CHECK_STR(c.name, "default");
    CHECK_INT(c.task_history_limit, 5);
    CHECK_INT(c.heartbeat_period_ns, 5000000000LL);
    CHECK_INT(c.node_cert_expiry_ns, 7776000000000000LL);
    CHECK_INT(c.snapshot_interval, 10000);
    CHECK_STR(c.worker_token, "SWMTKN-1-digest-worker");
    CHECK_STR(c.manager_token, "SWMTKN-1-digest-manager");
    json_t *out = swarm__cluster_encode(&c);
    CHECK_JSON(out, in);
    json_decref(out);

    /* swarm update --task-history-limit 10, join-token --rotate. */
    c.task_history_limit = 10;
    free(c.worker_token);
    c.worker_token = strdup("SWMTKN-1-digest-rotated");
    c.meta.version = 11;
    out = swarm__cluster_encode(&c);
    json_t *want = json_deep_copy(in);
    swarm__json_set(want, "Spec.Orchestration.TaskHistoryRetentionLimit", json_integer(10));
    swarm__json_set(want, "JoinTokens.Worker", json_string("SWMTKN-1-digest-rotated"));
    swarm__json_set(want, "Version.Index", json_integer(11));
    CHECK_JSON(out, want);
    json_decref(want);
    json_decref(out);
    swarm__cluster_free(&c);
    swarm__cluster_free(NULL);

    /* Absent fields decode to Swarm's defaults and are not written back. */
    json_t *bare = J("{'ID':'c'}");
    CHECK_INT(swarm__cluster_decode(&c, bare, &e), 0);
    CHECK_STR(c.name, "default");
    CHECK_INT(c.task_history_limit, 5);
    CHECK_INT(c.node_cert_expiry_ns, 7776000000000000LL);
    out = swarm__cluster_encode(&c);
    CHECK_JSON(out, bare);
    json_decref(out);
    swarm__cluster_free(&c);
    json_decref(bare);
    json_decref(in);
}

static void expect_decode_error(const char *file, int line, int kind, const char *text, const char *message)
{
    json_t *v = parse(file, line, text);
    swarm__err e = {0, ""};
    int rc;
    union {
        swarm__service s;
        swarm__task t;
        swarm__node n;
        swarm__cluster c;
    } u;
    switch (kind) {
    case 0: rc = swarm__service_decode(&u.s, v, &e); break;
    case 1: rc = swarm__task_decode(&u.t, v, &e); break;
    case 2: rc = swarm__node_decode(&u.n, v, &e); break;
    default: rc = swarm__cluster_decode(&u.c, v, &e); break;
    }
    json_decref(v);
    if (rc != SWARM_EINVALID)
        test__fail(file, line, "decode returned %d, expected SWARM_EINVALID", rc);
    if (strcmp(e.message, message) != 0)
        test__fail(file, line, "message \"%s\", expected \"%s\"", e.message, message);
}
#define DECODE_ERROR(kind, text, message) expect_decode_error(__FILE__, __LINE__, kind, text, message)

static void test_model__decode_errors(void)
{
    DECODE_ERROR(0, "[]", "service: must be a JSON object");
    DECODE_ERROR(0, "{'ID':5}", "ID: must be a string");
    DECODE_ERROR(0, "{'Version':{'Index':'3'}}", "Version.Index: must be an integer");
    DECODE_ERROR(0, "{'Version':{'Index':-3}}", "Version.Index: must be >= 0");
    DECODE_ERROR(0, "{'CreatedAt':'yesterday'}", "CreatedAt: invalid time \"yesterday\"");
    DECODE_ERROR(0, "{'UpdatedAt':'9999-01-01T00:00:00Z'}", "UpdatedAt: invalid time \"9999-01-01T00:00:00Z\"");
    DECODE_ERROR(0, "{'Spec':[]}", "Spec: must be an object");
    DECODE_ERROR(0, "{'Spec':{'Mode':{'Replicated':{'Replicas':'2'}}}}",
                 "Spec.Mode.Replicated.Replicas: must be an integer");
    DECODE_ERROR(0, "{'Spec':{'Mode':{'Foo':{}}}}", "Spec.Mode: unknown mode \"Foo\"");
    DECODE_ERROR(0, "{'Spec':{'Mode':{'Global':{},'Replicated':{}}}}", "Spec.Mode: more than one mode given");
    DECODE_ERROR(0, "{'Spec':{'TaskTemplate':{'ContainerSpec':{'Args':['a',1]}}}}",
                 "Spec.TaskTemplate.ContainerSpec.Args: must be an array of strings");
    DECODE_ERROR(0, "{'Spec':{'TaskTemplate':{'RestartPolicy':{'Condition':'always'}}}}",
                 "Spec.TaskTemplate.RestartPolicy.Condition: unknown value \"always\"");
    DECODE_ERROR(0, "{'Spec':{'EndpointSpec':{'Ports':[{'TargetPort':'80'}]}}}",
                 "Spec.EndpointSpec.Ports[0].TargetPort: must be an integer");
    DECODE_ERROR(0, "{'PreviousSpec':{'Name':1}}", "PreviousSpec.Name: must be a string");
    DECODE_ERROR(1, "{'Slot':'1'}", "Slot: must be an integer");
    DECODE_ERROR(1, "{'DesiredState':'sleeping'}", "DesiredState: unknown task state \"sleeping\"");
    DECODE_ERROR(1, "{'Status':{'State':3}}", "Status.State: must be a string");
    DECODE_ERROR(1, "{'Status':{'ContainerStatus':{'PID':'x'}}}", "Status.ContainerStatus.PID: must be an integer");
    DECODE_ERROR(1, "{'Spec':{'ContainerSpec':[]}}", "Spec.ContainerSpec: must be an object");
    DECODE_ERROR(2, "{'Spec':{'Role':'boss'}}", "Spec.Role: unknown value \"boss\"");
    DECODE_ERROR(2, "{'Spec':{'Availability':'busy'}}", "Spec.Availability: unknown value \"busy\"");
    DECODE_ERROR(2, "{'Status':{'State':'gone'}}", "Status.State: unknown value \"gone\"");
    DECODE_ERROR(2, "{'ManagerStatus':{'Leader':'yes'}}", "ManagerStatus.Leader: must be a boolean");
    DECODE_ERROR(2, "{'Spec':{'Labels':[]}}", "Spec.Labels: must be an object");
    DECODE_ERROR(3, "{'Spec':{'Dispatcher':{'HeartbeatPeriod':true}}}",
                 "Spec.Dispatcher.HeartbeatPeriod: must be a duration in nanoseconds");
    DECODE_ERROR(3, "{'JoinTokens':{'Worker':1}}", "JoinTokens.Worker: must be a string");
}

static void test_model__decode_zero_time(void)
{
    json_t *in = J("{'ID':'a','CreatedAt':'0001-01-01T00:00:00Z','Spec':{'Name':'x'}}");
    swarm__service s;
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_decode(&s, in, &e), 0);
    CHECK_INT(s.meta.created_ns, 0);
    json_t *out = swarm__service_encode(&s);
    CHECK_JSON(out, in);
    json_decref(out);
    swarm__service_free(&s);
    json_decref(in);
}

/* ---------------------------------------------------------------- validation: defaults */

static void test_model__validate_defaults(void)
{
    json_t *spec = J("{'Name':'web','TaskTemplate':{'ContainerSpec':{'Image':'nginx'}}}");
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    json_t *want = J("{'Name':'web','Labels':{},"
                     "'TaskTemplate':{'ContainerSpec':{'Image':'nginx','StopGracePeriod':10000000000,"
                     "'DNSConfig':{},'Isolation':'default'},"
                     "'Resources':{'Limits':{},'Reservations':{}},"
                     "'RestartPolicy':{'Condition':'any','Delay':5000000000,'MaxAttempts':0},"
                     "'Placement':{},'ForceUpdate':0,'Runtime':'container'},"
                     "'Mode':{'Replicated':{'Replicas':1}},"
                     "'UpdateConfig':" UPDATE_DEFAULTS ",'RollbackConfig':" UPDATE_DEFAULTS ","
                     "'EndpointSpec':{'Mode':'vip'}}");
    CHECK_JSON(spec, want);
    /* Validation is idempotent. */
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    CHECK_JSON(spec, want);
    json_decref(want);
    json_decref(spec);
}

/* What the docker CLI sends for `service create --name web --replicas 2 -p 1234:80 busybox:local sleep 3600`
 * becomes, after validation, exactly the Spec `docker service inspect` shows (svc_inspect.txt). */
static void test_model__validate_matches_docker(void)
{
    json_t *spec = J("{'Name':'web','Labels':{},'TaskTemplate':{'ContainerSpec':{'Image':'busybox:local',"
                     "'Args':['sleep','3600'],'Init':false,'DNSConfig':{}},'Resources':{'Limits':{},"
                     "'Reservations':{}},'Placement':{},'ForceUpdate':0},'Mode':{'Replicated':{'Replicas':2}},"
                     "'EndpointSpec':{'Mode':'vip','Ports':[{'Protocol':'tcp','TargetPort':80,"
                     "'PublishedPort':1234,'PublishMode':'ingress'}]}}");
    json_t *docker = J("{'Name':'web','Labels':{},'TaskTemplate':{'ContainerSpec':{'Image':'busybox:local',"
                       "'Args':['sleep','3600'],'Init':false,'StopGracePeriod':10000000000,'DNSConfig':{},"
                       "'Isolation':'default'},'Resources':{'Limits':{},'Reservations':{}},"
                       "'RestartPolicy':{'Condition':'any','Delay':5000000000,'MaxAttempts':0},"
                       "'Placement':{},'ForceUpdate':0,'Runtime':'container'},"
                       "'Mode':{'Replicated':{'Replicas':2}},"
                       "'UpdateConfig':" UPDATE_DEFAULTS ",'RollbackConfig':" UPDATE_DEFAULTS ","
                       "'EndpointSpec':{'Mode':'vip','Ports':[{'Protocol':'tcp','TargetPort':80,"
                       "'PublishedPort':1234,'PublishMode':'ingress'}]}}");
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    CHECK_JSON(spec, docker);
    json_decref(docker);
    json_decref(spec);
}

static void test_model__validate_partial_defaults(void)
{
    /* Given sub-objects keep their values and get the missing defaults; ports get protocol and mode. */
    json_t *spec = J("{'TaskTemplate':{'ContainerSpec':{'Image':'x'},'RestartPolicy':{'Condition':'none'}},"
                     "'UpdateConfig':{'Parallelism':0,'Delay':1000000000},"
                     "'EndpointSpec':{'Mode':'','Ports':[{'TargetPort':80}]},"
                     "'Mode':{'Replicated':{}}}");
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    CHECK(json_object_get(spec, "Name") == NULL);
    CHECK_STR(swarm__json_str(spec, "TaskTemplate.RestartPolicy.Condition"), "none");
    CHECK_INT(swarm__json_int(spec, "TaskTemplate.RestartPolicy.Delay", 0), 5000000000LL);
    CHECK_INT(swarm__json_int(spec, "UpdateConfig.Parallelism", -1), 0);
    CHECK_INT(swarm__json_int(spec, "UpdateConfig.Delay", -1), 1000000000);
    CHECK_STR(swarm__json_str(spec, "UpdateConfig.FailureAction"), "pause");
    CHECK_INT(swarm__json_int(spec, "UpdateConfig.Monitor", 0), 5000000000LL);
    CHECK_STR(swarm__json_str(spec, "UpdateConfig.Order"), "stop-first");
    CHECK_INT(swarm__json_int(spec, "Mode.Replicated.Replicas", 0), 1);
    CHECK_STR(swarm__json_str(spec, "EndpointSpec.Mode"), "vip");
    json_t *port = J("{'Protocol':'tcp','TargetPort':80,'PublishMode':'ingress'}");
    CHECK_JSON(json_array_get(swarm__json_get(spec, "EndpointSpec.Ports"), 0), port);
    json_decref(port);
    json_decref(spec);
}

static void test_model__validate_modes(void)
{
    swarm__err e = {0, ""};
    json_t *spec = J(TOP(",'Mode':{'Global':{}}"));
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    json_t *want = J("{'Global':{}}");
    CHECK_JSON(json_object_get(spec, "Mode"), want);
    json_decref(want);
    json_decref(spec);

    spec = J(TOP(",'Mode':{'ReplicatedJob':{}}"));
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    want = J("{'ReplicatedJob':{'MaxConcurrent':1,'TotalCompletions':1}}");
    CHECK_JSON(json_object_get(spec, "Mode"), want);
    json_decref(want);
    json_decref(spec);

    spec = J(TOP(",'Mode':{'ReplicatedJob':{'TotalCompletions':5,'MaxConcurrent':2}}"));
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    want = J("{'ReplicatedJob':{'MaxConcurrent':2,'TotalCompletions':5}}");
    CHECK_JSON(json_object_get(spec, "Mode"), want);
    json_decref(want);
    json_decref(spec);

    spec = J(TOP(",'Mode':{'ReplicatedJob':{'MaxConcurrent':3}}"));
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    CHECK_INT(swarm__json_int(spec, "Mode.ReplicatedJob.TotalCompletions", 0), 3);
    json_decref(spec);

    spec = J(TOP(",'Mode':{'GlobalJob':{}}"));
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    json_decref(spec);

    /* Null modes are absent ones, as in Go. */
    spec = J(TOP(",'Mode':{'Global':null,'Replicated':{'Replicas':0}}"));
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    want = J("{'Replicated':{'Replicas':0}}");
    CHECK_JSON(json_object_get(spec, "Mode"), want);
    json_decref(want);
    json_decref(spec);

    spec = J(TOP(",'Mode':{}"));
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    CHECK_INT(swarm__json_int(spec, "Mode.Replicated.Replicas", 0), 1);
    json_decref(spec);
}

static void test_model__validate_normalises_units(void)
{
    json_t *spec = J("{'Name':'web','TaskTemplate':{'ContainerSpec':{'Image':'nginx','StopGracePeriod':'1m30s',"
                     "'Healthcheck':{'Test':['CMD','true'],'Interval':'5s','Timeout':'1.5s','Retries':3}},"
                     "'Resources':{'Limits':{'MemoryBytes':'512M','NanoCPUs':500000000},"
                     "'Reservations':{'MemoryBytes':'1.5g'}},"
                     "'RestartPolicy':{'Delay':'300ms','Window':'2m'}},"
                     "'UpdateConfig':{'Delay':'10s','Monitor':'1h'},'RollbackConfig':{'Monitor':2000000000}}");
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    CHECK_INT(swarm__json_int(spec, "TaskTemplate.ContainerSpec.StopGracePeriod", 0), 90000000000LL);
    CHECK_INT(swarm__json_int(spec, "TaskTemplate.ContainerSpec.Healthcheck.Interval", 0), 5000000000LL);
    CHECK_INT(swarm__json_int(spec, "TaskTemplate.ContainerSpec.Healthcheck.Timeout", 0), 1500000000LL);
    CHECK_INT(swarm__json_int(spec, "TaskTemplate.Resources.Limits.MemoryBytes", 0), 512LL * 1024 * 1024);
    CHECK_INT(swarm__json_int(spec, "TaskTemplate.Resources.Reservations.MemoryBytes", 0), 1610612736LL);
    CHECK_INT(swarm__json_int(spec, "TaskTemplate.RestartPolicy.Delay", 0), 300000000);
    CHECK_INT(swarm__json_int(spec, "TaskTemplate.RestartPolicy.Window", 0), 120000000000LL);
    CHECK_INT(swarm__json_int(spec, "UpdateConfig.Delay", 0), 10000000000LL);
    CHECK_INT(swarm__json_int(spec, "UpdateConfig.Monitor", 0), 3600000000000LL);
    CHECK_INT(swarm__json_int(spec, "RollbackConfig.Monitor", 0), 2000000000);
    /* And the result decodes with the same numbers. */
    swarm__service_spec s;
    CHECK_INT(swarm__service_spec_decode(&s, spec, &e), 0);
    CHECK_INT(s.task.stop_grace_period_ns, 90000000000LL);
    CHECK_INT(s.task.limits.memory_bytes, 512LL * 1024 * 1024);
    CHECK_INT(s.task.restart.window_ns, 120000000000LL);
    CHECK_INT(s.update.monitor_ns, 3600000000000LL);
    swarm__service_spec_free(&s);
    json_decref(spec);
}

static void test_model__validate_case_insensitive(void)
{
    /* docker-py spells some keys in lower case; Go matches field names case-insensitively. */
    json_t *spec = J("{'name':'web','taskTemplate':{'containerSpec':{'image':'nginx','command':['sh']},"
                     "'restartPolicy':{'condition':'ON-FAILURE'}},'mode':{'replicated':{'replicas':3}},"
                     "'endpointSpec':{'ports':[{'protocol':'UDP','targetPort':53}]}}");
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    CHECK_STR(swarm__json_str(spec, "Name"), "web");
    CHECK_STR(swarm__json_str(spec, "TaskTemplate.ContainerSpec.Image"), "nginx");
    CHECK_STR(swarm__json_str(spec, "TaskTemplate.RestartPolicy.Condition"), "on-failure");
    CHECK_INT(swarm__json_int(spec, "Mode.Replicated.Replicas", 0), 3);
    json_t *port = J("{'Protocol':'udp','TargetPort':53,'PublishMode':'ingress'}");
    CHECK_JSON(json_array_get(swarm__json_get(spec, "EndpointSpec.Ports"), 0), port);
    json_decref(port);
    CHECK(json_object_get(spec, "name") == NULL);
    json_decref(spec);

    /* Global mode in lower case. */
    spec = J(TOP(",'Mode':{'global':{}}"));
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    CHECK(swarm__json_get(spec, "Mode.Global") != NULL);
    json_decref(spec);
}

static void test_model__validate_keeps_unknown(void)
{
    json_t *spec = J("{'Name':'web','Foo':{'Bar':1},'TaskTemplate':{'ContainerSpec':{'Image':'nginx',"
                     "'Mounts':[{'Type':'bind','Source':'/a','Target':'/b'}],'Secrets':[{'SecretID':'s'}]},"
                     "'Networks':[{'Target':'net1','Aliases':['web']}],'LogDriver':{'Name':'json-file'},"
                     "'Extra':[1]},'Networks':[{'Target':'net2'}]}");
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    CHECK_INT(swarm__json_int(spec, "Foo.Bar", 0), 1);
    CHECK(json_is_array(swarm__json_get(spec, "TaskTemplate.ContainerSpec.Mounts")));
    CHECK(json_is_array(swarm__json_get(spec, "TaskTemplate.Extra")));
    CHECK(json_is_array(swarm__json_get(spec, "Networks")));
    /* Known keys come first, in Docker's order; unknown ones after. */
    const char *first = json_object_iter_key(json_object_iter(spec));
    CHECK_STR(first, "Name");
    json_decref(spec);
}

/* ---------------------------------------------------------------- validation: errors */

static void test_model__validate_not_object(void)
{
    swarm__err e = {0, ""};
    json_t *arr = J("[]");
    CHECK_INT(swarm__service_spec_validate(arr, &e), SWARM_EINVALID);
    CHECK_STR(e.message, "spec: must be a JSON object");
    json_decref(arr);
    CHECK_INT(swarm__service_spec_validate(NULL, &e), SWARM_EINVALID);
    CHECK_STR(e.message, "spec: must be a JSON object");
    json_t *str = json_string("x");
    CHECK_INT(swarm__service_spec_validate(str, NULL), SWARM_EINVALID); /* NULL err allowed */
    json_decref(str);
}

static void test_model__validate_image(void)
{
    INVALID("{'Name':'web'}", "TaskTemplate.ContainerSpec.Image: required");
    INVALID("{'Name':'web','TaskTemplate':{}}", "TaskTemplate.ContainerSpec.Image: required");
    INVALID("{'Name':'web','TaskTemplate':{'ContainerSpec':{'Image':''}}}", "TaskTemplate.ContainerSpec.Image: required");
    INVALID("{'Name':'web','TaskTemplate':{'ContainerSpec':{'Image':7}}}",
            "TaskTemplate.ContainerSpec.Image: must be a string");
    INVALID("{'Name':'web','TaskTemplate':{'ContainerSpec':'nginx'}}", "TaskTemplate.ContainerSpec: must be an object");
    INVALID("{'Name':'web','TaskTemplate':[]}", "TaskTemplate: must be an object");
    INVALID(TT(",'Runtime':'plugin'"), "TaskTemplate.Runtime: unsupported runtime");
}

static void test_model__validate_name(void)
{
    INVALID("{'Name':'bad name!','TaskTemplate':{'ContainerSpec':{'Image':'nginx'}}}",
            "Name: invalid name \"bad name!\": must be valid as a DNS name component");
    INVALID("{'Name':'-web','TaskTemplate':{'ContainerSpec':{'Image':'nginx'}}}", "Name: invalid name \"-web\"");
    INVALID("{'Name':'abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234',"
            "'TaskTemplate':{'ContainerSpec':{'Image':'nginx'}}}",
            "Name: invalid name");
    INVALID("{'Name':5,'TaskTemplate':{'ContainerSpec':{'Image':'nginx'}}}", "Name: must be a string");
    INVALID(TOP(",'Labels':{'a':1}"), "Labels[\"a\"]: must be a string");
    INVALID(TOP(",'Labels':[]"), "Labels: must be an object");
}

static void test_model__validate_mode_errors(void)
{
    INVALID(TOP(",'Mode':{'Replicated':{'Replicas':-1}}"), "Mode.Replicated.Replicas: must be >= 0");
    INVALID(TOP(",'Mode':{'Replicated':{'Replicas':'3'}}"), "Mode.Replicated.Replicas: must be an integer");
    INVALID(TOP(",'Mode':{'Replicated':{'Replicas':1.5}}"), "Mode.Replicated.Replicas: must be an integer");
    INVALID(TOP(",'Mode':{'Replicated':{},'Global':{}}"), "Mode: replicas are not allowed in global mode");
    INVALID(TOP(",'Mode':{'Global':{'Replicas':2}}"), "Mode: replicas are not allowed in global mode");
    INVALID(TOP(",'Mode':{'Foo':{}}"), "Mode: unknown mode \"Foo\"");
    INVALID(TOP(",'Mode':{'Replicated':{},'ReplicatedJob':{}}"), "Mode: unknown mode");
    INVALID(TOP(",'Mode':'replicated'"), "Mode: must be an object");
    INVALID(TOP(",'Mode':{'Replicated':3}"), "Mode.Replicated: must be an object");
    INVALID(TOP(",'Mode':{'ReplicatedJob':{'MaxConcurrent':-2}}"), "Mode.ReplicatedJob.MaxConcurrent: must be >= 0");
    INVALID(TOP(",'Mode':{'ReplicatedJob':{'TotalCompletions':'x'}}"),
            "Mode.ReplicatedJob.TotalCompletions: must be an integer");
}

static void test_model__validate_restart_errors(void)
{
    INVALID(TT(",'RestartPolicy':{'Condition':'always'}"),
            "TaskTemplate.RestartPolicy.Condition: must be one of any, on-failure, none");
    INVALID(TT(",'RestartPolicy':{'Condition':''}"),
            "TaskTemplate.RestartPolicy.Condition: must be one of any, on-failure, none");
    INVALID(TT(",'RestartPolicy':{'Condition':1}"),
            "TaskTemplate.RestartPolicy.Condition: must be one of any, on-failure, none");
    INVALID(TT(",'RestartPolicy':{'Delay':'abc'}"), "TaskTemplate.RestartPolicy.Delay: invalid duration \"abc\"");
    INVALID(TT(",'RestartPolicy':{'Delay':-1}"), "TaskTemplate.RestartPolicy.Delay: duration must not be negative");
    INVALID(TT(",'RestartPolicy':{'Delay':'-5s'}"), "TaskTemplate.RestartPolicy.Delay: duration must not be negative");
    INVALID(TT(",'RestartPolicy':{'Delay':true}"), "TaskTemplate.RestartPolicy.Delay: must be a duration");
    INVALID(TT(",'RestartPolicy':{'Window':'1d'}"), "TaskTemplate.RestartPolicy.Window: invalid duration \"1d\"");
    INVALID(TT(",'RestartPolicy':{'MaxAttempts':-1}"), "TaskTemplate.RestartPolicy.MaxAttempts: must be >= 0");
    INVALID(TT(",'RestartPolicy':'any'"), "TaskTemplate.RestartPolicy: must be an object");
}

static void test_model__validate_container_errors(void)
{
    INVALID("{'TaskTemplate':{'ContainerSpec':{'Image':'x','StopGracePeriod':'-10s'}}}",
            "TaskTemplate.ContainerSpec.StopGracePeriod: duration must not be negative");
    INVALID("{'TaskTemplate':{'ContainerSpec':{'Image':'x','StopGracePeriod':'soon'}}}",
            "TaskTemplate.ContainerSpec.StopGracePeriod: invalid duration \"soon\"");
    INVALID("{'TaskTemplate':{'ContainerSpec':{'Image':'x','Args':'sleep 1'}}}",
            "TaskTemplate.ContainerSpec.Args: must be an array of strings");
    INVALID("{'TaskTemplate':{'ContainerSpec':{'Image':'x','Env':['A=1',2]}}}",
            "TaskTemplate.ContainerSpec.Env[1]: must be a string");
    INVALID("{'TaskTemplate':{'ContainerSpec':{'Image':'x','TTY':'yes'}}}",
            "TaskTemplate.ContainerSpec.TTY: must be true or false");
    INVALID("{'TaskTemplate':{'ContainerSpec':{'Image':'x','Dir':1}}}", "TaskTemplate.ContainerSpec.Dir: must be a string");
    INVALID("{'TaskTemplate':{'ContainerSpec':{'Image':'x','Healthcheck':{'Interval':'often'}}}}",
            "TaskTemplate.ContainerSpec.Healthcheck.Interval: invalid duration \"often\"");
    INVALID("{'TaskTemplate':{'ContainerSpec':{'Image':'x','Mounts':[1]}}}",
            "TaskTemplate.ContainerSpec.Mounts[0]: must be an object");
}

static void test_model__validate_resources_errors(void)
{
    INVALID(TT(",'Resources':{'Limits':{'MemoryBytes':'12QB'}}"),
            "TaskTemplate.Resources.Limits.MemoryBytes: invalid size: '12QB'");
    INVALID(TT(",'Resources':{'Reservations':{'MemoryBytes':-1}}"),
            "TaskTemplate.Resources.Reservations.MemoryBytes: must be >= 0");
    INVALID(TT(",'Resources':{'Limits':{'MemoryBytes':1024}}"),
            "TaskTemplate.Resources.Limits.MemoryBytes: must be at least 4MiB");
    INVALID(TT(",'Resources':{'Limits':{'NanoCPUs':-1}}"), "TaskTemplate.Resources.Limits.NanoCPUs: must be >= 0");
    INVALID(TT(",'Resources':{'Limits':{'NanoCPUs':'0.5'}}"),
            "TaskTemplate.Resources.Limits.NanoCPUs: must be an integer");
    INVALID(TT(",'Resources':{'Reservations':{'NanoCPUs':10}}"),
            "TaskTemplate.Resources.Reservations.NanoCPUs: must be at least");
    INVALID(TT(",'Resources':{'Limits':[]}"), "TaskTemplate.Resources.Limits: must be an object");
}

static void test_model__validate_placement_errors(void)
{
    INVALID(TT(",'Placement':{'Constraints':['node.role=manager']}"),
            "TaskTemplate.Placement.Constraints[0]: invalid constraint \"node.role=manager\"");
    INVALID(TT(",'Placement':{'Constraints':['node.role==manager','==x']}"),
            "TaskTemplate.Placement.Constraints[1]: invalid constraint");
    INVALID(TT(",'Placement':{'Constraints':['node.role!=']}"), "TaskTemplate.Placement.Constraints[0]: invalid constraint");
    INVALID(TT(",'Placement':{'Constraints':['bad key==x']}"), "TaskTemplate.Placement.Constraints[0]: invalid constraint");
    INVALID(TT(",'Placement':{'Constraints':'node.role==manager'}"),
            "TaskTemplate.Placement.Constraints: must be an array of strings");
    INVALID(TT(",'Placement':{'Preferences':[{'Spread':{}}]}"),
            "TaskTemplate.Placement.Preferences[0].Spread.SpreadDescriptor: required");
    INVALID(TT(",'Placement':{'MaxReplicas':-1}"), "TaskTemplate.Placement.MaxReplicas: must be >= 0");
    INVALID(TT(",'Networks':[{'Aliases':['a']}]"), "TaskTemplate.Networks[0].Target: required");
    INVALID(TT(",'ForceUpdate':-1"), "TaskTemplate.ForceUpdate: must be >= 0");

    /* Valid forms, with blanks around the operator. */
    json_t *spec = J(TT(",'Placement':{'Constraints':['node.labels.zone == a','engine.labels.ssd!=false',"
                        "'node.hostname==vm-1.example']}"));
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    json_decref(spec);
}

static void test_model__validate_update_errors(void)
{
    INVALID(TOP(",'UpdateConfig':{'FailureAction':'explode'}"),
            "UpdateConfig.FailureAction: must be one of pause, continue, rollback");
    INVALID(TOP(",'RollbackConfig':{'FailureAction':'rollback'}"),
            "RollbackConfig.FailureAction: must be one of pause, continue");
    INVALID(TOP(",'UpdateConfig':{'Order':'random'}"), "UpdateConfig.Order: must be one of stop-first, start-first");
    INVALID(TOP(",'RollbackConfig':{'Order':3}"), "RollbackConfig.Order: must be one of stop-first, start-first");
    INVALID(TOP(",'UpdateConfig':{'MaxFailureRatio':1.5}"), "UpdateConfig.MaxFailureRatio: must be between 0 and 1");
    INVALID(TOP(",'UpdateConfig':{'MaxFailureRatio':-0.1}"), "UpdateConfig.MaxFailureRatio: must be between 0 and 1");
    INVALID(TOP(",'UpdateConfig':{'MaxFailureRatio':'0.5'}"), "UpdateConfig.MaxFailureRatio: must be a number");
    INVALID(TOP(",'UpdateConfig':{'Parallelism':-1}"), "UpdateConfig.Parallelism: must be >= 0");
    INVALID(TOP(",'UpdateConfig':{'Delay':'1x'}"), "UpdateConfig.Delay: invalid duration \"1x\"");
    INVALID(TOP(",'UpdateConfig':{'Monitor':-5}"), "UpdateConfig.Monitor: duration must not be negative");
    INVALID(TOP(",'RollbackConfig':[]"), "RollbackConfig: must be an object");

    json_t *spec = J(TOP(",'UpdateConfig':{'MaxFailureRatio':1,'FailureAction':'Continue','Order':'start-first'}"));
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    CHECK_STR(swarm__json_str(spec, "UpdateConfig.FailureAction"), "continue");
    json_decref(spec);
}

static void test_model__validate_port_errors(void)
{
    INVALID(TOP(",'EndpointSpec':{'Ports':[{'TargetPort':0}]}"),
            "EndpointSpec.Ports[0].TargetPort: must be between 1 and 65535");
    INVALID(TOP(",'EndpointSpec':{'Ports':[{'TargetPort':80},{'TargetPort':65536}]}"),
            "EndpointSpec.Ports[1].TargetPort: must be between 1 and 65535");
    INVALID(TOP(",'EndpointSpec':{'Ports':[{'PublishedPort':80}]}"), "EndpointSpec.Ports[0].TargetPort: required");
    INVALID(TOP(",'EndpointSpec':{'Ports':[{'TargetPort':'80'}]}"), "EndpointSpec.Ports[0].TargetPort: must be an integer");
    INVALID(TOP(",'EndpointSpec':{'Ports':[{'TargetPort':80,'PublishedPort':-1}]}"),
            "EndpointSpec.Ports[0].PublishedPort: must be between 0 and 65535");
    INVALID(TOP(",'EndpointSpec':{'Ports':[{'TargetPort':80,'PublishedPort':70000}]}"),
            "EndpointSpec.Ports[0].PublishedPort: must be between 0 and 65535");
    INVALID(TOP(",'EndpointSpec':{'Ports':[{'TargetPort':80,'Protocol':'icmp'}]}"),
            "EndpointSpec.Ports[0].Protocol: must be one of tcp, udp, sctp");
    INVALID(TOP(",'EndpointSpec':{'Ports':[{'TargetPort':80,'PublishMode':'local'}]}"),
            "EndpointSpec.Ports[0].PublishMode: must be one of ingress, host");
    INVALID(TOP(",'EndpointSpec':{'Mode':'round-robin'}"), "EndpointSpec.Mode: must be one of vip, dnsrr");
    INVALID(TOP(",'EndpointSpec':{'Mode':'dnsrr','Ports':[{'TargetPort':80,'PublishedPort':8080}]}"),
            "EndpointSpec.Ports[0]: port published with ingress mode can't be used with dnsrr mode");
    INVALID(TOP(",'EndpointSpec':{'Ports':[{'TargetPort':80,'PublishedPort':8080},"
                "{'TargetPort':81,'PublishedPort':8080}]}"),
            "EndpointSpec.Ports[1]: published port 8080/tcp is given twice");
    INVALID(TOP(",'EndpointSpec':{'Ports':{}}"), "EndpointSpec.Ports: must be an array");
    INVALID(TOP(",'EndpointSpec':{'Ports':[80]}"), "EndpointSpec.Ports[0]: must be an object");

    /* dnsrr with host-mode ports is fine; so are the same port numbers on different protocols. */
    json_t *spec = J(TOP(",'EndpointSpec':{'Mode':'dnsrr','Ports':[{'TargetPort':80,'PublishedPort':8080,"
                         "'PublishMode':'host'},{'TargetPort':80,'PublishedPort':8080,'Protocol':'udp',"
                         "'PublishMode':'host'}]}"));
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    json_decref(spec);
}

/* ---------------------------------------------------------------- cluster spec */

static void test_model__cluster_spec_defaults(void)
{
    /* What `docker swarm init` sends. */
    json_t *spec = J("{'Labels':null,'Orchestration':{},'Raft':{'ElectionTick':0,'HeartbeatTick':0},"
                     "'Dispatcher':{},'CAConfig':{},'TaskDefaults':{},'EncryptionConfig':{'AutoLockManagers':false}}");
    swarm__err e = {0, ""};
    CHECK_INT(swarm__cluster_spec_validate(spec, &e), 0);
    json_t *want = J("{'Name':'default','Labels':{},'Orchestration':{'TaskHistoryRetentionLimit':5},"
                     "'Raft':{'SnapshotInterval':10000,'KeepOldSnapshots':0,'LogEntriesForSlowFollowers':500,"
                     "'ElectionTick':10,'HeartbeatTick':1},'Dispatcher':{'HeartbeatPeriod':5000000000},"
                     "'CAConfig':{'NodeCertExpiry':7776000000000000},'TaskDefaults':{},"
                     "'EncryptionConfig':{'AutoLockManagers':false}}");
    CHECK_JSON(spec, want);
    json_decref(spec);

    spec = J("{}");
    CHECK_INT(swarm__cluster_spec_validate(spec, &e), 0);
    CHECK_JSON(spec, want);
    CHECK_INT(swarm__cluster_spec_validate(spec, &e), 0); /* idempotent */
    CHECK_JSON(spec, want);
    json_decref(spec);
    json_decref(want);

    /* swarm update: given values stay; duration strings are normalised. */
    spec = J("{'Name':'default','Orchestration':{'TaskHistoryRetentionLimit':10},"
             "'Dispatcher':{'HeartbeatPeriod':'10s'},'CAConfig':{'NodeCertExpiry':'720h'}}");
    CHECK_INT(swarm__cluster_spec_validate(spec, &e), 0);
    CHECK_INT(swarm__json_int(spec, "Orchestration.TaskHistoryRetentionLimit", 0), 10);
    CHECK_INT(swarm__json_int(spec, "Dispatcher.HeartbeatPeriod", 0), 10000000000LL);
    CHECK_INT(swarm__json_int(spec, "CAConfig.NodeCertExpiry", 0), 2592000000000000LL);
    json_decref(spec);
}

static void expect_cluster_invalid(const char *file, int line, const char *text, const char *start)
{
    json_t *spec = parse(file, line, text);
    swarm__err e = {0, ""};
    int rc = swarm__cluster_spec_validate(spec, &e);
    json_decref(spec);
    if (rc != SWARM_EINVALID || strncmp(e.message, start, strlen(start)) != 0)
        test__fail(file, line, "validate returned %d \"%s\", expected SWARM_EINVALID \"%s...\"", rc, e.message,
                   start);
}
#define CLUSTER_INVALID(text, start) expect_cluster_invalid(__FILE__, __LINE__, text, start)

static void test_model__cluster_spec_errors(void)
{
    CLUSTER_INVALID("[]", "spec: must be a JSON object");
    CLUSTER_INVALID("{'Name':3}", "Name: must be a string");
    CLUSTER_INVALID("{'Orchestration':{'TaskHistoryRetentionLimit':'5'}}",
                    "Orchestration.TaskHistoryRetentionLimit: must be an integer");
    CLUSTER_INVALID("{'Raft':{'SnapshotInterval':-1}}", "Raft.SnapshotInterval: must be >= 0");
    CLUSTER_INVALID("{'Raft':{'ElectionTick':1,'HeartbeatTick':2}}",
                    "Raft.ElectionTick: must be greater than Raft.HeartbeatTick");
    CLUSTER_INVALID("{'Dispatcher':{'HeartbeatPeriod':'fast'}}", "Dispatcher.HeartbeatPeriod: invalid duration \"fast\"");
    CLUSTER_INVALID("{'Dispatcher':{'HeartbeatPeriod':-1}}", "Dispatcher.HeartbeatPeriod: duration must not be negative");
    CLUSTER_INVALID("{'CAConfig':{'NodeCertExpiry':'30m'}}", "CAConfig.NodeCertExpiry: must be at least 1h0m0s");
    CLUSTER_INVALID("{'EncryptionConfig':{'AutoLockManagers':'no'}}",
                    "EncryptionConfig.AutoLockManagers: must be true or false");
    CLUSTER_INVALID("{'TaskDefaults':5}", "TaskDefaults: must be an object");
    CLUSTER_INVALID("{'Labels':{'a':[]}}", "Labels[\"a\"]: must be a string");
}

/* ---------------------------------------------------------------- validate then decode */

static void test_model__validated_spec_decodes(void)
{
    json_t *spec = J("{'Name':'api','TaskTemplate':{'ContainerSpec':{'Image':'img'},"
                     "'Placement':{'Constraints':['node.role==worker'],"
                     "'Preferences':[{'Spread':{'SpreadDescriptor':'node.labels.rack'}}]}},"
                     "'Mode':{'Global':{}},'EndpointSpec':{'Ports':[{'TargetPort':443,'PublishedPort':8443,"
                     "'PublishMode':'host'}]}}");
    swarm__err e = {0, ""};
    CHECK_INT(swarm__service_spec_validate(spec, &e), 0);
    swarm__service_spec s;
    CHECK_INT(swarm__service_spec_decode(&s, spec, &e), 0);
    CHECK_INT(s.mode, SWARM__MODE_GLOBAL);
    CHECK_INT(s.replicas, 0);
    CHECK_STR(s.task.spread_prefs.v[0], "node.labels.rack");
    CHECK_STR(s.ports[0].publish_mode, "host");
    CHECK_INT(s.ports[0].published_port, 8443);
    CHECK_STR(s.update.failure_action, "pause");
    json_t *out = swarm__service_spec_encode(&s);
    CHECK_JSON(out, spec);
    json_decref(out);
    swarm__service_spec_free(&s);
    json_decref(spec);
}

TEST_MAIN(TEST(test_model__task_states), TEST(test_model__enum_names), TEST(test_model__name_valid),
          TEST(test_model__service_decode), TEST(test_model__service_roundtrip), TEST(test_model__service_modify),
          TEST(test_model__service_no_additions), TEST(test_model__service_spec_codec),
          TEST(test_model__task_spec_encode_into), TEST(test_model__task_roundtrip), TEST(test_model__task_fresh),
          TEST(test_model__node_roundtrip), TEST(test_model__node_worker), TEST(test_model__cluster_roundtrip),
          TEST(test_model__decode_errors), TEST(test_model__decode_zero_time), TEST(test_model__validate_defaults),
          TEST(test_model__validate_matches_docker), TEST(test_model__validate_partial_defaults),
          TEST(test_model__validate_modes), TEST(test_model__validate_normalises_units),
          TEST(test_model__validate_case_insensitive), TEST(test_model__validate_keeps_unknown),
          TEST(test_model__validate_not_object), TEST(test_model__validate_image), TEST(test_model__validate_name),
          TEST(test_model__validate_mode_errors), TEST(test_model__validate_restart_errors),
          TEST(test_model__validate_container_errors), TEST(test_model__validate_resources_errors),
          TEST(test_model__validate_placement_errors), TEST(test_model__validate_update_errors),
          TEST(test_model__validate_port_errors), TEST(test_model__cluster_spec_defaults),
          TEST(test_model__cluster_spec_errors), TEST(test_model__validated_spec_decodes))
