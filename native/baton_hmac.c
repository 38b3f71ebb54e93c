/* HMAC-SHA256 for the fast path, over the mbuf pool's memory (the
 * hand-off datagram's tag: dataplane/wire/handoff.ts).
 *
 * Synchronous, allocation-free, callable per datagram from a poll loop:
 * the hot calls (bt_hmac_region, bt_hmac_verify_region) take only u32
 * arguments, so Deno's FFI takes its fast path, and address bytes by their
 * offset in the one region TypeScript maps over the mempool (bt_region_base
 * and bt_region_len in baton_shim.c). Each key slot holds the SHA-256
 * states after the key's inner and outer pad blocks (RFC 2104's
 * precomputation), so a message costs its own blocks and two finalisations.
 * OpenSSL 3's one-shot HMAC() and EVP fetch per call are several times
 * slower; the low-level SHA256_* calls still run its SHA-NI code.
 *
 * Invariants: no call allocates or blocks; every range is checked with
 * 64-bit arithmetic before a byte is read, so a crafted length or offset
 * gets -1 and nothing written, never a crash. Keys are process-global (one
 * library per process, shared by every isolate) and are set at setup time,
 * before the poll loops use them: a slot is published with a release store
 * after its states are complete, but replacing a key while another thread
 * uses that slot is not supported.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

/* SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP,
 * whose per-call fetch is what this file avoids. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define BT_HMAC_KEY_SLOTS 256
#define BT_HMAC_TAG_BYTES SHA256_DIGEST_LENGTH /* 32 */
#define BT_HMAC_BLOCK SHA256_CBLOCK            /* 64 */

/* From baton_shim.c: the region TypeScript maps, or base NULL / len 0
 * before the pool exists. */
void *bt_region_base(void);
uint32_t bt_region_len(void);

struct bt_hmac_key {
	SHA256_CTX inner; /* after (key ^ ipad) */
	SHA256_CTX outer; /* after (key ^ opad) */
	uint32_t ready;   /* set last, with release ordering */
};

static struct bt_hmac_key keys[BT_HMAC_KEY_SLOTS];

/* The slot's key, or NULL when the slot is out of range or has no key. */
static inline const struct bt_hmac_key *key_at(uint32_t slot)
{
	if (slot >= BT_HMAC_KEY_SLOTS)
		return NULL;
	const struct bt_hmac_key *k = &keys[slot];
	return __atomic_load_n(&k->ready, __ATOMIC_ACQUIRE) ? k : NULL;
}

static inline void hmac(const struct bt_hmac_key *k, const uint8_t *data,
			uint32_t len, uint8_t tag[BT_HMAC_TAG_BYTES])
{
	SHA256_CTX ctx = k->inner;
	uint8_t inner[BT_HMAC_TAG_BYTES];
	if (len > 0)
		SHA256_Update(&ctx, data, len);
	SHA256_Final(inner, &ctx);
	ctx = k->outer;
	SHA256_Update(&ctx, inner, sizeof(inner));
	SHA256_Final(tag, &ctx);
}

/* [offset, offset + len) lies inside the region (64-bit sums: no wrap). */
static inline int in_region(uint32_t offset, uint32_t len, uint32_t region_len)
{
	return (uint64_t)offset + (uint64_t)len <= (uint64_t)region_len;
}

/* The region's base when both the message and the tag lie inside it, else NULL. */
static inline uint8_t *region_for(uint32_t offset, uint32_t len,
				  uint32_t tag_offset)
{
	uint8_t *base = bt_region_base();
	uint32_t region_len = bt_region_len();
	if (base == NULL || !in_region(offset, len, region_len) ||
	    !in_region(tag_offset, BT_HMAC_TAG_BYTES, region_len))
		return NULL;
	return base;
}

/* Sets the key of a slot (any length; one longer than a block is hashed
 * first, RFC 2104). Returns 0, or -1 when the slot is out of range. */
int32_t bt_hmac_key_set(uint32_t key_slot, const uint8_t *key, uint32_t len)
{
	if (key_slot >= BT_HMAC_KEY_SLOTS || (key == NULL && len > 0))
		return -1;
	uint8_t block[BT_HMAC_BLOCK];
	memset(block, 0, sizeof(block));
	if (len > BT_HMAC_BLOCK)
		SHA256(key, len, block);
	else if (len > 0)
		memcpy(block, key, len);
	struct bt_hmac_key *k = &keys[key_slot];
	__atomic_store_n(&k->ready, 0, __ATOMIC_RELEASE);
	uint8_t pad[BT_HMAC_BLOCK];
	for (int i = 0; i < BT_HMAC_BLOCK; i++)
		pad[i] = block[i] ^ 0x36;
	SHA256_Init(&k->inner);
	SHA256_Update(&k->inner, pad, sizeof(pad));
	for (int i = 0; i < BT_HMAC_BLOCK; i++)
		pad[i] = block[i] ^ 0x5c;
	SHA256_Init(&k->outer);
	SHA256_Update(&k->outer, pad, sizeof(pad));
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(pad, sizeof(pad));
	__atomic_store_n(&k->ready, 1, __ATOMIC_RELEASE);
	return 0;
}

/* Writes HMAC-SHA256(key, region[offset, offset + len)) as 32 bytes at
 * region[tag_offset]. Returns 0, or -1 (nothing written) when the slot has
 * no key or a range falls outside the region. */
int32_t bt_hmac_region(uint32_t key_slot, uint32_t offset, uint32_t len,
		       uint32_t tag_offset)
{
	const struct bt_hmac_key *k = key_at(key_slot);
	uint8_t *base = region_for(offset, len, tag_offset);
	if (k == NULL || base == NULL)
		return -1;
	uint8_t tag[BT_HMAC_TAG_BYTES];
	hmac(k, base + offset, len, tag);
	/* through a local: the tag may overlap the message */
	memcpy(base + tag_offset, tag, sizeof(tag));
	return 0;
}

/* 1 when the 32 bytes at region[tag_offset] are the HMAC of
 * region[offset, offset + len) (compared in constant time), 0 when not,
 * -1 when the slot has no key or a range falls outside the region. */
int32_t bt_hmac_verify_region(uint32_t key_slot, uint32_t offset, uint32_t len,
			      uint32_t tag_offset)
{
	const struct bt_hmac_key *k = key_at(key_slot);
	const uint8_t *base = region_for(offset, len, tag_offset);
	if (k == NULL || base == NULL)
		return -1;
	uint8_t tag[BT_HMAC_TAG_BYTES];
	hmac(k, base + offset, len, tag);
	return CRYPTO_memcmp(tag, base + tag_offset, sizeof(tag)) == 0 ? 1 : 0;
}

/* The same over a caller's buffer (tests, tools, slow paths); needs no
 * EAL. tag_out must hold 32 bytes. Returns 0, or -1 when the slot has no key. */
int32_t bt_hmac_buffer(uint32_t key_slot, const uint8_t *data, uint32_t len,
		       uint8_t *tag_out)
{
	const struct bt_hmac_key *k = key_at(key_slot);
	if (k == NULL || tag_out == NULL || (data == NULL && len > 0))
		return -1;
	hmac(k, data, len, tag_out);
	return 0;
}
