/*
 * errors — the accessors generated from the FORQ_ERRORS table.
 * Pure functions; callable from any thread or process.
 */
#include <string.h>
#include "forq/errors.h"

static const struct {
	const char *code;
	const char *msg;
	int exitst;
} err_tab[] = {
#define FORQ_X_ROW(e, code, exitst, msg) [e] = { code, msg, exitst },
	FORQ_ERRORS(FORQ_X_ROW)
#undef FORQ_X_ROW
};

const char *
forq_err_code(enum forq_err e)
{
	if ((unsigned)e >= FORQ_ERR__COUNT)
		e = FORQ_EINTERNAL;
	return err_tab[e].code;
}

const char *
forq_err_message(enum forq_err e)
{
	if ((unsigned)e >= FORQ_ERR__COUNT)
		e = FORQ_EINTERNAL;
	return err_tab[e].msg;
}

int
forq_err_exit(enum forq_err e)
{
	if ((unsigned)e >= FORQ_ERR__COUNT)
		e = FORQ_EINTERNAL;
	return err_tab[e].exitst;
}

enum forq_err
forq_err_from_code(const char *code)
{
	for (unsigned i = 0; i < FORQ_ERR__COUNT; i++)
		if (code && strcmp(code, err_tab[i].code) == 0)
			return (enum forq_err)i;
	return FORQ_EINTERNAL;
}
