/* libcurl's memory functions: keeps libcurl's per-request upload buffers for the next request
 * instead of handing them back to the C library (see curlmem.c). */
#ifndef ONSIDE_CURLMEM_H
#define ONSIDE_CURLMEM_H

/* curl_global_init(flags) with the agent's memory callbacks. Returns a CURLcode. */
int curlmem_global_init(long flags);

#endif
