import FuzzSupport

FuzzSupport.runDriver { data, size in fuzzNumPy(data ?? UnsafePointer(FuzzSupport.empty), size) }
