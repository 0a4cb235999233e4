/* The native backend's int8 kernels: NHWC tensors, batch 1, per-channel or per-tensor
 * requantization, fused activation as a clamp. Each reproduces the integer result of the
 * matching TFLite reference kernel (the ones TFLite-Micro runs); the loops differ only where
 * integer addition is associative. Shapes come from `static const` parameter blocks and the
 * layer kernels are inlined at their one call, so each layer's loops see its shapes and
 * requantization records as constants. On cores with the DSP extension CONV_2D and
 * DEPTHWISE_CONV_2D read weights packed as int16 pairs at compile time (emit.pack_filter,
 * pack_depthwise) in SMLAD/SMLAxy loops of inline assembly (LDM of four weight words); other
 * cores run the int8 kernels. Requantization is one SMLAL and a shift (nn_rq). No libc: no
 * memcpy, no division in inner loops. */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H

#include <stdint.h>
#include "nn_fixedpoint.h"

#if defined(__ARM_FEATURE_SIMD32) && __ARM_FEATURE_SIMD32
#include <arm_acle.h>
#define NN_DSP 1
#else
#define NN_DSP 0
#endif

/* A channel's requantization, precomputed at compile time (emit.requant_records). For a right
 * shift r >= 2 (a TFLite shift of -2 or less), nn_mbqm's two roundings are one
 * multiply-accumulate onto p = 2^30 + 2^(30 + r), less 2^31 for a negative x, and an
 * arithmetic shift of the high word by r - 1: floor((floor((x m + 2^30) / 2^31) + 2^(r-1) -
 * [x < 0]) / 2^r) is one floor of (x m + p) / 2^(31 + r). p's low word is 2^30 (2^30 + 2^31
 * for a negative x: a sign bit), its high word 2^(r-2) (one less for a negative x). Other
 * shifts (r1 < 0) hold -33 - shift, for nn_mbqm. */
typedef struct {
    int32_t m;
    uint32_t p_lo;
    int32_t p_hi;
    int32_t r1;
} nn_rq;

typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t f_h, f_w;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t depth_multiplier; /* depthwise only */
    int32_t in_offset, out_offset; /* -input zero point, +output zero point */
    int32_t act_min, act_max;
    int32_t rq_mask; /* -1: a requantization record per channel; 0: one for the tensor */
    int32_t rq_fast; /* 1: every record is a right shift of 2 or more (nn_rq_apply) */
} nn_conv_params;

typedef struct {
    int32_t batches, accum_depth, out_depth;
    int32_t in_offset, out_offset;
    int32_t act_min, act_max;
    int32_t rq_mask, rq_fast;
} nn_fc_params;

typedef struct {
    int32_t in_h, in_w, channels, out_h, out_w;
    int32_t f_h, f_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} nn_pool_params;

typedef struct {
    int32_t size;
    int32_t in1_offset, in2_offset, out_offset;
    nn_rq in1_rq, in2_rq, out_rq;
    int32_t left_shift;
    int32_t act_min, act_max;
} nn_add_params;

typedef struct {
    int32_t outer, depth;
    int32_t input_multiplier, input_left_shift, diff_min;
} nn_softmax_params;

typedef struct {
    int32_t size, in_zero_point, out_zero_point, multiplier, shift;
} nn_requantize_params;

static inline int32_t nn_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static inline int32_t nn_rq_apply(int32_t acc, const nn_rq *q, int32_t fast)
{
    if (!fast && q->r1 < 0) {
        return nn_mbqm(acc, q->m, -33 - q->r1);
    }
    uint32_t lo = ((uint32_t)acc & 0x80000000u) ^ q->p_lo;
    int32_t hi = q->p_hi + (acc >> 31);
#if defined(__ARM_ARCH_ISA_THUMB) && __ARM_ARCH_ISA_THUMB >= 2 /* SMLAL: not on v6-M */
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(acc), "r"(q->m));
    return hi >> q->r1;
#else
    int64_t t = (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo) + (int64_t)acc * q->m;
    return (int32_t)(t >> 32) >> q->r1;
#endif
}

/* requantize, add the output zero point, clamp (one SSAT for the whole int8 range) */
static inline int8_t nn_out8(int32_t acc, const nn_rq *q, int32_t fast, int32_t out_offset,
                             int32_t lo, int32_t hi)
{
    int32_t v = nn_rq_apply(acc, q, fast) + out_offset;
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
    if (lo == -128 && hi == 127) {
        int32_t r;
        __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(v));
        return (int8_t)r;
    }
#endif
    return (int8_t)nn_clamp(v, lo, hi);
}

/* the outputs of channels oc .. oc + 3 of one pixel, `out` at channel oc */
static inline __attribute__((always_inline)) void nn_out8_4(const int32_t *acc, int8_t *out,
                                                            const nn_rq *rq, int32_t oc,
                                                            int32_t qm, int32_t qf, int32_t zo,
                                                            int32_t lo, int32_t hi)
{
    out[0] = nn_out8(acc[0], rq + (oc & qm), qf, zo, lo, hi);
    out[1] = nn_out8(acc[1], rq + ((oc + 1) & qm), qf, zo, lo, hi);
    out[2] = nn_out8(acc[2], rq + ((oc + 2) & qm), qf, zo, lo, hi);
    out[3] = nn_out8(acc[3], rq + ((oc + 3) & qm), qf, zo, lo, hi);
}

/* the outputs of channels oc .. oc + count - 1 of one pixel from their accumulators */
static inline __attribute__((always_inline)) void nn_out8_run(const int32_t *acc, int8_t *out,
                                                          int32_t oc, int32_t count,
                                                          const nn_conv_params *p,
                                                          const nn_rq *rq)
{
    const int32_t zo = p->out_offset, lo = p->act_min, hi = p->act_max, qm = p->rq_mask;
    const int32_t qf = p->rq_fast;
    for (int32_t k = 0; k < count; ++k) {
        out[oc + k] = nn_out8(acc[k], rq + ((oc + k) & qm), qf, zo, lo, hi);
    }
}

#if NN_DSP
static inline uint32_t nn_load4(const int8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

/* lanes of bytes 1 and 3, sign extended to 16 bits */
static inline int32_t nn_sxtb16_odd(uint32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}
#endif

/* acc + the int8 dot product of n weights with n inputs (the input offset is the caller's:
 * folded into the bias). */
static inline __attribute__((always_inline)) int32_t nn_dot(const int8_t *w, const int8_t *x,
                                                            int32_t n, int32_t acc)
{
    int32_t i = 0;
#if NN_DSP
    /* two 16-bit lanes per SMLAD: sign-extend bytes 0,2 and 1,3 of four weights and inputs */
    for (; i + 4 <= n; i += 4) {
        uint32_t wv = nn_load4(w + i), xv = nn_load4(x + i);
        acc = __smlad((int32_t)__sxtb16(wv), (int32_t)__sxtb16(xv), acc);
        acc = __smlad(nn_sxtb16_odd(wv), nn_sxtb16_odd(xv), acc);
    }
#endif
    for (; i < n; ++i) {
        acc += (int32_t)w[i] * (int32_t)x[i];
    }
    return acc;
}

/* two weight rows against one input row, each input plus `off` (0, or the input offset for a
 * window clipped by the image, against the bias without the offset folded in): the input is
 * loaded and widened once */
static inline __attribute__((always_inline)) void nn_dot2(const int8_t *w0, const int8_t *w1,
                                                          const int8_t *x, int32_t n,
                                                          int32_t off, int32_t *acc0,
                                                          int32_t *acc1)
{
    int32_t a0 = *acc0, a1 = *acc1;
    int32_t i = 0;
#if NN_DSP
    const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
    for (; i + 4 <= n; i += 4) {
        uint32_t xv = nn_load4(x + i);
        int32_t x02 = (int32_t)__sxtb16(xv), x13 = nn_sxtb16_odd(xv);
        if (off) {
            x02 = (int32_t)__sadd16(x02, off2);
            x13 = (int32_t)__sadd16(x13, off2);
        }
        uint32_t v0 = nn_load4(w0 + i), v1 = nn_load4(w1 + i);
        a0 = __smlad((int32_t)__sxtb16(v0), x02, a0);
        a0 = __smlad(nn_sxtb16_odd(v0), x13, a0);
        a1 = __smlad((int32_t)__sxtb16(v1), x02, a1);
        a1 = __smlad(nn_sxtb16_odd(v1), x13, a1);
    }
#endif
    for (; i < n; ++i) {
        int32_t xi = x[i] + off;
        a0 += (int32_t)w0[i] * xi;
        a1 += (int32_t)w1[i] * xi;
    }
    *acc0 = a0;
    *acc1 = a1;
}

/* two weight rows against two input rows (two output pixels of two channels): every loaded
 * and widened word serves two multiply-accumulates pairs */
static inline __attribute__((always_inline)) void nn_dot2x2(const int8_t *w0, const int8_t *w1,
                                                            const int8_t *x0, const int8_t *x1,
                                                            int32_t n, int32_t *acc)
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t i = 0;
#if NN_DSP
    for (; i + 4 <= n; i += 4) {
        uint32_t p = nn_load4(x0 + i), q = nn_load4(x1 + i);
        int32_t p02 = (int32_t)__sxtb16(p), p13 = nn_sxtb16_odd(p);
        int32_t q02 = (int32_t)__sxtb16(q), q13 = nn_sxtb16_odd(q);
        uint32_t v = nn_load4(w0 + i);
        int32_t v02 = (int32_t)__sxtb16(v), v13 = nn_sxtb16_odd(v);
        a00 = __smlad(v02, p02, a00);
        a00 = __smlad(v13, p13, a00);
        a10 = __smlad(v02, q02, a10);
        a10 = __smlad(v13, q13, a10);
        v = nn_load4(w1 + i);
        v02 = (int32_t)__sxtb16(v);
        v13 = nn_sxtb16_odd(v);
        a01 = __smlad(v02, p02, a01);
        a01 = __smlad(v13, p13, a01);
        a11 = __smlad(v02, q02, a11);
        a11 = __smlad(v13, q13, a11);
    }
#else
    for (; i + 2 <= n; i += 2) {
        int32_t p0 = x0[i], p1 = x0[i + 1], q0 = x1[i], q1 = x1[i + 1];
        int32_t v0 = w0[i], v1 = w0[i + 1], u0 = w1[i], u1 = w1[i + 1];
        a00 += v0 * p0 + v1 * p1;
        a10 += v0 * q0 + v1 * q1;
        a01 += u0 * p0 + u1 * p1;
        a11 += u0 * q0 + u1 * q1;
    }
#endif
    for (; i < n; ++i) {
        int32_t p = x0[i], q = x1[i], v = w0[i], u = w1[i];
        a00 += v * p;
        a10 += v * q;
        a01 += u * p;
        a11 += u * q;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

static inline int32_t nn_sum(const int8_t *w, int32_t n)
{
    int32_t s = 0;
    for (int32_t i = 0; i < n; ++i) {
        s += w[i];
    }
    return s;
}

/* The window's filter taps inside the image along one axis: [*lo, *hi). */
static inline void nn_clip(int32_t start, int32_t taps, int32_t size, int32_t *lo, int32_t *hi)
{
    *lo = start < 0 ? -start : 0;
    *hi = taps < size - start ? taps : size - start;
}

/* The same with taps `dil` apart. */
static inline void nn_clip_dilated(int32_t start, int32_t taps, int32_t dil, int32_t size,
                                   int32_t *lo, int32_t *hi)
{
    int32_t a = 0, b = taps;
    while (start + a * dil < 0) {
        ++a;
    }
    while (b > a && start + (b - 1) * dil >= size) {
        --b;
    }
    *lo = a;
    *hi = b;
}

/* CONV_2D. `bias` holds bias + in_offset * (sum of the channel's weights), so a window inside
 * the image needs only sum w * x; there a filter row (f_w * in_c weights) meets f_w * in_c
 * consecutive input bytes, and two neighbouring output pixels go together (nn_dot2x2). A
 * window the image clips (zero padding: the reference kernel skips taps outside the image)
 * takes `raw_bias`, the bias alone, and sum w * (x + in_offset) over its taps inside. */
static inline __attribute__((always_inline)) void nn_conv2d(const nn_conv_params *p, const int8_t *in, const int8_t *filter,
                      const int32_t *bias, const int32_t *raw_bias, const nn_rq *rq, int8_t *out)
{
    const int32_t in_c = p->in_c, in_w = p->in_w, in_h = p->in_h;
    const int32_t f_h = p->f_h, f_w = p->f_w, out_c = p->out_c, out_w = p->out_w;
    const int32_t dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t per_oc = f_h * f_w * in_c;
    const int32_t run = f_w * in_c;
    const int32_t row_step = dil_h * in_w * in_c;
    const int32_t pixel_step = p->stride_w * in_c;
    const int32_t qm = p->rq_mask, qf = p->rq_fast, zo = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max, off = p->in_offset;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int row_inside = y0 >= 0 && y0 + (f_h - 1) * dil_h < in_h;
        for (int32_t ox = 0; ox < out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            const int inside = row_inside && dil_w == 1 && x0 >= 0 && x0 + f_w - 1 < in_w;
            if (inside && ox + 1 < out_w && x0 + p->stride_w + f_w - 1 < in_w) {
                /* this pixel and the next */
                const int8_t *base = in + (y0 * in_w + x0) * in_c;
                int8_t *out1 = out + out_c;
                int32_t oc = 0;
                for (; oc + 2 <= out_c; oc += 2) {
                    const int8_t *f0 = filter + oc * per_oc;
                    int32_t acc[4] = {bias[oc], bias[oc + 1], bias[oc], bias[oc + 1]};
                    for (int32_t fy = 0; fy < f_h; ++fy) {
                        const int8_t *x = base + fy * row_step;
                        nn_dot2x2(f0 + fy * run, f0 + per_oc + fy * run, x, x + pixel_step, run,
                                  acc);
                    }
                    out[oc] = nn_out8(acc[0], rq + ((oc) & qm), qf, zo, lo, hi);
                    out[oc + 1] = nn_out8(acc[1], rq + ((oc + 1) & qm), qf, zo, lo, hi);
                    out1[oc] = nn_out8(acc[2], rq + ((oc) & qm), qf, zo, lo, hi);
                    out1[oc + 1] = nn_out8(acc[3], rq + ((oc + 1) & qm), qf, zo, lo, hi);
                }
                if (oc < out_c) { /* an odd last channel */
                    const int8_t *f0 = filter + oc * per_oc;
                    int32_t a0 = bias[oc], a1 = bias[oc];
                    for (int32_t fy = 0; fy < f_h; ++fy) {
                        a0 = nn_dot(f0 + fy * run, base + fy * row_step, run, a0);
                        a1 = nn_dot(f0 + fy * run, base + fy * row_step + pixel_step, run, a1);
                    }
                    out[oc] = nn_out8(a0, rq + ((oc) & qm), qf, zo, lo, hi);
                    out1[oc] = nn_out8(a1, rq + ((oc) & qm), qf, zo, lo, hi);
                }
                out += 2 * out_c;
                ++ox;
                continue;
            }
            if (dil_h == 1 && dil_w == 1) {
                /* one pixel: the taps inside the image (all of them, or the clipped window) */
                int32_t fy0, fy1, fx0, fx1;
                nn_clip(y0, f_h, in_h, &fy0, &fy1);
                nn_clip(x0, f_w, in_w, &fx0, &fx1);
                const int32_t n = (fx1 - fx0) * in_c;
                const int8_t *base = in + (y0 * in_w + x0 + fx0) * in_c;
                const int8_t *fbase = filter + fx0 * in_c;
                const int32_t *b = inside ? bias : raw_bias;
                const int32_t add = inside ? 0 : off;
                int32_t oc = 0;
                for (; oc + 2 <= out_c; oc += 2) {
                    const int8_t *f0 = fbase + oc * per_oc;
                    int32_t a0 = b[oc], a1 = b[oc + 1];
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        nn_dot2(f0 + fy * run, f0 + per_oc + fy * run, base + fy * row_step,
                                n, add, &a0, &a1);
                    }
                    out[oc] = nn_out8(a0, rq + ((oc) & qm), qf, zo, lo, hi);
                    out[oc + 1] = nn_out8(a1, rq + ((oc + 1) & qm), qf, zo, lo, hi);
                }
                if (oc < out_c) {
                    const int8_t *f0 = fbase + oc * per_oc;
                    int32_t a0 = b[oc], a1 = 0;
                    for (int32_t fy = fy0; fy < fy1; ++fy) {
                        nn_dot2(f0 + fy * run, f0 + fy * run, base + fy * row_step, n, add,
                                &a0, &a1);
                    }
                    out[oc] = nn_out8(a0, rq + ((oc) & qm), qf, zo, lo, hi);
                }
            } else {
                /* dilated: tap by tap */
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int8_t *f = filter + oc * per_oc;
                    int32_t acc = bias[oc];
                    for (int32_t fy = 0; fy < f_h; ++fy) {
                        const int32_t y = y0 + fy * dil_h;
                        for (int32_t fx = 0; fx < f_w; ++fx) {
                            const int32_t x = x0 + fx * dil_w;
                            const int8_t *tap = f + (fy * f_w + fx) * in_c;
                            if (y < 0 || y >= in_h || x < 0 || x >= in_w) {
                                acc -= off * nn_sum(tap, in_c);
                            } else {
                                acc = nn_dot(tap, in + (y * in_w + x) * in_c, in_c, acc);
                            }
                        }
                    }
                    out[oc] = nn_out8(acc, rq + ((oc) & qm), qf, zo, lo, hi);
                }
            }
            out += out_c;
        }
    }
}

#if NN_DSP
/* Four output channels against `chunks` words of four input bytes, with the weights packed
 * as int16 pairs at compile time: per chunk and channel the words (w0 | w2 << 16) and
 * (w1 | w3 << 16), so each input word is widened once (SXTB16) for four channels and each
 * weight word goes straight into SMLAD. `offset`: the inputs take in_offset (a clipped
 * window); a constant at each call site. */
static inline __attribute__((always_inline)) const int32_t *
nn_dot4_packed(const int8_t *x, const int32_t *w, int32_t chunks, int offset, int32_t off2,
               int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    /* per chunk: one load and two SXTB16 of the input (two SADD16 with the offset), two LDM
     * of four weight words (into r8-r11, as LDM's register list is ascending), eight SMLAD; two
     * chunks per loop iteration */
    uint32_t xv, lo;
    register int32_t w0 __asm__("r8"), w1 __asm__("r9"), w2 __asm__("r10"), w3 __asm__("r11");
#define NN_CHUNK(widen)                                                                        \
    "ldr %[xv], [%[x]], #4\n\t"                                                                \
    "sxtb16 %[lo], %[xv]\n\t"                                                                  \
    "sxtb16 %[xv], %[xv], ror #8\n\t" widen                                                    \
    "ldm %[w]!, {r8, r9, r10, r11}\n\t"                                                        \
    "smlad %[a0], %[w0], %[lo], %[a0]\n\t"                                                     \
    "smlad %[a0], %[w1], %[xv], %[a0]\n\t"                                                     \
    "smlad %[a1], %[w2], %[lo], %[a1]\n\t"                                                     \
    "smlad %[a1], %[w3], %[xv], %[a1]\n\t"                                                     \
    "ldm %[w]!, {r8, r9, r10, r11}\n\t"                                                        \
    "smlad %[a2], %[w0], %[lo], %[a2]\n\t"                                                     \
    "smlad %[a2], %[w1], %[xv], %[a2]\n\t"                                                     \
    "smlad %[a3], %[w2], %[lo], %[a3]\n\t"                                                     \
    "smlad %[a3], %[w3], %[xv], %[a3]\n\t"
#define NN_CHUNK_OPERANDS                                                                      \
    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w] "+r"(w),    \
      [n] "+r"(pairs), [xv] "=&r"(xv), [lo] "=&r"(lo), [w0] "=&r"(w0), [w1] "=&r"(w1),         \
      [w2] "=&r"(w2), [w3] "=&r"(w3)                                                           \
    : [off2] "r"(off2)                                                                         \
    : "cc", "memory"
#define NN_WIDEN "sadd16 %[lo], %[lo], %[off2]\n\tsadd16 %[xv], %[xv], %[off2]\n\t"
    int32_t pairs = chunks >> 1;
    if (chunks & 1) {
        if (offset) {
            __asm__ volatile(NN_CHUNK(NN_WIDEN) NN_CHUNK_OPERANDS);
        } else {
            __asm__ volatile(NN_CHUNK("") NN_CHUNK_OPERANDS);
        }
    }
    if (pairs > 0) {
        if (offset) {
            __asm__ volatile("1:\n\t" NN_CHUNK(NN_WIDEN) NN_CHUNK(NN_WIDEN)
                             "subs %[n], %[n], #1\n\tbne 1b" NN_CHUNK_OPERANDS);
        } else {
            __asm__ volatile("1:\n\t" NN_CHUNK("") NN_CHUNK("")
                             "subs %[n], %[n], #1\n\tbne 1b" NN_CHUNK_OPERANDS);
        }
    }
#undef NN_CHUNK
#undef NN_CHUNK_OPERANDS
#undef NN_WIDEN
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return w;
}

/* One output pixel of nn_conv2d_packed: the window [fy0, fy1) x [fx0, fx1) of filter taps
 * at `base` (the input at its first tap inside the image; `end` the input's end), every group
 * of four channels. */
static inline __attribute__((always_inline)) void nn_conv_pixel_packed(const nn_conv_params *p,
                                                           const int8_t *base,
                                                           const int32_t *packed,
                                                           const int32_t *b, int32_t fy0,
                                                           int32_t fy1, int32_t fx0, int32_t fx1,
                                                           const nn_rq *rq, const int8_t *end,
                                                           int8_t *out)
{
    const int32_t in_c = p->in_c, out_c = p->out_c, f_h = p->f_h;
    const int32_t run = p->f_w * in_c, full = run / 4, tail = run % 4;
    const int32_t chunks = full + (tail ? 1 : 0), row_step = p->in_w * in_c;
    const int inside = fy0 == 0 && fy1 == f_h && fx0 == 0 && fx1 == p->f_w;
    const int32_t off = p->in_offset;
    const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
    const int32_t j0 = fx0 * in_c / 4, n = (fx1 - fx0) * in_c / 4;
    const int32_t *g = packed;
    for (int32_t oc = 0; oc < out_c; oc += 4, g += f_h * chunks * 8) {
        int32_t acc[4];
        for (int32_t k = 0; k < 4; ++k) {
            acc[k] = oc + k < out_c ? b[oc + k] : 0;
        }
        const int8_t *x = base;
        if (inside) {
            const int32_t *w = g;
            for (int32_t fy = 0; fy < f_h; ++fy, x += row_step) {
                if (tail && x + chunks * 4 <= end) {
                    /* the tail chunk's bytes past the row are the tensor's: zero weights */
                    w = nn_dot4_packed(x, w, chunks, 0, 0, acc);
                    continue;
                }
                w = nn_dot4_packed(x, w, full, 0, 0, acc);
                if (tail) {
                    const int8_t *t = x + full * 4;
                    uint32_t xv = (uint8_t)t[0];
                    xv |= tail > 1 ? (uint32_t)(uint8_t)t[1] << 8 : 0u;
                    xv |= tail > 2 ? (uint32_t)(uint8_t)t[2] << 16 : 0u;
                    w = nn_dot4_packed((const int8_t *)&xv, w, 1, 0, 0, acc);
                }
            }
        } else {
            for (int32_t fy = fy0; fy < fy1; ++fy, x += row_step) {
                nn_dot4_packed(x, g + (fy * chunks + j0) * 8, n, 1, off2, acc);
            }
        }
        nn_out8_run(acc, out, oc, out_c - oc < 4 ? out_c - oc : 4, p, rq);
    }
}

#define NN_PAD_WINDOW 128
/* A clipped pixel whose taps straddle chunks (in_c not a multiple of 4) and whose window is at
 * most NN_PAD_WINDOW bytes in chunks: the window is copied to the stack once, with the input
 * zero point (-in_offset) for the bytes outside the image, which the folded bias then cancels,
 * as the reference kernel's skipped taps. Larger windows go to the plain kernel. */
static __attribute__((noinline)) void nn_conv_pixel_padded(const nn_conv_params *p, int32_t y0,
                                                           int32_t x0, const int8_t *in,
                                                           const int32_t *packed,
                                                           const int8_t *filter,
                                                           const int32_t *bias,
                                                           const int32_t *raw_bias,
                                                           const nn_rq *rq, int8_t *out)
{
    const int32_t in_c = p->in_c, in_w = p->in_w, in_h = p->in_h, f_h = p->f_h, f_w = p->f_w;
    const int32_t run = f_w * in_c, full = run / 4, chunks = (run + 3) / 4;
    if (f_h * chunks * 4 > NN_PAD_WINDOW) {
        nn_conv_params one = *p;
        one.out_h = one.out_w = 1;
        one.pad_h = -y0;
        one.pad_w = -x0;
        nn_conv2d(&one, in, filter, bias, raw_bias, rq, out);
        return;
    }
    int8_t window[NN_PAD_WINDOW] __attribute__((aligned(4)));
    const int8_t zp = (int8_t)(-p->in_offset);
    for (int32_t fy = 0; fy < f_h; ++fy) {
        const int32_t y = y0 + fy;
        int8_t *row = window + fy * chunks * 4;
        for (int32_t i = 0; i < chunks * 4; ++i) {
            const int32_t x = x0 + i / in_c;
            const int in_image = i < run && y >= 0 && y < in_h && x >= 0 && x < in_w;
            row[i] = in_image ? in[(y * in_w + x0) * in_c + i] : (i < run ? zp : 0);
        }
    }
    const int32_t *g = packed;
    for (int32_t oc = 0; oc < p->out_c; oc += 4) {
        int32_t acc[4];
        for (int32_t k = 0; k < 4; ++k) {
            acc[k] = oc + k < p->out_c ? bias[oc + k] : 0;
        }
        for (int32_t fy = 0; fy < f_h; ++fy) {
            const int8_t *row = window + fy * chunks * 4;
            g = nn_dot4_packed(row, g, full, 0, 0, acc);
            if (chunks > full) {
                g = nn_dot4_packed(row + full * 4, g, 1, 0, 0, acc);
            }
        }
        nn_out8_run(acc, out, oc, p->out_c - oc < 4 ? p->out_c - oc : 4, p, rq);
    }
}

/* CONV_2D on a DSP core with packed weights (no dilation): per group of four output channels
 * and filter row, ceil(f_w * in_c / 4) chunks (nn_dot4_packed), the last one zero-padded in
 * the weights and its input bytes read one by one. A window inside the image takes `bias`
 * (input offset folded in). A clipped one (in_c a multiple of 4, so chunks never straddle a
 * tap) takes `raw_bias` and x + in_offset over its taps inside; with in_c not a multiple of 4,
 * clipped windows go to nn_conv2d on `filter` instead. */
static inline __attribute__((always_inline)) void nn_conv2d_packed(const nn_conv_params *p, const int8_t *in, const int32_t *packed,
                                const int8_t *filter, const int32_t *bias,
                                const int32_t *raw_bias, const nn_rq *rq, int8_t *out)
{
    const int32_t in_c = p->in_c, in_w = p->in_w, in_h = p->in_h;
    const int32_t f_h = p->f_h, f_w = p->f_w, out_c = p->out_c;
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        int32_t fy0, fy1;
        nn_clip(y0, f_h, in_h, &fy0, &fy1);
        for (int32_t ox = 0; ox < p->out_w; ++ox, out += out_c) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            int32_t fx0, fx1;
            nn_clip(x0, f_w, in_w, &fx0, &fx1);
            const int inside = fy0 == 0 && fy1 == f_h && fx0 == 0 && fx1 == f_w;
            if (!inside && (in_c & 3)) {
                nn_conv_pixel_padded(p, y0, x0, in, packed, filter, bias, raw_bias, rq,
                                     out);
            } else {
                nn_conv_pixel_packed(p, in + ((y0 + fy0) * in_w + x0 + fx0) * in_c, packed,
                                     inside ? bias : raw_bias, fy0, fy1, fx0, fx1, rq,
                                     in + in_h * in_w * in_c, out);
            }
        }
    }
}
#endif

/* Four channels (c .. c+3, depth multiplier 1) of one depthwise window over the taps
 * [fy0, fy1) x [fx0, fx1): consecutive bytes of input and filter. With `offset` the inputs
 * take in_offset (a clipped window, against the raw bias); a constant at every call site, so
 * each use compiles to its own loop. */
static inline __attribute__((always_inline)) void nn_dw4(const int8_t *x, const int8_t *f,
                                                         int32_t fy0, int32_t fy1, int32_t fx0,
                                                         int32_t fx1, int32_t row, int32_t col,
                                                         int32_t f_row, int32_t f_col,
                                                         int offset, int32_t off, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if NN_DSP
    const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
#endif
    for (int32_t fy = fy0; fy < fy1; ++fy) {
        const int8_t *xr = x + fy * row + fx0 * col;
        const int8_t *fr = f + fy * f_row + fx0 * f_col;
        for (int32_t fx = fx0; fx < fx1; ++fx) {
#if NN_DSP
            uint32_t xv = nn_load4(xr), wv = nn_load4(fr);
            int32_t x02 = (int32_t)__sxtb16(xv), x13 = nn_sxtb16_odd(xv);
            if (offset) {
                x02 = (int32_t)__sadd16(x02, off2);
                x13 = (int32_t)__sadd16(x13, off2);
            }
            int32_t w02 = (int32_t)__sxtb16(wv), w13 = nn_sxtb16_odd(wv);
            a0 = __smlabb(x02, w02, a0);
            a2 = __smlatt(x02, w02, a2);
            a1 = __smlabb(x13, w13, a1);
            a3 = __smlatt(x13, w13, a3);
#else
            const int32_t add = offset ? off : 0;
            a0 += (xr[0] + add) * fr[0];
            a1 += (xr[1] + add) * fr[1];
            a2 += (xr[2] + add) * fr[2];
            a3 += (xr[3] + add) * fr[3];
#endif
            xr += col;
            fr += f_col;
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#if NN_DSP
/* The same four channels with the weights packed at compile time as int16 pairs
 * (emit.pack_depthwise): per tap `w` holds (w0 | w2 << 16), (w1 | w3 << 16), so a tap is one
 * input load, two SXTB16, one LDRD and four 16 x 16 multiply-accumulates; a 3 x 3 window
 * inside the image (`full3x3`) is inline assembly. `add2`: the input offset in both halves for a
 * clipped window, else 0. */
static inline __attribute__((always_inline)) void nn_dw4_packed(const int8_t *x,
                                                                const int32_t *w,
                                                                int32_t fy0, int32_t fy1,
                                                                int32_t fx0, int32_t fx1,
                                                                int32_t f_w, int32_t row,
                                                                int32_t col, int full3x3,
                                                                int32_t add2, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    if (full3x3) {
        const int32_t col2 = 2 * col, gap = row;
        uint32_t xv, lo8, t0, t1;
#define NN_DW_TAP(at)                                                                          \
    "ldr %[xv], [%[x]" at "]\n\t"                                                              \
    "ldrd %[t0], %[t1], [%[w]], #8\n\t"                                                        \
    "sxtb16 %[lo8], %[xv]\n\t"                                                                 \
    "sxtb16 %[xv], %[xv], ror #8\n\t"                                                          \
    "smlabb %[a0], %[lo8], %[t0], %[a0]\n\t"                                                   \
    "smlatt %[a2], %[lo8], %[t0], %[a2]\n\t"                                                   \
    "smlabb %[a1], %[xv], %[t1], %[a1]\n\t"                                                    \
    "smlatt %[a3], %[xv], %[t1], %[a3]\n\t"
#define NN_DW_ROW NN_DW_TAP("") NN_DW_TAP(", %[col]") NN_DW_TAP(", %[col2]")
        __asm__ volatile(NN_DW_ROW "add %[x], %[x], %[gap]\n\t" NN_DW_ROW
                         "add %[x], %[x], %[gap]\n\t" NN_DW_ROW
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                           [x] "+r"(x), [w] "+r"(w), [xv] "=&r"(xv), [lo8] "=&r"(lo8),
                           [t0] "=&r"(t0), [t1] "=&r"(t1)
                         : [col] "r"(col), [col2] "r"(col2), [gap] "r"(gap)
                         : "memory");
#undef NN_DW_ROW
#undef NN_DW_TAP
    } else {
        for (int32_t fy = fy0; fy < fy1; ++fy) {
            const int8_t *xr = x + fy * row + fx0 * col;
            const int32_t *wr = w + 2 * (fy * f_w + fx0);
            for (int32_t fx = fx0; fx < fx1; ++fx) {
                uint32_t xv = nn_load4(xr);
                int32_t x02 = (int32_t)__sadd16(__sxtb16(xv), add2);
                int32_t x13 = (int32_t)__sadd16(nn_sxtb16_odd(xv), add2);
                a0 = __smlabb(x02, wr[0], a0);
                a2 = __smlatt(x02, wr[0], a2);
                a1 = __smlabb(x13, wr[1], a1);
                a3 = __smlatt(x13, wr[1], a3);
                xr += col;
                wr += 2;
            }
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#endif

/* DEPTHWISE_CONV_2D: output channel ic * depth_multiplier + m reads input channel ic;
 * filter layout [1, f_h, f_w, out_c]. `bias` has the input offset folded in, as for CONV_2D,
 * for windows inside the image; a clipped window takes `raw_bias` and x + in_offset over the
 * taps inside. With depth multiplier 1, four channels at a time: from `packed` weights on a
 * DSP core (nn_dw4_packed; then `filter` may be 0 and out_c is a multiple of 4), else from
 * `filter` (nn_dw4). */
static inline __attribute__((always_inline)) void nn_depthwise_conv2d(const nn_conv_params *p,
                                                                      const int8_t *in,
                                                                      const int8_t *filter,
                                                                      const int32_t *packed,
                                                                      const int32_t *bias,
                                                                      const int32_t *raw_bias,
                                                                      const nn_rq *rq,
                                                                      int8_t *out)
{
    const int32_t in_c = p->in_c, in_w = p->in_w, in_h = p->in_h;
    const int32_t f_h = p->f_h, f_w = p->f_w, out_c = p->out_c;
    const int32_t dil_h = p->dil_h, dil_w = p->dil_w, dm = p->depth_multiplier;
    const int32_t qm = p->rq_mask, qf = p->rq_fast, zo = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max, off = p->in_offset;
    const int32_t row = dil_h * in_w * in_c, col = dil_w * in_c;
#if NN_DSP
    const int32_t off2 = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
#else
    (void)packed; /* DSP cores only */
#endif
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        int32_t fy0, fy1;
        nn_clip_dilated(y0, f_h, dil_h, in_h, &fy0, &fy1);
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            int32_t fx0, fx1;
            nn_clip_dilated(x0, f_w, dil_w, in_w, &fx0, &fx1);
            const int inside = fy0 == 0 && fy1 == f_h && fx0 == 0 && fx1 == f_w;
            const int32_t *b = inside ? bias : raw_bias;
            const int8_t *base = in + (y0 * in_w + x0) * in_c;
            int32_t oc = 0;
#if NN_DSP
            if (packed) {
                const int32_t add2 = inside ? 0 : off2;
                const int full3x3 = inside && f_h == 3 && f_w == 3;
                const int32_t *g = packed;
                for (; oc < out_c; oc += 4, g += 2 * f_h * f_w) {
                    int32_t acc[4] = {b[oc], b[oc + 1], b[oc + 2], b[oc + 3]};
                    nn_dw4_packed(base + oc, g, fy0, fy1, fx0, fx1, f_w, row, col, full3x3,
                                  add2, acc);
                    nn_out8_4(acc, out + oc, rq, oc, qm, qf, zo, lo, hi);
                }
            }
#endif
            if (dm == 1) {
                for (; oc + 4 <= out_c; oc += 4) {
                    int32_t acc[4] = {b[oc], b[oc + 1], b[oc + 2], b[oc + 3]};
                    if (inside) {
                        nn_dw4(base + oc, filter + oc, 0, f_h, 0, f_w, row, col, f_w * out_c,
                               out_c, 0, off, acc);
                    } else {
                        nn_dw4(base + oc, filter + oc, fy0, fy1, fx0, fx1, row, col,
                               f_w * out_c, out_c, 1, off, acc);
                    }
                    nn_out8_4(acc, out + oc, rq, oc, qm, qf, zo, lo, hi);
                }
            }
            for (; oc < out_c; ++oc) {
                const int32_t ic = oc / dm;
                const int32_t add = inside ? 0 : off;
                int32_t acc = b[oc];
                for (int32_t fy = fy0; fy < fy1; ++fy) {
                    for (int32_t fx = fx0; fx < fx1; ++fx) {
                        const int32_t w = filter[(fy * f_w + fx) * out_c + oc];
                        acc += w * (base[fy * row + fx * col + ic] + add);
                    }
                }
                out[oc] = nn_out8(acc, rq + ((oc) & qm), qf, zo, lo, hi);
            }
            out += out_c;
        }
    }
}


/* FULLY_CONNECTED: weights [out_depth, accum_depth]; `bias` has the input offset folded in. */
static inline __attribute__((always_inline)) void nn_fully_connected(const nn_fc_params *p, const int8_t *in, const int8_t *weights,
                               const int32_t *bias, const nn_rq *rq,
                               int8_t *out)
{
    const int32_t n = p->accum_depth, depth = p->out_depth;
    const int32_t qm = p->rq_mask, qf = p->rq_fast, zo = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * n;
        int32_t oc = 0;
        for (; oc + 2 <= depth; oc += 2) {
            int32_t a0 = bias[oc], a1 = bias[oc + 1];
            nn_dot2(weights + oc * n, weights + (oc + 1) * n, x, n, 0, &a0, &a1);
            out[oc] = nn_out8(a0, rq + ((oc) & qm), qf, zo, lo, hi);
            out[oc + 1] = nn_out8(a1, rq + ((oc + 1) & qm), qf, zo, lo, hi);
        }
        if (oc < depth) { /* an odd last row */
            int32_t acc = nn_dot(weights + oc * n, x, n, bias[oc]);
            out[oc] = nn_out8(acc, rq + ((oc) & qm), qf, zo, lo, hi);
        }
        out += depth;
    }
}

/* MAX_POOL_2D over the window clipped to the image, then the activation clamp. */
static inline __attribute__((always_inline)) void nn_max_pool(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int32_t fy0 = y0 < 0 ? -y0 : 0;
        const int32_t fy1 = p->f_h < p->in_h - y0 ? p->f_h : p->in_h - y0;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            const int32_t fx0 = x0 < 0 ? -x0 : 0;
            const int32_t fx1 = p->f_w < p->in_w - x0 ? p->f_w : p->in_w - x0;
            for (int32_t c = 0; c < p->channels; ++c) {
                int32_t m = -128;
                for (int32_t fy = fy0; fy < fy1; ++fy) {
                    for (int32_t fx = fx0; fx < fx1; ++fx) {
                        int32_t v = in[((y0 + fy) * p->in_w + x0 + fx) * p->channels + c];
                        m = v > m ? v : m;
                    }
                }
                *out++ = (int8_t)nn_clamp(m, p->act_min, p->act_max);
            }
        }
    }
}

/* AVERAGE_POOL_2D: the sum over the clipped window divided by its tap count, rounding half
 * away from zero (C division truncates toward zero). */
static inline __attribute__((always_inline)) void nn_average_pool(const nn_pool_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t oy = 0; oy < p->out_h; ++oy) {
        const int32_t y0 = oy * p->stride_h - p->pad_h;
        const int32_t fy0 = y0 < 0 ? -y0 : 0;
        const int32_t fy1 = p->f_h < p->in_h - y0 ? p->f_h : p->in_h - y0;
        for (int32_t ox = 0; ox < p->out_w; ++ox) {
            const int32_t x0 = ox * p->stride_w - p->pad_w;
            const int32_t fx0 = x0 < 0 ? -x0 : 0;
            const int32_t fx1 = p->f_w < p->in_w - x0 ? p->f_w : p->in_w - x0;
            const int32_t count = (fy1 - fy0) * (fx1 - fx0);
            for (int32_t c = 0; c < p->channels; ++c) {
                int32_t acc = 0;
                for (int32_t fy = fy0; fy < fy1; ++fy) {
                    for (int32_t fx = fx0; fx < fx1; ++fx) {
                        acc += in[((y0 + fy) * p->in_w + x0 + fx) * p->channels + c];
                    }
                }
                if (count > 0) {
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                *out++ = (int8_t)nn_clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}

/* ADD of two same-shape int8 tensors: each input (less its zero point) is shifted left by
 * left_shift bits and rescaled to twice the larger input scale, the sum rescaled to the
 * output (every multiplier is below one). */
/* inlined at each call: its records are constants there, so the shifts fold */
static inline __attribute__((always_inline)) void nn_add(const nn_add_params *p, const int8_t *a,
                                                         const int8_t *b, int8_t *out)
{
    /* copies: the int8 stores below may alias the parameter block */
    const nn_rq q1 = p->in1_rq, q2 = p->in2_rq, qo = p->out_rq;
    const int32_t off1 = p->in1_offset, off2 = p->in2_offset, ls = p->left_shift;
    const int32_t zo = p->out_offset, lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < p->size; ++i) {
        int32_t x = (int32_t)((uint32_t)(a[i] + off1) << ls);
        int32_t y = (int32_t)((uint32_t)(b[i] + off2) << ls);
        int32_t sum = nn_rq_apply(x, &q1, q1.r1 >= 0) + nn_rq_apply(y, &q2, q2.r1 >= 0);
        out[i] = nn_out8(sum, &qo, qo.r1 >= 0, zo, lo, hi);
    }
}

/* SOFTMAX int8 -> int8 (output scale 1/256, zero point -128) in gemmlowp fixed point: the
 * differences to the row maximum are scaled by beta * input scale into Q5.26, exponentiated to
 * Q0.31, summed in Q12.19, and each exp is multiplied by the sum's reciprocal. */
NN_KERNEL void nn_softmax(const nn_softmax_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t i = 0; i < p->outer; ++i) {
        const int8_t *row = in + i * p->depth;
        int8_t *dst = out + i * p->depth;
        int32_t max = -128;
        for (int32_t c = 0; c < p->depth; ++c) {
            max = row[c] > max ? row[c] : max;
        }
        int32_t sum = 0;
        for (int32_t c = 0; c < p->depth; ++c) {
            int32_t diff = row[c] - max;
            if (diff >= p->diff_min) {
                int32_t scaled = nn_srdhm((int32_t)((uint32_t)diff << p->input_left_shift),
                                          p->input_multiplier);
                sum = nn_add_wrap(sum, nn_rdbpot(nn_exp_on_negative_q5_26(scaled), 12));
            }
        }
        /* reciprocal of the Q12.19 sum: normalise to [1, 2), 1 / (1 + x), remember the bits */
        int headroom_plus_one = nn_clz32((uint32_t)sum);
        int bits_over_unit = 12 - headroom_plus_one;
        int32_t shifted_minus_one =
            (int32_t)(((uint32_t)sum << headroom_plus_one) - ((uint32_t)1 << 31));
        int32_t scale = nn_one_over_one_plus(shifted_minus_one);
        int exponent = bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < p->depth; ++c) {
            int32_t diff = row[c] - max;
            int32_t v = -128;
            if (diff >= p->diff_min) {
                int32_t scaled = nn_srdhm((int32_t)((uint32_t)diff << p->input_left_shift),
                                          p->input_multiplier);
                int32_t e = nn_exp_on_negative_q5_26(scaled);
                v = nn_clamp(nn_rdbpot(nn_srdhm(scale, e), exponent) - 128, -128, 127);
            }
            dst[c] = (int8_t)v;
        }
    }
}

/* QUANTIZE int8 -> int8 (a change of scale inside the graph). */
NN_KERNEL void nn_requantize(const nn_requantize_params *p, const int8_t *in, int8_t *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        int32_t v = nn_mbqm(in[i] - p->in_zero_point, p->multiplier, p->shift);
        out[i] = (int8_t)nn_clamp(v + p->out_zero_point, -128, 127);
    }
}

NN_KERNEL void nn_copy(const int8_t *in, int8_t *out, int32_t n)
{
    for (int32_t i = 0; i < n; ++i) {
        out[i] = in[i];
    }
}

#endif
