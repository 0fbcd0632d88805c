/*
 * swarmctl — a small ordered JSON tree: libswarm hands objects over as JSON
 * text and swarmctl must print them back in the daemon's key order.
 */
#ifndef SWARMCTL_JSON_H
#define SWARMCTL_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json json;
struct json {
    json_type type;
    char *text;      /* string value, or the number exactly as written */
    char *key;       /* member name when inside an object */
    json *child;     /* first element/member */
    json *next;      /* next sibling */
};

json *json_parse(const char *text);
void json_free(json *v);

json *json_new(json_type type);
json *json_string(const char *s);
json *json_int(int64_t n);
json *json_uint(uint64_t n);
json *json_bool(int b);
json *json_copy(const json *v);

/* Object members. */
json *json_get(const json *obj, const char *key);
/* Follows a dotted path ("Spec.Mode.Replicated"); NULL when absent. */
json *json_path(const json *obj, const char *path);
/* Replaces or appends a member; takes ownership of value. Returns value. */
json *json_set(json *obj, const char *key, json *value);
/* Returns the member, creating an empty object there if absent or not an object. */
json *json_object_at(json *obj, const char *key);
void json_remove(json *obj, const char *key);

/* Arrays. */
void json_append(json *arr, json *value);
size_t json_length(const json *v);
json *json_at(const json *arr, size_t index);

/* Accessors that tolerate NULL and wrong types. */
const char *json_str(const json *v);                     /* "" unless a string */
const char *json_path_str(const json *obj, const char *path);
int64_t json_num(const json *v);                         /* 0 unless a number */
uint64_t json_unum(const json *v);
int json_truthy(const json *v);

/* Serialises: indent 0 = compact. Result is malloc'ed. */
char *json_dump(const json *v, int indent);
/* Compact form with keys sorted, as Go marshals a map. */
char *json_dump_sorted(const json *v);

#endif
