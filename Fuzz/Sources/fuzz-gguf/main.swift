import FuzzSupport

FuzzSupport.runDriver { data, size in fuzzGGUF(data ?? UnsafePointer(FuzzSupport.empty), size) }
