/*
 * example — a complete forq plug-in: the kernel "mandelbrot", which counts
 * the points of a pixel grid that stay bounded under z -> z² + c, and so
 * estimates the area of the Mandelbrot set (about 1.5066) — a real
 * computation with arguments, validation, progress, cancellation, a JSON
 * result and an optional raw-byte result (a PGM image).
 *
 * Build it like any shared object; it links nothing, because the forq_*
 * functions it calls are provided by forqd (linked with -rdynamic):
 *     cc -std=gnu11 -O2 -fPIC -shared -I/usr/local/include -o example.so example.c
 * (`make` builds it as build/plugins/example.so.)  Load it:
 *     forqd --plugin /path/to/example.so      (or put it in the plug-in directory)
 *     forq submit -k mandelbrot --args '{"width":512,"height":512}'
 *
 * Args:   width, height (256; 1..8192 pixels), max_iter (500; 1..1e6),
 *         x0, x1 (-2, 0.5), y0, y1 (-1.25, 1.25): the region of the plane,
 *         x0 < x1, y0 < y1; image (false): attach an 8-bit binary PGM
 *         (P5) of the escape counts as the raw-byte result.
 * Result: {"width","height","max_iter","inside","area","mean_iter"}.
 * Pixel (i, j) samples c at the centre of its cell.  Cancel and progress
 * once per row.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <forq/kernel.h>

static const struct forq_arg_spec mandelbrot_args[] = {
	{ "width", FORQ_ARG_INT, 0, 1, 8192, "256", NULL, "pixels across" },
	{ "height", FORQ_ARG_INT, 0, 1, 8192, "256", NULL, "pixels down" },
	{ "max_iter", FORQ_ARG_INT, 0, 1, 1000000, "500", NULL,
	  "iterations before a point counts as inside" },
	{ "x0", FORQ_ARG_NUM, 0, -10, 10, "-2", NULL, "left edge (real part)" },
	{ "x1", FORQ_ARG_NUM, 0, -10, 10, "0.5", NULL, "right edge" },
	{ "y0", FORQ_ARG_NUM, 0, -10, 10, "-1.25", NULL, "bottom edge (imaginary part)" },
	{ "y1", FORQ_ARG_NUM, 0, -10, 10, "1.25", NULL, "top edge" },
	{ "image", FORQ_ARG_BOOL, 0, 0, 0, "false", NULL, "attach a PGM image as raw bytes" },
	{ NULL, 0, 0, 0, 0, NULL, NULL, NULL },
};

static int
mandelbrot_validate(const struct forq_args *a, char *err, size_t errlen)
{
	if (!(forq_args_num(a, "x0") < forq_args_num(a, "x1"))) {
		snprintf(err, errlen, "x0: must be less than x1");
		return -1;
	}
	if (!(forq_args_num(a, "y0") < forq_args_num(a, "y1"))) {
		snprintf(err, errlen, "y0: must be less than y1");
		return -1;
	}
	return 0;
}

static int
mandelbrot_run(struct forq_ctx *c)
{
	long w = (long)forq_arg_int(c, "width"), h = (long)forq_arg_int(c, "height");
	long maxit = (long)forq_arg_int(c, "max_iter");
	double x0 = forq_arg_num(c, "x0"), x1 = forq_arg_num(c, "x1");
	double y0 = forq_arg_num(c, "y0"), y1 = forq_arg_num(c, "y1");
	double dx = (x1 - x0) / (double)w, dy = (y1 - y0) / (double)h, total = 0;
	unsigned char *img = NULL;
	int hdr = 0, rc;
	long inside = 0;

	if (forq_arg_bool(c, "image")) {
		char head[64];

		hdr = snprintf(head, sizeof head, "P5\n%ld %ld\n255\n", w, h);
		img = malloc((size_t)hdr + (size_t)w * (size_t)h);
		if (img == NULL)
			return forq_fail(c, "out of memory for a %ldx%ld image", w, h);
		memcpy(img, head, (size_t)hdr);
	}
	for (long j = 0; j < h; j++) {
		double ci = y1 - ((double)j + 0.5) * dy;    /* row 0 at the top */

		if (forq_cancelled(c)) {
			free(img);
			return forq_stop_status(c);
		}
		for (long i = 0; i < w; i++) {
			double cr = x0 + ((double)i + 0.5) * dx, zr = 0, zi = 0;
			long k;

			for (k = 0; k < maxit && zr * zr + zi * zi <= 4.0; k++) {
				double t = zr * zr - zi * zi + cr;

				zi = 2 * zr * zi + ci;
				zr = t;
			}
			inside += k == maxit;
			total += (double)k;
			if (img != NULL)
				img[(size_t)hdr + (size_t)j * (size_t)w + (size_t)i] =
					k == maxit ? 0 : (unsigned char)(255 - (255 * k) / maxit);
		}
		forq_progress(c, (double)(j + 1) / (double)h);
	}
	if (img != NULL) {
		rc = forq_result_bytes(c, img, (size_t)hdr + (size_t)w * (size_t)h);
		free(img);
		if (rc < 0)
			return rc == -EFBIG ? FORQ_FAILED
					    : forq_fail(c, "cannot attach the image (%d)", rc);
	}
	rc = forq_result_printf(c, "{\"width\":%ld,\"height\":%ld,\"max_iter\":%ld,\"inside\":%ld,"
				"\"area\":%.17g,\"mean_iter\":%.17g}", w, h, maxit, inside,
				(double)inside * dx * dy, total / ((double)w * (double)h));
	if (rc < 0)
		return rc == -EFBIG ? FORQ_FAILED
				    : forq_fail(c, "cannot store the result (%d)", rc);
	return FORQ_DONE;
}

static const struct forq_kernel example_kernels[] = {
	{
		.name = "mandelbrot",
		.summary =
			"estimate the area of the Mandelbrot set on a pixel grid (example plug-in)",
		.args = mandelbrot_args,
		.validate = mandelbrot_validate,
		.run = mandelbrot_run,
	},
};

/* The one symbol forqd looks for. */
const struct forq_plugin forq_plugin = {
	.abi = FORQ_KERNEL_ABI,
	.name = "example",
	.nkernels = sizeof example_kernels / sizeof example_kernels[0],
	.kernels = example_kernels,
};
