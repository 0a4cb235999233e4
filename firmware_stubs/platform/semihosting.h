/* ARM semihosting ("Semihosting for AArch32 and AArch64" v2.0) as QEMU implements it with
 * -semihosting-config enable=on,target=native; without it the trap is a fault. Shared by the
 * platforms QEMU runs (mps2, versatile) and the apps that read host files (modrun). */
#ifndef SEMIHOSTING_H
#define SEMIHOSTING_H

#include <stddef.h>
#include <stdint.h>

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_FLEN 0x0C
#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20

/* The operation in r0, its parameter block in r1; the result. */
int semihost(uint32_t op, void *block);
/* The -append text (the host's argv without argv[0]) into buf: its length, 0 if none. */
size_t semihost_cmdline(char *buf, size_t cap);
/* Ends QEMU with `code` as its exit status; returns only when the host does not stop. */
void semihost_exit(int code);

#endif
