/* Model packages as the server signs them (lwm2m_mlaas/compiler/package.py):
 * 55799([COSE_Sign1 bstr, payload bstr]); the COSE_Sign1 (tag 18) payload is the manifest, a CBOR
 * map with text keys (lwm2m_mlaas/compiler/manifest.py). Parsing never copies the package:
 * the strings and byte strings below point into it. */
#ifndef PACKAGE_H
#define PACKAGE_H

#include <stddef.h>
#include <stdint.h>

/* LwM2M Firmware Update results (/5/0/5) the checks report (FW_RESULT_ and the names of
 * lwm2m_mlaas/core/firmware_update.py; tests/core/test_firmware_update.py checks them). */
#define FW_RESULT_NOT_ENOUGH_STORAGE 2   /* the package does not fit the model slot */
#define FW_RESULT_INTEGRITY_FAILURE 5    /* digest, size or signature mismatch */
#define FW_RESULT_UNSUPPORTED_PACKAGE 6  /* not a package, or an algorithm or backend we lack */

struct sha256 {
    uint32_t state[8];
    uint64_t bytes;
    uint8_t block[64];
};
void sha256_init(struct sha256 *ctx);
void sha256_update(struct sha256 *ctx, const void *data, size_t len);
void sha256_final(struct sha256 *ctx, uint8_t digest[32]);

/* Ed25519 (RFC 8032) signature check: 1 when `sig` is `key`'s signature of `msg`. */
int ed25519_verify(const uint8_t sig[64], const uint8_t key[32], const uint8_t *msg, size_t len);

struct bytes {
    const uint8_t *data;
    size_t len;
};

struct tensor_spec {
    uint32_t shape[6];
    uint8_t rank;
    char dtype[12];             /* "int8" */
    float scale;
    int32_t zero_point;
};

struct package {
    /* manifest */
    char model[48], version[32], task[32], backend[32], device_class[32];
    char kind[16];                  /* classification, regression or anomaly */
    uint32_t format, payload_size, arena_bytes;
    const uint8_t *payload_sha256;  /* 32 bytes */
    struct tensor_spec input, output;
    struct bytes golden;            /* the CBOR array [[in bstr, out bstr], ...] */
    struct bytes labels;            /* the CBOR array of text */
    /* added by the package checks: the manifest's "threshold" (anomaly models), float or null */
    float threshold;                /* 0 when null */
    uint8_t has_threshold;          /* 0 when the manifest says null */
    /* envelope */
    struct bytes manifest;          /* the signed manifest CBOR */
    struct bytes payload;           /* the model */
    struct bytes kid;               /* COSE key id (8 bytes), empty when absent */
    struct bytes protected_hdr, signature;
};

/* Parses a whole package; 0 or FW_RESULT_UNSUPPORTED_PACKAGE (not a package, alg other than
 * EdDSA). */
int package_parse(const uint8_t *data, size_t len, struct package *pkg);
/* Payload size and SHA-256 against the manifest: 0 or FW_RESULT_INTEGRITY_FAILURE. */
int package_check_payload(const struct package *pkg);
/* The COSE_Sign1 signature against the key whose kid it names among `keys` (n keys of 32 bytes):
 * 0 or FW_RESULT_INTEGRITY_FAILURE. */
int package_check_signature(const struct package *pkg, const uint8_t (*keys)[32], size_t n);
/* A key's id: the first 8 bytes of the SHA-256 of its 32 raw bytes. */
void package_key_id(const uint8_t key[32], uint8_t kid[8]);

/* i-th golden vector (0-based): 0 and the two tensors, or -1 past the end. */
int package_golden(const struct package *pkg, size_t i, struct bytes *input, struct bytes *output);
/* i-th label, or -1 past the end. */
int package_label(const struct package *pkg, size_t i, struct bytes *label);

#endif
