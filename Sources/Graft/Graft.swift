@_exported public import GraftCore
@_exported public import GraftFormats
@_exported public import GraftHDF5
@_exported public import GraftSurgery
@_exported public import GraftEngine
@_exported public import GraftCheck
