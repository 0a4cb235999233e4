/* A tiny string builder instead of the printf family: bounded, always NUL-terminated,
 * truncates silently (callers size their buffers for the longest line they build). */
#ifndef FMT_H
#define FMT_H

#include <stddef.h>
#include <stdint.h>

struct sbuf {
    char *p;
    size_t cap, len;   /* cap includes the terminating NUL */
};

void sb_init(struct sbuf *b, char *buf, size_t cap);
void sb_str(struct sbuf *b, const char *s);
void sb_mem(struct sbuf *b, const void *s, size_t n);
void sb_u32(struct sbuf *b, uint32_t v);
void sb_i32(struct sbuf *b, int32_t v);
void sb_hex(struct sbuf *b, const uint8_t *data, size_t n);  /* lower-case hex */
void sb_milli(struct sbuf *b, float f);  /* three decimals: "-1.250" */
/* strcpy bounded by the destination's size, truncating. */
void str_copy(char *dst, size_t cap, const char *src);

/* One log line "<a><n>" or "<a><s>" through platform_log. */
void log_num(const char *a, int32_t n);
void log_str(const char *a, const char *s);

/* Parsing helpers: 0 on success. */
int parse_u32(const char *s, size_t n, uint32_t *out);
int parse_i32(const char *s, size_t n, int32_t *out);
int parse_hex(const char *s, size_t n, uint8_t *out, size_t outlen);  /* exactly 2*outlen digits */

#endif
