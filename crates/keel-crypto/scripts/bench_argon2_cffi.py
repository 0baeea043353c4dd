#!/usr/bin/env python3
"""Times argon2-cffi (the Argon2 reference C code) at OWASP parameters, for comparison
with `cargo bench -p keel-benches --bench crypto -- argon2id_owasp`.

Usage: python3 crates/keel-crypto/scripts/bench_argon2_cffi.py  (needs `pip install argon2-cffi`)
Prints the median wall time of hash and verify over 20 runs each, in milliseconds.
"""

import statistics
import time

from argon2 import PasswordHasher

# OWASP Password Storage Cheat Sheet: Argon2id, m = 19 MiB, t = 2, p = 1 (Keel's defaults).
ph = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)


def median_ms(fn, runs=20):
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


phc = ph.hash("hunter2")
print(f"argon2-cffi hash   (m=19456,t=2,p=1): {median_ms(lambda: ph.hash('hunter2')):.2f} ms")
print(f"argon2-cffi verify (m=19456,t=2,p=1): {median_ms(lambda: ph.verify(phc, 'hunter2')):.2f} ms")
