"""Watches the machine, not contrail-lb: a process that wakes every 50 ms and prints
`START END` (unix times) whenever a wake-up came more than 200 ms late, i.e. the machine
(shared, 2 CPUs) did not run a ready process for that long. The soak counts failures in
such a stall as the environment's, never a fault of contrail-lb's; tests/soak/soak.py
reports them apart. Runs until stdin closes."""

import os
import select
import sys
import time

TICK, LATE = 0.05, 0.2

previous = time.time()
while True:
    ready, _, _ = select.select([sys.stdin], [], [], TICK)
    if ready and not os.read(sys.stdin.fileno(), 1):
        break
    now = time.time()
    if now - previous > TICK + LATE:
        print(f"{previous:.3f} {now:.3f}", flush=True)
    previous = now
