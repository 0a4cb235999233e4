"""Compiler backends beyond TFLite-Micro: code generators that turn an int8 .tflite into a
runtime specialised for one model (see native/)."""
