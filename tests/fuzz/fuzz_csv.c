/* The csv parser: any bytes as lines through each way of naming columns (given, given and skipped as
 * a header, learned from the header), several delimiters, or options from the input. */
#include "fuzz.h"

static const char *const opts[] = {
	"{\"columns\":[\"ts\",\"event\",\"install_id\",\"amount\"],\"delimiter\":\",\",\"header\":false}",
	"{\"columns\":[\"ts\",\"event\",\"install_id\",\"amount\"],\"header\":true}",
	"{\"header\":true}",
	"{\"columns\":[\"a\",\"b\"],\"delimiter\":\";\"}",
	"{\"columns\":[\"ts\",\"msg\"],\"delimiter\":\"\\t\",\"header\":true}",
	"{\"header\":true,\"delimiter\":\"\\\"\"}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_parser("csv", opts, sizeof(opts) / sizeof(opts[0]), data, size);
}
