/* TFLite's integer requantization and gemmlowp's fixed-point exp/reciprocal, in C99, for the
 * native backend's kernels. Written from the behaviour of TFLite's reference kernels (double
 * rounding, as TFLite-Micro builds without TFLITE_SINGLE_ROUNDING); no TFLite code is copied.
 * Everything is static: the whole model is one translation unit. */
#ifndef NN_FIXEDPOINT_H
#define NN_FIXEDPOINT_H

#include <stdint.h>

/* kernels the model may not call: no unused-function warnings */
#define NN_KERNEL static __attribute__((unused))

#define NN_INT32_MIN (-2147483647 - 1)
#define NN_INT32_MAX 2147483647

/* a * b / 2^31 rounded to nearest (nudge 2^30 or 1 - 2^30, then truncation, so a negative tie
 * goes toward zero); the one overflowing case saturates (VQRDMULH). Nudging by 2^30 either way
 * and flooring is the same integer: for a * b < 0, truncating (a * b + 1 - 2^30) / 2^31 equals
 * flooring (a * b + 2^30) / 2^31. So one multiply-accumulate and a 64-bit shift. */
static inline int32_t nn_srdhm_unsaturated(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

static inline int32_t nn_srdhm(int32_t a, int32_t b)
{
    if (a == b && a == NN_INT32_MIN) {
        return NN_INT32_MAX;
    }
    return nn_srdhm_unsaturated(a, b);
}

/* x / 2^e rounded to nearest, ties away from zero (0 <= e <= 31): add half and floor, one less
 * for a negative x (unsigned for a non-negative one, so x + half cannot overflow). */
static inline int32_t nn_rdbpot(int32_t x, int e)
{
    int32_t half = (int32_t)(((uint32_t)1 << e) >> 1);
    if (x >= 0) {
        return (int32_t)(((uint32_t)x + (uint32_t)half) >> e);
    }
    return (x + half - (e > 0 ? 1 : 0)) >> e;
}

/* x * m * 2^(shift - 31): left shift (wrapping) before the high multiply, rounding right
 * shift after it, as TFLite's MultiplyByQuantizedMultiplier. m is a requantization multiplier,
 * in [0, 2^31), so the high multiply cannot saturate. */
static inline int32_t nn_mbqm(int32_t x, int32_t m, int shift)
{
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return nn_rdbpot(nn_srdhm_unsaturated((int32_t)((uint32_t)x << left), m), right);
}

/* nn_mbqm for a right shift r >= 1 (a negative shift, the usual case), without branches: the
 * high multiply, then x + half, one less for a negative x (unsigned for a non-negative one, so
 * it cannot overflow), shifted arithmetically or logically by the sign. */
static inline int32_t nn_mbqm_right(int32_t x, int32_t m, int32_t r)
{
    int32_t s = nn_srdhm_unsaturated(x, m);
    uint32_t t = (uint32_t)s + (((uint32_t)1 << r) >> 1) + (uint32_t)(s >> 31);
    return s < 0 ? (int32_t)t >> r : (int32_t)(t >> r);
}

/* nn_mbqm, by the branch-free nn_mbqm_right when the shift is negative */
static inline int32_t nn_requantize_fast(int32_t x, int32_t m, int shift)
{
    return shift < 0 ? nn_mbqm_right(x, m, -shift) : nn_mbqm(x, m, shift);
}

/* gemmlowp's saturating multiply by 2^e, e > 0. */
static inline int32_t nn_sat_shl(int32_t x, int e)
{
    int32_t threshold = (int32_t)(((uint32_t)1 << (31 - e)) - 1u);
    if (x > threshold) {
        return NN_INT32_MAX;
    }
    if (x < -threshold) {
        return NN_INT32_MIN;
    }
    return (int32_t)((uint32_t)x << e);
}

static inline int32_t nn_add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8. */
NN_KERNEL int32_t nn_exp_quarter(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668;
    const int32_t one_third = 715827883;
    int32_t x = nn_add_wrap(a, 1 << 28);
    int32_t x2 = nn_srdhm(x, x);
    int32_t x3 = nn_srdhm(x2, x);
    int32_t x4 = nn_srdhm(x2, x2);
    int32_t x4_over_4 = nn_rdbpot(x4, 2);
    int32_t poly = nn_rdbpot(
        nn_add_wrap(nn_srdhm(nn_add_wrap(x4_over_4, x3), one_third), x2), 1);
    return nn_add_wrap(exp_minus_one_eighth,
                       nn_srdhm(exp_minus_one_eighth, nn_add_wrap(x, poly)));
}

/* exp(a) for a <= 0 given in Q5.26, result in Q0.31: exp of the residue modulo 1/4, times
 * exp(-2^k) for every bit k of the rest. */
NN_KERNEL int32_t nn_exp_on_negative_q5_26(int32_t a)
{
    static const int32_t factors[7] = {
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t quarter = 1 << 24;
    int32_t residue = (int32_t)((a & (quarter - 1)) - quarter);
    int32_t result = nn_exp_quarter(nn_sat_shl(residue, 5));
    int32_t remainder = (int32_t)((uint32_t)residue - (uint32_t)a);
    for (int k = 0; k < 7; ++k) {
        if (remainder & (int32_t)((uint32_t)1 << (24 + k))) {
            result = nn_srdhm(result, factors[k]);
        }
    }
    return a == 0 ? NN_INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31: three Newton-Raphson steps in Q2.29. */
NN_KERNEL int32_t nn_one_over_one_plus(int32_t a)
{
    int64_t sum = (int64_t)a + (int64_t)NN_INT32_MAX;
    int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = nn_add_wrap(1515870810, nn_srdhm(half_denominator, -1010580540));
    for (int i = 0; i < 3; ++i) {
        int32_t one_minus = (int32_t)((uint32_t)(1 << 29) - (uint32_t)nn_srdhm(half_denominator, x));
        x = nn_add_wrap(x, nn_sat_shl(nn_srdhm(x, one_minus), 2));
    }
    return nn_sat_shl(x, 1);
}

NN_KERNEL int nn_clz32(uint32_t x)
{
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

#endif
