#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_message[SWARM__ERRMSG_MAX] = "no error";
static _Thread_local swarm_error last = {0, NULL};

static void publish(int code)
{
    last.code = code;
    last.message = last_message;
}

int swarm__error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    publish(code);
    return code;
}

int swarm__err_set(swarm__err *e, int code, const char *fmt, ...)
{
    if (e == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    e->code = code;
    return code;
}

int swarm__err_capture(swarm__err *e)
{
    const swarm_error *l = swarm_error_last();
    e->code = l->code;
    snprintf(e->message, sizeof e->message, "%s", l->message);
    return e->code;
}

int swarm__err_raise(const swarm__err *e)
{
    snprintf(last_message, sizeof last_message, "%s", e->message);
    publish(e->code);
    return e->code;
}

int swarm__error_nomem(void)
{
    return swarm__error_set(SWARM_ENOMEM, "out of memory");
}

const swarm_error *swarm_error_last(void)
{
    if (last.message == NULL)
        last.message = last_message;
    return &last;
}

int swarm_error_last_code(void)
{
    return swarm_error_last()->code;
}

const char *swarm_error_last_message(void)
{
    return swarm_error_last()->message;
}

void swarm_error_clear(void)
{
    snprintf(last_message, sizeof last_message, "no error");
    publish(0);
}

const char *swarm_strerror(int code)
{
    switch (code) {
    case SWARM_OK: return "success";
    case SWARM_EINVALID: return "invalid argument";
    case SWARM_ENOTFOUND: return "not found";
    case SWARM_EEXISTS: return "already exists";
    case SWARM_ECONFLICT: return "version conflict";
    case SWARM_ENOTLEADER: return "not the leader";
    case SWARM_EUNAVAILABLE: return "unavailable";
    case SWARM_ETIMEDOUT: return "timed out";
    case SWARM_ECLOSED: return "closed";
    case SWARM_EBUSY: return "busy";
    case SWARM_ENOMEM: return "out of memory";
    case SWARM_EIO: return "I/O error";
    case SWARM_EBACKEND: return "backend error";
    case SWARM_ENOTSUPPORTED: return "not supported";
    default: return "unknown error";
    }
}
