/* The command-line lookup the bring-up apps share (the client parses its own in lwm2m.c). */
#ifndef APPS_CMDLINE_H
#define APPS_CMDLINE_H

#include <stddef.h>
#include <string.h>

/* The value of `key=` in a space-separated command line, copied into out: 0, or -1 when the
 * key is missing or its value does not fit. */
static inline int arg(const char *cmdline, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *p = cmdline; *p;) {
        size_t wlen = strcspn(p, " ");
        if (wlen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t vlen = wlen - klen - 1;
            if (vlen >= cap)
                return -1;
            memcpy(out, p + klen + 1, vlen);
            out[vlen] = '\0';
            return 0;
        }
        p += wlen;
        p += strspn(p, " ");
    }
    return -1;
}

#endif
