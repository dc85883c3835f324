import GraftCore

/// The DETR route's scalar math: the shared ``Elementary`` functions.
typealias DETRMath = Elementary
