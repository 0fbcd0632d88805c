/* swarmctl — docker's progress stream rendering. */
#include "progress_display.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

void display_init(progress_display *d, FILE *out)
{
    memset(d, 0, sizeof *d);
    d->out = out;
    d->width = 200;
    if (out != NULL && isatty(fileno(out))) {
        d->tty = 1;
        struct winsize ws;
        if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
            d->width = ws.ws_col;
    }
}

void display_free(progress_display *d)
{
    sl_free(&d->ids);
}

/* The bar part of docker's JSONProgress.String() with hidden counts. */
static void bar(strbuf *b, int width, int64_t current, int64_t total)
{
    if (current <= 0 && total <= 0)
        return;
    if (total <= 0)
        return;
    int percentage = (int)((double)current / (double)total * 100) / 2;
    if (percentage > 50)
        percentage = 50;
    if (width > 110) {
        sb_addc(b, '[');
        for (int i = 0; i < percentage; i++)
            sb_addc(b, '=');
        sb_addc(b, '>');
        for (int i = percentage; i < 50; i++)
            sb_addc(b, ' ');
        sb_add(b, "] ");
    }
}

void display_progress(progress_display *d, const char *id, const char *status, int64_t current, int64_t total)
{
    if (d->out == NULL)
        return;
    strbuf progress = {0};
    sb_add(&progress, "");
    bar(&progress, d->width, current, total);
    if (!d->tty) {
        /* Non-terminals get no progress bars: such records are skipped altogether. */
        if (progress.len == 0 && !(current > 0 || total > 0))
            fprintf(d->out, "%s: %s\n", id, status);
        sb_free(&progress);
        fflush(d->out);
        return;
    }
    size_t line = d->ids.count;
    for (size_t i = 0; i < d->ids.count; i++)
        if (strcmp(d->ids.items[i], id) == 0)
            line = i;
    if (line == d->ids.count) {
        sl_add(&d->ids, id);
        fputc('\n', d->out);
    }
    size_t diff = d->ids.count - line;
    fprintf(d->out, "\x1b[%zuA\x1b[2K\r%s: %s %s\r\x1b[%zuB", diff, id, status, progress.s, diff);
    sb_free(&progress);
    fflush(d->out);
}

void display_message(progress_display *d, const char *id, const char *message)
{
    if (d->out == NULL)
        return;
    sl_free(&d->ids);
    if (id && *id)
        fprintf(d->out, "%s: %s\n", id, message);
    else
        fprintf(d->out, "%s\n", message);
    fflush(d->out);
}
