/* The ML slot: which runtime this firmware offers (the native backend's, for its core),
 * installing a checked package into it and running the installed model. */
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
/* Stops the model (its package is about to be overwritten). */
void ml_uninstall(void);
/* Runs an inference when one is due. */
void ml_poll(uint32_t now);

#endif
