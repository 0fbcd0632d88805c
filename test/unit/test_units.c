/* Go durations and docker sizes: swarm_parse_duration, swarm_parse_bytes, swarm_format_duration. */
#include "core/units.h"
#include "swarm/errors.h"
#include "swarm/units.h"
#include "test.h"

#define SEC 1000000000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)

static void check_duration(const char *file, int line, const char *text, int64_t want)
{
    int64_t got = -12345;
    int rc = swarm_parse_duration(&got, text);
    if (rc != 0)
        test__fail(file, line, "parse_duration(\"%s\") failed: %s", text, swarm_error_last_message());
    if (got != want)
        test__fail(file, line, "parse_duration(\"%s\") == %lld, expected %lld", text, (long long)got,
                   (long long)want);
}
#define DUR_OK(text, want) check_duration(__FILE__, __LINE__, text, want)

static void check_duration_error(const char *file, int line, const char *text)
{
    int64_t got = 0;
    swarm_error_clear();
    int rc = swarm_parse_duration(&got, text);
    if (rc != SWARM_EINVALID)
        test__fail(file, line, "parse_duration(\"%s\") == %d (value %lld), expected SWARM_EINVALID", text, rc,
                   (long long)got);
    char want[256];
    snprintf(want, sizeof want, "invalid duration \"%s\"", text);
    if (swarm_error_last_code() != SWARM_EINVALID || strcmp(swarm_error_last_message(), want) != 0)
        test__fail(file, line, "last error \"%s\", expected \"%s\"", swarm_error_last_message(), want);
    /* The internal variant reports the same without touching the thread's error. */
    swarm_error_clear();
    if (swarm__parse_duration(&got, text) != -1 || swarm_error_last_code() != 0)
        test__fail(file, line, "swarm__parse_duration(\"%s\") did not fail quietly", text);
}
#define DUR_ERR(text) check_duration_error(__FILE__, __LINE__, text)

static void test_units__duration_simple(void)
{
    DUR_OK("0", 0);
    DUR_OK("-0", 0);
    DUR_OK("+0", 0);
    DUR_OK("5s", 5 * SEC);
    DUR_OK("30s", 30 * SEC);
    DUR_OK("1478s", 1478 * SEC);
    DUR_OK("-5s", -5 * SEC);
    DUR_OK("+5s", 5 * SEC);
    DUR_OK("0s", 0);
    DUR_OK("10ns", 10);
    DUR_OK("11us", 11000);
    DUR_OK("12\xc2\xb5s", 12000); /* micro sign */
    DUR_OK("12\xce\xbcs", 12000); /* Greek mu */
    DUR_OK("13ms", 13000000);
    DUR_OK("15m", 15 * MIN);
    DUR_OK("16h", 16 * HOUR);
    DUR_OK("300ms", 300000000);
}

static void test_units__duration_fractions(void)
{
    DUR_OK("5.0s", 5 * SEC);
    DUR_OK("5.6s", 5 * SEC + 600000000);
    DUR_OK("5.s", 5 * SEC);
    DUR_OK(".5s", SEC / 2);
    DUR_OK("1.004s", SEC + 4000000);
    DUR_OK("1.0040s", SEC + 4000000);
    DUR_OK("100.00100s", 100 * SEC + 1000000);
    DUR_OK("1.5h", 90 * MIN);
    DUR_OK("-1.5h", -90 * MIN);
    DUR_OK("0.3333333333333333333h", 20 * MIN);
    DUR_OK("0.100000000000000000000h", 6 * MIN);
    DUR_OK("0.830103483285477580700h", 49 * MIN + 48 * SEC + 372539827);
}

static void test_units__duration_compound(void)
{
    DUR_OK("3h30m", 3 * HOUR + 30 * MIN);
    DUR_OK("1h2m3.5s", HOUR + 2 * MIN + 3 * SEC + SEC / 2);
    DUR_OK("10.5s4m", 4 * MIN + 10 * SEC + SEC / 2);
    DUR_OK("-2m3.4s", -(2 * MIN + 3 * SEC + 400000000));
    DUR_OK("1h2m3s4ms5us6ns", HOUR + 2 * MIN + 3 * SEC + 4000000 + 5000 + 6);
    DUR_OK("39h9m14.425s", 39 * HOUR + 9 * MIN + 14 * SEC + 425000000);
    DUR_OK("52763797000ns", 52763797000LL);
}

static void test_units__duration_limits(void)
{
    DUR_OK("9007199254740993ns", (1LL << 53) + 1);
    DUR_OK("9223372036854775807ns", INT64_MAX);
    DUR_OK("9223372036854775.807us", INT64_MAX);
    DUR_OK("9223372036s854ms775us807ns", INT64_MAX);
    DUR_OK("-9223372036854775808ns", INT64_MIN);
    DUR_OK("-9223372036854775.808us", INT64_MIN);
    DUR_OK("2562047h", 2562047 * HOUR);
    DUR_ERR("9223372036854775808ns");
    DUR_ERR("9223372036854775.808us");
    DUR_ERR("9223372036854ms775us808ns");
    DUR_ERR("-9223372036854775809ns");
    DUR_ERR("2562048h");
    DUR_ERR("99999999999999999999s");
}

static void test_units__duration_errors(void)
{
    DUR_ERR("");
    DUR_ERR("3");
    DUR_ERR("-");
    DUR_ERR("s");
    DUR_ERR(".");
    DUR_ERR("-.");
    DUR_ERR(".s");
    DUR_ERR("+.s");
    DUR_ERR("1d");
    DUR_ERR("5 s");
    DUR_ERR(" 5s");
    DUR_ERR("5s ");
    DUR_ERR("abc");
    DUR_ERR("1h30");
    DUR_ERR("--5s");
    DUR_ERR("\x85\x85");
    int64_t v;
    CHECK_INT(swarm_parse_duration(&v, NULL), SWARM_EINVALID);
    CHECK_INT(swarm_parse_duration(NULL, "5s"), SWARM_EINVALID);
}

static void check_bytes(const char *file, int line, const char *text, int64_t want)
{
    int64_t got = -12345;
    int rc = swarm_parse_bytes(&got, text);
    if (rc != 0)
        test__fail(file, line, "parse_bytes(\"%s\") failed: %s", text, swarm_error_last_message());
    if (got != want)
        test__fail(file, line, "parse_bytes(\"%s\") == %lld, expected %lld", text, (long long)got, (long long)want);
}
#define BYTES_OK(text, want) check_bytes(__FILE__, __LINE__, text, want)

static void check_bytes_error(const char *file, int line, const char *text)
{
    int64_t got = 0;
    swarm_error_clear();
    int rc = swarm_parse_bytes(&got, text);
    if (rc != SWARM_EINVALID)
        test__fail(file, line, "parse_bytes(\"%s\") == %d (value %lld), expected SWARM_EINVALID", text, rc,
                   (long long)got);
    char want[256];
    snprintf(want, sizeof want, "invalid size: '%s'", text);
    if (strcmp(swarm_error_last_message(), want) != 0)
        test__fail(file, line, "last error \"%s\", expected \"%s\"", swarm_error_last_message(), want);
    swarm_error_clear();
    if (swarm__parse_bytes(&got, text) != -1 || swarm_error_last_code() != 0)
        test__fail(file, line, "swarm__parse_bytes(\"%s\") did not fail quietly", text);
}
#define BYTES_ERR(text) check_bytes_error(__FILE__, __LINE__, text)

#define KiB 1024LL
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define TiB (1024 * GiB)
#define PiB (1024 * TiB)

static void test_units__bytes_ok(void)
{
    BYTES_OK("0", 0);
    BYTES_OK("32", 32);
    BYTES_OK("1024", 1024);
    BYTES_OK("32b", 32);
    BYTES_OK("32B", 32);
    BYTES_OK("1k", KiB);
    BYTES_OK("32k", 32 * KiB);
    BYTES_OK("32K", 32 * KiB);
    BYTES_OK("32kb", 32 * KiB);
    BYTES_OK("32Kb", 32 * KiB);
    BYTES_OK("32KiB", 32 * KiB);
    BYTES_OK("32kib", 32 * KiB);
    BYTES_OK("512M", 512 * MiB);
    BYTES_OK("512MiB", 512 * MiB);
    BYTES_OK("10mb", 10 * MiB);
    BYTES_OK("32Mb", 32 * MiB);
    BYTES_OK("1.5g", GiB + GiB / 2);
    BYTES_OK("1.5GiB", GiB + GiB / 2);
    BYTES_OK("32Gb", 32 * GiB);
    BYTES_OK("32Tb", 32 * TiB);
    BYTES_OK("32Pb", 32 * PiB);
    BYTES_OK("32PB", 32 * PiB);
    BYTES_OK("32P", 32 * PiB);
    BYTES_OK("32.3", 32);
    BYTES_OK("0.5k", 512);
    BYTES_OK("32 mb", 32 * MiB);
}

static void test_units__bytes_errors(void)
{
    BYTES_ERR("");
    BYTES_ERR("12QB");
    BYTES_ERR("hello");
    BYTES_ERR("-32");
    BYTES_ERR(" 32");
    BYTES_OK("32 ", 32);
    BYTES_ERR("32m b");
    BYTES_ERR("32bm");
    BYTES_ERR("32mm");
    BYTES_ERR("32mib2");
    BYTES_ERR("32.");
    BYTES_ERR("1.2.3");
    BYTES_ERR("32  m");
    BYTES_ERR("k");
    BYTES_ERR("99999999999999999999");
    BYTES_ERR("9000000p");
    int64_t v;
    CHECK_INT(swarm_parse_bytes(&v, NULL), SWARM_EINVALID);
}

static void check_format(const char *file, int line, int64_t ns, const char *want)
{
    char buf[32];
    int n = swarm_format_duration(buf, sizeof buf, ns);
    if (strcmp(buf, want) != 0 || n != (int)strlen(want))
        test__fail(file, line, "format_duration(%lld) == \"%s\" (%d), expected \"%s\"", (long long)ns, buf, n, want);
    /* What Go prints, Go (and so we) can parse back. */
    int64_t back;
    if (swarm__parse_duration(&back, buf) != 0 || back != ns)
        test__fail(file, line, "\"%s\" does not parse back to %lld", buf, (long long)ns);
}
#define FMT(ns, want) check_format(__FILE__, __LINE__, ns, want)

static void test_units__format(void)
{
    FMT(0, "0s");
    FMT(1, "1ns");
    FMT(999, "999ns");
    FMT(1100, "1.1\xc2\xb5s");
    FMT(2200000, "2.2ms");
    FMT(300000000, "300ms");
    FMT(SEC + SEC / 2, "1.5s");
    FMT(3300000000LL, "3.3s");
    FMT(5 * SEC, "5s");
    FMT(90 * SEC, "1m30s");
    FMT(4 * MIN + 5 * SEC, "4m5s");
    FMT(4 * MIN + 5 * SEC + 1000000, "4m5.001s");
    FMT(HOUR, "1h0m0s");
    FMT(5 * HOUR + 6 * MIN + 7 * SEC + 1000000, "5h6m7.001s");
    FMT(8 * MIN + 1, "8m0.000000001s");
    FMT(-5 * SEC, "-5s");
    FMT(-1500, "-1.5\xc2\xb5s");
    FMT(INT64_MAX, "2562047h47m16.854775807s");
    FMT(INT64_MIN, "-2562047h47m16.854775808s");
}

static void test_units__format_truncates(void)
{
    char small[4];
    CHECK_INT(swarm_format_duration(small, sizeof small, 90 * SEC), 5);
    CHECK_STR(small, "1m3");
    CHECK_INT(swarm_format_duration(NULL, 0, HOUR), 6);
}

TEST_MAIN(TEST(test_units__duration_simple), TEST(test_units__duration_fractions),
          TEST(test_units__duration_compound), TEST(test_units__duration_limits), TEST(test_units__duration_errors),
          TEST(test_units__bytes_ok), TEST(test_units__bytes_errors), TEST(test_units__format),
          TEST(test_units__format_truncates))
