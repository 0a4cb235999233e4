/* SMSC LAN9118 Ethernet controller (LAN9220 on the MPS2 FPGA images; QEMU models the 9118),
 * polled, 32-bit PIO. Register offsets and bits: SMSC LAN9118 datasheet, section 5
 * "Register Description" (system CSRs) and 5.4 (MAC CSRs, reached through MAC_CSR_CMD). */
#include <string.h>

#include "mps2.h"

#define ETH(off) REG32(BOARD_ETH_BASE + (off))
#define RX_DATA_FIFO ETH(0x00u)
#define TX_DATA_FIFO ETH(0x20u)
#define RX_STATUS_FIFO ETH(0x40u)
#define TX_STATUS_FIFO ETH(0x48u)
#define ID_REV ETH(0x50u)
#define INT_STS ETH(0x58u)
#define INT_EN ETH(0x5Cu)
#define BYTE_TEST ETH(0x64u)        /* reads 0x87654321 when the bus works */
#define RX_CFG ETH(0x6Cu)
#define TX_CFG ETH(0x70u)
#define HW_CFG ETH(0x74u)
#define RX_FIFO_INF ETH(0x7Cu)
#define TX_FIFO_INF ETH(0x80u)
#define PMT_CTRL ETH(0x84u)
#define MAC_CSR_CMD ETH(0xA4u)
#define MAC_CSR_DATA ETH(0xA8u)

#define HW_CFG_SRST (1u << 0)               /* soft reset, self-clearing */
#define PMT_CTRL_READY (1u << 0)            /* device ready after reset */
#define TX_CFG_TX_ON (1u << 1)              /* transmitter enable */
#define MAC_CSR_BUSY (1u << 31)
#define MAC_CSR_READ (1u << 30)             /* R/nW */
#define RX_FIFO_INF_RXSUSED(v) (((v) >> 16) & 0xFFu)   /* RX status FIFO entries */
#define TX_FIFO_INF_TDFREE(v) ((v) & 0xFFFFu)          /* TX data FIFO free bytes */
#define TX_FIFO_INF_TXSUSED(v) (((v) >> 16) & 0xFFu)   /* TX status FIFO entries */
#define RX_STS_LENGTH(v) (((v) >> 16) & 0x3FFFu)       /* frame length including the FCS */
#define RX_STS_ES (1u << 15)                           /* error summary */
#define TX_CMD_A_FIRST (1u << 13)
#define TX_CMD_A_LAST (1u << 12)

/* MAC CSR indices */
#define MAC_CR 1u
#define ADDRH 2u
#define ADDRL 3u
#define MAC_CR_RXEN (1u << 2)
#define MAC_CR_TXEN (1u << 3)
#define MAC_CR_FDPX (1u << 20)              /* full duplex */

static uint32_t mac_csr(uint32_t index, int read, uint32_t value)
{
    while (MAC_CSR_CMD & MAC_CSR_BUSY)
        ;
    if (!read)
        MAC_CSR_DATA = value;
    MAC_CSR_CMD = MAC_CSR_BUSY | (read ? MAC_CSR_READ : 0u) | index;
    while (MAC_CSR_CMD & MAC_CSR_BUSY)
        ;
    return read ? MAC_CSR_DATA : 0u;
}

int eth_init(uint8_t mac[6])
{
    if (BYTE_TEST != 0x87654321u || (ID_REV >> 16) != 0x0118u)
        return -1;
    HW_CFG = HW_CFG_SRST;
    for (uint32_t n = 0; HW_CFG & HW_CFG_SRST; n++)
        if (n > 1000000u)
            return -2;
    while (!(PMT_CTRL & PMT_CTRL_READY))
        ;
    INT_EN = 0;                        /* polled: no interrupts */
    INT_STS = 0xFFFFFFFFu;
    RX_CFG = 0;                        /* 4-byte end alignment, no data offset */
    /* The station address comes from the EEPROM (QEMU: -nic ...,macaddr=); ADDRL holds
     * bytes 0-3 and ADDRH bytes 4-5, least significant first. */
    uint32_t lo = mac_csr(ADDRL, 1, 0), hi = mac_csr(ADDRH, 1, 0);
    for (int i = 0; i < 4; i++)
        mac[i] = (uint8_t)(lo >> (8 * i));
    mac[4] = (uint8_t)hi;
    mac[5] = (uint8_t)(hi >> 8);
    /* Unicast to our address and broadcast; no promiscuous or multicast. */
    mac_csr(MAC_CR, 0, MAC_CR_TXEN | MAC_CR_RXEN | MAC_CR_FDPX);
    TX_CFG = TX_CFG_TX_ON;
    return 0;
}

int eth_send(const uint8_t *frame, size_t len)
{
    if (len == 0 || len > 1514u)
        return -1;
    while (TX_FIFO_INF_TDFREE(TX_FIFO_INF) < len + 8u)
        ;
    /* TX command A: one segment (first and last), buffer size; command B: tag and length. */
    TX_DATA_FIFO = TX_CMD_A_FIRST | TX_CMD_A_LAST | (uint32_t)len;
    TX_DATA_FIFO = ((uint32_t)len << 16) | (uint32_t)len;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t word = 0;
        memcpy(&word, frame + i, len - i < 4 ? len - i : 4);
        TX_DATA_FIFO = word;
    }
    /* One TX status per frame; drain it so the status FIFO never fills. */
    int err = 0;
    while (TX_FIFO_INF_TXSUSED(TX_FIFO_INF))
        err |= (TX_STATUS_FIFO & (1u << 15)) != 0;   /* TX status ES */
    return err ? -2 : 0;
}

int eth_recv(uint8_t *frame, size_t cap)
{
    if (RX_FIFO_INF_RXSUSED(RX_FIFO_INF) == 0)
        return 0;
    uint32_t status = RX_STATUS_FIFO;
    size_t len = RX_STS_LENGTH(status);
    /* Read the whole frame out of the data FIFO, keeping what fits. */
    for (size_t i = 0; i < len; i += 4) {
        uint32_t word = RX_DATA_FIFO;
        if (i < cap)
            memcpy(frame + i, &word, cap - i < 4 ? cap - i : 4);
    }
    if ((status & RX_STS_ES) || len < 4u + 14u || len - 4u > cap)
        return -1;
    return (int)(len - 4u);   /* without the FCS */
}
