import FuzzSupport

FuzzSupport.runDriver { data, size in fuzzGraft(data ?? UnsafePointer(FuzzSupport.empty), size) }
