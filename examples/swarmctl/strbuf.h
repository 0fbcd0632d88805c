/* swarmctl — growable strings and string lists. */
#ifndef SWARMCTL_STRBUF_H
#define SWARMCTL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *s;
    size_t len, cap;
} strbuf;

void sb_addn(strbuf *b, const char *s, size_t n);
void sb_add(strbuf *b, const char *s);
void sb_addc(strbuf *b, char c);
void sb_addf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the text (never NULL) and leaves b empty; caller frees. */
char *sb_take(strbuf *b);
void sb_free(strbuf *b);

typedef struct {
    char **items;
    size_t count, cap;
} strlist;

void sl_add(strlist *l, const char *s);
void sl_free(strlist *l);
int sl_contains(const strlist *l, const char *s);

char *xstrdup(const char *s);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);

#endif
