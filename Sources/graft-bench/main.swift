import Graft
print("graft-bench")
