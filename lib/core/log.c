#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static swarm_log_cb log_cb;
static void *log_payload;
static int log_level;

void swarm_log_set(swarm_log_cb cb, int max_level, void *payload)
{
    pthread_mutex_lock(&log_lock);
    log_cb = cb;
    log_payload = payload;
    log_level = cb ? max_level : 0;
    pthread_mutex_unlock(&log_lock);
}

void swarm__log(int level, const char *module, const char *fmt, ...)
{
    pthread_mutex_lock(&log_lock);
    swarm_log_cb cb = log_cb;
    void *payload = log_payload;
    int max = log_level;
    pthread_mutex_unlock(&log_lock);
    if (cb == NULL || level > max)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cb(level, module, line, payload);
}
