/* The logfmt parser: any bytes as lines, with its default options or options from the input. */
#include "fuzz.h"

static const char *const opts[] = { "{}" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_parser("logfmt", opts, sizeof(opts) / sizeof(opts[0]), data, size);
}
