"""One TFLite-Micro run with a given arena, in its own process (a far too small arena crashes it):

    python -m lwm2m_mlaas.compiler._tflm_probe MODEL.tflite INPUT.bin ARENA_BYTES

INPUT.bin holds the raw int8 input tensor. On success: exit 0, the hex of the raw output tensor
on stdout and the recording allocator's report on stderr ("Arena allocation total N bytes"). A
failed allocation or invoke exits 3 with TFLite-Micro's reason ("... missing: N") on stderr.
Imports only TFLite-Micro and numpy, never TensorFlow.
"""

from __future__ import annotations

import sys

import numpy as np
from tflite_micro import runtime

FAILED = 3


def main(argv: list[str]) -> int:
    model_path, input_path, arena = argv[0], argv[1], int(argv[2])
    with open(model_path, "rb") as f:
        model = f.read()
    try:
        interpreter = runtime.Interpreter.from_bytes(model, arena_size=arena)
        details = interpreter.get_input_details(0)
        x = np.fromfile(input_path, np.int8).reshape(details["shape"])
        interpreter.set_input(x, 0)
        interpreter.invoke()
        output = np.asarray(interpreter.get_output(0))
    except (RuntimeError, ValueError) as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return FAILED
    interpreter.print_allocations()  # to the C stderr: "Arena allocation total N bytes"
    print(output.astype(np.int8).tobytes().hex())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
