/* string.h for exported libraries compiled without a C library's headers (any target). */
#ifndef CNNC_FREESTANDING_STRING_H
#define CNNC_FREESTANDING_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int value, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
