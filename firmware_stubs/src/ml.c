/* The ML slot. The stub has no TFLite-Micro: it runs the native backend's modules (a flat,
 * position-independent image with the header of native_module.h, executed in place from the
 * model slot), for its core's ABI only. Install checks the header, then runs every golden
 * vector of the manifest and accepts the model only when each output is reproduced exactly.
 * The stub has no sensors: it infers on the golden inputs in turn, every cfg.interval ms, and
 * reports through the ML Inference object (32101). */
#include <string.h>

#include "firmware.h"
#include "fmt.h"
#include "lwm2m.h"
#include "ml.h"
#include "native_module.h"
#include "objects.h"
#include "platform.h"

#define ML_MAX_OUTPUT 1024u

typedef int (*invoke_fn)(const int8_t *input, int8_t *output, uint8_t *arena);

static const struct package *model;   /* installed: points into the model slot */
static invoke_fn invoke;
static uint8_t *arena;
static int8_t output[ML_MAX_OUTPUT] __attribute__((aligned(4)));
static uint32_t last_run, next_golden;

const char *ml_native_runtime(const char *core)
{
    if (!strcmp(core, "cortex-m3"))
        return "native-armv7m";
    if (!strcmp(core, "cortex-m4f") || !strcmp(core, "cortex-m7"))
        return "native-armv7em-hardfp";
    if (!strcmp(core, "cortex-m33"))
        return "native-armv8m-main-hardfp";
    return "";
}

/* The header's core code for ours: a module must be built for exactly this core. */
static uint32_t core_code(const char *core)
{
    static const char *const names[] = {"", "cortex-m0plus", "cortex-m3", "cortex-m4f",
                                        "cortex-m7", "cortex-m33"};
    uint32_t i;
    for (i = 1; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(core, names[i]))
            return i;
    return NATIVE_CORE_HOST;
}

int ml_supports(const char *backend)
{
    return obj.runtime[0] && !strcmp(backend, obj.runtime);
}

void ml_uninstall(void)
{
    if (model)
        log_str("ml stopped ", model->model);
    model = 0;
    invoke = 0;
    obj.model[0] = obj.model_version[0] = 0;
    obj.golden_passed = obj.golden_total = 0;
    lwm2m_changed();
}

/* The module's header against the manifest and this board: 0 or a Firmware Update result. */
static int check_module(const struct package *pkg, const native_module_header *h, size_t cap)
{
    if (pkg->payload.len < sizeof *h || h->magic != NATIVE_MODULE_MAGIC ||
        h->abi_version != NATIVE_MODULE_ABI_VERSION || h->header_bytes != sizeof *h ||
        h->entry_offset < sizeof *h || h->entry_offset >= pkg->payload.len) {
        platform_log("ml: not a native module of this ABI");
        return FW_UNSUPPORTED_PACKAGE;
    }
    if (h->core != core_code(platform_board()->core)) {
        log_num("ml: module built for another core, code ", (int32_t)h->core);
        return FW_UNSUPPORTED_PACKAGE;
    }
    if (h->arena_bytes > cap || h->arena_align > 8u || h->output.size > ML_MAX_OUTPUT) {
        log_num("ml: module needs an arena of ", (int32_t)h->arena_bytes);
        return FW_OUT_OF_RAM;
    }
    if ((uintptr_t)pkg->payload.data & 7u) {
        platform_log("ml: module not aligned in the slot");
        return FW_UPDATE_FAILED;
    }
    return 0;
}

/* Runs the golden vectors: how many reproduce exactly. */
static int32_t self_test(const struct package *pkg, const native_module_header *h, int32_t *n)
{
    struct bytes in, expected;
    int32_t passed = 0;
    size_t i;
    for (i = 0; !package_golden(pkg, i, &in, &expected); i++) {
        if (in.len != h->input.size || expected.len != h->output.size)
            continue;
        invoke((const int8_t *)in.data, output, arena);
        if (!memcmp(output, expected.data, expected.len))
            passed++;
        else
            log_num("ml: golden vector differs, index ", (int32_t)i);
    }
    *n = (int32_t)i;
    return passed;
}

int ml_install(const struct package *pkg)
{
    const native_module_header *h = (const native_module_header *)pkg->payload.data;
    size_t cap;
    int r;

    ml_uninstall();
    if (!ml_supports(pkg->backend))
        return FW_UNSUPPORTED_PACKAGE;
    arena = platform_ml_arena(&cap);
    r = check_module(pkg, h, cap);
    if (r)
        return r;
#if defined(__arm__) && defined(__thumb__) && !defined(__ARM_ARCH_ISA_ARM)
    /* The slot was written as data: complete those writes before fetching them as code. */
    __asm volatile("dsb\n\tisb" ::: "memory");
    invoke = (invoke_fn)((uintptr_t)pkg->payload.data + h->entry_offset + 1u);  /* Thumb */
#else
    platform_log("ml: this build cannot execute Cortex-M modules");
    return FW_UPDATE_FAILED;
#endif
    obj.golden_passed = self_test(pkg, h, &obj.golden_total);
    log_num("ml golden vectors reproduced ", obj.golden_passed);
    if (!obj.golden_total || obj.golden_passed != obj.golden_total) {
        invoke = 0;
        return FW_UPDATE_FAILED;
    }
    model = pkg;
    str_copy(obj.model, sizeof obj.model, pkg->model);
    str_copy(obj.model_version, sizeof obj.model_version, pkg->version);
    next_golden = 0;
    last_run = platform_millis();
    log_str("ml running ", pkg->model);
    return FW_SUCCESS;
}

static float dequantize(const struct tensor_spec *spec, int8_t q)
{
    return ((float)q - (float)spec->zero_point) * spec->scale;
}

/* Last Output and Last Score as the simulated devices report them: the top class and its
 * probability, the anomaly verdict and reconstruction error, or the regressed value. */
static void interpret(const struct bytes *in, size_t n)
{
    struct sbuf b;
    size_t i, top = 0;
    float y, score;
    sb_init(&b, obj.last_output, sizeof obj.last_output);
    if (!strcmp(model->kind, "classification")) {
        struct bytes label;
        for (i = 1; i < n; i++)
            if (output[i] > output[top])
                top = i;
        score = dequantize(&model->output, output[top]);
        obj.last_score = score < 0 ? 0 : score > 1 ? 1 : score;
        if (!package_label(model, top, &label))
            sb_mem(&b, (const char *)label.data, label.len);
        else
            sb_i32(&b, (int32_t)top);
    } else if (!strcmp(model->kind, "anomaly") && in->len == n) {
        float error = 0;
        for (i = 0; i < n; i++) {
            float d = dequantize(&model->input, (int8_t)in->data[i]) -
                      dequantize(&model->output, output[i]);
            error += d * d;
        }
        obj.last_score = error / (float)n;
        if (model->has_threshold)
            sb_str(&b, obj.last_score > model->threshold ? "anomalous" : "normal");
        else
            sb_milli(&b, obj.last_score);
    } else {
        y = dequantize(&model->output, output[0]);
        obj.last_score = y;
        sb_milli(&b, y);
    }
}

void ml_poll(uint32_t now)
{
    struct bytes in, expected;
    uint64_t start;
    if (!invoke || !model || !obj.enabled || !cfg.interval || now - last_run < cfg.interval)
        return;
    last_run = now;
    if (package_golden(model, next_golden, &in, &expected)) {
        next_golden = 0;
        if (package_golden(model, 0, &in, &expected))
            return;
    }
    next_golden++;
    /* the latency at the device class's clock (one instruction per cycle): the instructions the
     * emulated core ran, not the host's time */
    start = platform_instructions();
    invoke((const int8_t *)in.data, output, arena);
    obj.latency = (int32_t)((platform_instructions() - start) / platform_board()->clock_mhz);
    obj.inferences++;
    interpret(&in, expected.len);  /* the output's element count */
    lwm2m_changed();
}
