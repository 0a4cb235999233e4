/* C run-time start shared by the bare-metal platforms (mps2, versatile). */
#ifndef CRT_H
#define CRT_H

/* Copies .data and .tdata from their load image, zeroes .tbss and .bss, sets picolibc's
 * thread pointer, runs main() and exits with its status. Called by the reset code once the
 * stack (and on Cortex-M the FPU) is set up; never returns. */
void crt_start(void);

#endif
