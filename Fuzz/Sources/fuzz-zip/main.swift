import FuzzSupport

FuzzSupport.runDriver { data, size in fuzzZip(data ?? UnsafePointer(FuzzSupport.empty), size) }
