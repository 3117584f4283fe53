/*
 * paths — default locations (see paths.h).  No allocation, no printing.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

static int
put(char *buf, size_t len, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s%s", a, b);

	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static const char *
home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && *h)
		return h;
	pw = getpwuid(getuid());
	return pw ? pw->pw_dir : NULL;
}

int
paths_state_dir(char *buf, size_t len)
{
	const char *e = getenv("FORQ_STATE");
	const char *h;

	if (e && *e)
		return put(buf, len, e, "");
	e = getenv("XDG_STATE_HOME");
	if (e && *e)
		return put(buf, len, e, "/forq");
	h = home_dir();
	if (!h)
		return -ENOENT;
	return put(buf, len, h, "/.local/state/forq");
}

int
paths_socket(char *buf, size_t len, const char *state_dir)
{
	const char *e = getenv("FORQ_SOCKET");
	char sd[4096];
	int rc;

	if (e && *e)
		return put(buf, len, e, "");
	e = getenv("XDG_RUNTIME_DIR");
	if (e && *e)
		return put(buf, len, e, "/forq/forq.sock");
	if (!state_dir) {
		rc = paths_state_dir(sd, sizeof(sd));
		if (rc)
			return rc;
		state_dir = sd;
	}
	return put(buf, len, state_dir, "/forq.sock");
}

int
paths_mkdirs(const char *dir, unsigned mode)
{
	char tmp[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0) {
		struct stat st;

		if (errno != EEXIST)
			return -errno;
		if (stat(tmp, &st) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
	return 0;
}
