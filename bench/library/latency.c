/* Batch-1 latency of an exported cnnc library, as a C program that links only the library sees it.
 *
 *   cc -O2 -DMODEL=resnet18 -DMODEL_UPPER=RESNET18 -I DIR latency.c DIR/libresnet18.a \
 *      -lpthread -ldl -lm -o latency && ./latency [SECONDS]
 *
 * Prints one JSON line: the median of at least 5 timed runs over about SECONDS (default 2), after
 * one warm-up run, on an image of constant grey. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define GLUE(a, b) a##b
#define NAME(model, suffix) GLUE(model, suffix)
#define STR(x) #x
#define XSTR(x) STR(x)
#define HEADER(model) STR(model.h)
#include HEADER(MODEL)

#define CONTEXT NAME(MODEL, _context)
#define INPUT_SIZE NAME(MODEL_UPPER, _INPUT_SIZE)
#define OUTPUT_SIZE NAME(MODEL_UPPER, _OUTPUT_SIZE)

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    CONTEXT *context = NULL;
    if (NAME(MODEL, _create)(&context, NULL) != 0) {
        fprintf(stderr, "latency: create failed: %s\n", NAME(MODEL, _error)(NULL));
        return 1;
    }
    static float image[INPUT_SIZE], output[OUTPUT_SIZE];
    for (size_t i = 0; i < INPUT_SIZE; ++i) image[i] = 0.5f;
    enum { most = 10000 };
    static double times[most];
    int runs = 0;
    const double start = now_ms();
    for (int warm = 1; runs < most && (runs < 5 || now_ms() - start < seconds * 1e3);) {
        const double t0 = now_ms();
        if (NAME(MODEL, _run)(context, image, INPUT_SIZE, output, OUTPUT_SIZE) != 0) {
            fprintf(stderr, "latency: run failed: %s\n", NAME(MODEL, _error)(context));
            return 1;
        }
        if (warm) {
            warm = 0;
            continue;
        }
        times[runs++] = now_ms() - t0;
    }
    qsort(times, (size_t)runs, sizeof times[0], by_value);
    printf("{\"model\": \"%s\", \"target\": \"%s\", \"runs\": %d, \"ms\": %.4f}\n", XSTR(MODEL),
           NAME(MODEL, _target)(context), runs, times[runs / 2]);
    NAME(MODEL, _destroy)(context);
    return 0;
}
