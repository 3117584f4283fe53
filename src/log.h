/*
 * log — forqd's log lines on stderr: "forqd: LEVEL: message".
 * Thread-safe (one fprintf per line); the level is set once at start.
 */
#ifndef FORQ_LOG_H
#define FORQ_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* log_set_level - set the level; log_parse_level - "error".."debug", -1 if unknown. */
void log_set_level(enum log_level l);
int log_parse_level(const char *s);
/* log_set_prog - the program name printed first ("forqd", "forqd[worker 3]"). */
void log_set_prog(const char *prog);

void log_msg(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
