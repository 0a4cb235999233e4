/* Semihosting calls (semihosting.h): M-profile traps with BKPT 0xAB, ARM state on the A/R
 * profiles and older cores (the versatilepb's ARM926) with SVC 0x123456. */
#include <string.h>

#include "semihosting.h"

#define ADP_Stopped_ApplicationExit 0x20026u
#define ADP_Stopped_RunTimeErrorUnknown 0x20023u

int semihost(uint32_t op, void *block)
{
    register uint32_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = block;
#if defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
#else
    __asm__ volatile("svc 0x123456" : "+r"(r0) : "r"(r1) : "memory", "lr");
#endif
    return (int)r0;
}

/* QEMU 7.2 (semihosting/arm-compat-semi.c) answers SYS_GET_CMDLINE with its semihosting argv
 * joined by spaces; without `-semihosting-config arg=` that argv is the -kernel path followed
 * by the words of -append. argv[0] is dropped here, so the caller sees the -append text. */
size_t semihost_cmdline(char *buf, size_t cap)
{
    static char raw[512];
    uint32_t block[2] = {(uint32_t)(uintptr_t)raw, sizeof raw};
    if (cap == 0 || semihost(SYS_GET_CMDLINE, block) != 0)
        return 0;
    raw[sizeof raw - 1] = '\0';
    const char *args = strchr(raw, ' ');
    if (!args)
        args = "";
    while (*args == ' ')
        args++;
    size_t len = strlen(args);
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, args, len);
    buf[len] = '\0';
    return len;
}

/* QEMU 7.2 on 32-bit ARM: SYS_EXIT takes the reason itself in r1 and maps
 * ApplicationExit to status 0 and anything else to 1; SYS_EXIT_EXTENDED takes a block
 * {reason, subcode} and, for ApplicationExit, exits QEMU with the subcode as its status.
 * So the code reaches QEMU's exit status exactly (modulo 256, as for any process). */
void semihost_exit(int code)
{
    uint32_t block[2] = {ADP_Stopped_ApplicationExit, (uint32_t)code};
    semihost(SYS_EXIT_EXTENDED, block);
    /* An older semihosting host without SYS_EXIT_EXTENDED returns here: keep 0 vs non-0. */
    semihost(SYS_EXIT, (void *)(uintptr_t)(code == 0 ? ADP_Stopped_ApplicationExit
                                                     : ADP_Stopped_RunTimeErrorUnknown));
}
