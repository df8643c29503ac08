/* library_check.c: drives any exported library from tests/e2e/library_export.sh, in plain C.
 *
 *   cc -DMODEL=lenet5 -DMODEL_UPPER=LENET5 -I DIR library_check.c DIR/liblenet5.a \
 *      -lpthread -ldl -lm -o check
 *   check infer WEIGHTS IN OUT N   N images of IN (float32, NCHW as `<model> infer` takes them)
 *                                  through the library, outputs to OUT (N x OUTPUT_SIZE floats)
 *   check create WEIGHTS           create only: prints the error, exits with the error code
 *   check misuse WEIGHTS           every wrong call returns its error code and a message
 *   check memory WEIGHTS           a context on caller memory agrees with one on its own
 *   check threads WEIGHTS          contexts run at once on several threads, each many times,
 *                                  give what one context gives alone (the kernels' scratch
 *                                  memory is kept and handed out again between calls)
 *   check bench WEIGHTS BATCH      median milliseconds per run, as one JSON line
 * WEIGHTS is an external weights file, or - for a library with embedded weights. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define JOIN_(a, b) a##_##b
#define JOIN(a, b) JOIN_(a, b)
#define API(name) JOIN(MODEL, name)
#define CONST(name) JOIN(MODEL_UPPER, name)
#include STRINGIFY(MODEL.h)

typedef API(context) context;
typedef API(options) options;

static int failures = 0;

static void expect(int got, int wanted, const char *what, const context *c) {
    const char *message = API(error)(c);
    if (got != wanted || (wanted != 0 && message[0] == 0)) {
        printf("FAILED: %s: returned %d (wanted %d), message '%s'\n", what, got, wanted, message);
        ++failures;
    } else if (wanted != 0) {
        printf("ok: %s -> %d: %s\n", what, got, message);
    }
}

static options weights_options(const char *weights, int max_batch) {
    options o;
    memset(&o, 0, sizeof o);
    o.weights_path = strcmp(weights, "-") == 0 ? NULL : weights;
    o.max_batch = max_batch;
    return o;
}

static context *create_or_die(options *o) {
    context *c = NULL;
    if (API(create)(&c, o) != CONST(OK)) {
        fprintf(stderr, "library_check: %s\n", API(error)(NULL));
        exit(1);
    }
    return c;
}

static float *read_floats(const char *path, size_t count) {
    FILE *f = fopen(path, "rb");
    float *data = malloc(count * sizeof(float));
    if (!f || !data || fread(data, sizeof(float), count, f) != count) {
        fprintf(stderr, "library_check: cannot read %zu floats from %s\n", count, path);
        exit(1);
    }
    fclose(f);
    return data;
}

/* `<model> infer` takes C,H,W images; the library takes H,W,C. */
static float *nchw_to_nhwc(const float *x, int n) {
    const int C = CONST(INPUT_CHANNELS), H = CONST(INPUT_HEIGHT), W = CONST(INPUT_WIDTH);
    float *out = malloc((size_t)n * CONST(INPUT_SIZE) * sizeof(float));
    for (int i = 0; i < n; ++i)
        for (int c = 0; c < C; ++c)
            for (int y = 0; y < H; ++y)
                for (int xx = 0; xx < W; ++xx)
                    out[(((size_t)i * H + y) * W + xx) * C + c] =
                        x[(((size_t)i * C + c) * H + y) * W + xx];
    return out;
}

static int infer(const char *weights, const char *in, const char *out_path, int n) {
    options o = weights_options(weights, n);
    context *c = create_or_die(&o);
    float *x = read_floats(in, (size_t)n * CONST(INPUT_SIZE));
    float *images = nchw_to_nhwc(x, n);
    float *y = malloc((size_t)n * CONST(OUTPUT_SIZE) * sizeof(float));
    int status = API(run)(c, images, (size_t)n * CONST(INPUT_SIZE), y,
                          (size_t)n * CONST(OUTPUT_SIZE));
    if (status != CONST(OK)) {
        fprintf(stderr, "library_check: %s\n", API(error)(c));
        return 1;
    }
    FILE *f = fopen(out_path, "wb");
    fwrite(y, sizeof(float), (size_t)n * CONST(OUTPUT_SIZE), f);
    fclose(f);
    printf("{\"images\": %d, \"target\": \"%s\"}\n", n, API(target)(c));
    API(destroy)(c);
    free(x);
    free(images);
    free(y);
    return 0;
}

static int create_only(const char *weights) {
    options o = weights_options(weights, 0);
    context *c = NULL;
    int status = API(create)(&c, &o);
    printf("%s\n", status == CONST(OK) ? "created" : API(error)(NULL));
    API(destroy)(c);
    return status;
}

static int misuse(const char *weights) {
    options o = weights_options(weights, 0);
    context *c = create_or_die(&o);
    const int batch = CONST(FIXED_BATCH) > 0 ? CONST(FIXED_BATCH) : 1;
    float *images = calloc((size_t)batch * CONST(INPUT_SIZE), sizeof(float));
    float *out = calloc((size_t)batch * CONST(OUTPUT_SIZE), sizeof(float));
    expect(API(create)(NULL, &o), CONST(ERROR_ARGUMENT), "create(NULL)", NULL);
    expect(API(run)(c, NULL, CONST(INPUT_SIZE), out, CONST(OUTPUT_SIZE)), CONST(ERROR_ARGUMENT),
           "run with images NULL", c);
    expect(API(run)(c, images, CONST(INPUT_SIZE), NULL, CONST(OUTPUT_SIZE)),
           CONST(ERROR_ARGUMENT), "run with output NULL", c);
    expect(API(run)(NULL, images, CONST(INPUT_SIZE), out, CONST(OUTPUT_SIZE)),
           CONST(ERROR_ARGUMENT), "run on context NULL", NULL);
    expect(API(run)(c, images, CONST(INPUT_SIZE) - 1, out, CONST(OUTPUT_SIZE)),
           CONST(ERROR_ARGUMENT), "run with one float short of an image", c);
    expect(API(run)(c, images, 0, out, 0), CONST(ERROR_ARGUMENT), "run with no images", c);
    expect(API(run)(c, images, (size_t)batch * CONST(INPUT_SIZE), out,
                    (size_t)batch * CONST(OUTPUT_SIZE) - 1),
           CONST(ERROR_ARGUMENT), "run with an output one float short", c);
    if (CONST(FIXED_BATCH) > 1)
        expect(API(run)(c, images, CONST(INPUT_SIZE), out, CONST(OUTPUT_SIZE)),
               CONST(ERROR_ARGUMENT), "run with a batch other than the fixed one", c);
    expect(API(run)(c, images, (size_t)batch * CONST(INPUT_SIZE), out,
                    (size_t)batch * CONST(OUTPUT_SIZE)),
           CONST(OK), "a good run after the bad ones", c);
    expect(API(error)(c)[0] != 0, 0, "a good run clears the error", c);
    o.max_batch = CONST(MAX_BATCH) + 1;
    context *too_big = NULL;
    expect(API(create)(&too_big, &o), CONST(ERROR_ARGUMENT), "create with max_batch too large",
           NULL);
    API(destroy)(c);
    API(destroy)(NULL);
    free(images);
    free(out);
    return failures ? 1 : 0;
}

/* A context on caller memory runs what one on its own memory runs, and cannot grow. */
static int memory(const char *weights) {
    const int batch = CONST(FIXED_BATCH) > 0 ? CONST(FIXED_BATCH) : 2;
    options own = weights_options(weights, batch), caller = own;
    caller.memory_bytes = API(context_bytes)(batch);
    caller.memory = malloc(caller.memory_bytes);
    context *a = create_or_die(&own), *b = create_or_die(&caller);
    float *images = malloc((size_t)(batch + 1) * CONST(INPUT_SIZE) * sizeof(float));
    float *ya = calloc((size_t)(batch + 1) * CONST(OUTPUT_SIZE), sizeof(float));
    float *yb = calloc((size_t)(batch + 1) * CONST(OUTPUT_SIZE), sizeof(float));
    for (size_t i = 0; i < (size_t)(batch + 1) * CONST(INPUT_SIZE); ++i)
        images[i] = (float)((i * 7919) % 1000) / 1000.0f;
    expect(API(run)(a, images, (size_t)batch * CONST(INPUT_SIZE), ya,
                    (size_t)batch * CONST(OUTPUT_SIZE)), CONST(OK), "run on own memory", a);
    expect(API(run)(b, images, (size_t)batch * CONST(INPUT_SIZE), yb,
                    (size_t)batch * CONST(OUTPUT_SIZE)), CONST(OK), "run on caller memory", b);
    if (memcmp(ya, yb, (size_t)batch * CONST(OUTPUT_SIZE) * sizeof(float)) != 0) {
        printf("FAILED: caller memory gives other outputs than own memory\n");
        ++failures;
    }
    if (CONST(FIXED_BATCH) == 0)
        expect(API(run)(b, images, (size_t)(batch + 1) * CONST(INPUT_SIZE), yb,
                        (size_t)(batch + 1) * CONST(OUTPUT_SIZE)),
               CONST(ERROR_ARGUMENT), "a batch beyond caller memory's max_batch", b);
    caller.memory_bytes -= 1;
    context *small = NULL;
    expect(API(create)(&small, &caller), CONST(ERROR_MEMORY), "caller memory one byte short", NULL);
    printf("context on caller memory: %zu bytes for batch %d\n", API(context_bytes)(batch), batch);
    API(destroy)(a);
    API(destroy)(b);
    free(caller.memory);
    return failures ? 1 : 0;
}

enum { thread_count = 3, thread_runs = 20 };

typedef struct thread_job {
    const char *weights;
    const float *images;
    const float *expected;
    int mismatches, errors;
} thread_job;

static void *run_repeatedly(void *arg) {
    thread_job *job = arg;
    options o = weights_options(job->weights, 1);
    context *c = create_or_die(&o);
    float *y = malloc(CONST(OUTPUT_SIZE) * sizeof(float));
    for (int r = 0; r < thread_runs; ++r) {
        if (API(run)(c, job->images, CONST(INPUT_SIZE), y, CONST(OUTPUT_SIZE)) != CONST(OK))
            ++job->errors;
        else if (memcmp(y, job->expected, CONST(OUTPUT_SIZE) * sizeof(float)) != 0)
            ++job->mismatches;
    }
    API(destroy)(c);
    free(y);
    return NULL;
}

static int threads(const char *weights) {
    options o = weights_options(weights, 1);
    context *alone = create_or_die(&o);
    float *images = malloc(CONST(INPUT_SIZE) * sizeof(float));
    float *expected = malloc(CONST(OUTPUT_SIZE) * sizeof(float));
    for (size_t i = 0; i < CONST(INPUT_SIZE); ++i) images[i] = (float)((i * 104729) % 997) / 997.0f;
    expect(API(run)(alone, images, CONST(INPUT_SIZE), expected, CONST(OUTPUT_SIZE)), CONST(OK),
           "run alone", alone);
    API(destroy)(alone);
    pthread_t ids[thread_count];
    thread_job jobs[thread_count];
    for (int t = 0; t < thread_count; ++t) {
        jobs[t] = (thread_job){weights, images, expected, 0, 0};
        pthread_create(&ids[t], NULL, run_repeatedly, &jobs[t]);
    }
    for (int t = 0; t < thread_count; ++t) {
        pthread_join(ids[t], NULL);
        if (jobs[t].errors || jobs[t].mismatches) {
            printf("FAILED: thread %d: %d of %d runs failed, %d gave other outputs\n", t,
                   jobs[t].errors, thread_runs, jobs[t].mismatches);
            ++failures;
        }
    }
    printf("%d threads x %d runs: outputs equal to one context's alone\n", thread_count,
           thread_runs);
    free(images);
    free(expected);
    return failures ? 1 : 0;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int bench(const char *weights, int batch) {
    options o = weights_options(weights, batch);
    context *c = create_or_die(&o);
    float *images = calloc((size_t)batch * CONST(INPUT_SIZE), sizeof(float));
    float *y = malloc((size_t)batch * CONST(OUTPUT_SIZE) * sizeof(float));
    double ms[200];
    int runs = 0;
    const double start = now_ms();
    API(run)(c, images, (size_t)batch * CONST(INPUT_SIZE), y, (size_t)batch * CONST(OUTPUT_SIZE));
    while (runs < 5 || (runs < 200 && now_ms() - start < 2000)) {
        double t = now_ms();
        if (API(run)(c, images, (size_t)batch * CONST(INPUT_SIZE), y,
                     (size_t)batch * CONST(OUTPUT_SIZE)) != CONST(OK)) {
            fprintf(stderr, "library_check: %s\n", API(error)(c));
            return 1;
        }
        ms[runs++] = now_ms() - t;
    }
    qsort(ms, (size_t)runs, sizeof ms[0], compare_doubles);
    printf("{\"batch\": %d, \"median_ms\": %.4f, \"runs\": %d, \"target\": \"%s\"}\n", batch,
           ms[runs / 2], runs, API(target)(c));
    API(destroy)(c);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "infer") == 0)
        return infer(argv[2], argv[3], argv[4], atoi(argv[5]));
    if (argc == 3 && strcmp(argv[1], "create") == 0) return create_only(argv[2]);
    if (argc == 3 && strcmp(argv[1], "misuse") == 0) return misuse(argv[2]);
    if (argc == 3 && strcmp(argv[1], "memory") == 0) return memory(argv[2]);
    if (argc == 3 && strcmp(argv[1], "threads") == 0) return threads(argv[2]);
    if (argc == 4 && strcmp(argv[1], "bench") == 0) return bench(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: see the comment at the top of library_check.c\n");
    return 2;
}
