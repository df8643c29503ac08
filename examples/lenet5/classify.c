/* classify.c: classifies Fashion-MNIST test images with an exported LeNet-5 library, in plain C.
 *
 *   lenet5 export --out out
 *   zcat /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz > t10k-images
 *   zcat /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz > t10k-labels
 *   cc classify.c -I out out/liblenet5.a -lpthread -ldl -lm -o classify
 *   ./classify t10k-images t10k-labels
 *
 * A library exported with --external-weights takes the weights file as a third argument:
 *   ./classify t10k-images t10k-labels out/lenet5.weights
 *
 * It reads uncompressed IDX files so that it needs nothing but the library and libc. Batches are
 * as large as the library allows; a fixed-batch library gets its last batch padded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lenet5.h"

static uint32_t big_endian(const unsigned char *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Reads a whole IDX file; checks its magic number and returns the item count. */
static unsigned char *read_idx(const char *path, uint32_t magic, size_t header, uint32_t *count) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "classify: cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)size);
    if (!data || size < (long)header || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "classify: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    if (big_endian(data) != magic) {
        fprintf(stderr, "classify: %s is not an IDX file of the expected kind (magic %u)\n", path,
                big_endian(data));
        exit(1);
    }
    *count = big_endian(data + 4);
    return data;
}

/* Runs batches of BATCH images; the last one padded with blank images if it is short. */
enum { BATCH = LENET5_FIXED_BATCH > 0 ? LENET5_FIXED_BATCH : LENET5_MAX_BATCH };

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s IMAGES LABELS [WEIGHTS]   (uncompressed IDX files)\n", argv[0]);
        return 2;
    }
    uint32_t images_count, labels_count;
    unsigned char *images = read_idx(argv[1], 2051, 16, &images_count);
    unsigned char *labels = read_idx(argv[2], 2049, 8, &labels_count);
    if (images_count != labels_count || big_endian(images + 8) != LENET5_INPUT_HEIGHT ||
        big_endian(images + 12) != LENET5_INPUT_WIDTH) {
        fprintf(stderr, "classify: images and labels do not match the model\n");
        return 1;
    }
    lenet5_options options = {0};
    options.weights_path = argc == 4 ? argv[3] : NULL;
    options.max_batch = BATCH;
    lenet5_context *model;
    if (lenet5_create(&model, &options) != LENET5_OK) {
        fprintf(stderr, "classify: %s\n", lenet5_error(NULL));
        return 1;
    }
    static float pixels[BATCH * LENET5_INPUT_SIZE], probabilities[BATCH * LENET5_CLASSES];
    uint32_t correct = 0;
    for (uint32_t first = 0; first < images_count; first += BATCH) {
        int n = images_count - first < BATCH ? (int)(images_count - first) : BATCH;
        int run = LENET5_FIXED_BATCH > 0 ? BATCH : n;
        for (int i = 0; i < run * LENET5_INPUT_SIZE; ++i)
            pixels[i] = i < n * LENET5_INPUT_SIZE
                            ? images[16 + (size_t)first * LENET5_INPUT_SIZE + i] / 255.0f
                            : 0.0f;
        if (lenet5_run(model, pixels, (size_t)run * LENET5_INPUT_SIZE, probabilities,
                       (size_t)run * LENET5_CLASSES) != LENET5_OK) {
            fprintf(stderr, "classify: %s\n", lenet5_error(model));
            return 1;
        }
        for (int i = 0; i < n; ++i) {
            int best = 0;
            for (int k = 1; k < LENET5_CLASSES; ++k)
                if (probabilities[i * LENET5_CLASSES + k] > probabilities[i * LENET5_CLASSES + best])
                    best = k;
            correct += best == labels[8 + first + i];
        }
    }
    printf("classified %u images with %s: accuracy %.2f%%\n", images_count, lenet5_target(model),
           100.0 * correct / images_count);
    printf("{\"test_accuracy\": %.6f, \"images\": %u}\n", (double)correct / images_count,
           images_count);
    lenet5_destroy(model);
    free(images);
    free(labels);
    return 0;
}
