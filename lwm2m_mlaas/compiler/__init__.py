"""The TinyML compiler: quantize, check ops, measure on TFLite-Micro, fit, verify, package."""
