# slimctl's sweep driver: imports each module named on the command line, each guarded and
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


_signal.signal(_signal.SIGALRM, timed_out)
names = sys.argv[1:]
out = sys.stdout
out.write("\x1eslimctl-sweep start %d\n" % len(names))
for i, name in enumerate(names):
    mark(str(i))
    error = None
    _signal.setitimer(_signal.ITIMER_REAL, LIMIT)
    try:
        load(name)
    except BaseException as e:
        error = (type(e).__name__ + ": " + str(e)).replace("\n", " ")[:160]
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
    mark("")
    if error is not None:
        out.write("\x1eslimctl-sweep failed %d %s\n" % (i, error))
out.write("\x1eslimctl-sweep done %d\n" % len(names))
out.flush()
os._exit(0)
