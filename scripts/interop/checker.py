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
