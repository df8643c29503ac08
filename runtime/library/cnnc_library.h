/* The model-independent half of an exported library: contexts, weights, variant choice and
 * argument checks. Each export compiles it with the model's generated <model>_library.c, whose
 * public functions (the API of <model>.h) forward here with the model's description.
 * Plain C that needs only memcpy/memset/malloc/free and, for weights files, fopen and friends, so
 * that it builds for any target without that target's C library headers. */
#ifndef CNNC_LIBRARY_H
#define CNNC_LIBRARY_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/plan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes; <model>.h repeats them under the model's prefix. */
enum {
    CNNC_LIB_OK = 0,
    CNNC_LIB_ERROR_ARGUMENT = 1, /* a null pointer, a wrong size, a batch out of range */
    CNNC_LIB_ERROR_WEIGHTS = 2,  /* missing, unreadable, corrupted or mismatched weights */
    CNNC_LIB_ERROR_MEMORY = 3,   /* out of memory, or caller memory too small */
    CNNC_LIB_ERROR_PIPELINE = 4  /* a generated kernel failed */
};

/* One compiled variant of the model: its plan and the CPU features its kernels use. */
typedef struct cnnc_lib_variant {
    const cnnc_plan *plan;
    const char *target;
    int32_t feature_words;
    const uint64_t *features; /* halide_target_feature_t bits, for halide_can_use_target_features */
    int32_t feature_count;    /* how many features: more is preferred */
} cnnc_lib_variant;

typedef struct cnnc_lib_model {
    const char *name;
    int64_t input_floats;  /* per image */
    int32_t input_rank;    /* storage extents of one image, innermost first */
    int32_t input_extents[3];
    int64_t output_floats; /* per image */
    int32_t output_rank;
    int32_t output_extents[3];
    int32_t num_params;
    const int32_t *param_rank;
    const int32_t (*param_extents)[4];
    int64_t param_floats;
    uint64_t fingerprint;
    int32_t fixed_batch; /* > 0: the only batch the kernels accept */
    int32_t max_batch;   /* the largest batch a context accepts */
    int32_t num_variants;
    const cnnc_lib_variant *variants;
    const unsigned char *embedded_weights; /* NULL: the library takes external weights */
} cnnc_lib_model;

/* <model>_options with the model's prefix removed; the same fields. */
typedef struct cnnc_lib_options {
    const char *weights_path;
    const void *weights_data;
    size_t weights_bytes;
    void *memory;
    size_t memory_bytes;
    int max_batch;
} cnnc_lib_options;

typedef struct cnnc_lib_context cnnc_lib_context;

size_t cnnc_lib_context_bytes(const cnnc_lib_model *m, int max_batch);
int cnnc_lib_create(const cnnc_lib_model *m, cnnc_lib_context **context,
                    const cnnc_lib_options *options);
int cnnc_lib_run(cnnc_lib_context *c, const float *images, size_t image_floats, float *output,
                 size_t output_floats);
const char *cnnc_lib_error(const cnnc_lib_context *c);
const char *cnnc_lib_variant_target(const cnnc_lib_context *c);
void cnnc_lib_destroy(cnnc_lib_context *c);

#ifdef __cplusplus
}
#endif

#endif
