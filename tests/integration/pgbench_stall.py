"""tests/integration/pgbench_stall.py LOG... - reads pgbench latency logs (-l)
and prints two numbers in seconds: the longest time during which no
transaction completed (from the first completion to the last), and the
longest transaction. Used by test_pgbouncer.sh and bench/pgbouncer.sh."""
import sys

ends, worst = [], 0
for path in sys.argv[1:]:
    for line in open(path):
        f = line.split()
        if len(f) < 6:
            continue
        # client_id transaction_no time script_no time_epoch time_us
        lat = int(f[2]) / 1e6
        ends.append(int(f[4]) + int(f[5]) / 1e6)
        worst = max(worst, lat)
ends.sort()
gap = max((b - a for a, b in zip(ends, ends[1:])), default=0)
print("%.3f %.3f" % (gap, worst))
