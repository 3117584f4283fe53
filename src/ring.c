/*
 * ring — the bounded lock-free MPMC ring of ring.h.
 *
 * The design essay (slot state machine, claim word, helping, what a killed
 * participant leaves and who repairs it, the memory-order pairs) is the
 * opening comment of ring.h.  This file adds the reasoning that belongs next
 * to the code: how a participant reads a slot's state against the position
 * it loaded (the two classify functions), why 48 bits of position in a claim
 * are enough, and how repair recovers a claim's full 64-bit position.
 *
 * Callers: forqd (producer into the task rings, consumer of the completion
 * ring, repairer), workers (the other way round).  No locks, no syscalls, no
 * allocation; every function may run in any process that maps the ring.
 *
 * Invariants the code relies on (ring.h gives the state machine):
 *   I1 head <= tail <= head + cap, each only ever moved by a CAS p -> p + 1.
 *   I2 tail moves past p only after p's slot has left state p (a producer
 *      claimed p); head moves past p only after p's slot has left state
 *      p + 1 (a consumer claimed p).
 *   I3 a slot's sequence word only grows through p, PCLAIM(p), p + 1,
 *      CCLAIM(p), p + cap; nobody but the claimer (or, once it is dead,
 *      ring_repair) writes a claimed slot.
 *   I4 positions stay below 2^62 (2^62 operations at 10^9/s is 146 years),
 *      so a plain position never has the claim bit set.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "ring.h"
#include "sys.h"

/* Claim word: bit 63 claim, bit 62 consumer, bits 48..61 owner, 0..47 pos. */
#define CLAIM_BIT	(1ull << 63)		/* word is a claim, not a position */
#define CLAIM_CONS	(1ull << 62)		/* claimed by a consumer */
#define CLAIM_OSHIFT	48			/* owner field offset */
#define CLAIM_POS	((1ull << 48) - 1)	/* position bits kept in a claim */

/*
 * Largest capacity ring_init accepts.  Repair recovers a claim's position
 * from a distance that is at most cap; it must stay far below 2^48.
 */
#define RING_CAP_MAX	(1ull << 32)

static inline uint64_t
claim_word(uint32_t owner, uint64_t pos, uint64_t cons)
{
	return CLAIM_BIT | cons | ((uint64_t)owner << CLAIM_OSHIFT) | (pos & CLAIM_POS);
}

static inline uint32_t
claim_owner(uint64_t w)
{
	return (uint32_t)(w >> CLAIM_OSHIFT) & RING_OWNER_MAX;
}

/* claim_at - @w is a claim (consumer's when @cons) on position @pos. */
static inline bool
claim_at(uint64_t w, uint64_t pos, uint64_t cons)
{
	return (w & (CLAIM_BIT | CLAIM_CONS)) == (CLAIM_BIT | cons) &&
	       (w & CLAIM_POS) == (pos & CLAIM_POS);
}

static inline struct ring_slot *
slot_at(const struct ring *r, uint64_t pos)
{
	/* mask indexing; slot_size is a multiple of 64, not a power of two */
	return (struct ring_slot *)(r->slots + (pos & r->mask) * r->slot_size);
}

static bool
geometry_ok(uint64_t capacity, uint32_t slot_size)
{
	return capacity >= 2 && capacity <= RING_CAP_MAX && (capacity & (capacity - 1)) == 0 &&
	       slot_size >= 64 && slot_size % 64 == 0;
}

/*
 * What a slot's sequence word @seq means to a participant that loaded
 * position @pos from tail (producer) or head (consumer).
 *
 * 48-bit positions in claims.  A claim carries pos & (2^48 - 1); the
 * comparisons below test it only against values computed from the full
 * 64-bit @pos this participant loaded (pos itself, and pos - cap).  The
 * slot can only be at pos - cap's lap or later (I2, I3), so a false match
 * needs the slot to be a whole multiple of 2^48 positions ahead, i.e. the
 * participant stalled between its two loads while 2^48 operations ran.
 * Even then every action taken on a match is harmless: a spurious "full"
 * or "empty" answer (the try_ calls may fail spuriously), or a helping CAS
 * on tail/head that compares the full 64-bit @pos and therefore fails.
 */
enum slot_view {
	SV_TAKE,		/* claim this slot for @pos */
	SV_BLOCKED,		/* producer: ring full; consumer: nothing ready */
	SV_HALF,		/* claimed at @pos, tail/head not moved yet: help */
	SV_STALE,		/* @pos is behind tail/head: reload it */
};

static inline enum slot_view
producer_view(uint64_t seq, uint64_t pos, uint64_t cap)
{
	if (seq == pos)
		return SV_TAKE;
	if (seq & CLAIM_BIT) {
		/* previous lap still being written or read: full */
		if ((seq & CLAIM_POS) == ((pos - cap) & CLAIM_POS))
			return SV_BLOCKED;
		if (claim_at(seq, pos, 0))
			return SV_HALF;
		/* CCLAIM(pos) or a later lap's claim: pos is long taken */
		return SV_STALE;
	}
	/* pos - cap + 1: previous lap's item unconsumed; above pos: stale */
	return (int64_t)(seq - pos) < 0 ? SV_BLOCKED : SV_STALE;
}

static inline enum slot_view
consumer_view(uint64_t seq, uint64_t pos, uint64_t cap)
{
	if (seq == pos + 1)
		return SV_TAKE;
	if (seq & CLAIM_BIT) {
		if ((seq & CLAIM_POS) == (pos & CLAIM_POS))
			/*
			 * PCLAIM(pos): its producer is writing, or dead and
			 * not yet repaired.  Nothing is ready here; do not
			 * wait for it (ring.h, "Killed participant").
			 */
			return (seq & CLAIM_CONS) ? SV_HALF : SV_BLOCKED;
		/*
		 * CCLAIM(pos - cap): a consumer of the previous lap still holds
		 * the slot, so pos has not been pushed (tail <= pos).
		 */
		if ((seq & CLAIM_POS) == ((pos - cap) & CLAIM_POS))
			return SV_BLOCKED;
		return SV_STALE;
	}
	/* pos: not pushed yet; pos + cap and above: stale */
	return (int64_t)(seq - (pos + 1)) < 0 ? SV_BLOCKED : SV_STALE;
}

/*
 * advance - move the shared position @at from *@pos to *@pos + 1, whoever's
 * claim it is; leave in *@pos the position to look at next.  A failed CAS
 * means another participant moved it first (it never moves back, I1) and
 * hands back the newer value.
 */
static inline void
advance(_Atomic uint64_t *at, uint64_t *pos)
{
	uint64_t want = *pos;

	/*
	 * relaxed: tail/head only say where to look; ownership of a position is
	 * decided by the seq CAS.  A reader that meets a slot already past the
	 * position it loaded reloads and sees the new value, because every seq
	 * write is a release that follows this CAS in its writer's order.
	 */
	if (atomic_compare_exchange_strong_explicit(at, &want, want + 1, memory_order_relaxed,
						    memory_order_relaxed))
		want++;
	*pos = want;
}

size_t
ring_bytes(uint64_t capacity, uint32_t slot_size)
{
	if (!geometry_ok(capacity, slot_size) ||
	    capacity > (SIZE_MAX - sizeof(struct ring)) / slot_size)
		return 0;
	return sizeof(struct ring) + (size_t)capacity * slot_size;
}

int
ring_init(struct ring *r, uint64_t capacity, uint32_t slot_size)
{
	uint64_t i;

	if (!r || ((uintptr_t)r & 63) || !ring_bytes(capacity, slot_size))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->magic = RING_MAGIC;
	r->capacity = capacity;
	r->mask = capacity - 1;
	r->slot_size = slot_size;
	/* relaxed: nobody else sees @r before ring_init returns (contract) */
	atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
	atomic_store_explicit(&r->head, 0, memory_order_relaxed);
	for (i = 0; i < capacity; i++) {
		struct ring_slot *s = slot_at(r, i);

		s->flags = 0;
		s->len = 0;
		/* relaxed: as above, not shared yet */
		atomic_store_explicit(&s->seq, i, memory_order_relaxed);
	}
	return 0;
}

bool
ring_try_push_at(struct ring *r, uint32_t owner, const void *item, uint32_t len, uint64_t *at)
{
	const uint64_t cap = r->capacity;
	struct ring_slot *s;
	uint64_t pos, seq;

	assert(owner <= RING_OWNER_MAX);
	assert(len > 0 && len <= ring_payload_max(r));

	/* relaxed: tail is where to try; the seq CAS decides (see advance) */
	pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
	for (;;) {
		s = slot_at(r, pos);
		/*
		 * A2: pairs with R2, the release by the consumer of pos - cap
		 * (or by repair): its reads of the old payload happen before
		 * our writes below.
		 */
		seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (seq == pos) {
			/*
			 * R3: pairs with A3 in ring_repair: our load of tail
			 * (== pos) happens before repair's, so repair reads
			 * tail >= pos when it recovers this claim's position.
			 * On failure seq gets the word that beat us.
			 */
			if (atomic_compare_exchange_strong_explicit(&s->seq, &seq,
								    claim_word(owner, pos, 0),
								    memory_order_release,
								    memory_order_relaxed))
				break;
		}
		switch (producer_view(seq, pos, cap)) {
		case SV_TAKE:
			continue;	/* not reached: seq == pos was tried */
		case SV_BLOCKED:
			return false;
		case SV_HALF:
			/* (b) claimed, tail not moved: move it for the claimer */
			advance(&r->tail, &pos);
			sys_cpu_relax();
			continue;
		case SV_STALE:
			/* relaxed: as above */
			pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
			continue;
		}
	}

	/* we own pos; one try at tail, a failure means a helper did it */
	seq = pos;
	advance(&r->tail, &seq);
	s->flags = 0;
	s->len = len;
	memcpy(s->payload, item, len);
	/* R1: pairs with A1 (consumers) and A3 (repair): publishes flags, len, payload */
	atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
	if (at)
		*at = pos;
	return true;
}

bool
ring_try_push(struct ring *r, uint32_t owner, const void *item, uint32_t len)
{
	return ring_try_push_at(r, owner, item, len, NULL);
}

uint32_t
ring_try_pop_at(struct ring *r, uint32_t owner, void *out, uint64_t *at_pos)
{
	const uint64_t cap = r->capacity;
	struct ring_slot *s;
	uint64_t pos, seq;
	uint32_t flags, len;

	assert(owner <= RING_OWNER_MAX);

	/* relaxed: head is where to try; the seq CAS decides (see advance) */
	pos = atomic_load_explicit(&r->head, memory_order_relaxed);
	for (;;) {
		s = slot_at(r, pos);
		/*
		 * A1: pairs with R1, the producer's (or repair's) release of
		 * pos + 1: flags, len and payload are visible to us.
		 */
		seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (seq == pos + 1) {
			uint64_t mine = claim_word(owner, pos, CLAIM_CONS);

			/* R3: see ring_try_push; on failure seq gets the winner */
			if (atomic_compare_exchange_strong_explicit(&s->seq, &seq, mine,
								    memory_order_release,
								    memory_order_relaxed)) {
				uint64_t at = pos;

				advance(&r->head, &at);
				flags = s->flags;
				len = s->len;
				if (!(flags & RING_F_VOID))
					memcpy(out, s->payload, len);
				/*
				 * R2: pairs with A2 (the producer of pos + cap):
				 * our reads above happen before its writes.
				 */
				atomic_store_explicit(&s->seq, pos + cap, memory_order_release);
				if (!(flags & RING_F_VOID)) {
					if (at_pos)
						*at_pos = pos;
					return len;
				}
				/* a VOID left by repair: skip it; relaxed as above */
				pos = atomic_load_explicit(&r->head, memory_order_relaxed);
				continue;
			}
		}
		switch (consumer_view(seq, pos, cap)) {
		case SV_TAKE:
			continue;	/* not reached: seq == pos + 1 was tried */
		case SV_BLOCKED:
			return 0;	/* (c) empty, or next item not ready */
		case SV_HALF:
			/* (a) claimed, head not moved: move it for the claimer */
			advance(&r->head, &pos);
			sys_cpu_relax();
			continue;
		case SV_STALE:
			/* relaxed: as above */
			pos = atomic_load_explicit(&r->head, memory_order_relaxed);
			continue;
		}
	}
}

uint32_t
ring_try_pop(struct ring *r, uint32_t owner, void *out)
{
	return ring_try_pop_at(r, owner, out, NULL);
}

uint64_t
ring_count(const struct ring *r)
{
	/*
	 * relaxed: a racy snapshot by contract.  Two loads of two words are
	 * not one instant, so clamp to what I1 allows.
	 */
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (t <= h)
		return 0;
	return t - h > r->capacity ? r->capacity : t - h;
}

bool
ring_empty(const struct ring *r)
{
	const uint64_t cap = r->capacity;
	uint64_t pos, end, seq;

	/* relaxed: a hint by contract; nothing is read under these loads */
	pos = atomic_load_explicit(&r->head, memory_order_relaxed);
	end = atomic_load_explicit(&r->tail, memory_order_relaxed);
	/*
	 * Walk past positions consumers have claimed but head does not show
	 * yet (a claimer between its CAS and advance, or dead): the first
	 * unclaimed position decides.  At most cap steps.
	 */
	for (uint64_t n = 0; pos < end && n < cap; pos++, n++) {
		/* relaxed: hint only, see above */
		seq = atomic_load_explicit(&slot_at(r, pos)->seq, memory_order_relaxed);
		switch (consumer_view(seq, pos, cap)) {
		case SV_TAKE:
			return false;
		case SV_BLOCKED:
			return true;
		case SV_HALF:
		case SV_STALE:
			break;
		}
	}
	return true;
}

/* item_ok - flags and len of a published slot are ones a producer or repair writes */
static bool
item_ok(const struct ring *r, const struct ring_slot *s)
{
	if (s->flags == RING_F_VOID)
		return s->len == 0;
	return s->flags == 0 && s->len >= 1 && s->len <= ring_payload_max(r);
}

int
ring_validate(const struct ring *r, struct ring_report *rep)
{
	struct ring_report me = { 0 };
	uint64_t cap, p, seq;
	int rc = 0;

	if (r->magic != RING_MAGIC || !geometry_ok(r->capacity, r->slot_size) ||
	    r->mask != r->capacity - 1) {
		rc = -EBADMSG;
		goto out;
	}
	cap = r->capacity;
	/* relaxed: validate is meaningful only when nobody runs (contract) */
	me.head = atomic_load_explicit(&r->head, memory_order_relaxed);
	me.tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	if (me.tail < me.head || me.tail - me.head > cap) {
		rc = -EBADMSG;
		goto out;
	}
	/*
	 * Each slot once, as the position p in [head, head + cap) it stands
	 * for.  The legal states, with dead participants not yet repaired:
	 *   p <  tail: p + 1 (full), PCLAIM(p) (producer died after moving
	 *              tail), CCLAIM(p) only at p == head (consumer died
	 *              before moving head);
	 *   p >= tail: p (free), PCLAIM(p) only at p == tail (producer died
	 *              before moving tail), CCLAIM(p - cap) (consumer of the
	 *              previous lap died after moving head).
	 * Any owner is legal in a claim.
	 */
	for (p = me.head; p < me.head + cap; p++) {
		const struct ring_slot *s = slot_at(r, p);

		/* relaxed: quiescent, as above */
		seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
		if (p < me.tail) {
			if (seq == p + 1 && item_ok(r, s))
				me.full++;
			else if (claim_at(seq, p, 0))
				me.pclaimed++;
			else if (claim_at(seq, p, CLAIM_CONS) && p == me.head)
				me.cclaimed++;
			else
				me.bad++;
		} else {
			if (seq == p)
				continue;
			else if (claim_at(seq, p, 0) && p == me.tail)
				me.pclaimed++;
			else if (claim_at(seq, p - cap, CLAIM_CONS))
				me.cclaimed++;
			else
				me.bad++;
		}
	}
	if (me.bad)
		rc = -EBADMSG;
out:
	if (rep)
		*rep = me;
	return rc;
}

/*
 * claim_pos - the full position of claim word @w, given @tail loaded after
 * the claim was seen (A3).  A claim on p leaves p <= tail <= p + cap: tail
 * was p when the claimer loaded it (R3/A3 make that load happen before
 * ours), and tail cannot pass p + cap while the slot holds the claim, since
 * the producer of p + cap needs the slot free.  With cap <= 2^32 < 2^48 the
 * distance tail - p, taken mod 2^48 from the 48 bits, is exact.  Returns
 * false (slot left alone for ring_validate to report) if the word
 * contradicts that.
 */
static bool
claim_pos(const struct ring *r, uint64_t w, uint64_t tail, uint64_t *pos)
{
	uint64_t back = (tail - w) & CLAIM_POS;

	if (back > r->capacity)
		return false;
	*pos = tail - back;
	return true;
}

unsigned
ring_repair(struct ring *r, uint32_t owner,
	    void (*salvage)(void *ctx, const void *item, uint32_t len), void *ctx)
{
	const uint64_t cap = r->capacity;
	unsigned n = 0;
	uint64_t i, seq, pos, at;

	assert(owner <= RING_OWNER_MAX);
	for (i = 0; i < cap; i++) {
		struct ring_slot *s = slot_at(r, i);

		/*
		 * A3: pairs with R3, the dead owner's claim CAS (see claim_pos).
		 * A consumer's claim is an RMW in the release sequence of R1,
		 * so this also makes the payload it claimed visible to salvage.
		 * A claim of a dead owner is frozen (I3); other slots may move
		 * under us and are ignored.
		 */
		seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (!(seq & CLAIM_BIT) || claim_owner(seq) != owner)
			continue;
		/* relaxed: A3 above already orders this load after the claimer's */
		at = atomic_load_explicit(&r->tail, memory_order_relaxed);
		if (!claim_pos(r, seq, at, &pos))
			continue;
		if (!(seq & CLAIM_CONS)) {
			/*
			 * (d) producer died while writing: the payload is
			 * garbage.  Publish a VOID item in its place; consumers
			 * skip it.  Move tail first (if the claimer had not),
			 * so that no producer ever sees the slot published at
			 * a position tail still shows.
			 */
			s->flags = RING_F_VOID;
			s->len = 0;
			at = pos;
			advance(&r->tail, &at);
			/* R1 (by repair): pairs with A1, publishes the VOID flag */
			atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
		} else {
			/*
			 * (e) consumer died while reading: the payload is
			 * intact (nobody writes a claimed slot).  Hand it over,
			 * then free the slot as the consumer would have.  A
			 * consumer that had copied it out already may have
			 * delivered it too: at-least-once, as documented.
			 */
			if (!(s->flags & RING_F_VOID) && salvage)
				salvage(ctx, s->payload, s->len);
			at = pos;
			advance(&r->head, &at);
			/* R2 (by repair): pairs with A2 of the producer of pos + cap */
			atomic_store_explicit(&s->seq, pos + cap, memory_order_release);
		}
		n++;
	}
	return n;
}
