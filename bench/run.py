"""Times fastcnn against PyTorch on the cases of cases.py and prints one table.

    python bench/run.py [--filter PATTERN] [--json PATH] [--threads N] [--repeat R] [--quick]

Both libraries run in this process with the same thread count, interleaved: each repeat times
fastcnn then torch (torch first on odd repeats), after a warm-up call of each, so a burst of
load from other processes hits both. See README.md for the columns and how peak is measured.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from backends import BENCH_DIR, make_backend
from cases import CASES, MODELS_BY_NAME

MIB = 1 << 20
# The triad's working set for the roofline of the memory-bound cases: three arrays the size of
# their 64x32x32x32 float32 feature map (8 MiB), so it sits in the same cache level they do.
STREAM_BYTES = 3 * 8 * MIB
# A working set far beyond any cache, for the DRAM figure printed alongside.
DRAM_STREAM_BYTES = 3 * 256 * MIB
SAMPLE_SECONDS = 0.02  # calls are batched into samples at least this long, so timer noise is small
LONG_CALL_SECONDS = 1.0  # a case slower than this gets at most 3 repeats
PAUSE_SECONDS = 0.002  # lets the other library's OpenMP threads stop spinning before a sample
UNAVAILABLE = (AttributeError, ImportError, NotImplementedError)


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filter", default="", help="regular expression; only cases whose name matches run")
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    parser.add_argument("--threads", type=int, help="threads for both libraries (default: fastcnn's default)")
    parser.add_argument("--repeat", type=int, help="timed repeats per case (default 5, 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a ~30 s subset: one case per kind")
    arguments = parser.parse_args()
    if arguments.threads is not None and arguments.threads < 1:
        parser.error("--threads must be positive")
    if arguments.repeat is not None and arguments.repeat < 1:
        parser.error("--repeat must be positive")
    return arguments


# --- machine ------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        output = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in output.splitlines() if ":" in line)
    return fields.get("Model name", platform.machine()).strip()


def measure_peaks(native) -> dict:
    return {"fma_gflops": native.measure_fma_peak(1.0),
            "stream_gbs": native.measure_stream_bandwidth(STREAM_BYTES, 1.0),
            "dram_stream_gbs": native.measure_stream_bandwidth(DRAM_STREAM_BYTES, 0.5)}


# --- timing -------------------------------------------------------------------------------------
def build(case, backend):
    """(closure, note): the closure after one warm-up call, or None and why it cannot run."""
    if backend is None:
        return None, "torch not installed"
    try:
        closure = case.build(backend)
        closure()
        return closure, ""
    except UNAVAILABLE as error:
        return None, f"unavailable: {type(error).__name__}: {error}"
    except Exception as error:  # a broken op must not stop the other cases; the note shows it
        return None, f"error: {type(error).__name__}: {error}"


def time_interleaved(closures: dict, repeats: int) -> dict:
    """Seconds per call of each closure, one sample per repeat, alternating which goes first."""
    calls_per_sample = {}
    for name, closure in closures.items():
        start = time.perf_counter()
        closure()
        elapsed = time.perf_counter() - start
        calls_per_sample[name] = max(1, math.ceil(SAMPLE_SECONDS / max(elapsed, 1e-9)))
        if elapsed > LONG_CALL_SECONDS:
            repeats = min(repeats, 3)
    samples = {name: [] for name in closures}
    order = list(closures)
    gc.collect()
    gc.disable()
    try:
        for repeat in range(repeats):
            for name in order if repeat % 2 == 0 else reversed(order):
                time.sleep(PAUSE_SECONDS)
                calls = calls_per_sample[name]
                start = time.perf_counter()
                for _ in range(calls):
                    closures[name]()
                samples[name].append((time.perf_counter() - start) / calls)
    finally:
        gc.enable()
    return samples


def summarise(case, samples: dict, peaks: dict) -> dict:
    """Min and median per backend; the rate and share of the roofline the best time reaches."""
    result = {"case": case.name, "section": case.section}
    for name, times in samples.items():
        best = min(times)
        result[name] = {"min_ms": best * 1e3, "median_ms": statistics.median(times) * 1e3}
        if case.flops:
            result[name]["gflops"] = case.flops / best / 1e9
        if case.bytes:
            result[name]["gbs"] = case.bytes / best / 1e9
        bound, percent = roofline_share(case, best, peaks)
        if bound:
            result[name]["peak_percent"] = percent
            result["bound"] = bound
    if "fastcnn" in samples and "torch" in samples:
        result["ratio"] = min(samples["torch"]) / min(samples["fastcnn"])
    return result


def roofline_share(case, seconds: float, peaks: dict):
    """("fma" or "bw", percent): the case's time against the attainable time of the roofline,
    max(flops / FMA peak, bytes / stream bandwidth); the larger term names the bound."""
    compute = case.flops / (peaks["fma_gflops"] * 1e9)
    memory = case.bytes / (peaks["stream_gbs"] * 1e9)
    if not case.flops and not case.bytes:
        return "", 0.0
    bound = "fma" if compute >= memory else "bw"
    return bound, 100.0 * max(compute, memory) / seconds


# --- printing -----------------------------------------------------------------------------------
COLUMNS = [("case", 42), ("fastcnn ms", 17), ("torch ms", 17), ("ratio", 6), ("GFLOP/s", 8), ("GB/s", 7),
           ("% peak f/t", 14)]


def format_times(entry) -> str:
    return f"{entry['min_ms']:.3f}/{entry['median_ms']:.3f}" if entry else "-"


def format_row(result: dict) -> str:
    ours, theirs = result.get("fastcnn"), result.get("torch")
    cells = [result["case"], format_times(ours), format_times(theirs)]
    cells.append(f"{result['ratio']:.2f}" if "ratio" in result else "-")
    cells.append(f"{ours['gflops']:.1f}" if ours and "gflops" in ours else "")
    cells.append(f"{ours['gbs']:.1f}" if ours and "gbs" in ours and result.get("bound") == "bw" else "")
    shares = [f"{entry['peak_percent']:.0f}" if entry and "peak_percent" in entry else "-" for entry in (ours, theirs)]
    cells.append(f"{'/'.join(shares)}% {result['bound']}" if "bound" in result else "")
    if result.get("fastcnn_note"):
        cells[1] = result["fastcnn_note"].split(":")[0]
    return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                     for i, (cell, (_, width)) in enumerate(zip(cells, COLUMNS)))


def print_header(info: dict) -> None:
    peaks = info["peaks"]
    caches = info["fastcnn"].get("cpu_cache_sizes", {})
    cache_note = f", L1d {caches['l1_data'] // 1024} KiB / L2 {caches['l2'] // 1024} KiB per core" if caches else ""
    print(f"fastcnn {info['fastcnn']['version']} ({info['fastcnn']['cpu_isa']}), torch {info['torch_version']}, "
          f"{info['threads']} threads, {info['cpu']} ({info['logical_cpus']} logical CPUs{cache_note}), {info['date']}")
    print(f"peak: FMA {peaks['fma_gflops']:.1f} GFLOP/s, stream triad {peaks['stream_gbs']:.1f} GB/s "
          f"({STREAM_BYTES // MIB} MiB set; DRAM-sized {DRAM_STREAM_BYTES // MIB} MiB: "
          f"{peaks['dram_stream_gbs']:.1f} GB/s)")
    print("times: min/median ms per call; ratio = torch min / fastcnn min (> 1: fastcnn faster)\n")
    print("  ".join(title.ljust(width) if i == 0 else title.rjust(width) for i, (title, width) in enumerate(COLUMNS)))


# --- the extra tables ---------------------------------------------------------------------------
def thread_scaling(cases, backends: dict, threads: int, repeats: int, results: dict) -> list:
    """Speed-up from 1 thread to `threads` of each backend that ran the case, from a 1-thread run
    and the best time the main table measured."""
    for backend in backends.values():
        backend.set_num_threads(1)
    try:
        rows = []
        for case in cases:
            ran = [name for name in backends if name in results[case.name]]
            closures = {name: build(case, backends[name])[0] for name in ran}
            single = time_interleaved(closures, repeats)
            row = {"case": case.name}
            for name, times in single.items():
                row[f"{name}_speedup"] = min(times) * 1e3 / results[case.name][name]["min_ms"]
            rows.append(row)
        return rows
    finally:
        for backend in backends.values():
            backend.set_num_threads(threads)


def peak_memory(cases, results: dict) -> list:
    """Peak RSS of one training step per model and backend that ran it, each in its own process
    (memory.py)."""
    rows = []
    for case in cases:
        for name in ("fastcnn", "torch"):
            if name not in results[case.name]:
                continue
            completed = subprocess.run([sys.executable, str(BENCH_DIR / "memory.py"), name, case.model],
                                       capture_output=True, text=True)
            if completed.returncode == 0:
                rows.append(json.loads(completed.stdout.strip().splitlines()[-1]))
            else:
                last_line = (completed.stderr.strip().splitlines() or ["no output"])[-1]
                rows.append({"backend": name, "model": case.model, "note": last_line})
    return rows


def print_notes(notes: list) -> None:
    """Each distinct reason a backend could not run a case, once, with the cases it hit."""
    by_reason = {}
    for backend, case, reason in notes:
        by_reason.setdefault((backend, reason), []).append(case)
    if by_reason:
        print("\nnot run:")
    for (backend, reason), names in by_reason.items():
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        print(f"  {backend}, {names[0]}{more}: {reason}")


def print_scaling(rows: list, threads: int) -> None:
    print(f"\nthread scaling, speed-up 1 -> {threads} threads (best times)")
    for row in rows:
        speedups = ", ".join(f"{key.split('_')[0]} {value:.2f}x" for key, value in row.items() if key != "case")
        print(f"  {row['case']:<42} {speedups}")


def print_memory(rows: list) -> None:
    print("\npeak resident memory of a training step (MiB added above the pre-step RSS; absolute peak)")
    for row in rows:
        if "note" in row:
            print(f"  {row['model']:<16} {row['backend']:<8} {row['note']}")
        else:
            print(f"  {row['model']:<16} {row['backend']:<8} {row['step_mib']:8.1f} ({row['peak_mib']:.1f})")


# --- main ---------------------------------------------------------------------------------------
def main() -> None:
    arguments = parse_arguments()
    backends = {"fastcnn": make_backend("fastcnn"), "torch": make_backend("torch")}
    fastcnn = backends["fastcnn"].lib
    threads = arguments.threads or fastcnn.get_num_threads()
    for backend in filter(None, backends.values()):
        backend.set_num_threads(threads)
    repeats = arguments.repeat or (3 if arguments.quick else 5)
    pattern = re.compile(arguments.filter, re.IGNORECASE)
    cases = [case for case in CASES if pattern.search(case.name) and (case.quick or not arguments.quick)]

    info = {"date": datetime.date.today().isoformat(), "cpu": cpu_model(), "logical_cpus": os.cpu_count(),
            "threads": threads, "fastcnn": fastcnn.config(), "repeats": repeats,
            "torch_version": backends["torch"].lib.__version__ if backends["torch"] else "not installed",
            "peaks": measure_peaks(fastcnn._C)}
    print_header(info)
    notes, results = [], {}
    for case in cases:
        built = {name: build(case, backend) for name, backend in backends.items()}
        closures = {name: closure for name, (closure, _) in built.items() if closure is not None}
        result = summarise(case, time_interleaved(closures, repeats), info["peaks"])
        for name, (_, note) in built.items():
            if note:
                result[f"{name}_note"] = note
                notes.append((name, case.name, note))
        results[case.name] = result
        print(format_row(result), flush=True)
    print_notes(notes)

    ran = [case for case in cases if {"fastcnn", "torch"} & results[case.name].keys()]
    available = {name: backend for name, backend in backends.items() if backend is not None}
    scaling_cases = [case for case in ran if case.scaling]
    scaling = thread_scaling(scaling_cases, available, threads, repeats, results) if threads > 1 else []
    if scaling:
        print_scaling(scaling, threads)
    memory = peak_memory([case for case in ran if case.model], results)
    if memory:
        print_memory(memory)
    if arguments.json:
        arguments.json.write_text(json.dumps({"machine": info, "results": list(results.values()),
                                              "thread_scaling": scaling, "peak_memory": memory}, indent=2))


if __name__ == "__main__":
    main()
