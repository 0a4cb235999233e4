/* Reset and exception vectors for QEMU versatilepb (ARM926EJ-S, ARMv5TEJ, ARM state).
 * QEMU loads the ELF and starts at its entry in SVC mode with IRQ and FIQ masked; the low
 * vectors at 0x00000000 are the first words of the image (mps2.ld puts .vectors first in CODE,
 * which starts at 0 here). Nothing enables an interrupt: everything polls. */
#include <stdint.h>

#include "crt.h"
#include "platform.h"
#include "versatile.h"


void undef_handler(void);
void abort_handler(void);
void other_handler(void);

/* The abort and undefined-instruction modes' stack (the fault report's only). */
uint64_t versatile_exception_stack[64];

/* Eight vectors loading their handler's address from the table after them; Reset_Handler sets
 * the stacks of the modes a fault enters (ABT, UND; I and F stay masked) and SVC's, then C. */
__asm__(
    "    .section .vectors, \"ax\", %progbits\n"
    "    .arm\n"
    "    ldr pc, 1f\n"                    /* 0x00 reset */
    "    ldr pc, 2f\n"                    /* 0x04 undefined instruction */
    "    ldr pc, 3f\n"                    /* 0x08 SVC (a semihosting SVC never gets here) */
    "    ldr pc, 4f\n"                    /* 0x0C prefetch abort */
    "    ldr pc, 4f\n"                    /* 0x10 data abort */
    "    ldr pc, 3f\n"                    /* 0x14 reserved */
    "    ldr pc, 3f\n"                    /* 0x18 IRQ */
    "    ldr pc, 3f\n"                    /* 0x1C FIQ */
    "1:  .word Reset_Handler\n"
    "2:  .word undef_handler\n"
    "3:  .word other_handler\n"
    "4:  .word abort_handler\n"
    "    .text\n"
    "    .global Reset_Handler\n"
    "    .type Reset_Handler, %function\n"
    "Reset_Handler:\n"
    "    ldr r0, =versatile_exception_stack + 512\n"
    "    msr cpsr_c, #0xD7\n"             /* ABT mode, I and F masked */
    "    mov sp, r0\n"
    "    msr cpsr_c, #0xDB\n"             /* UND mode */
    "    mov sp, r0\n"
    "    msr cpsr_c, #0xD3\n"             /* back to SVC */
    "    ldr sp, =__stack_top\n"
    "    bl crt_start\n"
    "0:  b 0b\n"
    "    .ltorg\n");

static void put_hex(char *p, uint32_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 4)
        p[i] = "0123456789abcdef"[v & 0xF];
}

/* Data and prefetch aborts: the CP15 Data Fault Status (c5) and Fault Address (c6). */
void abort_handler(void)
{
    uint32_t dfsr, far;
    __asm__ volatile("mrc p15, 0, %0, c5, c0, 0" : "=r"(dfsr));
    __asm__ volatile("mrc p15, 0, %0, c6, c0, 0" : "=r"(far));
    char line[] = "fault DFSR=xxxxxxxx FAR=xxxxxxxx";
    put_hex(line + 11, dfsr);
    put_hex(line + 24, far);
    platform_log(line);
    platform_exit(70);
}

void undef_handler(void)
{
    platform_log("fault: undefined instruction");
    platform_exit(70);
}

void other_handler(void)
{
    platform_log("unexpected exception");
    platform_exit(71);
}
