/*
 * test_paths — where forq keeps its state and socket: the precedence of
 * FORQ_STATE, XDG_STATE_HOME and HOME for the state directory and of
 * FORQ_SOCKET, XDG_RUNTIME_DIR and the state directory for the socket
 * (empty variables count as unset), -ENAMETOOLONG for what does not fit,
 * and paths_mkdirs (nested creation with the mode, existing directories
 * accepted, an existing non-directory refused, like mkdir -p).
 *
 * The environment is saved before each test and restored after it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

static const char *const vars[] = {
	"FORQ_STATE", "XDG_STATE_HOME", "HOME", "FORQ_SOCKET", "XDG_RUNTIME_DIR",
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

static char *saved[NVARS];

static int
save_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVARS; i++) {
		const char *v = getenv(vars[i]);

		saved[i] = v ? strdup(v) : NULL;
		unsetenv(vars[i]);
	}
	return 0;
}

static int
restore_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVARS; i++) {
		if (saved[i])
			setenv(vars[i], saved[i], 1);
		else
			unsetenv(vars[i]);
		free(saved[i]);
		saved[i] = NULL;
	}
	return 0;
}

static void
test_state_dir(void **state)
{
	char buf[4096];

	(void)state;
	setenv("HOME", "/home/u", 1);
	assert_int_equal(paths_state_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/home/u/.local/state/forq");
	setenv("XDG_STATE_HOME", "/xdg/state", 1);
	assert_int_equal(paths_state_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/xdg/state/forq");
	setenv("FORQ_STATE", "/explicit/st", 1);
	assert_int_equal(paths_state_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/explicit/st");
	/* empty counts as unset */
	setenv("FORQ_STATE", "", 1);
	assert_int_equal(paths_state_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/xdg/state/forq");
	setenv("XDG_STATE_HOME", "", 1);
	assert_int_equal(paths_state_dir(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/home/u/.local/state/forq");
	/* no HOME: the password database's home directory */
	unsetenv("HOME");
	if (paths_state_dir(buf, sizeof(buf)) == 0) {
		assert_true(strlen(buf) > strlen("/.local/state/forq"));
		assert_string_equal(buf + strlen(buf) - strlen("/.local/state/forq"),
				    "/.local/state/forq");
	}
}

static void
test_socket(void **state)
{
	char buf[4096];

	(void)state;
	setenv("HOME", "/home/u", 1);
	assert_int_equal(paths_socket(buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "/home/u/.local/state/forq/forq.sock");
	assert_int_equal(paths_socket(buf, sizeof(buf), "/my/state"), 0);
	assert_string_equal(buf, "/my/state/forq.sock");
	setenv("FORQ_STATE", "/st", 1);
	assert_int_equal(paths_socket(buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "/st/forq.sock");
	setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
	assert_int_equal(paths_socket(buf, sizeof(buf), "/my/state"), 0);
	assert_string_equal(buf, "/run/user/7/forq/forq.sock");
	setenv("FORQ_SOCKET", "/tmp/x.sock", 1);
	assert_int_equal(paths_socket(buf, sizeof(buf), "/my/state"), 0);
	assert_string_equal(buf, "/tmp/x.sock");
	setenv("FORQ_SOCKET", "", 1);
	assert_int_equal(paths_socket(buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "/run/user/7/forq/forq.sock");
	setenv("XDG_RUNTIME_DIR", "", 1);
	assert_int_equal(paths_socket(buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "/st/forq.sock");
}

static void
test_too_long(void **state)
{
	char buf[4096], *big = malloc(5000), small[16];

	(void)state;
	assert_non_null(big);
	memset(big, 'a', 4999);
	big[0] = '/';
	big[4999] = '\0';
	setenv("FORQ_STATE", big, 1);
	assert_int_equal(paths_state_dir(buf, sizeof(buf)), -ENAMETOOLONG);
	assert_int_equal(paths_socket(buf, sizeof(buf), NULL), -ENAMETOOLONG);
	unsetenv("FORQ_STATE");
	setenv("XDG_STATE_HOME", big, 1);
	assert_int_equal(paths_state_dir(buf, sizeof(buf)), -ENAMETOOLONG);
	unsetenv("XDG_STATE_HOME");
	setenv("HOME", big, 1);
	assert_int_equal(paths_state_dir(buf, sizeof(buf)), -ENAMETOOLONG);
	setenv("HOME", "/h", 1);
	setenv("FORQ_SOCKET", big, 1);
	assert_int_equal(paths_socket(buf, sizeof(buf), NULL), -ENAMETOOLONG);
	unsetenv("FORQ_SOCKET");
	setenv("XDG_RUNTIME_DIR", big, 1);
	assert_int_equal(paths_socket(buf, sizeof(buf), NULL), -ENAMETOOLONG);
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(paths_socket(buf, sizeof(buf), big), -ENAMETOOLONG);
	/* the buffer, not only PATH_MAX, bounds the result */
	assert_int_equal(paths_state_dir(small, sizeof(small)), -ENAMETOOLONG);
	assert_int_equal(paths_socket(small, sizeof(small), "/a"), 0);
	assert_string_equal(small, "/a/forq.sock");
	assert_int_equal(paths_socket(small, sizeof(small), "/abcde"), -ENAMETOOLONG);
	/* exactly fitting: 15 characters and the NUL */
	assert_int_equal(paths_socket(small, sizeof(small), "/abcd"), 0);
	assert_string_equal(small, "/abcd/forq.sock");
	assert_int_equal(paths_mkdirs(big, 0700), -ENAMETOOLONG);
	free(big);
}

static void
test_mkdirs(void **state)
{
	char root[] = "/tmp/forq-test-paths.XXXXXX", p[512], q[512];
	struct stat st;
	mode_t old;
	int fd, rc;

	(void)state;
	assert_non_null(mkdtemp(root));
	old = umask(0);
	snprintf(p, sizeof(p), "%s/a/b/c/d", root);
	assert_int_equal(paths_mkdirs(p, 0750), 0);
	umask(old);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	snprintf(q, sizeof(q), "%s/a", root);
	assert_int_equal(stat(q, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	/* existing: accepted, again and again, with a trailing slash too */
	assert_int_equal(paths_mkdirs(p, 0750), 0);
	assert_int_equal(paths_mkdirs(root, 0700), 0);
	snprintf(q, sizeof(q), "%s/a/b/", root);
	assert_int_equal(paths_mkdirs(q, 0700), 0);
	snprintf(q, sizeof(q), "%s/a/b/e", root);
	assert_int_equal(paths_mkdirs(q, 0700), 0);
	assert_int_equal(stat(q, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(paths_mkdirs("", 0700), -ENAMETOOLONG);
	/* a file in the way of a parent */
	snprintf(q, sizeof(q), "%s/file", root);
	fd = open(q, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/file/sub", root);
	assert_int_equal(paths_mkdirs(p, 0700), -ENOTDIR);
	/* a file where the directory should be: mkdir -p refuses it too */
	rc = paths_mkdirs(q, 0700);

	snprintf(q, sizeof(q), "rm -rf '%s'", root);
	assert_int_equal(system(q), 0);
	if (rc == 0)
		fail_msg("paths_mkdirs accepted an existing regular file as a directory");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_dir, save_env, restore_env),
		cmocka_unit_test_setup_teardown(test_socket, save_env, restore_env),
		cmocka_unit_test_setup_teardown(test_too_long, save_env, restore_env),
		cmocka_unit_test_setup_teardown(test_mkdirs, save_env, restore_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
