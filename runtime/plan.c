/* Running an inference plan: buffer views into the arena, then one call per kernel. */
#include "runtime/plan.h"

#include <HalideRuntime.h>
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

int cnnc_plan_buffers_open(cnnc_plan_buffers *b, const cnnc_plan_value *values, int32_t count,
                           int32_t batch, float *arena) {
    int32_t i;
    b->views = (struct halide_buffer_t *)calloc((size_t)count, sizeof *b->views);
    b->dims = (struct halide_dimension_t *)calloc((size_t)count * 4, sizeof *b->dims);
    b->values = (struct halide_buffer_t **)calloc((size_t)count, sizeof *b->values);
    if (!b->views || !b->dims || !b->values) {
        cnnc_plan_buffers_close(b);
        return -1;
    }
    for (i = 0; i < count; ++i) {
        if (values[i].offset < 0) continue;
        view_value(&values[i], batch, arena, &b->views[i], &b->dims[i * 4]);
        b->values[i] = &b->views[i];
    }
    return 0;
}

void cnnc_plan_buffers_close(cnnc_plan_buffers *b) {
    free(b->values);
    free(b->dims);
    free(b->views);
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

int cnnc_plan_run(const cnnc_plan *plan, struct halide_buffer_t *images,
                  struct halide_buffer_t *const *params, struct halide_buffer_t *output,
                  float *arena) {
    const int32_t batch = images->dim[images->dimensions - 1].extent;
    cnnc_plan_buffers b;
    float *owned = NULL;
    int status = 0;
    int32_t s;
    if (!arena && plan->arena_floats > 0)
        arena = owned = (float *)malloc((size_t)(plan->arena_floats * batch) * sizeof(float));
    if ((!arena && plan->arena_floats > 0) ||
        cnnc_plan_buffers_open(&b, plan->values, plan->num_values, batch, arena) != 0) {
        free(owned);
        return -1;
    }
    b.values[plan->input_value] = images;
    b.values[plan->output_value] = output;
    for (s = 0; s < plan->num_steps && status == 0; ++s) {
        const cnnc_plan_step *step = &plan->steps[s];
        const int32_t *a = plan->step_args + step->first_arg;
        void *args[1024];
        int32_t k, count = 0;
        if (step->num_inputs + step->num_params + 1 > 1024) {
            status = -1;
            break;
        }
        for (k = 0; k < step->num_inputs; ++k) args[count++] = b.values[a[k]];
        for (k = 0; k < step->num_params; ++k) args[count++] = params[a[step->num_inputs + k]];
        args[count++] = b.values[step->output];
        status = step->kernel(args);
    }
    cnnc_plan_buffers_close(&b);
    free(owned);
    return status;
}
