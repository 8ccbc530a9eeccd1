"""Benchmark: import a generated Roskomnadzor-style dump (cp1251) of 100k and 1M lines; time and memory.

Usage: ``python bench/import_rkn.py [--lines 100000 1000000] [--repeated 10000] [--keep DIR]``

For each size the dump is generated (streamed) into a temporary file, then imported by a fresh
child process with the real importer (``checker.orders.importers.import_file``, YAML written to a
temporary file). The child reports wall time, peak RSS (``ru_maxrss``), and RSS sampled from
``/proc/self/status`` every 20 ms: before the import, its peak during the import, and the growth,
which divided by the distinct targets gives the memory per name. A last run imports a file as
long as the largest but made of few distinct rows: its RSS stays flat, since only distinct names
are held.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

AUTHORITIES = [
    "Генпрокуратура", "Мосгорсуд", "ФНС", "Роскомнадзор", "Роспотребнадзор", "МВД", "ФСКН", "суд",
    "Минцифры", "Росалкогольрегулирование", "Банк России", "ФАС", "Росмолодежь", "Минздрав", "ФССП",
]
TLDS = ["ru", "com", "net", "org", "info", "biz", "su", "xyz", "online", "site"]
CYRILLIC = "абвгдежзийклмнопрстуфхцчшщыэюя"
LATIN = "abcdefghijklmnopqrstuvwxyz0123456789"


def _label(rng: random.Random, alphabet: str, low: int = 4, high: int = 14) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def _domain(rng: random.Random, pool: list[str]) -> str:
    roll = rng.random()
    if pool and roll < 0.2:
        return rng.choice(pool)  # the same name in another decision
    if roll < 0.3:
        name = f"{_label(rng, CYRILLIC)}.рф"  # Cyrillic IDN
    elif roll < 0.4:
        name = f"*.{_label(rng, LATIN)}.{rng.choice(TLDS)}"  # wildcard
    elif roll < 0.5:
        name = f"{_label(rng, LATIN, 2, 5)}.{_label(rng, LATIN)}.{rng.choice(TLDS)}"
    else:
        name = f"{_label(rng, LATIN)}.{rng.choice(TLDS)}"
    if len(pool) < 50_000:
        pool.append(name)
    elif rng.random() < 0.01:
        pool[rng.randrange(len(pool))] = name
    return name


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24"
    return f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _row(rng: random.Random, pool: list[str]) -> str:
    roll = rng.random()
    if roll < 0.01:
        return rng.choice(["garbage line without fields", ";;", 'a;"unterminated;b;c;d;e', "x;y;z;w;v;u;t;s",
                           ";bad..name;;ФНС;1;2020-01-01", ";-bad-.ru;;суд;2;2020-01-01"])
    ips = " | ".join(_ip(rng) for _ in range(rng.choice([0, 1, 1, 1, 2, 3, 5])))
    domains = " | ".join(_domain(rng, pool) for _ in range(rng.choice([0, 1, 1, 1, 1, 2])))
    urls = []
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        host = rng.choice(pool) if pool else "example.ru"
        host = host.removeprefix("*.")
        path = f"/{_label(rng, LATIN)}"
        if rng.random() < 0.1:
            path += f"?a=1|b={_label(rng, LATIN)}"  # a URL holding a pipe
        if rng.random() < 0.1:
            path += ";jsessionid=1"  # a URL holding the field separator: the field is quoted
        urls.append(f"http{'s' if rng.random() < 0.5 else ''}://{host}{path}")
    url_field = " | ".join(urls)
    authority = rng.choice(AUTHORITIES)
    number = f"{rng.randint(1, 99)}-{rng.randint(1, 999)}/{rng.randint(2012, 2026)}"
    date = dt.date(2012, 11, 1) + dt.timedelta(days=rng.randint(0, 4900))
    fields = [ips, domains, url_field, authority, number, date.isoformat()]
    if ";" in url_field or rng.random() < 0.05:
        fields = ['"' + f.replace('"', '""') + '"' for f in fields]
    return ";".join(fields)


def generate(path: Path, lines: int, seed: int = 1, distinct: int | None = None) -> None:
    """Write an RKN-style dump of ``lines`` lines (the ``Updated:`` line included) in cp1251, streamed.

    ``distinct``: only that many different rows, repeated (a big file with few names).
    """
    rng = random.Random(seed)
    pool: list[str] = []
    rows = [_row(rng, pool) for _ in range(distinct)] if distinct else []
    with path.open("w", encoding="cp1251", newline="\r\n") as out:
        out.write("Updated: 2026-05-01 12:00:00 +0300\n")
        batch = []
        for index in range(lines - 1):
            batch.append(rows[index % len(rows)] if rows else _row(rng, pool))
            if len(batch) >= 10_000:
                out.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            out.write("\n".join(batch) + "\n")


def _vmrss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child(dump: Path, out_path: Path) -> dict[str, object]:
    """Import ``dump`` in this process and measure it."""
    from checker.orders.importers import ImportMeta, import_file  # noqa: PLC0415 - measured after import

    before = _vmrss_kib()
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _vmrss_kib())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    with out_path.open("w", encoding="utf-8") as out:
        summary = import_file("rkn", dump, ImportMeta(), out)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    peak = max(peak, _vmrss_kib())
    return {
        "lines": summary.lines, "targets": summary.targets, "domains": summary.domains, "ips": summary.ips,
        "urls": summary.urls, "duplicates": summary.duplicates, "skipped": summary.skipped,
        "wall_s": round(wall, 2), "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mib": round(before / 1024, 1), "rss_peak_mib": round(peak / 1024, 1),
        "rss_growth_mib": round((peak - before) / 1024, 1),
        "bytes_per_target": round((peak - before) * 1024 / max(summary.targets, 1)),
        "dump_mib": round(dump.stat().st_size / 2**20, 1), "yaml_mib": round(out_path.stat().st_size / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Generate, import in a child process, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeated", type=int, default=10_000, metavar="ROWS",
                        help="also import a file as long as the largest made of only ROWS distinct rows (0: skip)")
    parser.add_argument("--keep", type=Path, help="keep the generated dumps and orders in this folder")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1])))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-rkn-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{'lines':>9} {'targets':>8} {'skipped':>7} {'dump MiB':>8} {'yaml MiB':>8} {'wall s':>7} "
              f"{'maxrss MiB':>10} {'RSS before':>10} {'RSS peak':>8} {'growth':>7} {'B/target':>8}")
        runs: list[tuple[int, int | None]] = [(lines, None) for lines in args.lines]
        if args.repeated:
            runs.append((max(args.lines), args.repeated))
        for lines, distinct in runs:
            tag = f"{lines}" + (f"-of-{distinct}" if distinct else "")
            dump, order = folder / f"dump-{tag}.csv", folder / f"order-{tag}.yaml"
            generate(dump, lines, distinct=distinct)
            result = subprocess.run(
                [sys.executable, __file__, "--child", str(dump), str(order)],
                check=True, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
            )
            r = json.loads(result.stdout)
            if distinct:
                print(f"(the next line: {lines} lines repeating {distinct} distinct rows)")
            print(f"{r['lines']:>9} {r['targets']:>8} {r['skipped']:>7} {r['dump_mib']:>8} {r['yaml_mib']:>8} "
                  f"{r['wall_s']:>7} {r['ru_maxrss_mib']:>10} {r['rss_before_mib']:>10} {r['rss_peak_mib']:>8} "
                  f"{r['rss_growth_mib']:>7} {r['bytes_per_target']:>8}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
