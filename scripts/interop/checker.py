"""The pass/fail tally the interop scripts share: one `check` per compared item, failures listed at the end."""


class Checker:
    def __init__(self):
        self.passed = 0
        self.failures = []

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)

    def finish(self, detail=""):
        """Lists the failures, prints `N passed, M failed` and returns the exit status (1 on any failure)."""
        for failure in self.failures:
            print("FAIL", failure)
        print(f"{self.passed} passed, {len(self.failures)} failed{detail}")
        return 1 if self.failures else 0
