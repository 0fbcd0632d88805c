/*
 * Fuzz target for the JSON a client or a peer hands the model: service specs
 * (validation, decode, encode) and whole Service/Task/Node/Cluster objects.
 * Besides "no crash, no leak" it checks the codec's promises and aborts when
 * one is broken: a validated spec decodes, re-validates to itself and
 * encodes back unchanged; every object that decodes encodes back unchanged;
 * a field set in a struct reads back after encoding.
 */
#include "core/error.h"
#include "model/model.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void require(int cond)
{
    if (!cond)
        abort();
}

static void check_spec(const json_t *input)
{
    swarm__err e;
    json_t *spec = json_deep_copy(input);
    require(spec != NULL);
    if (swarm__service_spec_validate(spec, &e) == 0) {
        json_t *again = json_deep_copy(spec);
        require(swarm__service_spec_validate(again, &e) == 0 && json_equal(again, spec));
        json_decref(again);
        swarm__service_spec s;
        require(swarm__service_spec_decode(&s, spec, &e) == 0);
        json_t *out = swarm__service_spec_encode(&s);
        require(out != NULL && json_equal(out, spec));
        json_decref(out);
        swarm__service_spec_free(&s);
    } else {
        require(e.code == SWARM_EINVALID || e.code == SWARM_ENOMEM);
    }
    json_decref(spec);

    /* Unvalidated specs still round-trip when they decode. */
    swarm__service_spec s;
    if (swarm__service_spec_decode(&s, input, &e) == 0) {
        json_t *out = swarm__service_spec_encode(&s);
        require(out != NULL && json_equal(out, input));
        json_decref(out);
        if (s.mode == SWARM__MODE_REPLICATED && s.replicas < INT64_MAX)
            s.replicas++;
        free(s.task.image);
        s.task.image = strdup("fuzz");
        out = swarm__service_spec_encode(&s);
        swarm__service_spec back;
        require(out != NULL && swarm__service_spec_decode(&back, out, &e) == 0);
        require(back.replicas == s.replicas && back.task.image != NULL && strcmp(back.task.image, "fuzz") == 0);
        swarm__service_spec_free(&back);
        json_decref(out);
        swarm__service_spec_free(&s);
    }

    swarm__task_spec t;
    if (json_is_object(input) && swarm__task_spec_decode(&t, input, "Spec", &e) == 0) {
        json_t *copy = json_deep_copy(input);
        require(copy != NULL && swarm__task_spec_encode_into(copy, &t) == 0 && json_equal(copy, input));
        json_decref(copy);
        swarm__task_spec_free(&t);
    }
}

static void check_objects(const json_t *input)
{
    swarm__err e;
    json_t *out;

    swarm__service s;
    if (swarm__service_decode(&s, input, &e) == 0) {
        out = swarm__service_encode(&s);
        require(out != NULL && json_equal(out, input));
        json_decref(out);
        s.meta.version++;
        s.has_previous = 0;
        out = swarm__service_encode(&s);
        swarm__service back;
        require(out != NULL && swarm__service_decode(&back, out, &e) == 0);
        require(back.meta.version == s.meta.version && !back.has_previous);
        swarm__service_free(&back);
        json_decref(out);
        swarm__service_free(&s);
    }

    swarm__task t;
    if (swarm__task_decode(&t, input, &e) == 0) {
        out = swarm__task_encode(&t);
        require(out != NULL && json_equal(out, input));
        json_decref(out);
        t.status.state = SWARM__TASK_FAILED;
        t.status.has_exit_code = 1;
        t.status.exit_code = 137;
        out = swarm__task_encode(&t);
        swarm__task back;
        require(out != NULL && swarm__task_decode(&back, out, &e) == 0);
        require(back.status.state == SWARM__TASK_FAILED && back.status.has_exit_code && back.status.exit_code == 137);
        swarm__task_free(&back);
        json_decref(out);
        swarm__task_free(&t);
    }

    swarm__node n;
    if (swarm__node_decode(&n, input, &e) == 0) {
        out = swarm__node_encode(&n);
        require(out != NULL && json_equal(out, input));
        json_decref(out);
        n.availability = SWARM__AVAIL_DRAIN;
        n.is_manager_status = !n.is_manager_status;
        out = swarm__node_encode(&n);
        swarm__node back;
        require(out != NULL && swarm__node_decode(&back, out, &e) == 0);
        require(back.availability == SWARM__AVAIL_DRAIN && back.is_manager_status == n.is_manager_status);
        swarm__node_free(&back);
        json_decref(out);
        swarm__node_free(&n);
    }

    swarm__cluster c;
    if (swarm__cluster_decode(&c, input, &e) == 0) {
        out = swarm__cluster_encode(&c);
        require(out != NULL && json_equal(out, input));
        json_decref(out);
        swarm__cluster_free(&c);
    }
    json_t *spec = json_deep_copy(input);
    if (spec != NULL) {
        swarm__cluster_spec_validate(spec, &e);
        json_decref(spec);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *input = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (input == NULL)
        return 0;
    check_spec(input);
    check_objects(input);
    /* The same checks one level down, where fuzzers rarely get by themselves. */
    const char *key;
    json_t *value;
    if (json_is_object(input)) {
        json_object_foreach(input, key, value)
        {
            if (json_is_object(value))
                check_spec(value);
        }
    }
    json_decref(input);
    return 0;
}
