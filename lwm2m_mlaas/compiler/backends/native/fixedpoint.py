"""TFLite's integer requantization arithmetic, in Python, for the compile-time constants the
emitted C needs and as the reference the C runtime's tests compare against.

TFLite (and TFLite-Micro, built without TFLITE_SINGLE_ROUNDING) rescales an int32 accumulator by
a real factor M in two roundings: M is split into a Q0.31 significand and a power of two
(QuantizeMultiplier), the accumulator is multiplied by the significand keeping the rounded high
half of the doubled 64-bit product (SaturatingRoundingDoublingHighMul, NEON's VQRDMULH), then
divided by the power of two rounding half away from zero (RoundingDivideByPOT). Scales are
float32 in the flatbuffer and are widened to double before the division, as TFLite does.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def _round_half_away(x: float) -> float:
    """std::round: halves go away from zero (unlike Python's round)."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(significand, shift) with real ~= significand * 2**(shift - 31), significand in
    [2**30, 2**31). A factor of 0 (or one too small for 31 right shifts) flushes to (0, 0)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)  # real = q * 2**shift, q in [0.5, 1)
    fixed = int(_round_half_away(q * (1 << 31)))
    if fixed == 1 << 31:  # q rounded up to 1.0: renormalise
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return fixed, shift


def f32(x: float) -> float:
    """The float32 value of x, as a Python float (the flatbuffer stores float32 scales)."""
    return float(np.float32(x))


def conv_multiplier(
    input_scale: float, filter_scale: float, output_scale: float
) -> tuple[int, int]:
    """CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED, per channel or per tensor: the product and
    quotient are taken in double from the float32 scales (TFLite-Micro's
    GetQuantizedConvolutionMultipler; a float32 product differs in the last bits of some
    multipliers and so, rarely, by one output step)."""
    return quantize_multiplier(f32(input_scale) * f32(filter_scale) / f32(output_scale))


def srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul: a * b / 2**31 rounded to nearest (a positive tie
    rounds up, a negative one toward zero: the nudge is 2**30 or 1 - 2**30 before a truncating
    division), the single overflow case (-2**31 * -2**31) saturating."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    total = ab + nudge
    # C++ divides truncating toward zero
    q = abs(total) >> 31
    return q if total >= 0 else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """Arithmetic right shift that rounds to nearest, ties away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def wrap32(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """x * multiplier * 2**(shift - 31), double rounding: a left shift before the high
    multiply, a rounding right shift after it."""
    left = shift if shift > 0 else 0
    right = -shift if shift < 0 else 0
    return rounding_divide_by_pot(srdhm(wrap32(x * (1 << left)), multiplier), right)


def quantize_float(value: float, scale: float, zero_point: int) -> int:
    """TFLite's Quantize() for activation bounds: float32 division, rounded half away."""
    q = np.float32(value) / np.float32(scale)
    return zero_point + int(_round_half_away(float(q)))


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """Clamp bounds of a fused activation (0 none, 1 RELU, 2 RELU_N1_TO_1, 3 RELU6) for an
    int8 output, as CalculateActivationRangeQuantized computes them."""
    lo, hi = -128, 127
    if activation == 1:
        lo = max(lo, quantize_float(0.0, scale, zero_point))
    elif activation == 2:
        lo = max(lo, quantize_float(-1.0, scale, zero_point))
        hi = min(hi, quantize_float(1.0, scale, zero_point))
    elif activation == 3:
        lo = max(lo, quantize_float(0.0, scale, zero_point))
        hi = min(hi, quantize_float(6.0, scale, zero_point))
    return lo, hi


SOFTMAX_DIFF_INTEGER_BITS = 5


def softmax_params(input_scale: float, beta: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) of int8 SOFTMAX: the input difference to
    the row maximum is scaled by beta * scale into Q5.26 (capped below 2**31), and differences
    below diff_min contribute nothing."""
    real = min(
        float(beta) * f32(input_scale) * (1 << (31 - SOFTMAX_DIFF_INTEGER_BITS)),
        float((1 << 31) - 1),
    )
    multiplier, shift = quantize_multiplier(real)
    radius = (
        ((1 << SOFTMAX_DIFF_INTEGER_BITS) - 1)
        * (1 << (31 - SOFTMAX_DIFF_INTEGER_BITS))
        / (1 << shift)
    )
    return multiplier, shift, -math.floor(radius)


ADD_LEFT_SHIFT = 20


def add_params(
    scale1: float, scale2: float, output_scale: float
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """int8 ADD: both inputs are shifted left by 20 bits, scaled to a common scale of twice the
    larger input scale, summed, and scaled to the output. Returns the three (multiplier, shift)
    pairs (shifts <= 0)."""
    twice_max = 2.0 * max(f32(scale1), f32(scale2))
    return (
        quantize_multiplier(f32(scale1) / twice_max),
        quantize_multiplier(f32(scale2) / twice_max),
        quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * f32(output_scale))),
    )
