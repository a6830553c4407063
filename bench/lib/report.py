#!/usr/bin/python3
"""bench/lib/report.py: bench/run.sh's raw results (cases.py's JSON) -> a markdown section (printed,
and written between the markers of --doc) and PNG plots (gnuplot) in --plots.

Every figure is computed here from the recorded runs: medians over the rounds, and ratios as the
median of the per-round ratios (each round times the contenders back to back). A case that did
not run says so, with its error."""
import argparse
import json
import math
import os
import subprocess
import sys
import time

BEGIN, END = "<!-- bench/run.sh begin -->", "<!-- bench/run.sh end -->"
MB = 1e6


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def f(x, nd=2):
    if x is None:
        return "-"
    return ("%%.%df" % nd) % x


def rng(xs, nd=2):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    if len(xs) == 1:
        return f(xs[0], nd)
    return "%s-%s" % (f(min(xs), nd), f(max(xs), nd))


def verdict(value, target, higher_is_better):
    if value is None:
        return "not measured"
    ok = value >= target if higher_is_better else value <= target
    return "**met**" if ok else "**missed**"


class Report:
    def __init__(self, res, plots_dir, plots_rel, tmp):
        self.res, self.meta = res["cases"], res["meta"]
        self.plots_dir, self.plots_rel, self.tmp = plots_dir, plots_rel, tmp
        self.rows = []      # summary table rows
        self.details = []   # markdown blocks
        self.bars = []      # (label, ratio, target, higher_is_better)
        self.plots = []

    def row(self, case, contenders, values, ratio, target, higher, short=None):
        tgt = ("≥ %g×" if higher else "≤ %g×") % target if target is not None else "report"
        v = verdict(ratio, target, higher) if target is not None else "-"
        self.rows.append("| %s | %s | %s | %s | %s | %s |" % (
            case, contenders, values, f(ratio) + ("×" if ratio is not None else ""), tgt, v))
        if ratio is not None and target is not None:
            self.bars.append((short or case, ratio, target, higher))

    def missing(self, case, name, why):
        why = " ".join(str(why).split()).replace("|", "\\|")
        if len(why) > 600:
            why = why[:600] + "…"
        self.rows.append("| %s | %s | could not run: %s | - | - | not measured |" % (case, name, why))

    # ---- cases -------------------------------------------------------------------------------
    def warm(self):
        r = self.res.get("warm")
        if r is None:
            return
        if "error" in r:
            self.missing("warm sequential read; nanoGPT get_batch", "tokfs vs local, rclone", r["error"])
            return
        b = r["bytes"]
        seq, gb = r["seq_seconds"], r["getbatch_seconds"]
        n = r["runs"]
        ratio_local = median([seq["local"][i] / seq["tokfs"][i] for i in range(n)])
        mbs = {k: median([b / MB / s for s in v]) for k, v in seq.items()}
        mode = "passthrough on" if r.get("passthrough") else "passthrough off: FUSE page cache"
        self.row("warm sequential read of cached shards (%d shards, %.0f MB, 1 MiB reads; default mount: %s)"
                 % (r["files"], b / MB, mode),
                 "tokfs vs local files", "%s vs %s MB/s" % (f(mbs["tokfs"], 0), f(mbs["local"], 0)),
                 ratio_local, 0.95, True, "warm read vs local")
        nb = r["batches"]
        bps = {k: median([nb / s for s in v]) for k, v in gb.items()}
        ratio_gb = median([gb["local"][i] / gb["tokfs"][i] for i in range(n)])
        self.row("nanoGPT get_batch, new memmap per batch, %d batches (default mount: %s)" % (nb, mode),
                 "tokfs vs local files",
                 "%s vs %s batches/s" % (f(bps["tokfs"], 0), f(bps["local"], 0)), ratio_gb, 0.9, True, "get_batch vs local")
        off = "tokfs passthrough=0"
        if off in seq:
            self.row("warm sequential read, passthrough=0 (the FUSE page cache)",
                     "tokfs passthrough=0 vs local files", "%s vs %s MB/s" % (f(mbs[off], 0), f(mbs["local"], 0)),
                     median([seq["local"][i] / seq[off][i] for i in range(n)]), None, True)
            self.row("nanoGPT get_batch, passthrough=0", "tokfs passthrough=0 vs local files",
                     "%s vs %s batches/s" % (f(bps[off], 0), f(bps["local"], 0)),
                     median([gb["local"][i] / gb[off][i] for i in range(n)]), None, True)
        elif r.get("passthrough_off_error"):
            self.missing("warm read and get_batch, passthrough=0", "tokfs passthrough=0 vs local", r["passthrough_off_error"])
        if "rclone" in seq:
            rs = median([seq["rclone"][i] / seq["tokfs"][i] for i in range(n)])
            rg = median([gb["rclone"][i] / gb["tokfs"][i] for i in range(n)])
            self.row("warm sequential read", "tokfs vs rclone mount --vfs-cache-mode full",
                     "%s vs %s MB/s" % (f(mbs["tokfs"], 0), f(mbs["rclone"], 0)), rs, None, True)
            self.row("nanoGPT get_batch", "tokfs vs rclone mount --vfs-cache-mode full",
                     "%s vs %s batches/s" % (f(bps["tokfs"], 0), f(bps["rclone"], 0)), rg, None, True)
        else:
            self.missing("warm read and get_batch", "tokfs vs rclone", r.get("rclone_error", "--no-rclone"))
        lines = ["#### Warm reads (`warm`)", "",
                 "tokfs options: `%s`. The %d train shards were made by one cold read on the mount "
                 "(%.1f s), then copied to local files (the local contender; nginx serves the copies "
                 "to rclone); every contender read once untimed, then %d rounds alternating the order. "
                 "One timed sequential read = %s passes over the files (seconds below are per pass). "
                 "Seconds per round:" % (r["options"], r["files"], r["make_seconds"], n,
                                         ", ".join("%s %d" % kv for kv in r.get("passes", {}).items())), "",
                 "| contender | sequential read, s (each round) | median MB/s | get_batch ×%d, s (each round) | median batches/s |" % nb,
                 "| --- | --- | ---: | --- | ---: |"]
        if r.get("rclone_batches", nb) != nb and "rclone" in gb:
            lines[2] = lines[2].replace("Seconds per round:", "rclone's get_batch ran %d batches per round (it is "
                                        "slow), its seconds scaled to %d. Seconds per round:" % (r["rclone_batches"], nb))
        for k in seq:
            lines.append("| %s | %s | %s | %s | %s |" % (
                k, ", ".join(f(s, 3) for s in seq[k]), f(mbs[k], 0), ", ".join(f(s, 3) for s in gb[k]), f(bps[k], 0)))
        if r.get("seq_reader_cpu"):
            sc, gc = r["seq_reader_cpu"], r.get("getbatch_reader_cpu", {})
            lines += ["", "The reader's own CPU time (user + system of the Python process; less moved by other "
                      "load on the machine than wall time), medians: sequential read per pass %s; get_batch × %d %s." % (
                          ", ".join("%s %s s" % (k, f(median(v), 4)) for k, v in sc.items()), nb,
                          ", ".join("%s %s s" % (k, f(median(v), 3)) for k, v in gc.items()))]
            if "tokfs" in sc and "local" in sc:
                lines[-1] += " CPU ratio local / tokfs: sequential %s, get_batch %s." % (
                    f(median(sc["local"]) / median(sc["tokfs"])),
                    f(median(gc["local"]) / median(gc["tokfs"])) if gc.get("tokfs") else "-")
        if r.get("daemon_cpu_per_pass"):
            lines += ["", "tokfs daemon CPU time (user + system, /proc/PID/stat) per timed pass of the warm "
                      "sequential read: %s s (0 when the page cache answers every read)." %
                      ", ".join(f(x, 3) for x in r["daemon_cpu_per_pass"])]
        self.details.append("\n".join(lines))

    def cold(self):
        r = self.res.get("cold")
        if r is None:
            return
        if "error" in r:
            self.missing("cold materialization", "mount vs tokpool_bench", r["error"])
            return
        s = r["seconds"]
        src = r["source_bytes"]
        n = len(s["mount_w1"])
        mb = lambda t: src / MB / t
        w1 = median([mb(t) for t in s["mount_w1"]])
        w2 = median([mb(t) for t in s["mount_w2"]])
        t1 = median([mb(t) for t in s["tokpool_1"]])
        ceil = median([2 * src / MB / t for t in s["pair_max"]])
        r1 = median([s["tokpool_1"][i] / s["mount_w1"][i] for i in range(n)])
        r2 = median([s["pair_max"][i] / (2 * s["mount_w2"][i]) for i in range(n)])  # (src/w2) / (2 src/pair)
        self.row("cold materialization, MB/s of source, 1 worker", "mount vs tokpool_bench 1 thread (same documents)",
                 "%s vs %s MB/s" % (f(w1, 1), f(t1, 1)), r1, 0.8, True, "cold, 1 worker vs tokenizer")
        self.row("cold materialization, 2 workers", "mount vs the 2-process ceiling (two tokpool_bench at once)",
                 "%s vs %s MB/s (1 worker %s; w2/w1 %s×)" % (f(w2, 1), f(ceil, 1), f(w1, 1),
                                                              f(median([s["mount_w1"][i] / s["mount_w2"][i] for i in range(n)]))),
                 r2, 0.9, True, "cold, 2 workers vs ceiling")
        fetched = r.get("fetched_bytes", [])
        lines = ["#### Cold materialization (`cold`)", "",
                 "Source: the first %d files of the corpus, %.1f MB of JSONL, served by nginx on loopback; "
                 "the mount (`%s`) reads every shard (%d shards, %.1f MB of ids) in order, fresh cache each time; "
                 "bytes fetched per mount (status.json): %s. tokpool_bench: the same %.1f MB file "
                 "(the files concatenated), `--runs 1`, documents decoded in memory before its clock "
                 "starts. MB/s = source bytes / seconds for every contender. Ceiling = 2 × source / "
                 "the slower of two 1-thread tokpool_bench processes started together (not pinned). "
                 "%d rounds, order reversed every other round." % (
                     r["source_files"], src / MB, r.get("options_w1", ""), r.get("shards", 0), r.get("ids_bytes", 0) / MB,
                     ", ".join("%.1f MB" % (x / MB) for x in sorted(set(fetched))) or "-", src / MB, n), "",
                 "| contender | seconds (each round) | median MB/s of source |", "| --- | --- | ---: |"]
        names = [("mount_w1", "mount, workers=1"), ("mount_w2", "mount, workers=2"),
                 ("tokpool_1", "tokpool_bench, 1 thread"), ("tokpool_2", "tokpool_bench, 2 threads"),
                 ("pair_a", "two 1-thread processes at once: first"), ("pair_b", "two 1-thread processes at once: second")]
        for k, label in names:
            lines.append("| %s | %s | %s |" % (label, ", ".join(f(t, 3) for t in s[k]), f(median([mb(t) for t in s[k]]), 1)))
        lines.append("| 2-process ceiling | 2 × source / slower | %s |" % f(ceil, 1))
        self.details.append("\n".join(lines))

    def sweep(self):
        r = self.res.get("sweep")
        if r is None:
            return
        if "error" in r:
            self.missing("sequential sweep, prefetch=1", "vs prefetch=0, vs max(tokenize, consume)", r["error"])
            return
        s = r["seconds"]
        n = len(s["p1"])
        ideal = [max(s["make"][i], s["consume"][i]) for i in range(n)]
        ratio = median([s["p1"][i] / ideal[i] for i in range(n)])
        self.row("sequential sweep over %d shards (%s tokens each), prefetch=1" % (r["shards"], r["shard_size"]),
                 "vs prefetch=0, vs max(make, consume)",
                 "%s s vs %s s (prefetch=0) vs %s s (max)" % (f(median(s["p1"])), f(median(s["p0"])), f(median(ideal))),
                 ratio, 1.1, False, "sweep prefetch=1 vs max")
        if s.get("p1cap") and not r.get("p1cap_error"):
            rc = median([s["p1cap"][i] / ideal[i] for i in range(n) if s["p1cap"][i] is not None])
            self.row("the same sweep under cache_size=%.0f MB (about 4 shards), prefetch=1" % (r["tight_cap"] / MB),
                     "vs max(make, consume) (roomy cap)", "%s s vs %s s (max)" % (f(median(s["p1cap"])), f(median(ideal))),
                     rc, 1.1, False, "sweep under a cap vs max")
        elif r.get("p1cap_error"):
            self.missing("the same sweep under a cap of about 4 shards", "vs max(make, consume)", r["p1cap_error"])
        lines = ["#### Sequential sweep with prefetch (`sweep`)", "",
                 "%d train shards of `shard_size=%s`, %.1f MB of ids, read in order with 1 MiB reads; fresh cache every sweep. "
                 "The reader sleeps %.4f s per MB read (calibrated from one sweep without sleeping: "
                 "make time / bytes, %.2f s), so consume ≈ make. make = sweep, prefetch=0, no sleep; "
                 "consume = the sleeping reader over the same bytes in the page cache (after the prefetch=1 sweep); "
                 "ideal = max(make, consume). prefetch=1 options: `%s`." % (
                     r["shards"], r["shard_size"], r["bytes"] / MB, r["consume_s_per_mb"], r["calibration_seconds"],
                     r.get("options_p1", "")), "",
                 "| sweep | seconds (each round) | median | / ideal (median of rounds) |", "| --- | --- | ---: | ---: |"]
        for k, label in (("make", "make: prefetch=0, no consume"), ("consume", "consume alone"),
                         ("p0", "prefetch=0 + consume"), ("p1", "prefetch=1 + consume"),
                         ("p1cap", "prefetch=1 + consume, cache_size=%.1f MB (about 4 shards)" % (r.get("tight_cap", 0) / MB))):
            if k not in s:
                continue
            if k == "p1cap" and r.get("p1cap_error"):
                lines.append("| %s | could not run: %s | - | - |" % (label, r["p1cap_error"]))
                continue
            lines.append("| %s | %s | %s | %s |" % (label, ", ".join(f(t) for t in s[k]), f(median(s[k])),
                                                     f(median([s[k][i] / ideal[i] for i in range(n) if s[k][i] is not None]))))
        self.details.append("\n".join(lines))
        # plot: end time of each shard, first round
        marks = r.get("marks", {})
        if marks and self.plots_dir:
            dat = os.path.join(self.tmp, "sweep.dat")
            with open(dat, "w") as fh:
                for k in ("make", "p0", "p1"):
                    fh.write("# %s\n" % k)
                    for idx, first, end in marks.get(k, []):
                        fh.write("%d %.4f\n" % (idx + 1, end))
                    fh.write("\n\n")
            png = os.path.join(self.plots_dir, "sweep.png")
            gp = """set terminal pngcairo size 800,480 font ",10" noenhanced
set output '%s'
set title "Sweep over %d shards: time when shard k has been read (round 1)"
set xlabel "shards read"
set ylabel "seconds"
set key left top
set grid
plot '%s' index 0 with linespoints title "make (prefetch=0, no consume)", \\
     '' index 1 with linespoints title "prefetch=0 + consume", \\
     '' index 2 with linespoints title "prefetch=1 + consume", \\
     %f * x / %d with lines dashtype 2 title "ideal: max(make, consume) = %.2f s"
""" % (png, r["shards"], dat, ideal[0], r["shards"], ideal[0])
            if self.gnuplot(gp):
                self.plots.append(("sweep.png", "Sequential sweep: prefetch=1 against prefetch=0 and the ideal"))

    def evict(self):
        r = self.res.get("evict")
        if r is None:
            return
        if "error" in r:
            self.missing("first batch after eviction", "vs making the whole shard", r["error"])
            return
        s = r["seconds"]
        n = len(s["whole"])
        ratio = median([s["first_batch"][i] / s["whole"][i] for i in range(n)])
        self.row("first batch after eviction (size known; %s tokens)" % r["shard_tokens"], "vs making the whole shard",
                 "%s s vs %s s" % (f(median(s["first_batch"]), 3), f(median(s["whole"]), 3)), ratio, 0.2, False, "first batch vs whole shard")
        if s.get("random_batch"):
            rr = median([s["random_batch"][i] / s["whole"][i] for i in range(n)])
            self.row("first nanoGPT batch after eviction (12 random windows of the shard)", "vs making the whole shard",
                     "%s s vs %s s" % (f(median(s["random_batch"]), 3), f(median(s["whole"]), 3)), rr, None, False)
        states = sorted(set("%s, tokens %s" % tuple(x) for x in r.get("states_after_remount", [])))
        self.details.append("\n".join([
            "#### First batch after an eviction (`evict`)", "",
            "Train shard 0 (`%s`; %s ids, %.1f MB) made once; before each timed run its cache file "
            "(`plan-*/shards/000000.bin`) is deleted while unmounted and the cache dir remounted; shard 0's state "
            "in status.json right after the remount: %s. first batch = open + read of the first %d bytes "
            "(12 × 1024 + 1 ids from offset 0, llm.c's loader); whole = open + read of the whole shard (its make). "
            "random batch = nanoGPT's get_batch once (np.memmap of the shard, 12 random windows of 1024 + 1 ids: "
            "its windows reach far into the shard, so early reads help it little; reported, no target). "
            "First batch, s: %s; whole, s: %s; random batch, s: %s." % (
                r["options"], r["shard_tokens"], r["shard_bytes"] / MB, "; ".join(states), r["batch_bytes"],
                ", ".join(f(t, 3) for t in s["first_batch"]), ", ".join(f(t, 3) for t in s["whole"]),
                ", ".join(f(t, 3) for t in s.get("random_batch", [])) or "-")]))

    def rss(self):
        r = self.res.get("rss")
        if r is None:
            return
        if "error" in r:
            self.missing("daemon peak RSS while 4 shards are made", "absolute", r["error"])
            return
        lines = ["#### Daemon peak RSS (`rss`)", "",
                 "The whole corpus (%.0f MB) mounted; 4 threads read train shards 0-3 at once (fresh cache); "
                 "VmHWM of the daemon from /proc/PID/status before unmounting." % (r["corpus_bytes"] / MB), "",
                 "| options | shards in the plan | VmHWM after mount | VmHWM after the 4 shards | seconds |",
                 "| --- | ---: | ---: | ---: | ---: |"]
        for row in r["rows"]:
            mbv = row["hwm_kb"] * 1024 / MB if row["hwm_kb"] else None
            self.row("daemon peak RSS while 4 shards are made (workers=%d), corpus %.0f MB" % (row["workers"], r["corpus_bytes"] / MB),
                     "absolute", "%s MB" % f(mbv, 1), None, None, False)
            # absolute target: replace the ratio cells
            self.rows[-1] = "| %s | absolute | %s MB | - | ≤ 64 MB | %s |" % (
                "daemon peak RSS while 4 shards are made (workers=%d), corpus %.0f MB" % (row["workers"], r["corpus_bytes"] / MB),
                f(mbv, 1), verdict(mbv, 64, False))
            lines.append("| `%s` | %d | %s MB | %s MB | %s |" % (row["options"], row["plan_shards"],
                                                            f((row["hwm_after_mount_kb"] or 0) * 1024 / MB, 1), f(mbv, 1), f(row["seconds"])))
        self.details.append("\n".join(lines))

    def shard_size(self):
        r = self.res.get("shard_size")
        if r is None:
            return
        if "error" in r:
            self.missing("time to make one shard vs shard_size", "plot", r["error"])
            return
        pts = []
        for k, ts in r["seconds"].items():
            tok = r["tokens"].get(k)
            if tok and ts:
                pts.append((tok, median(ts), ts, k))
        pts.sort()
        x = [p[0] / 1e6 for p in pts]
        y = [p[1] for p in pts]
        fit = None
        if len(pts) >= 2:
            n = len(x)
            mx, my = sum(x) / n, sum(y) / n
            sxx = sum((a - mx) ** 2 for a in x)
            sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
            b1 = sxy / sxx
            b0 = my - b1 * mx
            ssr = sum((b - (b0 + b1 * a)) ** 2 for a, b in zip(x, y))
            sst = sum((b - my) ** 2 for b in y)
            r2 = 1 - ssr / sst if sst > 0 else 1.0
            fit = (b0, b1, r2)
        desc = ("t = %.3f s + %.4f s per M tokens, R² = %.4f" % fit) if fit else "-"
        self.rows.append("| time to make one shard vs shard_size (%s tokens) | plot | %s | - | linear (R² ≥ 0.98) | %s |" % (
            ", ".join(p[3] for p in pts), desc,
            verdict(fit[2], 0.98, True) if fit else "not measured"))
        lines = ["#### Time to make one shard vs shard_size (`shard_size`)", "",
                 "First read of train shard 0 on a fresh cache (`%s`, shard_size varied), alternating sizes each round. "
                 "Fit over the medians: %s." % (r.get("options", ""), desc), "",
                 "| shard_size | tokens of shard 0 | seconds (each round) | median | M tokens/s |", "| --- | ---: | --- | ---: | ---: |"]
        for tok, med, ts, k in pts:
            lines.append("| %s | %d | %s | %s | %s |" % (k, tok, ", ".join(f(t, 3) for t in ts), f(med, 3), f(tok / 1e6 / med, 2)))
        self.details.append("\n".join(lines))
        if fit and self.plots_dir:
            dat = os.path.join(self.tmp, "size.dat")
            with open(dat, "w") as fh:
                for tok, med, ts, k in pts:
                    for t in ts:
                        fh.write("%f %f %f\n" % (tok / 1e6, t, med))
            png = os.path.join(self.plots_dir, "shard_size.png")
            gp = """set terminal pngcairo size 800,480 font ",10" noenhanced
set output '%s'
set title "Time to make one shard vs its size"
set xlabel "tokens in the shard (millions)"
set ylabel "seconds (first read, fresh cache)"
set key left top
set grid
set xrange [0:*]
set yrange [0:*]
plot '%s' using 1:2 with points pt 7 ps 0.6 title "each run", \\
     '' using 1:3 with points pt 5 ps 1.2 title "median", \\
     %f + %f * x with lines title "fit: %.3f s + %.4f s/M tokens, R^2 = %.4f"
""" % (png, dat, fit[0], fit[1], fit[0], fit[1], fit[2])
            if self.gnuplot(gp):
                self.plots.append(("shard_size.png", "Time to make one shard vs shard_size, with the linear fit"))

    def ratio_plot(self):
        if not self.bars or not self.plots_dir:
            return
        dat = os.path.join(self.tmp, "ratios.dat")
        with open(dat, "w") as fh:
            for i, (label, ratio, target, higher) in enumerate(self.bars):
                short = label.split("(")[0].strip().replace('"', "'")
                if len(short) > 38:
                    short = short[:36] + "…"
                fh.write('%d "%s" %f %f %d\n' % (i, short, ratio, target, 1 if higher else 0))
        png = os.path.join(self.plots_dir, "ratios.png")
        gp = """set terminal pngcairo size 900,%d font ",10" noenhanced
set output '%s'
set title "Issue 13 cases: measured ratio (bar) and target (mark; ≥ for green, ≤ for red)"
set style fill solid 0.6
set boxwidth 0.6
set yrange [-0.6:%f]
set xrange [0:*]
set offsets 0, graph 0.08, 0, 0
set ytics nomirror
set grid x
unset key
plot '%s' using 3:1:(0):3:($1-0.3):($1+0.3):ytic(2) with boxxyerror lc rgb "#4878a8", \\
     '' using 4:1:($5 == 1 ? 0x2ca02c : 0xd62728) with points pt 9 ps 2 lc rgb variable, \\
     '' using ($3 > $4 ? $3 : $4):1:(sprintf("%%.2f", $3)) with labels left offset 1.5,0
""" % (120 + 50 * len(self.bars), png, len(self.bars) - 0.4, dat)
        # boxxyerror: x, y, xlow, xhigh, ylow, yhigh
        if self.gnuplot(gp):
            self.plots.insert(0, ("ratios.png", "Every ratio of the table against its target"))

    def loads(self):
        out = []
        for k, r in self.res.items():
            if r.get("loadavg_start"):
                out.append("%s %s → %s (%.0f s)" % (k, " ".join(r["loadavg_start"]), " ".join(r.get("loadavg_end", [])),
                                                   r.get("wall_seconds", 0)))
        return "; ".join(out)

    def gnuplot(self, script):
        os.makedirs(self.plots_dir, exist_ok=True)
        r = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
        if r.returncode != 0:
            print("report.py: gnuplot failed: %s" % r.stderr.strip(), file=sys.stderr)
            return False
        return True

    def render(self, elapsed):
        m = self.meta
        if not m.get("code_commit") and m.get("commit"):  # results of a run before run.sh recorded it
            repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            m["code_commit"] = subprocess.run(
                ["git", "log", "-1", "--format=%h", m["commit"].split()[0], "--", ".", ":(exclude)bench",
                 ":(exclude)docs", ":(exclude)README.md"], cwd=repo, capture_output=True, text=True).stdout.strip()
        if m.get("code_commit") and m["code_commit"] not in m.get("commit", ""):
            m["commit"] = "%s (daemon code as %s, the last commit outside bench/ and docs/)" % (m["commit"], m["code_commit"])
        out = [BEGIN, "",
               "## Issue 13: warm, cold, prefetch, early reads, memory (bench/run.sh)", "",
               "Written by `bash bench/run.sh%s` (`--help` says what each case measures); nothing here is typed "
               "by hand. Each ratio is the median of the per-round ratios of contenders timed back to back "
               "in the same run (%d round%s, order alternating); the values are medians." % (
                   " --quick" if m.get("mode") == "quick" else "", m["runs"], "" if m["runs"] == 1 else "s"), ""]
        if m.get("mode") == "quick":
            out += ["**Quick mode** (development): a small corpus, small shards, one round. These numbers are "
                    "noisy and not the issue's cases at their sizes: run `bash bench/run.sh` for those.", ""]
        out += ["Run %s, %.0f s in all. Machine: %s CPUs (%s), %.1f GiB RAM, kernel %s, Debian %s, fuse3 %s, %s, %s. "
                "tokfs %s, compiled `%s`; tokenizer=%s%s. Corpus: %d JSONL files, %.1f MB (generated by "
                "bench/lib/gencorpus.py), served by nginx on 127.0.0.1. Load average at the start: %s." % (
                    m.get("started"), elapsed, m.get("nproc"), m.get("cpu"), m.get("mem_mib", 0) / 1024, m.get("kernel"),
                    m.get("debian"), m.get("fuse3"), m.get("nginx", "").replace("nginx version: ", "nginx "), m.get("rclone"),
                    m.get("commit"), m.get("build_type") or "?", m.get("tokenizer"),
                    (", extra options `%s`" % m["tokfs_opts"]) if m.get("tokfs_opts") else "",
                    m.get("corpus_files", 0), m.get("corpus_bytes", 0) / MB, " ".join(m.get("loadavg_start", []))), "",
                "Each case's tokfs options are quoted in its section below; an option not quoted has tokfs's "
                "default (workers=2, prefetch=1, shard_size=10M). Targets are issue 13's.", "",
                "| case | contenders | medians | ratio | target | result |", "| --- | --- | --- | ---: | --- | --- |"]
        out += self.rows
        out += ["", "Load average (1, 5, 15 min) at the start and end of each case, and its duration: %s. "
                "The machine is shared: a load above its %s CPUs means other work ran beside the bench, "
                "which slows the contender it hits; rounds alternate the order for that reason." % (
                    self.loads(), m.get("nproc")), ""]
        for name, caption in self.plots:
            out += ["![%s](%s/%s)" % (caption, self.plots_rel, name), ""]
        for d in self.details:
            out += [d, ""]
        out.append(END)
        return "\n".join(out)


def write_doc(path, section):
    old = open(path).read() if os.path.exists(path) else "# tokfs benchmarks\n"
    if BEGIN in old and END in old:
        a = old.index(BEGIN)
        b = old.index(END) + len(END)
        new = old[:a] + section + old[b:]
    else:
        lines = old.split("\n")
        # after the title line (and the blank line after it)
        i = 1 if lines and lines[0].startswith("# ") else 0
        new = "\n".join(lines[:i] + ["", section, ""] + lines[i:]).replace("\n\n\n", "\n\n")
    with open(path + ".tmp", "w") as fh:
        fh.write(new)
    os.rename(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--tmp", required=True)
    p.add_argument("--doc")
    p.add_argument("--plots")
    p.add_argument("--elapsed", type=float, default=0)
    a = p.parse_args()
    res = json.load(open(a.results))
    plots_rel = os.path.relpath(a.plots, os.path.dirname(os.path.abspath(a.doc))) if a.doc and a.plots else "plots"
    rep = Report(res, a.plots or os.path.join(a.tmp, "plots"), plots_rel, a.tmp)
    for c in (rep.warm, rep.cold, rep.sweep, rep.evict, rep.rss, rep.shard_size):
        try:
            c()
        except Exception as e:  # a report bug must not hide the other cases
            import traceback
            traceback.print_exc()
            rep.rows.append("| %s | report error: %s | - | - | - | not reported |" % (c.__name__, e))
    rep.ratio_plot()
    section = rep.render(a.elapsed)
    print(section)
    if a.doc:
        write_doc(a.doc, section)


if __name__ == "__main__":
    main()
