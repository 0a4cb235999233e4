/* platform.h for QEMU versatilepb (ARM926EJ-S): SP804 free-running time base, PL011 UART0 log,
 * semihosting command line and exit, the board's identity and its static ML memory. It exists
 * to run platform/mps2/net.c and smc91x.c on QEMU's smc91c111 model (tests/firmware/
 * test_smc91x.py); the client proper targets the Cortex-M boards. */
#include <string.h>

#include "platform.h"
#include "versatile.h"

/* ---- SP804 timer 0 (ARM DDI 0271 Dual-Timer TRM): free-running 32-bit down counter -------- */

#define TIMER_LOAD REG32(TIMER0_BASE + 0x00u)
#define TIMER_VALUE REG32(TIMER0_BASE + 0x04u)
#define TIMER_CONTROL REG32(TIMER0_BASE + 0x08u)
#define TIMER_EN (1u << 7)
#define TIMER_SIZE32 (1u << 1)       /* periodic = 0, interrupt off: free-running, wraps */

/* Milliseconds from the counter's ticks (BOARD_SYSCLK_HZ: the timer clock, 1 MHz). Called
 * at least every few seconds by any loop that waits, far within the counter's wrap. */
uint32_t platform_millis(void)
{
    static uint32_t last, ms, ticks;
    uint32_t now = TIMER_VALUE;
    ticks += last - now;             /* down counter */
    last = now;
    ms += ticks / (BOARD_SYSCLK_HZ / 1000u);
    ticks %= BOARD_SYSCLK_HZ / 1000u;
    return ms;
}

uint32_t platform_micros(void)
{
    return platform_millis() * 1000u;
}

/* ---- PL011 UART0 (ARM DDI 0183 PrimeCell UART TRM) ---------------------------------------- */

#define UART_DR REG32(BOARD_UART0_BASE + 0x000u)
#define UART_FR REG32(BOARD_UART0_BASE + 0x018u)
#define UART_IBRD REG32(BOARD_UART0_BASE + 0x024u)
#define UART_FBRD REG32(BOARD_UART0_BASE + 0x028u)
#define UART_LCR_H REG32(BOARD_UART0_BASE + 0x02Cu)
#define UART_CR REG32(BOARD_UART0_BASE + 0x030u)
#define UART_FR_TXFF (1u << 5)
#define UART_LCR_H_8N1_FIFO 0x70u    /* WLEN 8 bits, FEN */
#define UART_CR_EN_TX_RX 0x301u      /* UARTEN, TXE, RXE */

static void uart_putc(char c)
{
    while (UART_FR & UART_FR_TXFF)
        ;
    UART_DR = (uint8_t)c;
}

void platform_log(const char *text)
{
    while (*text)
        uart_putc(*text++);
    uart_putc('\r');
    uart_putc('\n');
}

/* ---- Semihosting (ARM "Semihosting for AArch32 and AArch64", v2.0) ------------------------ *
 * In ARM state the call is SVC 0x123456 with the operation in r0 and a parameter block in r1;
 * QEMU needs -semihosting-config enable=on,target=native. The same operations as on mps2. */

#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_Stopped_ApplicationExit 0x20026u
#define ADP_Stopped_RunTimeErrorUnknown 0x20023u

static int semihost(uint32_t op, void *block)
{
    register uint32_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = block;
    __asm__ volatile("svc 0x123456" : "+r"(r0) : "r"(r1) : "memory", "lr");
    return (int)r0;
}

/* QEMU's semihosting argv is the -kernel path and the words of -append; argv[0] is dropped. */
size_t platform_cmdline(char *buf, size_t cap)
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

/* SYS_EXIT_EXTENDED {ApplicationExit, code}: QEMU exits with the code as its status. */
void platform_exit(int code)
{
    uint32_t block[2] = {ADP_Stopped_ApplicationExit, (uint32_t)code};
    semihost(SYS_EXIT_EXTENDED, block);
    semihost(SYS_EXIT, (void *)(uintptr_t)(code == 0 ? ADP_Stopped_ApplicationExit
                                                     : ADP_Stopped_RunTimeErrorUnknown));
    for (;;)
        ;
}

/* ---- Board ------------------------------------------------------------------------------ */

static const struct board_info board = {
    .board = BOARD_NAME,
    .core = BOARD_CORE,
    .clock_mhz = BOARD_CLOCK_MHZ,
    .ml_ram = BOARD_ML_RAM_BYTES,
    .ml_flash = BOARD_ML_FLASH_BYTES,
};

const struct board_info *platform_board(void)
{
    return &board;
}

void platform_init(void)
{
    TIMER_CONTROL = 0;
    TIMER_LOAD = 0xFFFFFFFFu;
    TIMER_CONTROL = TIMER_EN | TIMER_SIZE32;
    /* 115200 8N1 from the Versatile's 24 MHz UART clock: 24e6 / (16 * 115200) = 13 + 1/64. */
    UART_CR = 0;
    UART_IBRD = 13;
    UART_FBRD = 1;
    UART_LCR_H = UART_LCR_H_8N1_FIFO;
    UART_CR = UART_CR_EN_TX_RX;
}

/* ---- Static ML memory: sized by board_config's budget, checked by the linker script ------ */

static uint8_t model_slot[BOARD_ML_FLASH_BYTES]
    __attribute__((section(".model_slot"), aligned(16)));
static uint8_t ml_arena[BOARD_ML_RAM_BYTES] __attribute__((section(".ml_arena"), aligned(16)));

uint8_t *platform_model_slot(size_t *capacity)
{
    *capacity = sizeof model_slot;
    return model_slot;
}

uint8_t *platform_ml_arena(size_t *capacity)
{
    *capacity = sizeof ml_arena;
    return ml_arena;
}
