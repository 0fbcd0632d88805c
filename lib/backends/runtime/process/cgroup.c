/*
 * cgroups v2 limits for process tasks: one cgroup per task under
 * /sys/fs/cgroup/libswarm.slice/, with memory.max and cpu.max. Used only when
 * /sys/fs/cgroup itself is a writable cgroup2 mount; the caller falls back
 * to rlimits otherwise.
 */
#include "backends/runtime/process/process.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP_SLICE CGROUP_ROOT "/libswarm.slice"

int swarm__cgroup_usable(void)
{
    struct statfs fs;
    if (statfs(CGROUP_ROOT, &fs) != 0 || (unsigned long)fs.f_type != (unsigned long)CGROUP2_SUPER_MAGIC)
        return 0;
    return access(CGROUP_ROOT, W_OK) == 0;
}

static int write_text(const char *dir, const char *file, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int e = errno;
    close(fd);
    errno = e;
    return w == (ssize_t)n ? 0 : -1;
}

int swarm__cgroup_create(const char *task_id, int64_t memory_bytes, int64_t nano_cpus, char **out_dir, char *err,
                         size_t errlen)
{
    *out_dir = NULL;
    if (mkdir(CGROUP_SLICE, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", CGROUP_SLICE, strerror(errno));
        return -1;
    }
    /* Delegate the controllers down to the task level (no-ops when already enabled). */
    const char *want = nano_cpus > 0 && memory_bytes > 0 ? "+memory +cpu" : memory_bytes > 0 ? "+memory" : "+cpu";
    write_text(CGROUP_ROOT, "cgroup.subtree_control", want);
    if (write_text(CGROUP_SLICE, "cgroup.subtree_control", want) != 0) {
        snprintf(err, errlen, "enabling %s in %s: %s", want, CGROUP_SLICE, strerror(errno));
        return -1;
    }
    size_t n = strlen(CGROUP_SLICE) + strlen(task_id) + 2;
    char *dir = malloc(n);
    if (dir == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(dir, n, "%s/%s", CGROUP_SLICE, task_id);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        free(dir);
        return -1;
    }
    char text[64];
    if (memory_bytes > 0) {
        snprintf(text, sizeof text, "%lld", (long long)memory_bytes);
        if (write_text(dir, "memory.max", text) != 0) {
            snprintf(err, errlen, "setting %s/memory.max: %s", dir, strerror(errno));
            rmdir(dir);
            free(dir);
            return -1;
        }
    }
    if (nano_cpus > 0) {
        const long long period = 100000;
        long long quota = (long long)(nano_cpus * period / 1000000000);
        if (quota < 1000)
            quota = 1000;
        snprintf(text, sizeof text, "%lld %lld", quota, period);
        if (write_text(dir, "cpu.max", text) != 0) {
            snprintf(err, errlen, "setting %s/cpu.max: %s", dir, strerror(errno));
            rmdir(dir);
            free(dir);
            return -1;
        }
    }
    *out_dir = dir;
    return 0;
}

void swarm__cgroup_remove(const char *dir)
{
    if (dir && *dir)
        rmdir(dir); /* fails (harmlessly) while a straggler is still inside */
}
