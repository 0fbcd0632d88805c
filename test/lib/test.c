#include "test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

jmp_buf test__jump;
const char *test__current;
static char *tmpdirs[64];
static size_t n_tmpdirs;

void test__fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  %s:%d: %s: ", file, line, test__current);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    longjmp(test__jump, 1);
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(child);
            else
                unlink(child);
        }
        closedir(d);
    }
    rmdir(path);
}

const char *test_tmpdir(void)
{
    char tmpl[] = "/tmp/swarm-test-XXXXXX";
    char *p = mkdtemp(tmpl);
    if (p == NULL || n_tmpdirs == sizeof tmpdirs / sizeof tmpdirs[0]) {
        fprintf(stderr, "cannot make a temp dir\n");
        exit(2);
    }
    tmpdirs[n_tmpdirs] = strdup(p);
    return tmpdirs[n_tmpdirs++];
}

int test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    if (port == 0) {
        fprintf(stderr, "no free port\n");
        exit(2);
    }
    return port;
}

long long test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cleanup_tmpdirs(void)
{
    for (size_t i = 0; i < n_tmpdirs; i++) {
        remove_tree(tmpdirs[i]);
        free(tmpdirs[i]);
    }
    n_tmpdirs = 0;
}

int test__run(const test_case *cases, size_t n, int argc, char **argv)
{
    const char *select = argc > 1 ? argv[1] : NULL;
    volatile int passed = 0, failed = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (volatile size_t i = 0; i < n; i++) {
        if (select != NULL && strstr(cases[i].name, select) == NULL)
            continue;
        test__current = cases[i].name;
        if (setjmp(test__jump) == 0) {
            cases[i].fn();
            printf("ok   %s\n", cases[i].name);
            passed++;
        } else {
            printf("FAIL %s\n", cases[i].name);
            failed++;
        }
        cleanup_tmpdirs();
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
