/* stdio.h for exported libraries compiled without a C library's headers: FILE stays opaque, which
 * is all the library needs to read an external weights file; snprintf words the plan's errors. */
#ifndef CNNC_FREESTANDING_STDIO_H
#define CNNC_FREESTANDING_STDIO_H

#include <stddef.h>

typedef struct cnnc_opaque_file FILE;

#define SEEK_SET 0
#define SEEK_END 2

FILE *fopen(const char *path, const char *mode);
size_t fread(void *dst, size_t size, size_t count, FILE *f);
int fseek(FILE *f, long offset, int whence);
long ftell(FILE *f);
int fclose(FILE *f);
int snprintf(char *s, size_t n, const char *format, ...);

#endif
