import FuzzSupport

FuzzSupport.runDriver { data, size in fuzzSafeTensors(data ?? UnsafePointer(FuzzSupport.empty), size) }
