/* Unit tests for arbiter/sslctx.c's session-ticket keys: the current key
 * encrypts, the two before it still decrypt (asking for a new ticket), an
 * older or unknown one does not, and a rotation waits for its time. The
 * .c is included to reach the callback OpenSSL calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arbiter/sslctx.c"

/* One call of the ticket callback, as OpenSSL makes it. */
static int ticket(unsigned char name[16], int enc)
{
	unsigned char iv[16] = {0};
	EVP_CIPHER_CTX *cctx = EVP_CIPHER_CTX_new();
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *hctx = EVP_MAC_CTX_new(mac);
	int rc = ticket_key_cb(NULL, name, iv, cctx, hctx, enc);

	EVP_MAC_CTX_free(hctx);
	EVP_MAC_free(mac);
	EVP_CIPHER_CTX_free(cctx);
	return rc;
}

static void test_ticket_keys_rotate(void **state)
{
	char err[256];
	unsigned char first[16], second[16], unknown[16] = {0};

	(void)state;
	assert_int_equal(tickets_init(err, sizeof(err)), 0);
	assert_int_equal(ticket(first, 1), 1);
	assert_int_equal(ticket(first, 0), 1);
	assert_int_equal(ticket(unknown, 0), 0);

	sslctx_rotate(next_rotation - 1); /* not yet */
	assert_int_equal(ticket(second, 1), 1);
	assert_memory_equal(first, second, 16);

	sslctx_rotate(next_rotation);
	assert_int_equal(ticket(second, 1), 1);
	assert_memory_not_equal(first, second, 16);
	assert_int_equal(ticket(second, 0), 1);
	assert_int_equal(ticket(first, 0), 2); /* decrypts, and asks for a new ticket */

	sslctx_rotate(next_rotation);
	assert_int_equal(ticket(first, 0), 2); /* two keys old: still */
	sslctx_rotate(next_rotation);
	assert_int_equal(ticket(first, 0), 0); /* three: gone, a full handshake */
	assert_int_equal(ticket(second, 0), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ticket_keys_rotate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
