/*
 * client — libforq: one connection to forqd, speaking the line protocol of
 * forq-protocol(7).
 *
 * What it owns: a connected SOCK_STREAM Unix socket and a read buffer.  A
 * call writes one request line ({"type":T,"data":{...}} plus the newline)
 * and reads exactly one reply line, of any size up to a per-connection
 * maximum.  Requests on one connection are answered in order, so calls may
 * be repeated on the same client (forq(1)'s wait loop does); bytes that
 * arrive past a reply's newline are kept for the next call.
 *
 * Errors: the library never prints.  forq_client_connect() returns -errno,
 * like every function that acts.  The call functions return the protocol's
 * own error space instead, an enum forq_err (include/forq/errors.h): 0 on
 * success, the server's code for an ERROR reply, FORQ_ECONNECT when the
 * connection failed or closed under the call, FORQ_EPROTO when the reply
 * was not a well-formed reply to the request; a human message goes into a
 * caller buffer.  After FORQ_ECONNECT or FORQ_EPROTO the reply stream can
 * no longer be trusted to line up with requests: the client is marked
 * broken and every later call returns FORQ_ECONNECT at once; close it.
 *
 * cJSON crosses this interface on purpose (the reply's "data" object is
 * handed to the caller); this module creates, parses and frees cJSON trees
 * but never keeps a reference into one the caller owns.
 *
 * Threads: a client is used by one thread at a time (no internal locking);
 * separate clients are independent.  The socket is close-on-exec, and
 * writes use MSG_NOSIGNAL, so a vanished forqd never raises SIGPIPE.
 */
#ifndef FORQ_CLIENT_H
#define FORQ_CLIENT_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "forq/errors.h"

/* The default largest reply line accepted, in bytes (without the newline). */
#define FORQ_CLIENT_MAX_REPLY (64u << 20)

struct forq_client;

/*
 * forq_client_connect - connect to forqd's socket at @path.
 * @path: the socket's file name (paths_socket() gives the default);
 *        borrowed, copied into the socket address.
 * @out:  out: the new client, owned by the caller (forq_client_close());
 *        written only on success.
 *
 * Returns 0, or -errno:
 *   -ENAMETOOLONG  @path does not fit a sockaddr_un;
 *   -ENOENT        no socket at @path (forqd is not running there);
 *   -ECONNREFUSED  a stale socket file: nobody listens on it;
 *   -EACCES        no permission to reach it;
 *   -ENOMEM, -EMFILE, ...  local resource failure;
 * any of them means "cannot reach forqd" (FORQ_ECONNECT) to a user.
 * Callable from any thread.
 */
int forq_client_connect(const char *path, struct forq_client **out);

/*
 * forq_client_close - close the connection and free @c.  NULL is a no-op.
 * Any reply not yet read is discarded.
 */
void forq_client_close(struct forq_client *c);

/*
 * forq_client_set_max_reply - accept reply lines of up to @bytes bytes
 * (without the newline) on @c; the default is FORQ_CLIENT_MAX_REPLY.  A
 * longer reply fails its call with FORQ_EPROTO.  @bytes == 0 restores the
 * default.
 */
void forq_client_set_max_reply(struct forq_client *c, size_t bytes);

/*
 * forq_client_call - send one request and wait for its reply.
 * @c:          the connection.
 * @type:       the request type ("TASK_STATUS"); the reply must be of type
 *              @type + "_OK" or "ERROR".
 * @data:       the request's "data" object, or NULL for {}; consumed: freed
 *              by this call whatever it returns.
 * @reply_data: out (may be NULL): on success the reply's "data" object ({}
 *              when the reply had none), owned by the caller (cJSON_Delete);
 *              set to NULL on failure.
 * @errmsg:     out (may be NULL): on failure a NUL-terminated human message
 *              (the server's "message" for an ERROR reply, else a
 *              description of the local failure), truncated to @errlen;
 *              "" on success.
 * @errlen:     the size of @errmsg.
 *
 * Returns 0 (FORQ_OK), or a positive enum forq_err:
 *   the server's code  forqd answered ERROR (e.g. FORQ_ENOTFOUND); the
 *                      connection stays usable; an unknown code comes back
 *                      as FORQ_EINTERNAL with the server's message;
 *   FORQ_ECONNECT      the request could not be sent or the connection
 *                      closed before a whole reply arrived (forqd stopped
 *                      or crashed); also every call on a broken client;
 *   FORQ_EPROTO        the reply was not JSON, not an object, of the wrong
 *                      type, without a proper "data" object or ERROR code,
 *                      or longer than the maximum;
 *   FORQ_EINTERNAL     out of memory building the request.
 * Blocks until the reply arrives (forqd bounds TASK_WAIT by its "timeout").
 */
int forq_client_call(struct forq_client *c, const char *type, cJSON *data,
		     cJSON **reply_data, char *errmsg, size_t errlen);

/*
 * forq_client_call_raw - like forq_client_call(), for a request already
 * serialised by the caller (forq(1) builds JSONL batches as text).
 * @type: the request type inside @line, used only to check the reply's
 *        type; NULL accepts any type ending in "_OK".
 * @line: one complete request envelope, @len bytes, without the newline
 *        (the call adds it) and without any raw newline inside; borrowed,
 *        not modified, not kept.  It is sent as is: forqd validates it.
 *
 * Returns and fills @reply_data and @errmsg as forq_client_call().
 */
int forq_client_call_raw(struct forq_client *c, const char *type, const char *line,
			 size_t len, cJSON **reply_data, char *errmsg, size_t errlen);

#endif
