/* stdlib.h for exported libraries compiled without a C library's headers (any target). */
#ifndef CNNC_FREESTANDING_STDLIB_H
#define CNNC_FREESTANDING_STDLIB_H

#include <stddef.h>

void *malloc(size_t n);
void *calloc(size_t count, size_t n);
void free(void *p);

#endif
