#!/usr/bin/env python3
"""Sums a MariaDB slow query log (long_query_time=0 logs every statement) by statement shape.

Prints the shapes by total time with their calls and rows examined: where the database's time
goes during a benchmark run. Literals are replaced by '?' and numbers by 'N', so one prepared
statement is one line.

  MARIADB_EXTRA_ARGS="--slow-query-log=ON --long-query-time=0 --slow-query-log-file=/tmp/slow.log" \\
    scripts/bench --scenario place-order --direct --clients 4 --duration_s 5
  bench/slowlog_summary.py /tmp/slow.log --top 25
"""
import argparse
import collections
import re


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--width", type=int, default=140)
    args = parser.parse_args()
    text = open(args.log, errors="replace").read()
    shapes = collections.defaultdict(lambda: [0, 0.0, 0])
    header = re.compile(r"Query_time: ([\d.]+)\s+Lock_time: [\d.]+\s+Rows_sent: \d+\s+"
                        r"Rows_examined: (\d+)")
    for entry in text.split("# User@Host: ")[1:]:
        match = header.search(entry)
        if not match:
            continue
        user = entry.split("[", 1)[0]
        statement = " ".join(line for line in entry.split("\n")[1:]
                             if line and not line.startswith(("#", "SET timestamp", "use ")))
        statement = re.sub(r"'(?:[^'\\]|\\.)*'", "?", statement)
        statement = re.sub(r"\b\d+\b", "N", statement)
        shape = shapes[(user, statement[:args.width])]
        shape[0] += 1
        shape[1] += float(match.group(1))
        shape[2] += int(match.group(2))
    total = sum(s[1] for s in shapes.values())
    print(f"{'total ms':>10} {'calls':>7} {'examined':>9}  user / statement")
    for (user, statement), (calls, seconds, examined) in sorted(
            shapes.items(), key=lambda kv: -kv[1][1])[:args.top]:
        print(f"{seconds * 1000:10.1f} {calls:7d} {examined:9d}  {user}: {statement}")
    print(f"{total * 1000:10.1f} ms in all, {sum(s[0] for s in shapes.values())} statements")


if __name__ == "__main__":
    main()
