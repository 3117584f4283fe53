/*
 * ring — a bounded lock-free MPMC ring of fixed-size slots in shared memory,
 * safe against any participant being SIGKILLed at any instruction.
 *
 * Design (Vyukov's bounded MPMC queue, with claim-by-slot ownership)
 * ------------------------------------------------------------------
 * The ring is a header followed by `capacity` slots (a power of two).  Each
 * slot starts with a 64-bit sequence word `seq`.  head and tail are
 * free-running 64-bit positions on cache lines of their own.  For slot
 * i = pos & mask the sequence word moves through:
 *
 *     pos            free: the producer of position pos may claim it
 *     PCLAIM(o,pos)  claimed by producer o, payload being written
 *     pos + 1        full: the consumer of position pos may claim it
 *     CCLAIM(o,pos)  claimed by consumer o, payload being read
 *     pos + cap      free for the producer of position pos + cap
 *
 * In classic Vyukov the producer claims a position by CAS on tail and the
 * consumer by CAS on head; a process killed between that CAS and its final
 * store leaves a slot that nobody can ever pass, and nobody can tell who
 * owned it.  Here the claim is a CAS on the slot's own seq word that writes
 * the owner's id into it (bit 63 set, bit 62 = consumer, bits 48..61 =
 * owner, bits 0..47 = pos & (2^48-1)).  tail/head are then advanced by CAS
 * by the claimer *or by anyone who finds the slot at that position already
 * claimed* (helping), so a claimer that dies right after its claim never
 * blocks the others' progress through head/tail.  A dead owner's claims are
 * therefore findable (scan for its id) and unambiguous.
 *
 * Killed participant — what it leaves, who repairs:
 *   - producer killed after PCLAIM: a slot in PCLAIM(o,pos); consumers that
 *     reach it find nothing ready there (ring_try_pop returns 0; it never
 *     waits on a claim) until ring_repair(o) turns it into a VOID item
 *     (flags word RING_F_VOID, seq = pos + 1); ring_try_pop skips VOID
 *     items.
 *   - consumer killed after CCLAIM: the payload is intact (no producer may
 *     touch a claimed slot).  ring_repair(o) hands the payload to the
 *     caller's salvage callback and frees the slot (seq = pos + cap).
 *   - anyone killed before its claim CAS or after its final store: nothing
 *     to repair; head/tail are only ever advanced by CAS from a claimed or
 *     consumed position, so a lost helper CAS is redone by the next caller.
 *   ring_repair must only be called once the owner is known dead (its
 *   pidfd reported exit), by one process at a time (the supervisor).
 *
 * Memory orders (pair labels used in ring.c):
 *   R1 producer's release store seq = pos+1  pairs with  A1 consumer's
 *      acquire load of seq (the payload written before R1 is visible).
 *   R2 consumer's release store seq = pos+cap  pairs with  A2 producer's
 *      acquire load of seq (the consumer's reads of the payload happen
 *      before the next producer's writes).
 *   R3 the claim CAS (release on success)  pairs with  A3 ring_repair's
 *      acquire load of seq: the claimer's load of tail (== pos) happens
 *      before repair's, so repair can recover the claim's full position
 *      from its 48 bits and tail; a consumer's claim, an RMW in R1's
 *      release sequence, also makes the payload visible to salvage.
 *   head/tail CAS are relaxed on success: they only publish "someone owns
 *   this position", and ownership itself is established by the seq CAS.
 *
 * Slot layout: seq (8 bytes), flags (4), len (4), payload (slot_size - 16).
 * slot_size is a multiple of 64 so slots never share a cache line.
 *
 * Owners: 0 = the supervisor (forqd), 1..RING_OWNER_MAX = workers.
 * The layout is pointer-free and may be mapped at different addresses.
 */
#ifndef FORQ_RING_H
#define FORQ_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RING_MAGIC      0x464f5251524e4731ull  /* "FORQRNG1" */
#define RING_OWNER_MAX  16383u                 /* 14 bits */
#define RING_SLOT_HDR   16u                    /* seq + flags + len */
#define RING_F_VOID     1u                     /* item voided by repair */

struct ring_slot {
	_Atomic uint64_t seq;    /* state word, see above */
	uint32_t flags;          /* RING_F_* */
	uint32_t len;            /* payload bytes in use */
	unsigned char payload[]; /* slot_size - RING_SLOT_HDR bytes */
};

struct ring {
	/* line 0: constants, written once by ring_init */
	uint64_t magic;          /* RING_MAGIC */
	uint64_t capacity;       /* slots, a power of two */
	uint64_t mask;           /* capacity - 1 */
	uint32_t slot_size;      /* bytes per slot, multiple of 64 */
	uint32_t pad0;
	unsigned char pad1[32];
	/* line 1: producers */
	_Atomic uint64_t tail;   /* next position to claim for push */
	unsigned char pad2[56];
	/* line 2: consumers */
	_Atomic uint64_t head;   /* next position to claim for pop */
	unsigned char pad3[56];
	/* slots follow, 64-byte aligned */
	unsigned char slots[] __attribute__((aligned(64)));
};

_Static_assert(offsetof(struct ring, tail) == 64, "tail on its own line");
_Static_assert(offsetof(struct ring, head) == 128, "head on its own line");
_Static_assert(offsetof(struct ring, slots) == 192, "slots after header");

/*
 * ring_bytes - bytes needed for a ring of @capacity slots of @slot_size;
 * 0 when ring_init would refuse them.
 */
size_t ring_bytes(uint64_t capacity, uint32_t slot_size);

/*
 * ring_init - lay out an empty ring in @mem (ring_bytes() bytes, 64-aligned).
 * @capacity: a power of two, 2 .. 2^32; @slot_size: a multiple of 64, >= 64.
 * Returns 0, or -EINVAL for a bad capacity or slot size, or @mem not
 * 64-byte aligned.
 * Call before any other participant can see @mem.
 */
int ring_init(struct ring *r, uint64_t capacity, uint32_t slot_size);

/* ring_payload_max - payload bytes one slot carries. */
static inline uint32_t
ring_payload_max(const struct ring *r)
{
	return r->slot_size - RING_SLOT_HDR;
}

/*
 * ring_try_push - append @len bytes at @item; lock-free, any number of
 * concurrent producers.  @owner identifies the caller for repair.
 * Returns true when pushed, false when the ring is full.
 * @len must be <= ring_payload_max() (asserted).
 */
bool ring_try_push(struct ring *r, uint32_t owner, const void *item, uint32_t len);

/*
 * ring_try_pop - remove the oldest item into @out (ring_payload_max() bytes);
 * lock-free, any number of concurrent consumers.  VOID items left by
 * repair are skipped.  Returns the item's length (> 0), or 0 when empty
 * (ring_try_push asserts len > 0, so 0 is never a real item).
 */
uint32_t ring_try_pop(struct ring *r, uint32_t owner, void *out);

/*
 * ring_try_push_at / ring_try_pop_at - the same, also reporting the ring
 * position the item took (@at may be NULL).  forqd's store records where
 * it put each task so that a cancel can find it; a worker reports where it
 * took one from so that it can check that position's cancel mark.
 */
bool ring_try_push_at(struct ring *r, uint32_t owner, const void *item, uint32_t len, uint64_t *at);
uint32_t ring_try_pop_at(struct ring *r, uint32_t owner, void *out, uint64_t *at);

/*
 * ring_count - items in the ring now (tail - head); a racy snapshot meant
 * for scheduling hints and figures, exact when the ring is quiescent.
 */
uint64_t ring_count(const struct ring *r);

/* ring_empty - true when no item is ready at head (racy hint). */
bool ring_empty(const struct ring *r);

struct ring_report {
	uint64_t head;           /* head snapshot */
	uint64_t tail;           /* tail snapshot */
	uint64_t full;           /* slots holding a published item */
	uint64_t pclaimed;       /* slots claimed by a producer */
	uint64_t cclaimed;       /* slots claimed by a consumer */
	uint64_t bad;            /* slots in a state no legal history gives */
};

/*
 * ring_validate - check every slot against head and tail.  Meaningful only
 * while no participant is active (e.g. after all are stopped or dead).
 * Fills @rep (may be NULL) and returns 0 when consistent, -EBADMSG if any
 * slot is in an impossible state or head/tail disagree with the slots.
 */
int ring_validate(const struct ring *r, struct ring_report *rep);

/*
 * ring_repair - undo what dead @owner left claimed.  Producer claims become
 * VOID items; consumer claims are handed to @salvage (payload, len, ctx)
 * and then freed.  @salvage may be NULL.  head/tail are advanced past the
 * repaired positions when they were left behind.
 * Call only after @owner is known dead, from one process at a time, while
 * the other participants may keep running.  Returns the number of slots
 * repaired.
 */
unsigned ring_repair(struct ring *r, uint32_t owner,
		     void (*salvage)(void *ctx, const void *item, uint32_t len), void *ctx);

#endif
