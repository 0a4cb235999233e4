/* The Ethernet MAC driver's face toward the IP layer (net.c). One driver is linked per board:
 * lan9118.c (QEMU's mps2 boards) or smc91x.c (the SMSC LAN91C111: Renode's renode-an385, QEMU's
 * versatilepb); tools/board_config.py --nic names it. Frames without FCS; the MAC appends it. */
#ifndef ETH_H
#define ETH_H

#include <stddef.h>
#include <stdint.h>

int eth_init(uint8_t mac[6]);                       /* 0, or <0 when the chip does not answer */
int eth_send(const uint8_t *frame, size_t len);     /* 0, or <0 */
int eth_recv(uint8_t *frame, size_t cap);           /* length, 0 when none waits, <0 bad frame */

#endif
