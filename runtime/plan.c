/* Running an inference plan: buffer views into the arena, then one call per kernel. */
#include "runtime/plan.h"

#include <HalideRuntime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every value gets a buffer view: the caller's buffers for the model input and output, a dense
 * (extents..., batch) window of the arena for the others. */
static void view_value(const cnnc_plan_value *v, int32_t batch, float *arena,
                       struct halide_buffer_t *b, struct halide_dimension_t *dims) {
    int64_t stride = 1;
    int32_t d;
    memset(b, 0, sizeof *b);
    for (d = 0; d < v->rank; ++d) {
        dims[d].min = 0;
        dims[d].extent = v->extents[d];
        dims[d].stride = (int32_t)stride;
        dims[d].flags = 0;
        stride *= v->extents[d];
    }
    dims[v->rank].min = 0;
    dims[v->rank].extent = batch;
    dims[v->rank].stride = (int32_t)stride;
    dims[v->rank].flags = 0;
    b->host = (uint8_t *)(arena + v->offset * batch);
    b->type.code = halide_type_float;
    b->type.bits = 32;
    b->type.lanes = 1;
    b->dimensions = v->rank + 1;
    b->dim = dims;
}

/* Views, dims and value pointers of `count` values, each array 8-byte aligned. */
static size_t views_bytes(int32_t count) { return (size_t)count * sizeof(struct halide_buffer_t); }
static size_t dims_bytes(int32_t count) {
    return (size_t)count * 4 * sizeof(struct halide_dimension_t);
}
static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

size_t cnnc_plan_buffers_bytes(int32_t count) {
    return round8(views_bytes(count)) + round8(dims_bytes(count)) +
           round8((size_t)count * sizeof(struct halide_buffer_t *));
}

void cnnc_plan_buffers_place(cnnc_plan_buffers *b, const cnnc_plan_value *values, int32_t count,
                             int32_t batch, float *arena, void *memory) {
    unsigned char *m = (unsigned char *)memory;
    int32_t i;
    memset(memory, 0, cnnc_plan_buffers_bytes(count));
    b->views = (struct halide_buffer_t *)m;
    b->dims = (struct halide_dimension_t *)(m + round8(views_bytes(count)));
    b->values = (struct halide_buffer_t **)(m + round8(views_bytes(count)) +
                                             round8(dims_bytes(count)));
    for (i = 0; i < count; ++i) {
        if (values[i].offset < 0) continue;
        view_value(&values[i], batch, arena, &b->views[i], &b->dims[i * 4]);
        b->values[i] = &b->views[i];
    }
}

int cnnc_plan_buffers_open(cnnc_plan_buffers *b, const cnnc_plan_value *values, int32_t count,
                           int32_t batch, float *arena) {
    void *memory = malloc(cnnc_plan_buffers_bytes(count));
    if (!memory) {
        b->views = NULL;
        b->dims = NULL;
        b->values = NULL;
        return -1;
    }
    cnnc_plan_buffers_place(b, values, count, batch, arena, memory);
    return 0;
}

void cnnc_plan_buffers_close(cnnc_plan_buffers *b) {
    free(b->views); /* the one block cnnc_plan_buffers_open allocated */
    b->values = NULL;
    b->dims = NULL;
    b->views = NULL;
}

float *cnnc_plan_scratch(int64_t floats) {
    static _Thread_local float *memory = NULL;
    static _Thread_local int64_t size = 0;
    if (floats > size) {
        free(memory);
        memory = (float *)malloc((size_t)floats * sizeof(float));
        size = memory ? floats : 0;
    }
    return memory;
}

/* A GPU target's kernels leave their outputs on the device, where the next kernel reads them: the
 * result comes back to the host, then every device allocation of this run is released (a view
 * is remade on every run, so a device copy must not outlive it). A CPU target's buffers have
 * none. */
static int release_device(const cnnc_plan *plan, cnnc_plan_buffers *b,
                          struct halide_buffer_t *output, int status) {
    int32_t v;
    if (status == 0 && output->device) status = halide_copy_to_host(NULL, output);
    for (v = 0; v < plan->num_values; ++v)
        if (b->values[v] && b->values[v]->device) halide_device_free(NULL, b->values[v]);
    return status;
}

int cnnc_plan_run_buffers(const cnnc_plan *plan, cnnc_plan_buffers *b,
                          struct halide_buffer_t *images, struct halide_buffer_t *const *params,
                          struct halide_buffer_t *output) {
    int status = 0;
    int32_t s;
    b->values[plan->input_value] = images;
    b->values[plan->output_value] = output;
    for (s = 0; s < plan->num_steps && status == 0; ++s) {
        const cnnc_plan_step *step = &plan->steps[s];
        const int32_t *a = plan->step_args + step->first_arg;
        void *args[1024];
        int32_t k, count = 0;
        if (step->num_inputs + step->num_params + 1 > 1024) return -1;
        for (k = 0; k < step->num_inputs; ++k) args[count++] = b->values[a[k]];
        for (k = 0; k < step->num_params; ++k) args[count++] = params[a[step->num_inputs + k]];
        args[count++] = b->values[step->output];
        status = step->kernel(args);
    }
    return release_device(plan, b, output, status);
}

/* --- packed weights ------------------------------------------------------------------------ */

static int64_t packed_floats(const cnnc_plan_packing *p) {
    return (int64_t)p->extents[0] * p->extents[1] * p->extents[2] * p->extents[3];
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

/* The packed buffers' floats first (each 64-byte aligned), then their views, dims and the
 * parameter array. */
static size_t packed_data_bytes(const cnnc_plan *plan) {
    size_t bytes = 0;
    int32_t j;
    for (j = 0; j < plan->num_packings; ++j)
        bytes += round64((size_t)packed_floats(&plan->packings[j]) * sizeof(float));
    return bytes;
}

size_t cnnc_plan_prepared_bytes(const cnnc_plan *plan) {
    if (plan->num_packings == 0) return 0;
    return packed_data_bytes(plan) +
           round64((size_t)plan->num_packings * sizeof(struct halide_buffer_t)) +
           round64((size_t)plan->num_packings * 5 * sizeof(struct halide_dimension_t)) +
           round64((size_t)(plan->num_params + plan->num_packings) *
                   sizeof(struct halide_buffer_t *));
}

void cnnc_plan_pack_weights(const cnnc_plan_packing *p, const struct halide_buffer_t *from,
                            float *to) {
    const int32_t co = p->extents[0], kx = p->extents[1], ky = p->extents[2], ci = p->extents[3];
    const float *w = (const float *)from->host;
    int32_t b, y, x, c, l;
    for (b = 0; b < co / CNNC_PACK_LANES; ++b)
        for (y = 0; y < ky; ++y)
            for (x = 0; x < kx; ++x)
                for (c = 0; c < ci; ++c) {
                    const float *src = w + (int64_t)b * CNNC_PACK_LANES +
                                       co * (x + (int64_t)kx * (y + (int64_t)ky * c));
                    for (l = 0; l < CNNC_PACK_LANES; ++l) *to++ = src[l];
                }
}

/* (16, ci, kx, ky, co / 16), dense. */
static void view_packed(const cnnc_plan_packing *p, float *data, struct halide_buffer_t *b,
                        struct halide_dimension_t *dims) {
    const int32_t extents[5] = {CNNC_PACK_LANES, p->extents[3], p->extents[1], p->extents[2],
                                p->extents[0] / CNNC_PACK_LANES};
    int32_t stride = 1, d;
    memset(b, 0, sizeof *b);
    for (d = 0; d < 5; ++d) {
        dims[d].min = 0;
        dims[d].extent = extents[d];
        dims[d].stride = stride;
        dims[d].flags = 0;
        stride *= extents[d];
    }
    b->host = (uint8_t *)data;
    b->type.code = halide_type_float;
    b->type.bits = 32;
    b->type.lanes = 1;
    b->dimensions = 5;
    b->dim = dims;
}

/* Whether `b` is the dense (co, kx, ky, ci) float32 buffer packing `p` reads; else halide_error
 * says which parameter and both shapes. */
static int packable(const cnnc_plan_packing *p, const struct halide_buffer_t *b) {
    char text[320];
    int32_t d, stride = 1, ok = b && b->host && b->dimensions == 4 &&
                               b->type.code == halide_type_float && b->type.bits == 32;
    for (d = 0; ok && d < 4; ++d) {
        ok = b->dim[d].extent == p->extents[d] && b->dim[d].stride == stride;
        stride *= p->extents[d];
    }
    if (ok) return 1;
    snprintf(text, sizeof text,
             "parameter %s: packing needs dense float32 weights of %dx%dx%dx%d (co, kx, ky, ci)",
             p->name, p->extents[0], p->extents[1], p->extents[2], p->extents[3]);
    if (b && b->dimensions == 4)
        snprintf(text + strlen(text), sizeof text - strlen(text), ", given %dx%dx%dx%d",
                 b->dim[0].extent, b->dim[1].extent, b->dim[2].extent, b->dim[3].extent);
    else if (b)
        snprintf(text + strlen(text), sizeof text - strlen(text), ", given %d dimensions",
                 b->dimensions);
    halide_error(NULL, text);
    return 0;
}

struct halide_buffer_t **cnnc_plan_prepare(const cnnc_plan *plan,
                                           struct halide_buffer_t *const *params, void *memory) {
    unsigned char *m = (unsigned char *)memory;
    struct halide_buffer_t *views =
        (struct halide_buffer_t *)(m + packed_data_bytes(plan));
    struct halide_dimension_t *dims =
        (struct halide_dimension_t *)((unsigned char *)views +
                                      round64((size_t)plan->num_packings * sizeof *views));
    struct halide_buffer_t **all =
        (struct halide_buffer_t **)((unsigned char *)dims +
                                    round64((size_t)plan->num_packings * 5 * sizeof *dims));
    int32_t i, j;
    for (i = 0; i < plan->num_params; ++i) all[i] = params[i];
    for (j = 0; j < plan->num_packings; ++j) {
        const cnnc_plan_packing *p = &plan->packings[j];
        if (!packable(p, params[p->param])) return NULL;
        cnnc_plan_pack_weights(p, params[p->param], (float *)m);
        view_packed(p, (float *)m, &views[j], &dims[j * 5]);
        all[plan->num_params + j] = &views[j];
        m += round64((size_t)packed_floats(p) * sizeof(float));
    }
    return all;
}

int cnnc_plan_run(const cnnc_plan *plan, struct halide_buffer_t *images,
                  struct halide_buffer_t *const *params, struct halide_buffer_t *output,
                  float *arena) {
    void *memory;
    int status;
    struct halide_buffer_t **prepared;
    if (plan->num_packings == 0) return cnnc_plan_run_prepared(plan, images, params, output, arena);
    /* malloc, aligned by hand: exported libraries compile this without a C library's headers. */
    memory = malloc(cnnc_plan_prepared_bytes(plan) + 63);
    if (!memory) return -1;
    prepared = cnnc_plan_prepare(plan, params, (void *)round64((size_t)memory));
    status = prepared ? cnnc_plan_run_prepared(plan, images, prepared, output, arena)
                      : halide_error_code_bad_dimensions;
    free(memory);
    return status;
}

int cnnc_plan_run_prepared(const cnnc_plan *plan, struct halide_buffer_t *images,
                           struct halide_buffer_t *const *params, struct halide_buffer_t *output,
                           float *arena) {
    const int32_t batch = images->dim[images->dimensions - 1].extent;
    cnnc_plan_buffers b;
    float *owned = NULL;
    int status;
    if (!arena && plan->arena_floats > 0)
        arena = owned = (float *)malloc((size_t)(plan->arena_floats * batch) * sizeof(float));
    if ((!arena && plan->arena_floats > 0) ||
        cnnc_plan_buffers_open(&b, plan->values, plan->num_values, batch, arena) != 0) {
        free(owned);
        return -1;
    }
    status = cnnc_plan_run_buffers(plan, &b, images, params, output);
    cnnc_plan_buffers_close(&b);
    free(owned);
    return status;
}
