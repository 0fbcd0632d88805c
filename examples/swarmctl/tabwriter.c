/* swarmctl — Go's tabwriter column-block algorithm. */
#include "tabwriter.h"
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *text;
    size_t size;
    int width;
} cell;

typedef struct {
    cell *cells;
    size_t count;
} line;

typedef struct {
    line *lines;
    size_t nlines;
    int minwidth, padding;
    int *widths;
    size_t nwidths;
    strbuf out;
} writer;

int text_width(const char *s, size_t len)
{
    int w = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            w++;
    return w;
}

static void write_lines(writer *w, size_t line0, size_t line1)
{
    for (size_t i = line0; i < line1; i++) {
        line *l = &w->lines[i];
        for (size_t j = 0; j < l->count; j++) {
            cell *c = &l->cells[j];
            sb_addn(&w->out, c->text, c->size);
            if (j < w->nwidths)
                for (int k = c->width; k < w->widths[j]; k++)
                    sb_addc(&w->out, ' ');
        }
        if (i + 1 < w->nlines)
            sb_addc(&w->out, '\n');
    }
}

static int has_cell(const line *l, size_t column)
{
    /* The last cell of a line is not part of any column. */
    return column + 1 < l->count;
}

static void format(writer *w, size_t line0, size_t line1)
{
    size_t column = w->nwidths;
    for (size_t this = line0; this < line1; this++) {
        if (!has_cell(&w->lines[this], column))
            continue;
        /* A column block starts here: print the lines before it. */
        write_lines(w, line0, this);
        line0 = this;
        int width = w->minwidth;
        for (; this < line1 && has_cell(&w->lines[this], column); this++) {
            int cw = w->lines[this].cells[column].width + w->padding;
            if (cw > width)
                width = cw;
        }
        w->widths = xrealloc(w->widths, (w->nwidths + 1) * sizeof *w->widths);
        w->widths[w->nwidths++] = width;
        format(w, line0, this);
        w->nwidths--;
        line0 = this;
    }
    write_lines(w, line0, line1);
}

char *tabwriter_format(const char *text, int minwidth, int padding)
{
    writer w = {0};
    w.minwidth = minwidth;
    w.padding = padding;
    size_t cap = 0;
    const char *p = text;
    for (;;) {
        if (w.nlines == cap) {
            cap = cap ? cap * 2 : 16;
            w.lines = xrealloc(w.lines, cap * sizeof *w.lines);
        }
        line *l = &w.lines[w.nlines++];
        memset(l, 0, sizeof *l);
        size_t ccap = 0;
        for (;;) {
            size_t n = strcspn(p, "\t\n");
            if (l->count == ccap) {
                ccap = ccap ? ccap * 2 : 8;
                l->cells = xrealloc(l->cells, ccap * sizeof *l->cells);
            }
            l->cells[l->count].text = p;
            l->cells[l->count].size = n;
            l->cells[l->count].width = text_width(p, n);
            l->count++;
            p += n;
            if (*p == '\t') {
                p++;
                continue;
            }
            break;
        }
        if (*p == '\n') {
            p++;
            continue;
        }
        break;
    }
    format(&w, 0, w.nlines);
    for (size_t i = 0; i < w.nlines; i++)
        free(w.lines[i].cells);
    free(w.lines);
    free(w.widths);
    return sb_take(&w.out);
}
