"""Runs one command of the benchmark and reports its wall time, peak memory and exit status.

    measure.py LIMIT_SECONDS MEM_CAP_KIB STDOUT_FILE STDERR_FILE [--cpu N] -- COMMAND [ARGS...]

prints `WALL_SECONDS PEAK_RSS_KIB STATUS` on one line.

The clock starts just before the command is started and stops when it has exited. Timing it
with `date` before and after, around `/usr/bin/time` and `timeout`, as the benchmark did,
added the start-up of those programs, 4 to 6 ms on this machine, to every run: a tenth of a
100,000-row run. Only `/usr/bin/time` is still between this script and the command (about
0.9 ms), because a process started by Python inherits Python's peak memory (14 MB) as its
own, and `/usr/bin/time`'s is 2 MB; the peak RSS is what `/usr/bin/time` reports.

With `--cpu N` the command runs on core N alone (as under `taskset -c N`, without timing
taskset's start-up). A run still going after LIMIT_SECONDS is sent SIGTERM, then SIGKILL 10
seconds later, and its status is 124, as with `timeout`. The address space of the command is
capped at MEM_CAP_KIB (as `ulimit -v` does), so that a run that needs more fails instead of
pushing a shared machine into the OOM killer. Only the standard library is used.
"""

import os
import resource
import signal
import subprocess
import sys
import threading
import time


def main(argv):
    cpus = None
    if len(argv) > 6 and argv[4] == "--cpu":
        cpus = {int(argv[5])}
        argv = argv[:4] + argv[6:]
    if len(argv) < 6 or argv[4] != "--":
        sys.stderr.write(__doc__)
        return 2
    limit, cap_kib, stdout_path, stderr_path = float(argv[0]), int(argv[1]), argv[2], argv[3]
    rss_path = stderr_path + ".rss"
    command = ["/usr/bin/time", "-f", "%M", "-o", rss_path, "--", *argv[5:]]
    # The cap and the core are set on this process and inherited by the command, so that it
    # is started directly (a function run in the child would make Python fork, not vfork).
    cap = cap_kib * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
    timed_out = threading.Event()

    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        started = time.perf_counter()
        try:
            # A session of its own: a time limit stops the command, not only /usr/bin/time.
            child = subprocess.Popen(command, stdout=out, stderr=err, start_new_session=True)
        except OSError as e:
            sys.stderr.write(f"measure.py: cannot start {command[0]}: {e}\n")
            return 127

        def signal_all(signal_number):
            try:
                os.killpg(child.pid, signal_number)
            except ProcessLookupError:
                pass

        def stop():
            timed_out.set()
            signal_all(signal.SIGTERM)
            killer = threading.Timer(10, signal_all, (signal.SIGKILL,))
            killer.daemon = True
            killer.start()

        timer = threading.Timer(limit, stop)
        timer.daemon = True
        timer.start()
        code = child.wait()
        ended = time.perf_counter()
        timer.cancel()
    if timed_out.is_set():
        code = 124
    elif code < 0:
        code = 128 - code  # /usr/bin/time itself killed by a signal, as a shell reports it
    rss = 0
    try:
        with open(rss_path) as f:
            # The last line; a line before it says if the command was stopped by a signal.
            rss = int(f.read().split()[-1])
        os.remove(rss_path)
    except (OSError, ValueError, IndexError):
        pass
    print(f"{ended - started:.6f} {rss} {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
