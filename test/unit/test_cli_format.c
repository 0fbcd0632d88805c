/*
 * swarmctl's formatting code (examples/swarmctl): docker's tabwriter layout,
 * Go-template subset, JSON printing, go-units durations and sizes.
 */
#include "format.h"
#include "humanize.h"
#include "json.h"
#include "tabwriter.h"
#include "template.h"
#include "test.h"

static char *render(const char *text, const char *data_json, int strict)
{
    json *data = json_parse(data_json);
    CHECK(data != NULL);
    char *err = NULL;
    tmpl *t = tmpl_parse(text, &err);
    CHECK(t != NULL);
    char *out = tmpl_execute(t, data, strict, &err);
    free(err);
    tmpl_free(t);
    json_free(data);
    return out;
}

static void test_cli_format__tabwriter_matches_docker_tables(void)
{
    /* docker service ls from a real run (svc_ls.txt). */
    char *out = tabwriter_format("ID\tNAME\tMODE\tREPLICAS\tIMAGE\tPORTS\n"
                                 "k4pr0040c6nt\tweb\treplicated\t2/2\tbusybox:local\t*:1234->80/tcp\n",
                                 10, 3);
    CHECK_STR(out, "ID             NAME      MODE         REPLICAS   IMAGE           PORTS\n"
                   "k4pr0040c6nt   web       replicated   2/2        busybox:local   *:1234->80/tcp\n");
    free(out);
    /* Empty trailing columns are padded except the last (svc_ps.txt). */
    out = tabwriter_format("ID\tERROR\tPORTS\nvk4w33xhoay1\t\t\n", 10, 3);
    CHECK_STR(out, "ID             ERROR     PORTS\nvk4w33xhoay1             \n");
    free(out);
    /* Header only: every column at the 10-character minimum. */
    out = tabwriter_format("ID\tNAME\tMODE\tREPLICAS\tIMAGE\tPORTS\n", 10, 3);
    CHECK_STR(out, "ID        NAME      MODE      REPLICAS   IMAGE     PORTS\n");
    free(out);
    /* Multi-byte characters count once. */
    out = tabwriter_format("a\u2026\tb\nxx\tc\n", 1, 1);
    CHECK_STR(out, "a\u2026 b\nxx c\n");
    free(out);
}

static void test_cli_format__table_with_header(void)
{
    json *header = json_parse("{\"ID\":\"ID\",\"Self\":\"\",\"Hostname\":\"HOSTNAME\"}");
    json *row = json_parse("{\"Hostname\":\"vm\",\"ID\":\"h4c91b2c7n4ob9eo6kdcz3z50\",\"Self\":true}");
    FILE *f = tmpfile();
    CHECK(f != NULL);
    json *rows[] = {row};
    CHECK_INT(format_write(f, "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\\t{{.Hostname}}", header, rows, 1), 0);
    CHECK_INT(format_write(f, "{{json .}}", header, rows, 1), 0);
    CHECK_INT(format_write(f, "json", header, rows, 1), 0);
    rewind(f);
    char buf[1024] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    CHECK_STR(buf, "ID                            HOSTNAME\n"
                   "h4c91b2c7n4ob9eo6kdcz3z50 *   vm\n"
                   "{\"Hostname\":\"vm\",\"ID\":\"h4c91b2c7n4ob9eo6kdcz3z50\",\"Self\":true}\n"
                   "{\"Hostname\":\"vm\",\"ID\":\"h4c91b2c7n4ob9eo6kdcz3z50\",\"Self\":true}\n");
    json_free(header);
    json_free(row);
}

static void test_cli_format__template_paths_and_functions(void)
{
    const char *svc = "{\"Spec\":{\"Name\":\"web\",\"Mode\":{\"Replicated\":{\"Replicas\":2}},"
                      "\"Args\":[\"sleep\",\"3600\"],\"Labels\":{}},\"Version\":{\"Index\":33}}";
    char *out = render("{{.Spec.Name}} {{.Version.Index}} {{json .Spec.Mode}}", svc, 0);
    CHECK_STR(out, "web 33 {\"Replicated\":{\"Replicas\":2}}");
    free(out);
    out = render("{{upper .Spec.Name}}|{{range .Spec.Args}}{{.}} {{end}}|{{.Spec.Args}}|{{.Nope}}", svc, 0);
    CHECK_STR(out, "WEB|sleep 3600 |[sleep 3600]|<no value>");
    free(out);
    out = render("a  {{- .Spec.Name -}}  b{{if .Spec.Labels}}L{{else}}-{{end}}", svc, 0);
    CHECK_STR(out, "awebb-");
    free(out);
    CHECK(render("{{.Nope}}", svc, 1) == NULL);
    char *err = NULL;
    CHECK(tmpl_parse("{{if .A}}x", &err) == NULL);
    free(err);
}

static void test_cli_format__json_round_trip_keeps_order(void)
{
    const char *text = "{\"b\":1,\"a\":[true,null,\"x<y>&\\n\"],\"c\":{},\"d\":[],\"e\":-2.5e3}";
    json *v = json_parse(text);
    CHECK(v != NULL);
    char *compact = json_dump(v, 0);
    CHECK_STR(compact, "{\"b\":1,\"a\":[true,null,\"x\\u003cy\\u003e\\u0026\\n\"],\"c\":{},\"d\":[],\"e\":-2.5e3}");
    char *indented = json_dump(v, 4);
    CHECK_STR(indented, "{\n    \"b\": 1,\n    \"a\": [\n        true,\n        null,\n"
                        "        \"x\\u003cy\\u003e\\u0026\\n\"\n    ],\n    \"c\": {},\n    \"d\": [],\n"
                        "    \"e\": -2.5e3\n}");
    char *sorted = json_dump_sorted(v);
    CHECK_STR(sorted, "{\"a\":[true,null,\"x\\u003cy\\u003e\\u0026\\n\"],\"b\":1,\"c\":{},\"d\":[],\"e\":-2.5e3}");
    json *nested = json_parse("{\"A\":{\"B\":\"c\"}}");
    CHECK_STR(json_path_str(nested, "A.B"), "c");
    CHECK(json_path(nested, "A.X") == NULL);
    json_free(nested);
    free(compact);
    free(indented);
    free(sorted);
    json_free(v);
    CHECK(json_parse("{\"a\":}") == NULL);
    CHECK(json_parse("[1,2") == NULL);
}

static void test_cli_format__human_duration(void)
{
    char buf[64];
    static const struct {
        long long seconds;
        const char *want;
    } cases[] = {
        {0, "Less than a second"}, {1, "1 second"},        {12, "12 seconds"},    {59, "59 seconds"},
        {60, "About a minute"},    {119, "About a minute"}, {120, "2 minutes"},   {3599, "59 minutes"},
        {3600, "About an hour"},   {5400, "2 hours"},       {47 * 3600, "47 hours"}, {48 * 3600, "2 days"},
        {14 * 86400, "2 weeks"},   {60 * 86400, "2 months"}, {800 * 86400, "2 years"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        human_duration(buf, sizeof buf, cases[i].seconds * 1000000000LL);
        CHECK_STR(buf, cases[i].want);
    }
    int64_t then = 0;
    CHECK_INT(parse_rfc3339(&then, "2026-11-29T18:05:56.905776105Z"), 0);
    CHECK_INT(then % 1000000000LL, 905776105);
    go_time_string(buf, sizeof buf, "2026-11-29T18:05:24.348322774Z");
    CHECK_STR(buf, "2026-11-29 18:05:24.348322774 +0000 UTC");
    go_time_string(buf, sizeof buf, "2026-11-29T18:05:24.5Z");
    CHECK_STR(buf, "2026-11-29 18:05:24.5 +0000 UTC");
}

static void test_cli_format__sizes_ids_ellipsis(void)
{
    char buf[64];
    bytes_size(buf, sizeof buf, 25276502016.0);
    CHECK_STR(buf, "23.54GiB");
    bytes_size(buf, sizeof buf, 67108864.0);
    CHECK_STR(buf, "64MiB");
    bytes_size(buf, sizeof buf, 512.0);
    CHECK_STR(buf, "512B");
    truncate_id(buf, sizeof buf, "vk4w33xhoay1r8yaxea8drwwe");
    CHECK_STR(buf, "vk4w33xhoay1");
    char *e = ellipsis("starting container failed: failed to start", 30);
    CHECK_STR(e, "starting container failed: fa\u2026");
    free(e);
    e = ellipsis("short", 30);
    CHECK_STR(e, "short");
    free(e);
    capitalize_first(buf, sizeof buf, "rEADY");
    CHECK_STR(buf, "Ready");
    char *t = format_template_text("table {{.ID}}\\t{{.Name}}  ");
    CHECK_STR(t, "{{.ID}}\t{{.Name}}");
    free(t);
}

TEST_MAIN(TEST(test_cli_format__tabwriter_matches_docker_tables), TEST(test_cli_format__table_with_header),
          TEST(test_cli_format__template_paths_and_functions), TEST(test_cli_format__json_round_trip_keeps_order),
          TEST(test_cli_format__human_duration), TEST(test_cli_format__sizes_ids_ellipsis))
