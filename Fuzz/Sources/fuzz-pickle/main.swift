import FuzzSupport

FuzzSupport.runDriver { data, size in fuzzPickle(data ?? UnsafePointer(FuzzSupport.empty), size) }
