/*
 * client — libforq's connection (see client.h for the contract).
 *
 * Read buffer: rbuf holds rlen bytes received and not yet consumed; the
 * first rscan of them are known to hold no newline, so a long reply that
 * arrives in many pieces is scanned once, not once per piece.  A reply is
 * parsed in place (cJSON_ParseWithLengthOpts takes a length), then the
 * bytes after its newline move to the front.  The buffer grows
 * geometrically up to max_reply + 1 bytes and stays that large for the
 * connection's life; forq(1) makes one client per command.
 *
 * Sending: sendmsg() of the line and a separate "\n" iovec, so a raw batch
 * of megabytes is never copied just to append the newline.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"

#define RBUF_MIN (64u << 10)   /* first buffer size, and the least free space a read gets */

struct forq_client {
	int fd;                /* the connected socket */
	bool broken;           /* replies no longer line up with requests */
	size_t max_reply;      /* bytes, without the newline */
	char *rbuf;            /* received, not yet consumed bytes */
	size_t rcap;           /* bytes allocated at rbuf */
	size_t rlen;           /* bytes held at rbuf */
	size_t rscan;          /* leading bytes of rbuf known to hold no '\n' */
};

static void set_err(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_err(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

int
forq_client_connect(const char *path, struct forq_client **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct forq_client *c;
	size_t n = strlen(path);
	int fd, rc;

	if (n == 0)
		return -ENOENT;
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out_free;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out_close;
	}
	c->fd = fd;
	c->max_reply = FORQ_CLIENT_MAX_REPLY;
	*out = c;
	return 0;

out_close:
	close(fd);
out_free:
	free(c);
	return rc;
}

void
forq_client_close(struct forq_client *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c->rbuf);
	free(c);
}

void
forq_client_set_max_reply(struct forq_client *c, size_t bytes)
{
	c->max_reply = bytes ? bytes : FORQ_CLIENT_MAX_REPLY;
}

/* Write @line and a newline, whole.  0 or -errno. */
static int
send_line(int fd, const char *line, size_t len)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)line, .iov_len = len },
		{ .iov_base = "\n", .iov_len = 1 },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	while (mh.msg_iovlen > 0) {
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		size_t left;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		left = (size_t)n;
		while (mh.msg_iovlen > 0 && left >= mh.msg_iov->iov_len) {
			left -= mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + left;
			mh.msg_iov->iov_len -= left;
		}
	}
	return 0;
}

/*
 * Read until rbuf holds a whole line; *@linelen is its length without the
 * newline.  0 or a forq_err with @errmsg filled.
 */
static int
recv_line(struct forq_client *c, size_t *linelen, char *errmsg, size_t errlen)
{
	for (;;) {
		char *nl = NULL;
		ssize_t n;

		if (c->rlen > c->rscan)
			nl = memchr(c->rbuf + c->rscan, '\n', c->rlen - c->rscan);

		if (nl) {
			*linelen = (size_t)(nl - c->rbuf);
			if (*linelen > c->max_reply)
				break;
			return 0;
		}
		c->rscan = c->rlen;
		if (c->rlen > c->max_reply)
			break;
		if (c->rcap - c->rlen < RBUF_MIN && c->rcap < c->max_reply + 1) {
			size_t cap = c->rcap ? c->rcap * 2 : RBUF_MIN;
			char *p;

			if (cap < c->rlen + RBUF_MIN)
				cap = c->rlen + RBUF_MIN;
			if (cap > c->max_reply + 1)
				cap = c->max_reply + 1;
			p = realloc(c->rbuf, cap);
			if (!p) {
				set_err(errmsg, errlen,
					"out of memory reading a reply of %zu+ bytes", c->rlen);
				return FORQ_EINTERNAL;
			}
			c->rbuf = p;
			c->rcap = cap;
		}
		n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			set_err(errmsg, errlen, "reading the reply: %s", strerror(errno));
			return FORQ_ECONNECT;
		}
		if (n == 0) {
			if (c->rlen)
				set_err(errmsg, errlen,
					"forqd closed the connection in the middle of a reply");
			else
				set_err(errmsg, errlen,
					"forqd closed the connection without replying");
			return FORQ_ECONNECT;
		}
		c->rlen += (size_t)n;
	}
	set_err(errmsg, errlen, "reply longer than the maximum of %zu bytes", c->max_reply);
	return FORQ_EPROTO;
}

/* Drop the first @n bytes of rbuf (a reply and its newline). */
static void
consume(struct forq_client *c, size_t n)
{
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
	c->rscan = 0;
}

static bool
only_space(const char *p, const char *end)
{
	for (; p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return false;
	return true;
}

/* Does reply type @t answer request type @type (NULL: any) successfully? */
static bool
is_ok_type(const char *t, const char *type)
{
	size_t tl = strlen(t);

	if (type) {
		size_t n = strlen(type);

		return tl == n + 3 && memcmp(t, type, n) == 0 && strcmp(t + n, "_OK") == 0;
	}
	return tl > 3 && strcmp(t + tl - 3, "_OK") == 0;
}

/* Interpret one reply line: see forq_client_call(). */
static int
parse_reply(const char *line, size_t len, const char *type, cJSON **reply_data,
	    char *errmsg, size_t errlen)
{
	const char *end = NULL;
	cJSON *root, *t, *d, *code, *msg;
	const char *text;
	int rc = FORQ_EPROTO;

	root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (!root || !end || !only_space(end, line + len)) {
		set_err(errmsg, errlen, "reply is not valid JSON");
		goto out_free;
	}
	if (!cJSON_IsObject(root)) {
		set_err(errmsg, errlen, "reply is not a JSON object");
		goto out_free;
	}
	t = cJSON_GetObjectItemCaseSensitive(root, "type");
	if (!cJSON_IsString(t)) {
		set_err(errmsg, errlen, "reply has no string \"type\"");
		goto out_free;
	}
	d = cJSON_GetObjectItemCaseSensitive(root, "data");
	if (strcmp(t->valuestring, "ERROR") == 0) {
		code = cJSON_GetObjectItemCaseSensitive(d, "code");
		msg = cJSON_GetObjectItemCaseSensitive(d, "message");
		if (!cJSON_IsObject(d) || !cJSON_IsString(code)) {
			set_err(errmsg, errlen, "ERROR reply without a string \"code\"");
			goto out_free;
		}
		rc = forq_err_from_code(code->valuestring);
		if (rc == FORQ_OK) {
			set_err(errmsg, errlen, "ERROR reply with code \"OK\"");
			rc = FORQ_EPROTO;
			goto out_free;
		}
		text = cJSON_IsString(msg) && *msg->valuestring ? msg->valuestring
								 : forq_err_message(rc);
		if (rc == FORQ_EINTERNAL && strcmp(code->valuestring, "INTERNAL") != 0)
			set_err(errmsg, errlen, "%s [unknown code %s]", text, code->valuestring);
		else
			set_err(errmsg, errlen, "%s", text);
		goto out_free;
	}
	if (!is_ok_type(t->valuestring, type)) {
		set_err(errmsg, errlen, "unexpected reply type \"%s\" to %s", t->valuestring,
			type ? type : "a request");
		goto out_free;
	}
	if (d && !cJSON_IsObject(d)) {
		set_err(errmsg, errlen, "reply \"data\" is not an object");
		goto out_free;
	}
	rc = FORQ_OK;
	if (reply_data) {
		d = d ? cJSON_DetachItemViaPointer(root, d) : cJSON_CreateObject();
		if (!d) {
			set_err(errmsg, errlen, "out of memory");
			rc = FORQ_EINTERNAL;
		}
		*reply_data = d;
	}
out_free:
	cJSON_Delete(root);
	return rc;
}

int
forq_client_call_raw(struct forq_client *c, const char *type, const char *line,
		     size_t len, cJSON **reply_data, char *errmsg, size_t errlen)
{
	size_t linelen;
	int rc;

	if (reply_data)
		*reply_data = NULL;
	set_err(errmsg, errlen, "%s", "");
	if (c->broken) {
		set_err(errmsg, errlen, "connection unusable after an earlier error");
		return FORQ_ECONNECT;
	}
	if (memchr(line, '\n', len)) {
		set_err(errmsg, errlen, "request contains a raw newline");
		return FORQ_EINTERNAL;
	}
	rc = send_line(c->fd, line, len);
	if (rc) {
		set_err(errmsg, errlen, "sending the request: %s", strerror(-rc));
		rc = FORQ_ECONNECT;
		goto out_broken;
	}
	rc = recv_line(c, &linelen, errmsg, errlen);
	if (rc)
		goto out_broken;
	rc = parse_reply(c->rbuf, linelen, type, reply_data, errmsg, errlen);
	consume(c, linelen + 1);
	if (rc == FORQ_EPROTO)
		goto out_broken;
	return rc;

out_broken:
	if (rc == FORQ_ECONNECT || rc == FORQ_EPROTO)
		c->broken = true;
	return rc;
}

int
forq_client_call(struct forq_client *c, const char *type, cJSON *data,
		 cJSON **reply_data, char *errmsg, size_t errlen)
{
	cJSON *env;
	char *text;
	int rc;

	assert(!data || cJSON_IsObject(data));
	if (reply_data)
		*reply_data = NULL;
	env = cJSON_CreateObject();
	if (!env)
		goto out_nomem_data;
	if (!cJSON_AddStringToObject(env, "type", type))
		goto out_nomem_env;
	if (!data)
		data = cJSON_CreateObject();
	if (!data || !cJSON_AddItemToObject(env, "data", data))
		goto out_nomem_env;
	data = NULL;    /* now owned by env */
	text = cJSON_PrintUnformatted(env);
	cJSON_Delete(env);
	if (!text)
		goto out_nomem;
	rc = forq_client_call_raw(c, type, text, strlen(text), reply_data, errmsg, errlen);
	cJSON_free(text);
	return rc;

out_nomem_env:
	cJSON_Delete(env);
out_nomem_data:
	cJSON_Delete(data);
out_nomem:
	set_err(errmsg, errlen, "out of memory building the request");
	return FORQ_EINTERNAL;
}
