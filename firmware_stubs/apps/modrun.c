/* Runs a native-backend model module (lwm2m_mlaas/compiler/backends/native) on the board:
 *
 *   module=/tmp/m.bin inputs=/tmp/in.bin outputs=/tmp/out.bin count=N [offset=8] [arena_offset=4]
 *   [profile=1]
 *
 * on the command line (QEMU -append); the files are the host's, reached through ARM
 * semihosting (QEMU -semihosting-config enable=on,target=native). The module image is copied
 * into the model slot at `offset` bytes past its start (8 by default: 8-byte aligned, neither
 * the slot's 16-byte alignment nor the address 0 the module was linked at, so a module that
 * is not position independent computes garbage or faults), its header is checked (magic, ABI
 * version, core, entry, arena against platform_ml_arena), the arena is filled with a pattern
 * (a module must not rely on zeroed or preserved memory) and passed `arena_offset` bytes in
 * (4 by default: only the 4-byte alignment the header asks for). Then for each of the N
 * inputs (int8, header input.size bytes each, back to back in `inputs`) it calls
 * model_invoke and appends the output (output.size bytes) to `outputs`.
 *
 * Timing: platform_cycles(), SysTick's count of processor cycles (QEMU: BOARD_SYSCLK_HZ) with
 * single-cycle resolution over any length (64-bit). Per inference the UART shows
 *
 *   modrun: inference <i> cycles <n>
 *
 * with n = (after - before - overhead), overhead being two back-to-back timestamps. The
 * periodic SysTick interrupt (a few instructions per ms) is included. First lines:
 *
 *   modrun: board <board> core <core> sysclk <hz>
 *   modrun: module <bytes> B at 0x... arena <bytes> B at 0x... input <n> output <n> overhead <c>
 *
 * and last `modrun: done <N> inferences cycles total <sum>`.
 *
 * profile=1 runs a profiling build (NN_MARK in native_module.h): modrun stores its mark
 * function after the arena and, for the first inference, shows each step's cycles less the
 * mark's own cost: `modrun: step <k> cycles <n>`.
 *
 * Exit status: 0 done, 2 bad command line, 3 host file error, 4 not a module (magic, ABI,
 * header, entry), 5 module larger than the model slot, 6 built for another core, 7 arena too
 * small, 8 model_invoke returned non-zero (70: a fault, see platform/mps2/README.md).
 * Uses platform.h (and the generated board.h for the board's core and SysTick clock) only. */
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "cmdline.h"
#include "native_module.h"
#include "platform.h"
#include "semihosting.h"


typedef int (*model_invoke_fn)(const int8_t *input, int8_t *output, uint8_t *arena);

/* NATIVE_CORE_* for the board's core (the catalogue's name in board.h). */
static uint32_t board_core_code(void)
{
    static const char *const names[] = {"host", "cortex-m0plus", "cortex-m3", "cortex-m4f",
                                        "cortex-m7", "cortex-m33"};
    for (uint32_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i], BOARD_CORE) == 0)
            return i;
    return 0xFFFFFFFFu;
}

/* ---- Semihosting file I/O (platform/semihosting.h) --------------------------------------- */

#define OPEN_RB 1u /* fopen modes by index: 1 "rb", 5 "wb" */
#define OPEN_WB 5u

static int sh_open(const char *name, uint32_t mode)
{
    uint32_t block[3] = {(uint32_t)(uintptr_t)name, mode, (uint32_t)strlen(name)};
    return semihost(SYS_OPEN, block);
}

static void sh_close(int fd)
{
    uint32_t block[1] = {(uint32_t)fd};
    semihost(SYS_CLOSE, block);
}

static int sh_flen(int fd)
{
    uint32_t block[1] = {(uint32_t)fd};
    return semihost(SYS_FLEN, block);
}

/* 0 when all `len` bytes were read (SYS_READ returns the bytes it did not read). */
static int sh_read(int fd, void *buf, size_t len)
{
    uint32_t block[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    return semihost(SYS_READ, block) == 0 ? 0 : -1;
}

static int sh_write(int fd, const void *buf, size_t len)
{
    uint32_t block[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    return semihost(SYS_WRITE, block) == 0 ? 0 : -1;
}

/* ---- Per-step profile (a module built with NN_PROFILE) ---------------------------------- */

#define MAX_STEPS 256u

static uint64_t stamps[MAX_STEPS + 1];
static uint32_t marks;

static void mark(uint32_t step)
{
    if (step <= MAX_STEPS) {
        stamps[step] = platform_cycles();
        marks = step + 1u > marks ? step + 1u : marks;
    }
}

/* ---- Command line and log --------------------------------------------------------------- */

static long number_arg(const char *cmdline, const char *key, long fallback)
{
    char text[24];
    return arg(cmdline, key, text, sizeof text) ? fallback : strtol(text, NULL, 0);
}

static char line[256];

static void put(const char *text)
{
    size_t len = strlen(line), n = strlen(text);
    if (len + n >= sizeof line)
        n = sizeof line - len - 1;
    memcpy(line + len, text, n);
    line[len + n] = '\0';
}

static void put_u64(uint64_t v)
{
    char digits[24], *p = digits + sizeof digits - 1;
    *p = '\0';
    do {
        *--p = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    put(p);
}

static void put_hex(uint32_t v)
{
    char digits[11] = "0x";
    for (int i = 0; i < 8; i++)
        digits[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xFu];
    digits[10] = '\0';
    put(digits);
}

static int fail(int code, const char *what)
{
    line[0] = '\0';
    put("modrun: error: ");
    put(what);
    platform_log(line);
    return code;
}

/* ---- Main ------------------------------------------------------------------------------- */

#define MAX_TENSOR 65536u

int main(void)
{
    static char cmdline[512], module_path[160], inputs_path[160], outputs_path[160];
    static int8_t input[MAX_TENSOR] __attribute__((aligned(4)));
    static int8_t output[MAX_TENSOR] __attribute__((aligned(4)));

    platform_init();
    platform_cmdline(cmdline, sizeof cmdline);
    long count = number_arg(cmdline, "count", -1);
    long offset = number_arg(cmdline, "offset", 8);
    long arena_offset = number_arg(cmdline, "arena_offset", 4);
    long profile = number_arg(cmdline, "profile", 0);
    if (arg(cmdline, "module", module_path, sizeof module_path)
        || arg(cmdline, "inputs", inputs_path, sizeof inputs_path)
        || arg(cmdline, "outputs", outputs_path, sizeof outputs_path) || count < 0
        || offset < 0 || offset % 4 || arena_offset < 0 || arena_offset % 4) {
        platform_log("usage: module=F inputs=F outputs=F count=N [offset=8] [arena_offset=4]");
        return 2;
    }

    /* Load the image into the model slot, `offset` bytes in. */
    size_t slot_bytes, arena_capacity;
    uint8_t *slot = platform_model_slot(&slot_bytes);
    uint8_t *ml_arena = platform_ml_arena(&arena_capacity);
    int fd = sh_open(module_path, OPEN_RB);
    if (fd < 0)
        return fail(3, "cannot open the module");
    int image_bytes = sh_flen(fd);
    if (image_bytes < (int)sizeof(native_module_header)) {
        sh_close(fd);
        return fail(4, "not a module: shorter than its header");
    }
    if ((size_t)image_bytes + (size_t)offset > slot_bytes) {
        sh_close(fd);
        return fail(5, "module larger than the model slot");
    }
    uint8_t *base = slot + offset;
    int read_failed = sh_read(fd, base, (size_t)image_bytes);
    sh_close(fd);
    if (read_failed)
        return fail(3, "cannot read the module");
    /* Code was written as data: complete the writes, refetch (ARMv7-M A3.7.3). */
    __asm__ volatile("dsb\n\tisb" ::: "memory");

    const native_module_header *h = (const native_module_header *)base;
    if (h->magic != NATIVE_MODULE_MAGIC)
        return fail(4, "not a module: bad magic");
    if (h->abi_version != NATIVE_MODULE_ABI_VERSION || h->header_bytes != sizeof *h)
        return fail(4, "unsupported module ABI version");
    if (h->entry_offset < h->header_bytes || h->entry_offset >= (uint32_t)image_bytes
        || (h->entry_offset & 1u))
        return fail(4, "entry outside the image");
    if (h->core != board_core_code())
        return fail(6, "module built for another core");
    if (h->input.size > MAX_TENSOR || h->output.size > MAX_TENSOR)
        return fail(4, "tensor larger than modrun's buffers");
    uint32_t align = h->arena_align ? h->arena_align : 4u;
    uint8_t *arena = ml_arena + arena_offset;
    if ((align & (align - 1u)) || ((uintptr_t)arena & (align - 1u)))
        return fail(7, "arena alignment");
    if ((size_t)arena_offset + h->arena_bytes > arena_capacity)
        return fail(7, "module arena larger than the board's ML arena");
    memset(arena, 0xA5, h->arena_bytes);
    uint64_t mark_cost = 0;
    if (profile) {
        uint32_t slot = (h->arena_bytes + 3u) & ~3u;
        if ((size_t)arena_offset + slot + sizeof(native_mark_fn) > arena_capacity)
            return fail(7, "no room for the profile's mark after the arena");
        native_mark_fn fn = mark;
        memcpy(arena + slot, &fn, sizeof fn);
        mark(0);
        mark(1);
        mark_cost = stamps[1] - stamps[0];
        marks = 0;
    }
    model_invoke_fn invoke = (model_invoke_fn)(uintptr_t)((uintptr_t)base + h->entry_offset + 1u);

    uint64_t t0 = platform_cycles();
    uint64_t overhead = platform_cycles() - t0;
    line[0] = '\0';
    put("modrun: board ");
    put(BOARD_NAME);
    put(" core ");
    put(BOARD_CORE);
    put(" sysclk ");
    put_u64(BOARD_SYSCLK_HZ);
    platform_log(line);
    line[0] = '\0';
    put("modrun: module ");
    put_u64((uint32_t)image_bytes);
    put(" B at ");
    put_hex((uint32_t)(uintptr_t)base);
    put(" arena ");
    put_u64(h->arena_bytes);
    put(" B at ");
    put_hex((uint32_t)(uintptr_t)arena);
    put(" input ");
    put_u64(h->input.size);
    put(" output ");
    put_u64(h->output.size);
    put(" overhead ");
    put_u64(overhead);
    platform_log(line);

    int in_fd = sh_open(inputs_path, OPEN_RB);
    if (in_fd < 0)
        return fail(3, "cannot open the inputs");
    int out_fd = sh_open(outputs_path, OPEN_WB);
    if (out_fd < 0) {
        sh_close(in_fd);
        return fail(3, "cannot open the outputs");
    }
    uint64_t total = 0;
    int status = 0;
    for (long i = 0; i < count; i++) {
        if (sh_read(in_fd, input, h->input.size)) {
            status = fail(3, "inputs file too short");
            break;
        }
        uint64_t before = platform_cycles();
        int rc = invoke(input, output, arena);
        uint64_t after = platform_cycles();
        uint64_t cycles = after - before - overhead;
        if (rc != 0) {
            status = fail(8, "model_invoke returned non-zero");
            break;
        }
        total += cycles;
        if (sh_write(out_fd, output, h->output.size)) {
            status = fail(3, "cannot write the outputs");
            break;
        }
        for (uint32_t k = 1; profile && i == 0 && k < marks; k++) {
            line[0] = '\0';
            put("modrun: step ");
            put_u64(k - 1u);
            put(" cycles ");
            uint64_t spent = stamps[k] - stamps[k - 1u];
            put_u64(spent > mark_cost ? spent - mark_cost : 0u);
            platform_log(line);
        }
        line[0] = '\0';
        put("modrun: inference ");
        put_u64((uint64_t)i);
        put(" cycles ");
        put_u64(cycles);
        platform_log(line);
    }
    sh_close(in_fd);
    sh_close(out_fd);
    if (status)
        return status;
    line[0] = '\0';
    put("modrun: done ");
    put_u64((uint64_t)count);
    put(" inferences cycles total ");
    put_u64(total);
    platform_log(line);
    return 0;
}
