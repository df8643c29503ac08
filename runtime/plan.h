/* The inference plan: the kernels of a model's inference library called in order over one arena.
 * Plain C, so that exported libraries carry it without a C++ runtime. */
#ifndef CNNC_RUNTIME_PLAN_H
#define CNNC_RUNTIME_PLAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct halide_buffer_t;

/* A value between kernels: per-image storage extents, innermost first ((c, x, y) or (f)), and
 * its offset in the arena in floats per image (-1: the model input or output, which live in the
 * caller's buffers). */
typedef struct cnnc_plan_value {
    int32_t rank;
    int32_t extents[3];
    int64_t offset;
} cnnc_plan_value;

/* One kernel call: kernel(input values..., parameters..., output value), arguments in
 * step_args[first_arg ...]: num_inputs value indices, then num_params parameter indices. */
typedef struct cnnc_plan_step {
    int (*kernel)(void **args);
    int32_t first_arg;
    int32_t num_inputs;
    int32_t num_params;
    int32_t output;
} cnnc_plan_step;

/* Output channels per block of packed convolution weights. */
#define CNNC_PACK_LANES 16

/* A convolution's weights, (co, kx, ky, ci) innermost first, that the kernels read packed:
 * (16 channels, ci, kx, ky, co / 16), so that the weights of a block of output channels lie
 * together in the order the kernels' reduction reads them (compiler/passes/weight_packing.h). */
typedef struct cnnc_plan_packing {
    int32_t param;      /* index among the caller's parameters */
    int32_t extents[4]; /* co, kx, ky, ci; co a multiple of CNNC_PACK_LANES */
    const char *name;   /* the parameter's, for errors */
} cnnc_plan_packing;

typedef struct cnnc_plan {
    int32_t num_values;
    const cnnc_plan_value *values;
    int32_t num_steps;
    const cnnc_plan_step *steps;
    const int32_t *step_args;
    int32_t input_value;
    int32_t output_value;
    int64_t arena_floats; /* per image */
    /* Step arguments num_params + j are packing j's packed weights. */
    int32_t num_params;
    int32_t num_packings;
    const cnnc_plan_packing *packings;
} cnnc_plan;

/* Bytes of memory cnnc_plan_prepare needs (0 when the plan packs nothing). */
size_t cnnc_plan_prepared_bytes(const cnnc_plan *plan);
/* Packs the weights the plan's kernels read packed from `params` (the caller's parameters) into
 * `memory` (cnnc_plan_prepared_bytes, 64-byte aligned) and returns the parameters the plan's
 * kernels take, valid while `memory` and `params` are: the caller's, then the packed ones. For
 * weights that do not change between calls, so that they are packed once. Returns NULL, after
 * halide_error names the parameter and both shapes, when a parameter to pack is not a dense
 * float32 buffer of the convolution's extents. */
struct halide_buffer_t **cnnc_plan_prepare(const cnnc_plan *plan,
                                           struct halide_buffer_t *const *params, void *memory);
/* Packs one convolution's weights, `from` checked as cnnc_plan_prepare says: `to` holds
 * co * kx * ky * ci floats. */
void cnnc_plan_pack_weights(const cnnc_plan_packing *packing, const struct halide_buffer_t *from,
                            float *to);

/* Buffer views of a table of values for one batch: value i is a dense (extents..., batch) window
 * of the arena at offset * batch floats, or NULL where its offset is -1 (the caller's buffers go
 * there). */
typedef struct cnnc_plan_buffers {
    struct halide_buffer_t **values;
    struct halide_buffer_t *views;
    struct halide_dimension_t *dims;
} cnnc_plan_buffers;

/* Bytes of memory cnnc_plan_buffers_place needs for `count` values. */
size_t cnnc_plan_buffers_bytes(int32_t count);
/* The views placed in caller memory of cnnc_plan_buffers_bytes(count) bytes (8-byte aligned); no
 * allocation, nothing to close. */
void cnnc_plan_buffers_place(cnnc_plan_buffers *b, const cnnc_plan_value *values, int32_t count,
                             int32_t batch, float *arena, void *memory);
/* The same in memory of its own: returns 0, or -1 when memory runs out (nothing is left
 * allocated then); cnnc_plan_buffers_close frees it. */
int cnnc_plan_buffers_open(cnnc_plan_buffers *b, const cnnc_plan_value *values, int32_t count,
                           int32_t batch, float *arena);
void cnnc_plan_buffers_close(cnnc_plan_buffers *b);

/* Per-thread scratch memory of at least `floats` floats, kept and reused by the thread's later
 * calls (a training step allocates the same large arena every batch); NULL when memory runs out. */
float *cnnc_plan_scratch(int64_t floats);

/* Runs the plan over buffers already opened or placed for the batch of `images`, with the
 * parameters cnnc_plan_prepare returned: 0, or a kernel's nonzero Halide error code. */
int cnnc_plan_run_buffers(const cnnc_plan *plan, cnnc_plan_buffers *b,
                          struct halide_buffer_t *images, struct halide_buffer_t *const *params,
                          struct halide_buffer_t *output);

/* Runs the plan for the batch in `images` (its last dimension) with the caller's parameters,
 * packing the weights it reads packed for this call. `arena` holds at least arena_floats * batch
 * floats, or is NULL to allocate it for this call. Returns 0, a kernel's nonzero Halide error
 * code, or -1 when memory runs out. */
int cnnc_plan_run(const cnnc_plan *plan, struct halide_buffer_t *images,
                  struct halide_buffer_t *const *params, struct halide_buffer_t *output,
                  float *arena);
/* The same with the parameters cnnc_plan_prepare returned: nothing is packed. */
int cnnc_plan_run_prepared(const cnnc_plan *plan, struct halide_buffer_t *images,
                           struct halide_buffer_t *const *prepared, struct halide_buffer_t *output,
                           float *arena);

#ifdef __cplusplus
}
#endif

#endif
