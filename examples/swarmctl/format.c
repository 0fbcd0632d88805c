/* swarmctl — list output through docker-style formats. */
#include "format.h"
#include "strbuf.h"
#include "tabwriter.h"
#include "template.h"

#include <stdlib.h>
#include <string.h>

int format_is_table(const char *format)
{
    return strncmp(format, "table", 5) == 0;
}

char *format_template_text(const char *format)
{
    if (strcmp(format, "json") == 0)
        return xstrdup("{{json .}}");
    const char *src = format_is_table(format) ? format + 5 : format;
    while (*src == ' ')
        src++;
    size_t n = strlen(src);
    while (n && src[n - 1] == ' ')
        n--;
    strbuf b = {0};
    sb_add(&b, "");
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\\' && i + 1 < n && (src[i + 1] == 't' || src[i + 1] == 'n')) {
            sb_addc(&b, src[i + 1] == 't' ? '\t' : '\n');
            i++;
        } else {
            sb_addc(&b, src[i]);
        }
    }
    return sb_take(&b);
}

int format_write(FILE *out, const char *format, const json *header, json *const *rows, size_t count)
{
    char *text = format_template_text(format);
    char *err = NULL;
    tmpl *t = tmpl_parse(text, &err);
    free(text);
    if (t == NULL) {
        fprintf(stderr, "template parsing error: %s\n", err ? err : "invalid template");
        free(err);
        return 1;
    }
    int table = format_is_table(format);
    strbuf body = {0};
    sb_add(&body, "");
    for (size_t i = 0; i < count; i++) {
        char *line = tmpl_execute(t, rows[i], 1, &err);
        if (line == NULL) {
            fprintf(stderr, "template parsing error: %s\n", err ? err : "cannot execute template");
            free(err);
            sb_free(&body);
            tmpl_free(t);
            return 1;
        }
        sb_add(&body, line);
        sb_addc(&body, '\n');
        free(line);
    }
    if (!table) {
        fputs(body.s, out);
    } else {
        char *head = tmpl_execute(t, header, 0, &err);
        if (head == NULL) {
            free(err);
            head = xstrdup("");
        }
        strbuf all = {0};
        sb_add(&all, head);
        sb_addc(&all, '\n');
        sb_add(&all, body.s);
        char *aligned = tabwriter_format(all.s, 10, 3);
        fputs(aligned, out);
        free(aligned);
        sb_free(&all);
        free(head);
    }
    sb_free(&body);
    tmpl_free(t);
    return 0;
}

char *ellipsis(const char *s, int max_width)
{
    if (max_width <= 0)
        return xstrdup("");
    int width = text_width(s, strlen(s));
    if (width <= max_width)
        return xstrdup(s);
    strbuf b = {0};
    int seen = 0;
    for (const char *p = s; *p; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80) {
            if (seen == max_width - 1)
                break;
            seen++;
        }
        sb_addc(&b, *p);
    }
    sb_add(&b, "\xE2\x80\xA6");
    return sb_take(&b);
}

void truncate_id(char *out, size_t size, const char *id)
{
    const char *colon = strchr(id, ':');
    if (colon)
        id = colon + 1;
    snprintf(out, size, "%.12s", id);
}
