/* The header at offset 0 of a native-backend model module (a flat, position-independent
 * image: header, code, constants; no writable data, no relocations). The firmware reads it,
 * checks magic and ABI version, provides `arena_bytes` of 4-byte aligned RAM, and calls
 *
 *     int (*invoke)(const int8_t *input, int8_t *output, uint8_t *arena) =
 *         (void *)((uintptr_t)module + header->entry_offset + 1);   (+1: Thumb)
 *
 * which returns 0. Input and output are int8 tensors, NHWC, batch 1, as the specs say. */
#ifndef NATIVE_MODULE_H
#define NATIVE_MODULE_H

#include <stdint.h>

#define NATIVE_MODULE_MAGIC 0x314E4C4Du /* bytes "MLN1" */
#define NATIVE_MODULE_ABI_VERSION 1u
#define NATIVE_ENTRY_OFFSET 128u /* the module's linker script puts model_invoke here */
#define NATIVE_MAX_RANK 6

#define NATIVE_DTYPE_INT8 1u
/* the .tflite's own edge was float32 (or uint8) with a QUANTIZE / DEQUANTIZE the module leaves
 * to the caller: q = round(x / scale) + zero_point, x = (q - zero_point) * scale */
#define NATIVE_SPEC_EDGE_CONVERTED 1u

/* cores (the `core` field) */
#define NATIVE_CORE_HOST 0u
#define NATIVE_CORE_CORTEX_M0PLUS 1u
#define NATIVE_CORE_CORTEX_M3 2u
#define NATIVE_CORE_CORTEX_M4F 3u
#define NATIVE_CORE_CORTEX_M7 4u
#define NATIVE_CORE_CORTEX_M33 5u

typedef struct {
    uint8_t dtype;      /* NATIVE_DTYPE_INT8 */
    uint8_t rank;
    uint8_t flags;      /* NATIVE_SPEC_EDGE_CONVERTED */
    uint8_t reserved;
    int32_t zero_point;
    float scale;
    uint32_t size;      /* elements (= bytes) */
    int32_t shape[NATIVE_MAX_RANK];
} native_tensor_spec; /* 40 bytes */

typedef struct {
    uint32_t magic;        /* NATIVE_MODULE_MAGIC */
    uint16_t abi_version;  /* NATIVE_MODULE_ABI_VERSION */
    uint16_t header_bytes; /* sizeof(native_module_header) */
    uint32_t entry_offset; /* byte offset of model_invoke from the module start */
    uint32_t arena_bytes;  /* RAM the caller passes as `arena` */
    uint32_t arena_align;  /* its alignment in bytes */
    uint32_t core;         /* NATIVE_CORE_* the module was built for */
    native_tensor_spec input;
    native_tensor_spec output;
} native_module_header; /* 104 bytes */

#ifndef NATIVE_CORE
#define NATIVE_CORE NATIVE_CORE_HOST
#endif

#ifdef NATIVE_MODULE_BUILD
/* a module: header and entry go to the sections the linker script places first */
#define NN_HEADER_ATTRIBUTES __attribute__((section(".native_header"), used))
#define NN_ENTRY_ATTRIBUTES __attribute__((section(".native_entry"), used))
#else
#define NN_HEADER_ATTRIBUTES
#define NN_ENTRY_ATTRIBUTES
#endif
#define NN_ALIGNED __attribute__((aligned(4)))

/* A profiling build (-DNN_PROFILE) calls the caller's mark function at each operator boundary:
 * mark(0) on entry and mark(k) after step k, through the pointer the caller stored in the 4
 * bytes at arena + NN_PROFILE_SLOT (arena_bytes rounded up to 4). Other builds do not. */
typedef void (*native_mark_fn)(uint32_t step);
#ifdef NN_PROFILE
#define NN_MARK(k) ((*(native_mark_fn const *)(const void *)(arena + NN_PROFILE_SLOT))(k))
#else
#define NN_MARK(k) ((void)0)
#endif

#endif
