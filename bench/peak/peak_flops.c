// The peak probe: measures this machine's FP32 FMA throughput (GFLOP/s) on N threads with
// independent FMA chains on the widest vectors the CPU supports (AVX-512, else AVX2).
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fma_chains.h"

typedef float (*fma_kernel)(int64_t iterations);

typedef struct {
    const char* name;
    fma_kernel kernel;
    int flops_per_iteration;
} isa_choice;

typedef struct {
    pthread_barrier_t* start;
    fma_kernel kernel;
    int64_t iterations;
    float result;
} worker_args;

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void* worker(void* p) {
    worker_args* w = p;
    pthread_barrier_wait(w->start);
    w->result = w->kernel(w->iterations);
    return NULL;
}

// The CPU is asked at run time: the binary holds every kernel its compiler could build, and the
// machine it runs on may lack AVX-512 (or even AVX2) although the build machine had it.
static int choose_isa(const char* forced, isa_choice* out) {
    __builtin_cpu_init();
#ifdef PEAK_HAVE_AVX512
    if ((!forced || strcmp(forced, "avx512") == 0) && __builtin_cpu_supports("avx512f")) {
        *out = (isa_choice){"avx512", fma_chains_avx512, avx512_chains * avx512_lanes * 2};
        return 1;
    }
#endif
#ifdef PEAK_HAVE_AVX2
    if ((!forced || strcmp(forced, "avx2") == 0) && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        *out = (isa_choice){"avx2", fma_chains_avx2, avx2_chains * avx2_lanes * 2};
        return 1;
    }
#endif
    return 0;
}

// One trial: all threads released together by a barrier; the wall time runs from the release
// until the last thread finishes, so a straggler counts against the whole machine's figure.
static double run_trial(const isa_choice* isa, int threads, int64_t iterations, float* sink) {
    pthread_t ids[threads];
    worker_args args[threads];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; ++i) {
        args[i] = (worker_args){&start, isa->kernel, iterations, 0.0f};
        if (pthread_create(&ids[i], NULL, worker, &args[i]) != 0) {
            fprintf(stderr, "peak_flops: cannot start thread %d: %s\n", i, strerror(errno));
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    double t0 = now_seconds();
    for (int i = 0; i < threads; ++i) {
        pthread_join(ids[i], NULL);
        *sink += args[i].result;
    }
    double seconds = now_seconds() - t0;
    pthread_barrier_destroy(&start);
    return (double)threads * (double)iterations * isa->flops_per_iteration / seconds * 1e-9;
}

static void usage(void) {
    fprintf(stderr,
            "usage: cnnc_peak_flops [--threads N] [--trials N] [--seconds S] [--isa avx512|avx2]"
            " [--json]\n"
            "  --threads  default: HL_NUM_THREADS, else every online CPU\n"
            "  --trials   timed trials, the best is reported (default 5)\n"
            "  --seconds  length of one trial (default 0.3)\n");
}

int main(int argc, char** argv) {
    const char* env_threads = getenv("HL_NUM_THREADS");
    int threads = env_threads ? atoi(env_threads) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    int trials = 5;
    double trial_seconds = 0.3;
    const char* forced_isa = NULL;
    int json = 0;
    for (int i = 1; i < argc; ++i) {
        const int has_value = i + 1 < argc;
        if (strcmp(argv[i], "--threads") == 0 && has_value) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--trials") == 0 && has_value) trials = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && has_value) trial_seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--isa") == 0 && has_value) forced_isa = argv[++i];
        else if (strcmp(argv[i], "--json") == 0) json = 1;
        else {
            usage();
            return 2;
        }
    }
    if (threads < 1 || trials < 1 || trial_seconds <= 0) {
        usage();
        return 2;
    }
    isa_choice isa;
    if (!choose_isa(forced_isa, &isa)) {
        fprintf(stderr, "peak_flops: this CPU (or this build) has no %s FMA kernel\n",
                forced_isa ? forced_isa : "AVX-512 or AVX2");
        return 1;
    }

    // Calibrate the iteration count on one thread, after a run that brings the core up to its
    // vector clock (AVX-512 licence on the CPUs that have one).
    float sink = 0;
    int64_t iterations = 1 << 20;
    sink += isa.kernel(iterations);
    double t0 = now_seconds();
    sink += isa.kernel(iterations);
    double per_iteration = (now_seconds() - t0) / (double)iterations;
    iterations = (int64_t)(trial_seconds / per_iteration);
    if (iterations < 1) iterations = 1;

    run_trial(&isa, threads, iterations / 4, &sink);  // warm-up: every thread at full clock
    double best = 0;
    for (int t = 0; t < trials; ++t) {
        double gflops = run_trial(&isa, threads, iterations, &sink);
        if (gflops > best) best = gflops;
    }
    printf("peak FP32 FMA: %.1f GFLOP/s on %d threads (%s, best of %d trials)\n", best, threads,
           isa.name, trials);
    if (json)
        printf("{\"peak_gflops\": %.3f, \"threads\": %d, \"isa\": \"%s\", \"trials\": %d, "
               "\"checksum\": %.3f}\n",
               best, threads, isa.name, trials, (double)sink);
    return 0;
}
