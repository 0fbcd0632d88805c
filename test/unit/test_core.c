/* Core helpers: IDs, timestamps, JSON paths, per-thread errors. */
#include "core/clock.h"
#include "core/error.h"
#include "core/id.h"
#include "core/json.h"
#include "test.h"

#include <stdlib.h>

static void test_id__shape_and_uniqueness(void)
{
    char ids[200][SWARM__ID_LEN + 1];
    for (int i = 0; i < 200; i++) {
        CHECK_INT(swarm__id_new(swarm__clock_system(), ids[i]), 0);
        CHECK_INT(strlen(ids[i]), 25);
        CHECK(swarm__id_valid(ids[i]));
        for (int j = 0; j < i; j++)
            CHECK(strcmp(ids[i], ids[j]) != 0);
    }
}

static int all_ones_random(void *data, void *buf, size_t len)
{
    (void)data;
    memset(buf, 0xff, len);
    return 0;
}

static void test_id__max_value_fits(void)
{
    /* 2^128-1 in base 36 is 25 digits. */
    swarm__clock clk = *swarm__clock_system();
    clk.random = all_ones_random;
    char id[SWARM__ID_LEN + 1];
    CHECK_INT(swarm__id_new(&clk, id), 0);
    CHECK_STR(id, "f5lxx1zz5pnorynqglhzmsp33");
}

static void test_id__validity(void)
{
    CHECK(!swarm__id_valid("abc"));
    CHECK(!swarm__id_valid("K4pr0040c6nt8171ijluq8mpz"));
    CHECK(!swarm__id_valid(NULL));
    CHECK(swarm__id_valid("k4pr0040c6nt8171ijluq8mpz"));
}

static void test_time__format(void)
{
    char buf[SWARM__TIME_LEN];
    swarm__time_format(buf, 1796061956905776105LL);
    CHECK_STR(buf, "2026-11-30T18:05:56.905776105Z");
    swarm__time_format(buf, 1796061956000000000LL);
    CHECK_STR(buf, "2026-11-30T18:05:56Z");
    swarm__time_format(buf, 1796061956908775200LL);
    CHECK_STR(buf, "2026-11-30T18:05:56.9087752Z");
}

static void test_time__parse_round_trip(void)
{
    int64_t t;
    CHECK_INT(swarm__time_parse(&t, "2026-11-29T18:05:56.9087752Z"), 0);
    char buf[SWARM__TIME_LEN];
    swarm__time_format(buf, t);
    CHECK_STR(buf, "2026-11-29T18:05:56.9087752Z");
    CHECK_INT(swarm__time_parse(&t, "2026-11-29T19:05:56+01:00"), 0);
    swarm__time_format(buf, t);
    CHECK_STR(buf, "2026-11-29T18:05:56Z");
    CHECK_INT(swarm__time_parse(&t, "yesterday"), SWARM_EINVALID);
    CHECK_INT(swarm__time_parse(&t, "2026-13-29T18:05:56Z"), SWARM_EINVALID);
    CHECK_INT(swarm__time_parse(&t, "2026-11-29T18:05:56"), SWARM_EINVALID);
}

static void test_json__paths(void)
{
    json_t *root = json_object();
    CHECK_INT(swarm__json_set(root, "Spec.Mode.Replicated.Replicas", json_integer(3)), 0);
    CHECK_INT(swarm__json_int(root, "Spec.Mode.Replicated.Replicas", -1), 3);
    CHECK_INT(swarm__json_int(root, "Spec.Mode.Global", -1), -1);
    CHECK(swarm__json_str(root, "Spec.Mode") == NULL);
    CHECK_INT(swarm__json_set(root, "Spec.Name", json_string("web")), 0);
    CHECK_STR(swarm__json_str(root, "Spec.Name"), "web");
    /* A path through a non-object is refused, not overwritten. */
    CHECK_INT(swarm__json_set(root, "Spec.Name.Deeper", json_string("x")), SWARM_EINVALID);
    swarm__json_del(root, "Spec.Mode");
    CHECK(swarm__json_get(root, "Spec.Mode") == NULL);
    char *text = swarm__json_dump(root);
    CHECK_STR(text, "{\"Spec\":{\"Name\":\"web\"}}");
    free(text);
    json_decref(root);
}

static void test_json__parse_errors_name_the_input(void)
{
    json_t *v = swarm__json_parse("{\"a\": ", "service spec");
    CHECK(v == NULL);
    CHECK_INT(swarm_error_last()->code, SWARM_EINVALID);
    CHECK_CONTAINS(swarm_error_last()->message, "invalid JSON in service spec");
    v = swarm__json_parse("{\"a\": 1, \"a\": 2}", "options");
    CHECK(v == NULL);
    CHECK_CONTAINS(swarm_error_last()->message, "duplicate");
}

static void test_error__last_and_values(void)
{
    swarm_error_clear();
    CHECK_INT(swarm_error_last()->code, 0);
    CHECK_STR(swarm_error_last()->message, "no error");
    CHECK_INT(swarm__error_set(SWARM_ENOTFOUND, "service %s not found", "web"), SWARM_ENOTFOUND);
    CHECK_STR(swarm_error_last_message(), "service web not found");
    CHECK_INT(swarm_error_last_code(), SWARM_ENOTFOUND);
    swarm__err e;
    swarm__err_capture(&e);
    swarm_error_clear();
    CHECK_INT(swarm__err_raise(&e), SWARM_ENOTFOUND);
    CHECK_STR(swarm_error_last()->message, "service web not found");
    for (int code = 0; code >= SWARM_ENOTSUPPORTED; code--)
        CHECK(strcmp(swarm_strerror(code), "unknown error") != 0);
    CHECK_STR(swarm_strerror(-999), "unknown error");
}

TEST_MAIN(TEST(test_id__shape_and_uniqueness), TEST(test_id__max_value_fits), TEST(test_id__validity),
          TEST(test_time__format), TEST(test_time__parse_round_trip), TEST(test_json__paths),
          TEST(test_json__parse_errors_name_the_input), TEST(test_error__last_and_values))
