/* The ML slot: which runtime this firmware offers, and installing a checked package into it.
 * The native runtime plugs in here (ml_install); until it exists nothing is runnable. */
#ifndef ML_H
#define ML_H

#include "package.h"

/* The native runtime name of a core ("native-armv7m" for cortex-m3, ...), "" if unknown. */
const char *ml_native_runtime(const char *core);
/* Whether the firmware can run packages of this manifest backend. */
int ml_supports(const char *backend);
/* Installs a package whose payload and signature were checked: the LwM2M Firmware Update
 * result, 1 (success) when the model runs. */
int ml_install(const struct package *pkg);

#endif
