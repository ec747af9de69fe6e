/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * What every harness shares: a reader that turns the fuzzer's bytes into values (0 once they
 * run out, so every loop ends), and a check that aborts with a message, which libFuzzer records
 * as a crash with the input that caused it.
 */

#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_input {
	const uint8_t *p;
	size_t left;
};

static inline void
fuzz_input_init(struct fuzz_input *in, const uint8_t *data, size_t size)
{
	in->p = data;
	in->left = size;
}

/* Little-endian, so a seed's bytes read the way they look in a hex dump. */
static inline uint64_t
fuzz_bytes(struct fuzz_input *in, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n && in->left > 0; i++) {
		v |= (uint64_t)*in->p << (8 * i);
		in->p++;
		in->left--;
	}
	return v;
}

static inline uint8_t
fuzz_u8(struct fuzz_input *in)
{
	return (uint8_t)fuzz_bytes(in, 1);
}

static inline uint16_t
fuzz_u16(struct fuzz_input *in)
{
	return (uint16_t)fuzz_bytes(in, 2);
}

static inline uint32_t
fuzz_u32(struct fuzz_input *in)
{
	return (uint32_t)fuzz_bytes(in, 4);
}

static inline uint64_t
fuzz_u64(struct fuzz_input *in)
{
	return fuzz_bytes(in, 8);
}

/* A value in [0, n) for n > 0: modulo bias does not matter to a fuzzer. */
static inline uint32_t
fuzz_below(struct fuzz_input *in, uint32_t n)
{
	return n <= 256 ? fuzz_u8(in) % n : fuzz_u32(in) % n;
}

static inline int
fuzz_done(const struct fuzz_input *in)
{
	return in->left == 0;
}

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif /* FUZZ_INPUT_H */
