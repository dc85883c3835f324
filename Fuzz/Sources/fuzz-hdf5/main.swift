import FuzzSupport

FuzzSupport.runDriver { data, size in fuzzHDF5(data ?? UnsafePointer(FuzzSupport.empty), size) }
