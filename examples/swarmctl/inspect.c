/* swarmctl — docker's inspect printer. */
#include "inspect.h"
#include "template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void inspector_init(inspector *in, const char *format)
{
    memset(in, 0, sizeof *in);
    in->format = format && *format ? format : NULL;
    in->items = json_new(JSON_ARRAY);
}

int inspector_add(inspector *in, json *obj)
{
    if (in->format == NULL || strcmp(in->format, "json") == 0) {
        json_append(in->items, obj);
        return 0;
    }
    char *err = NULL;
    tmpl *t = tmpl_parse(in->format, &err);
    char *out = t ? tmpl_execute(t, obj, 0, &err) : NULL;
    tmpl_free(t);
    json_free(obj);
    if (out == NULL) {
        fprintf(stderr, "template parsing error: %s\n", err ? err : "invalid template");
        free(err);
        in->template_error = 1;
        return 1;
    }
    sb_add(&in->text, out);
    sb_addc(&in->text, '\n');
    free(out);
    return 0;
}

void inspector_flush(inspector *in)
{
    if (in->format == NULL || strcmp(in->format, "json") == 0) {
        if (in->items->child == NULL) {
            printf("[]\n");
        } else {
            char *text = json_dump(in->items, in->format ? 0 : 4);
            printf("%s\n", text);
            free(text);
        }
    } else if (in->text.len == 0) {
        printf("\n");
    } else {
        fputs(in->text.s, stdout);
    }
    json_free(in->items);
    sb_free(&in->text);
}
