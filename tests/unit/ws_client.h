/*
 * ws_client — what the WebSocket unit tests send as a client: masked frames
 * built byte by byte, independently of workers/http/ws_frame.c's writer.
 * Included by the tests that need it (static functions, no object file).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t ws_client_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/*
 * Write a client frame into out: first byte b0 (FIN, RSV, opcode), the
 * payload masked with ws_client_key (sent in clear when !masked), its length
 * in the shortest form (form 0) or forced to the 16-bit (16) or 64-bit (64)
 * form. A NULL payload writes the header alone. Returns the bytes written.
 */
static inline size_t ws_client_frame(uint8_t *out, uint8_t b0, const void *payload, uint64_t n,
				     int form, bool masked)
{
	size_t h = 2;

	out[0] = b0;
	if (form == 0 && n <= 125) {
		out[1] = (uint8_t)n;
	} else if (form != 64 && n <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(n >> 8);
		out[3] = (uint8_t)n;
		h = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(n >> (56 - 8 * i));
		h = 10;
	}
	if (masked) {
		out[1] |= 0x80;
		memcpy(out + h, ws_client_key, 4);
		h += 4;
	}
	for (uint64_t i = 0; payload && i < n; i++)
		out[h + i] = ((const uint8_t *)payload)[i] ^ (masked ? ws_client_key[i & 3] : 0);
	return h + (size_t)(payload ? n : 0);
}

/*
 * The next buffer of a feed in pieces: the bytes held back (not consumed
 * yet), then the piece in[0..k), in a new allocation of exactly that size
 * (one spare byte for malloc(0)) so that a sanitizer sees any over-read.
 * Frees held. NULL when out of memory.
 */
static inline uint8_t *ws_client_refill(uint8_t *held, size_t have, const uint8_t *in, size_t k)
{
	uint8_t *buf = malloc(have + k + 1);

	if (buf != NULL && have)
		memcpy(buf, held, have);
	if (buf != NULL && k)
		memcpy(buf + have, in, k);
	free(held);
	return buf;
}
