/* platform.h for the QEMU mps2 boards: SysTick time base, CMSDK UART0 log, semihosting
 * command line and exit, the board's identity and its static ML memory. */
#include <string.h>

#include "mps2.h"
#include "platform.h"
#include "semihosting.h"

/* ---- SysTick: 1 ms tick ------------------------------------------------------------------ */

static volatile uint32_t millis;

void SysTick_Handler(void)
{
    millis++;
}

uint32_t platform_millis(void)
{
    return millis;
}

#define SCB_ICSR REG32(0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)

/* Cycles since SysTick started (ARMv7-M B3.3; the same registers on v8-M): the tick count
 * times the period plus the down-counter's progress, read with interrupts masked; a wrap whose
 * interrupt is still pending (the tick not yet counted) is added when the counter was read
 * after it (near the reload value). Single-cycle resolution, 64 bits. */
uint64_t platform_cycles(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    uint32_t reload = SYST_RVR;
    uint32_t current = SYST_CVR;
    uint32_t ms = millis;
    if ((SCB_ICSR & ICSR_PENDSTSET) && current > reload / 2)
        ms++;
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
    return (uint64_t)ms * ((uint64_t)reload + 1u) + (reload - current);
}

_Static_assert(1000000000u % BOARD_SYSCLK_HZ == 0, "whole instructions per SysTick cycle");

uint64_t platform_instructions(void)
{
    return platform_cycles() * (1000000000u / BOARD_SYSCLK_HZ);
}

/* ---- CMSDK APB UART0 (ARM DDI 0479 Cortex-M System Design Kit TRM, "APB UART") ----------- */

#define UART_DATA REG32(BOARD_UART0_BASE + 0x000u)
#define UART_STATE REG32(BOARD_UART0_BASE + 0x004u)     /* bit 0: TX buffer full */
#define UART_CTRL REG32(BOARD_UART0_BASE + 0x008u)      /* bit 0: TX enable */
#define UART_BAUDDIV REG32(BOARD_UART0_BASE + 0x010u)   /* PCLK / baud, at least 16 */
#define UART_STATE_TXFULL (1u << 0)
#define UART_CTRL_TXEN (1u << 0)

static void uart_putc(char c)
{
    while (UART_STATE & UART_STATE_TXFULL)
        ;
    UART_DATA = (uint8_t)c;
}

void platform_log(const char *text)
{
    while (*text)
        uart_putc(*text++);
    uart_putc('\r');
    uart_putc('\n');
}

#ifdef BOARD_CMDLINE
/* ---- No semihosting (renode-an385: Renode's Cortex-M has no semihosting host) ------------- *
 * The command line is compiled in (board.h, from make CMDLINE=); exit logs its code and
 * sleeps, for the Robot test to read on the UART. */

size_t platform_cmdline(char *buf, size_t cap)
{
    static const char builtin[] = BOARD_CMDLINE;
    size_t len = sizeof builtin - 1;
    if (cap == 0)
        return 0;
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, builtin, len);
    buf[len] = '\0';
    return len;
}

void platform_exit(int code)
{
    char line[16] = "exit ", digits[12];
    size_t n = 0, at = 5;
    uint32_t v = code < 0 ? 0u - (uint32_t)code : (uint32_t)code;
    do
        digits[n++] = (char)('0' + v % 10u);
    while ((v /= 10u) != 0);
    if (code < 0)
        line[at++] = '-';
    while (n)
        line[at++] = digits[--n];
    line[at] = '\0';
    platform_log(line);
    for (;;)
        __asm__ volatile("wfi");
}

#else
/* ---- Semihosting (platform/semihosting.c) ------------------------------------------------ */

size_t platform_cmdline(char *buf, size_t cap)
{
    return semihost_cmdline(buf, cap);
}

void platform_exit(int code)
{
    semihost_exit(code);
    for (;;)
        __asm__ volatile("wfi");
}
#endif

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
    /* SysTick from the processor clock: RVR = cycles per ms - 1 (ARMv7-M B3.3). The tick also
     * keeps QEMU's CMSDK UART from stalling (DESIGN.md, "Known pitfalls"). */
    SYST_RVR = BOARD_SYSCLK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    UART_BAUDDIV = BOARD_SYSCLK_HZ / 115200u;
    UART_CTRL = UART_CTRL_TXEN;
}

