/* Ed25519 signature verification (RFC 8032, section 5.1.7), written for small code, not speed
 * or constant time (verification handles only public data).
 *
 * Field: GF(p), p = 2^255 - 19, an element is 8 little-endian 32-bit words holding any value
 * below 2^256 (not necessarily reduced); 2^256 = 2p + 38, so a carry out of the top word is
 * folded back in as 38. Only fe_canon() reduces fully below p, for comparisons and encoding.
 * Points: extended twisted Edwards coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z, with the
 * unified addition law of RFC 8032 section 5.1.4, which also doubles. */
#include <string.h>

#include "package.h"
#include "sha512.h"

typedef uint32_t fe[8];

struct ge {
    fe X, Y, Z, T;
};

static const fe P25519 = {0xffffffed, 0xffffffff, 0xffffffff, 0xffffffff,
                          0xffffffff, 0xffffffff, 0xffffffff, 0x7fffffff};
/* L = 2^252 + 27742317777372353535851937790883648493, the order of the base point */
static const fe ORDER = {0x5cf5d3ed, 0x5812631a, 0xa2f79cd6, 0x14def9de, 0, 0, 0, 0x10000000};
/* d = -121665/121666 */
static const fe D = {0x135978a3, 0x75eb4dca, 0x4141d8ab, 0x00700a4d,
                     0x7779e898, 0x8cc74079, 0x2b6ffe73, 0x52036cee};
static const fe D2 = {0x26b2f159, 0xebd69b94, 0x8283b156, 0x00e0149a,
                      0xeef3d130, 0x198e80f2, 0x56dffce7, 0x2406d9dc};
/* sqrt(-1) = 2^((p-1)/4) */
static const fe SQRTM1 = {0x4a0ea0b0, 0xc4ee1b27, 0xad2fe478, 0x2f431806,
                          0x3dfbd7a7, 0x2b4d0099, 0x4fc1df0b, 0x2b832480};
/* the base point B: y = 4/5, x even */
static const fe BX = {0x8f25d51a, 0xc9562d60, 0x9525a7b2, 0x692cc760,
                      0xfdd6dc5c, 0xc0a4e231, 0xcd6e53fe, 0x216936d3};
static const fe BY = {0x66666658, 0x66666666, 0x66666666, 0x66666666,
                      0x66666666, 0x66666666, 0x66666666, 0x66666666};

static void load_words(fe r, const uint8_t s[32])
{
    int i;
    for (i = 0; i < 8; i++)
        r[i] = (uint32_t)s[4 * i] | (uint32_t)s[4 * i + 1] << 8 | (uint32_t)s[4 * i + 2] << 16 |
               (uint32_t)s[4 * i + 3] << 24;
}

/* r = a - m when a >= m (returns 1); r untouched otherwise (returns 0). Plain 256-bit words. */
static int sub_if_ge(uint32_t r[8], const uint32_t a[8], const uint32_t m[8])
{
    uint32_t t[8];
    uint64_t c = 1; /* a + ~m + 1 = a - m + 2^256: a carry out means a >= m */
    int i;
    for (i = 0; i < 8; i++) {
        c += (uint64_t)a[i] + (uint32_t)~m[i];
        t[i] = (uint32_t)c;
        c >>= 32;
    }
    if (c)
        memcpy(r, t, sizeof t);
    return (int)c;
}

/* r += c * 2^256, i.e. r += 38c, until no carry is left. */
static void fe_fold(fe r, uint64_t c)
{
    int i;
    while (c) {
        c *= 38;
        for (i = 0; i < 8; i++) {
            c += r[i];
            r[i] = (uint32_t)c;
            c >>= 32;
        }
    }
}

static void fe_add(fe r, const fe a, const fe b)
{
    uint64_t c = 0;
    int i;
    for (i = 0; i < 8; i++) {
        c += (uint64_t)a[i] + b[i];
        r[i] = (uint32_t)c;
        c >>= 32;
    }
    fe_fold(r, c);
}

/* r = a - b + 4p, computed as a + ~b + (2^256 - 75) so that no step goes negative
 * (~b = 2^256 - 1 - b and 4p = 2^257 - 76). */
static void fe_sub(fe r, const fe a, const fe b)
{
    uint64_t c = 0;
    int i;
    for (i = 0; i < 8; i++) {
        c += (uint64_t)a[i] + (uint32_t)~b[i] + (i ? 0xffffffffu : 0xffffffb5u);
        r[i] = (uint32_t)c;
        c >>= 32;
    }
    fe_fold(r, c);
}

static void fe_mul(fe r, const fe a, const fe b)
{
    uint32_t w[16] = {0};
    uint64_t c;
    int i, j;
    for (i = 0; i < 8; i++) { /* schoolbook: (2^32-1)^2 + 2(2^32-1) still fits 64 bits */
        c = 0;
        for (j = 0; j < 8; j++) {
            c += (uint64_t)a[i] * b[j] + w[i + j];
            w[i + j] = (uint32_t)c;
            c >>= 32;
        }
        w[i + 8] = (uint32_t)c;
    }
    c = 0; /* low half + 38 * high half */
    for (i = 0; i < 8; i++) {
        c += (uint64_t)w[i] + (uint64_t)w[i + 8] * 38;
        r[i] = (uint32_t)c;
        c >>= 32;
    }
    fe_fold(r, c);
}

/* Fully reduced below p. */
static void fe_canon(fe r, const fe a)
{
    memcpy(r, a, sizeof(fe));
    sub_if_ge(r, r, P25519); /* a < 2^256 = 2p + 38: at most two subtractions */
    sub_if_ge(r, r, P25519);
}

static int fe_is_zero(const fe a)
{
    fe t;
    int i;
    uint32_t any = 0;
    fe_canon(t, a);
    for (i = 0; i < 8; i++)
        any |= t[i];
    return any == 0;
}

/* r = a^e for an exponent below 2^255 whose bytes are all 0xff but the first and the last. */
static void fe_pow(fe r, const fe a, uint8_t first, uint8_t last)
{
    uint8_t e[32];
    fe t = {1};
    int i;
    memset(e, 0xff, sizeof e);
    e[0] = first;
    e[31] = last;
    for (i = 254; i >= 0; i--) {
        fe_mul(t, t, t);
        if (e[i / 8] >> (i % 8) & 1)
            fe_mul(t, t, a);
    }
    memcpy(r, t, sizeof t);
}

static void fe_invert(fe r, const fe a)
{
    fe_pow(r, a, 0xeb, 0x7f); /* a^(p-2), p - 2 = 2^255 - 21 */
}

/* RFC 8032 5.1.4: r = p + q (any aliasing). */
static void ge_add(struct ge *r, const struct ge *p, const struct ge *q)
{
    fe a, b, c, d, e, f, g, h;
    fe_sub(a, p->Y, p->X);
    fe_sub(h, q->Y, q->X);
    fe_mul(a, a, h);            /* A = (Y1-X1)(Y2-X2) */
    fe_add(b, p->Y, p->X);
    fe_add(h, q->Y, q->X);
    fe_mul(b, b, h);            /* B = (Y1+X1)(Y2+X2) */
    fe_mul(c, p->T, q->T);
    fe_mul(c, c, D2);           /* C = T1 2d T2 */
    fe_mul(d, p->Z, q->Z);
    fe_add(d, d, d);            /* D = 2 Z1 Z2 */
    fe_sub(e, b, a);
    fe_sub(f, d, c);
    fe_add(g, d, c);
    fe_add(h, b, a);
    fe_mul(r->X, e, f);
    fe_mul(r->Y, g, h);
    fe_mul(r->T, e, h);
    fe_mul(r->Z, f, g);
}

/* RFC 8032 5.1.3: the point encoded in s, 0 when s encodes none. */
static int ge_decode(struct ge *r, const uint8_t s[32])
{
    static const fe one = {1}, zero = {0};
    fe y, u, v, v3, x, t;
    unsigned sign = s[31] >> 7;

    load_words(y, s);
    y[7] &= 0x7fffffff;
    if (sub_if_ge(t, y, P25519))
        return 0;                   /* y >= p: not canonical */
    fe_mul(u, y, y);
    fe_mul(v, u, D);
    fe_add(v, v, one);              /* v = d y^2 + 1 */
    fe_sub(u, u, one);              /* u = y^2 - 1 */
    fe_mul(v3, v, v);
    fe_mul(v3, v3, v);              /* v^3 */
    fe_mul(t, v3, v3);
    fe_mul(t, t, v);
    fe_mul(t, t, u);                /* u v^7 */
    fe_pow(t, t, 0xfd, 0x0f);       /* (u v^7)^((p-5)/8), (p-5)/8 = 2^252 - 3 */
    fe_mul(x, u, v3);
    fe_mul(x, x, t);                /* candidate root x = u v^3 (u v^7)^((p-5)/8) */
    fe_mul(t, x, x);
    fe_mul(t, t, v);                /* v x^2 */
    fe_sub(v, t, u);
    if (!fe_is_zero(v)) {
        fe_add(v, t, u);
        if (!fe_is_zero(v))
            return 0;               /* u/v has no square root */
        fe_mul(x, x, SQRTM1);
    }
    fe_canon(x, x);
    if (fe_is_zero(x) && sign)
        return 0;
    if ((x[0] & 1) != sign) {
        fe_sub(x, zero, x);
        fe_canon(x, x);
    }
    memcpy(r->X, x, sizeof x);
    memcpy(r->Y, y, sizeof y);
    memcpy(r->Z, one, sizeof one);
    fe_mul(r->T, x, y);
    return 1;
}

static void ge_encode(uint8_t s[32], const struct ge *p)
{
    fe zi, x, y;
    int i;
    fe_invert(zi, p->Z);
    fe_mul(x, p->X, zi);
    fe_mul(y, p->Y, zi);
    fe_canon(x, x);
    fe_canon(y, y);
    for (i = 0; i < 32; i++)
        s[i] = (uint8_t)(y[i / 4] >> (8 * (i % 4)));
    s[31] |= (uint8_t)((x[0] & 1) << 7);
}

int ed25519_verify_start(struct sha512 *h, const uint8_t sig[64], const uint8_t key[32])
{
    fe s;
    load_words(s, sig + 32);
    if (sub_if_ge(s, s, ORDER))
        return 0;                   /* S >= L: malleable, rejected (RFC 8032 5.1.7 step 1) */
    sha512_init(h);
    sha512_update(h, sig, 32);      /* R */
    sha512_update(h, key, 32);      /* A */
    return 1;
}

int ed25519_verify_finish(struct sha512 *h, const uint8_t sig[64], const uint8_t key[32])
{
    static const fe zero = {0};
    uint8_t digest[64], check[32];
    fe s, t, k = {0};
    struct ge table[4], acc = {{0}, {1}, {1}, {0}}; /* the neutral point (0, 1) */
    int i;

    sha512_final(h, digest);
    for (i = 511; i >= 0; i--) {    /* k = SHA-512(R || A || M) mod L, bit by bit */
        int j;
        uint32_t carry = digest[i / 8] >> (i % 8) & 1;
        for (j = 0; j < 8; j++) {   /* k = 2k + bit; k < L < 2^253 so nothing overflows */
            uint32_t top = k[j] >> 31;
            k[j] = k[j] << 1 | carry;
            carry = top;
        }
        sub_if_ge(k, k, ORDER);
    }
    load_words(s, sig + 32);
    if (sub_if_ge(t, s, ORDER)) /* checked by the start step too; kept for direct callers */
        return 0;

    /* table[1] = B, table[2] = -A, table[3] = B - A */
    if (!ge_decode(&table[2], key))
        return 0;
    fe_sub(table[2].X, zero, table[2].X);
    fe_sub(table[2].T, zero, table[2].T);
    memcpy(table[1].X, BX, sizeof(fe));
    memcpy(table[1].Y, BY, sizeof(fe));
    memcpy(table[1].Z, acc.Y, sizeof(fe));
    fe_mul(table[1].T, BX, BY);
    ge_add(&table[3], &table[1], &table[2]);

    /* [S]B - [k]A by one shared double-and-add over both scalars (both < 2^253) */
    for (i = 252; i >= 0; i--) {
        unsigned pick = (s[i / 32] >> (i % 32) & 1) | (k[i / 32] >> (i % 32) & 1) << 1;
        ge_add(&acc, &acc, &acc);
        if (pick)
            ge_add(&acc, &acc, &table[pick]);
    }
    ge_encode(check, &acc);
    return memcmp(check, sig, 32) == 0; /* equals R (cofactorless check, as RFC 8032 allows) */
}

int ed25519_verify(const uint8_t sig[64], const uint8_t key[32], const uint8_t *msg, size_t len)
{
    struct sha512 h;
    if (!ed25519_verify_start(&h, sig, key))
        return 0;
    sha512_update(&h, msg, len);
    return ed25519_verify_finish(&h, sig, key);
}
