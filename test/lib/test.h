/*
 * A tiny test harness. A test file defines cases `static void
 * test_<suite>__<case>(void)` and lists them in TEST_MAIN. A failed check
 * prints where and why and ends the case; the run ends with the line
 * "N passed, N failed" and exits 1 if anything failed. Optional argument:
 * a substring selecting the cases to run.
 */
#ifndef SWARM_TEST_H
#define SWARM_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

extern jmp_buf test__jump;
extern const char *test__current;
void test__fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
int test__run(const test_case *cases, size_t n, int argc, char **argv);

/* Makes (and registers for cleanup) a fresh temp directory; returns its path. */
const char *test_tmpdir(void);
/* A TCP port free on 127.0.0.1 right now (asked from the kernel). */
int test_free_port(void);
/* Milliseconds on the monotonic clock. */
long long test_now_ms(void);

#define TEST(fn) {#fn, fn}
#define TEST_MAIN(...)                                                                                   \
    int main(int argc, char **argv)                                                                      \
    {                                                                                                    \
        static const test_case cases[] = {__VA_ARGS__};                                                  \
        return test__run(cases, sizeof cases / sizeof cases[0], argc, argv);                             \
    }

#define CHECK(cond)                                                                                      \
    do {                                                                                                 \
        if (!(cond))                                                                                     \
            test__fail(__FILE__, __LINE__, "check failed: %s", #cond);                                   \
    } while (0)

#define CHECK_INT(a, b)                                                                                  \
    do {                                                                                                 \
        long long a_ = (long long)(a), b_ = (long long)(b);                                              \
        if (a_ != b_)                                                                                    \
            test__fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_);           \
    } while (0)

#define CHECK_STR(a, b)                                                                                  \
    do {                                                                                                 \
        const char *a_ = (a), *b_ = (b);                                                                 \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                             \
            test__fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)",      \
                       b_ ? b_ : "(null)");                                                              \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                      \
    do {                                                                                                 \
        const char *h_ = (hay), *n_ = (needle);                                                          \
        if (h_ == NULL || strstr(h_, n_) == NULL)                                                        \
            test__fail(__FILE__, __LINE__, "%s == \"%s\" does not contain \"%s\"", #hay,                 \
                       h_ ? h_ : "(null)", n_);                                                          \
    } while (0)

#endif
