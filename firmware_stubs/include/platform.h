/* The seam between the portable LwM2M client (src/) and a platform: the QEMU mps2 boards
 * (platform/mps2/) or the host build for fast tests (platform/host/). Static memory only. */
#ifndef PLATFORM_H
#define PLATFORM_H

#include <stddef.h>
#include <stdint.h>

struct board_info {
    const char *board;     /* "mps2-an386": /32100/0/8 and /3/0/17 */
    const char *core;      /* "cortex-m4f": /32100/0/0 */
    uint32_t clock_mhz;    /* /32100/0/1 */
    uint32_t ml_ram;       /* bytes the ML slot may use (arena and runtime state): /32100/0/2 */
    uint32_t ml_flash;     /* bytes of the model slot: /32100/0/3 */
};

void platform_init(void);
const struct board_info *platform_board(void);
uint32_t platform_millis(void);
/* The core's cycle counter since start (SysTick's count at BOARD_SYSCLK_HZ on the mps2 boards),
 * and the instructions the core has run, as the emulator counts them: the boards run under
 * QEMU -icount shift=0, where virtual time advances 1 ns per instruction, so instructions are
 * cycles x 1e9 / BOARD_SYSCLK_HZ (on silicon this would be the DWT cycle counter). */
uint64_t platform_cycles(void);
uint64_t platform_instructions(void);
void platform_log(const char *text);            /* one line, no newline needed */
/* The command line (QEMU -append, or argv on the host), e.g.
 * "ep=stub-1 server=192.0.2.2:5683 lifetime=60 duration=0"; 0 if there is none. */
size_t platform_cmdline(char *buf, size_t cap);
void platform_exit(int code);                    /* never returns */

/* UDP over the platform's network (IPv4). Addresses and ports in host order. */
int net_init(void);                              /* 0 once the interface is up */
/* 0 once handed to the interface, <0 on error: a destination other than the host
 * (192.0.2.2 on QEMU), a datagram over 1472 bytes, or the host not answering ARP. */
int net_send(uint32_t ip, uint16_t port, const uint8_t *data, size_t len);
/* Waits up to timeout_ms for one datagram to our port; its length, 0 on timeout, <0 on error. */
int net_recv(uint32_t *ip, uint16_t *port, uint8_t *buf, size_t cap, uint32_t timeout_ms);

/* The model slot: where a received package is kept (flash on a real board). */
uint8_t *platform_model_slot(size_t *capacity);
/* The ML arena: static RAM of exactly the device class's ml_ram_kb (tensor arena and runtime
 * state of the installed model); its size is checked at link time on the mps2 boards. */
uint8_t *platform_ml_arena(size_t *capacity);

#endif
