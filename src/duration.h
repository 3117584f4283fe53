/*
 * duration — parse and format the durations users and the wire speak
 * ("250ms", "10s", "5m", "1h", "1m30s", "1.5").
 *
 * Owned here: the one grammar for a duration string, used by forq(1) for
 * its -t/--timeout options and by forqd for the "timeout" field of a task
 * (forq-protocol(7), "Durations").  A duration is kept as a whole number of
 * milliseconds in a uint64_t; 0 means "none" wherever a timeout is meant.
 *
 * Grammar (no spaces, no sign, ASCII, case-sensitive):
 *
 *     duration := number                      seconds ("10", "1.5")
 *               | term { term }               units strictly decreasing
 *     term     := number unit
 *     unit     := "h" | "m" | "s" | "ms"
 *     number   := digit { digit } [ "." digit { digit } ]
 *
 * so "250ms", "0.25s", "5m", "1h30m", "1m30.5s" are durations and "",
 * "-1s", "+1", "1.", ".5", "1x", "1s2m", "1s1s", " 1s" are not.  Fractions
 * are rounded to the nearest millisecond, except that a non-zero duration
 * never rounds to 0 (it becomes 1 ms): "0" is the only way to say "none".
 * The largest duration is DURATION_MAX_MS (about 584 years), chosen so
 * that callers may convert to nanoseconds in a uint64_t without overflow.
 *
 * Pure functions: no allocation, no printing, callable from any thread or
 * process.
 */
#ifndef FORQ_DURATION_H
#define FORQ_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* The largest duration accepted, in milliseconds (UINT64_MAX ns). */
#define DURATION_MAX_MS (UINT64_MAX / 1000000u)

/* A buffer of this size always holds duration_format()'s output. */
#define DURATION_FMT_MAX 32

/*
 * duration_parse - parse the duration string @s into milliseconds.
 * @s:  NUL-terminated text in the grammar above; borrowed, not kept.
 * @ms: out: the duration in milliseconds; written only on success.
 *
 * Returns 0 on success, or
 *   -EINVAL  @s is empty, negative, or not in the grammar (user error:
 *            report it and refuse the input);
 *   -ERANGE  the value exceeds DURATION_MAX_MS.
 */
int duration_parse(const char *s, uint64_t *ms);

/*
 * duration_from_seconds - convert a number of seconds (the wire's numeric
 * "timeout") into milliseconds, rounding as duration_parse() does.
 * @s:  seconds; may be fractional.
 * @ms: out: the duration in milliseconds; written only on success.
 *
 * Returns 0, -EINVAL when @s is negative or NaN, -ERANGE when it is
 * infinite or exceeds DURATION_MAX_MS.
 */
int duration_from_seconds(double s, uint64_t *ms);

/*
 * duration_format - write @ms as the shortest duration text that
 * duration_parse() reads back to the same value: "0s", "250ms", "10s",
 * "1.5s", "1m30s", "2h", "1h0m5s" is never written ("1h5s" is).
 * Under one second the unit is "ms"; from one second on, hours, minutes
 * and seconds are written with zero parts left out and the milliseconds as
 * a decimal fraction of the seconds.
 * @buf: out: the NUL-terminated text, truncated (still terminated) when
 *       @len is too small; DURATION_FMT_MAX always suffices.
 * @len: the size of @buf; nothing is written when it is 0.
 */
void duration_format(uint64_t ms, char *buf, size_t len);

#endif
