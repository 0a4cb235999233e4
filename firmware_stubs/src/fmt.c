/* Bounded string building and number parsing (no printf, no malloc). */
#include <string.h>

#include "fmt.h"
#include "platform.h"

void sb_init(struct sbuf *b, char *buf, size_t cap)
{
    b->p = buf;
    b->cap = cap;
    b->len = 0;
    if (cap)
        buf[0] = 0;
}

void sb_mem(struct sbuf *b, const void *s, size_t n)
{
    if (b->cap == 0)
        return;
    if (n > b->cap - 1 - b->len)
        n = b->cap - 1 - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void sb_str(struct sbuf *b, const char *s)
{
    sb_mem(b, s, strlen(s));
}

void str_copy(char *dst, size_t cap, const char *src)
{
    struct sbuf b;
    sb_init(&b, dst, cap);
    sb_str(&b, src);
}

void sb_u32(struct sbuf *b, uint32_t v)
{
    char t[10];
    size_t i = sizeof t;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sb_mem(b, t + i, sizeof t - i);
}

void sb_i32(struct sbuf *b, int32_t v)
{
    if (v < 0) {
        sb_mem(b, "-", 1);
        sb_u32(b, (uint32_t)0 - (uint32_t)v);
    } else {
        sb_u32(b, (uint32_t)v);
    }
}

void sb_hex(struct sbuf *b, const uint8_t *data, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        char t[2] = {digits[data[i] >> 4], digits[data[i] & 15]};
        sb_mem(b, t, 2);
    }
}

void sb_milli(struct sbuf *b, float f)
{
    int32_t milli = (int32_t)(f * 1000.0f + (f < 0 ? -0.5f : 0.5f));
    uint32_t a = (uint32_t)(milli < 0 ? -milli : milli), frac = a % 1000;
    if (milli < 0)
        sb_str(b, "-");
    sb_u32(b, a / 1000);
    sb_str(b, ".");
    sb_mem(b, "00", frac < 10 ? 2 : frac < 100 ? 1 : 0);
    sb_u32(b, frac);
}

void log_num(const char *a, int32_t n)
{
    char line[96];
    struct sbuf b;
    sb_init(&b, line, sizeof line);
    sb_str(&b, a);
    sb_i32(&b, n);
    platform_log(line);
}

void log_str(const char *a, const char *s)
{
    char line[192];
    struct sbuf b;
    sb_init(&b, line, sizeof line);
    sb_str(&b, a);
    sb_str(&b, s);
    platform_log(line);
}

int parse_u32(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;
    size_t i;
    if (n == 0 || n > 10)
        return -1;
    for (i = 0; i < n; i++) {
        uint32_t d = (uint32_t)(s[i] - '0');
        if (d > 9 || v > (0xFFFFFFFFu - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int parse_i32(const char *s, size_t n, int32_t *out)
{
    uint32_t v;
    int neg = n > 0 && s[0] == '-';
    if (parse_u32(s + neg, n - (size_t)neg, &v) || v > (uint32_t)INT32_MAX + (uint32_t)neg)
        return -1;
    *out = neg ? (int32_t)(0u - v) : (int32_t)v;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int parse_hex(const char *s, size_t n, uint8_t *out, size_t outlen)
{
    size_t i;
    if (n != 2 * outlen)
        return -1;
    for (i = 0; i < outlen; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
