/* Reset and exception vectors for the mps2 boards (ARMv7-M and ARMv8-M Mainline).
 * QEMU loads the ELF and starts the core from the table at VTOR: 0x00000000 on the
 * an385/an386/an500, INITSVTOR = 0x10000000 (Secure) on the an505; the linker script puts
 * .vectors first in CODE, which is where each board's code memory starts. */
#include <stdint.h>

#include "crt.h"
#include "mps2.h"
#include "platform.h"

extern uint32_t __stack_top[];

void Reset_Handler(void);
void SysTick_Handler(void);   /* platform.c */
static void Fault_Handler(void);
static void Default_Handler(void);

/* 16 system exceptions; no external interrupts are enabled, everything polls. */
__attribute__((section(".vectors"), used))
static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top,  /* 0: initial MSP */
    Reset_Handler,                /* 1 */
    Default_Handler,              /* 2: NMI (the CMSDK watchdog on mps2) */
    Fault_Handler,                /* 3: HardFault */
    Fault_Handler,                /* 4: MemManage */
    Fault_Handler,                /* 5: BusFault (e.g. a PPC/MPC-blocked access on an505) */
    Fault_Handler,                /* 6: UsageFault (e.g. FPU used while disabled) */
    Fault_Handler,                /* 7: SecureFault (v8-M), reserved on v7-M */
    0, 0, 0,                      /* 8-10: reserved */
    Default_Handler,              /* 11: SVCall */
    Default_Handler,              /* 12: DebugMonitor */
    0,                            /* 13: reserved */
    Default_Handler,              /* 14: PendSV */
    SysTick_Handler,              /* 15: SysTick */
};

void Reset_Handler(void)
{
#if BOARD_HAS_FPU
    /* CPACR.CP10/CP11 = 0b11: full access to the FPU before any code may use it. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    SCB_VTOR = (uint32_t)(uintptr_t)vectors;
    crt_start();
}

static void put_hex(char *p, uint32_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 4)
        p[i] = "0123456789abcdef"[v & 0xF];
}

static void Fault_Handler(void)
{
    /* Configurable Fault Status (CFSR), HardFault Status (HFSR) and the faulting address
     * (MMFAR/BFAR, valid when CFSR.MMARVALID/BFARVALID) say what went wrong. */
    char line[] = "fault CFSR=xxxxxxxx HFSR=xxxxxxxx BFAR=xxxxxxxx";
    put_hex(line + 11, REG32(0xE000ED28u));
    put_hex(line + 25, REG32(0xE000ED2Cu));
    put_hex(line + 39, REG32(0xE000ED38u));
    platform_log(line);
    platform_exit(70);
}

static void Default_Handler(void)
{
    platform_log("unexpected exception");
    platform_exit(71);
}
