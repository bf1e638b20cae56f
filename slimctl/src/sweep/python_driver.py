# slimctl's sweep driver: imports each module named on stdin (one a line), each guarded and
# with a time limit, and says which failed. It imports nothing itself beyond what the
# interpreter has loaded at start (sys, os) and the built-in _signal: every file the sensor
# sees after a mark is the item's own. A name that is no module (`from X import Y`: Y may be
# an attribute) is taken from its parent, which runs a PEP 562 __getattr__.
import sys, os, _signal

LIMIT = 5


def mark(step):
    try:
        os.stat("/.slimctl-mark/" + step)
    except OSError:
        pass


def timed_out(signum, frame):
    raise TimeoutError("took longer than %d s" % LIMIT)


def load(name):
    try:
        __import__(name)
    except ImportError as e:
        parent, _, attr = name.rpartition(".")
        if not parent or getattr(e, "name", None) != name or parent not in sys.modules:
            raise
        getattr(sys.modules[parent], attr)


def say(line):
    # One write per line: the workers share stdout, and a short write to a pipe is atomic.
    os.write(1, ("\x1eslimctl-sweep " + line + "\n").encode("utf-8", "replace"))


def work(names, worker, workers):
    _signal.signal(_signal.SIGALRM, timed_out)
    for i in range(worker, len(names), workers):
        mark(str(i))
        error = None
        _signal.setitimer(_signal.ITIMER_REAL, LIMIT)
        try:
            load(names[i])
        except BaseException as e:
            error = (type(e).__name__ + ": " + str(e)).replace("\n", " ")[:160]
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
        mark("")
        if error is not None:
            say("failed %d %s" % (i, error))


names = sys.stdin.read().split()
say("start %d" % len(names))
# Loads are mostly CPU: one worker per CPU the container may use (at most 4), each taking every
# n-th item, so the split is the same in the original and in the slim image. The sensor marks
# each process's steps apart, and a worker is a fork: it starts with nothing loaded but these.
workers = max(1, min(4, len(os.sched_getaffinity(0)), len(names)))
children = []
for w in range(workers):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work(names, w, workers)
            code = 0
        finally:
            os._exit(code)
    children.append(pid)
statuses = [os.waitpid(pid, 0)[1] for pid in children]
if all(status == 0 for status in statuses):
    say("done %d" % len(names))
os._exit(0)
