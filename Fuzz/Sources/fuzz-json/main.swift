import FuzzSupport

FuzzSupport.runDriver { data, size in fuzzJSON(data ?? UnsafePointer(FuzzSupport.empty), size) }
