/*
 * Crash safety of the lmdb store: a child process applies multi-action
 * writes in a loop and reports each acknowledged index on a pipe; the parent
 * SIGKILLs it after N acknowledgements, reopens the store and checks that
 * every acknowledged write is there and that no write is torn.
 *
 * Each write k (k = 1, 2, ...) creates service "svc-k" with three tasks on
 * node "n1", and sets Counter = k in both cluster "c1" and node "n1" (each
 * update expects the version it last saw). Invariants after any crash: the
 * two counters agree (= C), services svc-1..svc-C exist with 3 tasks each and
 * nothing more, and the index is >= the last acknowledged one.
 */
#include "store/store.h"

#include "core/json.h"
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static int read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void child_die(const char *what, const swarm__err *e)
{
    fprintf(stderr, "child: %s: %s\n", what, e ? e->message : "");
    _exit(3);
}

static json_t *child_get(swarm__store *s, swarm__kind k, const char *id)
{
    swarm__snap *v;
    swarm__err e;
    if (swarm__snap_begin(s, &v, &e) != 0)
        child_die("snapshot", &e);
    json_t *obj = swarm__snap_get(v, k, id);
    swarm__snap_end(v);
    return obj;
}

/* Runs in the child: never returns. */
static void writer(const char *dir, int ack_fd)
{
    struct swarm_store_backend *b;
    swarm__store *s;
    swarm__err e;
    if (swarm_store_lmdb_new(&b, dir) != 0)
        child_die("open backend", NULL);
    if (swarm__store_open(&s, b, &e) != 0)
        child_die("open store", &e);
    uint64_t index = swarm__store_index(s);
    if (write(ack_fd, &index, sizeof index) != sizeof index) /* ready */
        _exit(3);
    json_t *cluster = child_get(s, SWARM__KIND_CLUSTER, "c1");
    json_t *node = child_get(s, SWARM__KIND_NODE, "n1");
    int64_t k = swarm__json_int(cluster, "Counter", 0);
    for (int i = 0; i < 100000; i++) {
        k++;
        index++;
        char sid[32], name[32], tid[3][32];
        snprintf(sid, sizeof sid, "svc%lld", (long long)k);
        snprintf(name, sizeof name, "svc-%lld", (long long)k);
        swarm__action a[6];
        size_t n = 0;
        a[n++] = (swarm__action){SWARM__OP_CREATE, SWARM__KIND_SERVICE,
                                 json_pack("{s:s,s:{s:s}}", "ID", sid, "Spec", "Name", name), 0};
        for (int t = 0; t < 3; t++) {
            snprintf(tid[t], sizeof tid[t], "task%lld.%d", (long long)k, t);
            a[n++] = (swarm__action){SWARM__OP_CREATE, SWARM__KIND_TASK,
                                     json_pack("{s:s,s:s,s:s,s:s,s:I}", "ID", tid[t], "ServiceID", sid, "NodeID",
                                               "n1", "DesiredState", "running", "Slot", (json_int_t)t),
                                     0};
        }
        uint64_t cv = (uint64_t)swarm__json_int(cluster, "Version.Index", 0);
        uint64_t nv = (uint64_t)swarm__json_int(node, "Version.Index", 0);
        a[n++] = (swarm__action){cluster ? SWARM__OP_UPDATE : SWARM__OP_CREATE, SWARM__KIND_CLUSTER,
                                 json_pack("{s:s,s:{s:s},s:I}", "ID", "c1", "Spec", "Name", "default", "Counter",
                                           (json_int_t)k),
                                 cv};
        a[n++] = (swarm__action){node ? SWARM__OP_UPDATE : SWARM__OP_CREATE, SWARM__KIND_NODE,
                                 json_pack("{s:s,s:I}", "ID", "n1", "Counter", (json_int_t)k), nv};
        int rc = swarm__store_apply(s, index, a, n, &e);
        for (size_t j = 0; j < n; j++)
            json_decref(a[j].object);
        if (rc != 0)
            child_die("apply", &e);
        json_decref(cluster);
        json_decref(node);
        cluster = child_get(s, SWARM__KIND_CLUSTER, "c1");
        node = child_get(s, SWARM__KIND_NODE, "n1");
        if (write(ack_fd, &index, sizeof index) != sizeof index)
            _exit(3);
    }
    _exit(0);
}

static void check_store(const char *dir, uint64_t last_ack, int64_t *counter)
{
    struct swarm_store_backend *b;
    swarm__store *s;
    swarm__err e;
    CHECK_INT(swarm_store_lmdb_new(&b, dir), 0);
    CHECK_INT(swarm__store_open(&s, b, &e), 0);
    uint64_t index = swarm__store_index(s);
    if (index < last_ack)
        test__fail(__FILE__, __LINE__, "index %llu < acknowledged %llu", (unsigned long long)index,
                   (unsigned long long)last_ack);
    swarm__snap *v;
    CHECK_INT(swarm__snap_begin(s, &v, &e), 0);
    json_t *cluster = swarm__snap_get(v, SWARM__KIND_CLUSTER, "c1");
    json_t *node = swarm__snap_get(v, SWARM__KIND_NODE, "n1");
    int64_t c = swarm__json_int(cluster, "Counter", 0), n = swarm__json_int(node, "Counter", 0);
    CHECK_INT(c, n);
    /* Every write bumps the index by one: the counter is the number of writes. */
    CHECK_INT(c, (int64_t)index);
    if (c > 0) {
        CHECK_INT(swarm__json_int(cluster, "Version.Index", 0), (int64_t)index);
        CHECK_INT(swarm__json_int(node, "Version.Index", 0), (int64_t)index);
    }
    json_decref(cluster);
    json_decref(node);

    json_t *services = NULL, *tasks = NULL;
    CHECK_INT(swarm__snap_list(v, SWARM__KIND_SERVICE, NULL, NULL, &services, &e), 0);
    CHECK_INT(json_array_size(services), c);
    json_decref(services);
    CHECK_INT(swarm__snap_list(v, SWARM__KIND_TASK, "node", "n1", &tasks, &e), 0);
    CHECK_INT(json_array_size(tasks), 3 * c);
    json_decref(tasks);
    for (int64_t k = 1; k <= c; k++) {
        char sid[32], name[32];
        snprintf(sid, sizeof sid, "svc%lld", (long long)k);
        snprintf(name, sizeof name, "svc-%lld", (long long)k);
        json_t *svc = swarm__snap_get_by_name(v, SWARM__KIND_SERVICE, name);
        CHECK(svc != NULL);
        CHECK_STR(json_string_value(json_object_get(svc, "ID")), sid);
        json_decref(svc);
        CHECK_INT(swarm__snap_list(v, SWARM__KIND_TASK, "service", sid, &tasks, &e), 0);
        CHECK_INT(json_array_size(tasks), 3);
        json_decref(tasks);
    }
    swarm__snap_end(v);
    swarm__store_close(s);
    *counter = c;
}

static void test_store_crash__sigkill_keeps_acknowledged_writes(void)
{
    const char *dir = test_tmpdir();
    static const int kill_after[] = {0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89};
    uint64_t last_ack = 0;
    for (size_t round = 0; round < sizeof kill_after / sizeof kill_after[0]; round++) {
        int fds[2];
        CHECK_INT(pipe(fds), 0);
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            writer(dir, fds[1]);
        }
        close(fds[1]);
        uint64_t msg;
        if (read_full(fds[0], &msg, sizeof msg) != 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            close(fds[0]);
            test__fail(__FILE__, __LINE__, "the writer did not start");
        }
        CHECK(msg >= last_ack);
        for (int i = 0; i < kill_after[round]; i++) {
            if (read_full(fds[0], &msg, sizeof msg) != 0)
                break;
            CHECK(msg > last_ack);
            last_ack = msg;
        }
        kill(pid, SIGKILL);
        int status;
        CHECK_INT(waitpid(pid, &status, 0), pid);
        /* Acks written just before the kill count too. */
        while (read_full(fds[0], &msg, sizeof msg) == 0)
            last_ack = msg;
        close(fds[0]);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        int64_t counter;
        check_store(dir, last_ack, &counter);
        printf("  round %zu: killed after %d acks, last ack %llu, store at %lld\n", round, kill_after[round],
               (unsigned long long)last_ack, (long long)counter);
    }
}

TEST_MAIN(TEST(test_store_crash__sigkill_keeps_acknowledged_writes))
