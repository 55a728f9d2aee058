/* The one place where the agent gives up for lack of memory (see xalloc.h for why it aborts). */
#include "xalloc.h"

#include <stdio.h>
#include <unistd.h>

void xalloc_die(size_t size)
{
	char msg[96];
	int n = snprintf(msg, sizeof(msg), "error agent: out of memory (%zu bytes); aborting\n", size);

	/* no stdio buffering and no allocation: write(2) what fits */
	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	abort();
}
