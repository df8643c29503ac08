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

int cnnc_plan_run(const cnnc_plan *plan, struct halide_buffer_t *images,
                  struct halide_buffer_t *const *params, struct halide_buffer_t *output,
                  float *arena) {
    const int32_t batch = images->dim[images->dimensions - 1].extent;
    const int32_t n = plan->num_values;
    struct halide_buffer_t *views = (struct halide_buffer_t *)calloc((size_t)n, sizeof *views);
    struct halide_dimension_t *dims =
        (struct halide_dimension_t *)calloc((size_t)n * 4, sizeof *dims);
    struct halide_buffer_t **values = (struct halide_buffer_t **)calloc((size_t)n, sizeof *values);
    float *owned = NULL;
    int status = 0;
    int32_t i, s;
    if (!arena && plan->arena_floats > 0)
        arena = owned = (float *)malloc((size_t)(plan->arena_floats * batch) * sizeof(float));
    if (!views || !dims || !values || (!arena && plan->arena_floats > 0)) {
        status = -1;
        goto done;
    }
    for (i = 0; i < n; ++i) {
        if (i == plan->input_value) {
            values[i] = images;
        } else if (i == plan->output_value) {
            values[i] = output;
        } else {
            view_value(&plan->values[i], batch, arena, &views[i], &dims[i * 4]);
            values[i] = &views[i];
        }
    }
    for (s = 0; s < plan->num_steps && status == 0; ++s) {
        const cnnc_plan_step *step = &plan->steps[s];
        const int32_t *a = plan->step_args + step->first_arg;
        void *args[1024];
        int32_t k, count = 0;
        if (step->num_inputs + step->num_params + 1 > 1024) {
            status = -1;
            break;
        }
        for (k = 0; k < step->num_inputs; ++k) args[count++] = values[a[k]];
        for (k = 0; k < step->num_params; ++k) args[count++] = params[a[step->num_inputs + k]];
        args[count++] = values[step->output];
        status = step->kernel(args);
    }
done:
    free(owned);
    free(values);
    free(dims);
    free(views);
    return status;
}
