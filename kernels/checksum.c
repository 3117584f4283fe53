/*
 * checksum — a digest of a file: a cryptographic hash through OpenSSL's
 * EVP interface (libcrypto), or a CRC-32 / Adler-32 through zlib.  No
 * hashing is written here.
 *
 * Algorithms: sha256 (default), sha512, sha1, md5, sha3-256, blake2b512
 * (names as OpenSSL's EVP_get_digestbyname knows them; md5 and sha1 are
 * for matching old listings, not for security), crc32 and adler32 (zlib's
 * crc32_z / adler32_z, printed as 8 hex digits, big-endian, as cksum-like
 * tools and `gzip -l` show them).
 *
 * The file is read with read(2) in 1 MiB blocks; between blocks the
 * kernel checks forq_cancelled() and reports progress (bytes / size at
 * open).  Args: path (required), algorithm (sha256).
 * Result: {"algorithm","digest" (lower-case hex),"bytes"}.
 * Library: libcrypto (OpenSSL 3) EVP, zlib.  Memory: the 1 MiB buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <zlib.h>

#include <forq/kernel.h>

#include "kjson.h"

#define CK_BLOCK (1u << 20)

static const char *const ck_algos[] = {
	"sha256", "sha512", "sha1", "md5", "sha3-256", "blake2b512", "crc32", "adler32", NULL,
};

static const struct forq_arg_spec checksum_args[] = {
	{ "path", FORQ_ARG_PATH, 1, 0, 0, NULL, NULL, "the file" },
	{ "algorithm", FORQ_ARG_ENUM, 0, 0, 0, "\"sha256\"", ck_algos, "digest algorithm" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

static int
checksum_run(struct forq_ctx *c)
{
	const char *path = forq_arg_str(c, "path"), *algo = forq_arg_str(c, "algorithm");
	bool crc = strcmp(algo, "crc32") == 0, adler = strcmp(algo, "adler32") == 0;
	unsigned char *buf = NULL, md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned mdlen = 0;
	uLong z = crc ? crc32_z(0L, Z_NULL, 0) : adler32_z(0L, Z_NULL, 0);
	uint64_t bytes = 0, size = 0;
	EVP_MD_CTX *mctx = NULL;
	const EVP_MD *mdt = NULL;
	struct stat sb;
	struct kjson j;
	int fd, st = FORQ_DONE;

	if (!crc && !adler) {
		mdt = EVP_get_digestbyname(algo);
		if (mdt == NULL)
			return forq_fail(c, "libcrypto does not provide %s", algo);
		mctx = EVP_MD_CTX_new();
		if (mctx == NULL || EVP_DigestInit_ex(mctx, mdt, NULL) != 1) {
			EVP_MD_CTX_free(mctx);
			return forq_fail(c, "libcrypto: cannot start %s", algo);
		}
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		st = forq_fail(c, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) == 0)
		size = (uint64_t)sb.st_size;
	buf = malloc(CK_BLOCK);
	if (buf == NULL) {
		st = forq_fail(c, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, CK_BLOCK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st = forq_fail(c, "read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		bytes += (uint64_t)n;
		if (crc)
			z = crc32_z(z, buf, (size_t)n);
		else if (adler)
			z = adler32_z(z, buf, (size_t)n);
		else if (EVP_DigestUpdate(mctx, buf, (size_t)n) != 1) {
			st = forq_fail(c, "libcrypto: %s update failed", algo);
			goto out;
		}
		if (forq_cancelled(c)) {
			st = forq_stop_status(c);
			goto out;
		}
		forq_progress(c, size ? (double)bytes / (double)size : 0);
	}
	if (crc || adler) {
		snprintf(hex, sizeof hex, "%08lx", (unsigned long)z);
	} else {
		if (EVP_DigestFinal_ex(mctx, md, &mdlen) != 1) {
			st = forq_fail(c, "libcrypto: %s final failed", algo);
			goto out;
		}
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
	}
	kj_init(&j);
	kj_str(&j, j.root, "algorithm", algo);
	kj_str(&j, j.root, "digest", hex);
	kj_num(&j, j.root, "bytes", (double)bytes);
	st = kj_finish(c, &j);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(mctx);
	return st;
}

const struct forq_kernel forq_kernel_checksum = {
	.name = "checksum",
	.summary = "digest of a file: sha256/sha512/sha1/md5/sha3-256/blake2b512 (libcrypto) or "
		   "crc32/adler32 (zlib)",
	.args = checksum_args,
	.validate = NULL,
	.run = checksum_run,
};
