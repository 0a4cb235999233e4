/* Internals of the versatilepb platform: QEMU's ARM Versatile/PB926EJ-S (hw/arm/versatilepb.c).
 * Register names follow the ARM PrimeCell UART (PL011) and Dual-Timer (SP804) Technical
 * Reference Manuals and the ARM926EJ-S TRM (CP15 fault status and address). */
#ifndef VERSATILE_H
#define VERSATILE_H

#include <stdint.h>

#include "board.h"

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#define TIMER0_BASE 0x101E2000u       /* SP804 timers 0/1; QEMU clocks them at 1 MHz */

#endif
