/*
 * Task JSON -> a launch: argv, environment, the executable resolved through
 * PATH, the user, the working directory and the stop signal. Everything that
 * can be wrong with a spec is found here, before forking, and becomes the
 * task's rejection reason.
 */
#include "backends/runtime/process/process.h"
#include "core/json.h"
#include "core/units.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const struct {
    const char *name;
    int sig;
} signals[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},     {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT},   {"IOT", SIGIOT},       {"BUS", SIGBUS},     {"FPE", SIGFPE},     {"KILL", SIGKILL},
    {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},     {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},
    {"TERM", SIGTERM},   {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CONT", SIGCONT},   {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},   {"URG", SIGURG},     {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},   {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"POLL", SIGPOLL},   {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

int swarm__signal_parse(const char *text)
{
    if (text == NULL || *text == '\0')
        return -1;
    if (text[0] >= '0' && text[0] <= '9') {
        char *end;
        long v = strtol(text, &end, 10);
        return (*end == '\0' && v > 0 && v < NSIG) ? (int)v : -1;
    }
    if (strncasecmp(text, "SIG", 3) == 0)
        text += 3;
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (strcasecmp(text, signals[i].name) == 0)
            return signals[i].sig;
    if (strncasecmp(text, "RTMIN", 5) == 0 || strncasecmp(text, "RTMAX", 5) == 0) {
        int base = strncasecmp(text, "RTMIN", 5) == 0 ? SIGRTMIN : SIGRTMAX;
        const char *rest = text + 5;
        if (*rest == '\0')
            return base;
        char *end;
        long off = strtol(rest, &end, 10);
        long sig = base + off;
        return (*end == '\0' && (rest[0] == '+' || rest[0] == '-') && sig >= SIGRTMIN && sig <= SIGRTMAX) ? (int)sig
                                                                                                             : -1;
    }
    return -1;
}

const char *swarm__signal_name(int sig, char *buf, size_t len)
{
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (signals[i].sig == sig && sig != SIGIOT && sig != SIGPOLL) {
            snprintf(buf, len, "SIG%s", signals[i].name);
            return buf;
        }
    snprintf(buf, len, "signal %d", sig);
    return buf;
}

static void free_strv(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

void swarm__process_spec_free(swarm__process_spec *s)
{
    if (s == NULL)
        return;
    swarm__launch *l = &s->launch;
    free(l->path);
    free_strv(l->argv);
    free_strv(l->envp);
    free(l->dir);
    free(l->groups);
    free(l->cgroup_procs);
    free(l->log_path);
    free(l->log_old_path);
    free(l->exit_path);
    free(l->exit_tmp_path);
    free(l->pid_path);
    free(l->pid_tmp_path);
    free(l->task_dir);
    free(l->state_path);
    free(l->state_head);
    memset(s, 0, sizeof *s);
}

/* A growable NULL-terminated string vector. */
typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

static int strv_push(strv *sv, char *owned)
{
    if (owned == NULL)
        return -1;
    if (sv->n + 2 > sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 8;
        char **v = realloc(sv->v, cap * sizeof *v);
        if (v == NULL) {
            free(owned);
            return -1;
        }
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = owned;
    sv->v[sv->n] = NULL;
    return 0;
}

/* Sets KEY=VALUE, replacing an earlier entry with the same key. */
static int env_set(strv *env, char *owned_kv)
{
    if (owned_kv == NULL)
        return -1;
    const char *eq = strchr(owned_kv, '=');
    size_t klen = eq ? (size_t)(eq - owned_kv) : strlen(owned_kv);
    for (size_t i = 0; i < env->n; i++) {
        if (strncmp(env->v[i], owned_kv, klen) == 0 && (env->v[i][klen] == '=' || env->v[i][klen] == '\0')) {
            free(env->v[i]);
            env->v[i] = owned_kv;
            return 0;
        }
    }
    return strv_push(env, owned_kv);
}

static const char *env_get(const strv *env, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->v[i], key, klen) == 0 && env->v[i][klen] == '=')
            return env->v[i] + klen + 1;
    return NULL;
}

static char *str_printf(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, fmt, a, b);
    return s;
}

static int is_executable_file(const char *path, int *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        *err = errno;
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        *err = S_ISDIR(st.st_mode) ? EISDIR : EACCES;
        return 0;
    }
    if (access(path, X_OK) != 0) {
        *err = errno;
        return 0;
    }
    return 1;
}

/* Resolves the program like Go's exec.LookPath (Docker's wording in errors). */
static char *resolve(const char *prog, const char *path_env, const char *dir, char *err, size_t errlen)
{
    int e = 0;
    if (strchr(prog, '/') != NULL) {
        char *check = (prog[0] != '/' && dir) ? str_printf("%s/%s", dir, prog) : strdup(prog);
        if (check == NULL) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        int ok = is_executable_file(check, &e);
        free(check);
        if (!ok) {
            if (e == ENOENT || e == ENOTDIR)
                snprintf(err, errlen, "exec: \"%s\": stat %s: no such file or directory", prog, prog);
            else
                snprintf(err, errlen, "exec: \"%s\": %s", prog, e == EACCES ? "permission denied" : strerror(e));
            return NULL;
        }
        char *r = strdup(prog);
        if (r == NULL)
            snprintf(err, errlen, "out of memory");
        return r;
    }
    const char *p = path_env ? path_env : "";
    int denied = 0;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        char candidate[PATH_MAX];
        int n = len == 0 ? snprintf(candidate, sizeof candidate, "./%s", prog)
                         : snprintf(candidate, sizeof candidate, "%.*s/%s", (int)len, p, prog);
        if (n > 0 && (size_t)n < sizeof candidate) {
            if (is_executable_file(candidate, &e)) {
                char *r = strdup(candidate);
                if (r == NULL)
                    snprintf(err, errlen, "out of memory");
                return r;
            }
            if (e == EACCES)
                denied = 1;
        }
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    if (denied)
        snprintf(err, errlen, "exec: \"%s\": permission denied", prog);
    else
        snprintf(err, errlen, "exec: \"%s\": executable file not found in $PATH", prog);
    return NULL;
}

static int parse_id(const char *s, unsigned long *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end != '\0' || v > UINT32_MAX - 1)
        return -1;
    *out = v;
    return 0;
}

/* "name", "uid", "name:group", "uid:gid" (Docker's --user). */
static int resolve_user(swarm__launch *l, const char *spec, char **home, char *err, size_t errlen)
{
    char user[256], group[256] = "";
    const char *colon = strchr(spec, ':');
    size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (ulen == 0 || ulen >= sizeof user || (colon && strlen(colon + 1) >= sizeof group)) {
        snprintf(err, errlen, "invalid User \"%s\"", spec);
        return -1;
    }
    memcpy(user, spec, ulen);
    user[ulen] = '\0';
    if (colon)
        snprintf(group, sizeof group, "%s", colon + 1);

    long bufsize = sysconf(_SC_GETPW_R_SIZE_MAX);
    if (bufsize < 16384)
        bufsize = 16384;
    char *buf = malloc((size_t)bufsize);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct passwd pw, *pwp = NULL;
    unsigned long num;
    int numeric = parse_id(user, &num) == 0;
    if (numeric)
        getpwuid_r((uid_t)num, &pw, buf, (size_t)bufsize, &pwp);
    else
        getpwnam_r(user, &pw, buf, (size_t)bufsize, &pwp);
    if (pwp == NULL && !numeric) {
        snprintf(err, errlen, "unable to find user %s: no matching entries in passwd file", user);
        free(buf);
        return -1;
    }
    l->set_user = 1;
    l->uid = numeric ? (uid_t)num : pw.pw_uid;
    l->gid = pwp ? pw.pw_gid : 0;
    if (pwp && pw.pw_dir && pw.pw_dir[0])
        *home = strdup(pw.pw_dir);
    char name[256] = "";
    if (pwp)
        snprintf(name, sizeof name, "%s", pw.pw_name);

    if (group[0]) {
        if (parse_id(group, &num) == 0) {
            l->gid = (gid_t)num;
        } else {
            struct group gr, *grp = NULL;
            getgrnam_r(group, &gr, buf, (size_t)bufsize, &grp);
            if (grp == NULL) {
                snprintf(err, errlen, "unable to find group %s: no matching entries in group file", group);
                free(buf);
                return -1;
            }
            l->gid = gr.gr_gid;
        }
    }
    free(buf);

    /* Supplementary groups from /etc/group, as Docker does; only root may set them. */
    l->n_groups = -1;
    if (geteuid() == 0) {
        int n = 32;
        for (;;) {
            gid_t *g = malloc((size_t)n * sizeof *g);
            if (g == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            int want = n;
            if (name[0] == '\0') {
                g[0] = l->gid;
                want = 1;
            } else if (getgrouplist(name, l->gid, g, &want) < 0) {
                free(g);
                if (want <= n || want > 65536)
                    break;
                n = want;
                continue;
            }
            l->groups = g;
            l->n_groups = want;
            break;
        }
    }
    return 0;
}

static int64_t ns_to_ms(int64_t ns)
{
    return ns / 1000000;
}

int swarm__process_spec_build(swarm__process_spec *s, const json_t *task, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    swarm__launch *l = &s->launch;
    l->n_groups = -1;
    s->stop_signal = SIGTERM;
    s->stop_grace_ms = -1;
    l->log_max = SWARM__PROCESS_LOG_MAX_DEFAULT;

    const json_t *cs = swarm__json_get(task, "Spec.ContainerSpec");
    json_t *command = json_object_get(cs, "Command");
    json_t *args = json_object_get(cs, "Args");
    strv argv = {0};
    size_t i;
    json_t *v;
    int rc = -1;
    strv env = {0};
    char *home = NULL;

    if ((command && !json_is_array(command)) || (args && !json_is_array(args))) {
        snprintf(err, errlen, "Spec.ContainerSpec.Command and Args must be arrays of strings");
        goto out;
    }
    json_array_foreach(command, i, v)
    {
        if (!json_is_string(v)) {
            snprintf(err, errlen, "Spec.ContainerSpec.Command[%zu]: must be a string", i);
            goto out;
        }
        if (strv_push(&argv, strdup(json_string_value(v))) != 0)
            goto nomem;
    }
    json_array_foreach(args, i, v)
    {
        if (!json_is_string(v)) {
            snprintf(err, errlen, "Spec.ContainerSpec.Args[%zu]: must be a string", i);
            goto out;
        }
        if (strv_push(&argv, strdup(json_string_value(v))) != 0)
            goto nomem;
    }
    if (argv.n == 0 || argv.v[0][0] == '\0') {
        snprintf(err, errlen, "no command given");
        goto out;
    }

    const char *sig = json_string_value(json_object_get(cs, "StopSignal"));
    if (sig && *sig) {
        s->stop_signal = swarm__signal_parse(sig);
        if (s->stop_signal < 0) {
            snprintf(err, errlen, "invalid StopSignal \"%s\"", sig);
            goto out;
        }
    }
    json_t *grace = json_object_get(cs, "StopGracePeriod");
    if (json_is_integer(grace) && json_integer_value(grace) >= 0)
        s->stop_grace_ms = ns_to_ms(json_integer_value(grace));

    const char *dir = json_string_value(json_object_get(cs, "Dir"));
    if (dir && *dir) {
        struct stat st;
        if (stat(dir, &st) != 0) {
            snprintf(err, errlen, "chdir %s: %s", dir, errno == ENOENT ? "no such file or directory" : strerror(errno));
            goto out;
        }
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "chdir %s: not a directory", dir);
            goto out;
        }
        if ((l->dir = strdup(dir)) == NULL)
            goto nomem;
    }

    const char *user = json_string_value(json_object_get(cs, "User"));
    if (user && *user && resolve_user(l, user, &home, err, errlen) != 0)
        goto out;

    /* A clean environment, as in a container: PATH, HOSTNAME, HOME, then the spec's Env. */
    const char *node_path = getenv("PATH");
    if (env_set(&env, str_printf("%s=%s", "PATH", node_path && *node_path ? node_path : DEFAULT_PATH)) != 0)
        goto nomem;
    const char *hostname = json_string_value(json_object_get(cs, "Hostname"));
    char host_buf[256] = "";
    if (hostname == NULL || *hostname == '\0') {
        if (gethostname(host_buf, sizeof host_buf - 1) != 0)
            host_buf[0] = '\0';
        hostname = host_buf;
    }
    if (env_set(&env, str_printf("%s=%s", "HOSTNAME", hostname)) != 0)
        goto nomem;
    /* HOME: the user's, else the node's own (the task runs as the node's user). */
    const char *node_home = getenv("HOME");
    const char *home_dir = home                        ? home
                           : l->set_user               ? "/"
                           : node_home && *node_home   ? node_home
                                                       : "/";
    if (env_set(&env, str_printf("%s=%s", "HOME", home_dir)) != 0)
        goto nomem;
    json_t *envs = json_object_get(cs, "Env");
    json_array_foreach(envs, i, v)
    {
        const char *kv = json_string_value(v);
        if (kv == NULL || kv[0] == '=' || kv[0] == '\0') {
            snprintf(err, errlen, "Spec.ContainerSpec.Env[%zu]: must be \"KEY=VALUE\"", i);
            goto out;
        }
        if (strchr(kv, '=') == NULL) {
            /* Docker's "KEY" alone passes the variable through from the engine's environment. */
            const char *val = getenv(kv);
            if (val == NULL)
                continue;
            if (env_set(&env, str_printf("%s=%s", kv, val)) != 0)
                goto nomem;
            continue;
        }
        if (env_set(&env, strdup(kv)) != 0)
            goto nomem;
    }
    if (env.v == NULL && strv_push(&env, strdup("")) != 0) /* never: PATH is always set */
        goto nomem;

    l->path = resolve(argv.v[0], env_get(&env, "PATH"), l->dir, err, errlen);
    if (l->path == NULL)
        goto out;

    s->memory_bytes = swarm__json_int(task, "Spec.Resources.Limits.MemoryBytes", 0);
    s->nano_cpus = swarm__json_int(task, "Spec.Resources.Limits.NanoCPUs", 0);
    if (s->memory_bytes < 0 || s->nano_cpus < 0) {
        snprintf(err, errlen, "Spec.Resources.Limits: must be >= 0");
        goto out;
    }
    const char *max_size = swarm__json_str(task, "Spec.LogDriver.Options.max-size");
    if (max_size) {
        int64_t bytes;
        if (swarm__parse_bytes(&bytes, max_size) != 0 || bytes < 1) {
            snprintf(err, errlen, "Spec.LogDriver.Options.max-size: invalid size \"%s\"", max_size);
            goto out;
        }
        l->log_max = bytes;
    }

    struct rlimit rl;
    l->max_fd = (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536)
                    ? (int)rl.rlim_cur
                    : 65536;
    l->argv = argv.v;
    argv.v = NULL;
    l->envp = env.v;
    env.v = NULL;
    rc = 0;
    goto out;
nomem:
    snprintf(err, errlen, "out of memory");
out:
    free_strv(argv.v);
    free_strv(env.v);
    free(home);
    return rc;
}
