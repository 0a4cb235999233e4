/* The ML slot. The stub has no TFLite-Micro: it reports only the core's native runtime, and
 * the native runtime itself is not there yet, so ml_install() refuses with result 8. */
#include <string.h>

#include "firmware.h"
#include "fmt.h"
#include "ml.h"
#include "objects.h"
#include "platform.h"

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

int ml_supports(const char *backend)
{
    return obj.runtime[0] && !strcmp(backend, obj.runtime);
}

int ml_install(const struct package *pkg)
{
    if (!ml_supports(pkg->backend))
        return FW_UNSUPPORTED;
    if (pkg->arena_bytes > (uint32_t)obj.ml_ram)
        return FW_OUT_OF_RAM;
    /* hook for the native runtime: place pkg->payload, reserve pkg->arena_bytes, run the
     * golden vectors (package_golden) and report FW_SUCCESS when they reproduce */
    log_str("install: no native runtime yet for ", pkg->model);
    return FW_FAILED;
}
