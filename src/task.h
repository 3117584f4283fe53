/*
 * task — the task record: states, the transition table, and the packed
 * byte layout stored in LMDB.
 *
 * States.  LMDB holds what must survive (QUEUED, WAITING and the terminal
 * states); RUNNING is never stored: it is read from the worker blocks in
 * shared memory (DESIGN invariant 4).  A record is QUEUED from its commit
 * until its last attempt ends.
 *
 * Record layout, version 1 (big-endian, fixed offsets, then variable parts):
 *    0 u8  version (1)        1 u8  state            2 u8  priority
 *    3 u8  flags              4 u16 kernel id        6 u16 attempts ended
 *    8 u16 retries allowed   10 u16 name length     12 u32 blob length
 *   16 u32 result length     20 i32 exit code       24 i32 signal
 *   28 u32 timeout (ms)      32 u64 submitted (wall ns)
 *   40 u64 started (wall ns) 48 u64 ended (wall ns) 56 i32 worker  60 i32 cpu
 *   64 u64 user CPU (us)     72 u64 system CPU (us) 80 u64 max RSS (KiB)
 *   88 u32 array index       92 u32 retry delay (ms) 96 u32 dependencies
 *  100 u8  key length       101 u8  reason length
 *  102 reason, name, key, dependency ids (u64 each), blob, result
 * Short input or an unknown version is refused by task_unpack, never read
 * past.
 *
 * Attempt records (database "attempts", key = task id u64 + attempt u16,
 * big-endian) hold one line of history per ended attempt:
 *    0 u8 version (1)  1 u8 outcome (enum task_state it ended in, or
 *    QUEUED for "retried")  2 i16 worker  4 i32 cpu  8 i32 exit code
 *   12 i32 signal  16 u64 start (wall ns)  24 u64 end (wall ns)
 *   32 u8 reason length  33 reason
 */
#ifndef FORQ_TASK_H
#define FORQ_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TASK_REC_VERSION 1u
#define TASK_REC_FIXED   102u
#define TASK_ATT_FIXED   33u
#define TASK_KEY_MAX     255u
#define TASK_DEPS_MAX    1000000u

/* Record flags. */
#define TASK_F_ARRAY     0x01u   /* array_index is meaningful */
#define TASK_F_AFTER_ANY 0x02u   /* run once every dependency ended, whatever the outcome */
#define TASK_NAME_MAX    255u
#define TASK_REASON_MAX  63u

enum task_state {
	TASK_QUEUED = 0,
	TASK_WAITING,
	TASK_RUNNING,        /* live only, never stored */
	TASK_DONE,
	TASK_FAILED,
	TASK_TIMEOUT,
	TASK_LOST,
	TASK_CANCELLED,
	TASK_STATE__COUNT
};

enum task_event {
	TEV_RELEASE = 0,     /* dependencies satisfied (WAITING -> QUEUED) */
	TEV_START,           /* a worker took it (QUEUED -> RUNNING, live) */
	TEV_DONE,            /* an attempt succeeded */
	TEV_FAIL,            /* an attempt failed, no retry left */
	TEV_TIMEOUT,         /* an attempt timed out, no retry left */
	TEV_LOST,            /* its worker died, no retry left */
	TEV_RETRY,           /* an attempt ended, a retry is due (-> QUEUED) */
	TEV_CANCEL,          /* cancelled by the user or a failed dependency */
	TEV__COUNT
};

/* The unpacked record.  Pointers borrow from the buffer given to unpack. */
struct task_rec {
	uint8_t state;           /* enum task_state */
	uint8_t prio;            /* 0..9 */
	uint8_t flags;           /* reserved, 0 */
	uint16_t kernel;         /* kernel id */
	uint16_t attempts;       /* attempts that ended */
	uint16_t retries;        /* further attempts allowed after a failure */
	uint32_t timeout_ms;     /* 0 = none */
	int32_t exit_code;       /* last attempt's exit code */
	int32_t term_signal;     /* last attempt's signal, or 0 */
	uint64_t submit_ns;      /* CLOCK_REALTIME */
	uint64_t start_ns;       /* CLOCK_REALTIME, last attempt, 0 = never */
	uint64_t end_ns;         /* CLOCK_REALTIME, 0 = not ended */
	int32_t worker;          /* last worker index, -1 = none */
	int32_t cpu;             /* last OS cpu, -1 = none */
	uint64_t user_us;        /* CPU time, user */
	uint64_t sys_us;         /* CPU time, system */
	uint64_t maxrss_kb;      /* peak RSS */
	uint32_t array_index;    /* with TASK_F_ARRAY: the index */
	uint32_t retry_delay_ms; /* first retry's delay; doubles per attempt */
	uint32_t ndeps;          /* dependencies */
	const unsigned char *deps; /* ndeps big-endian u64 ids, not aligned */
	const char *key;         /* idempotency key, not NUL-terminated */
	uint8_t key_len;
	const char *reason;      /* not NUL-terminated */
	uint8_t reason_len;
	const char *name;        /* not NUL-terminated */
	uint16_t name_len;
	const unsigned char *blob; /* compiled kernel arguments */
	uint32_t blob_len;
	const char *result;      /* JSON text, not NUL-terminated */
	uint32_t result_len;
};

/* task_state_name - "QUEUED" ...; task_state_parse - case-insensitive, -1 if unknown. */
const char *task_state_name(enum task_state s);
int task_state_parse(const char *s);
/* task_state_terminal - DONE, FAILED, TIMEOUT, LOST or CANCELLED. */
bool task_state_terminal(enum task_state s);

/*
 * task_transition - the state after @ev in @from, or -1 when the table
 * forbids it (the caller refuses the event and changes nothing).
 */
int task_transition(enum task_state from, enum task_event ev);

/* task_packed_size - bytes task_pack will write for @r. */
size_t task_packed_size(const struct task_rec *r);
/* task_pack - write @r into @out (task_packed_size bytes). */
void task_pack(const struct task_rec *r, unsigned char *out);
/*
 * task_unpack - parse @len bytes at @in into @r; the pointers in @r borrow
 * from @in.  Returns 0, -EPROTO for an unknown version, -EBADMSG for short
 * or inconsistent input.
 */
int task_unpack(const unsigned char *in, size_t len, struct task_rec *r);

/* One ended attempt. */
struct task_attempt {
	uint8_t outcome;         /* terminal state, or TASK_QUEUED when retried */
	int16_t worker;          /* worker index, -1 none */
	int32_t cpu;             /* OS cpu, -1 none */
	int32_t exit_code;
	int32_t term_signal;
	uint64_t start_ns;       /* CLOCK_REALTIME */
	uint64_t end_ns;         /* CLOCK_REALTIME */
	uint8_t reason_len;
	char reason[TASK_REASON_MAX + 1]; /* NUL-terminated */
};

/* task_attempt_pack - into @out (TASK_ATT_FIXED + reason_len bytes); returns the size. */
size_t task_attempt_pack(const struct task_attempt *a, unsigned char *out);
/* task_attempt_unpack - 0, -EPROTO (version), -EBADMSG (short or garbled). */
int task_attempt_unpack(const unsigned char *in, size_t len, struct task_attempt *a);

/* task_dep - dependency @i of @r. */
uint64_t task_dep(const struct task_rec *r, uint32_t i);

/* Big-endian helpers shared with the store's keys. */
void task_put_be(unsigned char *p, uint64_t v, unsigned n);
uint64_t task_get_be(const unsigned char *p, unsigned n);

#endif
