/* Contexts of an exported library: weights checked and bound, memory laid out, variant chosen. */
#include "runtime/library/cnnc_library.h"

#include <HalideRuntime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/library/weights_format.h"

enum { error_bytes = 512, align_bytes = 64 };

struct cnnc_lib_context {
    const cnnc_lib_model *model;
    const cnnc_lib_variant *variant;
    char error[error_bytes];
    int32_t max_batch;  /* the batch the memory below holds */
    int owns_block;     /* the context's block came from malloc */
    void *block;        /* what malloc returned for an owned context */
    void *work;         /* what malloc returned for grown work memory */
    float mean, inv_std;
    struct halide_buffer_t *params;
    struct halide_buffer_t **param_ptrs; /* the weights as the model has them */
    struct halide_dimension_t *param_dims;
    void *prepared_memory;               /* the weights the kernels read packed, packed */
    struct halide_buffer_t **run_params; /* what the plan takes (cnnc_plan_prepare) */
    void *views_memory;
    float *scaled; /* the normalised input of one batch */
    float *staged; /* outputs, when the caller's output is not 64-byte aligned (see run) */
    float *arena;  /* activations between kernels */
};

/* The error of the last failed create on this thread, which has no context to hold it. */
static _Thread_local char create_error[error_bytes];

/* --- kernel scratch memory, kept between calls ------------------------------------------------ */

/* Every call of a kernel allocates the same scratch blocks through halide_malloc (a fused
 * producer's rows, staged inputs) and frees them before it returns. Handed back to the C library,
 * they made glibc shrink the heap and fault it in again at the next call: MobileNet-v2 at batch 1
 * ran in 12 ms here against the model program's 5 (which raises glibc's trim threshold, something
 * a library must not do to its host), 40% of it in brk, madvise and page faults. So freed blocks
 * wait in a small table for a request of the same size; cnnc_lib_destroy empties it. */
enum { kept_blocks = 64, kept_align = 128 };

typedef struct kept_header {
    void *raw;    /* what malloc returned */
    size_t bytes; /* what halide_malloc asked for */
} kept_header;

static struct {
    void *block;
    size_t bytes;
} kept[kept_blocks];
static struct halide_mutex kept_lock;

static kept_header *header_of(void *block) { return (kept_header *)block - 1; }

static void *keeping_malloc(void *user_context, size_t bytes) {
    unsigned char *raw;
    void *block = NULL;
    int i;
    (void)user_context;
    halide_mutex_lock(&kept_lock);
    for (i = 0; i < kept_blocks && !block; ++i)
        if (kept[i].block && kept[i].bytes == bytes) {
            block = kept[i].block;
            kept[i].block = NULL;
        }
    halide_mutex_unlock(&kept_lock);
    if (block) return block;
    /* Aligned as Halide's own halide_malloc aligns, the header just below the block. */
    raw = (unsigned char *)malloc(bytes + kept_align + sizeof(kept_header));
    if (!raw) return NULL;
    block = (void *)(((uintptr_t)raw + sizeof(kept_header) + kept_align - 1) &
                     ~(uintptr_t)(kept_align - 1));
    header_of(block)->raw = raw;
    header_of(block)->bytes = bytes;
    return block;
}

static void keeping_free(void *user_context, void *block) {
    int i, kept_it = 0;
    (void)user_context;
    if (!block) return;
    halide_mutex_lock(&kept_lock);
    for (i = 0; i < kept_blocks && !kept_it; ++i)
        if (!kept[i].block) {
            kept[i].block = block;
            kept[i].bytes = header_of(block)->bytes;
            kept_it = 1;
        }
    halide_mutex_unlock(&kept_lock);
    if (!kept_it) free(header_of(block)->raw);
}

static void free_kept_blocks(void) {
    int i;
    halide_mutex_lock(&kept_lock);
    for (i = 0; i < kept_blocks; ++i)
        if (kept[i].block) {
            free(header_of(kept[i].block)->raw);
            kept[i].block = NULL;
        }
    halide_mutex_unlock(&kept_lock);
}

/* --- messages, without printf (the library is built without a C library's headers) ----------- */

typedef struct message {
    char *text;
    size_t used;
} message;

static void put(message *m, const char *s) {
    while (*s && m->used + 1 < error_bytes) m->text[m->used++] = *s++;
    m->text[m->used] = 0;
}

static void put_u64(message *m, uint64_t v) {
    char digits[24];
    int n = 0;
    do digits[n++] = (char)('0' + v % 10); while (v /= 10);
    while (n > 0 && m->used + 1 < error_bytes) m->text[m->used++] = digits[--n];
    m->text[m->used] = 0;
}

/* Halide's own error handler prints and aborts; the library's records the message (the last on
 * this thread) for cnnc_lib_error, and the failing kernel returns its error code. */
static _Thread_local char halide_message[error_bytes];

static void record_halide_error(void *user_context, const char *text) {
    size_t n = 0;
    (void)user_context;
    while (text[n] && n + 1 < error_bytes) {
        halide_message[n] = text[n] == '\n' ? ' ' : text[n];
        ++n;
    }
    while (n > 0 && halide_message[n - 1] == ' ') --n;
    halide_message[n] = 0;
}

static message begin(char *text, const cnnc_lib_model *model) {
    message m = {text, 0};
    put(&m, model->name);
    put(&m, ": ");
    return m;
}

/* --- sizes and memory -------------------------------------------------------------------------- */

static size_t round_up(size_t n) { return (n + align_bytes - 1) & ~(size_t)(align_bytes - 1); }

static int32_t value_count(const cnnc_lib_model *m) { return m->variants[0].plan->num_values; }

/* Every variant packs the same weights (compiler/passes/weight_packing.h: not by target). */
static size_t prepared_bytes(const cnnc_lib_model *m) {
    return cnnc_plan_prepared_bytes(m->variants[0].plan);
}

static size_t weights_bytes(const cnnc_lib_model *m) {
    return CNNC_WEIGHTS_HEADER_BYTES + (size_t)m->param_floats * sizeof(float);
}

static size_t fixed_bytes(const cnnc_lib_model *m) {
    return round_up(sizeof(struct cnnc_lib_context)) +
           round_up((size_t)m->num_params * sizeof(struct halide_buffer_t)) +
           round_up((size_t)m->num_params * 4 * sizeof(struct halide_dimension_t)) +
           round_up((size_t)m->num_params * sizeof(struct halide_buffer_t *)) +
           round_up(cnnc_plan_buffers_bytes(value_count(m))) + round_up(prepared_bytes(m)) +
           (m->embedded_weights ? 0 : round_up(weights_bytes(m)));
}

static size_t work_bytes(const cnnc_lib_model *m, int32_t batch) {
    return round_up((size_t)batch * (size_t)m->input_floats * sizeof(float)) +
           round_up((size_t)batch * (size_t)m->output_floats * sizeof(float)) +
           round_up((size_t)batch * (size_t)m->variants[0].plan->arena_floats * sizeof(float));
}

size_t cnnc_lib_context_bytes(const cnnc_lib_model *m, int max_batch) {
    if (max_batch < 1) max_batch = 1;
    return align_bytes + fixed_bytes(m) + work_bytes(m, max_batch);
}

static void place_work(cnnc_lib_context *c, unsigned char *at) {
    const size_t n = (size_t)c->max_batch;
    c->scaled = (float *)at;
    at += round_up(n * (size_t)c->model->input_floats * sizeof(float));
    c->staged = (float *)at;
    at += round_up(n * (size_t)c->model->output_floats * sizeof(float));
    c->arena = (float *)at;
}

/* Owned contexts grow to the largest batch they have seen; caller memory cannot. */
static int ensure_batch(cnnc_lib_context *c, int32_t batch) {
    unsigned char *work;
    if (batch <= c->max_batch) return CNNC_LIB_OK;
    if (!c->owns_block) return CNNC_LIB_ERROR_ARGUMENT;
    work = (unsigned char *)malloc(work_bytes(c->model, batch) + align_bytes);
    if (!work) return CNNC_LIB_ERROR_MEMORY;
    free(c->work);
    c->work = work;
    c->max_batch = batch;
    place_work(c, (unsigned char *)round_up((size_t)work));
    return CNNC_LIB_OK;
}

/* --- weights ----------------------------------------------------------------------------------- */

static int weights_error(message *m, const char *source, uint64_t byte, const char *what) {
    put(m, source);
    if (byte != (uint64_t)-1) {
        put(m, ", byte ");
        put_u64(m, byte);
    }
    put(m, ": ");
    put(m, what);
    return CNNC_LIB_ERROR_WEIGHTS;
}

static int same_name(const unsigned char *field, const char *name) {
    size_t n = strlen(name);
    return n < CNNC_WEIGHTS_NAME_BYTES && memcmp(field, name, n) == 0 && field[n] == 0;
}

/* Checks a weights blob against the model: size, magic, version, model, checksum, layout. */
static int check_weights(message *m, const cnnc_lib_model *model, const char *source,
                         const unsigned char *w, size_t size) {
    const uint64_t expected = weights_bytes(model);
    if (size < CNNC_WEIGHTS_HEADER_BYTES)
        return weights_error(m, source, (uint64_t)-1,
                             "shorter than the 128-byte header of a cnnc weights file");
    if (memcmp(w, CNNC_WEIGHTS_MAGIC, 8) != 0)
        return weights_error(m, source, 0, "not a cnnc weights file (no CNNCWTS1 magic)");
    if (cnnc_read_u32(w + 8) != CNNC_WEIGHTS_VERSION)
        return weights_error(m, source, 8, "a weights format version this library cannot read");
    if (!same_name(w + 48, model->name)) {
        weights_error(m, source, 48, "weights of another model ('");
        put(m, (const char *)w + 48); /* zero-terminated: byte 127 of the header is always 0 */
        put(m, "')");
        return CNNC_LIB_ERROR_WEIGHTS;
    }
    if (size != expected) {
        weights_error(m, source, (uint64_t)-1, "");
        put_u64(m, size);
        put(m, " bytes, but the model's weights are ");
        put_u64(m, expected);
        put(m, size < expected ? " (truncated?)" : " (exported from another version of the model?)");
        return CNNC_LIB_ERROR_WEIGHTS;
    }
    if (cnnc_read_u64(w + 16) != expected - CNNC_WEIGHTS_HEADER_BYTES)
        return weights_error(m, source, 16, "parameter bytes differ from the model's");
    if (cnnc_weights_checksum(w + CNNC_WEIGHTS_CHECKED_FROM, size - CNNC_WEIGHTS_CHECKED_FROM) !=
        cnnc_read_u64(w + 24))
        return weights_error(m, source, 24,
                             "checksum mismatch over bytes 32 to the end: the file is corrupted");
    if (cnnc_read_u64(w + 32) != model->fingerprint)
        return weights_error(m, source, 32,
                             "exported from another version of the model (its layers' names or "
                             "shapes differ)");
    return CNNC_LIB_OK;
}

static int file_error(message *m, const char *what, const char *path, FILE *f) {
    if (f) fclose(f);
    put(m, what);
    put(m, " weights file '");
    put(m, path);
    put(m, "'");
    return CNNC_LIB_ERROR_WEIGHTS;
}

/* Reads a weights file into `into` (weights_bytes(model) long) and gives its size. A file of
 * another size is read only as far as fits: check_weights names the wrong size from the header
 * before it reads past it. */
static int read_weights_file(message *m, const cnnc_lib_model *model, const char *path,
                             unsigned char *into, size_t *size) {
    FILE *f = fopen(path, "rb");
    long length;
    size_t want;
    if (!f) return file_error(m, "cannot open", path, NULL);
    if (fseek(f, 0, SEEK_END) != 0 || (length = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        return file_error(m, "cannot read", path, f);
    *size = (size_t)length;
    want = *size < weights_bytes(model) ? *size : weights_bytes(model);
    if (fread(into, 1, want, f) != want) return file_error(m, "cannot read", path, f);
    fclose(f);
    return CNNC_LIB_OK;
}

static void bind_params(cnnc_lib_context *c, const unsigned char *w) {
    const cnnc_lib_model *m = c->model;
    const float *p = (const float *)(w + CNNC_WEIGHTS_HEADER_BYTES);
    int32_t i, d;
    float mean, std;
    memcpy(&mean, w + 40, 4);
    memcpy(&std, w + 44, 4);
    c->mean = mean;
    c->inv_std = 1.0f / std;
    for (i = 0; i < m->num_params; ++i) {
        struct halide_buffer_t *b = &c->params[i];
        struct halide_dimension_t *dims = &c->param_dims[i * 4];
        int32_t stride = 1;
        memset(b, 0, sizeof *b);
        for (d = 0; d < m->param_rank[i]; ++d) {
            dims[d].min = 0;
            dims[d].extent = m->param_extents[i][d];
            dims[d].stride = stride;
            dims[d].flags = 0;
            stride *= m->param_extents[i][d];
        }
        b->host = (uint8_t *)p;
        b->type.code = halide_type_float;
        b->type.bits = 32;
        b->type.lanes = 1;
        b->dimensions = m->param_rank[i];
        b->dim = dims;
        c->param_ptrs[i] = b;
        p += stride;
    }
}

/* --- variants ---------------------------------------------------------------------------------- */

/* The variant with the most features this CPU has; a single variant is the one asked for. */
static const cnnc_lib_variant *pick_variant(const cnnc_lib_model *m) {
    const cnnc_lib_variant *best = NULL;
    int32_t i;
    if (m->num_variants == 1) return &m->variants[0];
    for (i = 0; i < m->num_variants; ++i) {
        const cnnc_lib_variant *v = &m->variants[i];
        if (!halide_can_use_target_features(v->feature_words, v->features)) continue;
        if (!best || v->feature_count > best->feature_count) best = v;
    }
    return best;
}

/* --- the API ----------------------------------------------------------------------------------- */

static int create_failed(const cnnc_lib_model *model, const char *what, int code) {
    message m = begin(create_error, model);
    put(&m, what);
    return code;
}

static int32_t default_max_batch(const cnnc_lib_model *m, const cnnc_lib_options *o) {
    if (o && o->max_batch > 0) return o->max_batch;
    return m->fixed_batch > 0 ? m->fixed_batch : 1;
}

static int check_options(const cnnc_lib_model *m, const cnnc_lib_options *o, int32_t max_batch) {
    message msg = begin(create_error, m);
    if (max_batch > m->max_batch || (m->fixed_batch > 0 && max_batch != m->fixed_batch)) {
        put(&msg, "max_batch ");
        put_u64(&msg, (uint64_t)max_batch);
        put(&msg, m->fixed_batch > 0 ? " differs from the library's fixed batch "
                                     : " exceeds the library's largest batch ");
        put_u64(&msg, (uint64_t)m->max_batch);
        return CNNC_LIB_ERROR_ARGUMENT;
    }
    if (o && o->memory && o->memory_bytes < cnnc_lib_context_bytes(m, max_batch)) {
        put(&msg, "caller memory of ");
        put_u64(&msg, o->memory_bytes);
        put(&msg, " bytes is less than the ");
        put_u64(&msg, cnnc_lib_context_bytes(m, max_batch));
        put(&msg, " a context for this max_batch needs (");
        put(&msg, m->name);
        put(&msg, "_context_bytes)");
        return CNNC_LIB_ERROR_MEMORY;
    }
    if (m->embedded_weights && o && (o->weights_path || o->weights_data))
        return create_failed(m, "this library has its weights embedded; leave weights_path and "
                                "weights_data NULL", CNNC_LIB_ERROR_ARGUMENT);
    if (!m->embedded_weights && (!o || (!o->weights_path && !o->weights_data)))
        return create_failed(m, "this library takes external weights: set weights_path or "
                                "weights_data in the options", CNNC_LIB_ERROR_ARGUMENT);
    if (!m->embedded_weights && o->weights_path && o->weights_data)
        return create_failed(m, "set one of weights_path and weights_data, not both",
                             CNNC_LIB_ERROR_ARGUMENT);
    return CNNC_LIB_OK;
}

/* Lays the context out in `block` (cnnc_lib_context_bytes long): context, parameter buffers,
 * value views, packed weights, weights copy, then the batch's work memory. */
static cnnc_lib_context *lay_out(const cnnc_lib_model *m, void *block, int32_t max_batch,
                                 unsigned char **weights_copy) {
    unsigned char *at = (unsigned char *)round_up((size_t)block);
    cnnc_lib_context *c = (cnnc_lib_context *)at;
    memset(c, 0, sizeof *c);
    c->model = m;
    c->max_batch = max_batch;
    at += round_up(sizeof *c);
    c->params = (struct halide_buffer_t *)at;
    at += round_up((size_t)m->num_params * sizeof(struct halide_buffer_t));
    c->param_dims = (struct halide_dimension_t *)at;
    at += round_up((size_t)m->num_params * 4 * sizeof(struct halide_dimension_t));
    c->param_ptrs = (struct halide_buffer_t **)at;
    at += round_up((size_t)m->num_params * sizeof(struct halide_buffer_t *));
    c->views_memory = at;
    at += round_up(cnnc_plan_buffers_bytes(value_count(m)));
    c->prepared_memory = at;
    at += round_up(prepared_bytes(m));
    *weights_copy = m->embedded_weights ? NULL : at;
    if (!m->embedded_weights) at += round_up(weights_bytes(m));
    place_work(c, at);
    return c;
}

/* Finds, checks and binds the weights: embedded, in caller memory, or read from a file. */
static int load_weights(cnnc_lib_context *c, const cnnc_lib_options *o, unsigned char *copy) {
    const cnnc_lib_model *m = c->model;
    message msg = begin(create_error, m);
    const unsigned char *w = m->embedded_weights;
    size_t size = weights_bytes(m);
    const char *source = "embedded weights";
    int status;
    char file_source[error_bytes / 2];
    if (!w && o->weights_data) {
        w = (const unsigned char *)o->weights_data;
        size = o->weights_bytes;
        source = "weights in memory";
    } else if (!w) {
        message s = {file_source, 0};
        status = read_weights_file(&msg, m, o->weights_path, copy, &size);
        if (status != CNNC_LIB_OK) return status;
        put(&s, "weights file '");
        put(&s, o->weights_path);
        put(&s, "'");
        source = file_source;
        w = copy;
    }
    status = check_weights(&msg, m, source, w, size);
    if (status != CNNC_LIB_OK) return status;
    bind_params(c, w);
    /* Packed once here: the weights do not change while the context lives. */
    c->run_params = c->variant->plan->num_packings == 0
                        ? c->param_ptrs
                        : cnnc_plan_prepare(c->variant->plan, c->param_ptrs, c->prepared_memory);
    return CNNC_LIB_OK;
}

int cnnc_lib_create(const cnnc_lib_model *m, cnnc_lib_context **context,
                    const cnnc_lib_options *o) {
    const int32_t max_batch = default_max_batch(m, o);
    const cnnc_lib_variant *variant;
    cnnc_lib_context *c;
    unsigned char *copy;
    void *block;
    int status;
    create_error[0] = 0;
    halide_set_error_handler(record_halide_error);
    halide_set_custom_malloc(keeping_malloc);
    halide_set_custom_free(keeping_free);
    if (!context) return create_failed(m, "context is NULL", CNNC_LIB_ERROR_ARGUMENT);
    *context = NULL;
    status = check_options(m, o, max_batch);
    if (status != CNNC_LIB_OK) return status;
    variant = pick_variant(m);
    if (!variant)
        return create_failed(m, "none of the library's target variants runs on this CPU",
                             CNNC_LIB_ERROR_ARGUMENT);
    block = o && o->memory ? o->memory : malloc(cnnc_lib_context_bytes(m, max_batch));
    if (!block) return create_failed(m, "out of memory", CNNC_LIB_ERROR_MEMORY);
    c = lay_out(m, block, max_batch, &copy);
    c->owns_block = !(o && o->memory);
    c->variant = variant;
    status = load_weights(c, o, copy);
    if (status != CNNC_LIB_OK) {
        if (c->owns_block) free(block);
        return status;
    }
    if (c->owns_block) c->block = block;
    *context = c;
    return CNNC_LIB_OK;
}

/* A (extents..., batch) view of caller memory holding a batch of images or outputs. */
static void describe_batch(struct halide_buffer_t *b, struct halide_dimension_t *dims,
                           const float *data, int32_t rank, const int32_t *extents, int32_t batch) {
    int32_t stride = 1, d;
    memset(b, 0, sizeof *b);
    for (d = 0; d <= rank; ++d) {
        dims[d].min = 0;
        dims[d].extent = d < rank ? extents[d] : batch;
        dims[d].stride = stride;
        dims[d].flags = 0;
        stride *= dims[d].extent;
    }
    b->host = (uint8_t *)data;
    b->type.code = halide_type_float;
    b->type.bits = 32;
    b->type.lanes = 1;
    b->dimensions = rank + 1;
    b->dim = dims;
}

static int run_failed(message *m, const char *what, uint64_t a, const char *middle, uint64_t b) {
    put(m, what);
    put_u64(m, a);
    put(m, middle);
    put_u64(m, b);
    return CNNC_LIB_ERROR_ARGUMENT;
}

/* The batch the sizes describe, or 0 after an error message. */
static int32_t checked_batch(cnnc_lib_context *c, message *msg, size_t image_floats,
                             size_t output_floats) {
    const cnnc_lib_model *m = c->model;
    const size_t batch = image_floats / (size_t)m->input_floats;
    if (image_floats == 0 || image_floats % (size_t)m->input_floats != 0) {
        run_failed(msg, "image_floats ", image_floats,
                   " is not a positive multiple of one image's floats, ", (uint64_t)m->input_floats);
        return 0;
    }
    if (output_floats != batch * (size_t)m->output_floats) {
        run_failed(msg, "output_floats ", output_floats, " differs from the batch's outputs, ",
                   batch * (uint64_t)m->output_floats);
        return 0;
    }
    if (m->fixed_batch > 0 && batch != (size_t)m->fixed_batch) {
        run_failed(msg, "batch ", batch, " differs from the library's fixed batch ",
                   (uint64_t)m->fixed_batch);
        return 0;
    }
    if (batch > (size_t)m->max_batch) {
        run_failed(msg, "batch ", batch, " exceeds the library's largest batch ",
                   (uint64_t)m->max_batch);
        return 0;
    }
    return (int32_t)batch;
}

int cnnc_lib_run(cnnc_lib_context *c, const float *images, size_t image_floats, float *output,
                 size_t output_floats) {
    const cnnc_lib_model *m;
    const cnnc_plan *plan;
    message msg;
    struct halide_buffer_t in, out;
    struct halide_dimension_t in_dims[4], out_dims[4];
    cnnc_plan_buffers views;
    int32_t batch;
    size_t i, count;
    int status, staged;
    if (!c) {
        message none = {create_error, 0};
        put(&none, "run: context is NULL");
        return CNNC_LIB_ERROR_ARGUMENT;
    }
    m = c->model;
    plan = c->variant->plan;
    msg = begin(c->error, m);
    if (!images || !output) {
        put(&msg, images ? "output is NULL" : "images is NULL");
        return CNNC_LIB_ERROR_ARGUMENT;
    }
    batch = checked_batch(c, &msg, image_floats, output_floats);
    if (batch == 0) return CNNC_LIB_ERROR_ARGUMENT;
    status = ensure_batch(c, batch);
    if (status != CNNC_LIB_OK) {
        if (status == CNNC_LIB_ERROR_MEMORY) put(&msg, "out of memory");
        else run_failed(&msg, "batch ", (uint64_t)batch,
                        " exceeds the max_batch of this context's caller memory, ",
                        (uint64_t)c->max_batch);
        return status;
    }
    count = (size_t)batch * (size_t)m->input_floats;
    for (i = 0; i < count; ++i) c->scaled[i] = (images[i] - c->mean) * c->inv_std;
    describe_batch(&in, in_dims, c->scaled, m->input_rank, m->input_extents, batch);
    /* Kernels may store to their output with aligned vector instructions (see
     * compiler/passes/memory_plan.cpp); a caller's buffer need not be aligned, so the outputs
     * then go through the context's aligned memory. */
    staged = ((size_t)output & (align_bytes - 1)) != 0;
    describe_batch(&out, out_dims, staged ? c->staged : output, m->output_rank, m->output_extents,
                   batch);
    cnnc_plan_buffers_place(&views, plan->values, plan->num_values, batch, c->arena,
                            c->views_memory);
    halide_message[0] = 0;
    status = cnnc_plan_run_buffers(plan, &views, &in, c->run_params, &out);
    if (status != 0) {
        put(&msg, "a generated kernel failed (Halide error ");
        if (status < 0) put(&msg, "-");
        put_u64(&msg, (uint64_t)(status < 0 ? -status : status));
        put(&msg, ")");
        if (halide_message[0]) {
            put(&msg, ": ");
            put(&msg, halide_message);
        }
        return CNNC_LIB_ERROR_PIPELINE;
    }
    if (staged) memcpy(output, c->staged, (size_t)batch * (size_t)m->output_floats * sizeof(float));
    c->error[0] = 0;
    return CNNC_LIB_OK;
}

const char *cnnc_lib_error(const cnnc_lib_context *c) { return c ? c->error : create_error; }

const char *cnnc_lib_variant_target(const cnnc_lib_context *c) {
    return c ? c->variant->target : "";
}

void cnnc_lib_destroy(cnnc_lib_context *c) {
    int32_t i;
    if (!c) return;
    /* A GPU variant keeps the weights on the device from the first run on. */
    for (i = 0; c->params && i < c->model->num_params; ++i)
        if (c->params[i].device) halide_device_free(NULL, &c->params[i]);
    free(c->work);
    if (c->block) free(c->block);
    free_kept_blocks();
}
