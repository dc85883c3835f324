import FuzzSupport

FuzzSupport.runDriver { data, size in fuzzSharded(data ?? UnsafePointer(FuzzSupport.empty), size) }
