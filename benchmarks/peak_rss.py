"""Peak resident memory of a block of code (Linux), for the benchmarks."""
import threading
import time


class PeakRSS:
    """Peak resident memory added while the ``with`` block runs (Linux).

    Resets the kernel's high-water mark (``/proc/self/clear_refs``) and
    reads ``VmHWM`` afterwards; where that is not allowed, falls back to
    sampling ``VmRSS`` every 2 ms from a thread (which can miss short
    peaks). ``method`` says which was used; ``added_mb`` is the peak minus
    the resident size at entry and ``peak_mb`` the peak itself.
    """

    @staticmethod
    def status(field):
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
        return 0

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.status('VmRSS'))
            time.sleep(0.002)

    def __enter__(self):
        self.base = self.peak = self.status('VmRSS')
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # reset VmHWM to the current RSS
            self.method = 'VmHWM after clear_refs'
        except OSError:
            self.method = 'VmRSS sampled every 2 ms'
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.method.startswith('VmHWM'):
            self.peak = self.status('VmHWM')
        else:
            self._stop.set()
            self._thread.join()
        self.added_mb = max(0, self.peak - self.base) / 2**20
        self.peak_mb = self.peak / 2**20
