#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_sender (tests/fuzz/corpus/sender/): each seed is a small program in
the target's input format (see fuzz_sender.c), spelled here with names so that it can be read.

    python3 tests/fuzz/sender_seeds.py tests/fuzz/corpus/sender
"""
import os
import sys

# indices into the target's tables
BACKOFF = {1: 0, 2: 1, 3: 2, 10: 3, 100: 4, 1000: 5, 0: 6}
FACTOR = {1: 0, 2: 1, 8: 2, 64: 3, 1000: 4, 0: 5}
FIXED = {"auto": 0, 1: 3, 2: 4, 3: 5, 8: 6, 100: 7}
CEILING = {1: 0, 2: 1, 4: 2, 8: 3, 32: 4, 64: 5, 0: 6, 100: 7}
STATUS = {204: 0, 400: 5, 413: 8, 429: 10, 500: 13, 502: 14, 503: 15, 200: 16, 202: 17, 401: 18, 403: 19,
          404: 20, 301: 21, 100: 22, "error": 23}
BODY = {0: 0, 2: 1, 17: 2, 80: 3, 200: 4}
RETRY_AFTER = {None: 0, 0: 3, 1: 4, 3: 5, 10: 6, 100: 7, 1000: 8, 5000: 9, 60000: 10, "day": 11,
               "day+1": 12, "max": 13}
STEP = {0: 0, 0.3: 1, 1: 2, 2: 3, 5: 4, 20: 5, 100: 6, 1000: 7, 60000: 8, "timer": 9}


def header(initial=10, factor=8, seed=7, fixed="auto", ceiling=8):
    return bytes([BACKOFF[initial], FACTOR[factor], seed, FIXED[fixed], CEILING[ceiling]])


def submit(n, reuse=False):
    return bytes([0, (n - 1) | (0x80 if reuse else 0)])


def submit_invalid(kind=0):
    return bytes([1, 0xff, kind])


def answer(*answers):
    """answers: (which busy slot, status, body bytes, retry-after, setup: 0 none, 1 half, 2 all)."""
    out = bytes([2, len(answers) - 1])
    for which, status, body, ra, setup in answers:
        out += bytes([which])
        out += bytes([STATUS[status]]) if status in STATUS else bytes([24, status >> 8, status & 0xff])
        size = min(n for n in BODY if n >= len(body))  # the target's lengths: padded with spaces
        out += bytes([BODY[size]]) + body + b" " * (size - len(body))
        out += bytes([RETRY_AFTER[ra], setup])
    return out


def ok(which=0):
    return answer((which, 204, b"", None, 0))


def advance(step):
    return bytes([5, STEP[step]])


def fail_starts(n):
    return bytes([7, n])


def fail_rejects(n):
    return bytes([8, n])


def reload(fixed="auto", ceiling=8):
    return bytes([9, FIXED[fixed], CEILING[ceiling]])


def stop():
    return bytes([10])


BAD = b'{"error":"bad"}..'  # 17 bytes

SEEDS = {
    "all_204": header() + submit(3) + advance(2) + ok() + submit(5) + advance(5) + ok(),
    "400_isolates": header(fixed=1) + submit(4) + answer((0, 400, BAD, None, 0)) +
    answer((0, 204, b"", None, 0)) + answer((0, 400, BAD, None, 0)) + answer((0, 400, BAD, None, 0)) +
    answer((0, 204, b"", None, 0)),
    "413_split": header(fixed=2) + submit(6) + answer((0, 413, b"", None, 1)) +
    answer((0, 413, b"", None, 0), (1, 204, b"", None, 0)),
    "429_retry_after": header(initial=100) + submit(2) + answer((0, 429, b"{}", 1000, 0)) + advance("timer") +
    ok(),
    "429_retry_after_absurd": header(initial=3, factor=1000) + submit(1) + answer((0, 429, b"", "max", 0)) +
    advance("timer") + ok(),
    "5xx_backoff": header(initial=10, factor=64) + submit(2) + answer((0, 503, b"", None, 0)) +
    advance("timer") + answer((0, 502, b"", None, 0)) + advance("timer") + answer((0, "error", b"", None, 0)) +
    advance("timer") + ok(),
    "concurrent_failures": header(initial=10, fixed=3) + submit(1) + submit(1) + submit(1) +
    answer((0, 500, b"", None, 0)) + advance(5) + answer((0, 500, b"", None, 0)) + advance("timer") + ok(),
    "reject_fails": header(fixed=1) + submit(2) + fail_rejects(1) + answer((0, 400, BAD, None, 0)) +
    answer((0, 400, BAD, None, 0)) + answer((0, 400, BAD, None, 0)),
    "start_fails": header(initial=2) + fail_starts(2) + submit(3) + advance("timer") + advance("timer") + ok(),
    "reuse_in_delivered": header(fixed=2) + submit(2, reuse=True) + submit(1) + advance(20) +
    answer((0, 204, b"", None, 2), (0, 204, b"", None, 0)),
    "out_of_order": header(ceiling=8) + submit(1) + ok() + submit(1) + submit(1) + submit(1) + submit(1) +
    answer((2, 204, b"", None, 0), (0, 200, b"<html>portal</html>", None, 0), (1, 400, b"", None, 0)),
    "reload": header(initial=1000, fixed=1) + submit(2) + answer((0, 401, b"", None, 0)) + reload(fixed=3) +
    ok(),
    "invalid_submit": header() + submit_invalid(0) + submit_invalid(1) + submit(1) + ok(),
    "odd_statuses": header(initial=1, factor=2) + submit(2) + answer((0, 301, b"", None, 0)) + advance("timer") +
    answer((0, 100, b"", None, 0)) + advance("timer") + answer((0, 999, b"", None, 0)) + advance("timer") +
    answer((0, 202, b"", None, 0)) + advance("timer") + ok(),
    "stop_with_everything_held": header(initial=100, fixed=2) + submit(3) + submit(2) + submit(4) +
    answer((0, 503, b"", None, 0)) + answer((0, 400, BAD, None, 0)) + stop(),
    "out_of_range_options": header(initial=0, factor=0, fixed=100, ceiling=0) + submit(2) + ok() +
    reload(fixed="auto", ceiling=100) + submit(1) + ok(),
    # inputs that found bugs (each aborted the target before its fix)
    # equal jitter took the first wait down to half of initial_backoff
    "regress-first-retry-sooner-than-initial-backoff": header(initial=10, factor=1) + submit(1) +
    answer((0, 503, b"", None, 0)) + advance("timer") + ok(),
    # a failure while the pause of another ran was retried when that pause ended, 80 ms later
    "regress-concurrent-failure-retried-before-initial-backoff": header(initial=100, factor=1, fixed=2) +
    submit(1) + submit(1) + answer((0, 503, b"", None, 0)) + advance(20) + advance(20) + advance(20) +
    advance(20) + answer((0, 503, b"", None, 0)) + advance("timer") + advance("timer") + ok() + ok(),
    # a batch submitted from `delivered` restarted the slot before its round trip was measured
    "regress-round-trip-of-a-slot-restarted-in-delivered": header(fixed=1) + submit(2, reuse=True) +
    advance(20) + ok(),
}

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "sender")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
