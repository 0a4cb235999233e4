/* Host driver for the package checks (tests/firmware/test_package.py). Commands:
 *   parse FILE                 the manifest and envelope as one JSON object ({"result": 6} when
 *                              package_parse fails)
 *   check FILE KEYHEX...       package_parse, package_check_signature, package_check_payload:
 *                              the first non-zero result, or 0
 *   checkmany FILE KEYHEX...   as check, for each record of FILE (a little-endian u32 length, then
 *                              that many bytes); one result a line
 *   sha256 FILE                the SHA-256 of FILE, hex
 *   ed25519 SIGHEX KEYHEX MSGFILE   1 when the signature holds, else 0
 *   keyid KEYHEX               package_key_id, hex
 * Exit status 0 unless the command itself was wrong (2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "package.h"

#define MAX_KEYS 8

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0, got;
    if (!f)
        return NULL;
    do {
        if (n == cap) {
            uint8_t *grown = realloc(buf, cap ? 2 * cap : 4096);
            if (!grown) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
            cap = cap ? 2 * cap : 4096;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got);
    fclose(f);
    *len = n;
    return buf;
}

static int unhex(const char *h, uint8_t *out, size_t want)
{
    size_t i;
    if (strlen(h) != 2 * want)
        return 0;
    for (i = 0; i < want; i++) {
        unsigned v;
        if (sscanf(h + 2 * i, "%2x", &v) != 1)
            return 0;
        out[i] = (uint8_t)v;
    }
    return 1;
}

static void print_hex(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        printf("%02x", p[i]);
}

static void print_str(const char *s, size_t n)
{
    size_t i;
    putchar('"');
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_float(float f)
{
    if (f != f)
        printf("NaN");
    else if (f > 3.4028235e38f || f < -3.4028235e38f)
        printf(f > 0 ? "Infinity" : "-Infinity");
    else
        printf("%.17g", (double)f); /* exact: the float as a double */
}

static void print_tensor(const char *name, const struct tensor_spec *t)
{
    unsigned i;
    printf("\"%s\": {\"shape\": [", name);
    for (i = 0; i < t->rank; i++)
        printf("%s%lu", i ? ", " : "", (unsigned long)t->shape[i]);
    printf("], \"dtype\": ");
    print_str(t->dtype, strlen(t->dtype));
    printf(", \"scale\": ");
    print_float(t->scale);
    printf(", \"zero_point\": %ld}", (long)t->zero_point);
}

static int cmd_parse(const uint8_t *data, size_t len)
{
    struct package pkg;
    struct bytes a, b;
    size_t i;
    int result = package_parse(data, len, &pkg);
    if (result) {
        printf("{\"result\": %d}\n", result);
        return 0;
    }
    printf("{\"result\": 0, \"format\": %lu, \"model\": ", (unsigned long)pkg.format);
    print_str(pkg.model, strlen(pkg.model));
    printf(", \"version\": ");
    print_str(pkg.version, strlen(pkg.version));
    printf(", \"task\": ");
    print_str(pkg.task, strlen(pkg.task));
    printf(", \"backend\": ");
    print_str(pkg.backend, strlen(pkg.backend));
    printf(", \"class\": ");
    print_str(pkg.device_class, strlen(pkg.device_class));
    printf(", \"payload_size\": %lu, \"arena_bytes\": %lu, \"payload_sha256\": \"",
           (unsigned long)pkg.payload_size, (unsigned long)pkg.arena_bytes);
    print_hex(pkg.payload_sha256, 32);
    printf("\", ");
    print_tensor("input", &pkg.input);
    printf(", ");
    print_tensor("output", &pkg.output);
    printf(", \"golden\": [");
    for (i = 0; package_golden(&pkg, i, &a, &b) == 0; i++) {
        printf("%s[\"", i ? ", " : "");
        print_hex(a.data, a.len);
        printf("\", \"");
        print_hex(b.data, b.len);
        printf("\"]");
    }
    printf("], \"labels\": [");
    for (i = 0; package_label(&pkg, i, &a) == 0; i++) {
        printf("%s", i ? ", " : "");
        print_str((const char *)a.data, a.len);
    }
    printf("], \"threshold\": ");
    if (pkg.has_threshold)
        print_float(pkg.threshold);
    else
        printf("null");
    printf(", \"kid\": \"");
    print_hex(pkg.kid.data, pkg.kid.len);
    printf("\", \"payload_len\": %lu, \"manifest_len\": %lu, \"signature_len\": %lu}\n",
           (unsigned long)pkg.payload.len, (unsigned long)pkg.manifest.len,
           (unsigned long)pkg.signature.len);
    return 0;
}

static int check(const uint8_t *data, size_t len, const uint8_t (*keys)[32], size_t n)
{
    struct package pkg;
    int result = package_parse(data, len, &pkg);
    if (!result)
        result = package_check_signature(&pkg, keys, n);
    if (!result)
        result = package_check_payload(&pkg);
    return result;
}

int main(int argc, char **argv)
{
    static uint8_t keys[MAX_KEYS][32];
    uint8_t *data;
    size_t len, n = 0, i;
    int status = 0;

    if (argc < 3)
        return 2;
    if (!strcmp(argv[1], "keyid")) {
        uint8_t kid[8];
        if (!unhex(argv[2], keys[0], 32))
            return 2;
        package_key_id(keys[0], kid);
        print_hex(kid, 8);
        putchar('\n');
        return 0;
    }
    if (!strcmp(argv[1], "ed25519")) {
        uint8_t sig[64];
        if (argc != 5 || !unhex(argv[2], sig, 64) || !unhex(argv[3], keys[0], 32) ||
            !(data = read_file(argv[4], &len)))
            return 2;
        printf("%d\n", ed25519_verify(sig, keys[0], data, len));
        free(data);
        return 0;
    }
    if (!(data = read_file(argv[2], &len)))
        return 2;
    if (!strcmp(argv[1], "sha256")) {
        struct sha256 h;
        uint8_t digest[32];
        sha256_init(&h);
        sha256_update(&h, data, len);
        sha256_final(&h, digest);
        print_hex(digest, 32);
        putchar('\n');
    } else if (!strcmp(argv[1], "parse")) {
        status = cmd_parse(data, len);
    } else if (!strcmp(argv[1], "check") || !strcmp(argv[1], "checkmany")) {
        for (n = 0; n + 3 < (size_t)argc && n < MAX_KEYS; n++)
            if (!unhex(argv[3 + n], keys[n], 32))
                status = 2;
        if (status) {
        } else if (!strcmp(argv[1], "check")) {
            printf("%d\n", check(data, len, (const uint8_t(*)[32])keys, n));
        } else {
            for (i = 0; i + 4 <= len;) {
                size_t size = (size_t)data[i] | (size_t)data[i + 1] << 8 |
                              (size_t)data[i + 2] << 16 | (size_t)data[i + 3] << 24;
                uint8_t *copy;
                i += 4;
                if (size > len - i) {
                    status = 2;
                    break;
                }
                /* each record in its own allocation, so ASan sees any read past its end */
                copy = malloc(size ? size : 1);
                if (!copy)
                    return 2;
                memcpy(copy, data + i, size);
                printf("%d\n", check(copy, size, (const uint8_t(*)[32])keys, n));
                free(copy);
                i += size;
            }
        }
    } else {
        status = 2;
    }
    free(data);
    return status;
}
