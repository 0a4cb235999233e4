/* Private to the package checks: SHA-512 (FIPS 180-4) and a streaming form of the Ed25519
 * check, so a COSE Sig_structure can be hashed piece by piece instead of built in a buffer. */
#ifndef SHA512_H
#define SHA512_H

#include <stddef.h>
#include <stdint.h>

struct sha512 {
    uint64_t state[8];
    uint64_t bytes;             /* messages stay far below 2^61 bytes */
    uint8_t block[128];
};
void sha512_init(struct sha512 *ctx);
void sha512_update(struct sha512 *ctx, const void *data, size_t len);
void sha512_final(struct sha512 *ctx, uint8_t digest[64]);

/* Ed25519 in three steps: ed25519_verify_start() rejects a non-canonical S (returns 0) and
 * starts `h` as SHA-512(R || A ...); the caller feeds the message into `h` with sha512_update();
 * ed25519_verify_finish() returns 1 when the signature holds. */
int ed25519_verify_start(struct sha512 *h, const uint8_t sig[64], const uint8_t key[32]);
int ed25519_verify_finish(struct sha512 *h, const uint8_t sig[64], const uint8_t key[32]);

#endif
