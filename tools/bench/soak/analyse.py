#!/usr/bin/python3
"""tools/bench/soak/analyse.py - the soak's verdict from its samples.

  analyse.py SAMPLES_CSV WARMUP_SECONDS

SAMPLES_CSV has lines `seconds,process,pid,rss_kib,fds` (soak.sh writes one per
process every few seconds). For each process: the RSS after warm-up, a least-squares
line through it (slope in KiB/min, and the growth that line predicts over an hour),
and the range of open file descriptors over the whole run and after warm-up.
Prints a Markdown table. Exit 1 if a process vanished (its samples stop early).
"""
import collections
import sys

path, warmup = sys.argv[1], float(sys.argv[2])
rows = collections.defaultdict(list)
for line in open(path):
    if not line.strip() or line.startswith("seconds"):
        continue
    t, name, pid, rss, fds = line.strip().split(",")
    rows[name].append((float(t), int(pid), int(rss), int(fds)))

end = max(t for r in rows.values() for t, *_ in r)
print("| process | samples | RSS after warm-up, KiB (first / min / max / last) "
      "| RSS slope, KiB/min | fds (whole run) | fds (after warm-up) |")
print("|---|---:|---|---:|---|---|")
bad = 0
for name, r in rows.items():
    pids = {p for _, p, _, _ in r}
    after = [(t, rss, fds) for t, _, rss, fds in r if t >= warmup]
    if len(pids) != 1 or r[-1][0] < end - 15:
        bad = 1
    if len(after) < 2:
        print("| %s | %d | (no samples after warm-up) | | | |" % (name, len(r)))
        continue
    xs = [t / 60.0 for t, _, _ in after]
    ys = [rss for _, rss, _ in after]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    fd_all = [f for *_, f in r]
    fd_after = [f for *_, f in after]
    print("| %s%s | %d | %d / %d / %d / %d | %+.1f | %d-%d | %d-%d |" % (
        name, "" if len(pids) == 1 else " (RESTARTED: pids %s)" % sorted(pids), len(r),
        ys[0], min(ys), max(ys), ys[-1], slope, min(fd_all), max(fd_all),
        min(fd_after), max(fd_after)))
sys.exit(bad)
