/* Internals of the mps2 platform: Cortex-M system registers, and the Ethernet driver's face
 * toward the IP layer (eth.h). Register names follow the ARMv7-M/ARMv8-M Architecture Reference
 * Manuals (SCB, SysTick). */
#ifndef MPS2_H
#define MPS2_H

#include <stddef.h>
#include <stdint.h>

#include "board.h"

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* System Control Space (same addresses on v7-M and v8-M; the Secure view on the an505). */
#define SYST_CSR REG32(0xE000E010u)   /* SysTick Control and Status */
#define SYST_RVR REG32(0xE000E014u)   /* SysTick Reload Value */
#define SYST_CVR REG32(0xE000E018u)   /* SysTick Current Value */
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)  /* 1: the processor clock */
#define SCB_VTOR REG32(0xE000ED08u)   /* Vector Table Offset */
#define SCB_CPACR REG32(0xE000ED88u)  /* Coprocessor Access Control: CP10/CP11 = FPU */

/* Ethernet MAC: eth_init/eth_send/eth_recv (lan9118.c or smc91x.c, see eth.h). */
#include "eth.h"

#endif
