/* The regex parser: any bytes as lines against patterns shaped like real configurations (optional
 * groups, duplicate names, no names at all), or a pattern from the input. */
#include "fuzz.h"

static const char *const opts[] = {
	"{\"pattern\":\"^(?<ts>\\\\S+) (?<level>[A-Z]+) (?<event>\\\\w+) install=(?<install_id>[0-9a-f-]+)"
	"(?: order=(?<order_id>\\\\S+))?(?: amount=(?<amount>[0-9.]+))?$\"}",
	"{\"pattern\":\"^(?<ip>\\\\S+) \\\\S+ (?<user>\\\\S+) \\\\[(?<ts>[^\\\\]]+)\\\\] \\\"(?<method>\\\\S+) "
	"(?<path>\\\\S+) (?<proto>[^\\\"]*)\\\" (?<status>\\\\d{3}) (?<bytes>\\\\d+|-)\"}",
	"{\"pattern\":\"^(?J)(?:(?<k>[a-z]+)=(?<v>\\\\d+)|(?<k>[A-Z]+):(?<v>\\\\w+))$\"}",
	"{\"pattern\":\"^(\\\\d+) (.*)$\"}",
	"{\"pattern\":\"(?<all>(a|aa)+)$\"}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_parser("regex", opts, sizeof(opts) / sizeof(opts[0]), data, size);
}
