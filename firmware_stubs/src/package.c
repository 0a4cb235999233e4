/* Model packages (lwm2m_mlaas/compiler/package.py, manifest.py): parsing and the checks a device
 * makes before it keeps one. A small CBOR reader, definite lengths only, bounds-checked on every
 * read: whatever the input, parsing fails with FW_RESULT_UNSUPPORTED_PACKAGE rather than read
 * outside it. */
#include <string.h>

#include "package.h"
#include "sha512.h"

#define TAG_SELF_DESCRIBED 55799
#define TAG_COSE_SIGN1 18
#define MAX_DEPTH 16            /* nesting allowed inside values the parser skips */

/* ---- CBOR reading ---- */

struct reader {
    const uint8_t *p, *end;
};

struct item {
    unsigned major;             /* 0 uint, 1 negative, 2 bytes, 3 text, 4 array, 5 map, 6 tag, 7 simple */
    unsigned info;              /* additional information: 25, 26, 27 are half, single, double */
    uint64_t val;               /* argument: length, count, tag, integer, or a float's bits */
    struct bytes str;           /* a string's contents */
};

/* Strict UTF-8 as Python decodes it: no overlong forms, surrogates or code points > 10FFFF. */
static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0, len, k;
    uint32_t cp, min;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* The next data item's head (and a string's contents): 1, or 0 when malformed or unsupported. */
static int next(struct reader *r, struct item *it)
{
    size_t left, n, i;
    if (r->p >= r->end)
        return 0;
    it->major = *r->p >> 5;
    it->info = *r->p & 31;
    r->p++;
    left = (size_t)(r->end - r->p);
    if (it->info < 24) {
        it->val = it->info;
    } else if (it->info < 28) {
        n = (size_t)1 << (it->info - 24);
        if (left < n)
            return 0;
        it->val = 0;
        for (i = 0; i < n; i++)
            it->val = it->val << 8 | *r->p++;
        left -= n;
    } else {
        return 0;               /* 28-30 reserved, 31 indefinite length: not supported */
    }
    if (it->major == 7 && it->info == 24 && it->val < 32)
        return 0;               /* two-byte form of a one-byte simple value: invalid */
    if (it->major == 2 || it->major == 3) {
        if (it->val > left)
            return 0;
        it->str.data = r->p;
        it->str.len = (size_t)it->val;
        r->p += it->str.len;
        if (it->major == 3 && !utf8_valid(it->str.data, it->str.len))
            return 0;
    } else if (it->major == 4 || it->major == 5) {
        if (it->val > left / (it->major == 5 ? 2 : 1))
            return 0;           /* more items than bytes left */
    }
    return 1;
}

/* Skips the rest of an item whose head `it` was just read. */
static int skip_rest(struct reader *r, const struct item *it, int depth)
{
    struct item sub;
    uint64_t n = it->major == 4 ? it->val : it->major == 5 ? 2 * it->val : it->major == 6 ? 1 : 0;
    if (n && depth >= MAX_DEPTH)
        return 0;
    for (; n; n--)
        if (!next(r, &sub) || !skip_rest(r, &sub, depth + 1))
            return 0;
    return 1;
}

static int skip(struct reader *r)
{
    struct item it;
    return next(r, &it) && skip_rest(r, &it, 0);
}

static int next_major(struct reader *r, struct item *it, unsigned major)
{
    return next(r, it) && it->major == major;
}

static int get_bytes(struct reader *r, struct bytes *out)
{
    struct item it;
    if (!next_major(r, &it, 2))
        return 0;
    *out = it.str;
    return 1;
}

static int get_text(struct reader *r, char *buf, size_t cap)
{
    struct item it;
    if (!next_major(r, &it, 3) || it.str.len >= cap)
        return 0;               /* longer than this device keeps */
    memcpy(buf, it.str.data, it.str.len);
    buf[it.str.len] = 0;
    return 1;
}

static int get_u32(struct reader *r, uint32_t *out)
{
    struct item it;
    if (!next_major(r, &it, 0) || it.val > 0xffffffffu)
        return 0;
    *out = (uint32_t)it.val;
    return 1;
}

static int int32_of(const struct item *it, int32_t *out)
{
    if ((it->major != 0 && it->major != 1) || it->val > 0x7fffffff)
        return 0;
    *out = it->major == 0 ? (int32_t)it->val : -1 - (int32_t)it->val;
    return 1;
}

static float float_of_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* The float nearest m * 2^exp (ties to even), with the sign bit `sign`; no soft-float library. */
static float make_float(uint32_t sign, uint64_t m, int exp)
{
    uint64_t r, rem, half;
    int e, shift;
    if (!m)
        return float_of_bits(sign);
    if (m >> 63) {              /* keep the top bit at 62; the bit shifted out stays sticky */
        m = m >> 1 | (m & 1);
        exp++;
    }
    while (!(m >> 62)) {
        m <<= 1;
        exp--;
    }
    e = exp + 62 + 127;         /* biased exponent of m * 2^exp = 1.f * 2^(exp + 62) */
    if (e >= 255)
        return float_of_bits(sign | 0x7f800000u);
    shift = 39 + (e <= 0 ? 1 - e : 0);  /* 24 significant bits, fewer when subnormal */
    if (shift >= 64)
        return float_of_bits(sign);
    r = m >> shift;
    rem = m & (((uint64_t)1 << shift) - 1);
    half = (uint64_t)1 << (shift - 1);
    if (rem > half || (rem == half && (r & 1)))
        r++;                    /* may carry into the exponent, up to infinity: still right */
    return float_of_bits(sign | (((uint32_t)(e > 0 ? e - 1 : 0) << 23) + (uint32_t)r));
}

/* A float (half, single or double) or an integer, as a float. */
static int float_of(const struct item *it, float *out)
{
    uint64_t v = it->val;
    if (it->major == 0 || it->major == 1) {     /* Python's float() takes integers too */
        uint32_t sign = it->major == 1 ? 0x80000000u : 0;
        if (it->major == 1 && v == UINT64_MAX)
            *out = make_float(sign, (uint64_t)1 << 63, 1);      /* -2^64 */
        else
            *out = make_float(sign, it->major == 1 ? v + 1 : v, 0);
    } else if (it->major != 7 || it->info < 25 || it->info > 27) {
        return 0;
    } else if (it->info == 26) {                /* single */
        *out = float_of_bits((uint32_t)v);
    } else {                                    /* half or double: 5 or 11 exponent bits */
        int half = it->info == 25, bits = half ? 10 : 52, top = half ? 31 : 0x7ff;
        uint32_t sign = (uint32_t)(v >> (half ? 15 : 63) & 1) << 31;
        uint64_t man = v & (((uint64_t)1 << bits) - 1);
        int exp = (int)(v >> bits) & top;
        if (exp == top)                         /* infinity, or NaN (kept quiet) */
            *out = float_of_bits(sign | 0x7f800000u | (man ? 0x400000u : 0));
        else                                    /* bias 15 or 1023 */
            *out = make_float(sign, exp ? man | (uint64_t)1 << bits : man,
                              (exp ? exp : 1) - (half ? 15 : 1023) - bits);
    }
    return 1;
}

static int key_is(const struct item *key, const char *name)
{
    return key->major == 3 && key->str.len == strlen(name) &&
           memcmp(key->str.data, name, key->str.len) == 0;
}

/* An item's whole encoding: it starts at `start` and runs to where `r` is after skipping it. */
static int get_span(struct reader *r, struct item *it, struct bytes *span)
{
    const uint8_t *start = r->p;
    if (!next(r, it) || !skip_rest(r, it, 1))
        return 0;
    span->data = start;
    span->len = (size_t)(r->p - start);
    return 1;
}

/* ---- manifest ---- */

static int parse_tensor(struct reader *r, struct tensor_spec *t)
{
    struct item it, key, val;
    uint64_t n;
    unsigned seen = 0;
    if (!next_major(r, &it, 5))
        return 0;
    for (n = it.val; n; n--) {
        if (!next(r, &key))
            return 0;
        if (!key_is(&key, "shape") && !key_is(&key, "dtype") && !key_is(&key, "scale") &&
            !key_is(&key, "zero_point")) {
            if (!skip_rest(r, &key, 1) || !skip(r))
                return 0;       /* another key: skipped */
            continue;
        }
        if (key_is(&key, "dtype")) {
            if (!get_text(r, t->dtype, sizeof t->dtype))
                return 0;
            seen |= 1;
            continue;
        }
        if (!next(r, &val))
            return 0;
        if (key_is(&key, "shape")) {
            uint64_t d;
            if (val.major != 4 || val.val > sizeof t->shape / sizeof t->shape[0])
                return 0;
            t->rank = (uint8_t)val.val;
            for (d = 0; d < val.val; d++)
                if (!get_u32(r, &t->shape[d]))
                    return 0;
            seen |= 2;
        } else if (key_is(&key, "scale")) {
            if (!float_of(&val, &t->scale))
                return 0;
            seen |= 4;
        } else {
            if (!int32_of(&val, &t->zero_point))
                return 0;
            seen |= 8;
        }
    }
    return seen == 15;
}

enum {
    F_FORMAT, F_MODEL, F_VERSION, F_TASK, F_KIND, F_VARIANT, F_BACKEND, F_CLASS, F_PAYLOAD_SIZE,
    F_PAYLOAD_SHA256, F_ARENA, F_INPUT, F_OUTPUT, F_GOLDEN, F_LABELS, F_THRESHOLD, F_COMPILER,
    F_COUNT
};

static const char *const FIELD_NAMES[F_COUNT] = {
    "format", "model", "version", "task", "kind", "variant", "backend", "class", "payload_size",
    "payload_sha256", "arena_bytes", "input", "output", "golden", "labels", "threshold",
    "compiler",
};

static int parse_field(struct reader *r, int field, struct package *pkg)
{
    struct reader span;
    struct item it;
    struct bytes b;
    uint64_t n;

    switch (field) {
    case F_FORMAT:
        return get_u32(r, &pkg->format) && pkg->format == 1;
    case F_MODEL:
        return get_text(r, pkg->model, sizeof pkg->model);
    case F_VERSION:
        return get_text(r, pkg->version, sizeof pkg->version);
    case F_TASK:
        return get_text(r, pkg->task, sizeof pkg->task);
    case F_BACKEND:
        return get_text(r, pkg->backend, sizeof pkg->backend);
    case F_CLASS:
        return get_text(r, pkg->device_class, sizeof pkg->device_class);
    case F_KIND:
        return get_text(r, pkg->kind, sizeof pkg->kind);
    case F_VARIANT: case F_COMPILER:    /* not kept, but must be text */
        return next_major(r, &it, 3);
    case F_PAYLOAD_SIZE:
        return get_u32(r, &pkg->payload_size);
    case F_ARENA:
        return get_u32(r, &pkg->arena_bytes);
    case F_PAYLOAD_SHA256:
        if (!get_bytes(r, &b) || b.len != 32)
            return 0;
        pkg->payload_sha256 = b.data;
        return 1;
    case F_INPUT:
        return parse_tensor(r, &pkg->input);
    case F_OUTPUT:
        return parse_tensor(r, &pkg->output);
    case F_GOLDEN:              /* [[input bstr, output bstr], ...] */
        if (!get_span(r, &it, &pkg->golden) || it.major != 4)
            return 0;
        span.p = pkg->golden.data;
        span.end = r->p;
        next(&span, &it);
        for (n = it.val; n; n--)
            if (!next_major(&span, &it, 4) || it.val != 2 || !get_bytes(&span, &b) ||
                !get_bytes(&span, &b))
                return 0;
        return 1;
    case F_LABELS:              /* [text, ...] */
        if (!get_span(r, &it, &pkg->labels) || it.major != 4)
            return 0;
        span.p = pkg->labels.data;
        span.end = r->p;
        next(&span, &it);
        for (n = it.val; n; n--)
            if (!next_major(&span, &it, 3))
                return 0;
        return 1;
    case F_THRESHOLD:
        if (!next(r, &it))
            return 0;
        if (it.major == 7 && it.info == 22) {   /* null */
            pkg->has_threshold = 0;
            pkg->threshold = 0;
            return 1;
        }
        pkg->has_threshold = 1;
        return float_of(&it, &pkg->threshold);
    default:
        return 0;
    }
}

static int parse_manifest(struct package *pkg)
{
    struct reader r = {pkg->manifest.data, pkg->manifest.data + pkg->manifest.len};
    struct item map, key;
    uint64_t n;
    uint32_t seen = 0;
    int f;

    if (!next_major(&r, &map, 5))
        return 0;
    for (n = map.val; n; n--) {
        if (!next(&r, &key))
            return 0;
        for (f = 0; f < F_COUNT && !key_is(&key, FIELD_NAMES[f]); f++)
            ;
        if (f == F_COUNT) {     /* a key this format does not define: skipped */
            if (!skip_rest(&r, &key, 1) || !skip(&r))
                return 0;
        } else {
            if (!parse_field(&r, f, pkg))
                return 0;
            seen |= (uint32_t)1 << f;
        }
    }
    return r.p == r.end && seen == ((uint32_t)1 << F_COUNT) - 1;
}

/* ---- envelope ---- */

/* protected header: a map whose alg (1) is EdDSA (-8); anything else is unsupported */
static int alg_is_eddsa(struct bytes prot)
{
    struct reader r = {prot.data, prot.data + prot.len};
    struct item map, key, val;
    uint64_t n;
    int eddsa = 0;

    if (!next_major(&r, &map, 5))
        return 0;               /* also when empty: no algorithm named */
    for (n = map.val; n; n--) {
        if (!next(&r, &key) || !skip_rest(&r, &key, 1))
            return 0;
        if (key.major == 0 && key.val == 1) {
            if (!next(&r, &val))
                return 0;
            eddsa = val.major == 1 && val.val == 7;   /* -1 - 7 = -8 */
            if (!skip_rest(&r, &val, 1))
                return 0;
        } else if (!skip(&r)) {
            return 0;
        }
    }
    return r.p == r.end && eddsa;
}

static int parse_cose(struct bytes cose, struct package *pkg)
{
    struct reader r = {cose.data, cose.data + cose.len};
    struct item it, key, val;
    uint64_t n;

    if (!next(&r, &it))
        return 0;
    if (it.major == 6) {        /* the COSE_Sign1 tag is optional, no other */
        if (it.val != TAG_COSE_SIGN1 || !next(&r, &it))
            return 0;
    }
    if (it.major != 4 || it.val != 4 || !get_bytes(&r, &pkg->protected_hdr))
        return 0;
    if (!next_major(&r, &it, 5))
        return 0;
    for (n = it.val; n; n--) {  /* unprotected: only the kid (4) matters here */
        if (!next(&r, &key) || !skip_rest(&r, &key, 1))
            return 0;
        if (key.major == 0 && key.val == 4) {
            if (!next(&r, &val) || !skip_rest(&r, &val, 1))
                return 0;
            pkg->kid.data = val.major == 2 ? val.str.data : NULL;
            pkg->kid.len = val.major == 2 ? val.str.len : 0;
        } else if (!skip(&r)) {
            return 0;
        }
    }
    return get_bytes(&r, &pkg->manifest) && get_bytes(&r, &pkg->signature) && r.p == r.end &&
           alg_is_eddsa(pkg->protected_hdr);
}

int package_parse(const uint8_t *data, size_t len, struct package *pkg)
{
    struct reader r;
    struct item it;
    struct bytes cose;

    memset(pkg, 0, sizeof *pkg);
    if (!data)
        return FW_RESULT_UNSUPPORTED_PACKAGE;
    r.p = data;
    r.end = data + len;
    if (!next(&r, &it))
        return FW_RESULT_UNSUPPORTED_PACKAGE;
    if (it.major == 6) {        /* self-described CBOR tag, optional */
        if (it.val != TAG_SELF_DESCRIBED || !next(&r, &it))
            return FW_RESULT_UNSUPPORTED_PACKAGE;
    }
    if (it.major != 4 || it.val != 2 || !get_bytes(&r, &cose) || !get_bytes(&r, &pkg->payload) ||
        r.p != r.end || !parse_cose(cose, pkg) || !parse_manifest(pkg)) {
        memset(pkg, 0, sizeof *pkg);
        return FW_RESULT_UNSUPPORTED_PACKAGE;
    }
    return 0;
}

/* ---- checks ---- */

int package_check_payload(const struct package *pkg)
{
    struct sha256 h;
    uint8_t digest[32];

    if (!pkg->payload_sha256 || pkg->payload.len != pkg->payload_size)
        return FW_RESULT_INTEGRITY_FAILURE;
    sha256_init(&h);
    sha256_update(&h, pkg->payload.data, pkg->payload.len);
    sha256_final(&h, digest);
    return memcmp(digest, pkg->payload_sha256, 32) == 0 ? 0 : FW_RESULT_INTEGRITY_FAILURE;
}

void package_key_id(const uint8_t key[32], uint8_t kid[8])
{
    struct sha256 h;
    uint8_t digest[32];
    sha256_init(&h);
    sha256_update(&h, key, 32);
    sha256_final(&h, digest);
    memcpy(kid, digest, 8);
}

/* A CBOR head in its shortest form, as the signer's encoder writes it. */
static void hash_head(struct sha512 *h, unsigned major, uint64_t val)
{
    uint8_t buf[9];
    size_t n = val < 24 ? 0 : val < 0x100 ? 1 : val < 0x10000 ? 2 : val < 0x100000000u ? 4 : 8,
           i;
    buf[0] = (uint8_t)(major << 5 | (n == 0 ? val : n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27));
    for (i = 0; i < n; i++)
        buf[1 + i] = (uint8_t)(val >> (8 * (n - 1 - i)));
    sha512_update(h, buf, 1 + n);
}

int package_check_signature(const struct package *pkg, const uint8_t (*keys)[32], size_t n)
{
    static const uint8_t context[] = "Signature1";
    struct sha512 h;
    uint8_t kid[8];
    size_t i;

    if (pkg->signature.len != 64 || pkg->kid.len != sizeof kid)
        return FW_RESULT_INTEGRITY_FAILURE;
    for (i = 0; i < n; i++) {   /* each key the kid names (ids may collide) */
        package_key_id(keys[i], kid);
        if (memcmp(kid, pkg->kid.data, sizeof kid) != 0 ||
            !ed25519_verify_start(&h, pkg->signature.data, keys[i]))
            continue;
        /* the message: Sig_structure ["Signature1", protected, h'', manifest], streamed */
        hash_head(&h, 4, 4);
        hash_head(&h, 3, sizeof context - 1);
        sha512_update(&h, context, sizeof context - 1);
        hash_head(&h, 2, pkg->protected_hdr.len);
        sha512_update(&h, pkg->protected_hdr.data, pkg->protected_hdr.len);
        hash_head(&h, 2, 0);
        hash_head(&h, 2, pkg->manifest.len);
        sha512_update(&h, pkg->manifest.data, pkg->manifest.len);
        if (ed25519_verify_finish(&h, pkg->signature.data, keys[i]))
            return 0;
    }
    return FW_RESULT_INTEGRITY_FAILURE;
}

/* ---- golden vectors and labels (checked by package_parse) ---- */

static int array_entry(struct bytes array, size_t i, struct reader *r)
{
    struct item it;
    r->p = array.data;
    r->end = array.data ? array.data + array.len : NULL;
    if (!next_major(r, &it, 4) || i >= it.val)
        return 0;
    for (; i; i--)
        if (!skip(r))
            return 0;
    return 1;
}

int package_golden(const struct package *pkg, size_t i, struct bytes *input, struct bytes *output)
{
    struct reader r;
    struct item it;
    if (!array_entry(pkg->golden, i, &r) || !next_major(&r, &it, 4) || it.val != 2 ||
        !get_bytes(&r, input) || !get_bytes(&r, output))
        return -1;
    return 0;
}

int package_label(const struct package *pkg, size_t i, struct bytes *label)
{
    struct reader r;
    struct item it;
    if (!array_entry(pkg->labels, i, &r) || !next_major(&r, &it, 3))
        return -1;
    *label = it.str;
    return 0;
}
