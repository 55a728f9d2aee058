#!/usr/bin/env python3
"""Writes N deterministic JSON purchase lines (about 230 bytes each) to a file.

usage: gen_purchases.py N PATH [--format json|text]
The text format is the regex benchmark's equivalent line:
2026-05-05T12:00:00Z purchase_completed install=<uuid> order=A-1 currency=USD amount=9.99
"""
import random
import sys
import uuid


def main():
    n = int(sys.argv[1])
    path = sys.argv[2]
    fmt = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--format" else "json"
    rnd = random.Random(20260505)
    installs = [str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(1000)]
    skus = ["sku-%04d-premium-annual" % i for i in range(50)]
    with open(path, "w") as f:
        for i in range(n):
            ts = "2026-05-%02dT%02d:%02d:%02d.%03dZ" % (1 + i // 86400000 % 28, i // 3600 % 24, i // 60 % 60,
                                                       i % 60, i % 1000)
            iid = installs[i % len(installs)]
            amount = "%d.%02d" % (1 + i % 500, i % 100)
            cur = ("USD", "EUR", "GBP")[i % 3]
            sku = skus[i % len(skus)]
            if fmt == "json":
                f.write('{"ts":"%s","event":"purchase_completed","install_id":"%s","order_id":"A-%d",'
                        '"currency":"%s","amount":"%s","sku":"%s","store":"web-eu-1"}\n'
                        % (ts, iid, i + 1, cur, amount, sku))
            else:
                f.write("%s purchase_completed install=%s order=A-%d currency=%s amount=%s sku=%s\n"
                        % (ts, iid, i + 1, cur, amount, sku))


if __name__ == "__main__":
    main()
